"""How good is a probe trained from n marks? Cross-validated and held-out AUC against n.

Protocol: Inception (FID network, 299 px) embeddings of the 1728 marked digiface-dcgan64 samples
(assets/marks/digiface-eyeglasses.json, unsure dropped). Held out: marks with id % 5 == 0. For each n,
5 random subsets of n marks from the rest, stratified at the marks' own yes rate (at least 10 yes,
the probe's minimum); each trains eraser's probe (StandardScaler + logistic regression, C=0.1,
balanced), which reports its 5-fold cross-validated AUC; the same probe is scored on the held-out marks.

Run:  python scripts/eval_probe_vs_marks.py [--cache embeddings.npy]
(the embeddings take about 10 minutes on 2 CPU cores; --cache stores/reuses them, checked on 8 rows)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from eraser.generators import load_generator
from eraser.io import write_json
from eraser.labelling.embedders import InceptionEmbedder
from eraser.labelling.marks import load_marks
from eraser.labelling.probe import MIN_PER_CLASS, ProbeHead, embed_all, train_probe

REPO = Path(__file__).resolve().parents[1]
SIZES = (50, 100, 200, 400, 800, 1200)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help=".npy of the embeddings (written if missing)")
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "reports" / "probe_vs_marks.json")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    t0 = time.time()
    marks = load_marks(REPO / "assets" / "marks" / "digiface-eyeglasses.json")
    gen = load_generator(marks.generator)
    emb = InceptionEmbedder(299)
    x = gen.generate(marks.z)
    if args.cache and args.cache.is_file():
        e = np.load(args.cache)
        check = embed_all(emb, x[:8]).numpy()
        if e.shape != (len(x), 2048) or np.abs(e[:8] - check).max() > 1e-3:
            raise SystemExit(f"{args.cache} does not hold these embeddings; delete it")
    else:
        e = embed_all(emb, x).numpy()
        if args.cache:
            np.save(args.cache, e)
    t_embed = time.time() - t0

    labels = np.array(marks.labels)
    heldout = marks.heldout()
    y = (labels == "yes").astype(int)
    decided = labels != "unsure"
    test = decided & heldout
    pool_yes = np.flatnonzero(decided & ~heldout & (y == 1))
    pool_no = np.flatnonzero(decided & ~heldout & (y == 0))
    rate = len(pool_yes) / (len(pool_yes) + len(pool_no))
    rows = []
    for n in SIZES:
        n_yes = max(MIN_PER_CLASS, round(rate * n))
        cv, held = [], []
        for r in range(args.repeats):
            g = np.random.default_rng(1000 * n + r)
            idx = np.concatenate([g.choice(pool_yes, n_yes, replace=False), g.choice(pool_no, n - n_yes, replace=False)])
            fit = train_probe(e[idx], y[idx], seed=r)
            s = ProbeHead.from_fit(fit)(torch.tensor(e[test], dtype=torch.float32)).numpy()
            cv.append(fit.cv_auc)
            held.append(roc_auc_score(y[test], s))
        rows.append({"n_marks": n, "n_yes": n_yes, "cv_auc_mean": round(float(np.mean(cv)), 4),
                     "cv_auc_std": round(float(np.std(cv)), 4), "heldout_auc_mean": round(float(np.mean(held)), 4),
                     "heldout_auc_std": round(float(np.std(held)), 4)})
        print(rows[-1], flush=True)
    write_json(args.out, {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "embedder": emb.spec(),
        "heldout": {"n": int(test.sum()), "yes": int(y[test].sum())},
        "repeats": args.repeats,
        "results": rows,
        "embedding_seconds": round(t_embed, 1),
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
