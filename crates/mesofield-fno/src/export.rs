//! A trained density operator for PyTorch: its weights in PyTorch's layout
//! and everything the forward pass needs besides (config, normalisation,
//! the chain's block fraction) in one safetensors file, read by
//! the Python package's `mesofield.torch` (a torch module and a numpy reference).
//!
//! Layout (float32 unless noted), names as the torch module's state dict:
//! - `lift_in`, `lift_out`, `layers.{i}.skip`, `project_in`, `project_out`,
//!   `log_q_head`: `nn.Linear` as torch stores it, `.weight` [out, in] and
//!   `.bias` [out] (Burn stores [in, out]);
//! - `layers.{i}.spectral.weight_re` / `.weight_im`: [C_in, C_out, 2 Kx, Ky],
//!   kept x wave numbers 0..Kx then -Kx..-1 (rows of `torch.fft.rfft2`'s
//!   first axis `[:Kx]` and `[-Kx:]`), y wave numbers 0..Ky;
//! - metadata `mesofield`: JSON with `format`, `config` (FnoConfig),
//!   `normalization` and `f_a`.

use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use serde_json::json;

use mesofield_physics::io::{TensorData as FileTensor, to_safetensors, write_atomic};

use crate::checkpoint::{Checkpoint, CheckpointError, OperatorKind};

pub const TORCH_FORMAT: &str = "mesofield-fno-torch-1";

/// Float32 values of a parameter, row-major, and its shape.
fn values<const D: usize>(param: &Param<Tensor<D>>) -> (Vec<usize>, Vec<f32>) {
    let t = param.val();
    let shape = t.dims().to_vec();
    (shape, t.into_data().convert::<f32>().try_to_vec::<f32>().expect("float parameters"))
}

struct Tensors {
    named: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Tensors {
    fn linear(&mut self, name: &str, linear: &Linear) {
        let (shape, w) = values(&linear.weight);
        let (d_in, d_out) = (shape[0], shape[1]);
        let mut t = vec![0.0f32; w.len()];
        for i in 0..d_in {
            for o in 0..d_out {
                t[o * d_in + i] = w[i * d_out + o];
            }
        }
        self.named.push((format!("{name}.weight"), vec![d_out, d_in], t));
        let bias = match &linear.bias {
            Some(b) => values(b).1,
            None => vec![0.0; d_out],
        };
        self.named.push((format!("{name}.bias"), vec![d_out], bias));
    }
}

/// Writes `ckpt` (a density operator) for PyTorch to `path` (atomically).
pub fn export_torch(ckpt: &Checkpoint, path: &Path) -> Result<(), CheckpointError> {
    ckpt.require(OperatorKind::Density, "the PyTorch export")?;
    let model = &ckpt.model;
    let mut t = Tensors { named: Vec::new() };
    t.linear("lift_in", &model.lift_in);
    t.linear("lift_out", &model.lift_out);
    for (i, layer) in model.layers.iter().enumerate() {
        let s = &layer.spectral;
        let (kx2, ky) = (2 * s.modes_x, s.modes_y);
        for (part, param) in [("weight_re", &s.weight_re), ("weight_im", &s.weight_im)] {
            // Burn: [mode = kx_row * Ky + ky, C_in, C_out] -> [C_in, C_out, 2Kx, Ky].
            let (shape, w) = values(param);
            let (c_in, c_out) = (shape[1], shape[2]);
            let mut out = vec![0.0f32; w.len()];
            for row in 0..kx2 {
                for k in 0..ky {
                    let mode = row * ky + k;
                    for a in 0..c_in {
                        for b in 0..c_out {
                            out[((a * c_out + b) * kx2 + row) * ky + k] = w[(mode * c_in + a) * c_out + b];
                        }
                    }
                }
            }
            t.named.push((format!("layers.{i}.spectral.{part}"), vec![c_in, c_out, kx2, ky], out));
        }
        t.linear(&format!("layers.{i}.skip"), &layer.skip);
    }
    t.linear("project_in", &model.project_in);
    t.linear("project_out", &model.project_out);
    if let Some(head) = &model.log_q_head {
        t.linear("log_q_head", head);
    }
    let norm = &ckpt.normalization;
    let meta = json!({
        "format": TORCH_FORMAT,
        "config": ckpt.config.model,
        "normalization": norm,
        "f_a": norm.model.f_a(),
        "source": ckpt.dir,
    });
    let tensors: Vec<(&str, Vec<usize>, FileTensor<'_>)> =
        t.named.iter().map(|(n, s, v)| (n.as_str(), s.clone(), FileTensor::F32(v))).collect();
    let bytes = to_safetensors(&tensors, &meta.to_string()).map_err(|e| CheckpointError(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|e| CheckpointError(e.to_string()))
}
