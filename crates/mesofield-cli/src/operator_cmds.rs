//! `train`, `eval` and `predict`: the Fourier neural operator commands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::Args;
use serde_json::json;

use mesofield_fno::checkpoint::TrainState;
use mesofield_fno::evaluation::{EvalReport, Summary, evaluate};
use mesofield_fno::training::{Progress, Stop, TrainConfig};
use mesofield_fno::{FnoConfig, FnoOperator, train};
use mesofield_physics::dataset::Dataset;
use mesofield_physics::io::{FieldFile, write_atomic};

use crate::{plot, print_json, progress_bar};

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
    /// Train on the relative H1 error (values and gradients) instead of L2.
    #[arg(long)]
    pub h1: bool,
    /// Clip each parameter's gradient to this norm (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub grad_clip: f64,
    /// Densities as exp(logit) (log-density output) instead of softplus.
    #[arg(long)]
    pub log_density: bool,
    /// Continue from OUT/last (its settings win, except --epochs).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: crate::Common,
}

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Also write OUT/report.json, OUT/histogram.png (error histograms) and
    /// OUT/worst.png (the four worst predictions).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub common: crate::Common,
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
    #[command(flatten)]
    pub common: crate::Common,
}

#[derive(Args)]
pub struct BenchOperatorArgs {
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Grid, MXxMY.
    #[arg(long, default_value = "32x32")]
    pub grid: String,
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 12)]
    pub modes: usize,
    /// Timed runs of each measurement (the median is reported), after 3 warm-up runs.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[command(flatten)]
    pub common: crate::Common,
}

/// `bench-operator`: training step, inference and spectral convolution timings
/// on synthetic data (the shapes of `bench/peer_neuralop.py`).
pub fn cmd_bench_operator(a: &BenchOperatorArgs) -> Result<()> {
    let (mx, my) = mesofield_physics::Grid::parse_size(&a.grid)?;
    if a.batch == 0 || a.width == 0 || a.layers == 0 || a.modes == 0 || a.repeats == 0 {
        bail!("--batch, --width, --layers, --modes and --repeats must be at least 1");
    }
    let device = device(&a.backend)?;
    let config = FnoConfig::new().with_width(a.width).with_layers(a.layers).with_modes_x(a.modes).with_modes_y(a.modes);
    // Parameters are created lazily: the model costs nothing until it runs.
    config.init(&device).check_grid(mx, my).map_err(|e| anyhow::anyhow!(e))?;
    let report = mesofield_fno::bench::run(&config, a.batch, mx, my, a.repeats, &device);
    let mut value = serde_json::to_value(&report)?;
    value["threads"] = json!(rayon::current_num_threads());
    value["backend"] = json!(a.backend);
    if a.common.json {
        print_json(&value);
    } else {
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(())
}

/// `--solver exact` gives None (the caller uses its exact solver);
/// `--solver operator:CHECKPOINT` loads the operator for `grid`, refusing
/// one trained for another chain model or box.
pub fn solver_choice(
    choice: &str,
    backend: &str,
    model: &mesofield_physics::ChainModel,
    grid: &mesofield_physics::Grid,
) -> Result<Option<FnoOperator>> {
    if choice == "exact" {
        return Ok(None);
    }
    let Some(dir) = choice.strip_prefix("operator:") else {
        bail!("--solver {choice:?}: expected exact or operator:CHECKPOINT");
    };
    let device = device(backend)?;
    let op = FnoOperator::load(Path::new(dir), grid.mx, grid.my, &device)?;
    if &op.normalization.model != model {
        bail!("--solver {choice}: the operator was trained for another chain model or box than this run's");
    }
    Ok(Some(op))
}

/// The stop signal of training runs: the first Ctrl-C raises it (the run
/// saves `last` after the batch in progress and returns), a second one ends
/// the process at once.
pub fn ctrl_c_stop() -> &'static Stop {
    static STOP: Stop = Stop::never();
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if STOP.requested.swap(true, std::sync::atomic::Ordering::Relaxed) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: saving the last checkpoint after this batch (Ctrl-C again to quit at once)");
        });
        if let Err(e) = installed {
            eprintln!("warning: no Ctrl-C handler ({e}); an interrupt keeps the previous epoch's checkpoint");
        }
    });
    &STOP
}

/// The error that ends a command whose training was interrupted, if it was.
pub fn interrupted(state: &TrainState, epochs: usize, dir: &Path, to_continue: &str) -> Result<()> {
    if state.epoch < epochs {
        bail!(
            "interrupted in epoch {} after batch {}: {} holds the state; {to_continue}",
            state.epoch + 1,
            state.epoch_batches,
            dir.join("last").display()
        );
    }
    Ok(())
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
    Ok(Device::wgpu(DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    bail!("this mesofield was built without the wgpu backend (cargo build --features wgpu)")
}

/// OUT/loss.png from OUT/metrics.jsonl: training loss (dark) and mean
/// validation error (light) per epoch, log scale.
pub fn loss_curve(out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap_or_default();
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}/metrics.jsonl", out.display()))?;
        train.push(v["train_loss"].as_f64().unwrap_or(f64::NAN));
        valid.push(v["valid_error_mean"].as_f64().unwrap_or(f64::NAN));
    }
    crate::plot::log_curves_png(
        &[(train, crate::plot::viridis(0.15)), (valid, crate::plot::viridis(0.75))],
        &out.join("loss.png"),
    )
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
    let model = FnoConfig::new()
        .with_width(a.width)
        .with_layers(a.layers)
        .with_modes_x(a.modes)
        .with_modes_y(a.modes)
        .with_log_density(a.log_density);
    let config = TrainConfig::new(model)
        .with_epochs(a.epochs)
        .with_batch(a.batch)
        .with_seed(a.seed)
        .with_learning_rate(a.lr)
        .with_h1(a.h1)
        .with_grad_clip_norm(a.grad_clip);
    let steps = train_set.len().div_ceil(a.batch) as u64;
    let bar = progress_bar(steps, "train");
    let start = Instant::now();
    let mut lines = Vec::new();
    let state = train(&train_set, &valid_set, config, &a.out, a.resume, ctrl_c_stop(), &device, &mut |p| match p {
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
    loss_curve(&a.out)?;
    interrupted(&state, a.epochs, &a.out, "run the same command with --resume to continue")?;
    let report = json!({"epochs": state.epoch, "steps": state.step, "best_valid": state.best_valid,
                        "best_epoch": state.best_epoch, "seconds": start.elapsed().as_secs_f64(), "out": a.out});
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "trained {} epochs; best validation error {:.4} at epoch {} -> {}",
            state.epoch,
            state.best_valid,
            state.best_epoch,
            a.out.join("best").display()
        );
    }
    Ok(())
}

pub fn cmd_eval(a: &EvalArgs) -> Result<()> {
    let device = device(&a.backend)?;
    let data = load_dataset(&a.data)?;
    let op = FnoOperator::load(&a.checkpoint, data.mx, data.my, &device)?;
    if op.normalization.model != data.meta.model {
        bail!("{} was made with another chain model than the checkpoint's", a.data.display());
    }
    let bar = progress_bar(data.len() as u64, "eval");
    let report = evaluate(&op, &data);
    bar.finish_and_clear();
    let mut value = serde_json::to_value(&report)?;
    value["checkpoint"] = json!(a.checkpoint);
    value["data"] = json!(a.data);
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        write_atomic(&out.join("report.json"), serde_json::to_string_pretty(&value)?.as_bytes())?;
        eval_pictures(&data, &report, out, "")?;
    }
    if a.common.json {
        print_json(&value);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// Rows of pictures for the samples `picks` of `data`: w_A, the exact and
/// the predicted phi_A on one colour scale, and their difference, each
/// titled; the first panel names the sample and its errors.
pub fn example_rows(data: &Dataset, report: &EvalReport, picks: &[usize]) -> Vec<Vec<image::RgbImage>> {
    let (mx, my) = (data.mx, data.my);
    let m = mx * my;
    picks
        .iter()
        .map(|&s| {
            let w_a = &data.w[s * 2 * m..s * 2 * m + m];
            let exact = &data.phi[s * 2 * m..s * 2 * m + m];
            let pred = &report.predicted[s * 2 * m..s * 2 * m + m];
            let error: Vec<f64> = pred.iter().zip(exact).map(|(p, e)| p - e).collect();
            let (lo, hi) =
                exact.iter().chain(pred).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            let e = error.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-12);
            let family = match data.family.get(s) {
                Some(1) => "SCFT",
                Some(0) => "GRF",
                _ => "",
            };
            vec![
                plot::titled(plot::field_image(w_a, mx, my, None, 256).0, &format!("W_A  {family} SAMPLE {s}")),
                plot::titled(plot::field_image(exact, mx, my, Some((lo, hi)), 256).0, "EXACT PHI_A"),
                plot::titled(plot::field_image(pred, mx, my, Some((lo, hi)), 256).0, "PREDICTED PHI_A"),
                plot::titled(
                    plot::field_image(&error, mx, my, Some((-e, e)), 256).0,
                    &format!("ERROR A {:.4} B {:.4}", report.per_sample_a[s], report.per_sample_b[s]),
                ),
            ]
        })
        .collect()
}

/// `DIR/PREFIXhistogram.png` (contrast-relative errors of phi_A and phi_B on
/// log bins) and `DIR/PREFIXworst.png` (the four samples worst in phi_A).
pub fn eval_pictures(data: &Dataset, report: &EvalReport, dir: &Path, prefix: &str) -> Result<()> {
    plot::log_histogram_png(
        &[(&report.per_sample_a, [40, 40, 120]), (&report.per_sample_b, [120, 200, 120])],
        "CONTRAST-RELATIVE ERROR: PHI_A DARK, PHI_B LIGHT",
        &dir.join(format!("{prefix}histogram.png")),
    )?;
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|&i, &j| report.per_sample_a[j].total_cmp(&report.per_sample_a[i]));
    order.truncate(4);
    plot::save_png(plot::tile(example_rows(data, report, &order)), &dir.join(format!("{prefix}worst.png")))
}

pub fn print_report(r: &EvalReport) {
    let s = |x: &Summary| format!("median {:.4} p95 {:.4} worst {:.4}", x.median, x.p95, x.worst);
    println!("{} fields on {}x{}", r.samples, r.grid[0], r.grid[1]);
    println!("  contrast-relative error A: {}", s(&r.contrast_relative_a));
    println!("  contrast-relative error B: {}", s(&r.contrast_relative_b));
    println!("  relative L2 of phi:        {}", s(&r.relative_l2));
    println!(
        "  operator {:.0} fields/s, exact solver {:.0} fields/s",
        r.operator_fields_per_second, r.exact_fields_per_second
    );
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
    let solver = format!("operator:{}", a.checkpoint.display());
    let log_q = op.predicts_log_q().then_some(log_q.as_slice());
    crate::write_solve_output(&a.output, [n, mx, my], &w, &phi, log_q, &op.normalization.model, &solver)?;
    let report = json!({"samples": n, "grid": [mx, my], "seconds": seconds, "fields_per_second": n as f64 / seconds});
    if a.common.json {
        print_json(&report);
    } else {
        println!("predicted {n} fields on {mx}x{my} in {seconds:.3} s -> {}", a.output.display());
    }
    Ok(())
}
