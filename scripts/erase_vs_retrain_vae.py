"""Erase eyeglasses from faces-vae64, and retrain it from scratch without them: cost and quality side by side.

One run, one machine:
1. retrain: the faces-vae64 recipe (eraser/vae_recipe.py, the shipped model's recorded settings) on a
   training set from which the shipped classifier's flagged samples (score >= its clean threshold) are
   left out: exact unlearning, the gold standard;
2. erase: the README's `eraser erase` pipeline on faces-vae64 with the eyeglasses marks moved into its
   latent space (assets/marks/faces-vae64-eyeglasses.json), guards and report included;
3. evaluate original, erased and retrained on the same latents and reference sets: feature rate by
   digiface-eyeglasses-clf (never used by the erase's fine-tuning) on fresh prior samples, FID/KID×1000/
   precision/recall against the original's feature-free samples, with the floor (two draws of those).

Caveat stated in the output: the retrain's filter is the same classifier that measures the feature
rate, which favours the retrain on that column.

Run:  python scripts/erase_vs_retrain_vae.py [--work /tmp/vae-vs-retrain] [--out assets/reports/vae_erase_vs_retrain.json]
      [--grid-out assets/reports/vae_erase_before_after.png]   (the erase report's before/after grid, copied)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from eraser.classifiers import load_classifier
from eraser.generators import load_generator, save_checkpoint
from eraser.io import write_json
from eraser.metrics.distribution import InceptionFeatures, fid_from_features, kid_from_features, precision_recall
from eraser.evaluation import clean_latents
from eraser.pipeline import EraseRequest, run_erase
from eraser.registry import resolve
from eraser.vae_recipe import VAERecipe

REPO = Path(__file__).resolve().parents[1]
CLASSIFIER = "digiface-eyeglasses-clf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vae", default="faces-vae64")
    ap.add_argument("--marks", default=str(REPO / "assets/marks/faces-vae64-eyeglasses.json"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/vae-vs-retrain"))
    ap.add_argument("--out", type=Path, default=REPO / "assets/reports/vae_erase_vs_retrain.json")
    ap.add_argument("--grid-out", type=Path, default=REPO / "assets/reports/vae_erase_before_after.png",
                    help="where the erase report's before/after grid is copied")
    ap.add_argument("--n-eval", type=int, default=5000, help="fresh latents for the feature rate")
    ap.add_argument("--fid-samples", type=int, default=500, help="samples per set for FID/KID/PR")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from train_faces_vae import train

    shipped_dir = resolve(args.vae, "generator")
    shipped_prov = json.loads((shipped_dir / "provenance.json").read_text())
    recipe = VAERecipe(**shipped_prov["training"]["recipe"])
    original = load_generator(args.vae)
    clf = load_classifier(CLASSIFIER)

    # 1. retrain from scratch on filtered data
    t0 = time.time()
    retrained, record, data_record = train(recipe, exclude=CLASSIFIER)
    t_retrain = time.time() - t0
    retrained_dir = args.work / "retrained"
    save_checkpoint(retrained, retrained_dir, {"name": "faces-vae64-retrained-no-eyeglasses", "training": record,
                                               "dataset": data_record}, overwrite=True)
    print(f"retrained in {t_retrain:.0f} s ({record['steps']} steps); dataset {data_record}", flush=True)

    # 2. erase
    erased_dir = args.work / "erased"
    if erased_dir.exists():
        import shutil

        shutil.rmtree(erased_dir)
    t0 = time.time()
    erase_metrics = run_erase(EraseRequest(generator=args.vae, labeller=f"marks:{args.marks}", out=erased_dir,
                                           feature_classifier=CLASSIFIER, progress=False,
                                           fid_samples=args.fid_samples)).metrics.to_dict()
    t_erase = time.time() - t0
    erased = load_generator(erased_dir)
    import shutil

    shutil.copyfile(erased_dir / "report" / "before_after.png", args.grid_out)  # rows: marked yes, then marked no
    print(f"erased in {t_erase:.0f} s; its before/after grid -> {args.grid_out}", flush=True)

    # 3. the same evaluation for all three
    z = original.sample_latents(args.n_eval, 4242)
    models = {"original": original, "erased": erased, "retrained": retrained}
    rates = {}
    for name, g in models.items():
        s = clf.score(g, z)
        rates[name] = {"at_threshold": float((s >= clf.threshold).float().mean()), "at_0.5": float((s >= 0.5).float().mean())}
    feats = InceptionFeatures("cpu")
    direction = None  # the classifier judges the reference samples
    n = args.fid_samples
    clean_a = feats.features(original.generate(clean_latents(original, clf, direction, n, 9000)))
    clean_b = feats.features(original.generate(clean_latents(original, clf, direction, n, 9001)))
    subset = max(2, min(1000, n // 2))
    dist = {"floor": {"fid": fid_from_features(clean_a, clean_b),
                      "kid_x1000": 1000 * kid_from_features(clean_a, clean_b, subsets=50, subset_size=subset)[0],
                      **dict(zip(("precision", "recall"), precision_recall(clean_a, clean_b)))}}
    for name, g in models.items():
        f = feats.features(g.generate(original.sample_latents(n, 9002)))
        p, r = precision_recall(clean_a, f)
        dist[name] = {"fid": fid_from_features(clean_a, f),
                      "kid_x1000": 1000 * kid_from_features(clean_a, f, subsets=50, subset_size=subset)[0],
                      "precision": p, "recall": r}

    tim = erase_metrics.get("timings_s", {})
    table = {
        "erase": {"wall_s": round(t_erase, 1), "finetune_s": tim.get("finetune"), "steps": erase_metrics.get("kept_step"),
                  "settings_steps": 300, "verdict": erase_metrics.get("verdict")},
        "retrain": {"wall_s": round(t_retrain, 1), "training_s": record["training_time_s"], "steps": record["steps"],
                    "images_seen": record["images_seen"]},
        "cost_ratio_retrain_over_erase": round(t_retrain / t_erase, 2),
        "cost_ratio_retrain_over_erase_finetune": round(t_retrain / tim["finetune"], 2) if tim.get("finetune") else None,
    }
    doc = {
        "what": "faces-vae64 eyeglasses: erase (eraser) vs retrain from scratch on filtered data, one run",
        "command": "python scripts/erase_vs_retrain_vae.py",
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "load_avg_at_end": os.getloadavg()},
        "retrain_filter": {"classifier": CLASSIFIER, "cut": clf.clean_threshold, "dataset": data_record,
                           "caveat": "the filter is the classifier that measures the feature rate, which favours the retrain there"},
        "cost": table,
        "feature_rate": {"n": args.n_eval, "seed": 4242, "classifier_threshold": clf.threshold, **rates},
        "distribution": {"n_per_set": n, "reference": f"original's samples with {CLASSIFIER} score < {clf.clean_threshold}",
                         **dist},
        "erase_metrics": {k: v for k, v in erase_metrics.items() if k not in ("guard_evaluations",)},
    }
    write_json(args.out, doc)
    print(json.dumps({"cost": table, "feature_rate": rates, "distribution": dist}, indent=1))


if __name__ == "__main__":
    main()
