"""The ``eraser`` command: a thin layer that parses options, calls the library and prints.

Every user error is one line on stderr and exit code 2; nothing heavy is imported until a
command runs, so ``eraser --help`` is instant.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from eraser import __version__
from eraser.errors import EraserError


# -- shared options ----------------------------------------------------------------------------
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


def generator_options(f):
    """Options that say which generator to load, shared by every command that takes one."""
    options = [
        click.option("--generator", "-g", required=True, metavar="NAME|PATH",
                     help="Shipped model name (see `eraser models`), checkpoint folder, diffusers folder, TorchScript or weights file."),
        click.option("--class", "module_class", metavar="MODULE:CLASS",
                     help="For a bare weights file: the nn.Module class the weights belong to."),
        click.option("--init-args", callback=_parse_json_object, metavar="JSON",
                     help="For --class: constructor arguments as a JSON object."),
        click.option("--latent-shape", callback=_parse_shape, metavar="D[,H,W]",
                     help="For --class or TorchScript: the module's input shape per latent, e.g. 100,1,1."),
        click.option("--state-dict-key", metavar="KEY", help="Entry of a training checkpoint that holds the generator's state dict."),
        click.option("--trust-pickle", is_flag=True, help="Allow reading pickled weights that can run code (only for files you trust)."),
        click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N]."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _load_generator(kw: dict):
    from eraser.generators import LoadOptions, load_generator

    opts = LoadOptions(
        module_class=kw.pop("module_class"),
        init_args=kw.pop("init_args"),
        latent_shape=kw.pop("latent_shape"),
        state_dict_key=kw.pop("state_dict_key"),
        trust_pickle=kw.pop("trust_pickle"),
    )
    return load_generator(kw.pop("generator"), device=kw.pop("device"), options=opts)


def _latents(generator, n: int | None, seed: int, latents: Path | None):
    from eraser.latents import load_latents

    if latents is not None:
        if n is not None:
            raise EraserError("give either --latents or --n/--seed, not both")
        return load_latents(latents, generator.latent_dim)
    return generator.sample_latents(64 if n is None else n, seed)


# -- commands ----------------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="eraser")
def cli() -> None:
    """Remove one visual feature from a pretrained GAN or VAE, without its training data."""


@cli.command()
@generator_options
@click.option("--n", type=click.IntRange(min=1), default=None, help="Number of samples to draw from the prior [default: 64].")
@click.option("--seed", type=int, default=0, help="Seed of the latent draw.")
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

    out: Path = kw.pop("out")
    fmt = output_format(out, kw.pop("fmt"))
    latents_out = kw.pop("latents_out") or default_latents_path(out)
    generator = _load_generator(kw)
    latents_in = kw["latents"]
    if latents_in is not None and Path(latents_in).resolve() in (out.resolve(), latents_out.resolve()):
        raise EraserError(f"refusing to overwrite the input latents {latents_in}; choose another --out or --latents-out")
    z = _latents(generator, kw["n"], kw["seed"], latents_in)
    write_samples(generator, z, out, fmt, latents_out, kw["batch_size"], kw["nrow"])
    click.echo(f"wrote {len(z)} samples of {generator.name} to {out} and their latents to {latents_out}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models(as_json: bool) -> None:
    """List the shipped models with their sizes and sources."""
    from eraser.registry import list_models

    rows = list_models()
    if as_json:
        click.echo(json.dumps([{**m.__dict__, "path": str(m.path)} for m in rows], indent=2))
        return
    header = ("name", "role", "parameters", "size", "source", "licence")
    table = [header] + [
        (m.name, m.role, f"{m.parameters:,}" if m.parameters else "-", f"{m.size_bytes / 1e6:.1f} MB", m.source, m.licence)
        for m in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


# -- entry point -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn every error into one line on stderr and an exit code."""
    try:
        cli.main(args=argv, prog_name="eraser", standalone_mode=False)
        return 0
    except EraserError as e:
        click.echo(f"eraser: error: {e}", err=True)
        return 2
    except click.exceptions.Abort:
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
