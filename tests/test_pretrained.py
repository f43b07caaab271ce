"""The shipped default generator: same images as its source package, provenance that checks out."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from eraser.generators import load_generator
from eraser.io import read_json, sha256_file
from eraser.registry import list_models, pretrained_root


def _package_generator():
    from gan_face_generate.models import Generator as PackageGenerator

    weights = Path(importlib.util.find_spec("gan_face_generate").origin).parent / "weights.tar"
    net = PackageGenerator(0, 3, 100, 64)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True)["netG_state_dict"])
    return net.eval(), weights


def test_digiface_dcgan_matches_source_package():
    ours = load_generator("digiface-dcgan64")
    theirs, _ = _package_generator()
    z = ours.sample_latents(64, seed=123)  # [64, 100]
    with torch.no_grad():
        expected = theirs(z[:, :, None, None])  # [64, 3, 64, 64]
    got = ours.generate(z)
    assert got.shape == (64, 3, 64, 64)
    assert (got - expected).abs().max().item() <= 1e-6
    assert expected.std() > 0.2  # real faces, not a constant image


def test_digiface_provenance_records_source_and_weights():
    d = pretrained_root() / "digiface-dcgan64"
    prov = read_json(d / "provenance.json")
    _, source = _package_generator()
    assert prov["source"]["sha256"] == sha256_file(source)
    assert prov["weights_sha256"] == sha256_file(d / "model.safetensors")
    assert prov["licence"]["spdx"] == "MIT"
    assert (d / prov["licence"]["file"]).read_text().startswith("Copyright (c) 2023, chien liu")


def test_registry_lists_the_default_generator():
    """Its parameter count, counted on the loaded network and on the source package's own Generator, is what
    the registry (from provenance.json) reports."""
    models = {m.name: m for m in list_models()}
    m = models["digiface-dcgan64"]
    assert m.role == "generator"
    theirs, _ = _package_generator()
    counted = sum(p.numel() for p in load_generator("digiface-dcgan64").module.parameters())
    assert counted == sum(p.numel() for p in theirs.parameters()) == 3_576_704 == m.parameters
    assert 14e6 < m.size_bytes < 15e6


#: files a shipped model folder may hold besides its weights, config, provenance, notice, licence and data terms
EXTRA_FILES = {"faces-vae64": {"samples.png", "training_history.json"},
               # the README erase's FID reference statistics (scripts/make_reference_stats.py)
               "digiface-dcgan64": {"cache"}}


def test_shipped_models_come_from_this_checkout():
    assert pretrained_root() == Path(__file__).resolve().parents[1] / "pretrained"


def test_every_shipped_model_carries_its_licence_and_its_training_data_terms(run_cli):
    from eraser import terms
    from eraser.registry import notice_text

    models = list_models()
    assert {m.name for m in models} == {"digiface-dcgan64", "faces-vae64", "digiface-eyeglasses-clf",
                                        "digiface-eyeglasses-judge", "digiface-headwear-clf"}
    listing = run_cli("models").out
    for m in models:
        prov = read_json(m.path / "provenance.json")
        licence = m.path / prov["licence"]["file"]
        if m.name == "digiface-dcgan64":
            assert licence.name == "LICENSE-gan-face-generate.txt"  # the source package's own (checked above)
        else:
            assert licence.read_text() == terms.MIT_ERASER and prov["licence"]["spdx"] == "MIT"
        data = prov["training_data_terms"]
        assert data == {"summary": terms.DIGIFACE_SUMMARY, "file": terms.DATA_TERMS_FILE}
        text = (m.path / data["file"]).read_text()
        assert text == terms.data_terms(m.name)  # what the model's script writes
        assert "non-commercial" in text and "https://github.com/microsoft/DigiFace1M" in text
        assert (m.path / "NOTICE-PROVENANCE.md").read_text() == notice_text(prov)
        expected = {"config.json", "model.safetensors", "provenance.json", "NOTICE-PROVENANCE.md", data["file"],
                    licence.name} | EXTRA_FILES.get(m.name, set())
        assert {p.name for p in m.path.iterdir() if p.name != "__pycache__"} == expected, m.name  # nothing unexplained
        assert m.data_terms == terms.DIGIFACE_SUMMARY
        line = next(ln for ln in listing.splitlines() if ln.startswith(m.name + " "))
        assert terms.DIGIFACE_SUMMARY in line and "MIT" in line
