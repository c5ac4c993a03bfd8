"""The README's Python example, run line for line as a reader would run it
(`scripts/readme_example.py`, which CI also runs in a venv holding only the
wheel and numpy)."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import readme_example  # noqa: E402


def test_the_readme_python_example_runs(operator_dir, tmp_path):
    # Where the main job has not run, the fixture's small operator stands in.
    main_job = ROOT / "checkpoints" / "fig3" / "best"
    names = readme_example.run(tmp_path, None if main_job.exists() else operator_dir[0])
    readme_example.check(names, tmp_path)
