"""Fine-tuning cost per sample: a plain re-implementation of the paper's loop against eraser's fine-tune.

The plain loop is the paper's recipe written as directly as possible, as a baseline for speed only: plain
``torch``, the shipped DCGAN's ``nn.Module``, the same direction; latents from N(0, I) (the paper's
sampling); targets ``G(z − (proj − t + m)·ẑ)`` for proj ≥ t, else ``G(z)``, decoded without gradient;
loss ``α·(L1 + 1 − MS-SSIM)`` on the shifted ones and L1 on the rest; Adam. No guards, no checkpoints,
no report, no progress bar.

Measured in the same process, one after the other, each after a warm-up of 3 steps:
* ``plain``: the plain loop, 300 steps at batch 64 (the paper's setting, as the speed issue states it);
* ``eraser_paper``: ``eraser.unlearn.loop.finetune`` with ``--method paper`` at the same steps and batch;
* ``eraser_deep``: the default (deep) fine-tune at its default steps and batch.
Each reports seconds, milliseconds per trained sample (steps × batch) and CPU seconds.

Run:  python benchmarks/plain_loop.py [--device cpu] [--scale 1.0] [--out benchmarks/results/plain_loop_cpu.json]
``--scale 0.1`` runs a tenth of every step count (a quick check; per-sample costs carry over).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
MARKS = REPO / "assets" / "marks" / "digiface-eyeglasses.json"


def plain_loop(module: torch.nn.Module, unit: torch.Tensor, t: float, steps: int, batch: int, lr: float,
               margin: float, alpha: float, device: str, seed: int = 0) -> None:
    """The paper's loop, plainly. ``module`` maps ``[B, D, 1, 1]`` latents to images in [-1, 1]."""
    from eraser.metrics.ssim import ms_ssim

    frozen = module.eval().requires_grad_(False)
    model = __import__("copy").deepcopy(module).train().requires_grad_(True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    d = unit.numel()
    for _ in range(steps):
        z = torch.randn(batch, d, generator=gen).to(device)
        proj = z @ unit
        moved = proj >= t
        shift = torch.where(moved, proj - t + margin, torch.zeros_like(proj))
        with torch.no_grad():
            target = frozen((z - shift[:, None] * unit).view(batch, d, 1, 1))
        out = model(z.view(batch, d, 1, 1))
        loss = out.new_zeros(())
        if moved.any():
            o, tg = out[moved], target[moved]
            loss = loss + alpha * ((o - tg).abs().mean() + (1 - ms_ssim(o, tg)).mean())
        if (~moved).any():
            loss = loss + (out[~moved] - target[~moved]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def timed(fn, device: str) -> dict[str, float]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t, c = time.perf_counter(), time.process_time()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every step count (quick checks)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    from erase_e2e import machine

    from eraser.direction import estimate_direction
    from eraser.generators import load_generator
    from eraser.labelling.marks import MarksLabeller, load_marks
    from eraser.pipeline import label_latents
    from eraser.unlearn.loop import finetune
    from eraser.unlearn.settings import EraseSettings

    g = load_generator("digiface-dcgan64", args.device)
    z, y = label_latents(g, MarksLabeller(load_marks(str(MARKS)), name="marks"), 2000, 1000)
    direction = estimate_direction(z, y)
    unit, t = direction.unit.to(args.device).float(), float(direction.threshold)
    paper = EraseSettings(method="paper", steps=max(1, round(300 * args.scale)), batch_size=64)
    deep = EraseSettings()
    deep = EraseSettings(steps=max(1, round(deep.steps * args.scale)))

    results: dict[str, Any] = {}
    module = g.module

    def plain(steps: int):
        return lambda: plain_loop(module, unit, t, steps, paper.batch_size, paper.lr, paper.margin, paper.alpha,
                                  args.device)

    def ours(settings: EraseSettings):
        return lambda: finetune(g, direction, settings, progress=False)

    runs = {"plain": (plain, paper.steps, paper.batch_size),
            "eraser_paper": (lambda s: ours(EraseSettings(**{**paper.__dict__, "steps": s})), paper.steps, paper.batch_size),
            "eraser_deep": (lambda s: ours(EraseSettings(**{**deep.__dict__, "steps": s})), deep.steps, deep.batch_size)}
    for name, (make, steps, batch) in runs.items():
        make(3)()  # warm-up
        r = timed(make(steps), args.device)
        r.update(steps=steps, batch_size=batch, ms_per_sample=1000 * r["seconds"] / (steps * batch))
        results[name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
        print(f"{name:13s} {steps} steps x {batch}: {r['seconds']:.1f} s, {r['ms_per_sample']:.2f} ms/sample", flush=True)
    doc = {"benchmark": "finetune_cost_per_sample", "device": args.device, "scale": args.scale,
           "results": results,
           "deep_over_plain_per_sample": round(results["eraser_deep"]["ms_per_sample"] / results["plain"]["ms_per_sample"], 3),
           "paper_over_plain_per_sample": round(results["eraser_paper"]["ms_per_sample"] / results["plain"]["ms_per_sample"], 3),
           "machine": machine(), "command": "python benchmarks/plain_loop.py " + " ".join(argv or sys.argv[1:])}
    if args.out:
        from eraser.io import write_json

        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, doc)
    print(json.dumps({k: v for k, v in doc.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
