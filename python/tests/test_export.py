"""Operator.export: PyTorch's layout, checked by the numpy forward pass of
mesofield.torch against Operator.predict (float32 rounding)."""

import numpy as np
import pytest

import mesofield as mf
import mesofield.torch as mesofield_torch


def test_the_exported_weights_reproduce_predict(operator_dir, tmp_path):
    best, valid = operator_dir
    op = mf.Operator.load(str(best))
    path = tmp_path / "fno.safetensors"
    op.export(str(path))
    tensors, meta = mesofield_torch.read(str(path))
    cfg = meta["config"]
    width = cfg["width"]
    # nn.Linear's layout: weight [out, in].
    assert tensors["lift_in.weight"].shape == (cfg["lifting_ratio"] * width, 2)
    assert tensors["project_out.weight"].shape == (2, cfg["projection_hidden"])
    assert tensors["layers.0.spectral.weight_re"].shape == (width, width, 2 * cfg["modes_x"], cfg["modes_y"])
    assert all(v.dtype == np.float32 for v in tensors.values())

    w = mf.load_dataset(str(valid))["w"][:6]
    phi, log_q = op.predict(w)
    phi_np, log_q_np = mesofield_torch.numpy_predict((tensors, meta), w)
    # Float32 inside the operator, float64 in the reference.
    assert np.abs(phi_np - phi).max() < 2e-5 * np.abs(phi).max()
    assert np.abs(log_q_np - log_q).max() < 2e-5 * max(1.0, np.abs(log_q).max())
    # The reference is not trivially close: another operator's weights differ.
    shuffled = dict(tensors)
    shuffled["layers.0.spectral.weight_re"] = tensors["layers.0.spectral.weight_re"][:, :, ::-1].copy()
    phi_bad, _ = mesofield_torch.numpy_predict((shuffled, meta), w)
    assert np.abs(phi_bad - phi).max() > 1e-3


def test_export_refuses_a_path_it_cannot_write(operator_dir, tmp_path):
    best, _ = operator_dir
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("a directory in the way")
    with pytest.raises(OSError, match="cannot move"):
        mf.Operator.load(str(best)).export(str(tmp_path / "taken"))
    # Nothing half-written is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_the_torch_module_says_what_it_needs():
    # Importable without torch (the numpy forward pass); loading into torch
    # without it is a one-line ImportError naming torch.
    assert callable(mesofield_torch.numpy_predict)
    if mesofield_torch.torch is None:
        with pytest.raises(ImportError, match="PyTorch"):
            mesofield_torch.load("fno.safetensors")
