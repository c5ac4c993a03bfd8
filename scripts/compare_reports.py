#!/usr/bin/env python3
"""Compares two experiment output trees value by value: every JSON file of
BASE (reports, tables, summaries, S(q)) against the same file in NEW, with
timings left out, and every .jsonl and .safetensors byte for byte (JSON
lines parsed). Keys renamed since BASE are mapped first.

    python3 scripts/compare_reports.py BASE/experiments/fig1-quick NEW/experiments/fig1-quick

Exits 1 if anything differs."""

import json
import math
import os
import sys

# Names that changed: a rejected operator result is `rejected` everywhere;
# denoising's and dynamics' halved steps have their own names.
RENAMED = {"fallbacks": "rejected", "rejected_steps": "halved", "backtracks": "halved", "halved_steps": "halved"}
TIMING = ("second", "per_second", "rate", "minutes", "elapsed", "fields_per", "samples_per", "steps_per")


def normalised(x):
    if isinstance(x, dict):
        return {RENAMED.get(k, k): normalised(v) for k, v in x.items() if not any(t in k.lower() for t in TIMING)}
    if isinstance(x, list):
        return [normalised(v) for v in x]
    return x


def differences(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'new' if k in b else 'base'}")
            else:
                differences(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            differences(x, y, f"{path}[{i}]", out)
    elif a != b and not (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
        out.append(f"{path}: {a!r} vs {b!r}")


def main(base, new):
    differ = 0
    for root, _, files in os.walk(base):
        for name in sorted(files):
            p = os.path.join(root, name)
            rel = os.path.relpath(p, base)
            q = os.path.join(new, rel)
            if not os.path.exists(q):
                print(f"MISSING {rel}")
                differ += 1
                continue
            out = []
            if name.endswith(".json"):
                differences(normalised(json.load(open(p))), normalised(json.load(open(q))), "", out)
            elif name.endswith(".jsonl"):
                lines = lambda f: [normalised(json.loads(l)) for l in open(f).read().splitlines()]
                differences(lines(p), lines(q), "", out)
            elif name.endswith(".safetensors"):
                if open(p, "rb").read() != open(q, "rb").read():
                    out.append("bytes differ")
            else:
                continue
            differ += bool(out)
            print(f"{'DIFF' if out else 'same'} {rel}")
            for line in out[:8]:
                print(f"     {line}")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
