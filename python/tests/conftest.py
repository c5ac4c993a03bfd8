"""Shared fixtures: the CLI binary the Python results are compared with, and
a tiny trained operator."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli_path() -> Path:
    if "MESOFIELD_BIN" in os.environ:
        return Path(os.environ["MESOFIELD_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "mesofield"


@pytest.fixture(scope="session")
def cli():
    """Runs `mesofield ARGS...`; returns stdout, parsed as JSON with `json=True`."""
    path = _cli_path()
    if not path.exists():
        pytest.fail(f"the mesofield binary is not at {path}: build it (cargo build --release) or set MESOFIELD_BIN")

    def run(*args, json_out=False):
        out = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        assert out.returncode == 0, f"mesofield {' '.join(map(str, args))} failed: {out.stderr}"
        return json.loads(out.stdout) if json_out else out.stdout

    return run


@pytest.fixture(scope="session")
def operator_dir(cli, tmp_path_factory):
    """A density operator trained for two epochs on 16x16 fields (its
    `best` folder), and the validation dataset."""
    d = tmp_path_factory.mktemp("fno")
    for name, seed in [("train", 1), ("valid", 2)]:
        cli("generate", "--out", d / f"{name}.safetensors", "--grid", "16x16", "--grf", "16", "--seed", seed)
    cli("train", "--data", d / "train.safetensors", "--valid", d / "valid.safetensors", "--out", d / "ck",
        "--epochs", 2, "--batch", 8, "--width", 8, "--layers", 1, "--modes", 4)
    return d / "ck" / "best", d / "valid.safetensors"


def smooth_fields(n, mx, my, amplitude, seed):
    """[n, 2, Mx, My] fields of a few low modes."""
    rng = np.random.default_rng(seed)
    x = np.arange(mx)[:, None] / mx
    y = np.arange(my)[None, :] / my
    w = np.empty((n, 2, mx, my))
    for s in range(n):
        for c in range(2):
            a, b, k = rng.normal(size=3)
            w[s, c] = amplitude * (a * np.cos(2 * np.pi * x) + b * np.sin(2 * np.pi * y) + k * np.cos(2 * np.pi * (x + y)))
    return w
