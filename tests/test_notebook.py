"""The notebook's widgets (eraser.notebook) driven without a browser, and the notebook run headless."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from conftest import ChannelMeans, tiny_dcgan

from eraser import notebook as nb
from eraser.errors import EraserError
from eraser.generators import load_generator
from eraser.generators.checkpoint import is_checkpoint
from eraser.guards import GuardLimits
from eraser.labelling import make_labeller
from eraser.labelling.marks import Marks, load_marks, save_marks
from eraser.labelling.probe import MIN_PER_CLASS, ProbeHead

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "erase_interactively.ipynb"
SHIPPED_MARKS = ROOT / "assets" / "marks" / "digiface-eyeglasses.json"


def bright(gen, z) -> list[str]:
    """A planted feature the embedding sees: red channel brighter than the median of ``z``'s samples."""
    red = gen.generate(z).mean(dim=(2, 3))[:, 0]
    return ["yes" if v > red.median() else "no" for v in red]


def session_for(tmp_path: Path, gen=None, seed: int = 3) -> nb.MarkingSession:
    return nb.MarkingSession(gen or tiny_dcgan(), "bright", tmp_path / "work" / "bright.json",
                             embedder=ChannelMeans(), seed=seed)


def test_clicks_write_the_cli_marks_format(tmp_path):
    gen = tiny_dcgan()
    session = session_for(tmp_path, gen)
    board = nb.MarkingBoard(session, n=6, ncol=3)
    rows = board.new_samples()
    assert rows == list(range(6)) and len(board.tiles) == 6
    assert torch.equal(session.z, gen.sample_latents(6, session.last_seed))
    assert not session.marks_path.exists()  # nothing is written before the first click

    board.tiles[0].buttons["yes"].click()
    board.tiles[1].buttons["no"].click()
    board.tiles[4].buttons["unsure"].click()
    board.tiles[0].buttons["no"].click()  # a second click changes the mark

    marks = load_marks(session.marks_path)
    assert marks.labels == ["no", "no", "unsure"]
    assert torch.equal(marks.z, session.z[[0, 1, 4]])
    assert (marks.feature, marks.generator, marks.meta["made_with"]) == ("bright", "tiny", "eraser.notebook")
    # the CLI's marks labeller reads the file: 1 yes, 0 no, NaN unsure
    scores = make_labeller(f"marks:{session.marks_path}").score(gen, session.z[[4, 1, 0]])
    assert math.isnan(scores[0]) and scores[1:].tolist() == [0.0, 0.0]
    # the tiles show their marks
    assert board.tiles[0].buttons["no"].button_style == "danger" and board.tiles[0].buttons["yes"].button_style == ""
    assert nb.LABEL_COLOURS["no"] in board.tiles[0].widget.layout.border
    assert nb.LABEL_COLOURS[None] in board.tiles[2].widget.layout.border
    assert "<b>0</b> yes, <b>2</b> no, <b>1</b> unsure" in board.status.value
    assert f"needs at least {MIN_PER_CLASS} 'yes'" in board.probe.value and session.fit is None


def test_probe_is_retrained_as_marks_arrive(tmp_path):
    gen = tiny_dcgan()
    session = session_for(tmp_path, gen)
    board = nb.MarkingBoard(session, n=28)
    board.new_samples()
    truth = bright(gen, session.z)
    shown = []
    for tile, label in zip(board.tiles, truth):
        tile.buttons[label].click()
        shown.append(board.probe.value)
        c = session.counts()
        if c["yes"] < MIN_PER_CLASS or c["no"] < MIN_PER_CLASS:
            assert session.fit is None and "needs at least" in board.probe.value
        else:
            assert session.fit.n_yes == c["yes"] and session.fit.n_no == c["no"]
    fit = session.fit
    assert fit.n_yes + fit.n_no == 28 and fit.cv_auc > 0.9
    assert f"cross-validated AUC {fit.cv_auc:.3f}" in board.probe.value
    assert len(set(shown[-5:])) > 1  # the number moves as marks arrive
    # the cached embeddings are the embedder's
    assert torch.allclose(session._embeddings([5]), ChannelMeans().embed(gen.generate(session.z[[5]])))


def test_board_shows_error_text_and_names_as_text_not_html(tmp_path, monkeypatch):
    """A message or a name holding markup (a path like ``a<b>&c``) shows as those characters, escaped."""
    session = nb.MarkingSession(tiny_dcgan(), "<img src=x onerror=alert(1)>", tmp_path / "a<b>&c" / "m.json",
                                embedder=ChannelMeans())
    board = nb.MarkingBoard(session, n=4)
    header = board.widget.children[0].value
    assert "&lt;img src=x onerror=alert(1)&gt;" in header and "a&lt;b&gt;&amp;c" in header and "<img" not in header

    def broken(n):
        raise EraserError(f"cannot write {tmp_path / 'a<b>&c' / 'm.json'}: <script>alert(1)</script>")

    monkeypatch.setattr(session, "draw", broken)
    board.new_button.click()
    shown = board.message.value
    assert shown.startswith('<span style="color:#c62828">') and "<script>" not in shown
    assert "a&lt;b&gt;&amp;c" in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "<script>alert(1)</script>" in board.summary()  # the plain-text summary reads as the error said


def test_suggest_next_shows_unmarked_samples_nearest_the_boundary(tmp_path):
    gen = tiny_dcgan()
    session = session_for(tmp_path, gen)
    board = nb.MarkingBoard(session, n=60, suggest_k=5, n_candidates=80)
    board.suggest_button.click()  # no probe yet: one line on the board, no exception
    assert "suggestions need a probe" in board.message.value and not board.tiles
    board.new_samples()
    board.replay(Marks(session.z, bright(gen, session.z)))  # as if each had been clicked

    board.suggest_button.click()
    assert board.message.value == "" and len(board.tiles) == 5
    rows = [t.row for t in board.tiles]
    assert not set(rows) & set(session.labels)  # never a sample already marked
    candidates = gen.sample_latents(80, session.last_seed)
    head = ProbeHead.from_fit(session.fit)
    all_scores = head(ChannelMeans().embed(gen.generate(candidates)))
    shown = head(ChannelMeans().embed(gen.generate(session.z[rows])))
    # (the scores were computed in a batch of 80: conv numerics differ slightly with the batch size)
    assert torch.allclose(shown, torch.tensor([session.probe_scores[r] for r in rows]), atol=1e-3)
    fifth_closest = (all_scores - 0.5).abs().sort().values[4]
    assert ((shown - 0.5).abs() <= fifth_closest + 1e-3).all()
    assert all(any(torch.equal(session.z[r], c) for c in candidates) for r in rows)
    assert "probe 0." in board.tiles[0].caption.value
    # marking a suggestion appends it to the file
    board.tiles[0].buttons["unsure"].click()
    assert load_marks(session.marks_path).labels[-1] == "unsure" and len(load_marks(session.marks_path)) == 61


def test_replay_feeds_a_marks_file_through_the_click_handler(tmp_path):
    gen = tiny_dcgan()
    z = gen.sample_latents(30, 11)
    labels = bright(gen, z)
    labels[3] = "unsure"
    save_marks(tmp_path / "given.json", Marks(z, labels, "bright", "tiny"))
    session = session_for(tmp_path, gen)
    board = nb.MarkingBoard(session, n=8)
    rows = board.replay(tmp_path / "given.json", limit=25)
    assert rows == list(range(25))
    written = load_marks(session.marks_path)
    assert written.labels == labels[:25] and torch.equal(written.z, z[:25])
    assert [t.row for t in board.tiles] == list(range(8))
    assert board.tiles[3].buttons["unsure"].button_style == "warning"
    assert session.fit is not None and f"{session.fit.cv_auc:.3f}" in board.probe.value
    board.replay(tmp_path / "given.json")  # again, all 30: the first 25 are not duplicated
    assert len(load_marks(session.marks_path)) == 30 and len(session.z) == 30
    with pytest.raises(EraserError, match="one of yes, no, unsure"):
        session.mark(0, "maybe")


def test_a_new_session_carries_on_from_the_marks_file(tmp_path):
    gen = tiny_dcgan()
    first = nb.MarkingBoard(session_for(tmp_path, gen), n=4)
    first.new_samples()
    first.tiles[0].buttons["yes"].click()
    first.tiles[2].buttons["no"].click()
    again = session_for(tmp_path, gen)  # e.g. after a kernel restart
    assert again.resumed == 2 and again.labels == {0: "yes", 1: "no"}
    board = nb.MarkingBoard(again, n=4)
    assert "carrying on from the 2 marks" in board.widget.children[0].value
    rows = board.new_samples()  # the same seeds come round again: their marked samples are skipped
    assert not set(rows) & set(again.labels) and len(rows) == 4
    board.tiles[0].buttons["unsure"].click()
    assert load_marks(again.marks_path).labels == ["yes", "no", "unsure"]  # appended, not overwritten
    other = tiny_dcgan()
    other.name = "another"
    with pytest.raises(EraserError, match="holds marks on tiny, not another"):
        session_for(tmp_path, other)


def test_picker_shipped_and_local(tiny_checkpoint):
    picker = nb.GeneratorPicker()
    assert picker.source == "digiface-dcgan64" and "digiface-dcgan64" in picker.choice.options
    local = nb.GeneratorPicker(str(tiny_checkpoint))
    assert local.choice.value == local.LOCAL and local.source == str(tiny_checkpoint)
    g = local.load()
    assert g.latent_dim == 8 and "latent dimension 8" in local.info.value
    local.path.value = " "
    with pytest.raises(EraserError, match="choose a shipped generator"):
        local.load()


def planted(z) -> list[str]:
    """Marks of a feature that is linear in the latent (what an erase needs to find its direction)."""
    return ["yes" if v > 0.8 else "no" for v in z[:, 0].tolist()]


def _panel(session, source, out, **kw):
    options = {"guard_every": 2, "guard_eval": 16, "guard_clean": 16, "progress": False, **kw.pop("options", {})}
    return nb.ErasePanel(session, source, out, steps=2, fid_samples=0, n_eval=32, options=options,
                         settings={"batch_size": 8}, **kw)


def test_erase_panel_erases_with_the_sessions_marks(tmp_path, tiny_checkpoint):
    gen = load_generator(tiny_checkpoint)
    session = session_for(tmp_path, gen)
    z = gen.sample_latents(120, 5)
    session.load(Marks(z, planted(z), "planted", gen.name))
    panel = _panel(session, str(tiny_checkpoint), tmp_path / "erased")
    req = panel.request()
    assert req.labeller == f"marks:{session.marks_path}" and req.settings.steps == 2 and req.settings.batch_size == 8
    assert req.fid_samples == 0 and req.n_eval == 32 and req.feature_classifier is None and req.guard_every == 2

    logs: list[str] = []
    outcome = panel.run(log=logs.append)
    assert outcome.passed, outcome.message
    assert any("labelled 120 samples" in line for line in logs)
    g_new = load_generator(outcome.out)
    diffs = [float((a - b).abs().max()) for a, b in zip(gen.module.state_dict().values(), g_new.module.state_dict().values())
             if a.is_floating_point()]
    assert max(diffs) > 0  # fine-tuned
    assert [g["name"] for g in outcome.guards] == ["preservation", "feature_rate", "fid", "kid", "recall"]
    table = nb.guard_table_html(outcome)
    assert '<tr class="pass"><td>preservation</td>' in table and table.count('<tr class="skip">') == 4
    assert nb.outcome_summary(outcome)["kept_step"] == 2
    assert nb.show_checkpoint(outcome, gen) is not None

    again = panel.run(log=logs.append)  # the folder exists now: one line, nothing raised
    assert not again.passed and "already exists" in again.message


def test_erase_panel_reports_failed_guards_without_saving(tmp_path, tiny_checkpoint):
    gen = load_generator(tiny_checkpoint)
    session = session_for(tmp_path, gen)
    z = gen.sample_latents(120, 5)
    session.load(Marks(z, planted(z), "planted", gen.name))
    panel = _panel(session, str(tiny_checkpoint), tmp_path / "erased", options={"limits": GuardLimits(min_ms_ssim=1.01)})
    outcome = panel.run(log=lambda _: None)
    assert not outcome.passed and "guards failed" in outcome.message
    assert not is_checkpoint(outcome.out) and (outcome.report / "before_after.png").is_file()
    assert '<tr class="fail"><td>preservation</td>' in nb.guard_table_html(outcome)
    assert nb.show_checkpoint(outcome, gen) is None


def test_committed_notebook_has_no_outputs_and_no_logic():
    doc = json.loads(NOTEBOOK.read_text())
    code = [c for c in doc["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert sum("parameters" in c["metadata"].get("tags", []) for c in code) == 1
    source = "\n".join("".join(c["source"]) for c in code)
    assert not re.search(r"^\s*(def|class|for|while|import torch)\b", source, re.MULTILINE)


def _outputs_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        parts.append(o.get("text", ""))
        parts += [v if isinstance(v, str) else json.dumps(v) for v in o.get("data", {}).values()]
    return "\n".join(parts)


def _mimes(cell) -> set[str]:
    return {mime for o in cell.get("outputs", []) for mime in o.get("data", {})}


def test_notebook_runs_headless(tmp_path):
    """Execute the notebook in a kernel; a marks file replaces the clicks and the erase is short."""
    import nbclient
    import nbformat

    doc = nbformat.read(NOTEBOOK, as_version=4)
    limit = 400
    params = {"REPLAY_MARKS": str(SHIPPED_MARKS), "REPLAY_LIMIT": limit, "N_SHOW": 12, "SUGGEST_FROM": 24,
              "EMBED_SIZE": 75, "STEPS": 40, "N_EVAL": 256, "FID_SAMPLES": 0,
              "ERASE_OPTIONS": {"guard_eval": 128, "guard_clean": 64, "guard_every": 40}}
    where = next(i for i, c in enumerate(doc.cells) if "parameters" in c.metadata.get("tags", []))
    doc.cells.insert(where + 1, nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()),
                                                          metadata={"tags": ["injected-parameters"]}))
    nbclient.NotebookClient(doc, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = {c.get("id"): c for c in doc.cells if c.cell_type == "code"}

    work = tmp_path / "eraser-notebook"
    marks, given = load_marks(work / "eyeglasses.json"), load_marks(SHIPPED_MARKS)
    assert marks.labels == given.labels[:limit] and torch.equal(marks.z, given.z[:limit])
    auc = re.search(r"cross-validated AUC (\d\.\d{3})", _outputs_text(cells["board-summary"]))
    assert auc and 0.5 < float(auc.group(1)) <= 1.0
    assert re.search(r"showing 12 samples: #\d+ \(probe 0\.\d\d\)", _outputs_text(cells["suggest"]))
    assert "application/vnd.jupyter.widget-view+json" in _mimes(cells["run"])  # the live progress bar
    results = _outputs_text(cells["results"])
    assert "<th>guard</th>" in results and '<tr class="pass"><td>preservation</td>' in results
    assert '<tr class="pass"><td>feature_rate</td>' in results and "image/png" in _mimes(cells["results"])
    original, erased = load_generator("digiface-dcgan64"), load_generator(work / "erased-eyeglasses")
    assert any(not torch.equal(a, b) for a, b in zip(original.module.state_dict().values(),
                                                      erased.module.state_dict().values()))
    assert "Saved checkpoint" in _outputs_text(cells["checkpoint"])
