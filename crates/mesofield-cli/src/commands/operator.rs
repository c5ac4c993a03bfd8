//! Operator commands: `train`, `train-denoiser`, `learn`, `eval`, `predict`, `bench-operator`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use mesofield_experiments::operator_eval::{eval_pictures, interrupted, loss_curve};
use mesofield_experiments::patterns::Patterns;
use mesofield_fno::TrainConfig;
use mesofield_fno::evaluation::{EvalReport, evaluate};
use mesofield_fno::training::{EpochMetrics, Progress, Stop};
use mesofield_fno::{FnoConfig, FnoOperator};
use mesofield_physics::ChainModel;
use mesofield_physics::dataset::Dataset;
use mesofield_physics::fts::Integrator;
use mesofield_physics::io::{FieldFile, write_atomic};

use super::{BackendArg, Common, print_json, reporter};

/// The FNO's architecture flags (train and bench-operator).
#[derive(Args, Clone, Debug)]
pub struct FnoArgs {
    /// Channels of the Fourier layers.
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    /// Wave numbers kept per direction.
    #[arg(long, default_value_t = 12)]
    pub modes: usize,
}

impl FnoArgs {
    pub fn config(&self) -> Result<FnoConfig> {
        if self.width == 0 || self.layers == 0 || self.modes == 0 {
            bail!("--width, --layers and --modes must be at least 1");
        }
        Ok(FnoConfig::new()
            .with_width(self.width)
            .with_layers(self.layers)
            .with_modes_x(self.modes)
            .with_modes_y(self.modes))
    }
}

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub valid: PathBuf,
    /// Checkpoint folder: OUT/best, OUT/last, OUT/metrics.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub backend: BackendArg,
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    #[command(flatten)]
    pub fno: FnoArgs,
    /// Train on the relative H1 error (values and gradients) instead of L2.
    #[arg(long)]
    pub h1: bool,
    /// Clip each parameter's gradient to this norm (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub grad_clip: f64,
    /// Stop once the validation error has not improved for this many
    /// epochs (0: train every epoch). Saved with the checkpoint.
    #[arg(long, default_value_t = 0)]
    pub patience: usize,
    /// Densities as exp(logit) (log-density output) instead of softplus.
    #[arg(long)]
    pub log_density: bool,
    /// Continue from OUT/last (its settings win, except --epochs).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub backend: BackendArg,
    /// Also write OUT/report.json, OUT/histogram.png (error histograms) and
    /// OUT/worst.png (the four worst predictions).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct PredictArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct BenchOperatorArgs {
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Grid, MXxMY.
    #[arg(long, default_value = "32x32")]
    pub grid: String,
    #[command(flatten)]
    pub fno: FnoArgs,
    /// Timed runs of each measurement (the median is reported), after 3 warm-up runs.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub common: Common,
}

/// `bench-operator`: training step, inference and spectral convolution timings
/// on synthetic data (the shapes of `bench/peer_neuralop.py`).
pub fn bench_operator(a: &BenchOperatorArgs) -> Result<()> {
    let (mx, my) = mesofield_physics::Grid::parse_size(&a.grid)?;
    if a.batch == 0 || a.repeats == 0 {
        bail!("--batch and --repeats must be at least 1");
    }
    let config = a.fno.config()?;
    let device = a.backend.backend.device()?;
    // Parameters are created lazily: the model costs nothing until it runs.
    config.init(&device).check_grid(mx, my).map_err(|e| anyhow::anyhow!(e))?;
    let report = mesofield_fno::bench::run(&config, a.batch, mx, my, a.repeats, &device);
    let mut value = serde_json::to_value(&report)?;
    value["threads"] = json!(rayon::current_num_threads());
    value["backend"] = json!(a.backend.backend.to_string());
    if a.common.json {
        print_json(&value);
    } else {
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(())
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

fn load_dataset(path: &Path) -> Result<Dataset> {
    Ok(Dataset::load(path)?)
}

pub fn train(a: &TrainArgs) -> Result<()> {
    let device = a.backend.backend.device()?;
    let train_set = load_dataset(&a.data)?;
    let valid_set = load_dataset(&a.valid)?;
    if a.epochs == 0 || a.batch == 0 {
        bail!("--epochs and --batch must be >= 1");
    }
    let model = a.fno.config()?.with_log_density(a.log_density);
    let config = TrainConfig::new(model)
        .with_epochs(a.epochs)
        .with_batch(a.batch)
        .with_seed(a.seed)
        .with_learning_rate(a.lr)
        .with_h1(a.h1)
        .with_grad_clip_norm(a.grad_clip)
        .with_patience(a.patience);
    let steps = train_set.len().div_ceil(a.batch) as u64;
    let stage = reporter().stage(steps, "train");
    let start = Instant::now();
    let mut lines = Vec::new();
    let state = mesofield_fno::train(
        &train_set,
        &valid_set,
        config,
        &a.out,
        a.resume,
        ctrl_c_stop(),
        &device,
        &mut |p| match p {
            Progress::Batch { epoch, done, total, loss } => {
                stage.set_length(total as u64);
                stage.set_position(done as u64);
                stage.set_message(format!("epoch {} loss {loss:.4}", epoch + 1));
            }
            Progress::Epoch(m) => {
                stage.println(format!(
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
        },
    )?;
    stage.finish();
    loss_curve(&a.out)?;
    interrupted(&state, a.epochs, &a.out, "run the same command with --resume to continue")?;
    let report = json!({"epochs": state.epoch, "steps": state.step, "best_valid": state.best_valid,
                        "best_epoch": state.best_epoch, "stopped_early": state.stopped_early,
                        "seconds": start.elapsed().as_secs_f64(), "out": a.out});
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "trained {} epochs{}; best validation error {:.4} at epoch {} -> {}",
            state.epoch,
            if state.stopped_early { " (stopped early: no better validation error in --patience epochs)" } else { "" },
            state.best_valid,
            state.best_epoch,
            a.out.join("best").display()
        );
    }
    Ok(())
}

pub fn eval(a: &EvalArgs) -> Result<()> {
    let device = a.backend.backend.device()?;
    let data = load_dataset(&a.data)?;
    let op = FnoOperator::load(&a.checkpoint, data.mx, data.my, &device)?;
    if op.normalization.model != data.meta.model {
        bail!("{} was made with another chain model than the checkpoint's", a.data.display());
    }
    let stage = reporter().stage(data.len() as u64, "eval");
    let report = evaluate(&op, &data);
    stage.finish();
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

pub fn print_report(r: &EvalReport) {
    print!("{}", r.text());
}

pub fn predict(a: &PredictArgs) -> Result<()> {
    let device = a.backend.backend.device()?;
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
    mesofield_experiments::files::write_solve(
        &a.output,
        [n, mx, my],
        (&w, &phi),
        log_q,
        &op.normalization.model,
        &solver,
    )?;
    let report = json!({"samples": n, "grid": [mx, my], "seconds": seconds, "fields_per_second": n as f64 / seconds});
    if a.common.json {
        print_json(&report);
    } else {
        println!("predicted {n} fields on {mx}x{my} in {seconds:.3} s -> {}", a.output.display());
    }
    Ok(())
}

/// What `train-denoiser` and `learn` share: how the patterns are read, the
/// noise model's salt and pepper, the network and the optimiser.
#[derive(Args)]
pub struct DenoiserTrainingArgs {
    /// Largest fraction of salt-and-pepper points (0: Gaussian noise only).
    #[arg(long, default_value_t = 0.0)]
    pub salt_pepper: f64,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Seeds the training (and `learn`'s L-FTS replicas, SEED + r).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    #[command(flatten)]
    pub fno: FnoArgs,
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// phi_A of a PNG's black and white, LO,HI.
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
}

impl DenoiserTrainingArgs {
    /// The clean patterns of `paths`, pooled, and their chain model.
    fn patterns(&self, paths: &[PathBuf]) -> Result<(Patterns, ChainModel)> {
        let clean = mesofield_experiments::patterns::load_many(
            paths,
            super::parse_range(&self.phi_range, "--phi-range")?,
            true,
        )?;
        let model = clean.chain_model(self.model.as_deref())?;
        Ok((clean, model))
    }

    /// The training config of a denoise operator for `epochs`.
    fn config(&self, epochs: usize) -> Result<TrainConfig> {
        if epochs == 0 || self.batch == 0 {
            bail!("--epochs and --batch must be >= 1");
        }
        Ok(TrainConfig::new(self.fno.config()?.with_predict_log_q(false))
            .with_epochs(epochs)
            .with_batch(self.batch)
            .with_seed(self.seed)
            .with_learning_rate(self.lr))
    }
}

/// A denoise operator's epoch, as its progress line.
fn denoiser_epoch_line(m: &EpochMetrics) -> String {
    format!(
        "epoch {:>3} train {:.4} valid mean {:.4} median {:.4}{}",
        m.epoch,
        m.train_loss,
        m.valid_error_mean,
        m.valid_error_median,
        if m.best { " (best)" } else { "" }
    )
}

#[derive(Args)]
pub struct TrainDenoiserArgs {
    /// Clean patterns (.safetensors, .npy or grayscale .png); several files are pooled. The last fifth is held out.
    #[arg(long, num_args = 1.., required = true)]
    pub patterns: Vec<PathBuf>,
    /// Checkpoint folder: OUT/best, OUT/last, OUT/metrics.jsonl, OUT/report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Noise levels to train over, LO,HI, in units of the clean patterns' standard deviation (as `noise --sigma`).
    #[arg(long, default_value = "0.1,1.5")]
    pub sigma: String,
    /// Draw half of the noise levels below this one (same units), where given: a wide range for
    /// generation that keeps the denoising band's accuracy.
    #[arg(long)]
    pub sigma_focus: Option<f64>,
    /// The chi, B and L-FTS step size the patterns were sampled with, where known (stated in the checkpoint).
    #[arg(long)]
    pub chi: Option<f64>,
    #[arg(long)]
    pub beads_per_cell: Option<f64>,
    #[arg(long)]
    pub step_size: Option<f64>,
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    #[command(flatten)]
    pub training: DenoiserTrainingArgs,
    /// Continue from OUT/last.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn train_denoiser(a: &TrainDenoiserArgs) -> Result<()> {
    use mesofield_experiments::denoiser::{DenoiserSettings, train_denoiser};
    let (clean, model) = a.training.patterns(&a.patterns)?;
    let config = a.training.config(a.epochs)?;
    let settings = DenoiserSettings {
        sigma_relative: super::parse_range(&a.sigma, "--sigma")?,
        focus_relative: a.sigma_focus,
        salt_pepper: a.training.salt_pepper,
        chi: a.chi,
        beads_per_cell: a.beads_per_cell,
        step_size: a.step_size,
        ..DenoiserSettings::default()
    };
    let stage = reporter().stage(a.epochs as u64, "train denoiser");
    let report = train_denoiser(&clean, &model, &settings, config, &a.out, a.resume, ctrl_c_stop(), &mut |p| {
        if let Progress::Epoch(m) = p {
            stage.set_position(m.epoch as u64);
            stage.println(denoiser_epoch_line(m));
        }
    })?;
    stage.finish();
    if report.epochs < a.epochs {
        bail!(
            "stopped after epoch {} of {}; {}/last holds it: run the same command with --resume to continue",
            report.epochs,
            a.epochs,
            a.out.display()
        );
    }
    if a.common.json {
        print_json(&serde_json::to_value(&report)?);
    } else {
        println!(
            "denoiser trained on {} patterns ({} held out): best validation error {:.4} at epoch {}, {:.1} min -> {}",
            report.training_patterns,
            report.validation_patterns,
            report.best_valid_error,
            report.best_epoch,
            report.minutes,
            a.out.join("best").display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct LearnArgs {
    /// Clean samples of the system (.safetensors, .npy or grayscale .png): one or two patterns are enough.
    #[arg(long, num_args = 1.., required = true)]
    pub samples: Vec<PathBuf>,
    /// B of the ensemble the samples come from (and of the L-FTS replicas).
    #[arg(long)]
    pub beads_per_cell: f64,
    /// The L-FTS step size of that ensemble (0: the continuum limit) and of the replicas.
    #[arg(long)]
    pub step_size: f64,
    /// em | lm: the integrator of that ensemble and of the replicas.
    #[arg(long, default_value_t = Integrator::default())]
    pub integrator: Integrator,
    /// Folder: OUT/best, OUT/last, OUT/chi.json, OUT/patterns.safetensors, OUT/sampling.json, OUT/report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Clean patterns to make, one per L-FTS replica at the inferred chi [default: 256; --quick 8].
    #[arg(long)]
    pub patterns: Option<usize>,
    /// Steps each replica runs before its pattern is taken [default: until the replicas' mean H stops falling, between L-FTS time 10 and 100 (--quick 30)].
    #[arg(long)]
    pub burn_in: Option<usize>,
    /// A small run that shows the whole pipeline in seconds (tests, first tries).
    #[arg(long)]
    pub quick: bool,
    /// The denoiser's noise levels, LO,HI, in units of the clean patterns' standard deviation [default:
    /// 0.1,1.5; the generator's are 0.1-20, half of its draws below 1.5].
    #[arg(long)]
    pub sigma: Option<String>,
    /// Training epochs of each operator [default: the denoiser 300, the generator 150; --quick 2].
    #[arg(long)]
    pub epochs: Option<usize>,
    #[command(flatten)]
    pub training: DenoiserTrainingArgs,
    /// Train the denoiser only, not the generator (OUT/generator) that `generate-patterns` uses.
    #[arg(long)]
    pub no_generator: bool,
    /// Continue in OUT: chi and the clean patterns are reused, training goes on from OUT/last.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn learn(a: &LearnArgs) -> Result<()> {
    use mesofield_experiments::learn::{BurnIn, LearnSettings, learn};
    let mut settings = if a.quick {
        LearnSettings::quick(a.beads_per_cell, a.step_size)
    } else {
        LearnSettings::new(a.beads_per_cell, a.step_size)
    };
    settings.integrator = a.integrator;
    settings.validate()?;
    let (clean, model) = a.training.patterns(&a.samples)?;
    settings.patterns = a.patterns.unwrap_or(settings.patterns);
    if let Some(n) = a.burn_in {
        settings.burn_in = BurnIn::Fixed(n);
    }
    settings.seed = a.training.seed;
    let epochs = settings.apply_epochs(a.epochs, a.quick);
    if let Some(sigma) = &a.sigma {
        settings.denoiser.sigma_relative = super::parse_range(sigma, "--sigma")?;
    }
    settings.denoiser.salt_pepper = a.training.salt_pepper;
    if a.no_generator {
        settings.generator = None;
    }
    if let Some(g) = settings.generator.as_mut() {
        g.salt_pepper = a.training.salt_pepper;
    }
    let config = a.training.config(epochs)?;
    let reporter = reporter();
    let mut stage: Option<(mesofield_experiments::progress::Stage, usize)> = None;
    let sources: Vec<String> = a.samples.iter().map(|p| p.display().to_string()).collect();
    let report =
        learn(&sources, clean, &model, &settings, config, &a.out, a.resume, ctrl_c_stop(), &reporter, &mut |p| {
            if let Progress::Epoch(m) = p {
                // The denoiser's epochs, then the generator's from 1 again.
                if stage.as_ref().is_none_or(|(_, last)| m.epoch <= *last) {
                    let (what, length) = match stage {
                        None => ("train denoiser", epochs),
                        Some(_) => ("train generator", settings.generator_epochs),
                    };
                    if let Some((s, _)) = stage.take() {
                        s.finish();
                    }
                    stage = Some((reporter.stage(length as u64, what), 0));
                }
                let (s, last) = stage.as_mut().expect("set above");
                *last = m.epoch;
                s.set_position(m.epoch as u64);
                s.println(denoiser_epoch_line(m));
            }
        })?;
    if let Some((s, _)) = stage {
        s.finish();
    }
    if let Some(why) = report.unfinished(&settings, epochs) {
        bail!("{why}; {} holds it: run the same command with --resume to continue", a.out.display());
    }
    if a.common.json {
        print_json(&serde_json::to_value(&report)?);
    } else {
        let s = &report.sampling;
        println!(
            "chi {:.4} +- {:.4}; {} patterns, one per L-FTS replica after {} steps ({}; <(phi_A - phi_B)^2> {:.4}, samples {:.4}); \
             denoiser best validation error {:.4}; {:.1} min -> {}{}",
            report.chi.chi,
            report.chi.std_error,
            s.patterns,
            s.burn_in,
            s.burn_in_rule,
            s.patterns_psi2,
            s.samples_psi2,
            report.training.best_valid_error,
            report.minutes.total,
            a.out.join("best").display(),
            if report.generator.is_some() {
                format!(", generator {}", a.out.join("generator/best").display())
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct GeneratePatternsArgs {
    /// A denoise operator's checkpoint (`learn`'s OUT/generator/best; one trained over noise levels
    /// that hide the patterns).
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    /// Batched operator calls, one per noise level walked down.
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// L-FTS patterns to compare with [default: the patterns.safetensors `learn` wrote with the checkpoint].
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Output safetensors: `phi_a` [n, Mx, My], the mean S(q) (`sq_q`, `sq_S`), the report in the metadata.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: Common,
}

pub fn generate_patterns(a: &GeneratePatternsArgs) -> Result<()> {
    let report = mesofield_experiments::generate::generate_to_file(
        &a.checkpoint,
        a.count,
        a.steps,
        a.seed,
        a.reference.as_deref(),
        &a.out,
    )?;
    if a.common.json {
        print_json(&serde_json::to_value(&report)?);
        return Ok(());
    }
    let g = &report.generated;
    println!(
        "{} patterns in {} operator calls, {:.2} s ({:.1} patterns/s): S(q) peak {:.4} at q {:.4}, <(phi_A - phi_B)^2> {:.4} -> {}",
        report.count,
        report.steps,
        report.seconds,
        report.patterns_per_second,
        g.peak.s,
        g.peak.q,
        g.psi2,
        a.out.display()
    );
    if let Some(r) = &report.reference {
        println!(
            "against {} L-FTS patterns ({}): peak at {} q, height x{:.3}, <(phi_A - phi_B)^2> x{:.4}{}",
            r.statistics.patterns,
            r.file,
            if r.comparison.same_peak_q { "the same" } else { "another" },
            r.comparison.peak_ratio,
            r.comparison.psi2_ratio,
            match r.speedup {
                Some(s) => format!(", {s:.1}x L-FTS's patterns per second"),
                None => String::new(),
            }
        );
    }
    Ok(())
}
