"""Train pretrained/digiface-<feature>-clf: the classifier that *measures* a feature on digiface-dcgan64.

``--feature eyeglasses`` (default) makes digiface-eyeglasses-clf, ``--feature headwear`` digiface-headwear-clf,
each from its own marks file, by the same recipe (deterministic on CPU for a given seed):
1. marks: assets/marks/digiface-<feature>.json (samples marked yes/no/unsure by eye); unsure dropped;
2. split by id: ids with id % 5 == 0 are held out for evaluation (never trained on), the rest train;
3. each training latent is decoded together with 7 isotropic perturbations (σ = 0.3) that keep its label
   (eraser.labelling.cnn.perturbed_latents), 8× the images;
4. a FeatureCNN (16-32-64-128 channels) is trained for 12 epochs (AdamW, one-cycle, class-balanced BCE,
   mirror/shift/brightness augmentation); scores are mirror-averaged;
5. its decision threshold (for measuring feature rates) is the lowest (0.01 grid, ≥ 0.5) with a false-positive rate ≤ 1 % on the
   *training* marks' "no" samples: a measuring classifier needs few false alarms, since at a
   false-positive rate f a perfectly erased generator would still read f of its samples as positive;
   its clean threshold (for choosing feature-free reference samples) is the highest that still calls
   ≥ 97 % of the training "yes" marks positive;
6. held-out ROC AUC, and true/false-positive rates at 0.5 and at the chosen threshold, are written to its
   provenance and to assets/reports/digiface-<feature>-clf.json.

This classifier must never be used inside the fine-tuning loss: it only measures.
Run:  python scripts/train_eyeglasses_classifier.py [--feature headwear]   (about 8 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from eraser.classifiers import save_classifier
from eraser.generators import load_generator
from eraser.io import sha256_file, write_json
from eraser.registry import notice_text
from eraser.terms import LICENCE_FILE, provenance_fields, shipped_files
from eraser.labelling.cnn import CNNLabeller, perturbed_latents, threshold_for_fpr, threshold_for_tpr, train_cnn
from eraser.labelling.marks import load_marks

REPO = Path(__file__).resolve().parents[1]
FEATURES = ("eyeglasses", "headwear")
WIDTHS = (16, 32, 64, 128)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feature", choices=FEATURES, default="eyeglasses")
    ap.add_argument("--out", type=Path, help="default: pretrained/digiface-<feature>-clf")
    ap.add_argument("--report", type=Path, help="default: assets/reports/digiface-<feature>-clf.json")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--sigma", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-fpr", type=float, default=0.01, help="false-positive rate on training 'no' marks")
    ap.add_argument("--clean-tpr", type=float, default=0.97, help="share of training 'yes' marks above the clean cut")
    args = ap.parse_args()
    name = f"digiface-{args.feature}-clf"
    marks_path = REPO / "assets" / "marks" / f"digiface-{args.feature}.json"
    args.out = args.out or REPO / "pretrained" / name
    args.report = args.report or REPO / "assets" / "reports" / f"{name}.json"
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.time()

    marks = load_marks(marks_path)
    gen = load_generator(marks.generator)
    held = marks.heldout()
    labels = np.array(marks.labels)
    decided = labels != "unsure"
    test = decided & held
    train = decided & ~held
    y = torch.tensor((labels == "yes").astype(np.float32))

    g = torch.Generator().manual_seed(args.seed)
    tr = np.flatnonzero(train)
    z_train = perturbed_latents(marks.z[tr], args.copies, args.sigma, g)
    x_train = gen.generate(z_train)  # [copies·N, 3, 64, 64]
    y_train = y[tr].repeat(args.copies)
    x_test, y_test = gen.generate(marks.z[np.flatnonzero(test)]), y[np.flatnonzero(test)]

    def log(rec):
        print(f"epoch {rec.epoch + 1}/{args.epochs} loss {rec.loss:.3f} held-out AUC {rec.val_auc:.4f} "
              f"({time.time() - t0:.0f}s)", flush=True)

    net = train_cnn(x_train, y_train, epochs=args.epochs, seed=args.seed, widths=WIDTHS, val=(x_test, y_test), on_epoch=log)

    from sklearn.metrics import roc_auc_score

    labeller = CNNLabeller(net)
    scores = labeller.score_images(x_test).numpy()
    train_no = np.flatnonzero(train & (labels == "no"))
    threshold = threshold_for_fpr(labeller.score_images(gen.generate(marks.z[train_no])), args.max_fpr)
    train_yes = np.flatnonzero(train & (labels == "yes"))
    clean_threshold = threshold_for_tpr(labeller.score_images(gen.generate(marks.z[train_yes])), args.clean_tpr)
    auc = float(roc_auc_score(y_test.numpy(), scores))
    yt = y_test.numpy().astype(bool)

    def rates(t: float) -> dict:
        return {"threshold": t, "accuracy": round(float(((scores >= t) == yt).mean()), 4),
                "tpr": round(float((scores[yt] >= t).mean()), 4), "fpr": round(float((scores[~yt] >= t).mean()), 4)}

    seconds = time.time() - t0
    evaluation = {
        "heldout_auc": round(auc, 4),
        "heldout_at_0.5": rates(0.5),
        "heldout_at_threshold": rates(threshold),
        "heldout_at_clean_threshold": rates(clean_threshold),
        "clean_threshold_rule": f"highest threshold still calling >= {args.clean_tpr} of the training 'yes' marks positive; "
                                "samples scoring below it serve as feature-free references",
        "threshold_rule": f"lowest threshold with false-positive rate <= {args.max_fpr} on the training 'no' marks",
        "heldout": {"rule": "marks with id % 5 == 0, unsure dropped", "n": int(test.sum()),
                    "yes": int(y_test.sum()), "no": int(len(y_test) - y_test.sum())},
        "train": {"rule": "marks with id % 5 != 0, unsure dropped", "n_marks": int(train.sum()),
                  "yes": int(y[tr].sum()), "images": len(x_train), "copies": args.copies, "sigma": args.sigma},
        "epochs": args.epochs,
        "seed": args.seed,
        "train_seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(),
    }
    provenance = {
        "name": name,
        "description": f"{args.feature} classifier for digiface-dcgan64 samples (64x64, [-1,1]); measures erasure, never trains it",
        "parameters": sum(p.numel() for p in net.parameters()),
        "source": {"marks": f"assets/marks/{marks_path.name}", "marks_sha256": sha256_file(marks_path),
                   "generator": "digiface-dcgan64"},
        "licence": {"spdx": "MIT", "note": "trained in this repo from its own marks; generator weights MIT (gan-face-generate)",
                    "file": LICENCE_FILE},
        **provenance_fields(name),
        "made_by": "python scripts/train_eyeglasses_classifier.py"
                   + ("" if args.feature == "eyeglasses" else f" --feature {args.feature}"),
        "evaluation": evaluation,
        "torch_version": torch.__version__,
    }
    config = {"kind": "cnn", "feature": args.feature, "init_args": {"widths": list(WIDTHS)}, "threshold": threshold,
              "clean_threshold": clean_threshold, "input": "images [N, 3, 64, 64] in [-1, 1]"}
    save_classifier(args.out, net.state_dict(), config, provenance, overwrite=True,
                    extra_files={"NOTICE-PROVENANCE.md": notice_text(provenance), **shipped_files(name)})
    args.report.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.report, evaluation)
    print(f"held-out AUC {auc:.4f} on {int(test.sum())} marks; threshold {threshold}: {evaluation['heldout_at_threshold']}; "
          f"wrote {args.out} in {seconds:.0f}s")


if __name__ == "__main__":
    main()
