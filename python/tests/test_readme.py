"""The README's Python example, run line for line as a reader would run it
from a fresh install (the CI's venv holds the wheel, numpy and the test
tools)."""

import os
import re

from conftest import ROOT


def test_the_readme_python_example_runs(operator_dir, tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## From Python\n.*?```python\n(.*?)```", text, re.S)
    assert block, "README.md has no Python example under 'From Python'"
    # The example loads the main job's operator, checkpoints/fig3/best;
    # where the main job has not run, the fixture's small operator stands in.
    main_job = ROOT / "checkpoints" / "fig3" / "best"
    (tmp_path / "checkpoints" / "fig3").mkdir(parents=True)
    os.symlink(main_job if main_job.exists() else operator_dir[0], tmp_path / "checkpoints" / "fig3" / "best")
    monkeypatch.chdir(tmp_path)
    names = {}
    exec(compile(block.group(1), str(ROOT / "README.md"), "exec"), names)
    assert names["r"].w.shape == (2, 32, 32)
    assert abs(names["chi"] / 0.5 - 1) < 0.05, names["chi"]
    assert names["phi_op"].shape == (2, 32, 32)
    assert names["fast"].phi_a.shape == (32, 32)
    assert names["new"].shape == (64, 32, 32)
    assert (tmp_path / "learned" / "best").exists()
