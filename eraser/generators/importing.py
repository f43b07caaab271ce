"""``import_generator``: turn a source that does not describe itself into an eraser checkpoint folder, once.

A bare weights file needs its class, constructor arguments, latent shape and perhaps a state-dict key on
every load; a TorchScript file needs its latent shape. Imported, they become a folder (``config.json`` +
``model.safetensors`` + ``provenance.json``) that every command, the Python API and the notebook load by
its path alone. The folder is written atomically, checked by loading it back before it appears, and never
replaces anything.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from eraser import registry
from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.generators.checkpoint import is_checkpoint, write_checkpoint_files
from eraser.generators.loading import LoadOptions, load_generator
from eraser.generators.trust import is_own_module, trusting_code
from eraser.io import atomic_dir, sha256_file

#: prior samples decoded to report the output range and to check the written folder against the source
CHECK_SAMPLES = 16


@dataclass
class Imported:
    """What ``import_generator`` wrote: the folder, the generator, its output range on prior samples, and
    whether later loads need ``--trust-code`` (its class lives outside eraser)."""

    out: Path
    generator: Generator
    output_range: tuple[float, float]
    needs_trust_code: bool


def import_generator(source: str | Path, out: str | Path, options: LoadOptions | None = None,
                     command: str | None = None) -> Imported:
    """Load ``source`` (weights + ``options.module_class``, TorchScript, or a diffusers folder) and write it
    to the new folder ``out`` as an eraser checkpoint; the provenance records the source, its sha256 and the
    loader options. Before the folder appears it is loaded back and must decode prior samples exactly as
    the source does."""
    options = options or LoadOptions()
    out = Path(out)
    src = str(source)
    if registry.resolve(src, role="generator") is not None:
        raise EraserError(f"{src} is a shipped model; every command loads it by name, there is nothing to import")
    if is_checkpoint(Path(src).expanduser()):
        raise EraserError(f"{src} is already an eraser checkpoint folder; give it to any command as it is")
    if out.exists():
        raise EraserError(f"{out} already exists; choose a new --out folder (eraser never overwrites a checkpoint)")
    g = load_generator(src, "cpu", options)
    z = g.sample_latents(CHECK_SAMPLES, 0)
    with torch.no_grad():
        x = torch.cat([g.decode(z[i : i + 4]).cpu() for i in range(0, len(z), 4)])
    g.check_range(x)
    cfg = g.config()
    cls = cfg.get("class")
    needs_trust = g.kind in ("module", "vae") and isinstance(cls, str) and not is_own_module(cls.partition(":")[0])
    provenance: dict[str, Any] = {
        "source": src,
        "imported_from": {
            "path": str(Path(src).expanduser().resolve()),
            "sha256": sha256_file(Path(src)) if Path(src).is_file() else None,
            "class": options.module_class, "init_args": options.init_args or {},
            "latent_shape": list(g.latent_shape), "state_dict_key": options.state_dict_key,
        },
        "imported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if command:
        provenance["command"] = command
    with atomic_dir(out) as tmp:
        write_checkpoint_files(g, tmp, provenance)
        with trusting_code(True):  # the user named this class a moment ago
            again = load_generator(tmp, "cpu")
        with torch.no_grad():
            y = torch.cat([again.decode(z[i : i + 4]).cpu() for i in range(0, len(z), 4)])
        if not torch.allclose(x, y, atol=1e-5, rtol=0):
            raise EraserError(f"the checkpoint written for {src} does not decode as the source does "
                              f"(max difference {float((x - y).abs().max()):.3g}); nothing was written")
    return Imported(out, g, (float(x.min()), float(x.max())), needs_trust)
