"""What a report says, as plain data: the verdict, each erased feature's rate before → after with its
95 % Wilson interval, the cost, robustness, settings and provenance, and what to do next.

``report/report.json`` holds a :class:`ReportSummary` (``to_dict``); ``report.html`` and
``eraser compare`` render it. The per-feature part is a list (:class:`FeatureSummary`, one row per
erased feature) so an erase of several features fills several rows; a single-feature erase has one.
Nothing here measures anything or imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from eraser.metrics.proportion import wilson_interval

if TYPE_CHECKING:  # pragma: no cover
    from eraser.guards import GuardResult
    from eraser.results import DistributionMetrics, FeatureRates, Preservation

FORMAT = "eraser.report"
FORMAT_VERSION = 1

#: the statuses of a report's badge
PASS, UNMEASURED, FAIL = "pass", "not measured", "fail"


@dataclass
class FeatureSummary:
    """One erased feature: who labelled it, and what the measuring classifier saw before and after."""

    #: the feature's own name (a marks file's ``feature``, a classifier's ``feature``), never a file name
    name: str
    labeller: str | None = None
    #: the labels the direction was estimated from: {"yes": .., "no": .., "unsure": ..}
    labels: dict[str, int] | None = None
    #: who or what made those labels, in words
    labels_by: str | None = None
    #: the measuring classifier (None: the feature rate was not measured)
    classifier: str | None = None
    threshold: float | None = None
    #: fresh samples the rates were measured on
    n: int | None = None
    before: float | None = None
    after: float | None = None
    before_ci95: list[float] | None = None
    after_ci95: list[float] | None = None
    #: the feature-rate guard's result (``guards.as_dicts`` form), when it was checked
    guard: dict[str, Any] | None = None

    @property
    def measured(self) -> bool:
        return self.before is not None and self.after is not None

    @classmethod
    def from_rates(cls, name: str, rates: FeatureRates | None, guard: GuardResult | None = None,
                   **labels: Any) -> FeatureSummary:
        """The row of one feature from the measuring classifier's rates (None: not measured)."""
        from eraser.guards import as_dicts

        row = cls(name, guard=as_dicts([guard])[0] if guard is not None else None, **labels)
        if rates is not None:
            row.classifier, row.threshold, row.n = rates.classifier, rates.threshold, rates.n
            row.before, row.after = rates.before, rates.after
            row.before_ci95 = list(rate_interval(rates.before, rates.n))
            row.after_ci95 = list(rate_interval(rates.after, rates.n))
        return row


def rate_interval(rate: float, n: int) -> tuple[float, float]:
    """95 % Wilson interval of a rate measured on ``n`` samples (``rate × n`` of them positive)."""
    return wilson_interval(round(rate * n), n)


@dataclass
class Cost:
    """What the erase cost: preservation, distribution numbers against their floors, time."""

    ms_ssim: float | None = None
    ms_ssim_min: float | None = None
    #: feature-free latents MS-SSIM was measured on
    ms_ssim_n: int | None = None
    lpips: float | None = None
    fid: float | None = None
    fid_floor: float | None = None
    kid_x1000: float | None = None
    kid_x1000_floor: float | None = None
    recall: float | None = None
    recall_floor: float | None = None
    precision: float | None = None
    precision_floor: float | None = None
    #: samples per set of FID/KID/precision-recall
    fid_n: int | None = None
    #: which samples of the original count as feature-free for FID (and who judged them)
    fid_reference: str | None = None
    #: True when no classifier judged the reference: the latent direction's side decided
    fid_reference_from_direction: bool = False
    seconds: float | None = None

    @classmethod
    def from_metrics(cls, pres: Preservation, dist: DistributionMetrics | None, seconds: float | None) -> Cost:
        c = cls(pres.ms_ssim_mean, pres.ms_ssim_min, pres.n, pres.lpips_mean, seconds=seconds)
        if dist is not None:
            c.fid, c.fid_floor = dist.fid.erased_vs_clean, dist.fid.floor
            c.kid_x1000, c.kid_x1000_floor = dist.kid_x1000.erased_vs_clean, dist.kid_x1000.floor
            c.recall, c.recall_floor = dist.recall.erased_vs_clean, dist.recall.floor
            c.precision, c.precision_floor = dist.precision.erased_vs_clean, dist.precision.floor
            c.fid_n, c.fid_reference = dist.n_per_set, dist.reference
            c.fid_reference_from_direction = "latent direction" in dist.reference
        return c


@dataclass
class ReportSummary:
    """Everything the first screen of a report says, and the facts to reproduce it."""

    #: "erase" (``eraser erase``) or "evaluate" (``eraser evaluate``)
    kind: str
    title: str
    #: the original generator (name or path) and the erased one (the output folder's name or path)
    generator: str
    erased: str
    #: the guards' verdict: "pass" (a checkpoint was written) or "fail"
    verdict: str
    features: list[FeatureSummary]
    cost: Cost
    guards: list[dict[str, Any]]
    method: dict[str, Any] = field(default_factory=dict)
    kept_step: int | None = None
    #: the audit's success rates (``EraseMetrics.audit``), None when it did not run
    audit: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    guard_limits: dict[str, Any] = field(default_factory=dict)
    #: an ``eraser`` command line that reproduces this run (None when it ran on objects in memory)
    command: str | None = None
    date: str | None = None
    device: str | None = None
    eraser_version: str | None = None
    #: sha256 of the original's and the erased checkpoint's weights (None where there is no file)
    weights_sha256: dict[str, str | None] = field(default_factory=dict)
    #: the output folder the erased checkpoint is in (for the commands in "what next")
    out: str | None = None
    #: the --feature-classifier as given (a name or path the audit command accepts)
    feature_classifier: str | None = None

    @property
    def status(self) -> str:
        """"fail" when a guard failed; "not measured" when it passed but some feature's rate was never
        measured (no measuring classifier); "pass" only when every feature was measured."""
        if self.verdict != "pass":
            return FAIL
        return PASS if self.features and all(f.measured for f in self.features) else UNMEASURED

    def audit_command(self) -> str:
        """The ``eraser audit`` command for this erase (placeholders where a classifier is missing)."""
        out = self.out or self.erased
        clf = self.feature_classifier or "CLASSIFIER"
        return f"eraser audit -g {out} --feature-classifier {clf} --out {out}-audit"

    def next_steps(self) -> list[str]:
        """What to do next, in order of importance, as plain sentences with the commands to run."""
        out = self.out or self.erased
        steps: list[str] = []
        failed = [g for g in self.guards if g.get("passed") is False]
        if self.verdict != "pass":
            names = {g["name"] for g in failed}
            if names & {"preservation", "fid", "kid", "recall"}:
                steps.append("The erase changed too much of what the generator draws: try fewer --steps or a lower "
                             "--lr, or, if this cost is acceptable, loosen the limit with --guard NAME=VALUE.")
            if "feature_rate" in names:
                steps.append("Too much of the feature is left: try more --steps, or more and cleaner 'yes' marks.")
            if not failed:
                steps.append("No guard evaluation during training passed: see the training plot below, then try "
                             "fewer --steps or a lower --lr.")
            steps.append("No checkpoint was written. Re-run with the changed settings into a new --out folder.")
            return steps
        if any(not f.measured for f in self.features):
            steps.append("Measure the feature: re-run with --feature-classifier NAME|PATH, a classifier for this "
                         "feature (for eyeglasses: digiface-eyeglasses-clf), or train one from your marks with "
                         "`eraser probe train` and pass its folder. Until then the verdict says nothing about "
                         "whether the feature is gone.")
        steps.append(f"Look at the erased model's samples: `eraser sample -g {out} --n 64 --out samples.png`.")
        if self.audit is None and all(f.measured for f in self.features):
            steps.append("Check robustness with the `eraser audit` command above.")
        steps.append(f"Compare with another erase: `eraser compare {out} OTHER_OUT --out compare.html`.")
        return steps

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **d, "status": self.status}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportSummary:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        feat_names = {f.name for f in fields(FeatureSummary)}
        kw["features"] = [FeatureSummary(**{k: v for k, v in f.items() if k in feat_names}) for f in d["features"]]
        cost_names = {f.name for f in fields(Cost)}
        kw["cost"] = Cost(**{k: v for k, v in d["cost"].items() if k in cost_names})
        return cls(**kw)
