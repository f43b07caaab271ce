"""A scripted person marks 500 samples on the notebook's marking board; how long the board's own handlers take.

Issue 17's goal: marking at the pace of Moon et al.'s study (500 samples in about 5 minutes, 0.6 s a
mark), so that a person's speed, not the tool's, sets the pace. Measured here, for each scenario:

* the inputs a person needs (clicks and keys; moving the pointer is not an input), goal <= 600 for
  500 marks at a 13 % feature rate;
* the board's handler time: the wall time of each input's handler, from the widget event to its return
  (a click is sent as the browser sends it, ``Button._handle_button_msg``; keys and the pointer as
  ipyevents delivers them). Per mark = all handler time / marks; goal <= 0.1 s. Page done's handler
  (save the page, make the next page's 48 images and thumbnails) is part of it;
* the background work, reported apart: embedding each page once (one batch) and refitting the probe
  after each page done run in the board's worker thread, never in a handler. Whether it keeps up is
  its time per page against the 28.8 s a person spends on a page of 48 at 0.6 s a mark.

The samples are real: 500 marks of the shipped eyeglasses marks (``assets/marks``, digiface-dcgan64),
65 "yes" and 435 "no" in file order (13 %). The generator is the shipped digiface-dcgan64 and the
embedder the notebook's default (FID Inception at ``DEFAULT_EMBED_SIZE`` px) unless told otherwise.
Within a page the inputs are sent back to back (no think time). Before each page the scripted person
waits until the worker is idle, a stand-in for the >= 29 s a person spends looking at a page of 48
(the waits are reported, never counted as handler time); ``*_back_to_back`` does not wait, the worst
case, in which page done makes the next page itself because the worker has not. The worker still
competes with the handlers for the CPU. No kernel runs: widget messages are serialised but not sent
over a socket. Scenarios:

* ``clicks``: a click on each yes sample, then "page done" (the mouse only);
* ``keys``: the pointer enters each yes sample and ``space`` marks it; ``Enter`` is page done (ipyevents
  messages, as the browser sends them);
* ``clicks_with_slips``: as ``clicks``, plus a wrong click on 5 % of the samples, each taken back with
  ``undo`` (2 extra inputs per slip);
* ``clicks_back_to_back``: as ``clicks`` without waiting for the worker.

    python benchmarks/marking_replay.py [--n 500] [--yes-rate 0.13] [--page 48] [--embed-size 128]
        [--out benchmarks/results/marking_replay.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

MARKS = REPO / "assets" / "marks" / "digiface-eyeglasses.json"
PERSON_S_PER_MARK = 0.6  # Moon et al.: 500 marks in about 5 minutes


def pick_marks(n: int, yes_rate: float):
    """``n`` shipped marks in file order, ``round(n * yes_rate)`` of them yes and the rest no (no unsure)."""
    from eraser.labelling.marks import load_marks

    marks = load_marks(MARKS)
    n_yes = round(n * yes_rate)
    quota = {"yes": n_yes, "no": n - n_yes}
    keep = []
    for i, lab in enumerate(marks.labels):
        if quota.get(lab, 0) > 0:
            quota[lab] -= 1
            keep.append(i)
    if len(keep) < n:
        raise SystemExit(f"{MARKS} has too few marks for {n} at a {yes_rate:.0%} yes rate")
    return marks.subset(keep)


def stats(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    s = sorted(seconds)
    return {"n": len(s), "total_s": round(sum(s), 4), "mean_ms": round(1000 * statistics.fmean(s), 3),
            "p50_ms": round(1000 * s[len(s) // 2], 3), "p95_ms": round(1000 * s[min(len(s) - 1, int(0.95 * len(s)))], 3),
            "max_ms": round(1000 * s[-1], 3)}


def run_scenario(name: str, generator, embedder, marks, page: int, slip_rate: float, back_to_back: bool,
                 seed: int = 0) -> dict[str, Any]:
    from eraser import notebook as nb

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        session = nb.MarkingSession(generator, marks.feature, Path(tmp) / "marks.json", embedder=embedder, seed=seed)
        board = nb.MarkingBoard(session, n=page, keyboard=name.startswith("keys"), background=True)
        rows = session.add(marks.z)
        want = dict(zip(rows, marks.labels))
        board.queue[:] = [rows[i : i + page] for i in range(0, len(rows), page)]
        inputs: list[tuple[str, float]] = []  # (kind, handler seconds)
        pointer_s: list[float] = []

        def timed(kind: str, fn) -> None:
            t0 = time.perf_counter()
            fn()
            inputs.append((kind, time.perf_counter() - t0))

        def click(button) -> None:  # what the browser's click message does
            button._handle_button_msg(None, {"event": "click"}, [])

        t_start = time.perf_counter()
        board.new_samples()  # the first page (not a person's input)
        t_first = time.perf_counter() - t_start
        n_pages = len(board.queue) + 1
        looked = 0.0
        for p in range(n_pages):
            if not back_to_back:  # the person looks at the page (>= 29 s at the paper's pace) while the
                t0 = time.perf_counter()  # worker finishes the page's work: stand-in, not handler time
                board.background.wait()
                looked += time.perf_counter() - t0
            for i, row in enumerate(list(board.page)):
                if slip_rate and rng.random() < slip_rate:  # a wrong click, taken back
                    timed("slip", lambda i=i: click(board.tiles[i].button))
                    timed("undo", lambda: click(board.undo_button))
                for kind in nb.scripted_inputs(board.state[row], want[row]):
                    if board.keyboard:  # as ipyevents delivers them: the tile's watcher, then the board's
                        t0 = time.perf_counter()
                        board.events[1 + i]._handle_mouse_msg(None, {"event": "mouseenter", "type": "mouseenter"}, [])
                        pointer_s.append(time.perf_counter() - t0)
                        key = " " if kind == "toggle" else "u"
                        timed(kind, lambda key=key: board.events[0]._handle_mouse_msg(
                            None, {"event": "keydown", "type": "keydown", "key": key}, []))
                    else:
                        button = board.tiles[i].button if kind == "toggle" else board.tiles[i].unsure_button
                        timed(kind, lambda button=button: click(button))
            if board.keyboard:
                timed("page done", lambda: board.events[0]._handle_mouse_msg(
                    None, {"event": "keydown", "type": "keydown", "key": "Enter"}, []))
            else:
                timed("page done", lambda: click(board.done_button))
        t_inputs = time.perf_counter() - t_start
        board.background.wait()
        t_all = time.perf_counter() - t_start

        from eraser.labelling.marks import load_marks

        saved = load_marks(session.marks_path)
        assert saved.labels == marks.labels, "the saved marks differ from the intended ones"
        assert not board.background.errors, board.background.errors
        handler = [s for _, s in inputs] + pointer_s
        by_kind = {k: stats([s for kk, s in inputs if kk == k]) for k in dict.fromkeys(k for k, _ in inputs)}
        if pointer_s:
            by_kind["pointer enters (not an input)"] = stats(pointer_s)
        jobs = board.background.timings
        embed = [j["seconds"] for j in jobs if j["job"] == "embed page" and j["rows"]]
        prepare = [j["seconds"] for j in jobs if j["job"] == "prepare next page" and j["rows"]]
        refit = [j["seconds"] for j in jobs if j["job"] == "refit probe"]
        background_per_page = (sum(embed) + sum(prepare) + sum(refit)) / n_pages
        n = len(marks)
        return {
            "marks": n, "yes": marks.labels.count("yes"), "pages": n_pages,
            "inputs": len(inputs), "inputs_by_kind": {k: v["n"] for k, v in by_kind.items() if "pointer" not in k},
            "inputs_goal_max": 600, "inputs_goal_met": len(inputs) <= 600,
            "handler_s_per_mark": round(sum(handler) / n, 5), "handler_goal_max_s_per_mark": 0.1,
            "handler_goal_met": sum(handler) / n <= 0.1,
            "handler_by_kind": by_kind,
            "first_page_s (not an input)": round(t_first, 3),
            "background": {
                "runs_in": "the board's worker thread, never inside a handler",
                "prepare_next_page (images, thumbnails)": stats(prepare), "embed_page": stats(embed),
                "refit_probe": stats(refit),
                "refits": len(refit), "seconds_per_page": round(background_per_page, 3),
                "person_seconds_per_page_at_0.6_s_a_mark": round(page * PERSON_S_PER_MARK, 1),
                "keeps_up_with_a_person": background_per_page < page * PERSON_S_PER_MARK,
            },
            "inputs_back_to_back": back_to_back,
            "wall_s": {"inputs": round(t_inputs, 2), "of_which_waiting_for_the_worker_at_page_start": round(looked, 2),
                       "until_background_done": round(t_all, 2)},
            "probe_after": session.probe_status(),
            "saved_marks_equal_intended": True,
        }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generator", default="digiface-dcgan64")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--yes-rate", type=float, default=0.13)
    ap.add_argument("--page", type=int, default=48)
    ap.add_argument("--embed-size", type=int, default=None, help="Inception input size (default: the notebook's)")
    ap.add_argument("--scenarios", default="clicks,keys,clicks_with_slips,clicks_back_to_back")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "marking_replay.json"))
    args = ap.parse_args(argv)

    import torch

    from run import machine  # benchmarks/run.py: CPU, cores, RAM, torch
    from eraser import notebook as nb
    from eraser.generators import load_generator

    size = args.embed_size or nb.DEFAULT_EMBED_SIZE
    generator = load_generator(args.generator, "cpu")
    embedder = nb.default_embedder(size)
    marks = pick_marks(args.n, args.yes_rate)
    load_before = os.getloadavg()[0]
    results = {}
    for name in args.scenarios.split(","):
        print(f"scenario {name} …", flush=True)
        results[name] = run_scenario(name, generator, embedder, marks, args.page,
                                     0.05 if "slips" in name else 0.0, back_to_back=name.endswith("back_to_back"))
        r = results[name]
        print(f"  {r['inputs']} inputs, {1000 * r['handler_s_per_mark']:.2f} ms of handler time per mark, "
              f"background {r['background']['seconds_per_page']:.2f} s per page", flush=True)
    doc = {
        "benchmark": "marking_replay",
        "command": "python benchmarks/marking_replay.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "what": __doc__.split("\n\n")[1].strip() if __doc__ else "",
        "generator": args.generator, "embedder": f"FID Inception at {size} px (the notebook's default)",
        "marks_source": f"{MARKS.relative_to(REPO)}: {args.n} marks in file order, {round(args.n * args.yes_rate)} yes",
        "page": args.page, "scenarios": results,
        "machine": machine(), "torch_threads": torch.get_num_threads(),
        "load_avg_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
