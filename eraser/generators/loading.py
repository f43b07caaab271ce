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
    torchscript = is_torchscript(path)
    if options.module_class or (not torchscript and path.suffix in PICKLE_SUFFIXES + (".safetensors",)):
        check_bare_weights_options(path, options)  # every missing flag in one line
    if options.module_class:
        module_cls = import_module_class(options.module_class, trusted=True)  # the user named it
        adapter = VAEGenerator if VAEGenerator.is_vae_class(module_cls) else ModuleGenerator
        gen = adapter.build(options.module_class, options.init_args, options.latent_shape, str(path), trusted=True)
        state = read_weights(path, options.state_dict_key, options.trust_pickle)
        load_strict(gen.module, state, str(path))
        gen.module.eval()
        return gen
    if torchscript:
        return TorchScriptGenerator.load(path, options.latent_shape, str(path))
    raise EraserError(f"cannot tell what kind of generator {path} is; give a checkpoint folder, a diffusers folder, TorchScript, or weights with --class")


def check_bare_weights_options(path: Path, options: LoadOptions) -> None:
    """Refuse, in one line that names every missing flag at once, a bare weights file whose loader flags
    are incomplete: ``--class``, ``--latent-shape``, the constructor arguments the class requires, and
    ``--state-dict-key`` (or ``--trust-pickle``) when the file is a training checkpoint."""
    missing: list[str] = []
    if not options.module_class:
        missing.append("--class MODULE:CLASS (the nn.Module class the weights belong to, importable from your code)")
    if options.latent_shape is None:
        missing.append("--latent-shape D[,H,W] (the shape of one latent at the module's input, e.g. 100,1,1)")
    if options.module_class:
        required = required_init_args(import_module_class(options.module_class, trusted=True))
        if absent := [a for a in required if a not in options.init_args]:
            missing.append("--init-args with " + ", ".join(absent) + " (the constructor requires them), "
                           "e.g. '{" + ", ".join(f'"{a}": ...' for a in absent) + "}'")
    else:
        missing.append("--init-args JSON (if the class's constructor takes arguments)")
    need = weights_layout_flags(path, options)
    if need:
        missing.append(need)
    if any(not m.startswith("--init-args JSON") for m in missing):
        raise EraserError(f"{path} holds bare weights; to load it, also give " + "; ".join(missing))


def required_init_args(module_cls: type) -> list[str]:
    """The constructor parameters of ``module_cls`` that have no default (``self``, ``*args``, ``**kw`` aside)."""
    import inspect

    try:
        params = inspect.signature(module_cls.__init__).parameters.values()
    except (TypeError, ValueError):  # a constructor inspect cannot read: nothing to check
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in list(params)[1:] if p.kind in kinds and p.default is inspect.Parameter.empty]


def weights_layout_flags(path: Path, options: LoadOptions) -> str | None:
    """What the file's layout still asks for: ``--trust-pickle`` for a pickle of more than tensors, or
    ``--state-dict-key`` (with the candidate entries) for a training checkpoint; None when it reads as is."""
    import torch

    if path.suffix == ".safetensors" or not path.is_file():
        return None  # a flat tensor file (a key prefix is optional), or a missing file read_weights names
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not options.trust_pickle)
    except Exception as e:  # torch.load raises many types; read_weights words the other failures
        text = str(e)
        if not options.trust_pickle and ("Weights only load failed" in text or "Unsupported global" in text):
            return "--trust-pickle (the file pickles objects beyond plain tensors; only for a source you trust)"
        return None
    if options.state_dict_key is not None or not isinstance(obj, dict):
        return None
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    nested = [str(k) for k, v in obj.items() if isinstance(v, dict) and v and all(isinstance(t, torch.Tensor) for t in v.values())]
    shown = ", ".join(nested[:6]) if nested else ", ".join(str(k) for k in list(obj)[:6])
    return f"--state-dict-key KEY (the file is a training checkpoint; entries holding state dicts: {shown or 'none'})"
