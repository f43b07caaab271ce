"""Decode latents and write the samples: a PNG grid or a float32 ``.npy`` array, plus the latents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.images import grid_image, pil_format
from eraser.io import atomic_path, check_writable
from eraser.latents import write_npy

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def output_format(out: Path, fmt: str | None) -> str:
    """``png`` (an image grid) or ``npy`` (an array), from ``fmt`` or the suffix of ``out``."""
    if fmt is not None:
        return fmt
    if out.suffix.lower() in IMAGE_SUFFIXES:
        return "png"
    if out.suffix.lower() == ".npy":
        return "npy"
    raise EraserError(f"cannot tell the output format from {out.name}; end --out in .png or .npy, or pass --format")


def default_latents_path(out: Path) -> Path:
    return out.with_name(out.stem + ".latents.npy")


def write_samples(
    generator: Generator,
    z: Tensor,
    out: Path,
    fmt: str,
    latents_out: Path,
    batch_size: int = 256,
    nrow: int | None = None,
) -> None:
    """Decode ``z`` ``[N, latent_dim]`` with ``generator`` and write images and latents.

    ``npy``: float32 ``[N, 3, H, W]`` in [-1, 1], streamed batch by batch into a memory map, so
    large N never sits in memory twice. Both files appear complete or not at all.
    """
    for p in (out, latents_out):
        check_writable(p)
    if out.resolve() == latents_out.resolve():
        raise EraserError(f"--out and the latents file are the same path {out}; choose another --out")
    with atomic_path(out, out.suffix) as tmp_out, atomic_path(latents_out, ".npy") as tmp_lat:
        if fmt == "npy":
            first = generator.generate(z[:1])
            arr = np.lib.format.open_memmap(tmp_out, mode="w+", dtype=np.float32, shape=(len(z), *first.shape[1:]))
            for i in range(0, len(z), batch_size):
                arr[i : i + batch_size] = generator.generate(z[i : i + batch_size], batch_size).numpy()
            arr.flush()
            del arr
        else:
            grid_image(generator.generate(z, batch_size), nrow=nrow).save(tmp_out, format=pil_format(out))
        write_npy(tmp_lat, z)
