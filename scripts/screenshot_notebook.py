"""Screenshot notebooks/erase_interactively.ipynb running in JupyterLab, in headless Chromium.

1. copies the notebook into a work folder with a parameters cell like the test suite's: a marks
   file replaces the clicks (``--replay-limit`` of the shipped eyeglasses marks) and the erase is short;
2. starts JupyterLab on that folder (localhost, no token) and opens the copy in headless Chromium,
   driven over the DevTools protocol;
3. clicks "Restart the kernel and run all cells", waits until every cell has run and the widgets
   are drawn (live, connected to the kernel), and writes the PNG (default docs/images/notebook-jupyterlab.png).

With ``--stored`` it instead executes the copy headless first (nbclient, widget state saved in the
notebook) and only opens it: the widgets are then drawn from the saved state, not connected.

    python scripts/screenshot_notebook.py [--out PNG] [--workdir DIR] [--replay-limit 400] [--stored]

Needs jupyterlab and chromium (apt-get install chromium). Nothing in the repository is changed but --out.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "erase_interactively.ipynb"


def with_parameters(params: dict):
    """The notebook with a cell that sets ``params`` right after its parameters cell (as papermill does)."""
    import nbformat

    doc = nbformat.read(NOTEBOOK, as_version=4)
    where = next(i for i, c in enumerate(doc.cells) if "parameters" in c.metadata.get("tags", []))
    doc.cells.insert(where + 1, nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()),
                                                          metadata={"tags": ["injected-parameters"]}))
    return doc


def execute_stored(doc, copy: Path) -> None:
    """Run ``doc`` headless, save it with its widget state, and sign it (JupyterLab draws widgets only
    in trusted notebooks)."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.sign import NotebookNotary

    NotebookClient(doc, timeout=1800, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(copy.parent)}}).execute()
    NotebookNotary().sign(doc)
    nbformat.write(doc, copy)


#: the page's state: cells, executed cells, widget views and images, the kernel's status
PROBE_JS = """JSON.stringify({
  cells: document.querySelectorAll('.jp-CodeCell').length,
  executed: [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].filter(p => /\\[\\d+\\]/.test(p.textContent)).length,
  widgets: document.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length,
  widget_images: document.querySelectorAll('.jp-OutputArea-output img.widget-image').length,
  images: document.querySelectorAll('.jp-OutputArea-output img').length,
  errors: document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').length,
  kernel: (document.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}}).dataset.status || null,
})"""

#: centre of the first element matching a selector, or null
CENTRE_JS = """(() => {
  const e = document.querySelector(%s);
  if (!e) return null;
  const r = e.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
})()"""
RUN_ALL = '[data-command="notebook:restart-run-all"]'
ACCEPT = ".jp-Dialog .jp-mod-accept"


class DevTools:
    """Headless Chromium and one page, over the DevTools protocol (websocket-client, installed with jupyter)."""

    def __init__(self, profile: Path, width: int, height: int) -> None:
        import websocket

        chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not chromium:
            raise SystemExit("no chromium here; run: apt-get install -y chromium")
        port = free_port()
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--remote-debugging-port={port}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(60):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2))
                page = next(t for t in targets if t.get("type") == "page")
                break
            except (OSError, StopIteration, ValueError):
                time.sleep(1)
        else:
            self.close()
            raise SystemExit("Chromium's DevTools endpoint did not come up")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120, suppress_origin=True)
        self.next_id = 0
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def click(self, selector: str) -> bool:
        """A real mouse click (press, release) at the centre of ``selector``'s first match."""
        at = self.js(CENTRE_JS % json.dumps(selector))
        if not at:
            return False
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=at[0], y=at[1], button="left", clickCount=1)
        return True

    def state(self) -> dict:
        try:
            return json.loads(self.js(PROBE_JS))
        except (RuntimeError, TypeError, ValueError):
            return {}

    def close(self) -> None:
        if getattr(self, "ws", None):
            self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def wait_for(browser: DevTools, done, deadline: float, what: str) -> dict:
    seen, stable = {}, 0
    while time.time() < deadline:
        time.sleep(2)
        now = browser.state()
        stable = stable + 1 if now == seen else 0
        seen = now
        if now and done(now) and stable >= 2:
            return now
    raise SystemExit(f"gave up waiting for {what}; the page shows {seen}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(work: Path) -> tuple[subprocess.Popen, int]:
    # a clean page: no news or update notices; every cell laid out (no windowed rendering)
    settings = work / "lab-settings"
    for ext, name, value in [("apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False}),
                             ("notebook-extension", "tracker", {"windowingMode": "none"})]:
        (settings / "@jupyterlab" / ext).mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    port = free_port()
    with open(work / "lab.log", "w") as log:
        lab = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
             f"--ServerApp.root_dir={work}", f"--LabApp.user_settings_dir={settings}",
             f"--LabApp.workspaces_dir={work / 'lab-workspaces'}"],
            stdout=log, stderr=subprocess.STDOUT)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
            return lab, port
        except OSError:
            time.sleep(1)
    lab.terminate()
    raise SystemExit(f"JupyterLab did not start; see {work / 'lab.log'}")


def save_png(png: bytes, out: Path, colours: int) -> None:
    """Write the screenshot, reduced to ``colours`` colours (Pillow, dithered; 0 keeps it as captured)."""
    import io

    from PIL import Image

    if not colours:
        out.write_bytes(png)
        return
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(out, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "notebook-jupyterlab.png")
    ap.add_argument("--workdir", type=Path, default=None, help="where the copy and its outputs go (default: a temp folder)")
    ap.add_argument("--replay-limit", type=int, default=400)
    ap.add_argument("--window", default="1400,5800", help="viewport W,H")
    ap.add_argument("--wait-s", type=float, default=1500, help="longest wait for the notebook to run and draw")
    ap.add_argument("--colours", type=int, default=256, help="palette size of the PNG (0: full colour, ~3x larger)")
    ap.add_argument("--stored", action="store_true", help="execute headless first, then only open the notebook")
    args = ap.parse_args()

    import nbformat

    work = args.workdir or Path(tempfile.mkdtemp(prefix="eraser-nb-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "eraser-notebook", ignore_errors=True)
    copy = work / NOTEBOOK.name
    doc = with_parameters({
        "REPLAY_MARKS": str(ROOT / "assets" / "marks" / "digiface-eyeglasses.json"), "REPLAY_LIMIT": args.replay_limit,
        "N_SHOW": 12, "SUGGEST_FROM": 24, "EMBED_SIZE": 75, "STEPS": 40, "N_EVAL": 256, "FID_SAMPLES": 0,
        "ERASE_OPTIONS": {"guard_eval": 128, "guard_clean": 64, "guard_every": 40}})
    t0 = time.time()
    if args.stored:
        execute_stored(doc, copy)
        print(f"executed {copy} headless in {time.time() - t0:.0f} s", flush=True)
    else:
        nbformat.write(doc, copy)
    lab, port = start_lab(work)
    width, height = (int(v) for v in args.window.split(","))
    browser = DevTools(work / "chromium-profile", width, height)
    try:
        deadline = time.time() + args.wait_s
        browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/lab/tree/{copy.name}?reset")
        n_code = sum(c.cell_type == "code" for c in doc.cells)
        wait_for(browser, lambda s: s.get("cells") == n_code and s.get("kernel") == "idle", deadline, "the kernel")
        if not args.stored:
            t0 = time.time()
            if not browser.click(RUN_ALL):
                raise SystemExit("no 'restart the kernel and run all cells' button on the page")
            for _ in range(60):  # the confirmation dialog
                time.sleep(1)
                if browser.click(ACCEPT):
                    break
            else:
                raise SystemExit("no confirmation dialog after 'restart and run all'")
            wait_for(browser, lambda s: s.get("executed") == n_code and s.get("kernel") == "idle", deadline,
                     "every cell to run")
            print(f"ran every cell in JupyterLab in {time.time() - t0:.0f} s", flush=True)
        seen = wait_for(browser, lambda s: s.get("widget_images", 0) > 0, deadline, "the widgets")
        print(f"page: {seen}")
        png = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_png(png, args.out, args.colours)
        print(f"wrote {args.out} (JupyterLab log: {work / 'lab.log'}; outputs in {work / 'eraser-notebook'})")
    finally:
        browser.close()
        lab.terminate()
        lab.wait(timeout=30)


if __name__ == "__main__":
    main()
