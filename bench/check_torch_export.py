"""The PyTorch module of mesofield.torch against mesofield's own
Operator.predict on the same fields, outside CI (needs torch):

    python bench/check_torch_export.py CHECKPOINT DATASET [--n 32]

Run it in a venv with torch and the mesofield wheel (pip install
./crates/mesofield-py), e.g. the peer venv of bench/peer_neuralop.py.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import mesofield as mf
import mesofield.torch as mesofield_torch

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint")
parser.add_argument("dataset")
parser.add_argument("--n", type=int, default=32)
args = parser.parse_args()

op = mf.Operator.load(args.checkpoint)
w = mf.load_dataset(args.dataset)["w"][: args.n]
phi, log_q = op.predict(w)
with tempfile.TemporaryDirectory() as d:
    path = str(Path(d) / "fno.safetensors")
    op.export(path)
    model = mesofield_torch.load(path)
    phi_t, log_q_t = model.predict(w)
    phi_np, log_q_np = mesofield_torch.numpy_predict(path, w)
d_phi = np.abs(phi_t - phi).max()
d_lq = np.abs(log_q_t - log_q).max()
print(f"{len(w)} fields {w.shape[2]}x{w.shape[3]}: torch vs mesofield max |d phi| {d_phi:.2e}, max |d ln Q| {d_lq:.2e}")
print(f"numpy reference vs mesofield: max |d phi| {np.abs(phi_np - phi).max():.2e}, torch vs numpy {np.abs(phi_t - phi_np).max():.2e}")
ok = d_phi < 2e-5 * np.abs(phi).max() and d_lq < 2e-5 * max(1.0, np.abs(log_q).max())
print("OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
