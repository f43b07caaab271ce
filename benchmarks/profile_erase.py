"""Profile one short erase with cProfile and print where the time goes (top functions by cumulative time).

Run:  nice -n 15 python benchmarks/profile_erase.py [--steps 60] [--fid-samples 100] [--out prof.txt]
The settings are the README erase's, scaled down (fewer steps, fewer FID samples); every stage's
cost is linear in those two numbers, so the shares carry over to the full erase.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--fid-samples", type=int, default=100)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None, help="also write the printed table here")
    args = ap.parse_args()

    from eraser.errors import EraserError
    from eraser.logs import forwarded
    from eraser.pipeline import EraseRequest, run_erase
    from eraser.unlearn.settings import EraseSettings

    tmp = Path(tempfile.mkdtemp())
    req = EraseRequest(generator="digiface-dcgan64", labeller=f"marks:{REPO / 'assets/marks/digiface-eyeglasses.json'}",
                       out=tmp / "erased", settings=EraseSettings(steps=args.steps), feature_classifier="digiface-eyeglasses-clf",
                       fid_samples=args.fid_samples, progress=False, guard_every=max(1, args.steps // 3))
    prof = cProfile.Profile()
    prof.enable()
    try:
        with forwarded(lambda m: print(m, file=sys.stderr)):
            metrics = run_erase(req).metrics.to_dict()  # a guard failure still profiles the whole erase
    except EraserError as e:
        metrics = {"error": str(e)}
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(args.top)
    text = f"timings_s: {metrics.get('timings_s')}\n" + buf.getvalue()
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
