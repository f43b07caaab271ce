"""Place the eyeglasses marks of digiface-dcgan64 in faces-vae64's latent space.

Each marked DCGAN sample (assets/marks/digiface-eyeglasses.json) is decoded and encoded by the VAE
(posterior mean), keeping its yes/no/unsure mark. The result labels the VAE for an erase:
assets/marks/faces-vae64-eyeglasses.json (+ .latents.npy). Deterministic.

Run:  python scripts/make_vae_marks.py [--vae faces-vae64] [--out assets/marks/faces-vae64-eyeglasses.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eraser.generators import load_generator
from eraser.io import sha256_file
from eraser.labelling.marks import load_marks, save_marks
from eraser.labelling.workflow import encode_marks

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--marks", type=Path, default=REPO / "assets/marks/digiface-eyeglasses.json")
    ap.add_argument("--source", default="digiface-dcgan64")
    ap.add_argument("--vae", default="faces-vae64")
    ap.add_argument("--out", type=Path, default=REPO / "assets/marks/faces-vae64-eyeglasses.json")
    args = ap.parse_args()
    marks = load_marks(args.marks)
    moved = encode_marks(marks, load_generator(args.source), load_generator(args.vae))
    moved.generator = args.vae
    save_marks(args.out, moved, extra={"transferred_from": {
        "marks": str(args.marks.relative_to(REPO)) if args.marks.is_relative_to(REPO) else str(args.marks),
        "marks_sha256": sha256_file(args.marks),
        "source_generator": args.source,
        "how": "each marked sample of the source generator encoded by the VAE (posterior mean); labels unchanged",
        "made_by": "python scripts/make_vae_marks.py",
    }})
    print(f"wrote {args.out}: {moved.counts()}")


if __name__ == "__main__":
    main()
