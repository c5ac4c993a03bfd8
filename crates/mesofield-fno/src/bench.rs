//! Timings of the FNO on synthetic data, shaped like the peer benchmark
//! (`bench/peer_neuralop.py`) so the two can be set side by side: one
//! training step (forward, backward, AdamW), one inference batch, and one
//! spectral convolution forward + backward. Speed is measured here, never
//! asserted in tests.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Serialize;

use mesofield_physics::ChainModel;

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::data::{Batch, Normalization};
use crate::model::{FnoConfig, SpectralConv2d};
use crate::training::{batch_gradients, init_seeded, shard_indices};

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub batch: usize,
    pub grid: [usize; 2],
    pub width: usize,
    pub layers: usize,
    pub modes: [usize; 2],
    pub repeats: usize,
    /// Median milliseconds of one training step (forward, backward, optimiser).
    pub train_step_ms: f64,
    pub train_samples_per_second: f64,
    /// Median milliseconds of one forward pass without autodiff.
    pub inference_ms: f64,
    pub inference_fields_per_second: f64,
    /// Median milliseconds of one spectral convolution (width -> width)
    /// forward + backward at this batch and grid.
    pub spectral_conv_fwd_bwd_ms: f64,
}

fn median_ms(mut f: impl FnMut(), warmup: usize, repeats: usize) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Times `model` at `batch` on an `mx` x `my` grid, `repeats` measurements
/// after 3 warm-up runs each, on `device` (autodiff is added for training).
pub fn run(model: &FnoConfig, batch: usize, mx: usize, my: usize, repeats: usize, device: &Device) -> BenchReport {
    let ad = device.clone().autodiff();
    let chain = ChainModel::default();
    let f_a = chain.f_a();
    let norm =
        Normalization { w_std: [1.0, 1.0], logit_scale: [0.1, 0.1], log_q_mean: 0.0, log_q_std: 1.0, model: chain };
    let config = TrainConfig::new(model.clone());
    let make_batch = |dev: &Device, batch: usize| {
        let shape = [batch, mx, my, 2];
        let mean = Tensor::<4>::from_data(TensorData::new(vec![f_a as f32, (1.0 - f_a) as f32], [1, 1, 1, 2]), dev);
        Batch {
            inputs: Tensor::random(shape, Distribution::Normal(0.0, 1.0), dev),
            phi: Tensor::<4>::random(shape, Distribution::Normal(0.0, 0.01), dev) + mean,
            log_q: Tensor::random([batch], Distribution::Normal(0.0, 1.0), dev),
        }
    };

    // As training does: the batch in `config.shards` sub-batches.
    let indices: Vec<usize> = (0..batch).collect();
    let shards: Vec<Batch> =
        shard_indices(&indices, config.shards).into_iter().map(|part| make_batch(&ad, part.len())).collect();
    let mut fno = Some(init_seeded(model, 0, &ad));
    let mut optim = checkpoint::optimizer(&config);
    let train_step_ms = median_ms(
        || {
            let current = fno.take().expect("model present between steps");
            let (_, grads) = batch_gradients(&current, &shards, &config, &norm);
            fno = Some(optim.step(1e-4, current, grads));
        },
        3,
        repeats,
    );

    let inference_model = fno.take().expect("model present").valid();
    // As `FnoOperator::predict` does: one part of the batch per worker thread.
    let infer_parts: Vec<Tensor<4>> = shard_indices(&indices, rayon::current_num_threads())
        .into_iter()
        .map(|part| make_batch(device, part.len()).inputs)
        .collect();
    let inference_ms = median_ms(
        || {
            use rayon::prelude::*;
            infer_parts.par_iter().for_each(|x| {
                let out = inference_model.forward(x.clone());
                // Reading the result back forces the computation on lazy backends.
                let _ = out.density_logits.sum().into_scalar::<f32>();
            });
        },
        3,
        repeats,
    );

    let conv = SpectralConv2d::new(model.width, model.width, model.modes_x, model.modes_y, &ad);
    let v = Tensor::<4>::random([batch, mx, my, model.width], Distribution::Normal(0.0, 1.0), &ad).require_grad();
    let spectral_conv_fwd_bwd_ms = median_ms(
        || {
            let grads = conv.forward(v.clone()).sum().backward();
            let _ = v.grad(&grads).map(|g| g.sum().into_scalar::<f32>());
        },
        3,
        repeats,
    );

    BenchReport {
        batch,
        grid: [mx, my],
        width: model.width,
        layers: model.layers,
        modes: [model.modes_x, model.modes_y],
        repeats,
        train_step_ms,
        train_samples_per_second: batch as f64 / (train_step_ms * 1e-3),
        inference_ms,
        inference_fields_per_second: batch as f64 / (inference_ms * 1e-3),
        spectral_conv_fwd_bwd_ms,
    }
}
