"""Marks, probes, the CNN classifier and `eraser label` / `eraser marks`: real numbers, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import ChannelMeans, tiny_dcgan
from eraser.classifiers import load_classifier, save_classifier
from eraser.errors import EraserError
from eraser.generators import load_generator
from eraser.labelling import make_labeller
from eraser.labelling.cnn import FeatureCNN, train_cnn
from eraser.labelling.marks import Marks, MarksLabeller, load_marks, save_marks
from eraser.labelling.probe import MIN_PER_CLASS, ProbeHead, train_probe


# -- probe ---------------------------------------------------------------------------------------
def planted_embeddings(n=400, d=64, seed=0):
    """Two classes separated by a margin along a fixed random direction, plus isotropic noise."""
    u = np.random.default_rng(1234).standard_normal(d)
    u /= np.linalg.norm(u)
    g = np.random.default_rng(seed)
    y = (g.random(n) < 0.2).astype(int)
    X = g.standard_normal((n, d)) + np.outer(np.where(y == 1, 3.0, -3.0), u)
    return X, y


def test_probe_on_planted_separable_embeddings():
    X, y = planted_embeddings()
    fit = train_probe(X, y)
    assert fit.cv_auc >= 0.99
    assert (fit.n_yes, fit.n_no) == (int(y.sum()), int((1 - y).sum()))
    head = ProbeHead.from_fit(fit)
    Xt, yt = planted_embeddings(seed=1)
    s = head(torch.tensor(Xt, dtype=torch.float32)).numpy()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(yt, s) >= 0.99
    assert ((s >= 0.5) == yt).mean() >= 0.97


def test_probe_head_matches_sklearn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = planted_embeddings(n=200, d=16)
    X = X + 5  # a non-zero mean, so the standardisation matters
    fit = train_probe(X, y, C=0.3)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, class_weight="balanced", max_iter=5000)).fit(X, y)
    ours = ProbeHead.from_fit(fit)(torch.tensor(X, dtype=torch.float32)).numpy()
    assert np.allclose(ours, ref.predict_proba(X)[:, 1], atol=1e-5)


def test_probe_refuses_too_few_marks():
    X, y = planted_embeddings(n=200)
    y[:] = 0
    y[: MIN_PER_CLASS - 1] = 1
    with pytest.raises(EraserError, match=f"at least {MIN_PER_CLASS} 'yes'.*got {MIN_PER_CLASS - 1} yes"):
        train_probe(X, y)


# -- marks ---------------------------------------------------------------------------------------
def _marks_file(tmp_path, labels, n_latents=None, dim=8):
    z = torch.randn(n_latents or len(labels), dim, generator=torch.Generator().manual_seed(0))
    path = save_marks(tmp_path / "m.json", Marks(z[: len(labels)], labels, "eyeglasses", "tiny"))
    return path, z


def test_marks_roundtrip(tmp_path):
    path, z = _marks_file(tmp_path, ["yes", "no", "unsure", "no"])
    m = load_marks(path)
    assert m.counts() == {"yes": 1, "no": 2, "unsure": 1}
    assert torch.equal(m.z, z[:4])
    zd, yd = m.decided()
    assert torch.equal(yd, torch.tensor([1.0, 0.0, 0.0])) and torch.equal(zd, z[[0, 1, 3]])


def _edit(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d.update(format="other"), "not an eraser marks file"),
        (lambda d: d.update(marks=[]), "no \"marks\" list"),
        (lambda d: d["marks"].append({"id": 99, "label": "yes"}), "unknown id 99"),
        (lambda d: d["marks"].append({"id": 0, "label": "no"}), "id 0 is marked more than once"),
        (lambda d: d["marks"][1].update(label="maybe"), "label 'maybe'"),
        (lambda d: d["marks"][0].pop("id"), "must be an object with \"label\" and \"id\""),
        (lambda d: d["marks"][0].update(id="3"), "ids are integers"),
        (lambda d: d.update(latents_sha256="0" * 64), "do not match the sha256"),
    ],
)
def test_bad_marks_files(tmp_path, edit, message):
    path, _ = _marks_file(tmp_path, ["yes", "no", "no"])
    _edit(path, edit)
    with pytest.raises(EraserError, match=message):
        load_marks(path)


def test_malformed_json(tmp_path):
    p = tmp_path / "m.json"
    p.write_text("{not json")
    with pytest.raises(EraserError, match="not valid JSON"):
        load_marks(p)


def test_all_one_class_is_refused(tmp_path):
    path, _ = _marks_file(tmp_path, ["no"] * 12)
    with pytest.raises(EraserError, match="0 yes and 12 no"):
        load_marks(path).require_both(1, "the direction")


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4, None])
def test_a_crash_while_saving_marks_leaves_a_loadable_pair(tmp_path, monkeypatch, crash_at):
    """Saving new marks over old ones (other latents, other labels) takes four atomic renames; the process dying
    before any one of them leaves a marks file that loads, as the old marks or as the new ones."""
    import os

    path = tmp_path / "m.json"
    old = Marks(torch.randn(30, 5, generator=torch.Generator().manual_seed(0)), ["yes", "no", "unsure"] * 10, "f", "g")
    new = Marks(torch.randn(40, 5, generator=torch.Generator().manual_seed(1)), ["no", "yes"] * 20, "f", "g")
    save_marks(path, old)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == crash_at:
            raise KeyboardInterrupt  # the process dies here: this rename never happens
        return real_replace(src, dst)

    with monkeypatch.context() as mp:
        mp.setattr(os, "replace", replace)
        if crash_at is None:
            save_marks(path, new)
        else:
            with pytest.raises(KeyboardInterrupt):
                save_marks(path, new)
    got = load_marks(path)
    # renames: new latents to an interim file, the JSON naming it, the latents to their name, the JSON naming them
    expected = old if crash_at in (1, 2) else new
    assert torch.equal(got.z, expected.z) and got.labels == expected.labels
    if crash_at is None:
        assert len(calls) == 4 and sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.latents.npy"]
        assert json.loads(path.read_text())["latents"] == "m.latents.npy"
        save_marks(path, Marks(new.z, ["yes"] * 40, "f", "g"))  # same latents, new labels: the JSON alone changes
        assert load_marks(path).labels == ["yes"] * 40


def test_marks_labeller_scores_marked_latents_only(tmp_path):
    path, z = _marks_file(tmp_path, ["yes", "no", "unsure"], n_latents=4)
    lab = make_labeller(f"marks:{path}")
    assert isinstance(lab, MarksLabeller)
    s = lab.score(tiny_dcgan(), z[[2, 0, 1]])
    assert torch.isnan(s[0]) and s[1] == 1 and s[2] == 0
    with pytest.raises(EraserError, match="was not marked"):
        lab.score(tiny_dcgan(), z[3:4])


def test_bad_labeller_specs():
    for spec in ("nope", "foo:bar", "marks:"):
        with pytest.raises(EraserError, match="labeller spec"):
            make_labeller(spec)
    with pytest.raises(EraserError, match="neither a shipped classifier"):
        make_labeller("probe:/no/such/dir")


# -- pixel CNN classifier ------------------------------------------------------------------------
def _bars(n, seed):
    """64×64 noise images; the positives carry a bright horizontal bar across the 'eyes'."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 64, 64, generator=g) * 1.2 - 0.6
    y = (torch.rand(n, generator=g) < 0.3).float()
    x[y == 1, :, 24:28, 12:52] = 0.9
    return x, y


def test_cnn_learns_a_planted_feature_and_roundtrips(tmp_path):
    from sklearn.metrics import roc_auc_score

    x, y = _bars(256, 0)
    logs = []
    net = train_cnn(x, y, epochs=4, widths=(8, 16), val=_bars(128, 1), on_epoch=logs.append)
    assert logs[-1].val_auc >= 0.95
    save_classifier(tmp_path / "clf", net.state_dict(), {"kind": "cnn", "feature": "bar", "init_args": {"widths": [8, 16]}})
    lab = load_classifier(str(tmp_path / "clf"))
    xt, yt = _bars(128, 2)
    s = lab.score_images(xt)
    assert roc_auc_score(yt.numpy(), s.numpy()) >= 0.95
    assert s.min() >= 0 and s.max() <= 1


def test_cnn_training_is_deterministic():
    x, y = _bars(64, 0)
    a = train_cnn(x, y, epochs=1, widths=(4, 8), seed=3)
    b = train_cnn(x, y, epochs=1, widths=(4, 8), seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


# -- CLI -----------------------------------------------------------------------------------------
def test_label_cli_with_marks_and_classifier(run_cli, tiny_checkpoint, tmp_path):
    gen = load_generator(tiny_checkpoint)
    z = gen.sample_latents(6, 0)
    mpath = save_marks(tmp_path / "m.json", Marks(z, ["yes", "no", "no", "unsure", "yes", "no"], "f", "tiny"))
    r = run_cli("label", "-g", tiny_checkpoint, "--labeller", f"marks:{mpath}", "--out", tmp_path / "s.json")
    assert r.code == 0, r.err
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["labels"] == ["yes", "no", "no", None, "yes", "no"]
    assert doc["counts"] == {"yes": 2, "no": 3, "unlabelled": 1}
    assert np.array_equal(np.load(tmp_path / "s.latents.npy"), z.numpy())

    torch.manual_seed(0)
    save_classifier(tmp_path / "clf", FeatureCNN((4, 8)).state_dict(), {"kind": "cnn", "init_args": {"widths": [4, 8]}})
    r = run_cli("label", "-g", tiny_checkpoint, "--labeller", f"probe:{tmp_path / 'clf'}", "--n", 5, "--out", tmp_path / "p.json")
    assert r.code == 0, r.err
    doc = json.loads((tmp_path / "p.json").read_text())
    expected = load_classifier(str(tmp_path / "clf")).score_images(gen.generate(gen.sample_latents(5, 0)))
    assert np.allclose(doc["scores"], expected.numpy(), atol=1e-6)


def test_marks_grid_cli(run_cli, tiny_checkpoint, tmp_path):
    r = run_cli("marks", "grid", "-g", tiny_checkpoint, "--n", 10, "--seed", 4, "--per-grid", 4, "--feature", "hat",
                "--out", tmp_path / "g")
    assert r.code == 0, r.err
    assert sorted(p.name for p in (tmp_path / "g").glob("grid_*.png")) == ["grid_000.png", "grid_001.png", "grid_002.png"]
    m = load_marks(tmp_path / "g" / "marks.json")
    assert m.counts() == {"yes": 0, "no": 0, "unsure": 10} and m.feature == "hat"
    assert torch.equal(m.z, load_generator(tiny_checkpoint).sample_latents(10, 4))
    r = run_cli("marks", "grid", "-g", tiny_checkpoint, "--n", 2, "--out", tmp_path / "g")
    assert r.code == 2 and "already exists" in r.err


def test_suggest_picks_the_least_certain_candidates():
    from eraser.labelling.probe import ProbeHead
    from eraser.labelling.workflow import suggest

    gen = tiny_dcgan()
    emb = ChannelMeans()
    z = gen.sample_latents(200, 0)
    e = emb.embed(gen.generate(z))
    labels = ["yes" if v > e[:, 0].median() else "no" for v in e[:, 0]]  # a feature the embedding sees
    marks = Marks(z, labels, "bright", "tiny")
    chosen, scores, fit = suggest(gen, marks, emb, n_candidates=100, seed=9, k=10)
    assert fit.cv_auc > 0.9 and len(chosen) == 10
    candidates = gen.sample_latents(100, 9)
    all_scores = ProbeHead.from_fit(fit)(emb.embed(gen.generate(candidates)))
    tenth_closest = (all_scores - 0.5).abs().sort().values[9]
    assert ((scores - 0.5).abs() <= tenth_closest + 1e-6).all()
    assert all(any(torch.equal(c, row) for row in candidates) for c in chosen)


def test_probe_checkpoint_roundtrip_with_inception_spec(tmp_path):
    """A saved probe reloads as a labeller whose head equals the fit (the Inception embedder is rebuilt)."""
    from eraser.labelling.probe import ProbeLabeller, save_probe

    X, y = planted_embeddings(n=200, d=2048)
    fit = train_probe(X, y)
    save_probe(tmp_path / "p", fit, {"name": "inception-fid", "size": 96}, "planted")
    lab = load_classifier(str(tmp_path / "p"))
    assert isinstance(lab, ProbeLabeller) and lab.embedder.size == 96
    e = torch.tensor(X[:5], dtype=torch.float32)
    assert torch.allclose(lab.head(e), ProbeHead.from_fit(fit)(e))
    s = lab.score_images(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert s.shape == (2,) and ((s >= 0) & (s <= 1)).all()


def test_threshold_rules():
    from eraser.labelling.cnn import threshold_for_fpr, threshold_for_tpr

    neg = np.linspace(0, 1, 101)  # 101 negatives spread evenly over [0, 1]
    assert threshold_for_fpr(neg, 0.10) == 0.91  # ≥ 0.91 holds 10 of 101 (9.9 %); ≥ 0.90 holds 11 (10.9 %)
    assert threshold_for_fpr(np.zeros(10), 0.0) == 0.5
    pos = np.linspace(0, 1, 101)
    assert threshold_for_tpr(pos, 0.97) == 0.03  # ≥ 0.03 keeps 98 of 101 (97.0 %); ≥ 0.04 keeps 97 (96.0 %)
