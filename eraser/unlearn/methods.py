"""The two erase methods: which latents each step trains on, and where each one's target lies.

A method gives the loop three things: ``batch(step)`` (the step's latents ``[B, D]``, seeded by
``(seed, step)``), ``targets(z)`` (target latents and the mask of those that moved) and, optionally,
``mine(step, G', G)`` between steps. The loss is the same for both (``objective.shift_loss``).

``PaperMethod``: Moon, Cho & Kim (AAAI 2024). Half of each batch from the prior beyond the threshold
t, half below; beyond t, ``z* = z − (proj − t + m)·ẑ_e``.

``DeepMethod``: the feature must be gone wherever G draws it, not only where the prior puts most of
its mass, so:

1. **A continuous target map along ẑ_e.** Projections p ≥ t land at ``c = t − m − depth``; in the
   band [a, t) (``a = t − band``) they are pulled down linearly, from a at p = a to c at p = t;
   below a nothing moves. The paper's map jumps at t (latents just above move by m, those just
   below not at all), which a smooth G' cannot follow, and leaves features whose projection is
   just below t in place.
2. **A training detector** (``detector.LatentDetector``, fitted to the erase's own labels): where
   it still calls the mapped latent a feature, the target walks down its gradient until it says
   "no" with a margin. This catches feature latents one linear direction misses (a region that
   is a union of half-spaces, say), and they join the feature side even below a.
3. **Coverage**: a share of the feature side has projections drawn uniformly from [a, t + span]
   (and, half of that, pushed up the detector's gradient by a random distance), far beyond what
   the prior makes likely, so walking along the direction finds no untrained region.
4. **Preservation**: the kept side is held by L1 and MS-SSIM.
5. **Mining**: every k steps, the feature-side latents G' has erased least (``residual``: how far
   G'(z) still is from its target, relative to how far G(z) was) refill part of the next batches.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eraser.direction import Direction
from eraser.generators.base import Generator
from eraser.unlearn.detector import LatentDetector, descend, unit_gradient
from eraser.unlearn.settings import EraseSettings


def truncated_normal(n: int, low: float, high: float, g: torch.Generator) -> Tensor:
    """``n`` draws of N(0, 1) restricted to [low, high), by inverse CDF."""
    normal = torch.distributions.Normal(0.0, 1.0)
    a, b = normal.cdf(torch.tensor(low)), normal.cdf(torch.tensor(high))
    u = a + (b - a) * torch.rand(n, generator=g, dtype=torch.float64).float()
    return normal.icdf(u.clamp(1e-7, 1 - 1e-7))


def with_projection(n: int, dim: int, unit: Tensor, p: Tensor, g: torch.Generator) -> Tensor:
    """``n`` latents whose part orthogonal to ``unit`` is drawn from the prior and whose projection is ``p`` ``[n]``."""
    z = torch.randn(n, dim, generator=g)
    z = z - (z @ unit)[:, None] * unit
    return z + p[:, None] * unit


def side_latents(n: int, dim: int, direction: Direction, feature_side: bool, g: torch.Generator) -> Tensor:
    """``n`` prior latents conditioned on proj ≥ t (``feature_side``) or proj < t.

    Exact: under N(0, I) the projection on the unit ẑ_e is N(0, 1) and independent of the
    orthogonal part, so we draw the orthogonal part freely and the projection from a truncated normal.
    """
    u = direction.unit.cpu()
    z = torch.randn(n, dim, generator=g)
    z = z - (z @ u)[:, None] * u
    t = direction.threshold
    p = truncated_normal(n, t, math.inf, g) if feature_side else truncated_normal(n, -math.inf, t, g)
    return z + p[:, None] * u


def step_generator(settings: EraseSettings, step: int, stream: int = 0) -> torch.Generator:
    """The CPU random generator of step ``step`` (``stream`` > 0: an independent one for mining)."""
    return torch.Generator().manual_seed(settings.seed * 1_000_003 + step + stream * 7_919_000_003)


class PaperMethod:
    """Moon, Cho & Kim (AAAI 2024), exactly as eraser ran it before the deep method existed."""

    name = "paper"

    def __init__(self, settings: EraseSettings, dim: int, direction: Direction) -> None:
        self.settings, self.dim, self.direction = settings, dim, direction
        self.keep_ms_ssim = 0.0

    def batch(self, step: int) -> Tensor:
        g = step_generator(self.settings, step)
        n_f = max(1, round(self.settings.feature_fraction * self.settings.batch_size))
        zf = side_latents(n_f, self.dim, self.direction, True, g)
        zr = side_latents(self.settings.batch_size - n_f, self.dim, self.direction, False, g)
        return torch.cat([zf, zr])

    def targets(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.direction.shift(z, self.settings.margin)

    def is_feature(self, z: Tensor) -> Tensor:
        """``[N]`` bool: projection ≥ t (the side the paper shifts)."""
        return self.direction.project(z).cpu() >= self.direction.threshold

    def feature_side(self, n: int, g: torch.Generator) -> Tensor:
        return side_latents(n, self.dim, self.direction, True, g)

    def mine(self, step: int, g_new: Generator, g: Generator, targets=None) -> None:
        return None

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        return None


class DeepMethod:
    """Erase over the whole feature region (see the module docstring)."""

    name = "deep"

    def __init__(self, settings: EraseSettings, dim: int, direction: Direction,
                 detector: LatentDetector | None = None) -> None:
        self.settings, self.dim, self.direction, self.detector = settings, dim, direction, detector
        self.unit = direction.unit.detach().float().cpu()
        t = direction.threshold
        self.low = t - settings.band  # a: below it, only the detector moves anything
        self.land = t - settings.margin - settings.depth  # c: where projections ≥ t land
        self.keep_ms_ssim = settings.keep_ms_ssim
        self.mined = torch.empty(0, dim)
        self.mine_log: list[dict[str, float]] = []

    # -- targets ---------------------------------------------------------------------------------
    def target_projection(self, p: Tensor) -> Tensor:
        """The continuous map of projections ``[N]``: identity below a, c from t on, linear in between."""
        t, a, c = self.direction.threshold, self.low, self.land
        mid = a + (p - a) * (c - a) / max(t - a, 1e-12)
        return torch.where(p <= a, p, torch.where(p >= t, torch.full_like(p, c), mid))

    def is_feature(self, z: Tensor) -> Tensor:
        """``[N]`` bool: on the feature side (projection above a, or the detector says so)."""
        hit = self.direction.project(z).cpu() > self.low
        if self.detector is not None:
            hit = hit | (self.detector.prob(z.cpu()) >= 0.5)
        return hit

    def targets(self, z: Tensor) -> tuple[Tensor, Tensor]:
        zc = z.detach().float().cpu()
        p = zc @ self.unit
        out = zc + (self.target_projection(p) - p)[:, None] * self.unit
        if self.detector is not None:
            still = self.detector.prob(out) >= 0.5
            if still.any():
                out[still] = descend(self.detector, out[still])
        moved = (out - zc).norm(dim=1) > 1e-6
        return out.to(z.device), moved.to(z.device)

    # -- latents ----------------------------------------------------------------------------------
    def _coverage(self, n: int, g: torch.Generator) -> Tensor:
        """Feature-side latents far out: projections uniform in [a, t + span]; with a detector, half of
        them are instead prior latents pushed up its gradient by a random distance in [0, span], which
        reaches feature regions the direction does not point at."""
        span = self.settings.coverage_span
        k = n // 2 if self.detector is not None else 0
        p = self.low + torch.rand(n - k, generator=g) * (self.direction.threshold + span - self.low)
        z = with_projection(n - k, self.dim, self.unit, p, g)
        if k:
            starts = torch.randn(k, self.dim, generator=g)
            z = torch.cat([ascend(self.detector, starts, torch.rand(k, generator=g) * span), z])
        return z

    def _from_prior(self, n: int, feature_side: bool, g: torch.Generator) -> Tensor:
        """``n`` prior latents on one side (``is_feature``), by rejection from 8·n draws, topped up from
        the truncated prior along ẑ_e when too few turn up."""
        cand = torch.randn(8 * n, self.dim, generator=g)
        pick = cand[self.is_feature(cand) == feature_side][:n]
        if len(pick) < n:
            lo, hi = (self.low, math.inf) if feature_side else (-math.inf, self.low)
            rest = with_projection(n - len(pick), self.dim, self.unit, truncated_normal(n - len(pick), lo, hi, g), g)
            pick = torch.cat([pick, rest])
        return pick

    def feature_side(self, n: int, g: torch.Generator) -> Tensor:
        n_cov = round(self.settings.coverage * n)
        return torch.cat([self._coverage(n_cov, g), self._from_prior(n - n_cov, True, g)])

    def batch(self, step: int) -> Tensor:
        s = self.settings
        g = step_generator(s, step)
        n_f = max(1, round(s.feature_fraction * s.batch_size))
        zf = self.feature_side(n_f, g)
        if len(self.mined) and s.mine_share > 0:
            k = min(n_f, max(1, round(s.mine_share * n_f)))
            zf[:k] = self.mined[torch.randint(len(self.mined), (k,), generator=g)]
        zr = self._from_prior(s.batch_size - n_f, False, g)
        return torch.cat([zf, zr])

    # -- mining -----------------------------------------------------------------------------------
    @torch.no_grad()
    def mine(self, step: int, g_new: Generator, g: Generator, targets=None, stream: int = 1) -> None:
        """Every ``mine_every`` steps keep the ``mine_keep`` candidates G' has erased least; ``targets``
        (default: this method's) is the target map they are measured against."""
        s = self.settings
        if not s.mine_every or step % s.mine_every or step >= s.steps:
            return
        z = self.feature_side(s.mine_candidates, step_generator(s, step, stream=stream))
        r = residual(g_new, g, z, (targets or self.targets)(z)[0])
        order = torch.argsort(r, descending=True, stable=True)[: s.mine_keep]
        self.mined = z[order].clone()
        self.mine_log.append({"step": step, "residual_mean": float(r.mean()), "residual_top_mean": float(r[order].mean())})

    def state_dict(self) -> dict[str, Tensor]:
        return {"mined": self.mined}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.mined = state.get("mined", torch.empty(0, self.dim)).float()


def ascend(detector: LatentDetector, z: Tensor, distance: Tensor, steps: int = 6) -> Tensor:
    """Move each latent ``distance[i]`` up the detector's normalised gradient, in ``steps`` equal steps."""
    z = z.detach().float().clone()
    for _ in range(steps):
        z = z + (distance / steps)[:, None] * unit_gradient(detector, z)[1]
    return z


@torch.no_grad()
def residual(g_new: Generator, g: Generator, z: Tensor, z_target: Tensor, batch_size: int = 128,
             min_change: float = 0.02) -> Tensor:
    """``[N]`` in [0, 1]: how much of the erase is still to do at z,
    ``a / (a + b)`` with ``a = |G'(z) − G(z*)|₁`` and ``b = |G'(z) − G(z)|₁`` (mean absolute pixel differences):
    1 where G' still draws what G drew, 0 where it draws the target. Latents whose target barely differs
    from G(z) (mean change below ``min_change``) have nothing to erase and score 0."""
    out = []
    for i in range(0, len(z), batch_size):
        zi, ti = z[i : i + batch_size], z_target[i : i + batch_size]
        target, before, now = g.decode(ti), g.decode(zi), g_new.decode(zi)
        a = (now - target).abs().flatten(1).mean(1)
        b = (now - before).abs().flatten(1).mean(1)
        change = (before - target).abs().flatten(1).mean(1)
        out.append(torch.where(change > min_change, a / (a + b).clamp_min(1e-12), torch.zeros_like(a)).cpu())
    return torch.cat(out)


class CompositeMethod:
    """Several features erased in one fine-tune: one method per feature (its own direction and detector).

    - **Batch**: the feature side is shared out evenly between the features (each draws its own feature
      side, coverage and mined latents included); the kept side holds prior latents that *no* feature
      calls its own.
    - **Targets**: the features' target maps applied in turn, ``T_K(…T_1(z))``: a latent carrying two
      features loses both, and one carrying none is left alone by every map.
    - **Mining**: per feature, measured against the composed targets.
    """

    def __init__(self, methods: list) -> None:
        if not methods:
            raise ValueError("CompositeMethod needs at least one method")
        self.methods = methods
        self.settings, self.dim = methods[0].settings, methods[0].dim
        self.name = methods[0].name
        self.keep_ms_ssim = methods[0].keep_ms_ssim

    @property
    def mine_log(self) -> list[dict[str, float]]:
        return [{"feature": i, **rec} for i, m in enumerate(self.methods) for rec in getattr(m, "mine_log", [])]

    def is_feature(self, z: Tensor) -> Tensor:
        hit = torch.zeros(len(z), dtype=torch.bool)
        for m in self.methods:
            hit |= m.is_feature(z)
        return hit

    def targets(self, z: Tensor) -> tuple[Tensor, Tensor]:
        out, moved = z, torch.zeros(len(z), dtype=torch.bool, device=z.device)
        for m in self.methods:
            out, mv = m.targets(out)
            moved = moved | mv.to(moved.device)
        moved = moved & ((out - z).norm(dim=1) > 1e-6)
        return out, moved

    def _keep_side(self, n: int, g: torch.Generator) -> Tensor:
        """``n`` prior latents no feature claims, by rejection from 8·n draws per round (at most 8 rounds,
        then the closest to being kept: the rest of the last round, in draw order)."""
        picked: list[Tensor] = []
        have = 0
        for _ in range(8):
            cand = torch.randn(8 * n, self.dim, generator=g)
            keep = cand[~self.is_feature(cand)]
            picked.append(keep)
            have += len(keep)
            if have >= n:
                break
        out = torch.cat(picked)[:n]
        if len(out) < n:
            out = torch.cat([out, torch.randn(n - len(out), self.dim, generator=g)])
        return out

    def batch(self, step: int) -> Tensor:
        s = self.settings
        g = step_generator(s, step)
        n_f = max(len(self.methods), round(s.feature_fraction * s.batch_size))
        shares = [n_f // len(self.methods) + (i < n_f % len(self.methods)) for i in range(len(self.methods))]
        sides = []
        for m, k in zip(self.methods, shares):
            zf = m.feature_side(k, g)
            mined = getattr(m, "mined", None)
            if mined is not None and len(mined) and s.mine_share > 0:
                j = min(k, max(1, round(s.mine_share * k)))
                zf[:j] = mined[torch.randint(len(mined), (j,), generator=g)]
            sides.append(zf)
        return torch.cat([*sides, self._keep_side(s.batch_size - n_f, g)])

    def mine(self, step: int, g_new: Generator, g: Generator) -> None:
        for i, m in enumerate(self.methods):
            m.mine(step, g_new, g, targets=self.targets, **({"stream": 1 + i} if isinstance(m, DeepMethod) else {}))

    def state_dict(self) -> dict[str, Tensor]:
        return {f"{i}.{k}": v for i, m in enumerate(self.methods) for k, v in m.state_dict().items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for i, m in enumerate(self.methods):
            m.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"{i}.")})


def make_method(settings: EraseSettings, dim: int, direction, detector=None):
    """The method ``settings.method`` names (the detector is used by ``deep`` only).

    ``direction`` may be a list of directions (several features in one erase; ``detector`` then a list
    of the same length, or None): a ``CompositeMethod`` of one method per feature.
    """
    if isinstance(direction, (list, tuple)):
        detectors = list(detector) if isinstance(detector, (list, tuple)) else [detector] * len(direction)
        if len(detectors) != len(direction):
            raise ValueError("one detector (or None) per direction")
        if len(direction) == 1:
            return make_method(settings, dim, direction[0], detectors[0])
        return CompositeMethod([make_method(settings, dim, d, det) for d, det in zip(direction, detectors)])
    if settings.method == "paper":
        return PaperMethod(settings, dim, direction)
    return DeepMethod(settings, dim, direction, detector)
