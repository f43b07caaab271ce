"""`eraser batch`: manifest validation with line numbers, local and Ray runners, resume, checksums, isolation."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_dcgan

from eraser.batch import ManifestError, load_manifest, run_batch
from eraser.batch.job import SUMS, check_sums, sha256_tree
from eraser.generators.checkpoint import save_checkpoint
from eraser.labelling.marks import Marks, save_marks
from eraser.logs import forwarded

# every job of these tests is a few steps on a tiny DCGAN, so the whole module runs in well under a minute
FAST = """
[defaults]
n_eval = 16
fid_samples = 0
guard_every = 0
guard_clean = 16
guard_eval = 16
[defaults.settings]
steps = 2
batch_size = 4
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A folder with a tiny checkpoint, a corrupt copy of it, and two marks files (two 'features')."""
    root = tmp_path_factory.mktemp("batch-world")
    gen = tiny_dcgan()
    save_checkpoint(gen, root / "tiny", {"source": "test fixture"})
    z = gen.sample_latents(120, 5)
    for name, col in (("glasses", 0), ("smile", 1)):
        labels = ["yes" if v else "no" for v in (z[:, col] > 0.6)]
        save_marks(root / f"{name}.json", Marks(z, labels, name, "tiny"))
    shutil.copytree(root / "tiny", root / "corrupt")
    weights = root / "corrupt" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-9] ^= 0xFF  # one flipped byte inside the last tensor
    weights.write_bytes(bytes(data))
    return root


JOBS = FAST + """
[[jobs]]
name = "glasses"
generator = "tiny"
labeller = "marks:glasses.json"
feature = "glasses"

[[jobs]]
name = "smile-strict"
generator = "tiny"
labeller = "marks:smile.json"
[jobs.guards]
min_ms_ssim = 1.01

[[jobs]]
name = "broken"
generator = "corrupt"
labeller = "marks:glasses.json"
"""
EXPECTED = {"glasses": "pass", "smile-strict": "fail", "broken": "error"}


def _manifest(world: Path, name: str, text: str) -> Path:
    path = world / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def local_run(world, tmp_path_factory):
    """The three-job manifest run once with the local runner, two jobs at a time."""
    out = tmp_path_factory.mktemp("local") / "out"
    lines: list[str] = []
    with forwarded(lines.append):
        summary = run_batch(_manifest(world, "jobs.toml", JOBS), out, jobs=2)
    return out, summary, lines


# -- manifest ---------------------------------------------------------------------------------
BAD = """[defaults]
fid_samples = -1

[[jobs]]
name = "a"
generator = "tiny"
labeller = "marks:glasses.json"
stepz = 3
[jobs.settings]
steps = "60"
lr = 0

[[jobs]]
name = "a"
generator = "no-such-model"
labeller = "glasses"
[jobs.guards]
min_ssim = 0.9

[[jobs]]
generator = "tiny"
labeller = "marks:missing.json"
"""


def test_manifest_reports_every_problem_with_its_line(world):
    with pytest.raises(ManifestError) as info:
        load_manifest(_manifest(world, "bad.toml", BAD))
    assert {p.where for p in info.value.problems} == {"defaults", "job 'a'", "job #3"}
    lines = sorted((p.line, p.message) for p in info.value.problems)
    assert [ln for ln, _ in lines] == [2, 8, 9, 10, 14, 15, 16, 18, 20, 22]
    msg = dict(lines)
    assert msg[2].startswith("fid_samples must be at least 0")
    assert msg[8].startswith("unknown field 'stepz'")
    assert msg[9] == "settings: learning rate must be positive"  # EraseSettings' own check, at the settings table
    assert msg[10] == "settings.steps must be an integer, got '60'"
    assert msg[14] == "name is already used by the job on line 4"
    assert "'no-such-model' is neither a shipped model (digiface-dcgan64" in msg[15]
    assert msg[16].startswith("labeller 'glasses' is not one of")
    assert msg[18].startswith("unknown field guards.min_ssim (known: min_ms_ssim")
    assert msg[20] == "needs a 'name' (its output folder)"
    assert msg[22].startswith("labeller: marks file") and "missing.json not found" in msg[22]
    text = str(info.value)
    assert text.startswith(f"manifest {world / 'bad.toml'} has 10 problems; nothing was run:")
    assert f"{world / 'bad.toml'}:15: job 'a': generator" in text


def test_manifest_syntax_error_names_its_line(world):
    with pytest.raises(ManifestError, match=r"bad2\.toml:3: not valid TOML"):
        load_manifest(_manifest(world, "bad2.toml", '[[jobs]]\nname = "a"\ngenerator = \n'))
    with pytest.raises(ManifestError, match=r"bad2\.yaml:3: not valid YAML"):
        load_manifest(_manifest(world, "bad2.yaml", "jobs:\n  - name: a\n    generator: tiny: x\n"))


YAML = """
defaults:
  n_eval: 16
  fid_samples: 0
  guard_every: 0
  guard_clean: 16
  guard_eval: 16
  settings: {steps: 2, batch_size: 4}
jobs:
  - name: glasses
    generator: tiny
    labeller: marks:glasses.json
    feature: glasses
  - name: smile-strict
    generator: tiny
    labeller: marks:smile.json
    guards:
      min_ms_ssim: 1.01
  - name: broken
    generator: corrupt
    labeller: marks:glasses.json
"""


def test_yaml_manifest_equals_toml_and_paths_resolve_beside_it(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths are read beside the manifest, not in the working folder
    t, y = load_manifest(_manifest(world, "jobs.toml", JOBS)), load_manifest(_manifest(world, "jobs.yaml", YAML))
    assert [j.name for j in t.jobs] == [j.name for j in y.jobs] == list(EXPECTED)
    assert [j.entry_sha256() for j in t.jobs] == [j.entry_sha256() for j in y.jobs]
    assert [j.line for j in t.jobs] == [12, 18, 25] and [j.line for j in y.jobs] == [10, 14, 19]
    g = t.jobs[0]
    assert g.generator == str(world / "tiny") and str(g.labeller) == f"marks:{world / 'glasses.json'}"
    assert g.settings == {"steps": 2, "batch_size": 4} and t.jobs[1].guards == {"min_ms_ssim": 1.01}
    req = g.request(tmp_path / "o")
    assert req.settings.steps == 2 and req.n_eval == 16 and req.fid_samples == 0 and not req.progress
    with pytest.raises(ManifestError) as info:
        load_manifest(_manifest(world, "bad.yaml", YAML.replace("min_ms_ssim: 1.01", "min_ms_ssim: high")
                                .replace("settings: {steps: 2", "settings: {stepz: 2")))
    assert sorted((p.line, p.message.split(" (")[0]) for p in info.value.problems) == [
        (8, "unknown field settings.stepz"), (18, "guards.min_ms_ssim must be a number, got 'high'")]


def test_request_options_match_erase_request():
    from dataclasses import fields

    from eraser.batch.manifest import REQUEST_OPTIONS
    from eraser.pipeline import EraseRequest

    defaults = {f.name: f.default for f in fields(EraseRequest)}
    assert {k: type(defaults.get(k)) for k in REQUEST_OPTIONS} == {k: t for k, (t, _, _) in REQUEST_OPTIONS.items()}


def test_cli_refuses_a_bad_manifest_before_any_work(run_cli, world, tmp_path):
    out = tmp_path / "out"
    r = run_cli("batch", _manifest(world, "bad.toml", BAD), "--out", out)
    assert r.code == 2 and "has 10 problems; nothing was run" in r.err and "Traceback" not in r.err
    assert len([ln for ln in r.err.splitlines() if "bad.toml:" in ln]) == 10
    assert not out.exists()


# -- local runner -----------------------------------------------------------------------------
def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_local_batch_verdicts_outputs_and_isolation(local_run, world):
    out, summary, lines = local_run
    assert {r["name"]: r["verdict"] for r in summary["jobs"]} == EXPECTED
    assert summary["counts"] == {"pass": 1, "fail": 1, "error": 1, "pending": 0}
    assert _summary(out) == summary
    rows = {r["name"]: r for r in summary["jobs"]}
    # the corrupt checkpoint fails alone, with its reason, and leaves no folder
    assert "corrupt/model.safetensors does not match the sha256 in its provenance.json" in rows["broken"]["reason"]
    assert not (out / "broken").exists()
    # the passing job is a loadable checkpoint; the failing one holds its report only
    from eraser.generators import load_generator

    erased = load_generator(out / "glasses")
    z = erased.sample_latents(2, 0)
    assert not torch.equal(erased.generate(z), load_generator(world / "tiny").generate(z))
    assert not (out / "smile-strict" / "model.safetensors").exists()
    assert (out / "smile-strict" / "report" / "report.html").is_file()
    assert "preservation" in rows["smile-strict"]["reason"] and str(out / "smile-strict" / "report") in rows["smile-strict"]["reason"]
    for name in ("glasses", "smile-strict"):
        d = out / name
        assert check_sums(d) is None
        assert subprocess.run(["sha256sum", "--quiet", "-c", SUMS], cwd=d, check=False).returncode == 0  # the standard tool agrees
        rec = json.loads((d / "batch-job.json").read_text())
        assert rec["verdict"] == EXPECTED[name] and rec["inputs"]["generator"]["sha256"] == sha256_tree(world / "tiny")
        assert rec["inputs"]["labeller"]["sha256"]["marks"] == sha256_tree(world / f"{name.split('-')[0]}.json")
        g = {x["name"]: x for x in rows[name]["guards"]}
        assert g["preservation"]["value"] == pytest.approx(rows[name]["ms_ssim"]) and 0.5 < rows[name]["ms_ssim"] <= 1
        assert g["preservation"]["passed"] is (name == "glasses")
    md = (out / "summary.md").read_text()
    assert "1 passed, 1 failed their guards, 1 could not run" in md
    assert md.count("\n| ") == 5 and "| broken | **ERROR** |" in md and "| glasses | **pass** |" in md
    assert sum("[" in ln and "/3]" in ln for ln in lines) == 3
    assert not (out / ".staging" / "glasses").exists()  # staging of committed jobs is tidied


def test_rerun_keeps_verified_jobs_and_refuses_changed_ones(local_run, world, tmp_path, run_cli):
    src, _, _ = local_run
    out = tmp_path / "out"
    shutil.copytree(src, out)
    before = {p: p.stat().st_mtime_ns for p in (out / "glasses").rglob("*")}
    manifest = world / "jobs.toml"
    r = run_cli("batch", manifest, "--out", out)
    assert r.code == 3 and "2 of 3 jobs did not pass: smile-strict (fail); broken (error)" in r.err
    rows = {x["name"]: x for x in _summary(out)["jobs"]}
    assert rows["glasses"]["reused"] and rows["smile-strict"]["reused"] and not rows["broken"].get("reused")
    assert {n: x["verdict"] for n, x in rows.items()} == EXPECTED
    assert {p: p.stat().st_mtime_ns for p in (out / "glasses").rglob("*")} == before  # not rewritten
    # a modified output file is caught by its checksum; the folder is left as it is
    cfg = out / "glasses" / "config.json"
    cfg.write_text(cfg.read_text() + " ")
    s = run_batch(manifest, out)
    g = s["jobs"][0]
    assert g["verdict"] == "error" and "config.json does not match its sha256 in SHA256SUMS" in g["reason"]
    assert cfg.read_text().endswith(" ")
    # a changed manifest entry is not mistaken for the finished job
    changed = _manifest(world, "changed.toml", JOBS.replace("steps = 2", "steps = 3"))
    s = run_batch(changed, out)
    assert "made from other inputs (changed: manifest_entry_sha256)" in s["jobs"][1]["reason"]


def test_check_sums_catches_missing_and_extra_files(tmp_path):
    from eraser.batch.job import write_sums

    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a")
    (d / "sub" / "b.bin").write_bytes(b"\x00\x01")
    write_sums(d)
    assert check_sums(d) is None
    assert (d / SUMS).read_text().splitlines()[1].endswith("  sub/b.bin")
    (d / "c").write_text("c")
    assert check_sums(d) == f"{d / 'c'} is not listed in {SUMS}"
    (d / "c").unlink()
    (d / "a.txt").unlink()
    assert check_sums(d) == f"{d / 'a.txt'} is listed in {SUMS} but missing"


def _wait_for(cond, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_killed_batch_resumes_and_every_output_verifies(world, tmp_path):
    manifest = _manifest(world, "kill.toml", FAST + "".join(
        f'\n[[jobs]]\nname = "j{i}"\ngenerator = "tiny"\nlabeller = "marks:glasses.json"\n'
        f"[jobs.settings]\nsteps = {steps}\ncheckpoint_every = 5\n" for i, steps in enumerate((2, 60, 2))))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "eraser.cli", "batch", str(manifest), "--out", str(out)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: (out / "j0").is_dir() or proc.poll() is not None, 600, "the first job's folder")
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)  # the batch process only: its job's process must notice and stop
        proc.wait()
        lock = out / ".staging" / "j1" / ".lock"
        if lock.exists():  # the orphaned job process releases its lock when it exits
            with open(lock) as f:
                _wait_for(lambda: _try_lock(f), 30, "the orphaned job process to exit")
        assert not (out / "j2").exists()
        s = run_batch(manifest, out)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert [r["verdict"] for r in s["jobs"]] == ["pass"] * 3
    assert [bool(r.get("reused")) for r in s["jobs"]] == [True, False, False]
    for i in range(3):
        assert check_sums(out / f"j{i}") is None
        assert subprocess.run(["sha256sum", "--quiet", "-c", SUMS], cwd=out / f"j{i}", check=False).returncode == 0
    assert not (out / ".staging").exists()


def _try_lock(f) -> bool:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(f, fcntl.LOCK_UN)
    return True


def test_second_batch_on_the_same_folder_is_refused(world, tmp_path):
    from eraser.batch.runner import batch_lock
    from eraser.errors import EraserError

    out = tmp_path / "out"
    out.mkdir()
    with batch_lock(out), pytest.raises(EraserError, match="another eraser batch is writing into"):
        run_batch(_manifest(world, "jobs.toml", JOBS), out)


# -- Ray --------------------------------------------------------------------------------------
def test_ray_runner_starts_its_own_ray_and_gives_the_local_verdicts(local_run, world, tmp_path):
    """``--ray-address local``: the runner starts Ray itself, runs every job as a Ray task, and stops the Ray it
    started."""
    import ray

    assert not ray.is_initialized()
    _, local, _ = local_run
    out = tmp_path / "ray-out"
    s = run_batch(_manifest(world, "jobs.yaml", YAML), out, ray_address="local")
    assert s["runner"] == "ray"
    assert [(r["name"], r["verdict"]) for r in s["jobs"]] == [(r["name"], r["verdict"]) for r in local["jobs"]]
    for a, b in zip(s["jobs"], local["jobs"]):
        assert [g["passed"] for g in a.get("guards", [])] == [g["passed"] for g in b.get("guards", [])]
        if a["verdict"] != "error":  # same seeds, same numbers
            assert a["ms_ssim"] == pytest.approx(b["ms_ssim"], abs=1e-4)
    assert "does not match the sha256" in s["jobs"][2]["reason"]
    assert check_sums(out / "glasses") is None
    assert not ray.is_initialized()  # it started Ray, so it stopped it


class FakeRay:
    """Stands in for the ``ray`` module: records ``init`` calls, and fails them with ``error``."""

    def __init__(self, error: Exception | None = None, initialized: bool = False) -> None:
        self.calls: list[dict] = []
        self.error, self.initialized, self.shutdowns = error, initialized, 0

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs) -> None:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        self.initialized = True

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.initialized = False


@pytest.mark.parametrize("address", ["auto", "ray://head:10001", "local"])
def test_ray_address_reaches_ray_init_and_a_failure_is_one_line(run_cli, world, tmp_path, monkeypatch, address):
    from eraser.batch import ray_runner

    fake = FakeRay(ConnectionError("Could not find any running Ray instance.\nPlease specify the address"))
    monkeypatch.setattr(ray_runner, "_import_ray", lambda: fake)
    out = tmp_path / "out"
    r = run_cli("batch", _manifest(world, "jobs.toml", JOBS), "--out", out, "--ray-address", address)
    assert r.code == 2, r.err
    last = r.err.strip().splitlines()[-1]
    assert last == (f"eraser: error: cannot start or reach Ray at {address!r} (ConnectionError: Could not find any "
                    "running Ray instance. Please specify the address); give --ray-address local, auto or ray://HOST:PORT")
    if address == "local":  # started here: with no address, tried twice (a busy machine can miss the first start)
        assert fake.calls == [{"include_dashboard": False, "log_to_driver": False}] * 2
    else:
        assert fake.calls == [{"address": address, "log_to_driver": False}]
    assert not any((out / name).exists() for name in EXPECTED)


def test_an_initialised_ray_is_used_as_it_is_and_left_running(world, tmp_path, monkeypatch):
    from eraser.batch import ray_runner

    fake = FakeRay(initialized=True)
    monkeypatch.setattr(ray_runner, "_import_ray", lambda: fake)
    runner = ray_runner.RayRunner("ray://elsewhere:1")
    assert runner._init() is False and fake.calls == [] and fake.shutdowns == 0


def test_an_unreadable_marks_file_is_an_error_not_a_smaller_resume_key(world, tmp_path):
    """The job's inputs hash the marks file and the latents file it names; if the marks file cannot be read,
    the job fails in one line naming it, instead of hashing without its latents."""
    from eraser.batch.job import input_hashes
    from eraser.errors import EraserError

    shutil.copy(world / "glasses.json", tmp_path / "glasses.json")
    shutil.copy(world / "glasses.latents.npy", tmp_path / "glasses.latents.npy")
    manifest = _manifest(tmp_path, "m.toml", FAST + f'\n[[jobs]]\nname = "g"\ngenerator = "{world / "tiny"}"\n'
                         'labeller = "marks:glasses.json"\n')
    job = load_manifest(manifest).jobs[0]
    from eraser.batch.job import run_job

    hashes = input_hashes(job)["labeller"]["sha256"]
    assert hashes == {"marks": sha256_tree(tmp_path / "glasses.json"), "latents": sha256_tree(tmp_path / "glasses.latents.npy")}
    (tmp_path / "glasses.json").write_text('{"format": "eraser.marks", ')  # damaged after the manifest was checked
    with pytest.raises(EraserError, match=r"marks file .*glasses\.json is not valid JSON") as e:
        input_hashes(job)
    assert "\n" not in str(e.value)
    row = run_job(job, tmp_path / "out")  # the job's line in the summary
    assert row["verdict"] == "error" and "glasses.json is not valid JSON" in row["reason"]
    assert not (tmp_path / "out" / "g").exists()
