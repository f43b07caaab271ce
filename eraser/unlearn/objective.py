"""The fine-tuning objective of Moon, Cho & Kim (AAAI 2024): latent-shift targets from the frozen G.

For a batch of latents z and their target latents z* (``eraser.unlearn.methods`` decides both):

* moved latents (z* ≠ z, the feature side): target ``G(z*)``, the same sample with the feature
  pushed out; loss ``α · (L1 + (1 − MS-SSIM))``;
* the rest: target ``G(z)`` itself; loss ``L1`` (+ ``λ · (1 − MS-SSIM)`` when ``keep_ms_ssim`` = λ > 0,
  which the deep method uses to hold the structure of everything it does not erase).

Both terms are means over their own samples, so the batch's composition does not change their scale.
In the paper's recipe ``z* = z − (proj(z) − t + m)·ẑ_e`` where ``proj(z) ≥ t`` (``erase_loss``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from eraser.direction import Direction
from eraser.generators.base import Generator
from eraser.metrics.ssim import ms_ssim


@dataclass
class LossParts:
    total: Tensor
    shifted: Tensor  # α·(L1 + 1 − MS-SSIM) over the moved latents, or 0
    keep: Tensor  # L1 (+ λ·(1 − MS-SSIM)) over the rest, or 0
    n_shifted: int


def shift_loss(g_new: Generator, z: Tensor, targets: Tensor, moved: Tensor, alpha: float = 1.0,
               keep_ms_ssim: float = 0.0) -> LossParts:
    """The loss of G' at latents ``z`` ``[B, D]`` against ``targets`` ``[B, 3, H, W]`` (decoded by the
    frozen G, no gradient); ``moved`` ``[B]`` marks the feature side. Gradients flow into ``g_new`` only."""
    out = g_new.decode(z.to(g_new.device))  # [B, 3, H, W]
    zero = out.new_zeros(())
    n = int(moved.sum())
    if n:
        o, t = out[moved], targets[moved]
        shifted = alpha * ((o - t).abs().mean() + (1 - ms_ssim(o, t)).mean())
    else:
        shifted = zero
    if n < len(z):
        o, t = out[~moved], targets[~moved]
        keep = (o - t).abs().mean()
        if keep_ms_ssim > 0:
            keep = keep + keep_ms_ssim * (1 - ms_ssim(o, t)).mean()
    else:
        keep = zero
    return LossParts(shifted + keep, shifted.detach(), keep.detach(), n)


def erase_loss(g_new: Generator, g_frozen: Generator, direction: Direction, z: Tensor, alpha: float = 1.0,
               margin: float = 0.0, targets: Tensor | None = None) -> LossParts:
    """The paper's loss for latents ``z`` ``[B, D]``: shift by ``direction`` with ``margin``, then ``shift_loss``.

    ``targets`` ``[B, 3, H, W]`` may be passed precomputed (they depend only on the frozen G).
    """
    z = z.to(g_new.device)
    shifted_z, moved = direction.shift(z, margin)
    if targets is None:
        with torch.no_grad():
            targets = g_frozen.decode(shifted_z)  # [B, 3, H, W]
    return shift_loss(g_new, z, targets, moved, alpha)
