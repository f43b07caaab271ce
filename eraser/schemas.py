"""Schema and shape checks for the JSON files eraser reads: provenance, configs, directions, reports.

Each reader returns the validated content or raises one ``EraserError`` line naming the file, the
field and what it should be, so a damaged or hand-edited file never surfaces as an internal error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eraser.errors import EraserError
from eraser.io import read_json_object
from eraser.validate import is_number


def _bad(where: str, field: str, want: str, got: Any) -> EraserError:
    shown = repr(got) if len(repr(got)) <= 40 else type(got).__name__
    return EraserError(f"{where}: field {field!r} must be {want}, got {shown}; fix or regenerate the file")


def check_fields(doc: dict[str, Any], where: str, spec: dict[str, tuple[str, Any]], required: tuple[str, ...] = ()) -> None:
    """Check ``doc``'s fields against ``spec`` (name → (description, predicate)); absent optional ones pass."""
    for name in required:
        if name not in doc:
            raise EraserError(f"{where} lacks the field {name!r}; the file is incomplete")
    for name, (want, ok) in spec.items():
        if name in doc and not ok(doc[name]):
            raise _bad(where, name, want, doc[name])


def is_str(x: Any) -> bool:
    return isinstance(x, str)


def is_opt_str(x: Any) -> bool:
    return x is None or isinstance(x, str)


def is_int(x: Any, low: int = 0) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


def is_shape(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and all(is_int(s, 1) for s in x)


def is_plain_name(x: Any) -> bool:
    """A file name inside the same folder (no path separators, no ``..``)."""
    return isinstance(x, str) and bool(x) and "/" not in x and "\\" not in x and x not in (".", "..")


# -- provenance.json ----------------------------------------------------------------------------
def read_provenance(directory: Path) -> dict[str, Any] | None:
    """A checkpoint's ``provenance.json`` (checked), or None when there is none."""
    path = Path(directory) / "provenance.json"
    if not path.is_file():
        return None
    where = f"provenance file {path}"
    prov = read_json_object(path, "provenance file")
    check_fields(prov, where, {"weights_sha256": ("a sha256 string", is_opt_str),
                               "erased_from": ("an object", lambda v: isinstance(v, dict))})
    check_fields(prov.get("erased_from") or {}, f"{where} (erased_from)",
                 {"generator": ("a generator name or path", is_opt_str), "weights_sha256": ("a sha256 string", is_opt_str)})
    return prov


# -- config.json --------------------------------------------------------------------------------
GENERATOR_FIELDS: dict[str, dict[str, tuple[str, Any]]] = {
    "module": {"class": ("a 'package.module:Class' string", is_str), "init_args": ("an object", lambda v: isinstance(v, dict)),
               "latent_shape": ("a list of positive sizes, e.g. [100, 1, 1]", is_shape)},
    "torchscript": {"latent_shape": ("a list of positive sizes, e.g. [100, 1, 1]", is_shape),
                    "architecture": ("a file name in the checkpoint folder", is_plain_name)},
    "diffusers": {"class": ("a diffusers class name", is_str), "init_args": ("an object", lambda v: isinstance(v, dict))},
}
GENERATOR_FIELDS["vae"] = GENERATOR_FIELDS["module"]
REQUIRED = {"module": ("class", "latent_shape"), "vae": ("class", "latent_shape"), "torchscript": ("latent_shape",),
            "diffusers": ("class", "init_args")}


def check_generator_config(config: dict[str, Any], path: Path) -> None:
    """The adapter fields of a generator checkpoint's config.json (kind already known)."""
    kind = config["kind"]
    check_fields(config, f"{path}/config.json", GENERATOR_FIELDS[kind], REQUIRED[kind])


CLASSIFIER_FIELDS = {
    "threshold": ("a number in [0, 1]", lambda v: is_number(v) and 0 <= v <= 1),
    "clean_threshold": ("a number in [0, 1]", lambda v: is_number(v) and 0 <= v <= 1),
    "dim": ("a positive integer", lambda v: is_int(v, 1)),
    "embedder": ("an embedder name or {\"name\": ..., \"size\": pixels}", lambda v: isinstance(v, str) or (
        isinstance(v, dict) and isinstance(v.get("name"), str) and is_int(v.get("size", 299), 1))),
    "init_args": ("an object", lambda v: isinstance(v, dict)),
    "feature": ("a string", is_str),
}


def check_classifier_config(config: dict[str, Any], path: Path) -> None:
    required = {"probe": ("dim", "embedder")}.get(config.get("kind"), ())
    check_fields(config, f"{path}/config.json", CLASSIFIER_FIELDS, required)


# -- report files of an erased checkpoint --------------------------------------------------------
DIRECTION_FIELDS = {
    "unit": ("a list of finite numbers", lambda v: isinstance(v, list) and bool(v) and all(map(is_number, v))),
    "threshold": ("a finite number", is_number),
    "method": ("a string", is_str),
    "mean_proj_feature": ("a finite number", is_number),
    "mean_proj_none": ("a finite number", is_number),
    "n_feature": ("a count", is_int),
    "n_none": ("a count", is_int),
    "heldout_auc": ("a number or null", lambda v: v is None or is_number(v)),
    "n_heldout": ("a count", is_int),
}


def read_direction(path: Path, latent_dim: int | None = None):
    """A ``direction.json`` as an erase writes it, checked field by field (and against ``latent_dim``)."""
    import torch

    from eraser.direction import Direction

    where = f"direction file {path}"
    d = read_json_object(path, "direction file")
    check_fields(d, where, DIRECTION_FIELDS, tuple(DIRECTION_FIELDS))
    unit = torch.tensor(d["unit"], dtype=torch.float32)
    if not torch.isfinite(unit).all() or float(unit.norm()) == 0:
        raise EraserError(f"{where}: 'unit' must be a nonzero vector of finite numbers")
    if latent_dim is not None and len(unit) != latent_dim:
        raise EraserError(f"the direction in {path} has {len(unit)} dimensions but the generator takes {latent_dim}")
    return Direction(**{k: d[k] for k in DIRECTION_FIELDS if k != "unit"}, unit=unit)


def _records(path: Path, what: str, key: str, numbers: tuple[str, ...]) -> list[dict[str, Any]]:
    """``doc[key]``: a list of objects, each with the numeric fields ``numbers``."""
    items = read_json_object(path, what).get(key, [])
    if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
        raise _bad(str(path), key, "a list of objects", items)
    for r in items:
        for k in numbers:
            if not isinstance(r.get(k), (int, float)) or isinstance(r.get(k), bool):
                raise _bad(str(path), f"{key}[].{k}", "a number", r.get(k))
    return items


def read_erased_report(report: Path, latent_dim: int):
    """``(direction or None, training history, guard evaluations)`` from an erased checkpoint's ``report/``."""
    direction = read_direction(report / "direction.json", latent_dim) if (report / "direction.json").is_file() else None
    history, evals = [], []
    if (report / "training.json").is_file():
        history = _records(report / "training.json", "training file", "history", ("step", "loss", "loss_shifted", "loss_keep"))
    if (report / "metrics.json").is_file():
        evals = _records(report / "metrics.json", "metrics file", "guard_evaluations", ("step", "ms_ssim"))
    return direction, history, evals
