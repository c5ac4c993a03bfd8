#!/usr/bin/env python3
"""Peer benchmark: mesofield's FNO against neuraloperator 2.0 (PyTorch), side
by side in one run, on the same CPU threads, float32, batch and grid.

    python3 bench/peer_neuralop.py [--mesofield target/release/mesofield]
                                   [--threads 2] [--batch 32] [--grid 32]

The first run makes its own virtual environment (default
~/.cache/mesofield-peer/venv) and installs torch and neuraloperator==2.0.0
from PyPI into it; it is never part of CI. Both sides time the median of
--repeats runs after 3 warm-up runs:

- training step: forward, relative L2 loss, backward, AdamW step;
- inference: one forward pass without gradients;
- one spectral convolution (width -> width), forward + backward.

neuraloperator's FNO differs from mesofield's in two documented ways, so two
peer rows are given:
- `n_modes=(12, 12)` keeps 12 x 7 modes (its last axis is a real FFT halved);
  mesofield's 12 modes keep 24 x 12. `n_modes=(24, 24)` keeps 24 x 13, the
  closest match.
- its blocks add a channel MLP by default (`use_channel_mlp=True`); the
  `plain` rows turn it off, which is mesofield's block (spectral + linear
  skip, GELU).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PEER_PACKAGES = ["torch", "neuraloperator==2.0.0"]


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


def median_ms(step, repeats: int) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


def peer_figures(args, n_modes, channel_mlp: bool) -> dict:
    import torch
    from neuralop.models import FNO
    from neuralop.layers.spectral_convolution import SpectralConv

    torch.manual_seed(0)
    b, m, width = args.batch, args.grid, args.width
    model = FNO(
        n_modes=n_modes,
        in_channels=2,
        out_channels=2,
        hidden_channels=width,
        n_layers=args.layers,
        positional_embedding=None,
        use_channel_mlp=channel_mlp,
    )
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    x = torch.randn(b, 2, m, m)
    y = torch.randn(b, 2, m, m)

    def train_step():
        optim.zero_grad(set_to_none=True)
        out = model(x)
        diff = (out - y).flatten(1).norm(dim=1)
        loss = (diff / y.flatten(1).norm(dim=1)).mean()
        loss.backward()
        optim.step()

    def inference():
        with torch.no_grad():
            model(x)

    conv = SpectralConv(width, width, n_modes=n_modes)
    v = torch.randn(b, width, m, m, requires_grad=True)

    def conv_step():
        v.grad = None
        conv(v).sum().backward()

    train_ms = median_ms(train_step, args.repeats)
    infer_ms = median_ms(inference, args.repeats)
    conv_ms = median_ms(conv_step, args.repeats)
    kept = [n_modes[0], n_modes[1] // 2 + 1]
    return {
        "name": f"neuraloperator 2.0 n_modes={tuple(n_modes)} ({kept[0]}x{kept[1]} kept)"
        + ("" if channel_mlp else ", plain blocks"),
        "train_step_ms": train_ms,
        "train_samples_per_second": b / (train_ms * 1e-3),
        "inference_ms": infer_ms,
        "inference_fields_per_second": b / (infer_ms * 1e-3),
        "spectral_conv_fwd_bwd_ms": conv_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mesofield", default="target/release/mesofield")
    parser.add_argument("--venv", default=str(Path.home() / ".cache" / "mesofield-peer" / "venv"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not Path(args.mesofield).exists():
        sys.exit(f"error: {args.mesofield} not found (cargo build --release -p mesofield-cli)")
    ensure_venv(Path(args.venv))

    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    rows = []
    # mesofield first, then the peers, all in this one run.
    cmd = [
        args.mesofield, "bench-operator", "--json", "--threads", str(args.threads), "--batch", str(args.batch),
        "--grid", f"{args.grid}x{args.grid}", "--width", str(args.width), "--layers", str(args.layers),
        "--modes", str(args.modes), "--repeats", str(args.repeats),
    ]
    ours = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    ours["name"] = f"mesofield (Burn Flex) modes {args.modes} ({2 * args.modes}x{args.modes} kept)"
    rows.append(ours)
    for n_modes in [(args.modes, args.modes), (2 * args.modes, 2 * args.modes)]:
        for channel_mlp in (True, False):
            rows.append(peer_figures(args, n_modes, channel_mlp))

    if args.json:
        print(json.dumps({"threads": args.threads, "batch": args.batch, "grid": args.grid,
                          "torch": torch.__version__, "rows": rows}, indent=2))
        return
    print(f"threads {args.threads}, batch {args.batch}, grid {args.grid}x{args.grid}, width {args.width}, "
          f"{args.layers} layers, float32, torch {torch.__version__}")
    print("| model | train step ms | train samples/s | inference ms | fields/s | SpectralConv fwd+bwd ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['name']} | {r['train_step_ms']:.1f} | {r['train_samples_per_second']:.0f} | "
              f"{r['inference_ms']:.1f} | {r['inference_fields_per_second']:.0f} | {r['spectral_conv_fwd_bwd_ms']:.1f} |")
    print()
    print("ratios, mesofield time / peer time (below 1: mesofield faster):")
    for r in rows[1:]:
        print(f"  vs {r['name']}: train {ours['train_step_ms'] / r['train_step_ms']:.2f}, "
              f"inference {ours['inference_ms'] / r['inference_ms']:.2f}, "
              f"spectral conv {ours['spectral_conv_fwd_bwd_ms'] / r['spectral_conv_fwd_bwd_ms']:.2f}")


if __name__ == "__main__":
    main()
