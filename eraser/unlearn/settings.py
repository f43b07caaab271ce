"""Fine-tuning settings: a plain dataclass, importable without torch (the CLI reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from eraser.errors import EraserError


@dataclass
class EraseSettings:
    """Fine-tuning settings (defaults chosen by experiment on digiface-dcgan64; see the README)."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-4
    alpha: float = 1.0
    margin: float = 1.0
    #: share of each batch drawn from the feature side (proj ≥ t); the rest from proj < t
    feature_fraction: float = 0.5
    perceptual_weight: float = 0.0
    seed: int = 0
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 1, "steps must be at least 1"),
            (self.batch_size >= 2, "batch size must be at least 2"),
            (self.lr > 0, "learning rate must be positive"),
            (self.alpha >= 0, "alpha must be ≥ 0"),
            (self.margin >= 0, "margin must be ≥ 0"),
            (0 < self.feature_fraction < 1, "feature fraction must be in (0, 1)"),
            (self.perceptual_weight >= 0, "LPIPS weight must be ≥ 0"),
            (self.checkpoint_every >= 0, "checkpoint interval must be ≥ 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise EraserError(msg)
