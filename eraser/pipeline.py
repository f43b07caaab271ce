"""One erase, end to end: sample → label → direction → fine-tune → evaluate → save model and report.

The CLI, the notebook and the batch runner all call ``run_erase``. The output folder appears
complete (checkpoint + ``report/``) or not at all; training state lives in ``OUT.partial/`` until
the run succeeds, so an interrupted erase resumes when run again with the same settings.
"""

from __future__ import annotations

import math

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from eraser import __version__
from eraser.direction import Direction, estimate_direction
from eraser.errors import EraserError
from eraser.generators import LoadOptions, load_generator
from eraser.generators.base import Generator
from eraser.generators.checkpoint import write_checkpoint_files
from eraser.guards import GuardLimits
from eraser.images import grid_image
from eraser.io import atomic_dir, check_writable, sha256_file, write_json
from eraser.labelling import make_labeller
from eraser.labelling.base import Labeller
from eraser.metrics.ssim import ms_ssim
from eraser.resume import resume_key
from eraser.unlearn.loop import finetune
from eraser.unlearn.settings import EraseSettings


@dataclass
class EraseRequest:
    """Everything an erase needs; every field has a user-facing option of the same name."""

    generator: str
    labeller: str
    out: Path
    settings: EraseSettings = field(default_factory=EraseSettings)
    #: prior samples to label when the labeller is not a marks file
    n_label: int = 2000
    label_seed: int = 1000
    direction_method: str = "mean-difference"
    #: classifier that measures the feature rate (never used in training); None skips the measurement
    feature_classifier: str | None = None
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


def _source_hash(source: str) -> str | None:
    from eraser import registry
    from eraser.generators.checkpoint import WEIGHTS

    shipped = registry.resolve(source, "generator")
    path = shipped / WEIGHTS if shipped else Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        path = files[0] if files else path
    return sha256_file(path) if path.is_file() else None


def _check_out(req: EraseRequest) -> None:
    from eraser.resume import check_work_dir
    from eraser.validate import check_not_inputs, erase_inputs

    work = req.out.with_name(req.out.name + ".partial")
    check_not_inputs({"--out": req.out, "--out (its .partial work folder)": work},
                     erase_inputs(req.generator, req.labeller, req.feature_classifier))
    if req.out.exists():
        raise EraserError(f"{req.out} already exists; choose a new --out folder (eraser never overwrites a checkpoint)")
    check_writable(req.out)
    check_work_dir(work, asdict(req.settings))


def label_latents(generator: Generator, labeller: Labeller, req: EraseRequest) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents and their labels (1 feature, 0 none, NaN unlabelled) for direction estimation."""
    from eraser.labelling.marks import MarksLabeller

    if isinstance(labeller, MarksLabeller):
        z = labeller.marks.z
        if z.shape[1] != generator.latent_dim:
            raise EraserError(f"the marks' latents have {z.shape[1]} dimensions but {generator.name} takes {generator.latent_dim}")
    else:
        z = generator.sample_latents(req.n_label, req.label_seed)
    scores = labeller.score(generator, z)
    y = torch.where(torch.isnan(scores), scores, (scores >= labeller.threshold).float())
    return z, y


def feature_rate(generator: Generator, classifier: Labeller, z: torch.Tensor, batch_size: int = 256) -> float:
    """Share of samples ``G(z)`` the classifier calls positive."""
    return float(classifier.decide(classifier.score(generator, z, batch_size)).float().mean())


@torch.no_grad()
def preservation(g: Generator, g_new: Generator, z: torch.Tensor, batch_size: int = 256,
                 lpips: bool = False) -> dict[str, Any]:
    """Mean MS-SSIM, L1 and (with ``lpips``) LPIPS-alex v0.1 between G(z) and G'(z) (images in [-1, 1]).

    When LPIPS cannot run (no AlexNet weights here), ``lpips_mean`` is None and ``lpips_note`` says why.
    """
    metric, note = None, None
    if lpips:
        from eraser.metrics.lpips import LPIPSUnavailable, load_lpips

        try:
            metric = load_lpips(g.device)
        except LPIPSUnavailable as e:
            note = str(e)
    ssim, l1, lp = [], [], []
    for i in range(0, len(z), batch_size):
        a, b = g.generate(z[i : i + batch_size]), g_new.generate(z[i : i + batch_size])
        ssim.append(ms_ssim(a, b))
        l1.append((a - b).abs().flatten(1).mean(1))
        if metric is not None:
            lp.append(metric(a.to(g.device), b.to(g.device)).cpu())
    s, d = torch.cat(ssim), torch.cat(l1)
    out: dict[str, Any] = {"ms_ssim_mean": float(s.mean()), "ms_ssim_min": float(s.min()), "l1_mean": float(d.mean()),
                           "n": len(z)}
    if lpips:
        out["lpips_mean"] = float(torch.cat(lp).mean()) if lp else None
        if note:
            out["lpips_note"] = note
    return out


def before_after_grid(g: Generator, g_new: Generator, z_feature: torch.Tensor, z_none: torch.Tensor, ncol: int = 8):
    """Rows in pairs: G then G' at the same latents; first feature samples, then feature-free ones."""
    rows = []
    for z in (z_feature, z_none):
        for i in range(0, len(z), ncol):
            for images in (g.generate(z[i : i + ncol]), g_new.generate(z[i : i + ncol])):
                blank = torch.ones(ncol - len(images), *images.shape[1:])  # white tiles fill a short row
                rows.append(torch.cat([images, blank]))
    if not rows:
        rows = [torch.ones(ncol, *g.generate(g.sample_latents(1, 0)).shape[1:])]  # nothing to show: one blank row
    return grid_image(torch.cat(rows), nrow=ncol, padding=2)


class GuardMonitor:
    """Evaluates the cheap guards every ``every`` steps on fixed latents and keeps the best passing state.

    Cheap guards: preservation (MS-SSIM on ``z_clean``, latents labelled feature-free) and, with a
    measuring classifier, the feature rate on ``z_eval``. Which passing state is kept: the latest one
    whose feature rate is not *measurably* worse than the kept one's (``not_worse``: within two standard
    errors of the difference of two rates on ``len(z_eval)`` samples). Keeping the strictly lowest rate
    rewarded noise: deep in an erase the rate is one or two samples in 512, and an earlier, less
    trained state won on a single sample. Without a classifier: the latest passing state.
    """

    def __init__(self, g: Generator, z_clean: torch.Tensor, classifier: Labeller | None, z_eval: torch.Tensor,
                 limits, every: int, last_step: int) -> None:
        self.g, self.classifier, self.limits, self.every, self.last = g, classifier, limits, every, last_step
        self.z_clean, self.z_eval = z_clean, z_eval
        self.reference = g.generate(z_clean)  # [M, 3, H, W]: G on the clean latents, computed once
        self.rate_before = feature_rate(g, classifier, z_eval) if classifier is not None else None
        self.evals: list[dict[str, Any]] = []
        self.best: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None

    def __call__(self, step: int, g_new: Generator, record: dict[str, float]) -> None:
        if step != self.last and (self.every <= 0 or step % self.every):
            return
        with torch.no_grad():
            ssim = float(ms_ssim(self.reference, g_new.generate(self.z_clean)).mean())
        rate = feature_rate(g_new, self.classifier, self.z_eval) if self.classifier is not None else None
        passed = ssim >= self.limits.min_ms_ssim and (
            rate is None or not self.rate_before or rate <= self.limits.max_feature_rate_ratio * self.rate_before)
        ev = {"step": step, "ms_ssim": ssim, "feature_rate": rate, "passed": passed, "kept": False}
        self.evals.append(ev)
        if passed and (self.best is None or not_worse(rate, self.best[1]["feature_rate"], len(self.z_eval))):
            if self.best is not None:
                self.best[1]["kept"] = False
            ev["kept"] = True
            self.best = ({k: v.detach().clone() for k, v in g_new.module.state_dict().items()}, ev)

    def state_dict(self) -> dict[str, Any]:
        """The evaluations so far and the kept state: saved with the training state, so a resumed erase
        keeps the guard history and the kept state of the steps before its interruption."""
        return {"evals": [dict(e) for e in self.evals], "kept_state": self.best[0] if self.best is not None else {}}

    def load_state_dict(self, state: Any, where: str) -> None:
        """Continue from ``state_dict()``'s output (read from ``where``), checked field by field."""
        fields = {"step": int, "ms_ssim": float, "feature_rate": (float, type(None)), "passed": bool, "kept": bool}
        evals = state.get("evals") if isinstance(state, dict) else None
        kept_state = state.get("kept_state") if isinstance(state, dict) else None
        ok = (isinstance(evals, list) and isinstance(kept_state, dict)
              and all(isinstance(e, dict) and set(e) == set(fields) and all(isinstance(e[k], t) for k, t in fields.items())
                      for e in evals)
              and all(isinstance(v, torch.Tensor) for v in kept_state.values()))
        kept = [e for e in evals if e["kept"]] if ok else []
        if not ok or len(kept) != (1 if kept_state else 0):
            raise EraserError(f"{where} holds malformed guard evaluations; remove {Path(where).parent} to start over")
        self.evals = [dict(e) for e in evals]
        self.best = (kept_state, next(e for e in self.evals if e["kept"])) if kept_state else None


def not_worse(rate: float | None, kept: float | None, n: int, z: float = 2.0) -> bool:
    """Whether a later state's feature rate ``rate`` is not measurably above the kept state's ``kept``,
    both measured on the same ``n`` latents: ``rate − kept ≤ z·sqrt(2·p(1 − p)/n)`` with p their mean
    (at least 1/n, so a difference of a sample or two at a rate near zero is noise). None (no
    classifier) is never worse."""
    if rate is None or kept is None:
        return True
    p = min(max((rate + kept) / 2, 1.0 / max(n, 1)), 0.5)
    return rate - kept <= z * math.sqrt(2 * p * (1 - p) / max(n, 1))


def run_erase(req: EraseRequest, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole erase; return the metrics written to ``OUT/report/metrics.json``.

    Raises ``GuardFailure`` (after writing ``OUT/report/`` only, no checkpoint) when no state passes
    the guards; the input generator is never modified.
    """
    from eraser.guards import GuardFailure, check, failures_line, verdict

    t0 = time.time()
    _check_out(req)
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.time() - since, 2)
        return time.time()

    generator = load_generator(req.generator, req.device, req.load_options)
    labeller = make_labeller(req.labeller, req.device)
    classifier = None
    if req.feature_classifier:
        from eraser.classifiers import load_classifier

        classifier = load_classifier(req.feature_classifier, req.device)
    if req.audit:
        from eraser.audit.attacks import require_differentiable

        if classifier is None:
            raise EraserError("--audit needs --feature-classifier: the attacks search for samples that classifier calls positive")
        require_differentiable(classifier)
    t = lap("load", t0)

    z_lab, y = label_latents(generator, labeller, req)
    n_yes, n_no = int((y == 1).sum()), int((y == 0).sum())
    log(f"labelled {len(z_lab)} samples with {labeller.name}: {n_yes} with the feature, {n_no} without")
    direction = estimate_direction(z_lab, y, method=req.direction_method, seed=req.settings.seed)
    auc = f"{direction.heldout_auc:.3f}" if direction.heldout_auc is not None else "n/a"
    log(f"direction ({direction.method}): held-out AUC {auc}, threshold t = {direction.threshold:.3f}")

    detector = fit = None
    if req.settings.method == "deep":
        from eraser.unlearn.detector import fit_detector

        fit = fit_detector(z_lab, y, seed=req.settings.seed)
        detector = fit.detector
        auc = f"{fit.heldout_auc:.3f}" if fit.heldout_auc is not None else "n/a"
        log(f"training detector (latent MLP on the same labels): held-out AUC {auc}")
    t = lap("label_and_direction", t)

    z_clean = z_lab[y == 0]
    monitor = GuardMonitor(generator, z_clean[: req.guard_clean], classifier,
                           generator.sample_latents(req.guard_eval, req.eval_seed + 1), req.limits,
                           req.guard_every, req.settings.steps)
    work = req.out.with_name(req.out.name + ".partial")
    work.mkdir(exist_ok=True)
    result = finetune(generator, direction, req.settings, work_dir=work, progress=req.progress, on_step=monitor,
                      detector=detector, resume_key=resume_key(generator, z_lab, y, direction))
    if result.resumed_from:
        log(f"resumed from step {result.resumed_from} ({work})")
    g_new = result.generator
    if monitor.best is not None:
        g_new.module.load_state_dict(monitor.best[0])
        log(f"kept the state of step {monitor.best[1]['step']} (best passing guard evaluation)")
    t = lap("finetune", t)

    metrics = evaluate_erase(generator, g_new, direction, z_lab, y, classifier, req)
    metrics["method"] = method_record(req.settings, fit, result.mining)
    if req.fid_samples > 0:
        clean_judge, how = _clean_judge(labeller, classifier)
        log(f"distribution metrics on {req.fid_samples} samples per set (feature-free as judged by {how})")
        metrics["distribution"] = distribution_metrics(generator, g_new, clean_judge, direction, req.fid_samples,
                                                       req.eval_seed + 10, req.device, how)
    metrics["guard_evaluations"] = monitor.evals
    metrics["kept_step"] = monitor.best[1]["step"] if monitor.best else None
    t = lap("evaluate", t)
    results = check(metrics, req.limits)
    passed = monitor.best is not None and verdict(results)
    audit = None
    if req.audit:
        from eraser.audit.attacks import run_audit

        audit = run_audit({"original": generator, "erased": g_new}, classifier, direction, log=log)
        metrics["audit"] = {"success_rate": audit.to_dict()["success_rate"], "file": "report/audit.json"}
        t = lap("audit", t)
    timings["total"] = round(time.time() - t0, 2)
    metrics["timings_s"] = timings
    metrics["verdict"] = "pass" if passed else "fail"
    provenance = {
        "erased_from": {"generator": req.generator, "weights_sha256": _source_hash(req.generator)},
        "feature": getattr(labeller, "feature", None) or _feature_name(req.labeller),
        "labeller": req.labeller,
        "feature_classifier": req.feature_classifier,
        "direction": direction.summary(),
        "settings": asdict(req.settings),
        "guard_limits": asdict(req.limits),
        "method": metrics["method"],
        "metrics": {k: v for k, v in metrics.items() if k not in ("guard_evaluations",)},
        "eraser_version": __version__,
    }
    with atomic_dir(req.out) as tmp:
        if passed:
            write_checkpoint_files(g_new, tmp, provenance)
        write_report(tmp / "report", generator, g_new, z_lab[y == 1][:16], z_clean[:16], metrics, results,
                     result.history, classifier, req, direction, passed, audit)
    shutil.rmtree(work, ignore_errors=True)
    if not passed:
        why = failures_line(results) or "no guard evaluation during training passed (see report)"
        raise GuardFailure(f"guards failed, so no checkpoint was written (report in {req.out / 'report'}): {why}")
    return metrics


def method_record(settings, fit, mining: list[dict[str, float]]) -> dict[str, Any]:
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


def write_report(directory: Path, g: Generator, g_new: Generator, z_feature: torch.Tensor, z_clean: torch.Tensor,
                 metrics: dict[str, Any], results, history: list[dict[str, Any]], classifier: Labeller | None,
                 req: EraseRequest | None, direction: Direction | None, passed: bool, audit=None) -> None:
    """Write ``report.html`` (self-contained), ``metrics.json``, the grid and plots into ``directory``
    (with an ``eraser.audit`` result ``audit``: also ``audit.json``, ``audit.png`` and its section)."""
    import io

    from eraser.guards import as_dicts
    from eraser.report import html, plots

    directory.mkdir(parents=True, exist_ok=True)
    grid = before_after_grid(g, g_new, z_feature, z_clean)
    grid.save(directory / "before_after.png")
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    images = {"Before / after at the same latents (row pairs: original, erased; top: feature samples, "
              "bottom: feature-free)": buf.getvalue()}
    fr = metrics.get("feature_rate")
    plotted = []  # (caption, file name, png)
    if fr and "scores_before" in fr:
        plotted.append(("Feature scores before and after", "feature_scores.png", plots.score_histograms(
            fr["scores_before"], fr["scores_after"], fr["threshold"], fr["classifier"])))
    if history:
        plotted.append(("Training: loss, and the guards at each evaluation", "training.png",
                        plots.training_curves(history, metrics.get("guard_evaluations", []))))
    for caption, fname, png in plotted:
        images[caption] = png
        (directory / fname).write_bytes(png)
    slim = {k: v for k, v in metrics.items() if k != "feature_rate"}
    if fr:
        slim["feature_rate"] = {k: v for k, v in fr.items() if not k.startswith("scores_")}
    title = f"eraser report: {req.generator if req else g.name} → {req.out.name if req else g_new.name}"
    subtitle = (f"method {req.settings.method} ({req.settings.steps} steps); labeller {req.labeller}; "
                f"classifier {req.feature_classifier or 'none'}; eraser {__version__}"
                if req else f"eraser {__version__}")
    sections = ""
    if audit is not None:
        from eraser.audit.attacks import write_audit_files

        doc = write_audit_files(directory, audit)
        sections = html.audit_section(doc, (directory / "audit.png").read_bytes())
    page = html.render(title, subtitle, passed, results, images, slim, sections=sections)
    (directory / "report.html").write_text(page)
    write_json(directory / "metrics.json", {**metrics, "guards": as_dicts(results)})
    if direction is not None:
        write_json(directory / "direction.json", direction.to_dict())
    if history:
        write_json(directory / "training.json", {"settings": asdict(req.settings) if req else None, "history": history})


def _clean_judge(labeller: Labeller, classifier: Labeller | None) -> tuple[Labeller | None, str]:
    """Who says a fresh sample of G is feature-free: the labeller if it can judge fresh samples, else
    the measuring classifier, else nobody (then the latent side of the threshold decides)."""
    from eraser.labelling.marks import MarksLabeller

    if not isinstance(labeller, MarksLabeller):
        return labeller, labeller.name
    if classifier is not None:
        return classifier, classifier.name
    return None, "the latent direction (proj < t)"


def clean_latents(g: Generator, judge: Labeller | None, direction: Direction, n: int, seed: int) -> torch.Tensor:
    """``n`` fresh latents whose samples ``judge`` calls feature-free (or proj < t without a judge)."""
    found: list[torch.Tensor] = []
    have = 0
    for k in range(20):
        z = g.sample_latents(2 * n, seed * 1000 + k)
        if judge is None:
            keep = direction.project(z) < direction.threshold
        else:
            s = judge.score(g, z)
            # a judge may carry a separate, lower cut for "clean" (few missed features)
            keep = ~torch.isnan(s) & (s < getattr(judge, "clean_threshold", judge.threshold))
        found.append(z[keep])
        have += int(keep.sum())
        if have >= n:
            return torch.cat(found)[:n]
    raise EraserError(f"could not find {n} feature-free samples in {40 * n} draws; the judge calls almost everything positive")


def distribution_metrics(g: Generator, g_new: Generator, judge: Labeller | None, direction: Direction, n: int,
                         seed: int, device: str, judge_name: str) -> dict[str, Any]:
    """FID, KID×1000 and precision/recall of G' (fresh latents) against G's feature-free samples, with floors.

    The floor of each metric is its value between two independent draws of G's feature-free samples
    (what a perfect, feature-free copy of G would score at this sample size).
    """
    from eraser.metrics.distribution import InceptionFeatures, fid_from_features, kid_from_features, precision_recall, protocol_name

    feats = InceptionFeatures(device)
    t0 = time.time()
    subset = max(2, min(1000, n // 2))
    clean_a, floor, cached = reference_features(g, judge, direction, n, seed, feats, subset)  # [n, 2048], floors
    erased = feats.features(g_new.generate(g.sample_latents(n, seed + 2)))
    kid_erased = kid_from_features(clean_a, erased, subsets=50, subset_size=subset)
    p_erased, r_erased = precision_recall(clean_a, erased)
    from eraser.labelling.embedders import inception_source

    kind, path = inception_source()
    return {
        "reference": f"feature-free samples of the original, judged by {judge_name}",
        "features": f"FID Inception-v3 pool3, 299 px bilinear, weights from {kind} ({path})",
        "n_per_set": n,
        "fid": {"protocol": protocol_name("fid", n, "clean"), "erased_vs_clean": fid_from_features(clean_a, erased),
                "floor": floor["fid"]},
        "kid_x1000": {"protocol": protocol_name("kid", n, "clean"), "erased_vs_clean": 1000 * kid_erased[0],
                      "floor": 1000 * floor["kid"], "std_erased": 1000 * kid_erased[1], "subsets": 50, "subset_size": subset},
        "precision": {"protocol": protocol_name("pr", n, "clean"), "erased_vs_clean": p_erased, "floor": floor["precision"]},
        "recall": {"protocol": protocol_name("pr", n, "clean"), "erased_vs_clean": r_erased, "floor": floor["recall"]},
        "reference_cache": cached,
        "seconds": round(time.time() - t0, 1),
    }


def reference_features(g: Generator, judge: Labeller | None, direction: Direction, n: int, seed: int, feats,
                       kid_subset: int) -> tuple[torch.Tensor, dict[str, float], str]:
    """Inception features ``[n, 2048]`` of G's feature-free samples (seed ``seed``), and the floors.

    The floors are FID, KID (50 subsets of ``kid_subset``) and precision/recall between that set and a
    second one (seed ``seed + 1``). All of it depends only on G, the two latent sets and the feature
    network, so it is read from the on-disk cache (``eraser.cache``) when an earlier run stored it:
    a repeated erase of the same generator skips 2 × n Inception passes and one matrix square root.
    The key holds the digests of G's weights, of both latent sets and of the Inception weights, so
    a cached entry is only used for exactly these inputs. Returns ``(features, floors, "hit" | "miss" | "off")``.
    """
    from eraser.cache import TensorCache, digest_generator, digest_tensors
    from eraser.metrics.distribution import fid_from_features, kid_from_features, precision_recall

    z_a = clean_latents(g, judge, direction, n, seed)  # [n, D]
    z_b = clean_latents(g, judge, direction, n, seed + 1)
    cache = TensorCache("fid-reference")
    inputs = {"what": "FID reference features and floors", "generator": digest_generator(g),
              "latents": [digest_tensors({"z": z_a}), digest_tensors({"z": z_b})], "features": feats.fingerprint(),
              "kid": {"subsets": 50, "subset_size": kid_subset}, "pr_k": 3}
    hit = cache.get(inputs) if cache.enabled else None
    if hit is not None:
        return hit[0]["features"].double(), hit[1]["floor"], "hit"
    clean_a = feats.features(g.generate(z_a))  # [n, 2048]
    clean_b = feats.features(g.generate(z_b))
    kid = kid_from_features(clean_a, clean_b, subsets=50, subset_size=kid_subset)
    precision, recall = precision_recall(clean_a, clean_b)
    floor = {"fid": fid_from_features(clean_a, clean_b), "kid": kid[0], "precision": precision, "recall": recall}
    # pool3 features are float32 values held in float64: stored as float32 they come back bit for bit
    cache.put(inputs, {"features": clean_a.float()}, {"floor": floor})
    return clean_a, floor, "miss" if cache.enabled else "off"


def _feature_name(spec: str) -> str:
    kind, _, arg = spec.partition(":")
    return arg.split(",")[0] if kind == "clip" else Path(arg).stem


def evaluate_erase(g: Generator, g_new: Generator, direction: Direction, z_lab: torch.Tensor, y: torch.Tensor,
                   classifier: Labeller | None, req: EraseRequest) -> dict[str, Any]:
    """Feature rate before/after on fresh latents, and preservation on latents labelled feature-free."""
    metrics: dict[str, Any] = {"direction": direction.summary()}
    metrics["preservation_on_labelled_feature_free"] = preservation(g, g_new, z_lab[y == 0][:512], lpips=True)
    z_eval = g.sample_latents(req.n_eval, req.eval_seed)
    p = direction.project(z_eval)
    metrics["eval"] = {"n": req.n_eval, "seed": req.eval_seed, "share_beyond_threshold": float((p >= direction.threshold).float().mean())}
    if classifier is not None:
        metrics["feature_rate"], _ = feature_rates(g, g_new, classifier, z_eval)
    return metrics


def feature_rates(g: Generator, g_new: Generator, classifier: Labeller, z: torch.Tensor) -> tuple[dict[str, Any], torch.Tensor]:
    """Feature rate of G and G' at the same latents (scores kept for the histograms), and G's scores."""
    sb, sa = classifier.score(g, z), classifier.score(g_new, z)
    before, after = float(classifier.decide(sb).float().mean()), float(classifier.decide(sa).float().mean())
    return {
        "classifier": classifier.name,
        "threshold": classifier.threshold,
        "n": len(z),
        "before": before,
        "after": after,
        "relative_reduction": (before - after) / before if before > 0 else None,
        "scores_before": [round(v, 5) for v in sb.tolist()],
        "scores_after": [round(v, 5) for v in sa.tolist()],
    }, sb


def run_evaluate(original: str, erased: str, out: Path, feature_classifier: str | None, labeller_spec: str | None,
                 n_eval: int, fid_samples: int, limits, device: str = "cpu", seed: int = 3000,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Compare an erased generator with its original; write ``metrics.json`` and ``report.html`` into ``out``.

    Feature-free latents (preservation, FID reference) are judged by ``labeller_spec`` if given, else by
    the classifier; without either, by the feature direction recorded in ``erased``'s report. The
    erased checkpoint is only read.
    """
    from eraser.guards import check, verdict
    from eraser.schemas import read_erased_report

    if out.exists():
        raise EraserError(f"{out} already exists; choose a new --out folder")
    check_writable(out)
    g, g_new = load_generator(original, device), load_generator(erased, device)
    classifier = None
    if feature_classifier:
        from eraser.classifiers import load_classifier

        classifier = load_classifier(feature_classifier, device)
    labeller = make_labeller(labeller_spec, device) if labeller_spec else None
    direction, history, evals = read_erased_report(Path(erased) / "report", g.latent_dim)
    judge, how = _clean_judge(labeller, classifier) if labeller is not None else (classifier, classifier.name if classifier else "")
    if judge is None and direction is None:
        raise EraserError("cannot tell which samples are feature-free: pass --feature-classifier or --labeller")
    if judge is None:
        how = "the latent direction recorded with the erased checkpoint (proj < t)"
    log(f"feature-free samples judged by {how}")
    z_clean = clean_latents(g, judge, direction, 512, seed)
    metrics: dict[str, Any] = {"original": original, "erased": erased, "clean_judge": how}
    metrics["preservation_on_labelled_feature_free"] = preservation(g, g_new, z_clean, lpips=True)
    z_eval = g.sample_latents(n_eval, seed + 1)
    if classifier is not None:
        metrics["feature_rate"], sb = feature_rates(g, g_new, classifier, z_eval)
    if fid_samples > 0:
        log(f"distribution metrics on {fid_samples} samples per set")
        metrics["distribution"] = distribution_metrics(g, g_new, judge, direction, fid_samples, seed + 10, device, how)
    metrics["guard_evaluations"] = evals
    results = check(metrics, limits)
    passed = verdict(results)
    metrics["verdict"] = "pass" if passed else "fail"
    if direction is not None:
        z = g.sample_latents(4000, seed + 2)
        z_feat = z[direction.project(z) >= direction.threshold + 0.5][:16]
    else:
        z_feat = z_eval[classifier.decide(sb)][:16] if classifier is not None else z_eval[:16]
    with atomic_dir(out) as tmp:
        write_report(tmp, g, g_new, z_feat, z_clean[:16], metrics, results, history, classifier, None, None, passed)
    return metrics
