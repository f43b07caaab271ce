"""A self-contained HTML report: images embedded as data URIs, no scripts, no external files.

The first screen answers, from a :class:`~eraser.report.summary.ReportSummary`: what was removed, by how
much (feature rate before → after, 95 % Wilson interval, n), at what cost (MS-SSIM, FID and recall
against their floors, time), how robust (the audit, or the command to run it) and what to do next. The
details follow: the guards, the labelled before/after rows, the plots, the settings and provenance,
every number with its unit, and links to the JSON files.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from eraser.guards import GuardResult
from eraser.report.summary import FAIL, PASS, UNMEASURED, FeatureSummary, ReportSummary

CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1240px;margin:16px auto;padding:0 16px;color:#222}
h1{font-size:20px;margin:0 0 2px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:10px 0 4px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#fafafa}
.pass{background:#e6f4ea}.fail{background:#fce8e6}.skip{background:#f1f3f4}.amber{background:#fef3d6}
.badge{font-size:17px;font-weight:700;padding:6px 12px;border-radius:4px;display:inline-block;margin-right:10px;color:#fff}
.badge.pass{background:#1e8e3e}.badge.fail{background:#c5221f}.badge.amber{background:#e37400}
.banner{padding:10px 12px;border-radius:6px;margin:8px 0;font-size:15px}
.first{display:flex;gap:18px;align-items:flex-start}.first>.facts{flex:1 1 620px;min-width:0}
.first>.glance{flex:0 0 auto}
.facts th{width:120px;white-space:nowrap}
img{max-width:100%;image-rendering:pixelated}code{background:#f4f4f4;padding:1px 4px;overflow-wrap:anywhere}
.small{color:#555;font-size:12px}.num{text-align:right;font-variant-numeric:tabular-nums}
ol{margin:4px 0;padding-left:20px}li{margin:2px 0}
"""

BADGE = {PASS: ("pass", "PASS"), UNMEASURED: ("amber", "NOT MEASURED"), FAIL: ("fail", "FAIL")}


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _e(v: Any) -> str:
    return html.escape(str(v))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _pct(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f} %"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f"95 % CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f} %"


# -- guards --------------------------------------------------------------------------------------
#: how each guard's value and limit read (the feature-rate guard's value is a ratio, never a rate)
GUARD_WORDS = {
    "preservation": ("MS-SSIM(G, G') on feature-free latents", ""),
    "feature_rate": ("ratio: rate after ÷ rate before", ""),
    "fid": ("FID above its floor", ""),
    "kid": ("KID×1000 above its floor", ""),
    "recall": ("recall below its floor", ""),
    "collateral": ("relative change of a feature that was not erased", ""),
}


def _guard_value(r: GuardResult, rates: FeatureSummary | None) -> str:
    if r.value is None:
        return "not measured"
    if r.name.startswith("feature_rate") and rates is not None and rates.measured:
        return (f"before {_pct(rates.before)}, after {_pct(rates.after)}; "
                f"ratio after ÷ before = {r.value:.3f}")
    if r.name.startswith("feature_rate"):
        return f"ratio after ÷ before = {r.value:.3f}"
    return _fmt(r.value)


def guard_table(results: list[GuardResult], features: list[FeatureSummary] | None = None) -> str:
    """The guards: what each measures, its value, its limit (labelled), the margin and the verdict."""
    rates = next((f for f in features or [] if f.measured), None)
    rows = []
    for r in results:
        if r.passed is None:
            cls, word = "skip", ("not measured" if r.value is None else "reported (no limit)")
        else:
            cls, word = ("pass", "pass") if r.passed else ("fail", "FAIL")
        margin = "" if r.margin is None else f"{r.margin:+.4g}"
        what = GUARD_WORDS.get(r.name.split("[")[0], (r.detail, ""))[0]
        if r.limit is None:
            limit = "–"
        elif r.name.startswith("feature_rate"):
            limit = f"ratio {r.rule} {r.limit:.4g}"
        else:
            limit = f"{r.rule} {r.limit:.4g}"
        feat = r.name[len("feature_rate["):-1] if r.name.startswith("feature_rate[") else None
        row_rates = next((f for f in features or [] if f.name == feat and f.measured), None) if feat else rates
        rows.append(f'<tr class="{cls}"><td>{_e(r.name)}</td><td>{_e(what)}</td><td>{_guard_value(r, row_rates)}</td>'
                    f"<td>{limit}</td><td class=num>{margin}</td><td>{word}</td></tr>")
    return ("<table><tr><th>guard</th><th>measures</th><th>value</th><th>limit</th><th>margin</th><th>verdict</th></tr>"
            + "".join(rows) + "</table>")


# -- the first screen ------------------------------------------------------------------------------
def headline(s: ReportSummary) -> str:
    """One sentence: what happened, in plain words (HTML-escaped)."""
    names = ", ".join(f.name for f in s.features) or "the feature"
    if s.status == FAIL:
        failed = [g for g in s.guards if g.get("passed") is False]
        why = "; ".join(f"{g['name']} {_guard_short(g)}" for g in failed) or "no guard evaluation during training passed"
        return _e(f"Erasing {names} FAILED its guards ({why}). No checkpoint was written; only this report.")
    if s.status == UNMEASURED:
        return _e(f"{names.capitalize()} erased, but NOT MEASURED: no measuring classifier was given (--feature-classifier), "
                  "so nothing checked that the feature is gone. The guards that were measured pass.")
    parts = [f"{f.name} {_pct(f.before)} → {_pct(f.after)}" for f in s.features]
    return _e(f"Removed: {'; '.join(parts)} of fresh samples (measuring classifier), and every measured guard passes.")


def _guard_short(g: dict[str, Any]) -> str:
    if g["name"] == "feature_rate":
        return f"ratio after ÷ before {g['value']:.3g}, limit {g['rule']} {g['limit']:.3g}"
    return f"{g['value']:.4g}, limit {g['rule']} {g['limit']:.4g}"


def feature_rows(s: ReportSummary) -> str:
    """One row per erased feature: labels (who made them), rate before → after with CIs and n, its guard."""
    rows = []
    for f in s.features:
        labels = ""
        if f.labels:
            labels = " / ".join(f"{v} {k}" for k, v in f.labels.items())
        who = f"<div class=small>labels: {_e(f.labeller or '')}{' — ' + _e(labels) if labels else ''}" + \
              (f"; made by {_e(f.labels_by)}" if f.labels_by else "") + "</div>"
        if f.measured:
            rate = (f"<b>{_pct(f.before)} → {_pct(f.after)}</b> of fresh samples "
                    f"<span class=small>(before {_ci(f.before_ci95)}; after {_ci(f.after_ci95)}; n = {f.n}; "
                    f"classifier {_e(f.classifier)}, score ≥ {f.threshold:.2g})</span>")
        else:
            rate = ("<b>not measured</b> <span class=small>(no --feature-classifier: nothing counted the feature "
                    "before or after)</span>")
        rows.append(f"<tr><td><b>{_e(f.name)}</b>{who}</td><td>{rate}</td></tr>")
    return "".join(rows)


def cost_html(s: ReportSummary) -> str:
    c = s.cost
    lim = s.guard_limits
    items = []
    if c.ms_ssim is not None:
        items.append(f"MS-SSIM <b>{c.ms_ssim:.3f}</b> on {c.ms_ssim_n} feature-free latents "
                     f"(1 = unchanged; limit ≥ {lim.get('min_ms_ssim', float('nan')):.3g})")
    if c.fid is not None:
        ref = " — reference chosen by the latent direction, not a classifier" if c.fid_reference_from_direction else ""
        items.append(f"FID <b>{c.fid:.2f}</b> vs floor {c.fid_floor:.2f} ({c.fid - c.fid_floor:+.2f}; limit ≤ "
                     f"+{lim.get('max_fid_over_floor', float('nan')):.3g}; {c.fid_n} samples per set{ref})")
        items.append(f"recall <b>{c.recall:.3f}</b> vs floor {c.recall_floor:.3f} "
                     f"({c.recall - c.recall_floor:+.3f}; limit: drop ≤ {lim.get('max_recall_drop', float('nan')):.3g})")
    else:
        items.append("FID, KID, recall: not measured (--fid-samples 0)")
    if c.seconds is not None:
        items.append(f"time <b>{c.seconds:.0f} s</b>" + (f" on {_e(s.device)}" if s.device else ""))
    return "<br>".join(items)


def robustness_html(s: ReportSummary) -> str:
    if s.audit is not None:
        rates = s.audit.get("success_rate", {})
        parts = []
        for attack, r in rates.items():
            orig, erased = r.get("original"), r.get("erased")
            parts.append(f"{_e(attack)} {_pct(orig, 0)} → <b>{_pct(erased, 0)}</b>" if orig is not None
                         else f"{_e(attack)} {_pct(erased, 0)}")
        return ("audited: attack success rate, original → erased: " + "; ".join(parts)
                + " <span class=small>(details below)</span>")
    if s.verdict != "pass":
        return "not audited (no checkpoint was written)"
    return f"<b>not audited</b>. Run <code>{_e(s.audit_command())}</code>"


def first_screen(s: ReportSummary, glance_png: bytes | None) -> str:
    cls, word = BADGE[s.status]
    banner = f'<div class="banner {cls}"><span class="badge {cls}">{word}</span>{headline(s)}</div>'
    amber = ""
    if s.status == UNMEASURED:
        amber = ('<p class="small">Amber means the guards that could be measured pass but the feature itself was not '
                 "counted. " + ("FID's “clean” reference then fell back to the latent direction (samples on the "
                                "feature-free side of the threshold), which cannot reveal feature left behind. "
                                if s.cost.fid_reference_from_direction else "") + "</p>")
    nxt = "".join(f"<li>{_inline_code(t)}</li>" for t in s.next_steps())
    facts = (f"<table class=facts><tr><th>Removed<br>by how much</th><td><table>{feature_rows(s)}</table></td></tr>"
             f"<tr><th>Cost</th><td>{cost_html(s)}</td></tr>"
             f"<tr><th>Robustness</th><td>{robustness_html(s)}</td></tr>"
             f"<tr><th>What next</th><td><ol>{nxt}</ol></td></tr></table>")
    glance = ""
    if glance_png is not None:
        glance = (f'<div class="glance">{_img(glance_png, "before and after")}'
                  '<div class="small">Same latents, original above, erased below.</div></div>')
    return f'{banner}{amber}<div class="first"><div class="facts">{facts}</div>{glance}</div>'


def _inline_code(text: str) -> str:
    """Escape ``text`` and turn `backticked` spans into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


# -- details ---------------------------------------------------------------------------------------
def settings_html(s: ReportSummary) -> str:
    rows = [("reproduce", f"<code>{_e(s.command)}</code>" if s.command else "ran through the Python API on objects in memory"),
            ("date (UTC)", _e(s.date or "–")), ("device", _e(s.device or "–")),
            ("eraser version", _e(s.eraser_version or "–")), ("original", _e(s.generator)), ("erased", _e(s.erased))]
    for k, v in s.weights_sha256.items():
        rows.append((f"sha256 of {k} weights", f"<code>{_e(v or 'none (not written)')}</code>"))
    for f in s.features:
        if f.labels:
            rows.append((f"labels of {_e(f.name)}", _e(" / ".join(f"{v} {k}" for k, v in f.labels.items()))
                         + (f"; made by {_e(f.labels_by)}" if f.labels_by else "") + f" ({_e(f.labeller or '')})"))
    if s.method:
        rows.append(("method", _e(f"{s.method.get('name')}, {s.method.get('steps')} steps: {s.method.get('recipe', '')}")))
    if s.kept_step is not None:
        rows.append(("kept state", f"step {s.kept_step} (the best guard evaluation that passed)"))
    rows.append(("settings", "<code>" + _e(", ".join(f"{k}={v}" for k, v in s.settings.items())) + "</code>"))
    rows.append(("guard limits", "<code>" + _e(", ".join(f"{k}={v}" for k, v in s.guard_limits.items())) + "</code>"))
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


#: units (and meaning) of the numbers in metrics.json, by the last part of their key
UNITS = {
    "ms_ssim_mean": "MS-SSIM, 0–1 (1 = identical)", "ms_ssim_min": "MS-SSIM, 0–1", "l1_mean": "mean |Δpixel|, images in [−1, 1]",
    "lpips_mean": "LPIPS (0 = identical)", "n": "samples", "before": "share of samples, 0–1", "after": "share of samples, 0–1",
    "relative_reduction": "share, 0–1", "threshold": "classifier score, 0–1", "share_beyond_threshold": "share, 0–1",
    "seed": "seed", "erased_vs_clean": "metric value", "floor": "metric value", "std_erased": "KID×1000",
    "n_per_set": "samples per set", "seconds": "s", "subsets": "count", "subset_size": "samples", "kept_step": "step",
    "heldout_auc": "AUC, 0–1", "n_feature": "latents", "n_none": "latents", "steps": "steps", "total": "s",
}


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flat(v, key + ".")
        elif not isinstance(v, list):
            out.append((key, v))
    return out


def _unit(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "timings_s":
        return "s"
    if parts[0] == "distribution" and len(parts) > 1 and parts[1] == "kid_x1000" and parts[-1] != "subset_size":
        return "KID×1000" if parts[-1] != "subsets" else "count"
    return UNITS.get(parts[-1], "")


def numbers_table(metrics: dict[str, Any]) -> str:
    """Every number of metrics.json (lists left out: see the file) with its unit."""
    rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td class=num>{_fmt(v)}</td><td class=small>{_e(_unit(k))}</td></tr>"
                   for k, v in _flat(metrics) if isinstance(v, (int, float)) and not isinstance(v, bool))
    return f"<table><tr><th>key in metrics.json</th><th>value</th><th>unit</th></tr>{rows}</table>"


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


def render_report(s: ReportSummary, guards: list[GuardResult], images: dict[str, tuple[bytes, str]],
                  metrics: dict[str, Any], files: list[str], glance: bytes | None = None, sections: str = "") -> str:
    """The report page. ``images`` maps headings to (PNG bytes, caption), shown in order after the guards;
    ``files`` are the JSON files beside the page (linked); ``sections`` is extra HTML (e.g. ``audit_section``)."""
    figs = "".join(f"<h2>{_e(h)}</h2><p class=small>{_inline_code(cap)}</p>{_img(png, h)}" for h, (png, cap) in images.items())
    links = " · ".join(f'<a href="{_e(f)}">{_e(f)}</a>' for f in files)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{_e(s.title)}</title>
<style>{CSS}</style></head><body>
<h1>{_e(s.title)}</h1><div class="small">{_e(s.generator)} → {_e(s.erased)} · {_e(s.date or '')} · eraser {_e(s.eraser_version or '')}</div>
{first_screen(s, glance)}
<h2>Guards</h2>{guard_table(guards, s.features)}
{figs}{sections}
<h2>Settings and provenance</h2>{settings_html(s)}
<h2>Every number</h2><p class=small>Files: {links}</p>{numbers_table(metrics)}
</body></html>"""
