"""Check that `--method paper` trains bit-identical weights to eraser before the deep method existed.

Both fine-tunes run the default paper settings (300 steps, batch 32, lr 2e-4, margin 1, seed 0) on
digiface-dcgan64 with the direction of assets/marks/digiface-eyeglasses.json, one CPU thread each, in fresh
processes: one importing eraser from a git worktree of REV (default 692fe3e, the last commit before the deep
method), one from this checkout. The weights' sha256 (names and bytes of every tensor, in order) must agree.

Run:  python scripts/check_paper_identical.py [--rev 692fe3e]   (about 4 minutes on 2 CPU cores)
      -> assets/reports/paper_bit_identical.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from eraser.io import write_json

REPO = Path(__file__).resolve().parents[1]
CODE = r'''
import hashlib, sys, torch
sys.path.insert(0, sys.argv[1])
import eraser
assert eraser.__file__.startswith(sys.argv[1]), eraser.__file__
from eraser.direction import estimate_direction
from eraser.generators import load_generator
from eraser.labelling.marks import load_marks
from eraser.unlearn.loop import finetune
from eraser.unlearn.settings import EraseSettings
torch.set_num_threads(1)
g = load_generator("digiface-dcgan64")
z, y = load_marks(sys.argv[2]).decided()
kw = {"method": "paper"} if "method" in EraseSettings.__dataclass_fields__ else {}
r = finetune(g, estimate_direction(z, y), EraseSettings(**kw), progress=False)
h = hashlib.sha256()
for k, v in r.generator.module.state_dict().items():
    h.update(k.encode()); h.update(v.contiguous().numpy().tobytes())
print(h.hexdigest())
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="692fe3e")
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "reports" / "paper_bit_identical.json")
    args = ap.parse_args()
    marks = str(REPO / "assets" / "marks" / "digiface-eyeglasses.json")
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), args.rev], check=True,
                       capture_output=True)
        try:
            digests = {}
            for tag, root in ((f"before ({args.rev})", old), ("now, --method paper", REPO)):
                p = subprocess.run([sys.executable, "-c", CODE, str(root), marks], capture_output=True, text=True)
                if p.returncode:
                    sys.exit(f"{tag} failed: {p.stderr.strip().splitlines()[-1]}")
                digests[tag] = p.stdout.strip()
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], capture_output=True)
    result = {"what": __doc__.splitlines()[0], "weights_sha256": digests, "identical": len(set(digests.values())) == 1}
    write_json(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
