"""Checks every writing command runs before any work: where it writes never touches what it reads.

One rule for all of them: an output path may never be an input, lie inside an input (a checkpoint
folder, an image folder), nor contain one. Paths are compared after resolving symbolic links, so a
link cannot sneak an output into an input. Every refusal is one line (``EraserError``, exit 2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from eraser.errors import EraserError
from eraser.io import check_writable, read_json

#: (what the user called it, the path it names); a path of None is skipped
Inputs = Iterable[tuple[str, "str | Path | None"]]


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def source_path(ref: str | Path | None, role: str) -> Path | None:
    """The folder of a shipped model named ``ref`` (generator or classifier), else ``ref`` as a path."""
    from eraser import registry

    if ref is None:
        return None
    shipped = registry.resolve(str(ref), role)
    return shipped if shipped is not None else Path(ref)


def labeller_files(spec: str | None) -> dict[str, Path]:
    """The files a labeller spec reads: a marks file and its latents, a probe folder, CLIP weights or prompts."""
    if not spec:
        return {}
    kind, _, arg = spec.partition(":")
    if kind == "marks":
        files = {"marks": Path(arg)}
        if Path(arg).exists():  # a missing file is reported by whoever reads it; one that is not JSON, here
            from eraser.labelling.marks import FORMAT

            doc = read_json(Path(arg), "marks file")
            if not isinstance(doc, dict):
                raise EraserError(f"marks file {arg} is not an eraser marks file (expected \"format\": \"{FORMAT}\")")
            latents = doc.get("latents")
            if isinstance(latents, str) and latents:
                files["latents"] = Path(arg).parent / latents
        return files
    if kind == "probe":
        return {"classifier": source_path(arg, "classifier")}
    if kind != "clip":
        return {}
    from eraser.labelling.clip import parse_clip_spec

    spec_d = parse_clip_spec(arg)
    files = {"checkpoint": Path(spec_d["checkpoint"])} if "checkpoint" in spec_d else {}
    if spec_d["feature"].endswith(".json"):
        files["prompts"] = Path(spec_d["feature"])
    return files


def labeller_inputs(spec: str | None, option: str = "--labeller") -> list[tuple[str, Path]]:
    return [(f"{option} {kind}", p) for kind, p in labeller_files(spec).items()]


def erase_inputs(generator: str, labeller: str, feature_classifier: str | None) -> list[tuple[str, Path | None]]:
    """Everything an erase reads (also each job of a batch)."""
    return [("--generator", source_path(generator, "generator")), *labeller_inputs(labeller),
            ("--feature-classifier", source_path(feature_classifier, "classifier"))]


def check_not_inputs(outputs: Mapping[str, str | Path | None], inputs: Inputs) -> None:
    """Refuse an output that is an input, lies inside one, or contains one."""
    ins = [(name, Path(p), _real(p)) for name, p in inputs if p is not None and str(p) != ""]
    for out_name, out in outputs.items():
        if out is None:
            continue
        real_out = _real(out)
        for in_name, inp, real_in in ins:
            if real_out == real_in:
                why = f"refusing to overwrite the input {in_name} {inp} ({out_name} is the same path)"
            elif real_in in real_out.parents:
                why = f"refusing to write {out_name} {out} inside the input {in_name} {inp}"
            elif real_out in real_in.parents:
                why = f"refusing to write {out_name} {out}: the input {in_name} {inp} lies inside it"
            else:
                continue
            raise EraserError(f"{why}; eraser never writes into its inputs, choose another output path")


def check_new_file(path: Path, option: str = "--out") -> None:
    """A file output: not a folder, in a writable folder (an existing file is replaced atomically)."""
    if path.is_dir():
        raise EraserError(f"{option} {path} is a folder; give a file path")
    check_writable(path)


def check_new_dir(path: Path, option: str = "--out") -> None:
    """A folder output that must not exist yet, in a writable folder."""
    if path.exists() or path.is_symlink():
        raise EraserError(f"{path} already exists; choose a new {option} folder (eraser never overwrites)")
    check_writable(path)


def check_reusable_dir(path: Path, option: str = "--out") -> None:
    """A folder output that may exist already (to resume), but not as a file."""
    if path.exists() and not path.is_dir():
        raise EraserError(f"{option} {path} is a file, not a folder; choose a folder")
    if not path.exists():
        check_writable(path)


def check_outputs(inputs: Inputs, files: Mapping[str, Path] | None = None, dirs: Mapping[str, Path] | None = None) -> None:
    """Everything a command checks about its outputs before any work: new ``dirs``, replaceable
    ``files``, and none of them touching an input."""
    files, dirs = dict(files or {}), dict(dirs or {})
    check_not_inputs({**files, **dirs}, inputs)
    for option, path in files.items():
        check_new_file(Path(path), option)
    for option, path in dirs.items():
        check_new_dir(Path(path), option)


# -- numbers ----------------------------------------------------------------------------------
def is_number(x: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def finite(value: float, what: str, low: float | None = None, low_open: bool = False, high: float | None = None) -> float:
    """``value`` if finite and within [low, high] (``low_open``: > low); else a one-line error."""
    if not is_number(value):
        raise EraserError(f"{what} must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise EraserError(f"{what} must be {'>' if low_open else '≥'} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise EraserError(f"{what} must be ≤ {high:g}, got {value:g}")
    return float(value)
