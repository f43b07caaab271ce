"""Image conversions and grids (torchvision's ``make_grid`` underneath), written atomically."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from eraser.io import atomic_path


def to_uint8(x: Tensor) -> np.ndarray:
    """Images ``[N, 3, H, W]`` in [-1, 1] → ``uint8 [N, H, W, 3]`` (round half to even, clamped)."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def grid_image(
    x: Tensor, nrow: int | None = None, padding: int = 2, scale: int = 1, labels: Sequence[str] | None = None
):
    """A PIL image tiling ``x`` ``[N, 3, H, W]`` in [-1, 1], ``nrow`` images per row.

    ``scale`` enlarges each image (nearest neighbour) before tiling; ``labels`` writes a caption
    in each tile's top-left corner (sample numbers on marking grids).
    """
    import torchvision.utils as vutils
    from PIL import Image, ImageDraw, ImageFont

    n = len(x)
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    x = x.detach().float().cpu().clamp(-1, 1)
    if scale > 1:
        x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")
    grid = vutils.make_grid((x + 1) / 2, nrow=nrow, padding=padding, pad_value=1.0)  # [3, H', W'] in [0, 1]
    img = Image.fromarray((grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    if labels is not None:
        draw = ImageDraw.Draw(img)
        h, w = x.shape[-2:]
        font = ImageFont.load_default(size=max(10, h // 7))
        for i, text in enumerate(labels):
            cx = (i % nrow) * (w + padding) + padding
            cy = (i // nrow) * (h + padding) + padding
            box = draw.textbbox((cx + 2, cy), text, font=font)
            draw.rectangle((cx, cy, box[2] + 2, box[3] + 2), fill="black")
            draw.text((cx + 2, cy), text, fill="yellow", font=font)
    return img


def save_grid(x: Tensor, path: str | Path, **kwargs) -> Path:
    """Write ``grid_image(x, **kwargs)`` to ``path`` (format from its suffix), atomically."""
    path = Path(path)
    img = grid_image(x, **kwargs)
    with atomic_path(path, path.suffix) as tmp:
        img.save(tmp, format=pil_format(path))
    return path


def pil_format(path: Path) -> str:
    return {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
#: the largest image eraser reads (pixels): far above any photo, far below a decompression bomb
MAX_PIXELS = 50_000_000


def load_images(paths: Sequence[str | Path], size: tuple[int, int]) -> tuple[Tensor, list[Path]]:
    """Read image files (or every image in the given folders, sorted) as ``[N, 3, H, W]`` in [-1, 1].

    Each image is converted to RGB and resized to ``size`` (H, W) with bicubic filtering. Returns the
    images and the files they came from, in order.
    """
    from PIL import Image, UnidentifiedImageError

    from eraser.errors import EraserError

    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise EraserError(f"image path {p} does not exist")
    if not files:
        raise EraserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(map(str, paths))}")
    out = []
    for f in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(f) as im:
                    if im.width * im.height > MAX_PIXELS:
                        raise EraserError(f"image {f} is {im.width}×{im.height} pixels, more than eraser reads "
                                          f"({MAX_PIXELS:,}); resize it first")
                    im = im.convert("RGB").resize((size[1], size[0]), Image.Resampling.BICUBIC)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise EraserError(f"image {f} claims more pixels than eraser reads ({MAX_PIXELS:,}); resize it first") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
            raise EraserError(f"cannot read image {f} ({type(e).__name__}); give PNG or JPEG files") from None
        out.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1))
    x = torch.stack(out).float() / 127.5 - 1.0
    return x, files
