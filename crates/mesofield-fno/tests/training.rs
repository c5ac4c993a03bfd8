//! Training lowers the loss, checkpoints round-trip, resume continues where it
//! stopped, and wrong or corrupt checkpoints are refused.

use std::path::PathBuf;

use burn::prelude::*;
use mesofield_fno::training::Stop;
use mesofield_fno::{Checkpoint, FnoConfig, FnoOperator, OperatorKind, OperatorSpec, TrainConfig, train};
use mesofield_physics::dataset::{Dataset, GeneratorConfig, GrfFamily, ScftFamily, generate};
use mesofield_physics::{ChainModel, FieldSolver};

fn dataset(samples: usize, seed: u64) -> Dataset {
    let model = ChainModel { beads: 20, a_beads: 14, box_size: [3.2, 3.2], segment_a: 0.35, segment_b: 0.35 };
    let config = GeneratorConfig {
        grid: [16, 16],
        seed,
        grf: GrfFamily { samples, amplitude: [0.05, 0.4], correlation_length: [0.3, 0.8] },
        scft: ScftFamily::default(),
        lfts: Default::default(),
    };
    generate(&model, &config, None, &|_| {}).unwrap()
}

fn tiny_config(epochs: usize) -> TrainConfig {
    let model = FnoConfig::new().with_width(8).with_layers(2).with_modes_x(4).with_modes_y(4);
    TrainConfig::new(model).with_epochs(epochs).with_batch(8).with_learning_rate(5e-3).with_seed(3)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesofield-fno-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn metrics(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn training_lowers_the_loss_and_checkpoints_round_trip() {
    let (train_set, valid_set) = (dataset(48, 1), dataset(16, 2));
    let out = scratch("train");
    let device = Device::flex();
    let state =
        train(&train_set, &valid_set, tiny_config(6), &out, false, &Stop::never(), &device, &mut |_| {}).unwrap();
    assert_eq!(state.epoch, 6);
    let m = metrics(&out);
    let first = m[0]["train_loss"].as_f64().unwrap();
    let last = m[5]["train_loss"].as_f64().unwrap();
    assert!(last < 0.7 * first, "loss {first} -> {last}");
    let valid_first = m[0]["valid_error_mean"].as_f64().unwrap();
    assert!(state.best_valid < valid_first, "validation error did not improve: {valid_first} -> {}", state.best_valid);

    // The best checkpoint rebuilt from its folder predicts identically, twice.
    let a = FnoOperator::load(&out.join("best"), 16, 16, &device).unwrap();
    let b = FnoOperator::load(&out.join("best"), 16, 16, &device).unwrap();
    let w = &valid_set.w[..4 * 2 * 256];
    let (phi_a, lq_a) = a.predict(w);
    let (phi_b, lq_b) = b.predict(w);
    assert_eq!(phi_a, phi_b);
    assert_eq!(lq_a, lq_b);
    // The seam's contract (shapes, mass, gauge invariance, batches, errors) to float32 rounding.
    mesofield_physics::seam::conformance::check_field_solver(&a, 1e-4);
    // Through the seam, with the exact mass constraint.
    let mut phi = vec![0.0; w.len()];
    let mut log_q = vec![0.0; 4];
    a.solve_batch(w, &mut phi, &mut log_q).unwrap();
    for s in 0..4 {
        let total: f64 = phi[s * 512..(s + 1) * 512].iter().sum::<f64>() / 256.0;
        assert!((total - 1.0).abs() < 1e-5, "mass {total}");
    }

    // A checkpoint written before later options existed (here without the
    // model's `log_density` and training's `grad_clip_norm`) loads with their
    // defaults and predicts the same.
    let older = out.join("older");
    std::fs::create_dir_all(&older).unwrap();
    for f in ["model.bpk", "normalization.json", "state.json"] {
        std::fs::copy(out.join("best").join(f), older.join(f)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("best/config.json")).unwrap()).unwrap();
    assert!(config["model"].as_object_mut().unwrap().remove("log_density").is_some());
    assert!(config.as_object_mut().unwrap().remove("grad_clip_norm").is_some());
    std::fs::write(older.join("config.json"), config.to_string()).unwrap();
    let c = FnoOperator::load(&older, 16, 16, &device).unwrap();
    assert_eq!(c.predict(w).0, phi_a);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn resume_continues_where_training_stopped() {
    let (train_set, valid_set) = (dataset(24, 5), dataset(8, 6));
    let device = Device::flex();
    let straight = scratch("straight");
    train(&train_set, &valid_set, tiny_config(4), &straight, false, &Stop::never(), &device, &mut |_| {}).unwrap();
    let split = scratch("split");
    let stopped =
        train(&train_set, &valid_set, tiny_config(4), &split, false, &Stop::after_epochs(2), &device, &mut |_| {})
            .unwrap();
    assert_eq!(stopped.epoch, 2);
    let state =
        train(&train_set, &valid_set, tiny_config(4), &split, true, &Stop::never(), &device, &mut |_| {}).unwrap();
    assert_eq!(state.epoch, 4);
    // Stopped mid-epoch (as Ctrl-C does): 3 batches per epoch, stop after 4,
    // then after 1 more, then run to the end.
    let mid = scratch("mid");
    let first =
        train(&train_set, &valid_set, tiny_config(4), &mid, false, &Stop::after_batches(4), &device, &mut |_| {})
            .unwrap();
    assert_eq!((first.epoch, first.epoch_batches, first.step), (1, 1, 4));
    let second =
        train(&train_set, &valid_set, tiny_config(4), &mid, true, &Stop::after_batches(1), &device, &mut |_| {})
            .unwrap();
    assert_eq!((second.epoch, second.epoch_batches, second.step), (1, 2, 5));
    let requested = Stop::never();
    requested.requested.store(true, std::sync::atomic::Ordering::Relaxed);
    let third = train(&train_set, &valid_set, tiny_config(4), &mid, true, &requested, &device, &mut |_| {}).unwrap();
    assert_eq!((third.epoch, third.epoch_batches, third.step), (2, 0, 6), "a raised stop ends the run after one batch");
    let last = train(&train_set, &valid_set, tiny_config(4), &mid, true, &Stop::never(), &device, &mut |_| {}).unwrap();
    assert_eq!((last.epoch, last.step), (4, 12));
    let (a, b, c) = (metrics(&straight), metrics(&split), metrics(&mid));
    assert_eq!(b.len(), 4, "resume restarted instead of continuing");
    assert_eq!(c.len(), 4, "mid-epoch resume restarted or repeated an epoch");
    for (x, y) in a.iter().zip(&b).chain(a.iter().zip(&c)) {
        assert_eq!(x["step"], y["step"]);
        let (lx, ly) = (x["train_loss"].as_f64().unwrap(), y["train_loss"].as_f64().unwrap());
        assert!((lx - ly).abs() < 1e-4 * lx.abs().max(1e-6), "epoch {}: {lx} vs {ly}", x["epoch"]);
    }
    std::fs::remove_dir_all(&straight).ok();
    std::fs::remove_dir_all(&split).ok();
    std::fs::remove_dir_all(&mid).ok();
}

/// With a learning rate of zero the validation error never improves after
/// the first epoch, so `patience` 2 ends a 10-epoch run after epoch 3, the
/// checkpoint says so, and resuming it trains no further.
#[test]
fn training_stops_early_when_the_validation_error_stalls() {
    let (train_set, valid_set) = (dataset(16, 7), dataset(8, 8));
    let device = Device::flex();
    let out = scratch("patience");
    let config = || tiny_config(10).with_learning_rate(0.0).with_patience(2);
    let state = train(&train_set, &valid_set, config(), &out, false, &Stop::never(), &device, &mut |_| {}).unwrap();
    assert_eq!((state.epoch, state.best_epoch, state.stopped_early), (3, 1, true));
    assert_eq!(metrics(&out).len(), 3);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("last/state.json")).unwrap()).unwrap();
    assert_eq!(saved["stopped_early"], true);
    let resumed = train(&train_set, &valid_set, config(), &out, true, &Stop::never(), &device, &mut |_| {}).unwrap();
    assert_eq!((resumed.epoch, resumed.step), (3, state.step), "a converged run trained on after resume");
    assert_eq!(metrics(&out).len(), 3);
    // Without patience the same run takes every epoch.
    let all = scratch("no-patience");
    let full = train(
        &train_set,
        &valid_set,
        tiny_config(4).with_learning_rate(0.0),
        &all,
        false,
        &Stop::never(),
        &device,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((full.epoch, full.stopped_early), (4, false));
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&all).ok();
}

#[test]
fn wrong_or_corrupt_checkpoints_are_refused() {
    let (train_set, valid_set) = (dataset(8, 7), dataset(4, 8));
    let device = Device::flex();
    let out = scratch("refuse");
    train(&train_set, &valid_set, tiny_config(1), &out, false, &Stop::never(), &device, &mut |_| {}).unwrap();
    let best = out.join("best");

    // Another configuration: the weights no longer fit the config.
    let other = out.join("other");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["model.bpk", "normalization.json", "state.json"] {
        std::fs::copy(best.join(f), other.join(f)).unwrap();
    }
    let wider = TrainConfig::new(FnoConfig::new().with_width(12).with_layers(2).with_modes_x(4).with_modes_y(4));
    std::fs::write(other.join("config.json"), serde_json::to_string(&wider).unwrap()).unwrap();
    let e = Checkpoint::load(&other, &device).err().expect("mismatched checkpoint accepted").to_string();
    assert!(e.contains("do not match"), "{e}");
    assert!(!e.contains('\n'), "multi-line error: {e}");

    // A corrupt weights file.
    let corrupt = out.join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    for f in ["config.json", "normalization.json", "state.json"] {
        std::fs::copy(best.join(f), corrupt.join(f)).unwrap();
    }
    let bytes = std::fs::read(best.join("model.bpk")).unwrap();
    std::fs::write(corrupt.join("model.bpk"), &bytes[..bytes.len() / 2]).unwrap();
    assert!(Checkpoint::load(&corrupt, &device).is_err());

    // Not a checkpoint at all.
    std::fs::write(corrupt.join("state.json"), "{\"hello\": 1}").unwrap();
    let e = Checkpoint::load(&corrupt, &device).err().unwrap().to_string();
    assert!(e.contains("not a mesofield FNO file"), "{e}");
    // A grid smaller than twice the modes.
    let e = FnoOperator::load(&best, 6, 16, &device).err().unwrap().to_string();
    assert!(e.contains("twice"), "{e}");

    // The kind: written as density, refused by the density seam as another.
    let spec: OperatorSpec =
        serde_json::from_str(&std::fs::read_to_string(best.join("operator.json")).unwrap()).unwrap();
    assert_eq!(spec, OperatorSpec::of(OperatorKind::Density));
    assert_eq!(spec.inputs, ["w_A", "w_B"]);
    assert_eq!(Checkpoint::load(&best, &device).unwrap().kind, OperatorKind::Density);
    let pressure = out.join("pressure");
    std::fs::create_dir_all(&pressure).unwrap();
    for f in ["model.bpk", "normalization.json", "state.json", "config.json"] {
        std::fs::copy(best.join(f), pressure.join(f)).unwrap();
    }
    let as_pressure = serde_json::to_string(&OperatorSpec::of(OperatorKind::Pressure)).unwrap();
    std::fs::write(pressure.join("operator.json"), as_pressure).unwrap();
    assert_eq!(Checkpoint::load(&pressure, &device).unwrap().kind, OperatorKind::Pressure);
    let e = FnoOperator::load(&pressure, 16, 16, &device).err().expect("a pressure operator as a solver").to_string();
    assert!(e.contains("pressure operator ((W_-) -> (W_+))") && e.contains("needs a density operator"), "{e}");
    std::fs::write(pressure.join("operator.json"), "{\"kind\": \"velocity\"}").unwrap();
    let e = Checkpoint::load(&pressure, &device).err().unwrap().to_string();
    assert!(e.contains("operator.json is not a mesofield FNO file"), "{e}");
    std::fs::remove_dir_all(&out).ok();
}

/// A step's gradients summed over sub-batches on separate threads (each with
/// its own autodiff graph) equal the gradients of the whole batch's loss.
#[test]
fn sharded_gradients_equal_the_whole_batch_gradients() {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use mesofield_fno::data::{Normalization, batch};
    use mesofield_fno::training::{batch_gradients, batch_loss, init_seeded, shard_indices};

    struct Compare<'a> {
        whole: &'a GradientsParams,
        sharded: &'a GradientsParams,
        worst: f64,
        count: usize,
    }
    impl ModuleVisitor for Compare<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let a = self.whole.get::<D>(param.id).expect("whole-batch gradient");
            let b = self.sharded.get::<D>(param.id).expect("sharded gradient");
            let scale = f64::from(a.clone().abs().max().into_scalar::<f32>()).max(1e-12);
            let diff = f64::from((a - b).abs().max().into_scalar::<f32>());
            self.worst = self.worst.max(diff / scale);
            self.count += 1;
        }
    }

    let data = dataset(12, 5);
    let config = tiny_config(1);
    let norm = Normalization::fit(&data);
    let device = Device::flex().autodiff();
    let model = init_seeded(&config.model, 11, &device);
    let indices: Vec<usize> = (0..11).collect();

    let whole_batch = batch(&data, &norm, &indices, &device);
    let (loss, _) = batch_loss(&model, &whole_batch, &config, &norm);
    let whole_loss = f64::from(loss.clone().into_scalar::<f32>());
    let whole = GradientsParams::from_grads(loss.backward(), &model);

    // Uneven shards (4, 4 and 3 samples) weigh by their share of the batch.
    let shards: Vec<_> = shard_indices(&indices, 3).into_iter().map(|p| batch(&data, &norm, p, &device)).collect();
    assert_eq!(shards.len(), 3);
    let (sharded_loss, sharded) = batch_gradients(&model, &shards, &config, &norm);
    assert!((sharded_loss - whole_loss).abs() < 1e-5 * whole_loss, "{sharded_loss} vs {whole_loss}");
    let mut compare = Compare { whole: &whole, sharded: &sharded, worst: 0.0, count: 0 };
    model.visit(&mut compare);
    assert!(compare.count >= 10, "only {} parameters visited", compare.count);
    assert!(compare.worst < 1e-4, "sharded gradients differ by {} (relative to the largest entry)", compare.worst);
}

/// The loss's error measure against closed forms: a cosine error on a cosine
/// contrast, in L2 (ratio of amplitudes) and in H1 (forward differences of
/// a cosine: |2 sin(pi k / M)| M times its amplitude).
#[test]
fn contrast_relative_error_matches_closed_forms_in_l2_and_h1() {
    use mesofield_fno::training::contrast_relative_error;
    use std::f64::consts::PI;
    let (mx, my, f_a) = (16usize, 12usize, 0.7);
    let (a, k, eps, q) = (0.2, 3.0, 0.01, 2.0);
    let (mut target, mut phi) = (Vec::new(), Vec::new());
    for ix in 0..mx {
        for iy in 0..my {
            let contrast = a * (2.0 * PI * k * ix as f64 / mx as f64).cos();
            let error = eps * (2.0 * PI * q * iy as f64 / my as f64).cos();
            for f in [f_a, 1.0 - f_a] {
                target.push((f + contrast) as f32);
                phi.push((f + contrast + error) as f32);
            }
        }
    }
    let device = Device::flex();
    let tensor = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, mx, my, 2]), &device);
    let value = |h1: bool| {
        let e = contrast_relative_error(tensor(phi.clone()), tensor(target.clone()), f_a, 0.0, h1);
        f64::from(e.into_scalar::<f32>())
    };
    let l2 = eps / a;
    let grad = |k: f64, m: usize| (2.0 * (PI * k / m as f64).sin() * m as f64).powi(2);
    let h1 = (eps * eps * (1.0 + grad(q, my)) / (a * a * (1.0 + grad(k, mx)))).sqrt();
    assert!((value(false) - l2).abs() < 1e-4 * l2, "L2: {} vs {l2}", value(false));
    assert!((value(true) - h1).abs() < 1e-4 * h1, "H1: {} vs {h1}", value(true));
}
