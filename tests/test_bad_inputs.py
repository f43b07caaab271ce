"""Hostile but ordinary input to every command: each case must end in one clear line and exit 2.

Every case copies a small world of valid inputs (checkpoints, marks, latents, a classifier, images,
a manifest), spoils one thing, runs the CLI in-process and asserts: exit code 2, exactly one line on
stderr, no traceback, and not one file added, removed or changed anywhere in the world (sha256 of
every file before and after), so no partial output and every input byte-identical; and no warning
(which a user would see as one more line).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from conftest import tiny_dcgan

from eraser import registry
from eraser.classifiers import save_classifier
from eraser.generators import save_checkpoint
from eraser.generators.adapters import VAEGenerator
from eraser.io import sha256_file
from eraser.labelling.cnn import FeatureCNN
from eraser.labelling.marks import Marks, save_marks
from eraser.nets.vae import ConvVAE

D = 8  # latent size of the tiny generators


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Valid inputs of every kind, built once; each case works on its own copy."""
    root = tmp_path_factory.mktemp("bad-inputs-world")
    gen = tiny_dcgan(nz=D)
    save_checkpoint(gen, root / "ck", {"source": "test"})
    save_checkpoint(tiny_dcgan(seed=1, nz=D), root / "erased", {"source": "test", "erased_from": {"generator": str(root / "ck")}})
    report = root / "erased" / "report"
    report.mkdir()
    unit = [1.0] + [0.0] * (D - 1)
    (report / "direction.json").write_text(json.dumps(_direction(unit)))
    (report / "training.json").write_text(json.dumps({"history": [{"step": 1, "loss": 1.0, "loss_shifted": 0.5, "loss_keep": 0.5}]}))
    (report / "metrics.json").write_text(json.dumps({"guard_evaluations": [{"step": 1, "ms_ssim": 0.99}]}))
    (root / "d.json").write_text(json.dumps(_direction(unit)))
    torch.manual_seed(0)
    vae = VAEGenerator(ConvVAE(latent_dim=D, ch=4), (D,), {"latent_dim": D, "ch": 4}, "tiny-vae")
    save_checkpoint(vae, root / "vae", {"source": "test"})
    z = gen.sample_latents(40, 5)
    save_marks(root / "marks.json", Marks(z, ["yes" if v > 0 else "no" for v in z[:, 0]], "planted", "tiny"))
    np.save(root / "z.npy", gen.sample_latents(4, 0).numpy())
    save_classifier(root / "clf", FeatureCNN((4, 8)).state_dict(), {"kind": "cnn", "init_args": {"widths": [4, 8]}})
    (root / "imgs").mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64), "white").save(root / "imgs" / "ok.png")
    safetensors.torch.save_file({k: v.contiguous() for k, v in gen.state_dict().items()}, str(root / "w.safetensors"))
    torch.jit.save(torch.jit.script(gen.module), str(root / "ts.pt"))
    (root / "notes.txt").write_text("a file, not a folder\n")
    (root / "jobs.toml").write_text(f'[[jobs]]\nname = "a"\ngenerator = "ck"\nlabeller = "marks:marks.json"\n')
    return root


def _direction(unit: list[float]) -> dict:
    return {"unit": unit, "threshold": 0.0, "method": "mean-difference", "mean_proj_feature": 1.0, "mean_proj_none": -1.0,
            "n_feature": 20, "n_none": 20, "heldout_auc": 0.9, "n_heldout": 10}


# -- ways to spoil the world --------------------------------------------------------------------
def edit_json(rel: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Replace the JSON file ``rel`` by ``change(its content)`` (a returned None means: changed in place)."""

    def setup(root: Path) -> None:
        doc = json.loads((root / rel).read_text())
        new = change(doc)
        (root / rel).write_text(json.dumps(doc if new is None else new))

    return setup


def write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def marks_latents(make: Callable[[Path], None]) -> Callable[[Path], None]:
    """Replace the marks' latents file (``make(path)`` writes it) and record its new sha256, so the
    content itself is what gets checked."""

    def setup(root: Path) -> None:
        lat = root / "marks.latents.npy"
        make(lat)
        edit_json("marks.json", lambda d: d.update(latents_sha256=sha256_file(lat)))(root)

    return setup


def npy(arr: np.ndarray, **kw) -> Callable[[Path], None]:
    return lambda path: np.save(path, arr, **kw)


def npz(path: Path) -> None:
    with open(path, "wb") as f:  # a .npz archive under a .npy name
        np.savez(f, a=np.zeros(3))


def torch_save(obj: object, rel: str = "e.partial/train_state.pt") -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        torch.save(obj, root / rel)

    return setup


def mkdir(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).mkdir(parents=True)


def symlink(rel: str, target: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).symlink_to(root / target)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` pixels but whose data stops after a few bytes
    (a decompression bomb's calling card, or a truncated download)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def bad_state() -> dict:
    return {"step": 1, "model": {"w": "not a tensor"}, "optimizer": {}, "history": [], "settings": {}}


# -- the cases ------------------------------------------------------------------------------------
G = "-g {R}/ck"
M = "-l marks:{R}/marks.json"
ERASE = f"erase {G} {M} --quiet --steps 2 --n-eval 4 --fid-samples 0"
EVAL = "evaluate -a {R}/ck -b {R}/erased --n-eval 4 --fid-samples 0"
AUDIT = "audit --feature-classifier {R}/clf --starts 1 --steps 1 --random-samples 1 --random-batch 1 --walk-starts 1"
PROBE = f"probe train {G} --marks {{R}}/marks.json"
CLASS = '-g {R}/w.safetensors --class eraser.generators.dcgan:DCGANGenerator --init-args {"nz":8,"ngf":4}'
INSIDE = "inside the input"
SHIPPED = registry.resolve("digiface-dcgan64", "generator")

CASES: list[tuple[str, str, Callable[[Path], None] | None, str]] = [
    # 1. outputs that are, or lie inside, an input of the same command
    ("sample-out-is-weights", f"sample {G} --format npy --out {{R}}/ck/model.safetensors", None, INSIDE),
    ("sample-latents-out-is-config", f"sample {G} --out {{R}}/s.png --latents-out {{R}}/ck/config.json", None, INSIDE),
    ("sample-out-is-latents", f"sample {G} --latents {{R}}/z.npy --out {{R}}/z.npy", None, "overwrite the input --latents"),
    ("sample-latents-out-is-latents", f"sample {G} --latents {{R}}/z.npy --out {{R}}/s.png --latents-out {{R}}/z.npy", None,
     "overwrite the input --latents"),
    ("sample-out-symlink-into-ck", f"sample {G} --format npy --out {{R}}/link.npy", symlink("link.npy", "ck/model.safetensors"),
     INSIDE),
    ("sample-latents-out-in-shipped-model", f"sample -g digiface-dcgan64 --out {{R}}/s.png --latents-out {SHIPPED}/x.npy", None,
     INSIDE),
    ("label-latents-beside-out-is-input", f"label {G} {M} --latents {{R}}/s.latents.npy --out {{R}}/s.json",
     write("s.latents.npy", b""), "overwrite the input --latents"),
    ("label-out-in-ck", f"label {G} {M} --out {{R}}/ck/l.json", None, INSIDE),
    ("label-out-is-marks", f"label {G} {M} --out {{R}}/marks.json", None, "overwrite the input --labeller marks"),
    ("label-latents-beside-out-are-marks-latents", f"label {G} {M} --out {{R}}/marks", None,
     "overwrite the input --labeller latents"),
    ("grid-out-in-ck", f"marks grid {G} --n 4 --out {{R}}/ck/grids", None, INSIDE),
    ("grid-out-in-images", "marks grid -g {R}/vae --images {R}/imgs --out {R}/imgs/grids", None, INSIDE),
    ("suggest-out-in-ck", f"marks suggest {G} --marks {{R}}/marks.json --out {{R}}/ck/s", None, INSIDE),
    ("suggest-out-is-marks-latents", f"marks suggest {G} --marks {{R}}/marks.json --out {{R}}/marks.latents.npy", None,
     "overwrite the input --marks latents"),
    ("probe-out-in-ck", f"{PROBE} --out {{R}}/ck/p", None, INSIDE),
    ("erase-out-in-ck", f"{ERASE} --out {{R}}/ck/e", None, INSIDE),
    ("erase-out-in-classifier", f"{ERASE} --feature-classifier {{R}}/clf --out {{R}}/clf/e", None, INSIDE),
    ("erase-out-contains-inputs", f"{ERASE} --out {{R}}", None, "lies inside it"),
    ("evaluate-out-in-erased", f"{EVAL} --out {{R}}/erased/eval", None, INSIDE),
    ("evaluate-out-in-original", f"{EVAL} --out {{R}}/ck/eval", None, INSIDE),
    ("audit-out-in-generator", f"{AUDIT} {G} --out {{R}}/ck/audit", None, INSIDE),
    ("audit-out-in-original-from-provenance", f"{AUDIT} -g {{R}}/erased --out {{R}}/ck/audit", None, "input --original"),
    ("audit-out-is-direction", f"{AUDIT} {G} --direction {{R}}/d.json --out {{R}}/d.json", None, "overwrite the input --direction"),
    ("batch-out-in-job-generator", "batch {R}/jobs.toml --out {R}/ck/b", None, INSIDE),
    ("batch-out-contains-manifest", "batch {R}/jobs.toml --out {R}", None, "lies inside it"),
    # 2. outputs under a file, or of the wrong kind
    ("sample-out-under-file", f"sample {G} --out {{R}}/notes.txt/s.png", None, "notes.txt is a file"),
    ("label-out-under-file", f"label {G} {M} --out {{R}}/notes.txt/l.json", None, "notes.txt is a file"),
    ("grid-out-under-file", f"marks grid {G} --n 4 --out {{R}}/notes.txt/g", None, "notes.txt is a file"),
    ("erase-out-under-file", f"{ERASE} --out {{R}}/notes.txt/e", None, "notes.txt is a file"),
    ("evaluate-out-under-file", f"{EVAL} --out {{R}}/notes.txt/e", None, "notes.txt is a file"),
    ("audit-out-under-file", f"{AUDIT} {G} --out {{R}}/notes.txt/a", None, "notes.txt is a file"),
    ("batch-out-under-file", "batch {R}/jobs.toml --out {R}/notes.txt/b", None, "notes.txt is a file"),
    ("batch-out-is-file", "batch {R}/jobs.toml --out {R}/notes.txt", None, "is a file, not a folder"),
    ("label-out-is-folder", f"label {G} {M} --out {{R}}/labels", mkdir("labels"), "is a folder"),
    ("sample-out-is-folder", f"sample {G} --out {{R}}/s.png", mkdir("s.png"), "is a folder"),
    ("sample-latents-out-is-folder", f"sample {G} --out {{R}}/s.png", mkdir("s.latents.npy"), "is a folder"),
    ("evaluate-out-exists", f"{EVAL} --out {{R}}/taken", mkdir("taken"), "already exists"),
    ("probe-out-exists", f"{PROBE} --out {{R}}/taken", mkdir("taken"), "already exists"),
    # 3. an interrupted erase's state that eraser did not write
    ("erase-partial-is-file", f"{ERASE} --out {{R}}/e", write("e.partial", "x"), "is a file"),
    ("erase-state-garbage", f"{ERASE} --out {{R}}/e", write("e.partial/train_state.pt", os.urandom(64)), "not a training state"),
    ("erase-state-pickled-object", f"{ERASE} --out {{R}}/e", write("e.partial/train_state.pt", pickle.dumps(Path("x"))),
     "not a training state"),
    ("erase-state-torch-object", f"{ERASE} --out {{R}}/e", torch_save({"step": Path("x")}), "not a training state"),
    ("erase-state-list", f"{ERASE} --out {{R}}/e", torch_save([1, 2, 3]), "not a training state"),
    ("erase-state-missing-fields", f"{ERASE} --out {{R}}/e", torch_save({"step": 1}), "not a training state"),
    ("erase-state-weights-not-tensors", f"{ERASE} --out {{R}}/e", torch_save(bad_state()), "not tensors"),
    ("erase-state-is-folder", f"{ERASE} --out {{R}}/e", mkdir("e.partial/train_state.pt"), "is not a file"),
    # 4. files whose content is not what eraser wrote
    ("audit-provenance-list", f"{AUDIT} -g {{R}}/erased --out {{R}}/a", write("erased/provenance.json", "[]"), "JSON list"),
    ("audit-provenance-erased-from-string", f"{AUDIT} -g {{R}}/erased --out {{R}}/a",
     edit_json("erased/provenance.json", lambda d: d.update(erased_from="ck")), "'erased_from' must be an object"),
    ("sample-provenance-sha-number", f"sample {G} --out {{R}}/s.png",
     edit_json("ck/provenance.json", lambda d: d.update(weights_sha256=5)), "'weights_sha256'"),
    ("sample-config-list", f"sample {G} --out {{R}}/s.png", write("ck/config.json", "[1]"), "JSON list"),
    ("sample-config-class-number", f"sample {G} --out {{R}}/s.png", edit_json("ck/config.json", lambda d: d.update({"class": 5})),
     "'class'"),
    ("sample-config-init-args-list", f"sample {G} --out {{R}}/s.png", edit_json("ck/config.json", lambda d: d.update(init_args=[8])),
     "'init_args'"),
    ("sample-config-init-args-negative", f"sample {G} --out {{R}}/s.png",
     edit_json("ck/config.json", lambda d: d["init_args"].update(nz=-3)), "cannot build"),
    ("sample-config-latent-shape-string", f"sample {G} --out {{R}}/s.png",
     edit_json("ck/config.json", lambda d: d.update(latent_shape="8,1,1")), "'latent_shape'"),
    ("sample-config-latent-shape-zero", f"sample {G} --out {{R}}/s.png",
     edit_json("ck/config.json", lambda d: d.update(latent_shape=[0])), "'latent_shape'"),
    ("sample-config-kind-list", f"sample {G} --out {{R}}/s.png", edit_json("ck/config.json", lambda d: d.update(kind=[])),
     "unknown generator kind"),
    ("sample-config-class-outside-eraser", f"sample {G} --out {{R}}/s.png",
     edit_json("ck/config.json", lambda d: d.update({"class": "json.decoder:JSONDecoder"})), "--trust-code"),
    ("sample-config-architecture-path", f"sample {G} --out {{R}}/s.png",
     edit_json("ck/config.json", lambda d: d.update(kind="torchscript", architecture="../ts.pt")), "'architecture'"),
    ("evaluate-direction-list", f"{EVAL} --out {{R}}/e", write("erased/report/direction.json", "[]"), "JSON list"),
    ("evaluate-direction-wrong-dimension", f"{EVAL} --out {{R}}/e",
     edit_json("erased/report/direction.json", lambda d: d.update(unit=[1.0] * 5)), "has 5 dimensions"),
    ("evaluate-training-list", f"{EVAL} --out {{R}}/e", write("erased/report/training.json", "[]"), "JSON list"),
    ("evaluate-history-strings", f"{EVAL} --out {{R}}/e", write("erased/report/training.json", '{"history": [{"step": "a"}]}'),
     "history[].step"),
    ("evaluate-guard-evaluations-object", f"{EVAL} --out {{R}}/e",
     write("erased/report/metrics.json", '{"guard_evaluations": {"step": 1}}'), "'guard_evaluations'"),
    ("audit-direction-nan", f"{AUDIT} {G} --direction {{R}}/d.json --out {{R}}/a",
     write("d.json", json.dumps(_direction([float("nan")] * D))), "'unit'"),
    ("audit-direction-zero", f"{AUDIT} {G} --direction {{R}}/d.json --out {{R}}/a",
     write("d.json", json.dumps(_direction([0.0] * D))), "nonzero"),
    ("audit-direction-threshold-string", f"{AUDIT} {G} --direction {{R}}/d.json --out {{R}}/a",
     edit_json("d.json", lambda d: d.update(threshold="high")), "'threshold'"),
    ("audit-direction-missing-field", f"{AUDIT} {G} --direction {{R}}/d.json --out {{R}}/a",
     edit_json("d.json", lambda d: d.pop("method") and None), "lacks the field 'method'"),
    ("erase-classifier-config-list", f"{ERASE} --feature-classifier {{R}}/clf --out {{R}}/e", write("clf/config.json", "[]"),
     "JSON list"),
    ("erase-classifier-threshold-string", f"{ERASE} --feature-classifier {{R}}/clf --out {{R}}/e",
     edit_json("clf/config.json", lambda d: d.update(threshold="high")), "'threshold'"),
    ("erase-classifier-init-args-wrong", f"{ERASE} --feature-classifier {{R}}/clf --out {{R}}/e",
     edit_json("clf/config.json", lambda d: d.update(init_args={"widths": "wide"})), "cannot build the classifier"),
    ("erase-classifier-embedder-size-string", f"{ERASE} --feature-classifier {{R}}/clf --out {{R}}/e",
     edit_json("clf/config.json", lambda d: d.update(kind="probe", dim=6, embedder={"name": "inception-fid", "size": "big"})),
     "'embedder'"),
    # 5. marks and latents
    ("marks-latents-text", f"{ERASE} --out {{R}}/e", marks_latents(lambda p: p.write_text("0.1 0.2\n")), "not a readable .npy"),
    ("marks-latents-object-array", f"{ERASE} --out {{R}}/e", marks_latents(npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)),
     "not a readable .npy"),
    ("marks-latents-3d", f"{ERASE} --out {{R}}/e", marks_latents(npy(np.zeros((40, D, 1), np.float32))), "[M, latent_dim]"),
    ("marks-latents-nan", f"{ERASE} --out {{R}}/e", marks_latents(npy(np.full((40, D), np.nan, np.float32))), "NaN"),
    ("marks-latents-huge-float64", f"{ERASE} --out {{R}}/e", marks_latents(npy(np.full((40, D), 1e300))), "NaN or infinite"),
    ("marks-latents-int", f"{ERASE} --out {{R}}/e", marks_latents(npy(np.zeros((40, D), np.int64))), "dtype int64"),
    ("marks-latents-npz", f"{ERASE} --out {{R}}/e", marks_latents(npz),
     "several arrays"),
    ("marks-latents-sha-mismatch", f"{ERASE} --out {{R}}/e", write("marks.latents.npy", b"\x93NUMPY"), "sha256"),
    ("marks-inline-strings", f"{ERASE} --out {{R}}/e", edit_json("marks.json", lambda d: d["marks"].append({"label": "yes", "latent": ["a"] * D})),
     "flat list of finite numbers"),
    ("marks-inline-nan", f"{ERASE} --out {{R}}/e",
     edit_json("marks.json", lambda d: d["marks"].append({"label": "yes", "latent": [float("nan")] * D})), "finite numbers"),
    ("marks-id-list", f"{ERASE} --out {{R}}/e", edit_json("marks.json", lambda d: d["marks"][0].update(id=[0])), "ids are integers"),
    ("marks-file-list", f"{ERASE} --out {{R}}/e", write("marks.json", "[]"), "not an eraser marks file"),
    ("marks-feature-number", f"{ERASE} --out {{R}}/e", edit_json("marks.json", lambda d: d.update(feature=5)), "'feature'"),
    ("marks-latents-field-number", f"{ERASE} --out {{R}}/e", edit_json("marks.json", lambda d: d.update(latents=5)), "'latents'"),
    ("probe-marks-wrong-dimension", f"{PROBE} --out {{R}}/p", marks_latents(npy(np.zeros((40, 5), np.float32))),
     "5-dimensional latents"),
    ("sample-latents-inf", f"sample {G} --latents {{R}}/z.npy --out {{R}}/s.png",
     lambda r: np.save(r / "z.npy", np.full((2, D), np.inf, np.float32)), "NaN or infinite"),
    ("sample-latents-text", f"sample {G} --latents {{R}}/z.npy --out {{R}}/s.png", write("z.npy", "1 2 3"), "not a readable .npy"),
    ("sample-latents-1d", f"sample {G} --latents {{R}}/z.npy --out {{R}}/s.png", lambda r: np.save(r / "z.npy", np.zeros(D)),
     "have shape [8]"),
    # 6. images
    ("grid-image-bomb", "marks grid -g {R}/vae --images {R}/imgs --out {R}/g", write("imgs/bomb.png", png_header(30000, 30000)),
     "pixels"),
    ("grid-image-too-large", "marks grid -g {R}/vae --images {R}/imgs --out {R}/g", write("imgs/big.png", png_header(8000, 7000)),
     "pixels"),
    ("grid-image-text", "marks grid -g {R}/vae --images {R}/imgs --out {R}/g", write("imgs/bad.png", "not an image"),
     "cannot read image"),
    ("grid-image-truncated", "marks grid -g {R}/vae --images {R}/imgs --out {R}/g", write("imgs/cut.png", png_header(64, 64)),
     "cannot read image"),
    # 7. numbers
    ("erase-lr-inf", f"{ERASE} --out {{R}}/e --lr inf", None, "not a finite number"),
    ("erase-lr-nan", f"{ERASE} --out {{R}}/e --lr nan", None, "not a finite number"),
    ("erase-alpha-nan", f"{ERASE} --out {{R}}/e --alpha nan", None, "not a finite number"),
    ("erase-margin-inf", f"{ERASE} --out {{R}}/e --margin inf", None, "not a finite number"),
    ("erase-feature-fraction-nan", f"{ERASE} --out {{R}}/e --feature-fraction nan", None, "not a finite number"),
    ("erase-guard-nan", f"{ERASE} --out {{R}}/e --guard min_ms_ssim=nan", None, "finite number"),
    ("erase-guard-inf", f"{ERASE} --out {{R}}/e --guard max_fid_over_floor=inf", None, "finite number"),
    ("erase-guard-negative-ratio", f"{ERASE} --out {{R}}/e --guard max_feature_rate_ratio=-1", None, "must be ≥ 0"),
    ("erase-seed-negative", f"{ERASE} --out {{R}}/e --seed -1", None, "--seed"),
    ("evaluate-guard-nan", f"{EVAL} --out {{R}}/e --guard max_recall_drop=nan", None, "finite number"),
    ("probe-C-zero", f"{PROBE} --out {{R}}/p --C 0", None, "--C"),
    ("probe-C-negative", f"{PROBE} --out {{R}}/p --C -1", None, "--C"),
    ("probe-C-nan", f"{PROBE} --out {{R}}/p --C nan", None, "not a finite number"),
    ("probe-C-inf", f"{PROBE} --out {{R}}/p --C inf", None, "not a finite number"),
    ("audit-lr-nan", f"{AUDIT} {G} --out {{R}}/a --lr nan", None, "not a finite number"),
    ("audit-shell-inf", f"{AUDIT} {G} --out {{R}}/a --shell inf", None, "not a finite number"),
    ("audit-walk-max-nan", f"{AUDIT} {G} --out {{R}}/a --walk-max nan", None, "not a finite number"),
    ("sample-seed-huge", f"sample {G} --out {{R}}/s.png --seed 99999999999999999999999", None, "--seed"),
    ("batch-manifest-lr-nan", "batch {R}/jobs.toml --out {R}/b", lambda r: (r / "jobs.toml").write_text(
        (r / "jobs.toml").read_text() + "[jobs.settings]\nlr = nan\n"), "finite number"),
    # 8. latent shapes the network does not take
    ("class-latent-shape-too-small", f"sample {CLASS} --latent-shape 4,1,1 --out {{R}}/s.png", None, "takes 8 channels"),
    ("class-latent-shape-flat", f"sample {CLASS} --latent-shape 8 --out {{R}}/s.png", None, "latent shape 8,1,1"),
    ("config-latent-shape-wrong", f"sample {G} --out {{R}}/s.png", edit_json("ck/config.json", lambda d: d.update(latent_shape=[4, 1, 1])),
     "does not run on latents of shape 4,1,1"),
    ("torchscript-latent-shape-5", "sample -g {R}/ts.pt --latent-shape 5 --out {R}/s.png", None, "does not run on latents of shape 5"),
    ("torchscript-latent-shape-flat", "sample -g {R}/ts.pt --latent-shape 8 --out {R}/s.png", None, "8 channels"),
]


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (links recorded by target), keyed by relative path."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            out[rel] = f"link:{os.readlink(p)}" if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
        out.update({Path(dirpath, d).relative_to(root).as_posix() + "/": "dir" for d in dirnames})
    return out


def test_there_are_many_cases():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("args,setup,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_touches_nothing(world, tmp_path, run_cli, args, setup, fragment):
    root = tmp_path / "w"
    shutil.copytree(world, root, symlinks=True)
    edit_json("erased/provenance.json", lambda d: d["erased_from"].update(generator=str(root / "ck")))(root)
    if setup is not None:
        setup(root)
    before = snapshot(tmp_path)
    with warnings.catch_warnings(record=True) as caught:  # outside pytest, a warning is one more stderr line
        warnings.simplefilter("always")
        r = run_cli(*args.replace("{R}", str(root)).split())
    assert r.code == 2, (r.code, r.err)
    assert not caught, [str(w.message) for w in caught]
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("eraser: error: "), r.err
    assert "Traceback" not in r.err and "internal error" not in r.err
    assert fragment in lines[0], lines[0]
    assert snapshot(tmp_path) == before  # nothing written, nothing left behind, every input byte-identical
