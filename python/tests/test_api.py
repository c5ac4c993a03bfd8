"""Shapes, dtypes and gauge conventions; bad input refused clearly; the
interpreter lock released and Ctrl-C honoured during long calls."""

import _thread
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import mesofield as mf

from conftest import smooth_fields


def test_solve_shapes_dtypes_and_the_model_properties():
    model = mf.ChainModel()
    w = smooth_fields(3, 16, 24, 0.4, seed=2)
    phi, log_q = mf.solve(w, model)
    assert phi.shape == (3, 2, 16, 24) and phi.dtype == np.float64
    assert log_q.shape == (3,) and log_q.dtype == np.float64
    # mean phi_A = N_A/N, mean phi_B = N_B/N (docs/model.md).
    assert np.allclose(phi[:, 0].mean(axis=(1, 2)), 0.7, atol=1e-12)
    assert np.allclose(phi[:, 1].mean(axis=(1, 2)), 0.3, atol=1e-12)
    # Gauge: one constant on both fields leaves phi and shifts ln Q by -N c;
    # c_A on w_A alone shifts ln Q by -N_A c_A.
    phi_c, log_q_c = mf.solve(w + 0.3, model)
    # (round-off grows with the fields' strength: densities here reach 0.01)
    assert np.abs(phi_c - phi).max() < 1e-8
    assert np.allclose(log_q_c - log_q, -100 * 0.3, atol=1e-9)
    shifted = w.copy()
    shifted[:, 0] += 0.2
    _, log_q_a = mf.solve(shifted, model)
    assert np.allclose(log_q_a - log_q, -70 * 0.2, atol=1e-9)
    # Uniform fields: the melt.
    phi0, _ = mf.solve(np.full((2, 8, 8), 0.5))
    assert np.allclose(phi0[0], 0.7, atol=1e-13) and np.allclose(phi0[1], 0.3, atol=1e-13)
    # The input is not modified.
    assert np.array_equal(w, smooth_fields(3, 16, 24, 0.4, seed=2))


def test_chain_models():
    m = mf.ChainModel(beads=50, a_beads=20, box=(4.0, 8.0))
    assert (m.beads, m.a_beads, m.b_beads, m.box) == (50, 20, 30, (4.0, 8.0))
    assert m.f_a == 0.4
    assert mf.ChainModel() == mf.ChainModel(stiffness_a=2.25, stiffness_b=2.25, lattice_spacing=0.2)
    phi, _ = mf.solve(np.zeros((2, 16, 32)), m)
    assert abs(phi[0].mean() - 0.4) < 1e-12
    with pytest.raises(ValueError, match="a_beads"):
        mf.ChainModel(beads=10, a_beads=10)
    with pytest.raises(ValueError, match="not both"):
        mf.ChainModel(segment_a=0.2, stiffness_a=2.0)
    with pytest.raises(ValueError, match="finite"):
        mf.ChainModel(segment_a=float("nan"))
    with pytest.raises(OSError):
        mf.ChainModel.from_toml("/nonexistent/model.toml")


def test_from_toml_reads_the_cli_model_file(tmp_path):
    m = mf.ChainModel(beads=40, a_beads=10, segment_a=0.3, segment_b=0.25, box=(5.0, 5.0))
    (tmp_path / "m.toml").write_text(m.to_toml())
    assert mf.ChainModel.from_toml(str(tmp_path / "m.toml")) == m


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.zeros((2, 16, 16), dtype=np.float32), "float64"),
        (np.asfortranarray(np.zeros((2, 16, 16))), "Fortran"),
        (np.zeros((2, 16, 32))[:, :, ::2], "contiguous"),
        (np.full((2, 16, 16), np.nan), "non-finite"),
        (np.zeros((3, 16, 16)), "shape"),
        (np.zeros((1, 2, 1, 16)), "shape"),
        ([[0.0]], "numpy array"),
        (np.zeros((2, 16, 16), dtype=np.int64), "float64"),
    ],
)
def test_bad_arrays_are_refused_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        mf.solve(bad)


def test_bad_input_and_failed_loops_raise_the_right_exceptions():
    with pytest.raises(ValueError, match="built-in"):
        mf.scft(0.3, "stripes")
    with pytest.raises(ValueError, match="chi"):
        mf.sample(-1.0, steps=1)
    with pytest.raises(ValueError, match="grid"):
        mf.scft(0.3, np.zeros((2, 16, 16)), grid=(32, 32))
    # Fields too strong and rough for the model: outside its domain.
    w_minus = 6.0 * np.random.default_rng(1).normal(size=(16, 16))
    rough = np.zeros((2, 2, 16, 16))
    rough[1, 0], rough[1, 1] = -w_minus, w_minus
    with pytest.raises(ValueError, match="sample 1"):
        mf.solve(rough)
    # A loop that does not converge in the iterations allowed.
    with pytest.raises(RuntimeError, match="did not reach tolerance"):
        mf.scft(0.5, "random:0.1", max_iterations=3, tol=1e-12)
    r = mf.scft(0.5, "random:0.1", max_iterations=3, tol=1e-12, check=False)
    assert not r.converged and r.iterations <= 3
    # Patterns the inverse map refuses: outside (0, 1).
    with pytest.raises(ValueError, match="phi_a"):
        mf.invert(np.full((16, 16), 1.5))


def test_the_lock_is_released_during_a_long_call():
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.05)
    before = ticks
    mf.sample(0.4, beads_per_cell=100.0, steps=150, grid=(32, 32), every=0)
    during = ticks - before
    stop.set()
    t.join()
    # A held lock would leave the counter at (almost) zero during the call.
    assert during > 10_000, during


def test_ctrl_c_stops_a_long_call_with_keyboard_interrupt():
    # Python's own Ctrl-C handler, as a terminal has it: a
    # process started in the background inherits SIGINT ignored, and
    # interrupt_main then does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        timer = threading.Timer(0.5, _thread.interrupt_main)
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            mf.sample(0.4, beads_per_cell=100.0, steps=1_000_000, grid=(32, 32), every=0)
        elapsed = time.monotonic() - started
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    # A million steps take hours; the call ended soon after the signal.
    assert elapsed < 60, elapsed
    # The package still works afterwards.
    phi, _ = mf.solve(np.zeros((2, 8, 8)))
    assert phi.shape == (2, 8, 8)


def test_sample_invert_and_denoise():
    t = mf.sample(0.5, beads_per_cell=100.0, steps=120, every=40, seed=3)
    assert t.phi_a.shape == (3, 32, 32) and t.w.shape == (3, 2, 32, 32) and t.steps == [40, 80, 120]
    assert t.hamiltonian.shape == (121,) and np.all(t.pressure_residual <= 1e-6)
    # The snapshots are exact densities of their fields.
    phi, _ = mf.solve(t.w)
    assert np.abs(phi[:, 0] - t.phi_a).max() < 1e-12
    # S(q): Parseval over the shells holds for each step; its mean is positive.
    assert t.q.shape == t.S.shape and np.all(t.S > 0)
    # The inverse map gives back fields whose densities are the snapshots.
    inv = mf.invert(t.phi_a[:2])
    assert all(inv.converged) and max(inv.residual) < 1e-10
    phi_back, _ = mf.solve(inv.w)
    assert np.abs(phi_back[:, 0] - t.phi_a[:2]).max() < 1e-9
    # W_+ and W_- gauge: each channel of the returned fields has mean 0.
    assert np.abs(inv.w.mean(axis=(2, 3))).max() < 1e-12
    # Denoising a saddle-point pattern with known chi beats the noisy input.
    clean = mf.scft(0.5, "lamellar:2", tol=1e-10).phi[0]
    noisy = clean + 0.2 * np.random.default_rng(0).normal(size=clean.shape)
    d = mf.denoise(noisy, chi=0.5, truth=clean, max_iterations=200)
    err = d.report["samples"][0]["error"]
    assert d.phi_a.shape == clean.shape and d.w.shape == (2, 32, 32)
    assert err["recovery"] < err["noisy"], err
    with pytest.raises(ValueError, match="chi"):
        mf.denoise(noisy)


def test_help_says_shapes_and_units():
    doc = mf.solve.__doc__
    assert "[n, 2, Mx, My]" in doc and "kT" in doc
    for f in [mf.scft, mf.spinodal, mf.sample, mf.invert, mf.infer_chi, mf.denoise, mf.load_dataset]:
        assert f.__doc__ and len(f.__doc__) > 100, f.__name__


def test_infer_chi_warns_on_a_partial_inversion():
    # A tolerance below round-off: the inverse map stops short of it (a
    # partial inversion, within infer-chi's 3e-4), which is said, not hidden.
    # An Euler-Maruyama pattern that inverts to the default tolerance.
    t = mf.sample(0.5, beads_per_cell=100.0, steps=60, step_size=0.05, grid=(16, 16), seed=5, init="random:0.05",
                  integrator="em")
    with pytest.warns(RuntimeWarning, match="pattern 0 was inverted only to"):
        r = mf.infer_chi(t.phi_a[-1], beads_per_cell=100.0, step_size=0.05, tol=1e-16, integrator="em")
    assert r["all_converged"] is False and not r["inverse"][0]["converged"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = mf.infer_chi(t.phi_a[-1], beads_per_cell=100.0, step_size=0.05, integrator="em")
    assert r["all_converged"] is True


def test_common_mistakes_name_the_parameter():
    # A negative seed, a grid given as a list, a negative chi, an empty run,
    # a missing checkpoint: each a ValueError or OSError that names it.
    with pytest.raises(ValueError, match="seed"):
        mf.sample(0.5, steps=1, seed=-1)
    with pytest.raises(ValueError, match="seed"):
        mf.scft(0.3, "lamellar:1", seed=1.5)
    with pytest.raises(ValueError, match="grid"):
        mf.scft(0.3, "lamellar:1", grid=(32,))
    r = mf.scft(0.3, "lamellar:1", grid=[16, 16], tol=1e-6)
    assert r.w.shape == (2, 16, 16)
    with pytest.raises(ValueError, match="chi must be finite and > 0"):
        mf.denoise(np.full((16, 16), 0.7), chi=-0.4)
    t = mf.sample(0.5, steps=0, grid=(16, 16))
    assert "0 steps" in repr(t) and np.isnan(t.peak()[0])
    with pytest.raises(OSError, match="no such checkpoint folder"):
        mf.Operator.load("/nonexistent/checkpoint")


def test_the_model_is_documented_at_run_time():
    doc = mf.ChainModel.__doc__ or ""
    assert "docs/model.md" in doc and "box" in doc and "segment_a" in doc
    assert "box units" in (mf.ChainModel.segment_a.__doc__ or "")
    assert "docs/model.md" in (mf.__doc__ or "")


def test_every_public_name_is_documented_at_run_time():
    # What help() shows in a notebook: every public function, class,
    # method and property has its text at run time, not only in the stubs.
    missing = []
    for name in mf.__all__:
        obj = getattr(mf, name)
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if isinstance(obj, type):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if not (getattr(member, "__doc__", None) or "").strip():
                    missing.append(f"{name}.{attr}")
    assert not missing, f"undocumented at run time: {missing}"
