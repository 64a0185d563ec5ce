"""Record per-step SVI losses of every objective with the code before the refactor."""
import json, sys
import pyro, torch
from pyro.infer import SVI, Trace_ELBO
from cvae_pyro.build import build_baseline
from cvae_pyro.conditions import LabelCondition, QuadrantCondition
from cvae_pyro.models import CVAE
from cvae_pyro.masks import split_xy

H, Z, B, STEPS = (16, 16), 3, 32, 12

def data(seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(B * 3, 784, generator=g)
    labels = torch.randint(0, 10, (B * 3,), generator=g)
    return images, labels

def record(name, q, objective, prior):
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    images, labels = data(1)
    if q is None:
        cvae = CVAE(LabelCondition(), Z, H, objective, 0.5, prior)
        c, y = labels, images
    else:
        baseline = build_baseline(q, H)
        cvae = CVAE(QuadrantCondition(q, baseline.net), Z, H, objective, 0.5, prior)
        c, y = split_xy(images, q)
    svi = SVI(cvae.model, cvae.guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
    losses = []
    for step in range(STEPS):
        s = slice((step % 3) * B, (step % 3 + 1) * B)
        losses.append(svi.step(c[s], y[s]))
    return losses

cases = {
    "q1_cvae": (1, "cvae", "conditional"),
    "q2_gsnn": (2, "gsnn", "conditional"),
    "q3_hybrid": (3, "hybrid", "conditional"),
    "q2_cvae_standard": (2, "cvae", "standard"),
    "label_cvae": (None, "cvae", "conditional"),
    "label_hybrid_standard": (None, "hybrid", "standard"),
}
out = {k: record(k, *v) for k, v in cases.items()}
json.dump(out, open(sys.argv[1], "w"), indent=1)
for k, v in out.items(): print(k, v[:2], v[-1])
