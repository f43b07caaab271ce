"""Latent files: ``.npy`` float arrays ``[N, latent_dim]`` so any sample can be reproduced exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from eraser.errors import EraserError
from eraser.io import atomic_path


def load_latents(path: str | Path, latent_dim: int) -> Tensor:
    """Read latents ``[N, latent_dim]`` (float32 or float64) as a float32 CPU tensor.

    ``[N, *latent_shape]`` arrays are accepted and flattened when their size matches.
    """
    path = Path(path)
    if not path.is_file():
        raise EraserError(f"latents file {path} not found")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise EraserError(f"{path} is not a readable .npy array ({str(e).splitlines()[0]}); save latents with numpy.save") from None
    if not isinstance(arr, np.ndarray):
        raise EraserError(f"{path} holds several arrays; give a single .npy array [N, {latent_dim}]")
    if arr.dtype not in (np.float32, np.float64):
        raise EraserError(f"latents in {path} have dtype {arr.dtype}; they must be float32 (or float64)")
    if arr.ndim < 2 or int(np.prod(arr.shape[1:])) != latent_dim or arr.shape[0] == 0:
        raise EraserError(f"latents in {path} have shape {list(arr.shape)}; this generator takes [N, {latent_dim}] with N ≥ 1")
    arr = arr.reshape(arr.shape[0], latent_dim)
    if not np.isfinite(arr).all():
        raise EraserError(f"latents in {path} contain NaN or infinite values")
    return torch.from_numpy(arr.astype(np.float32, copy=False).copy())


def save_latents(path: str | Path, z: Tensor) -> Path:
    """Write latents as float32 ``.npy``, atomically."""
    path = Path(path)
    with atomic_path(path, ".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, z.detach().cpu().float().numpy())
    return path
