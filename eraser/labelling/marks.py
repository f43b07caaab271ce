"""A person's marks: which samples carry the feature (yes / no / unsure), stored as JSON.

Format (``"format": "eraser.marks"``, version 1)::

    {
      "format": "eraser.marks", "format_version": 1,
      "feature": "eyeglasses",
      "generator": "digiface-dcgan64",            # what the latents decode with
      "latents": "digiface-eyeglasses.latents.npy",  # [M, latent_dim] float32, relative to this file
      "latents_sha256": "…",                       # checked on load
      "marks": [{"id": 0, "label": "no"}, {"id": 1, "label": "yes"}, …]
    }

``id`` is a row of the latents file; an entry may instead carry its latent inline as
``"latent": [..]``. Labels are ``yes``, ``no`` or ``unsure``; every id appears at most once.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.io import atomic_path, read_json, sha256_file, write_json
from eraser.labelling.base import Labeller
from eraser.latents import read_npy
from eraser.schemas import check_fields, is_opt_str, is_str
from eraser.validate import is_number

FORMAT = "eraser.marks"
FORMAT_VERSION = 1
LABELS = ("yes", "no", "unsure")
#: marks whose id is a multiple of this are held out of training in every shipped evaluation (``Marks.heldout``)
HELDOUT_EVERY = 5
#: score of each label: 1 feature, 0 none, NaN no label
LABEL_SCORE = {"yes": 1.0, "no": 0.0, "unsure": float("nan")}


@dataclass
class Marks:
    """Marked samples: latents ``z`` ``[M, latent_dim]`` and one label per row."""

    z: Tensor
    labels: list[str]
    feature: str = "feature"
    generator: str | None = None
    ids: list[int] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.z) != len(self.labels):
            raise ValueError("one label per latent")
        if not self.ids:
            self.ids = list(range(len(self.labels)))

    def __len__(self) -> int:
        return len(self.labels)

    def latents_marked(self, label: str) -> Tensor:
        """The latents ``[K, D]`` marked ``label`` (``yes``, ``no`` or ``unsure``), in file order."""
        return self.z[[i for i, lab in enumerate(self.labels) if lab == label]]

    def heldout(self) -> np.ndarray:
        """``[M]`` bool: the marks every shipped evaluation holds out of training (``id % 5 == 0``).

        The measuring classifier, the audit's judge and the deep-erasure evaluation all train on the rest.
        """
        return np.array(self.ids) % HELDOUT_EVERY == 0

    def counts(self) -> dict[str, int]:
        return {lab: self.labels.count(lab) for lab in LABELS}

    def scores(self) -> Tensor:
        """``[M]``: 1 for yes, 0 for no, NaN for unsure."""
        return torch.tensor([LABEL_SCORE[lab] for lab in self.labels], dtype=torch.float32)

    def decided(self) -> tuple[Tensor, Tensor]:
        """Latents and 0/1 labels of the yes/no marks only (unsure dropped): ``[K, D]``, ``[K]``."""
        keep = [i for i, lab in enumerate(self.labels) if lab != "unsure"]
        y = torch.tensor([1.0 if self.labels[i] == "yes" else 0.0 for i in keep])
        return self.z[keep], y

    def require_both(self, minimum: int = 1, purpose: str = "this") -> None:
        """Refuse (one line) unless there are at least ``minimum`` yes and ``minimum`` no marks."""
        c = self.counts()
        if c["yes"] < minimum or c["no"] < minimum:
            raise EraserError(
                f"{purpose} needs at least {minimum} 'yes' and {minimum} 'no' marks for {self.feature!r}, "
                f"but the marks have {c['yes']} yes and {c['no']} no; mark more samples"
            )

    def subset(self, rows) -> Marks:
        rows = list(rows)
        return Marks(self.z[rows], [self.labels[i] for i in rows], self.feature, self.generator,
                     [self.ids[i] for i in rows], dict(self.meta))


def load_marks(path: str | Path) -> Marks:
    """Read and validate a marks file; every problem is reported as one line naming the file."""
    path = Path(path)
    doc = read_json(path, "marks file")
    where = f"marks file {path}"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise EraserError(f"{where} is not an eraser marks file (expected \"format\": \"{FORMAT}\")")
    if not isinstance(doc.get("format_version"), int) or doc["format_version"] > FORMAT_VERSION:
        raise EraserError(f"{where} has format_version {doc.get('format_version')!r}; this eraser reads version {FORMAT_VERSION}")
    entries = doc.get("marks")
    if not isinstance(entries, list) or not entries:
        raise EraserError(f"{where} has no \"marks\" list (or it is empty)")
    check_fields(doc, where, {"latents": ("a file name", is_str), "latents_sha256": ("a sha256 string", is_opt_str),
                              "feature": ("a string", is_str), "generator": ("a generator name or null", is_opt_str)})
    table = None
    if doc.get("latents") is not None:
        lat_path = path.parent / str(doc["latents"])
        if not lat_path.is_file():
            raise EraserError(f"{where} refers to latents {lat_path}, which is missing")
        if doc.get("latents_sha256") and sha256_file(lat_path) != doc["latents_sha256"]:
            raise EraserError(f"latents {lat_path} do not match the sha256 in {path}; they were changed after marking")
        table = read_npy(lat_path, "marks latents file")
        if table.ndim != 2 or not table.shape[1]:
            raise EraserError(f"latents {lat_path} must be a float array [M, latent_dim], got {table.dtype} {list(table.shape)}")
    rows, labels, ids, seen = [], [], [], set()
    for k, e in enumerate(entries):
        if not isinstance(e, dict) or "label" not in e or ("id" not in e and "latent" not in e):
            raise EraserError(f"{where}: mark #{k} must be an object with \"label\" and \"id\" (or \"latent\")")
        label = e["label"]
        if label not in LABELS:
            raise EraserError(f"{where}: mark #{k} has label {label!r}; use one of yes, no, unsure")
        if "id" in e and (not isinstance(e["id"], int) or isinstance(e["id"], bool)):
            raise EraserError(f"{where}: mark #{k} has id {e['id']!r}; ids are integers (rows of the latents file)")
        if "latent" in e:
            if not isinstance(e["latent"], list) or not e["latent"] or not all(map(is_number, e["latent"])):
                raise EraserError(f"{where}: mark #{k} has a latent that is not a flat list of finite numbers")
            vec = np.asarray(e["latent"], dtype=np.float64)
            ident = e.get("id", -1 - k)
        else:
            ident = e["id"]
            if table is None:
                raise EraserError(f"{where}: mark #{k} uses an id but the file names no \"latents\"")
            if not 0 <= ident < len(table):
                raise EraserError(f"{where}: mark #{k} has unknown id {ident}; the latents file has rows 0..{len(table) - 1}")
            vec = table[ident]
        if ident in seen:
            raise EraserError(f"{where}: id {ident} is marked more than once")
        seen.add(ident)
        rows.append(np.asarray(vec, dtype=np.float32))
        labels.append(label)
        ids.append(ident)
    if len({len(r) for r in rows}) != 1:
        raise EraserError(f"{where}: latents have different lengths")
    z = np.stack(rows)
    if not np.isfinite(z).all():
        raise EraserError(f"{where}: the latent of mark #{int(np.argwhere(~np.isfinite(z))[0][0])} is too large for float32")
    meta = {k: v for k, v in doc.items() if k not in ("marks",)}
    return Marks(torch.from_numpy(z), labels, str(doc.get("feature", "feature")),
                 doc.get("generator"), ids, meta)


def save_marks(path: str | Path, marks: Marks, latents_name: str | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``marks`` and its latents (``<name>.latents.npy`` beside it), so that the JSON and the latents
    file it names match at every moment, even if the process dies between two writes.

    Each file is replaced by one atomic rename. When the latents file already holds other latents (which
    the JSON there may name), the new latents go first to a file named after their sha256, the JSON is
    switched to it, then the latents are copied to their usual name, the JSON switched back and the
    interim file removed: after every step the JSON on disk loads, as the old marks or as the new ones.
    """
    path = Path(path)
    latents_name = latents_name or path.name.removesuffix(".json") + ".latents.npy"
    lat_path = path.parent / latents_name
    buf = io.BytesIO()
    np.save(buf, marks.z.detach().cpu().float().numpy())  # what write_npy writes: float32 .npy
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "feature": marks.feature,
        "generator": marks.generator,
        **(extra or {}),
        "latents": latents_name,
        "latents_sha256": digest,
        "counts": marks.counts(),
        "marks": [{"id": i, "label": lab} for i, lab in enumerate(marks.labels)],
    }
    if lat_path.is_file() and sha256_file(lat_path) == digest:
        pass  # the same latents are there already (another click on the same samples): only the JSON changes
    elif not lat_path.exists():
        with atomic_path(lat_path, ".npy") as tmp:
            tmp.write_bytes(data)
    else:  # other latents are there, and the JSON there may name them: switch over in steps
        interim_name = latents_name.removesuffix(".npy") + f".{digest[:16]}.npy"
        interim = path.parent / interim_name
        with atomic_path(interim, ".npy") as tmp:
            tmp.write_bytes(data)
        write_json(path, {**doc, "latents": interim_name})
        with atomic_path(lat_path, ".npy") as tmp:
            tmp.write_bytes(data)
        write_json(path, doc)
        interim.unlink()
        return path
    write_json(path, doc)
    return path


def merge_marks(sources: list[tuple[str, Marks]], prefer: str | None = None) -> tuple[Marks, dict[str, int]]:
    """One ``Marks`` from several files of the same feature and generator, in file order.

    The same latent (bit for bit, as float32) marked in several files is kept once. An ``unsure`` gives way
    to a ``yes`` or ``no`` of the same latent. A ``yes`` against a ``no`` is a conflict: without ``prefer``
    it is a one-line error with their count; ``prefer="last"`` keeps the later file's label, ``"first"`` the
    earlier's. Returns the merged marks and counts (``duplicates``, ``resolved_unsure``, ``conflicts``).
    """
    if len(sources) < 2:
        raise EraserError("give at least two marks files to merge")
    if prefer not in (None, "first", "last"):
        raise EraserError(f"--prefer must be first or last, not {prefer!r}")
    features = {m.feature for _, m in sources}
    if len(features) > 1:
        raise EraserError("the marks files mark different features (" + ", ".join(f"{p}: {m.feature!r}" for p, m in sources)
                          + "); merge only marks of one feature")
    generators = {m.generator for _, m in sources if m.generator}
    if len(generators) > 1:
        raise EraserError("the marks files are of different generators (" + ", ".join(f"{p}: {m.generator!r}" for p, m in sources)
                          + "); merge only marks of one generator's samples")
    dims = {m.z.shape[1] for _, m in sources}
    if len(dims) > 1:
        raise EraserError("the marks files have latents of different lengths (" + ", ".join(f"{p}: {m.z.shape[1]}" for p, m in sources)
                          + "); merge only marks of one generator's samples")
    index: dict[bytes, int] = {}
    rows: list[Tensor] = []
    labels: list[str] = []
    origin: list[str] = []
    counts = {"duplicates": 0, "resolved_unsure": 0, "conflicts": 0}
    conflicts: list[str] = []
    for path, m in sources:
        for k, (row, lab) in enumerate(zip(m.z.float(), m.labels)):
            key = row.numpy().tobytes()
            j = index.get(key)
            if j is None:
                index[key] = len(rows)
                rows.append(row)
                labels.append(lab)
                origin.append(f"id {m.ids[k]} of {path}")
                continue
            counts["duplicates"] += 1
            old = labels[j]
            if old == lab or lab == "unsure":
                continue
            if old == "unsure":
                labels[j] = lab
                counts["resolved_unsure"] += 1
                continue
            counts["conflicts"] += 1
            if len(conflicts) < 3:
                conflicts.append(f"{origin[j]} is {old}, id {m.ids[k]} of {path} is {lab}")
            if prefer == "last":
                labels[j] = lab
    if counts["conflicts"] and prefer is None:
        n = counts["conflicts"]
        raise EraserError(f"{n} latent{'s are' if n > 1 else ' is'} marked yes in one file and no in another ("
                          + "; ".join(conflicts) + ("; …" if n > len(conflicts) else "")
                          + "); correct the marks in one file, or pass --prefer last (later files win) or --prefer first")
    first = sources[0][1]
    generator = next(iter(generators)) if generators else None
    return Marks(torch.stack(rows), labels, first.feature, generator), counts


class MarksLabeller(Labeller):
    """Labels exactly the samples a person marked: 1 yes, 0 no, NaN unsure.

    Asked about a latent nobody marked, it refuses: marks label only marked samples (a probe
    trained on them labels the rest), so it declares ``labels_only_known_latents``.
    """

    labels_only_known_latents = True

    def __init__(self, marks: Marks, name: str = "marks") -> None:
        super().__init__(name, feature=marks.feature)
        self.marks = marks
        self._index = {m.numpy().tobytes(): i for i, m in enumerate(marks.z.float())}

    def score(self, generator: Generator, z: Tensor, batch_size: int = 256) -> Tensor:
        scores = self.marks.scores()
        out = torch.empty(len(z))
        for i, row in enumerate(z.float().cpu()):
            j = self._index.get(row.numpy().tobytes())
            if j is None:
                raise EraserError(
                    f"sample {i} was not marked in {self.name}; marks label only the samples a person marked "
                    "(label others with a probe: --labeller probe:...)"
                )
            out[i] = scores[j]
        return out

    def known_latents(self) -> Tensor:
        """The marked latents ``[M, latent_dim]``, in file order."""
        return self.marks.z

    def score_images(self, images: Tensor) -> Tensor:
        raise EraserError(f"{self.name} labels marked latents, not images; use a probe to label images")
