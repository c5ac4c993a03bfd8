"""Runs the README's Python example line for line, as a reader would, in a
scratch folder, and checks what it made.

    python scripts/readme_example.py [--operator DIR]

The example loads the main job's operator, checkpoints/fig3/best; where the
main job has not run, --operator names a checkpoint to stand in for it (CI:
reproduce fig3 --quick's). Needs mesofield and numpy only.
"""

import argparse
import os
import re
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def example_code() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## From Python\n.*?```python\n(.*?)```", text, re.S)
    if block is None:
        raise SystemExit("README.md has no Python example under 'From Python'")
    return block.group(1)


def run(workdir: Path, operator=None) -> dict:
    """The example run in `workdir`; returns the names it defined."""
    checkpoint = Path(operator) if operator else ROOT / "checkpoints" / "fig3" / "best"
    link = workdir / "checkpoints" / "fig3" / "best"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        os.symlink(checkpoint.resolve(), link)
    here = os.getcwd()
    os.chdir(workdir)
    try:
        names: dict = {}
        exec(compile(example_code(), str(ROOT / "README.md"), "exec"), names)
    finally:
        os.chdir(here)
    return names


def check(names: dict, workdir: Path) -> None:
    assert names["r"].w.shape == (2, 32, 32)
    assert abs(names["chi"] / 0.5 - 1) < 0.05, names["chi"]
    assert names["phi_op"].shape == (2, 32, 32)
    assert names["fast"].phi_a.shape == (32, 32)
    assert names["new"].shape == (64, 32, 32)
    assert (workdir / "learned" / "best").exists()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--operator", help="a checkpoint for checkpoints/fig3/best")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        names = run(Path(d), args.operator)
        check(names, Path(d))
    print(f"README example: chi {names['chi']:.4f} (true 0.5), {names['new'].shape[0]} generated patterns")
