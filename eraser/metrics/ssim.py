"""MS-SSIM (Wang, Simoncelli & Bovik 2003) for small images, through torchmetrics.

torchmetrics' ``multiscale_structural_similarity_index_measure`` with an 11-px Gaussian window
(σ = 1.5), ``normalize="relu"`` (finite gradients), and as many of Wang et al.'s five scale weights
as the image size allows, renormalised to sum 1: three scales for 64×64 images.
"""

from __future__ import annotations

from torch import Tensor

#: Wang et al.'s five scale weights; 64×64 images use the first three, renormalised
WANG_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def betas_for(size: int, kernel_size: int = 11, max_scales: int = 5) -> tuple[float, ...]:
    """As many of ``WANG_BETAS`` (renormalised to sum 1) as torchmetrics accepts for images of ``size`` px."""
    scales = max_scales
    while scales > 1 and (size // max(1, scales - 1) ** 2 <= kernel_size - 1 or size < 2**scales):
        scales -= 1
    b = WANG_BETAS[:scales]
    return tuple(v / sum(b) for v in b)


def ms_ssim(x: Tensor, y: Tensor, data_range: float = 2.0, betas: tuple[float, ...] | None = None) -> Tensor:
    """Per-sample MS-SSIM ``[N]`` of images ``[N, C, H, W]`` (default: values in [-1, 1]); differentiable."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    betas = betas or betas_for(min(x.shape[-2:]))
    return msssim(x, y, data_range=data_range, betas=betas, kernel_size=11, sigma=1.5, reduction="none",
                  normalize="relu")
