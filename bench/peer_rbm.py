#!/usr/bin/env python3
"""Peer benchmark: mesofield's RBM baseline beside scikit-learn's BernoulliRBM,
on the same training patterns and the same noisy inputs, in one run.

    python3 bench/peer_rbm.py [--mesofield target/release/mesofield]
                              [--pool datasets/fig4/pool.safetensors]
                              [--size 80] [--hidden 256] [--updates 600]

The first run makes its own virtual environment (default
~/.cache/mesofield-peer/rbm-venv) with scikit-learn, numpy and safetensors;
it is never part of CI. The pool is `reproduce fig4`'s (runs 0-7 give the
test patterns, their last snapshots; the pool runs' snapshots, last
snapshots of distinct runs first, the training patterns), so the numbers
sit beside `experiments/denoise/table.md`.

Noise: `mesofield noise` makes every noisy input (Gaussian, LEVEL times each
pattern's standard deviation); every method denoises those same files and is
told the same absolute noise level (recorded by `mesofield noise`).

- mesofield: `rbm train` (dense, `--hidden` units, no augmentation: the
  like-for-like model; and the periodic convolutional default with
  augmentation), `rbm denoise` by mean-field and `--posterior SIGMA`.
- scikit-learn: `BernoulliRBM` on the patterns scaled to [0, 1] (phi_A
  clipped there), the same number of updates of the same batch size
  (its PCD-1), then denoising written here: the mean-field pass
  v -> p(h | v) -> p(v | h), and posterior inference with the Gaussian
  noise as likelihood, whose binary visibles given h and y are Bernoulli
  with logit b + W^T h + (2 y - 1) / (2 s^2) (y and s in [0, 1] units),
  chains from y, the mean of p(v | h, y) over the second half of the sweeps.

Errors are contrast-relative, ||x - phi|| / ||phi - mean(phi)||, as in fig4.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEER_PACKAGES = ["scikit-learn", "numpy", "safetensors"]
LEVELS = [0.25, 0.5, 1.0]


def ensure_venv(venv: Path) -> None:
    """Re-executes this script with the venv's Python, making it on first use."""
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} and installing {' '.join(PEER_PACKAGES)} (first run only)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)
    os.execv(str(python), [str(python), *sys.argv])


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mesofield", default=str(root / "target/release/mesofield"))
    parser.add_argument("--pool", default=str(root / "datasets/fig4/pool.safetensors"))
    parser.add_argument("--test-runs", type=int, default=8)
    parser.add_argument("--first-pool-run", type=int, default=18)
    parser.add_argument("--size", type=int, default=80)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--venv", default=str(Path.home() / ".cache/mesofield-peer/rbm-venv"))
    parser.add_argument("--no-conv", action="store_true", help="skip mesofield's convolutional RBM")
    args = parser.parse_args()
    ensure_venv(Path(args.venv))

    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file
    from sklearn.neural_network import BernoulliRBM

    if not Path(args.mesofield).exists():
        sys.exit(f"{args.mesofield}: no mesofield binary (cargo build --release -p mesofield-cli)")
    pool = load_file(args.pool)
    phi_a = pool["phi"][:, 0]
    run, step = pool["run"], pool["step"]
    n, mx, my = phi_a.shape
    tests = [max((i for i in range(n) if run[i] == r), key=lambda i: step[i]) for r in range(args.test_runs)]
    train_idx = sorted((i for i in range(n) if run[i] >= args.first_pool_run), key=lambda i: (-step[i], run[i]))
    train_idx = train_idx[: args.size]
    if len(train_idx) < args.size:
        sys.exit(f"the pool holds {len(train_idx)} training patterns, fewer than --size {args.size}")
    clean = phi_a[tests]
    train = phi_a[train_idx]

    def cre(x, truth):
        return float(np.linalg.norm(x - truth) / np.linalg.norm(truth - truth.mean()))

    tmp = Path(tempfile.mkdtemp(prefix="peer-rbm-"))
    np.save(tmp / "clean.npy", clean)
    np.save(tmp / "train.npy", train)

    def mesofield(*cli):
        out = subprocess.run([args.mesofield, *cli], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"mesofield {' '.join(cli)} failed: {out.stderr.strip()}")
        return out.stdout

    noisy = {}
    for level in LEVELS:
        path = tmp / f"noisy_{level}.safetensors"
        mesofield("noise", "--input", str(tmp / "clean.npy"), "--sigma", str(level), "--seed", str(args.seed),
                  "--out", str(path))
        with safe_open(str(path), framework="numpy") as f:
            sigma_abs = json.loads(f.metadata()["mesofield"])["sigma_abs"]
        y = load_file(str(path))["phi_a"]
        noisy[level] = (y, sigma_abs)
        for t in range(len(tests)):
            np.save(tmp / f"noisy_{level}_{t}.npy", y[t : t + 1])

    rows = []

    # mesofield: train, then denoise each pattern with its own known sigma.
    variants = [("mesofield, dense, no augmentation", ["--kind", "dense", "--hidden", str(args.hidden), "--no-augment"])]
    if not args.no_conv:
        variants.append(("mesofield, convolutional, augmented", ["--kind", "conv"]))
    for name, extra in variants:
        ckpt = tmp / name.replace(", ", "-").replace(" ", "_")
        start = time.perf_counter()
        mesofield("rbm", "train", "--samples", str(tmp / "train.npy"), "--out", str(ckpt), "--updates",
                  str(args.updates), "--batch", str(args.batch), "--seed", str(args.seed), *extra)
        train_s = time.perf_counter() - start
        for denoiser in ["mean-field", "posterior"]:
            errors, seconds = {}, []
            for level in LEVELS:
                y, sigma_abs = noisy[level]
                errs = []
                for t in range(len(tests)):
                    out = tmp / "rec.safetensors"
                    cli = ["rbm", "denoise", "--checkpoint", str(ckpt), "--input", str(tmp / f"noisy_{level}_{t}.npy"),
                           "--out", str(out)]
                    if denoiser == "posterior":
                        cli += ["--posterior", repr(sigma_abs[t]), "--chains", str(args.chains), "--sweeps",
                                str(args.sweeps), "--seed", str(args.seed + t)]
                    start = time.perf_counter()
                    mesofield(*cli)
                    seconds.append(time.perf_counter() - start)
                    errs.append(cre(load_file(str(out))["phi_a"][0], clean[t]))
                errors[level] = errs
            rows.append({"method": f"{name} ({denoiser})", "train_s": train_s, "errors": errors,
                         "seconds_per_pattern": float(np.mean(seconds))})

    # scikit-learn: the same patterns in [0, 1], the same updates and batch.
    v_train = np.clip(train.reshape(len(train), -1), 0.0, 1.0)
    epochs = max(1, round(args.updates * args.batch / len(v_train)))
    rbm = BernoulliRBM(n_components=args.hidden, learning_rate=0.05, batch_size=args.batch, n_iter=epochs,
                       random_state=args.seed)
    start = time.perf_counter()
    rbm.fit(v_train)
    train_s = time.perf_counter() - start
    W, c, b = rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_
    rng = np.random.default_rng(args.seed)

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    def mean_field(y):
        return sigmoid(sigmoid(y @ W.T + c) @ W + b)

    def posterior(y, s):
        pull = (2.0 * y - 1.0) / (2.0 * s * s)
        v = np.repeat(y[None, :], args.chains, axis=0)
        total, kept = np.zeros_like(v), 0
        for sweep in range(args.sweeps):
            h = (rng.random((args.chains, len(c))) < sigmoid(v @ W.T + c)).astype(float)
            p = sigmoid(h @ W + b + pull)
            if sweep >= args.sweeps // 2:
                total += p
                kept += 1
            v = (rng.random(p.shape) < p).astype(float)
        return (total / kept).mean(axis=0)

    for denoiser in ["mean-field", "posterior"]:
        errors, seconds = {}, []
        for level in LEVELS:
            y, sigma_abs = noisy[level]
            errs = []
            for t in range(len(tests)):
                yt = y[t].reshape(-1)
                start = time.perf_counter()
                x = mean_field(yt) if denoiser == "mean-field" else posterior(yt, sigma_abs[t])
                seconds.append(time.perf_counter() - start)
                errs.append(cre(x.reshape(mx, my), clean[t]))
            errors[level] = errs
        rows.append({"method": f"scikit-learn BernoulliRBM ({denoiser})", "train_s": train_s, "errors": errors,
                     "seconds_per_pattern": float(np.mean(seconds))})

    noisy_row = {level: [cre(noisy[level][0][t], clean[t]) for t in range(len(tests))] for level in LEVELS}
    print(f"RBM-{args.size} on {mx}x{my} patterns of {args.pool}, {len(tests)} test patterns, "
          f"{args.updates} updates of {args.batch} ({epochs} epochs for scikit-learn), {args.hidden} hidden units\n")
    print("| method | " + " | ".join(f"noise {level}" for level in LEVELS) + " | training s | s per pattern |")
    print("| --- |" + " --- |" * (len(LEVELS) + 2))
    print("| noisy input | " + " | ".join(f"{np.mean(noisy_row[level]):.4f}" for level in LEVELS) + " | | |")
    for r in rows:
        cells = " | ".join(f"{np.mean(r['errors'][level]):.4f} +- {np.std(r['errors'][level]):.4f}" for level in LEVELS)
        print(f"| {r['method']} | {cells} | {r['train_s']:.2f} | {r['seconds_per_pattern']:.3f} |")
    dense = next(r for r in rows if r["method"].startswith("mesofield, dense"))
    peer = next(r for r in rows if r["method"].startswith("scikit-learn"))
    print(f"\ntraining time ratio, mesofield dense / scikit-learn: {dense['train_s'] / peer['train_s']:.2f} "
          "(mesofield's includes its process start and PCD-5 against PCD-1)")
    print(json.dumps({"rows": rows, "noisy": noisy_row}, default=float))


if __name__ == "__main__":
    main()
