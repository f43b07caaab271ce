"""The widgets behind ``notebooks/erase_interactively.ipynb``: pick a generator, mark samples, erase.

Everything the notebook does is a call into this module, and everything this module does is a
call into the rest of eraser:

* ``GeneratorPicker``: a shipped model or a local path, loaded with ``load_generator``;
* ``MarkingSession`` (no widgets): the samples shown so far, a person's marks on them, saved with
  ``save_marks`` (the marks file ``eraser erase --labeller marks:PATH`` reads), and a probe
  (``train_probe`` on embeddings, computed once per sample, a batch at a time) with its
  cross-validated AUC; "suggest next" is ``labelling.workflow.suggest`` (uncertainty sampling);
* ``MarkingBoard``: a page of 48 samples where a click on a sample toggles "yes", "?" (or ``u``)
  marks "unsure", "page done" marks the rest "no", saves and shows the next page, and undo takes
  back any input; keys with ``ipyevents``; embedding and probe refits run in a background thread,
  never per click; ``replay`` feeds a marks file through the same input handlers (headless runs, tests);
* ``ErasePanel``: the erase settings; ``run()`` calls ``pipeline.run_erase`` (its tqdm bar shows as a
  live progress bar in a notebook, its log messages in the cell's output) and keeps the returned
  ``EraseResult``; ``show_outcome`` puts its guard table and the report's before/after grid inline.

The widgets need ``ipywidgets`` (``pip install 'eraser[notebook]'``); ``MarkingSession`` does not.
"""

from __future__ import annotations

import html
import io
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.guards import GuardResult
from eraser.labelling.marks import LABELS, Marks, load_marks, save_marks
from eraser.labelling.probe import MIN_PER_CLASS, ProbeFit, embed_all, train_probe
from eraser.results import EraseMetrics, EraseResult

#: Inception input size of the notebook's probe. 299 px (the FID protocol, what `eraser probe train`
#: uses; 5.7 images/s in benchmarks/results/cpu.json) is slow to embed a page of 48 every minute on
#: a 2-core CPU; 128 px has (299/128)² ≈ 5.5 times fewer pixels. No committed measurement compares the
#: probe's AUC at the two sizes.
DEFAULT_EMBED_SIZE = 128

#: seeds of the notebook's fresh samples start here (marks grids usually use small seeds)
SEED_BASE = 7_000_000

#: the report's verdict colours for the guard table shown inline (scoped to it)
GUARD_CSS = (".eraser-guards table td, .eraser-guards table th {text-align: left !important} "
             ".eraser-guards table tr.pass td {background: #e6f4ea !important} "
             ".eraser-guards table tr.fail td {background: #fce8e6 !important} "
             ".eraser-guards table tr.skip td {background: #f1f3f4 !important}")

LABEL_COLOURS = {"yes": "#2e7d32", "no": "#c62828", "unsure": "#f9a825", None: "#dddddd"}


def _widgets():
    try:
        import ipywidgets
    except ImportError:
        raise EraserError("the notebook widgets need ipywidgets; run: pip install 'eraser[notebook]'") from None
    return ipywidgets


def _display(*objs) -> None:
    from IPython.display import display

    display(*objs)


def png_bytes(image) -> bytes:
    """PNG bytes of a PIL image."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def default_embedder(size: int = DEFAULT_EMBED_SIZE, device: str = "cpu"):
    """The FID Inception network at ``size`` px: the notebook probe's embedder."""
    from eraser.labelling.embedders import InceptionEmbedder

    return InceptionEmbedder(size, device)


# -- generator ----------------------------------------------------------------------------------


def shipped_classifier(generator: str, feature: str) -> str | None:
    """The shipped measuring classifier of ``feature`` on the shipped ``generator`` (its config's
    ``feature`` and its provenance's ``generator``), or None: then the erase is "not measured" unless
    you name one (e.g. a probe trained on your marks, ``eraser probe train``)."""
    from eraser import registry
    from eraser.io import read_json

    for name in registry.names("classifier"):
        folder = registry.resolve(name, "classifier")
        try:
            config = read_json(folder / "config.json", "classifier config")
            prov = read_json(folder / "provenance.json", "classifier provenance")
        except EraserError:
            continue
        source = prov.get("source") if isinstance(prov, dict) else None
        made_for = source.get("generator") if isinstance(source, dict) else None
        if isinstance(config, dict) and config.get("feature") == feature and made_for == generator:
            return name
    return None


class GeneratorPicker:
    """A dropdown of the shipped generators plus a path box for a local one; ``load()`` loads the choice."""

    LOCAL = "local path…"

    def __init__(self, default: str = "digiface-dcgan64", device: str = "cpu") -> None:
        from eraser import registry

        w = _widgets()
        self.device = device
        shipped = registry.names("generator")
        is_shipped = default in shipped
        self.choice = w.Dropdown(options=shipped + [self.LOCAL], value=default if is_shipped else self.LOCAL,
                                 description="generator")
        self.path = w.Text(value="" if is_shipped else str(default), placeholder="checkpoint or diffusers folder",
                           description="path", layout=w.Layout(width="480px"))
        self.info = w.HTML()
        self.widget = w.VBox([w.HTML("<b>Generator</b>: a shipped model, or a local path (anything "
                                     "<code>eraser sample -g</code> loads)"), self.choice, self.path, self.info])

    @property
    def source(self) -> str:
        if self.choice.value == self.LOCAL:
            if not self.path.value.strip():
                raise EraserError("choose a shipped generator or type the path of a local one")
            return self.path.value.strip()
        return self.choice.value

    def load(self) -> Generator:
        from eraser.generators import load_generator

        g = load_generator(self.source, self.device)
        self.info.value = (f"loaded <code>{g.name}</code>: {type(g.module).__name__}, latent dimension "
                           f"{g.latent_dim}, {sum(p.numel() for p in g.module.parameters()):,} parameters")
        return g

    def _ipython_display_(self) -> None:
        _display(self.widget)


# -- marking (no widgets) -----------------------------------------------------------------------


class MarkingSession:
    """Samples shown to a person, their marks, and a probe retrained from the marks.

    Rows of ``z`` are every sample shown so far (duplicates are merged). Only marked rows are saved,
    in the order they were first marked, to ``marks_path`` (``save_marks``: the CLI's format, with its
    latents beside it, written atomically) when ``save()`` is called: ``MarkingBoard`` saves at every
    "page done" and every undo of one. A marks file already at ``marks_path`` is loaded first
    (``resume``), so a restarted notebook carries on rather than overwriting it. Embeddings for the
    probe are computed once per sample, a batch at a time (``embed``), and cached; ``embed`` and
    ``retrain`` may run in a background thread while marks arrive.
    """

    def __init__(self, generator: Generator, feature: str, marks_path: str | Path, embedder=None,
                 seed: int = 0, C: float = 0.1, resume: bool = True) -> None:
        self.generator = generator
        self.feature = feature
        self.marks_path = Path(marks_path)
        self._embedder = embedder
        self.seed = seed
        self.C = C
        self.z = torch.empty(0, generator.latent_dim)
        self.labels: dict[int, str] = {}  # row -> label, in order of first marking
        self.probe_scores: dict[int, float] = {}  # row -> probe score when a suggestion was made
        self.fit: ProbeFit | None = None
        self._rows: dict[bytes, int] = {}
        self._emb: dict[int, Tensor] = {}
        self._lock = threading.RLock()  # the embedding cache and the probe, shared with a background thread
        self._draws = 0
        self.last_seed: int | None = None  # seed of the latest fresh page or suggestion candidates
        self.suggest_seed: int | None = None  # seed of the latest suggestion candidates
        self.resumed = 0
        if resume and self.marks_path.is_file():
            previous = load_marks(self.marks_path)
            if previous.generator not in (None, generator.name):
                raise EraserError(f"{self.marks_path} holds marks on {previous.generator}, not {generator.name}; "
                                  "choose another marks file (or WORKDIR)")
            self.resumed = len(self.load(previous))

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    # rows
    def add(self, z: Tensor) -> list[int]:
        """Add latents ``[N, D]`` (already shown ones keep their row); return their rows."""
        z = z.detach().float().cpu().reshape(len(z), -1)
        if z.shape[1] != self.generator.latent_dim:
            raise EraserError(f"latents have {z.shape[1]} dimensions but {self.generator.name} takes {self.generator.latent_dim}")
        rows, new = [], []
        for v in z:
            key = v.numpy().tobytes()
            if key not in self._rows:
                self._rows[key] = len(self.z) + len(new)
                new.append(v)
            rows.append(self._rows[key])
        if new:
            self.z = torch.cat([self.z, torch.stack(new)])
        return rows

    def draw(self, n: int) -> list[int]:
        """``n`` fresh prior samples not marked yet (a new seed per draw, from the session seed); their rows."""
        rows: list[int] = []
        while len(rows) < n:  # a resumed session skips the pages it has already marked
            fresh = self.add(self.generator.sample_latents(n, self._next_seed()))
            rows += [r for r in fresh if r not in self.labels and r not in rows]
        return rows[:n]

    def images(self, rows: list[int]) -> Tensor:
        return self.generator.generate(self.z[rows])

    # marks
    def mark(self, row: int, label: str | None, save: bool = True) -> None:
        """Set (or with ``None`` clear) the label of ``row``; with ``save``, save the marks file."""
        if not 0 <= row < len(self.z):
            raise EraserError(f"no sample {row}; the session has rows 0..{len(self.z) - 1}")
        if label is None:
            self.labels.pop(row, None)
        elif label not in LABELS:
            raise EraserError(f"label {label!r} is not one of yes, no, unsure")
        else:
            self.labels[row] = label
        if save:
            self.save()

    def marks(self) -> Marks:
        rows = list(self.labels)
        return Marks(self.z[rows], [self.labels[r] for r in rows], self.feature, self.generator.name)

    def counts(self) -> dict[str, int]:
        labels = list(self.labels.values())
        return {lab: labels.count(lab) for lab in LABELS}

    def save(self) -> Path | None:
        """Write the marks file (atomically). With no sample marked, nothing is written, and a marks
        file this session wrote earlier is removed (its marks were all undone)."""
        if not self.labels:
            if getattr(self, "_wrote", False):
                for p in (self.marks_path, self.marks_path.with_name(self.marks_path.name.removesuffix(".json")
                                                                     + ".latents.npy")):
                    p.unlink(missing_ok=True)
                self._wrote = False
            return None
        self.marks_path.parent.mkdir(parents=True, exist_ok=True)
        self._wrote = True
        return save_marks(self.marks_path, self.marks(), extra={"made_with": "eraser.notebook"})

    def load(self, marks: Marks | str | Path, limit: int | None = None) -> list[int]:
        """Add a marks file's samples and labels (the first ``limit``); return their rows."""
        if not isinstance(marks, Marks):
            marks = load_marks(marks)
        if limit is not None:
            marks = marks.subset(range(min(limit, len(marks))))
        rows = self.add(marks.z)
        for row, label in zip(rows, marks.labels):
            self.mark(row, label, save=False)
        self.save()
        return rows

    # probe
    def embed(self, rows: list[int], images: Tensor | None = None) -> int:
        """Embed the ``rows`` not embedded yet, in one batch (``images``: their images, if already
        made); return how many were embedded."""
        with self._lock:
            missing = [i for i, r in enumerate(rows) if r not in self._emb]
            if missing:
                x = self.images([rows[i] for i in missing]) if images is None else images[missing]
                for i, e in zip(missing, embed_all(self.embedder, x)):
                    self._emb[rows[i]] = e
            return len(missing)

    def _embeddings(self, rows: list[int]) -> Tensor:
        with self._lock:
            self.embed(rows)
            return torch.stack([self._emb[r] for r in rows])

    def can_train(self) -> bool:
        c = self.counts()
        return c["yes"] >= MIN_PER_CLASS and c["no"] >= MIN_PER_CLASS

    def retrain(self) -> ProbeFit | None:
        """Refit the probe on the yes/no marks (None until each has ``MIN_PER_CLASS``)."""
        labels = self.labels.copy()  # marks may arrive meanwhile (a background refit)
        yes = sum(lab == "yes" for lab in labels.values())
        if yes < MIN_PER_CLASS or sum(lab == "no" for lab in labels.values()) < MIN_PER_CLASS:
            self.fit = None
            return None
        rows = [r for r, lab in labels.items() if lab != "unsure"]
        y = torch.tensor([1.0 if labels[r] == "yes" else 0.0 for r in rows])
        with self._lock:
            self.fit = train_probe(self._embeddings(rows).numpy(), y.numpy(), C=self.C, seed=self.seed)
        return self.fit

    def probe_status(self) -> str:
        """One line: the probe's cross-validated AUC, or how many marks it still needs."""
        c = self.counts()
        if self.fit is None:
            return (f"probe: needs at least {MIN_PER_CLASS} 'yes' and {MIN_PER_CLASS} 'no' marks "
                    f"(have {c['yes']} yes, {c['no']} no)")
        f = self.fit
        return (f"probe: cross-validated AUC {f.cv_auc:.3f} ± {f.cv_auc_std:.3f} ({f.folds}-fold, "
                f"{f.n_yes} yes / {f.n_no} no marks)")

    def suggest(self, k: int, n_candidates: int = 256) -> list[int]:
        """The ``k`` fresh samples the current probe is least sure of (``workflow.suggest``); their rows."""
        from eraser.labelling.workflow import suggest

        if self.fit is None and self.retrain() is None:
            raise EraserError(self.probe_status().replace("probe: needs", "suggestions need a probe, which needs")
                              + "; mark more samples first")
        # ranked by uncertainty; enough extra that candidates already marked can be dropped
        with self._lock:
            self.suggest_seed = self._next_seed()
            z, scores, _ = suggest(self.generator, self.marks(), self.embedder, n_candidates, self.suggest_seed,
                                   min(n_candidates, k + len(self.labels)), C=self.C, fit=self.fit)
        rows, kept = [], []
        for row, s in zip(self.add(z), scores.tolist()):
            if row not in self.labels and len(rows) < k:
                rows.append(row)
                kept.append(s)
        self.probe_scores.update(zip(rows, kept))
        return rows

    def _next_seed(self) -> int:
        """A new seed per draw, far from the small seeds marks files are usually drawn with."""
        self._draws += 1
        self.last_seed = SEED_BASE + self.seed * 100_000 + self._draws
        return self.last_seed


class Background:
    """One worker thread that runs the board's slow work (embedding a page, refitting the probe) in
    order, so that no click waits for it. With ``threaded=False`` each job runs at once in the caller
    (tests, scripts). ``timings`` holds each job's kind, rows (a job that returns an int: that many)
    and seconds; a job's error is kept in
    ``errors`` (and shown on the board), never lost in the thread."""

    def __init__(self, threaded: bool = True) -> None:
        self.threaded = threaded
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="eraser-marking") if threaded else None
        self.timings: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def submit(self, kind: str, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               rows: int = 0) -> None:
        def job():
            t0 = time.perf_counter()
            try:
                result = fn()
            except Exception as e:  # noqa: BLE001 - reported on the board
                self.errors.append(f"{kind}: {e}")
                result = e
            self.timings.append({"job": kind, "rows": result if isinstance(result, int) else rows,
                                 "seconds": time.perf_counter() - t0})
            if on_done is not None:
                on_done(result)

        if self._pool is None:
            job()
        else:
            self._pool.submit(job)

    def wait(self, timeout: float | None = None) -> None:
        """Return once every job submitted so far has finished."""
        if self._pool is not None:
            self._pool.submit(lambda: None).result(timeout)


# -- marking (widgets) --------------------------------------------------------------------------

#: what each state looks like on a tile: overlay tint and text
TILE_TINT = {"yes": "rgba(46, 125, 50, 0.35)", "unsure": "rgba(249, 168, 37, 0.45)", "no": "transparent"}
TILE_TEXT = {"yes": "yes", "unsure": "?", "no": ""}

#: the board's keys (ipyevents, while the pointer is over the board): key -> action
KEYS = {" ": "toggle", "y": "toggle", "x": "toggle", "u": "unsure", "?": "unsure",
        "Enter": "page done", "n": "page done", "Backspace": "undo", "z": "undo",
        "ArrowLeft": "left", "ArrowRight": "right", "ArrowUp": "up", "ArrowDown": "down",
        "h": "left", "l": "right", "k": "up", "j": "down"}
KEY_HELP = ("keys (pointer over the board): <b>space</b> or <b>y</b> yes/no on the sample under the pointer "
            "(or the dashed one; arrow keys move it), <b>u</b> unsure, <b>Enter</b> or <b>n</b> page done, "
            "<b>Backspace</b> or <b>z</b> undo; right-click a sample: unsure")


def has_ipyevents() -> bool:
    """Whether ``ipyevents`` (keyboard and right-click on the board) is installed."""
    import importlib.util

    return importlib.util.find_spec("ipyevents") is not None


class Tile:
    """One sample: its image under a transparent button (a click anywhere on it toggles "yes"), and a
    small "?" button under it for "unsure". Tiles are reused page after page (``row`` changes)."""

    def __init__(self, index: int, on_toggle: Callable[[int], None], on_unsure: Callable[[int], None],
                 size: int = 96) -> None:
        w = _widgets()
        self.index = index
        self.row: int | None = None
        cell = "1 / 1 / 2 / 2"  # image and button in the same grid cell: the button lies over the image
        self.image = w.Image(format="png", layout=w.Layout(width=f"{size}px", height=f"{size}px", grid_area=cell))
        self.button = w.Button(description="", tooltip="click: yes / no",
                               layout=w.Layout(width=f"{size}px", height=f"{size}px", grid_area=cell,
                                               margin="0", padding="0"))
        self.button.style.button_color = TILE_TINT["no"]
        self.button.style.font_weight = "bold"
        self.button.style.font_size = "18px"
        self.button.style.text_color = "white"
        self.unsure_button = w.Button(description="?", tooltip="unsure",
                                      layout=w.Layout(width="26px", height="18px", padding="0", margin="0"))
        self.caption = w.HTML()
        self.button.on_click(lambda _b: self.row is not None and on_toggle(self.row))
        self.unsure_button.on_click(lambda _b: self.row is not None and on_unsure(self.row))
        face = w.GridBox([self.image, self.button],
                         layout=w.Layout(grid_template_columns=f"{size}px", grid_template_rows=f"{size}px"))
        foot = w.HBox([self.caption, self.unsure_button],
                      layout=w.Layout(justify_content="space-between", width=f"{size}px", height="20px"))
        self.widget = w.VBox([face, foot], layout=w.Layout(border="3px solid #dddddd", padding="1px",
                                                          align_items="center"))
        self.state: str | None = None

    def set_sample(self, row: int | None, png: bytes | None, caption: str = "") -> None:
        self.row = row
        if png is not None:
            self.image.value = png
        self.caption.value = f"<small>#{row}{caption}</small>" if row is not None else ""
        self.widget.layout.display = "none" if row is None else None

    def show(self, state: str, marked: str | None = None, cursor: bool = False) -> None:
        """Draw ``state`` (yes / no / unsure on this page); ``marked``: the saved label, which colours a
        "no" (a saved no is red, a no that page done will save is grey); ``cursor``: dashed border."""
        self.state = state
        colour = LABEL_COLOURS[state if state != "no" or marked == "no" else None]
        if cursor and state == "no" and marked != "no":
            colour = "#1565c0"
        self.widget.layout.border = f"3px {'dashed' if cursor else 'solid'} {colour}"
        self.button.style.button_color = TILE_TINT[state]
        self.button.description = TILE_TEXT[state]


@dataclass
class _Step:
    """What undo restores: the page, its states and the cursor before an input, and for a page done
    the saved labels it replaced (None: not marked) and whether the page it drew goes back in the queue."""

    kind: str
    page: list[int]
    states: dict[int, str]
    cursor: int
    replaced: dict[int, str | None] | None = None
    requeue: bool = False


class MarkingBoard:
    """A page of ``n`` samples (48 by default) that a person marks at the pace of Moon et al.'s study.

    * a click on a sample toggles "yes" (every sample starts as "no"); "?" under it (or ``u``, or a
      right-click) marks it "unsure";
    * **page done** marks the rest of the page "no", saves the marks file, refits the probe in the
      background, and shows the next page (fresh samples, or pages queued by ``replay``);
    * **undo** takes back the last input, a page done included (its marks leave the file, its page
      comes back as it was);
    * keys (with ``ipyevents`` installed; ``keyboard``): see ``KEY_HELP``;
    * **new samples** and **suggest next** (the probe's least sure samples) replace an unmarked page.

    Marks are saved at each page done (and each undo of one), atomically, in the CLI's marks format;
    a kernel that dies loses at most the current page. A click changes only its tile and the status
    line: each page's images are embedded once, in one batch, in a background thread
    (``background=False``: at once), and the probe is refitted after each page done
    (``retrain``), never per click. ``replay`` drives the same handlers from a marks file.
    ``ncol`` fixes the number of columns (default: as many as the output is wide; the up/down arrow
    keys need it), ``size`` the thumbnails' width in px.
    """

    def __init__(self, session: MarkingSession, n: int = 48, ncol: int | None = None, suggest_k: int | None = None,
                 n_candidates: int = 256, retrain: bool = True, size: int = 96, keyboard: bool | None = None,
                 background: bool = True) -> None:
        w = _widgets()
        self.session, self.n, self.ncol = session, n, ncol
        self.suggest_k = suggest_k or n
        self.n_candidates = n_candidates
        self.size = size
        self.keyboard = has_ipyevents() if keyboard is None else keyboard
        if self.keyboard and not has_ipyevents():
            raise EraserError("the board's keys need ipyevents: pip install ipyevents (or 'eraser[notebook]')")
        self.background = Background(threaded=background)
        self.page: list[int] = []  # rows shown, in order
        self.state: dict[int, str] = {}  # row -> yes / no / unsure on this page (saved at page done)
        self.cursor = 0  # the tile the keys act on
        self.queue: list[list[int]] = []  # pages to show before drawing fresh samples
        self.history: list[_Step] = []
        self._png: dict[int, bytes] = {}  # thumbnails of this page, the one before and the next
        self._png_lock = threading.Lock()
        self._preparing: set[int] = set()
        self._drawn: list[int] | None = None  # the fresh page that page done shows next (drawn ahead)
        self._retrain_pending = False
        self.status = w.HTML()
        self.probe = w.HTML()
        self.message = w.HTML()
        self.auto_retrain = w.Checkbox(value=retrain, description="refit the probe after each page (in the background)",
                                       indent=False, layout=w.Layout(width="auto"))
        fit = {"width": "auto", "flex": "0 0 auto"}  # never squeezed to "page ..."
        self.done_button = w.Button(description="page done: the rest are no", icon="check", button_style="primary",
                                    layout=w.Layout(**fit))
        self.undo_button = w.Button(description="undo", icon="undo", layout=w.Layout(**fit))
        self.new_button = w.Button(description="new samples", icon="refresh", tooltip="another page (this one unmarked)",
                                   layout=w.Layout(**fit))
        self.suggest_button = w.Button(description="suggest next", icon="lightbulb-o", layout=w.Layout(**fit),
                                       tooltip="a page of the samples the probe is least sure of")
        self.done_button.on_click(lambda _b: self._guard(self.page_done))
        self.undo_button.on_click(lambda _b: self._guard(self.undo))
        self.new_button.on_click(lambda _b: self._guard(self.new_samples))
        self.suggest_button.on_click(lambda _b: self._guard(self.suggest_next))
        self.tiles = [Tile(i, self._on_toggle, self._on_unsure, size) for i in range(n)]
        columns = f"repeat({ncol}, {size + 8}px)" if ncol else f"repeat(auto-fill, {size + 8}px)"
        self.grid = w.GridBox([], layout=w.Layout(grid_template_columns=columns, grid_gap="3px"))
        resumed = f" Carrying on from the {session.resumed} marks already there." if session.resumed else ""
        keys = f"<br><small>{KEY_HELP}</small>" if self.keyboard else ""
        self.widget = w.VBox([
            w.HTML(f"<b>Mark the samples that show <i>{html.escape(session.feature)}</i></b>: click a sample for "
                   "<b>yes</b> (again: back to no), <b>?</b> under it for <b>unsure</b>; everything not marked is "
                   f"<b>no</b> when you press <b>page done</b>, which saves <code>{html.escape(str(session.marks_path))}"
                   f"</code>.{resumed}{keys}"),
            w.HBox([self.done_button, self.undo_button, self.new_button, self.suggest_button, self.auto_retrain],
                   layout=w.Layout(flex_flow="row wrap")),
            self.status, self.probe, self.message, self.grid,
        ])
        self.events: list[Any] = []  # the ipyevents watchers (keyboard on the board, pointer on each tile)
        if self.keyboard:
            self._watch_events()
        self._update_status()

    def _ipython_display_(self) -> None:
        _display(self.widget)

    # -- inputs (each returns quickly: nothing here embeds, fits or waits) --------------------------

    def toggle(self, row: int) -> None:
        """A click on a sample: yes <-> no (unsure -> yes)."""
        self._input("toggle", row, "no" if self.state.get(row) == "yes" else "yes")

    def unsure(self, row: int) -> None:
        """The "?" under a sample, ``u`` or a right-click on it: unsure <-> no (yes -> unsure)."""
        self._input("unsure", row, "no" if self.state.get(row) == "unsure" else "unsure")

    def page_done(self) -> list[int]:
        """Save the page (its unmarked samples as "no"), refit the probe in the background, and show
        the next page; return its rows."""
        self._commit(advance=True)
        return self.page

    def undo(self) -> None:
        """Take back the last input: a toggle, an unsure, a page done or a new page."""
        if not self.history:
            self.message.value = "nothing to undo"
            return
        step = self.history.pop()
        if step.replaced is not None:
            for row, label in step.replaced.items():
                self.session.mark(row, label, save=False)
            self.session.save()
            self._schedule_retrain()
        if step.page != self.page:
            if step.requeue and self.page:
                self.queue.insert(0, self.page)
            self._show(step.page, step.states, step.cursor)
        else:
            self.state = dict(step.states)
            self.cursor = step.cursor
            self._draw_tiles()
        self.message.value = f"undid: {step.kind}"
        self._update_status()

    def key(self, event: dict[str, Any]) -> None:
        """A key pressed over the board (an ipyevents ``keydown``): see ``KEYS``."""
        action = KEYS.get(event.get("key", ""))
        if action is None or event.get("altKey"):
            return
        row = self.page[self.cursor] if 0 <= self.cursor < len(self.page) else None
        if action == "toggle" and row is not None:
            self.toggle(row)
        elif action == "unsure" and row is not None:
            self.unsure(row)
        elif action == "page done":
            self.page_done()
        elif action == "undo":
            self.undo()
        elif action in ("left", "right") or (action in ("up", "down") and self.ncol):
            step = {"left": -1, "right": 1, "up": -(self.ncol or 0), "down": self.ncol or 0}[action]
            self.point(min(max(self.cursor + step, 0), len(self.page) - 1))

    def point(self, index: int) -> None:
        """Move the keys' cursor to tile ``index`` (the pointer entered it, or an arrow key)."""
        if index == self.cursor or not 0 <= index < len(self.page):
            return
        old, self.cursor = self.cursor, index
        for i in (old, index):
            if i < len(self.page):
                self._draw_tile(i)

    def new_samples(self) -> list[int]:
        """Show a page of fresh samples in place of this one (which must have no unsaved marks)."""
        self._require_saved("new samples")
        self._switch(self._take_next())
        return self.page

    def suggest_next(self) -> list[int]:
        """Show the samples the probe is least sure of in place of this page (after any background refit)."""
        self._require_saved("suggest next")
        self.background.wait()
        if self.session.fit is None or self._retrain_pending:
            self.session.retrain()
        rows = self.session.suggest(self.suggest_k, self.n_candidates)
        self._switch(rows)
        self._update_status()
        return rows

    def replay(self, marks: Marks | str | Path, limit: int | None = None) -> list[int]:
        """A scripted person: show a marks file's samples (the first ``limit``) in pages of ``n`` and mark
        them through the input handlers: a click on each "yes", "unsure" on each unsure, then page
        done. The board stays on the last page; return the rows."""
        if not isinstance(marks, Marks):
            marks = load_marks(marks)
        if limit is not None:
            marks = marks.subset(range(min(limit, len(marks))))
        self._require_saved("replay")
        rows = self.session.add(marks.z)
        want = dict(zip(rows, marks.labels))
        pages = [list(dict.fromkeys(rows[i : i + self.n])) for i in range(0, len(rows), self.n)]
        self.queue[:0] = pages
        self._switch(self._take_next(), record=False)
        for k in range(len(pages)):
            for row in self.page:
                for label in scripted_inputs(self.state[row], want[row]):
                    (self.toggle if label == "toggle" else self.unsure)(row)
            self._commit(advance=k < len(pages) - 1)
        return rows

    # -- what the inputs do --------------------------------------------------------------------------

    def _on_toggle(self, row: int) -> None:
        self._guard(lambda: self.toggle(row))

    def _on_unsure(self, row: int) -> None:
        self._guard(lambda: self.unsure(row))

    def _guard(self, action: Callable[[], Any]) -> None:
        """Run an input; a user error shows as one line instead of a traceback."""
        try:
            if self.message.value:
                self.message.value = ""
            action()
        except EraserError as e:
            self.message.value = f'<span style="color:#c62828">{html.escape(str(e))}</span>'

    def _input(self, kind: str, row: int, state: str) -> None:
        if row not in self.state:
            raise EraserError(f"sample #{row} is not on this page")
        self.history.append(_Step(kind, self.page, dict(self.state), self.cursor))
        self.state[row] = state
        self._draw_tile(self.page.index(row))
        self._update_status()

    def _commit(self, advance: bool) -> None:
        """Page done: save the page's states as marks, refit in the background, then (``advance``) show
        the next page."""
        step = _Step("page done", self.page, dict(self.state), self.cursor,
                     replaced={r: self.session.labels.get(r) for r in self.page}, requeue=True)
        for row in self.page:
            self.session.mark(row, self.state[row], save=False)
        self.session.save()
        self._schedule_retrain()
        if advance:
            self._show(self._take_next())
        else:
            self._draw_tiles()
        self.history.append(step)
        self._update_status()

    def _switch(self, rows: list[int], record: bool = True) -> None:
        if record and self.page:
            self.history.append(_Step("new page", self.page, dict(self.state), self.cursor))
        self._show(rows)

    def _require_saved(self, what: str) -> None:
        changed = sum(self.state[r] != self.session.labels.get(r, "no") for r in self.page)
        if changed:
            raise EraserError(f"this page has {changed} mark{'s' * (changed > 1)} not saved yet: press page done "
                              f"(the rest become no) or undo {'them' if changed > 1 else 'it'} before {what}")

    def _upcoming(self) -> list[int]:
        """The rows page done will show next: a queued page, else fresh samples (drawn once, ahead)."""
        while self.queue and not self.queue[0]:
            self.queue.pop(0)
        if self.queue:
            return self.queue[0][: self.n]
        if self._drawn is None:
            self._drawn = self.session.draw(self.n)
        return self._drawn

    def _take_next(self) -> list[int]:
        rows = self._upcoming()
        if self.queue:
            self.queue.pop(0)
        else:
            self._drawn = None
        return rows

    def _show(self, rows: list[int], states: dict[int, str] | None = None, cursor: int = 0) -> None:
        """Put ``rows`` on the tiles, then prepare the next page in the background. Thumbnails not
        prepared yet (the first page, suggestions, a busy worker) are made here, in one batch."""
        rows = rows[: self.n]
        missing = [r for r in rows if r not in self._png]
        if missing:
            images = self.session.images(missing)
            self._thumbnails(missing, images)
            self.background.submit("embed page", lambda: self.session.embed(missing, images), rows=len(missing))
        previous, self.page = self.page, list(rows)
        self.state = dict(states) if states is not None else {r: self.session.labels.get(r, "no") for r in rows}
        self.cursor = cursor
        for i, tile in enumerate(self.tiles):
            row = rows[i] if i < len(rows) else None
            score = self.session.probe_scores.get(row) if row is not None else None
            tile.set_sample(row, self._png.get(row), "" if score is None else f" · probe {score:.2f}")
        shown = [t.widget for t in self.tiles[: len(rows)]]
        if len(self.grid.children) != len(shown):
            self.grid.children = shown
        self._draw_tiles()
        upcoming = self._upcoming()
        keep = set(previous) | set(rows) | set(upcoming)
        with self._png_lock:
            self._png = {r: p for r, p in self._png.items() if r in keep}
        self._prepare(upcoming)

    def _thumbnails(self, rows: list[int], images: Tensor) -> None:
        pngs = {r: thumbnail_png(x, self.size) for r, x in zip(rows, images)}
        with self._png_lock:
            self._png.update(pngs)

    def _prepare(self, rows: list[int]) -> None:
        """In the background: the images and thumbnails of the next page, then its embeddings (one batch)."""
        todo = [r for r in rows if r not in self._png and r not in self._preparing]
        if not todo:
            return
        self._preparing.update(todo)
        made: dict[str, Tensor] = {}

        def make():
            try:
                made["rows"] = [r for r in todo if r not in self._png]  # (unless shown meanwhile)
                if made["rows"]:
                    made["images"] = self.session.images(made["rows"])
                    self._thumbnails(made["rows"], made["images"])
            finally:
                self._preparing.difference_update(todo)

        self.background.submit("prepare next page", make, rows=len(todo))
        self.background.submit("embed page", lambda: self.session.embed(made.get("rows", todo), made.get("images")),
                               rows=len(todo))

    def _draw_tile(self, i: int) -> None:
        row = self.page[i]
        self.tiles[i].show(self.state[row], self.session.labels.get(row), self.keyboard and i == self.cursor)

    def _draw_tiles(self) -> None:
        for i in range(len(self.page)):
            self._draw_tile(i)

    def _schedule_retrain(self) -> None:
        """Refit the probe in the background after the page's embeddings (one refit for any number of
        pages done meanwhile)."""
        if not self.auto_retrain.value or self._retrain_pending:
            return
        self._retrain_pending = True
        if self.session.can_train():
            self.probe.value = self.session.probe_status() + " · refitting…"

        def refit():
            self._retrain_pending = False
            return self.session.retrain()

        def done(result):
            if isinstance(result, Exception):
                self.message.value = f'<span style="color:#c62828">probe refit failed: {html.escape(str(result))}</span>'
            self.probe.value = self.session.probe_status()

        self.background.submit("refit probe", refit, done, rows=len(self.session.labels))

    def _watch_events(self) -> None:
        from ipyevents import Event

        keys = Event(source=self.widget, watched_events=["keydown"])
        keys.on_dom_event(lambda e: self._guard(lambda: self.key(e)))
        self.events.append(keys)
        for tile in self.tiles:
            pointer = Event(source=tile.button, watched_events=["mouseenter", "contextmenu"],
                            prevent_default_action=True)
            pointer.on_dom_event(lambda e, i=tile.index: self._guard(lambda: self.pointer(i, e)))
            self.events.append(pointer)

    def pointer(self, index: int, event: dict[str, Any]) -> None:
        """The pointer over tile ``index`` (an ipyevents event): entering moves the cursor there, a
        right-click marks it unsure."""
        if index >= len(self.page):
            return
        if event.get("event", event.get("type")) == "contextmenu":
            self.unsure(self.page[index])
        else:
            self.point(index)

    def summary(self) -> str:
        """One line of what the board shows: marks, probe, the last message, the samples on the page
        (after any background work has finished)."""
        import re

        self.background.wait()
        c = self.session.counts()
        shown = [f"#{r}" + (f" (probe {self.session.probe_scores[r]:.2f})" if r in self.session.probe_scores else "")
                 for r in self.page]
        message = html.unescape(re.sub("<[^>]+>", "", self.message.value))
        return (f"{c['yes']} yes, {c['no']} no, {c['unsure']} unsure marks in {self.session.marks_path}; "
                f"{self.session.probe_status()}; " + (f"{message}; " if message else "")
                + f"showing {len(shown)} samples: {', '.join(shown[:8])}{' …' if len(shown) > 8 else ''}")

    def _update_status(self) -> None:
        c = self.session.counts()
        on_page = [self.state[r] for r in self.page]
        page = (f" · this page: <b>{on_page.count('yes')}</b> yes, <b>{on_page.count('unsure')}</b> unsure, "
                f"{on_page.count('no')} no at page done" if self.page else "")
        value = (f"saved {sum(c.values())} marks: <b>{c['yes']}</b> yes, <b>{c['no']}</b> no, "
                 f"<b>{c['unsure']}</b> unsure{page}")
        if self.status.value != value:
            self.status.value = value
        if not self._retrain_pending:
            self.probe.value = self.session.probe_status()


def scripted_inputs(state: str, want: str) -> list[str]:
    """The inputs ("toggle", "unsure") that take a sample shown as ``state`` to ``want``: what a person
    clicks (``MarkingBoard.replay`` and ``benchmarks/marking_replay.py``)."""
    if state == want:
        return []
    if want == "yes":
        return ["toggle"]  # from no or unsure
    if want == "unsure":
        return ["unsure"]  # from no or yes
    return ["toggle" if state == "yes" else "unsure"]  # back to no


def thumbnail_png(image: Tensor, size: int) -> bytes:
    """PNG bytes of one sample ``[3, H, W]`` in [-1, 1], enlarged (nearest) to at least ``size`` px."""
    from eraser.images import grid_image

    scale = max(1, -(-size // image.shape[-1]))
    return png_bytes(grid_image(image[None], nrow=1, padding=0, scale=scale))


# -- erase --------------------------------------------------------------------------------------


@dataclass
class EraseOutcome:
    """What an erase from the notebook produced: where, the verdict, a one-line message, and the library's
    ``EraseResult`` (None when the erase could not run)."""

    out: Path
    passed: bool
    message: str
    result: EraseResult | None = None

    @property
    def report(self) -> Path:
        return self.out / "report"

    @property
    def metrics(self) -> EraseMetrics | None:
        return self.result.metrics if self.result is not None else None

    @property
    def guards(self) -> list[GuardResult]:
        return self.result.guards if self.result is not None else []


class ErasePanel:
    """The erase settings as widgets; ``run()`` erases with the session's marks (``pipeline.run_erase``).

    ``labeller`` (a spec of any registered kind, e.g. ``probe:NAME``) labels the erase instead of the
    session's marks; ``labellers`` (a list of specs, one per feature) erases several features in one run
    instead. ``feature_classifier`` may be a list: the first is the dropdown's choice, the others are
    always added (each measures the erased feature of its name, or is reported as collateral). ``options`` sets further ``EraseRequest`` fields (``guard_every``, ``guard_eval``,
    ``limits``, …), ``settings`` further ``EraseSettings`` fields (``batch_size``, ``seed``, …).
    """

    def __init__(self, session: MarkingSession, generator_source: str, out: str | Path, steps: int | None = None,
                 lr: float | None = None, margin: float | None = None,
                 feature_classifier: str | list[str] | None = None, n_eval: int = 2000, fid_samples: int = 500,
                 device: str = "cpu", options: dict[str, Any] | None = None,
                 settings: dict[str, Any] | None = None, labeller: str | None = None,
                 labellers: list[str] | None = None) -> None:
        from eraser import registry
        from eraser.labelling.spec import LabellerSpec
        from eraser.unlearn.settings import EraseSettings

        w = _widgets()
        defaults = EraseSettings()
        self.session, self.generator_source, self.device = session, generator_source, device
        if labeller is not None and labellers:
            raise EraserError("give labeller= (one feature) or labellers= (several), not both")
        self.labeller = LabellerSpec.parse(labeller) if labeller is not None else None
        self.labellers = [LabellerSpec.parse(x) for x in labellers or []]
        if isinstance(feature_classifier, (list, tuple)):
            feature_classifier, *self.more_classifiers = list(feature_classifier) or [None]
        else:
            self.more_classifiers = []
        self.options = dict(options or {})
        self.settings = dict(settings or {})
        # settings that have a widget only set its starting value
        steps = self.settings.pop("steps", steps)
        method = self.settings.pop("method", defaults.method)
        defaults = EraseSettings(method=method)
        if steps is None:
            steps = defaults.steps
        lr = self.settings.pop("lr", lr)
        margin = self.settings.pop("margin", margin)
        classifiers = [("none", None)] + [(n, n) for n in registry.names("classifier")]
        if feature_classifier is not None and feature_classifier not in [v for _, v in classifiers]:
            classifiers.append((feature_classifier, feature_classifier))
        style = {"description_width": "150px"}
        self.out = w.Text(value=str(out), description="save checkpoint to", style=style, layout=w.Layout(width="520px"))
        self.method = w.Dropdown(options=[("deep (default)", "deep"), ("paper (Moon et al. 2024)", "paper")],
                                 value=method, description="method", style=style)
        self.steps = w.BoundedIntText(value=steps, min=1, max=1_000_000, description="steps", style=style)
        self.lr = w.FloatText(value=defaults.lr if lr is None else lr, description="learning rate", style=style)
        self.margin = w.FloatText(value=defaults.margin if margin is None else margin, description="margin", style=style)
        self.classifier = w.Dropdown(options=classifiers, value=feature_classifier, style=style,
                                     description="measuring classifier")
        self.n_eval = w.BoundedIntText(value=n_eval, min=1, max=1_000_000, description="feature-rate samples", style=style)
        self.fid_samples = w.BoundedIntText(value=fid_samples, min=0, max=100_000, description="FID samples (0: skip)",
                                            style=style)
        chosen = self.labellers or ([self.labeller] if self.labeller is not None else [])
        what = ", ".join(f"<code>{html.escape(str(x))}</code>" for x in chosen) if chosen else "the marks above"
        if self.more_classifiers:
            what += " (also measured: " + ", ".join(f"<code>{html.escape(c)}</code>" for c in self.more_classifiers) + ")"
        self.widget = w.VBox([w.HTML(f"<b>Erase</b> with {what} (run the next cell to start)"),
                              self.out, self.method, self.steps, self.lr, self.margin, self.classifier, self.n_eval, self.fid_samples])

    def _ipython_display_(self) -> None:
        _display(self.widget)

    def request(self):
        """The ``EraseRequest`` these settings describe."""
        from eraser.pipeline import EraseRequest
        from eraser.unlearn.settings import EraseSettings

        return EraseRequest(
            generator=self.generator_source,
            labeller=list(self.labellers) or self.labeller or f"marks:{self.session.marks_path}",
            out=Path(self.out.value).expanduser(),
            settings=EraseSettings(method=self.method.value, steps=self.steps.value, lr=self.lr.value,
                                   margin=self.margin.value, **self.settings),
            feature_classifier=([c for c in [self.classifier.value] if c is not None] + self.more_classifiers
                                if self.more_classifiers else self.classifier.value),
            n_eval=self.n_eval.value,
            fid_samples=self.fid_samples.value,
            device=self.device,
            **self.options,
        )

    def run(self, log: Callable[[str], None] | None = None) -> EraseOutcome:
        """Save the marks, then erase (a live progress bar while fine-tuning); never raises for a
        failed guard or a user error: the outcome says what happened. The erase's messages go to ``log``
        (default: this cell's output)."""
        from eraser.logs import forwarded
        from eraser.pipeline import run_erase

        self.session.save()
        try:
            req = self.request()
            if self.labeller is None and not self.labellers:
                self.session.marks().require_both(purpose="an erase")
            with forwarded(log or _to_output):
                result = run_erase(req)
        except EraserError as e:
            return EraseOutcome(Path(self.out.value), False, str(e))
        message = (f"all measured guards pass; the erased checkpoint is in {req.out}" if result.passed
                   else result.failure)
        return EraseOutcome(req.out, result.passed, message, result)


def _to_output(line: str) -> None:
    """One message line into the notebook cell's output (the notebook's logging handler)."""
    sys.stdout.write(line + "\n")


def guard_table_html(outcome: EraseOutcome) -> str:
    """The report's guard table (``report.html.guard_table``) for an outcome."""
    from eraser.report.html import guard_table

    return guard_table(outcome.guards)


def outcome_summary(outcome: EraseOutcome) -> dict[str, Any]:
    """The headline numbers of an outcome (feature rate before/after, MS-SSIM, kept step, seconds)."""
    from eraser.results import summary_numbers

    m = outcome.metrics
    if m is None:
        return {"passed": outcome.passed, "feature_rate_before": None, "feature_rate_after": None, "ms_ssim": None,
                "kept_step": None, "seconds": None}
    n = summary_numbers(m, outcome.guards)
    return {"passed": outcome.passed, "feature_rate_before": n["feature_rate_before"],
            "feature_rate_after": n["feature_rate_after"], "ms_ssim": n["ms_ssim"], "kept_step": n["kept_step"],
            "seconds": m.timings_s.get("total")}


def show_outcome(outcome: EraseOutcome) -> None:
    """Verdict, headline numbers, guard table and the report's before/after grid, inline."""
    from IPython.display import HTML, Image

    measured = outcome.metrics is not None and outcome_summary(outcome)["feature_rate_after"] is not None
    message = outcome.message
    if outcome.passed and not measured:  # amber, as the report's badge: nothing counted the feature
        colour = "#fef7e0"
        message += ("; NOT MEASURED: no measuring classifier counted the feature, so the guards that passed "
                    "say nothing about how much of it is gone (set FEATURE_CLASSIFIER)")
    else:
        colour = "#e6f4ea" if outcome.passed else "#fce8e6"
    parts = [f'<div style="background:{colour};padding:6px 10px">{html.escape(message)}</div>']
    if outcome.metrics is not None:
        s = outcome_summary(outcome)

        def pct(v):
            return "–" if v is None else f"{100 * v:.1f} %"

        rows = [("feature rate before (measuring classifier)", pct(s["feature_rate_before"])),
                ("feature rate after", pct(s["feature_rate_after"])),
                ("MS-SSIM(G, G') on feature-free marks", "–" if s["ms_ssim"] is None else f"{s['ms_ssim']:.4f}"),
                ("kept the state of step", s["kept_step"]), ("seconds", s["seconds"])]
        parts.append("<table>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>")
        parts.append(f"<b>Guards</b><style>{GUARD_CSS}</style><div class='eraser-guards'>{guard_table_html(outcome)}</div>")
        parts.append(f"Full report: <code>{outcome.report / 'report.html'}</code>")
    _display(HTML("".join(parts)))
    grid = outcome.report / "before_after.png"
    if grid.is_file():
        _display(HTML("<b>Before / after at the same latents</b> (each block: original, erased, difference; "
                      "labelled samples, fresh samples with the feature, the feature-free samples changed most)"),
                 Image(data=grid.read_bytes(), width=2 * 530))


def show_checkpoint(outcome: EraseOutcome, original: Generator, n: int = 16, seed: int = 7):
    """Load the saved checkpoint, show fresh samples of it next to the original's; return it (None if not saved)."""
    from IPython.display import HTML, Image

    from eraser.generators import load_generator
    from eraser.generators.checkpoint import is_checkpoint
    from eraser.report.write import before_after_grid

    if not outcome.passed or not is_checkpoint(outcome.out):
        _display(HTML(f"No checkpoint was saved: {html.escape(outcome.message)}"))
        return None
    g_new = load_generator(outcome.out, original.device.type)
    z = original.sample_latents(n, seed)
    files = ", ".join(sorted(p.name for p in outcome.out.iterdir()))
    _display(HTML(f"Saved checkpoint <code>{html.escape(str(outcome.out))}</code> ({html.escape(files)}); "
                  f"use it anywhere a generator is accepted, e.g. <code>eraser sample -g {html.escape(str(outcome.out))} "
                  f"--n 64 --out after.png</code>. Fresh samples (seed {seed}), original then erased:"),
             Image(data=png_bytes(before_after_grid(original, g_new, z, z[:0])), width=2 * 530))
    return g_new


__all__ = ["DEFAULT_EMBED_SIZE", "KEYS", "Background", "EraseOutcome", "ErasePanel", "GeneratorPicker", "MarkingBoard",
           "MarkingSession", "Tile", "default_embedder", "guard_table_html", "has_ipyevents", "outcome_summary",
           "scripted_inputs", "show_checkpoint", "show_outcome"]
