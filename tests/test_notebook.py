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


def board_for(session, **kw) -> nb.MarkingBoard:
    """A board whose background work runs at once (deterministic), without ipyevents unless asked."""
    kw = {"background": False, "keyboard": False, **kw}
    return nb.MarkingBoard(session, **kw)


def test_a_page_is_48_samples_and_page_done_saves_the_rest_as_no(tmp_path):
    gen = tiny_dcgan()
    session = session_for(tmp_path, gen)
    board = board_for(session)
    rows = board.new_samples()
    assert rows == list(range(48)) and len(board.grid.children) == 48 and board.n == 48
    first_seed = nb.SEED_BASE + 3 * 100_000 + 1
    assert torch.equal(session.z[:48], gen.sample_latents(48, first_seed))
    assert all(t.image.value[:4] == b"\x89PNG" for t in board.tiles)
    assert set(board._png) == set(range(96))  # the next page is made ahead (in the background)

    # the image is the button: one click toggles yes, a second click takes it back
    board.tiles[0].button.click()
    board.tiles[5].button.click()
    board.tiles[7].button.click()
    board.tiles[7].button.click()
    board.tiles[9].unsure_button.click()
    assert [board.state[r] for r in (0, 5, 7, 9, 1)] == ["yes", "yes", "no", "unsure", "no"]
    assert board.tiles[0].button.description == "yes" and board.tiles[0].button.style.button_color == nb.TILE_TINT["yes"]
    assert nb.LABEL_COLOURS["yes"] in board.tiles[0].widget.layout.border
    assert nb.LABEL_COLOURS[None] in board.tiles[1].widget.layout.border  # no until page done: grey
    assert "this page: <b>2</b> yes, <b>1</b> unsure, 45 no at page done" in board.status.value
    assert not session.marks_path.exists() and not session.labels  # clicks save nothing

    board.done_button.click()
    marks = load_marks(session.marks_path)
    expected = ["no"] * 48
    expected[0] = expected[5] = "yes"
    expected[9] = "unsure"
    assert marks.labels == expected and torch.equal(marks.z, session.z[:48])
    assert (marks.feature, marks.generator, marks.meta["made_with"]) == ("bright", "tiny", "eraser.notebook")
    # the next page: 48 fresh samples, all "no" until clicked
    assert board.page == list(range(48, 96)) and set(board.state.values()) == {"no"}
    assert "saved 48 marks: <b>2</b> yes, <b>45</b> no, <b>1</b> unsure" in board.status.value
    # the CLI's marks labeller reads the file: 1 yes, 0 no, NaN unsure
    scores = make_labeller(f"marks:{session.marks_path}").score(gen, session.z[[9, 1, 0]])
    assert math.isnan(scores[0]) and scores[1:].tolist() == [0.0, 1.0]


def test_unsure_toggles_and_a_click_turns_unsure_into_yes(tmp_path):
    session = session_for(tmp_path)
    board = board_for(session, n=6, ncol=3)
    board.new_samples()
    r = board.page[2]
    board.unsure(r)
    assert board.state[r] == "unsure" and board.tiles[2].button.description == "?"
    assert nb.LABEL_COLOURS["unsure"] in board.tiles[2].widget.layout.border
    board.unsure(r)
    assert board.state[r] == "no" and board.tiles[2].button.description == ""
    board.unsure(r)
    board.toggle(r)  # a click on an unsure sample makes it yes
    assert board.state[r] == "yes"
    board.unsure(r)  # and unsure again from yes
    assert board.state[r] == "unsure"
    with pytest.raises(EraserError, match="not on this page"):
        board.toggle(1000)


def test_undo_takes_back_clicks_and_a_page_done(tmp_path):
    gen = tiny_dcgan()
    session = session_for(tmp_path, gen)
    board = board_for(session, n=8, ncol=4)
    board.undo_button.click()
    assert "nothing to undo" in board.message.value
    first = board.new_samples()
    board.tiles[1].button.click()
    board.tiles[2].button.click()
    board.undo_button.click()  # the click on tile 2
    assert board.state[first[2]] == "no" and board.state[first[1]] == "yes"
    assert board.tiles[2].button.description == ""
    board.tiles[3].unsure_button.click()
    board.done_button.click()
    assert load_marks(session.marks_path).labels == ["no", "yes", "no", "unsure", "no", "no", "no", "no"]
    second = list(board.page)
    board.tiles[0].button.click()

    board.undo()  # the click on the second page
    assert board.page == second and set(board.state.values()) == {"no"}
    board.undo()  # the page done: the first page comes back as it was, and leaves the file
    assert board.page == first and board.state[first[1]] == "yes" and board.state[first[3]] == "unsure"
    assert session.labels == {} and not session.marks_path.exists()
    assert board.tiles[1].button.description == "yes"
    board.toggle(first[5])
    board.page_done()  # done again: the same second page comes back (it was queued, not redrawn)
    assert board.page == second
    assert load_marks(session.marks_path).labels == ["no", "yes", "no", "unsure", "no", "yes", "no", "no"]

    # undo of a page done on top of earlier marks restores the file to those marks
    board.tiles[4].button.click()
    board.page_done()
    assert len(load_marks(session.marks_path)) == 16
    board.undo()
    assert load_marks(session.marks_path).labels == ["no", "yes", "no", "unsure", "no", "yes", "no", "no"]
    assert board.page == second and board.state[second[4]] == "yes"


def test_new_samples_and_suggest_refuse_to_drop_unsaved_marks(tmp_path):
    session = session_for(tmp_path)
    board = board_for(session, n=4)
    first = board.new_samples()
    board.tiles[0].button.click()
    board.new_button.click()
    assert "1 mark not saved yet: press page done" in board.message.value and board.page == first
    board.undo()
    board.new_button.click()  # an untouched page may be replaced
    assert board.message.value == "" and board.page != first
    board.undo()  # and that can be undone too
    assert board.page == first


def test_keys_and_pointer_drive_the_same_handlers(tmp_path):
    session = session_for(tmp_path)
    board = board_for(session, n=12, ncol=4, keyboard=True) if nb.has_ipyevents() else board_for(session, n=12, ncol=4)
    board.keyboard = True  # the cursor is drawn; events come from ipyevents in a browser
    rows = board.new_samples()
    board.key({"event": "keydown", "key": " "})  # space at the cursor (tile 0)
    assert board.state[rows[0]] == "yes" and "dashed" in board.tiles[0].widget.layout.border
    board.key({"event": "keydown", "key": "ArrowDown"})  # one row down: tile 4
    board.key({"event": "keydown", "key": "y"})
    board.key({"event": "keydown", "key": "ArrowRight"})
    board.key({"event": "keydown", "key": "u"})
    assert board.cursor == 5 and board.state[rows[4]] == "yes" and board.state[rows[5]] == "unsure"
    board.pointer(9, {"event": "mouseenter"})  # the pointer moves the cursor
    board.key({"event": "keydown", "key": "x"})
    board.pointer(10, {"event": "contextmenu"})  # right-click: unsure
    board.key({"event": "keydown", "key": "z"})  # undo the right-click
    board.key({"event": "keydown", "key": "q"})  # not a key of the board: nothing
    assert [board.state[r] for r in rows[8:12]] == ["no", "yes", "no", "no"]
    board.key({"event": "keydown", "key": "Enter"})
    expected = ["no"] * 12
    expected[0] = expected[4] = expected[9] = "yes"
    expected[5] = "unsure"
    assert load_marks(session.marks_path).labels == expected and board.page == list(range(12, 24))
    board.key({"event": "keydown", "key": "Backspace"})  # undo the page done
    assert board.page == rows and not session.marks_path.exists()
    board.key({"event": "keydown", "key": "n"})  # n: page done too
    assert load_marks(session.marks_path).labels == expected


def test_ipyevents_watchers_reach_the_handlers(tmp_path):
    pytest.importorskip("ipyevents")
    session = session_for(tmp_path)
    board = nb.MarkingBoard(session, n=6, ncol=3, background=False)
    assert board.keyboard and "Backspace" in board.widget.children[0].value
    keys, pointers = board.events[0], board.events[1:]
    assert keys.source is board.widget and keys.watched_events == ["keydown"]
    assert [p.source for p in pointers] == [t.button for t in board.tiles]
    rows = board.new_samples()
    # what the browser sends over the comm
    pointers[2]._handle_mouse_msg(None, {"event": "mouseenter", "type": "mouseenter"}, [])
    keys._handle_mouse_msg(None, {"event": "keydown", "key": " ", "type": "keydown"}, [])
    pointers[4]._handle_mouse_msg(None, {"event": "contextmenu", "type": "contextmenu"}, [])
    assert board.state[rows[2]] == "yes" and board.state[rows[4]] == "unsure" and board.cursor == 2


def test_embeddings_once_per_page_and_refits_only_at_page_done(tmp_path):
    gen = tiny_dcgan()
    calls = []

    class Counting(ChannelMeans):
        def embed(self, x):
            calls.append(len(x))
            return super().embed(x)

    session = nb.MarkingSession(gen, "bright", tmp_path / "bright.json", embedder=Counting(), seed=3)
    board = board_for(session, n=24)
    fits = []
    original = session.retrain
    session.retrain = lambda: fits.append(len(session.labels)) or original()
    board.new_samples()
    for page in range(3):
        truth = bright(gen, session.z[board.page])
        for row, label in zip(board.page, truth):
            if label == "yes":
                board.toggle(row)
        # one batch per page: the page on screen and the next one, made ahead; nothing per click
        assert calls == [24] * (page + 2) and fits == [24 * k for k in range(1, page + 1)]
        board.page_done()
    assert calls == [24] * 5  # the 4th page is on screen, the 5th made ahead
    assert fits == [24, 48, 72]
    fit = session.fit
    assert fit.n_yes + fit.n_no == 72 and fit.cv_auc > 0.9
    assert f"cross-validated AUC {fit.cv_auc:.3f}" in board.probe.value
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
def test_background_refit_does_not_block_and_summary_waits_for_it(tmp_path):
    gen = tiny_dcgan()
    session = session_for(tmp_path, gen)
    board = nb.MarkingBoard(session, n=40, keyboard=False)  # a real worker thread
    assert board.background.threaded
    board.new_samples()
    for row, label in zip(board.page, bright(gen, session.z[board.page])):
        if label == "yes":
            board.toggle(row)
    board.page_done()
    assert "cross-validated AUC" in board.summary()  # summary waits for the refit
    assert {t["job"] for t in board.background.timings} == {"embed page", "prepare next page", "refit probe"}
    assert not board.background.errors and session.fit.n_yes + session.fit.n_no == 40


def test_suggest_next_shows_unmarked_samples_nearest_the_boundary(tmp_path):
    gen = tiny_dcgan()
    session = session_for(tmp_path, gen)
    board = board_for(session, n=60, suggest_k=5, n_candidates=80)
    board.suggest_button.click()  # no probe yet: one line on the board, no exception
    assert "suggestions need a probe" in board.message.value and not board.page
    first = board.new_samples()
    board.replay(Marks(session.z[first], bright(gen, session.z[first])))  # as if each had been clicked

    board.suggest_button.click()
    assert board.message.value == "" and len(board.page) == 5 and len(board.grid.children) == 5
    rows = board.page
    assert not set(rows) & set(session.labels)  # never a sample already marked
    candidates = gen.sample_latents(80, session.suggest_seed)
    head = ProbeHead.from_fit(session.fit)
    all_scores = head(ChannelMeans().embed(gen.generate(candidates)))
    shown = head(ChannelMeans().embed(gen.generate(session.z[rows])))
    # (the scores were computed in a batch of 80: conv numerics differ slightly with the batch size)
    assert torch.allclose(shown, torch.tensor([session.probe_scores[r] for r in rows]), atol=1e-3)
    fifth_closest = (all_scores - 0.5).abs().sort().values[4]
    assert ((shown - 0.5).abs() <= fifth_closest + 1e-3).all()
    assert all(any(torch.equal(session.z[r], c) for c in candidates) for r in rows)
    assert "probe 0." in board.tiles[0].caption.value
    # marking a suggestion appends it to the file at page done
    board.tiles[0].unsure_button.click()
    board.done_button.click()
    written = load_marks(session.marks_path)
    assert written.labels[-5:] == ["unsure", "no", "no", "no", "no"] and len(written) == 65


def test_replay_feeds_a_marks_file_through_the_input_handlers(tmp_path):
    gen = tiny_dcgan()
    z = gen.sample_latents(30, 11)
    labels = bright(gen, z)
    labels[3] = "unsure"
    save_marks(tmp_path / "given.json", Marks(z, labels, "bright", "tiny"))
    session = session_for(tmp_path, gen)
    board = board_for(session, n=8)
    rows = board.replay(tmp_path / "given.json", limit=25)
    assert rows == list(range(25))
    written = load_marks(session.marks_path)
    assert written.labels == labels[:25] and torch.equal(written.z, z[:25])
    assert board.page == list(range(24, 25))  # the last page stays, drawn with its saved marks
    assert nb.LABEL_COLOURS[labels[24]] in board.tiles[0].widget.layout.border
    assert session.fit is not None and f"{session.fit.cv_auc:.3f}" in board.probe.value
    # 4 pages done, plus a click per yes and one per unsure
    inputs = [s.kind for s in board.history]
    assert inputs.count("page done") == 4
    assert inputs.count("toggle") == labels[:25].count("yes") and inputs.count("unsure") == 1
    board.replay(tmp_path / "given.json")  # again, all 30: the first 25 are not duplicated
    assert load_marks(session.marks_path).labels == labels and len(session.z) == 30 + 8  # + the next page, drawn ahead
    with pytest.raises(EraserError, match="one of yes, no, unsure"):
        session.mark(0, "maybe")


@pytest.mark.parametrize("state,want,inputs", [("no", "no", []), ("no", "yes", ["toggle"]), ("no", "unsure", ["unsure"]),
                                               ("yes", "no", ["toggle"]), ("unsure", "no", ["unsure"]),
                                               ("unsure", "yes", ["toggle"]), ("yes", "unsure", ["unsure"])])
def test_scripted_inputs(state, want, inputs):
    assert nb.scripted_inputs(state, want) == inputs


def test_a_new_session_carries_on_from_the_marks_file(tmp_path):
    gen = tiny_dcgan()
    first = board_for(session_for(tmp_path, gen), n=4)
    first.new_samples()
    first.tiles[0].button.click()
    first.page_done()
    first.tiles[1].button.click()  # not saved: the kernel "dies" before page done
    again = session_for(tmp_path, gen)  # e.g. after a kernel restart
    assert again.resumed == 4 and again.labels == {0: "yes", 1: "no", 2: "no", 3: "no"}
    board = board_for(again, n=4)
    assert "Carrying on from the 4 marks" in board.widget.children[0].value
    rows = board.new_samples()  # the same seeds come round again: their marked samples are skipped
    assert not set(rows) & set(again.labels) and len(rows) == 4
    board.tiles[0].unsure_button.click()
    board.page_done()
    assert load_marks(again.marks_path).labels == ["yes", "no", "no", "no", "unsure", "no", "no", "no"]  # appended
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
    assert [g.name for g in outcome.guards] == ["preservation", "feature_rate", "fid", "kid", "recall"]
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


def test_the_measuring_classifier_follows_the_feature_and_the_generator():
    """The notebook's FEATURE_CLASSIFIER = "auto" picks the shipped classifier of that feature made for that
    generator, and none otherwise (the erase is then "not measured", never measured by the wrong feature)."""
    from eraser.notebook import shipped_classifier

    assert shipped_classifier("digiface-dcgan64", "eyeglasses") == "digiface-eyeglasses-clf"
    assert shipped_classifier("digiface-dcgan64", "smile") is None
    assert shipped_classifier("faces-vae64", "eyeglasses") is None  # trained on the DCGAN's samples
    assert shipped_classifier("my-gan", "eyeglasses") is None
