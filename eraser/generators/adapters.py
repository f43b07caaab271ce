"""One adapter per generator family: a Python ``nn.Module`` class, a diffusers autoencoder, TorchScript.

Each adapter is a ``Generator`` subclass that knows how to run its module and how to describe
itself in a checkpoint's ``config.json`` (``config``/``from_config``).
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.generators.trust import check_importable, class_path, registered


# -- a plain nn.Module class with constructor arguments ----------------------------------------
def import_module_class(path: str, trusted: bool = False, source: str = "the checkpoint") -> type[nn.Module]:
    """Import ``package.module:Class`` and check it is an ``nn.Module`` subclass.

    Only installed code is imported; a checkpoint can name a class but never carry one. Unless
    ``trusted`` (the user named the class), a class outside eraser must be registered or allowed
    with ``--trust-code`` (``eraser.generators.trust``); that is checked before any import.
    """
    if not isinstance(path, str):
        raise EraserError(f"class {path!r} is not of the form package.module:ClassName")
    mod_name, sep, cls_name = path.partition(":")
    if not sep or not mod_name or not cls_name:
        raise EraserError(f"class {path!r} is not of the form package.module:ClassName")
    if (known := registered(path)) is not None:
        return known
    if not trusted:
        check_importable(path, source)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise EraserError(f"cannot import {mod_name} for class {path} ({e}); install the package that defines it") from None
    obj = mod
    for part in cls_name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise EraserError(f"module {mod_name} has no class {cls_name}")
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        raise EraserError(f"{path} is not a torch.nn.Module class")
    return obj


def build_module(module_cls: type[nn.Module], init_args: dict[str, Any], what: str) -> nn.Module:
    """``module_cls(**init_args)``; bad arguments (which a constructor may answer with any error) are one line."""
    try:
        return module_cls(**init_args)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EraserError(f"cannot build {what} with arguments {init_args} ({first})") from None


class ModuleGenerator(Generator):
    """A generator built from ``module:Class`` and JSON constructor arguments."""

    kind = "module"

    def __init__(self, module: nn.Module, latent_shape, init_args: dict[str, Any], name: str = "generator") -> None:
        super().__init__(module, latent_shape, name)
        self.init_args = dict(init_args)

    @classmethod
    def build(cls, class_name: str, init_args: dict[str, Any], latent_shape, name: str,
              trusted: bool = False) -> ModuleGenerator:
        module_cls = import_module_class(class_name, trusted, source=f"{name}/config.json")
        return cls(build_module(module_cls, init_args, class_name), latent_shape, init_args, name)

    def config(self) -> dict[str, Any]:
        return {
            "class": class_path(type(self.module)),
            "init_args": self.init_args,
            "latent_shape": list(self.latent_shape),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path, name: str) -> ModuleGenerator:
        return cls.build(config["class"], config.get("init_args", {}), config["latent_shape"], name)


class VAEGenerator(ModuleGenerator):
    """A VAE module: ``decode(z)`` generates from the prior's latent, ``encode(x)`` gives the posterior.

    The module must have ``encode(x) -> (mean, logvar)`` (or just the mean) and ``decode(z)``;
    ``encode`` here returns the posterior mean, so a user's own images can be placed in latent space
    and marked. Fine-tuning (the erase) updates only the decoder: the module's ``decoder``
    attribute when it has one, otherwise every parameter.
    """

    kind = "vae"

    @staticmethod
    def is_vae_class(module_cls: type) -> bool:
        return callable(getattr(module_cls, "encode", None)) and callable(getattr(module_cls, "decode", None))

    def _forward(self, z: Tensor) -> Tensor:
        return self.module.decode(z)

    def _encode(self, x: Tensor) -> Tensor:
        out = self.module.encode(x)
        return out[0] if isinstance(out, (tuple, list)) else out

    def trainable_parameters(self) -> list[nn.Parameter]:
        part = getattr(self.module, "decoder", None)
        params = part.parameters() if isinstance(part, nn.Module) else self.module.parameters()
        return [p for p in params if p.requires_grad]


# -- diffusers autoencoders --------------------------------------------------------------------
#: diffusers model classes that decode a latent into an image
DIFFUSERS_DECODERS = ("AutoencoderKL", "VQModel")


def diffusers_class(class_name: str) -> type:
    if class_name not in DIFFUSERS_DECODERS:
        raise EraserError(
            f"diffusers class {class_name} is not a latent-to-image decoder; eraser supports {', '.join(DIFFUSERS_DECODERS)}"
        )
    import diffusers

    return getattr(diffusers, class_name)


class DiffusersGenerator(Generator):
    """The decoder of a diffusers ``AutoencoderKL`` or ``VQModel`` as a generator, its encoder as ``encode``.

    Latents are in the scaled space diffusers pipelines use (``z = scaling_factor · posterior``),
    where the prior is taken as N(0, I); the latent grid is ``[latent_channels, s, s]`` with
    ``s = sample_size / 2**(len(block_out_channels) - 1)``.
    """

    kind = "diffusers"

    def __init__(self, module: nn.Module, name: str = "generator") -> None:
        cfg = module.config
        down = 2 ** (len(cfg.block_out_channels) - 1)
        size = cfg.sample_size if isinstance(cfg.sample_size, int) else cfg.sample_size[0]
        channels = getattr(cfg, "latent_channels", None) or getattr(cfg, "vq_embed_dim", None) or cfg.latent_channels
        super().__init__(module, (channels, size // down, size // down), name)
        self.scaling_factor = float(getattr(cfg, "scaling_factor", 1.0) or 1.0)

    def _forward(self, z: Tensor) -> Tensor:
        return self.module.decode(z / self.scaling_factor).sample

    def _encode(self, x: Tensor) -> Tensor:
        enc = self.module.encode(x)
        if hasattr(enc, "latent_dist"):  # AutoencoderKL: posterior mean
            z = enc.latent_dist.mean
        else:  # VQModel: pre-quantisation latents
            z = enc.latents
        return z * self.scaling_factor

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The decoder side (``post_quant_conv``, ``decoder`` and, for VQModel, the codebook); the encoder stays fixed."""
        parts = [getattr(self.module, name, None) for name in ("post_quant_conv", "quantize", "decoder")]
        return [p for part in parts if isinstance(part, nn.Module) for p in part.parameters() if p.requires_grad]

    def config(self) -> dict[str, Any]:
        init_args = {k: v for k, v in dict(self.module.config).items() if not k.startswith("_")}
        return {"class": type(self.module).__name__, "init_args": _jsonable(init_args)}

    def save_extra(self, directory: Path) -> None:
        """Make the checkpoint a diffusers model folder too, so ``AutoencoderKL.from_pretrained(folder)``
        (or ``VQModel``'s) loads it: diffusers' own config fields (``_class_name``, ``_diffusers_version`` and
        the constructor arguments, as ``save_pretrained`` writes them) are merged into ``config.json`` beside
        eraser's, and ``diffusion_pytorch_model.safetensors`` is the same file as ``model.safetensors`` (a
        hard link where the file system allows, else a copy)."""
        import json
        import os
        import shutil

        from diffusers.utils import SAFETENSORS_WEIGHTS_NAME

        from eraser.io import read_json_object, write_json

        ours = read_json_object(directory / "config.json", "checkpoint config")
        theirs = json.loads(self.module.to_json_string())
        write_json(directory / "config.json", {**theirs, **ours})
        target = directory / SAFETENSORS_WEIGHTS_NAME
        try:
            os.link(directory / "model.safetensors", target)
        except OSError:
            shutil.copyfile(directory / "model.safetensors", target)

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path, name: str) -> DiffusersGenerator:
        model_cls = diffusers_class(config["class"])
        return cls(model_cls.from_config(config["init_args"]), name)

    @classmethod
    def from_pretrained(cls, directory: Path, trust_pickle: bool, name: str) -> DiffusersGenerator:
        """Load a diffusers model directory (``config.json`` with ``_class_name``), strictly."""
        import json

        class_name = json.loads((directory / "config.json").read_text()).get("_class_name", "")
        model_cls = diffusers_class(class_name)
        has_st = any(directory.glob("*.safetensors"))
        if not has_st and not trust_pickle:
            raise EraserError(
                f"{directory} has no .safetensors weights; pass --trust-pickle to read its pickled .bin (it can run code)"
            )
        try:
            model, info = model_cls.from_pretrained(
                str(directory), local_files_only=True, use_safetensors=has_st, output_loading_info=True,
                low_cpu_mem_usage=False,
            )
        except (OSError, ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EraserError(f"cannot load diffusers model from {directory} ({first})") from None
        bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
        if bad:
            detail = "; ".join(f"{k.replace('_', ' ')}: {', '.join(map(str, v[:5]))}" for k, v in bad.items())
            raise EraserError(f"weights in {directory} do not match {class_name}: {detail}")
        return cls(model, name)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


# -- TorchScript --------------------------------------------------------------------------------
class TorchScriptGenerator(Generator):
    """A TorchScript module; its latent shape must be given (a script does not declare it).

    A checkpoint stores the scripted architecture as ``architecture.pt`` and the weights, as
    everywhere, in ``model.safetensors``.
    """

    kind = "torchscript"

    @classmethod
    def load(cls, path: Path, latent_shape, name: str) -> TorchScriptGenerator:
        if latent_shape is None:
            raise EraserError(f"{path} is TorchScript, which does not record its input; pass --latent-shape (e.g. 100,1,1)")
        try:
            with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise EraserError(f"cannot load TorchScript from {path} ({first})") from None
        return cls(module, latent_shape, name)

    def config(self) -> dict[str, Any]:
        return {"latent_shape": list(self.latent_shape), "architecture": "architecture.pt"}

    def save_extra(self, directory: Path) -> None:
        torch.jit.save(self.module, str(directory / "architecture.pt"))

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path, name: str) -> TorchScriptGenerator:
        return cls.load(directory / config.get("architecture", "architecture.pt"), config["latent_shape"], name)

    def copy(self) -> TorchScriptGenerator:
        return type(self)(self.module.copy(), self.latent_shape, self.name)


ADAPTERS: dict[str, type[Generator]] = {
    a.kind: a for a in (ModuleGenerator, VAEGenerator, DiffusersGenerator, TorchScriptGenerator)
}
