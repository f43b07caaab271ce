"""Writing a report folder: ``report.html`` (self-contained), ``metrics.json``, the before/after grid and plots.

``write_report`` takes plain values: the two generators and the latents to show, the metrics as
``metrics.json`` holds them (``EraseMetrics.to_dict()`` / ``Evaluation.to_dict()``), the guard results,
the training history. Nothing here measures anything.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from eraser.direction import Direction
from eraser.generators.base import Generator
from eraser.guards import GuardResult, as_dicts
from eraser.images import grid_image
from eraser.io import write_json
from eraser.version import __version__


def before_after_grid(g: Generator, g_new: Generator, z_feature: torch.Tensor, z_none: torch.Tensor, ncol: int = 8):
    """Rows in pairs: G then G' at the same latents; first feature samples, then feature-free ones."""
    rows = []
    for z in (z_feature, z_none):
        for i in range(0, len(z), ncol):
            for images in (g.generate(z[i : i + ncol]), g_new.generate(z[i : i + ncol])):
                blank = torch.ones(ncol - len(images), *images.shape[1:])  # white tiles fill a short row
                rows.append(torch.cat([images, blank]))
    if not rows:
        rows = [torch.ones(ncol, *g.generate(g.sample_latents(1, 0)).shape[1:])]  # nothing to show: one blank row
    return grid_image(torch.cat(rows), nrow=ncol, padding=2)


def write_report(directory: Path, g: Generator, g_new: Generator, z_feature: torch.Tensor, z_clean: torch.Tensor,
                 metrics: dict[str, Any], results: list[GuardResult], history: list[dict[str, Any]], passed: bool,
                 title: str, subtitle: str | None = None, direction: Direction | None = None,
                 settings: dict[str, Any] | None = None, audit=None) -> None:
    """Write ``report.html`` (self-contained), ``metrics.json`` (``metrics`` plus the guard results), the
    grid and plots into ``directory``; with ``direction`` also ``direction.json``, with a ``history``
    ``training.json`` (with ``settings``), with an ``eraser.audit`` result ``audit`` also ``audit.json``,
    ``audit.png`` and its section."""
    from eraser.report import html, plots

    directory.mkdir(parents=True, exist_ok=True)
    grid = before_after_grid(g, g_new, z_feature, z_clean)
    grid.save(directory / "before_after.png")
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    images = {"Before / after at the same latents (row pairs: original, erased; top: feature samples, "
              "bottom: feature-free)": buf.getvalue()}
    fr = metrics.get("feature_rate")
    plotted = []  # (caption, file name, png)
    if fr and "scores_before" in fr:
        plotted.append(("Feature scores before and after", "feature_scores.png", plots.score_histograms(
            fr["scores_before"], fr["scores_after"], fr["threshold"], fr["classifier"])))
    if history:
        plotted.append(("Training: loss, and the guards at each evaluation", "training.png",
                        plots.training_curves(history, metrics.get("guard_evaluations", []))))
    for caption, fname, png in plotted:
        images[caption] = png
        (directory / fname).write_bytes(png)
    slim = {k: v for k, v in metrics.items() if k != "feature_rate"}
    if fr:
        slim["feature_rate"] = {k: v for k, v in fr.items() if not k.startswith("scores_")}
    sections = html.features_section(metrics)
    if audit is not None:
        from eraser.audit.attacks import write_audit_files

        doc = write_audit_files(directory, audit)
        sections += html.audit_section(doc, (directory / "audit.png").read_bytes())
    page = html.render(title, subtitle or f"eraser {__version__}", passed, results, images, slim, sections=sections)
    (directory / "report.html").write_text(page)
    write_json(directory / "metrics.json", {**metrics, "guards": as_dicts(results)})
    if direction is not None:
        write_json(directory / "direction.json", direction.to_dict())
    if history:
        write_json(directory / "training.json", {"settings": settings, "history": history})
