"""`eraser erase` end to end on a tiny generator: outputs, report, resumability, and refusals."""

from __future__ import annotations

import json

import pytest
import torch

from eraser.classifiers import save_classifier
from eraser.generators import load_generator
from eraser.labelling.cnn import FeatureCNN
from eraser.labelling.marks import Marks, save_marks


def _marks(tmp_path, gen, rule, n=300):
    z = gen.sample_latents(n, 5)
    labels = ["yes" if r else "no" for r in rule(z)]
    return save_marks(tmp_path / "marks.json", Marks(z, labels, "planted", "tiny"))


def test_erase_writes_checkpoint_and_report(run_cli, bar_world, tmp_path):
    """A real erase of a planted feature, every guard at its default limit: the measuring classifier sees the
    feature before and far less of it after, so the feature-rate guard can pass or fail on its merits."""
    from conftest import BarGen

    ck, clf, marks = bar_world["generator"], bar_world["classifier"], bar_world["marks"]
    gen = load_generator(ck)
    weights_before = (ck / "model.safetensors").read_bytes()
    out = tmp_path / "erased"
    r = run_cli("erase", "-g", ck, "--labeller", f"marks:{marks}", "--out", out, "--method", "paper", "--steps", 40,
                "--batch-size", 16, "--lr", "2e-3", "--feature-classifier", clf, "--n-eval", 400, "--quiet",
                "--fid-samples", 0, "--guard-every", 20)  # paper: the deep method's detector fit would double the time
    assert r.code == 0, r.err
    assert "feature rate" in r.out and "MS-SSIM" in r.out
    erased = load_generator(out)  # loads like any checkpoint
    m = json.loads((out / "report" / "metrics.json").read_text())
    assert m["direction"]["n_feature"] == int((gen.sample_latents(300, 5)[:, 0] > BarGen.CUT).sum())
    # the classifier measures the planted feature: before, it reads about the share of latents with z[0] > CUT
    z_eval = gen.sample_latents(400, 2000)  # --eval-seed's default
    planted = float((z_eval[:, 0] > BarGen.CUT).float().mean())
    fr = m["feature_rate"]
    assert m["eval"]["n"] == 400 and fr["n"] == 400 and abs(fr["before"] - planted) < 0.03 and fr["before"] > 0.15
    assert fr["after"] <= 0.5 * fr["before"]  # the default guard's limit, not loosened
    guards = {g["name"]: g for g in m["guards"]}
    assert guards["feature_rate"]["passed"] is True and guards["feature_rate"]["limit"] == 0.5
    assert guards["feature_rate"]["value"] == pytest.approx(fr["after"] / fr["before"])
    assert guards["preservation"]["passed"] is True and guards["preservation"]["limit"] == 0.9
    # the bar is gone from the feature latents' images, and the rest stays
    z_yes = gen.sample_latents(400, 7)
    z_yes = z_yes[z_yes[:, 0] > BarGen.CUT + 0.5]
    bar = lambda g, z: float((g.generate(z) * g.module.mask).sum((1, 2, 3)).mean() / g.module.mask.sum())  # noqa: E731
    assert bar(gen, z_yes) > 0.6 and bar(erased, z_yes) < 0.5 * bar(gen, z_yes)
    assert 0.9 <= m["preservation_on_labelled_feature_free"]["ms_ssim_mean"] <= 1
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["labeller"] == f"marks:{marks}" and prov["settings"]["steps"] == 40
    assert (out / "report" / "before_after.png").stat().st_size > 1000
    page = (out / "report" / "report.html").read_text()
    assert 'class="badge pass">PASS' in page and "data:image/png;base64," in page
    s = json.loads((out / "report" / "report.json").read_text())
    f = s["features"][0]
    assert s["status"] == "pass" and f["name"] == "bar" and f["n"] == 400 and f["before"] == fr["before"]
    from eraser.metrics.proportion import wilson_interval

    assert f["after_ci95"] == pytest.approx(wilson_interval(round(fr["after"] * 400), 400))
    assert f"{100 * fr['before']:.1f} % → {100 * fr['after']:.1f} %" in page
    evals = m["guard_evaluations"]
    assert [e["step"] for e in evals] == [20, 40] and m["verdict"] == "pass"
    assert all(e["feature_rate"] is not None for e in evals) and m["kept_step"] in (20, 40)
    assert not out.with_name("erased.partial").exists()
    assert (ck / "model.safetensors").read_bytes() == weights_before


def test_erase_method_flag_picks_the_recipe_and_records_it(run_cli, tiny_checkpoint, tmp_path):
    """--method paper gives the weights the library's paper fine-tune gives; the default is deep, recorded with
    its training detector; the two differ."""
    from eraser.direction import estimate_direction
    from eraser.unlearn.loop import finetune
    from eraser.unlearn.settings import EraseSettings

    gen = load_generator(tiny_checkpoint)
    marks = _marks(tmp_path, gen, lambda z: z[:, 0] > 0.8)
    common = ["-g", tiny_checkpoint, "--labeller", f"marks:{marks}", "--steps", 4, "--batch-size", 8, "--quiet",
              "--fid-samples", 0, "--guard-every", 0, "--guard", "min_ms_ssim=0"]
    assert run_cli("erase", *common, "--out", tmp_path / "p", "--method", "paper").code == 0
    r = run_cli("erase", *common, "--out", tmp_path / "d")
    assert r.code == 0 and "deep method" in r.out
    paper, deep = (json.loads((tmp_path / k / "provenance.json").read_text())["method"] for k in ("p", "d"))
    assert paper["name"] == "paper" and "Moon" in paper["recipe"] and "training_detector" not in paper
    assert deep["name"] == "deep" and deep["training_detector"]["n_feature"] == int((gen.sample_latents(300, 5)[:, 0] > 0.8).sum())
    from eraser.labelling.marks import load_marks

    zz, yy = load_marks(marks).decided()
    ref = finetune(gen, estimate_direction(zz, yy), EraseSettings(method="paper", steps=4, batch_size=8), progress=False)
    ours = load_generator(tmp_path / "p")
    for k, v in ref.generator.state_dict().items():
        assert torch.equal(v, ours.state_dict()[k]), k
    probe = gen.sample_latents(4, 0)
    assert not torch.equal(ours.generate(probe), load_generator(tmp_path / "d").generate(probe))


@pytest.mark.parametrize(
    "rule,message",
    [
        (lambda z: torch.zeros(len(z), dtype=torch.bool), "no feature samples"),
        (lambda z: torch.rand(len(z), generator=torch.Generator().manual_seed(1)) < 0.3, "do not separate in latent space"),
    ],
    ids=["no-positives", "not-separable"],
)
def test_erase_refuses_bad_labels(run_cli, tiny_checkpoint, tmp_path, rule, message):
    gen = load_generator(tiny_checkpoint)
    marks = _marks(tmp_path, gen, rule)
    out = tmp_path / "erased"
    r = run_cli("erase", "-g", tiny_checkpoint, "--labeller", f"marks:{marks}", "--out", out, "--steps", 2, "--quiet")
    assert r.code == 2, r.err
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("eraser: error:") and message in last and "Traceback" not in r.err
    assert not out.exists()


def test_erase_refuses_existing_out_and_input_folder(run_cli, tiny_checkpoint, tmp_path):
    gen = load_generator(tiny_checkpoint)
    marks = _marks(tmp_path, gen, lambda z: z[:, 0] > 0.8)
    r = run_cli("erase", "-g", tiny_checkpoint, "--labeller", f"marks:{marks}", "--out", tiny_checkpoint, "--quiet")
    assert r.code == 2 and "refusing to overwrite the input --generator" in r.err
    (tmp_path / "taken").mkdir()
    r = run_cli("erase", "-g", tiny_checkpoint, "--labeller", f"marks:{marks}", "--out", tmp_path / "taken", "--quiet")
    assert r.code == 2 and "already exists" in r.err


def test_impossible_guard_fails_and_keeps_nothing(run_cli, tiny_checkpoint, tmp_path):
    gen = load_generator(tiny_checkpoint)
    marks = _marks(tmp_path, gen, lambda z: z[:, 0] > 0.8)
    before = {p.name: p.read_bytes() for p in tiny_checkpoint.iterdir()}
    out = tmp_path / "erased"
    r = run_cli("erase", "-g", tiny_checkpoint, "--labeller", f"marks:{marks}", "--out", out, "--steps", 4,
                "--batch-size", 8, "--quiet", "--guard", "min_ms_ssim=1.01", "--fid-samples", 0)
    assert r.code == 3, r.err
    last = r.err.strip().splitlines()[-1]
    assert "guards failed" in last and "preservation" in last and "Traceback" not in r.err
    assert not (out / "model.safetensors").exists() and not (out / "config.json").exists()
    assert "FAILED its guards (preservation" in (out / "report" / "report.html").read_text()
    m = json.loads((out / "report" / "metrics.json").read_text())
    failed = [g for g in m["guards"] if g["passed"] is False]
    assert [g["name"] for g in failed] == ["preservation"] and failed[0]["margin"] < 0
    assert {p.name: p.read_bytes() for p in tiny_checkpoint.iterdir()} == before


def test_evaluate_compares_and_reports(run_cli, tiny_checkpoint, tmp_path):
    gen = load_generator(tiny_checkpoint)
    marks = _marks(tmp_path, gen, lambda z: z[:, 0] > 0.8)
    torch.manual_seed(0)
    net = FeatureCNN((4, 8))
    with torch.no_grad():
        net.head[-1].bias.fill_(-2.0)  # an untrained net that calls most samples feature-free
    save_classifier(tmp_path / "clf", net.state_dict(), {"kind": "cnn", "init_args": {"widths": [4, 8]}})
    out = tmp_path / "erased"
    r = run_cli("erase", "-g", tiny_checkpoint, "--labeller", f"marks:{marks}", "--out", out, "--steps", 4,
                "--batch-size", 8, "--quiet", "--fid-samples", 0, "--guard", "max_feature_rate_ratio=10")
    assert r.code == 0, r.err
    r = run_cli("evaluate", "--original", tiny_checkpoint, "--erased", out, "--feature-classifier", tmp_path / "clf",
                "--out", tmp_path / "eval", "--n-eval", 32, "--fid-samples", 12,
                "--guard", "max_feature_rate_ratio=10", "--guard", "max_fid_over_floor=1e9",
                "--guard", "max_kid_over_floor=1e9", "--guard", "max_recall_drop=1")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    d = m["distribution"]
    assert d["fid"]["protocol"] == "fid12_inception_vs_clean" and d["fid"]["floor"] > 0
    assert 0 <= d["recall"]["erased_vs_clean"] <= 1 and d["n_per_set"] == 12
    assert m["feature_rate"]["n"] == 32 and len(m["feature_rate"]["scores_after"]) == 32
    assert {g["name"] for g in m["guards"]} == {"preservation", "feature_rate", "fid", "kid", "recall"}
    page = (tmp_path / "eval" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4  # first-screen grid, labelled grid, score histograms, training
    assert (tmp_path / "eval" / "feature_scores.png").is_file()


def test_before_after_grid_keeps_short_rows(tiny_checkpoint):
    from eraser.report.write import before_after_grid

    gen = load_generator(tiny_checkpoint)
    img = before_after_grid(gen, gen, gen.sample_latents(3, 0), gen.sample_latents(9, 1), ncol=4)
    # 3 feature samples → one row pair; 9 feature-free → three row pairs: 8 rows of 4 tiles (64 px + 2 px padding)
    assert img.size == (4 * 66 + 2, 8 * 66 + 2)
