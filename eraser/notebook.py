"""The widgets behind ``notebooks/erase_interactively.ipynb``: pick a generator, mark samples, erase.

Everything the notebook does is a call into this module, and everything this module does is a
call into the rest of eraser:

* ``GeneratorPicker``: a shipped model or a local path, loaded with ``load_generator``;
* ``MarkingSession`` (no widgets): the samples shown so far, a person's marks on them, saved on
  every change with ``save_marks`` (the marks file ``eraser erase --labeller marks:PATH`` reads),
  and a probe (``train_probe`` on embeddings, cached per sample) retrained as marks arrive, with its
  cross-validated AUC; "suggest next" is ``labelling.workflow.suggest`` (uncertainty sampling);
* ``MarkingBoard``: a grid of samples with yes / no / unsure buttons per sample, driving a session;
  ``replay`` feeds a marks file through the same click handler (headless runs, tests);
* ``ErasePanel``: the erase settings; ``run()`` calls ``pipeline.run_erase`` (its tqdm bar shows as a
  live progress bar in a notebook) and ``show_outcome`` puts the report's guard table and
  before/after grid inline.

The widgets need ``ipywidgets`` (``pip install 'eraser[notebook]'``); ``MarkingSession`` does not.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.labelling.marks import LABELS, Marks, load_marks, save_marks
from eraser.labelling.probe import MIN_PER_CLASS, ProbeFit, embed_all, train_probe

#: Inception input size of the notebook's probe. 299 px (the FID protocol, what `eraser probe train`
#: uses; 5.7 images/s in benchmarks/results/cpu.json) is slow to retrain on every click; 128 px has
#: (299/128)² ≈ 5.5 times fewer pixels. No committed measurement compares the probe's AUC at the two sizes.
DEFAULT_EMBED_SIZE = 128

#: seeds of the notebook's fresh samples start here (marks grids usually use small seeds)
SEED_BASE = 7_000_000

#: the report's verdict colours for the guard table shown inline (scoped to it)
GUARD_CSS = (".eraser-guards table td, .eraser-guards table th {text-align: left !important} "
             ".eraser-guards table tr.pass td {background: #e6f4ea !important} "
             ".eraser-guards table tr.fail td {background: #fce8e6 !important} "
             ".eraser-guards table tr.skip td {background: #f1f3f4 !important}")

LABEL_COLOURS = {"yes": "#2e7d32", "no": "#c62828", "unsure": "#f9a825", None: "#dddddd"}
BUTTON_STYLES = {"yes": "success", "no": "danger", "unsure": "warning"}


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
    latents beside it). A marks file already at ``marks_path`` is loaded first (``resume``), so a
    restarted notebook carries on rather than overwriting it. Embeddings for the probe are computed
    once per marked sample and cached.
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
        self._draws = 0
        self.last_seed: int | None = None  # seed of the latest fresh page or suggestion candidates
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
        """Set (or with ``None`` clear) the label of ``row``, then save the marks file."""
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
        """Write the marks file (nothing while no sample is marked)."""
        if not self.labels:
            return None
        self.marks_path.parent.mkdir(parents=True, exist_ok=True)
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
    def _embeddings(self, rows: list[int]) -> Tensor:
        missing = [r for r in rows if r not in self._emb]
        if missing:
            for r, e in zip(missing, embed_all(self.embedder, self.images(missing))):
                self._emb[r] = e
        return torch.stack([self._emb[r] for r in rows])

    def can_train(self) -> bool:
        c = self.counts()
        return c["yes"] >= MIN_PER_CLASS and c["no"] >= MIN_PER_CLASS

    def retrain(self) -> ProbeFit | None:
        """Refit the probe on the yes/no marks (None until each has ``MIN_PER_CLASS``)."""
        if not self.can_train():
            self.fit = None
            return None
        rows = [r for r, lab in self.labels.items() if lab != "unsure"]
        y = torch.tensor([1.0 if self.labels[r] == "yes" else 0.0 for r in rows])
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
        z, scores, _ = suggest(self.generator, self.marks(), self.embedder, n_candidates, self._next_seed(),
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


# -- marking (widgets) --------------------------------------------------------------------------


class Tile:
    """One sample: its image and yes / no / unsure buttons."""

    def __init__(self, row: int, png: bytes, on_click: Callable[[int, str], None], caption: str = "",
                 label: str | None = None) -> None:
        w = _widgets()
        self.row = row
        self.image = w.Image(value=png, format="png", layout=w.Layout(width="128px", height="128px"))
        self.buttons = {lab: w.Button(description=lab, layout=w.Layout(width="52px", padding="0", margin="1px"),
                                      tooltip=f"sample {row}: {lab}") for lab in LABELS}
        for lab, b in self.buttons.items():
            b.on_click(lambda _b, lab=lab: on_click(self.row, lab))
        self.caption = w.HTML(f"<small>#{row}{caption}</small>")
        self.widget = w.VBox([self.image, w.HBox(list(self.buttons.values())), self.caption],
                             layout=w.Layout(border="3px solid #dddddd", padding="2px", align_items="center"))
        self.show(label)

    def show(self, label: str | None) -> None:
        self.widget.layout.border = f"3px solid {LABEL_COLOURS[label]}"
        for lab, b in self.buttons.items():
            b.button_style = BUTTON_STYLES[lab] if lab == label else ""


class MarkingBoard:
    """A grid of samples to mark, with "new samples" and "suggest next" buttons and the probe's AUC.

    Every click saves the marks file; with ``retrain`` on, the probe is refitted too.
    """

    def __init__(self, session: MarkingSession, n: int = 24, ncol: int | None = None, suggest_k: int | None = None,
                 n_candidates: int = 256, retrain: bool = True) -> None:
        w = _widgets()
        self.session, self.n, self.ncol = session, n, ncol
        self.suggest_k = suggest_k or n
        self.n_candidates = n_candidates
        self.tiles: list[Tile] = []
        self.status = w.HTML()
        self.probe = w.HTML()
        self.message = w.HTML()
        self.auto_retrain = w.Checkbox(value=retrain, description="retrain the probe on every mark", indent=False)
        self.new_button = w.Button(description="new samples", icon="refresh")
        self.suggest_button = w.Button(description="suggest next", icon="lightbulb-o",
                                       tooltip="samples the probe is least sure of")
        self.new_button.on_click(lambda _b: self._guard(self.new_samples))
        self.suggest_button.on_click(lambda _b: self._guard(self.suggest_next))
        columns = f"repeat({ncol}, 176px)" if ncol else "repeat(auto-fill, 176px)"  # default: as many as fit
        self.grid = w.GridBox(layout=w.Layout(grid_template_columns=columns, grid_gap="4px"))
        resumed = f" (carrying on from the {session.resumed} marks already there)" if session.resumed else ""
        self.widget = w.VBox([
            w.HTML(f"<b>Mark each sample</b>: does it show <b>{html.escape(session.feature)}</b>? "
                   f"Marks are saved to <code>{html.escape(str(session.marks_path))}</code> on every click{resumed}."),
            w.HBox([self.new_button, self.suggest_button, self.auto_retrain]),
            self.status, self.probe, self.message, self.grid,
        ])
        self._update_status()

    def _ipython_display_(self) -> None:
        _display(self.widget)

    def _guard(self, action: Callable[[], Any]) -> None:
        """Run a button's action; a user error shows as one line instead of a traceback."""
        try:
            self.message.value = ""
            action()
        except EraserError as e:
            self.message.value = f'<span style="color:#c62828">{html.escape(str(e))}</span>'

    def show_rows(self, rows: list[int]) -> None:
        from eraser.images import grid_image

        x = self.session.images(rows)
        self.tiles = []
        for row, img in zip(rows, x):
            score = self.session.probe_scores.get(row)
            caption = "" if score is None else f" · probe {score:.2f}"
            png = png_bytes(grid_image(img[None], nrow=1, padding=0, scale=2))
            self.tiles.append(Tile(row, png, self.click, caption, self.session.labels.get(row)))
        self.grid.children = [t.widget for t in self.tiles]

    def new_samples(self) -> list[int]:
        rows = self.session.draw(self.n)
        self.show_rows(rows)
        return rows

    def suggest_next(self) -> list[int]:
        rows = self.session.suggest(self.suggest_k, self.n_candidates)
        self.show_rows(rows)
        self._update_status()
        return rows

    def click(self, row: int, label: str) -> None:
        """What a tile's button does: mark ``row``, save the marks file, retrain the probe, refresh."""
        self._apply(row, label)
        self._finish(save=True)

    def _apply(self, row: int, label: str) -> None:
        self.session.mark(row, label, save=False)
        for t in self.tiles:
            if t.row == row:
                t.show(label)

    def _finish(self, save: bool) -> None:
        if save:
            self.session.save()
        if self.auto_retrain.value:
            self._guard(self.session.retrain)
        self._update_status()

    def replay(self, marks: Marks | str | Path, limit: int | None = None, show: bool = True) -> list[int]:
        """Feed marks (a file or ``Marks``, the first ``limit``) through the click handler, as if each
        sample had been shown and clicked; the file is saved and the probe retrained once at the end.
        With ``show``, the grid shows the first of them with their marks."""
        if not isinstance(marks, Marks):
            marks = load_marks(marks)
        if limit is not None:
            marks = marks.subset(range(min(limit, len(marks))))
        rows = self.session.add(marks.z)
        if show:
            self.show_rows(rows[: self.n])
        for row, label in zip(rows, marks.labels):
            self._apply(row, label)
        self._finish(save=True)
        return rows

    def summary(self) -> str:
        """One line of what the board shows: marks, probe, the last message, the samples on the grid."""
        import re

        c = self.session.counts()
        shown = [f"#{t.row}" + (f" (probe {self.session.probe_scores[t.row]:.2f})" if t.row in self.session.probe_scores
                                else "") for t in self.tiles]
        message = html.unescape(re.sub("<[^>]+>", "", self.message.value))
        return (f"{c['yes']} yes, {c['no']} no, {c['unsure']} unsure marks in {self.session.marks_path}; "
                f"{self.session.probe_status()}; " + (f"{message}; " if message else "")
                + f"showing {len(shown)} samples: {', '.join(shown[:8])}{' …' if len(shown) > 8 else ''}")

    def _update_status(self) -> None:
        c = self.session.counts()
        self.status.value = (f"marked {sum(c.values())}: <b>{c['yes']}</b> yes, <b>{c['no']}</b> no, "
                             f"<b>{c['unsure']}</b> unsure")
        self.probe.value = self.session.probe_status()


# -- erase --------------------------------------------------------------------------------------


@dataclass
class EraseOutcome:
    """What an erase from the notebook produced: the request, the verdict, the report's metrics."""

    out: Path
    passed: bool
    message: str
    metrics: dict[str, Any] | None = None
    guards: list[dict[str, Any]] = field(default_factory=list)

    @property
    def report(self) -> Path:
        return self.out / "report"


class ErasePanel:
    """The erase settings as widgets; ``run()`` erases with the session's marks (``pipeline.run_erase``).

    ``options`` sets further ``EraseRequest`` fields (``guard_every``, ``guard_eval``, ``limits``, …),
    ``settings`` further ``EraseSettings`` fields (``batch_size``, ``seed``, …).
    """

    def __init__(self, session: MarkingSession, generator_source: str, out: str | Path, steps: int | None = None,
                 lr: float | None = None, margin: float | None = None,
                 feature_classifier: str | None = None, n_eval: int = 2000, fid_samples: int = 500,
                 device: str = "cpu", options: dict[str, Any] | None = None,
                 settings: dict[str, Any] | None = None) -> None:
        from eraser import registry
        from eraser.unlearn.settings import EraseSettings

        w = _widgets()
        defaults = EraseSettings()
        self.session, self.generator_source, self.device = session, generator_source, device
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
        self.widget = w.VBox([w.HTML("<b>Erase</b> with the marks above (run the next cell to start)"),
                              self.out, self.method, self.steps, self.lr, self.margin, self.classifier, self.n_eval, self.fid_samples])

    def _ipython_display_(self) -> None:
        _display(self.widget)

    def request(self):
        """The ``EraseRequest`` these settings describe."""
        from eraser.pipeline import EraseRequest
        from eraser.unlearn.settings import EraseSettings

        return EraseRequest(
            generator=self.generator_source,
            labeller=f"marks:{self.session.marks_path}",
            out=Path(self.out.value).expanduser(),
            settings=EraseSettings(method=self.method.value, steps=self.steps.value, lr=self.lr.value,
                                   margin=self.margin.value, **self.settings),
            feature_classifier=self.classifier.value,
            n_eval=self.n_eval.value,
            fid_samples=self.fid_samples.value,
            device=self.device,
            **self.options,
        )

    def run(self, log: Callable[[str], None] = print) -> EraseOutcome:
        """Save the marks, then erase (a live progress bar while fine-tuning); never raises for a
        failed guard or a user error: the outcome says what happened."""
        from eraser.guards import GuardFailure
        from eraser.io import read_json
        from eraser.pipeline import run_erase

        self.session.save()
        try:
            req = self.request()
            self.session.marks().require_both(purpose="an erase")
            run_erase(req, log=log)
            passed, message = True, f"all measured guards pass; the erased checkpoint is in {req.out}"
        except GuardFailure as e:
            passed, message = False, str(e)
        except EraserError as e:
            out = Path(self.out.value)
            return EraseOutcome(out, False, str(e))
        metrics = read_json(req.out / "report" / "metrics.json")
        return EraseOutcome(req.out, passed, message, metrics, metrics.get("guards", []))


def guard_table_html(outcome: EraseOutcome) -> str:
    """The report's guard table (``report.html.guard_table``) for an outcome."""
    from eraser.guards import GuardResult
    from eraser.report.html import guard_table

    names = {f.name for f in fields(GuardResult)}
    return guard_table([GuardResult(**{k: v for k, v in g.items() if k in names}) for g in outcome.guards])


def outcome_summary(outcome: EraseOutcome) -> dict[str, Any]:
    """The headline numbers of an outcome (feature rate before/after, MS-SSIM, kept step)."""
    m = outcome.metrics or {}
    fr = m.get("feature_rate") or {}
    pres = m.get("preservation_on_labelled_feature_free") or {}
    return {"passed": outcome.passed, "feature_rate_before": fr.get("before"), "feature_rate_after": fr.get("after"),
            "ms_ssim": pres.get("ms_ssim_mean"), "kept_step": m.get("kept_step"),
            "seconds": (m.get("timings_s") or {}).get("total")}


def show_outcome(outcome: EraseOutcome) -> None:
    """Verdict, headline numbers, guard table and the report's before/after grid, inline."""
    from IPython.display import HTML, Image

    colour = "#e6f4ea" if outcome.passed else "#fce8e6"
    parts = [f'<div style="background:{colour};padding:6px 10px">{html.escape(outcome.message)}</div>']
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
        _display(HTML("<b>Before / after at the same latents</b> (row pairs: original, erased; top: samples "
                      "marked <i>yes</i>, bottom: samples marked <i>no</i>)"),
                 Image(data=grid.read_bytes(), width=2 * 530))


def show_checkpoint(outcome: EraseOutcome, original: Generator, n: int = 16, seed: int = 7):
    """Load the saved checkpoint, show fresh samples of it next to the original's; return it (None if not saved)."""
    from IPython.display import HTML, Image

    from eraser.generators import load_generator
    from eraser.generators.checkpoint import is_checkpoint
    from eraser.pipeline import before_after_grid

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


__all__ = ["DEFAULT_EMBED_SIZE", "EraseOutcome", "ErasePanel", "GeneratorPicker", "MarkingBoard", "MarkingSession",
           "Tile", "default_embedder", "guard_table_html", "outcome_summary", "show_checkpoint", "show_outcome"]
