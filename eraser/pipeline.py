"""One erase, end to end: sample → label → direction → fine-tune → evaluate → save model and report.

The CLI, the notebook and the batch runner all call ``run_erase``. The output folder appears
complete (checkpoint + ``report/``) or not at all; training state lives in ``OUT.partial/`` until
the run succeeds, so an interrupted erase resumes when run again with the same settings.
"""

from __future__ import annotations

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
from eraser.images import grid_image
from eraser.io import atomic_dir, check_writable, sha256_file, write_json
from eraser.labelling import make_labeller
from eraser.labelling.base import Labeller
from eraser.metrics.ssim import ms_ssim
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
    out = req.out.resolve()
    src = Path(req.generator).expanduser()
    if src.exists() and (out == src.resolve() or src.resolve() in out.parents):
        raise EraserError(f"--out {req.out} would write into the input generator {req.generator}; choose another folder")
    if req.out.exists():
        raise EraserError(f"{req.out} already exists; choose a new --out folder (eraser never overwrites a checkpoint)")
    check_writable(req.out)


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
def preservation(g: Generator, g_new: Generator, z: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """Mean MS-SSIM and L1 between G(z) and G'(z) (images in [-1, 1])."""
    ssim, l1 = [], []
    for i in range(0, len(z), batch_size):
        a, b = g.generate(z[i : i + batch_size]), g_new.generate(z[i : i + batch_size])
        ssim.append(ms_ssim(a, b))
        l1.append((a - b).abs().flatten(1).mean(1))
    s, d = torch.cat(ssim), torch.cat(l1)
    return {"ms_ssim_mean": float(s.mean()), "ms_ssim_min": float(s.min()), "l1_mean": float(d.mean()), "n": len(z)}


def before_after_grid(g: Generator, g_new: Generator, z_feature: torch.Tensor, z_none: torch.Tensor, ncol: int = 8):
    """Rows in pairs: G then G' at the same latents; first feature samples, then feature-free ones."""
    rows = []
    for z in (z_feature, z_none):
        for i in range(0, len(z) - len(z) % ncol, ncol):
            rows += [g.generate(z[i : i + ncol]), g_new.generate(z[i : i + ncol])]
    return grid_image(torch.cat(rows), nrow=ncol, padding=2)


def run_erase(req: EraseRequest, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole erase; return the metrics written to ``OUT/report/metrics.json``."""
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
    t = lap("load", t0)

    z_lab, y = label_latents(generator, labeller, req)
    n_yes, n_no = int((y == 1).sum()), int((y == 0).sum())
    log(f"labelled {len(z_lab)} samples with {labeller.name}: {n_yes} with the feature, {n_no} without")
    direction = estimate_direction(z_lab, y, method=req.direction_method, seed=req.settings.seed)
    auc = f"{direction.heldout_auc:.3f}" if direction.heldout_auc is not None else "n/a"
    log(f"direction ({direction.method}): held-out AUC {auc}, threshold t = {direction.threshold:.3f}")
    t = lap("label_and_direction", t)

    work = req.out.with_name(req.out.name + ".partial")
    work.mkdir(exist_ok=True)
    result = finetune(generator, direction, req.settings, work_dir=work, progress=req.progress)
    if result.resumed_from:
        log(f"resumed from step {result.resumed_from} ({work})")
    g_new = result.generator
    t = lap("finetune", t)

    metrics = evaluate_erase(generator, g_new, direction, z_lab, y, classifier, req)
    t = lap("evaluate", t)
    timings["total"] = round(time.time() - t0, 2)
    metrics["timings_s"] = timings
    provenance = {
        "erased_from": {"generator": req.generator, "weights_sha256": _source_hash(req.generator)},
        "feature": getattr(labeller, "feature", None) or _feature_name(req.labeller),
        "labeller": req.labeller,
        "direction": direction.summary(),
        "settings": asdict(req.settings),
        "method": "Moon, Cho & Kim, Feature Unlearning for Pre-trained GANs and VAEs (AAAI 2024)",
        "metrics": {k: v for k, v in metrics.items() if k != "training"},
        "eraser_version": __version__,
    }
    z_feat = z_lab[y == 1][:16]
    z_none = z_lab[y == 0][:16]
    with atomic_dir(req.out) as tmp:
        write_checkpoint_files(g_new, tmp, provenance)
        rep = tmp / "report"
        rep.mkdir()
        before_after_grid(generator, g_new, z_feat, z_none).save(rep / "before_after.png")
        write_json(rep / "metrics.json", metrics)
        write_json(rep / "direction.json", direction.to_dict())
        write_json(rep / "training.json", {"settings": asdict(req.settings), "history": result.history})
    shutil.rmtree(work, ignore_errors=True)
    return metrics


def _feature_name(spec: str) -> str:
    kind, _, arg = spec.partition(":")
    return arg.split(",")[0] if kind == "clip" else Path(arg).stem


def evaluate_erase(g: Generator, g_new: Generator, direction: Direction, z_lab: torch.Tensor, y: torch.Tensor,
                   classifier: Labeller | None, req: EraseRequest) -> dict[str, Any]:
    """Feature rate before/after on fresh latents, and preservation on latents labelled feature-free."""
    metrics: dict[str, Any] = {"direction": direction.summary()}
    metrics["preservation_on_labelled_feature_free"] = preservation(g, g_new, z_lab[y == 0][:512])
    z_eval = g.sample_latents(req.n_eval, req.eval_seed)
    p = direction.project(z_eval)
    metrics["eval"] = {"n": req.n_eval, "seed": req.eval_seed, "share_beyond_threshold": float((p >= direction.threshold).float().mean())}
    if classifier is not None:
        before, after = feature_rate(g, classifier, z_eval), feature_rate(g_new, classifier, z_eval)
        metrics["feature_rate"] = {
            "classifier": classifier.name,
            "before": before,
            "after": after,
            "relative_reduction": (before - after) / before if before > 0 else None,
        }
    return metrics
