"""Which ``module:Class`` names a checkpoint may make eraser import.

Importing a module runs its code, so a checkpoint from someone else must not choose what is
imported. eraser's own classes load freely, and so do classes the user's own code registers
(``register_class``); any other class needs ``--trust-code`` (``trusting_code()`` in Python), and
the check happens on the name, before anything is imported.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
from collections.abc import Iterator

from eraser.errors import EraserError

_REGISTERED: dict[str, type] = {}
_TRUST = contextvars.ContextVar("eraser_trust_code", default=False)


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def register_class(cls: type) -> type:
    """Allow checkpoints to name ``cls`` (an ``nn.Module`` subclass); usable as a decorator."""
    from torch import nn

    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_class takes a torch.nn.Module subclass, not {cls!r}")
    _REGISTERED[class_path(cls)] = cls
    return cls


def registered(path: str) -> type | None:
    return _REGISTERED.get(path)


@contextlib.contextmanager
def trusting_code(enabled: bool = True) -> Iterator[None]:
    """While active (and ``enabled``), checkpoints may name classes from any installed module."""
    token = _TRUST.set(_TRUST.get() or enabled)
    try:
        yield
    finally:
        _TRUST.reset(token)


def is_own_module(mod_name: str) -> bool:
    return mod_name == "eraser" or mod_name.startswith("eraser.")


def check_importable(path: str, source: str) -> None:
    """Refuse (one line, nothing imported) a class outside eraser that nobody vouched for."""
    mod_name = path.partition(":")[0]
    if is_own_module(mod_name) or _TRUST.get():
        return
    raise EraserError(
        f"{source} names the class {path}, from module {mod_name} outside eraser; importing it would run that "
        "module's code: if you trust this checkpoint pass --trust-code, or register the class from your own "
        "code with eraser.generators.register_class"
    )
