"""The Python call overhead of mesofield.solve against the Rust call, side by
side in one run: `mesofield bench` (solver.solve_batch in Rust, best of 3)
and mesofield.solve on the same kind of fields (32x32, amplitude 0.05),
batches of 1 and 64, best of 5, rounds alternating; and the whole cost
of one call on a 4x4 grid, where the solve itself is almost free (an upper
bound of the fixed overhead: argument checks, the copy in, the array out,
releasing and taking back the interpreter lock).

    python bench/python_overhead.py [--bin target/release/mesofield] [--rounds 3] [--threads 1]
"""

import argparse
import json
import os
import subprocess
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "mesofield"))
parser.add_argument("--solves", type=int, default=256)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--threads", type=int, default=None, help="RAYON_NUM_THREADS for both sides")
args = parser.parse_args()
if args.threads:
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)

import mesofield as mf  # noqa: E402  (after RAYON_NUM_THREADS is set)

w = 0.05 * np.random.default_rng(1).normal(size=(args.solves, 2, 32, 32))
mf.solve(w)  # warm up


def python_rate(batch):
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i in range(0, args.solves, batch):
            mf.solve(w[i : i + batch])
        best = min(best, time.perf_counter() - start)
    return args.solves / best


rows = []
for r in range(args.rounds):
    rust = json.loads(subprocess.run([args.bin, "bench", "--solves", str(args.solves)], capture_output=True, text=True, check=True).stdout)
    for batch in (1, 64):
        py = python_rate(batch)
        rs = rust[f"solves_per_second_batch{batch}"]
        calls_per_solve = 1 / batch
        overhead_us = (1 / py - 1 / rs) / calls_per_solve * 1e6
        rows.append((r, batch, rs, py, py / rs, overhead_us))
        print(f"round {r} batch {batch:2d}: Rust {rs:8.0f} solves/s, Python {py:8.0f} solves/s, ratio {py / rs:.3f}, overhead {overhead_us:7.1f} us per call")

tiny = np.zeros((2, 4, 4))
mf.solve(tiny)
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for _ in range(2000):
        mf.solve(tiny)
    best = min(best, (time.perf_counter() - start) / 2000)
print(f"one call on a 4x4 grid (solve included): {best * 1e6:.1f} us")
