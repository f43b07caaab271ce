"""Generators: the interface, the family adapters, checkpoints and loading."""

from eraser.generators.base import Generator, resolve_device
from eraser.generators.checkpoint import load_checkpoint, save_checkpoint
from eraser.generators.loading import LoadOptions, load_generator

__all__ = ["Generator", "LoadOptions", "load_checkpoint", "load_generator", "resolve_device", "save_checkpoint"]
