"""One erase, end to end: sample → label → direction → fine-tune → evaluate → save model and report.

The CLI, the notebook, the batch runner and the Python API (``eraser.erase``) all call ``run_erase``
and receive an ``EraseResult``; failed guards are its verdict, never an exception. This module only
orchestrates: measuring is ``eraser.evaluation``, the training monitor ``eraser.unlearn.monitor``, the
rules ``eraser.guards``, the report ``eraser.report.write``. The output folder appears complete
(checkpoint + ``report/``; ``report/`` only when the guards failed) or not at all; training state lives
in ``OUT.partial/`` until the run finishes, so an interrupted erase resumes when run again with the
same settings.

Several features in one erase: ``labeller`` is a list (one labeller per feature, features distinct). Each
is labelled and gets its own direction (and, for ``deep``, its own training detector); one fine-tune
erases them all (``unlearn.methods.CompositeMethod``); the result has a row per feature
(``EraseMetrics.features``). Measuring classifiers (``feature_classifier``, a list too) are matched to
the erased features by ``Labeller.feature``; a classifier of a feature that was not erased gives a
collateral row (that feature's rate before and after, on the same fresh latents). One labeller and one
classifier: the classifier measures that feature whatever its name (as before lists existed).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from eraser.errors import EraserError
from eraser.generators import LoadOptions
from eraser.generators.base import Generator
from eraser.guards import GuardLimits
from eraser.labelling.base import Labeller
from eraser.labelling.spec import LabellerSpec
from eraser.report.erase_summary import _as_list, _name, _names, _source_hash
from eraser.results import CollateralRow, EraseMetrics, EraseResult, FeatureRow
from eraser.unlearn.settings import EraseSettings
from eraser.version import __version__

log = logging.getLogger(__name__)


@dataclass
class EraseRequest:
    """Everything an erase needs; every field has a user-facing option of the same name.

    ``generator``, ``labeller`` and ``feature_classifier`` are names or paths (a labeller spec such as
    ``marks:PATH``), or objects already in memory (a ``Generator``, a ``Labeller``); ``labeller`` and
    ``feature_classifier`` may be lists (several features; see the module docstring).
    """

    generator: str | Generator
    labeller: str | LabellerSpec | Labeller | list[str | LabellerSpec | Labeller]
    out: Path
    settings: EraseSettings = field(default_factory=EraseSettings)
    #: prior samples to label when the labeller is not a marks file
    n_label: int = 2000
    label_seed: int = 1000
    direction_method: str = "mean-difference"
    #: classifier(s) that measure feature rates (never used in training); None skips the measurement
    feature_classifier: str | Labeller | list[str | Labeller] | None = None
    n_eval: int = 2000
    eval_seed: int = 2000
    device: str = "cpu"
    load_options: LoadOptions = field(default_factory=LoadOptions)
    progress: bool = True
    limits: GuardLimits = field(default_factory=GuardLimits)
    #: evaluate the cheap guards every this many steps (and at the last step)
    guard_every: int = 100
    #: feature-free latents for the preservation guard, fresh latents for the feature-rate guard
    guard_clean: int = 256
    guard_eval: int = 512
    #: samples per set for FID/KID/precision-recall (0: skip them); each costs one Inception pass
    fid_samples: int = 500
    #: run the robustness audit (eraser.audit) on the original and the erased generator into OUT/report/
    audit: bool = False


def match_classifiers(features: list[str], classifiers: list[Labeller]) -> tuple[list[Labeller | None], list[Labeller]]:
    """Each erased feature's measuring classifier (None without one) and the collateral classifiers (their
    feature is not erased). Matched by ``Labeller.feature``; one feature and one classifier: that classifier."""
    if len(features) == 1 and len(classifiers) == 1:
        return [classifiers[0]], []
    by: dict[str, Labeller] = {}
    for c in classifiers:
        if c.feature in by:
            raise EraserError(f"--feature-classifier {by[c.feature].name} and {c.name} both measure the feature "
                              f"{c.feature!r}; give one classifier per feature")
        by[c.feature] = c
    missing = [f for f in features if f not in by]
    if missing and classifiers:
        log.warning(f"no --feature-classifier measures {', '.join(map(repr, missing))} (classifiers measure "
                    f"{', '.join(map(repr, by))}); its rate is not measured")
    return [by.get(f) for f in features], [c for c in classifiers if c.feature not in features]


def _check_out(req: EraseRequest, specs: list[LabellerSpec | None]) -> Path:
    """Before any work: OUT is new and writable, neither it nor OUT.partial touches an input; returns OUT.partial."""
    from eraser.io import check_writable
    from eraser.resume import check_work_dir
    from eraser.validate import check_not_inputs, erase_inputs, source_path

    work = req.out.with_name(req.out.name + ".partial")
    files: dict[str, Path] = {}
    for i, spec in enumerate(specs):
        for role, p in (spec.files() if spec is not None else {}).items():
            files[role if len(specs) == 1 else f"{role} #{i + 1}"] = p
    clfs = [c for c in _as_list(req.feature_classifier) if isinstance(c, str)]
    inputs = erase_inputs(req.generator if isinstance(req.generator, str) else None, files, clfs[0] if clfs else None)
    inputs += [("--feature-classifier", source_path(c, "classifier")) for c in clfs[1:]]
    check_not_inputs({"--out": req.out, "--out (its .partial work folder)": work}, inputs)
    if req.out.exists():
        raise EraserError(f"{req.out} already exists; choose a new --out folder (eraser never overwrites a checkpoint)")
    check_writable(req.out)
    check_work_dir(work, asdict(req.settings))
    return work


def label_latents(generator: Generator, labeller: Labeller, n_label: int, label_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents and their labels (1 feature, 0 none, NaN unlabelled) for direction estimation: the labeller's
    own latents when it labels only those (marks), else ``n_label`` prior samples drawn with ``label_seed``."""
    if labeller.labels_only_known_latents:
        z = labeller.known_latents()
        if z.shape[1] != generator.latent_dim:
            raise EraserError(f"the marks' latents have {z.shape[1]} dimensions but {generator.name} takes {generator.latent_dim}")
    else:
        z = generator.sample_latents(n_label, label_seed)
    scores = labeller.score(generator, z)
    y = torch.where(torch.isnan(scores), scores, (scores >= labeller.threshold).float())
    return z, y


def method_record(settings: EraseSettings, fit, mining: list[dict[str, float]]) -> dict[str, Any]:
    """What the report and provenance say about the erase method."""
    rec: dict[str, Any] = {"name": settings.method, "steps": settings.steps}
    if settings.method == "paper":
        rec["recipe"] = "Moon, Cho & Kim, Feature Unlearning for Pre-trained GANs and VAEs (AAAI 2024)"
    else:
        rec["recipe"] = ("eraser deep erasure: continuous target map along the direction, latent training detector, "
                         "coverage far along the direction, MS-SSIM on the kept side, residual mining "
                         "(built on Moon, Cho & Kim, AAAI 2024)")
        rec["training_detector"] = fit.summary() if fit is not None else None
        rec["mining_rounds"] = mining
    return rec


def run_erase(req: EraseRequest) -> EraseResult:
    """Run the whole erase and write ``OUT`` (the checkpoint and ``OUT/report/``; only the report when the
    guards fail); return the result, whose ``verdict`` is ``"fail"`` when no state passes the guards.

    Raises ``EraserError`` (one line) only when the erase cannot run. The input generator is never modified.
    """
    from eraser.direction import estimate_direction
    from eraser.evaluation import (
        clean_judge,
        clean_judge_all,
        clean_of_all,
        distribution_metrics,
        evaluate_erase,
        feature_rates,
    )
    from eraser.generators import load_generator
    from eraser.generators.checkpoint import WEIGHTS, write_checkpoint_files
    from eraser.guards import check, failures_line, verdict
    from eraser.io import atomic_dir, sha256_file, write_json
    from eraser.report.erase_summary import report_summary
    from eraser.report.write import write_report
    from eraser.resume import resume_key
    from eraser.unlearn.loop import finetune
    from eraser.unlearn.monitor import GuardMonitor

    t0 = time.time()
    specs = [None if isinstance(x, Labeller) else LabellerSpec.parse(x) for x in _as_list(req.labeller)]
    if not specs:
        raise EraserError("no labeller given: name at least one (--labeller marks:PATH)")
    several = len(specs) > 1
    work = _check_out(req, specs)
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.time() - since, 2)
        return time.time()

    generator = (req.generator.to(req.device) if isinstance(req.generator, Generator)
                 else load_generator(req.generator, req.device, req.load_options))
    labellers = [spec.build(req.device) if spec is not None else x.to(req.device)
                 for spec, x in zip(specs, _as_list(req.labeller))]
    features = [lab.feature for lab in labellers]
    if len(set(features)) < len(features):
        dup = next(f for f in features if features.count(f) > 1)
        raise EraserError(f"two labellers label the same feature {dup!r}; give one --labeller per feature")
    loaded = []
    for c in _as_list(req.feature_classifier):
        if isinstance(c, str):
            from eraser.classifiers import load_classifier

            c = load_classifier(c, req.device)
        loaded.append(c.to(req.device))
    measuring, collateral_clfs = match_classifiers(features, loaded)
    classifier = measuring[0]
    if req.audit:
        from eraser.audit.attacks import require_differentiable

        if several:
            raise EraserError("--audit attacks one feature; audit each feature of a several-feature erase with `eraser audit`")
        if classifier is None:
            raise EraserError("--audit needs --feature-classifier: the attacks search for samples that classifier calls positive")
        require_differentiable(classifier)
    t = lap("load", t0)

    z_labs, ys, directions, fits = [], [], [], []
    for labeller in labellers:
        z_lab, y = label_latents(generator, labeller, req.n_label, req.label_seed)
        n_yes, n_no = int((y == 1).sum()), int((y == 0).sum())
        log.info(f"labelled {len(z_lab)} samples with {labeller.name}: {n_yes} with the feature, {n_no} without")
        direction = estimate_direction(z_lab, y, method=req.direction_method, seed=req.settings.seed)
        auc = f"{direction.heldout_auc:.3f}" if direction.heldout_auc is not None else "n/a"
        log.info(f"direction ({direction.method}): held-out AUC {auc}, threshold t = {direction.threshold:.3f}")
        fit = None
        if req.settings.method == "deep":
            from eraser.unlearn.detector import fit_detector

            fit = fit_detector(z_lab, y, seed=req.settings.seed)
            auc = f"{fit.heldout_auc:.3f}" if fit.heldout_auc is not None else "n/a"
            log.info(f"training detector (latent MLP on the same labels): held-out AUC {auc}")
        z_labs.append(z_lab)
        ys.append(y)
        directions.append(direction)
        fits.append(fit)
    t = lap("label_and_direction", t)

    z_clean = z_labs[0][ys[0] == 0] if not several else clean_of_all(generator, labellers, z_labs, ys, directions)
    if several:
        watched = {f: c for f, c in zip(features, measuring) if c is not None} or None
    else:
        watched = classifier
    monitor = GuardMonitor(generator, z_clean[: req.guard_clean], watched,
                           generator.sample_latents(req.guard_eval, req.eval_seed + 1), req.limits,
                           req.guard_every, req.settings.steps)
    work.mkdir(exist_ok=True)
    detectors = [fit.detector if fit is not None else None for fit in fits]
    if several:
        key = resume_key(generator, z_labs, ys, directions)
        trained = finetune(generator, directions, req.settings, work_dir=work, progress=req.progress, monitor=monitor,
                           detector=detectors, resume_key=key)
    else:
        trained = finetune(generator, directions[0], req.settings, work_dir=work, progress=req.progress,
                           monitor=monitor, detector=detectors[0],
                           resume_key=resume_key(generator, z_labs[0], ys[0], directions[0]))
    if trained.resumed_from:
        log.info(f"resumed from step {trained.resumed_from} ({work})")
    g_new = trained.generator
    if monitor.kept_state is not None:
        g_new.module.load_state_dict(monitor.kept_state)
        log.info(f"kept the state of step {monitor.kept_step} (best passing guard evaluation)")
    t = lap("finetune", t)

    pres, eval_set, rates = evaluate_erase(generator, g_new, directions[0], z_clean, None if several else classifier,
                                           req.n_eval, req.eval_seed)
    z_eval = generator.sample_latents(req.n_eval, req.eval_seed) if several or collateral_clfs else None
    rows = []
    for lab, spec, d, c, fit in zip(labellers, specs, directions, measuring, fits):
        share = float((d.project(z_eval) >= d.threshold).float().mean()) if several else eval_set.share_beyond_threshold
        r = (feature_rates(generator, g_new, c, z_eval)[0] if c is not None else None) if several else rates
        rows.append(FeatureRow(lab.feature, _name(spec or lab), d.summary(), share, r,
                               fit.summary() if fit is not None else None))
    if several:
        beyond = torch.zeros(len(z_eval), dtype=torch.bool)
        for d in directions:
            beyond |= (d.project(z_eval) >= d.threshold).cpu()
        eval_set.share_beyond_threshold = float(beyond.float().mean())
    collateral = [CollateralRow(c.feature, feature_rates(generator, g_new, c, z_eval)[0]) for c in collateral_clfs]
    for row in collateral:
        log.info(f"collateral: {row.feature} rate {row.rates.before:.1%} -> {row.rates.after:.1%} ({row.rates.classifier})")
    dist = None
    if req.fid_samples > 0:
        if several:
            judge, how = clean_judge_all(labellers, measuring, directions)
        else:
            judge, how = clean_judge(labellers[0], classifier)
        log.info(f"distribution metrics on {req.fid_samples} samples per set (feature-free as judged by {how})")
        dist = distribution_metrics(generator, g_new, judge, directions[0], req.fid_samples, req.eval_seed + 10,
                                    req.device, how)
    method = method_record(req.settings, None if several else fits[0], trained.mining)
    if several:
        method["features"] = features
        if req.settings.method == "deep":
            method["training_detector"] = {f: fit.summary() for f, fit in zip(features, fits)}
    direction_doc = {f: d.summary() for f, d in zip(features, directions)} if several else directions[0].summary()
    metrics = EraseMetrics(direction_doc, pres, eval_set, rates, method, dist, monitor.evals, monitor.kept_step,
                           features=rows, collateral=collateral)
    t = lap("evaluate", t)
    results = check(metrics.guard_values(), req.limits)
    passed = monitor.kept is not None and verdict(results)
    audit = None
    if req.audit:
        from eraser.audit.attacks import run_audit

        audit = run_audit({"original": generator, "erased": g_new}, classifier, directions[0])
        metrics.audit = {"success_rate": audit.to_dict()["success_rate"], "file": "report/audit.json"}
        t = lap("audit", t)
    timings["total"] = round(time.time() - t0, 2)
    metrics.timings_s = timings
    metrics.verdict = "pass" if passed else "fail"
    doc = metrics.to_dict()
    labeller_names = [_name(spec or lab) for spec, lab in zip(specs, labellers)]
    provenance = {
        "erased_from": {"generator": _name(req.generator), "weights_sha256": _source_hash(req.generator)},
        "feature": features if several else features[0],
        "labeller": labeller_names if several else labeller_names[0],
        "feature_classifier": _names(req.feature_classifier),
        "direction": [d.summary() for d in directions] if several else directions[0].summary(),
        "settings": asdict(req.settings),
        "guard_limits": asdict(req.limits),
        "method": metrics.method,
        "metrics": {k: v for k, v in doc.items() if k not in ("guard_evaluations",)},
        "eraser_version": __version__,
    }
    counts = [(int((y == 1).sum()), int((y == 0).sum()), int(torch.isnan(y).sum())) for y in ys]
    summary = report_summary(req, specs, labellers, metrics, results, counts)
    if several:  # each feature's labelled samples: an equal share of the 8 in the figure
        k = max(1, 8 // len(z_labs))
        z_show = torch.cat([z[y == 1][:k] for z, y in zip(z_labs, ys)])
    else:
        z_show = z_labs[0][ys[0] == 1][:8]
    z_eval_fig = generator.sample_latents(req.n_eval, req.eval_seed) if rates is not None else None
    with atomic_dir(req.out) as tmp:
        if passed:
            write_checkpoint_files(g_new, tmp, provenance)
            summary.weights_sha256["erased"] = sha256_file(tmp / WEIGHTS)
        write_report(tmp / "report", generator, g_new, summary, doc, results, trained.history, z_show,
                     z_clean[:512], z_eval_fig, pres.worst(8), None if several else directions[0],
                     asdict(req.settings), audit, monitor.rate_before)
        if several:
            write_json(tmp / "report" / "directions.json", {f: d.to_dict() for f, d in zip(features, directions)})
    shutil.rmtree(work, ignore_errors=True)
    failure = None
    if not passed:
        why = failures_line(results) or "no guard evaluation during training passed (see report)"
        failure = f"guards failed, so no checkpoint was written (report in {req.out / 'report'}): {why}"
    return EraseResult(metrics.verdict, metrics, results, req.out, req.out if passed else None, req.out / "report",
                       timings, g_new, failure)
