"""A self-contained HTML report: images embedded as data URIs, no scripts, no external files."""

from __future__ import annotations

import base64
import html
from typing import Any

from eraser.guards import GuardResult

CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.pass{background:#e6f4ea}.fail{background:#fce8e6}.skip{background:#f1f3f4}
.verdict{font-size:18px;font-weight:600;padding:8px 12px;display:inline-block;border-radius:4px}
img{max-width:100%;image-rendering:pixelated}code{background:#f4f4f4;padding:1px 4px}
.small{color:#666;font-size:12px}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def guard_table(results: list[GuardResult]) -> str:
    rows = []
    for r in results:
        if r.passed is None:
            cls, word = "skip", ("not measured" if r.value is None else "reported (no limit)")
        else:
            cls, word = ("pass", "pass") if r.passed else ("fail", "FAIL")
        margin = "" if r.margin is None else f"{r.margin:+.4g}"
        rows.append(f'<tr class="{cls}"><td>{r.name}</td><td>{_fmt(r.value) if r.value is not None else "–"}</td>'
                    f"<td>{f'{r.rule} {_fmt(r.limit)}' if r.limit is not None else '–'}</td><td>{margin}</td><td>{word}</td><td>{html.escape(r.detail)}</td></tr>")
    return ("<table><tr><th>guard</th><th>value</th><th>limit</th><th>margin</th><th>verdict</th><th>what</th></tr>"
            + "".join(rows) + "</table>")


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flat(v, key + ".")
        elif not isinstance(v, list):
            out.append((key, v))
    return out


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def features_section(metrics: dict[str, Any]) -> str:
    """The per-feature table of a several-feature erase (``metrics["features"]``) and the collateral table
    (``metrics["collateral"]``: features measured but not erased); empty when the metrics have neither."""
    out = ""
    if metrics.get("features"):
        rows = []
        for r in metrics["features"]:
            fr = r.get("feature_rate") or {}
            auc = r["direction"].get("heldout_auc")
            det = (r.get("training_detector") or {}).get("heldout_auc")
            rows.append(f"<tr><td>{html.escape(r['feature'])}</td><td><code>{html.escape(r['labeller'])}</code></td>"
                        f"<td>{_fmt(auc) if auc is not None else '–'}</td><td>{_fmt(det) if det is not None else '–'}</td>"
                        f"<td>{_pct(r['share_beyond_threshold'])}</td>"
                        f"<td>{html.escape(fr.get('classifier', 'not measured'))}</td>"
                        f"<td>{_pct(fr.get('before'))}</td><td>{_pct(fr.get('after'))}</td></tr>")
        out += ("<h2>Erased features</h2><table><tr><th>feature</th><th>labeller</th><th>direction held-out AUC</th>"
                "<th>training detector held-out AUC</th><th>fresh latents beyond its threshold</th>"
                "<th>measuring classifier</th><th>rate before</th><th>rate after</th></tr>" + "".join(rows) + "</table>")
    if metrics.get("collateral"):
        rows = [f"<tr><td>{html.escape(c['feature'])}</td><td>{html.escape(c['classifier'])}</td><td>{c['n']}</td>"
                f"<td>{_pct(c['before'])}</td><td>{_pct(c['after'])}</td>"
                f"<td>{_pct(c['relative_change']) if c['relative_change'] is not None else '–'}</td></tr>"
                for c in metrics["collateral"]]
        out += ("<h2>Collateral: features that were not erased</h2><p class=\"small\">Each rate by that feature's "
                "classifier, before and after, on the same fresh latents as the erased features' rates.</p>"
                "<table><tr><th>feature</th><th>classifier</th><th>samples</th><th>rate before</th><th>rate after</th>"
                "<th>relative change</th></tr>" + "".join(rows) + "</table>")
    return out


def audit_section(doc: dict[str, Any], png: bytes) -> str:
    """The robustness audit (``eraser.audit``'s audit.json and audit.png): success rates side by side,
    the budget, what an attempt is, and the best attack images."""
    models = list(doc["results"])
    head = "".join(f"<th>{html.escape(m)}</th>" for m in models)
    rows = []
    for attack in doc["success_rate"]:
        cells = []
        for m in models:
            r = doc["results"][m].get(attack)
            cells.append("<td>–</td>" if r is None else
                         f"<td>{r['successes']}/{r['attempts']} = {r['success_rate']:.1%} "
                         f"(95 % CI {r['success_rate_ci95'][0]:.1%}–{r['success_rate_ci95'][1]:.1%}); "
                         f"best score {r['best_score']:.3f}</td>")
        rows.append(f"<tr><td>{html.escape(attack)}</td>{''.join(cells)}"
                    f"<td class=\"small\">{html.escape(doc['definitions'][attack])}</td></tr>")
    b = doc["budget"]
    budget = ", ".join(f"{k}={v}" for k, v in b.items() if not isinstance(v, dict))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in doc.get("notes", []))
    return (f"<h2>Robustness audit: attacks that search the latent space for the feature</h2>"
            f"<p>Success = the classifier <code>{html.escape(doc['classifier'])}</code> scores the attack's sample "
            f"≥ {doc['threshold']:.3g}. Same budget and seeds for every generator: <code>{html.escape(budget)}</code>.</p>"
            f"<table><tr><th>attack</th>{head}<th>attempt and success</th></tr>{''.join(rows)}</table>"
            f"{f'<ul class=small>{notes}</ul>' if notes else ''}"
            f"<p class=\"small\">Best images per attack and generator (one row each), score in each corner:</p>"
            f"{_img(png, 'best attack images')}")


def render(title: str, subtitle: str, passed: bool, guards: list[GuardResult], images: dict[str, bytes],
           metrics: dict[str, Any], notes: list[str] | None = None, sections: str = "") -> str:
    """The report page. ``images`` maps captions to PNG bytes, shown in order; ``sections`` is
    extra HTML placed after them (e.g. ``audit_section``)."""
    verdict = ('<span class="verdict pass">all measured guards pass</span>' if passed
               else '<span class="verdict fail">guards failed: nothing was kept</span>')
    figs = "".join(f"<h2>{html.escape(cap)}</h2>{_img(png, cap)}" for cap, png in images.items())
    table = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{_fmt(v)}</td></tr>" for k, v in _flat(metrics))
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in (notes or []))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(title)}</h1><p class="small">{html.escape(subtitle)}</p>
<h2>Verdict</h2>{verdict}{guard_table(guards)}
{f'<ul class="small">{note_html}</ul>' if note_html else ''}
{figs}{sections}
<h2>Every number</h2><table>{table}</table>
</body></html>"""
