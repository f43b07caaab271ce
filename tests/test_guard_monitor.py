"""The guard monitor's choice of the state an erase keeps."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_dcgan

import eraser.unlearn.monitor as monitor_module
from eraser.guards import GuardLimits
from eraser.unlearn.monitor import GuardMonitor, not_worse


def test_not_worse_forgives_noise_and_catches_real_rises():
    n = 512
    assert not_worse(2 / n, 1 / n, n)  # one sample more: noise
    assert not_worse(5 / n, 1 / n, n)  # four more at a rate near zero: still within two standard errors
    assert not not_worse(12 / n, 1 / n, n)  # eleven more: a real rise
    assert not not_worse(0.10, 0.05, n)  # 5 points at 5 %: about 3 standard errors
    assert not_worse(0.06, 0.05, n)
    assert not_worse(None, 0.05, n) and not_worse(0.05, None, n)


def _monitor(monkeypatch, rates: dict[int, float], ssim: dict[int, float]) -> GuardMonitor:
    g = tiny_dcgan()
    calls = iter([0.2] + [rates[s] for s in sorted(rates)])  # the first call is the rate before
    monkeypatch.setattr(monitor_module, "feature_rate", lambda *a, **k: next(calls))
    steps = iter(sorted(ssim))
    monkeypatch.setattr(monitor_module, "ms_ssim", lambda a, b: torch.full((len(a),), ssim[next(steps)]))
    limits = GuardLimits()
    return GuardMonitor(g, torch.randn(4, g.latent_dim), object(), torch.randn(512, g.latent_dim), limits,
                        every=100, last_step=500)


def test_monitor_keeps_the_latest_state_that_is_not_measurably_worse(monkeypatch):
    rates = {100: 0.05, 200: 0.004, 300: 0.002, 400: 0.006, 500: 0.004}  # 300 is lowest by one sample
    mon = _monitor(monkeypatch, rates, {s: 0.99 for s in rates})
    for s in rates:
        mon(s, mon.g, {})
    assert mon.kept_step == 500
    assert [e.kept for e in mon.evals] == [False, False, False, False, True]


def test_monitor_does_not_trade_a_real_rise_for_lateness(monkeypatch):
    rates = {100: 0.004, 200: 0.002, 300: 0.004, 400: 0.06, 500: 0.05}  # the last two rise for real
    mon = _monitor(monkeypatch, rates, {s: 0.99 for s in rates})
    for s in rates:
        mon(s, mon.g, {})
    assert mon.kept_step == 300


def test_monitor_never_keeps_a_failing_state(monkeypatch):
    rates = {100: 0.01, 200: 0.005, 300: 0.004}
    mon = _monitor(monkeypatch, rates, {100: 0.99, 200: 0.99, 300: GuardLimits().min_ms_ssim - 0.1})
    for s in rates:
        mon(s, mon.g, {})
    assert mon.kept_step == 200
    assert mon.evals[-1].passed is False
