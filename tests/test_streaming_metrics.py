"""FID/KID/precision-recall on the erase's main path stream batch by batch, and give the numbers the former
one-shot path (all images decoded, then the functions on whole feature sets) gives: KID, precision and
recall exactly, FID to float64 rounding (running moments instead of one covariance; |Δ| ≤ 1e-9·FID)."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_dcgan

from eraser import evaluation
from eraser.direction import Direction
from eraser.metrics import distribution
from eraser.metrics.distribution import fid_from_features, kid_from_features, precision_recall

N = 300  # more than one streamed batch (evaluation.STREAM_BATCH = 256)


class ProjectedFeatures:
    """A stand-in for InceptionFeatures: a fixed random projection of the pixels to 16 dims; records batch sizes."""

    sizes: list[int] = []

    def __init__(self, device: str = "cpu") -> None:
        self.proj = torch.randn(3 * 64 * 64, 16, generator=torch.Generator().manual_seed(3))  # [3·64·64, 16]

    def fingerprint(self) -> dict:
        return {"projected-features": 3}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        ProjectedFeatures.sizes.append(len(images))
        return (images.flatten(1) @ self.proj).float().double()  # float32 values, as Inception gives


def test_streamed_distribution_metrics_equal_the_one_shot_path(monkeypatch):
    monkeypatch.setenv("ERASER_NO_CACHE", "1")
    monkeypatch.setattr(distribution, "InceptionFeatures", ProjectedFeatures)
    g, g_new = tiny_dcgan(seed=0), tiny_dcgan(seed=1)
    unit = torch.zeros(g.latent_dim)
    unit[0] = 1.0
    direction = Direction(unit, 0.5, "test", 1.0, -1.0, 10, 10, None, 0)
    ProjectedFeatures.sizes = []
    d = evaluation.distribution_metrics(g, g_new, None, direction, N, 11, "cpu", "the direction")
    assert max(ProjectedFeatures.sizes) <= evaluation.STREAM_BATCH and sum(ProjectedFeatures.sizes) == 3 * N

    # the former path: decode everything, then the one-shot functions on whole feature sets
    feats = ProjectedFeatures()
    clean_a = feats.features(g.generate(evaluation.clean_latents(g, None, direction, N, 11)))
    clean_b = feats.features(g.generate(evaluation.clean_latents(g, None, direction, N, 12)))
    erased = feats.features(g_new.generate(g.sample_latents(N, 13)))
    subset = N // 2
    assert d.fid.floor == pytest.approx(fid_from_features(clean_a, clean_b), rel=1e-9)
    assert d.fid.erased_vs_clean == pytest.approx(fid_from_features(clean_a, erased), rel=1e-9)
    kid_floor = kid_from_features(clean_a, clean_b, subsets=50, subset_size=subset)
    kid = kid_from_features(clean_a, erased, subsets=50, subset_size=subset)
    assert d.kid_x1000.floor == 1000 * kid_floor[0] and d.kid_x1000.erased_vs_clean == 1000 * kid[0]
    assert d.kid_x1000.std_erased == 1000 * kid[1] and d.kid_x1000.subset_size == subset
    assert (d.precision.floor, d.recall.floor) == precision_recall(clean_a, clean_b)
    assert (d.precision.erased_vs_clean, d.recall.erased_vs_clean) == precision_recall(clean_a, erased)
    assert d.fid.protocol == "fid300_inception_vs_clean" and d.reference_cache == "off"
