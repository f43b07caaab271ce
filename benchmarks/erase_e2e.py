"""Time the README's erase end to end (a fresh process, as a user runs it) and record the machine.

Run:  python benchmarks/erase_e2e.py [--device cpu|cuda] [--out benchmarks/results/erase_e2e_cpu.json]
The erased checkpoint goes to a temporary folder (or --keep DIR) and its metrics are copied into the result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README_ARGS = ["erase", "--generator", "digiface-dcgan64", "--labeller", "marks:assets/marks/digiface-eyeglasses.json",
               "--feature-classifier", "digiface-eyeglasses-clf"]


def machine() -> dict:
    import torch

    cpu = ""
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="keep the erased checkpoint here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    out_dir = args.keep or tmp / "erased"
    cmd = [sys.executable, "-m", "eraser.cli", *README_ARGS, "--out", str(out_dir), "--device", args.device, "--quiet"]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode not in (0, 3):
        sys.exit(f"erase failed ({p.returncode}): {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ''}")
    metrics = json.loads((out_dir / "report" / "metrics.json").read_text())
    result = {
        "benchmark": "readme_erase_end_to_end",
        "command": "eraser " + " ".join(README_ARGS) + f" --out DIR --device {args.device}",
        "device": args.device,
        "wall_seconds": round(wall, 1),
        "stage_seconds": metrics.get("timings_s"),
        "exit_code": p.returncode,
        "verdict": metrics.get("verdict"),
        "feature_rate": {k: v for k, v in (metrics.get("feature_rate") or {}).items() if not k.startswith("scores_")},
        "preservation": metrics.get("preservation_on_labelled_feature_free"),
        "distribution": metrics.get("distribution"),
        "machine": machine(),
        "stdout": p.stdout.strip().splitlines(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
