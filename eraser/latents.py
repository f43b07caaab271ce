"""Latent files: ``.npy`` float arrays ``[N, latent_dim]`` so any sample can be reproduced exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from eraser.errors import EraserError
from eraser.io import atomic_path


def read_npy(path: str | Path, what: str = "latents file") -> np.ndarray:
    """A float32/float64 ``.npy`` array of finite values, or a one-line error naming ``what`` and the problem."""
    path = Path(path)
    if not path.is_file():
        raise EraserError(f"{what} {path} not found")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, TypeError) as e:
        first = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
        raise EraserError(f"{what} {path} is not a readable .npy array ({first}); save latents with numpy.save") from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise EraserError(f"{what} {path} holds several arrays; give a single .npy array")
    if arr.dtype not in (np.float32, np.float64):
        raise EraserError(f"{what} {path} has dtype {arr.dtype}; latents must be float32 (or float64)")
    with np.errstate(over="ignore"):  # an overflow to inf is reported below
        finite = np.isfinite(arr.astype(np.float32).reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1))
    if not finite.all():  # checked as float32, the precision eraser computes in
        row = int(np.argwhere(~finite)[0][0])
        raise EraserError(f"{what} {path} contains NaN or infinite values (first in row {row}); regenerate it")
    return arr


def load_latents(path: str | Path, latent_dim: int) -> Tensor:
    """Read latents ``[N, latent_dim]`` (float32 or float64) as a float32 CPU tensor.

    ``[N, *latent_shape]`` arrays are accepted and flattened when their size matches.
    """
    path = Path(path)
    arr = read_npy(path)
    if arr.ndim < 2 or int(np.prod(arr.shape[1:])) != latent_dim or arr.shape[0] == 0:
        raise EraserError(f"latents in {path} have shape {list(arr.shape)}; this generator takes [N, {latent_dim}] with N ≥ 1")
    arr = arr.reshape(arr.shape[0], latent_dim)
    return torch.from_numpy(arr.astype(np.float32, copy=False).copy())


def save_latents(path: str | Path, z: Tensor) -> Path:
    """Write latents as float32 ``.npy``, atomically."""
    path = Path(path)
    with atomic_path(path, ".npy") as tmp:
        write_npy(tmp, z)
    return path


def write_npy(path: Path, z: Tensor) -> None:
    """Write latents as float32 ``.npy`` to ``path`` directly (a temporary path of ``atomic_path``)."""
    with open(path, "wb") as f:
        np.save(f, z.detach().cpu().float().numpy())
