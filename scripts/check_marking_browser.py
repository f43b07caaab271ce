"""Mark a page on the notebook's marking board in JupyterLab, in headless Chromium, with real input events.

What it checks (the widget tests drive the handlers without a browser; this drives the browser):

1. a notebook that shows a ``MarkingBoard`` of 48 shipped-generator samples runs in JupyterLab;
2. a left click on a sample's image (DevTools mouse events) toggles it "yes": the button lies over the image;
3. with the pointer over a sample, ``space`` marks it "yes" and ``u`` "unsure" (ipyevents keys);
   a right-click on a sample marks it "unsure"; "?" under a sample marks it "unsure";
4. ``Enter`` is page done: the marks file on disk holds exactly the intended labels, the rest "no";
5. ``Backspace`` undoes the page done (the file goes) and a click on "page done" saves it again.

It writes a screenshot of the board before page done (``--out``). Needs jupyterlab, ipyevents and
chromium (``apt-get install chromium``); reuses ``scripts/screenshot_notebook.py``'s DevTools driver.

    python scripts/check_marking_browser.py [--out docs/images/marking-board.png] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshot_notebook import ACCEPT, RUN_ALL, DevTools, save_png, start_lab, wait_for  # noqa: E402

SETUP = f"""import sys
sys.path.insert(0, {str(ROOT)!r})
import torch
from eraser import notebook as nb
from eraser.generators import load_generator

class Means:  # a cheap embedder: this check is about the board, not the probe
    def embed(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

session = nb.MarkingSession(load_generator("digiface-dcgan64"), "eyeglasses", "marks.json", embedder=Means(), resume=False)
board = nb.MarkingBoard(session)
board.new_samples()
board"""

#: the centre of each sample's image on the board, in page order
TILES_JS = """JSON.stringify([...document.querySelectorAll('.jp-OutputArea-output img.widget-image')].map(e => {
  const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];
}))"""
#: what lies on top at a point (the element a click there reaches)
TOP_JS = "(() => {const e = document.elementFromPoint(%f, %f); return e ? e.tagName + '.' + e.className : null})()"
#: the "?" buttons and the page done button
UNSURE_JS = """JSON.stringify([...document.querySelectorAll('.jp-OutputArea-output button[title="unsure"]')]
  .map(b => {const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];}))"""
KEYS = {" ": ("Space", 32, " "), "u": ("KeyU", 85, "u"), "Enter": ("Enter", 13, "\r"), "Backspace": ("Backspace", 8, "")}


def mouse(b: DevTools, x: float, y: float, button: str = "left") -> None:
    b.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    for kind in ("mousePressed", "mouseReleased"):
        b.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button=button, clickCount=1)


def key(b: DevTools, k: str) -> None:
    code, vk, text = KEYS[k]
    b.call("Input.dispatchKeyEvent", type="keyDown", key=k, code=code, windowsVirtualKeyCode=vk, text=text)
    b.call("Input.dispatchKeyEvent", type="keyUp", key=k, code=code, windowsVirtualKeyCode=vk)


def marks(work: Path) -> list[str] | None:
    path = work / "marks.json"
    return [m["label"] for m in json.loads(path.read_text())["marks"]] if path.is_file() else None


def until(fn, what: str, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"gave up waiting for {what}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "marking-board.png")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--colours", type=int, default=256)
    args = ap.parse_args()

    import nbformat

    work = args.workdir or Path(tempfile.mkdtemp(prefix="eraser-marking-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "marks.json").unlink(missing_ok=True)
    doc = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    nbformat.write(doc, work / "board.ipynb")
    lab, port = start_lab(work)
    browser = DevTools(work / "chromium-profile", 1100, 1150)
    checks: dict[str, bool] = {}
    try:
        browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/lab/tree/board.ipynb?reset")
        deadline = time.time() + 600
        wait_for(browser, lambda s: s.get("cells") == 1 and s.get("kernel") == "idle", deadline, "the kernel")
        browser.click(RUN_ALL)
        for _ in range(60):
            time.sleep(1)
            if browser.click(ACCEPT):
                break
        wait_for(browser, lambda s: s.get("widget_images", 0) >= 48 and s.get("kernel") == "idle", deadline, "the board")
        tiles = json.loads(browser.js(TILES_JS))
        checks["48 samples on the page"] = len(tiles) == 48
        top = browser.js(TOP_JS % tuple(tiles[0]))
        checks[f"a click on an image reaches the button over it ({top})"] = bool(top) and top.startswith("BUTTON")
        mouse(browser, *tiles[0])  # click: yes
        browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=tiles[3][0], y=tiles[3][1])
        time.sleep(0.5)
        key(browser, " ")  # space over tile 3: yes
        browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=tiles[5][0], y=tiles[5][1])
        time.sleep(0.5)
        key(browser, "u")  # u over tile 5: unsure
        mouse(browser, *tiles[7], button="right")  # right-click tile 7: unsure
        unsure = json.loads(browser.js(UNSURE_JS))
        mouse(browser, *unsure[9])  # "?" under tile 9: unsure
        browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=5, y=600)  # off the board
        time.sleep(3)
        png = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_png(png, args.out, args.colours)
        checks["nothing saved before page done"] = marks(work) is None
        browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=tiles[20][0], y=tiles[20][1])
        time.sleep(0.5)
        key(browser, "Enter")  # page done
        want = ["no"] * 48
        want[0] = want[3] = "yes"
        want[5] = want[7] = want[9] = "unsure"
        got = until(lambda: marks(work), "the marks file after Enter")
        checks["Enter saves the page: the intended labels, the rest no"] = got == want
        time.sleep(1)
        key(browser, "Backspace")  # undo the page done
        checks["Backspace undoes the page done (the file goes)"] = bool(until(lambda: marks(work) is None, "undo"))
        done = browser.js("""(() => {const b = [...document.querySelectorAll('.jp-OutputArea-output button')]
          .find(b => b.textContent.includes('page done')); if (!b) return null;
          const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];})()""")
        mouse(browser, *done)
        got = until(lambda: marks(work), "the marks file after the page done button")
        checks["the page done button saves the same page again"] = got == want
    finally:
        browser.close()
        lab.terminate()
        lab.wait(timeout=30)
    for what, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
    print(f"wrote {args.out}")
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
