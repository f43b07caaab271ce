"""Fine-tuning: planted linear generator, a tiny conv generator's loss falls, exact resume, batches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import tiny_dcgan
from eraser.direction import estimate_direction
from eraser.generators.adapters import ModuleGenerator
from eraser.unlearn.loop import batch_latents, finetune
from eraser.unlearn.objective import erase_loss
from eraser.unlearn.settings import EraseSettings


class LinearGen(nn.Module):
    """decode(z) = W z + b, reshaped to [N, 3, side, side]."""

    def __init__(self, d: int = 8, side: int = 16) -> None:
        super().__init__()
        self.lin = nn.Linear(d, 3 * side * side)
        self.side = side

    def forward(self, z):
        return self.lin(z).reshape(-1, 3, self.side, self.side)


def planted_linear(d=8, seed=0):
    torch.manual_seed(seed)
    gen = ModuleGenerator(LinearGen(d), (d,), {"d": d})
    with torch.no_grad():
        gen.module.lin.weight.mul_(0.5)
    u = torch.randn(d, generator=torch.Generator().manual_seed(seed + 1))
    return gen, u / u.norm()


def test_planted_linear_generator():
    gen, u = planted_linear()
    z = gen.sample_latents(8000, 0)
    direction = estimate_direction(z, (z @ u > 1.0).float())
    assert torch.dot(direction.unit, u) >= 0.99
    W, b = gen.module.lin.weight.detach(), gen.module.lin.bias.detach()  # [P, D], [P]
    pattern = W @ u / (W @ u).square().sum()  # <G(z) − b, pattern> = z·u: the feature read off an image

    def feature(g, z):
        return (g.generate(z).flatten(1) - b) @ pattern

    basis = torch.linalg.qr((W @ u)[:, None])[0]  # [P, 1]

    def orthogonal(g, z):  # the output with the feature's image pattern removed
        x = g.generate(z).flatten(1)
        return x - (x @ basis) @ basis.T

    res = finetune(gen, direction, EraseSettings(method="paper", steps=150, batch_size=64, lr=3e-3, margin=0.5, seed=0),
                   progress=False)
    zt = gen.sample_latents(2000, 1)
    side = direction.project(zt) >= direction.threshold
    before, after = feature(gen, zt), feature(res.generator, zt)
    assert before[side].mean() > direction.threshold + 0.4
    assert after[side].mean() < direction.threshold  # the feature is pushed below threshold where it was
    drift = (orthogonal(res.generator, zt) - orthogonal(gen, zt)).abs().mean()
    scale = orthogonal(gen, zt).abs().mean()
    assert drift < 0.1 * scale  # the rest of the image stays
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_tiny_conv_generator_loss_falls():
    gen = tiny_dcgan()
    z = gen.sample_latents(600, 0)
    y = (z[:, 0] > 0.8).float()
    direction = estimate_direction(z, y)
    res = finetune(gen, direction, EraseSettings(steps=30, batch_size=16, lr=2e-3, seed=0), progress=False)
    first = sum(r["loss"] for r in res.history[:5]) / 5
    last = sum(r["loss"] for r in res.history[-5:]) / 5
    assert last < 0.7 * first
    # the original generator is untouched
    assert torch.equal(gen.generate(z[:4]), tiny_dcgan().generate(z[:4]))


def test_loss_is_zero_for_identical_generators_on_the_keep_side():
    gen = tiny_dcgan()
    z = gen.sample_latents(400, 0)
    direction = estimate_direction(z, (z[:, 0] > 0.8).float())
    keep = z[direction.project(z) < direction.threshold][:8]
    parts = erase_loss(gen, gen, direction, keep)
    assert parts.n_shifted == 0 and parts.total.item() == 0.0


def test_batches_split_at_the_threshold():
    gen = tiny_dcgan()
    z = gen.sample_latents(400, 0)
    direction = estimate_direction(z, (z[:, 0] > 0.8).float())
    s = EraseSettings(method="paper", batch_size=20, feature_fraction=0.25, seed=3)
    b = batch_latents(7, s, gen.latent_dim, direction)
    assert torch.equal(b, batch_latents(7, s, gen.latent_dim, direction))
    assert not torch.equal(b, batch_latents(8, s, gen.latent_dim, direction))
    p = direction.project(b)
    assert (p[:5] >= direction.threshold).all() and (p[5:] < direction.threshold).all()


@pytest.mark.parametrize("method", ["paper", "deep"])
def test_resume_after_interrupt_gives_identical_weights(tmp_path, method):
    """Weights, Adam state, the learning-rate schedule and the deep method's mined latents all resume."""
    from eraser.unlearn.detector import fit_detector

    gen = tiny_dcgan()
    z = gen.sample_latents(400, 0)
    y = (z[:, 0] > 0.8).float()
    direction = estimate_direction(z, y)
    detector = fit_detector(z, y, iters=50).detector if method == "deep" else None
    s = EraseSettings(method=method, steps=12, batch_size=8, lr=1e-3, checkpoint_every=5, seed=1, mine_every=3,
                      mine_candidates=16, mine_keep=4)
    full = finetune(gen, direction, s, progress=False, detector=detector).generator

    def kill_at_8(step, g, rec):
        if step == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(gen, direction, s, work_dir=tmp_path, progress=False, on_step=kill_at_8, detector=detector)
    resumed = finetune(gen, direction, s, work_dir=tmp_path, progress=False, detector=detector)
    assert resumed.resumed_from == 5
    for (k, a), b in zip(full.state_dict().items(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b), k
    assert len(resumed.history) == 12


def test_resume_refuses_other_settings(tmp_path):
    from eraser.errors import EraserError

    gen = tiny_dcgan()
    z = gen.sample_latents(400, 0)
    direction = estimate_direction(z, (z[:, 0] > 0.8).float())
    finetune(gen, direction, EraseSettings(steps=5, batch_size=4, checkpoint_every=5), work_dir=tmp_path, progress=False)
    with pytest.raises(EraserError, match="other settings"):
        finetune(gen, direction, EraseSettings(steps=5, batch_size=4, checkpoint_every=5, lr=1.0), work_dir=tmp_path,
                 progress=False)
