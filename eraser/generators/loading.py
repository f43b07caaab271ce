"""``load_generator``: one entry point from a name or path to a ``Generator``.

What a source is, decided in this order:
1. the name of a shipped model (``eraser models``);
2. a directory with an eraser ``config.json`` (``"format": "eraser.checkpoint"``);
3. a directory with a diffusers ``config.json`` (``"_class_name"``);
4. a weights file plus ``module_class`` (``package.module:Class``) and its constructor arguments;
5. a TorchScript file (needs ``latent_shape``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eraser import registry
from eraser.errors import EraserError
from eraser.io import read_json_object
from eraser.generators.adapters import (
    DiffusersGenerator,
    ModuleGenerator,
    TorchScriptGenerator,
    VAEGenerator,
    import_module_class,
)
from eraser.generators.base import Generator, resolve_device
from eraser.generators.checkpoint import FORMAT, load_checkpoint
from eraser.generators.shape import check_latent_shape
from eraser.generators.state import PICKLE_SUFFIXES, is_torchscript, load_strict, read_weights
from eraser.generators.trust import trusting_code


@dataclass
class LoadOptions:
    """How to read a source that does not describe itself (a bare weights file or TorchScript)."""

    module_class: str | None = None  # "package.module:Class"
    init_args: dict[str, Any] = field(default_factory=dict)
    latent_shape: tuple[int, ...] | None = None
    state_dict_key: str | None = None
    trust_pickle: bool = False
    #: let a checkpoint's config.json name classes from modules outside eraser (importing runs their code)
    trust_code: bool = False


def load_generator(source: str | Path, device: str = "cpu", options: LoadOptions | None = None) -> Generator:
    """Load the generator named or stored at ``source`` onto ``device``, in eval mode."""
    options = options or LoadOptions()
    dev = resolve_device(device)
    with trusting_code(options.trust_code):
        generator = _load(str(source), options).to(dev)
    check_latent_shape(generator, str(source))
    return generator


def _load(source: str, options: LoadOptions) -> Generator:
    shipped = registry.resolve(source, role="generator")
    if shipped is not None:
        return load_checkpoint(shipped, name=source)
    path = Path(source).expanduser()
    if not path.exists():
        known = ", ".join(registry.names("generator")) or "none"
        raise EraserError(f"generator {source!r} is neither a shipped model ({known}) nor an existing path")
    if path.is_dir():
        cfg = path / "config.json"
        if cfg.is_file():
            config = read_json_object(cfg, "generator config")
            if config.get("format") == FORMAT:
                return load_checkpoint(path)
            if "_class_name" in config:
                return DiffusersGenerator.from_pretrained(path, options.trust_pickle, str(path))
        raise EraserError(f"{path} is a folder but neither an eraser checkpoint nor a diffusers model (no usable config.json)")
    if options.module_class:
        if options.latent_shape is None:
            raise EraserError("a weights file with --class also needs --latent-shape (e.g. 100,1,1)")
        module_cls = import_module_class(options.module_class, trusted=True)  # the user named it
        adapter = VAEGenerator if VAEGenerator.is_vae_class(module_cls) else ModuleGenerator
        gen = adapter.build(options.module_class, options.init_args, options.latent_shape, str(path), trusted=True)
        state = read_weights(path, options.state_dict_key, options.trust_pickle)
        load_strict(gen.module, state, str(path))
        gen.module.eval()
        return gen
    if is_torchscript(path):
        return TorchScriptGenerator.load(path, options.latent_shape, str(path))
    if path.suffix in PICKLE_SUFFIXES + (".safetensors",):
        raise EraserError(f"{path} holds bare weights; say which network they belong to with --class package.module:Class")
    raise EraserError(f"cannot tell what kind of generator {path} is; give a checkpoint folder, a diffusers folder, TorchScript, or weights with --class")
