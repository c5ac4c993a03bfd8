"""mesofield in a notebook, as a script: SCFT, a plot, L-FTS and S(q), chi
from two samples, and a noisy pattern recovered.

    python python/examples/quickstart.py [--out DIR]

Each block below is a notebook cell; CI runs the whole script, with and
without matplotlib (the figure is then skipped: mesofield needs numpy only).
"""

import argparse
import os

import numpy as np

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

import mesofield as mf

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="quickstart-out")
parser.add_argument("--steps", type=int, default=400, help="L-FTS steps")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

# The paper's system: 100 beads, 70 A + 30 B, box 6.4 x 6.4, on 32x32.
model = mf.ChainModel()
print(model, "spinodal:", mf.spinodal(model, grid=(32, 32)))

# SCFT: the lamellar saddle point at chi = 0.5, and cylinders from a hexagonal start.
lam = mf.scft(0.5, "lamellar:2", tol=1e-10)
cyl = mf.scft(0.5, "hex:1:1", tol=1e-10)
print("lamellae:", lam)
print("cylinders:", cyl)

# L-FTS at chi = 0.5 with B = 100 beads per cell, from the lamellar saddle point.
run = mf.sample(0.5, beads_per_cell=100.0, steps=args.steps, step_size=0.05, seed=1, init=lam.w, every=args.steps // 4)
q_peak, s_peak = run.peak()
print(run)

# chi from two clean L-FTS snapshots (the equipartition estimator at B = 100).
clean = run.phi_a[-2:]
chi = mf.infer_chi(clean, beads_per_cell=100.0, step_size=0.05)
print(f"chi from two samples: {chi['chi']:.4f} +- {chi['std_error']:.4f} (true 0.5)")

# A noisy observation of the last snapshot, recovered with that chi.
rng = np.random.default_rng(0)
truth = run.phi_a[-1]
noisy = truth + 0.5 * rng.normal(size=truth.shape)
rec = mf.denoise(noisy, chi=chi["chi"], beads_per_cell=100.0, truth=truth)
err = rec.report["samples"][0]["error"]
print(f"contrast-relative error: noisy {err['noisy']:.3f}, recovered {err['recovery']:.3f}")

assert err["recovery"] < err["noisy"]
if plt is None:
    print("matplotlib is not installed: no figure")
    raise SystemExit(0)
fig, ax = plt.subplots(1, 5, figsize=(17, 3.4))
for a, img, title in [
    (ax[0], lam.phi[0], f"SCFT lamellae, dF {lam.dF:.4f}"),
    (ax[1], cyl.phi[0], f"SCFT cylinders, dF {cyl.dF:.4f}"),
    (ax[3], noisy, "noisy (sigma 0.5)"),
    (ax[4], rec.phi_a, f"recovered, chi {chi['chi']:.3f}"),
]:
    a.imshow(img.T, origin="lower", cmap="viridis", vmin=0, vmax=1)
    a.set_title(title, fontsize=9)
    a.set_xticks([])
    a.set_yticks([])
ax[2].plot(run.q, run.S, "o-", ms=3)
ax[2].set_xlabel("q (box units)")
ax[2].set_ylabel("S(q)")
ax[2].set_title(f"L-FTS S(q), peak {s_peak:.1f} at q {q_peak:.2f}", fontsize=9)
fig.tight_layout()
path = os.path.join(args.out, "quickstart.png")
fig.savefig(path, dpi=100)
print("wrote", path)
