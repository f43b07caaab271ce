"""Sweep fine-tuning settings on the eyeglasses erase: feature scores of 2,000 fresh latents per setting.

Each argument is a JSON object of EraseSettings fields, e.g. '{"margin": 1.0}'. For each, the direction
from assets/marks/digiface-eyeglasses.json is fine-tuned into digiface-dcgan64 and the measuring
classifier scores G and G' at the same 2,000 latents (seed 2000); rates at thresholds 0.5 and 0.8 and
MS-SSIM on 512 marked-"no" latents are printed, and all scores are saved to sweep_results.json.

Run:  python scripts/sweep_margin.py '{"margin": 0.5}' '{"margin": 1.0}' '{"margin": 1.5}'
"""
import sys, json, time, numpy as np
from eraser.generators import load_generator
from eraser.labelling import make_labeller
from eraser.labelling.marks import load_marks
from eraser.direction import estimate_direction
from eraser.unlearn.loop import finetune
from eraser.unlearn.settings import EraseSettings
from eraser.evaluation import preservation
g = load_generator('digiface-dcgan64'); clf = make_labeller('probe:digiface-eyeglasses-clf')
m = load_marks(str(__import__('pathlib').Path(__file__).resolve().parents[1] / 'assets' / 'marks' / 'digiface-eyeglasses.json'))
d = estimate_direction(m.z, m.scores())
z = g.sample_latents(2000, 2000)
z_none = m.z[[i for i, l in enumerate(m.labels) if l == 'no']][:512]
out = {'before': clf.score(g, z).tolist()}
for spec in sys.argv[1:]:
    kw = json.loads(spec); t = time.time()
    r = finetune(g, d, EraseSettings(**kw), progress=False)
    s = clf.score(r.generator, z)
    p = preservation(g, r.generator, z_none).to_dict()
    out[spec] = {'scores': s.tolist(), 'ms_ssim': p['ms_ssim_mean'], 'sec': time.time() - t}
    b = np.array(out['before'])
    print(spec, {th: (round(float((b >= th).mean()), 4), round(float((s.numpy() >= th).mean()), 4)) for th in (0.5, 0.8)}, 'msssim', round(p['ms_ssim_mean'], 4), round(time.time() - t), 's', flush=True)
    json.dump(out, open('sweep_results.json', 'w'))
