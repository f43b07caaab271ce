"""The batch summary: every job's verdict, guard numbers and time, as JSON and as a Markdown table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eraser.io import atomic_path, write_json

JSON_NAME, MD_NAME = "summary.json", "summary.md"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "–" if v is None else format(v, fmt)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _labels(value: Any) -> str:
    """A job's labeller (or list of them) as one cell."""
    return ", ".join(value) if isinstance(value, list) else (value or "")


def markdown(summary: dict[str, Any]) -> str:
    """A Markdown page: one row per job in manifest order, then the counts."""
    head = ("job", "verdict", "generator", "labeller", "MS-SSIM", "feature rate before → after", "FID − floor",
            "time (s)", "note")
    rows = [head, tuple("---" for _ in head)]
    for r in summary["jobs"]:
        if r.get("verdict") == "pending":
            rows.append((r["name"], "pending", r["generator"] or "", _labels(r["labeller"]), "", "", "", "", "not run yet"))
            continue
        rate = "–" if r.get("feature_rate_before") is None else f"{_pct(r['feature_rate_before'])} → {_pct(r['feature_rate_after'])}"
        if r.get("features"):  # several erased features: each one's rate
            rate = "; ".join(f"{f['feature']} " + ("–" if f["before"] is None else f"{_pct(f['before'])} → {_pct(f['after'])}")
                             for f in r["features"])
        note = r.get("reason") or ""
        if r.get("reused"):
            note = ("kept from an earlier run (inputs and checksums verified)" + (f"; {note}" if note else ""))
        verdict = {"pass": "**pass**", "fail": "**FAIL**", "error": "**ERROR**"}.get(r["verdict"], r["verdict"])
        rows.append((r["name"], verdict, r.get("generator") or "", _labels(r.get("labeller")), _num(r.get("ms_ssim")), rate,
                     _num(r.get("fid_over_floor"), ".2f"), f"{r['seconds']:.0f}", note))
    c = summary["counts"]
    lines = [f"# eraser batch: {summary['manifest']}", "",
             f"{c['pass']} passed, {c['fail']} failed their guards, {c['error']} could not run"
             + (f", {c['pending']} not run yet" if c.get("pending") else "")
             + f" ({summary['runner']}; {summary['seconds']:.0f} s).", ""]
    lines += ["| " + " | ".join(_cell(str(x)) for x in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_summary(out_root: Path, summary: dict[str, Any]) -> None:
    """Write ``summary.json`` and ``summary.md`` into ``out_root``, each atomically."""
    write_json(out_root / JSON_NAME, summary)
    with atomic_path(out_root / MD_NAME, ".md") as tmp:
        tmp.write_text(markdown(summary))
