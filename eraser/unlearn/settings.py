"""Fine-tuning settings: a plain dataclass, importable without torch (the CLI reads its defaults).

Two methods share the loop (``eraser.unlearn.methods``):

* ``paper``: Moon, Cho & Kim (AAAI 2024) as published: latents beyond the threshold t move to
  ``t − margin`` along the direction; the feature side is drawn from the prior (``proj ≥ t``).
* ``deep`` (default): the feature is removed from the whole region where G draws it: a continuous
  target map (a band below t is pulled down too), a latent-space training detector that catches
  what one linear direction misses, coverage of projections far beyond the prior's typical set,
  MS-SSIM on the kept side, and mining of latents where G' still matches G instead of its target.
"""

from __future__ import annotations

from dataclasses import dataclass

from eraser.errors import EraserError

METHODS = ("deep", "paper")
LR_SCHEDULES = ("constant", "warmup-cosine")


@dataclass
class EraseSettings:
    """Fine-tuning settings (defaults chosen by measurement on digiface-dcgan64; see docs/deep-erasure.md).

    ``steps`` and ``lr`` default to the method's own (``DEFAULT_STEPS``, ``DEFAULT_LR``); every other shared field has one default,
    so ``method="paper"`` reproduces the published recipe exactly as eraser ran it before ``deep`` existed.
    """

    method: str = "deep"
    steps: int | None = None
    batch_size: int = 32
    #: Adam's learning rate; None: the method's default (``DEFAULT_LR``)
    lr: float | None = None
    alpha: float = 1.0
    margin: float = 1.0
    #: share of each batch drawn from the feature side; the rest from the kept side
    feature_fraction: float = 0.5
    seed: int = 0
    checkpoint_every: int = 50
    #: learning-rate schedule: "constant", or "warmup-cosine" (linear warm-up over the first 10 % of
    #: the steps, then cosine decay to 0); None: the method's default (paper constant, deep warmup-cosine)
    lr_schedule: str | None = None
    # -- deep only ------------------------------------------------------------------------------
    #: the band: latents with proj in [t − band, t) are pulled down part of the way (continuous map)
    band: float = 0.3
    #: where the feature side lands: projection t − margin − depth (deeper than the paper's t − margin)
    depth: float = 0.6
    #: share of the feature side drawn with projections uniform in [t − band, t + coverage_span]
    coverage: float = 0.75
    coverage_span: float = 6.0
    #: weight of (1 − MS-SSIM) on the kept side, besides its L1
    keep_ms_ssim: float = 2.0
    #: every this many steps, mine the feature-side latents G' has erased least (0: never)
    mine_every: int = 50
    #: candidates scored per mining round, latents kept, share of the feature side they fill
    mine_candidates: int = 256
    mine_keep: int = 32
    mine_share: float = 0.25

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EraserError(f"unknown erase method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.steps is None:
            self.steps = DEFAULT_STEPS[self.method]
        if self.lr is None:
            self.lr = DEFAULT_LR[self.method]
        if self.lr_schedule is None:
            self.lr_schedule = "constant" if self.method == "paper" else "warmup-cosine"
        if self.lr_schedule not in LR_SCHEDULES:
            raise EraserError(f"unknown learning-rate schedule {self.lr_schedule!r}; use one of {', '.join(LR_SCHEDULES)}")
        checks = [
            (self.steps >= 1, "steps must be at least 1"),
            (self.batch_size >= 2, "batch size must be at least 2"),
            (self.lr > 0, "learning rate must be positive"),
            (self.alpha >= 0, "alpha must be ≥ 0"),
            (self.margin >= 0, "margin must be ≥ 0"),
            (0 < self.feature_fraction < 1, "feature fraction must be in (0, 1)"),
            (self.checkpoint_every >= 0, "checkpoint interval must be ≥ 0"),
            (self.band >= 0, "band must be ≥ 0"),
            (self.depth >= 0, "depth must be ≥ 0"),
            (0 <= self.coverage <= 1, "coverage must be in [0, 1]"),
            (self.coverage_span > 0, "coverage span must be positive"),
            (self.keep_ms_ssim >= 0, "keep MS-SSIM weight must be ≥ 0"),
            (self.mine_every >= 0, "mining interval must be ≥ 0"),
            (self.mine_candidates >= 1 and self.mine_keep >= 1, "mining needs at least one candidate and one kept latent"),
            (0 <= self.mine_share < 1, "mining share must be in [0, 1)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise EraserError(msg)
        for name in ("lr", "alpha", "margin", "band", "depth", "coverage_span", "keep_ms_ssim"):
            v = getattr(self, name)
            if v != v or v in (float("inf"), float("-inf")):
                raise EraserError(f"{name.replace('_', ' ')} must be a finite number, got {v}")


#: fine-tuning steps of each method when ``steps`` is not given
DEFAULT_STEPS = {"deep": 500, "paper": 300}
#: Adam learning rate of each method when ``lr`` is not given (deep decays it on a cosine, so its peak is higher)
DEFAULT_LR = {"deep": 4e-4, "paper": 2e-4}
