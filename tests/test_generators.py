"""Every adapter kind: load it, save it as an eraser checkpoint, load that back, get identical images."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from conftest import tiny_dcgan
from eraser.errors import EraserError
from eraser.generators import LoadOptions, load_checkpoint, load_generator, save_checkpoint
from eraser.generators.adapters import DiffusersGenerator

DCGAN = "eraser.generators.dcgan:DCGANGenerator"


def _tiny_autoencoder_kl():
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4, sample_size=16, scaling_factor=0.5,
    )


def _tiny_vq():
    from diffusers import VQModel

    torch.manual_seed(0)
    return VQModel(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4, sample_size=16, num_vq_embeddings=16,
    )


def _roundtrip(gen, tmp_path: Path, n: int = 6):
    z = gen.sample_latents(n, seed=7)
    before = gen.generate(z)
    save_checkpoint(gen, tmp_path / "ckpt", {"source": "test"})
    again = load_generator(tmp_path / "ckpt")
    assert type(again) is type(gen)
    assert again.latent_shape == gen.latent_shape
    after = again.generate(z)
    assert torch.equal(before, after), "save → load must give bit-identical images"
    assert before.std() > 0  # a real image, not zeros
    return again


def test_module_generator_roundtrip(tmp_path):
    again = _roundtrip(tiny_dcgan(), tmp_path)
    assert again.latent_dim == 8
    assert again.generate(again.sample_latents(2, 0)).shape == (2, 3, 64, 64)


@pytest.mark.parametrize("suffix,key", [(".safetensors", None), (".pt", None), (".tar", "netG_state_dict")])
def test_state_dict_file_with_class(tmp_path, suffix, key):
    gen = tiny_dcgan()
    path = tmp_path / f"weights{suffix}"
    state = gen.module.state_dict()
    if suffix == ".safetensors":
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({key: state} if key else state, path)
    opts = LoadOptions(module_class=DCGAN, init_args={"nz": 8, "ngf": 4}, latent_shape=(8, 1, 1), state_dict_key=key)
    loaded = load_generator(path, options=opts)
    z = gen.sample_latents(4, seed=1)
    assert torch.equal(loaded.generate(z), gen.generate(z))
    _roundtrip(loaded, tmp_path)


def test_torchscript_generator_roundtrip(tmp_path):
    gen = tiny_dcgan()
    path = tmp_path / "g.pt"
    torch.jit.save(torch.jit.script(gen.module), str(path))
    loaded = load_generator(path, options=LoadOptions(latent_shape=(8, 1, 1)))
    z = gen.sample_latents(4, seed=1)
    assert torch.equal(loaded.generate(z), gen.generate(z))
    _roundtrip(loaded, tmp_path)


@pytest.mark.parametrize("factory", [_tiny_autoencoder_kl, _tiny_vq], ids=["AutoencoderKL", "VQModel"])
def test_diffusers_directory_roundtrip(tmp_path, factory):
    model = factory().eval()
    model.save_pretrained(tmp_path / "diffusers-model")
    gen = load_generator(tmp_path / "diffusers-model")
    assert isinstance(gen, DiffusersGenerator)
    assert gen.latent_shape == (4, 8, 8)
    z = gen.sample_latents(3, seed=2)
    scale = gen.scaling_factor
    with torch.no_grad():
        expected = model.decode(z.reshape(3, 4, 8, 8) / scale).sample.clamp(-1, 1)
    assert torch.equal(gen.generate(z), expected)
    _roundtrip(gen, tmp_path)


@pytest.mark.parametrize("factory", [_tiny_autoencoder_kl, _tiny_vq], ids=["AutoencoderKL", "VQModel"])
def test_saved_diffusers_checkpoint_loads_with_from_pretrained(tmp_path, factory):
    """An eraser checkpoint of a diffusers model (what an erase writes) is also a diffusers model folder."""
    model = factory().eval()
    model.save_pretrained(tmp_path / "original")
    gen = load_generator(tmp_path / "original")
    with torch.no_grad():
        next(gen.module.decoder.parameters()).add_(0.01)  # as an erase changes the decoder
    save_checkpoint(gen, tmp_path / "erased", {"source": "test"})
    again = type(model).from_pretrained(str(tmp_path / "erased"), local_files_only=True)
    theirs, ours = again.state_dict(), gen.module.state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in ours)
    assert all(again.config[k] == v for k, v in gen.module.config.items() if k != "_name_or_path")
    reloaded = load_generator(tmp_path / "erased")  # and it is still an eraser checkpoint, checked by its sha256
    assert isinstance(reloaded, DiffusersGenerator)
    z = gen.sample_latents(2, seed=1)
    assert torch.equal(reloaded.generate(z), gen.generate(z))


def test_diffusers_encode_is_scaled_posterior_mean():
    model = _tiny_autoencoder_kl().eval()
    gen = DiffusersGenerator(model)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        z = gen.encode(x)
        expected = model.encode(x).latent_dist.mean.reshape(2, -1) * 0.5
    assert z.shape == (2, 4 * 8 * 8)
    assert torch.allclose(z, expected)


def test_copy_is_independent():
    gen = tiny_dcgan()
    clone = gen.copy()
    with torch.no_grad():
        next(clone.module.parameters()).add_(1.0)
    z = gen.sample_latents(2, 0)
    assert not torch.equal(gen.generate(z), clone.generate(z))


def test_sample_latents_are_seeded_and_prefix_stable():
    gen = tiny_dcgan()
    a, b = gen.sample_latents(10, seed=3), gen.sample_latents(10, seed=3)
    assert torch.equal(a, b)
    assert torch.equal(gen.sample_latents(4, seed=3), a[:4])
    assert not torch.equal(a, gen.sample_latents(10, seed=4))
    assert a.dtype == torch.float32 and a.shape == (10, 8)


# -- strict loading and safety ------------------------------------------------------------------
def test_mismatched_keys_are_named(tmp_path):
    state = tiny_dcgan().module.state_dict()
    state["main.99.weight"] = torch.zeros(1)
    del state["main.1.running_mean"]
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    opts = LoadOptions(module_class=DCGAN, init_args={"nz": 8, "ngf": 4}, latent_shape=(8, 1, 1))
    with pytest.raises(EraserError) as e:
        load_generator(path, options=opts)
    msg = str(e.value)
    assert "missing keys: main.1.running_mean" in msg and "unexpected keys: main.99.weight" in msg
    assert "\n" not in msg


def test_wrong_shapes_are_named(tmp_path):
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in tiny_dcgan().module.state_dict().items()}, str(path))
    opts = LoadOptions(module_class=DCGAN, init_args={"nz": 8, "ngf": 8}, latent_shape=(8, 1, 1))
    with pytest.raises(EraserError, match=r"wrong shapes .*main\.0\.weight \(8, 32, 4, 4\) vs \(8, 64, 4, 4\)"):
        load_generator(path, options=opts)


def test_pickle_needs_trust(tmp_path):
    path = tmp_path / "full.pt"
    torch.save({"state": tiny_dcgan().module.state_dict(), "note": Path("x")}, path)  # a Path is not weights-only
    opts = LoadOptions(module_class=DCGAN, init_args={"nz": 8, "ngf": 4}, latent_shape=(8, 1, 1), state_dict_key="state")
    with pytest.raises(EraserError, match="--trust-pickle"):
        load_generator(path, options=opts)
    opts.trust_pickle = True
    assert load_generator(path, options=opts).latent_dim == 8


def test_tampered_checkpoint_is_refused(tiny_checkpoint):
    weights = tiny_checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(EraserError, match="does not match the sha256"):
        load_checkpoint(tiny_checkpoint)


def test_checkpoint_never_overwritten(tiny_checkpoint):
    before = (tiny_checkpoint / "model.safetensors").read_bytes()
    with pytest.raises(EraserError, match="already exists"):
        save_checkpoint(tiny_dcgan(seed=1), tiny_checkpoint)
    assert (tiny_checkpoint / "model.safetensors").read_bytes() == before


def test_class_must_be_a_module(tmp_path):
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file({"a": torch.zeros(1)}, str(path))
    with pytest.raises(EraserError, match="not a torch.nn.Module class"):
        load_generator(path, options=LoadOptions(module_class="os:system", latent_shape=(1,)))


def test_unknown_name_lists_shipped_models():
    with pytest.raises(EraserError, match="digiface-dcgan64"):
        load_generator("no-such-model")


def test_is_checkpoint_says_no_only_when_there_is_no_config(tiny_checkpoint, tmp_path):
    from eraser.generators.checkpoint import is_checkpoint

    assert is_checkpoint(tiny_checkpoint)
    assert not is_checkpoint(tmp_path / "missing") and not is_checkpoint(tiny_checkpoint / "model.safetensors")
    other = tmp_path / "other"
    other.mkdir()
    assert not is_checkpoint(other)  # a folder without config.json
    (other / "config.json").write_text('{"format": "something else"}')
    assert not is_checkpoint(other)
    for text, why in [("{not json", "is not valid JSON"), ("[1, 2]", "holds a JSON list, not an object")]:
        (other / "config.json").write_text(text)
        with pytest.raises(EraserError, match=why) as e:  # a damaged config is reported, not taken for "no"
            is_checkpoint(other)
        assert str(other / "config.json") in str(e.value) and "\n" not in str(e.value)
