"""A trained operator inside the loops from Python: the final state of every
step stays exact, and the wrong grid or model is refused."""

import numpy as np
import pytest

import mesofield as mf


def test_sampling_and_the_inverse_map_with_an_operator(operator_dir):
    best, _ = operator_dir
    op = mf.Operator.load(str(best))
    t = mf.sample(0.4, beads_per_cell=100.0, steps=20, every=10, grid=(16, 16), seed=2, operator=op)
    assert t.report["operator_calls"] > 0
    assert np.all(t.pressure_residual <= 1e-6)
    # Every snapshot is the exact density of its fields.
    phi, _ = mf.solve(t.w)
    assert np.abs(phi[:, 0] - t.phi_a).max() < 1e-12
    inv = mf.invert(t.phi_a[-1], operator=op)
    assert inv.converged[0] and inv.residual[0] < 1e-10


def test_an_operator_refuses_what_it_was_not_made_for(operator_dir):
    best, _ = operator_dir
    op = mf.Operator.load(str(best))
    other = mf.ChainModel(beads=50, a_beads=35)
    with pytest.raises(ValueError, match="another chain model"):
        mf.sample(0.4, steps=1, grid=(16, 16), model=other, operator=op)
    # A grid smaller than twice the operator's modes.
    with pytest.raises(ValueError, match="modes"):
        op.predict(np.zeros((2, 4, 4)))
    with pytest.raises(OSError, match="checkpoint"):
        mf.Operator.load("/nonexistent/checkpoint")
    # Fields of another box, said by the caller, are refused; of the
    # checkpoint's own model they are predicted.
    with pytest.raises(ValueError, match="another chain model or box"):
        op.predict(np.zeros((2, 16, 16)), model=mf.ChainModel(box=(12.8, 12.8)))
    phi, _ = op.predict(np.zeros((2, 16, 16)), model=op.model)
    assert phi.shape == (2, 16, 16)
