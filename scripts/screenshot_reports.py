"""Screenshots of the first screen of erase reports (or `eraser compare` pages), in headless Chromium.

    python scripts/screenshot_reports.py OUT_PASS/report/report.html docs/images/report-pass.png \
        [HTML PNG ...] [--width 1280 --height 900]

Each pair is a page to open and the PNG to write: what a browser window of WIDTH × HEIGHT CSS pixels shows
before any scrolling. Needs ``chromium`` (``apt-get install -y chromium``). The docs' screenshots were made
from three erases of digiface-dcgan64 (the commands are in each report's "Settings and provenance").
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        sys.exit("screenshot_reports: no chromium on PATH (apt-get install -y chromium)")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        tmp = png.with_name(png.stem + ".tmp.png")
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
               f"--window-size={width},{height}", "--force-device-scale-factor=1", f"--screenshot={tmp}",
               page.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        if not tmp.is_file():
            sys.exit(f"screenshot_reports: chromium wrote no screenshot of {page}")
        tmp.replace(png)  # the PNG appears complete or not at all
    print(f"{page} -> {png}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", nargs="+", help="HTML PNG [HTML PNG ...]")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=900)
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give pairs: a page and the PNG to write for it")
    for page, png in zip(args.pairs[::2], args.pairs[1::2]):
        if not Path(page).is_file():
            ap.error(f"{page} does not exist")
        screenshot(Path(page), Path(png), args.width, args.height)


if __name__ == "__main__":
    main()
