"""Benchmarks of eraser's stages, each in a fresh process, written as JSON with the machine's description.

Run:  python benchmarks/run.py [--quick] [--devices cpu,cuda] [--out benchmarks/results/cpu.json]
      [--only sampling,labelling,...] [--vae-record pretrained/faces-vae64/provenance.json]

Stages (each a separate process, so its peak memory is its own):

* ``sampling``       samples/s of ``Generator.generate`` (digiface-dcgan64; faces-vae64 when shipped)
* ``labelling``      samples/s of the labellers: the shipped CNN classifier (``probe:digiface-eyeglasses-clf``,
                     decode included), an Inception-embedding probe (``eraser probe train``'s kind; its cost
                     is the 299 px embedder, so a zero head stands in for a trained one), and CLIP zero-shot
                     when its weights are in the Hugging Face cache (skipped with the reason otherwise)
* ``metric_features`` samples/s of the FID Inception features (``InceptionFeatures``, fast and plain), and the
                     seconds of one 2048-d FID (``scipy.linalg.sqrtm``, as pytorch-fid)
* ``finetune``       fine-tuning steps/s with the default settings (digiface-dcgan64; faces-vae64 when shipped)
* ``vae_training``   steps/s of faces-vae64's training recipe (``eraser.vae_recipe``), for the cost ratio
* ``e2e``            wall time of the README's erase (a fresh ``eraser erase`` process), first with an empty
                     cache folder ("cold") and then again with the cache the first run filled ("warm")

The cost of erasing against the cost of producing the generator: for faces-vae64 the runner reads the
training record (``training_time_s``, ``steps``, recipe) from ``--vae-record`` and, in the same run, measures
the recipe's training steps/s and the erase's fine-tuning steps/s on this machine. The ratio is the
projected training time over the projected erase fine-tuning (both from this run), and, with ``e2e``, over
the whole erase. Without the record the ratio is skipped with a note.

``--quick`` shrinks every stage (few samples, few steps, a short erase with 50 FID samples) so that the
runner itself can be checked in a few minutes; its numbers are not the benchmark. Timings on a shared
machine are only as good as its load: each stage records the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STAGES = ("sampling", "labelling", "metric_features", "finetune", "vae_training", "e2e")
README_ARGS = ["erase", "--generator", "digiface-dcgan64", "--labeller", "marks:assets/marks/digiface-eyeglasses.json",
               "--feature-classifier", "digiface-eyeglasses-clf"]
DCGAN_MARKS = REPO / "assets/marks/digiface-eyeglasses.json"
VAE_MARKS = REPO / "assets/marks/faces-vae64-eyeglasses.json"


# --------------------------------------------------------------------------------------
# machine and measurement helpers
# --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, torch/Python versions and threads, GPU when present."""
    import torch

    cpu, ram = "", None
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    if Path("/proc/meminfo").is_file():
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = round(int(line.split()[1]) / 2**20, 1)
    info: dict[str, Any] = {"cpu": cpu or platform.processor(), "cores": os.cpu_count(), "ram_gib": ram,
                            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                            "python": platform.python_version(), "platform": platform.platform()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "cuda": torch.version.cuda}
    return info


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int = 1) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) of the fastest of ``repeats`` calls of ``fn()``,
    after one warm-up call. CPU seconds say more than wall seconds on a machine shared with other work."""
    fn()
    _sync(device)
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


def rate(n: int, seconds: tuple[float, float]) -> dict[str, float]:
    wall, cpu = seconds
    return {"n": n, "seconds": round(wall, 3), "per_second": round(n / wall, 2), "cpu_seconds": round(cpu, 3),
            "cpu_seconds_per_sample": round(cpu / n, 5)}


def peak_memory(device: str) -> dict[str, Any]:
    """This process's peak resident memory (and peak CUDA allocation on a GPU) in MiB."""
    out: dict[str, Any] = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.startswith("cuda"):
        import torch

        out["peak_cuda_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def shipped(name: str) -> bool:
    from eraser import registry
    from eraser.errors import EraserError

    try:
        return registry.resolve(name, "generator") is not None
    except EraserError:  # an unreadable config.json
        return False


# --------------------------------------------------------------------------------------
# stages (each runs in its own process)
# --------------------------------------------------------------------------------------


def stage_sampling(device: str, quick: bool) -> dict[str, Any]:
    from eraser.generators import load_generator

    n = 256 if quick else 4096
    out = {}
    for name in ("digiface-dcgan64", "faces-vae64"):
        if not shipped(name):
            out[name] = {"skipped": f"{name} is not shipped here"}
            continue
        g = load_generator(name, device)
        z = g.sample_latents(n, 0)
        out[name] = {"generate": rate(n, timed(lambda g=g, z=z: g.generate(z), device, 2)), "batch_size": 256,
                     "latents": rate(n, timed(lambda g=g: g.sample_latents(n, 1), device, 2))}
    return out


def stage_labelling(device: str, quick: bool) -> dict[str, Any]:
    from eraser.errors import EraserError
    from eraser.generators import load_generator
    from eraser.labelling import make_labeller

    g = load_generator("digiface-dcgan64", device)
    out: dict[str, Any] = {}
    n = 256 if quick else 2000
    z = g.sample_latents(n, 0)
    images = g.generate(z)
    clf = make_labeller("probe:digiface-eyeglasses-clf", device)
    out["cnn_classifier"] = {"spec": "probe:digiface-eyeglasses-clf",
                             "score_latents_incl_decode": rate(n, timed(lambda: clf.score(g, z), device, 2)),
                             "score_images": rate(n, timed(lambda: clf.score_images(images), device, 2))}

    from eraser.labelling.embedders import InceptionEmbedder
    from eraser.labelling.probe import ProbeHead, ProbeLabeller

    m = 16 if quick else 128
    probe = ProbeLabeller(InceptionEmbedder(299, device), ProbeHead(2048).to(device), name="inception-probe")
    batches = images[:m].split(64)
    out["inception_probe"] = {
        "what": "a probe on 299 px FID-Inception embeddings (eraser probe train); a zero head, same cost",
        "score_images": rate(m, timed(lambda: [probe.score_images(b) for b in batches], device, 1)), "batch_size": 64}
    try:
        clip = make_labeller("clip:eyeglasses", device)
    except EraserError as e:
        out["clip"] = {"skipped": str(e)}
    else:
        k = 16 if quick else 256
        out["clip"] = {"spec": "clip:eyeglasses", "score_images": rate(k, timed(lambda: clip.score_images(images[:k]), device, 1))}
    return out


def stage_metric_features(device: str, quick: bool) -> dict[str, Any]:
    import numpy as np

    from eraser.generators import load_generator
    from eraser.metrics.distribution import InceptionFeatures, frechet_distance

    g = load_generator("digiface-dcgan64", device)
    n = 16 if quick else 256
    images = g.generate(g.sample_latents(n, 0))
    out: dict[str, Any] = {}
    for fast in (True, False):
        feats = InceptionFeatures(device, fast=fast)
        out["inception_fast" if fast else "inception_plain"] = {
            "what": "FID Inception pool3, 299 px" + (" (BN folded, channels_last)" if fast else " (plain network)"),
            "features": rate(n, timed(lambda feats=feats: feats.features(images), device, 1)), "batch_size": 64}
    if quick:
        out["fid_2048d_seconds"] = {"skipped": "--quick (one 2048-d matrix square root takes tens of CPU seconds)"}
    else:
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((500, 2048)) ** 2, rng.standard_normal((500, 2048)) ** 2
        stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (a, b)]
        t, c = time.perf_counter(), time.process_time()
        frechet_distance(*stats[0], *stats[1])
        out["fid_2048d_seconds"] = {"what": "one frechet_distance on 2048-d statistics of 500 samples (scipy sqrtm)",
                                    "seconds": round(time.perf_counter() - t, 2), "cpu_seconds": round(time.process_time() - c, 2)}
    return out


def _direction(g, marks: Path):
    from eraser.direction import estimate_direction
    from eraser.labelling.marks import MarksLabeller, load_marks
    from eraser.pipeline import label_latents

    labeller = MarksLabeller(load_marks(str(marks)), name="marks")
    z, y = label_latents(g, labeller, 2000, 1000)
    return estimate_direction(z, y)


def stage_finetune(device: str, quick: bool) -> dict[str, Any]:
    from eraser.generators import load_generator
    from eraser.unlearn.loop import finetune
    from eraser.unlearn.settings import EraseSettings

    steps = 10 if quick else 60
    out: dict[str, Any] = {}
    for name, marks in (("digiface-dcgan64", DCGAN_MARKS), ("faces-vae64", VAE_MARKS)):
        if not shipped(name) or not marks.is_file():
            out[name] = {"skipped": f"{name} or its marks {marks.name} are not here"}
            continue
        g = load_generator(name, device)
        direction = _direction(g, marks)
        finetune(g, direction, EraseSettings(steps=2), progress=False)  # warm-up
        _sync(device)
        settings = EraseSettings(steps=steps)
        t, c = time.perf_counter(), time.process_time()
        finetune(g, direction, settings, progress=False)
        _sync(device)
        s = time.perf_counter() - t
        out[name] = {"steps": steps, "batch_size": settings.batch_size, "seconds": round(s, 2),
                     "cpu_seconds": round(time.process_time() - c, 2),
                     "steps_per_second": round(steps / s, 3), "default_steps": EraseSettings().steps,
                     "projected_default_finetune_s": round(EraseSettings().steps * s / steps, 1),
                     "note": "training loop only: no guard evaluations, no checkpoints"}
    return out


def read_training_record(path: Path | None) -> dict[str, Any] | None:
    """The ``training`` block of a generator's provenance.json (faces-vae64's recipe record), or None."""
    if path is None or not Path(path).is_file():
        return None
    doc = json.loads(Path(path).read_text())
    training = doc.get("training") if isinstance(doc, dict) else None
    if not isinstance(training, dict) or "training_time_s" not in training or "steps" not in training:
        return None
    return training


def stage_vae_training(device: str, quick: bool, record_path: str | None = None) -> dict[str, Any]:
    record = read_training_record(Path(record_path) if record_path else None)
    if record is None:
        return {"skipped": f"no training record with training_time_s and steps in {record_path}"}
    from eraser.generators import load_generator
    from eraser.vae_recipe import VAERecipe, build_dataset, train_vae

    recipe = VAERecipe(**record.get("recipe", {}))
    steps = 5 if quick else 40
    data, _ = build_dataset(load_generator("digiface-dcgan64", device), 4 * recipe.batch_size, recipe.data_seed)
    short = VAERecipe(**{**record.get("recipe", {}), "steps": 2, "prior_fit_samples": 0})
    train_vae(data, short, device, progress=False)  # warm-up (LPIPS load, allocator)
    _sync(device)
    t, c = time.perf_counter(), time.process_time()
    train_vae(data, VAERecipe(**{**record.get("recipe", {}), "steps": steps, "prior_fit_samples": 0}), device, progress=False)
    _sync(device)
    s = time.perf_counter() - t
    return {"recipe_steps": recipe.steps, "measured_steps": steps, "seconds": round(s, 2),
            "cpu_seconds": round(time.process_time() - c, 2),
            "steps_per_second": round(steps / s, 3), "projected_training_s": round(recipe.steps * s / steps, 1),
            "recorded_training_time_s": record["training_time_s"], "recorded_device": record.get("device"),
            "note": "the recipe's training loop (LPIPS term included) on a small dataset; dataset building and "
                    "the prior fit are left out, as in training_time_s they are minor"}


def stage_e2e(device: str, quick: bool) -> dict[str, Any]:
    """The README erase in a fresh process, cold cache then warm cache."""
    tmp = Path(tempfile.mkdtemp(prefix="eraser-bench-"))
    env = {**os.environ, "ERASER_CACHE_DIR": str(tmp / "cache")}
    env.pop("ERASER_NO_CACHE", None)
    extra = ["--steps", "20", "--fid-samples", "50", "--n-eval", "256", "--guard-every", "10"] if quick else []
    out: dict[str, Any] = {"command": "eraser " + " ".join(README_ARGS + extra) + f" --out DIR --device {device}",
                           "quick": quick}
    try:
        for run in ("cold", "warm"):
            dest = tmp / f"erased-{run}"
            cmd = [sys.executable, "-m", "eraser.cli", *README_ARGS, *extra, "--out", str(dest), "--device", device, "--quiet"]
            t0 = time.time()
            p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, check=False)
            wall = time.time() - t0
            if p.returncode not in (0, 3):
                tail = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
                out[run] = {"error": f"exit {p.returncode}: {tail}"}
                break
            m = json.loads((dest / "report" / "metrics.json").read_text())
            dist = m.get("distribution") or {}
            out[run] = {"wall_seconds": round(wall, 1), "stage_seconds": m.get("timings_s"), "exit_code": p.returncode,
                        "verdict": m.get("verdict"), "fid_seconds": dist.get("seconds"),
                        "reference_cache": dist.get("reference_cache"),
                        "fid": (dist.get("fid") or {}).get("erased_vs_clean"), "fid_floor": (dist.get("fid") or {}).get("floor"),
                        "feature_rate": {k: (m.get("feature_rate") or {}).get(k) for k in ("before", "after")}}
        out["peak_rss_mib_of_erase_processes"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run_stage(name: str, device: str, quick: bool, vae_record: str | None) -> dict[str, Any]:
    fn = globals()[f"stage_{name}"]
    t = time.perf_counter()
    res = fn(device, quick, vae_record) if name == "vae_training" else fn(device, quick)
    return {"result": res, "stage_wall_seconds": round(time.perf_counter() - t, 1), **peak_memory(device)}


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------


def cost_ratio(results: dict[str, Any]) -> dict[str, Any]:
    """Erase cost against the cost of training faces-vae64, both measured in this run (see the module doc)."""
    tr = (results.get("vae_training") or {}).get("result") or {}
    ft = ((results.get("finetune") or {}).get("result") or {}).get("faces-vae64") or {}
    if "projected_training_s" not in tr:
        return {"skipped": tr.get("skipped", "vae_training was not run")}
    if "projected_default_finetune_s" not in ft:
        return {"skipped": ft.get("skipped", "finetune was not run for faces-vae64")}
    out = {"generator": "faces-vae64",
           "training_projected_s": tr["projected_training_s"], "erase_finetune_projected_s": ft["projected_default_finetune_s"],
           "training_over_erase_finetune": round(tr["projected_training_s"] / ft["projected_default_finetune_s"], 2),
           "recorded_training_time_s": tr.get("recorded_training_time_s"),
           "note": "both projected from steps/s measured in this run: recipe steps x s/step vs default erase steps x s/step"}
    e2e = ((results.get("e2e") or {}).get("result") or {}).get("cold") or {}
    fin = (e2e.get("stage_seconds") or {}).get("finetune")
    if e2e.get("wall_seconds") and fin:
        # the VAE erase's whole wall time ≈ its fine-tuning plus the DCGAN erase's other stages (same sizes)
        rest = e2e["wall_seconds"] - fin
        out["erase_total_estimate_s"] = round(ft["projected_default_finetune_s"] + rest, 1)
        out["training_over_erase_total"] = round(tr["projected_training_s"] / out["erase_total_estimate_s"], 2)
        out["note_total"] = ("erase total = the VAE's projected fine-tuning + the measured non-fine-tuning part of "
                             "the README erase (labelling, guards, FID/KID/PR at the same sample sizes, report)")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: check the runner, not the machine")
    ap.add_argument("--devices", default=None, help="comma list; default cpu, plus cuda when a GPU is present")
    ap.add_argument("--only", default=",".join(STAGES), help=f"comma list of stages ({', '.join(STAGES)})")
    ap.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/cpu.json, "
                                                          "or cpu_quick.json with --quick)")
    ap.add_argument("--vae-record", default=str(REPO / "pretrained/faces-vae64/provenance.json"),
                    help="provenance.json holding the VAE's training record (training_time_s, steps, recipe)")
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)  # internal: run one stage in this process
    ap.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.stage:
        print(json.dumps(run_stage(args.stage, args.device, args.quick, args.vae_record)))
        return

    import torch

    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    stages = [s for s in args.only.split(",") if s]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        sys.exit(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    out_path = args.out or REPO / "benchmarks/results" / ("cpu_quick.json" if args.quick else "cpu.json")
    doc: dict[str, Any] = {"benchmark": "eraser stages", "quick": args.quick,
                           "command": "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "devices": {}}
    for device in devices:
        results: dict[str, Any] = {}
        for stage in stages:
            load_before = os.getloadavg()[0]
            cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--device", device,
                   "--vae-record", args.vae_record] + (["--quick"] if args.quick else [])
            print(f"[{device}] {stage} ...", file=sys.stderr, flush=True)
            p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
            if p.returncode != 0:
                tail = p.stderr.strip().splitlines()[-3:] if p.stderr.strip() else []
                results[stage] = {"error": f"exit {p.returncode}", "stderr_tail": tail}
            else:
                results[stage] = json.loads(p.stdout.strip().splitlines()[-1])
            results[stage]["load_avg_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
            print(f"[{device}] {stage}: {json.dumps(results[stage].get('result', results[stage]))[:300]}",
                  file=sys.stderr, flush=True)
        results["cost_ratio_vae"] = cost_ratio(results)
        doc["devices"][device] = results
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out_path)
    print(str(out_path))


if __name__ == "__main__":
    main()
