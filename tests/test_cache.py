"""The on-disk cache (eraser.cache) and the cached FID reference of an erase (evaluation.reference_features)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_dcgan

from eraser.cache import (
    TensorCache,
    cache_dir,
    digest_generator,
    digest_inputs,
    digest_tensors,
)
from eraser.direction import Direction
from eraser.metrics.distribution import (
    fid_from_features,
    kid_from_features,
    precision_recall,
)
from eraser.evaluation import clean_latents, reference_features


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder; the user's ~/.cache is never touched."""
    monkeypatch.delenv("ERASER_NO_CACHE", raising=False)
    monkeypatch.setenv("ERASER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the inputs are tiny, and two threads on a shared 2-core machine mostly wait
    for each other (see tests/test_metrics_distribution.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("ERASER_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("ERASER_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "eraser"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "eraser"
    monkeypatch.setenv("ERASER_NO_CACHE", "1")
    assert cache_dir() is None
    off = TensorCache("x")
    assert not off.enabled and off.put({"a": 1}, {"t": torch.ones(2)}) is None and off.get({"a": 1}) is None
    monkeypatch.setenv("ERASER_NO_CACHE", "0")
    assert cache_dir() == Path.home() / ".cache" / "eraser"


def test_round_trip_is_exact_and_keyed_by_every_input(isolated_cache):
    cache = TensorCache("ns")
    inputs = {"generator": "abc", "n": 5, "threshold": 0.83}
    t = {"features": torch.randn(5, 7, dtype=torch.float64), "idx": torch.arange(5)}
    path = cache.put(inputs, t, {"floor": {"fid": 36.882999268964085}})
    assert path == isolated_cache / "ns" / f"{digest_inputs(inputs)}.safetensors" and path.is_file()
    tensors, meta = cache.get(inputs)
    assert torch.equal(tensors["features"], t["features"]) and tensors["features"].dtype == torch.float64
    assert torch.equal(tensors["idx"], t["idx"])
    assert meta["floor"]["fid"] == 36.882999268964085  # floats survive JSON exactly
    assert cache.get({**inputs, "threshold": 0.63}) is None  # any changed input is another key
    assert cache.get({**inputs, "n": 6}) is None
    assert digest_inputs({"a": 1, "b": 2}) == digest_inputs({"b": 2, "a": 1})  # key order does not matter


def test_damaged_or_foreign_entries_are_ignored_and_rewritten(isolated_cache):
    cache = TensorCache("ns")
    inputs = {"k": 1}
    x = torch.linspace(0, 1, 1000)
    path = cache.put(inputs, {"x": x})
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # flip bits inside the tensor bytes: the file still parses, the digest does not match
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="damaged cache entry"):
        assert cache.get(inputs) is None
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.warns(RuntimeWarning, match="damaged cache entry"):
        assert cache.get(inputs) is None
    cache.put(inputs, {"x": x})  # recomputed results overwrite it
    assert torch.equal(cache.get(inputs)[0]["x"], x)
    # a valid entry of other inputs copied under this key's name is refused
    other = cache.put({"k": 2}, {"x": x + 1})
    path.write_bytes(other.read_bytes())
    with pytest.warns(RuntimeWarning, match="do not match"):
        assert cache.get(inputs) is None


def test_unwritable_cache_warns_and_goes_on(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ERASER_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="could not write the cache entry"):
        assert TensorCache("ns").put({"k": 1}, {"x": torch.ones(3)}) is None


def test_generator_digest_follows_the_weights(tmp_path):
    from eraser.generators import load_generator
    from eraser.generators.checkpoint import save_checkpoint

    g = tiny_dcgan(seed=0)
    d = digest_generator(g)
    assert digest_generator(tiny_dcgan(seed=0)) == d and digest_generator(g.copy()) == d
    assert digest_generator(tiny_dcgan(seed=1)) != d
    reloaded = load_generator(str(save_checkpoint(g, tmp_path / "ckpt", {"source": "test"})))
    assert digest_generator(reloaded) == d  # a checkpoint of the same weights shares entries
    g2 = g.copy()
    with torch.no_grad():
        next(g2.module.parameters()).view(-1)[0] += 1e-3  # one weight changed
    assert digest_generator(g2) != d
    assert digest_tensors({"a": torch.zeros(2)}) != digest_tensors({"a": torch.zeros(2, dtype=torch.float64)})


class CountingFeatures:
    """A stand-in for InceptionFeatures: a fixed random projection of the pixels to 16 dims, counting its calls."""

    def __init__(self, seed: int = 0) -> None:
        self.proj = torch.randn(3 * 64 * 64, 16, generator=torch.Generator().manual_seed(seed))  # [3·64·64, 16]
        self.seed, self.calls = seed, 0

    def fingerprint(self) -> dict:
        return {"counting-features": self.seed}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return (images.flatten(1) @ self.proj).float().double()  # float32 values, as Inception gives


def test_reference_features_come_from_the_cache_bit_for_bit(monkeypatch):
    g = tiny_dcgan(seed=0)
    unit = torch.zeros(g.latent_dim)
    unit[0] = 1.0
    direction = Direction(unit, 0.5, "test", 1.0, -1.0, 10, 10, None, 0)
    feats = CountingFeatures()
    first, floor, state = reference_features(g, None, direction, 24, 7, feats, 8)
    assert state == "miss" and feats.calls == 2 and first.shape == (24, 16)
    # the floors are the metrics between the two feature-free sets, computed here from scratch
    second_set = feats.features(g.generate(clean_latents(g, None, direction, 24, 8)))
    feats.calls = 0
    # FID streams through running moments: equal to the one-shot covariance up to float64 rounding
    assert floor["fid"] == pytest.approx(fid_from_features(first, second_set), rel=1e-9, abs=1e-9) and floor["fid"] > 0
    assert floor["kid"] == kid_from_features(first, second_set, subsets=50, subset_size=8)[0]
    assert (floor["precision"], floor["recall"]) == precision_recall(first, second_set)

    again, floor2, state2 = reference_features(g, None, direction, 24, 7, feats, 8)
    assert state2 == "hit" and feats.calls == 0  # no feature pass at all
    assert torch.equal(again, first) and again.dtype == torch.float64 and floor2 == floor

    changed = tiny_dcgan(seed=1)  # other weights: another key
    assert reference_features(changed, None, direction, 24, 7, feats, 8)[2] == "miss" and feats.calls == 2
    assert reference_features(g, None, direction, 24, 8, feats, 8)[2] == "miss"  # other seed: other latents
    assert reference_features(g, None, direction, 24, 7, CountingFeatures(seed=1), 8)[2] == "miss"  # other features
    assert reference_features(g, None, direction, 24, 7, feats, 6)[2] == "miss"  # other KID subsets

    monkeypatch.setenv("ERASER_NO_CACHE", "1")
    feats.calls = 0
    off, floor_off, state_off = reference_features(g, None, direction, 24, 7, feats, 8)
    assert state_off == "off" and feats.calls == 2 and torch.equal(off, first) and floor_off == floor


def test_inception_fingerprint_names_the_network(monkeypatch):
    from eraser.metrics.distribution import INCEPTION_RUNTIME, InceptionFeatures

    fast, plain = InceptionFeatures(), InceptionFeatures(fast=False)
    f = fast.fingerprint()
    assert f["runtime"] == INCEPTION_RUNTIME and plain.fingerprint()["runtime"] == "plain"
    assert f["network"] == plain.fingerprint()["network"] and len(f["network"]) == 64
    assert f["device"] == "cpu" and f["batch_size"] == 64


def test_statistics_shipped_beside_a_model_are_read_checked_and_never_written(monkeypatch, tmp_path, isolated_cache):
    """An entry in ``pretrained/<model>/cache/fid-reference/`` (scripts/make_reference_stats.py) serves an erase
    whose key matches, with no feature pass; the user's cache is not written by that read; a damaged shipped
    entry is a miss with a warning (then computed and stored in the user's cache, the shipped file untouched);
    ERASER_NO_CACHE ignores it."""
    import warnings

    from eraser import registry
    from eraser.evaluation import compute_reference, reference_inputs

    g = tiny_dcgan(seed=0)
    unit = torch.zeros(g.latent_dim)
    unit[0] = 1.0
    direction = Direction(unit, 0.5, "test", 1.0, -1.0, 10, 10, None, 0)
    feats = CountingFeatures()
    z_a, z_b, inputs = reference_inputs(g, None, direction, 24, 7, feats, 8)
    features, floor = compute_reference(g, z_a, z_b, feats, 8)
    root = tmp_path / "pretrained"
    shipped = TensorCache("fid-reference", folder=root / "m" / "cache", shipped=[]).put(
        inputs, {"features": features.float()}, {"floor": floor})
    assert shipped == root / "m" / "cache" / "fid-reference" / f"{digest_inputs(inputs)}.safetensors"
    monkeypatch.setattr(registry, "pretrained_root", lambda: root)

    feats.calls = 0
    got, got_floor, state = reference_features(g, None, direction, 24, 7, feats, 8)
    assert state == "shipped" and feats.calls == 0 and torch.equal(got, features) and got_floor == floor
    assert not (isolated_cache / "fid-reference").exists()  # read only: nothing copied into the user's cache
    # another seed has another key: the shipped entry does not serve it
    assert reference_features(g, None, direction, 24, 8, feats, 8)[2] == "miss"

    monkeypatch.setenv("ERASER_NO_CACHE", "1")
    feats.calls = 0
    assert reference_features(g, None, direction, 24, 7, feats, 8)[2] == "off" and feats.calls == 2
    monkeypatch.delenv("ERASER_NO_CACHE")

    raw = bytearray(shipped.read_bytes())
    raw[-3] ^= 0xFF  # one flipped byte in the tensor data: its stored digest no longer matches
    shipped.write_bytes(bytes(raw))
    feats.calls = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again, again_floor, state = reference_features(g, None, direction, 24, 7, feats, 8)
    assert state == "miss" and feats.calls == 2 and torch.equal(again, features) and again_floor == floor
    assert any("damaged cache entry" in str(w.message) and str(shipped) in str(w.message) for w in caught)
    assert shipped.read_bytes() == bytes(raw)  # the shipped file is never rewritten
    assert reference_features(g, None, direction, 24, 7, feats, 8)[2] == "hit"  # now from the user's cache
