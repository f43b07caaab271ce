"""The batch demo of issue 8: one manifest run locally (killed once mid-run, then resumed) and on a
local Ray instance; the verdicts must agree and every output must pass its checksums.

    python scripts/batch_demo.py --work /tmp/batch-demo [--manifest examples/batch/demo.toml]

Writes WORK/local and WORK/ray (the batches' outputs) and copies both summaries with a comparison
into assets/reports/batch_demo/. The manifest's corrupt checkpoint (examples/batch/corrupt-dcgan64,
git-ignored) is made here: digiface-dcgan64 with one byte of its weights flipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rel(path: Path) -> str:
    """The manifest as the summaries should name it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if ROOT in path.parents else str(path)


def make_corrupt_copy(dest: Path) -> None:
    from eraser import registry

    if dest.exists():
        return
    shutil.copytree(registry.require("digiface-dcgan64", "generator"), dest)
    weights = dest / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))


def batch(manifest: Path, out: Path, *extra: str) -> tuple[int, float]:
    t0 = time.time()
    code = subprocess.run([sys.executable, "-m", "eraser.cli", "batch", _rel(manifest), "--out", str(out), *extra],
                          cwd=ROOT, check=False).returncode
    return code, time.time() - t0


def killed_then_resumed(manifest: Path, out: Path) -> dict:
    """Start the batch, kill it (SIGKILL, the batch process only) once the first job's folder exists,
    then run it again to the end."""
    first = out / "dcgan-eyeglasses-marks"
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "eraser.cli", "batch", _rel(manifest), "--out", str(out)],
                            cwd=ROOT, start_new_session=True)
    while not first.is_dir() and proc.poll() is None:
        time.sleep(1)
    killed_after = time.time() - t0
    was_running = proc.poll() is None
    if was_running:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    print(f"killed the batch after {killed_after:.0f} s (first job done)" if was_running else "the batch ended before the kill")
    partial = sorted(str(p.relative_to(out)) for p in (out / ".staging").glob("*/result.partial/*")) if (out / ".staging").exists() else []
    code, seconds = batch(manifest, out)
    return {"killed_after_s": round(killed_after, 1), "killed": was_running, "partial_state_at_kill": partial,
            "resume_exit_code": code, "resume_s": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, default=ROOT / "examples" / "batch" / "demo.toml")
    ap.add_argument("--report", type=Path, default=ROOT / "assets" / "reports" / "batch_demo")
    args = ap.parse_args()
    from eraser.batch.job import check_sums

    make_corrupt_copy(args.manifest.parent / "corrupt-dcgan64")
    args.work.mkdir(parents=True, exist_ok=True)
    local, ray = args.work / "local", args.work / "ray"
    resume = killed_then_resumed(args.manifest, local)
    ray_code, ray_s = batch(args.manifest, ray, "--ray-address", "local")
    summaries = {k: json.loads((d / "summary.json").read_text()) for k, d in (("local", local), ("ray", ray))}
    verdicts = {k: {r["name"]: r["verdict"] for r in s["jobs"]} for k, s in summaries.items()}
    checks = {k: {r["name"]: check_sums(d / r["name"]) or "ok" for r in summaries[k]["jobs"] if (d / r["name"]).is_dir()}
              for k, d in (("local", local), ("ray", ray))}
    comparison = {
        "manifest": _rel(args.manifest), "verdicts": verdicts,
        "same_verdicts": verdicts["local"] == verdicts["ray"], "checksums": checks,
        "local_kill_and_resume": resume, "ray": {"exit_code": ray_code, "seconds": round(ray_s, 1)},
        "ms_ssim": {k: {r["name"]: r.get("ms_ssim") for r in s["jobs"]} for k, s in summaries.items()},
        "machine": f"{os.cpu_count()} CPU cores",
    }
    args.report.mkdir(parents=True, exist_ok=True)
    for k, d in (("local", local), ("ray", ray)):
        shutil.copyfile(d / "summary.json", args.report / f"{k}_summary.json")
        shutil.copyfile(d / "summary.md", args.report / f"{k}_summary.md")
    (args.report / "comparison.json").write_text(json.dumps(comparison, indent=2) + "\n")
    print(json.dumps(comparison, indent=2))


if __name__ == "__main__":
    main()
