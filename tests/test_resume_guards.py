"""An interrupted erase, resumed, keeps the guard history and the kept state an uninterrupted one keeps.

The guard monitor's evaluations and kept state are saved with the training state
(``OUT.partial/train_state.pt``), so the evaluations made before the interruption are not lost.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from conftest import tiny_dcgan

from eraser.classifiers import save_classifier
from eraser.errors import EraserError
from eraser.generators import save_checkpoint
from eraser.guards import GuardLimits
from eraser.io import sha256_file
from eraser.labelling.cnn import FeatureCNN
from eraser.labelling.marks import Marks, save_marks
from eraser.pipeline import EraseRequest, run_erase
from eraser.unlearn.loop import STATE_FILE
from eraser.unlearn.monitor import GuardMonitor
from eraser.unlearn.settings import EraseSettings


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume-guards")
    gen = tiny_dcgan()
    save_checkpoint(gen, root / "ck", {"source": "test"})
    z = gen.sample_latents(160, 5)
    save_marks(root / "marks.json", Marks(z, ["yes" if v > 0.5 else "no" for v in z[:, 0]], "a", "tiny"))
    torch.manual_seed(0)
    net = FeatureCNN((4, 8))
    with torch.no_grad():
        net.head[-1].bias.fill_(0.3)  # an untrained net that calls about half the samples positive
    save_classifier(root / "clf", net.state_dict(), {"kind": "cnn", "init_args": {"widths": [4, 8]}})
    return root


def _request(root, out) -> EraseRequest:
    # the state is saved at steps 4 and 8; the guards are evaluated at 2, 4, 6, 8 and 9
    return EraseRequest(generator=str(root / "ck"), labeller=f"marks:{root / 'marks.json'}", out=out,
                        settings=EraseSettings(steps=9, batch_size=4, checkpoint_every=4), feature_classifier=str(root / "clf"),
                        n_eval=16, guard_every=2, guard_clean=8, guard_eval=64, fid_samples=0, progress=False,
                        limits=GuardLimits(min_ms_ssim=0.0, max_feature_rate_ratio=10.0))


def test_resumed_erase_keeps_the_uninterrupted_guard_history_and_state(world, tmp_path, monkeypatch):
    whole = run_erase(_request(world, tmp_path / "whole"))
    assert whole.passed and [e.step for e in whole.metrics.guard_evaluations] == [2, 4, 6, 8, 9]

    original = GuardMonitor.__call__

    def stop_at_7(self, step, g_new, record):
        if step == 7:  # after the state of step 4 was saved, and the guards were evaluated at 2, 4 and 6
            raise KeyboardInterrupt
        return original(self, step, g_new, record)

    with monkeypatch.context() as mp:
        mp.setattr(GuardMonitor, "__call__", stop_at_7)
        with pytest.raises(KeyboardInterrupt):
            run_erase(_request(world, tmp_path / "resumed"))
    state = torch.load(tmp_path / "resumed.partial" / STATE_FILE, weights_only=True)
    assert state["step"] == 4 and [e["step"] for e in state["monitor"]["evaluations"]] == [2, 4]

    resumed = run_erase(_request(world, tmp_path / "resumed"))
    assert resumed.passed
    assert resumed.metrics.guard_evaluations == whole.metrics.guard_evaluations  # steps, numbers, passed, kept
    assert resumed.metrics.kept_step == whole.metrics.kept_step
    assert sha256_file(tmp_path / "resumed" / "model.safetensors") == sha256_file(tmp_path / "whole" / "model.safetensors")
    a, b = (json.loads((tmp_path / d / "report" / "metrics.json").read_text()) for d in ("whole", "resumed"))
    a.pop("timings_s"), b.pop("timings_s")
    assert a == b


def test_a_damaged_monitor_state_is_refused(world, tmp_path, monkeypatch):
    original = GuardMonitor.__call__

    def stop_at_5(self, step, g_new, record):
        if step == 5:
            raise KeyboardInterrupt
        return original(self, step, g_new, record)

    with monkeypatch.context() as mp:
        mp.setattr(GuardMonitor, "__call__", stop_at_5)
        with pytest.raises(KeyboardInterrupt):
            run_erase(_request(world, tmp_path / "e"))
    path = tmp_path / "e.partial" / STATE_FILE
    state = torch.load(path, weights_only=True)
    for broken in ({**state["monitor"], "evaluations": [{"step": "two"}]}, None):
        bad = dict(state)
        if broken is None:
            del bad["monitor"]
        else:
            bad["monitor"] = broken
        torch.save(bad, path)
        with pytest.raises(EraserError, match="guard monitor state"):
            run_erase(replace(_request(world, tmp_path / "e")))
