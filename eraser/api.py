"""The Python API: ``eraser.load``, ``eraser.erase``, ``eraser.evaluate``, ``eraser.audit``.

Each takes a generator in any form a notebook user has at hand: a ``torch.nn.Module`` in memory (with its
``latent_shape``), an eraser ``Generator``, a shipped model name, or a path (a checkpoint folder, a diffusers
folder, TorchScript, a weights file with ``module_class``). Labellers and classifiers are specs
(``marks:PATH``, ``probe:NAME``, ``clip:FEATURE``) or ``Labeller`` objects. The functions call the same
library code as the CLI and return its typed values (``EraseResult``, ``Evaluation``, ``Audit``); failed
guards are a verdict in the value, not an exception. Progress messages go to ``logging`` (logger ``eraser``).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eraser.errors import EraserError
from eraser.generators.base import Generator

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from eraser.audit.attacks import Audit
    from eraser.direction import Direction
    from eraser.guards import GuardLimits
    from eraser.labelling.base import Labeller
    from eraser.labelling.spec import LabellerSpec
    from eraser.results import EraseResult, Evaluation
    from eraser.unlearn.settings import EraseSettings

GeneratorLike = "Generator | nn.Module | str | Path"


def load(generator: Generator | nn.Module | str | Path, *, latent_shape: tuple[int, ...] | None = None,
         device: str = "cpu", name: str | None = None, init_args: dict[str, Any] | None = None, **options: Any) -> Generator:
    """A ``Generator`` from any of the forms above, on ``device``, in eval mode.

    * ``nn.Module``: wrapped as is (a module with ``encode`` and ``decode`` as a VAE); ``latent_shape`` is the
      shape of one latent at its input, e.g. ``(100, 1, 1)``; ``init_args`` are its constructor arguments,
      recorded so that a saved checkpoint can be rebuilt (its class must be importable then).
    * ``Generator``: returned as is (moved to ``device``).
    * a name or path: ``eraser.generators.load_generator``; ``options`` are ``LoadOptions`` fields
      (``module_class``, ``state_dict_key``, ``trust_pickle``, ``trust_code``; ``latent_shape`` too).
    """
    from torch import nn

    from eraser.generators import LoadOptions, load_generator
    from eraser.generators.adapters import ModuleGenerator, VAEGenerator

    if isinstance(generator, Generator):
        return generator.to(device)
    if isinstance(generator, nn.Module):
        if latent_shape is None:
            raise EraserError("an nn.Module needs latent_shape=, the shape of one latent at its input, e.g. (100, 1, 1)")
        adapter = VAEGenerator if VAEGenerator.is_vae_class(type(generator)) else ModuleGenerator
        from eraser.generators.shape import check_latent_shape

        g = adapter(generator, tuple(latent_shape), init_args or {}, name or type(generator).__name__).to(device)
        check_latent_shape(g, g.name)
        return g
    if isinstance(generator, (str, Path)):
        return load_generator(str(generator), device, LoadOptions(latent_shape=latent_shape, **options))
    raise TypeError(f"a generator is an nn.Module, an eraser Generator, a shipped name or a path, not {type(generator).__name__}")


def _generator_input(generator: Any, latent_shape: tuple[int, ...] | None, device: str) -> Generator | str:
    """What a request takes: a name or path as is (so provenance records it and its sha256), else a Generator."""
    if isinstance(generator, (str, Path)) and latent_shape is None:
        return str(generator)
    return load(generator, latent_shape=latent_shape, device=device)


def erase(generator: Generator | nn.Module | str | Path,
          labeller: str | LabellerSpec | Labeller | list[str | LabellerSpec | Labeller], out: str | Path, *,
          latent_shape: tuple[int, ...] | None = None, feature_classifier: str | Labeller | list[str | Labeller] | None = None,
          settings: EraseSettings | dict[str, Any] | None = None, limits: GuardLimits | dict[str, float] | None = None,
          device: str = "cpu", **options: Any) -> EraseResult:
    """Erase the feature ``labeller`` finds from ``generator``; write the erased checkpoint and its report to ``out``.

    ``labeller`` may be a list (several features erased in one fine-tune, e.g.
    ``["marks:eyeglasses.json", "marks:headwear.json"]``), and ``feature_classifier`` too: each classifier
    measures the erased feature of its name; one whose feature is not erased gives a collateral row
    (``result.metrics.collateral``). ``result.metrics.features`` has a row per erased feature.

    ``settings``: ``EraseSettings`` or its fields as a dict (``method``, ``steps``, ``batch_size``, ``lr``,
    ``seed``, …); ``limits``: ``GuardLimits`` or its fields; ``options``: further ``EraseRequest`` fields
    (``n_label``, ``n_eval``, ``fid_samples``, ``guard_every``, ``progress``, …). Returns the ``EraseResult``:
    ``result.verdict``, ``result.metrics``, ``result.guards``, ``result.generator`` (G' in memory).
    """
    from eraser.guards import GuardLimits
    from eraser.pipeline import EraseRequest, run_erase
    from eraser.unlearn.settings import EraseSettings

    known = {f.name for f in fields(EraseRequest)} - {"generator", "labeller", "out", "settings", "limits",
                                                       "feature_classifier", "device"}
    if unknown := sorted(set(options) - known):
        raise TypeError(f"eraser.erase() got unknown options {unknown}; known: {sorted(known)}")
    if not isinstance(settings, EraseSettings):
        settings = EraseSettings(**(settings or {}))
    if not isinstance(limits, GuardLimits):
        limits = GuardLimits(**(limits or {}))
    req = EraseRequest(generator=_generator_input(generator, latent_shape, device), labeller=labeller, out=Path(out),
                       settings=settings, limits=limits, feature_classifier=feature_classifier, device=device, **options)
    return run_erase(req)


def evaluate(original: Generator | nn.Module | str | Path, erased: Generator | nn.Module | str | Path, out: str | Path, *,
             feature_classifier: str | Labeller | None = None, labeller: str | Labeller | None = None,
             latent_shape: tuple[int, ...] | None = None, n_eval: int = 2000, fid_samples: int = 500,
             limits: GuardLimits | dict[str, float] | None = None, device: str = "cpu", seed: int = 3000) -> Evaluation:
    """Measure an erased generator against its original (as ``eraser evaluate``); write the report to ``out``."""
    from eraser.evaluation import run_evaluate
    from eraser.guards import GuardLimits

    if not isinstance(limits, GuardLimits):
        limits = GuardLimits(**(limits or {}))
    return run_evaluate(_generator_input(original, latent_shape, device), _generator_input(erased, latent_shape, device),
                        Path(out), feature_classifier, labeller, n_eval, fid_samples, limits, device, seed)


def audit(generator: Generator | nn.Module | str | Path, classifier: str | Labeller, *,
          original: Generator | nn.Module | str | Path | None = None, direction: Direction | str | Path | None = None,
          marks: str | Path | None = None, judge: str | Labeller | None = None, budget: Any = None,
          latent_shape: tuple[int, ...] | None = None, out: str | Path | None = None, device: str = "cpu") -> Audit:
    """Attack ``generator`` (and ``original``, with the same budget) for the feature ``classifier`` finds
    (as ``eraser audit``). The walk follows ``direction`` (a ``Direction`` or a direction.json), or the
    direction of ``marks``, or the one recorded in an erased checkpoint's report. With ``out``, also
    writes ``audit.json`` and ``audit.png`` there."""
    from eraser.audit.attacks import resolve_direction, run_audit, write_audit_files
    from eraser.audit.budget import AuditBudget
    from eraser.classifiers import load_classifier
    from eraser.direction import Direction

    g = load(generator, latent_shape=latent_shape, device=device)
    models = {"generator": g}
    if original is not None:
        models = {"original": load(original, latent_shape=latent_shape, device=device), "erased": g}
    clf = load_classifier(classifier, device) if isinstance(classifier, str) else classifier
    jdg = load_classifier(judge, device) if isinstance(judge, str) else judge
    if not isinstance(direction, Direction):
        where = str(generator) if isinstance(generator, (str, Path)) else ""
        direction, _ = resolve_direction(marks, direction, where, g.latent_dim)
    result = run_audit(models, clf, direction, budget or AuditBudget(), judge=jdg)
    if out is not None:
        from eraser.io import atomic_dir

        with atomic_dir(Path(out)) as tmp:
            write_audit_files(tmp, result)
    return result


__all__ = ["audit", "erase", "evaluate", "load"]
