"""The three attacks of the robustness audit (definitions in ``eraser.audit``), ``run_audit`` over
several generators with one budget, and the audit's files (``audit.json``, ``audit.png``)."""

from __future__ import annotations

import io
import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eraser.audit.budget import ATTACKS, DEFINITIONS, AuditBudget
from eraser.direction import Direction
from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.labelling.base import Labeller
from eraser.metrics.proportion import wilson_interval

log = logging.getLogger(__name__)


@dataclass
class AttackResult:
    """One attack on one generator."""

    attack: str
    attempts: int
    successes: int
    best_score: float
    #: mean over attempts of each attempt's best score
    mean_best_score: float
    extra: dict[str, Any] = field(default_factory=dict)
    #: the top_k latents found (highest score first) and their scores; not written to JSON
    top_z: Tensor | None = None
    top_scores: Tensor | None = None
    seconds: float = 0.0
    #: the latent each attempt ended with (its best one) ``[attempts, D]``; not written to JSON
    latents: Tensor | None = None

    @property
    def success_rate(self) -> float:
        return self.successes / self.attempts

    def summary(self) -> dict[str, Any]:
        low, high = wilson_interval(self.successes, self.attempts)
        return {"attempts": self.attempts, "successes": self.successes, "success_rate": self.success_rate,
                "success_rate_ci95": [low, high], "best_score": self.best_score,
                "mean_best_score": self.mean_best_score, **self.extra,
                "top_scores": [round(float(s), 5) for s in (self.top_scores if self.top_scores is not None else [])],
                "seconds": round(self.seconds, 1)}


def require_differentiable(classifier: Labeller) -> None:
    """Refuse (one line) a classifier that does not declare differentiable logits (``Labeller.differentiable``)."""
    if not classifier.differentiable:
        raise EraserError(f"classifier {classifier.name} has no differentiable logits, which the gradient attack "
                          "needs; audit with a CNN or probe classifier (e.g. digiface-eyeglasses-clf)")


def project_to_shell(z: Tensor, radius: float, half_width: float) -> Tensor:
    """``z`` ``[N, D]`` scaled, row by row, so that its norm lies in ``[radius − half_width, radius + half_width]``."""
    norm = z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    target = norm.clamp(max(radius - half_width, 0.0), radius + half_width)
    return z * (target / norm)


def _top(z: Tensor, scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    order = torch.argsort(scores, descending=True, stable=True)[:k]
    return z[order].clone(), scores[order].clone()


def step_sizes(budget: AuditBudget, radius: float) -> list[float]:
    """Step lengths of the gradient attack: ``lr · radius``, cosine-decayed to 0 over ``steps``."""
    return [budget.lr * radius * 0.5 * (1 + math.cos(math.pi * k / budget.steps)) for k in range(budget.steps)]


def gradient_attack(g: Generator, classifier: Labeller, budget: AuditBudget) -> AttackResult:
    """(a): projected normalised gradient ascent (PGD-L2) of the classifier's logit from ``budget.starts`` prior latents.

    Step k moves each latent by ``step_sizes[k]`` along its own unit gradient, then back onto the
    shell. Not Adam: Adam's per-coordinate scaling is not rotation invariant, and under the projection
    its fixed point for a linear score w·z is the sign vector of w, not w (about 0.8 of the optimum in
    8 dimensions), so it would understate what an attacker can reach.
    """
    require_differentiable(classifier)
    t0 = time.time()
    radius = math.sqrt(g.latent_dim)
    etas = step_sizes(budget, radius)
    starts = project_to_shell(g.sample_latents(budget.starts, budget.seed), radius, budget.shell)
    best_z = []
    for i in range(0, budget.starts, budget.batch_size):
        z = starts[i : i + budget.batch_size].clone().to(g.device)
        keep_z = z.clone()
        keep = torch.full((len(z),), -math.inf, device=z.device)
        for step in range(budget.steps + 1):
            z.requires_grad_(True)
            logit = classifier.logits(g.decode(z).clamp(-1, 1)).float()  # [B]; the score is its sigmoid
            better = logit.detach() > keep
            keep = torch.where(better, logit.detach(), keep)
            keep_z = torch.where(better[:, None], z.detach(), keep_z)
            if step == budget.steps:
                break
            (grad,) = torch.autograd.grad(logit.sum(), [z])  # rows are independent: eval-mode networks
            unit = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            z = project_to_shell(z.detach() + etas[step] * unit, radius, budget.shell)
        best_z.append(keep_z.cpu())
    z_best = torch.cat(best_z)
    scores = classifier.score(g, z_best, budget.batch_size)  # the chosen latents, scored as a feature rate would
    success = classifier.decide(scores)
    top_z, top_s = _top(z_best, scores, budget.top_k)
    return AttackResult("gradient", len(scores), int(success.sum()), float(scores.max()), float(scores.mean()),
                        {"start_success_rate": float(classifier.decide(classifier.score(g, starts, budget.batch_size))
                                                     .float().mean()),
                         "final_norm_mean": float(z_best.norm(dim=1).mean())},
                        top_z, top_s, time.time() - t0, z_best)


def random_search(g: Generator, classifier: Labeller, budget: AuditBudget) -> AttackResult:
    """(b): score ``random_samples`` prior latents; an attempt is a group of ``random_batch`` of them."""
    t0 = time.time()
    groups = budget.random_samples // budget.random_batch
    z = g.sample_latents(groups * budget.random_batch, budget.seed + 1)
    scores = classifier.score(g, z, budget.batch_size)
    best, at = scores.reshape(groups, budget.random_batch).max(dim=1)
    top_z, top_s = _top(z, scores, budget.top_k)
    return AttackResult("random", groups, int(classifier.decide(best).sum()), float(scores.max()), float(best.mean()),
                        {"samples": len(z), "per_sample_rate": float(classifier.decide(scores).float().mean())},
                        top_z, top_s, time.time() - t0, z[torch.arange(groups) * budget.random_batch + at])


def direction_walk(g: Generator, classifier: Labeller, direction: Direction, budget: AuditBudget) -> AttackResult:
    """(c): walk ``walk_points`` steps along the original's feature direction from ``walk_starts`` prior latents."""
    t0 = time.time()
    u = direction.unit.detach().float().cpu()
    if len(u) != g.latent_dim:
        raise EraserError(f"the feature direction has {len(u)} dimensions but {g.name} takes {g.latent_dim}")
    alphas = torch.linspace(0.0, budget.walk_max, budget.walk_points)  # [P]
    z0 = g.sample_latents(budget.walk_starts, budget.seed + 2)  # [W, D]
    z = (z0[:, None, :] + alphas[None, :, None] * u).reshape(-1, g.latent_dim)  # [W·P, D], walk-major
    scores = classifier.score(g, z, budget.batch_size).reshape(budget.walk_starts, budget.walk_points)
    hit = classifier.decide(scores)  # [W, P]
    success = hit.any(dim=1)
    first = torch.where(success, hit.float().argmax(dim=1), torch.full_like(success, -1, dtype=torch.long))
    best, at = scores.max(dim=1)
    z_best = z.reshape(budget.walk_starts, budget.walk_points, -1)[torch.arange(budget.walk_starts), at]
    top_z, top_s = _top(z_best, best, budget.top_k)
    first_a = [float(alphas[i]) for i in first.tolist() if i >= 0]
    return AttackResult("walk", budget.walk_starts, int(success.sum()), float(best.max()), float(best.mean()),
                        {"alphas": [round(float(a), 4) for a in alphas],
                         "rate_by_alpha": [float(r) for r in hit.float().mean(dim=0)],
                         "median_first_alpha": statistics.median(first_a) if first_a else None},
                        top_z, top_s, time.time() - t0, z_best)


@dataclass
class Audit:
    """The attacks' results per generator (``{"original": {...}, "erased": {...}}``) and what they spent."""

    results: dict[str, dict[str, AttackResult]]
    budget: AuditBudget
    classifier: str
    threshold: float
    generators: dict[str, str]
    direction: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    #: the judge that confirmed successes (name, threshold), and each attack's false-alarm floor
    judge: dict[str, Any] | None = None
    floor: dict[str, Any] | None = None
    #: the audited generators themselves, to draw the best images
    models: dict[str, Generator] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        attacks = [a for a in ATTACKS if any(a in r for r in self.results.values())]
        return {
            "format": "eraser.audit", "format_version": 1,
            "classifier": self.classifier, "threshold": self.threshold,
            "generators": self.generators,
            "budget": {**asdict(self.budget), "forward_passes_per_generator": self.budget.forward_passes()},
            "definitions": {a: DEFINITIONS[a] for a in attacks},
            "direction": self.direction,
            "success_rate": {a: {m: r[a].success_rate for m, r in self.results.items() if a in r} for a in attacks},
            "confirmed_rate": {a: {m: r[a].extra["confirmed_rate"] for m, r in self.results.items()
                                   if a in r and "confirmed_rate" in r[a].extra} for a in attacks},
            "judge": self.judge,
            "floor": self.floor,
            "results": {m: {a: res.summary() for a, res in r.items()} for m, r in self.results.items()},
            "notes": self.notes,
        }

    def grid_png(self) -> bytes:
        """PNG: one row per attack and generator, its best images left to right, scores in the corners."""
        from eraser.images import grid_image

        rows, labels = [], []
        k = self.budget.top_k
        for attack in ATTACKS:
            for m, by_attack in self.results.items():
                res = by_attack.get(attack)
                if res is None or res.top_z is None:
                    continue
                images = self.models[m].generate(res.top_z)
                pad = k - len(images)
                rows.append(torch.cat([images, torch.ones(pad, *images.shape[1:])]) if pad else images)
                labels += [f"{s:.2f}" for s in res.top_scores.tolist()] + [""] * pad
        if not rows:
            raise EraserError("the audit found nothing to draw")
        grid = grid_image(torch.cat(rows), nrow=k, padding=2, labels=labels)
        buf = io.BytesIO()
        _with_row_captions(grid, self.row_captions(), rows[0].shape[-2] + 2).save(buf, format="PNG")
        return buf.getvalue()

    def row_captions(self) -> list[str]:
        return [f"{attack} / {m}" for attack in ATTACKS for m, r in self.results.items() if attack in r]


def _with_row_captions(grid, captions: list[str], row_height: int):
    """``grid`` (PIL) with a white strip on its left holding one caption per row of tiles."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=12)
    draw = ImageDraw.Draw(grid)
    width = max(int(draw.textlength(c, font=font)) for c in captions) + 12
    out = Image.new("RGB", (grid.width + width, grid.height), "white")
    out.paste(grid, (width, 0))
    draw = ImageDraw.Draw(out)
    for i, caption in enumerate(captions):
        draw.text((6, 2 + i * row_height + row_height // 2 - 7), caption, fill="black", font=font)
    return out


def confirm(g: Generator, classifier: Labeller, judge: Labeller, res: AttackResult) -> None:
    """Score each attempt's chosen latent with a second classifier the attack never used (``judge``).

    An attempt is *confirmed* when the attacked classifier and the judge both call its image positive:
    an image that only fools the attacked network (a texture, say) is not a feature brought back.
    Adds ``confirmed``, ``confirmed_rate`` and ``judge`` to ``res.extra``.
    """
    z = res.latents
    hit = classifier.decide(classifier.score(g, z)) & judge.decide(judge.score(g, z))  # [attempts]
    low, high = wilson_interval(int(hit.sum()), len(hit))
    res.extra.update({"judge": judge.name, "judge_threshold": float(judge.threshold), "confirmed": int(hit.sum()),
                      "confirmed_rate": float(hit.float().mean()), "confirmed_rate_ci95": [low, high]})


def points_per_attempt(budget: AuditBudget) -> dict[str, int]:
    """How many images each attack's attempt looks at (a false alarm on any of them counts as a success)."""
    return {"gradient": budget.steps + 1, "random": budget.random_batch, "walk": budget.walk_points}


def false_alarm_floor(g: Generator, classifier: Labeller, judge: Labeller | None, z_clean: Tensor,
                      budget: AuditBudget) -> dict[str, Any]:
    """Each attack's success rate on a generator that never draws the feature, from G's feature-free latents.

    With ``f`` the share of feature-free samples that the classifier (and the judge, if given) call positive,
    an attempt that looks at ``k`` images succeeds by false alarm alone with probability ``1 − (1 − f)^k``.
    """
    hit = classifier.decide(classifier.score(g, z_clean))
    f_attacked = float(hit.float().mean())
    if judge is not None:
        hit = hit & judge.decide(judge.score(g, z_clean))
    f = float(hit.float().mean())
    k = points_per_attempt(budget)
    return {"n_clean": len(z_clean), "false_alarm_attacked": f_attacked, "false_alarm_confirmed": f,
            "attacked": {a: 1 - (1 - f_attacked) ** n for a, n in k.items()},
            "confirmed": {a: 1 - (1 - f) ** n for a, n in k.items()}}


def run_audit(generators: dict[str, Generator], classifier: Labeller, direction: Direction | None,
              budget: AuditBudget | None = None, judge: Labeller | None = None) -> Audit:
    """Run every attack on every generator (e.g. ``{"original": g, "erased": g_new}``) with one budget.

    ``direction`` is the *original's* feature direction; without it the walk is skipped (and a note says so).
    With a ``judge`` (a classifier the attacks do not use), every success is re-scored by it (``confirm``).
    """
    budget = budget or AuditBudget()
    require_differentiable(classifier)
    dims = {m: g.latent_dim for m, g in generators.items()}
    if len(set(dims.values())) > 1:
        raise EraserError("the generators take latents of different sizes ("
                          + ", ".join(f"{m}: {d}" for m, d in dims.items()) + "); audit an erased model against its own original")
    notes = []
    if direction is None:
        notes.append("direction walk skipped: no feature direction given (pass --marks or --direction)")
        log.info(notes[-1])
    results: dict[str, dict[str, AttackResult]] = {}
    for m, g in generators.items():
        results[m] = {}
        for attack in ATTACKS:
            if attack == "walk" and direction is None:
                continue
            if attack == "gradient":
                res = gradient_attack(g, classifier, budget)
            elif attack == "random":
                res = random_search(g, classifier, budget)
            else:
                res = direction_walk(g, classifier, direction, budget)
            if direction is not None and res.latents is not None:
                # where the attempts ended along the original's feature direction (prior: N(0, 1))
                p = direction.project(res.latents).cpu()
                res.extra["projection_on_direction"] = {"mean": float(p.mean()), "median": float(p.median()),
                                                        "max": float(p.max()), "threshold": direction.threshold}
            if judge is not None and res.latents is not None:
                confirm(g, classifier, judge, res)
            results[m][attack] = res
            confirmed = f", {res.extra['confirmed']} confirmed by {judge.name}" if "confirmed" in res.extra else ""
            log.info(f"audit {m} / {attack}: {res.successes}/{res.attempts} attempts succeed "
                f"({res.success_rate:.1%}){confirmed}, best score {res.best_score:.3f}, {res.seconds:.0f}s")
    audit = Audit(results, budget, classifier.name, float(classifier.threshold),
                  {m: g.name for m, g in generators.items()},
                  direction.summary() if direction is not None else None, notes,
                  {"name": judge.name, "threshold": float(judge.threshold)} if judge is not None else None,
                  None, dict(generators))
    return audit


def write_audit_files(directory: Path, audit: Audit, stem: str = "audit",
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``STEM.json`` and ``STEM.png`` into ``directory`` (each atomically); return the JSON.

    ``extra`` entries (timings, environment) are added to the JSON.
    """
    from eraser.io import atomic_path, write_json

    directory.mkdir(parents=True, exist_ok=True)
    doc = {**audit.to_dict(), **(extra or {})}
    doc["image"] = {"file": f"{stem}.png", "rows": audit.row_captions(),
                    "what": f"best {audit.budget.top_k} images per attack and generator (one row each, "
                            "highest score first), the classifier's score in each corner"}
    with atomic_path(directory / f"{stem}.png", ".png") as tmp:
        tmp.write_bytes(audit.grid_png())
    write_json(directory / f"{stem}.json", doc)
    return doc


def direction_from_marks(path: str | Path, latent_dim: int, seed: int = 0) -> Direction:
    """The mean-difference direction of a marks file's decided latents (as an erase estimates it)."""
    from eraser.direction import estimate_direction
    from eraser.labelling.marks import load_marks

    marks = load_marks(path)
    z, y = marks.decided()
    if z.shape[1] != latent_dim:
        raise EraserError(f"the marks in {path} have {z.shape[1]}-dimensional latents but the generator takes {latent_dim}")
    return estimate_direction(z, y, seed=seed)


def direction_from_file(path: str | Path) -> Direction:
    """A direction saved as JSON by an erase (``OUT/report/direction.json``), checked field by field."""
    from eraser.schemas import read_direction

    return read_direction(Path(path))


def original_from_provenance(generator: str) -> str | None:
    """The generator an eraser checkpoint was erased from (its ``provenance.json``), or None."""
    from eraser.schemas import read_provenance

    prov = read_provenance(Path(generator).expanduser()) or {}
    source = (prov.get("erased_from") or {}).get("generator")
    return str(source) if source else None


def resolve_direction(marks: str | Path | None, direction_file: str | Path | None, generator: str,
                      latent_dim: int) -> tuple[Direction | None, str | None]:
    """The original's feature direction for the walk, and where it came from.

    ``marks`` (estimated as an erase does) or ``direction_file``; else ``GENERATOR/report/direction.json``
    when the generator is an erased checkpoint that has one; else ``(None, None)``.
    """
    if marks is not None and direction_file is not None:
        raise EraserError("give either --marks or --direction, not both")
    if marks is not None:
        return direction_from_marks(marks, latent_dim), f"marks:{marks}"
    recorded = Path(generator).expanduser() / "report" / "direction.json"
    path = Path(direction_file) if direction_file is not None else (recorded if recorded.is_file() else None)
    if path is None:
        return None, None
    direction = direction_from_file(path)
    if len(direction.unit) != latent_dim:
        raise EraserError(f"the direction in {path} has {len(direction.unit)} dimensions but the generator takes {latent_dim}")
    return direction, str(path)


def format_table(doc: dict[str, Any]) -> list[str]:
    """Lines of a plain-text table: success rate of each attack per generator."""
    models = list(doc["results"])
    lines = ["attack     " + "  ".join(f"{m:>32}" for m in models)]
    for attack in doc["success_rate"]:
        cells = []
        for m in models:
            r = doc["results"][m].get(attack)
            conf = f" ({r['confirmed_rate']:.0%} conf.)" if r and "confirmed_rate" in r else ""
            cells.append(f"{r['successes']:>5}/{r['attempts']:<5} = {r['success_rate']:6.1%}{conf}" if r else "-")
        lines.append(f"{attack:<10} " + "  ".join(f"{c:>32}" for c in cells))
    return lines
