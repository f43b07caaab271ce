"""Robustness audit of an eyeglasses erase: the three attacks of ``eraser.audit`` on the original and
the erased generator, with one stated budget; writes ``assets/reports/audit_NAME.json`` and ``.png``.

    python scripts/audit_eyeglasses.py --generator /work/artifacts/dcgan-erased-eyeglasses \\
        --original digiface-dcgan64 --marks assets/marks/digiface-eyeglasses.json --name eyeglasses_dcgan

For another model (e.g. the VAE) pass its erased checkpoint, its original, the marks its direction
was estimated from (or ``--direction ERASED/report/direction.json``), and a new ``--name``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from eraser.logs import forwarded
    from eraser.audit.attacks import direction_from_file, direction_from_marks, format_table, run_audit, write_audit_files
    from eraser.audit.budget import AuditBudget
    from eraser.classifiers import load_classifier
    from eraser.generators import load_generator

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", required=True, help="the erased generator (checkpoint folder)")
    p.add_argument("--original", default="digiface-dcgan64", help="the generator it was erased from")
    p.add_argument("--marks", default=str(ROOT / "assets/marks/digiface-eyeglasses.json"),
                   help="marks whose mean-difference direction the walk follows (as the erase estimated it)")
    p.add_argument("--direction", default=None, help="a direction.json instead of --marks")
    p.add_argument("--classifier", default="digiface-eyeglasses-clf", help="the measuring classifier")
    p.add_argument("--name", default="eyeglasses_dcgan", help="writes assets/reports/audit_NAME.json and .png")
    p.add_argument("--out-dir", default=str(ROOT / "assets/reports"))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's choice]")
    p.add_argument("--device", default="cpu")
    defaults = AuditBudget()
    for f in fields(AuditBudget):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name))
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    budget = AuditBudget(**{f.name: getattr(a, f.name) for f in fields(AuditBudget)})
    t0 = time.time()
    original = load_generator(a.original, a.device)
    erased = load_generator(a.generator, a.device)
    classifier = load_classifier(a.classifier, a.device)
    direction = direction_from_file(a.direction) if a.direction else direction_from_marks(a.marks, original.latent_dim)
    with forwarded(lambda m: print(m, file=sys.stderr, flush=True)):
        audit = run_audit({"original": original, "erased": erased}, classifier, direction, budget)
    extra = {
        "direction_source": a.direction or os.path.relpath(a.marks, ROOT),
        "command": "python scripts/audit_eyeglasses.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": a.device,
                        "cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "wall_seconds": round(time.time() - t0, 1),
        "cpu_seconds": round(time.process_time(), 1),  # this process, all threads (the machine was shared)
    }
    doc = write_audit_files(Path(a.out_dir), audit, f"audit_{a.name}", extra)
    print("\n".join(format_table(doc)))
    print(f"wrote {Path(a.out_dir) / f'audit_{a.name}.json'} and .png: {extra['wall_seconds']:.0f}s wall, "
          f"{extra['cpu_seconds']:.0f}s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
