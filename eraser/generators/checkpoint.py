"""eraser's checkpoint directory: ``model.safetensors`` + ``config.json`` + ``provenance.json``.

``config.json`` says how to rebuild the module (adapter kind, class, constructor arguments,
latent shape) and which format version wrote it; ``provenance.json`` says where the weights came
from and records their sha256, which loading verifies. Writing is atomic and never replaces an
existing directory unless asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eraser.version import __version__
from eraser.errors import EraserError
from eraser.generators.adapters import ADAPTERS
from eraser.generators.base import Generator
from eraser.generators.state import load_strict
from eraser.io import atomic_dir, read_json_object, sha256_file, write_json

FORMAT = "eraser.checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a folder whose config.json names eraser's checkpoint format. No folder or no
    config.json: False. A config.json that is not a readable JSON object: a one-line EraserError naming it."""
    cfg = Path(path) / "config.json"
    if not (Path(path).is_dir() and cfg.is_file()):
        return False
    return read_json_object(cfg, "checkpoint config").get("format") == FORMAT


def save_checkpoint(
    generator: Generator,
    out_dir: str | Path,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write ``generator`` as an eraser checkpoint directory at ``out_dir`` (atomically).

    ``extra_files`` maps file names to text written beside the weights (licence notices).
    """
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        write_checkpoint_files(generator, tmp, provenance)
        write_extra_files(tmp, extra_files)
    return out_dir


def write_checkpoint_files(generator: Generator, directory: Path, provenance: dict[str, Any] | None = None) -> None:
    """Write a generator's weights, config.json and provenance.json into an existing (temporary) directory."""
    # clone() breaks storage sharing (tied weights), which safetensors refuses to write
    state = {k: v.detach().cpu().clone().contiguous() for k, v in generator.state_dict().items()}
    write_dir(directory, state, {"role": "generator", "kind": generator.kind, **generator.config()}, provenance,
              metadata={"format": "pt"})
    if hasattr(generator, "save_extra"):
        generator.save_extra(directory)


def write_extra_files(directory: Path, extra_files: dict[str, str] | None) -> None:
    for fname, text in (extra_files or {}).items():
        (directory / fname).write_text(text)


def write_dir(directory: Path, state: dict[str, Any], config: dict[str, Any], provenance: dict[str, Any] | None = None,
              extra_files: dict[str, str] | None = None, metadata: dict[str, str] | None = None) -> None:
    """The checkpoint layout shared by generators and classifiers, written into an existing directory:
    ``model.safetensors``, ``config.json`` (format header + ``config``), ``provenance.json`` (with the
    weights' sha256, checked on load) and any ``extra_files`` (name → text)."""
    import safetensors.torch

    safetensors.torch.save_file(state, str(directory / WEIGHTS), metadata=metadata)
    write_json(directory / "config.json",
               {"format": FORMAT, "format_version": FORMAT_VERSION, **config, "eraser_version": __version__})
    write_json(directory / "provenance.json",
               {**(provenance or {}), "weights_sha256": sha256_file(directory / WEIGHTS), "eraser_version": __version__})
    write_extra_files(directory, extra_files)


def read_config(path: Path, role: str) -> dict[str, Any]:
    """config.json of a checkpoint directory, checked for format, version and role (one-line errors)."""
    config = read_json_object(path / "config.json", f"{role} config")
    if config.get("format") != FORMAT:
        raise EraserError(f"{path}/config.json is not an eraser checkpoint config (no format {FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise EraserError(
            f"{path} was written in checkpoint format {version}, newer than this eraser reads ({FORMAT_VERSION}); upgrade eraser"
        )
    if config.get("role", "generator") != role:
        raise EraserError(f"{path} is a {config.get('role', 'generator')} checkpoint, not a {role}")
    return config


def read_state(path: Path, verify: bool = True) -> dict[str, Any]:
    """The weights of a checkpoint directory, after checking their sha256 against provenance.json."""
    import safetensors.torch

    weights = path / WEIGHTS
    if not weights.is_file():
        raise EraserError(f"checkpoint {path} has no {WEIGHTS}; the directory is incomplete")
    if verify:
        check_weights_hash(path)
    try:
        return safetensors.torch.load_file(str(weights))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise EraserError(f"{weights} is not a readable safetensors file ({e}); the checkpoint is corrupt") from None


def load_checkpoint(path: str | Path, name: str | None = None, verify: bool = True) -> Generator:
    """Rebuild a generator from an eraser checkpoint directory, loading weights strictly.

    With ``verify``, the weights' sha256 is checked against ``provenance.json``.
    """
    from eraser.schemas import check_generator_config

    path = Path(path)
    config = read_config(path, "generator")
    kind = config.get("kind")
    if not isinstance(kind, str) or kind not in ADAPTERS:
        raise EraserError(f"{path}/config.json names unknown generator kind {kind!r}; known: {', '.join(ADAPTERS)}")
    check_generator_config(config, path)
    state = read_state(path, verify)
    try:
        generator = ADAPTERS[kind].from_config(config, path, name or str(path))
    except KeyError as e:
        raise EraserError(f"{path}/config.json lacks the field {e}; the checkpoint is incomplete") from None
    load_strict(generator.module, state, str(path / WEIGHTS))
    generator.module.eval()
    return generator


def check_weights_hash(path: Path) -> None:
    """Compare model.safetensors with the sha256 recorded in provenance.json, if one is."""
    from eraser.schemas import read_provenance

    expected = (read_provenance(path) or {}).get("weights_sha256")
    if expected and sha256_file(path / WEIGHTS) != expected:
        raise EraserError(
            f"{path / WEIGHTS} does not match the sha256 in its provenance.json; the file is corrupt or was modified"
        )
