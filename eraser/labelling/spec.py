"""Labeller specs (``KIND:ARGUMENT``), parsed once, and the registry of the kinds they may name.

A spec string such as ``marks:PATH``, ``probe:NAME|PATH`` or ``clip:FEATURE[,key=value...]`` is
parsed into a :class:`LabellerSpec` by :meth:`LabellerSpec.parse`, and everything else asks the
spec: which files it reads (checked before work, hashed by a batch job), the same spec with its
paths resolved beside a manifest, and the ``Labeller`` it builds. A kind that is not registered is
one error line naming the kinds that are.

A new kind is one :class:`LabellerKind` subclass, registered once with :func:`register_kind`;
the CLI, batch manifests and jobs, the notebook and the Python API then accept it. A batch runs
each job in a fresh process, which imports the module that registered each kind
(:func:`kind_modules`) before it runs the job.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eraser.errors import EraserError

if TYPE_CHECKING:  # pragma: no cover
    from eraser.labelling.base import Labeller


class LabellerKind:
    """One kind of labeller spec. Subclass it, set ``name`` and ``syntax``, implement ``build``, and
    override what the kind needs (files it reads, how its paths resolve); then :func:`register_kind`."""

    #: the spec prefix, e.g. ``marks``
    name: str = ""
    #: how the spec is written, for messages, e.g. ``marks:PATH``
    syntax: str = ""

    def check(self, arg: str) -> None:
        """Refuse (one line) an argument that is malformed; called by :meth:`LabellerSpec.parse`."""

    def files(self, arg: str) -> dict[str, Path]:
        """The files this spec reads, by role (checked against outputs, hashed by a batch job)."""
        return {}

    def resolve(self, arg: str, base: Path) -> str:
        """The argument with relative paths taken beside ``base`` (a manifest's folder) and its inputs
        checked; a problem is one ``EraserError`` line."""
        return arg

    def build(self, arg: str, device: str) -> Labeller:
        raise NotImplementedError


_KINDS: dict[str, LabellerKind] = {}
_BUILTIN_MODULE = __name__


def register_kind(kind: LabellerKind) -> LabellerKind:
    """Make ``kind`` available under ``kind.name`` to every spec parsed from now on (replaces one of that name)."""
    if not kind.name or ":" in kind.name or not kind.name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"a labeller kind needs a name of letters, digits, '-' or '_', got {kind.name!r}")
    _KINDS[kind.name] = kind
    return kind


def kinds() -> dict[str, LabellerKind]:
    """The registered kinds by name."""
    return dict(_KINDS)


def syntaxes() -> str:
    """``clip:FEATURE[,...], marks:PATH, probe:NAME|PATH`` and any registered kinds, for messages and help."""
    return ", ".join(k.syntax or f"{k.name}:ARGUMENT" for k in _KINDS.values())


def kind_modules(names: list[str] | None = None) -> list[str]:
    """The modules that registered the kinds ``names`` (all kinds when None), leaving out the built-in
    ones: what a fresh process must import before it can parse or build such specs."""
    chosen = [k for n, k in _KINDS.items() if names is None or n in names]
    return sorted({type(k).__module__ for k in chosen} - {_BUILTIN_MODULE})


def import_kind_modules(modules: list[str]) -> None:
    """Import modules that register labeller kinds (in a batch job's own process)."""
    for m in modules:
        importlib.import_module(m)


@dataclass(frozen=True)
class LabellerSpec:
    """A parsed ``KIND:ARGUMENT`` spec; ``str(spec)`` gives the text back."""

    kind: str
    arg: str

    @classmethod
    def parse(cls, text: str | LabellerSpec) -> LabellerSpec:
        """The spec a string names; one error line for a malformed spec or a kind nobody registered."""
        if isinstance(text, LabellerSpec):
            return text
        kind, sep, arg = str(text).partition(":")
        if not sep or not kind or not arg:
            raise EraserError(f"labeller {text!r} is not one of {syntaxes()} (a labeller spec is KIND:ARGUMENT)")
        if kind not in _KINDS:
            raise EraserError(f"labeller {text!r} is not one of {syntaxes()}: no labeller spec kind {kind!r} is registered")
        _KINDS[kind].check(arg)
        return cls(kind, arg)

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}"

    @property
    def definition(self) -> LabellerKind:
        return _KINDS[self.kind]

    def files(self) -> dict[str, Path]:
        """The files the spec reads, by role (``marks``, ``latents``, ``classifier``, ``checkpoint``, ``prompts``…)."""
        return self.definition.files(self.arg)

    def resolved(self, base: Path) -> LabellerSpec:
        return LabellerSpec(self.kind, self.definition.resolve(self.arg, base))

    def build(self, device: str = "cpu") -> Labeller:
        return self.definition.build(self.arg, device)


def spec_files(spec: str | LabellerSpec | None) -> dict[str, Path]:
    """The files a spec reads (none for no spec); a bad spec is one error line."""
    return LabellerSpec.parse(spec).files() if spec else {}


def _beside(value: str, base: Path) -> Path:
    p = Path(value).expanduser()
    return Path(os.path.normpath(p if p.is_absolute() else base / p))


# -- the built-in kinds -------------------------------------------------------------------------
class MarksKind(LabellerKind):
    """``marks:PATH``: a person's marks (``eraser.labelling.marks``); labels only the marked latents."""

    name, syntax = "marks", "marks:PATH"

    def files(self, arg: str) -> dict[str, Path]:
        from eraser.io import read_json
        from eraser.labelling.marks import FORMAT

        files = {"marks": Path(arg)}
        # a missing file is reported by whoever reads it; one that is not a JSON object, here (a batch job
        # hashing its inputs must not silently drop the latents file)
        if Path(arg).exists():
            doc = read_json(Path(arg), "marks file")
            if not isinstance(doc, dict):
                raise EraserError(f"marks file {arg} is not an eraser marks file (expected \"format\": \"{FORMAT}\")")
            latents = doc.get("latents")
            if isinstance(latents, str) and latents:
                files["latents"] = Path(arg).parent / latents
        return files

    def resolve(self, arg: str, base: Path) -> str:
        from eraser.labelling.marks import load_marks

        p = _beside(arg, base)
        load_marks(p)
        return str(p)

    def build(self, arg: str, device: str) -> Labeller:
        from eraser.labelling.marks import MarksLabeller, load_marks

        return MarksLabeller(load_marks(arg), name=f"marks:{arg}")


class ProbeKind(LabellerKind):
    """``probe:NAME|PATH``: a trained classifier, shipped or a folder (``eraser.classifiers``)."""

    name, syntax = "probe", "probe:NAME|PATH"

    def files(self, arg: str) -> dict[str, Path]:
        from eraser import registry

        return {"classifier": registry.resolve(arg, "classifier") or Path(arg)}

    def resolve(self, arg: str, base: Path) -> str:
        from eraser import registry

        if registry.resolve(arg, "classifier") is not None:
            return arg
        p = _beside(arg, base)
        if not (p / "config.json").is_file():
            known = ", ".join(registry.names("classifier")) or "none"
            raise EraserError(f"probe {arg!r} is neither a shipped classifier ({known}) nor a classifier folder ({p})")
        return str(p)

    def build(self, arg: str, device: str) -> Labeller:
        from eraser.classifiers import load_classifier

        return load_classifier(arg, device=device)


class ClipKind(LabellerKind):
    """``clip:FEATURE[,model=…,pretrained=…,checkpoint=…,threshold=…]``: CLIP zero-shot (``eraser.labelling.clip``)."""

    name, syntax = "clip", "clip:FEATURE[,model=..,pretrained=..,checkpoint=..,threshold=..]"

    def check(self, arg: str) -> None:
        from eraser.labelling.clip import parse_clip_spec

        parse_clip_spec(arg)

    def files(self, arg: str) -> dict[str, Path]:
        from eraser.labelling.clip import parse_clip_spec

        parsed = parse_clip_spec(arg)
        files = {"checkpoint": Path(parsed["checkpoint"])} if "checkpoint" in parsed else {}
        if parsed["feature"].endswith(".json"):
            files["prompts"] = Path(parsed["feature"])
        return files

    def resolve(self, arg: str, base: Path) -> str:
        from eraser.labelling.clip import parse_clip_spec

        parsed = parse_clip_spec(arg)
        feature = parsed.pop("feature")
        if feature.endswith(".json"):
            feature = str(_beside(feature, base))
        for k in ("checkpoint", "cache_dir"):
            if k in parsed:
                parsed[k] = str(_beside(parsed[k], base))
        if "checkpoint" in parsed and not Path(parsed["checkpoint"]).is_file():
            raise EraserError(f"CLIP checkpoint {parsed['checkpoint']} does not exist")
        return ",".join([feature] + [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in parsed.items()])

    def build(self, arg: str, device: str) -> Labeller:
        from eraser.labelling.clip import make_clip_labeller

        return make_clip_labeller(arg, device=device)


for _kind in (ClipKind(), MarksKind(), ProbeKind()):
    register_kind(_kind)
