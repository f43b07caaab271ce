"""The CLIP zero-shot labeller, on tiny open_clip models whose weights are set by hand.

No real CLIP weights exist on the test machine, so every model here is an open_clip ``CLIP`` of
width 8 registered under a test name. The key test builds one whose image embedding says "red or
blue" and whose text embedding says the same for two prompts, so the right scores are known.
"""

from __future__ import annotations

import functools
import json
import math
import urllib.request
from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from eraser.errors import EraserError
from eraser.generators.base import Generator
from eraser.labelling.clip import (
    PROMPTS,
    ClipZeroShotLabeller,
    load_clip_model,
    load_prompts,
    make_clip_labeller,
    parse_clip_spec,
    resolve_clip_weights,
)

TINY = "eraser-test-tiny-clip"
TINY_CFG = {
    "embed_dim": 8,
    "vision_cfg": {
        "image_size": 32,
        "layers": 1,
        "width": 8,
        "head_width": 4,
        "patch_size": 8,
        "mlp_ratio": 1.0,
        "pool_type": "avg",  # image embedding = mean of the patch tokens
    },
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 8, "heads": 2, "layers": 1, "mlp_ratio": 1.0},
}
U = torch.tensor([1.0, -1.0, 0, 0, 0, 0, 0, 0])  # "red" direction (zero mean, so LayerNorm keeps it)
W = torch.tensor([0, 0, 1.0, -1.0, 0, 0, 0, 0])  # a second zero-mean direction, orthogonal to U
RED = torch.tensor([1.0, -1.0, -1.0])  # in [-1, 1]
BLUE = torch.tensor([-1.0, -1.0, 1.0])
POS, NEG = ["red"], ["a very blue thing"]


#: the tiny model with CLIP's real context length (77 tokens), so whole prompts reach the text tower
TINY77 = "eraser-test-tiny-clip-ctx77"
#: variants whose text side needs files from the Hugging Face hub
TINY_HF_TOKENIZER = "eraser-test-tiny-clip-hftok"
TINY_HF_TEXT = "eraser-test-tiny-clip-hftext"


@pytest.fixture(scope="module", autouse=True)
def tiny_config(tmp_path_factory) -> None:
    """Register the tiny architecture (and two variants) with open_clip's model configs."""
    folder = tmp_path_factory.mktemp("configs")
    configs = {
        TINY: TINY_CFG,
        TINY77: {**TINY_CFG, "text_cfg": {**TINY_CFG["text_cfg"], "context_length": 77}},
        TINY_HF_TOKENIZER: {**TINY_CFG, "text_cfg": {**TINY_CFG["text_cfg"], "hf_tokenizer_name": "someorg/some-tokenizer"}},
        TINY_HF_TEXT: {
            **TINY_CFG,
            "custom_text": True,
            "text_cfg": {"hf_model_name": "someorg/some-text-model", "hf_tokenizer_name": "someorg/some-text-model"},
        },
    }
    for name, cfg in configs.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)


@pytest.fixture(autouse=True)
def no_network(monkeypatch) -> None:
    """Any download attempt by open_clip or huggingface_hub fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    import open_clip.pretrained

    monkeypatch.setattr(open_clip.pretrained, "hf_hub_download", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return open_clip.create_model(TINY).eval()


@functools.cache
def tokenizer():
    """open_clip's SimpleTokenizer for the tiny config (context length 8); its BPE vocab ships with open_clip."""
    return open_clip.get_tokenizer(TINY)


def colour_model(log_scale: float = math.log(100.0)) -> nn.Module:
    """A tiny CLIP whose image embedding is ±U for red/blue images and whose prompts embed in ±U.

    Every residual branch is zeroed (attention out_proj and MLP c_proj), so both transformers are
    identities. Vision: conv1 maps a patch to (mean R − mean B of the normalised image)·U, the
    class and position embeddings are 0, ln_pre/ln_post turn each token into ±U/rms(U), 'avg'
    pooling keeps ±U, and proj is the identity. Text: token embeddings are 0, so the pooled EOT
    token is the position embedding at the EOT position: +U at 2 ("red"), U + W/2 at 3
    ("red thing"), −U at 5 ("a very blue thing"); ln_final keeps the direction, text_projection
    is the identity.
    """
    m = tiny_model()
    with torch.no_grad():
        for block in [*m.visual.transformer.resblocks, *m.transformer.resblocks]:
            for p in (block.attn.out_proj.weight, block.attn.out_proj.bias, block.mlp.c_proj.weight, block.mlp.c_proj.bias):
                p.zero_()
        v = m.visual
        v.conv1.weight.zero_()  # [width, 3, 8, 8]
        v.conv1.weight[:, 0] = U[:, None, None] / 64
        v.conv1.weight[:, 2] = -U[:, None, None] / 64
        v.class_embedding.zero_()
        v.positional_embedding.zero_()
        v.proj.copy_(torch.eye(8))
        m.token_embedding.weight.zero_()
        m.positional_embedding.zero_()
        m.positional_embedding[2] = U
        m.positional_embedding[3] = U + 0.5 * W
        m.positional_embedding[5] = -U
        m.text_projection.copy_(torch.eye(8))
        m.logit_scale.fill_(log_scale)
    return m


def solid(colours: list[torch.Tensor], size: int = 32) -> torch.Tensor:
    """Solid-colour images ``[N, 3, size, size]`` in [-1, 1]."""
    return torch.stack(colours)[:, :, None, None].expand(-1, -1, size, size).clone()


# -- the key test: hand-set weights, known answers ------------------------------------------------
def test_tokens_put_eot_where_the_weights_expect_it():
    tokens = tokenizer()(["red", "red thing", "a very blue thing"])  # [3, 8]
    assert tokens.argmax(dim=-1).tolist() == [2, 3, 5]


def test_hand_set_clip_scores_red_as_positive_and_blue_as_negative():
    lab = ClipZeroShotLabeller(colour_model(), tokenizer(), POS, NEG, name="clip:red")
    torch.testing.assert_close(lab.text_features, torch.stack([U, -U]) / math.sqrt(2), atol=1e-5, rtol=0)
    s = lab.score_images(solid([RED, BLUE]))
    assert s.shape == (2,) and s.dtype == torch.float32
    assert s[0] > 0.9 and s[1] < 0.1
    # cos = ±1 and logit scale 100: softmax([100, -100]) = sigmoid(200) ≈ 1
    torch.testing.assert_close(s, torch.tensor([1.0, 0.0]), atol=1e-6, rtol=0)

    # ranking over a mixed batch of darker / lighter reds and blues
    colours = [RED, BLUE * 0.5, RED * 0.7, torch.tensor([-1.0, -0.8, 0.6]), torch.tensor([0.4, -1.0, -0.9])]
    s = lab.score_images(solid(colours))
    is_red = torch.tensor([True, False, True, False, True])
    assert s[is_red].min() > 0.9 > 0.1 > s[~is_red].max()
    assert lab.decide(s).tolist() == is_red.tolist()


def test_score_is_the_softmax_of_scaled_cosines():
    # with logit scale 1 nothing saturates: red vs ("red", "a very blue thing") = softmax([1, -1])[0]
    lab = ClipZeroShotLabeller(colour_model(log_scale=0.0), tokenizer(), POS, NEG)
    s = lab.score_images(solid([RED, BLUE]))
    expected = torch.sigmoid(torch.tensor(2.0)).item()  # 0.880797
    torch.testing.assert_close(s, torch.tensor([expected, 1 - expected]), atol=1e-5, rtol=0)

    # prompt ensembling: t_pos = normalise(normalise(U) + normalise(U + W/2)), so
    # f·t_pos = (1 + 2/√5) / sqrt(2 + 4/√5) = 0.97325 for a red image, f·t_neg = −1
    lab2 = ClipZeroShotLabeller(colour_model(log_scale=0.0), tokenizer(), ["red", "red thing"], NEG)
    cos_pos = (1 + 2 / math.sqrt(5)) / math.sqrt(2 + 4 / math.sqrt(5))
    assert cos_pos == pytest.approx(0.97325, abs=1e-5)
    s2 = lab2.score_images(solid([RED, BLUE]))
    p_red = 1 / (1 + math.exp(-(cos_pos + 1)))
    p_blue = 1 / (1 + math.exp(-(-cos_pos - 1)))
    torch.testing.assert_close(s2, torch.tensor([p_red, p_blue]), atol=1e-5, rtol=0)


def test_swapping_prompt_sets_flips_scores():
    images = torch.rand(6, 3, 32, 32) * 2 - 1
    for model in (colour_model(log_scale=0.0), tiny_model(seed=3)):
        a = ClipZeroShotLabeller(model, tokenizer(), ["red", "red thing"], NEG).score_images(images)
        b = ClipZeroShotLabeller(model, tokenizer(), NEG, ["red", "red thing"]).score_images(images)
        torch.testing.assert_close(b, 1 - a, atol=1e-6, rtol=0)
    # a random model gives scores strictly inside (0, 1) that differ between images
    assert 0 < a.min() and a.max() < 1 and a.std() > 0


def test_matches_open_clip_zero_shot_classifier_on_a_random_model():
    """Same class embeddings and probabilities as open_clip's own zero-shot code path."""
    model = tiny_model(seed=1)
    tok = tokenizer()
    templates = ["a photo of {}.", "{}", "a drawing of {}."]
    classes = ["a red thing", "a blue thing"]
    lab = ClipZeroShotLabeller(model, tok, [t.format(classes[0]) for t in templates], [t.format(classes[1]) for t in templates])
    from open_clip.zero_shot_classifier import build_zero_shot_classifier

    ref = build_zero_shot_classifier(model, tok, classes, templates, device="cpu")  # [D, 2]
    torch.testing.assert_close(lab.text_features, ref.T, atol=1e-6, rtol=0)

    images = torch.rand(5, 3, 32, 32) * 2 - 1
    mean = torch.tensor(model.visual.preprocess_cfg["mean"])[:, None, None]
    std = torch.tensor(model.visual.preprocess_cfg["std"])[:, None, None]
    with torch.no_grad():
        f = model.encode_image(((images + 1) / 2 - mean) / std, normalize=True)  # [5, D]
        probs = (model.logit_scale.exp() * f @ ref).softmax(dim=-1)[:, 0]
    torch.testing.assert_close(lab.score_images(images), probs, atol=1e-6, rtol=0)


class ColourNet(nn.Module):
    """Decodes z [N, 2] to a 64×64 red image when z[:, 0] > 0, else a blue one."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        colour = torch.where(z[:, :1] > 0, RED, BLUE)  # [N, 3]
        return colour[:, :, None, None].expand(-1, -1, 64, 64)


def test_labeller_scores_a_generator_through_decode():
    gen = Generator(ColourNet(), (2,), name="colours")
    z = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    lab = ClipZeroShotLabeller(colour_model(), tokenizer(), POS, NEG, name="clip:red")
    s = lab.score(gen, z, batch_size=3)  # 64×64 images, resized to 32 inside
    assert s.shape == (7,) and s.device.type == "cpu"
    positive = z[:, 0] > 0
    assert positive.any() and (~positive).any()
    assert s[positive].min() > 0.9 and s[~positive].max() < 0.1
    assert lab.decide(s).tolist() == positive.tolist()
    assert lab.to("cpu") is lab


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_labeller_on_cuda_takes_cpu_images_and_matches_cpu_scores():
    images = torch.rand(9, 3, 48, 48) * 2 - 1
    lab = ClipZeroShotLabeller(tiny_model(seed=2), tokenizer(), ["red", "red thing"], NEG)
    on_cpu = lab.score_images(images)
    assert lab.to("cuda") is lab and lab.device.type == "cuda" and lab.text_features.device.type == "cuda"
    on_gpu = lab.score_images(images)  # CPU images, GPU model
    assert on_gpu.device.type == "cpu"
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=0)
    torch.testing.assert_close(lab.score_images(images.cuda()), on_cpu, atol=1e-4, rtol=0)
    lab2 = ClipZeroShotLabeller(colour_model(), tokenizer(), POS, NEG).to("cuda")
    s = lab2.score(Generator(ColourNet(), (2,)), torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    assert s[0] > 0.9 and s[1] < 0.1


# -- preprocessing --------------------------------------------------------------------------------
def test_preprocess_resizes_and_normalises_with_the_models_mean_and_std():
    model = tiny_model()
    lab = ClipZeroShotLabeller(model, tokenizer(), POS, NEG)
    cfg = open_clip.get_model_preprocess_cfg(model)
    assert lab.image_size == (32, 32)
    assert tuple(lab.mean.tolist()) == pytest.approx(open_clip.OPENAI_DATASET_MEAN)
    assert tuple(lab.std.tolist()) == pytest.approx(open_clip.OPENAI_DATASET_STD)
    assert cfg["interpolation"] == "bicubic" and cfg["resize_mode"] == "shortest"

    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    img = torch.stack([xx, yy, xx * yy])[None]  # [1, 3, 64, 64] in [-1, 1]
    x = lab.preprocess(img)
    assert x.shape == (1, 3, 32, 32)
    manual = F.interpolate((img + 1) / 2, size=(32, 32), mode="bicubic", antialias=True).clamp(0, 1)
    mean, std = torch.tensor(cfg["mean"])[:, None, None], torch.tensor(cfg["std"])[:, None, None]
    torch.testing.assert_close(x, (manual - mean) / std, atol=1e-6, rtol=0)
    # one pixel by hand: the centre-ish pixel of the 2×-downsampled gradient, red channel
    assert x[0, 0, 0, 0].item() == pytest.approx((manual[0, 0, 0, 0].item() - 0.48145466) / 0.26862954, abs=1e-6)

    # and it agrees with open_clip's own PIL eval transform to within resampling / uint8 rounding
    from PIL import Image

    ref_tf = open_clip.image_transform(32, is_train=False, mean=cfg["mean"], std=cfg["std"])
    pil = Image.fromarray(((img[0] + 1) / 2 * 255).round().byte().permute(1, 2, 0).numpy())
    assert (ref_tf(pil) - x[0]).abs().mean() < 0.03


@pytest.mark.parametrize("hw", [(64, 64), (16, 16), (48, 64), (40, 24)])
def test_preprocess_matches_open_clips_pil_transform(hw):
    """Down- and upsampling (a 16×16 image goes up to 32, like a GAN image to 224) and crops agree
    with open_clip's own eval transform up to uint8 rounding of the PIL input."""
    from PIL import Image

    model = tiny_model()
    lab = ClipZeroShotLabeller(model, tokenizer(), POS, NEG)
    cfg = open_clip.get_model_preprocess_cfg(model)
    ref_tf = open_clip.image_transform(32, is_train=False, mean=cfg["mean"], std=cfg["std"])
    u8 = torch.randint(0, 256, (3, *hw), generator=torch.Generator().manual_seed(hw[0] * hw[1]), dtype=torch.uint8)
    ref = ref_tf(Image.fromarray(u8.permute(1, 2, 0).numpy()))  # [3, 32, 32]
    x = lab.preprocess(u8.float()[None] / 127.5 - 1)[0]
    assert x.shape == ref.shape == (3, 32, 32)
    err = (x - ref).abs()
    assert err.mean() < 0.008 and err.max() < 0.3  # plain (a=-0.75) bicubic: mean 0.06 at 16×16


def test_preprocess_shortest_side_resize_then_centre_crop():
    lab = ClipZeroShotLabeller(tiny_model(), tokenizer(), POS, NEG)
    img = -torch.ones(2, 3, 48, 64)  # wide image: black, with a white band outside the centre crop
    img[..., :, :8] = 1.0
    img[..., :, 56:] = 1.0
    x = lab.preprocess(img)  # short side 48 → 32 (so 64 → 42), crop the middle 32 columns
    assert x.shape == (2, 3, 32, 32)
    black = (0 - lab.mean) / lab.std
    torch.testing.assert_close(x[0, :, :, 4:28], black[:, None, None].expand(3, 32, 24), atol=1e-5, rtol=0)


def test_model_with_its_own_mean_and_std_is_normalised_with_them():
    model = open_clip.create_model(TINY, force_preprocess_cfg={"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)})
    lab = ClipZeroShotLabeller(model, tokenizer(), POS, NEG)
    img = torch.rand(3, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(lab.preprocess(img), img, atol=1e-6, rtol=0)  # ((x+1)/2 − .5)/.5 = x


def test_labeller_refuses_empty_prompts_and_bad_threshold():
    with pytest.raises(EraserError, match="at least one positive"):
        ClipZeroShotLabeller(tiny_model(), tokenizer(), [], NEG)
    with pytest.raises(EraserError, match="threshold"):
        ClipZeroShotLabeller(tiny_model(), tokenizer(), POS, NEG, threshold=1.5)


# -- finding weights: nothing on disk, nothing downloaded ----------------------------------------
@pytest.fixture
def empty_caches(tmp_path, monkeypatch) -> Path:
    """HF_HOME and HOME point at empty folders; the HF cache is then HF_HOME/hub."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


def test_missing_tag_weights_name_model_tag_repo_and_cache(empty_caches):
    with pytest.raises(EraserError) as e:
        load_clip_model("ViT-B-32", "laion2b_s34b_b79k", None)
    msg = one_line(e)
    for part in (
        "ViT-B-32",
        "laion2b_s34b_b79k",
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        "open_clip_model.safetensors",
        "open_clip_pytorch_model.bin",
        str(empty_caches / "hf" / "hub"),
        "checkpoint=PATH",
    ):
        assert part in msg, part
    # the default model and tag are these
    with pytest.raises(EraserError, match="laion2b_s34b_b79k") as e2:
        load_clip_model()
    assert one_line(e2) == msg


def test_missing_weights_with_explicit_cache_dir_and_url_tag(empty_caches):
    cache = empty_caches / "open_clip_cache"
    with pytest.raises(EraserError) as e:
        load_clip_model("ViT-B-32", "openai", None, cache_dir=cache)
    msg = one_line(e)
    # OpenAI weights: an HF repo and a URL, both looked for in open_clip's cache_dir
    assert "timm/vit_base_patch32_clip_224.openai" in msg and "ViT-B-32.pt" in msg
    assert msg.count(str(cache)) >= 2
    # without cache_dir the URL file is looked for in ~/.cache/clip
    with pytest.raises(EraserError) as e:
        resolve_clip_weights("ViT-B-32", "openai")
    assert str(empty_caches / "home" / ".cache" / "clip") in one_line(e)


def test_damaged_url_download_is_refused(empty_caches):
    clip_dir = empty_caches / "home" / ".cache" / "clip"
    clip_dir.mkdir(parents=True)
    (clip_dir / "ViT-B-32.pt").write_bytes(b"not the weights")
    with pytest.raises(EraserError, match="SHA256") as e:
        resolve_clip_weights("ViT-B-32", "openai")
    one_line(e)


def test_missing_hf_hub_model(empty_caches):
    with pytest.raises(EraserError) as e:
        load_clip_model("hf-hub:someone/some-clip", None, None)
    msg = one_line(e)
    assert "someone/some-clip" in msg and "open_clip_config.json" in msg and str(empty_caches / "hf" / "hub") in msg


def test_unknown_tag_model_and_missing_checkpoint(tmp_path):
    with pytest.raises(EraserError) as e:
        load_clip_model("ViT-B-32", "not_a_tag", None)
    msg = one_line(e)
    assert "not_a_tag" in msg and "laion2b_s34b_b79k" in msg and "openai" in msg
    with pytest.raises(EraserError, match="no model 'ViT-Q-99'"):
        load_clip_model("ViT-Q-99", "openai", None)
    with pytest.raises(EraserError) as e:
        load_clip_model("ViT-B-32", None, str(tmp_path / "nope.bin"))
    assert "nope.bin" in one_line(e) and "not found" in str(e.value)
    with pytest.raises(EraserError, match="give pretrained=TAG"):
        load_clip_model("ViT-B-16", None, None)  # no silent random weights
    with pytest.raises(EraserError, match="drop pretrained"):
        load_clip_model("hf-hub:org/repo", "openai", None)


def fake_hf_repo(cache: Path, repo: str, files: dict[str, bytes], commit: str = "a" * 40) -> Path:
    """Lay out ``files`` the way huggingface_hub caches them: models--org--name/{refs/main, snapshots/<commit>/}."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (snap / name).write_bytes(data)
    return snap


def test_cached_tag_weights_are_found_in_the_hf_cache(empty_caches):
    hub = empty_caches / "hf" / "hub"  # the default cache, read from HF_HOME at call time
    repo = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    snap = fake_hf_repo(hub, repo, {"open_clip_pytorch_model.bin": b"x"})
    assert resolve_clip_weights("ViT-B-32", "laion2b_s34b_b79k") == snap / "open_clip_pytorch_model.bin"
    # open_clip prefers the safetensors file when both are there
    fake_hf_repo(hub, repo, {"open_clip_model.safetensors": b"y"})
    assert resolve_clip_weights("ViT-B-32", "laion2b_s34b_b79k") == snap / "open_clip_model.safetensors"
    # the same layout under an explicit cache_dir
    other = empty_caches / "elsewhere"
    snap2 = fake_hf_repo(other, repo, {"open_clip_pytorch_model.bin": b"x"})
    assert resolve_clip_weights("ViT-B-32", "laion2b_s34b_b79k", cache_dir=other) == snap2 / "open_clip_pytorch_model.bin"


def save_state(model: nn.Module, path: Path) -> Path:
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save(model.state_dict(), path)
    return path


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], atol=0, rtol=0, msg=k)


def test_load_from_local_checkpoint_gives_the_saved_weights(tmp_path):
    ref = colour_model()
    for name in ("tiny.bin", "tiny.safetensors"):
        path = save_state(ref, tmp_path / name)
        model, tok = load_clip_model(TINY, None, str(path))
        assert not model.training
        assert_same_weights(model, ref)
        s = ClipZeroShotLabeller(model, tok, POS, NEG).score_images(solid([RED, BLUE]))
        assert s[0] > 0.9 and s[1] < 0.1


def test_text_side_files_from_the_hub_must_be_cached_too(tmp_path, empty_caches):
    ckpt = save_state(tiny_model(), tmp_path / "tiny.bin")
    with pytest.raises(EraserError) as e:
        load_clip_model(TINY_HF_TOKENIZER, None, str(ckpt))
    msg = one_line(e)
    assert "someorg/some-tokenizer" in msg and "tokenizer_config.json" in msg and str(empty_caches / "hf" / "hub") in msg
    with pytest.raises(EraserError) as e:
        load_clip_model(TINY_HF_TEXT, None, str(ckpt))
    msg = one_line(e)
    assert "someorg/some-text-model" in msg and "config.json" in msg and "hf download" in msg


def test_checkpoint_of_the_wrong_model_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.bin"
    torch.save({"something": torch.zeros(3)}, path)
    with pytest.raises(EraserError) as e:
        load_clip_model(TINY, None, str(path))
    assert "bad.bin" in one_line(e) and TINY in str(e.value)


def test_load_hf_hub_model_from_the_cache(empty_caches, monkeypatch):
    ref = colour_model()
    cache = empty_caches / "hubcache"
    weights = save_state(ref, empty_caches / "w.safetensors").read_bytes()
    config = {"model_cfg": TINY_CFG, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}
    snap = fake_hf_repo(
        cache, "eraser-test/tiny-clip", {"open_clip_config.json": json.dumps(config).encode(), "open_clip_model.safetensors": weights}
    )
    assert resolve_clip_weights("hf-hub:eraser-test/tiny-clip", cache_dir=cache) == snap / "open_clip_model.safetensors"
    model, tok = load_clip_model("hf-hub:eraser-test/tiny-clip", None, None, cache_dir=cache)
    assert_same_weights(model, ref)
    lab = ClipZeroShotLabeller(model, tok, POS, NEG)
    assert lab.mean.tolist() == [0.5, 0.5, 0.5] and lab.std.tolist() == [0.5, 0.5, 0.5]
    assert tok(["a very blue thing"]).shape == (1, 8)
    # found through HF_HUB_CACHE, read when called
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    model2, _ = load_clip_model("hf-hub:eraser-test/tiny-clip")
    assert_same_weights(model2, ref)


# -- prompts and spec parsing -------------------------------------------------------------------
def test_builtin_prompt_sets_reach_the_model_whole_and_ensembled(tmp_path):
    """``clip:FEATURE`` for each built-in feature: its prompts, none cut by CLIP's 77-token context, are what the
    labeller embeds, ensembled as open_clip's own zero-shot code ensembles templates (a random tiny model)."""
    from open_clip.zero_shot_classifier import build_zero_shot_classifier

    torch.manual_seed(4)
    ckpt = save_state(open_clip.create_model(TINY77).eval(), tmp_path / "tiny77.bin")
    clip_tokenizer = open_clip.get_tokenizer("ViT-B-32")  # the real SimpleTokenizer; its vocabulary ships with open_clip
    for feature in ("eyeglasses", "smile", "hat", "beard"):
        lab = make_clip_labeller(f"{feature},model={TINY77},checkpoint={ckpt}")
        assert lab.feature == feature and lab.name == f"clip:{feature},model={TINY77},checkpoint={ckpt}"
        pos, neg = lab.positive, lab.negative
        assert (tuple(pos), tuple(neg)) == PROMPTS[feature] and 3 <= len(pos) <= 5 and 3 <= len(neg) <= 5
        assert len(set(pos + neg)) == len(pos) + len(neg)  # no prompt twice, none on both sides
        tokens = clip_tokenizer(pos + neg)  # [P, 77]; a cut prompt would end in a forced EOT at position 76
        assert tokens.argmax(dim=-1).max() < 76
        # the class embeddings are open_clip's prompt ensembles (each prompt as a template of an empty class name)
        for row, prompts in enumerate((pos, neg)):
            ref = build_zero_shot_classifier(lab.model, lab.tokenizer, [""], [lambda _, p=p: p for p in prompts],
                                             device="cpu")[:, 0]  # [D]
            torch.testing.assert_close(lab.text_features[row], ref, atol=1e-6, rtol=0)
        with torch.no_grad():  # every prompt embeds differently: the ensemble averages len(prompts) distinct texts
            emb = lab.model.encode_text(lab.tokenizer(pos + neg), normalize=True)  # [P, D]
        assert (torch.cdist(emb, emb) + torch.eye(len(emb))).min() > 1e-4
        assert not torch.allclose(lab.text_features[0], lab.text_features[1], atol=1e-3)


def test_unknown_feature_and_bad_prompt_files(tmp_path):
    with pytest.raises(EraserError) as e:
        load_prompts("moustache")
    msg = one_line(e)
    assert "moustache" in msg and "eyeglasses" in msg and "beard" in msg and "JSON" in msg
    with pytest.raises(EraserError, match="not found"):
        load_prompts(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"positive": ["a"], "negative": []}))
    with pytest.raises(EraserError, match="negative"):
        load_prompts(str(bad))


def test_parse_clip_spec():
    assert parse_clip_spec("eyeglasses") == {"feature": "eyeglasses"}
    assert parse_clip_spec("eyeglasses,model=ViT-B-16,pretrained=openai,threshold=0.7") == {
        "feature": "eyeglasses",
        "model": "ViT-B-16",
        "pretrained": "openai",
        "threshold": 0.7,
    }
    assert parse_clip_spec("p.json, checkpoint=/w/x.bin")["checkpoint"] == "/w/x.bin"
    for bad, match in [
        ("eyeglasses,colour=red", "colour=red"),
        ("eyeglasses,model", "model"),
        ("eyeglasses,threshold=2", "threshold"),
        ("eyeglasses,threshold=abc", "threshold"),
        ("eyeglasses,model=a,model=b", "twice"),
        ("", "must start with a feature"),
        ("model=ViT-B-32", "must start with a feature"),
    ]:
        with pytest.raises(EraserError, match=match) as e:
            parse_clip_spec(bad)
        one_line(e)


def test_make_clip_labeller_end_to_end(tmp_path):
    ckpt = save_state(colour_model(), tmp_path / "colour.bin")
    prompts = tmp_path / "red.json"
    prompts.write_text(json.dumps({"positive": POS, "negative": NEG}))
    spec = f"{prompts},model={TINY},checkpoint={ckpt},threshold=0.6"
    lab = make_clip_labeller(spec)
    assert lab.name == f"clip:{spec}" and lab.threshold == 0.6 and lab.feature == "red"
    assert lab.positive == POS and lab.negative == NEG
    s = lab.score_images(solid([BLUE, RED, RED]))
    assert s[0] < 0.1 and s[1:].min() > 0.9

    lab2 = make_clip_labeller(f"eyeglasses,model={TINY},checkpoint={ckpt}")
    assert lab2.positive == list(PROMPTS["eyeglasses"][0]) and lab2.threshold == 0.5


def test_make_clip_labeller_errors(empty_caches):
    with pytest.raises(EraserError, match="bad CLIP labeller option"):
        make_clip_labeller("eyeglasses,size=3")
    with pytest.raises(EraserError, match="unknown CLIP feature"):
        make_clip_labeller("tattoo")
    with pytest.raises(EraserError) as e:
        make_clip_labeller("eyeglasses")  # default ViT-B-32 / laion2b_s34b_b79k, not cached here
    msg = one_line(e)
    assert "ViT-B-32" in msg and "laion2b_s34b_b79k" in msg and str(empty_caches / "hf" / "hub") in msg
