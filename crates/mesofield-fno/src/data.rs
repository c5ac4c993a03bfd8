//! From (w, phi) datasets to normalised batches, and the statistics that
//! normalise them (fitted on the training set, stored with the model).
//!
//! Inputs: each channel of w has its mean removed per sample (both means are
//! gauges that leave phi unchanged, so the operator is exactly gauge
//! invariant), then is divided by a per-channel standard deviation. Targets:
//! phi, and ln Q of the zero-mean fields, ln Q + N_A mean(w_A) + N_B mean(w_B),
//! standardised.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use mesofield_physics::ChainModel;
use mesofield_physics::dataset::Dataset;
use mesofield_physics::stats;

use crate::model::UNIFORM_SLOPE;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Standard deviation of the zero-mean w_A, w_B over the training set.
    pub w_std: [f64; 2],
    /// Spread of the density logits so that a unit logit moves phi by about
    /// its training-set standard deviation.
    pub logit_scale: [f64; 2],
    pub log_q_mean: f64,
    pub log_q_std: f64,
    /// The chain the operator was trained for.
    pub model: ChainModel,
}

/// ln Q + N_A mean(w_A) + N_B mean(w_B): ln Q of the zero-mean fields.
pub fn gauge_free_log_q(model: &ChainModel, w: &[f64], log_q: f64) -> f64 {
    let m = w.len() / 2;
    let (mean_a, mean_b) = (stats::mean(&w[..m]), stats::mean(&w[m..]));
    log_q + model.a_beads as f64 * mean_a + model.b_beads() as f64 * mean_b
}

impl Normalization {
    /// The identity scaling for `model` (an untrained network's, as the
    /// speed benchmarks use).
    pub fn unit(model: &ChainModel) -> Self {
        Normalization { w_std: [1.0; 2], logit_scale: [1.0; 2], log_q_mean: 0.0, log_q_std: 1.0, model: model.clone() }
    }

    pub fn fit(data: &Dataset) -> Self {
        let m = data.mx * data.my;
        let model = data.meta.model.clone();
        let f = [model.f_a(), 1.0 - model.f_a()];
        let (mut w_sq, mut phi_sq) = ([0.0f64; 2], [0.0f64; 2]);
        let mut log_qs = Vec::with_capacity(data.len());
        for s in 0..data.len() {
            let w = &data.w[s * 2 * m..(s + 1) * 2 * m];
            let phi = &data.phi[s * 2 * m..(s + 1) * 2 * m];
            for c in 0..2 {
                let wc = &w[c * m..(c + 1) * m];
                let mean = stats::mean(wc);
                w_sq[c] += wc.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
                phi_sq[c] += phi[c * m..(c + 1) * m].iter().map(|v| (v - f[c]).powi(2)).sum::<f64>();
            }
            log_qs.push(gauge_free_log_q(&model, w, data.log_q[s]));
        }
        let count = (data.len() * m).max(1) as f64;
        let w_std = w_sq.map(|v| (v / count).sqrt().max(1e-12));
        let logit_scale = [0, 1].map(|c| ((phi_sq[c] / count).sqrt() / (f[c] * UNIFORM_SLOPE)).max(1e-6));
        // An empty dataset keeps the identity scaling (mean 0).
        let (log_q_mean, log_q_std) = if log_qs.is_empty() {
            (0.0, 1e-12)
        } else {
            (stats::mean(&log_qs), stats::population_std(&log_qs).max(1e-12))
        };
        Normalization { w_std, logit_scale, log_q_mean, log_q_std, model }
    }

    /// Normalised inputs `[n, Mx, My, 2]` (channels last) for samples of `w`
    /// (`[n][2][Mx*My]`).
    pub fn inputs(&self, w: &[f64], mx: usize, my: usize) -> Vec<f32> {
        let m = mx * my;
        let means: Vec<f64> = w.chunks(m).map(stats::mean).collect();
        map_channels_last(w, mx, my, |s, c, v| (v - means[2 * s + c]) / self.w_std[c])
    }
}

/// Channels-last `[n, Mx, My, 2]` copy of `[n][2][Mx*My]` data.
pub fn channels_last(values: &[f64], mx: usize, my: usize) -> Vec<f32> {
    map_channels_last(values, mx, my, |_, _, v| v)
}

/// `channels_last` with each value passed through `map(sample, channel, value)`.
fn map_channels_last(values: &[f64], mx: usize, my: usize, map: impl Fn(usize, usize, f64) -> f64) -> Vec<f32> {
    let m = mx * my;
    let n = values.len() / (2 * m);
    let mut out = vec![0.0f32; values.len()];
    for s in 0..n {
        for c in 0..2 {
            for p in 0..m {
                out[(s * m + p) * 2 + c] = map(s, c, values[(s * 2 + c) * m + p]) as f32;
            }
        }
    }
    out
}

/// Inverse of `channels_last`, to float64 `[n][2][Mx*My]`.
pub fn channels_first(values: &[f32], mx: usize, my: usize) -> Vec<f64> {
    let m = mx * my;
    let n = values.len() / (2 * m);
    let mut out = vec![0.0f64; values.len()];
    for s in 0..n {
        for c in 0..2 {
            for p in 0..m {
                out[(s * 2 + c) * m + p] = values[(s * m + p) * 2 + c] as f64;
            }
        }
    }
    out
}

/// One training batch on a device.
pub struct Batch {
    pub inputs: Tensor<4>,
    pub phi: Tensor<4>,
    /// Standardised gauge-free ln Q.
    pub log_q: Tensor<1>,
}

/// The samples `indices` of `data` as a batch.
pub fn batch(data: &Dataset, norm: &Normalization, indices: &[usize], device: &Device) -> Batch {
    let m = data.mx * data.my;
    let mut w = Vec::with_capacity(indices.len() * 2 * m);
    let mut phi = Vec::with_capacity(indices.len() * 2 * m);
    let mut log_q = Vec::with_capacity(indices.len());
    for &i in indices {
        let ws = &data.w[i * 2 * m..(i + 1) * 2 * m];
        w.extend_from_slice(ws);
        phi.extend_from_slice(&data.phi[i * 2 * m..(i + 1) * 2 * m]);
        let lq = gauge_free_log_q(&data.meta.model, ws, data.log_q[i]);
        log_q.push(((lq - norm.log_q_mean) / norm.log_q_std) as f32);
    }
    let shape = [indices.len(), data.mx, data.my, 2];
    Batch {
        inputs: Tensor::from_data(TensorData::new(norm.inputs(&w, data.mx, data.my), shape), device),
        phi: Tensor::from_data(TensorData::new(channels_last(&phi, data.mx, data.my), shape), device),
        log_q: Tensor::from_data(TensorData::new(log_q, [indices.len()]), device),
    }
}
