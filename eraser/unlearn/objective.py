"""The fine-tuning objective of Moon, Cho & Kim (AAAI 2024): latent-shift targets from the frozen G.

For a batch of latents z, split by the feature direction (``Direction``):

* proj(z) ≥ t  (the feature side): target ``G(z − (proj(z) − t + m)·ẑ_e)``, the same sample with the
  feature pushed out; loss ``α · (L1 + (1 − MS-SSIM))`` (+ ``λ_lpips · LPIPS`` when given);
* proj(z) < t: target ``G(z)`` itself; loss ``L1``.

Both terms are means over their own samples, so the batch's composition does not change their scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from eraser.direction import Direction
from eraser.generators.base import Generator
from eraser.metrics.ssim import ms_ssim

@dataclass
class LossParts:
    total: Tensor
    shifted: Tensor  # α·(L1 + 1 − MS-SSIM [+ LPIPS]) over the feature side, or 0
    keep: Tensor  # L1 over the rest, or 0
    n_shifted: int


def erase_loss(
    g_new: Generator,
    g_frozen: Generator,
    direction: Direction,
    z: Tensor,
    alpha: float = 1.0,
    margin: float = 0.0,
    perceptual: Callable[[Tensor, Tensor], Tensor] | None = None,
    perceptual_weight: float = 0.0,
    targets: Tensor | None = None,
) -> LossParts:
    """The loss for latents ``z`` ``[B, D]``; gradients flow into ``g_new`` only.

    ``targets`` ``[B, 3, H, W]`` may be passed precomputed (they depend only on the frozen G).
    ``perceptual(x, y) -> [B]`` is an optional LPIPS-like distance added on the shifted samples.
    """
    z = z.to(g_new.device)
    shifted_z, moved = direction.shift(z, margin)
    if targets is None:
        with torch.no_grad():
            targets = g_frozen.decode(shifted_z)  # [B, 3, H, W]
    out = g_new.decode(z)  # [B, 3, H, W]
    zero = out.new_zeros(())
    n = int(moved.sum())
    if n:
        o, t = out[moved], targets[moved]
        shifted = (o - t).abs().mean() + (1 - ms_ssim(o, t)).mean()
        if perceptual is not None and perceptual_weight > 0:
            shifted = shifted + perceptual_weight * perceptual(o, t).mean()
        shifted = alpha * shifted
    else:
        shifted = zero
    keep = (out[~moved] - targets[~moved]).abs().mean() if n < len(z) else zero
    return LossParts(shifted + keep, shifted.detach(), keep.detach(), n)
