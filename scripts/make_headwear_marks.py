"""Build assets/marks/digiface-headwear.json (+ latents) from the annotators' raw marks.

Samples, in id order:
1. ``random``: 1,536 samples of digiface-dcgan64 drawn at random (``eraser marks grid -g digiface-dcgan64 --n 1536
   --seed 2 --feature headwear --per-grid 48``; latents = ``sample_latents(1536, seed=2)``, checked here), so their
   rates are unbiased. None of them is a latent of the eyeglasses marks (seed 1).
2. ``suggested``: the samples a probe trained on the random marks was least sure of, drawn from fresh candidates
   (``eraser marks suggest --marks <random marks> --candidates 2500 --seed 3 --k 240``), as a user of this tool
   would find more rare positives; their latents are committed beside the raw marks
   (``annotations/digiface-headwear/suggested.latents.npy``). Not a random sample: leave them out of rates.

Raw marks: ``annotations/digiface-headwear/<part>.json``, one file per annotator and share of grids
(``{"annotator", "grids", "marks": {id: label}}``), with the annotator's notes beside it. The annotators were
AI agents viewing the grids at 2x and enlarged crops, not people; see assets/marks/README.md.

Run:  python scripts/make_headwear_marks.py   (seconds; deterministic)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from eraser.generators import load_generator
from eraser.labelling.marks import Marks, save_marks
from eraser.latents import read_npy

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "assets" / "marks" / "annotations" / "digiface-headwear"
OUT = REPO / "assets" / "marks" / "digiface-headwear.json"
N_RANDOM, SEED_RANDOM = 1536, 2
RUBRIC = " ".join(line.strip() for line in (RAW / "RUBRIC.md").read_text().splitlines()[2:] if line.strip())


def raw_marks(prefix: str) -> dict[int, str]:
    marks: dict[int, str] = {}
    for f in sorted(RAW.glob(f"{prefix}-*.json")):
        for k, v in json.loads(f.read_text())["marks"].items():
            if int(k) in marks:
                raise SystemExit(f"{f.name}: id {k} marked twice")
            marks[int(k)] = v
    return marks


def main() -> None:
    g = load_generator("digiface-dcgan64")
    z_random = g.sample_latents(N_RANDOM, SEED_RANDOM).float().cpu()
    random_marks = raw_marks("random")
    if sorted(random_marks) != list(range(N_RANDOM)):
        raise SystemExit(f"random marks cover {len(random_marks)} ids, expected 0..{N_RANDOM - 1}")
    z_sugg = torch.from_numpy(np.asarray(read_npy(RAW / "suggested.latents.npy"), dtype=np.float32))
    sugg_marks = raw_marks("suggested")
    if sorted(sugg_marks) != list(range(len(z_sugg))):
        raise SystemExit(f"suggested marks cover {len(sugg_marks)} ids, expected 0..{len(z_sugg) - 1}")
    z = torch.cat([z_random, z_sugg])
    labels = [random_marks[i] for i in range(N_RANDOM)] + [sugg_marks[i] for i in range(len(z_sugg))]
    n_s = len(z_sugg)
    extra = {
        "rubric": RUBRIC,
        "sampling": {
            "random": {"ids": [0, N_RANDOM - 1], "generator": "digiface-dcgan64", "n": N_RANDOM, "seed": SEED_RANDOM,
                       "command": f"eraser marks grid --generator digiface-dcgan64 --n {N_RANDOM} --seed {SEED_RANDOM} "
                                  "--feature headwear --per-grid 48 --out DIR"},
            "suggested": {"ids": [N_RANDOM, N_RANDOM + n_s - 1], "n": n_s,
                          "command": "eraser marks suggest -g digiface-dcgan64 --marks <the random marks> "
                                     "--candidates 2500 --seed 3 --k 240 -o DIR",
                          "note": "chosen by a probe's uncertainty, not at random: leave them out of rates"},
        },
        "made_by": "python scripts/make_headwear_marks.py from assets/marks/annotations/digiface-headwear/",
        "annotators": "AI agents in this project's development sessions (not people), one per share of grids; "
                      "notes beside the raw marks",
    }
    marks = Marks(z=z, labels=labels, feature="headwear", generator="digiface-dcgan64")
    save_marks(OUT, marks, extra=extra)
    counts = {lab: labels.count(lab) for lab in ("yes", "no", "unsure")}
    rnd = labels[:N_RANDOM]
    print(f"wrote {OUT.name}: {counts}; random part: yes {rnd.count('yes')} / {N_RANDOM} "
          f"({100 * rnd.count('yes') / N_RANDOM:.1f} %)")


if __name__ == "__main__":
    main()
