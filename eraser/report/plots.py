"""Plots for the report: score histograms and training curves, as PNG bytes.

Figures are made with matplotlib's object API (``Figure`` drawn by ``FigureCanvasAgg``), never through
``pyplot``: the plots neither switch the user's backend (a notebook's inline one, say) nor register
figures with pyplot's global state.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def score_histograms(before: Sequence[float], after: Sequence[float], threshold: float, classifier: str) -> bytes:
    """Overlaid histograms of the measuring classifier's scores for G and G' at the same latents."""
    fig = _figure(6, 3.2)
    ax = fig.subplots()
    bins = [i / 40 for i in range(41)]
    ax.hist(before, bins=bins, alpha=0.55, label=f"original (rate {sum(s >= threshold for s in before) / len(before):.1%})")
    ax.hist(after, bins=bins, alpha=0.55, label=f"erased (rate {sum(s >= threshold for s in after) / len(after):.1%})")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    ax.set_yscale("log")
    ax.set_xlabel(f"feature score ({classifier})")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    return _png(fig)


def training_curves(history: list[dict[str, Any]], guard_evals: list[dict[str, Any]]) -> bytes:
    """Loss per step, and the guard metrics at each evaluation (with the kept step marked)."""
    fig = _figure(10, 3.2)
    axes = fig.subplots(1, 2)
    steps = [h["step"] for h in history]
    axes[0].plot(steps, [h["loss"] for h in history], lw=0.8, label="total")
    axes[0].plot(steps, [h["loss_shifted"] for h in history], lw=0.8, alpha=0.7, label="shifted targets")
    axes[0].plot(steps, [h["loss_keep"] for h in history], lw=0.8, alpha=0.7, label="other latents")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=8)
    ax = axes[1]
    if guard_evals:
        es = [e["step"] for e in guard_evals]
        ax.plot(es, [e["ms_ssim"] for e in guard_evals], "o-", label="MS-SSIM on feature-free latents")
        if guard_evals[0].get("feature_rate") is not None:
            ax.plot(es, [e["feature_rate"] for e in guard_evals], "s-", label="feature rate")
        kept = [e["step"] for e in guard_evals if e.get("kept")]
        for k in kept:
            ax.axvline(k, color="g", ls=":", lw=1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("step (green: state kept)")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no guard evaluations", ha="center", va="center")
        ax.set_axis_off()
    return _png(fig)
