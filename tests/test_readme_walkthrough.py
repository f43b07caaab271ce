"""The README's "Erase a feature from your own generator" runs as written, from the README text: its python
blocks (a ``# file: NAME`` block is saved as that file, the others run in order) and its bash blocks (each
``eraser`` command runs in-process), in one empty folder. The erase and the probe get the settings of ``TINY``
appended (the CLI takes a repeated option's last value): fewer steps at a higher learning rate, fewer samples, a
smaller embedding, and the paper's method, whose fine-tune needs no training detector; the flow is the README's."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SECTION = "Erase a feature from your own generator"
#: appended to a command (a repeated click option takes its last value): fewer steps and samples, same flow
TINY = {
    ("erase",): ["--method", "paper", "--steps", "120", "--lr", "0.002", "--batch-size", "16", "--n-eval", "300",
                 "--fid-samples", "0", "--guard-every", "0", "--quiet"],
    ("probe", "train"): ["--embedder", "inception-fid@75"],
}


def walkthrough_blocks() -> list[tuple[str, str]]:
    """The fenced ``python`` and ``bash`` blocks of the README's walkthrough section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(python|bash)\n(.*?)```", section, flags=re.S)


def commands(bash: str) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", bash)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.slow  # about 2 CPU-minutes: 480 samples marked, a probe trained on their Inception embeddings, an erase
def test_readme_own_generator_walkthrough_runs(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # `mygan` importable, as from the folder the reader works in
    blocks = walkthrough_blocks()
    ran: list[str] = []
    namespace: dict = {"__name__": "readme_walkthrough"}
    for kind, body in blocks:
        if kind == "python":
            first = body.splitlines()[0]
            if m := re.fullmatch(r"# file: (\S+)", first.strip()):
                (tmp_path / m.group(1)).write_text(body)
                ran.append(f"file {m.group(1)}")
            else:
                exec(compile(body, "README.md (own generator)", "exec"), namespace)
                ran.append("python")
            continue
        for argv in commands(body):
            assert argv[0] == "eraser", f"the walkthrough's shell commands are eraser commands, not {argv}"
            args = argv[1:]
            for prefix, extra in TINY.items():
                if tuple(args[: len(prefix)]) == prefix:
                    args = args + extra
            r = run_cli(*args)
            assert r.code == 0, f"eraser {' '.join(args)}: {r.err}"
            ran.append(" ".join(argv[1:3]))
    sys.modules.pop("mygan", None)
    assert ran == ["file mygan.py", "python", "import weights.pt", "marks grid", "python", "probe train",
                   "erase -g", "sample -g"]

    # import: the folder names the user's class and records the source file
    cfg = json.loads((tmp_path / "my-gan" / "config.json").read_text())
    assert cfg["class"] == "mygan:SmallGAN" and cfg["init_args"] == {"nz": 16} and cfg["latent_shape"] == [16]
    prov = json.loads((tmp_path / "my-gan" / "provenance.json").read_text())
    assert prov["imported_from"]["path"] == str(tmp_path / "weights.pt")
    # the rule marked the samples that show the bar (about one in six of this generator's)
    marks = json.loads((tmp_path / "marking" / "marks.json").read_text())
    c = marks["counts"]
    assert c["yes"] + c["no"] == 480 and c["unsure"] == 0 and 0.1 < c["yes"] / 480 < 0.25 and marks["feature"] == "bar"
    # the erase passed its guards, and the probe measured the feature going
    m = json.loads((tmp_path / "my-gan-no-bar" / "report" / "metrics.json").read_text())
    assert m["verdict"] == "pass"
    rate = m["feature_rate"]
    assert rate["classifier"].endswith("bar-probe") and rate["n"] == 300
    assert rate["before"] > 0.05 and rate["after"] <= 0.5 * rate["before"]
    assert m["preservation_on_labelled_feature_free"]["ms_ssim_mean"] >= 0.9
    assert (tmp_path / "my-gan-no-bar" / "report" / "report.html").is_file()
    # after.png decodes the erased model: at its latents, the bar rows of the samples that showed it are darker now
    z = torch.from_numpy(np.load(tmp_path / "after.latents.npy"))
    g, g_new = (namespace["eraser"].load(p, trust_code=True) for p in ("my-gan", "my-gan-no-bar"))
    before, after = (x.generate(z)[:, :, 12:18].mean(dim=(1, 2, 3)) for x in (g, g_new))
    had = before > 0.5
    assert had.sum() >= 3 and float(after[had].mean()) < float(before[had].mean()) - 0.3
