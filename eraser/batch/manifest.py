"""Batch manifests: a TOML or YAML file listing erase jobs, validated whole before anything runs.

TOML::

    [defaults]                       # optional: applies to every job (a job's own values win)
    feature_classifier = "digiface-eyeglasses-clf"
    n_eval = 500
    fid_samples = 0
    [defaults.settings]
    steps = 60

    [[jobs]]
    name = "dcgan-eyeglasses"        # its output folder, OUT/NAME
    generator = "digiface-dcgan64"   # shipped name or path (relative to this file)
    labeller = "marks:../../assets/marks/digiface-eyeglasses.json"
    feature = "eyeglasses"           # optional, a label for the summary

``labeller`` (and ``feature_classifier``) may be a list: ``labeller = ["marks:a.json", "marks:b.json"]``
erases both features in one run; each classifier measures the erased feature of its name, the others
are reported as collateral.
    [jobs.settings]                  # EraseSettings fields
    margin = 0.5
    [jobs.guards]                    # GuardLimits fields
    min_ms_ssim = 0.92
    [jobs.resources]                 # what the job asks of a worker
    num_cpus = 2

YAML holds the same keys: ``defaults:`` and a ``jobs:`` list. Every problem in the file is found
before any job starts and reported together, each with its line and field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from eraser import registry
from eraser.errors import EraserError
from eraser.guards import GuardLimits
from eraser.labelling.spec import LabellerSpec, kind_modules
from eraser.unlearn.settings import EraseSettings


#: EraseRequest options a job may set directly: type, minimum (None: any), allowed values
REQUEST_OPTIONS: dict[str, tuple[type, float | None, tuple[str, ...] | None]] = {
    "n_label": (int, 2, None),
    "label_seed": (int, None, None),
    "direction_method": (str, None, ("mean-difference", "linear-classifier")),
    "n_eval": (int, 1, None),
    "eval_seed": (int, None, None),
    "device": (str, None, None),
    "guard_every": (int, 0, None),
    "guard_clean": (int, 1, None),
    "guard_eval": (int, 1, None),
    "fid_samples": (int, 0, None),
    "audit": (bool, None, None),
}
#: LoadOptions fields (how to read a bare weights file or TorchScript)
LOAD_OPTIONS: dict[str, type] = {"module_class": str, "init_args": dict, "latent_shape": list, "state_dict_key": str,
                                 "trust_pickle": bool, "trust_code": bool}
RESOURCES: dict[str, type] = {"num_cpus": float, "num_gpus": float}
STRINGS = ("name", "generator", "labeller", "feature", "feature_classifier")
#: string fields that may also be a list of strings (several features in one erase)
LISTS = ("labeller", "feature_classifier")
TABLES = ("settings", "guards", "load", "resources")
JOB_KEYS = STRINGS + TABLES + tuple(REQUEST_OPTIONS)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: fields that do not change what a job computes (left out of its input hash)
NOT_HASHED = ("name", "feature", "resources")


@dataclass
class Job:
    """One erase of a batch, with paths resolved; ``entry`` is the merged manifest entry as written."""

    name: str
    line: int
    generator: str
    #: one spec, or a list of them (several features)
    labeller: LabellerSpec | list[LabellerSpec]
    feature: str | None
    feature_classifier: str | list[str] | None
    settings: dict[str, Any]
    guards: dict[str, float]
    options: dict[str, Any]
    load: dict[str, Any]
    num_cpus: float | None
    num_gpus: float
    entry: dict[str, Any] = field(default_factory=dict)
    #: the module that registered the labeller's kind, unless it is built in: the job's own process imports it
    labeller_modules: list[str] = field(default_factory=list)

    @property
    def labellers(self) -> list[LabellerSpec]:
        return list(self.labeller) if isinstance(self.labeller, list) else [self.labeller]

    @property
    def classifiers(self) -> list[str]:
        c = self.feature_classifier
        return list(c) if isinstance(c, list) else ([] if c is None else [c])

    def labeller_files(self) -> dict[str, Path]:
        """Every labeller's files by role (``ROLE #i`` with several labellers)."""
        specs = self.labellers
        return {(role if len(specs) == 1 else f"{role} #{i + 1}"): p
                for i, spec in enumerate(specs) for role, p in spec.files().items()}

    def entry_sha256(self) -> str:
        """sha256 of the entry's fields that decide the result (not its name, label or resources)."""
        kept = {k: v for k, v in self.entry.items() if k not in NOT_HASHED}
        return hashlib.sha256(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def request(self, out: Path):
        """The ``EraseRequest`` this job runs, writing to ``out``."""
        from eraser.generators import LoadOptions
        from eraser.pipeline import EraseRequest

        load = dict(self.load)
        if load.get("latent_shape") is not None:
            load["latent_shape"] = tuple(load["latent_shape"])
        return EraseRequest(generator=self.generator, labeller=self.labeller, out=out,  # a list stays a list
                            settings=EraseSettings(**self.settings), feature_classifier=self.feature_classifier,
                            limits=GuardLimits(**self.guards), load_options=LoadOptions(**load), progress=False,
                            **self.options)


@dataclass
class Manifest:
    path: Path
    jobs: list[Job]
    sha256: str


@dataclass(frozen=True)
class Problem:
    line: int
    where: str
    message: str


class ManifestError(EraserError):
    """Every problem found in a manifest; nothing has run. One line per problem, each with its line number
    (a single problem is reported on the same line as the summary)."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path, self.problems = path, sorted(problems, key=lambda p: p.line)
        lines = [f"  {path}:{p.line}: {p.where}: {p.message}" if p.where else f"  {path}:{p.line}: {p.message}"
                 for p in self.problems]
        n = len(self.problems)
        sep = "\n" if n > 1 else " "  # a single problem stays on one line
        super().__init__(f"manifest {path} has {n} problem{'s' * (n != 1)}; nothing was run:{sep}"
                         + "\n".join(lines if n > 1 else [lines[0].strip()]))


# -- line numbers ---------------------------------------------------------------------------------
Key = tuple  # ("jobs", 2, "settings", "steps")

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _toml_key_parts(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in text.split(".")]


def toml_lines(text: str) -> dict[Key, int]:
    """Line (1-based) of each table header and key in a TOML text, keyed by its path in the data.

    A plain scan of headers and ``key =`` lines: enough to point at a job and its fields (keys
    inside inline tables and multi-line values point at their parent key's line).
    """
    lines: dict[Key, int] = {}
    counts: dict[tuple, int] = {}
    table: tuple = ()
    in_string = False
    for no, raw in enumerate(text.splitlines(), 1):
        if raw.count('"""') % 2 or raw.count("'''") % 2:
            in_string = not in_string
            if not in_string:
                continue
        if in_string:
            continue
        m = _HEADER.match(raw)
        if m and not _ASSIGN.match(raw):
            parts = _toml_key_parts(m.group(2))
            if m.group(1) == "[[":  # array of tables: a new element of the array at `parts`
                base = _resolve(parts[:-1], counts) + (parts[-1],)
                i = counts.get(base, -1) + 1
                counts[base] = i
                table = base + (i,)
            else:
                table = _resolve(parts, counts)
            lines.setdefault(table, no)
            continue
        m = _ASSIGN.match(raw)
        if m:
            lines.setdefault(table + tuple(_toml_key_parts(m.group(1))), no)
    return lines


def _resolve(parts: list[str], counts: dict[tuple, int]) -> tuple:
    """Path of a dotted table name, with each array-of-tables prefix at its latest element."""
    path: tuple = ()
    for p in parts:
        path = path + (p,)
        if path in counts:
            path = path + (counts[path],)
    return path


def yaml_lines(text: str) -> dict[Key, int]:
    """Line (1-based) of each mapping key and sequence item in a YAML text, keyed by its path."""
    import yaml

    lines: dict[Key, int] = {}

    def walk(node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = path + (k.value,)
                lines.setdefault(key, k.start_mark.line + 1)
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault(path + (i,), item.start_mark.line + 1)
                walk(item, path + (i,))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return lines


def _line(lines: dict[Key, int], path: Key) -> int:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 1


# -- parsing ----------------------------------------------------------------------------------
def parse_text(text: str, path: Path) -> tuple[Any, dict[Key, int]]:
    """Data and key lines of a manifest text; a syntax error is reported with its line."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"line (\d+)", str(e))
            raise ManifestError(path, [Problem(int(m.group(1)) if m else 1, "", f"not valid TOML ({e})")]) from None
        return data, toml_lines(text)
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
            lines = yaml_lines(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            msg = " ".join(str(e).split())
            raise ManifestError(path, [Problem(mark.line + 1 if mark else 1, "", f"not valid YAML ({msg})")]) from None
        return data, lines
    raise EraserError(f"manifest {path} must be a .toml, .yaml or .yml file")


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest; raise ``ManifestError`` listing every problem at once."""
    path = Path(path)
    if not path.is_file():
        raise EraserError(f"manifest {path} not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EraserError(f"manifest {path} is not UTF-8 text") from None
    data, lines = parse_text(text, path)
    v = _Validator(path, lines)
    jobs = v.manifest(data)
    if v.problems:
        raise ManifestError(path, v.problems)
    return Manifest(path, jobs, hashlib.sha256(raw).hexdigest())


class _Validator:
    def __init__(self, path: Path, lines: dict[Key, int]) -> None:
        self.path, self.lines, self.base = path, lines, path.resolve().parent
        self.problems: list[Problem] = []

    def err(self, key: Key, where: str, message: str) -> None:
        self.problems.append(Problem(_line(self.lines, key), where, message))

    def manifest(self, data: Any) -> list[Job]:
        if not isinstance(data, dict):
            self.err((), "", "the manifest must be a table with a list of jobs ([[jobs]] in TOML, jobs: in YAML)")
            return []
        for k in data:
            if k not in ("defaults", "jobs"):
                self.err((k,), "", f"unknown top-level field {k!r}; a manifest has 'defaults' and 'jobs'")
        defaults = data.get("defaults", {})
        if not isinstance(defaults, dict):
            self.err(("defaults",), "defaults", "must be a table of job fields")
            defaults = {}
        elif "name" in defaults:
            self.err(("defaults", "name"), "defaults", "cannot set 'name'; every job names its own output folder")
        defaults = self.fields(defaults, ("defaults",), "defaults")
        entries = data.get("jobs")
        if not isinstance(entries, list) or not entries:
            self.err(("jobs",), "", "no jobs: add at least one [[jobs]] table (TOML) or a 'jobs:' list (YAML)")
            return []
        jobs, seen = [], {}
        for i, entry in enumerate(entries):
            key = ("jobs", i)
            if not isinstance(entry, dict):
                self.err(key, f"job #{i + 1}", "must be a table of fields")
                continue
            where = f"job {entry['name']!r}" if isinstance(entry.get("name"), str) else f"job #{i + 1}"
            own = self.fields(entry, key, where)
            name = own.get("name")
            if name is None and "name" not in entry:
                self.err(key, where, "needs a 'name' (its output folder)")
            elif isinstance(name, str):
                if name in seen:
                    self.err(key + ("name",), where, f"name is already used by the job on line {seen[name]}")
                seen.setdefault(name, _line(self.lines, key))
            job = self.job(_merge(defaults, own), key, where)
            if job is not None:
                jobs.append(job)
        return jobs

    def fields(self, entry: dict, key: Key, where: str) -> dict[str, Any]:
        """The entry's fields that pass their own checks (problems recorded for the others)."""
        out: dict[str, Any] = {}
        for k, value in entry.items():
            fk = key + (k,)
            if k not in JOB_KEYS:
                self.err(fk, where, f"unknown field {k!r} (known: {', '.join(JOB_KEYS)})")
            elif k in LISTS and isinstance(value, list):
                if not value or not all(isinstance(v, str) and v.strip() for v in value):
                    self.err(fk, where, f"{k} must be a non-empty string or a non-empty list of them, got {value!r}")
                elif len(set(value)) < len(value):
                    self.err(fk, where, f"{k} lists the same entry twice: {value!r}")
                else:
                    out[k] = list(value)
            elif k in STRINGS:
                if not isinstance(value, str) or not value.strip():
                    self.err(fk, where, f"{k} must be a non-empty string, got {value!r}")
                elif k == "name" and not NAME_RE.match(value):
                    self.err(fk, where, f"name {value!r} must be a folder name: letters, digits, '.', '_', '-'")
                else:
                    out[k] = value
            elif k in TABLES:
                if not isinstance(value, dict):
                    self.err(fk, where, f"{k} must be a table of fields, got {value!r}")
                    continue
                known = _table_types(k)
                good = {}
                for sk, sv in value.items():
                    if sk not in known:
                        self.err(fk + (sk,), where, f"unknown field {k}.{sk} (known: {', '.join(known)})")
                    elif (msg := _type_problem(sv, known[sk])) is not None:
                        self.err(fk + (sk,), where, f"{k}.{sk} {msg}")
                    else:
                        good[sk] = float(sv) if known[sk] is float else sv
                out[k] = good
            else:
                typ, minimum, choices = REQUEST_OPTIONS[k]
                if (msg := _type_problem(value, typ)) is not None:
                    self.err(fk, where, f"{k} {msg}")
                elif minimum is not None and value < minimum:
                    self.err(fk, where, f"{k} must be at least {minimum:g}, got {value}")
                elif choices and value not in choices:
                    self.err(fk, where, f"{k} must be one of {', '.join(choices)}, got {value!r}")
                else:
                    out[k] = value
        return out

    def job(self, e: dict[str, Any], key: Key, where: str) -> Job | None:
        n_before = len(self.problems)
        for req in ("generator", "labeller"):
            if req not in e and not _has(self.lines, key + (req,)):
                self.err(key, where, f"needs a '{req}'")
        generator = self.generator(e["generator"], key + ("generator",), where) if "generator" in e else None
        labeller = None
        if "labeller" in e:
            specs = [self.labeller(v, key + ("labeller",), where) for v in (e["labeller"] if isinstance(e["labeller"], list)
                                                                             else [e["labeller"]])]
            labeller = (specs if isinstance(e["labeller"], list) else specs[0]) if all(specs) else None
        clf = e.get("feature_classifier")
        if isinstance(clf, list):
            clfs = [self.classifier(c, key + ("feature_classifier",), where, "feature_classifier") for c in clf]
            clf = clfs if all(clfs) else None
        elif clf is not None:
            clf = self.classifier(clf, key + ("feature_classifier",), where, "feature_classifier")
        try:
            EraseSettings(**e.get("settings", {}))
        except EraserError as err:
            self.err(key + ("settings",), where, f"settings: {err}")
        options = {k: e[k] for k in REQUEST_OPTIONS if k in e}
        resources = e.get("resources", {})
        for k, v in resources.items():
            if v < 0:
                self.err(key + ("resources", k), where, f"resources.{k} must be ≥ 0, got {v:g}")
        if len(self.problems) > n_before or generator is None or labeller is None or "name" not in e:
            return None
        device = options.get("device", "cpu")
        gpus = resources.get("num_gpus", 1.0 if device.startswith("cuda") else 0.0)
        return Job(name=e["name"], line=_line(self.lines, key), generator=generator, labeller=labeller,
                   feature=e.get("feature"), feature_classifier=clf, settings=dict(e.get("settings", {})),
                   guards=dict(e.get("guards", {})), options=options, load=dict(e.get("load", {})),
                   num_cpus=resources.get("num_cpus"), num_gpus=gpus, entry=e,
                   labeller_modules=kind_modules([s.kind for s in (labeller if isinstance(labeller, list) else [labeller])]))

    def resolve_path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else self.base / p))

    def generator(self, value: str, key: Key, where: str) -> str | None:
        if registry.resolve(value, "generator") is not None:
            return value
        p = self.resolve_path(value)
        if not p.exists():
            known = ", ".join(registry.names("generator")) or "none"
            self.err(key, where, f"generator {value!r} is neither a shipped model ({known}) nor an existing path ({p})")
            return None
        return str(p)

    def classifier(self, value: str, key: Key, where: str, what: str) -> str | None:
        if registry.resolve(value, "classifier") is not None:
            return value
        p = self.resolve_path(value)
        if not (p / "config.json").is_file():
            known = ", ".join(registry.names("classifier")) or "none"
            self.err(key, where, f"{what} {value!r} is neither a shipped classifier ({known}) nor a classifier folder ({p})")
            return None
        return str(p)

    def labeller(self, spec: str, key: Key, where: str) -> LabellerSpec | None:
        """The job's labeller spec, parsed once, with its paths taken beside the manifest and its inputs checked."""
        from eraser.labelling.spec import LabellerSpec

        try:
            parsed = LabellerSpec.parse(spec)
        except EraserError as e:
            self.err(key, where, str(e))
            return None
        try:
            return parsed.resolved(self.base)
        except EraserError as e:
            self.err(key, where, f"labeller: {e}")
            return None


def _has(lines: dict[Key, int], key: Key) -> bool:
    return key in lines


def _table_types(table: str) -> dict[str, type]:
    if table == "settings":  # annotations are strings ("int", "float | None", "str"): optional means "may be left out"
        kinds = {"int": int, "float": float, "str": str}
        return {f.name: kinds[str(f.type).removesuffix(" | None")] for f in fields(EraseSettings)}
    if table == "guards":
        return {f.name: float for f in fields(GuardLimits)}
    return LOAD_OPTIONS if table == "load" else RESOURCES


def _type_problem(value: Any, typ: type) -> str | None:
    """Why ``value`` is not a ``typ`` (ints pass as floats; booleans are not numbers), or None."""
    if typ is float:
        from eraser.validate import is_number

        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"must be a number, got {value!r}"
        return None if is_number(value) else f"must be a finite number, got {value!r}"
    if typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"must be an integer, got {value!r}"
    if typ is list:
        ok = isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        return None if ok else f"must be a list of positive integers, got {value!r}"
    names = {str: "a string", dict: "a table", bool: "true or false"}
    return None if isinstance(value, typ) else f"must be {names[typ]}, got {value!r}"


def _merge(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """A job's fields over the defaults; tables merge field by field."""
    out = dict(defaults)
    for k, v in own.items():
        out[k] = {**defaults.get(k, {}), **v} if k in TABLES and isinstance(defaults.get(k), dict) else v
    return out
