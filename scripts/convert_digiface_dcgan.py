"""Convert the DCGAN face generator of ``gan-face-generate==1.1.1`` into pretrained/digiface-dcgan64.

Source: the PyPI package gan-face-generate 1.1.1 (MIT, (c) 2023 chien liu), file
``gan_face_generate/weights.tar``, entry ``netG_state_dict``: a DCGAN (nz=100, ngf=64) trained on
DigiFace1M, producing 64×64 RGB faces in [-1, 1].

Run (needs the dev extra):  python scripts/convert_digiface_dcgan.py [--out pretrained/digiface-dcgan64]
The weights are copied bit for bit; tests/test_pretrained.py checks the images against the package's own
Generator.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
from pathlib import Path

import torch

from eraser.generators.adapters import ModuleGenerator
from eraser.generators.checkpoint import save_checkpoint
from eraser.generators.state import load_strict, read_weights
from eraser.io import sha256_file
from eraser.registry import notice_text
from eraser.terms import provenance_fields, shipped_files

PACKAGE, VERSION = "gan-face-generate", "1.1.1"
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "pretrained" / "digiface-dcgan64")
    args = ap.parse_args()

    installed = importlib.metadata.version(PACKAGE)
    if installed != VERSION:
        raise SystemExit(f"need {PACKAGE}=={VERSION}, found {installed}")
    pkg_dir = Path(importlib.util.find_spec("gan_face_generate").origin).parent
    source = pkg_dir / "weights.tar"
    licence = Path(importlib.metadata.distribution(PACKAGE).locate_file(
        f"gan_face_generate-{VERSION}.dist-info/licenses/LICENSE"))

    gen = ModuleGenerator.build(
        "eraser.generators.dcgan:DCGANGenerator", {"nz": 100, "ngf": 64, "nc": 3}, (100, 1, 1), "digiface-dcgan64"
    )
    # weights_only=True: the file is a plain dict of tensors, no code
    state = read_weights(source, state_dict_key="netG_state_dict")
    load_strict(gen.module, state, str(source))
    n_params = sum(p.numel() for p in gen.module.parameters())

    provenance = {
        "name": "digiface-dcgan64",
        "description": "DCGAN face generator, 64x64 RGB, trained on DigiFace1M (synthetic faces)",
        "parameters": n_params,
        "source": {
            "package": f"{PACKAGE}=={VERSION}",
            "registry": "https://pypi.org/project/gan-face-generate/1.1.1/",
            "file": "gan_face_generate/weights.tar",
            "entry": "netG_state_dict",
            "sha256": sha256_file(source),
            "architecture": "gan_face_generate.models.Generator(ngpu, nc=3, nz=100, ngf=64), same layer names",
        },
        "licence": {"spdx": "MIT", "copyright": "Copyright (c) 2023, chien liu", "file": "LICENSE-gan-face-generate.txt"},
        **provenance_fields("digiface-dcgan64"),
        "training_data": "DigiFace1M (Bae et al. 2023, synthetic faces), per the source package's description",
        "made_by": "python scripts/convert_digiface_dcgan.py (weights copied unchanged into safetensors)",
        "torch_version": torch.__version__,
    }
    save_checkpoint(gen, args.out, provenance, overwrite=True,
                    extra_files={"LICENSE-gan-face-generate.txt": licence.read_text(),
                                 "NOTICE-PROVENANCE.md": notice_text(provenance), **shipped_files("digiface-dcgan64")})
    print(f"wrote {args.out} ({n_params} parameters) from {source}")


if __name__ == "__main__":
    main()
