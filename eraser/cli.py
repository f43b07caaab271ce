"""The ``eraser`` command: a thin layer that parses options, calls the library and prints.

Every user error is one line on stderr and exit code 2, failed guards exit code 3 (the library
returns them as a verdict; only this layer turns it into an exit code). The library's progress
messages (``logging``) go to stderr. Nothing heavy is imported until a command runs, so
``eraser --help`` is instant. ``python -m eraser`` runs the same command.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import click

from eraser.version import __version__
from eraser.errors import EraserError, GuardFailure
from eraser.guards import GuardLimits
from eraser.unlearn.settings import DEFAULT_LR, DEFAULT_STEPS, METHODS
from eraser.unlearn.settings import EraseSettings as EraseSettingsDefaults


# -- shared options ----------------------------------------------------------------------------
class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and ±inf (which a plain range lets through)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


#: seeds: what every random generator eraser seeds accepts
SEED = click.IntRange(0, 2**32 - 1)


def _parse_shape(ctx, param, value):
    if value is None:
        return None
    try:
        shape = tuple(int(s) for s in value.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise click.BadParameter("give sizes separated by commas, e.g. 100,1,1") from None
    if not shape or any(s <= 0 for s in shape):
        raise click.BadParameter("give positive sizes separated by commas, e.g. 100,1,1")
    return shape


def _parse_json_object(ctx, param, value):
    if value is None:
        return {}
    try:
        obj = json.loads(value)
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not valid JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise click.BadParameter('give a JSON object, e.g. \'{"nz": 100}\'')
    return obj


_trust_code_option = click.option(
    "--trust-code", is_flag=True,
    help="Let a checkpoint's config.json name a class from a module outside eraser (importing it runs that module's code).")


def _loader_option_list() -> list:
    """How to read a generator that does not describe itself (a bare weights file, TorchScript)."""
    return [
        click.option("--class", "module_class", metavar="MODULE:CLASS",
                     help="For a bare weights file: the nn.Module class the weights belong to."),
        click.option("--init-args", callback=_parse_json_object, metavar="JSON",
                     help="For --class: constructor arguments as a JSON object."),
        click.option("--latent-shape", callback=_parse_shape, metavar="D[,H,W]",
                     help="For --class or TorchScript: the module's input shape per latent, e.g. 100,1,1."),
        click.option("--state-dict-key", metavar="KEY", help="Entry of a training checkpoint that holds the generator's state dict."),
        click.option("--trust-pickle", is_flag=True, help="Allow reading pickled weights that can run code (only for files you trust)."),
        _trust_code_option,
    ]


def loader_options(f):
    """The loader flags alone (``--class --init-args --latent-shape --state-dict-key --trust-pickle --trust-code``)."""
    for opt in reversed(_loader_option_list()):
        f = opt(f)
    return f


def generator_options(f):
    """Options that say which generator to load, shared by every command that takes one."""
    options = [
        click.option("--generator", "-g", required=True, metavar="NAME|PATH",
                     help="Shipped model name (see `eraser models`), checkpoint folder, diffusers folder, TorchScript or weights file."),
        *_loader_option_list(),
        click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N]."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _load_options(kw: dict):
    """The LoadOptions of the loader flags, popped from ``kw``."""
    from eraser.generators import LoadOptions

    return LoadOptions(
        module_class=kw.pop("module_class"),
        init_args=kw.pop("init_args"),
        latent_shape=kw.pop("latent_shape"),
        state_dict_key=kw.pop("state_dict_key"),
        trust_pickle=kw.pop("trust_pickle"),
        trust_code=kw.pop("trust_code"),
    )


def _load_generator(kw: dict):
    from eraser.generators import load_generator

    opts = _load_options(kw)
    return load_generator(kw.pop("generator"), device=kw.pop("device"), options=opts)


def _generator_input(ref: str | None, option: str = "--generator") -> tuple[str, Path | None]:
    from eraser.validate import source_path

    return option, source_path(ref, "generator")


def _latents(generator, n: int | None, seed: int, latents: Path | None):
    from eraser.latents import load_latents

    if latents is not None:
        if n is not None:
            raise EraserError("give either --latents or --n/--seed, not both")
        return load_latents(latents, generator.latent_dim)
    return generator.sample_latents(64 if n is None else n, seed)


# -- commands ----------------------------------------------------------------------------------
EPILOG = """\b
A typical flow, your own generator (see the README, "Erase a feature from your own generator"):
  eraser import weights.pt --class mygan:Generator --init-args '{"nz": 100}' --latent-shape 100,1,1 --out my-gan
  eraser marks grid -g my-gan --trust-code --n 480 --feature smile --out marking
  (fill in marking/marks.json by eye; `eraser marks suggest`, then `eraser marks merge` for more rounds)
  eraser erase -g my-gan --trust-code --labeller marks:marking/marks.json --out my-gan-no-smile
  (open my-gan-no-smile/report/report.html)
  eraser sample -g my-gan-no-smile --trust-code --n 64 --out after.png

\b
With the shipped models:
  eraser erase -g digiface-dcgan64 --labeller marks:assets/marks/digiface-eyeglasses.json \\
      --feature-classifier digiface-eyeglasses-clf --out erased-eyeglasses
  eraser sample -g erased-eyeglasses --n 64 --out after.png
"""


#: the order `eraser --help` lists commands in: the order of a typical flow, then the rest alphabetically
FLOW = ("import", "sample", "marks", "probe", "label", "erase", "evaluate", "audit", "compare", "batch", "models")


class FlowGroup(click.Group):
    def list_commands(self, ctx):
        names = super().list_commands(ctx)
        return [n for n in FLOW if n in names] + [n for n in names if n not in FLOW]


@click.group(cls=FlowGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True}, epilog=EPILOG)
@click.version_option(__version__, prog_name="eraser")
def cli() -> None:
    """Remove one visual feature from a pretrained GAN or VAE, without its training data."""


@cli.command()
@generator_options
@click.option("--n", type=click.IntRange(min=1), default=None, help="Number of samples to draw from the prior [default: 64].")
@click.option("--seed", type=SEED, default=0, help="Seed of the latent draw.")
@click.option("--latents", type=click.Path(path_type=Path), default=None, help="A .npy file of latents [N, latent_dim] to decode instead.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Output: a .png grid or a .npy array.")
@click.option("--format", "fmt", type=click.Choice(["png", "npy"]), default=None,
              help="png: an image grid; npy: float32 [N, 3, H, W] in [-1, 1]. [default: from --out's suffix]")
@click.option("--latents-out", type=click.Path(path_type=Path), default=None,
              help="Where to write the latents used. [default: OUT's name with .latents.npy]")
@click.option("--nrow", type=click.IntRange(min=1), default=None, help="Images per grid row. [default: square]")
@click.option("--batch-size", type=click.IntRange(min=1), default=256)
def sample(**kw) -> None:
    """Decode samples of a generator into an image grid or an array, and save their latents."""
    from eraser.sampling import default_latents_path, output_format, write_samples

    from eraser.validate import check_outputs

    out: Path = kw.pop("out")
    fmt = output_format(out, kw.pop("fmt"))
    latents_out = kw.pop("latents_out") or default_latents_path(out)
    check_outputs([_generator_input(kw["generator"]), ("--latents", kw["latents"])],
                  files={"--out": out, "--latents-out": latents_out})
    generator = _load_generator(kw)
    z = _latents(generator, kw["n"], kw["seed"], kw["latents"])
    write_samples(generator, z, out, fmt, latents_out, kw["batch_size"], kw["nrow"])
    click.echo(f"wrote {len(z)} samples of {generator.name} to {out} and their latents to {latents_out}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models(as_json: bool) -> None:
    """List the shipped models with their sizes, sources, licences and the terms of their training data."""
    from eraser.registry import list_models

    rows = list_models()
    if as_json:
        click.echo(json.dumps([{**m.__dict__, "path": str(m.path)} for m in rows], indent=2))
        return
    header = ("name", "role", "parameters", "size", "source", "licence", "training data terms")
    table = [header] + [
        (m.name, m.role, f"{m.parameters:,}" if m.parameters else "-", f"{m.size_bytes / 1e6:.1f} MB", m.source, m.licence,
         m.data_terms or "-")
        for m in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _labeller_source(generator, kw, labeller):
    """Latents to label and a description of where they came from: a labeller that labels only its own
    latents (marks) labels those unless --latents or --n is given."""
    if kw["latents"] is None and kw["n"] is None and labeller.labels_only_known_latents:
        return labeller.known_latents(), {"latents_from": labeller.name}
    z = _latents(generator, kw["n"], kw["seed"], kw["latents"])
    src = {"latents_from": str(kw["latents"])} if kw["latents"] else {"n_sampled": len(z), "seed": kw["seed"]}
    return z, src


@cli.command()
@generator_options
@click.option("--labeller", "-l", "labeller_spec", required=True, metavar="SPEC",
              help="clip:FEATURE[,model=..,pretrained=..,checkpoint=..], marks:PATH, probe:NAME|PATH, or a registered kind.")
@click.option("--n", type=click.IntRange(min=1), default=None, help="Number of prior samples to label [default: 64].")
@click.option("--seed", type=SEED, default=0, help="Seed of the latent draw.")
@click.option("--latents", type=click.Path(path_type=Path), default=None, help="A .npy file of latents to label instead.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Scores as JSON.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128)
def label(**kw) -> None:
    """Score samples for a feature with a labeller; write per-sample scores and decisions as JSON."""
    from eraser.io import atomic_path, dump_json
    from eraser.labelling.spec import LabellerSpec
    from eraser.labelling.workflow import score_to_json
    from eraser.latents import write_npy
    from eraser.validate import check_outputs, labeller_inputs

    out: Path = kw.pop("out")
    spec = LabellerSpec.parse(kw.pop("labeller_spec"))
    latents_out = out.with_name(out.stem + ".latents.npy")
    check_outputs([_generator_input(kw["generator"]), ("--latents", kw["latents"]), *labeller_inputs(spec.files())],
                  files={"--out": out, "the latents file beside --out": latents_out})
    device = kw["device"]
    generator = _load_generator(kw)
    labeller = spec.build(device)
    z, src = _labeller_source(generator, kw, labeller)
    doc = score_to_json(labeller, generator, z, {**src, "latents": latents_out.name}, kw["batch_size"])
    with atomic_path(out, ".json") as tmp_doc, atomic_path(latents_out, ".npy") as tmp_z:  # both or neither
        write_npy(tmp_z, z)
        dump_json(tmp_doc, doc)
    c = doc["counts"]
    click.echo(f"labelled {len(z)} samples with {labeller.name}: {c['yes']} yes, {c['no']} no, "
               f"{c['unlabelled']} unlabelled (feature rate {doc['feature_rate']:.1%}) -> {out}")


@cli.group()
def marks() -> None:
    """Mark samples by eye: numbered grids to look at, and suggestions of what to mark next."""


@marks.command("grid")
@generator_options
@click.option("--n", type=click.IntRange(min=1), default=480, help="Number of samples.")
@click.option("--seed", type=SEED, default=0, help="Seed of the latent draw.")
@click.option("--feature", default="feature", help="Name of the feature being marked.")
@click.option("--per-grid", type=click.IntRange(min=1), default=48, help="Samples per grid image.")
@click.option("--images", multiple=True, type=click.Path(path_type=Path),
              help="Your own image files or folders to mark instead of prior samples: a VAE encodes them "
                   "(posterior mean) into its latent space. Repeatable.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="A new folder for grids and the marks template.")
def marks_grid(**kw) -> None:
    """Write numbered sample grids and a marks.json template (all 'unsure') to fill in."""
    from eraser.labelling.workflow import write_marking_grids

    from eraser.validate import check_outputs

    out, n, seed, feature, per_grid, images = (kw.pop(k) for k in ("out", "n", "seed", "feature", "per_grid", "images"))
    check_outputs([_generator_input(kw["generator"]), *(("--images", p) for p in images)], dirs={"--out": out})
    generator = _load_generator(kw)
    if images:
        import torch

        from eraser.images import load_images

        if not generator.has_encoder:
            raise EraserError(f"{generator.name} has no encoder, so --images cannot be placed in its latent space; "
                              "use a VAE, or mark prior samples (--n, --seed)")
        h, w = generator.generate(generator.sample_latents(1, 0)).shape[-2:]
        x, _ = load_images(images, (h, w))
        z = torch.cat([generator.encode(x[i : i + 256]).detach().cpu() for i in range(0, len(x), 256)])
        n = len(z)
    else:
        z = generator.sample_latents(n, seed)
    grids = write_marking_grids(generator, z, out, feature, per_grid)
    click.echo(f"wrote {len(grids)} grids of {n} samples and {out / 'marks.json'}; set each label to yes/no/unsure")


@marks.command("merge")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="MARKS.json...")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True,
              help="A new marks file; its latents are written beside it (OUT's name with .latents.npy).")
@click.option("--prefer", type=click.Choice(["last", "first"]), default=None,
              help="When one latent is marked yes in one file and no in another, keep the later (last) or earlier "
                   "(first) file's label. [default: refuse, with the count]")
def marks_merge(files: tuple[Path, ...], out: Path, prefer: str | None) -> None:
    """Merge marks files of one feature and generator (e.g. a first round and `marks suggest` rounds) into one.

    The same latent marked in several files is kept once; an 'unsure' gives way to a yes or no of the same latent.
    """
    import shutil
    import tempfile

    from eraser.io import sha256_file
    from eraser.labelling.marks import load_marks, merge_marks, save_marks
    from eraser.labelling.spec import spec_files
    from eraser.validate import check_outputs, labeller_inputs

    if out.suffix != ".json":
        raise EraserError(f"--out {out} must be a .json file (its latents go beside it as .latents.npy)")
    latents_out = out.with_name(out.name.removesuffix(".json") + ".latents.npy")
    for p in (out, latents_out):
        if p.exists() or p.is_symlink():
            raise EraserError(f"{p} already exists; choose a new --out file (marks merge never overwrites)")
    check_outputs([x for f in files for x in labeller_inputs(spec_files(f"marks:{f}"), "marks file")],
                  files={"--out": out, "the latents file beside --out": latents_out})
    sources = [(str(f), load_marks(f)) for f in files]
    merged, counts = merge_marks(sources, prefer)
    rubrics = {str(m.meta.get("rubric")) for _, m in sources}
    extra: dict = {"rubric": sources[0][1].meta["rubric"]} if len(rubrics) == 1 and "rubric" in sources[0][1].meta else {}
    extra["merged_from"] = [{"path": str(f), "sha256": sha256_file(f), "counts": m.counts()} for f, (_, m) in zip(files, sources)]
    if prefer:
        extra["merged_prefer"] = prefer
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:  # written aside, then the latents and the JSON are renamed into place, the JSON last
        save_marks(tmp / out.name, merged, latents_name=latents_out.name, extra=extra)
        os.replace(tmp / latents_out.name, latents_out)
        os.replace(tmp / out.name, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c = merged.counts()
    click.echo(f"merged {len(files)} files: {len(merged)} marks ({c['yes']} yes, {c['no']} no, {c['unsure']} unsure); "
               f"{counts['duplicates']} duplicate latents kept once, {counts['resolved_unsure']} unsure replaced by yes/no, "
               f"{counts['conflicts']} yes/no conflicts{f' settled by --prefer {prefer}' if prefer else ''} -> {out}")


def _embedder_option(f):
    return click.option("--embedder", default="inception-fid", show_default=True,
                        help="Image embedder for the probe: inception-fid[@SIZE] or clip.")(f)


def _make_embedder(spec: str, device: str):
    from eraser.labelling.embedders import make_embedder

    name, _, size = spec.partition("@")
    d = {"name": name}
    if size:
        if not size.isdigit():
            raise EraserError(f"embedder size in {spec!r} must be a number of pixels, e.g. inception-fid@299")
        d["size"] = int(size)
    return make_embedder(d, device)


def _marks_for(generator, path: Path):
    """A marks file whose latents this generator takes (checked before any embedding work)."""
    from eraser.labelling.marks import load_marks

    marks = load_marks(path)
    if marks.z.shape[1] != generator.latent_dim:
        raise EraserError(f"the marks in {path} have {marks.z.shape[1]}-dimensional latents but {generator.name} "
                          f"takes {generator.latent_dim}; mark samples of this generator")
    return marks


def _check_marks_command_outputs(kw: dict, marks_path: Path, out: Path) -> None:
    from eraser.labelling.spec import spec_files
    from eraser.validate import check_outputs, labeller_inputs

    check_outputs([_generator_input(kw["generator"]), *labeller_inputs(spec_files(f"marks:{marks_path}"), "--marks")],
                  dirs={"--out": out})


@marks.command("suggest")
@generator_options
@click.option("--marks", "marks_path", type=click.Path(path_type=Path), required=True, help="The marks so far.")
@_embedder_option
@click.option("--candidates", type=click.IntRange(min=1), default=1000, help="Fresh samples to choose from.")
@click.option("--seed", type=SEED, default=1, help="Seed of the candidate draw (use a new one each round).")
@click.option("--k", type=click.IntRange(min=1), default=48, help="How many samples to suggest.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="A new folder for the suggestions.")
def marks_suggest(**kw) -> None:
    """Suggest the samples a probe trained on your marks is least sure of: mark these next."""
    from eraser.labelling.workflow import suggest, write_marking_grids

    out, marks_path, emb, n_cand, seed, k = (kw.pop(x) for x in ("out", "marks_path", "embedder", "candidates", "seed", "k"))
    _check_marks_command_outputs(kw, marks_path, out)
    device = kw["device"]
    generator = _load_generator(kw)
    marks = _marks_for(generator, marks_path)
    z, scores, fit = suggest(generator, marks, _make_embedder(emb, device), n_cand, seed, k)
    write_marking_grids(generator, z, out, marks.feature)
    click.echo(f"probe cross-validated AUC {fit.cv_auc:.3f} ± {fit.cv_auc_std:.3f} from {fit.n_yes} yes / {fit.n_no} no; "
               f"{k} suggestions (scores {scores.min():.2f}–{scores.max():.2f}) in {out}")


@cli.group()
def probe() -> None:
    """Probes: classifiers on image embeddings, trained from marks."""


@probe.command("train")
@generator_options
@click.option("--marks", "marks_path", type=click.Path(path_type=Path), required=True, help="Marks to train from.")
@_embedder_option
@click.option("--C", "C", type=FiniteFloat(min=0, min_open=True), default=0.1, help="Inverse L2 strength of the logistic regression.")
@click.option("--seed", type=SEED, default=0, help="Seed of the cross-validation folds.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="A new classifier folder.")
def probe_train(**kw) -> None:
    """Train a probe from marks; report its cross-validated AUC; save it for --labeller probe:PATH."""
    from eraser.labelling.workflow import save_probe_from_marks

    out, marks_path, emb, C, seed = (kw.pop(x) for x in ("out", "marks_path", "embedder", "C", "seed"))
    _check_marks_command_outputs(kw, marks_path, out)
    device = kw["device"]
    generator = _load_generator(kw)
    marks = _marks_for(generator, marks_path)
    fit = save_probe_from_marks(out, generator, marks, _make_embedder(emb, device), str(marks_path), C=C, seed=seed)
    click.echo(f"probe cross-validated AUC {fit.cv_auc:.3f} ± {fit.cv_auc_std:.3f} ({fit.folds} folds, "
               f"{fit.n_yes} yes / {fit.n_no} no) -> {out}")


@cli.command()
@generator_options
@click.option("--labeller", "-l", "labeller_spec", required=True, multiple=True, metavar="SPEC",
              help="Which samples carry the feature: marks:PATH, probe:NAME|PATH, clip:FEATURE[,...] or a registered kind. "
                   "Repeat it to erase several features in one run (one labeller per feature).")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="A new folder for the erased checkpoint and its report.")
@click.option("--feature-classifier", metavar="NAME|PATH", multiple=True,
              help="Classifier that measures the feature rate before/after (never used in training). Repeatable: each is "
                   "matched to an erased feature by its feature name; one whose feature is not erased is reported as "
                   "collateral (its rate before and after).")
@click.option("--method", type=click.Choice(list(METHODS)), default=EraseSettingsDefaults.method,
              help="deep: erase wherever G draws the feature (default); paper: Moon, Cho & Kim (AAAI 2024) as published.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Fine-tuning steps [default: " + ", ".join(f"{s} for {m}" for m, s in DEFAULT_STEPS.items()) + "].")
@click.option("--batch-size", type=click.IntRange(min=2), default=EraseSettingsDefaults.batch_size, help="Latents per step.")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Adam learning rate [default: " + ", ".join(f"{v:g} for {m}" for m, v in DEFAULT_LR.items()) + "].")
@click.option("--alpha", type=FiniteFloat(min=0), default=EraseSettingsDefaults.alpha, help="Weight of the shifted-target loss.")
@click.option("--margin", type=FiniteFloat(min=0), default=EraseSettingsDefaults.margin,
              help="How far past the threshold the feature is pushed (latent units).")
@click.option("--feature-fraction", type=FiniteFloat(0, 1, min_open=True, max_open=True),
              default=EraseSettingsDefaults.feature_fraction, help="Share of each batch drawn beyond the threshold.")
@click.option("--band", type=FiniteFloat(min=0), default=EraseSettingsDefaults.band,
              help="deep: latents this far below the threshold are pulled down part of the way.")
@click.option("--depth", type=FiniteFloat(min=0), default=EraseSettingsDefaults.depth,
              help="deep: feature latents land this much deeper than the paper's threshold − margin.")
@click.option("--coverage", type=FiniteFloat(0, 1), default=EraseSettingsDefaults.coverage,
              help="deep: share of the feature side drawn far out along the direction.")
@click.option("--mine-every", type=click.IntRange(min=0), default=EraseSettingsDefaults.mine_every,
              help="deep: mine the least-erased latents every N steps (0: never).")
@click.option("--direction", "direction_method", type=click.Choice(["mean-difference", "linear-classifier"]),
              default="mean-difference", help="How the feature direction is estimated.")
@click.option("--n-label", type=click.IntRange(min=2), default=2000, help="Samples to label (labellers other than marks).")
@click.option("--n-eval", type=click.IntRange(min=1), default=2000, help="Fresh samples for the feature rate.")
@click.option("--fid-samples", type=click.IntRange(min=0), default=500,
              help="Samples per set for FID/KID/precision-recall against the original's feature-free samples (0: skip).")
@click.option("--seed", type=SEED, default=0, help="Seed of the fine-tuning batches.")
@click.option("--guard", "guards", multiple=True, metavar="NAME=VALUE",
              help="Override a guard limit, e.g. min_ms_ssim=0.95 (names: " + ", ".join(GuardLimits.names()) + "). Repeatable.")
@click.option("--guard-every", type=click.IntRange(min=0), default=100, help="Evaluate the guards every N steps (0: only at the end).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--audit", is_flag=True,
              help="Also attack the original and the erased generator for the feature (`eraser audit` with its default "
                   "budget; needs --feature-classifier); results in the report.")
def erase(**kw) -> None:
    """Erase a feature from a generator: write a fine-tuned checkpoint and a report."""
    from eraser.generators import LoadOptions
    from eraser.pipeline import EraseRequest, run_erase
    from eraser.unlearn.settings import EraseSettings

    settings = EraseSettings(method=kw["method"], steps=kw["steps"], batch_size=kw["batch_size"], lr=kw["lr"],
                             alpha=kw["alpha"], margin=kw["margin"], feature_fraction=kw["feature_fraction"],
                             seed=kw["seed"], band=kw["band"], depth=kw["depth"], coverage=kw["coverage"],
                             mine_every=kw["mine_every"])
    labellers, classifiers = list(kw["labeller_spec"]), list(kw["feature_classifier"])
    _no_repeats(labellers, "--labeller")
    _no_repeats(classifiers, "--feature-classifier")
    req = EraseRequest(
        generator=kw["generator"], labeller=labellers[0] if len(labellers) == 1 else labellers, out=kw["out"],
        settings=settings, n_label=kw["n_label"], direction_method=kw["direction_method"],
        feature_classifier=(classifiers[0] if len(classifiers) == 1 else classifiers) or None,
        n_eval=kw["n_eval"], device=kw["device"], progress=not kw["quiet"],
        limits=GuardLimits.parse(kw["guards"]), guard_every=kw["guard_every"], fid_samples=kw["fid_samples"],
        audit=kw["audit"],
        load_options=LoadOptions(module_class=kw["module_class"], init_args=kw["init_args"],
                                 latent_shape=kw["latent_shape"], state_dict_key=kw["state_dict_key"],
                                 trust_pickle=kw["trust_pickle"], trust_code=kw["trust_code"]),
    )
    result = run_erase(req)
    if not result.passed:
        raise GuardFailure(result.failure)
    m = result.metrics
    click.echo(f"erased ({m.method['name']} method, {m.method['steps']} steps) -> {req.out}  (report: {result.report})")
    if m.feature_rate is not None:
        fr = m.feature_rate
        red = f", {fr.relative_reduction:.0%} fewer" if fr.relative_reduction is not None else ""
        click.echo(f"feature rate {fr.before:.1%} -> {fr.after:.1%}{red} ({fr.classifier}, {m.eval.n} fresh samples)")
    if m.several:
        for row in m.features:
            fr = row.rates
            rate = f"{fr.before:.1%} -> {fr.after:.1%} ({fr.classifier})" if fr is not None else "not measured"
            click.echo(f"{row.feature}: rate {rate}")
    for c in m.collateral:
        click.echo(f"collateral (not erased) {c.feature}: rate {c.rates.before:.1%} -> {c.rates.after:.1%} ({c.rates.classifier})")
    click.echo(f"preservation on feature-free samples: MS-SSIM {m.preservation.ms_ssim_mean:.3f} (n={m.preservation.n}); "
               f"total {m.timings_s['total']:.0f}s")
    if m.audit is not None:
        rates = "; ".join(f"{a} {r['original']:.0%} -> {r['erased']:.0%}" for a, r in m.audit["success_rate"].items())
        click.echo(f"audit, attack success rates original -> erased: {rates} (report/audit.json)")


def _no_repeats(values: list[str], option: str) -> None:
    """One line when an option repeats the same value (each feature is named once)."""
    seen = {v for v in values if values.count(v) > 1}
    if seen:
        raise EraserError(f"{option} {sorted(seen)[0]} is given twice; give each once")


@cli.command()
@click.option("--original", "-a", required=True, metavar="NAME|PATH", help="The generator before erasure.")
@click.option("--erased", "-b", required=True, metavar="PATH", help="The erased generator.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="A new folder for metrics.json and report.html.")
@click.option("--feature-classifier", metavar="NAME|PATH", default=None, help="Classifier that measures the feature rate.")
@click.option("--labeller", "labeller_spec", metavar="SPEC", default=None,
              help="Labeller that says which samples are feature-free (default: the classifier).")
@click.option("--n-eval", type=click.IntRange(min=1), default=2000, help="Fresh samples for the feature rate.")
@click.option("--fid-samples", type=click.IntRange(min=0), default=500,
              help="Samples per set for FID/KID/precision-recall (0: skip); the same default as `eraser erase`, so their FIDs compare.")
@click.option("--guard", "guards", multiple=True, metavar="NAME=VALUE",
              help="Override a guard limit (names: " + ", ".join(GuardLimits.names()) + "). Repeatable.")
@loader_options
@click.option("--device", default="cpu", help="cpu or cuda[:N].")
def evaluate(**kw) -> None:
    """Compare an erased generator with its original: metrics JSON and a self-contained HTML report."""
    from eraser.evaluation import run_evaluate
    from eraser.generators.trust import trusting_code
    from eraser.labelling.spec import spec_files
    from eraser.validate import check_outputs, labeller_inputs, source_path

    check_outputs([_generator_input(kw["original"], "--original"), _generator_input(kw["erased"], "--erased"),
                   ("--feature-classifier", source_path(kw["feature_classifier"], "classifier")),
                   *labeller_inputs(spec_files(kw["labeller_spec"]))], dirs={"--out": kw["out"]})
    limits = GuardLimits.parse(kw["guards"])
    opts = _load_options(kw)
    with trusting_code(opts.trust_code):
        ev = run_evaluate(kw["original"], kw["erased"], kw["out"], kw["feature_classifier"], kw["labeller_spec"],
                          kw["n_eval"], kw["fid_samples"], limits, kw["device"], load_options=opts)
    click.echo(f"verdict: {ev.verdict}; report: {kw['out'] / 'report.html'}")
    if ev.feature_rate is not None:
        fr = ev.feature_rate
        click.echo(f"feature rate {fr.before:.1%} -> {fr.after:.1%} ({fr.classifier}, n={fr.n})")
    if ev.distribution is not None:
        d = ev.distribution
        click.echo(f"{d.fid.protocol}: {d.fid.erased_vs_clean:.2f} (floor {d.fid.floor:.2f}); "
                   f"recall {d.recall.erased_vs_clean:.3f} (floor {d.recall.floor:.3f})")
    if not ev.passed:
        from eraser.guards import failures_line

        raise GuardFailure("guards failed: " + failures_line(ev.guards))


@cli.command("import")
@click.argument("source", metavar="WEIGHTS|TORCHSCRIPT|DIFFUSERS_DIR")
@loader_options
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="A new checkpoint folder.")
def import_(**kw) -> None:
    """Turn your generator into an eraser checkpoint folder, once: a weights file with --class (and --init-args,
    --latent-shape, --state-dict-key as needed), a TorchScript file with --latent-shape, or a diffusers folder.
    Every command then takes the folder as -g, without loader flags."""
    import shlex

    from eraser.generators.importing import import_generator
    from eraser.validate import check_outputs

    out: Path = kw.pop("out")
    source = kw.pop("source")
    check_outputs([("SOURCE", Path(source))], dirs={"--out": out})
    opts = _load_options(kw)
    command = "eraser " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["import"] else None
    imp = import_generator(source, out, opts, command)
    g = imp.generator
    lo, hi = imp.output_range
    click.echo(f"imported {source} ({type(g.module).__name__}, latent shape {','.join(map(str, g.latent_shape))}, "
               f"{sum(p.numel() for p in g.module.parameters()):,} parameters; outputs on 16 prior samples in "
               f"[{lo:.2f}, {hi:.2f}]) -> {out}")
    if imp.needs_trust_code:
        cls = g.config()["class"]
        click.echo(f"its class {cls} is your code: later commands load {out} with --trust-code (and {cls.partition(':')[0]} "
                   "importable, e.g. on PYTHONPATH), or register the class in Python (eraser.generators.register_class)")


@cli.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("compare.html"),
              help="A new HTML file for the comparison.")
def compare(a: Path, b: Path, out: Path) -> None:
    """Put two erases side by side (their --out folders): verdicts, feature rates, cost, settings that differ, grids."""
    from eraser.report.compare import write_compare

    path = write_compare(a, b, out)
    click.echo(f"compared {a} and {b} -> {path}")


@cli.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True,
              help="Folder for the jobs' outputs and the summary (created; reused to resume).")
@click.option("--jobs", "-j", "workers", type=click.IntRange(min=1), default=1, help="Jobs run at once, each in its own process.")
@click.option("--ray-address", metavar="ADDR", default=None,
              help="Run the jobs as Ray tasks: 'local' starts Ray here, 'auto' or ray://HOST:PORT joins a cluster (needs eraser[ray]).")
def batch(manifest: Path, out: Path, workers: int, ray_address: str | None) -> None:
    """Run every erase job of a TOML/YAML manifest; resumable; writes OUT/summary.md and summary.json."""
    from eraser.batch import load_manifest, run_batch

    m = load_manifest(manifest)  # every problem in the file, before any work
    s = run_batch(m, out, jobs=workers, ray_address=ray_address)
    c = s["counts"]
    click.echo(f"{c['pass']} passed, {c['fail']} failed their guards, {c['error']} could not run; "
               f"summary: {out / 'summary.md'}")
    bad = [r for r in s["jobs"] if r["verdict"] != "pass"]
    if bad:
        raise GuardFailure(f"{len(bad)} of {len(s['jobs'])} jobs did not pass: "
                           + "; ".join(f"{r['name']} ({r['verdict']})" for r in bad) + f"; see {out / 'summary.md'}")


def _audit_budget_options(f):
    """The attack budget of `eraser audit` (defaults from eraser.audit.budget, which needs no torch)."""
    from eraser.audit.budget import AuditBudget as B

    options = [
        click.option("--starts", type=click.IntRange(min=1), default=B.starts, help="Gradient attack: random starts (attempts)."),
        click.option("--steps", type=click.IntRange(min=0), default=B.steps, help="Gradient attack: ascent steps per start."),
        click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=B.lr,
                     help="Gradient attack: first step length as a fraction of sqrt(D), cosine-decayed to 0."),
        click.option("--shell", type=FiniteFloat(min=0), default=B.shell,
                     help="Gradient attack: keep ||z|| within sqrt(D) ± SHELL after every step (0: exactly sqrt(D))."),
        click.option("--random-samples", type=click.IntRange(min=1), default=B.random_samples, help="Random search: samples in all."),
        click.option("--random-batch", type=click.IntRange(min=1), default=B.random_batch,
                     help="Random search: samples per attempt (an attempt keeps its best sample)."),
        click.option("--walk-starts", type=click.IntRange(min=1), default=B.walk_starts, help="Direction walk: random starts (attempts)."),
        click.option("--walk-max", type=FiniteFloat(min=0, min_open=True), default=B.walk_max,
                     help="Direction walk: farthest step along the unit feature direction."),
        click.option("--walk-points", type=click.IntRange(min=2), default=B.walk_points, help="Direction walk: points per walk, 0 to --walk-max."),
        click.option("--seed", type=SEED, default=B.seed, help="Seed of the starts and samples (the same for every generator)."),
        click.option("--top-k", type=click.IntRange(min=1), default=B.top_k, help="Best images per attack and generator in audit.png."),
        click.option("--batch-size", type=click.IntRange(min=1), default=B.batch_size, help="Latents per forward pass."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


@cli.command()
@click.option("--generator", "-g", required=True, metavar="NAME|PATH", help="The generator to attack (usually an erased checkpoint).")
@click.option("--original", "-a", metavar="NAME|PATH", default=None,
              help="Its original, attacked with the same budget. [default: the erased_from of GENERATOR/provenance.json, if any]")
@click.option("--feature-classifier", required=True, metavar="NAME|PATH",
              help="Differentiable classifier whose score the attacks maximise (CNN or probe).")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="A new folder for audit.json and audit.png.")
@click.option("--marks", type=click.Path(path_type=Path), default=None,
              help="Marks whose feature direction the walk follows (estimated as an erase does).")
@click.option("--direction", "direction_file", type=click.Path(path_type=Path), default=None,
              help="A direction.json for the walk. [default: GENERATOR/report/direction.json, if any]")
@click.option("--judge", metavar="NAME|PATH", default=None,
              help="A second classifier the attacks never use (e.g. digiface-eyeglasses-judge): each success counts as "
                   "confirmed only if it agrees. With --marks, each attack's false-alarm floor on the 'no' marks too.")
@_audit_budget_options
@loader_options
@click.option("--device", default="cpu", help="cpu or cuda[:N].")
def audit(**kw) -> None:
    """Attack a generator for an erased feature (gradient ascent, random search, direction walk); success rates
    side by side with the original's."""
    from dataclasses import fields

    from eraser.audit.attacks import format_table, original_from_provenance, resolve_direction, run_audit, write_audit_files
    from eraser.audit.budget import AuditBudget
    from eraser.classifiers import load_classifier
    from eraser.generators import load_generator
    from eraser.io import atomic_dir
    from eraser.labelling.spec import spec_files
    from eraser.validate import check_outputs, labeller_inputs, source_path

    out: Path = kw["out"]
    original = kw["original"] or original_from_provenance(kw["generator"])
    check_outputs([_generator_input(kw["generator"]), _generator_input(original, "--original"),
                   ("--feature-classifier", source_path(kw["feature_classifier"], "classifier")),
                   *labeller_inputs(spec_files(kw["marks"] and f"marks:{kw['marks']}"), "--marks"),
                   ("--direction", kw["direction_file"])],
                  dirs={"--out": out})
    budget = AuditBudget(**{f.name: kw[f.name] for f in fields(AuditBudget)})
    if original and not kw["original"]:
        click.echo(f"original: {original} (from {kw['generator']}/provenance.json)", err=True)
    opts = _load_options(kw)
    g = load_generator(kw["generator"], kw["device"], opts)
    models = {"original": load_generator(original, kw["device"], opts), "erased": g} if original else {"generator": g}
    classifier = load_classifier(kw["feature_classifier"], kw["device"])
    direction, source = resolve_direction(kw["marks"], kw["direction_file"], kw["generator"], g.latent_dim)
    judge = load_classifier(kw["judge"], kw["device"]) if kw["judge"] else None
    result = run_audit(models, classifier, direction, budget, judge=judge)
    if kw["marks"]:
        from eraser.audit.attacks import false_alarm_floor
        from eraser.labelling.marks import load_marks

        marks = load_marks(kw["marks"])
        z_clean = marks.latents_marked("no")
        base = models.get("original", g)
        result.floor = {"latents": f"the 'no' marks of {kw['marks']} on {base.name}",
                        **false_alarm_floor(base, classifier, judge, z_clean, budget)}
    with atomic_dir(out) as tmp:
        doc = write_audit_files(tmp, result, extra={"direction_source": source})
    for line in format_table(doc):
        click.echo(line)
    click.echo(f"audit -> {out / 'audit.json'} and {out / 'audit.png'}")


# -- entry point -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn every error into one line on stderr and an exit code."""
    from eraser.io import Terminated, sigterm_as_interrupt

    from eraser.logs import forwarded

    try:
        # SIGTERM cleans up temporary files as Ctrl-C does; the library's messages go to stderr
        with sigterm_as_interrupt(), forwarded(lambda line: click.echo(line, err=True)):
            cli.main(args=argv, prog_name="eraser", standalone_mode=False)
        return 0
    except EraserError as e:
        click.echo(f"eraser: error: {e}", err=True)
        return getattr(e, "exit_code", 2)
    except (click.exceptions.Abort, Terminated) as e:
        if isinstance(e, Terminated) or isinstance(e.__cause__, Terminated):
            click.echo("eraser: terminated", err=True)
            return 143
        click.echo("eraser: aborted", err=True)
        return 130
    except click.ClickException as e:
        click.echo(f"eraser: error: {e.format_message()} (see eraser {_command(argv)}--help)", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("eraser: interrupted", err=True)
        return 130
    except Exception as e:  # a bug, not a user error: still one line, with a way to see more
        if os.environ.get("ERASER_DEBUG"):
            raise
        click.echo(f"eraser: internal error: {type(e).__name__}: {e} (set ERASER_DEBUG=1 for the traceback)", err=True)
        return 1


def _command(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return f"{args[0]} " if args and not args[0].startswith("-") and args[0] in cli.commands else ""


if __name__ == "__main__":
    sys.exit(main())
