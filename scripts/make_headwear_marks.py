"""Build assets/marks/digiface-headwear.json (+ latents) from the annotators' raw marks.

Samples, in id order:
1. ``random``: 1,536 samples of digiface-dcgan64 drawn at random (``eraser marks grid -g digiface-dcgan64 --n 1536
   --seed 2 --feature headwear --per-grid 48``; latents = ``sample_latents(1536, seed=2)``, checked here), so their
   rates are unbiased. None of them is a latent of the eyeglasses marks (seed 1).
2. ``suggested``: the samples a probe trained on the random marks was least sure of, drawn from fresh candidates
   (``eraser marks suggest --marks <random marks> --candidates 2500 --seed 3 --k 240``), as a user of this tool
   would find more rare positives; their latents are committed beside the raw marks
   (``annotations/digiface-headwear/suggested.latents.npy``). Not a random sample: leave them out of rates.
3. ``suggested2``: a second round, the same way, from a probe trained on parts 1 and 2 (the marks this script
   wrote before it), on fresh candidates of a new seed (``eraser marks suggest --marks <marks of parts 1–2>
   --candidates 2500 --seed 4 --k 96``); latents in ``annotations/digiface-headwear/suggested2.latents.npy``.

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


#: the suggestion rounds, in id order: (part name = raw-file prefix and latents file stem, command that made it)
ROUNDS = (
    ("suggested", "eraser marks suggest -g digiface-dcgan64 --marks <the random marks> --candidates 2500 --seed 3 "
                  "--k 240 -o DIR"),
    ("suggested2", "eraser marks suggest -g digiface-dcgan64 --marks <the random and first suggested marks> "
                   "--candidates 2500 --seed 4 --k 96 -o DIR"),
)


def part(prefix: str, n: int) -> list[str]:
    marks = raw_marks(prefix)
    if sorted(marks) != list(range(n)):
        raise SystemExit(f"{prefix} marks cover {len(marks)} ids, expected 0..{n - 1}")
    return [marks[i] for i in range(n)]


def main() -> None:
    g = load_generator("digiface-dcgan64")
    zs = [g.sample_latents(N_RANDOM, SEED_RANDOM).float().cpu()]
    labels = part("random", N_RANDOM)
    sampling: dict[str, dict] = {
        "random": {"ids": [0, N_RANDOM - 1], "generator": "digiface-dcgan64", "n": N_RANDOM, "seed": SEED_RANDOM,
                   "command": f"eraser marks grid --generator digiface-dcgan64 --n {N_RANDOM} --seed {SEED_RANDOM} "
                              "--feature headwear --per-grid 48 --out DIR"}}
    for prefix, command in ROUNDS:
        z = torch.from_numpy(np.asarray(read_npy(RAW / f"{prefix}.latents.npy"), dtype=np.float32))
        start = len(labels)
        labels += part(prefix, len(z))
        zs.append(z)
        sampling[prefix] = {"ids": [start, start + len(z) - 1], "n": len(z), "command": command,
                            "note": "chosen by a probe's uncertainty, not at random: leave them out of rates"}
    z = torch.cat(zs)
    if len({row.numpy().tobytes() for row in z}) != len(z):
        raise SystemExit("a latent appears twice")
    extra = {
        "rubric": RUBRIC,
        "sampling": sampling,
        "made_by": "python scripts/make_headwear_marks.py from assets/marks/annotations/digiface-headwear/",
        "annotators": "AI agents in this project's development sessions (not people), one per share of grids; "
                      "notes beside the raw marks (suggested2: ai-agent-f, one pass, not cross-checked)",
    }
    marks = Marks(z=z, labels=labels, feature="headwear", generator="digiface-dcgan64")
    save_marks(OUT, marks, extra=extra)
    counts = {lab: labels.count(lab) for lab in ("yes", "no", "unsure")}
    rnd = labels[:N_RANDOM]
    print(f"wrote {OUT.name}: {counts}; random part: yes {rnd.count('yes')} / {N_RANDOM} "
          f"({100 * rnd.count('yes') / N_RANDOM:.1f} %)")


if __name__ == "__main__":
    main()
