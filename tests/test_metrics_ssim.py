"""MS-SSIM: hand-computable values on constant images, identity, monotonicity, scale choice."""

from __future__ import annotations

import pytest
import torch

from eraser.metrics.ssim import betas_for, ms_ssim


def test_scales_for_small_images():
    assert len(betas_for(64)) == 3 and len(betas_for(32)) == 2 and len(betas_for(256)) == 5
    assert sum(betas_for(64)) == pytest.approx(1.0)
    assert betas_for(64)[0] == pytest.approx(0.0448 / (0.0448 + 0.2856 + 0.3001))


def test_constant_images_by_hand():
    """Constant images have zero variance: contrast·structure = c2/c2 = 1 at every scale, so
    MS-SSIM = luminance^β_last with luminance = (2ab + c1) / (a² + b² + c1), c1 = (0.01 · 2)²."""
    a, b = 0.5, 0.3
    x, y = torch.full((1, 3, 64, 64), a), torch.full((1, 3, 64, 64), b)
    c1 = (0.01 * 2.0) ** 2
    luminance = (2 * a * b + c1) / (a * a + b * b + c1)
    expected = luminance ** betas_for(64)[-1]
    assert ms_ssim(x, y).item() == pytest.approx(expected, rel=1e-5)  # 0.9423


def test_identity_and_monotone_in_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    assert torch.allclose(ms_ssim(x, x), torch.ones(4))
    noise = torch.randn(4, 3, 64, 64, generator=g)
    values = [ms_ssim(x, (x + s * noise).clamp(-1, 1)).mean().item() for s in (0.05, 0.2, 0.5)]
    assert values[0] > values[1] > values[2] > 0


def test_gradients_are_finite():
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_()
    ms_ssim(x, torch.zeros(2, 3, 64, 64)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
