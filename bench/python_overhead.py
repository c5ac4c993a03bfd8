"""The Python call overhead of mesofield.solve against the Rust call, in one
process: `_native.rust_solve_seconds` times the Rust loop over
`solve_batch` (the solver `mesofield.solve` uses, on the same thread), and
mesofield.solve is timed over the same chunks of the same fields (32x32,
amplitude 0.05), batches of 1 and 64, best of 5 each, rounds alternating.
Also the whole cost of one call on a 4x4 grid, where the solve itself is
almost free (an upper bound of the fixed overhead: argument checks, the
copy in, the array out, releasing and retaking the interpreter lock).

    python bench/python_overhead.py [--rounds 3] [--threads 1]
"""

import argparse
import os
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--solves", type=int, default=256)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--threads", type=int, default=None, help="RAYON_NUM_THREADS")
args = parser.parse_args()
if args.threads:
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)

import mesofield as mf  # noqa: E402  (after RAYON_NUM_THREADS is set)
from mesofield import _native  # noqa: E402

w = 0.05 * np.random.default_rng(1).normal(size=(args.solves, 2, 32, 32))
mf.solve(w)  # warm up: the cached solver, its workspaces


def python_seconds(batch, repeats=5):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, args.solves, batch):
            mf.solve(w[i : i + batch])
        best = min(best, time.perf_counter() - start)
    return best


for r in range(args.rounds):
    for batch in (1, 64):
        rust = _native.rust_solve_seconds(w, batch)
        py = python_seconds(batch)
        calls = args.solves / batch
        print(
            f"round {r} batch {batch:2d}: Rust {args.solves / rust:7.0f} solves/s, Python {args.solves / py:7.0f} solves/s, "
            f"ratio {rust / py:.3f}, overhead {(py - rust) / calls * 1e6:6.1f} us per call"
        )

tiny = np.zeros((2, 4, 4))
mf.solve(tiny)
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for _ in range(2000):
        mf.solve(tiny)
    best = min(best, (time.perf_counter() - start) / 2000)
print(f"one call on a 4x4 grid (solve included): {best * 1e6:.1f} us")
