"""The typed values an erase and an evaluation produce, and their JSON form.

Every stage hands the next one these records, never a dict read back from disk: ``run_erase``
returns an :class:`EraseResult` (verdict, :class:`EraseMetrics`, guard results, paths, timings, the
erased generator), ``run_evaluate`` an :class:`Evaluation`. ``to_dict()`` gives exactly the layout
of ``report/metrics.json`` (key order included), which is what is written to disk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eraser import guards
from eraser.guards import GuardResult

if TYPE_CHECKING:  # pragma: no cover
    from eraser.generators.base import Generator


@dataclass
class Preservation:
    """How much G' still draws what G drew at the same latents (images in [-1, 1])."""

    ms_ssim_mean: float
    ms_ssim_min: float
    l1_mean: float
    n: int
    #: whether LPIPS was asked for; when it could not run, ``lpips_mean`` is None and ``lpips_note`` says why
    lpips: bool = False
    lpips_mean: float | None = None
    lpips_note: str | None = None
    #: MS-SSIM of each latent, in order (for the report's worst-preserved samples; not in metrics.json)
    per_sample: list[float] = field(default_factory=list, repr=False)

    def worst(self, k: int = 8) -> list[tuple[int, float]]:
        """The ``k`` latents G' changed most: (index, MS-SSIM) pairs, lowest MS-SSIM first."""
        order = sorted(range(len(self.per_sample)), key=self.per_sample.__getitem__)
        return [(i, self.per_sample[i]) for i in order[:k]]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ms_ssim_mean": self.ms_ssim_mean, "ms_ssim_min": self.ms_ssim_min,
                               "l1_mean": self.l1_mean, "n": self.n}
        if self.lpips:
            out["lpips_mean"] = self.lpips_mean
            if self.lpips_note:
                out["lpips_note"] = self.lpips_note
        return out


@dataclass
class FeatureRates:
    """The measuring classifier's feature rate of G and G' at the same fresh latents, with every score."""

    classifier: str
    threshold: float
    n: int
    before: float
    after: float
    relative_reduction: float | None
    scores_before: list[float] = field(repr=False)
    scores_after: list[float] = field(repr=False)

    def to_dict(self, scores: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not scores:
            del out["scores_before"], out["scores_after"]
        return out


@dataclass
class AgainstFloor:
    """One distribution number of G' against G's feature-free samples, and its floor (two draws of those)."""

    protocol: str
    erased_vs_clean: float
    floor: float

    @property
    def over_floor(self) -> float:
        return self.erased_vs_clean - self.floor


@dataclass
class KIDAgainstFloor(AgainstFloor):
    std_erased: float
    subsets: int
    subset_size: int


@dataclass
class DistributionMetrics:
    """FID, KID×1000 and precision/recall of G' against G's feature-free samples, each with its floor."""

    reference: str
    features: str
    n_per_set: int
    fid: AgainstFloor
    kid_x1000: KIDAgainstFloor
    precision: AgainstFloor
    recall: AgainstFloor
    #: the reference features came from the on-disk cache ("hit"), were computed ("miss"), or no cache ("off")
    reference_cache: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalSet:
    """The fresh latents of the final measurement: how many, their seed, and how many lie beyond the threshold."""

    n: int
    seed: int
    share_beyond_threshold: float


@dataclass
class GuardEvaluation:
    """One guard evaluation during fine-tuning (``eraser.unlearn.monitor``)."""

    step: int
    ms_ssim: float
    #: with several erased features: the mean of their rates (each is in ``feature_rates``)
    feature_rate: float | None
    passed: bool
    kept: bool = False
    #: several erased features: each one's rate by its measuring classifier (None with one feature)
    feature_rates: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """As ``metrics.json`` holds it (``feature_rates`` only with several features)."""
        out = asdict(self)
        if self.feature_rates is None:
            del out["feature_rates"]
        return out


@dataclass
class FeatureRow:
    """One erased feature of an erase: its labeller, direction, training detector and measured rates."""

    feature: str
    labeller: str
    #: ``Direction.summary()`` (held-out AUC of the direction on the labels, threshold, counts)
    direction: dict[str, Any]
    #: share of the fresh evaluation latents at or beyond this feature's threshold
    share_beyond_threshold: float
    #: by this feature's measuring classifier (matched by feature name); None without one
    rates: FeatureRates | None
    #: the deep method's training detector for this feature (``DetectorFit.summary()``), else None
    training_detector: dict[str, Any] | None = None

    def to_dict(self, scores: bool = True) -> dict[str, Any]:
        return {"feature": self.feature, "labeller": self.labeller, "direction": self.direction,
                "share_beyond_threshold": self.share_beyond_threshold,
                "feature_rate": self.rates.to_dict(scores) if self.rates is not None else None,
                "training_detector": self.training_detector}


@dataclass
class CollateralRow:
    """A feature that was *not* erased, measured by its classifier on the same fresh latents: before and after."""

    feature: str
    rates: FeatureRates

    @property
    def relative_change(self) -> float | None:
        """|after − before| / before (the ``collateral`` guard's value; None when before is 0)."""
        return guards.relative_change(self.rates.before, self.rates.after)

    def to_dict(self, scores: bool = True) -> dict[str, Any]:
        return {"feature": self.feature, "relative_change": self.relative_change, **self.rates.to_dict(scores)}


def _guard_inputs(preservation: Preservation | None, rates: FeatureRates | None,
                  dist: DistributionMetrics | None) -> dict[str, float | None]:
    return guards.measured(
        ms_ssim=preservation.ms_ssim_mean if preservation is not None else None,
        rate_before=rates.before if rates is not None else None, rate_after=rates.after if rates is not None else None,
        fid=dist.fid.erased_vs_clean if dist else None, fid_floor=dist.fid.floor if dist else None,
        kid=dist.kid_x1000.erased_vs_clean if dist else None, kid_floor=dist.kid_x1000.floor if dist else None,
        recall=dist.recall.erased_vs_clean if dist else None, recall_floor=dist.recall.floor if dist else None)


@dataclass
class EraseMetrics:
    """Every number of one erase."""

    direction: dict[str, Any]
    #: on latents labelled feature-free (at most 512)
    preservation: Preservation
    eval: EvalSet
    #: None without a measuring classifier
    feature_rate: FeatureRates | None
    method: dict[str, Any]
    #: None when FID/KID/precision-recall were skipped
    distribution: DistributionMetrics | None
    guard_evaluations: list[GuardEvaluation]
    kept_step: int | None
    #: the audit's success rates, when it ran
    audit: dict[str, Any] | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    verdict: str = "fail"
    #: one row per erased feature (one row for a one-feature erase, whose numbers are also the fields above)
    features: list[FeatureRow] = field(default_factory=list)
    #: features measured but not erased (a classifier whose feature is none of the erased ones)
    collateral: list[CollateralRow] = field(default_factory=list)

    @property
    def several(self) -> bool:
        """Whether several features were erased (then ``feature_rate`` is None and ``features`` holds the rates)."""
        return len(self.features) > 1

    def guard_values(self) -> dict[str, Any]:
        """Each guard's value (``eraser.guards.measured``); per feature (``{feature: value}``) for the
        feature rates of several erased features and for collateral features."""
        values: dict[str, Any] = _guard_inputs(self.preservation, self.feature_rate, self.distribution)
        if self.several:
            values["feature_rate"] = {r.feature: guards.ratio(r.rates.before, r.rates.after) if r.rates else None
                                      for r in self.features}
        if self.collateral:
            values["collateral"] = {c.feature: c.relative_change for c in self.collateral}
        return values

    def to_dict(self, scores: bool = True) -> dict[str, Any]:
        """The layout of ``report/metrics.json`` (without ``guards``); ``scores=False`` drops the per-sample scores."""
        out: dict[str, Any] = {"direction": self.direction,
                               "preservation_on_labelled_feature_free": self.preservation.to_dict(),
                               "eval": asdict(self.eval)}
        if self.feature_rate is not None:
            out["feature_rate"] = self.feature_rate.to_dict(scores)
        if self.several:
            out["features"] = [r.to_dict(scores) for r in self.features]
        if self.collateral:
            out["collateral"] = [c.to_dict(scores) for c in self.collateral]
        out["method"] = self.method
        if self.distribution is not None:
            out["distribution"] = self.distribution.to_dict()
        out["guard_evaluations"] = [e.to_dict() for e in self.guard_evaluations]
        out["kept_step"] = self.kept_step
        if self.audit is not None:
            out["audit"] = self.audit
        out["timings_s"] = self.timings_s
        out["verdict"] = self.verdict
        return out


@dataclass
class EraseResult:
    """What ``run_erase`` returns: a failed verdict is a value here, never an exception."""

    #: "pass" (the checkpoint was written) or "fail" (only the report was)
    verdict: str
    metrics: EraseMetrics
    guards: list[GuardResult]
    #: the output folder; ``checkpoint`` is it when the erase passed, else None; ``report`` is ``out/report``
    out: Path
    checkpoint: Path | None
    report: Path
    timings: dict[str, float]
    #: G' as kept (the best passing state), in memory
    generator: Generator | None = field(default=None, repr=False)
    #: why it failed, one line (None when it passed)
    failure: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


@dataclass
class Evaluation:
    """What ``run_evaluate`` measures for an (original, erased) pair."""

    original: str
    erased: str
    clean_judge: str
    preservation: Preservation
    feature_rate: FeatureRates | None
    distribution: DistributionMetrics | None
    #: the erase's own guard evaluations, as recorded in its report (may be empty)
    guard_evaluations: list[dict[str, Any]]
    guards: list[GuardResult] = field(default_factory=list)
    verdict: str = "fail"
    out: Path | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def guard_values(self) -> dict[str, float | None]:
        return _guard_inputs(self.preservation, self.feature_rate, self.distribution)

    def to_dict(self, scores: bool = True) -> dict[str, Any]:
        """The layout of the evaluation's ``metrics.json`` (without ``guards``)."""
        out: dict[str, Any] = {"original": self.original, "erased": self.erased, "clean_judge": self.clean_judge,
                               "preservation_on_labelled_feature_free": self.preservation.to_dict()}
        if self.feature_rate is not None:
            out["feature_rate"] = self.feature_rate.to_dict(scores)
        if self.distribution is not None:
            out["distribution"] = self.distribution.to_dict()
        out["guard_evaluations"] = self.guard_evaluations
        out["verdict"] = self.verdict
        return out


def summary_numbers(metrics: EraseMetrics, results: list[GuardResult]) -> dict[str, Any]:
    """The headline numbers of an erase (for the batch summary and the notebook): MS-SSIM, feature rate
    before and after, FID and KID over their floors, the kept step, and every guard's result."""
    value = {r.name: r.value for r in results}
    fr = metrics.feature_rate
    out = {
        "ms_ssim": metrics.preservation.ms_ssim_mean,
        "feature_rate_before": fr.before if fr is not None else None,
        "feature_rate_after": fr.after if fr is not None else None,
        "fid_over_floor": value.get("fid"),
        "kid_x1000_over_floor": value.get("kid"),
        "kept_step": metrics.kept_step,
        "guards": [{"name": r.name, "value": r.value, "limit": r.limit, "rule": r.rule, "passed": r.passed} for r in results],
    }
    if metrics.several:  # several erased features: each one's rate (the single-feature keys above stay None)
        out["features"] = [{"feature": r.feature, "before": r.rates.before if r.rates else None,
                            "after": r.rates.after if r.rates else None} for r in metrics.features]
    if metrics.collateral:
        out["collateral"] = [{"feature": c.feature, "before": c.rates.before, "after": c.rates.after,
                              "relative_change": c.relative_change} for c in metrics.collateral]
    return out
