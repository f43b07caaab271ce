"""The audit's budget and the definitions of its attacks: plain Python, no torch (the CLI reads the defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from eraser.errors import EraserError

ATTACKS = ("gradient", "random", "walk")

DEFINITIONS = {
    "gradient": ("attempt = one random start (on the shell); `steps` steps of normalised gradient ascent (PGD-L2) "
                 "on z maximising the classifier's logit of G(z), step k of length lr·sqrt(D)·(1+cos(πk/steps))/2, "
                 "z projected after every step onto the shell sqrt(D) ± shell (0: the sphere of radius sqrt(D)); "
                 "success = the best score along the path (start included) ≥ the classifier's threshold"),
    "random": ("attempt = a group of random_batch prior samples, keep the best; success = the group's best score "
               "≥ threshold; per_sample_rate = share of all random_samples ≥ threshold"),
    "walk": ("attempt = one random start z, scored at z + a·u for walk_points values of a evenly spaced in "
             "[0, walk_max], u the original's unit feature direction; success = any point ≥ threshold"),
}


@dataclass
class AuditBudget:
    """What each attack may spend; the same budget is used for every generator audited."""

    #: (a) gradient attack: random starts, steps per start, first step length as a fraction of
    #: sqrt(D) (cosine-decayed to 0), shell half-width
    starts: int = 64
    steps: int = 30
    lr: float = 0.2
    shell: float = 0.0
    #: (b) random search: samples in all, samples per attempt
    random_samples: int = 4096
    random_batch: int = 64
    #: (c) direction walk: starts, largest step along the direction (latent units), points per walk
    walk_starts: int = 64
    walk_max: float = 4.0
    walk_points: int = 9
    seed: int = 0
    #: latents per forward pass (memory, not results)
    batch_size: int = 64
    #: best images per attack and generator in the PNG
    top_k: int = 8

    def __post_init__(self) -> None:
        checks = [
            (self.starts >= 1, "--starts must be at least 1"),
            (self.steps >= 0, "--steps must be ≥ 0"),
            (self.lr > 0, "--lr must be positive"),
            (self.shell >= 0, "--shell must be ≥ 0"),
            (self.random_batch >= 1, "--random-batch must be at least 1"),
            (self.random_samples >= self.random_batch, "--random-samples must be at least --random-batch"),
            (self.walk_starts >= 1, "--walk-starts must be at least 1"),
            (self.walk_max > 0, "--walk-max must be positive"),
            (self.walk_points >= 2, "--walk-points must be at least 2"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.top_k >= 1, "--top-k must be at least 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise EraserError(f"audit budget: {msg}")

    def forward_passes(self) -> dict[str, int]:
        """Decoder + classifier evaluations per generator (the gradient attack's also take a backward pass)."""
        return {"gradient": self.starts * (self.steps + 1), "random": self.random_samples,
                "walk": self.walk_starts * self.walk_points}
