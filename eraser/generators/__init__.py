"""Generators: the interface, the family adapters, checkpoints and loading."""

from eraser.generators.base import Generator, resolve_device
from eraser.generators.checkpoint import load_checkpoint, save_checkpoint
from eraser.generators.loading import LoadOptions, load_generator
from eraser.generators.trust import register_class, trusting_code

__all__ = ["Generator", "LoadOptions", "load_checkpoint", "load_generator", "register_class", "resolve_device",
           "save_checkpoint", "trusting_code"]
