"""Run batch jobs as Ray tasks (the optional extra ``eraser[ray]``): one task per job, with the CPUs
and GPUs its ``resources`` ask for.

Every worker must see the same files as the driver (the manifest's inputs and the output folder):
one machine, or a cluster with a shared file system and eraser installed on every node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eraser.batch.job import result, run_job
from eraser.batch.manifest import Job
from eraser.errors import EraserError


def _task(job: Job, out_root: str, threads: int) -> dict[str, Any]:
    return run_job(job, out_root, threads)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise EraserError("--ray-address needs Ray: pip install 'eraser[ray]' (or run without it for local processes)") from None
    return ray


class RayRunner:
    """Submits every job at once and lets Ray schedule them by their resource requests."""

    name = "ray"

    def __init__(self, address: str = "local") -> None:
        self.address = address
        self.ray = _import_ray()

    def describe(self, n: int) -> str:
        return f"as Ray tasks on {self.address}"

    def _init(self) -> bool:
        """Connect (or start a local instance); True when this runner started Ray and must stop it."""
        if self.ray.is_initialized():
            return False
        # a local Ray gives its raylet 30 s to start, which a busy machine can miss once: one more try
        for attempt in (1, 2) if self.address == "local" else (2,):
            try:
                if self.address == "local":
                    self.ray.init(include_dashboard=False, log_to_driver=False)
                else:
                    self.ray.init(address=self.address, log_to_driver=False)
                return True
            except Exception as e:  # ConnectionError and friends: one line
                self.ray.shutdown()  # whatever the failed start left running
                if attempt == 2:
                    msg = " ".join(str(e).split())[:300]
                    raise EraserError(f"cannot start or reach Ray at {self.address!r} ({type(e).__name__}: {msg}); "
                                      "give --ray-address local, auto or ray://HOST:PORT") from None
        return True

    def run(self, jobs: list[Job], out_root: Path, on_result) -> None:
        ray = self.ray
        started = self._init()
        try:
            have = ray.cluster_resources()
            task = ray.remote(_task)
            refs: dict[Any, Job] = {}
            for job in jobs:
                cpus = 1.0 if job.num_cpus is None else job.num_cpus
                short = [f"{need:g} {kind}" for kind, need in (("CPU", cpus), ("GPU", job.num_gpus)) if need > have.get(kind, 0)]
                if short:
                    on_result(result(job, "error", f"asks for {' and '.join(short)} but the Ray cluster has "
                                     f"{have.get('CPU', 0):g} CPU and {have.get('GPU', 0):g} GPU; lower its resources", 0.0))
                    continue
                ref = task.options(num_cpus=cpus, num_gpus=job.num_gpus, max_retries=0,
                                   name=f"eraser-batch:{job.name}").remote(job, str(out_root), max(1, int(cpus)))
                refs[ref] = job
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        res = ray.get(ref)
                    except ray.exceptions.RayError as e:  # the worker died or the task was cancelled
                        msg = " ".join(str(e).split())[:300]
                        res = result(refs[ref], "error", f"Ray task failed ({type(e).__name__}: {msg})", 0.0)
                    on_result(res)
        finally:
            if started:
                ray.shutdown()
