"""The resume record of an erase: what ``OUT.partial/train_state.pt`` was started from.

Besides the settings, the record holds digests of the generator's weights, of the labels (the
latents and their labels, so a marks file or latents file that changed is noticed) and of the
feature direction. A run resumes only when all of them match; otherwise it says what changed and
how to start over. A state file that is not one eraser wrote is refused in one line too.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eraser.errors import EraserError

STATE_KEYS = {"step": int, "model": dict, "optimizer": dict, "history": list, "settings": dict}


def resume_key(generator, z: Tensor | list[Tensor], y: Tensor | list[Tensor], direction) -> dict[str, str]:
    """Digests of what an erase's training depends on besides its settings; with several features, ``z``,
    ``y`` and ``direction`` are lists (one per feature, in order) and every one of them is in the digests."""
    from eraser.cache import digest_generator, digest_tensors

    if isinstance(direction, (list, tuple)):
        return {
            "generator weights": digest_generator(generator),
            "labels": digest_tensors({f"{k}{i}": t.float() for i, (zi, yi) in enumerate(zip(z, y))
                                      for k, t in (("z", zi), ("y", yi))}),
            "direction": digest_tensors({f"{k}{i}": t for i, d in enumerate(direction)
                                         for k, t in (("unit", d.unit.float()),
                                                      ("threshold", torch.tensor(float(d.threshold), dtype=torch.float64)))}),
        }
    return {
        "generator weights": digest_generator(generator),
        "labels": digest_tensors({"z": z.float(), "y": y.float()}),
        "direction": digest_tensors({"unit": direction.unit.float(),
                                     "threshold": torch.tensor(float(direction.threshold), dtype=torch.float64)}),
    }


def check_work_dir(work: Path, settings: dict[str, Any]) -> None:
    """Before any work: ``OUT.partial`` is a folder (or absent), and a state file in it is one eraser
    wrote with these settings (its inputs are compared once they are known)."""
    if work.exists() and not work.is_dir():
        raise EraserError(f"{work} is a file, but eraser keeps an interrupted erase's state there; remove it and run again")
    state = work / "train_state.pt"
    if state.exists() and not state.is_file():
        raise EraserError(f"{state} is not a file; remove {work} to start over")
    if state.is_file():
        read_train_state(state, settings=settings)


def read_train_state(path: Path, key: dict[str, str] | None = None, module: torch.nn.Module | None = None,
                     optimizer: torch.optim.Optimizer | None = None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The training state at ``path``, checked: written by eraser, with these ``settings``, started from the
    inputs ``key`` names, and fitting ``module`` and ``optimizer`` (each check only when given)."""
    from eraser.generators.state import check_state_dict

    start_over = f"remove {path.parent} to start over"
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the file is refused anyway
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on garbage or on pickled objects
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise EraserError(f"{path} is not a training state eraser wrote ({first}); {start_over}") from None
    if not isinstance(state, dict) or any(not isinstance(state.get(k), t) or isinstance(state.get(k), bool)
                                          for k, t in STATE_KEYS.items()) or state["step"] < 0:
        raise EraserError(f"{path} is not a training state eraser wrote (missing or malformed fields); {start_over}")
    if not all(isinstance(v, Tensor) for v in state["model"].values()):
        raise EraserError(f"{path} holds model weights that are not tensors; {start_over}")
    if settings is not None and state["settings"] != settings:
        raise EraserError(f"{path} was written with other settings; remove it or rerun with the same settings")
    if key is not None:
        stored = state.get("resume_key")
        if not isinstance(stored, dict):
            raise EraserError(f"{path} does not record which inputs it was started from; {start_over}")
        changed = [name for name in key if stored.get(name) != key[name]]
        if changed:
            raise EraserError(f"{path.parent} holds an erase started with other {' and '.join(changed)}; "
                              f"rerun with the inputs it was started with, or {start_over}")
    if module is not None:
        check_state_dict(module, state["model"], str(path))
    if optimizer is not None and not _fits(state["optimizer"], optimizer):
        raise EraserError(f"{path} holds an optimizer state that does not fit this model; {start_over}")
    return state


def _fits(saved: dict[str, Any], optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.load_state_dict(saved)`` would find the same parameter groups."""
    groups = saved.get("param_groups")
    return (isinstance(saved.get("state"), dict) and isinstance(groups, list)
            and len(groups) == len(optimizer.param_groups)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list) and len(g["params"]) == len(mine["params"])
                    for g, mine in zip(groups, optimizer.param_groups)))
