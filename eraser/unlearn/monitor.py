"""The guard monitor of fine-tuning: the cheap guards every k steps on fixed latents, and the state kept.

Cheap guards (``eraser.guards.RULES`` marked ``during_training``): preservation (MS-SSIM on
``z_clean``, latents labelled feature-free) and, with a measuring classifier, the feature rate on
``z_eval``. Which passing state is kept: the latest one whose feature rate is not *measurably* worse
than the kept one's (:func:`not_worse`: within two standard errors of the difference of two rates on
``len(z_eval)`` samples). Keeping the strictly lowest rate rewarded noise: deep in an erase the rate
is one or two samples in 512, and an earlier, less trained state won on a single sample. Without a
classifier: the latest passing state.

With several erased features (``classifier`` a ``{feature: classifier}`` dict), the feature-rate guard
is judged per feature, and the rate that decides which state is kept is the mean of theirs.

Its evaluations and the kept state are part of the training state (``state_dict``), so an
interrupted erase resumes with the same guard history and keeps what an uninterrupted one keeps.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import torch
from torch import Tensor

from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.guards import GuardLimits, check, measured, ratio, verdict
from eraser.metrics.feature_rate import Scorer, feature_rate
from eraser.metrics.ssim import ms_ssim
from eraser.results import GuardEvaluation


def not_worse(rate: float | None, kept: float | None, n: int, z: float = 2.0) -> bool:
    """Whether a later state's feature rate ``rate`` is not measurably above the kept state's ``kept``,
    both measured on the same ``n`` latents: ``rate − kept ≤ z·sqrt(2·p(1 − p)/n)`` with p their mean
    (at least 1/n, so a difference of a sample or two at a rate near zero is noise). None (no
    classifier) is never worse."""
    if rate is None or kept is None:
        return True
    p = min(max((rate + kept) / 2, 1.0 / max(n, 1)), 0.5)
    return rate - kept <= z * math.sqrt(2 * p * (1 - p) / max(n, 1))


class GuardMonitor:
    """Called after every fine-tuning step (``finetune(monitor=...)``); evaluates the cheap guards at steps
    that are multiples of ``every`` and at ``last_step``, and keeps the chosen passing state.

    ``g`` is the original generator, ``z_clean`` ``[M, D]`` latents labelled feature-free, ``classifier``
    the measuring classifier (or None; or ``{feature: classifier}`` for several erased features) and
    ``z_eval`` ``[K, D]`` fresh latents for its feature rate.
    """

    def __init__(self, g: Generator, z_clean: Tensor, classifier: Scorer | dict[str, Scorer] | None, z_eval: Tensor,
                 limits: GuardLimits, every: int, last_step: int) -> None:
        self.g, self.classifier, self.limits, self.every, self.last = g, classifier, limits, every, last_step
        self.z_clean, self.z_eval = z_clean, z_eval
        self.reference = g.generate(z_clean)  # [M, 3, H, W]: G on the clean latents, computed once
        self.several = isinstance(classifier, dict)
        if self.several:
            self.rates_before = {f: feature_rate(g, c, z_eval) for f, c in classifier.items()}
            self.rate_before = None
        else:
            self.rate_before = feature_rate(g, classifier, z_eval) if classifier is not None else None
        self.evals: list[GuardEvaluation] = []
        #: the kept evaluation and G' at that step
        self.kept: GuardEvaluation | None = None
        self.kept_state: dict[str, Tensor] | None = None

    @property
    def kept_step(self) -> int | None:
        return self.kept.step if self.kept is not None else None

    def __call__(self, step: int, g_new: Generator, record: dict[str, float]) -> None:
        if step != self.last and (self.every <= 0 or step % self.every):
            return
        with torch.no_grad():
            ssim = float(ms_ssim(self.reference, g_new.generate(self.z_clean)).mean())
        rates = None
        if self.several:
            rates = {f: feature_rate(g_new, c, self.z_eval) for f, c in self.classifier.items()}
            rate = sum(rates.values()) / len(rates) if rates else None
            values = measured(ms_ssim=ssim)
            values["feature_rate"] = {f: ratio(self.rates_before[f], r) for f, r in rates.items()}
        else:
            rate = feature_rate(g_new, self.classifier, self.z_eval) if self.classifier is not None else None
            values = measured(ms_ssim=ssim, rate_before=self.rate_before, rate_after=rate)
        passed = verdict(check(values, self.limits, during_training=True))
        ev = GuardEvaluation(step, ssim, rate, passed, feature_rates=rates)
        self.evals.append(ev)
        if passed and (self.kept is None or not_worse(rate, self.kept.feature_rate, len(self.z_eval))):
            if self.kept is not None:
                self.kept.kept = False
            ev.kept = True
            self.kept = ev
            self.kept_state = {k: v.detach().clone() for k, v in g_new.module.state_dict().items()}

    # -- resume ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The evaluations so far and the kept state (saved with the training state)."""
        return {"evaluations": [e.to_dict() for e in self.evals], "kept_state": self.kept_state}

    def load_state_dict(self, state: Any, where: str = "the training state") -> None:
        """Restore what ``state_dict`` saved, checked field by field (one-line ``EraserError``)."""
        from eraser.validate import is_number

        bad = f"{where} holds a malformed guard monitor state"
        if not isinstance(state, dict) or not isinstance(state.get("evaluations"), list):
            raise EraserError(bad)
        names = [f.name for f in fields(GuardEvaluation)]
        evals = []
        for e in state["evaluations"]:
            rates = e.get("feature_rates") if isinstance(e, dict) else None
            ok = (isinstance(e, dict) and sorted(set(e) - {"feature_rates"}) == sorted(set(names) - {"feature_rates"})
                  and (rates is None or (isinstance(rates, dict) and all(isinstance(k, str) and is_number(v)
                                                                          for k, v in rates.items())))
                  and isinstance(e["step"], int)
                  and not isinstance(e["step"], bool) and is_number(e["ms_ssim"])
                  and (e["feature_rate"] is None or is_number(e["feature_rate"]))
                  and isinstance(e["passed"], bool) and isinstance(e["kept"], bool))
            if not ok:
                raise EraserError(bad)
            evals.append(GuardEvaluation(**e))
        kept = [e for e in evals if e.kept]
        kept_state = state.get("kept_state")
        if len(kept) > 1 or (kept_state is None) != (not kept):
            raise EraserError(bad)
        if kept_state is not None:
            from eraser.generators.state import check_state_dict

            if not isinstance(kept_state, dict) or not all(isinstance(v, Tensor) for v in kept_state.values()):
                raise EraserError(bad)
            check_state_dict(self.g.module, kept_state, where)
        self.evals, self.kept, self.kept_state = evals, (kept[0] if kept else None), kept_state
