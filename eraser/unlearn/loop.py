"""The fine-tuning loop: seeded batches, Adam, progress, periodic checkpoints, exact resume.

Step ``k``'s latents come from a generator seeded with ``(seed, k)``, so an interrupted run
resumed from its last checkpoint (weights, Adam state, step, history, the method's mined latents,
the monitor's guard evaluations and kept state) reproduces the uninterrupted run bit for bit on the
same machine. What each step trains on and towards is the method's business (``eraser.unlearn.methods``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from eraser.direction import Direction
from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.io import atomic_path
from eraser.unlearn.detector import LatentDetector
from eraser.unlearn.methods import make_method
from eraser.unlearn.objective import shift_loss
from eraser.unlearn.settings import EraseSettings

STATE_FILE = "train_state.pt"


class StepMonitor(Protocol):
    """Watches fine-tuning (``eraser.unlearn.monitor.GuardMonitor``): called after every step, and saved
    and restored with the training state so a resumed run carries on where it stopped."""

    def __call__(self, step: int, g_new: Generator, record: dict[str, float]) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Any, where: str = ...) -> None: ...


def batch_latents(step: int, settings: EraseSettings, dim: int, direction: Direction,
                  detector: LatentDetector | None = None) -> Tensor:
    """Latents of step ``step`` for ``settings.method`` (without mined latents), seeded by (seed, step)."""
    return make_method(settings, dim, direction, detector).batch(step)


@dataclass
class TrainResult:
    generator: Generator
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int | None = None
    #: the deep method's mining rounds (step, mean residual of the candidates and of the kept ones)
    mining: list[dict[str, float]] = field(default_factory=list)


def _save_state(path: Path, g_new: Generator, opt: torch.optim.Optimizer, step: int, history, settings,
                method, extra: dict[str, Any], resume_key: dict[str, str] | None = None) -> None:
    state = {"step": step, "model": g_new.module.state_dict(), "optimizer": opt.state_dict(),
             "history": history, "settings": asdict(settings), "method_state": method.state_dict(),
             "resume_key": resume_key, **extra}
    with atomic_path(path, ".pt") as tmp:
        torch.save(state, tmp)


def lr_factor(settings: EraseSettings) -> Callable[[int], float]:
    """The learning-rate multiplier of step k for ``settings.lr_schedule`` (``warmup-cosine``: linear warm-up
    over the first 10 % of the steps, then a cosine decay to 0; it tames Adam's first, sign-sized steps,
    which otherwise move every weight by about ``lr`` whatever the loss asks)."""
    warm = max(1, settings.steps // 10)

    def factor(k: int) -> float:
        if k < warm:
            return (k + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, settings.steps - warm)))

    return factor


def finetune(
    generator: Generator,
    direction: Direction | list[Direction],
    settings: EraseSettings,
    work_dir: Path | None = None,
    progress: bool = True,
    on_step: Callable[[int, Generator, dict[str, float]], None] | None = None,
    detector: LatentDetector | list[LatentDetector | None] | None = None,
    resume_key: dict[str, str] | None = None,
    monitor: StepMonitor | None = None,
) -> TrainResult:
    """Fine-tune a copy G' of ``generator`` (left untouched) so the feature side decodes without the feature.

    ``settings.method`` picks the recipe (``paper`` or ``deep``; ``detector`` is the deep method's
    training detector, optional). A list of directions (and of detectors) erases several features in one
    fine-tune (``methods.CompositeMethod``). With ``work_dir``, the training state is saved there every
    ``checkpoint_every`` steps and a run finding a state there resumes from it (settings must
    match). ``on_step(step, G', record)`` runs after each step (evaluation hooks); so does ``monitor``,
    whose own state is saved and restored with the training state. ``resume_key``
    (``eraser.resume.resume_key``) is stored with the state, and a state recording other inputs is refused.
    """
    from tqdm.auto import tqdm

    frozen = generator
    frozen.module.requires_grad_(False)
    g_new = generator.copy()
    g_new.module.requires_grad_(True)
    g_new.module.eval()  # BatchNorm keeps its running statistics: G' starts as exactly G
    method = make_method(settings, generator.latent_dim, direction, detector)
    opt = torch.optim.Adam(g_new.trainable_parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(settings)) if settings.lr_schedule != "constant" else None
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
        if sched is not None:
            if not isinstance(state.get("scheduler"), dict):
                raise EraserError(f"{state_path} holds no learning-rate schedule state; remove {work_dir} to start over")
            sched.load_state_dict(state["scheduler"])
        method_state = state.get("method_state", {})
        if not isinstance(method_state, dict) or not all(isinstance(v, Tensor) for v in method_state.values()):
            raise EraserError(f"{state_path} holds a malformed method state; remove {work_dir} to start over")
        method.load_state_dict(method_state)
        if monitor is not None:
            if "monitor" not in state:
                raise EraserError(f"{state_path} holds no guard monitor state; remove {work_dir} to start over")
            monitor.load_state_dict(state["monitor"], str(state_path))
        start = resumed = int(state["step"])
        history = list(state["history"])
    bar = tqdm(range(start, settings.steps), initial=start, total=settings.steps, desc=f"erasing ({settings.method})",
               disable=None if progress else True, leave=False)  # None: off when stderr is not a terminal
    for step in bar:
        z = method.batch(step)
        z_target, moved = method.targets(z)
        with torch.no_grad():
            targets = frozen.decode(z_target.to(frozen.device))  # [B, 3, H, W]
        parts = shift_loss(g_new, z, targets, moved.to(g_new.device), settings.alpha, method.keep_ms_ssim)
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        opt.step()
        if sched is not None:
            sched.step()
        rec = {"step": step + 1, "loss": float(parts.total.detach()), "loss_shifted": float(parts.shifted),
               "loss_keep": float(parts.keep)}
        history.append(rec)
        bar.set_postfix(loss=f"{rec['loss']:.4f}")
        method.mine(step + 1, g_new, frozen)
        if on_step is not None:
            on_step(step + 1, g_new, rec)
        if monitor is not None:
            monitor(step + 1, g_new, rec)
        if state_path is not None and settings.checkpoint_every and (step + 1) % settings.checkpoint_every == 0:
            extra = {"scheduler": sched.state_dict()} if sched is not None else {}
            if monitor is not None:
                extra["monitor"] = monitor.state_dict()
            _save_state(state_path, g_new, opt, step + 1, history, settings, method, extra, resume_key)
    g_new.module.requires_grad_(False)
    g_new.module.eval()
    return TrainResult(g_new, history, resumed, list(getattr(method, "mine_log", [])))
