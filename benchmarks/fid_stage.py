"""Before/after of the erase's FID/KID/precision-recall stage (evaluation.distribution_metrics), back to back.

The stage runs three times on the same inputs (digiface-dcgan64 as both G and G', the shipped
classifier as judge, ``--n`` samples per set):

* ``before``: the reference path as it was: the plain Inception network and no cache
  (``InceptionFeatures(fast=False)``, ``ERASER_NO_CACHE=1``): 3 × n Inception passes, 2 matrix square roots;
* ``after_cold``: the BN-folded channels_last network and an empty cache folder (what a first erase pays);
* ``after_warm``: the same again with the cache the cold run filled (what every later erase of the same
  generator pays: n Inception passes, 1 matrix square root).

It records wall and CPU seconds of each, the 1-minute load average around them, and the metric numbers,
which must agree (the fast network changes features by float32 rounding only).

Run:  python benchmarks/fid_stage.py [--n 500] [--threads 2] [--out benchmarks/results/fid_stage_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="samples per set (the erase's default is 500)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    ap.add_argument("--seed", type=int, default=2010, help="the erase's default: eval_seed + 10")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from eraser import evaluation
    from eraser.classifiers import load_classifier
    from eraser.generators import load_generator
    from eraser.metrics import distribution

    g = load_generator("digiface-dcgan64")
    clf = load_classifier("digiface-eyeglasses-clf")
    tmp = Path(tempfile.mkdtemp(prefix="eraser-fid-stage-"))
    runs = {}
    plain_init = distribution.InceptionFeatures.__init__

    def run(name: str, fast: bool, cache: bool) -> None:
        os.environ.pop("ERASER_NO_CACHE", None)
        os.environ["ERASER_CACHE_DIR"] = str(tmp / "cache")
        if not cache:
            os.environ["ERASER_NO_CACHE"] = "1"
        distribution.InceptionFeatures.__init__ = lambda self, device="cpu", fast_=fast: plain_init(self, device, fast=fast_)
        load = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time()
        d = evaluation.distribution_metrics(g, g, clf, None, args.n, args.seed, "cpu", clf.name).to_dict()
        runs[name] = {"wall_s": round(time.perf_counter() - t, 1), "cpu_s": round(time.process_time() - c, 1),
                      "load_avg_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
                      "reference_cache": d["reference_cache"],
                      "numbers": {k: d[k]["erased_vs_clean"] for k in ("fid", "kid_x1000", "precision", "recall")}
                      | {f"{k}_floor": d[k]["floor"] for k in ("fid", "kid_x1000", "precision", "recall")}}
        print(name, json.dumps(runs[name]), file=sys.stderr, flush=True)

    try:
        run("before", fast=False, cache=False)
        run("after_cold", fast=True, cache=True)
        run("after_warm", fast=True, cache=True)
    finally:
        distribution.InceptionFeatures.__init__ = plain_init
        shutil.rmtree(tmp, ignore_errors=True)
    b = runs["before"]["numbers"]
    diff = {k: max(abs(runs[r]["numbers"][k] - b[k]) for r in ("after_cold", "after_warm")) for k in b}
    doc = {"benchmark": "distribution_metrics stage, before/after", "n_per_set": args.n, "seed": args.seed,
           "torch_threads": torch.get_num_threads(), "runs": runs, "max_abs_difference_vs_before": diff,
           "speedup_wall": {r: round(runs["before"]["wall_s"] / runs[r]["wall_s"], 2) for r in ("after_cold", "after_warm")},
           "speedup_cpu": {r: round(runs["before"]["cpu_s"] / runs[r]["cpu_s"], 2) for r in ("after_cold", "after_warm")},
           "machine": machine()}
    print(json.dumps(doc, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
