"""Writing a report folder: ``report.html`` (self-contained), ``report.json`` (the summary its first screen
shows), ``metrics.json``, the labelled before/after grid and the plots.

``write_report`` takes plain values: the two generators and the latents to show, the
:class:`~eraser.report.summary.ReportSummary`, the metrics as ``metrics.json`` holds them
(``EraseMetrics.to_dict()`` / ``Evaluation.to_dict()``), the guard results, the training history.
Nothing here measures anything.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from eraser.direction import Direction
from eraser.generators.base import Generator
from eraser.guards import GuardResult, as_dicts
from eraser.images import grid_image
from eraser.io import write_json
from eraser.report.summary import ReportSummary

#: tiles are enlarged this many times (nearest neighbour) so 64 px samples are readable
SCALE = 2


def before_after_grid(g: Generator, g_new: Generator, z_feature: torch.Tensor, z_none: torch.Tensor, ncol: int = 8):
    """Rows in pairs: G then G' at the same latents; first feature samples, then feature-free ones (unlabelled;
    the notebook's quick view)."""
    rows = []
    for z in (z_feature, z_none):
        for i in range(0, len(z), ncol):
            for images in (g.generate(z[i : i + ncol]), g_new.generate(z[i : i + ncol])):
                blank = torch.ones(ncol - len(images), *images.shape[1:])  # white tiles fill a short row
                rows.append(torch.cat([images, blank]))
    if not rows:
        rows = [torch.ones(ncol, *g.generate(g.sample_latents(1, 0)).shape[1:])]  # nothing to show: one blank row
    return grid_image(torch.cat(rows), nrow=ncol, padding=2)


@dataclass
class Section:
    """One block of the before/after figure: a title, the latents, and optional captions under the erased row."""

    title: str
    z: torch.Tensor
    captions: Sequence[str] | None = None


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def labelled_grid(g: Generator, g_new: Generator, sections: list[Section], ncol: int = 8, scale: int = SCALE,
                  difference: bool = True, label_width: int = 150):
    """A PIL image of labelled blocks, one per non-empty section: a title, then the rows "original" (G(z)),
    "erased" (G'(z)) and, with ``difference``, "|difference|" (mean over colour of |G − G'|, doubled so 0.5 is
    white), each tile enlarged ``scale`` times; a gap separates the blocks. Captions (e.g. scores) sit in the
    erased tiles' corners."""
    from PIL import Image, ImageDraw

    blocks = []
    for sec in sections:
        z = sec.z[:ncol]
        if len(z) == 0:
            continue
        a, b = g.generate(z).cpu(), g_new.generate(z).cpu()
        rows = [("original", grid_image(a, nrow=ncol, padding=2, scale=scale)),
                ("erased", grid_image(b, nrow=ncol, padding=2, scale=scale,
                                      labels=list(sec.captions[: len(z)]) if sec.captions else None))]
        if difference:
            d = ((a - b).abs().mean(1, keepdim=True) * 2).clamp(0, 1).expand(-1, 3, -1, -1) * 2 - 1
            rows.append(("|difference|", grid_image(d, nrow=ncol, padding=2, scale=scale)))
        blocks.append((sec.title, rows))
    title_h, gap = 24, 22
    tile_w = (64 * scale + 2) * ncol + 2
    width = label_width + max([r[1].width for _, rows in blocks for r in rows] + [tile_w])
    height = sum(title_h + sum(r[1].height for r in rows) + gap for _, rows in blocks) or 40
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    y = 0
    for title, rows in blocks:
        draw.text((4, y + 4), title, fill="black", font=_font(15))
        y += title_h
        for label, row in rows:
            draw.text((6, y + row.height // 2 - 8), label, fill="#333", font=_font(14))
            img.paste(row, (label_width, y))
            y += row.height
        draw.line((0, y + gap // 2, width, y + gap // 2), fill="#bbb", width=1)
        y += gap
    if not blocks:
        draw.text((6, 12), "no samples to show", fill="black", font=_font(14))
    return img


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _scores(rates: dict[str, Any] | None, idx: torch.Tensor) -> list[str] | None:
    if not rates or "scores_before" not in rates:
        return None
    return [f"{rates['scores_before'][i]:.2f}→{rates['scores_after'][i]:.2f}" for i in idx.tolist()]


def write_report(directory: Path, g: Generator, g_new: Generator, summary: ReportSummary, metrics: dict[str, Any],
                 results: list[GuardResult], history: list[dict[str, Any]], z_marked: torch.Tensor,
                 z_clean: torch.Tensor, z_eval: torch.Tensor | None = None, worst: Sequence[tuple[int, float]] = (),
                 direction: Direction | None = None, settings: dict[str, Any] | None = None, audit=None,
                 rate_before_training: float | None = None) -> None:
    """Write ``report.html`` (self-contained), ``report.json`` (``summary``), ``metrics.json`` (``metrics`` plus
    the guard results), ``before_after.png`` and the plots into ``directory``; with ``direction`` also
    ``direction.json``, with a ``history`` ``training.json`` (with ``settings``), with an ``eraser.audit``
    result ``audit`` also ``audit.json``, ``audit.png`` and its section.

    The before/after figure shows, at the same latents: ``z_marked`` (labelled with the feature),
    the fresh latents ``z_eval`` whose original sample the measuring classifier called positive (scores
    ``metrics["feature_rate"]``), and the worst-preserved of ``z_clean`` (``worst``: (index, MS-SSIM)
    pairs, worst first).
    """
    directory.mkdir(parents=True, exist_ok=True)
    fr = metrics.get("feature_rate")
    fresh_idx = torch.zeros(0, dtype=torch.long)
    if z_eval is not None and fr and "scores_before" in fr:
        fresh_idx = torch.nonzero(torch.tensor(fr["scores_before"]) >= fr["threshold"]).flatten()[:8]
    z_fresh = z_eval[fresh_idx] if z_eval is not None else z_marked[:0]
    worst_idx = torch.tensor([i for i, _ in worst][:8], dtype=torch.long)
    z_worst = z_clean[worst_idx] if len(worst_idx) else z_clean[:0]
    name = ", ".join(f.name for f in summary.features) or "the feature"
    sections = [
        Section(f"Samples labelled with {name} (the labels the direction came from)", z_marked),
        Section(f"Fresh samples the measuring classifier called {name} (score before→after in the corner)", z_fresh,
                _scores(fr, fresh_idx)),
        Section("Feature-free samples the erase changed most (MS-SSIM(G, G') in the corner)", z_worst,
                [f"{s:.3f}" for _, s in worst][:8]),
    ]
    grid = labelled_grid(g, g_new, sections)
    grid.save(directory / "before_after.png")
    glance_z = z_fresh[:4] if len(z_fresh) else z_marked[:4]
    glance = _png(labelled_grid(g, g_new, [Section("fresh samples with the feature" if len(z_fresh) else
                                                   f"samples labelled {name}", glance_z)], ncol=4, difference=False,
                                label_width=80)) if len(glance_z) else None
    if glance is not None:
        (directory / "glance.png").write_bytes(glance)
    if audit is not None:
        from eraser.audit.attacks import write_audit_files

        write_audit_files(directory, audit)
    write_json(directory / "metrics.json", {**metrics, "guards": as_dicts(results)})
    write_json(directory / "report.json", summary.to_dict())
    if direction is not None:
        write_json(directory / "direction.json", direction.to_dict())
    if history:
        write_json(directory / "training.json", {"settings": settings, "rate_before": rate_before_training,
                                                 "history": history})
    render_folder(directory)


GRID_CAPTION = ("Each block: the original's samples (top row), the erased generator's at the same latents (middle), and "
                "where they differ (bottom; white = large change). Blocks: the labelled feature samples; fresh samples "
                "that had the feature according to the measuring classifier; the feature-free samples whose MS-SSIM "
                "dropped most.")


def render_folder(directory: Path) -> Path:
    """(Re)write ``report.html`` and the plots of a report folder from the files in it (``report.json``,
    ``metrics.json``, ``training.json``, ``audit.json``, the PNG grids); nothing is measured again."""
    from eraser.guards import from_dicts
    from eraser.io import read_json
    from eraser.report import html, plots

    summary = ReportSummary.from_dict(read_json(directory / "report.json", "report summary"))
    doc = read_json(directory / "metrics.json", "report metrics")
    results = from_dicts(doc.get("guards", []))
    metrics = {k: v for k, v in doc.items() if k != "guards"}
    images: dict[str, tuple[bytes, str]] = {}
    if (directory / "before_after.png").is_file():
        images["Before and after at the same latents"] = ((directory / "before_after.png").read_bytes(), GRID_CAPTION)
    fr = metrics.get("feature_rate")
    if fr and "scores_before" in fr:
        png = plots.score_histograms(fr["scores_before"], fr["scores_after"], fr["threshold"], fr["classifier"])
        (directory / "feature_scores.png").write_bytes(png)
        images["Feature scores before and after"] = (
            png, "The measuring classifier's scores of the same fresh samples, original and erased (log count); "
                 "right of the dashed line counts as the feature.")
    if (directory / "training.json").is_file():
        training = read_json(directory / "training.json", "training record")
        lim = summary.guard_limits
        png = plots.training_curves(training["history"], metrics.get("guard_evaluations", []),
                                    training.get("rate_before"), lim.get("min_ms_ssim"), lim.get("max_feature_rate_ratio"))
        (directory / "training.png").write_bytes(png)
        images["Training"] = (png, plots.LOSS_TERMS + " The guard evaluations use their own fresh latents; the "
                                   "green dotted line marks the state that was kept; red dashed lines are the guard limits.")
    slim = {k: v for k, v in metrics.items() if k != "feature_rate"}
    if fr:
        slim["feature_rate"] = {k: v for k, v in fr.items() if not k.startswith("scores_")}
    extra = html.features_section(metrics)
    if (directory / "audit.json").is_file() and (directory / "audit.png").is_file():
        extra += html.audit_section(read_json(directory / "audit.json", "audit"), (directory / "audit.png").read_bytes())
    glance = (directory / "glance.png").read_bytes() if (directory / "glance.png").is_file() else None
    links = sorted(p.name for p in directory.glob("*.json"))
    page = html.render_report(summary, results, images, slim, links, glance, extra)
    (directory / "report.html").write_text(page)
    return directory / "report.html"
