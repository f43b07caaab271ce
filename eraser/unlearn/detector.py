"""The deep method's training detector: a small classifier on latents, fitted to the erase's own labels.

It answers "does G draw the feature at z?" for any latent, also where one linear direction is wrong
(a feature region that is not a half-space), and its gradient says which way leads out of the
feature. It sees only the labels the erase was given (marks, or the labeller's decisions on
sampled latents): never the measuring classifier, never held-out marks. It reads latents, not
images, so it is cheap enough to call on every batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eraser.direction import stratified_holdout
from eraser.errors import EraserError


class LatentDetector(nn.Module):
    """``D → hidden → hidden → 1`` MLP with SiLU; ``forward`` gives the feature logit ``[N]``."""

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).squeeze(1)

    def prob(self, z: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.sigmoid(self(z.float()))


@dataclass
class DetectorFit:
    detector: LatentDetector
    #: ROC AUC on a stratified quarter of the labels held out of that fit (the returned detector is
    #: refitted on all of them); None when a class has fewer than 4 labels
    heldout_auc: float | None
    n_feature: int
    n_none: int

    def summary(self) -> dict:
        return {"kind": "latent MLP", "heldout_auc": self.heldout_auc, "n_feature": self.n_feature, "n_none": self.n_none}


def _fit(z: Tensor, y: Tensor, seed: int, iters: int, weight_decay: float) -> LatentDetector:
    torch.manual_seed(seed)
    det = LatentDetector(z.shape[1])
    opt = torch.optim.Adam(det.parameters(), lr=3e-3, weight_decay=weight_decay)
    pos_weight = (1 - y).sum() / y.sum().clamp(min=1)  # classes weigh the same
    for _ in range(iters):
        loss = F.binary_cross_entropy_with_logits(det(z), y, pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return det.eval().requires_grad_(False)


def fit_detector(z: Tensor, y: Tensor, seed: int = 0, iters: int = 400, weight_decay: float = 1e-2) -> DetectorFit:
    """Fit a ``LatentDetector`` to latents ``z`` ``[N, D]`` and labels ``y`` ``[N]`` (1, 0 or NaN = unlabelled).

    Full-batch Adam on class-balanced binary cross-entropy, deterministic for a seed on CPU.
    """
    from sklearn.metrics import roc_auc_score

    z, y = z.detach().float().cpu(), y.detach().float().cpu()
    keep = ~torch.isnan(y)
    z, y = z[keep], y[keep]
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise EraserError(f"the training detector needs latents with and without the feature ({n_pos} with, {n_neg} without)")
    auc = None
    if min(n_pos, n_neg) >= 4:
        test = stratified_holdout(y, 0.25, seed)
        held = _fit(z[~test], y[~test], seed, iters, weight_decay)
        with torch.no_grad():
            auc = float(roc_auc_score(y[test].numpy(), held(z[test]).numpy()))
    return DetectorFit(_fit(z, y, seed, iters, weight_decay), auc, n_pos, n_neg)


def descend(detector: LatentDetector, z: Tensor, step: float = 0.25, max_steps: int = 24,
            margin_logit: float = 2.0) -> Tensor:
    """Move each latent down the detector's normalised gradient in steps of ``step`` until its logit is
    below ``−margin_logit`` (or ``max_steps`` are spent); latents already there stay put. ``[N, D]``."""
    z = z.detach().float().clone()
    for _ in range(max_steps):
        logit, unit = unit_gradient(detector, z)
        active = logit > -margin_logit
        if not active.any():
            break
        z = torch.where(active[:, None], z - step * unit, z)
    return z


def unit_gradient(detector: LatentDetector, z: Tensor) -> tuple[Tensor, Tensor]:
    """The detector's logits ``[N]`` at ``z`` and the unit gradient of each logit with respect to its latent ``[N, D]``."""
    zz = z.detach().float().clone().requires_grad_(True)
    with torch.enable_grad():
        logit = detector(zz)
        (grad,) = torch.autograd.grad(logit.sum(), [zz])
    return logit.detach(), grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
