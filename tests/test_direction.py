"""Direction estimation on planted latents: the planted direction is recovered, bad labels refused."""

from __future__ import annotations

import pytest
import torch

from eraser.direction import Direction, estimate_direction
from eraser.errors import EraserError


def planted(n=8000, d=32, seed=0):
    """Latents N(0, I); the feature is present where z·u > 1 (about 16 % of samples).

    With 8000 samples the mean difference has per-axis error ≈ sqrt(1/1270 + 1/6730) ≈ 0.03, so
    its cosine with u is ≈ 0.997 (at 2000 samples it would be ≈ 0.985).
    """
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    u /= u.norm()
    z = torch.randn(n, d, generator=g)
    y = (z @ u > 1.0).float()
    return z, y, u


@pytest.mark.parametrize("method", ["mean-difference", "linear-classifier"])
def test_recovers_planted_direction(method):
    z, y, u = planted()
    d = estimate_direction(z, y, method=method)
    assert torch.dot(d.unit, u).item() >= 0.99
    assert d.heldout_auc >= 0.99
    # threshold: midpoint of the groups' mean projections
    p = z @ d.unit
    assert d.threshold == pytest.approx(((p[y == 1].mean() + p[y == 0].mean()) / 2).item(), rel=1e-5)
    assert d.n_feature == int(y.sum()) and d.n_none == int((1 - y).sum())


def test_mean_difference_matches_formula():
    z, y, _ = planted(n=500)
    d = estimate_direction(z, y, holdout=0)
    e = z[y == 1].mean(0) - z[y == 0].mean(0)
    assert torch.allclose(d.unit, e / e.norm(), atol=1e-6)


def test_shift_moves_exactly_to_threshold_minus_margin():
    z, y, _ = planted(n=300)
    d = estimate_direction(z, y)
    shifted, moved = d.shift(z, margin=0.5)
    p_before, p_after = d.project(z), d.project(shifted)
    assert torch.equal(moved, p_before >= d.threshold)
    assert torch.allclose(p_after[moved], torch.full_like(p_after[moved], d.threshold - 0.5), atol=1e-5)
    assert torch.equal(shifted[~moved], z[~moved])
    # only the component along ẑ_e changes
    resid = (shifted - z) - ((shifted - z) @ d.unit)[:, None] * d.unit
    assert resid.abs().max() < 1e-5


def test_nan_labels_are_ignored():
    z, y, u = planted()
    y2 = y.clone()
    y2[::3] = float("nan")
    d = estimate_direction(z, y2)
    assert d.n_feature + d.n_none == int((~torch.isnan(y2)).sum())
    assert torch.dot(d.unit, u) > 0.98


def test_one_class_is_refused():
    z, _, _ = planted(n=100)
    with pytest.raises(EraserError, match="no feature samples"):
        estimate_direction(z, torch.zeros(100))
    with pytest.raises(EraserError, match="no no-feature samples"):
        estimate_direction(z, torch.ones(100))


def test_labels_that_do_not_separate_are_refused():
    z, _, _ = planted(n=1000)
    noise = (torch.rand(1000, generator=torch.Generator().manual_seed(5)) < 0.3).float()
    with pytest.raises(EraserError, match=r"do not separate in latent space \(held-out AUC 0\.[3-6]"):
        estimate_direction(z, noise)


def test_roundtrip_dict():
    z, y, _ = planted(n=400)
    d = estimate_direction(z, y)
    again = Direction.from_dict(d.to_dict())
    assert torch.equal(again.unit, d.unit) and again.threshold == d.threshold
