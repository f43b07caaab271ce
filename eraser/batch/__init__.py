"""Batch sanitisation: a manifest of erase jobs, run in local processes or on Ray, resumable, with a summary.

``load_manifest(path)`` validates a TOML/YAML manifest (every problem at once, with line numbers);
``run_batch(manifest, out, jobs=N, ray_address=None)`` runs it and returns the summary.
"""

from eraser.batch.manifest import Job, Manifest, ManifestError, load_manifest
from eraser.batch.runner import run_batch

__all__ = ["Job", "Manifest", "ManifestError", "load_manifest", "run_batch"]
