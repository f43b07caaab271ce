"""Measuring an erase: preservation, feature rates, clean reference samples, FID/KID/precision-recall.

Each function takes plain values (generators, a classifier, latents, counts, seeds) and returns a
typed record (``eraser.results``). ``evaluate_erase`` is the measurement at the end of an erase;
``run_evaluate`` (``eraser evaluate``) measures any (original, erased) pair and writes its report.

The distribution metrics stream: samples are decoded and passed through Inception one batch at a
time into ``FID`` (running moments), ``KID`` and ``PrecisionRecall`` (``eraser.metrics.distribution``),
so memory holds features, not images.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from eraser.direction import Direction
from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.generators.loading import LoadOptions
from eraser.guards import GuardLimits, check, verdict
from eraser.labelling.base import Labeller
from eraser.metrics.feature_rate import feature_rate
from eraser.metrics.ssim import ms_ssim
from eraser.results import (
    AgainstFloor,
    DistributionMetrics,
    EvalSet,
    Evaluation,
    FeatureRates,
    KIDAgainstFloor,
    Preservation,
)

log = logging.getLogger(__name__)

__all__ = ["ClearOfAll", "clean_judge", "clean_judge_all", "clean_latents", "distribution_metrics", "evaluate_erase", "feature_rate", "feature_rates",
           "preservation", "reference_features", "run_evaluate"]

#: KID's subsets per comparison
KID_SUBSETS = 50
#: latents decoded per batch while streaming the distribution metrics (``Generator.generate``'s default)
STREAM_BATCH = 256


@torch.no_grad()
def preservation(g: Generator, g_new: Generator, z: torch.Tensor, batch_size: int = 256,
                 lpips: bool = False) -> Preservation:
    """Mean MS-SSIM, L1 and (with ``lpips``) LPIPS-alex v0.1 between G(z) and G'(z) (images in [-1, 1]).

    When LPIPS cannot run (no AlexNet weights here), ``lpips_mean`` is None and ``lpips_note`` says why.
    """
    metric, note = None, None
    if lpips:
        from eraser.metrics.lpips import LPIPSUnavailable, load_lpips

        try:
            metric = load_lpips(g.device)
        except LPIPSUnavailable as e:
            note = str(e)
    ssim, l1, lp = [], [], []
    for i in range(0, len(z), batch_size):
        a, b = g.generate(z[i : i + batch_size]), g_new.generate(z[i : i + batch_size])
        ssim.append(ms_ssim(a, b))
        l1.append((a - b).abs().flatten(1).mean(1))
        if metric is not None:
            lp.append(metric(a.to(g.device), b.to(g.device)).cpu())
    s, d = torch.cat(ssim), torch.cat(l1)
    return Preservation(float(s.mean()), float(s.min()), float(d.mean()), len(z), lpips=lpips,
                        lpips_mean=float(torch.cat(lp).mean()) if lp else None, lpips_note=note,
                        per_sample=[round(float(v), 5) for v in s])


def feature_rates(g: Generator, g_new: Generator, classifier: Labeller, z: torch.Tensor) -> tuple[FeatureRates, torch.Tensor]:
    """Feature rate of G and G' at the same latents (scores kept for the histograms), and G's scores ``[N]``."""
    sb, sa = classifier.score(g, z), classifier.score(g_new, z)
    before, after = float(classifier.decide(sb).float().mean()), float(classifier.decide(sa).float().mean())
    return FeatureRates(classifier.name, classifier.threshold, len(z), before, after,
                        (before - after) / before if before > 0 else None,
                        [round(v, 5) for v in sb.tolist()], [round(v, 5) for v in sa.tolist()]), sb


def clean_judge(labeller: Labeller | None, classifier: Labeller | None) -> tuple[Labeller | None, str]:
    """Who says a fresh sample of G is feature-free: the labeller if it can judge fresh samples, else
    the measuring classifier, else nobody (then the latent side of the threshold decides)."""
    if labeller is not None and not labeller.labels_only_known_latents:
        return labeller, labeller.name
    if classifier is not None:
        return classifier, classifier.name
    return None, "the latent direction (proj < t)"


class ClearOfAll(Labeller):
    """Who says a fresh sample is free of *every* erased feature (an erase of several features): each
    feature's judge (``clean_judge``), or its direction (proj ≥ t) where it has none. Scores 1 where any
    of them sees its feature, 0 where none does, NaN where a judge cannot tell; the cut is 0.5."""

    def __init__(self, judges: list[tuple[Labeller | None, Direction]], name: str) -> None:
        super().__init__(name, 0.5, "any erased feature")
        self.judges = judges

    def score(self, generator: Generator, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        seen = torch.zeros(len(z), dtype=torch.bool)
        unknown = torch.zeros(len(z), dtype=torch.bool)
        for judge, d in self.judges:
            if judge is None:
                seen |= (d.project(z) >= d.threshold).cpu()
            else:
                s = judge.score(generator, z, batch_size)
                unknown |= torch.isnan(s)
                seen |= s >= judge.clean_threshold
        out = seen.float()
        out[unknown & ~seen] = float("nan")
        return out

    def score_images(self, images: torch.Tensor) -> torch.Tensor:
        raise EraserError(f"{self.name} judges latents (some features only by their direction), not images")


def clean_judge_all(labellers: list[Labeller], classifiers: list[Labeller | None],
                    directions: list[Direction]) -> tuple[Labeller, str]:
    """``clean_judge`` for several erased features (each with its labeller, matched classifier or None, and
    direction): a ``ClearOfAll`` judge and how it decides."""
    judges, hows = [], []
    for lab, clf, d in zip(labellers, classifiers, directions):
        judge, how = clean_judge(lab, clf)
        judges.append((judge, d))
        hows.append(f"{lab.feature}: {how if judge is not None else 'its latent direction (proj < t)'}")
    how = "free of every erased feature (" + "; ".join(hows) + ")"
    return ClearOfAll(judges, how), how


def clean_latents(g: Generator, judge: Labeller | None, direction: Direction | None, n: int, seed: int) -> torch.Tensor:
    """``n`` fresh latents whose samples ``judge`` calls feature-free (or proj < t without a judge).

    A judge's ``clean_threshold`` (at most its threshold) is the cut, so few missed features get in.
    """
    found: list[torch.Tensor] = []
    have = 0
    for k in range(20):
        z = g.sample_latents(2 * n, seed * 1000 + k)
        if judge is None:
            keep = direction.project(z) < direction.threshold
        else:
            s = judge.score(g, z)
            keep = ~torch.isnan(s) & (s < judge.clean_threshold)
        found.append(z[keep])
        have += int(keep.sum())
        if have >= n:
            return torch.cat(found)[:n]
    raise EraserError(f"could not find {n} feature-free samples in {40 * n} draws; the judge calls almost everything positive")


def _stream(g: Generator, z: torch.Tensor, feats, *updates: Callable[[torch.Tensor], None]) -> None:
    """Decode ``z`` and take its Inception features batch by batch, handing each batch ``[B, 2048]`` to ``updates``.

    A progress bar (tqdm, on stderr) shows on a terminal only; this is the slow part of an evaluation.
    """
    from tqdm.auto import tqdm

    with tqdm(total=len(z), desc=f"Inception features, {g.name}", unit="img", disable=None, leave=False) as bar:
        for i in range(0, len(z), STREAM_BATCH):
            f = feats.features(g.generate(z[i : i + STREAM_BATCH]))  # [B, 2048] float64
            for update in updates:
                update(f)
            bar.update(len(f))


def _metrics(kid_subset: int, real: torch.Tensor | None = None):
    """Streaming ``FID``, ``KID`` and ``PrecisionRecall``, with ``real`` ``[n, D]`` (if given) as their reference set."""
    from eraser.metrics.distribution import FID, KID, PrecisionRecall

    ms = (FID(), KID(subsets=KID_SUBSETS, subset_size=kid_subset), PrecisionRecall())
    if real is not None:
        for i in range(0, len(real), STREAM_BATCH):
            for m in ms:
                m.update(features_real=real[i : i + STREAM_BATCH])
    return ms


def reference_features(g: Generator, judge: Labeller | None, direction: Direction | None, n: int, seed: int, feats,
                       kid_subset: int) -> tuple[torch.Tensor, dict[str, float], str]:
    """Inception features ``[n, 2048]`` of G's feature-free samples (seed ``seed``), and the floors.

    The floors are FID, KID (``KID_SUBSETS`` subsets of ``kid_subset``) and precision/recall between that
    set and a second one (seed ``seed + 1``), streamed batch by batch. All of it depends only on G, the two
    latent sets and the feature network, so it is read from the on-disk cache (``eraser.cache``) when an
    earlier run stored it: a repeated erase of the same generator skips 2 × n Inception passes and one
    matrix square root. The key holds the digests of G's weights, of both latent sets and of the Inception
    weights, so a cached entry is only used for exactly these inputs. Returns
    ``(features, floors, "hit" | "shipped" | "miss" | "off")`` ("shipped": read from the statistics shipped
    beside a model, ``scripts/make_reference_stats.py``).
    """
    from eraser.cache import TensorCache

    z_a, z_b, inputs = reference_inputs(g, judge, direction, n, seed, feats, kid_subset)
    cache = TensorCache("fid-reference")
    hit = cache.get(inputs) if cache.enabled else None
    if hit is not None:
        return hit[0]["features"].double(), hit[1]["floor"], "shipped" if cache.last_source == "shipped" else "hit"
    clean_a, floor = compute_reference(g, z_a, z_b, feats, kid_subset)
    # pool3 features are float32 values held in float64: stored as float32 they come back bit for bit
    cache.put(inputs, {"features": clean_a.float()}, {"floor": floor})
    return clean_a, floor, "miss" if cache.enabled else "off"


def reference_inputs(g: Generator, judge: Labeller | None, direction: Direction | None, n: int, seed: int, feats,
                     kid_subset: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """The two feature-free latent sets (seeds ``seed`` and ``seed + 1``) and the cache key's inputs."""
    from eraser.cache import digest_generator, digest_tensors

    z_a = clean_latents(g, judge, direction, n, seed)  # [n, D]
    z_b = clean_latents(g, judge, direction, n, seed + 1)
    inputs = {"what": "FID reference features and floors", "generator": digest_generator(g),
              "latents": [digest_tensors({"z": z_a}), digest_tensors({"z": z_b})], "features": feats.fingerprint(),
              "kid": {"subsets": KID_SUBSETS, "subset_size": kid_subset}, "pr_k": 3}
    return z_a, z_b, inputs


def compute_reference(g: Generator, z_a: torch.Tensor, z_b: torch.Tensor, feats,
                      kid_subset: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Inception features of G(z_a) ``[n, 2048]`` and the floors between G(z_a) and G(z_b), streamed."""
    fid, kid, pr = _metrics(kid_subset)
    batches: list[torch.Tensor] = []
    _stream(g, z_a, feats, batches.append, *(lambda f, m=m: m.update(features_real=f) for m in (fid, kid, pr)))
    _stream(g, z_b, feats, *(lambda f, m=m: m.update(features_fake=f) for m in (fid, kid, pr)))
    clean_a = torch.cat(batches)  # [n, 2048]
    precision, recall = pr.compute()
    floor = {"fid": fid.compute(), "kid": kid.compute()[0], "precision": precision, "recall": recall}
    return clean_a, floor


def distribution_metrics(g: Generator, g_new: Generator, judge: Labeller | None, direction: Direction | None, n: int,
                         seed: int, device: str, judge_name: str) -> DistributionMetrics:
    """FID, KID×1000 and precision/recall of G' (fresh latents) against G's feature-free samples, with floors.

    The floor of each metric is its value between two independent draws of G's feature-free samples
    (what a perfect, feature-free copy of G would score at this sample size). G' is decoded and embedded
    batch by batch into the streaming metrics.
    """
    from eraser.metrics.distribution import InceptionFeatures, protocol_name
    from eraser.weights import inception_weights

    feats = InceptionFeatures(device)
    t0 = time.time()
    subset = max(2, min(1000, n // 2))
    clean_a, floor, cached = reference_features(g, judge, direction, n, seed, feats, subset)  # [n, 2048], floors
    fid, kid, pr = _metrics(subset, real=clean_a)
    _stream(g_new, g.sample_latents(n, seed + 2), feats, *(lambda f, m=m: m.update(features_fake=f) for m in (fid, kid, pr)))
    kid_erased, (p_erased, r_erased) = kid.compute(), pr.compute()
    found = inception_weights()
    pr_name = protocol_name("pr", n, "clean")
    return DistributionMetrics(
        reference=f"feature-free samples of the original, judged by {judge_name}",
        features=f"FID Inception-v3 pool3, 299 px bilinear, weights from {found.kind} ({found.path})",
        n_per_set=n,
        fid=AgainstFloor(protocol_name("fid", n, "clean"), fid.compute(), floor["fid"]),
        kid_x1000=KIDAgainstFloor(protocol_name("kid", n, "clean"), 1000 * kid_erased[0], 1000 * floor["kid"],
                                  1000 * kid_erased[1], KID_SUBSETS, subset),
        precision=AgainstFloor(pr_name, p_erased, floor["precision"]),
        recall=AgainstFloor(pr_name, r_erased, floor["recall"]),
        reference_cache=cached,
        seconds=round(time.time() - t0, 1),
    )


def evaluate_erase(g: Generator, g_new: Generator, direction: Direction, z_clean: torch.Tensor,
                   classifier: Labeller | None, n_eval: int, eval_seed: int) -> tuple[Preservation, EvalSet, FeatureRates | None]:
    """The end-of-erase measurement: preservation on the (at most 512) latents labelled feature-free
    ``z_clean``, and, on ``n_eval`` fresh latents (seed ``eval_seed``), the share beyond the threshold and the
    measuring classifier's feature rate before and after."""
    pres = preservation(g, g_new, z_clean[:512], lpips=True)
    z_eval = g.sample_latents(n_eval, eval_seed)
    p = direction.project(z_eval)
    ev = EvalSet(n_eval, eval_seed, float((p >= direction.threshold).float().mean()))
    rates = feature_rates(g, g_new, classifier, z_eval)[0] if classifier is not None else None
    return pres, ev, rates


def evaluation_summary(ev: Evaluation, limits: GuardLimits, device: str, labeller: Labeller | None,
                       classifier: Labeller | None):
    """The report summary (``eraser.report.summary``) of an evaluation."""
    import datetime
    from dataclasses import asdict

    from eraser.guards import as_dicts
    from eraser.report.summary import Cost, FeatureSummary, ReportSummary
    from eraser.version import __version__

    names = [x.feature for x in (classifier, labeller) if x is not None and x.feature != "feature"]
    feature = names[0] if names else "the feature"
    guard = next((r for r in ev.guards if r.name == "feature_rate"), None)
    row = FeatureSummary.from_rates(feature, ev.feature_rate, guard,
                                    labeller=labeller.name if labeller is not None else None)
    return ReportSummary(
        kind="evaluate", title=f"Evaluation of {ev.erased} against {ev.original}", generator=ev.original,
        erased=ev.erased, verdict=ev.verdict, features=[row],
        cost=Cost.from_metrics(ev.preservation, ev.distribution, None), guards=as_dicts(ev.guards),
        guard_limits=asdict(limits), date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        device=device, eraser_version=__version__, out=ev.erased, feature_classifier=classifier.name if classifier else None)


def run_evaluate(original: str | Generator, erased: str | Generator, out: Path, feature_classifier: str | Labeller | None,
                 labeller: str | Labeller | None, n_eval: int, fid_samples: int, limits: GuardLimits | None = None,
                 device: str = "cpu", seed: int = 3000, load_options: LoadOptions | None = None) -> Evaluation:
    """Compare an erased generator with its original; write ``metrics.json`` and ``report.html`` into ``out``.

    Feature-free latents (preservation, FID reference) are judged by the ``labeller`` if given, else by
    the classifier; without either, by the feature direction recorded in ``erased``'s report. The
    erased checkpoint is only read. A failed guard is the returned verdict, not an exception.
    ``load_options`` say how to read a source that does not describe itself (a bare weights file).
    """
    from eraser.generators import load_generator
    from eraser.io import atomic_dir, check_writable
    from eraser.labelling import make_labeller
    from eraser.report.write import write_report
    from eraser.schemas import read_erased_report

    limits = limits or GuardLimits()
    if out.exists():
        raise EraserError(f"{out} already exists; choose a new --out folder")
    check_writable(out)
    g = original if isinstance(original, Generator) else load_generator(original, device, load_options)
    g_new = erased if isinstance(erased, Generator) else load_generator(erased, device, load_options)
    classifier = feature_classifier
    if isinstance(feature_classifier, str):
        from eraser.classifiers import load_classifier

        classifier = load_classifier(feature_classifier, device)
    lab = make_labeller(labeller, device) if isinstance(labeller, str) else labeller
    if isinstance(erased, Generator):
        direction, history, evals = None, [], []
    else:
        direction, history, evals = read_erased_report(Path(erased) / "report", g.latent_dim)
    judge, how = clean_judge(lab, classifier) if lab is not None else (classifier, classifier.name if classifier else "")
    if judge is None and direction is None:
        raise EraserError("cannot tell which samples are feature-free: pass --feature-classifier or --labeller")
    if judge is None:
        how = "the latent direction recorded with the erased checkpoint (proj < t)"
    log.info(f"feature-free samples judged by {how}")
    z_clean = clean_latents(g, judge, direction, 512, seed)
    pres = preservation(g, g_new, z_clean, lpips=True)
    z_eval = g.sample_latents(n_eval, seed + 1)
    rates, sb = feature_rates(g, g_new, classifier, z_eval) if classifier is not None else (None, None)
    dist = None
    if fid_samples > 0:
        log.info(f"distribution metrics on {fid_samples} samples per set")
        dist = distribution_metrics(g, g_new, judge, direction, fid_samples, seed + 10, device, how)
    ev = Evaluation(original if isinstance(original, str) else g.name, erased if isinstance(erased, str) else g_new.name,
                    how, pres, rates, dist, evals, out=out)
    ev.guards = check(ev.guard_values(), limits)
    passed = verdict(ev.guards)
    ev.verdict = "pass" if passed else "fail"
    if direction is not None:
        z = g.sample_latents(4000, seed + 2)
        z_feat = z[direction.project(z) >= direction.threshold + 0.5][:8]
    else:
        z_feat = z_eval[classifier.decide(sb)][:8] if classifier is not None else z_eval[:8]
    summary = evaluation_summary(ev, limits, device, lab, classifier)
    with atomic_dir(out) as tmp:
        write_report(tmp, g, g_new, summary, ev.to_dict(), ev.guards, history, z_feat, z_clean, z_eval,
                     pres.worst(8))
    return ev


def clean_of_all(generator: Generator, labellers: list[Labeller], z_labs: list[torch.Tensor], ys: list[torch.Tensor],
                 directions: list) -> torch.Tensor:
    """Latents labelled free of every feature of a several-feature erase: each feature's labelled "no"
    latents that no other feature claims (its labeller, when it labels any latent, else its direction:
    proj < t), interleaved feature by feature so the first few hold some of each."""
    parts = []
    for i, (z, y) in enumerate(zip(z_labs, ys)):
        zc = z[y == 0]
        for j, (lab, d) in enumerate(zip(labellers, directions)):
            if j == i or len(zc) == 0:
                continue
            if lab.labels_only_known_latents:
                zc = zc[(d.project(zc) < d.threshold).cpu()]
            else:
                s = lab.score(generator, zc)
                zc = zc[~torch.isnan(s) & (s < lab.threshold)]
        parts.append(zc)
    n = max(len(p) for p in parts)
    order = [p[k : k + 1] for k in range(n) for p in parts if k < len(p)]
    if not order:
        raise EraserError("no labelled latent is free of every feature; label more samples without any of them")
    return torch.cat(order)
