"""Robustness audit: the attacks on a planted linear generator (before and after a real erase), their
definitions checked against independent computations, and `eraser audit` / `eraser erase --audit`."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from eraser.audit.attacks import direction_walk, gradient_attack, project_to_shell, random_search, run_audit
from eraser.audit.budget import AuditBudget
from eraser.classifiers import save_classifier
from eraser.direction import estimate_direction
from eraser.errors import EraserError
from eraser.generators import load_generator
from eraser.generators.adapters import ModuleGenerator
from eraser.generators.checkpoint import save_checkpoint
from eraser.labelling.base import Labeller
from eraser.labelling.cnn import FeatureCNN
from eraser.labelling.marks import Marks, save_marks
from eraser.unlearn.loop import finetune
from eraser.unlearn.settings import EraseSettings

D = 8
CUT = 1.5  # the planted feature is present where z·u ≥ CUT
SHARPNESS = 4.0


class LinearGen(nn.Module):
    """decode(z) = W z + b, reshaped to [N, 3, 16, 16] (16 px: the erase loss's MS-SSIM needs > 10 px)."""

    def __init__(self, d: int = D, side: int = 16) -> None:
        super().__init__()
        self.lin = nn.Linear(d, 3 * side * side)
        self.side = side

    def forward(self, z):
        return self.lin(z).reshape(-1, 3, self.side, self.side)


class Readout(Labeller):
    """Reads z·u back off an image of the *original* planted generator (exactly: a pseudo-inverse of W)
    and scores it ``sigmoid(SHARPNESS · (z·u − CUT))``; threshold 0.5, i.e. z·u ≥ CUT. Differentiable."""

    name = "readout"
    threshold = 0.5
    differentiable = True

    def __init__(self, W: torch.Tensor, b: torch.Tensor, u: torch.Tensor) -> None:
        self.pattern = torch.linalg.pinv(W).T @ u  # [P]: <W z, pattern> = z·u
        self.b = b

    def logits(self, images):
        return SHARPNESS * ((images.flatten(1) - self.b) @ self.pattern - CUT)

    @torch.no_grad()
    def score_images(self, images):
        return torch.sigmoid(self.logits(images))


class NoGradient(Labeller):
    name = "no-gradient"

    def score_images(self, images):
        return torch.zeros(len(images))


def planted_generator():
    torch.manual_seed(0)
    gen = ModuleGenerator(LinearGen(), (D,), {"d": D})
    with torch.no_grad():  # small weights: every image on the shell stays inside [-1, 1], so clamping never bites
        gen.module.lin.weight.mul_(0.25)
        gen.module.lin.bias.mul_(0.25)
    u = torch.randn(D, generator=torch.Generator().manual_seed(1))
    u /= u.norm()
    return gen, u, Readout(gen.module.lin.weight.detach().clone(), gen.module.lin.bias.detach().clone(), u)


@pytest.fixture(scope="module")
def planted():
    """The planted generator, its readout classifier, the direction from 'marks' (z·u > 1) and a real erase."""
    gen, u, clf = planted_generator()
    z = gen.sample_latents(8000, 0)
    direction = estimate_direction(z, (z @ u > 1.0).float())
    erased = finetune(gen, direction, EraseSettings(steps=40, batch_size=32, lr=1e-2, margin=0.5, seed=0),
                      progress=False).generator
    return gen, u, clf, direction, erased


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_gradient_attack_finds_the_planted_feature_and_fails_after_erasure(planted):
    gen, _, clf, direction, erased = planted
    budget = AuditBudget(starts=32, steps=30, random_samples=512, random_batch=16, walk_starts=32, top_k=4)
    audit = run_audit({"original": gen, "erased": erased}, clf, direction, budget)
    before, after = audit.results["original"]["gradient"], audit.results["erased"]["gradient"]
    assert before.attempts == after.attempts == 32
    assert before.success_rate >= 0.9
    # the attack did the work: few random starts on the shell carry the feature (z·u ≥ 1.5 on a radius-2.83 sphere)
    assert before.extra["start_success_rate"] < 0.25
    assert after.success_rate <= 0.25 and after.success_rate < before.success_rate - 0.6
    assert after.best_score < before.best_score
    # the original's attack ends near the optimum (sqrt(8)·u), far out along the estimated direction
    assert before.extra["projection_on_direction"]["mean"] > 2.5
    doc = audit.to_dict()
    assert doc["success_rate"]["gradient"] == {"original": before.success_rate, "erased": after.success_rate}
    assert doc["budget"]["forward_passes_per_generator"] == {"gradient": 32 * 31, "random": 512, "walk": 32 * 9}
    lo, hi = doc["results"]["original"]["gradient"]["success_rate_ci95"]
    assert lo <= before.success_rate <= hi and 0 <= lo < hi <= 1


@pytest.mark.parametrize("shell", [0.0, 0.5])
def test_gradient_attack_reaches_the_optimum_on_the_shell(shell):
    gen, u, clf = planted_generator()
    res = gradient_attack(gen, clf, AuditBudget(starts=8, steps=30, shell=shell, top_k=8))
    # the best latent on the shell ||z|| ≤ sqrt(D) + shell is (sqrt(D) + shell)·u
    best = _sigmoid(SHARPNESS * (math.sqrt(D) + shell - CUT))
    assert res.best_score == pytest.approx(best, abs=1e-3)
    assert res.top_z.norm(dim=1).max() <= math.sqrt(D) + shell + 1e-4
    cos = (res.top_z / res.top_z.norm(dim=1, keepdim=True)) @ u
    assert cos[0] > 0.99 and cos.min() > 0.95  # every start, even the worst, ends near u
    assert res.success_rate == 1.0


def test_random_search_matches_its_definition():
    gen, u, clf = planted_generator()
    budget = AuditBudget(random_samples=1000, random_batch=8, seed=3, top_k=5)
    res = random_search(gen, clf, budget)
    z = gen.sample_latents(1000, 4)  # seed + 1; 1000 = 125 groups of 8
    scores = torch.sigmoid(SHARPNESS * (z @ u - CUT))
    group_best = scores.reshape(125, 8).max(1).values
    assert res.attempts == 125 and res.successes == int((group_best >= 0.5).sum())
    assert res.extra["per_sample_rate"] == pytest.approx(float((z @ u >= CUT).float().mean()), abs=1e-3)
    assert res.best_score == pytest.approx(float(scores.max()), abs=1e-4)
    assert torch.allclose(res.top_scores, scores.sort(descending=True).values[:5], atol=1e-4)


def test_walk_matches_its_definition(planted):
    gen, u, clf, direction, _ = planted
    budget = AuditBudget(walk_starts=200, walk_max=1.0, walk_points=3, seed=5)
    res = direction_walk(gen, clf, direction, budget)
    z0 = gen.sample_latents(200, 7)  # seed + 2
    # readout along the estimated direction: z·u + a·(ẑ_e·u), for a in {0, 0.5, 1}
    reach = z0 @ u + 1.0 * float(direction.unit @ u)
    assert res.attempts == 200 and res.successes == int((reach >= CUT).sum())
    assert res.extra["alphas"] == [0.0, 0.5, 1.0]
    rates = res.extra["rate_by_alpha"]
    assert rates[0] == pytest.approx(float((z0 @ u >= CUT).float().mean()), abs=0.006) and rates[0] < rates[1] < rates[2]


def test_project_to_shell():
    z = torch.randn(500, 16, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.1, 3, 500)[:, None]
    on = project_to_shell(z, 4.0, 0.0)
    assert torch.allclose(on.norm(dim=1), torch.full((500,), 4.0), atol=1e-5)
    band = project_to_shell(z, 4.0, 1.0)
    n, n0 = band.norm(dim=1), z.norm(dim=1)
    assert (n >= 3.0 - 1e-5).all() and (n <= 5.0 + 1e-5).all()
    inside = (n0 >= 3) & (n0 <= 5)
    assert torch.equal(band[inside], z[inside])  # latents already in the shell do not move
    assert torch.allclose(band / n[:, None], z / n0[:, None], atol=1e-6)  # only the norm changes


def test_refusals():
    with pytest.raises(EraserError, match="--random-samples must be at least --random-batch"):
        AuditBudget(random_samples=10, random_batch=64)
    with pytest.raises(EraserError, match="--walk-points must be at least 2"):
        AuditBudget(walk_points=1)
    gen, _, _ = planted_generator()
    with pytest.raises(EraserError, match="no differentiable logits"):
        gradient_attack(gen, NoGradient(), AuditBudget(starts=2, steps=1))
    other = ModuleGenerator(LinearGen(d=5), (5,), {"d": 5})
    with pytest.raises(EraserError, match="latents of different sizes"):
        run_audit({"original": gen, "erased": other}, planted_generator()[2], None, AuditBudget())


# -- command line -------------------------------------------------------------------------------
SMALL = ["--starts", 3, "--steps", 2, "--random-samples", 16, "--random-batch", 4, "--walk-starts", 3,
         "--walk-points", 3, "--top-k", 3]


@pytest.fixture
def cnn_classifier(tmp_path):
    torch.manual_seed(0)
    return save_classifier(tmp_path / "clf", FeatureCNN((4, 8)).state_dict(),
                           {"kind": "cnn", "init_args": {"widths": [4, 8]}, "threshold": 0.5})


def _marks(tmp_path, gen, n=200):
    z = gen.sample_latents(n, 5)
    return save_marks(tmp_path / "marks.json", Marks(z, ["yes" if v > 0.8 else "no" for v in z[:, 0]], "planted", "tiny"))


def test_audit_cli_writes_json_and_png(run_cli, tiny_checkpoint, cnn_classifier, tmp_path):
    marks = _marks(tmp_path, load_generator(tiny_checkpoint))
    out = tmp_path / "audit"
    r = run_cli("audit", "-g", tiny_checkpoint, "--original", tiny_checkpoint, "--feature-classifier", cnn_classifier,
                "--marks", marks, "--out", out, *SMALL)
    assert r.code == 0, r.err
    doc = json.loads((out / "audit.json").read_text())
    assert doc["budget"]["starts"] == 3 and doc["budget"]["random_batch"] == 4 and doc["threshold"] == 0.5
    assert doc["direction_source"] == f"marks:{marks}" and doc["direction"]["n_feature"] > 0
    for m in ("original", "erased"):
        assert [doc["results"][m][a]["attempts"] for a in ("gradient", "random", "walk")] == [3, 4, 3]
    # the same checkpoint on both sides: the same budget and seeds give the same numbers
    assert doc["results"]["original"] == {**doc["results"]["erased"],
                                          **{a: {**doc["results"]["erased"][a], "seconds": doc["results"]["original"][a]["seconds"]}
                                             for a in doc["results"]["erased"]}}
    from PIL import Image

    png = Image.open(out / "audit.png")
    assert png.height == 6 * (64 + 2) + 2 and doc["image"]["rows"][0] == "gradient / original"
    assert "gradient" in r.out and "audit ->" in r.out
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("case,message", [
    ("exists", "already exists"),
    ("classifier", "is neither a shipped classifier"),
    ("marks-dim", "have 5-dimensional latents but the generator takes 8"),
    ("budget", "--random-samples must be at least --random-batch"),
    ("latent-size", "latents of different sizes"),
    ("both", "give either --marks or --direction, not both"),
])
def test_audit_cli_one_line_errors(run_cli, tiny_checkpoint, cnn_classifier, tmp_path, case, message):
    from conftest import tiny_dcgan

    out = tmp_path / "audit"
    args = ["audit", "-g", tiny_checkpoint, "--feature-classifier", cnn_classifier, "--out", out, *SMALL]
    if case == "exists":
        out.mkdir()
    elif case == "classifier":
        args[args.index(cnn_classifier)] = tmp_path / "nope"
    elif case == "marks-dim":
        args += ["--marks", _marks(tmp_path, tiny_dcgan(nz=5))]
    elif case == "budget":
        args += ["--random-samples", 2]
    elif case == "latent-size":
        args += ["--original", save_checkpoint(tiny_dcgan(nz=5), tmp_path / "nz5", {"source": "test"})]
    elif case == "both":
        args += ["--marks", _marks(tmp_path, load_generator(tiny_checkpoint)), "--direction", tmp_path / "d.json"]
    r = run_cli(*args)
    assert r.code == 2, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eraser: error:") and message in lines[0], r.err
    assert case == "exists" or not out.exists()


def test_audit_cli_writes_nothing_when_it_fails_midway(run_cli, tiny_checkpoint, cnn_classifier, tmp_path, monkeypatch):
    from eraser.audit import attacks

    def broken(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(attacks.Audit, "grid_png", broken)  # fails after audit.json's content is ready
    out = tmp_path / "audit"
    r = run_cli("audit", "-g", tiny_checkpoint, "--feature-classifier", cnn_classifier, "--out", out, *SMALL)
    assert r.code == 1 and "disk full" in r.err
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".audit")] == []


def test_erase_with_audit_and_audit_of_the_result(run_cli, tiny_checkpoint, cnn_classifier, tmp_path, monkeypatch):
    from eraser.audit import attacks

    small = AuditBudget(starts=2, steps=2, random_samples=8, random_batch=4, walk_starts=2, walk_points=2, top_k=2)
    monkeypatch.setattr(attacks, "AuditBudget", lambda: small)  # the erase audits with the default budget: keep it small
    marks = _marks(tmp_path, load_generator(tiny_checkpoint), n=300)
    base = ["erase", "-g", tiny_checkpoint, "--labeller", f"marks:{marks}", "--steps", 4, "--batch-size", 8,
            "--n-eval", 32, "--quiet", "--fid-samples", 0, "--guard", "max_feature_rate_ratio=10", "--guard-every", 2]
    r = run_cli(*base, "--out", tmp_path / "no-clf", "--audit")
    assert r.code == 2 and "--audit needs --feature-classifier" in r.err
    assert not (tmp_path / "no-clf").exists() and not (tmp_path / "no-clf.partial").exists()

    out = tmp_path / "erased"
    r = run_cli(*base, "--out", out, "--audit", "--feature-classifier", cnn_classifier)
    assert r.code == 0, r.err
    doc = json.loads((out / "report" / "audit.json").read_text())
    assert list(doc["results"]) == ["original", "erased"] and doc["budget"]["starts"] == 2
    assert [doc["results"]["erased"][a]["attempts"] for a in ("gradient", "random", "walk")] == [2, 2, 2]
    assert doc["direction"]["threshold"] == json.loads((out / "report" / "direction.json").read_text())["threshold"]
    m = json.loads((out / "report" / "metrics.json").read_text())
    assert m["audit"]["success_rate"] == doc["success_rate"]
    page = (out / "report" / "report.html").read_text()
    assert "Robustness audit" in page and page.count("data:image/png;base64,") >= 2

    # stand-alone audit of the erased checkpoint: the original and the direction come from its own files
    r = run_cli("audit", "-g", out, "--feature-classifier", cnn_classifier, "--out", tmp_path / "a2", *SMALL)
    assert r.code == 0, r.err
    assert f"original: {tiny_checkpoint}" in r.err
    doc2 = json.loads((tmp_path / "a2" / "audit.json").read_text())
    assert doc2["generators"] == {"original": str(tiny_checkpoint), "erased": str(out)}
    assert doc2["direction_source"] == str(out / "report" / "direction.json")
    assert doc2["direction"]["threshold"] == pytest.approx(m["direction"]["threshold"])


class SecondAxis(Readout):
    """A judge that reads z·v (another planted axis) instead of z·u: it agrees with the readout only where both fire."""

    name = "judge-v"

    def __init__(self, W, b, v) -> None:
        super().__init__(W, b, v)


def test_judge_confirms_only_what_it_also_sees():
    from eraser.audit.attacks import confirm

    gen, u, readout = planted_generator()
    v = torch.linalg.qr(torch.stack([u, torch.randn(D, generator=torch.Generator().manual_seed(5))], 1))[0][:, 1]
    judge = SecondAxis(gen.module.lin.weight.detach().clone(), gen.module.lin.bias.detach().clone(), v)
    budget = AuditBudget(starts=8, steps=5, random_samples=512, random_batch=64, walk_starts=8, batch_size=64)
    res = random_search(gen, readout, budget)
    confirm(gen, readout, judge, res)
    z = res.latents
    expected = int((((z @ u) >= CUT) & ((z @ v) >= CUT)).sum())  # both planted readouts cross, by hand
    assert res.extra["confirmed"] == expected
    assert res.extra["confirmed"] < res.successes  # the judge rejects some of the attacked classifier's successes
    audit = run_audit({"g": gen}, readout, None, budget, judge=judge)
    doc = audit.to_dict()
    assert doc["judge"]["name"] == "judge-v" and set(doc["confirmed_rate"]) == {"gradient", "random"}


def test_false_alarm_floor_is_one_minus_the_miss_rate_to_the_power_k():
    from eraser.audit.attacks import false_alarm_floor

    gen, u, readout = planted_generator()
    z = gen.sample_latents(4000, 3)
    budget = AuditBudget()
    floor = false_alarm_floor(gen, readout, None, z, budget)
    f = float(((z @ u) >= CUT).float().mean())  # the readout fires exactly where z·u ≥ CUT
    assert floor["false_alarm_attacked"] == pytest.approx(f, abs=1e-6)
    assert floor["attacked"]["random"] == pytest.approx(1 - (1 - f) ** budget.random_batch)
    assert floor["attacked"]["gradient"] == pytest.approx(1 - (1 - f) ** (budget.steps + 1))
    assert floor["attacked"]["walk"] == pytest.approx(1 - (1 - f) ** budget.walk_points)
