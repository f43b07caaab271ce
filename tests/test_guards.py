"""The guard rulebook (eraser.guards), with numbers worked out by hand."""

from __future__ import annotations

import pytest

from eraser.errors import EraserError
from eraser.guards import RULES, GuardLimits, as_dicts, check, failures_line, from_dicts, measured, verdict


def test_measured_derives_each_guards_value():
    v = measured(ms_ssim=0.95, rate_before=0.20, rate_after=0.05, fid=38.0, fid_floor=36.5, kid=0.30, kid_floor=-0.20,
                 recall=0.65, recall_floor=0.70)
    assert v["preservation"] == 0.95
    assert v["feature_rate"] == 0.25  # 0.05 / 0.20
    assert v["fid"] == 1.5  # 38.0 − 36.5
    assert v["kid"] == 0.5  # 0.30 − (−0.20)
    assert v["recall"] == pytest.approx(0.05)  # 0.70 − 0.65: the drop below the floor
    # nothing measured, or a rate of 0 before: no value (the ratio would be undefined)
    assert measured() == {"preservation": None, "feature_rate": None, "fid": None, "kid": None, "recall": None}
    assert measured(rate_before=0.0, rate_after=0.1)["feature_rate"] is None


def test_check_judges_every_rule_against_its_limit():
    limits = GuardLimits()  # 0.90, 0.5, 5, 2, 0.10
    values = measured(ms_ssim=0.89, rate_before=0.2, rate_after=0.1, fid=40.0, fid_floor=34.0, kid=1.0, kid_floor=0.0,
                      recall=0.6, recall_floor=0.65)
    r = {g.name: g for g in check(values, limits)}
    # every rule but the optional ones (collateral), which give a result only when measured
    assert [g.name for g in check(values, limits)] == [rule.name for rule in RULES if not rule.optional]
    assert r["preservation"].passed is False and r["preservation"].margin == pytest.approx(-0.01)  # 0.89 − 0.90
    assert r["feature_rate"].passed is True and r["feature_rate"].margin == 0.0  # 0.1/0.2 = 0.5, exactly at ≤ 0.5
    assert r["fid"].passed is False and r["fid"].margin == -1.0  # 5 − (40 − 34)
    assert r["kid"].passed is True and r["kid"].margin == 1.0  # 2 − 1
    assert r["recall"].passed is True and r["recall"].margin == pytest.approx(0.05)  # 0.10 − 0.05
    assert verdict(list(r.values())) is False
    line = failures_line(list(r.values()))
    assert line.startswith("preservation: 0.89 (limit ≥ 0.9, missed by 0.01); fid: 6 (limit ≤ 5, missed by 1)")


def test_unmeasured_guards_are_skipped_never_passed():
    results = check(measured(ms_ssim=0.95), GuardLimits())
    assert [g.passed for g in results] == [True, None, None, None, None]
    assert results[1].detail == "feature rate after / before: not measured" and results[1].margin is None
    assert verdict(results) is True and failures_line(results) == ""


def test_training_uses_only_the_cheap_rules_with_the_same_arithmetic():
    limits = GuardLimits(min_ms_ssim=0.9, max_feature_rate_ratio=0.5)
    cheap = check(measured(ms_ssim=0.91, rate_before=0.1, rate_after=0.06), limits, during_training=True)
    assert [g.name for g in cheap] == ["preservation", "feature_rate"]
    assert [g.passed for g in cheap] == [True, False]  # 0.06 / 0.1 = 0.6 > 0.5
    assert cheap[1].value == pytest.approx(0.6)
    assert verdict(check(measured(ms_ssim=0.91, rate_before=0.1, rate_after=0.05), limits, during_training=True))


def test_limits_parse_names_and_round_trip():
    assert GuardLimits.names() == [r.limit for r in RULES]  # one limit per rule, in the rulebook's order
    lim = GuardLimits.parse(["min_ms_ssim=0.95", "max_recall_drop=0.2"])
    assert (lim.min_ms_ssim, lim.max_recall_drop, lim.max_fid_over_floor) == (0.95, 0.2, 5.0)
    for bad in (["min_ssim=1"], ["min_ms_ssim"], ["min_ms_ssim=high"], ["max_feature_rate_ratio=-1"]):
        with pytest.raises(EraserError):
            GuardLimits.parse(bad)
    results = check(measured(ms_ssim=0.5, rate_before=0.2, rate_after=0.2), GuardLimits())
    assert from_dicts(as_dicts(results)) == results
    assert as_dicts(results)[0]["margin"] == pytest.approx(-0.4)
