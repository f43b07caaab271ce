"""The registry of models shipped in ``pretrained/`` (installed as the data package ``eraser.pretrained``).

A shipped model is a directory holding ``config.json`` (its ``role``: generator or classifier)
and ``provenance.json`` (source, licence, sha256). Its directory name is its registry name.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from eraser.errors import EraserError
from eraser.io import read_json


def pretrained_root() -> Path:
    """The folder holding the shipped models: the installed data package ``eraser.pretrained``, or, when this
    eraser runs from a source checkout (``pyproject.toml`` and ``pretrained/`` beside the ``eraser`` package),
    that checkout's ``pretrained/``, so code and models come from the same tree even if ``eraser.pretrained``
    was installed (editable) from another checkout."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "pretrained" / "__init__.py").is_file():
        return checkout / "pretrained"
    return Path(str(importlib.resources.files("eraser.pretrained")))


@dataclass(frozen=True)
class ShippedModel:
    name: str
    path: Path
    role: str
    description: str
    source: str
    licence: str
    size_bytes: int
    parameters: int | None
    #: the terms of the data it was trained on, in one line (its DATA-TERMS.md says more)
    data_terms: str = ""


def _source(src) -> str:
    if isinstance(src, dict):
        return src.get("package") or src.get("marks") or src.get("summary") or ""
    return str(src or "")


def list_models() -> list[ShippedModel]:
    """Every shipped model, sorted by name."""
    models = []
    for d in sorted(p for p in pretrained_root().iterdir() if (p / "config.json").is_file()):
        config = read_json(d / "config.json")
        prov = read_json(d / "provenance.json") if (d / "provenance.json").is_file() else {}
        size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
        models.append(
            ShippedModel(
                name=d.name,
                path=d,
                role=config.get("role", "generator"),
                description=prov.get("description", ""),
                source=_source(prov.get("source")),
                licence=prov.get("licence", {}).get("spdx", "") if isinstance(prov.get("licence"), dict) else str(prov.get("licence", "")),
                size_bytes=size,
                parameters=prov.get("parameters"),
                data_terms=(prov.get("training_data_terms") or {}).get("summary", "")
                if isinstance(prov.get("training_data_terms"), dict) else "",
            )
        )
    return models


def resolve(name: str, role: str | None = None) -> Path | None:
    """The directory of shipped model ``name`` (optionally of a given role), or None."""
    if not name or "/" in name or name.startswith("."):
        return None
    d = pretrained_root() / name
    if not (d / "config.json").is_file():
        return None
    if role is not None and read_json(d / "config.json").get("role", "generator") != role:
        return None
    return d


def names(role: str | None = None) -> list[str]:
    return [m.name for m in list_models() if role is None or m.role == role]


def require(name: str, role: str) -> Path:
    """Like ``resolve`` but raising a one-line error that lists what is shipped."""
    d = resolve(name, role)
    if d is None:
        raise EraserError(f"no shipped {role} named {name!r}; shipped: {', '.join(names(role)) or 'none'} (see `eraser models`)")
    return d


def notice_text(provenance: dict) -> str:
    """A human-readable NOTICE for a shipped model, from its provenance dict (source, licence, how it was made)."""
    lines = [f"# {provenance.get('name', 'model')}", "", provenance.get("description", ""), ""]
    src = provenance.get("source", {})
    lines += ["## Source", ""] + [f"- {k}: {v}" for k, v in (src.items() if isinstance(src, dict) else [("source", src)])]
    lic = provenance.get("licence", {})
    lines += ["", "## Licence", ""] + [f"- {k}: {v}" for k, v in (lic.items() if isinstance(lic, dict) else [("licence", lic)])]
    terms = provenance.get("training_data_terms")
    if isinstance(terms, dict):
        lines += ["", "## Terms of the training data", ""] + [f"- {k}: {v}" for k, v in terms.items()]
    lines += ["", "## How it was made", "", f"- {provenance.get('made_by', '')}",
              "- the sha256 of model.safetensors is recorded in provenance.json and checked on every load", ""]
    return "\n".join(lines)
