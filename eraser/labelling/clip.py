"""CLIP zero-shot labelling: a feature's score is CLIP's belief in "with it" over "without it".

A labeller spec ``clip:FEATURE[,key=value...]`` builds a :class:`ClipZeroShotLabeller` from an
open_clip model (Ilharco et al., OpenCLIP) and two prompt sets, one describing images with the
feature and one describing images without it. Scoring follows the zero-shot protocol of Radford
et al. 2021 ("Learning Transferable Visual Models From Natural Language Supervision", §3.1.4 and
the prompt ensembling of §3.1.4/Fig. 4), with exactly two classes.

Weights are never downloaded here. ``load_clip_model`` takes them from ``eraser.weights``, which finds
them where open_clip would have put them (the Hugging Face hub cache, or open_clip's URL download folder
``~/.cache/clip``) or takes a local file, and otherwise stops with a one-line message saying which file
it needs and where it looked. open_clip is imported lazily: it is heavy and optional.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from eraser.errors import EraserError
from eraser.generators.base import resolve_device
from eraser.io import read_json
from eraser.labelling.base import Labeller
from eraser.weights import (
    DEFAULT_MODEL,
    HF_CONFIG_NAME,
    HF_HUB_PREFIX,
    check_clip_model_name,
    clip_pretrained_cfg,
    clip_text_model_dir,
    default_hf_cache_dir,
    default_pretrained,
    hf_tokenizer_dir,
    import_open_clip,
    resolve_clip_weights,
)

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

# OpenAI CLIP's normalisation (open_clip.constants.OPENAI_DATASET_MEAN / _STD), the fallback
# when a model carries no preprocessing config of its own.
OPENAI_DATASET_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_DATASET_STD = (0.26862954, 0.26130258, 0.27577711)

#: built-in features: (prompts for images WITH the feature, prompts for images WITHOUT it)
PROMPTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "eyeglasses": (
        (
            "a photo of a person wearing eyeglasses",
            "a photo of a face with glasses",
            "a close-up photo of a person wearing glasses",
            "a portrait of someone with spectacles",
        ),
        (
            "a photo of a person",
            "a photo of a face without glasses",
            "a close-up photo of a person with no glasses",
            "a portrait of someone without spectacles",
        ),
    ),
    "smile": (
        (
            "a photo of a smiling person",
            "a photo of a face with a smile",
            "a close-up photo of a person smiling",
            "a portrait of someone grinning",
        ),
        (
            "a photo of a person with a neutral expression",
            "a photo of a face that is not smiling",
            "a close-up photo of a serious person",
            "a portrait of someone with a straight face",
        ),
    ),
    "hat": (
        (
            "a photo of a person wearing a hat",
            "a photo of a face with a hat on",
            "a close-up photo of a person wearing a cap",
            "a portrait of someone in a hat",
        ),
        (
            "a photo of a person",
            "a photo of a face without a hat",
            "a close-up photo of a bareheaded person",
            "a portrait of someone without a hat",
        ),
    ),
    "beard": (
        (
            "a photo of a man with a beard",
            "a photo of a bearded face",
            "a close-up photo of a person with facial hair",
            "a portrait of a bearded man",
        ),
        (
            "a photo of a clean-shaven man",
            "a photo of a face without a beard",
            "a close-up photo of a person with no facial hair",
            "a portrait of a clean-shaven person",
        ),
    ),
}

#: keys a ``clip:`` spec may set after the feature
SPEC_KEYS = ("model", "pretrained", "checkpoint", "threshold", "cache_dir")


# -- prompts ------------------------------------------------------------------------------------
def load_prompts(feature: str) -> tuple[str, list[str], list[str]]:
    """``(feature name, positive prompts, negative prompts)`` for a built-in name or a JSON file.

    A JSON file holds ``{"positive": [...], "negative": [...]}`` (and optionally ``"feature"``,
    a name for reports; the file's stem otherwise).
    """
    if feature in PROMPTS:
        pos, neg = PROMPTS[feature]
        return feature, list(pos), list(neg)
    path = Path(feature).expanduser()
    if feature.endswith(".json") or path.is_file():
        data = read_json(path, "CLIP prompt file")
        if not isinstance(data, dict):
            raise EraserError(f'CLIP prompt file {path} must hold an object {{"positive": [...], "negative": [...]}}')
        lists = []
        for key in ("positive", "negative"):
            prompts = data.get(key)
            if (
                not isinstance(prompts, list)
                or not prompts
                or not all(isinstance(p, str) and p.strip() for p in prompts)
            ):
                raise EraserError(
                    f"CLIP prompt file {path} needs a non-empty list of strings under {key!r}; "
                    f'write it as {{"positive": ["a photo of ..."], "negative": ["a photo of ..."]}}'
                )
            lists.append([p.strip() for p in prompts])
        name = data.get("feature") if isinstance(data.get("feature"), str) else path.stem
        return name, lists[0], lists[1]
    raise EraserError(
        f"unknown CLIP feature {feature!r}; built-in features are {', '.join(PROMPTS)}, "
        f'or give a JSON file of prompts {{"positive": [...], "negative": [...]}} as clip:PATH.json'
    )


# -- the labeller -------------------------------------------------------------------------------
class ClipZeroShotLabeller(Labeller):
    """Two-class CLIP zero-shot classifier: feature present vs absent.

    Follows the zero-shot protocol of Radford et al. 2021 (CLIP, §3.1.4), as implemented by
    ``open_clip.zero_shot_classifier.build_zero_shot_classifier``:

    * class embedding (prompt ensembling): each prompt is embedded with ``encode_text`` and
      L2-normalised; a class's embedding is the mean over its prompts, L2-normalised again.
      ``t_pos`` is built from the positive prompts, ``t_neg`` from the negative ones.
    * image embedding: ``encode_image`` of the preprocessed image, L2-normalised (``f``).
    * score = ``softmax(logit_scale.exp() * [f·t_pos, f·t_neg])[0]``, i.e.
      ``sigmoid(s * (f·t_pos − f·t_neg))`` with ``s = logit_scale.exp()`` (≈100 for trained
      CLIPs), a probability in [0, 1]. The decision threshold defaults to 0.5.

    Preprocessing is open_clip's eval transform done in torch on whole batches: images in
    [-1, 1] are mapped to [0, 1], resized to the model's input size (its preprocess config's
    ``resize_mode``: ``shortest`` = resize the short side and centre-crop, ``squash``, or
    ``longest`` = resize the long side and pad; bicubic unless the config says bilinear, with
    torch's antialiased (PIL-equivalent) kernels), clamped to [0, 1] and normalised with the
    model's mean/std.

    Text features are computed once here and cached.

    Args:
        model: an open_clip ``CLIP`` / ``CustomTextCLIP`` (anything with ``encode_image``,
            ``encode_text``, ``logit_scale`` and a ``visual`` tower).
        tokenizer: the model's tokenizer (``open_clip.get_tokenizer``): list of str → ``[P, L]``.
        positive: prompts describing images that carry the feature.
        negative: prompts describing images that do not.
        name: for reports, e.g. ``"clip:eyeglasses"``.
        threshold: decision threshold on the score.
        batch_size: images encoded per forward pass inside ``score_images``.
        feature: the feature's name (e.g. ``"eyeglasses"``), for reports.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        positive: list[str] | tuple[str, ...],
        negative: list[str] | tuple[str, ...],
        name: str = "clip",
        threshold: float = 0.5,
        batch_size: int = 64,
        feature: str | None = None,
    ) -> None:
        positive, negative = list(positive), list(negative)
        if not positive or not negative:
            raise EraserError("a CLIP labeller needs at least one positive and one negative prompt")
        if not 0.0 <= float(threshold) <= 1.0:
            raise EraserError(f"CLIP threshold must be in [0, 1], got {threshold}")
        super().__init__(name, float(threshold), feature or name)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.positive = positive
        self.negative = negative
        self.batch_size = int(batch_size)

        cfg = _preprocess_cfg(model)
        size = cfg["size"]
        self.image_size: tuple[int, int] = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
        self.interpolation: str = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
        self.resize_mode: str = cfg.get("resize_mode") or "shortest"
        if self.resize_mode not in ("shortest", "longest", "squash"):
            raise EraserError(f"CLIP preprocess resize_mode {self.resize_mode!r} is not one of shortest, longest, squash")
        self.fill_value: float = float(cfg.get("fill_color", 0) or 0) / 255.0
        device = self.device
        self.mean = torch.tensor(_triple(cfg["mean"]), dtype=torch.float32, device=device)  # [3]
        self.std = torch.tensor(_triple(cfg["std"]), dtype=torch.float32, device=device)  # [3]
        self.text_features = self._class_embeddings()  # [2, D]: rows t_pos, t_neg

    # -- device ---------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for p in self.model.parameters():
            return p.device
        return torch.device("cpu")

    def to(self, device: str | torch.device) -> ClipZeroShotLabeller:
        """Move the model and the cached text features to ``device``; returns self."""
        dev = resolve_device(device)
        self.model.to(dev)
        self.text_features = self.text_features.to(dev)
        self.mean, self.std = self.mean.to(dev), self.std.to(dev)
        return self

    @property
    def logit_scale(self) -> float:
        """``exp(model.logit_scale)``, the temperature of CLIP's softmax."""
        return float(self.model.logit_scale.detach().float().exp().reshape(-1)[0])

    # -- text -----------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> Tensor:
        """L2-normalised ensemble embedding ``[D]`` of ``prompts`` (Radford et al. 2021, §3.1.4)."""
        tokens = self.tokenizer(prompts).to(self.device)  # [P, L]
        emb = F.normalize(self.model.encode_text(tokens).float(), dim=-1)  # [P, D]
        return F.normalize(emb.mean(dim=0), dim=-1)  # [D]

    def _class_embeddings(self) -> Tensor:
        return torch.stack([self.encode_prompts(self.positive), self.encode_prompts(self.negative)])  # [2, D]

    # -- images ---------------------------------------------------------------------------
    def preprocess(self, images: Tensor) -> Tensor:
        """Images ``[N, 3, H, W]`` in [-1, 1] → CLIP input ``[N, 3, S_h, S_w]`` on the model's device.

        Matches open_clip's eval ``image_transform`` (resize / centre-crop or pad / normalise),
        computed in torch rather than PIL.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise EraserError(f"CLIP labelling takes RGB images [N, 3, H, W], got shape {tuple(images.shape)}")
        x = ((images.to(self.device, torch.float32) + 1.0) / 2.0).clamp(0.0, 1.0)  # [N, 3, H, W] in [0, 1]
        x = self._resize(x).clamp(0.0, 1.0)  # [N, 3, S_h, S_w]
        return (x - self.mean[:, None, None]) / self.std[:, None, None]

    def _resize(self, x: Tensor) -> Tensor:
        th, tw = self.image_size
        h, w = x.shape[-2:]
        if (h, w) == (th, tw):
            return x
        if self.resize_mode == "squash":
            return self._interpolate(x, th, tw)
        if self.resize_mode == "shortest":
            if th == tw:  # torchvision Resize(int): short side → th, long side truncated like torchvision
                nh, nw = (th, max(th, int(th * w / h))) if h <= w else (max(th, int(th * h / w)), th)
            else:  # open_clip's ResizeKeepRatio for a non-square target
                scale = max(th / h, tw / w)
                nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
            x = self._interpolate(x, nh, nw)  # [N, 3, nh, nw]
            top, left = int(round((nh - th) / 2.0)), int(round((nw - tw) / 2.0))
            return x[..., top : top + th, left : left + tw]
        # longest: fit the long side, pad the rest (open_clip's ResizeKeepRatio + CenterCropOrPad)
        scale = min(th / h, tw / w)
        nh, nw = min(th, max(1, round(h * scale))), min(tw, max(1, round(w * scale)))
        x = self._interpolate(x, nh, nw)
        out = x.new_full((x.shape[0], 3, th, tw), self.fill_value)
        top, left = (th - nh) // 2, (tw - nw) // 2
        out[..., top : top + nh, left : left + nw] = x
        return out

    def _interpolate(self, x: Tensor, h: int, w: int) -> Tensor:
        if x.shape[-2:] == (h, w):
            return x
        # antialias=True in both directions: torch's antialiased kernels are PIL's (bicubic a=-0.5),
        # which open_clip's PIL transform uses; the plain bicubic (a=-0.75) is ~10x further from
        # PIL when upsampling a 64×64 generator image to 224.
        return F.interpolate(x, size=(h, w), mode=self.interpolation, align_corners=False, antialias=True)

    @torch.no_grad()
    def encode_images(self, images: Tensor) -> Tensor:
        """L2-normalised image embeddings ``[N, D]`` (float32) for images ``[N, 3, H, W]`` in [-1, 1]."""
        dtype = next(self.model.visual.parameters()).dtype
        out = []
        for i in range(0, len(images), self.batch_size):
            x = self.preprocess(images[i : i + self.batch_size])  # [B, 3, S_h, S_w]
            out.append(F.normalize(self.model.encode_image(x.to(dtype)).float(), dim=-1))  # [B, D]
        return torch.cat(out) if out else torch.empty(0, self.text_features.shape[1], device=self.device)

    @torch.no_grad()
    def score_images(self, images: Tensor) -> Tensor:
        """``[N]`` float32 on the CPU: ``softmax(s·[f·t_pos, f·t_neg])[0]`` for images in [-1, 1]."""
        feats = self.encode_images(images)  # [N, D]
        logits = self.logit_scale * feats @ self.text_features.T  # [N, 2]
        return logits.softmax(dim=-1)[:, 0].cpu()


def _triple(v: Any) -> tuple[float, float, float]:
    if isinstance(v, (int, float)):
        return (float(v),) * 3
    v = tuple(float(a) for a in v)
    if len(v) == 1:
        return v * 3
    if len(v) != 3:
        raise EraserError(f"CLIP normalisation needs 3 channel values, got {v}")
    return v  # type: ignore[return-value]


def _preprocess_cfg(model: nn.Module) -> dict[str, Any]:
    """The model's preprocessing config: size, mean, std, interpolation, resize_mode, fill_color.

    ``open_clip.get_model_preprocess_cfg`` (set by ``create_model``), else the visual tower's
    ``preprocess_cfg`` / ``image_size``, with OpenAI's mean/std as the fallback.
    """
    visual = getattr(model, "visual", model)
    cfg: dict[str, Any] = {}
    try:
        import open_clip

        cfg = dict(open_clip.get_model_preprocess_cfg(model))
    except (ImportError, AttributeError):
        cfg = dict(getattr(visual, "preprocess_cfg", None) or {})
    size = cfg.get("size") or getattr(visual, "image_size", None)
    if size is None:
        raise EraserError("the CLIP model's vision tower has no image_size; it cannot be used for labelling")
    cfg["size"] = size
    cfg["mean"] = cfg.get("mean") or OPENAI_DATASET_MEAN
    cfg["std"] = cfg.get("std") or OPENAI_DATASET_STD
    return cfg


def _make_tokenizer(name_for_open_clip: str, model_cfg: dict[str, Any], hf_dir: Path, local_dir: Path | None) -> Any:
    """The tokenizer ``open_clip.get_tokenizer`` would build, but from local files only."""
    open_clip = import_open_clip()
    text_cfg = model_cfg.get("text_cfg", {})
    hf_name = text_cfg.get("hf_tokenizer_name")
    if not hf_name:
        return open_clip.get_tokenizer(name_for_open_clip)  # SimpleTokenizer: its BPE vocab ships with open_clip
    source = hf_tokenizer_dir(hf_name, hf_dir, local_dir)
    from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, HFTokenizer

    try:
        return HFTokenizer(
            str(source),
            context_length=text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH),
            tokenizer_mode=text_cfg.get("tokenizer_mode"),
            **(text_cfg.get("tokenizer_kwargs") or {}),
        )
    except ImportError as e:
        raise EraserError(f"the CLIP tokenizer {hf_name} needs the transformers package ({e}); pip install transformers") from None


def _offline_text_cfg(model_cfg: dict[str, Any], hf_dir: Path) -> dict[str, Any] | None:
    """For a text tower built from a transformers model (``text_cfg.hf_model_name``), the same
    ``text_cfg`` pointed at the cached copy of that model's ``config.json`` and with its own
    pretrained weights off (the CLIP checkpoint overwrites them), so transformers reads only local
    files. None for open_clip's own text transformer.
    """
    text_cfg = dict(model_cfg.get("text_cfg") or {})
    repo = text_cfg.get("hf_model_name")
    if not repo or Path(repo).is_dir():
        return None
    text_cfg.update(hf_model_name=str(clip_text_model_dir(repo, hf_dir)), hf_model_pretrained=False)
    return text_cfg


def _one_line(e: BaseException, limit: int = 240) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit]}{'…' if len(text) > limit else ''}"


def load_clip_model(
    model_name: str = DEFAULT_MODEL,
    pretrained: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
) -> tuple[nn.Module, Any]:
    """An open_clip model in eval mode and its tokenizer, from local weights only.

    The weights come from :func:`resolve_clip_weights` (no download, no random fallback) and are
    handed to ``open_clip.create_model`` as a local file, so open_clip never reaches the network:

    * built-in name + tag: ``create_model(name, pretrained=<cached file>)`` with the tag's own
      preprocessing (mean/std, interpolation, resize mode) and QuickGELU setting, exactly as
      ``create_model(name, pretrained=tag)`` would configure them;
    * built-in name + ``checkpoint``: the file as ``pretrained``; if a tag is given as well, it
      supplies the preprocessing and QuickGELU setting;
    * ``hf-hub:ORG/REPO``: the cached snapshot folder as ``local-dir:`` (config + weights).

    Left as defaults, this is ViT-B-32 with ``pretrained=laion2b_s34b_b79k``.
    """
    open_clip = import_open_clip()
    pretrained = default_pretrained(model_name, pretrained, checkpoint)
    dev = resolve_device(device)
    hf_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_hf_cache_dir()
    kwargs: dict[str, Any] = {}

    if model_name.startswith(HF_HUB_PREFIX):
        if pretrained or checkpoint is not None:
            raise EraserError(
                f"{model_name} takes its weights from the Hugging Face repo; drop pretrained= and checkpoint=, "
                f"or give a built-in model name with checkpoint=PATH"
            )
        weights = resolve_clip_weights(model_name, None, None, cache_dir)
        snapshot = weights.parent  # holds open_clip_config.json too (same revision)
        config = read_json(snapshot / HF_CONFIG_NAME, "open_clip config")
        model_cfg = config.get("model_cfg") if isinstance(config, dict) else None
        if not isinstance(model_cfg, dict):
            raise EraserError(f"{snapshot / HF_CONFIG_NAME} has no 'model_cfg'; {model_name} is not an open_clip model repo")
        source, local_dir = f"local-dir:{snapshot}", snapshot
        create_args: dict[str, Any] = {}
    else:
        check_clip_model_name(model_name)
        tag_cfg = clip_pretrained_cfg(model_name, pretrained) if pretrained else {}
        weights = resolve_clip_weights(model_name, pretrained, checkpoint, cache_dir)
        model_cfg = open_clip.get_model_config(model_name) or {}
        source, local_dir = model_name, None
        create_args = {"pretrained": str(weights)}
        if tag_cfg:
            from open_clip.transform import merge_preprocess_dict

            # what create_model(name, pretrained=tag) takes from the tag: mean, std, interpolation, resize_mode
            kwargs["force_preprocess_cfg"] = {k: v for k, v in merge_preprocess_dict({}, tag_cfg).items() if k != "size"}
            if tag_cfg.get("quick_gelu") and not model_cfg.get("quick_gelu", False):
                kwargs["force_quick_gelu"] = True  # weights trained with QuickGELU (e.g. OpenAI's)

    if (text_cfg := _offline_text_cfg(model_cfg, hf_dir)) is not None:
        kwargs["text_cfg"] = text_cfg
    tokenizer = _make_tokenizer(source, model_cfg, hf_dir, local_dir)
    try:
        # require_pretrained: open_clip raises instead of returning random weights
        model = open_clip.create_model(source, device=dev, require_pretrained=True, **create_args, **kwargs)
    except Exception as e:  # noqa: BLE001 - open_clip raises many types; report one line
        raise EraserError(
            f"open_clip could not load {weights} into {model_name} ({_one_line(e)}); "
            f"check that the file holds weights for model={model_name}"
        ) from None
    return model.eval(), tokenizer


# -- spec parsing -------------------------------------------------------------------------------
def parse_clip_spec(args: str) -> dict[str, Any]:
    """``FEATURE[,key=value...]`` → ``{"feature": ..., "model": ..., ...}`` (keys from ``SPEC_KEYS``)."""
    parts = [p.strip() for p in args.split(",")]
    if not parts or not parts[0] or "=" in parts[0]:
        raise EraserError(
            f"CLIP labeller spec {'clip:' + args!r} must start with a feature, e.g. clip:eyeglasses or "
            f"clip:eyeglasses,model=ViT-B-16,pretrained=openai"
        )
    spec: dict[str, Any] = {"feature": parts[0]}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in SPEC_KEYS or not value:
            raise EraserError(
                f"bad CLIP labeller option {part!r} in {'clip:' + args!r}; options are key=value with key one of "
                f"{', '.join(SPEC_KEYS)}"
            )
        if key in spec:
            raise EraserError(f"CLIP labeller option {key!r} is given twice in {'clip:' + args!r}")
        spec[key] = value
    if "threshold" in spec:
        try:
            t = float(spec["threshold"])
        except ValueError:
            t = math.nan
        if not 0.0 <= t <= 1.0:
            raise EraserError(f"CLIP threshold must be a number in [0, 1], got {spec['threshold']!r}")
        spec["threshold"] = t
    return spec


def make_clip_labeller(args: str, device: str | torch.device = "cpu") -> ClipZeroShotLabeller:
    """Build the labeller for spec ``clip:<args>``; ``args`` = ``FEATURE[,key=value...]``.

    FEATURE is a built-in name (``PROMPTS``) or a JSON prompt file. Keys: ``model`` (open_clip
    name or ``hf-hub:ORG/REPO``; default ViT-B-32), ``pretrained`` (open_clip tag; default
    laion2b_s34b_b79k for the default model), ``checkpoint`` (local weights file), ``threshold``
    (default 0.5), ``cache_dir`` (open_clip's download folder, if not the default caches).
    """
    spec = parse_clip_spec(args)
    feature, positive, negative = load_prompts(spec["feature"])
    model, tokenizer = load_clip_model(
        spec.get("model", DEFAULT_MODEL),
        spec.get("pretrained"),
        spec.get("checkpoint"),
        device,
        cache_dir=spec.get("cache_dir"),
    )
    return ClipZeroShotLabeller(
        model,
        tokenizer,
        positive,
        negative,
        name=f"clip:{args}",
        threshold=spec.get("threshold", 0.5),
        feature=feature,
    )
