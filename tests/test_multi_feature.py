"""Several features in one erase (issue 19): a planted generator with three independent features, two of
them erased in one run through ``run_erase`` (and the Python API), the third measured as collateral; the
CLI's repeated options, a manifest with a labeller list, and the one-feature JSON layout unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from eraser.errors import EraserError
from eraser.generators.adapters import ModuleGenerator
from eraser.labelling.base import Labeller
from eraser.labelling.marks import Marks, save_marks

D = 8
#: feature → (latent axis, rows of its patch): three patches in separate bands of a 32×32 image (LPIPS needs ≥ 31 px)
FEATURES = {"a": (0, slice(3, 8)), "b": (1, slice(13, 18)), "c": (2, slice(23, 28))}
SIDE = 32


class ThreeFeatureGen(nn.Module):
    """A smooth image of z plus three patches; patch f appears where ``z[axis_f] > 1`` (16 % of the prior each,
    independently of the others)."""

    def __init__(self, d: int = D, side: int = SIDE) -> None:
        super().__init__()
        self.side = side
        self.body = nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, 3 * side * side))
        self.patches = nn.Parameter(torch.zeros(3, 3 * side * side))
        self.gates = nn.Linear(d, 3)

    def forward(self, z):
        z = z.reshape(len(z), -1)
        x = 0.3 * self.body(z) + torch.sigmoid(self.gates(z)) @ self.patches
        return x.reshape(-1, 3, self.side, self.side)


def mask(feature: str, side: int = SIDE) -> torch.Tensor:
    m = torch.zeros(3, side, side)
    m[:, FEATURES[feature][1], 4:28] = 1.0
    return m.flatten()


def planted_three(seed: int = 0) -> ModuleGenerator:
    torch.manual_seed(seed)
    net = ThreeFeatureGen()
    with torch.no_grad():
        net.gates.weight.zero_()
        for i, (f, (axis, _)) in enumerate(FEATURES.items()):
            net.patches[i].copy_(0.9 * mask(f))
            net.gates.weight[i, axis] = 8.0
        net.gates.bias.fill_(-8.0)
    return ModuleGenerator(net, (D,), {}, "three")


class PatchClassifier(Labeller):
    """The measuring classifier of one planted feature: its patch's brightness over the rest's, cut at 0.45."""

    def __init__(self, feature: str) -> None:
        super().__init__(f"patch-{feature}", 0.5, feature)
        self.m = mask(feature)

    def score_images(self, images):
        x = images.flatten(1)
        strength = (x * self.m).sum(1) / self.m.sum() - (x * (1 - self.m)).sum(1) / (1 - self.m).sum()
        return torch.sigmoid(40 * (strength - 0.45))


def write_marks(tmp: Path, gen, feature: str, seed: int, n: int = 600) -> Path:
    z = gen.sample_latents(n, seed)
    axis = FEATURES[feature][0]
    return save_marks(tmp / f"{feature}.json", Marks(z, ["yes" if v > 1.0 else "no" for v in z[:, axis]], feature, "three"))


def small(**kw):
    from eraser.unlearn.settings import EraseSettings

    return EraseSettings(**{"method": "deep", "steps": 150, "batch_size": 32, "lr": 2e-2, "seed": 0, "mine_every": 25, **kw})


@pytest.mark.slow
def test_two_features_erased_in_one_run_third_untouched(tmp_path):
    import eraser

    gen = planted_three()
    ma, mb = write_marks(tmp_path, gen, "a", 1), write_marks(tmp_path, gen, "b", 2)
    # the paper's recipe: these features are one-sided and linear, and it needs no training detector, whose fit
    # is most of a deep erase's time on a toy (the deep composite is tested in test_deep_erasure.py)
    r = eraser.erase(gen, [f"marks:{ma}", f"marks:{mb}"], tmp_path / "out",
                     feature_classifier=[PatchClassifier("a"), PatchClassifier("b"), PatchClassifier("c")],
                     settings=small(method="paper"), n_eval=1500, fid_samples=0, guard_every=50, progress=False,
                     limits={"min_ms_ssim": 0.8})  # a toy at a large lr: measured MS-SSIM 0.90 on its clean latents
    m = r.metrics
    assert r.passed, r.failure
    assert [row.feature for row in m.features] == ["a", "b"] and m.feature_rate is None
    for row in m.features:
        assert row.rates.classifier == f"patch-{row.feature}"
        assert 0.12 < row.rates.before < 0.21  # P(z > 1) = 15.9 %
        assert row.rates.after < 0.1 * row.rates.before  # removed (measured: 15.5 % → 0.0 % and 14.6 % → 0.0 %)
        assert row.direction["heldout_auc"] > 0.9 and row.training_detector is None
    [c] = m.collateral
    assert c.feature == "c" and c.rates.n == 1500 and 0.12 < c.rates.before < 0.21
    # the third feature's rate unchanged: within 2 points, about 3 standard errors of the difference of two
    # 15 % rates on 1,500 samples (measured: 15.0 % → 15.3 %)
    assert abs(c.rates.after - c.rates.before) < 0.02
    names = [g.name for g in r.guards]
    assert "feature_rate[a]" in names and "feature_rate[b]" in names and "feature_rate" not in names
    coll = next(g for g in r.guards if g.name == "collateral[c]")
    assert coll.limit is None and coll.passed is None and coll.value == pytest.approx(c.relative_change)
    # the report and metrics.json carry a row per feature and the collateral row
    from eraser.io import read_json

    doc = read_json(r.report / "metrics.json")
    assert [f["feature"] for f in doc["features"]] == ["a", "b"] and doc["collateral"][0]["feature"] == "c"
    assert "feature_rate" not in doc and sorted(doc["direction"]) == ["a", "b"]
    page = (r.report / "report.html").read_text()
    assert "Erased features" in page and "Collateral: features that were not erased" in page
    assert sorted(read_json(r.report / "directions.json")) == ["a", "b"]
    prov = read_json(r.out / "provenance.json")
    assert prov["feature"] == ["a", "b"] and len(prov["labeller"]) == 2 and len(prov["feature_classifier"]) == 3


def test_collateral_guard_fails_when_a_limit_is_set_and_exceeded(tmp_path):
    """Erase a only and measure b as collateral: with a limit, the collateral guard judges b's relative change."""
    from eraser.guards import GuardLimits

    gen = planted_three()
    ma = write_marks(tmp_path, gen, "a", 1)
    common = dict(feature_classifier=[PatchClassifier("a"), PatchClassifier("b")], n_eval=600, fid_samples=0,
                  guard_every=0, progress=False)
    import eraser

    r = eraser.erase(gen, f"marks:{ma}", tmp_path / "o1", settings=small(method="paper", steps=6),
                     limits=GuardLimits(max_collateral_change=0.3), **common)
    g = next(x for x in r.guards if x.name == "collateral[b]")
    assert g.passed is True and g.value < 0.3 and r.metrics.features[0].feature == "a"
    assert r.metrics.collateral[0].feature == "b" and r.metrics.feature_rate.classifier == "patch-a"
    # the rule itself: a change beyond the limit fails, per feature; no collateral measured: no result at all
    from eraser.guards import check, measured, verdict

    res = check({**measured(ms_ssim=0.99), "collateral": {"b": 0.2, "c": 0.05}}, GuardLimits(max_collateral_change=0.15))
    coll = {x.name: x.passed for x in res if x.name.startswith("collateral")}
    assert coll == {"collateral[b]": False, "collateral[c]": True} and not verdict(res)
    assert [x.name for x in check(measured(ms_ssim=0.99), GuardLimits())] == ["preservation", "feature_rate", "fid", "kid", "recall"]
    assert GuardLimits.parse(["max_collateral_change=0.15"]).max_collateral_change == 0.15


def test_duplicate_features_are_one_line_errors(tmp_path):
    import eraser

    gen = planted_three()
    ma = write_marks(tmp_path, gen, "a", 1)
    mb = save_marks(tmp_path / "a2.json", Marks(gen.sample_latents(50, 9), ["yes"] * 10 + ["no"] * 40, "a", "three"))
    with pytest.raises(EraserError, match="two labellers label the same feature 'a'"):
        eraser.erase(gen, [f"marks:{ma}", f"marks:{mb}"], tmp_path / "x", progress=False)
    with pytest.raises(EraserError, match="both measure the feature 'a'"):
        eraser.erase(gen, [f"marks:{ma}"], tmp_path / "y", progress=False,
                     feature_classifier=[PatchClassifier("a"), PatchClassifier("a"), PatchClassifier("b")])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_cli_repeats_labeller_and_classifier(tmp_path, run_cli, monkeypatch):
    """``--labeller`` and ``--feature-classifier`` repeat into lists; one of each stays a single value."""
    import eraser.pipeline as pipeline
    from eraser.results import EraseResult

    seen = []

    def fake(req):
        seen.append(req)
        raise EraserError("stop here")

    monkeypatch.setattr(pipeline, "run_erase", fake)
    r = run_cli("erase", "-g", "x", "--labeller", "marks:a.json", "--labeller", "marks:b.json", "-o", tmp_path / "o",
                "--feature-classifier", "A", "--feature-classifier", "B", "--feature-classifier", "C")
    assert r.code == 2 and r.err.strip() == "eraser: error: stop here"
    assert seen[-1].labeller == ["marks:a.json", "marks:b.json"] and seen[-1].feature_classifier == ["A", "B", "C"]
    run_cli("erase", "-g", "x", "--labeller", "marks:a.json", "-o", tmp_path / "o", "--feature-classifier", "A")
    assert seen[-1].labeller == "marks:a.json" and seen[-1].feature_classifier == "A"
    run_cli("erase", "-g", "x", "--labeller", "marks:a.json", "-o", tmp_path / "o")
    assert seen[-1].feature_classifier is None
    r = run_cli("erase", "-g", "x", "-l", "marks:a.json", "-l", "marks:a.json", "-o", tmp_path / "o")
    assert r.code == 2 and r.err.count("\n") == 1 and "--labeller marks:a.json is given twice" in r.err
    assert len(seen) == 3 and EraseResult  # the repeated labeller never reached the erase


def test_manifest_with_labeller_and_classifier_lists(tmp_path, bar_world):
    from eraser.batch.job import input_hashes
    from eraser.batch.manifest import ManifestError, load_manifest

    other = tmp_path / "other.json"
    other.write_bytes(bar_world["marks"].read_bytes())
    text = f"""
[[jobs]]
name = "two"
generator = "{bar_world['generator']}"
labeller = ["marks:{bar_world['marks']}", "marks:other.json"]
feature_classifier = ["{bar_world['classifier']}", "{bar_world['classifier']}"]
"""
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ManifestError, match="feature_classifier lists the same entry twice"):
        load_manifest(path)
    path.write_text(text.replace(f', "{bar_world["classifier"]}"]', "]"))
    job = load_manifest(path).jobs[0]
    assert [s.kind for s in job.labellers] == ["marks", "marks"] and job.classifiers == [str(bar_world["classifier"])]
    req = job.request(tmp_path / "out")
    assert isinstance(req.labeller, list) and len(req.labeller) == 2 and req.feature_classifier == [str(bar_world["classifier"])]
    h = input_hashes(job)
    assert {"marks #1", "marks #2"} <= set(h["labeller"]["sha256"])  # and each marks file's latents
    assert len(h["feature_classifier"]["sha256"]) == 1
    before = h["labeller"]["sha256"]["marks #2"]
    other.write_text(other.read_text().replace('"yes"', '"no"', 1))  # the second marks file changes: its hash does
    after = input_hashes(load_manifest(path).jobs[0])["labeller"]["sha256"]
    assert after["marks #2"] != before and after["marks #1"] == h["labeller"]["sha256"]["marks #1"]
    path.write_text(text.replace('"marks:other.json"', '"marks:missing.json"'))
    with pytest.raises(ManifestError, match="missing.json"):
        load_manifest(path)
    path.write_text(text.replace(f'["marks:{bar_world["marks"]}", "marks:other.json"]', "[]"))
    with pytest.raises(ManifestError, match="non-empty string or a non-empty list"):
        load_manifest(path)


def test_single_feature_metrics_layout_unchanged(tmp_path, bar_world):
    """One labeller and one classifier: no per-feature or collateral keys; the keys eraser wrote before lists."""
    from eraser.io import read_json
    from eraser.pipeline import EraseRequest, run_erase

    r = run_erase(EraseRequest(generator=str(bar_world["generator"]), labeller=f"marks:{bar_world['marks']}",
                               out=tmp_path / "o", feature_classifier=str(bar_world["classifier"]),
                               settings=small(steps=4, batch_size=8), n_eval=100, fid_samples=0, guard_every=2,
                               guard_clean=16, guard_eval=32, progress=False))
    doc = read_json(r.report / "metrics.json")
    assert list(doc) == ["direction", "preservation_on_labelled_feature_free", "eval", "feature_rate", "method",
                         "guard_evaluations", "kept_step", "timings_s", "verdict", "guards"]
    assert sorted(doc["guard_evaluations"][0]) == ["feature_rate", "kept", "ms_ssim", "passed", "step"]
    assert [g["name"] for g in doc["guards"]] == ["preservation", "feature_rate", "fid", "kid", "recall"]
    assert len(r.metrics.features) == 1 and r.metrics.features[0].rates is r.metrics.feature_rate
    assert not r.metrics.several and r.metrics.collateral == []
    assert (r.report / "direction.json").is_file() and not (r.report / "directions.json").exists()
