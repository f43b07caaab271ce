"""The report's first screen and `eraser compare`: intervals, verdict colours, feature names, provenance."""

from __future__ import annotations

import json
import math

import pytest

from eraser.generators import load_generator
from eraser.labelling.marks import Marks, save_marks
from eraser.report.summary import FAIL, PASS, UNMEASURED, Cost, FeatureSummary, ReportSummary, rate_interval


def test_wilson_interval_matches_the_formula():
    """7 of 500 and 0 of 500, against the Wilson score interval written out by hand (z = 1.959964)."""
    z = 1.959963984540054
    for k, n in [(7, 500), (0, 500), (71, 500)]:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        low, high = rate_interval(p, n)
        assert low == pytest.approx(max(0.0, centre - half), abs=1e-9) and high == pytest.approx(centre + half, abs=1e-9)
    assert rate_interval(7 / 500, 500) == pytest.approx((0.0067978, 0.0286131), abs=1e-6)
    assert rate_interval(0.0, 500)[1] == pytest.approx(z * z / (500 + z * z), abs=1e-9)  # 0.00762: "none of 500"


def _summary(verdict="pass", measured=True, fid_from_direction=False) -> ReportSummary:
    from eraser.guards import GuardLimits, check, measured as values, as_dicts
    from dataclasses import asdict

    before, after = (0.142, 0.004) if measured else (None, None)
    res = check(values(ms_ssim=0.962, rate_before=before, rate_after=after), GuardLimits())
    f = FeatureSummary("eyeglasses", "marks:m.json", {"yes": 278, "no": 1251, "unsure": 199}, "automated AI annotators",
                       guard=as_dicts(res)[1])
    if measured:
        f.classifier, f.threshold, f.n, f.before, f.after = "clf", 0.5, 500, before, after
        f.before_ci95, f.after_ci95 = list(rate_interval(before, 500)), list(rate_interval(after, 500))
    cost = Cost(ms_ssim=0.962, ms_ssim_n=512, fid=12.0, fid_floor=11.5, recall=0.70, recall_floor=0.72, fid_n=100,
                fid_reference="x", fid_reference_from_direction=fid_from_direction, seconds=211.0)
    return ReportSummary("erase", "t", "digiface-dcgan64", "out", verdict, [f], cost, as_dicts(res),
                         guard_limits=asdict(GuardLimits()), out="out")


def test_status_is_amber_without_a_measuring_classifier():
    assert _summary().status == PASS
    s = _summary(measured=False, fid_from_direction=True)
    assert s.verdict == "pass" and s.status == UNMEASURED
    assert _summary(verdict="fail").status == FAIL and _summary(verdict="fail", measured=False).status == FAIL
    from eraser.report.html import first_screen

    page = first_screen(s, None)
    assert "badge amber" in page and "NOT MEASURED" in page and "badge pass" not in page
    assert "fell back to the latent direction" in page and "--feature-classifier" in page
    assert "eraser audit -g out --feature-classifier CLASSIFIER --out out-audit" in page  # the "not audited" line
    again = ReportSummary.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again.status == UNMEASURED and again.features[0].labels == {"yes": 278, "no": 1251, "unsure": 199}


def test_guard_row_shows_rates_and_a_labelled_ratio():
    from eraser.guards import from_dicts
    from eraser.report.html import guard_table

    s = _summary()
    row = [r for r in guard_table(from_dicts(s.guards), s.features).split("<tr") if "feature_rate" in r][0]
    assert "before 14.2 %, after 0.4 %" in row and "ratio after ÷ before = 0.028" in row and "ratio ≤ 0.5" in row
    from eraser.report.html import feature_rows

    assert "14.2 % → 0.4 %" in feature_rows(s) and "95 % CI 0.1–1.4 %" in feature_rows(s) and "n = 500" in feature_rows(s)


def _marks(tmp_path, gen, n=300):
    """Marks whose feature ("planted") differs from the file's stem ("toy-marks")."""
    z = gen.sample_latents(n, 5)
    return save_marks(tmp_path / "toy-marks.json", Marks(z, ["yes" if v > 0.8 else "no" for v in z[:, 0]], "planted", "tiny"))


def _erase(run_cli, ck, marks, out, *extra):
    return run_cli("erase", "-g", ck, "--labeller", f"marks:{marks}", "--out", out, "--method", "paper", "--steps", 4,
                   "--batch-size", 8, "--quiet", "--guard-every", 2, *extra)


def test_unmeasured_erase_report_and_compare(run_cli, tiny_checkpoint, tmp_path):
    """A real erase with no measuring classifier: amber, the marks file's feature name (not its stem), the
    label counts, FID's reference from the direction; then `eraser compare` with a failed erase."""
    gen = load_generator(tiny_checkpoint)
    marks = _marks(tmp_path, gen)
    n_yes = int((gen.sample_latents(300, 5)[:, 0] > 0.8).sum())
    a, b = tmp_path / "a", tmp_path / "b"
    assert _erase(run_cli, tiny_checkpoint, marks, a, "--fid-samples", 12, "--guard", "min_ms_ssim=0").code == 0
    s = json.loads((a / "report" / "report.json").read_text())
    assert s["status"] == "not measured" and s["verdict"] == "pass"
    f = s["features"][0]
    assert f["name"] == "planted" and f["before"] is None and f["labels"] == {"yes": n_yes, "no": 300 - n_yes, "unsure": 0}
    assert f["labels_by"] == "unknown (the marks file does not say who made them)"
    assert s["cost"]["fid_reference_from_direction"] is True and s["cost"]["fid_n"] == 12
    assert json.loads((a / "provenance.json").read_text())["feature"] == "planted"
    assert s["weights_sha256"]["erased"] == __import__("eraser.io", fromlist=["x"]).sha256_file(a / "model.safetensors")
    assert "--steps 4" in s["command"] and "--guard min_ms_ssim=0" in s["command"] and "--fid-samples 12" in s["command"]
    page = (a / "report" / "report.html").read_text()
    assert "NOT MEASURED" in page and "<title>Erase of planted from" in page and "<b>planted</b>" in page
    assert '<a href="report.json">' in page and '<a href="metrics.json">' in page
    # a failed erase: an impossible preservation limit
    r = _erase(run_cli, tiny_checkpoint, marks, b, "--fid-samples", 0, "--guard", "min_ms_ssim=1.01")
    assert r.code == 3
    sb = json.loads((b / "report" / "report.json").read_text())
    assert sb["status"] == "fail" and sb["weights_sha256"]["erased"] is None
    assert "FAIL" in (b / "report" / "report.html").read_text()

    out = tmp_path / "cmp" / "compare.html"
    r = run_cli("compare", a, b, "--out", out)
    assert r.code == 0, r.err
    page = out.read_text()
    assert "NOT MEASURED" in page and "badge fail" in page and page.count("data:image/png;base64,") == 2
    diff = page.split("Settings that differ")[1]
    assert "guard.min_ms_ssim" in diff and "1.01" in diff and "settings.steps" not in diff  # only what differs
    assert [p.name for p in out.parent.iterdir()] == ["compare.html"]  # nothing left behind
    r = run_cli("compare", a, b, "--out", out)
    assert r.code == 2 and "already exists" in r.err
    r = run_cli("compare", a, tiny_checkpoint, "--out", tmp_path / "c2.html")
    assert r.code == 2 and "is not an erase output folder" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "c2.html").exists()


def test_shipped_marks_say_who_made_them():
    from pathlib import Path

    from eraser.labelling.spec import LabellerSpec
    from eraser.report.erase_summary import labels_made_by

    root = Path(__file__).resolve().parents[1]
    spec = LabellerSpec.parse(f"marks:{root / 'assets/marks/digiface-eyeglasses.json'}")
    assert "automated AI annotators" in labels_made_by(spec, None)
