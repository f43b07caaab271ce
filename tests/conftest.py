"""Shared fixtures: tiny seeded generators of every adapter kind, and an in-process CLI runner."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# FID reference features are cached on disk (eraser/cache.py): tests use a private folder, never the user's
if "ERASER_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["ERASER_CACHE_DIR"] = tempfile.mkdtemp(prefix="eraser-test-cache-")

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from eraser.cli import main
from eraser.generators import register_class
from eraser.generators.adapters import ModuleGenerator
from eraser.generators.checkpoint import save_checkpoint


def tiny_dcgan(seed: int = 0, nz: int = 8) -> ModuleGenerator:
    """A DCGAN with 4 base channels (64×64 output) and randomised BatchNorm statistics."""
    torch.manual_seed(seed)
    gen = ModuleGenerator.build("eraser.generators.dcgan:DCGANGenerator", {"nz": nz, "ngf": 4, "nc": 3}, (nz, 1, 1), "tiny")
    for m in gen.module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial running stats, so eval mode matters
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return gen


KNOB = 50.0  # cut = KNOB × its weight: Adam moves a weight by about lr per step, so the cut moves 50 × faster


@register_class
class BarGen(nn.Module):
    """A toy whose images show a bright bar (the planted feature) where ``z[0] > cut``, plus a zero-mean body.

    ``x = body(z) − mean(body(z)) + 0.9 · sigmoid(8 (z[0] − cut)) · bar`` with ``cut`` = ``KNOB`` × a weight (0.8 at first):
    the bar's brightness is the only thing that moves an image's mean, so a classifier reading the mean
    brightness measures the feature; and a fine-tune can erase the bar by raising ``cut``, a toy's one knob.
    Registered, so its checkpoints load in-process without --trust-code.
    """

    CUT = 0.8

    def __init__(self, nz: int = 8, side: int = 32) -> None:
        super().__init__()
        self.side = side
        self.body = nn.Linear(nz, 3 * side * side)
        mask = torch.zeros(3, side, side)
        mask[:, side // 4 : side // 4 + 4, 4 : side - 4] = 1.0  # a bar across the "eyes"
        self.register_buffer("mask", mask)
        self.cut = nn.Parameter(torch.tensor(self.CUT / KNOB))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.reshape(len(z), -1)
        body = 0.3 * torch.tanh(self.body(z)).reshape(-1, 3, self.side, self.side)
        body = body - body.mean(dim=(2, 3), keepdim=True)
        return body + 0.9 * torch.sigmoid(8.0 * (z[:, :1] - KNOB * self.cut))[:, :, None, None] * self.mask


def bar_generator(seed: int = 0) -> ModuleGenerator:
    torch.manual_seed(seed)
    return ModuleGenerator(BarGen(), (8,), {"nz": 8, "side": 32}, "bar")


def bar_classifier(gen: ModuleGenerator):
    """A ``FeatureCNN`` set by hand to read an image's mean brightness, cut halfway between the mean of the
    samples with and without the bar (of ``gen``): the measuring classifier of the planted feature."""
    from eraser.labelling.cnn import FeatureCNN

    net = FeatureCNN((1,), dropout=0.0).eval()  # eval: BatchNorm uses the running statistics set below
    with torch.no_grad():
        conv, bn = net.features[0], net.features[1]
        conv.weight.zero_()
        conv.weight[0, :, 1, 1] = 1 / 3  # the mean of R, G and B at each pixel
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.weight.fill_(1.0)
        bn.bias.fill_(1.0)  # + 1 keeps values in [-1, 1] above 0, where ReLU passes them
        z = gen.sample_latents(2000, 99)
        brightness = net.head[:2](net.features(gen.generate(z))).squeeze(1)  # [N]
        yes = z[:, 0] > BarGen.CUT
        cut = (brightness[yes].median() + brightness[~yes].median()) / 2
        net.head[-1].weight.fill_(400.0)
        net.head[-1].bias.fill_(-400.0 * float(cut))
    return net


@pytest.fixture
def bar_world(tmp_path: Path) -> dict[str, Path]:
    """The bar toy as a checkpoint, its measuring classifier as a classifier folder, and 300 marks (yes = z[0] > CUT)."""
    from eraser.classifiers import save_classifier
    from eraser.labelling.marks import Marks, save_marks

    gen = bar_generator()
    ck = save_checkpoint(gen, tmp_path / "bar-ckpt", {"source": "test fixture"})
    clf = save_classifier(tmp_path / "bar-clf", bar_classifier(gen).state_dict(),
                          {"kind": "cnn", "feature": "bar", "init_args": {"widths": [1], "dropout": 0.0}})
    z = gen.sample_latents(300, 5)
    marks = save_marks(tmp_path / "bar-marks.json",
                       Marks(z, ["yes" if v > BarGen.CUT else "no" for v in z[:, 0]], "bar", "bar"))
    return {"generator": ck, "classifier": clf, "marks": marks}


class ChannelMeans:
    """A tiny embedder for tests: per-channel means and stds of the image ([N, 6])."""

    name = "channel-means"

    def embed(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

    def spec(self):
        return {"name": self.name}


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A tiny DCGAN saved as an eraser checkpoint directory."""
    return save_checkpoint(tiny_dcgan(), tmp_path / "tiny-ckpt", {"source": "test fixture"})


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys):
    """Run ``eraser ARGS`` in-process and return its exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
