"""One batch job: hash its inputs, run the erase, and commit its folder with a record and checksums.

Layout under the batch's output folder ``OUT``:

* ``OUT/NAME/``: a finished job, complete or absent. A passing job holds the erased checkpoint and
  ``report/``; a job whose guards failed holds ``report/`` only. Both hold ``batch-job.json`` (the
  verdict, the inputs' sha256 and the manifest entry) and ``SHA256SUMS`` (every other file, in
  ``sha256sum -c`` format).
* ``OUT/.staging/NAME/``: work in progress: the erase's output and its resumable ``.partial`` state,
  the job's log and a lock file. A job moves to ``OUT/NAME`` with one rename when done.

A job that could not run (a corrupt checkpoint, a bad label file, a crash) leaves no ``OUT/NAME``:
its reason goes to the batch summary, and a re-run tries it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eraser.version import __version__
from eraser.batch.manifest import Job
from eraser.errors import EraserError
from eraser.io import read_json_object, sha256_file, write_json
from eraser.validate import source_path

RECORD = "batch-job.json"
SUMS = "SHA256SUMS"
STAGING = ".staging"
RECORD_FORMAT = "eraser.batch-job"


# -- inputs -----------------------------------------------------------------------------------
def sha256_tree(path: Path) -> str:
    """sha256 of a file, or of a folder as the sorted list of its files' relative paths and sha256s."""
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts)):
        h.update(f"{sha256_file(f)}  {f.relative_to(path).as_posix()}\n".encode())
    return h.hexdigest()


def input_hashes(job: Job) -> dict[str, Any]:
    """sha256 of everything a job reads: generator, labeller files (whatever its kind's ``files()`` names),
    measuring classifier, manifest entry.

    A missing file hashes as None (the job then fails when it tries to read it). CLIP weights taken
    from a model cache, not a ``checkpoint=`` file, are named by the spec alone.
    """

    def h(p: Path) -> str | None:
        return sha256_tree(p) if p.exists() else None

    out: dict[str, Any] = {
        "generator": {"source": job.entry.get("generator"), "sha256": h(source_path(job.generator, "generator"))},
        "labeller": {"spec": job.entry.get("labeller"),
                     "sha256": {k: h(p) for k, p in job.labeller_files().items()}},
        "manifest_entry_sha256": job.entry_sha256(),
    }
    if job.feature_classifier:  # one classifier: its hash; several: one hash each, in order
        hashes = [h(source_path(c, "classifier")) for c in job.classifiers]
        out["feature_classifier"] = {"source": job.entry.get("feature_classifier"),
                                     "sha256": hashes if isinstance(job.feature_classifier, list) else hashes[0]}
    return out


# -- checksums --------------------------------------------------------------------------------
def write_sums(directory: Path) -> None:
    """``SHA256SUMS`` of every file under ``directory`` (itself excluded), as ``sha256sum`` writes it."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != SUMS)
    lines = [f"{sha256_file(f)}  {f.relative_to(directory).as_posix()}" for f in files]
    (directory / SUMS).write_text("\n".join(lines) + "\n")


def check_sums(directory: Path) -> str | None:
    """None when every file matches ``SHA256SUMS`` and no file is unlisted; else what is wrong."""
    sums = directory / SUMS
    if not sums.is_file():
        return f"{sums} is missing"
    listed: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            return f"{sums} has a malformed line {line!r}"
        listed[name] = digest
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file() and p.name != SUMS}
    if missing := sorted(set(listed) - present):
        return f"{directory / missing[0]} is listed in {SUMS} but missing"
    if extra := sorted(present - set(listed)):
        return f"{directory / extra[0]} is not listed in {SUMS}"
    for name, digest in listed.items():
        if sha256_file(directory / name) != digest:
            return f"{directory / name} does not match its sha256 in {SUMS}"
    return None


def check_finished(directory: Path, inputs: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` when ``directory`` is a finished job made from ``inputs`` with intact files,
    else ``(None, why not)``."""
    problem = check_sums(directory)
    if problem:
        return None, problem
    try:
        record = read_json_object(directory / RECORD, "batch job record")
    except EraserError as e:
        return None, str(e)
    if record.get("format") != RECORD_FORMAT or not isinstance(record.get("inputs"), dict):
        return None, f"{directory / RECORD} is not a batch job record"
    if record.get("inputs") != inputs:
        changed = [k for k in inputs if record["inputs"].get(k) != inputs[k]]
        return None, f"it was made from other inputs (changed: {', '.join(changed) or 'fields'})"
    return record, None


# -- running ----------------------------------------------------------------------------------
@contextlib.contextmanager
def job_lock(staging: Path) -> Iterator[None]:
    """Hold an exclusive lock on the job's staging folder; waits while another process (say a worker
    of a killed batch that has not yet noticed) still holds it."""
    staging.mkdir(parents=True, exist_ok=True)
    with open(staging / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def result(job: Job, verdict: str, reason: str | None, seconds: float, **extra: Any) -> dict[str, Any]:
    """A job's line in the batch summary."""
    return {"name": job.name, "line": job.line, "generator": job.entry.get("generator"),
            "labeller": job.entry.get("labeller"), "feature": job.feature, "verdict": verdict, "reason": reason,
            "seconds": round(seconds, 2), **extra}


def run_job(job: Job, out_root: str | Path, threads: int | None = None) -> dict[str, Any]:
    """Run ``job`` in this process and commit ``OUT/NAME``; never raises: failures come back as a result.

    Verdicts: ``pass`` (checkpoint written), ``fail`` (guards failed: report only), ``error`` (the job
    could not run; no folder). A finished, intact folder made from the same inputs is kept as it is.
    """
    t0 = time.time()
    out_root = Path(out_root)
    final, staging = out_root / job.name, out_root / STAGING / job.name
    try:
        with job_lock(staging):
            return _run_locked(job, final, staging, threads, t0)
    except Exception as e:  # never let one job take the batch down
        return result(job, "error", _one_line(e), time.time() - t0)


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return msg if isinstance(e, EraserError) else f"internal error: {type(e).__name__}: {msg}"


def _run_locked(job: Job, final: Path, staging: Path, threads: int | None, t0: float) -> dict[str, Any]:
    from eraser.labelling.spec import import_kind_modules
    from eraser.logs import forwarded
    from eraser.results import summary_numbers

    import_kind_modules(job.labeller_modules)  # a kind registered by the batch's own code, in this fresh process
    inputs = input_hashes(job)
    if final.exists():
        record, why = check_finished(final, inputs)
        if record is None:
            return result(job, "error", f"{final} exists but {why}; move it away to run this job again",
                          time.time() - t0)
        return result(job, record["verdict"], record.get("reason"), record.get("seconds", 0.0), reused=True,
                      **record.get("numbers", {}))
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))
    out = staging / "result"
    # an erase that finished while its batch was killed before the commit, or the temporary folder of
    # one killed while writing: redo it (its training state in result.partial is kept)
    for stale in [out, *staging.glob(".result.*.tmp")]:
        if stale.exists():
            shutil.rmtree(stale)
    log_path = staging / "log.txt"
    with open(log_path, "a") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {socket.gethostname()} pid {os.getpid()}\n")

        def say(msg: str) -> None:
            log.write(msg + "\n")
            log.flush()

        try:
            from eraser.pipeline import run_erase

            with forwarded(say):  # the erase's messages go to the job's log
                erased = run_erase(job.request(out))
        except Exception as e:
            say(traceback.format_exc())
            return result(job, "error", _one_line(e), time.time() - t0, log=str(log_path))
        verdict = erased.verdict
        # its report will be in OUT/NAME, not where the erase wrote it
        reason = None if erased.passed else " ".join(erased.failure.split()).replace(str(out), str(final))
        say(f"verdict {verdict} after {time.time() - t0:.1f} s")
    seconds = time.time() - t0
    numbers = summary_numbers(erased.metrics, erased.guards)
    shutil.copyfile(log_path, out / "batch-log.txt")
    write_json(out / RECORD, {
        "format": RECORD_FORMAT, "format_version": 1, "name": job.name, "verdict": verdict, "reason": reason,
        "seconds": round(seconds, 2), "numbers": numbers, "inputs": inputs, "entry": job.entry,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname(),
        "eraser_version": __version__,
    })
    write_sums(out)
    os.replace(out, final)  # the commit: OUT/NAME appears complete
    shutil.rmtree(staging / "result.partial", ignore_errors=True)
    log_path.unlink(missing_ok=True)
    return result(job, verdict, reason, seconds, **numbers)
