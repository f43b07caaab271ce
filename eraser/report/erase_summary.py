"""The report's account of one erase (``eraser.report.summary.ReportSummary``): a row per feature with who
made its labels, the cost, and a command line that runs the erase again. Built by ``pipeline.run_erase``
from plain values; it reads the request's fields only, never runs anything.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from eraser.guards import GuardLimits, as_dicts
from eraser.labelling.base import Labeller
from eraser.labelling.spec import LabellerSpec
from eraser.report.summary import Cost, FeatureSummary, ReportSummary
from eraser.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from eraser.pipeline import EraseRequest
    from eraser.results import EraseMetrics


def _name(x) -> str | None:
    """How provenance and the report name an input: its spec or path, or an in-memory object's name."""
    if x is None or isinstance(x, str):
        return x
    return str(x) if isinstance(x, LabellerSpec) else x.name


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else ([] if x is None else [x])


def _names(x):
    items = _as_list(x)
    return _name(items[0]) if len(items) == 1 else (None if not items else [_name(i) for i in items])


def _source_hash(source) -> str | None:
    from eraser import registry
    from eraser.generators.checkpoint import WEIGHTS
    from eraser.io import sha256_file

    if not isinstance(source, str):
        return None  # in memory: nothing on disk to point at
    shipped = registry.resolve(source, "generator")
    path = shipped / WEIGHTS if shipped else Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        path = files[0] if files else path
    return sha256_file(path) if path.is_file() else None


def labels_made_by(spec: LabellerSpec | None, labeller: Labeller) -> str:
    """Who or what made the labels, in words: the shipped marks say they were made by automated AI
    annotators; a marks file's own ``made_by`` is quoted; other labellers are automatic."""
    if spec is None:
        return f"{labeller.name} (a labeller object in memory)"
    if spec.kind == "marks":
        from eraser.io import read_json, sha256_file

        path = Path(spec.arg)
        doc = read_json(path, "marks file")
        if isinstance(doc, dict) and isinstance(doc.get("made_by"), str):
            return doc["made_by"]
        sums = Path(__file__).resolve().parents[2] / "assets" / "marks" / "SHA256SUMS"  # the source checkout
        if sums.is_file() and path.is_file() and sha256_file(path) in sums.read_text().split():
            return "automated AI annotators, not people (the shipped marks; see assets/marks/README.md)"
        return "unknown (the marks file does not say who made them)"
    if spec.kind == "clip":
        return "CLIP zero-shot scores (automatic)"
    if spec.kind == "probe":
        return "a probe classifier (automatic)"
    return f"the {spec.kind} labeller (automatic)"


def reproduce_command(req: EraseRequest, spec: LabellerSpec | list[LabellerSpec | None] | None) -> str | None:
    """An ``eraser erase`` command line that runs this request again (None when an input is an object in
    memory); options at their defaults are left out."""
    import shlex

    from eraser.unlearn.settings import EraseSettings

    specs = spec if isinstance(spec, list) else [spec]
    clfs = _as_list(req.feature_classifier)
    if not isinstance(req.generator, str) or any(s is None for s in specs) or not all(isinstance(c, str) for c in clfs):
        return None
    args = ["eraser", "erase", "-g", req.generator]
    for s_ in specs:
        args += ["-l", str(s_)]
    for c in clfs:
        args += ["--feature-classifier", c]
    defaults = EraseSettings(method=req.settings.method)
    flags = {"method": "--method", "steps": "--steps", "batch_size": "--batch-size", "lr": "--lr", "alpha": "--alpha",
             "margin": "--margin", "feature_fraction": "--feature-fraction", "band": "--band", "depth": "--depth",
             "coverage": "--coverage", "mine_every": "--mine-every", "seed": "--seed"}
    for key, flag in flags.items():
        v = getattr(req.settings, key)
        if key in ("method", "steps") or v != getattr(defaults, key):
            args += [flag, f"{v:g}" if isinstance(v, float) else str(v)]
    base = type(req)(req.generator, req.labeller, req.out)
    for key, flag in {"direction_method": "--direction", "n_label": "--n-label", "n_eval": "--n-eval",
                      "fid_samples": "--fid-samples", "guard_every": "--guard-every", "device": "--device"}.items():
        if getattr(req, key) != getattr(base, key):
            args += [flag, str(getattr(req, key))]
    for f in fields(GuardLimits):
        v = getattr(req.limits, f.name)
        if v != f.default:
            args += ["--guard", f"{f.name}={v:g}"]
    lo = req.load_options
    for key, flag in {"module_class": "--class", "state_dict_key": "--state-dict-key"}.items():
        if getattr(lo, key, None):
            args += [flag, str(getattr(lo, key))]
    if getattr(lo, "init_args", None):
        import json

        args += ["--init-args", json.dumps(lo.init_args)]
    if getattr(lo, "latent_shape", None):
        args += ["--latent-shape", ",".join(map(str, lo.latent_shape))]
    args += [f for f in ("--trust-pickle", "--trust-code") if getattr(lo, f[2:].replace("-", "_"), False)]
    if req.audit:
        args.append("--audit")
    args += ["--out", str(req.out)]
    return shlex.join(args)


def report_summary(req: EraseRequest, specs: list[LabellerSpec | None], labellers: list[Labeller],
                   metrics: EraseMetrics, results: list, counts: list[tuple[int, int, int]]):
    """The report's summary (``eraser.report.summary``) of this erase: a row per feature, cost, provenance."""
    import datetime
    import platform


    several = len(labellers) > 1
    rows = []
    for i, (spec, labeller, c) in enumerate(zip(specs, labellers, counts)):
        name = f"feature_rate[{labeller.feature}]" if several else "feature_rate"
        guard = next((r for r in results if r.name == name), None)
        rates = metrics.features[i].rates if several else metrics.feature_rate
        rows.append(FeatureSummary.from_rates(
            labeller.feature, rates, guard, labeller=_name(spec or labeller),
            labels=dict(zip(("yes", "no", "unsure"), c)), labels_by=labels_made_by(spec, labeller)))
    feature_names = ", ".join(lab.feature for lab in labellers)
    device = req.device
    if device.startswith("cuda") and torch.cuda.is_available():
        device += f" ({torch.cuda.get_device_name(torch.device(device))})"
    elif device == "cpu":
        device += f" ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return ReportSummary(
        kind="erase", title=f"Erase of {feature_names} from {_name(req.generator)}", generator=_name(req.generator),
        erased=str(req.out), verdict=metrics.verdict, features=rows,
        cost=Cost.from_metrics(metrics.preservation, metrics.distribution, metrics.timings_s.get("total")),
        guards=as_dicts(results), method=metrics.method, kept_step=metrics.kept_step, audit=metrics.audit,
        settings=asdict(req.settings), guard_limits=asdict(req.limits), command=reproduce_command(req, list(specs)),
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), device=device,
        eraser_version=__version__, weights_sha256={"original": _source_hash(req.generator), "erased": None},
        out=str(req.out), feature_classifier=_name(req.feature_classifier) if not isinstance(req.feature_classifier, list)
        else ", ".join(_names(req.feature_classifier)))
