"""Guards: limits on what an erase may cost, and verdicts over measured metrics.

Defaults come from the README erase of digiface-dcgan64 (benchmarks/results/erase_e2e_cpu.json):
MS-SSIM 0.962, feature rate ×0.018, FID500 +0.54 and KID500×1000 +0.28 over their floors, recall
+0.03; the limits leave about ten times that headroom while still catching a damaged generator.

Each guard compares one number with a limit (defaults measured on digiface-dcgan64; see README):

* ``preservation``: mean MS-SSIM(G(z), G'(z)) on latents labelled feature-free ≥ ``min_ms_ssim``;
* ``feature_rate``: feature rate after ≤ ``max_feature_rate_ratio`` × before (measuring classifier);
* ``fid``: FID(G', G's feature-free samples) − floor ≤ ``max_fid_over_floor``, the floor being the
  FID between two independent draws of G's feature-free samples;
* ``kid``: the same for KID (×10³) ≤ ``max_kid_over_floor``;
* ``recall``: recall floor − recall(G' vs G's feature-free samples) ≤ ``max_recall_drop`` (diversity).

A guard whose metric was not measured is reported as skipped, never as passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from eraser.errors import EraserError


@dataclass
class GuardLimits:
    min_ms_ssim: float = 0.90
    max_feature_rate_ratio: float = 0.5
    max_fid_over_floor: float = 5.0
    max_kid_over_floor: float = 2.0
    max_recall_drop: float = 0.10

    def __post_init__(self) -> None:
        from eraser.validate import finite

        ranges = {"max_feature_rate_ratio": (0.0, None)}
        for f in fields(self):
            low, high = ranges.get(f.name, (None, None))
            setattr(self, f.name, finite(getattr(self, f.name), f"guard {f.name}", low=low, high=high))

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...]) -> GuardLimits:
        """From ``NAME=VALUE`` strings, e.g. ``min_ms_ssim=0.95``."""
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or name not in known:
                raise EraserError(f"guard {item!r} is not NAME=VALUE with NAME one of {', '.join(sorted(known))}")
            try:
                values[name] = float(value)
            except ValueError:
                raise EraserError(f"guard {name} needs a number, got {value!r}") from None
        return cls(**values)


@dataclass
class GuardResult:
    name: str
    value: float | None
    limit: float
    rule: str  # "≥" or "≤"
    passed: bool | None  # None: not measured
    detail: str

    @property
    def margin(self) -> float | None:
        """How far the value is from the limit, positive when passing."""
        if self.value is None:
            return None
        return self.value - self.limit if self.rule == "≥" else self.limit - self.value


def _result(name: str, value: float | None, limit: float, rule: str, what: str) -> GuardResult:
    if value is None:
        return GuardResult(name, None, limit, rule, None, f"{what}: not measured")
    ok = value >= limit if rule == "≥" else value <= limit
    return GuardResult(name, float(value), limit, rule, ok, f"{what} {value:.4g} {'meets' if ok else 'misses'} {rule} {limit:.4g}")


def check(metrics: dict[str, Any], limits: GuardLimits) -> list[GuardResult]:
    """Verdicts for every guard, from a metrics dict as ``evaluate`` writes it."""
    pres = metrics.get("preservation_on_labelled_feature_free", {}).get("ms_ssim_mean")
    fr = metrics.get("feature_rate") or {}
    ratio = fr["after"] / fr["before"] if fr.get("before") else None
    dist = metrics.get("distribution") or {}

    def over(key: str) -> float | None:
        m = dist.get(key)
        return None if m is None else m["erased_vs_clean"] - m["floor"]

    recall = dist.get("recall")
    drop = None if recall is None else recall["floor"] - recall["erased_vs_clean"]
    return [
        _result("preservation", pres, limits.min_ms_ssim, "≥", "MS-SSIM(G, G') on feature-free latents"),
        _result("feature_rate", ratio, limits.max_feature_rate_ratio, "≤", "feature rate after / before"),
        _result("fid", over("fid"), limits.max_fid_over_floor, "≤", "FID increase over the floor"),
        _result("kid", over("kid_x1000"), limits.max_kid_over_floor, "≤", "KID×1000 increase over the floor"),
        _result("recall", drop, limits.max_recall_drop, "≤", "recall drop below the floor"),
    ]


def verdict(results: list[GuardResult]) -> bool:
    """True when no measured guard failed."""
    return all(r.passed is not False for r in results)


def failures_line(results: list[GuardResult]) -> str:
    """One line naming each failed guard and by how much."""
    bad = [r for r in results if r.passed is False]
    return "; ".join(f"{r.name}: {r.value:.4g} (limit {r.rule} {r.limit:.4g}, missed by {abs(r.margin):.4g})" for r in bad)


def as_dicts(results: list[GuardResult]) -> list[dict[str, Any]]:
    return [{**asdict(r), "margin": r.margin} for r in results]


class GuardFailure(EraserError):
    """An erase whose guards failed: nothing was written but the report; exit code 3."""

    exit_code = 3
