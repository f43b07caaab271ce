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


#: what the loss curves are, for the report's caption
LOSS_TERMS = ("Loss terms: “shifted targets” is the error on latents the method moves (those on the feature side of "
              "the direction; the deep method also a band just below its threshold): G' is trained to draw there what G "
              "draws at the latent moved past the threshold, which removes the feature. “Other latents” is the error on "
              "latents left in place: G' is trained to draw what G drew there, which preserves everything else. "
              "“Total” is their weighted sum, the quantity minimised.")


def training_curves(history: list[dict[str, Any]], guard_evals: list[dict[str, Any]], rate_before: float | None = None,
                    min_ms_ssim: float | None = None, max_ratio: float | None = None) -> bytes:
    """Three panels: the losses per step; MS-SSIM at each guard evaluation with its limit; the feature rate at
    each guard evaluation on its own axis, with the rate before fine-tuning (step 0) and the guard's limit
    (``max_ratio`` × the rate before). The kept step is marked in green."""
    fig = _figure(12, 3.3)
    axes = fig.subplots(1, 3)
    steps = [h["step"] for h in history]
    ax = axes[0]
    ax.plot(steps, [h["loss"] for h in history], lw=0.9, label="total")
    ax.plot(steps, [h["loss_shifted"] for h in history], lw=0.9, alpha=0.8, label="shifted targets")
    ax.plot(steps, [h["loss_keep"] for h in history], lw=0.9, alpha=0.8, label="other latents")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training loss", fontsize=10)
    ax.legend(fontsize=8)
    kept = [e["step"] for e in guard_evals if e.get("kept")]
    es = [e["step"] for e in guard_evals]
    ax = axes[1]
    if guard_evals:
        ax.plot(es, [e["ms_ssim"] for e in guard_evals], "o-", label="MS-SSIM (feature-free latents)")
        if min_ms_ssim is not None:
            ax.axhline(min_ms_ssim, color="r", ls="--", lw=1, label=f"guard limit ≥ {min_ms_ssim:.3g}")
        lo = min([e["ms_ssim"] for e in guard_evals] + ([min_ms_ssim] if min_ms_ssim is not None else []))
        ax.set_ylim(max(0.0, lo - 0.05), 1.005)
    ax.set_xlabel("step")
    ax.set_ylabel("MS-SSIM(G, G')  (1 = unchanged)")
    ax.set_title("preservation at each guard evaluation", fontsize=10)
    ax = axes[2]
    rates = [e.get("feature_rate") for e in guard_evals]
    if guard_evals and all(r is not None for r in rates):
        xs, ys = es, [100 * r for r in rates]
        if rate_before is not None:
            xs, ys = [0] + es, [100 * rate_before] + ys
            ax.plot([0], [100 * rate_before], "D", color="k", label=f"before: {100 * rate_before:.1f} %")
            if max_ratio is not None:
                ax.axhline(100 * rate_before * max_ratio, color="r", ls="--", lw=1,
                           label=f"guard limit: {max_ratio:.3g} × before = {100 * rate_before * max_ratio:.1f} %")
        ax.plot(xs, ys, "s-", color="C1", label="feature rate (measuring classifier)")
        ax.set_ylim(0, max(ys) * 1.15 + 0.5)
        ax.set_ylabel("feature rate (% of fresh samples)")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "feature rate not measured\n(no --feature-classifier)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("step")
    ax.set_title("feature rate at each guard evaluation", fontsize=10)
    for a in axes[1:]:
        for k in kept:
            a.axvline(k, color="g", ls=":", lw=1.2)
    if kept:
        axes[1].plot([], [], color="g", ls=":", label=f"kept: step {kept[-1]}")
    if guard_evals:
        axes[1].legend(fontsize=8, loc="lower left")
    else:
        axes[1].text(0.5, 0.5, "no guard evaluations", ha="center", va="center", transform=axes[1].transAxes)
    fig.tight_layout()
    return _png(fig)
