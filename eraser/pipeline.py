"""One erase, end to end: sample → label → direction → fine-tune → evaluate → save model and report.

The CLI, the notebook, the batch runner and the Python API (``eraser.erase``) all call ``run_erase``
and receive an ``EraseResult``; failed guards are its verdict, never an exception. This module only
orchestrates: measuring is ``eraser.evaluation``, the training monitor ``eraser.unlearn.monitor``, the
rules ``eraser.guards``, the report ``eraser.report.write``. The output folder appears complete
(checkpoint + ``report/``; ``report/`` only when the guards failed) or not at all; training state lives
in ``OUT.partial/`` until the run finishes, so an interrupted erase resumes when run again with the
same settings.
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
from eraser.results import EraseMetrics, EraseResult
from eraser.unlearn.settings import EraseSettings
from eraser.version import __version__

log = logging.getLogger(__name__)


@dataclass
class EraseRequest:
    """Everything an erase needs; every field has a user-facing option of the same name.

    ``generator``, ``labeller`` and ``feature_classifier`` are names or paths (a labeller spec such as
    ``marks:PATH``), or objects already in memory (a ``Generator``, a ``Labeller``).
    """

    generator: str | Generator
    labeller: str | LabellerSpec | Labeller
    out: Path
    settings: EraseSettings = field(default_factory=EraseSettings)
    #: prior samples to label when the labeller is not a marks file
    n_label: int = 2000
    label_seed: int = 1000
    direction_method: str = "mean-difference"
    #: classifier that measures the feature rate (never used in training); None skips the measurement
    feature_classifier: str | Labeller | None = None
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


def _name(x: str | LabellerSpec | Generator | Labeller | None) -> str | None:
    """How provenance and the report name an input: its spec or path, or an in-memory object's name."""
    if x is None or isinstance(x, str):
        return x
    return str(x) if isinstance(x, LabellerSpec) else x.name


def _source_hash(source: str | Generator) -> str | None:
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


def _check_out(req: EraseRequest, spec: LabellerSpec | None) -> Path:
    """Before any work: OUT is new and writable, neither it nor OUT.partial touches an input; returns OUT.partial."""
    from eraser.io import check_writable
    from eraser.resume import check_work_dir
    from eraser.validate import check_not_inputs, erase_inputs

    work = req.out.with_name(req.out.name + ".partial")
    check_not_inputs({"--out": req.out, "--out (its .partial work folder)": work},
                     erase_inputs(req.generator if isinstance(req.generator, str) else None,
                                  spec.files() if spec is not None else {},
                                  req.feature_classifier if isinstance(req.feature_classifier, str) else None))
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
    from eraser.evaluation import clean_judge, distribution_metrics, evaluate_erase
    from eraser.generators import load_generator
    from eraser.generators.checkpoint import write_checkpoint_files
    from eraser.guards import check, failures_line, verdict
    from eraser.io import atomic_dir
    from eraser.report.write import write_report
    from eraser.resume import resume_key
    from eraser.unlearn.loop import finetune
    from eraser.unlearn.monitor import GuardMonitor

    t0 = time.time()
    spec = None if isinstance(req.labeller, Labeller) else LabellerSpec.parse(req.labeller)
    work = _check_out(req, spec)
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.time() - since, 2)
        return time.time()

    generator = (req.generator.to(req.device) if isinstance(req.generator, Generator)
                 else load_generator(req.generator, req.device, req.load_options))
    labeller = spec.build(req.device) if spec is not None else req.labeller.to(req.device)
    classifier = req.feature_classifier
    if isinstance(classifier, str):
        from eraser.classifiers import load_classifier

        classifier = load_classifier(classifier, req.device)
    elif classifier is not None:
        classifier = classifier.to(req.device)
    if req.audit:
        from eraser.audit.attacks import require_differentiable

        if classifier is None:
            raise EraserError("--audit needs --feature-classifier: the attacks search for samples that classifier calls positive")
        require_differentiable(classifier)
    t = lap("load", t0)

    z_lab, y = label_latents(generator, labeller, req.n_label, req.label_seed)
    n_yes, n_no = int((y == 1).sum()), int((y == 0).sum())
    log.info(f"labelled {len(z_lab)} samples with {labeller.name}: {n_yes} with the feature, {n_no} without")
    direction = estimate_direction(z_lab, y, method=req.direction_method, seed=req.settings.seed)
    auc = f"{direction.heldout_auc:.3f}" if direction.heldout_auc is not None else "n/a"
    log.info(f"direction ({direction.method}): held-out AUC {auc}, threshold t = {direction.threshold:.3f}")

    detector = fit = None
    if req.settings.method == "deep":
        from eraser.unlearn.detector import fit_detector

        fit = fit_detector(z_lab, y, seed=req.settings.seed)
        detector = fit.detector
        auc = f"{fit.heldout_auc:.3f}" if fit.heldout_auc is not None else "n/a"
        log.info(f"training detector (latent MLP on the same labels): held-out AUC {auc}")
    t = lap("label_and_direction", t)

    z_clean = z_lab[y == 0]
    monitor = GuardMonitor(generator, z_clean[: req.guard_clean], classifier,
                           generator.sample_latents(req.guard_eval, req.eval_seed + 1), req.limits,
                           req.guard_every, req.settings.steps)
    work.mkdir(exist_ok=True)
    trained = finetune(generator, direction, req.settings, work_dir=work, progress=req.progress, monitor=monitor,
                       detector=detector, resume_key=resume_key(generator, z_lab, y, direction))
    if trained.resumed_from:
        log.info(f"resumed from step {trained.resumed_from} ({work})")
    g_new = trained.generator
    if monitor.kept_state is not None:
        g_new.module.load_state_dict(monitor.kept_state)
        log.info(f"kept the state of step {monitor.kept_step} (best passing guard evaluation)")
    t = lap("finetune", t)

    pres, eval_set, rates = evaluate_erase(generator, g_new, direction, z_clean, classifier, req.n_eval, req.eval_seed)
    dist = None
    if req.fid_samples > 0:
        judge, how = clean_judge(labeller, classifier)
        log.info(f"distribution metrics on {req.fid_samples} samples per set (feature-free as judged by {how})")
        dist = distribution_metrics(generator, g_new, judge, direction, req.fid_samples, req.eval_seed + 10,
                                    req.device, how)
    metrics = EraseMetrics(direction.summary(), pres, eval_set, rates, method_record(req.settings, fit, trained.mining),
                           dist, monitor.evals, monitor.kept_step)
    t = lap("evaluate", t)
    results = check(metrics.guard_values(), req.limits)
    passed = monitor.kept is not None and verdict(results)
    audit = None
    if req.audit:
        from eraser.audit.attacks import run_audit

        audit = run_audit({"original": generator, "erased": g_new}, classifier, direction)
        metrics.audit = {"success_rate": audit.to_dict()["success_rate"], "file": "report/audit.json"}
        t = lap("audit", t)
    timings["total"] = round(time.time() - t0, 2)
    metrics.timings_s = timings
    metrics.verdict = "pass" if passed else "fail"
    doc = metrics.to_dict()
    provenance = {
        "erased_from": {"generator": _name(req.generator), "weights_sha256": _source_hash(req.generator)},
        "feature": labeller.feature,
        "labeller": _name(spec or labeller),
        "feature_classifier": _name(req.feature_classifier),
        "direction": direction.summary(),
        "settings": asdict(req.settings),
        "guard_limits": asdict(req.limits),
        "method": metrics.method,
        "metrics": {k: v for k, v in doc.items() if k not in ("guard_evaluations",)},
        "eraser_version": __version__,
    }
    title = f"eraser report: {_name(req.generator)} → {req.out.name}"
    subtitle = (f"method {req.settings.method} ({req.settings.steps} steps); labeller {_name(spec or labeller)}; "
                f"classifier {_name(req.feature_classifier) or 'none'}; eraser {__version__}")
    with atomic_dir(req.out) as tmp:
        if passed:
            write_checkpoint_files(g_new, tmp, provenance)
        write_report(tmp / "report", generator, g_new, z_lab[y == 1][:16], z_clean[:16], doc, results, trained.history,
                     passed, title, subtitle, direction, asdict(req.settings), audit)
    shutil.rmtree(work, ignore_errors=True)
    failure = None
    if not passed:
        why = failures_line(results) or "no guard evaluation during training passed (see report)"
        failure = f"guards failed, so no checkpoint was written (report in {req.out / 'report'}): {why}"
    return EraseResult(metrics.verdict, metrics, results, req.out, req.out if passed else None, req.out / "report",
                       timings, g_new, failure)
