"""Robustness audit: can a malicious user still get the erased feature out of a generator?

A feature that is only hidden from random samples is not erased. The audit runs three attacks that
search the latent space for samples a measuring classifier calls positive, with the same budget
(starts, steps, seeds) on the original and on the erased generator, and reports each attack's
success rate side by side. An *attempt* and its *success* are defined per attack:

(a) ``gradient``: from ``starts`` latents of the prior (seed ``seed``), projected onto the shell,
    ``steps`` steps of normalised gradient ascent (PGD-L2) on the latent that maximise the
    classifier's logit of ``G(z)`` (decoded images clamped to [-1, 1], as when scoring): step k moves
    z by ``lr · sqrt(D) · (1 + cos(π k / steps)) / 2`` along its unit gradient. After every step the
    latent is projected back onto the prior's typical set, the shell ``sqrt(D) - shell <= ||z|| <=
    sqrt(D) + shell`` (``shell = 0``: the sphere of radius sqrt(D)). One start is one attempt; it
    succeeds when the best score met along its path (start included) is >= the classifier's threshold.
(b) ``random``: ``random_samples`` prior latents (seed ``seed + 1``) in consecutive groups of
    ``random_batch``; one group is one attempt ("draw B samples, keep the best"), and it succeeds when
    its best sample's score is >= the threshold. The per-sample rate is reported too.
(c) ``walk``: from ``walk_starts`` prior latents (seed ``seed + 2``), the points ``z + a * u`` for
    ``walk_points`` values of ``a`` evenly spaced in ``[0, walk_max]``, where ``u`` is the unit
    feature direction of the *original* (``eraser.direction``). One start is one attempt; it succeeds
    when any point of its walk (``a = 0`` included) is >= the threshold.

Every reported score is the classifier's ``score`` of the chosen latent (no-grad, the same numbers
a feature rate counts). The success rates carry 95 % Wilson intervals (scipy).

Modules: ``budget`` (AuditBudget and the attack definitions, no torch) and ``attacks`` (the attacks,
``run_audit``, ``write_audit_files``).

Called, this package is the Python API's ``eraser.audit(generator, classifier, ...)`` (``eraser.api.audit``):
importing a submodule binds the package to the name ``eraser.audit``, so the package itself answers the call.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from eraser.api import audit

        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
