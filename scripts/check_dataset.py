"""Loads a mesofield dataset the way the README shows and checks its contract."""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

path = sys.argv[1]
data = load_file(path)
with safe_open(path, framework="numpy") as f:
    meta = json.loads(f.metadata()["mesofield"])

n = data["log_q"].shape[0]
assert data["w"].shape[:2] == (n, 2) and data["w"].dtype == np.float64, data["w"].shape
assert data["phi"].shape == data["w"].shape
mass = (data["phi"][:, 0] + data["phi"][:, 1]).mean(axis=(1, 2))
assert np.allclose(mass, 1.0, atol=1e-12), mass
assert meta["format"] == "mesofield-dataset"
assert meta["model"]["beads"] == 100
families = [meta["families"][c] for c in data["family"]]
print(f"python check: {n} samples, grid {data['w'].shape[2:]}, families {sorted(set(families))}, mass ok")
