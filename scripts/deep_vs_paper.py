"""Deep erasure against the paper's recipe, side by side, on held-out marks: the table in the README.

For each generator (digiface-dcgan64, faces-vae64) and each method (``--method paper``, ``--method deep``),
with default settings:

1. the erase runs as ``eraser erase`` does (``eraser.pipeline.run_erase``: direction, training detector,
   fine-tuning, guards, FID/KID/precision-recall on 500 samples), labelled by the *training part* of the
   eyeglasses marks only: ids with id % 5 != 0. The held-out part (id % 5 == 0, the split the measuring
   classifier was trained without) enters no direction, detector or tuning decision;
2. held-out "yes" marks: the share still scored >= 0.5 and >= 0.83 by digiface-eyeglasses-clf, and a grid of
   all of them (rows: original, paper, deep);
3. walk: held-out "no" latents moved along the direction to projections 2, 3, 4, 5, 6: share scored >= 0.83 / 0.5;
4. audit (eraser.audit, default budget) with digiface-eyeglasses-judge confirming every success; each attack's
   false-alarm floor from the held-out "no" marks;
5. fresh latents (10,000, seed 4242): rate at 0.83 and 0.5, beside the classifier's false-positive rate on the
   held-out "no" marks (the floor a perfect erase would still read);
6. quality: MS-SSIM and SSIM between G and G' on the held-out "no" marks; FID/KID/recall against floors (from
   the erase's own report);
7. cost: fine-tuning seconds of each method, measured in this run.

Labels: the marks were made by automated annotators (see the marks files), not by a person.
Run:  python scripts/deep_vs_paper.py   (about 40 minutes on 2 CPU cores) -> assets/reports/deep_vs_paper.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from eraser.audit.attacks import direction_from_file, false_alarm_floor, run_audit, write_audit_files
from eraser.audit.budget import AuditBudget
from eraser.classifiers import load_classifier
from eraser.direction import Direction
from eraser.generators import load_generator
from eraser.images import grid_image
from eraser.io import read_json, write_json
from eraser.labelling.marks import Marks, load_marks, save_marks
from eraser.metrics.ssim import ms_ssim
from eraser.logs import forwarded
from eraser.pipeline import EraseRequest, run_erase
from eraser.unlearn.settings import EraseSettings

REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "digiface-dcgan64": REPO / "assets" / "marks" / "digiface-eyeglasses.json",
    "faces-vae64": REPO / "assets" / "marks" / "faces-vae64-eyeglasses.json",
}
CLASSIFIER, JUDGE = "digiface-eyeglasses-clf", "digiface-eyeglasses-judge"
WALK = (2, 3, 4, 5, 6)


def split(marks: Marks) -> tuple[Marks, np.ndarray, np.ndarray]:
    """The training marks (id % 5 != 0) as their own Marks, and the held-out yes / no rows."""
    labels, held = np.array(marks.labels), marks.heldout()
    train = np.flatnonzero(~held)
    sub = Marks(marks.z[train], [marks.labels[i] for i in train], marks.feature, marks.generator)
    return sub, np.flatnonzero(held & (labels == "yes")), np.flatnonzero(held & (labels == "no"))


def rates(scores: torch.Tensor) -> dict[str, float]:
    return {"ge_0.83": round(float((scores >= 0.83).float().mean()), 4), "ge_0.5": round(float((scores >= 0.5).float().mean()), 4)}


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from torchmetrics.functional.image import structural_similarity_index_measure

    return float(structural_similarity_index_measure((a + 1) / 2, (b + 1) / 2, data_range=1.0))


def walked(z: torch.Tensor, d: Direction, a: float) -> torch.Tensor:
    return z + (a - d.project(z))[:, None] * d.unit


def measure(name: str, g, clf, judge, d: Direction, z_yes, z_no, z_fresh, budget, audit_dir: Path) -> dict:
    """Every deep-erasure measure of one generator (the original or an erased one)."""
    out: dict = {"heldout_yes": rates(clf.score(g, z_yes)),
                 "walk": {str(a): rates(clf.score(g, walked(z_no, d, a))) for a in WALK},
                 "fresh": rates(clf.score(g, z_fresh))}
    with forwarded(lambda m: print(m, flush=True)):
        audit = run_audit({name: g}, clf, d, budget, judge=judge)
    doc = write_audit_files(audit_dir, audit, stem=f"audit_{name}")
    out["audit"] = {a: {"attacked": s["success_rate"], "confirmed": s["confirmed_rate"],
                        "confirmed_ci95": s["confirmed_rate_ci95"], "seconds": s["seconds"]}
                    for a, s in doc["results"][name].items()}
    return out


def erase(gen: str, marks_path: Path, method: str, out: Path, smoke: bool = False) -> dict:
    settings = EraseSettings(method=method, steps=4 if smoke else None)
    req = EraseRequest(generator=gen, labeller=f"marks:{marks_path}", out=out, settings=settings,
                       feature_classifier=CLASSIFIER, progress=False, fid_samples=0 if smoke else 500,
                       n_eval=200 if smoke else 2000)
    if smoke:
        from eraser.guards import GuardLimits

        req.limits = GuardLimits(min_ms_ssim=0.0, max_feature_rate_ratio=1e9)
    t0 = time.time()
    with forwarded(lambda m: print(f"[{gen} {method}] {m}", flush=True)):
        metrics = run_erase(req).metrics.to_dict()
    metrics["wall_s"] = round(time.time() - t0, 1)
    return metrics


def pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def table(result: dict) -> str:
    """The README's markdown table from a result of this script."""
    rows = []
    models = list(result["models"])
    head = "| measure (goal) | " + " | ".join(f"{m}: {c}" for m in models for c in ("original", "paper", "deep")) + " |"
    rows.append(head)
    rows.append("|---" * (1 + 3 * len(models)) + "|")

    def row(label, get):
        cells = []
        for m in models:
            rec = result["models"][m]
            for c in ("original", "paper", "deep"):
                try:
                    cells.append(get(rec, c))
                except (KeyError, TypeError):
                    cells.append("")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    row("held-out yes still ≥ 0.5 (≤ 5 %)", lambda r, c: pct(r[c]["heldout_yes"]["ge_0.5"]))
    row("held-out yes still ≥ 0.83 (≤ 2 %)", lambda r, c: pct(r[c]["heldout_yes"]["ge_0.83"]))
    for a in WALK:
        row(f"walk to {a}σ: ≥ 0.83 / ≥ 0.5 (≤ 2 % / ≤ 5 %)",
            lambda r, c, a=a: f"{pct(r[c]['walk'][str(a)]['ge_0.83'])} / {pct(r[c]['walk'][str(a)]['ge_0.5'])}")
    for atk, goal in (("walk", "≤ 5 %"), ("random", "≤ 5 %"), ("gradient", "≤ 20 %")):
        row(f"audit {atk}: attacked / confirmed ({goal} confirmed; floor)",
            lambda r, c, atk=atk: f"{pct(r[c]['audit'][atk]['attacked'])} / {pct(r[c]['audit'][atk]['confirmed'])}"
            + (f" (floor {pct(r['floor']['audit']['attacked'][atk])} / {pct(r['floor']['audit']['confirmed'][atk])})"
               if c == "original" else ""))
    row("fresh 10,000: ≥ 0.83 (floor = held-out no)", lambda r, c: pct(r[c]["fresh"]["ge_0.83"])
        + (f" (floor {pct(r['floor']['classifier_on_heldout_no']['ge_0.83'])})" if c == "original" else ""))
    row("fresh 10,000: ≥ 0.5", lambda r, c: pct(r[c]["fresh"]["ge_0.5"])
        + (f" (floor {pct(r['floor']['classifier_on_heldout_no']['ge_0.5'])})" if c == "original" else ""))
    row("MS-SSIM on held-out no (≥ 0.96)", lambda r, c: f"{r[c]['quality']['ms_ssim_heldout_no']:.4f}")
    row("SSIM on held-out no (≥ paper's)", lambda r, c: f"{r[c]['quality']['ssim_heldout_no']:.4f}")
    row("FID-500 vs clean (floor + 2)", lambda r, c: f"{r[c]['quality']['fid']['erased_vs_clean']:.2f} (floor {r[c]['quality']['fid']['floor']:.2f})")
    row("recall (floor − 0.05)", lambda r, c: f"{r[c]['quality']['recall']['erased_vs_clean']:.3f} (floor {r[c]['quality']['recall']['floor']:.3f})")
    row("state kept by the guards (step)", lambda r, c: str(r[c]["kept_step"]) if c != "original" else "")
    row("fine-tuning time (deep ≤ 2× paper)", lambda r, c: f"{r[c]['cost']['finetune_s']:.0f} s")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "reports" / "deep_vs_paper.json")
    ap.add_argument("--n-fresh", type=int, default=10_000)
    ap.add_argument("--table", type=Path, default=None, help="only print the markdown table of an earlier result file")
    ap.add_argument("--smoke", action="store_true", help="a few steps and a tiny audit: checks the script runs, measures nothing")
    args = ap.parse_args()
    if args.table is not None:
        print(table(read_json(args.table)))
        return
    t_start = time.time()
    clf, judge = load_classifier(CLASSIFIER), load_classifier(JUDGE)
    budget = AuditBudget(starts=4, steps=2, random_samples=128, walk_starts=4) if args.smoke else AuditBudget()
    figures = args.out.parent
    result: dict = {"what": __doc__.split("\n\n")[1], "classifier": CLASSIFIER, "judge": JUDGE,
                    "machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                                "python": platform.python_version()},
                    "models": {}}
    work = Path(tempfile.mkdtemp(prefix="deep-vs-paper-"))
    for gen_name in args.models.split(","):
        marks = load_marks(MODELS[gen_name])
        train, yes, no = split(marks)
        train_path = save_marks(work / f"{gen_name}-train.json", train, extra={"split": "id % 5 != 0 of " + MODELS[gen_name].name})
        g = load_generator(gen_name)
        z_yes, z_no = marks.z[yes], marks.z[no]
        z_fresh = g.sample_latents(args.n_fresh, 4242)
        rec: dict = {"marks": str(MODELS[gen_name].relative_to(REPO)), "heldout": {"yes": len(yes), "no": len(no)},
                     "train": train.counts()}
        erased, models = {}, {}
        for method in ("paper", "deep"):
            m = erase(gen_name, train_path, method, work / f"{gen_name}-{method}", args.smoke)
            erased[method] = m
            models[method] = load_generator(str(work / f"{gen_name}-{method}"))
        d = direction_from_file(work / f"{gen_name}-deep" / "report" / "direction.json")
        floor_scores = clf.score(g, z_no)
        rec["floor"] = {"classifier_on_heldout_no": rates(floor_scores),
                        "audit": false_alarm_floor(g, clf, judge, z_no, budget)}
        audit_dir = figures / f"deep_vs_paper_{gen_name}"
        rec["original"] = measure("original", g, clf, judge, d, z_yes, z_no, z_fresh, budget, audit_dir)
        a_no = g.generate(z_no)
        for method, gm in models.items():
            m = erased[method]
            r = measure(method, gm, clf, judge, d, z_yes, z_no, z_fresh, budget, audit_dir)
            b_no = gm.generate(z_no)
            dist = m.get("distribution", {})
            r["quality"] = {
                "ms_ssim_heldout_no": round(float(ms_ssim(a_no, b_no).mean()), 4),
                "ssim_heldout_no": round(ssim(a_no, b_no), 4),
                "fid": dist.get("fid"), "kid_x1000": dist.get("kid_x1000"), "recall": dist.get("recall"),
                "precision": dist.get("precision"),
            }
            r["cost"] = {"finetune_s": m["timings_s"]["finetune"], "erase_total_s": m["timings_s"]["total"],
                         "wall_s": m["wall_s"]}
            r["verdict"] = m["verdict"]
            r["method"] = m["method"]
            r["kept_step"] = m.get("kept_step")
            rec[method] = r
        rec["finetune_time_ratio_deep_over_paper"] = round(rec["deep"]["cost"]["finetune_s"] / rec["paper"]["cost"]["finetune_s"], 2)
        # every held-out "yes" mark: original, paper, deep (one block of three rows per 19 latents)
        cols = 19
        rows = []
        for i in range(0, len(z_yes), cols):
            for gm in (g, models["paper"], models["deep"]):
                x = gm.generate(z_yes[i : i + cols])
                pad = cols - len(x)
                rows.append(torch.cat([x, torch.ones(pad, *x.shape[1:])]) if pad else x)
        grid_image(torch.cat(rows), nrow=cols, padding=2, scale=2).save(figures / f"deep_vs_paper_{gen_name}_heldout_yes.png")
        result["models"][gen_name] = rec
        print(json.dumps({k: v for k, v in rec.items() if k in ("paper", "deep")}, indent=1)[:3000], flush=True)
    result["seconds"] = round(time.time() - t_start, 1)
    write_json(args.out, result)
    print(table(result))
    print(f"wrote {args.out} in {result['seconds']:.0f}s")


if __name__ == "__main__":
    main()
