"""Ship the FID reference statistics of the README erase beside digiface-dcgan64.

Every erase measures FID, KID and precision/recall of the erased generator against the original's
feature-free samples, and their floors against a second such set (``eraser.evaluation.reference_features``).
Those depend only on the original's weights, the judge that calls samples feature-free, the two latent
sets and the Inception weights, so they can ship with the model, the way stylegan3 ships dataset
statistics: the README's first erase then runs Inception on the erased set only.

This script computes the entry exactly as ``eraser erase`` does with the README's settings
(``--feature-classifier digiface-eyeglasses-clf``, ``--fid-samples`` 500 and 1000 (the batch default), seed
``eval_seed + 10``) and writes it to ``pretrained/digiface-dcgan64/cache/fid-reference/KEY.safetensors``
with ``PROVENANCE.json`` beside it (inputs, sha256 of each file, how it was made). An erase reads it only
when its own key (a digest of every input) matches, and checks the stored digest of its tensors, so a
different classifier, sample count, seed, Inception weight file or generator never uses it.

Run:  python scripts/make_reference_stats.py        (about 2 × n Inception passes per entry on a CPU)
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL, CLASSIFIER = "digiface-dcgan64", "digiface-eyeglasses-clf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[500], help="samples per set (the erase's --fid-samples)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from eraser import __version__
    from eraser.cache import TensorCache, digest_inputs
    from eraser.classifiers import load_classifier
    from eraser.evaluation import compute_reference, reference_inputs
    from eraser.generators import load_generator
    from eraser.io import atomic_path, sha256_file
    from eraser.metrics.distribution import InceptionFeatures
    from eraser.pipeline import EraseRequest
    from eraser.weights import inception_weights

    eval_seed = EraseRequest.__dataclass_fields__["eval_seed"].default
    g = load_generator(MODEL, args.device)
    judge = load_classifier(CLASSIFIER, args.device)
    feats = InceptionFeatures(args.device)
    folder = REPO / "pretrained" / MODEL / "cache"
    entries = []
    for n in args.n:
        subset = max(2, min(1000, n // 2))  # as eraser.evaluation.distribution_metrics
        # computed afresh (no cache is read), exactly as eraser.evaluation.reference_features computes it
        t0 = time.time()
        z_a, z_b, inputs = reference_inputs(g, judge, None, n, eval_seed + 10, feats, subset)
        features, floor = compute_reference(g, z_a, z_b, feats, subset)
        seconds = time.time() - t0
        cache = TensorCache("fid-reference", folder=folder, shipped=[])
        path = cache.put(inputs, {"features": features.float()}, {"floor": floor})
        if path is None:
            raise SystemExit(f"could not write into {folder}")
        entries.append({"file": path.name, "sha256": sha256_file(path), "n_per_set": n, "seed": eval_seed + 10,
                        "key": digest_inputs(inputs), "floor": floor})
        print(f"n={n}: {path.relative_to(REPO)} ({path.stat().st_size / 1e6:.1f} MB, {seconds:.0f} s); floors {floor}")
    keep = {e["file"] for e in entries}
    for old in (folder / "fid-reference").glob("*.safetensors"):
        if old.name not in keep:
            old.unlink()
    found = inception_weights()
    prov = {
        "what": "FID/KID/precision-recall reference statistics of digiface-dcgan64 for erases measured by "
                f"{CLASSIFIER}: Inception pool3 features of {MODEL}'s samples that the classifier calls "
                "feature-free, and the floors between two such sets (eraser.evaluation.reference_features)",
        "made_by": "python scripts/make_reference_stats.py " + " ".join(f"--n {n}" for n in args.n),
        "eraser_version": __version__,
        "generator": {"name": MODEL, "model_sha256": sha256_file(REPO / "pretrained" / MODEL / "model.safetensors")},
        "judge": {"name": CLASSIFIER,
                  "model_sha256": sha256_file(REPO / "pretrained" / CLASSIFIER / "model.safetensors")},
        "inception_weights": {"kind": found.kind, "file": Path(found.path).name, "sha256": sha256_file(found.path)},
        "licence": "derived from the shipped generator's samples; the generator's and the Inception weights' terms apply",
        "entries": entries,
    }
    with atomic_path(folder / "PROVENANCE.json", ".json") as tmp:
        tmp.write_text(json.dumps(prov, indent=2) + "\n")
    shutil.rmtree(folder / "fid-reference" / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()
