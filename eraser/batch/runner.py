"""Run a manifest: every job in its own process (``--jobs N`` at a time) or as Ray tasks; a summary as
jobs finish.

One job's failure never stops the others: each runs in a separate process (spawned, so no state is
shared), its errors come back as a result line, and a process that dies outright is reported as
such. A re-run of the same manifest into the same folder keeps every finished job whose inputs and
files still verify, resumes interrupted training from its saved state, and runs the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing as mp
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from eraser.batch.job import STAGING, check_finished, input_hashes, result, run_job
from eraser.batch.manifest import Job, Manifest, load_manifest
from eraser.batch.summary import write_summary
from eraser.errors import EraserError
from eraser.validate import check_not_inputs, check_reusable_dir, erase_inputs, source_path

OnResult = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)


@contextlib.contextmanager
def batch_lock(out_root: Path) -> Iterator[None]:
    """Refuse (one line) a second batch writing into the same folder at the same time."""
    with open(out_root / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EraserError(f"another eraser batch is writing into {out_root}; wait for it or choose another --out") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def finished(job: Job, out_root: Path) -> dict[str, Any] | None:
    """The result of a job already finished in ``out_root`` from the same inputs, else None."""
    final = out_root / job.name
    if not final.exists():
        return None
    record, _ = check_finished(final, input_hashes(job))
    if record is None:
        return None  # the job's own process reports why
    return result(job, record["verdict"], record.get("reason"), record.get("seconds", 0.0), reused=True,
                  **record.get("numbers", {}))


# -- local: one spawned process per job ----------------------------------------------------------
def _watch_parent(parent: int) -> None:
    """Exit when the batch process that started this one is gone (killed, say), so no orphan keeps
    working on a job that a re-run will pick up."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(70)


def _child(job: Job, out_root: str, threads: int, parent: int, conn) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    conn.send(run_job(job, out_root, threads))
    conn.close()


class LocalRunner:
    """Runs jobs ``workers`` at a time, each in a fresh spawned process with its own torch threads."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise EraserError(f"--jobs must be at least 1, got {workers}")
        self.workers = workers
        self._live: set = set()
        self._lock = threading.Lock()

    def describe(self, n: int) -> str:
        return f"{min(n, self.workers)} at a time, each in its own process"

    def _run_one(self, job: Job, out_root: Path, threads: int) -> dict[str, Any]:
        t0 = time.time()
        ctx = mp.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_child, args=(job, str(out_root), threads, os.getpid(), send), name=f"eraser-batch-{job.name}")
        with self._lock:
            p.start()
            self._live.add(p)
        send.close()
        try:
            res = receive.recv()
        except EOFError:  # the process died without answering
            res = None
        p.join()
        with self._lock:
            self._live.discard(p)
        if res is None:
            code = p.exitcode
            how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
            res = result(job, "error", f"the job's process {how} before finishing (out of memory?); run the batch again to retry",
                         time.time() - t0)
        return res

    def run(self, jobs: list[Job], out_root: Path, on_result: OnResult) -> None:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="eraser-batch")
        try:
            pending = {pool.submit(self._run_one, job, out_root, int(job.num_cpus or threads)) for job in jobs}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    on_result(f.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            with self._lock:
                for p in self._live:
                    p.terminate()
            raise
        pool.shutdown()


# -- the batch ---------------------------------------------------------------------------------
def _pending(job: Job) -> dict[str, Any]:
    return result(job, "pending", None, 0.0)


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("pass", "fail", "error", "pending")
    return {k: sum(r["verdict"] == k for r in rows) for k in keys}


def run_batch(manifest: str | Path | Manifest, out: str | Path, jobs: int = 1, ray_address: str | None = None) -> dict[str, Any]:
    """Run every job of a manifest into ``out`` and return the summary (also written as
    ``out/summary.json`` and ``out/summary.md``, updated as each job finishes); progress is logged.

    ``ray_address``: run the jobs as Ray tasks instead (``local`` starts a Ray instance on this
    machine; ``auto`` or ``ray://HOST:PORT`` join a cluster; an already initialised Ray is used as is).
    """
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    out_root = Path(out)
    check_reusable_dir(out_root)
    check_not_inputs({"--out": out_root}, [("MANIFEST", manifest.path)]
                     + [x for job in manifest.jobs for x in erase_inputs(job.generator, job.labeller_files(), None)]
                     + [("--feature-classifier", source_path(c, "classifier")) for job in manifest.jobs for c in job.classifiers])
    out_root.mkdir(exist_ok=True)
    if ray_address is not None:
        from eraser.batch.ray_runner import RayRunner

        runner: Any = RayRunner(ray_address)
    else:
        runner = LocalRunner(jobs)
    t0 = time.time()
    rows = {job.name: _pending(job) for job in manifest.jobs}

    def summary() -> dict[str, Any]:
        ordered = [rows[j.name] for j in manifest.jobs]
        return {"format": "eraser.batch-summary", "format_version": 1, "manifest": str(manifest.path),
                "manifest_sha256": manifest.sha256, "out": str(out_root), "runner": runner.name,
                "seconds": round(time.time() - t0, 2), "counts": _counts(ordered), "jobs": ordered}

    def on_result(r: dict[str, Any]) -> None:
        rows[r["name"]] = r
        write_summary(out_root, summary())
        done = sum(x["verdict"] != "pending" for x in rows.values())
        extra = " (kept from an earlier run)" if r.get("reused") else ""
        why = f": {r['reason']}" if r.get("reason") else ""
        log.info(f"[{done}/{len(rows)}] {r['name']}: {r['verdict']}{extra} in {r['seconds']:.0f} s{why}")

    with batch_lock(out_root):
        write_summary(out_root, summary())
        todo = []
        for job in manifest.jobs:
            done = finished(job, out_root)
            if done is not None:
                on_result(done)
            else:
                todo.append(job)
        if todo:
            log.info(f"running {len(todo)} of {len(manifest.jobs)} jobs ({runner.describe(len(todo))})")
            runner.run(todo, out_root, on_result)
        final = summary()
        write_summary(out_root, final)
        _tidy_staging(out_root, manifest.jobs)
    return final


def _tidy_staging(out_root: Path, jobs: list[Job]) -> None:
    """Remove the staging folders of finished jobs (nothing but their lock file is left in them)."""
    staging = out_root / STAGING
    for job in jobs:
        d = staging / job.name
        if (out_root / job.name).is_dir() and d.is_dir() and {p.name for p in d.iterdir()} <= {".lock"}:
            shutil.rmtree(d, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.rmdir()  # only when empty
