"""A new labeller kind, defined and registered once in this module, runs through the CLI, a batch manifest
and the notebook's erase panel without any other file knowing it; an unknown kind is one clear error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_dcgan

from eraser.errors import EraserError
from eraser.generators import save_checkpoint
from eraser.io import sha256_file
from eraser.labelling import Labeller, LabellerKind, LabellerSpec, make_labeller, register_kind

CHANNEL = 1
N_LABEL = 400  # the erase labels N_LABEL prior samples (seed 1000); the median brightness splits them in half


class BrightLabeller(Labeller):
    """Scores an image by how bright one of its channels is: ``sigmoid(50 · (mean − cut))``."""

    def __init__(self, channel: int, cut: float, name: str) -> None:
        super().__init__(name, threshold=0.5, feature="brightness")
        self.channel, self.cut = channel, cut

    def score_images(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(50 * (images[:, self.channel].mean(dim=(1, 2)) - self.cut))


class BrightKind(LabellerKind):
    """``bright:SETTINGS.json`` with ``{"channel": C, "cut": X}``."""

    name, syntax = "bright", "bright:SETTINGS.json"

    def files(self, arg: str) -> dict[str, Path]:
        return {"settings": Path(arg)}

    def resolve(self, arg: str, base: Path) -> str:
        p = Path(arg) if Path(arg).is_absolute() else base / arg
        if not p.is_file():
            raise EraserError(f"brightness settings {p} not found")
        return str(p)

    def build(self, arg: str, device: str) -> Labeller:
        cfg = json.loads(Path(arg).read_text())
        return BrightLabeller(cfg["channel"], cfg["cut"], name=f"bright:{arg}")


register_kind(BrightKind())  # the one registration: everything below goes through it

FAST = ["--steps", "2", "--batch-size", "4", "--n-eval", "16", "--fid-samples", "0", "--guard-every", "0",
        "--guard", "min_ms_ssim=0", "--quiet"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kinds")
    gen = tiny_dcgan()
    save_checkpoint(gen, root / "tiny", {"source": "test fixture"})
    x = gen.generate(gen.sample_latents(N_LABEL, 1000))
    cut = float(x[:, CHANNEL].mean(dim=(1, 2)).median())
    (root / "bright.json").write_text(json.dumps({"channel": CHANNEL, "cut": cut}))
    return root


def test_the_kind_parses_and_builds_through_the_registry(world):
    spec = LabellerSpec.parse(f"bright:{world / 'bright.json'}")
    assert spec.kind == "bright" and spec.files() == {"settings": world / "bright.json"}
    lab = make_labeller(str(spec))
    assert isinstance(lab, BrightLabeller) and lab.feature == "brightness" and not lab.labels_only_known_latents
    assert lab.clean_threshold == lab.threshold == 0.5 and not lab.differentiable


def test_the_cli_erases_and_labels_with_it(world, tmp_path, run_cli):
    spec = f"bright:{world / 'bright.json'}"
    r = run_cli("erase", "-g", world / "tiny", "--labeller", spec, "--n-label", N_LABEL, "--out", tmp_path / "e", *FAST)
    assert r.code == 0, r.err
    assert f"labelled {N_LABEL} samples with {spec}" in r.err
    prov = json.loads((tmp_path / "e" / "provenance.json").read_text())
    assert prov["labeller"] == spec and prov["feature"] == "brightness"
    r = run_cli("label", "-g", world / "tiny", "--labeller", spec, "--n", 32, "--out", tmp_path / "scores.json")
    assert r.code == 0, r.err
    doc = json.loads((tmp_path / "scores.json").read_text())
    assert doc["labeller"] == spec and doc["n"] == 32
    # its input file is an input: the CLI refuses to write over it
    r = run_cli("label", "-g", world / "tiny", "--labeller", spec, "--n", 4, "--out", world / "bright.json")
    assert r.code == 2 and "refusing to overwrite the input --labeller settings" in r.err


def test_a_batch_manifest_runs_it_in_its_own_process_and_hashes_its_file(world, tmp_path):
    from eraser.batch import load_manifest, run_batch

    manifest = world / "kinds.toml"
    manifest.write_text(f"""
[defaults]
n_eval = 16
n_label = {N_LABEL}
fid_samples = 0
guard_every = 0
guard_clean = 16
guard_eval = 16
[defaults.settings]
steps = 2
batch_size = 4
[defaults.guards]
min_ms_ssim = 0.0

[[jobs]]
name = "bright"
generator = "tiny"
labeller = "bright:bright.json"
""")
    m = load_manifest(manifest)
    assert str(m.jobs[0].labeller) == f"bright:{world / 'bright.json'}" and m.jobs[0].labeller_modules == [__name__]
    summary = run_batch(m, tmp_path / "out")  # the job runs in a spawned process, which imports this module
    assert summary["counts"]["pass"] == 1, summary["jobs"]
    record = json.loads((tmp_path / "out" / "bright" / "batch-job.json").read_text())
    assert record["inputs"]["labeller"]["sha256"] == {"settings": sha256_file(world / "bright.json")}


def test_the_notebook_erase_panel_runs_it(world, tmp_path):
    pytest.importorskip("ipywidgets")
    from eraser import notebook as nb
    from eraser.generators import load_generator

    gen = load_generator(str(world / "tiny"))
    session = nb.MarkingSession(gen, "brightness", tmp_path / "marks.json")
    panel = nb.ErasePanel(session, str(world / "tiny"), tmp_path / "nb-erase", steps=2, fid_samples=0, n_eval=16,
                          labeller=f"bright:{world / 'bright.json'}",
                          options={"n_label": N_LABEL, "guard_every": 0, "guard_clean": 16, "guard_eval": 16},
                          settings={"batch_size": 4})
    lines: list[str] = []
    outcome = panel.run(log=lines.append)
    assert outcome.passed, outcome.message
    assert any(f"labelled {N_LABEL} samples with bright:" in ln for ln in lines)
    assert abs(outcome.result.metrics.direction["n_feature"] - N_LABEL // 2) <= 1  # the median splits them


def test_an_unknown_kind_is_one_clear_line_everywhere(world, tmp_path, run_cli):
    with pytest.raises(EraserError, match="no labeller spec kind 'nope' is registered"):
        LabellerSpec.parse("nope:x")
    r = run_cli("erase", "-g", world / "tiny", "--labeller", "nope:x", "--out", tmp_path / "e", *FAST)
    assert r.code == 2 and r.err.strip().splitlines()[-1].startswith("eraser: error: labeller 'nope:x' is not one of")
    assert "bright:SETTINGS.json" in r.err  # the message lists the registered kinds
    from eraser.batch import ManifestError, load_manifest

    bad = world / "bad.toml"
    bad.write_text('[[jobs]]\nname = "x"\ngenerator = "tiny"\nlabeller = "nope:eyeglasses"\n')
    with pytest.raises(ManifestError) as info:
        load_manifest(bad)
    (problem,) = info.value.problems
    assert problem.line == 4 and "no labeller spec kind 'nope' is registered" in problem.message  # never rewritten as clip:
