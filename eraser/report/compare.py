"""``eraser compare A B``: two erase (or evaluate) outputs side by side on one self-contained HTML page.

Each side is read from its ``report/report.json`` (the summary its own report's first screen shows) and
``report/glance.png``; nothing is measured again. The page shows both verdicts, the feature rates with
their intervals, the cost, the settings that differ and the two first-screen grids.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eraser.errors import EraserError
from eraser.report.html import BADGE, CSS, _ci, _e, _img, _pct, cost_html, headline, robustness_html
from eraser.report.summary import FORMAT, ReportSummary


@dataclass
class Side:
    folder: Path
    report_dir: Path
    summary: ReportSummary
    glance: bytes | None


def load_side(folder: Path) -> Side:
    """An erase output folder (``OUT`` with ``OUT/report/report.json``) or a report folder itself; a folder
    that is neither is one error line."""
    from eraser.io import read_json

    folder = Path(folder)
    if not folder.is_dir():
        raise EraserError(f"{folder} is not a folder; give two erase output folders (the --out of `eraser erase`)")
    for d in (folder / "report", folder):
        if (d / "report.json").is_file():
            doc = read_json(d / "report.json", "report summary")
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise EraserError(f"{d / 'report.json'} is not an eraser report summary (expected \"format\": \"{FORMAT}\")")
            try:
                summary = ReportSummary.from_dict(doc)
            except (KeyError, TypeError) as e:
                raise EraserError(f"{d / 'report.json'} is malformed ({e}); re-run the erase to rewrite it") from None
            glance = (d / "glance.png").read_bytes() if (d / "glance.png").is_file() else None
            return Side(folder, d, summary, glance)
    if (folder / "report" / "metrics.json").is_file() or (folder / "metrics.json").is_file():
        raise EraserError(f"{folder} was written by an older eraser (no report/report.json); re-run the erase to compare it")
    raise EraserError(f"{folder} is not an erase output folder (no report/report.json); give the --out folders of "
                      "two `eraser erase` runs")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def settings_diff(a: ReportSummary, b: ReportSummary) -> list[tuple[str, Any, Any]]:
    """(key, value in A, value in B) for every setting, guard limit or input that differs."""
    def facts(s: ReportSummary) -> dict[str, Any]:
        return {"generator": s.generator, **{f"labeller ({f.name})": f.labeller for f in s.features},
                **{f"classifier ({f.name})": f.classifier for f in s.features},
                **_flat(s.settings, "settings."), **_flat(s.guard_limits, "guard."), "device": s.device,
                "eraser version": s.eraser_version}
    fa, fb = facts(a), facts(b)
    return [(k, fa.get(k), fb.get(k)) for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k)]


def _rate_cell(s: ReportSummary, name: str) -> str:
    f = next((f for f in s.features if f.name == name), None)
    if f is None:
        return "<td>– (not erased)</td>"
    if not f.measured:
        return "<td><b>not measured</b></td>"
    return (f"<td><b>{_pct(f.before)} → {_pct(f.after)}</b><div class=small>before {_ci(f.before_ci95)}; "
            f"after {_ci(f.after_ci95)}; n = {f.n}</div></td>")


def _num(v: float | None, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def render_compare(a: Side, b: Side, out_dir: Path) -> str:
    sa, sb = a.summary, b.summary

    def link(side: Side) -> str:
        page = side.report_dir / "report.html"
        rel = os.path.relpath(page.resolve(), out_dir.resolve())
        return f'<a href="{_e(rel)}">{_e(side.folder)}</a>'

    def column(side: Side, label: str) -> str:
        s = side.summary
        cls, word = BADGE[s.status]
        glance = _img(side.glance, f"{label}: before and after") if side.glance else "<p class=small>no grid</p>"
        return (f'<div class="col"><h2>{label}: {link(side)}</h2><div class="banner {cls}"><span class="badge {cls}">'
                f"{word}</span>{headline(s)}</div><p>{cost_html(s)}</p><p>Robustness: {robustness_html(s)}</p>"
                f"{glance}<div class=small>Same latents, original above, erased below.</div></div>")

    names = list(dict.fromkeys([f.name for f in sa.features] + [f.name for f in sb.features]))
    rows = [("status", f"<td>{_e(sa.status)}</td>", f"<td>{_e(sb.status)}</td>")]
    rows += [(f"feature rate: {html.escape(n)}", _rate_cell(sa, n), _rate_cell(sb, n)) for n in names]
    for label, get, fmt in [
        ("MS-SSIM (feature-free latents)", lambda s: s.cost.ms_ssim, ".3f"),
        ("FID", lambda s: s.cost.fid, ".2f"), ("FID floor", lambda s: s.cost.fid_floor, ".2f"),
        ("recall", lambda s: s.cost.recall, ".3f"), ("recall floor", lambda s: s.cost.recall_floor, ".3f"),
        ("KID×1000 over floor", lambda s: None if s.cost.kid_x1000 is None else s.cost.kid_x1000 - s.cost.kid_x1000_floor,
         "+.2f"),
        ("time (s)", lambda s: s.cost.seconds, ".0f"),
    ]:
        rows.append((label, f"<td class=num>{_num(get(sa), fmt)}</td>", f"<td class=num>{_num(get(sb), fmt)}</td>"))
    rows.append(("kept step", f"<td>{_e(sa.kept_step)}</td>", f"<td>{_e(sb.kept_step)}</td>"))
    table = "".join(f"<tr><th>{k}</th>{x}{y}</tr>" for k, x, y in rows)
    diff = settings_diff(sa, sb)
    diff_html = ("<p>Same settings, limits and inputs.</p>" if not diff else
                 "<table><tr><th>setting</th><th>A</th><th>B</th></tr>"
                 + "".join(f"<tr><td><code>{_e(k)}</code></td><td>{_e(x)}</td><td>{_e(y)}</td></tr>" for k, x, y in diff)
                 + "</table>")
    cmds = "".join(f"<tr><th>{lab}</th><td><code>{_e(s.command or 'Python API')}</code></td></tr>"
                   for lab, s in (("A", sa), ("B", sb)))
    css = CSS + ".cols{display:flex;gap:18px}.cols>.col{flex:1 1 0;min-width:0}"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>eraser compare</title>
<style>{css}</style></head><body>
<h1>eraser compare: A = {_e(a.folder)}, B = {_e(b.folder)}</h1>
<div class="cols">{column(a, "A")}{column(b, "B")}</div>
<h2>Side by side</h2><table><tr><th></th><th>A</th><th>B</th></tr>{table}</table>
<h2>Settings that differ</h2>{diff_html}
<h2>Commands</h2><table>{cmds}</table>
</body></html>"""


def write_compare(a: Path, b: Path, out: Path) -> Path:
    """Read two erase outputs and write the comparison page to ``out`` (a new .html file), atomically."""
    from eraser.io import atomic_path

    out = Path(out)
    if out.exists():
        raise EraserError(f"{out} already exists; choose a new --out file")
    sa, sb = load_side(a), load_side(b)
    page = render_compare(sa, sb, out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, ".html") as tmp:
        tmp.write_text(page)
    return out
