"""An on-disk cache for tensors that depend only on their inputs: the FID reference features of a generator.

Every erase measures FID, KID and precision/recall of G' against two sets of the *original*
generator's feature-free samples (the reference and the floor). Those two sets, and the floor
numbers computed from them, depend only on G's weights, the latents and the feature network, so a
second erase of the same generator (or a batch of erases) can read them instead of running the
Inception network on 2 × n images again.

* Where: ``$ERASER_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/eraser``, else ``~/.cache/eraser``.
  ``ERASER_NO_CACHE=1`` turns the cache off.
* Key: the sha256 of the canonical JSON of every input (weights digests, latents digest, protocol,
  versions). An entry is a safetensors file named by its key that also stores the inputs and a
  digest of its own tensors; a read checks both, so a corrupt, truncated or foreign file is a miss
  (with a warning) and is rewritten, never used.
* Writes are atomic (``eraser.io.atomic_path``): a reader sees a whole entry or none, and two
  processes writing one key both leave a valid file.
* The cache is an optimisation only: when its folder cannot be created or written, the result is
  computed as usual and a warning says why.
* Shipped entries: a shipped model may carry read-only entries in ``pretrained/<model>/cache/<namespace>/``
  (made by ``scripts/make_reference_stats.py``, with a ``PROVENANCE.json`` beside them), checked the same
  way as the user's and read when the user's cache has none, so the first erase of a shipped model, as the
  README runs it, skips the reference pass. They are never written to; ``ERASER_NO_CACHE=1`` ignores them
  too.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["CACHE_FORMAT", "TensorCache", "cache_dir", "digest_generator", "digest_inputs", "digest_module",
           "digest_tensors", "shipped_folders"]

#: bump when the layout of an entry changes; old entries then simply miss
CACHE_FORMAT = "eraser-cache/1"


def cache_dir() -> Path | None:
    """The cache folder, or None when ``ERASER_NO_CACHE`` is set to anything but ``""`` / ``0``."""
    if os.environ.get("ERASER_NO_CACHE", "").strip() not in ("", "0"):
        return None
    explicit = os.environ.get("ERASER_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "eraser"


def shipped_folders(namespace: str) -> list[Path]:
    """The shipped models' read-only entry folders ``pretrained/<model>/cache/<namespace>`` that exist."""
    from eraser.registry import pretrained_root

    root = pretrained_root()
    return sorted(p for p in root.glob(f"*/cache/{namespace}") if p.is_dir()) if root.is_dir() else []


def digest_inputs(inputs: Mapping[str, Any]) -> str:
    """sha256 (hex) of ``inputs`` as canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(_canonical(inputs).encode()).hexdigest()


def _canonical(inputs: Mapping[str, Any]) -> str:
    return json.dumps(inputs, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest_tensors(tensors: Mapping[str, Tensor]) -> str:
    """sha256 (hex) of named tensors: each name, dtype, shape and raw bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes, whatever the dtype
    return h.hexdigest()


def digest_module(module: nn.Module) -> str:
    """sha256 of a module's class and its state dict (parameters and buffers)."""
    cls = type(module)
    return digest_inputs({"class": f"{cls.__module__}.{cls.__qualname__}", "state": digest_tensors(module.state_dict())})


def digest_generator(g: Any) -> str:
    """sha256 of what a generator's samples depend on: adapter, config, latent shape and weights.

    The weights are hashed from memory (``module.state_dict()``), so a checkpoint, a shipped name and
    an in-memory copy with the same weights share entries, and an edited copy never does.
    """
    try:
        config = g.config()
    except NotImplementedError:
        config = None
    code = getattr(g.module, "code", None)  # TorchScript: the program is part of the function
    return digest_inputs({
        "adapter": f"{type(g).__module__}.{type(g).__qualname__}",
        "config": json.loads(json.dumps(config, default=str)),
        "latent_shape": list(g.latent_shape),
        "module": digest_module(g.module),
        "code": hashlib.sha256(code.encode()).hexdigest() if isinstance(code, str) else None,
    })


class TensorCache:
    """Named tensors plus a JSON-able ``meta`` dict, stored under ``folder/namespace/KEY.safetensors``.

    ``get(inputs)`` returns ``(tensors, meta)`` or None; ``put(inputs, tensors, meta)`` stores them.
    ``folder=None`` means :func:`cache_dir` (which may say the cache is off: then every ``get``
    misses and every ``put`` does nothing).
    """

    def __init__(self, namespace: str, folder: str | os.PathLike | None = None,
                 shipped: list[str | os.PathLike] | None = None) -> None:
        root = cache_dir() if folder is None else Path(folder)
        self.folder = None if root is None else root / namespace
        self.namespace = namespace
        #: where the latest ``get`` found its entry: "user" (the cache folder) or "shipped"
        self.last_source: str | None = None
        #: read-only folders searched after ``folder`` (default: the shipped models' ``cache/<namespace>``)
        if self.folder is None:
            self.shipped: list[Path] = []
        elif shipped is None:
            self.shipped = shipped_folders(namespace)
        else:
            self.shipped = [Path(p) for p in shipped]

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def path(self, inputs: Mapping[str, Any]) -> Path | None:
        return None if self.folder is None else self.folder / f"{digest_inputs(inputs)}.safetensors"

    def get(self, inputs: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
        """The entry for ``inputs`` from the user's cache, else from a shipped folder; None on a miss."""
        path = self.path(inputs)
        if path is None:
            return None
        if not path.is_file():
            shipped = [p / path.name for p in self.shipped if (p / path.name).is_file()]
            if not shipped:
                return None
            path = shipped[0]
            self.last_source = "shipped"
        else:
            self.last_source = "user"
        return self._read(path, inputs)

    def _read(self, path: Path, inputs: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                header = f.metadata() or {}
                names = f.keys()  # a safetensors handle, not a dict
                tensors = {k: f.get_tensor(k) for k in names}
            ok = (header.get("format") == CACHE_FORMAT and header.get("inputs") == _canonical(inputs)
                  and header.get("tensors_sha256") == digest_tensors(tensors))
            meta = json.loads(header.get("meta", "{}"))
        except Exception as e:  # noqa: BLE001 -- any unreadable file (safetensors, JSON, OS errors) is a miss
            ok, why = False, f"{type(e).__name__}: {e}"
        else:
            why = "its inputs or contents do not match its key"
        if not ok:
            warnings.warn(f"ignoring the damaged cache entry {path} ({why}); it will be recomputed", RuntimeWarning,
                          stacklevel=3)
            return None
        return tensors, meta

    def put(self, inputs: Mapping[str, Any], tensors: Mapping[str, Tensor], meta: Mapping[str, Any] | None = None) -> Path | None:
        path = self.path(inputs)
        if path is None:
            return None
        from safetensors.torch import save_file

        from eraser.errors import EraserError
        from eraser.io import atomic_path

        tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        header = {"format": CACHE_FORMAT, "inputs": _canonical(inputs), "tensors_sha256": digest_tensors(tensors),
                  "meta": json.dumps(dict(meta or {}), sort_keys=True, allow_nan=False)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path, ".safetensors") as tmp:
                save_file(tensors, str(tmp), metadata=header)
        except (OSError, EraserError) as e:
            warnings.warn(f"could not write the cache entry {path} ({e}); set ERASER_CACHE_DIR to a writable folder "
                          "or ERASER_NO_CACHE=1", RuntimeWarning, stacklevel=2)
            return None
        return path
