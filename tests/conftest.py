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

from eraser.cli import main
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
