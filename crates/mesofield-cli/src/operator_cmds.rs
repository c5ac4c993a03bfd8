//! `train`, `eval` and `predict`: the Fourier neural operator commands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::prelude::*;
use clap::Args;
use serde_json::json;

use mesofield_fno::training::{Progress, TrainConfig};
use mesofield_fno::{train, FnoConfig, FnoOperator};
use mesofield_physics::dataset::Dataset;
use mesofield_physics::io::{to_safetensors, write_atomic, FieldFile, TensorData as Td};
use mesofield_physics::{ExactSolver, Grid};

use crate::{print_json, progress_bar};

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub valid: PathBuf,
    /// Checkpoint folder: OUT/best, OUT/last, OUT/metrics.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// cpu (Flex) or wgpu (needs a build with the `wgpu` feature).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 12)]
    pub modes: usize,
    /// Continue from OUT/last (its settings win, except --epochs).
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Also write OUT/report.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args)]
pub struct PredictArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn device(backend: &str) -> Result<Device> {
    match backend {
        "cpu" | "flex" => Ok(Device::flex()),
        "wgpu" => wgpu_device(),
        other => bail!("unknown backend {other:?}: expected cpu or wgpu"),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    Ok(Device::wgpu(0))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    bail!("this mesofield was built without the wgpu backend (cargo build --features wgpu)")
}

fn load_dataset(path: &Path) -> Result<Dataset> {
    Ok(Dataset::load(path)?)
}

pub fn cmd_train(a: &TrainArgs) -> Result<()> {
    let device = device(&a.backend)?;
    let train_set = load_dataset(&a.data)?;
    let valid_set = load_dataset(&a.valid)?;
    if a.epochs == 0 || a.batch == 0 {
        bail!("--epochs and --batch must be >= 1");
    }
    let model = FnoConfig::new().with_width(a.width).with_layers(a.layers).with_modes_x(a.modes).with_modes_y(a.modes);
    let config = TrainConfig::new(model).with_epochs(a.epochs).with_batch(a.batch).with_seed(a.seed).with_learning_rate(a.lr);
    let steps = train_set.len().div_ceil(a.batch) as u64;
    let bar = progress_bar(steps, "train");
    let start = Instant::now();
    let mut lines = Vec::new();
    let state = train(&train_set, &valid_set, config, &a.out, a.resume, None, &device, &mut |p| match p {
        Progress::Batch { epoch, done, total, loss } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!("epoch {} loss {loss:.4}", epoch + 1));
        }
        Progress::Epoch(m) => {
            bar.println(format!(
                "epoch {:>3} train {:.4} valid mean {:.4} median {:.4} lr {:.2e} {:.0} samples/s{}",
                m.epoch,
                m.train_loss,
                m.valid_error_mean,
                m.valid_error_median,
                m.learning_rate,
                m.samples_per_second,
                if m.best { " (best)" } else { "" }
            ));
            lines.push(serde_json::to_value(m).expect("metrics serialise"));
        }
    })?;
    bar.finish_and_clear();
    let report = json!({"epochs": state.epoch, "steps": state.step, "best_valid": state.best_valid,
                        "best_epoch": state.best_epoch, "seconds": start.elapsed().as_secs_f64(), "out": a.out});
    if a.json {
        print_json(&report);
    } else {
        println!("trained {} epochs; best validation error {:.4} at epoch {} -> {}", state.epoch, state.best_valid, state.best_epoch, a.out.join("best").display());
    }
    Ok(())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn summary(values: &[f64]) -> serde_json::Value {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    json!({"median": percentile(&v, 0.5), "p95": percentile(&v, 0.95), "worst": v.last().copied().unwrap_or(f64::NAN),
           "mean": v.iter().sum::<f64>() / v.len().max(1) as f64})
}

pub fn cmd_eval(a: &EvalArgs) -> Result<()> {
    let device = device(&a.backend)?;
    let data = load_dataset(&a.data)?;
    let op = FnoOperator::load(&a.checkpoint, data.mx, data.my, &device)?;
    if op.normalization.model != data.meta.model {
        bail!("{} was made with another chain model than the checkpoint's", a.data.display());
    }
    let m = data.mx * data.my;
    let n = data.len();
    let bar = progress_bar(n as u64, "eval");
    let start = Instant::now();
    let (phi, log_q) = op.predict(&data.w);
    let operator_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    // The exact solver on the same fields, same machine.
    let grid = Grid::for_model(&data.meta.model, data.mx, data.my)?;
    let solver = ExactSolver::new(&data.meta.model, grid)?;
    let mut phi_exact = vec![0.0; data.w.len()];
    let mut lq_exact = vec![0.0; n];
    let start = Instant::now();
    solver.solve_batch(&data.w, &mut phi_exact, &mut lq_exact)?;
    let exact_seconds = start.elapsed().as_secs_f64();
    let (mut rel_l2, mut contrast_a, mut contrast_b, mut mass, mut lq_err) = (vec![], vec![], vec![], vec![], vec![]);
    for s in 0..n {
        let p = &phi[s * 2 * m..(s + 1) * 2 * m];
        let t = &data.phi[s * 2 * m..(s + 1) * 2 * m];
        let diff2: f64 = p.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum();
        let norm2: f64 = t.iter().map(|v| v * v).sum();
        rel_l2.push((diff2 / norm2).sqrt());
        for (c, out) in [(0usize, &mut contrast_a), (1usize, &mut contrast_b)] {
            let pc = &p[c * m..(c + 1) * m];
            let tc = &t[c * m..(c + 1) * m];
            let mean = tc.iter().sum::<f64>() / m as f64;
            let num: f64 = pc.iter().zip(tc).map(|(a, b)| (a - b).powi(2)).sum();
            let den: f64 = tc.iter().map(|v| (v - mean).powi(2)).sum();
            out.push((num / den.max(1e-300)).sqrt());
        }
        mass.push((p.iter().sum::<f64>() / m as f64 - 1.0).abs());
        if op.predicts_log_q() {
            lq_err.push((log_q[s] - data.log_q[s]).abs());
        }
    }
    let report = json!({
        "checkpoint": a.checkpoint, "data": a.data, "samples": n, "grid": [data.mx, data.my],
        "relative_l2": summary(&rel_l2),
        "contrast_relative_a": summary(&contrast_a),
        "contrast_relative_b": summary(&contrast_b),
        "mass_error": summary(&mass),
        "log_q_abs_error": if lq_err.is_empty() { json!(null) } else { summary(&lq_err) },
        "operator_fields_per_second": n as f64 / operator_seconds,
        "exact_fields_per_second": n as f64 / exact_seconds,
        "threads": rayon::current_num_threads(),
    });
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        write_atomic(&out.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    if a.json {
        print_json(&report);
    } else {
        let s = |k: &str| format!("median {:.4} p95 {:.4} worst {:.4}", report[k]["median"].as_f64().unwrap_or(f64::NAN),
            report[k]["p95"].as_f64().unwrap_or(f64::NAN), report[k]["worst"].as_f64().unwrap_or(f64::NAN));
        println!("{n} fields on {}x{}", data.mx, data.my);
        println!("  contrast-relative error A: {}", s("contrast_relative_a"));
        println!("  contrast-relative error B: {}", s("contrast_relative_b"));
        println!("  relative L2 of phi:        {}", s("relative_l2"));
        println!("  operator {:.0} fields/s, exact solver {:.0} fields/s", n as f64 / operator_seconds, n as f64 / exact_seconds);
    }
    Ok(())
}

pub fn cmd_predict(a: &PredictArgs) -> Result<()> {
    let device = device(&a.backend)?;
    let file = FieldFile::open(&a.input)?;
    let (n, mx, my, w) = file.fields("w")?;
    if let Some(i) = w.iter().position(|v| !v.is_finite()) {
        bail!("{}: sample {}: non-finite field value", a.input.display(), i / (2 * mx * my));
    }
    let op = FnoOperator::load(&a.checkpoint, mx, my, &device)?;
    let start = Instant::now();
    let (phi, log_q) = op.predict(&w);
    let seconds = start.elapsed().as_secs_f64();
    let shape = vec![n, 2, mx, my];
    let meta = json!({"format": "mesofield-solve", "mesofield_version": env!("CARGO_PKG_VERSION"),
                      "model": op.normalization.model, "solver": format!("operator:{}", a.checkpoint.display())});
    let mut tensors = vec![("w", shape.clone(), Td::F64(&w)), ("phi", shape, Td::F64(&phi))];
    if op.predicts_log_q() {
        tensors.push(("log_q", vec![n], Td::F64(&log_q)));
    }
    write_atomic(&a.output, &to_safetensors(&tensors, &meta.to_string())?)?;
    let report = json!({"samples": n, "grid": [mx, my], "seconds": seconds, "fields_per_second": n as f64 / seconds});
    if a.json {
        print_json(&report);
    } else {
        println!("predicted {n} fields on {mx}x{my} in {seconds:.3} s -> {}", a.output.display());
    }
    Ok(())
}
