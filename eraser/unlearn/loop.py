"""The fine-tuning loop: seeded batches, Adam, progress, periodic checkpoints, exact resume.

Step ``k``'s latents come from a generator seeded with ``(seed, k)``, so an interrupted run
resumed from its last checkpoint (weights, Adam state, step, history) reproduces the
uninterrupted run bit for bit on the same machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from eraser.direction import Direction
from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.io import atomic_path
from eraser.unlearn.objective import erase_loss
from eraser.unlearn.settings import EraseSettings

STATE_FILE = "train_state.pt"


def _truncated_normal(n: int, low: float, high: float, g: torch.Generator) -> Tensor:
    """``n`` draws of N(0, 1) restricted to [low, high), by inverse CDF."""
    normal = torch.distributions.Normal(0.0, 1.0)
    a, b = normal.cdf(torch.tensor(low)), normal.cdf(torch.tensor(high))
    u = a + (b - a) * torch.rand(n, generator=g, dtype=torch.float64).float()
    return normal.icdf(u.clamp(1e-7, 1 - 1e-7))


def side_latents(n: int, dim: int, direction: Direction, feature_side: bool, g: torch.Generator) -> Tensor:
    """``n`` prior latents conditioned on proj ≥ t (``feature_side``) or proj < t.

    Exact: under N(0, I) the projection on the unit ẑ_e is N(0, 1) and independent of the
    orthogonal part, so we draw the orthogonal part freely and the projection from a truncated normal.
    """
    u = direction.unit.cpu()
    z = torch.randn(n, dim, generator=g)
    z = z - (z @ u)[:, None] * u
    t = direction.threshold
    p = _truncated_normal(n, t, math.inf, g) if feature_side else _truncated_normal(n, -math.inf, t, g)
    return z + p[:, None] * u


def batch_latents(step: int, settings: EraseSettings, dim: int, direction: Direction) -> Tensor:
    """Latents of step ``step``: a fixed share from each side of the threshold, seeded by (seed, step)."""
    g = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
    n_f = max(1, round(settings.feature_fraction * settings.batch_size))
    zf = side_latents(n_f, dim, direction, True, g)
    zr = side_latents(settings.batch_size - n_f, dim, direction, False, g)
    return torch.cat([zf, zr])


@dataclass
class TrainResult:
    generator: Generator
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int | None = None


def _save_state(path: Path, g_new: Generator, opt: torch.optim.Optimizer, step: int, history, settings,
                resume_key: dict[str, str] | None = None) -> None:
    state = {"step": step, "model": g_new.module.state_dict(), "optimizer": opt.state_dict(),
             "history": history, "settings": asdict(settings), "resume_key": resume_key}
    with atomic_path(path, ".pt") as tmp:
        torch.save(state, tmp)


def finetune(
    generator: Generator,
    direction: Direction,
    settings: EraseSettings,
    work_dir: Path | None = None,
    perceptual: Callable[[Tensor, Tensor], Tensor] | None = None,
    progress: bool = True,
    on_step: Callable[[int, Generator, dict[str, float]], None] | None = None,
    resume_key: dict[str, str] | None = None,
) -> TrainResult:
    """Fine-tune a copy G' of ``generator`` (left untouched) so the feature side decodes without the feature.

    With ``work_dir``, the training state is saved there every ``checkpoint_every`` steps and a
    run finding a state there resumes from it (settings must match). ``on_step(step, G', record)``
    runs after each step (evaluation hooks). ``resume_key`` (``eraser.resume.resume_key``) is stored
    with the state, and a state recording other inputs is refused.
    """
    from tqdm.auto import tqdm

    frozen = generator
    frozen.module.requires_grad_(False)
    g_new = generator.copy()
    g_new.module.requires_grad_(True)
    g_new.module.eval()  # BatchNorm keeps its running statistics: G' starts as exactly G
    opt = torch.optim.Adam(g_new.trainable_parameters(), lr=settings.lr)
    history: list[dict[str, float]] = []
    start, resumed = 0, None
    state_path = Path(work_dir) / STATE_FILE if work_dir is not None else None
    if state_path is not None and state_path.is_file():
        from eraser.resume import read_train_state

        state = read_train_state(state_path, resume_key, g_new.module, opt)
        if state["settings"] != asdict(settings):
            raise EraserError(f"{state_path} was written with other settings; remove it or rerun with the same settings")
        g_new.module.load_state_dict(state["model"], strict=True)
        opt.load_state_dict(state["optimizer"])
        start = resumed = int(state["step"])
        history = list(state["history"])
    bar = tqdm(range(start, settings.steps), initial=start, total=settings.steps, desc="erasing",
               disable=None if progress else True, leave=False)  # None: off when stderr is not a terminal
    for step in bar:
        z = batch_latents(step, settings, generator.latent_dim, direction)
        parts = erase_loss(g_new, frozen, direction, z, settings.alpha, settings.margin, perceptual,
                           settings.perceptual_weight)
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        opt.step()
        rec = {"step": step + 1, "loss": float(parts.total.detach()), "loss_shifted": float(parts.shifted),
               "loss_keep": float(parts.keep)}
        history.append(rec)
        bar.set_postfix(loss=f"{rec['loss']:.4f}")
        if on_step is not None:
            on_step(step + 1, g_new, rec)
        if state_path is not None and settings.checkpoint_every and (step + 1) % settings.checkpoint_every == 0:
            _save_state(state_path, g_new, opt, step + 1, history, settings, resume_key)
    g_new.module.requires_grad_(False)
    g_new.module.eval()
    return TrainResult(g_new, history, resumed)
