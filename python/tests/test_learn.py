"""`learn` and `DenoiseOperator` from Python against `mesofield learn`,
`denoise --solver operator:` and `generate-patterns` on the same inputs."""

import json

import numpy as np
import pytest

import mesofield as mf


@pytest.fixture(scope="module")
def two_samples(tmp_path_factory):
    """Two snapshots of one L-FTS run at chi = 0.42 (phi_A, as .npy too)."""
    t = mf.sample(0.42, beads_per_cell=90.0, steps=240, step_size=0.1, every=120, seed=31, init="random:0.01")
    samples = np.ascontiguousarray(t.phi_a[-2:])
    path = tmp_path_factory.mktemp("samples") / "samples.npy"
    np.save(path, samples)
    return samples, path


def test_learn_is_the_cli_s_and_its_operators_run(cli, two_samples, tmp_path):
    samples, path = two_samples
    report = mf.learn(samples, 90.0, 0.1, tmp_path / "py", quick=True, seed=5)
    ref = cli("learn", "--samples", path, "--beads-per-cell", 90, "--step-size", 0.1, "--out", tmp_path / "cli",
              "--quick", "--seed", 5, "--json", json_out=True)
    # The same chi, burn-in and clean patterns to the bit; both operators trained.
    assert report["chi"]["chi"] == ref["chi"]["chi"]
    assert abs(report["chi"]["chi"] - 0.42) < 0.06
    for key in ["burn_in", "burn_in_rule", "patterns", "hamiltonian", "patterns_psi2", "exact_solves"]:
        assert report["sampling"][key] == ref["sampling"][key], key
    made = mf.load_dataset(tmp_path / "py" / "patterns.safetensors")["phi"]
    assert np.array_equal(made, mf.load_dataset(tmp_path / "cli" / "patterns.safetensors")["phi"])
    assert report["training"]["epochs"] == 2 and report["generator"]["epochs"] == 2

    # The denoiser on noisy copies of the samples: the CLI's recoveries.
    op = mf.DenoiseOperator.load(tmp_path / "py" / "best")
    assert op.spec["chi"] == report["chi"]["chi"] and op.spec["grid"] == [32, 32]
    noisy = np.ascontiguousarray(samples + 0.3 * samples.std() * np.random.default_rng(3).standard_normal(samples.shape))
    np.save(tmp_path / "noisy.npy", noisy)
    np.save(tmp_path / "truth.npy", samples)
    out = op.denoise(noisy, truth=samples)
    cli_out = cli("denoise", "--input", tmp_path / "noisy.npy", "--solver", f"operator:{tmp_path / 'py' / 'best'}",
                  "--truth", tmp_path / "truth.npy", "--out", tmp_path / "d.safetensors", "--json", json_out=True)
    assert np.array_equal(out.phi_a, mf.load_dataset(tmp_path / "d.safetensors")["phi_a"])
    assert [s["sigma"] for s in out.report["samples"]] == [s["sigma"] for s in cli_out["samples"]]
    assert out.errors == [s["error"] for s in cli_out["samples"]]
    # One pattern in, one pattern out; the chain's mean of phi_A kept.
    one = op.denoise(noisy[0], sigma=0.05)
    assert one.phi_a.shape == (32, 32)
    assert abs(one.phi_a.mean() - 0.7) < 1e-6

    # The generator: new patterns at the chain's mean, the same for a seed.
    gen = mf.DenoiseOperator.load(tmp_path / "py" / "generator" / "best")
    a = gen.generate(3, steps=4, seed=9)
    assert a.shape == (3, 32, 32) and np.all(np.isfinite(a))
    assert np.allclose(a.mean(axis=(1, 2)), 0.7, atol=1e-6)
    assert np.array_equal(a, gen.generate(3, steps=4, seed=9))
    assert not np.array_equal(a, gen.generate(3, steps=4, seed=10))

    # Resuming with more epochs goes on from `last`, reusing chi and patterns.
    more = mf.learn(samples, 90.0, 0.1, tmp_path / "py", quick=True, seed=5, epochs=3, resume=True)
    assert more["minutes"]["sampling"] == 0.0 and more["training"]["epochs"] == 3
    written = json.loads((tmp_path / "py" / "report.json").read_text())
    assert written["training"]["epochs"] == 3


def test_learn_and_the_operator_refuse_bad_input(two_samples, tmp_path):
    samples, _ = two_samples
    with pytest.raises(ValueError, match="step size"):
        mf.learn(samples, 90.0, 0.0, tmp_path / "a", quick=True)
    with pytest.raises(ValueError, match="beads per cell"):
        mf.learn(samples, -1.0, 0.1, tmp_path / "a", quick=True)
    with pytest.raises(ValueError, match="samples"):
        mf.learn(samples + 2.0, 90.0, 0.1, tmp_path / "a", quick=True)
    with pytest.raises(OSError, match="does not exist"):
        mf.learn(samples, 90.0, 0.1, tmp_path / "missing", quick=True, resume=True)
    with pytest.raises(OSError, match="no such checkpoint"):
        mf.DenoiseOperator.load(tmp_path / "nowhere")
