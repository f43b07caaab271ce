"""Guards: limits on what an erase may cost, and verdicts over measured numbers. One rulebook.

Defaults come from the README erase of digiface-dcgan64 (benchmarks/results/erase_e2e_cpu.json):
MS-SSIM 0.962, feature rate ×0.018, FID500 +0.54 and KID500×1000 +0.28 over their floors, recall
+0.03; the limits leave about ten times that headroom while still catching a damaged generator.

Each guard compares one number with a limit (``RULES``, in this order):

* ``preservation``: mean MS-SSIM(G(z), G'(z)) on latents labelled feature-free ≥ ``min_ms_ssim``;
* ``feature_rate``: feature rate after / before ≤ ``max_feature_rate_ratio`` (measuring classifier;
  not measured when the rate before is 0);
* ``fid``: FID(G', G's feature-free samples) − floor ≤ ``max_fid_over_floor``, the floor being the
  FID between two independent draws of G's feature-free samples;
* ``kid``: the same for KID (×10³) ≤ ``max_kid_over_floor``;
* ``recall``: recall floor − recall(G' vs G's feature-free samples) ≤ ``max_recall_drop`` (diversity);
* ``collateral``: for a measuring classifier of a feature that was *not* erased, |rate after − rate
  before| / rate before ≤ ``max_collateral_change`` (off by default: the change is reported, not judged;
  ``--guard max_collateral_change=0.15`` turns it on). Reported only when such a classifier was given.

With several features erased in one run, ``feature_rate`` is judged per erased feature and
``collateral`` per feature that was not: a value given as ``{feature: value}`` yields one result per
feature, named ``feature_rate[FEATURE]`` (``collateral[FEATURE]``).

The first two are cheap and are also what the training monitor checks at every guard evaluation
(``during_training``). :func:`measured` turns the raw numbers into each guard's value, :func:`check`
judges them, :func:`verdict` says whether any measured guard failed. Training, evaluation, the batch
summary and the CLI all use these; none re-codes a rule. A guard whose number was not measured is
reported as skipped, never as passed.
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
    #: relative change allowed in the rate of a feature that was not erased; None: reported, not judged
    max_collateral_change: float | None = None

    def __post_init__(self) -> None:
        from eraser.validate import finite

        ranges = {"max_feature_rate_ratio": (0.0, None), "max_collateral_change": (0.0, None)}
        for f in fields(self):
            if f.name == "max_collateral_change" and self.max_collateral_change is None:
                continue
            low, high = ranges.get(f.name, (None, None))
            setattr(self, f.name, finite(getattr(self, f.name), f"guard {f.name}", low=low, high=high))

    @classmethod
    def names(cls) -> list[str]:
        """The limit names ``--guard NAME=VALUE`` (and a manifest's ``[jobs.guards]``) accept."""
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...]) -> GuardLimits:
        """From ``NAME=VALUE`` strings, e.g. ``min_ms_ssim=0.95``."""
        known = set(cls.names())
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


@dataclass(frozen=True)
class Rule:
    """One guard: its name, the ``GuardLimits`` field that bounds it, the direction, what it measures."""

    name: str
    limit: str
    rule: str  # "≥" or "≤"
    what: str
    #: checked at every guard evaluation during fine-tuning too (cheap on a few hundred latents)
    during_training: bool
    #: left out of the results when its number was not measured (a check that most erases have nothing for)
    optional: bool = False


RULES: tuple[Rule, ...] = (
    Rule("preservation", "min_ms_ssim", "≥", "MS-SSIM(G, G') on feature-free latents", True),
    Rule("feature_rate", "max_feature_rate_ratio", "≤", "feature rate after / before", True),
    Rule("fid", "max_fid_over_floor", "≤", "FID increase over the floor", False),
    Rule("kid", "max_kid_over_floor", "≤", "KID×1000 increase over the floor", False),
    Rule("recall", "max_recall_drop", "≤", "recall drop below the floor", False),
    Rule("collateral", "max_collateral_change", "≤", "relative change of a feature that was not erased", False, True),
)


@dataclass
class GuardResult:
    name: str
    value: float | None
    limit: float | None  # None: reported, not judged (an optional guard that is off)
    rule: str  # "≥" or "≤"
    passed: bool | None  # None: not measured
    detail: str

    @property
    def margin(self) -> float | None:
        """How far the value is from the limit, positive when passing."""
        if self.value is None or self.limit is None:
            return None
        return self.value - self.limit if self.rule == "≥" else self.limit - self.value


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def measured(ms_ssim: float | None = None, rate_before: float | None = None, rate_after: float | None = None,
             fid: float | None = None, fid_floor: float | None = None, kid: float | None = None,
             kid_floor: float | None = None, recall: float | None = None,
             recall_floor: float | None = None) -> dict[str, float | None]:
    """Each guard's value from the numbers it is made of (None where they were not measured):
    the ratio of the rates after / before (None when before is 0 or unknown), FID and KID over their
    floors, and the recall's drop below its floor."""
    return {
        "preservation": ms_ssim,
        "feature_rate": ratio(rate_before, rate_after),
        "fid": _diff(fid, fid_floor),
        "kid": _diff(kid, kid_floor),
        "recall": _diff(recall_floor, recall),
    }


def ratio(before: float | None, after: float | None) -> float | None:
    """Feature rate after / before (None when before is 0 or unknown): the ``feature_rate`` guard's value."""
    return after / before if before and after is not None else None


def relative_change(before: float | None, after: float | None) -> float | None:
    """|after − before| / before (None when before is 0 or unknown): the ``collateral`` guard's value."""
    return abs(after - before) / before if before and after is not None else None


def _result(rule: Rule, value: float | None, limit: float | None, name: str | None = None) -> GuardResult:
    name = name or rule.name
    if value is None:
        return GuardResult(name, None, limit, rule.rule, None, f"{rule.what}: not measured")
    if limit is None:
        return GuardResult(name, float(value), None, rule.rule, None, f"{rule.what} {value:.4g} (reported, no limit set)")
    ok = value >= limit if rule.rule == "≥" else value <= limit
    return GuardResult(name, float(value), limit, rule.rule, ok,
                       f"{rule.what} {value:.4g} {'meets' if ok else 'misses'} {rule.rule} {limit:.4g}")


def check(values: dict[str, float | None | dict[str, float | None]], limits: GuardLimits,
          during_training: bool = False) -> list[GuardResult]:
    """A result for every guard (with ``during_training``: only the cheap ones) from :func:`measured` values.

    A value given per feature (``{feature: value}``) gives one result per feature, ``NAME[FEATURE]``; an
    optional guard (``collateral``) with nothing measured gives none.
    """
    out = []
    for r in RULES:
        if during_training and not r.during_training:
            continue
        value, limit = values.get(r.name), getattr(limits, r.limit)
        if isinstance(value, dict):
            out += [_result(r, v, limit, f"{r.name}[{feature}]") for feature, v in value.items()]
        elif value is not None or not r.optional:
            out.append(_result(r, value, limit))
    return out


def verdict(results: list[GuardResult]) -> bool:
    """True when no measured guard failed."""
    return all(r.passed is not False for r in results)


def failures_line(results: list[GuardResult]) -> str:
    """One line naming each failed guard and by how much."""
    bad = [r for r in results if r.passed is False]
    return "; ".join(f"{r.name}: {r.value:.4g} (limit {r.rule} {r.limit:.4g}, missed by {abs(r.margin):.4g})" for r in bad)


def as_dicts(results: list[GuardResult]) -> list[dict[str, Any]]:
    return [{**asdict(r), "margin": r.margin} for r in results]


def from_dicts(items: list[dict[str, Any]]) -> list[GuardResult]:
    """Results back from ``as_dicts`` (e.g. a batch job's record)."""
    names = {f.name for f in fields(GuardResult)}
    return [GuardResult(**{k: v for k, v in g.items() if k in names}) for g in items]
