//! Fig. 3: the operator against the exact solver. Datasets (generated once,
//! reused while their settings stay), training (resumed if interrupted),
//! evaluation in distribution, out of distribution and at another
//! resolution, then `report.json`, `table.md`, `fig3.png`, the loss curve
//! and per set the error histogram and the worst predictions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::Device;
use serde::{Deserialize, Serialize};
use serde_json::json;

use mesofield_fno::TrainConfig;
use mesofield_fno::data::Normalization;
use mesofield_fno::evaluation::{EvalReport, evaluate};
use mesofield_fno::training::{Progress, Stop};
use mesofield_fno::{Checkpoint, FnoConfig, FnoOperator, train};
use mesofield_physics::ChainModel;
use mesofield_physics::dataset::{Dataset, GeneratorConfig, GrfFamily, LftsFamily, ScftFamily};
use mesofield_physics::io::write_atomic;

use crate::datasets::load_or_generate;
use crate::figure::{Figure, FigureContext, Produced};
use crate::operator_eval::{draw_examples, eval_pictures, interrupted, loss_curve};
use crate::progress::Reporter;
use crate::solvers::Backend;
use crate::spec::Workspace;

/// One dataset of an experiment file: its families and seed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetSpec {
    #[serde(default)]
    pub grf: usize,
    #[serde(default)]
    pub scft_runs: usize,
    #[serde(default = "default_snapshots")]
    pub snapshots: usize,
    pub amplitude: Option<[f64; 2]>,
    pub correlation_length: Option<[f64; 2]>,
    pub chi: Option<[f64; 2]>,
    /// ScftFamily::perturbed_copies (absent: none) and its ranges.
    #[serde(default)]
    pub perturbed_copies: usize,
    pub perturbation: Option<[f64; 2]>,
    pub perturbation_length: Option<[f64; 2]>,
    /// Fields visited by L-FTS runs (absent: none).
    pub lfts: Option<LftsSpec>,
    pub seed: u64,
}

fn default_snapshots() -> usize {
    8
}

/// L-FTS runs from random starts: chi uniform and B log-uniform per run.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LftsSpec {
    pub runs: usize,
    #[serde(default = "default_snapshots")]
    pub snapshots: usize,
    pub chi: [f64; 2],
    /// LO, HI (equal for one B).
    pub beads_per_cell: [f64; 2],
    #[serde(default = "default_lfts_steps")]
    pub steps: usize,
    #[serde(default = "default_lfts_step_size")]
    pub step_size: f64,
}

fn default_lfts_steps() -> usize {
    400
}

fn default_lfts_step_size() -> f64 {
    0.05
}

impl LftsSpec {
    fn family(&self) -> LftsFamily {
        LftsFamily::with_beads_per_cell(
            self.beads_per_cell,
            LftsFamily {
                runs: self.runs,
                snapshots_per_run: self.snapshots,
                chi: self.chi,
                steps: self.steps,
                step_size: self.step_size,
                ..Default::default()
            },
        )
    }
}

/// Evaluation sets from independent L-FTS runs, one per B: the fields the
/// sampler's inner loop gives the operator.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LftsEvalSpec {
    pub runs: usize,
    #[serde(default = "default_snapshots")]
    pub snapshots: usize,
    pub chi: [f64; 2],
    pub beads_per_cell: Vec<f64>,
    #[serde(default = "default_lfts_steps")]
    pub steps: usize,
    #[serde(default = "default_lfts_step_size")]
    pub step_size: f64,
    pub seed: u64,
}

impl LftsEvalSpec {
    /// One generator per B, each with its own seed (seed + index).
    fn generators(&self, grid: [usize; 2]) -> Vec<(f64, GeneratorConfig)> {
        self.beads_per_cell
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let lfts = LftsSpec {
                    runs: self.runs,
                    snapshots: self.snapshots,
                    chi: self.chi,
                    beads_per_cell: [b, b],
                    steps: self.steps,
                    step_size: self.step_size,
                };
                let config = GeneratorConfig {
                    grid,
                    seed: self.seed + i as u64,
                    grf: GrfFamily::default(),
                    scft: ScftFamily::default(),
                    lfts: lfts.family(),
                };
                (b, config)
            })
            .collect()
    }
}

impl SetSpec {
    pub fn generator(&self, grid: [usize; 2]) -> GeneratorConfig {
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
            lfts: self.lfts.as_ref().map(LftsSpec::family).unwrap_or_default(),
        }
    }
}

/// `experiments/fig3.toml`'s tables.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fig3Spec {
    pub grid: [usize; 2],
    pub zero_shot_grid: [usize; 2],
    pub train: SetSpec,
    pub valid: SetSpec,
    pub test: SetSpec,
    pub ood: SetSpec,
    pub zero_shot: SetSpec,
    /// Evaluation sets from L-FTS runs, by B (absent: none).
    pub lfts_eval: Option<LftsEvalSpec>,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// The loss's e_ref (TrainConfig::tail_scale); 0 or absent: plain mean.
    #[serde(default)]
    pub tail_scale: f64,
    /// TrainConfig::grad_clip_norm; 0 or absent: off.
    #[serde(default)]
    pub grad_clip_norm: f64,
    /// FnoConfig::log_density; absent: softplus densities.
    #[serde(default)]
    pub log_density: bool,
    /// TrainConfig::patience; 0 or absent: every epoch.
    #[serde(default)]
    pub patience: usize,
    pub width: usize,
    pub layers: usize,
    pub modes: usize,
    pub seed: u64,
}

impl Fig3Spec {
    pub fn train_config(&self) -> TrainConfig {
        let fno = FnoConfig::new()
            .with_width(self.width)
            .with_layers(self.layers)
            .with_modes_x(self.modes)
            .with_modes_y(self.modes)
            .with_log_density(self.log_density);
        TrainConfig::new(fno)
            .with_epochs(self.epochs)
            .with_batch(self.batch)
            .with_learning_rate(self.learning_rate)
            .with_tail_scale(self.tail_scale)
            .with_grad_clip_norm(self.grad_clip_norm)
            .with_patience(self.patience)
            .with_seed(self.seed)
    }
}

/// The three evaluation sets, in the report's order: label, file prefix.
pub const EVAL_SETS: [(&str, &str); 3] =
    [("test (in distribution)", "test_"), ("out of distribution", "ood_"), ("zero-shot resolution", "zero_shot_")];

#[derive(Clone, Debug, Serialize)]
pub struct Fig3Report {
    pub figure: String,
    pub variant: String,
    pub epochs: usize,
    pub best_epoch: usize,
    pub best_valid: f64,
    pub checkpoint: PathBuf,
    /// By set label (`EVAL_SETS`, then the L-FTS sets by B).
    pub sets: BTreeMap<String, EvalReport>,
    /// The labels of `sets` in the table's order.
    pub set_order: Vec<String>,
    #[serde(skip)]
    pub table: String,
    #[serde(skip)]
    pub out_dir: PathBuf,
}

struct Sets {
    train: Dataset,
    valid: Dataset,
    /// Label, file prefix, data: `EVAL_SETS`, then the L-FTS sets by B.
    eval: Vec<(String, String, Dataset)>,
}

fn datasets(spec: &Fig3Spec, dir: &Path, model: &ChainModel, reporter: &Reporter) -> Result<Sets> {
    let get = |file: &str, set: &SetSpec, grid: [usize; 2], what: &str| {
        load_or_generate(&dir.join(file), model, &set.generator(grid), what, reporter)
    };
    let mut eval = Vec::new();
    for ((label, prefix), (set, grid)) in
        EVAL_SETS.iter().zip([(&spec.test, spec.grid), (&spec.ood, spec.grid), (&spec.zero_shot, spec.zero_shot_grid)])
    {
        let what = prefix.trim_end_matches('_');
        eval.push((label.to_string(), prefix.to_string(), get(&format!("{what}.safetensors"), set, grid, what)?));
    }
    if let Some(lfts) = &spec.lfts_eval {
        for (b, generator) in lfts.generators(spec.grid) {
            let what = format!("lfts_b{b}");
            let data = load_or_generate(&dir.join(format!("{what}.safetensors")), model, &generator, &what, reporter)?;
            eval.push((format!("L-FTS runs, B = {b}"), format!("{what}_"), data));
        }
    }
    Ok(Sets {
        train: get("train.safetensors", &spec.train, spec.grid, "train")?,
        valid: get("valid.safetensors", &spec.valid, spec.grid, "valid")?,
        eval,
    })
}

/// Datasets, training, evaluation and the figure; `stop` interrupts the
/// training (the run then ends with an error that says how to continue).
pub fn fig3(
    spec: &Fig3Spec,
    name: &str,
    workspace: &Workspace,
    backend: Backend,
    stop: &Stop,
    reporter: &Reporter,
) -> Result<Fig3Report> {
    let device = backend.device()?;
    let model = ChainModel::default();
    let data_dir = workspace.datasets(name);
    let ckpt_dir = workspace.checkpoints(name);
    let out_dir = workspace.experiments(name);
    std::fs::create_dir_all(&data_dir)?;
    std::fs::create_dir_all(&out_dir)?;
    let sets = datasets(spec, &data_dir, &model, reporter)?;

    let config = spec.train_config();
    set_aside_stale_checkpoints(&ckpt_dir, &config, &sets.train, &device, reporter)?;
    let stage = reporter.stage(1, "train");
    // Resumes from `last` when a previous run was interrupted; a finished run returns at once.
    let state = train(&sets.train, &sets.valid, config, &ckpt_dir, true, stop, &device, &mut |p| match p {
        Progress::Batch { epoch, done, total, loss } => {
            stage.set_length(total as u64);
            stage.set_position(done as u64);
            stage.set_message(format!("train epoch {} loss {loss:.4}", epoch + 1));
        }
        Progress::Epoch(m) => stage.println(format!(
            "epoch {:>3} train {:.4} valid mean {:.4} median {:.4} {:.0} samples/s",
            m.epoch, m.train_loss, m.valid_error_mean, m.valid_error_median, m.samples_per_second
        )),
    })?;
    stage.finish();
    loss_curve(&ckpt_dir)?;
    interrupted(&state, spec.epochs, &ckpt_dir, "run the same command again to continue")?;
    std::fs::copy(ckpt_dir.join("loss.png"), out_dir.join("loss.png")).context("copying the loss curve")?;

    let best = ckpt_dir.join("best");
    let mut reports = BTreeMap::new();
    let mut table = String::from(
        "| set | samples | grid | contrast-rel. A median | p95 | worst | contrast-rel. B median | p95 | rel. L2 median | operator fields/s | exact fields/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (label, prefix, set) in &sets.eval {
        let op = FnoOperator::load(&best, set.mx, set.my, &device)?;
        let r = evaluate(&op, set);
        eval_pictures(set, &r, &out_dir, prefix)?;
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
        if reports.is_empty() {
            draw_examples(set, &r, &out_dir.join("fig3.png"))?;
        }
        reports.insert(label.to_string(), r);
    }
    let report = Fig3Report {
        figure: "fig3".into(),
        variant: name.into(),
        epochs: state.epoch,
        best_epoch: state.best_epoch,
        best_valid: state.best_valid,
        checkpoint: best,
        sets: reports,
        set_order: sets.eval.iter().map(|(label, _, _)| label.clone()).collect(),
        table,
        out_dir: out_dir.clone(),
    };
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    write_atomic(&out_dir.join("table.md"), report.table.as_bytes())?;
    Ok(report)
}

/// A `last` checkpoint trained with other settings or on another training
/// set would be resumed as if it were this run's: move the folder aside to
/// `NAME.previous` (replacing an older one) and start over.
fn set_aside_stale_checkpoints(
    dir: &Path,
    config: &TrainConfig,
    train_set: &Dataset,
    device: &Device,
    reporter: &Reporter,
) -> Result<()> {
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
    reporter.note(&format!("{} holds {why}: moved to {}, training from the start", dir.display(), aside.display()));
    Ok(())
}

/// The neural operator against the exact solver.
pub struct Fig3;

impl Figure for Fig3 {
    fn name(&self) -> &'static str {
        "fig3"
    }
    fn about(&self) -> &'static str {
        "the neural operator against the exact solver: datasets, training, evaluation"
    }
    fn run(&self, ctx: &FigureContext) -> Result<Produced> {
        let name = ctx.variant(self.name());
        let r = fig3(&ctx.spec()?, &name, ctx.workspace, ctx.backend, ctx.stop, ctx.reporter)?;
        let text = r.set_order.iter().map(|label| format!("{label}:\n{}", r.sets[label].text())).collect();
        Ok(Produced { text, out_dir: r.out_dir })
    }
}
