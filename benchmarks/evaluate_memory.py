"""Peak memory of `eraser evaluate` as the sample count grows: it must not grow with it.

Runs ``eraser evaluate -a digiface-dcgan64 -b ERASED --feature-classifier digiface-eyeglasses-clf
--fid-samples N --n-eval N`` in a fresh process for each N and records its peak resident set size
(``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of that child alone: each run is a separate grandchild measured by a
small wrapper) and its wall time. The quality metrics stream batch by batch (``eraser.evaluation``), so the
peak should not depend on N; the goal is a difference under 20 % between N = 500 and N = 5,000.

Run:  python benchmarks/evaluate_memory.py --erased DIR [--n 500 5000] [--out benchmarks/results/evaluate_memory_cpu.json]
``--erased``: an erase output folder of digiface-dcgan64 (for example the README erase's). The user cache is
turned off for these runs (``ERASER_NO_CACHE=1``), so every run computes its reference sets too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WRAPPER = """
import resource, subprocess, sys, json
r = subprocess.run(sys.argv[1:])
print(json.dumps({"rc": r.returncode, "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--erased", type=Path, required=True)
    ap.add_argument("--n", type=int, nargs="+", default=[500, 5000])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from erase_e2e import machine

    env = {**os.environ, "ERASER_NO_CACHE": "1", "HF_HUB_OFFLINE": "1"}
    runs = []
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "eraser", "evaluate", "-a", "digiface-dcgan64", "-b", str(args.erased),
                   "--feature-classifier", "digiface-eyeglasses-clf", "--fid-samples", str(n), "--n-eval", str(n),
                   "--device", args.device, "--out", str(Path(tmp) / "eval")]
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], env=env, cwd=REPO, capture_output=True, text=True,
                               check=False)
            seconds = time.perf_counter() - t
            last = json.loads(r.stdout.strip().splitlines()[-1])
            if last["rc"] != 0:
                raise SystemExit(f"eraser evaluate exited {last['rc']} at n={n}:\n{r.stderr[-2000:]}")
        runs.append({"n_per_set": n, "peak_rss_mb": round(last["maxrss_kb"] / 1024, 1), "seconds": round(seconds, 1)})
        print(f"n={n}: peak RSS {runs[-1]['peak_rss_mb']} MB, {seconds:.0f} s", flush=True)
    lo, hi = min(r["peak_rss_mb"] for r in runs), max(r["peak_rss_mb"] for r in runs)
    doc = {"benchmark": "evaluate_peak_memory", "device": args.device, "runs": runs,
           "relative_difference": round((hi - lo) / lo, 4), "goal": "< 0.20", "machine": machine(),
           "command": "python benchmarks/evaluate_memory.py " + " ".join(argv or sys.argv[1:])}
    if args.out:
        from eraser.io import write_json

        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, doc)
    print(json.dumps({k: v for k, v in doc.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
