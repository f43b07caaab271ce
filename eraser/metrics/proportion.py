"""Confidence intervals of a proportion (a feature rate, an attack's success rate)."""

from __future__ import annotations


def wilson_interval(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion k/n (scipy.stats.binomtest); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)
