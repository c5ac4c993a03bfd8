//! The denoise operator's output map conserves the mean and stays in the
//! chain's range with the implicit gradient, its noise-level channel is
//! used, and its checkpoints round-trip and refuse other kinds.

use std::path::PathBuf;

use burn::prelude::*;
use mesofield_fno::checkpoint::{self, TrainState};
use mesofield_fno::data::Normalization;
use mesofield_fno::denoise::{self, DenoiseOperator, DenoiseSpec, bounded_mean};
use mesofield_fno::training::{Stop, init_seeded};
use mesofield_fno::{Checkpoint, FnoConfig, TrainConfig};
use mesofield_physics::ChainModel;
use mesofield_physics::rng::StreamRng;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesofield-denoise-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn logits(shape: [usize; 4], amplitude: f64, seed: u64) -> Vec<f32> {
    let mut rng = StreamRng::new(seed, 0);
    (0..shape.iter().product::<usize>()).map(|_| (amplitude * rng.normal()) as f32).collect()
}

fn values(t: Tensor<4>) -> Vec<f64> {
    t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
}

#[test]
fn bounded_mean_has_the_chains_mean_and_range() {
    let device = Device::flex();
    let shape = [3, 16, 12, 1];
    for (f, amplitude, seed) in [(0.7, 1.0, 1), (0.3, 6.0, 2), (0.55, 0.01, 3)] {
        let z = Tensor::<4>::from_data(TensorData::new(logits(shape, amplitude, seed), shape), &device);
        let phi = values(bounded_mean(z, f));
        for (s, sample) in phi.chunks(16 * 12).enumerate() {
            let mean = sample.iter().sum::<f64>() / sample.len() as f64;
            assert!((mean - f).abs() < 2e-6, "f {f}, amplitude {amplitude}, sample {s}: mean {mean}");
            assert!(sample.iter().all(|&p| p > 0.0 && p < 1.0), "f {f}: a density outside (0, 1)");
        }
    }
}

/// d/dz of sum(a phi) for phi = sigmoid(z + c(z)) with mean(phi) = f held
/// is s' (a - sum(a s') / sum(s')), s' = phi (1 - phi): autodiff through the
/// zero-valued implicit term gives it.
#[test]
fn bounded_mean_has_the_implicit_gradient() {
    let device = Device::flex().autodiff();
    let shape = [2, 8, 8, 1];
    let f = 0.7;
    let z = Tensor::<4>::from_data(TensorData::new(logits(shape, 2.0, 5), shape), &device).require_grad();
    let a_values = logits(shape, 1.0, 6);
    let a = Tensor::<4>::from_data(TensorData::new(a_values.clone(), shape), &device);
    let phi = bounded_mean(z.clone(), f);
    let grads = (phi.clone() * a).sum().backward();
    let got: Vec<f64> =
        z.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect();
    let phi: Vec<f64> = phi.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect();
    for s in 0..2 {
        let range = s * 64..(s + 1) * 64;
        let slope: Vec<f64> = phi[range.clone()].iter().map(|p| p * (1.0 - p)).collect();
        let a_s: Vec<f64> = a_values[range.clone()].iter().map(|&v| f64::from(v)).collect();
        let weighted = slope.iter().zip(&a_s).map(|(d, a)| d * a).sum::<f64>() / slope.iter().sum::<f64>();
        for (j, i) in range.enumerate() {
            let want = slope[j] * (a_s[j] - weighted);
            assert!(
                (got[i] - want).abs() < 1e-5 + 1e-4 * want.abs(),
                "sample {s} point {j}: {} against {want}",
                got[i]
            );
        }
    }
}

fn spec(grid: [usize; 2]) -> DenoiseSpec {
    DenoiseSpec {
        model: ChainModel::default(),
        grid,
        chi: Some(0.55),
        beads_per_cell: Some(100.0),
        step_size: Some(0.05),
        sigma: [0.02, 0.4],
        sigma_focus: None,
        salt_pepper: 0.0,
        contrast: 0.3,
    }
}

fn tiny() -> TrainConfig {
    let model = FnoConfig::new().with_width(8).with_layers(2).with_modes_x(4).with_modes_y(4).with_predict_log_q(false);
    TrainConfig::new(model).with_seed(11)
}

fn state() -> TrainState {
    TrainState {
        format: checkpoint::FORMAT.into(),
        epoch: 1,
        step: 1,
        best_valid: 0.5,
        best_epoch: 1,
        epoch_batches: 0,
        epoch_loss_sum: 0.0,
        stopped_early: false,
    }
}

fn pattern(m: usize, seed: u64) -> Vec<f64> {
    let mut rng = StreamRng::new(seed, 1);
    (0..m).map(|i| 0.7 + 0.25 * ((i % 16) as f64 * 0.4).sin() + 0.05 * rng.normal()).collect()
}

#[test]
fn the_noise_level_channel_changes_the_output() {
    let device = Device::flex();
    let config = tiny();
    let model = init_seeded(&config.model, config.seed, &device);
    let spec = spec([16, 16]);
    let y = pattern(256, 1);
    let both: Vec<f64> = y.iter().chain(&y).copied().collect();
    let x = spec.inputs(&both, &[0.03, 0.3], &device);
    let phi = values(denoise::forward(&model, x, spec.model.f_a()));
    let diff = phi[..256].iter().zip(&phi[256..]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff > 1e-4, "the same pattern at sigma 0.03 and 0.3 gave outputs within {diff:e}");
}

#[test]
fn denoise_checkpoints_round_trip_and_refuse_other_kinds() {
    let device = Device::flex();
    let config = tiny();
    let model = init_seeded(&config.model, config.seed, &device);
    let dir = scratch("round-trip");
    let spec = spec([16, 16]);
    denoise::save(&dir, &model, None, &config, &spec, &state()).unwrap();
    let operator: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("operator.json")).unwrap()).unwrap();
    assert_eq!(operator["kind"], "denoise");

    let loaded = DenoiseOperator::load(&dir, &device).unwrap();
    assert_eq!(loaded.spec, spec);
    let noisy: Vec<f64> = (0..3).flat_map(|s| pattern(256, 10 + s)).collect();
    let sigma = [0.05, 0.1, 0.2];
    let direct = values(denoise::forward(&model, spec.inputs(&noisy, &sigma, &device), spec.model.f_a()));
    let through = loaded.denoise(&noisy, &sigma);
    let diff = direct.iter().zip(&through).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff < 1e-6, "loaded operator differs from the saved network by {diff:e}");

    // Patterns of another grid or chain model are refused, naming why.
    let e = loaded.require(&spec.model, [32, 32]).unwrap_err().to_string();
    assert!(e.contains("16x16") && e.contains("32x32"), "{e}");
    let other = ChainModel { beads: 50, a_beads: 35, ..ChainModel::default() };
    assert!(loaded.require(&other, [16, 16]).is_err());

    // A density loader refuses the denoiser, and the denoiser loader a
    // density operator, each naming the kinds.
    let e = Checkpoint::load(&dir, &device).err().expect("a denoise folder is not a density checkpoint").to_string();
    assert!(e.contains("denoise operator"), "{e}");
    let density = scratch("density");
    let density_config =
        TrainConfig::new(FnoConfig::new().with_width(8).with_layers(1).with_modes_x(4).with_modes_y(4));
    let density_model = init_seeded(&density_config.model, 1, &device);
    let normalization = Normalization {
        w_std: [1.0, 1.0],
        logit_scale: [1.0, 1.0],
        log_q_mean: 0.0,
        log_q_std: 1.0,
        model: ChainModel::default(),
    };
    checkpoint::save(&density, &density_model, None, &density_config, &normalization, &state()).unwrap();
    let e = DenoiseOperator::load(&density, &device).err().expect("a density folder is not a denoiser").to_string();
    assert!(e.contains("density operator") && e.contains("needs a denoise operator"), "{e}");

    // A corrupt spec is refused with the file named.
    std::fs::write(dir.join("denoise.json"), "{\"chi\": 1}").unwrap();
    let e = DenoiseOperator::load(&dir, &device).err().expect("corrupt spec").to_string();
    assert!(e.contains("denoise.json"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&density);
}

/// Smooth patterns of mean 0.7 in (0, 1): a few long waves.
fn smooth_patterns(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StreamRng::new(seed, 2);
    let mut out = Vec::with_capacity(n * 256);
    for _ in 0..n {
        let waves: Vec<(f64, f64, f64, f64)> = (0..3)
            .map(|_| {
                let kx = (rng.next_u64() % 3) as f64;
                let ky = (rng.next_u64() % 3) as f64 + if kx == 0.0 { 1.0 } else { 0.0 };
                (kx, ky, 2.0 * std::f64::consts::PI * rng.uniform(), 0.05 + 0.05 * rng.uniform())
            })
            .collect();
        for ix in 0..16 {
            for iy in 0..16 {
                let (x, y) = (ix as f64 / 16.0, iy as f64 / 16.0);
                let v: f64 = waves
                    .iter()
                    .map(|(kx, ky, p, a)| a * (2.0 * std::f64::consts::PI * (kx * x + ky * y) + p).cos())
                    .sum();
                out.push(0.7 + v);
            }
        }
    }
    out
}

fn denoise_config(epochs: usize) -> TrainConfig {
    let model =
        FnoConfig::new().with_width(12).with_layers(2).with_modes_x(4).with_modes_y(4).with_predict_log_q(false);
    TrainConfig::new(model).with_epochs(epochs).with_batch(8).with_learning_rate(5e-3).with_seed(2)
}

/// Trained on patterns with fresh noise each epoch, the operator removes
/// most of the noise of validation patterns it never saw; a run stopped
/// and resumed gives the same operator as one straight through.
#[test]
fn a_trained_denoiser_beats_its_input_and_resumes_exactly() {
    let device = Device::flex();
    let (train, valid) = (smooth_patterns(48, 1), smooth_patterns(12, 2));
    let spec = DenoiseSpec { sigma: [0.05, 0.2], grid: [16, 16], ..spec([16, 16]) };
    let task = denoise::DenoiseTask::new(spec.clone(), &train, &valid, 9).unwrap();
    let out = scratch("train");
    let state = denoise::train(&task, denoise_config(12), &out, false, &Stop::never(), &device, &mut |_| {}).unwrap();
    assert_eq!(state.epoch, 12);

    // The input's own error on fresh noisy validation patterns, against
    // the operator's on the same.
    let loaded = DenoiseOperator::load(&out.join("best"), &device).unwrap();
    let mut rng = StreamRng::new(77, 3);
    let (mut noisy, mut sigma) = (Vec::new(), Vec::new());
    for (k, clean) in valid.chunks(256).enumerate() {
        let level = [0.05, 0.1, 0.2][k % 3];
        noisy.extend(clean.iter().map(|v| v + level * rng.normal()));
        sigma.push(level);
    }
    let phi = loaded.denoise(&noisy, &sigma);
    let relative = |estimate: &[f64]| {
        let mut total = 0.0;
        for ((e, c), _) in estimate.chunks(256).zip(valid.chunks(256)).zip(&sigma) {
            let num: f64 = e.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum();
            let den: f64 = c.iter().map(|v| (v - 0.7).powi(2)).sum();
            total += (num / den).sqrt();
        }
        total / sigma.len() as f64
    };
    let (input_error, output_error) = (relative(&noisy), relative(&phi));
    assert!(output_error < 0.5 * input_error, "denoised error {output_error:.3} against the input's {input_error:.3}");
    for sample in phi.chunks(256) {
        let mean = sample.iter().sum::<f64>() / 256.0;
        assert!((mean - 0.7).abs() < 2e-6, "mean {mean}");
    }

    // 5 epochs, stopped after 2 and resumed, against 5 straight.
    let (a, b) = (scratch("straight"), scratch("resumed"));
    let straight = denoise::train(&task, denoise_config(5), &a, false, &Stop::never(), &device, &mut |_| {}).unwrap();
    denoise::train(&task, denoise_config(5), &b, false, &Stop::after_epochs(2), &device, &mut |_| {}).unwrap();
    let resumed = denoise::train(&task, denoise_config(5), &b, true, &Stop::never(), &device, &mut |_| {}).unwrap();
    assert_eq!(resumed.epoch, 5);
    assert_eq!(straight.best_valid, resumed.best_valid, "resumed training differs from straight training");
    // Resuming with other noise settings is refused.
    let other = denoise::DenoiseTask::new(DenoiseSpec { sigma: [0.01, 0.2], ..spec }, &train, &valid, 9).unwrap();
    let e = denoise::train(&other, denoise_config(6), &b, true, &Stop::never(), &device, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("denoise.json"), "{e}");
    for dir in [out, a, b] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
