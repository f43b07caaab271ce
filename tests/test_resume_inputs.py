"""An interrupted erase resumes only from the inputs it was started with.

The state in ``OUT.partial/train_state.pt`` records digests of the generator's weights, the labels
and the direction; a re-run with another generator, other marks or another direction is refused in
one line that names what changed and how to start over, and leaves the state as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_dcgan

from eraser.cli import main
from eraser.direction import estimate_direction
from eraser.errors import EraserError
from eraser.generators import save_checkpoint
from eraser.io import sha256_file
from eraser.labelling.marks import Marks, save_marks
from eraser.resume import read_train_state, resume_key
from eraser.unlearn.loop import STATE_FILE, finetune
from eraser.unlearn.monitor import GuardMonitor
from eraser.unlearn.settings import EraseSettings

ERASE = ["erase", "--quiet", "--steps", "51", "--batch-size", "4", "--n-eval", "4", "--fid-samples", "0",
         "--guard-every", "0", "--guard", "min_ms_ssim=0"]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> Path:
    """A world whose erase into ``e`` was interrupted after the state of step 50 was saved."""
    root = tmp_path_factory.mktemp("resume-world")
    gen = tiny_dcgan()
    save_checkpoint(gen, root / "ck", {"source": "test"})
    save_checkpoint(tiny_dcgan(seed=1), root / "ck2", {"source": "test"})
    z = gen.sample_latents(200, 5)
    save_marks(root / "marks.json", Marks(z, ["yes" if v > 0.5 else "no" for v in z[:, 0]], "a", "tiny"))
    save_marks(root / "other.json", Marks(z, ["yes" if v > 0.5 else "no" for v in z[:, 1]], "b", "tiny"))
    original = GuardMonitor.__call__

    def stop_at_51(self, step, g_new, record):
        if step == 51:
            raise KeyboardInterrupt
        return original(self, step, g_new, record)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GuardMonitor, "__call__", stop_at_51)
        code = main(ERASE + ["-g", str(root / "ck"), "-l", f"marks:{root / 'marks.json'}", "--out", str(root / "e")])
    assert code == 130 and (root / "e.partial" / STATE_FILE).is_file() and not (root / "e").exists()
    return root


def _args(root: Path, *change: str) -> list[str]:
    base = {"-g": str(root / "ck"), "-l": f"marks:{root / 'marks.json'}", "--out": str(root / "e")}
    extra = list(change)
    for flag in list(base):
        if flag in extra:
            i = extra.index(flag)
            base[flag] = extra.pop(i + 1).replace("{R}", str(root))
            extra.pop(i)
    return ERASE + [x for kv in base.items() for x in kv] + extra


@pytest.mark.parametrize("change,named", [
    (("-g", "{R}/ck2"), "other generator weights;"),
    (("-l", "marks:{R}/other.json"), "other labels and direction;"),
    (("--direction", "linear-classifier"), "other direction;"),
], ids=["other-generator", "other-marks", "other-direction"])
def test_resume_with_other_inputs_is_refused(interrupted, tmp_path, run_cli, change, named):
    root = tmp_path / "w"
    shutil.copytree(interrupted, root)
    state = root / "e.partial" / STATE_FILE
    before = sha256_file(state)
    r = run_cli(*_args(root, *change))
    assert r.code == 2, r.err
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("eraser: error:") and "Traceback" not in r.err
    assert f"holds an erase started with {named}" in last, last
    assert f"remove {root / 'e.partial'} to start over" in last
    assert sha256_file(state) == before and not (root / "e").exists()


def test_resume_with_the_same_inputs_continues(interrupted, tmp_path, run_cli):
    root = tmp_path / "w"
    shutil.copytree(interrupted, root)
    r = run_cli(*_args(root))
    assert r.code == 0, r.err
    assert "resumed from step 50" in r.err
    assert (root / "e" / "model.safetensors").is_file() and not (root / "e.partial").exists()


# -- the same, in the library -------------------------------------------------------------------
def _setup():
    gen = tiny_dcgan()
    z = gen.sample_latents(64, 1)
    y = (z[:, 0] > 0).float()
    return gen, z, y, estimate_direction(z, y)


def test_finetune_refuses_a_state_started_from_other_inputs(tmp_path):
    gen, z, y, direction = _setup()
    settings = EraseSettings(steps=4, batch_size=4, checkpoint_every=2)
    key = resume_key(gen, z, y, direction)

    def stop_at_3(step, g_new, record):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(gen, direction, settings, work_dir=tmp_path, progress=False, on_step=stop_at_3, resume_key=key)
    other = tiny_dcgan(seed=7)
    with pytest.raises(EraserError, match="other generator weights; rerun with the inputs it was started with"):
        finetune(other, direction, settings, work_dir=tmp_path, progress=False,
                 resume_key=resume_key(other, z, y, direction))
    flipped = 1 - y
    with pytest.raises(EraserError, match="other labels;"):
        finetune(gen, direction, settings, work_dir=tmp_path, progress=False, resume_key=resume_key(gen, z, flipped, direction))
    assert finetune(gen, direction, settings, work_dir=tmp_path, progress=False, resume_key=key).resumed_from == 2


def test_state_without_a_record_of_its_inputs_is_refused(tmp_path):
    gen, z, y, direction = _setup()
    settings = EraseSettings(steps=2, batch_size=4, checkpoint_every=2)
    finetune(gen, direction, settings, work_dir=tmp_path, progress=False)  # no key: as an older eraser wrote it
    state = tmp_path / STATE_FILE
    assert torch.load(state, weights_only=True)["resume_key"] is None
    from dataclasses import asdict

    with pytest.raises(EraserError, match="does not record which inputs it was started from; remove"):
        read_train_state(state, resume_key(gen, z, y, direction), settings=asdict(settings))


# -- resume with guard evaluations ----------------------------------------------------------------
def test_interrupted_erase_with_guard_evaluations_resumes_to_the_uninterrupted_result(bar_world, tmp_path, caplog):
    """Guards evaluated every 2 steps, state saved every 3; stopped at step 8 (state of step 6 on disk) and run
    again: the same guard history, the same kept step and the same weights as an erase that was never stopped.
    The preservation limit is set between the MS-SSIM of steps 6 and 8, so the kept state is one evaluated
    before the interruption: a resumed erase that forgot it would keep nothing and fail its guards. (guard_clean
    covers all the feature-free marks, so the final preservation guard measures the kept state on the same
    latents as the guard evaluations did.)"""
    from dataclasses import replace

    from eraser.generators import load_generator
    from eraser.guards import GuardLimits
    from eraser.pipeline import EraseRequest, run_erase

    def request(out, limits=GuardLimits()):
        return EraseRequest(str(bar_world["generator"]), f"marks:{bar_world['marks']}", out,
                            EraseSettings(method="paper", steps=10, batch_size=8, lr=2e-3, checkpoint_every=3),
                            feature_classifier=str(bar_world["classifier"]), n_eval=256, fid_samples=0,
                            guard_every=2, guard_clean=256, guard_eval=256, progress=False, limits=limits)

    probe = run_erase(request(tmp_path / "probe")).metrics.guard_evaluations
    assert [e.step for e in probe] == [2, 4, 6, 8, 10] and all(e.feature_rate is not None for e in probe)
    ssim = {e.step: e.ms_ssim for e in probe}
    assert ssim[6] > ssim[8] > ssim[10]  # preservation falls as the erase goes on
    limits = replace(GuardLimits(), min_ms_ssim=(ssim[6] + ssim[8]) / 2)
    whole = run_erase(request(tmp_path / "whole", limits))
    assert whole.metrics.kept_step == 6 and [e.passed for e in whole.metrics.guard_evaluations][3:] == [False, False]

    original = GuardMonitor.__call__

    def stop_at_8(self, step, g_new, record):
        if step == 8:
            raise KeyboardInterrupt
        return original(self, step, g_new, record)

    out = tmp_path / "resumed"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GuardMonitor, "__call__", stop_at_8)
        with pytest.raises(KeyboardInterrupt):
            run_erase(request(out, limits))
    assert torch.load(out.with_name("resumed.partial") / STATE_FILE, weights_only=True)["step"] == 6
    caplog.clear()
    with caplog.at_level("INFO", logger="eraser"):
        again = run_erase(request(out, limits))
    assert "resumed from step 6" in caplog.text
    assert again.metrics.guard_evaluations == whole.metrics.guard_evaluations
    assert again.metrics.kept_step == 6 and again.verdict == "pass"
    a, b = load_generator(tmp_path / "whole").state_dict(), load_generator(out).state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
