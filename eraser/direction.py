"""The feature's direction in latent space, its threshold, and the latent shift that removes it.

Moon, Cho & Kim (AAAI 2024), §3: with latents of samples that carry the feature (z⁺) and that
do not (z⁻), the feature direction is the normalised mean difference

    ẑ_e = (mean(z⁺) − mean(z⁻)) / ‖mean(z⁺) − mean(z⁻)‖,   proj(z) = z · ẑ_e,

and the threshold ``t`` lies between the two groups' mean projections (here: their midpoint).
A latent with proj(z) ≥ t is moved to ``z − (proj(z) − t + m) · ẑ_e`` (margin ``m ≥ 0``), the
same sample with the feature pushed out. A logistic regression's normal vector is offered as an
alternative direction. Either way the separation is measured as the ROC AUC of proj on held-out
labels, so a user sees when the feature is not linear in the latent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eraser.errors import EraserError

METHODS = ("mean-difference", "linear-classifier")
#: below this held-out AUC the labels do not separate along any latent direction
MIN_AUC = 0.65


@dataclass
class Direction:
    """A unit direction ``unit`` ``[D]`` in latent space and a threshold on projections onto it."""

    unit: Tensor
    threshold: float
    method: str
    mean_proj_feature: float
    mean_proj_none: float
    n_feature: int
    n_none: int
    heldout_auc: float | None
    n_heldout: int

    def project(self, z: Tensor) -> Tensor:
        """``z · ẑ_e`` ``[N]`` for latents ``[N, D]``."""
        return z.to(self.unit.device, self.unit.dtype) @ self.unit

    def shift(self, z: Tensor, margin: float = 0.0) -> tuple[Tensor, Tensor]:
        """Latents with the feature pushed out, and the mask of those that were moved.

        Returns ``(z', moved)``: ``z' = z − (proj − t + m)·ẑ_e`` where ``proj ≥ t``, else ``z``.
        """
        p = self.project(z)  # [N]
        moved = p >= self.threshold
        step = torch.where(moved, p - self.threshold + margin, torch.zeros_like(p))  # [N]
        return z - step[:, None] * self.unit.to(z.device, z.dtype), moved

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["unit"] = [float(v) for v in self.unit.cpu()]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Direction:
        return cls(**{**d, "unit": torch.tensor(d["unit"], dtype=torch.float32)})

    def summary(self) -> dict[str, Any]:
        """Everything but the vector: for reports and provenance."""
        return {k: v for k, v in self.to_dict().items() if k != "unit"}


def _auc(scores: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores))


def _fit_unit(z: Tensor, y: Tensor, method: str, seed: int) -> Tensor:
    if method == "mean-difference":
        d = z[y == 1].mean(0) - z[y == 0].mean(0)
    elif method == "linear-classifier":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000, random_state=seed)
        lr.fit(z.numpy().astype(np.float64), y.numpy().astype(int))
        d = torch.tensor(lr.coef_[0], dtype=torch.float32)
    else:
        raise EraserError(f"unknown direction method {method!r}; use one of {', '.join(METHODS)}")
    norm = d.norm()
    if not torch.isfinite(norm) or norm <= 0:
        raise EraserError("the feature and no-feature latents have the same mean; the labels carry no direction")
    return d / norm


def stratified_holdout(y: Tensor, fraction: float, seed: int) -> Tensor:
    """``[N]`` bool: a seeded, stratified ``fraction`` of each label's rows (at least one of each) for held-out scoring."""
    g = torch.Generator().manual_seed(seed)
    test = torch.zeros(len(y), dtype=torch.bool)
    for cls in (0, 1):
        idx = torch.nonzero(y == cls).squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        test[idx[: max(1, int(round(fraction * len(idx))))]] = True
    return test


def estimate_direction(
    z: Tensor,
    y: Tensor,
    method: str = "mean-difference",
    holdout: float = 0.25,
    min_auc: float = MIN_AUC,
    seed: int = 0,
) -> Direction:
    """Estimate ``Direction`` from latents ``z`` ``[N, D]`` and labels ``y`` ``[N]`` (1 feature, 0 none; NaN dropped).

    The separation is the AUC of proj on a stratified held-out ``holdout`` fraction, with the
    direction fitted on the rest; the returned direction is then refitted on all labels. Raises a
    one-line EraserError if a class is empty or the held-out AUC is below ``min_auc``.
    """
    z = z.detach().float().cpu()
    y = y.detach().float().cpu()
    keep = ~torch.isnan(y)
    z, y = z[keep], y[keep]
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        which = "feature" if n_pos == 0 else "no-feature"
        raise EraserError(
            f"the labeller found no {which} samples among {len(y)} labelled ({n_pos} with, {n_neg} without); "
            "sample more, lower/raise the labeller threshold, or check the feature name"
        )
    auc = None
    n_held = 0
    if holdout > 0 and min(n_pos, n_neg) >= 4:
        test = stratified_holdout(y, holdout, seed)
        unit = _fit_unit(z[~test], y[~test], method, seed)
        auc = _auc((z[test] @ unit).numpy(), y[test].numpy())
        n_held = int(test.sum())
        if auc < min_auc:
            raise EraserError(
                f"the labels do not separate in latent space (held-out AUC {auc:.2f} along the {method} direction, "
                f"need ≥ {min_auc}); the feature may not be linear in this latent, or the labels are noise"
            )
    unit = _fit_unit(z, y, method, seed)
    p = z @ unit
    mp, mn = float(p[y == 1].mean()), float(p[y == 0].mean())
    return Direction(unit=unit, threshold=(mp + mn) / 2, method=method, mean_proj_feature=mp, mean_proj_none=mn,
                     n_feature=n_pos, n_none=n_neg, heldout_auc=auc, n_heldout=n_held)
