//! `mesofield reproduce fig3 [--quick]`: datasets (if missing), training
//! (resumed if interrupted), evaluation in and out of distribution and at
//! another resolution, the report and the figure.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use mesofield_fno::data::Normalization;
use mesofield_fno::evaluation::{EvalReport, evaluate};
use mesofield_fno::training::{Progress, TrainConfig};
use mesofield_fno::{Checkpoint, FnoConfig, FnoOperator, train};
use mesofield_physics::ChainModel;
use mesofield_physics::dataset::{Dataset, GeneratorConfig, GrfFamily, ScftFamily, generate};
use mesofield_physics::io::write_atomic;

use crate::operator_cmds::{ctrl_c_stop, device, eval_pictures, example_rows, interrupted, print_report};
use crate::{plot, progress_bar};

#[derive(Args)]
pub struct ReproduceArgs {
    /// Which figure: fig1 (L-FTS patterns), fig2 and fig4 (denoising from two samples, the RBM), fig3 (the operator) or dynamics (eq. 26).
    pub figure: String,
    /// The small variant: minutes on 2 cores; every path says fig3-quick.
    #[arg(long)]
    pub quick: bool,
    /// Experiment file (default experiments/FIGURE.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// fig1 and dynamics: exact or operator:CHECKPOINT for the inner loops.
    #[arg(long, default_value = "exact")]
    pub solver: String,
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetSpec {
    #[serde(default)]
    grf: usize,
    #[serde(default)]
    scft_runs: usize,
    #[serde(default = "default_snapshots")]
    snapshots: usize,
    amplitude: Option<[f64; 2]>,
    correlation_length: Option<[f64; 2]>,
    chi: Option<[f64; 2]>,
    /// ScftFamily::perturbed_copies (absent: none) and its ranges.
    #[serde(default)]
    perturbed_copies: usize,
    perturbation: Option<[f64; 2]>,
    perturbation_length: Option<[f64; 2]>,
    seed: u64,
}

fn default_snapshots() -> usize {
    8
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fig3Spec {
    grid: [usize; 2],
    zero_shot_grid: [usize; 2],
    train: SetSpec,
    valid: SetSpec,
    test: SetSpec,
    ood: SetSpec,
    zero_shot: SetSpec,
    epochs: usize,
    batch: usize,
    learning_rate: f64,
    /// The loss's e_ref (TrainConfig::tail_scale); 0 or absent: plain mean.
    #[serde(default)]
    tail_scale: f64,
    /// TrainConfig::grad_clip_norm; 0 or absent: off.
    #[serde(default)]
    grad_clip_norm: f64,
    /// FnoConfig::log_density; absent: softplus densities.
    #[serde(default)]
    log_density: bool,
    width: usize,
    layers: usize,
    modes: usize,
    seed: u64,
}

impl SetSpec {
    fn generator(&self, grid: [usize; 2]) -> GeneratorConfig {
        let grf = GrfFamily::default();
        let scft = ScftFamily::default();
        GeneratorConfig {
            grid,
            seed: self.seed,
            grf: GrfFamily {
                samples: self.grf,
                amplitude: self.amplitude.unwrap_or(grf.amplitude),
                correlation_length: self.correlation_length.unwrap_or(grf.correlation_length),
            },
            scft: ScftFamily {
                runs: self.scft_runs,
                snapshots_per_run: self.snapshots,
                chi: self.chi.unwrap_or(scft.chi),
                perturbed_copies: self.perturbed_copies,
                perturbation: self.perturbation.unwrap_or(scft.perturbation),
                perturbation_length: self.perturbation_length.unwrap_or(scft.perturbation_length),
                ..scft
            },
            lfts: Default::default(),
        }
    }
}

/// An experiment file's two tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Variants<T> {
    default: T,
    quick: T,
}

/// The `[default]` or `[quick]` table of an experiment file.
pub fn load_spec<T: serde::de::DeserializeOwned>(path: &Path, quick: bool) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: Variants<T> = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().replace('\n', " ")))?;
    Ok(if quick { file.quick } else { file.default })
}

/// Loads `path` if it holds the dataset `config` describes, else generates it.
pub fn dataset(path: &Path, model: &ChainModel, config: &GeneratorConfig, what: &str) -> Result<Dataset> {
    if path.exists() {
        let d = Dataset::load(path)?;
        if d.meta.generator.as_ref() == Some(config) && &d.meta.model == model {
            return Ok(d);
        }
        eprintln!("{} was made with other settings: regenerating", path.display());
    }
    let bar = progress_bar(config.units() as u64, &format!("generate {what}"));
    let d = generate(model, config, None, &|n| bar.set_position(n as u64))?;
    bar.finish_and_clear();
    d.save(path)?;
    eprintln!("{what}: {} samples -> {}", d.len(), path.display());
    Ok(d)
}

pub fn cmd_reproduce(a: &ReproduceArgs) -> Result<()> {
    let config_path = a.config.clone().unwrap_or_else(|| PathBuf::from(format!("experiments/{}.toml", a.figure)));
    match a.figure.as_str() {
        "fig3" => {}
        "fig1" => return crate::fig1::reproduce_fig1(&config_path, a.quick, &a.solver, &a.backend),
        "fig4" => return crate::fig4::reproduce_fig4(&config_path, a.quick, &a.backend),
        // Fig. 2 (the RBM baseline) is drawn by the same pipeline, from the same data.
        "fig2" => {
            let config_path = a.config.clone().unwrap_or_else(|| PathBuf::from("experiments/fig4.toml"));
            return crate::fig4::reproduce_fig4(&config_path, a.quick, &a.backend);
        }
        "dynamics" => return crate::dynamics_fig::reproduce_dynamics(&config_path, a.quick, &a.solver, &a.backend),
        other => bail!("unknown figure {other:?}: this version reproduces fig1, fig2, fig3, fig4 and dynamics"),
    }
    let spec: Fig3Spec = load_spec(&config_path, a.quick)?;
    let name = if a.quick { "fig3-quick" } else { "fig3" };
    let device = device(&a.backend)?;
    let model = ChainModel::default();
    let data_dir = PathBuf::from("datasets").join(name);
    let ckpt_dir = PathBuf::from("checkpoints").join(name);
    let out_dir = PathBuf::from("experiments").join(name);
    std::fs::create_dir_all(&data_dir)?;
    std::fs::create_dir_all(&out_dir)?;

    let train_set = dataset(&data_dir.join("train.safetensors"), &model, &spec.train.generator(spec.grid), "train")?;
    let valid_set = dataset(&data_dir.join("valid.safetensors"), &model, &spec.valid.generator(spec.grid), "valid")?;
    let test_set = dataset(&data_dir.join("test.safetensors"), &model, &spec.test.generator(spec.grid), "test")?;
    let ood_set = dataset(&data_dir.join("ood.safetensors"), &model, &spec.ood.generator(spec.grid), "ood")?;
    let zero_shot_set = dataset(
        &data_dir.join("zero_shot.safetensors"),
        &model,
        &spec.zero_shot.generator(spec.zero_shot_grid),
        "zero_shot",
    )?;

    let fno = FnoConfig::new()
        .with_width(spec.width)
        .with_layers(spec.layers)
        .with_modes_x(spec.modes)
        .with_modes_y(spec.modes)
        .with_log_density(spec.log_density);
    let config = TrainConfig::new(fno)
        .with_epochs(spec.epochs)
        .with_batch(spec.batch)
        .with_learning_rate(spec.learning_rate)
        .with_tail_scale(spec.tail_scale)
        .with_grad_clip_norm(spec.grad_clip_norm)
        .with_seed(spec.seed);
    set_aside_stale_checkpoints(&ckpt_dir, &config, &train_set, &device)?;
    let bar = progress_bar(1, "train");
    // Resumes from `last` when a previous run was interrupted; a finished
    // run returns at once.
    let state = train(&train_set, &valid_set, config, &ckpt_dir, true, ctrl_c_stop(), &device, &mut |p| match p {
        Progress::Batch { epoch, done, total, loss } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!("train epoch {} loss {loss:.4}", epoch + 1));
        }
        Progress::Epoch(m) => bar.println(format!(
            "epoch {:>3} train {:.4} valid mean {:.4} median {:.4} {:.0} samples/s",
            m.epoch, m.train_loss, m.valid_error_mean, m.valid_error_median, m.samples_per_second
        )),
    })?;
    bar.finish_and_clear();
    crate::operator_cmds::loss_curve(&ckpt_dir)?;
    interrupted(&state, spec.epochs, &ckpt_dir, "run the same command again to continue")?;
    std::fs::copy(ckpt_dir.join("loss.png"), out_dir.join("loss.png")).context("copying the loss curve")?;

    let best = ckpt_dir.join("best");
    let mut reports = serde_json::Map::new();
    let mut table = String::from(
        "| set | samples | grid | contrast-rel. A median | p95 | worst | contrast-rel. B median | p95 | rel. L2 median | operator fields/s | exact fields/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut test_report: Option<EvalReport> = None;
    for (label, prefix, set) in [
        ("test (in distribution)", "test_", &test_set),
        ("out of distribution", "ood_", &ood_set),
        ("zero-shot resolution", "zero_shot_", &zero_shot_set),
    ] {
        let op = FnoOperator::load(&best, set.mx, set.my, &device)?;
        let r = evaluate(&op, set);
        eval_pictures(set, &r, &out_dir, prefix)?;
        println!("{label}:");
        print_report(&r);
        table.push_str(&format!(
            "| {label} | {} | {}x{} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.0} | {:.0} |\n",
            r.samples,
            r.grid[0],
            r.grid[1],
            r.contrast_relative_a.median,
            r.contrast_relative_a.p95,
            r.contrast_relative_a.worst,
            r.contrast_relative_b.median,
            r.contrast_relative_b.p95,
            r.relative_l2.median,
            r.operator_fields_per_second,
            r.exact_fields_per_second
        ));
        reports.insert(label.to_string(), serde_json::to_value(&r)?);
        if test_report.is_none() {
            test_report = Some(r);
        }
    }
    let report = json!({"figure": "fig3", "variant": name, "epochs": state.epoch, "best_epoch": state.best_epoch,
                        "best_valid": state.best_valid, "checkpoint": best, "sets": reports});
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    write_atomic(&out_dir.join("table.md"), table.as_bytes())?;
    let figure = out_dir.join("fig3.png");
    draw_examples(&test_set, test_report.as_ref().expect("test evaluated"), &figure)?;
    println!("report, table and figure -> {}", out_dir.display());
    Ok(())
}

/// A `last` checkpoint trained with other settings or on another training
/// set would be resumed as if it were this run's: move the folder aside to
/// `NAME.previous` (replacing an older one) and start over.
fn set_aside_stale_checkpoints(dir: &Path, config: &TrainConfig, train_set: &Dataset, device: &Device) -> Result<()> {
    let last = dir.join("last");
    if !last.exists() {
        return Ok(());
    }
    let settings = |c: &TrainConfig| -> serde_json::Value {
        let mut v = serde_json::to_value(c).unwrap_or_default();
        v["epochs"] = json!(null);
        v
    };
    let why = match Checkpoint::load(&last, device) {
        Ok(ckpt) if settings(&ckpt.config) != settings(config) => "other training settings".to_string(),
        Ok(ckpt) if ckpt.normalization != Normalization::fit(train_set) => "another training set".to_string(),
        Ok(_) => return Ok(()),
        Err(e) => format!("an unreadable checkpoint ({e})"),
    };
    let aside = dir.with_extension("previous");
    if aside.exists() {
        std::fs::remove_dir_all(&aside).with_context(|| format!("removing {}", aside.display()))?;
    }
    std::fs::rename(dir, &aside).with_context(|| format!("moving {} aside", dir.display()))?;
    eprintln!("{} holds {why}: moved to {}, training from the start", dir.display(), aside.display());
    Ok(())
}

/// Two test examples (the median and the 90th-percentile error): w_A, exact
/// phi_A, predicted phi_A (one colour scale) and the error map.
fn draw_examples(data: &Dataset, report: &EvalReport, path: &Path) -> Result<()> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|&i, &j| report.per_sample_a[i].total_cmp(&report.per_sample_a[j]));
    let picks = [order[order.len() / 2], order[(order.len() * 9 / 10).min(order.len() - 1)]];
    plot::save_png(plot::tile(example_rows(data, report, &picks)), path)
}
