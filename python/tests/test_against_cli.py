"""The Python package gives the CLI's numbers to the last bit on the same
inputs: both call the same library code."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import mesofield as mf

from conftest import smooth_fields


def test_solve_equals_the_cli_bit_for_bit(cli, tmp_path):
    w = smooth_fields(5, 32, 32, 0.3, seed=1)
    save_file({"w": w}, str(tmp_path / "w.safetensors"))
    cli("solve", "--input", tmp_path / "w.safetensors", "--output", tmp_path / "out.safetensors")
    ref = load_file(str(tmp_path / "out.safetensors"))
    phi, log_q = mf.solve(w)
    assert np.array_equal(phi, ref["phi"])
    assert np.array_equal(log_q, ref["log_q"])
    # One sample alone is the same sample of the batch.
    phi2, log_q2 = mf.solve(np.ascontiguousarray(w[2]))
    assert np.array_equal(phi2, ref["phi"][2])
    assert log_q2 == ref["log_q"][2]


@pytest.mark.parametrize("chi,init,seed", [(0.5, "lamellar:2", 0), (0.25, "random:0.1", 3), (0.3, "hex:1:1", 0)])
def test_scft_equals_the_cli(cli, tmp_path, chi, init, seed):
    ref = cli("scft", "--chi", chi, "--init", init, "--seed", seed, "--tol", 1e-10,
              "--output", tmp_path / "s.safetensors", "--json", json_out=True)
    r = mf.scft(chi, init, seed=seed, tol=1e-10)
    assert r.converged and r.residual < 1e-10
    assert r.dF == ref["dF"]
    assert r.iterations == ref["iterations"]
    assert r.log_q == ref["log_q"]
    saved = load_file(str(tmp_path / "s.safetensors"))
    assert np.array_equal(r.w, saved["w"][0])
    assert np.array_equal(r.phi, saved["phi"][0])


def test_scft_from_an_array_continues_a_saddle_point():
    first = mf.scft(0.4, "lamellar:2", tol=1e-10)
    again = mf.scft(0.4, first.w, tol=1e-10)
    assert again.iterations <= 2
    assert abs(again.dF - first.dF) < 1e-9


def test_spinodal_equals_the_cli(cli):
    ref = cli("spinodal", "--grid", "32x32", "--json", json_out=True)
    assert mf.spinodal(grid=(32, 32)) == ref
    # The continuous spinodal of the paper's system: chi_s N = 14.62 at f = 0.7.
    assert abs(mf.spinodal()["chiN_s"] - ref["chiN_s"]) == 0.0


def test_infer_chi_equals_the_cli(cli, tmp_path):
    patterns = np.stack([mf.scft(0.5, "lamellar:2", tol=1e-10).phi[0], mf.scft(0.5, "hex:1:1", tol=1e-10).phi[0]])
    np.save(tmp_path / "p.npy", patterns)
    ref = cli("infer-chi", "--samples", tmp_path / "p.npy", "--json", json_out=True)
    got = mf.infer_chi(patterns)
    for key in ["chi", "std_error", "per_sample", "estimator", "saddle"]:
        assert got[key] == ref[key], key
    assert abs(got["chi"] - 0.5) < 1e-6
    # With the equipartition estimator.
    ref = cli("infer-chi", "--samples", tmp_path / "p.npy", "--beads-per-cell", 100, "--json", json_out=True)
    got = mf.infer_chi(patterns, beads_per_cell=100.0)
    assert got["chi"] == ref["chi"] and got["equipartition"] == ref["equipartition"]


def test_operator_predict_equals_the_cli(cli, operator_dir, tmp_path):
    best, valid = operator_dir
    cli("predict", "--checkpoint", best, "--input", valid, "--output", tmp_path / "pred.safetensors")
    ref = load_file(str(tmp_path / "pred.safetensors"))
    op = mf.Operator.load(str(best))
    assert op.kind == "density"
    assert op.inputs == ["w_A", "w_B"] and op.outputs == ["phi_A", "phi_B", "ln Q"]
    w = mf.load_dataset(str(valid))["w"]
    phi, log_q = op.predict(w)
    assert np.array_equal(phi, ref["phi"])
    if "log_q" in ref:
        assert np.array_equal(log_q, ref["log_q"])


def test_load_dataset_reads_what_generate_wrote(operator_dir):
    _, valid = operator_dir
    data = mf.load_dataset(str(valid))
    ref = load_file(str(valid))
    assert set(data) == set(ref) | {"metadata"}
    for name, array in ref.items():
        assert data[name].dtype == np.float64
        assert np.array_equal(data[name], array.astype(np.float64), equal_nan=True), name
    assert data["metadata"]["model"]["beads"] == 100


def test_sample_summary_is_the_cli_s(cli, tmp_path):
    # One trajectory driver: the same seed gives the CLI's summary value by
    # value (H and psi^2 means over the last half with their block errors,
    # the cost) and its S(q), on a chi, B and start no other test uses.
    args = dict(chi=0.37, beads_per_cell=80.0, steps=60, step_size=0.04, seed=11, every=20, tol=1e-7)
    ref = cli("sample", "--chi", 0.37, "--beads-per-cell", 80, "--steps", 60, "--step-size", 0.04, "--seed", 11,
              "--every", 20, "--tol", 1e-7, "--init", "random:0.05", "--out", tmp_path / "run", "--json", json_out=True)
    t = mf.sample(init="random:0.05", **args)
    for key in ["H_mean", "H_stderr", "psi2_mean", "psi2_stderr", "statistics_over_steps", "exact_solves",
                "operator_calls", "rejected", "final_pressure_residual", "steps", "seed", "solver", "grid",
                "H_tau_int", "psi2_tau_int", "sq_peak_tau_int", "tau_window_closed", "integrator"]:
        assert t.report[key] == ref[key], key
    sq = json.loads((tmp_path / "run" / "sq.json").read_text())
    assert np.array_equal(t.q, np.array(sq["q"])) and np.array_equal(t.S, np.array(sq["S"]))
    assert t.report["sq_steps"] == sq["steps"]
    i = int(np.argmax(sq["S"]))
    assert t.peak() == (sq["q"][i], sq["S"][i])
    # The trace: every step's H as the CLI wrote it.
    lines = (tmp_path / "run" / "trace.jsonl").read_text().splitlines()
    assert [json.loads(line)["hamiltonian"] for line in lines] == t.hamiltonian.tolist()


def test_the_integrator_and_pscf_files_are_the_cli_s(cli, tmp_path):
    # Euler-Maruyama asked of both: the same chain; a bad name is a ValueError naming it.
    ref = cli("sample", "--chi", 0.52, "--beads-per-cell", 60, "--steps", 30, "--step-size", 0.03, "--seed", 5,
              "--integrator", "em", "--grid", "16x16", "--out", tmp_path / "em", "--json", json_out=True)
    t = mf.sample(0.52, beads_per_cell=60.0, steps=30, step_size=0.03, seed=5, grid=(16, 16), integrator="em")
    assert ref["integrator"] == "em" and t.report["integrator"] == "em"
    assert t.report["H_mean"] == ref["H_mean"]
    lm = mf.sample(0.52, beads_per_cell=60.0, steps=30, step_size=0.03, seed=5, grid=(16, 16))
    assert lm.report["integrator"] == "lm" and lm.report["H_mean"] != ref["H_mean"]
    with pytest.raises(ValueError, match="integrator"):
        mf.sample(0.52, steps=2, integrator="heun")
    # A PSCF r-grid file the CLI exported starts Python's SCFT at its saddle point.
    saddle = tmp_path / "saddle.safetensors"
    cli("scft", "--chi", 0.3, "--grid", "16x16", "--init", "lamellar:2", "--output", saddle)
    cli("export", "--input", saddle, "--out", tmp_path / "w.rf")
    r = mf.scft(0.3, init=f"pscf:{tmp_path / 'w.rf'}")
    assert r.iterations == 0 and r.w.shape == (2, 16, 16)
    with pytest.raises(OSError, match="does not exist"):
        mf.scft(0.3, init=f"pscf:{tmp_path / 'none.rf'}")
