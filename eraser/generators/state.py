"""Strict state-dict checks and safe weight-file reading.

Loading never drops or invents a key: every mismatch is named in one line. Weight files are read
as safetensors, or with ``torch.load(weights_only=True)``; a full pickle only with ``trust_pickle``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from eraser.errors import EraserError

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".tar", ".ckpt", ".pkl")


def _few(names: list[str], k: int = 5) -> str:
    shown = ", ".join(names[:k])
    return shown + (f" (+{len(names) - k} more)" if len(names) > k else "")


def check_state_dict(module: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Raise EraserError naming missing, unexpected and wrongly-shaped keys, if there are any."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_few(unexpected)}")
    if shapes:
        problems.append(f"wrong shapes (file vs model): {_few(shapes)}")
    if problems:
        raise EraserError(
            f"weights in {source} do not match {type(module).__name__}: " + "; ".join(problems)
            + "; check the class and its constructor arguments"
        )


def load_strict(module: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Check keys and shapes, then copy ``state`` into ``module`` (strict)."""
    check_state_dict(module, state, source)
    module.load_state_dict(state, strict=True)


def is_torchscript(path: Path) -> bool:
    """True for a TorchScript archive (a zip whose entries include serialized code)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in n for n in zf.namelist())


def read_weights(
    path: Path, state_dict_key: str | None = None, trust_pickle: bool = False
) -> dict[str, Tensor]:
    """Read a state dict from a safetensors file or a torch checkpoint.

    ``state_dict_key`` picks a nested dict (``netG_state_dict`` in a training checkpoint).
    """
    import safetensors.torch

    if not path.is_file():
        raise EraserError(f"weights file {path} not found")
    if path.suffix == ".safetensors":
        try:
            state = safetensors.torch.load_file(str(path))
        except Exception as e:  # safetensors raises its own error types for bad headers
            raise EraserError(f"{path} is not a readable safetensors file ({e})") from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
        except Exception as e:  # torch.load raises many types (UnpicklingError, RuntimeError, EOFError…)
            text = str(e)
            if not trust_pickle and ("Weights only load failed" in text or "Unsupported global" in text):
                raise EraserError(
                    f"{path} holds pickled objects beyond plain tensors; if you trust its source, "
                    "pass --trust-pickle (it can run code), or convert it to safetensors"
                ) from None
            first = text.strip().splitlines()[0] if text.strip() else ""
            raise EraserError(f"cannot read weights from {path} ({type(e).__name__}: {first})") from None
        if state_dict_key is not None:
            if not isinstance(obj, dict) or state_dict_key not in obj:
                keys = list(obj) if isinstance(obj, dict) else []
                raise EraserError(
                    f"{path} has no entry {state_dict_key!r}; its top-level keys are {_few([str(k) for k in keys])}"
                )
            obj = obj[state_dict_key]
        if isinstance(obj, nn.Module):
            obj = obj.state_dict()
        if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
            keys = [str(k) for k in obj] if isinstance(obj, dict) else []
            hint = f" (top-level keys: {_few(keys)}; pick one with --state-dict-key)" if keys else ""
            raise EraserError(f"{path} does not hold a flat state dict of tensors{hint}")
        state = obj
    if state_dict_key is not None and path.suffix == ".safetensors":
        prefix = state_dict_key.rstrip(".") + "."
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state
