//! Fig. 4 (with Fig. 2): learning from two samples. L-FTS patterns at one
//! chi (`datasets/NAME/pool.safetensors`), chi inferred from two of them
//! (and over several independent pairs), every test pattern made noisy at
//! each noise level and recovered by each method (action minimisation with
//! the exact solver and with the operator, plain SCF relaxation, the oracle
//! blur, a Wiener filter, dense and convolutional RBMs trained on 10 and 80
//! patterns, with and without augmentation), the RBMs' validation and
//! memorisation protocol, and the extrapolation to other chi with no new
//! data. Stages: `pool`, `chi_pairs`, `rbms` (training and the protocol),
//! `methods` (the comparison and its pictures), `extrapolation`.

mod chi_pairs;
mod extrapolation;
mod fig2;
mod methods;
mod operators;
mod pool;
mod rbms;

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use mesofield_inference::gbrbm::{Connectivity, Negatives};
use mesofield_inference::gradient::LinearResponse;
use mesofield_physics::chi::ChiEstimate;
use mesofield_physics::io::write_atomic;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::stats::mean_std;
use mesofield_physics::{ChainModel, ExactSolver, Grid};

pub use extrapolation::{ExtrapolationRow, PhysicsPeak, RbmPeak, SqPeak};
pub use fig2::{Fig2Report, fig2};
pub use methods::{LevelErrors, MethodRow, RunRecord};
pub use rbms::{Denoiser, RbmAssessment, RbmProtocol};

use mesofield_fno::training::Stop;

use crate::figure::{Figure, FigureContext, Produced};
use crate::progress::Reporter;
use crate::roles::density::operator_with_gradient;
use crate::solvers::Backend;
use crate::spec::Workspace;

/// `experiments/fig4.toml`'s tables.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fig4Spec {
    pub grid: [usize; 2],
    pub chi: f64,
    pub beads_per_cell: f64,
    pub step_size: f64,
    pub steps: usize,
    /// Independent runs whose last snapshot is a test pattern.
    pub test_runs: usize,
    /// Independent pairs of runs, each pair one chi inference.
    pub chi_pairs: usize,
    /// Further runs for the data-driven baselines' training samples.
    pub pool_runs: usize,
    /// Snapshots kept per run (spread over the second half, the last included).
    pub snapshots: usize,
    pub noise_levels: Vec<f64>,
    pub seed: u64,
    pub max_iterations: usize,
    /// A trained operator for the operator column (relative to the project root); skipped if absent.
    pub operator: String,
    /// Training-set sizes of the RBM baselines (sizes beyond the pool are skipped).
    pub rbm_sizes: Vec<usize>,
    /// `dense` (fully connected, `rbm_hidden` units) and/or `convolutional`
    /// (`rbm_filters` periodic filters of `rbm_filter_size`^2 points).
    pub rbm_kinds: Vec<Connectivity>,
    /// Each kind trained without (false) and/or with (true) every periodic
    /// shift and symmetry of the box.
    pub rbm_augment: Vec<bool>,
    pub rbm_hidden: usize,
    pub rbm_filters: usize,
    pub rbm_filter_size: usize,
    /// Adam updates of 16 patterns.
    pub rbm_updates: usize,
    pub rbm_learning_rate: f64,
    /// Per kind: where the model term's chains start each update
    /// (`persistent`: PCD; `noise`: CD from noise) and their Gibbs sweeps.
    pub rbm_negatives: PerKind<Negatives>,
    pub rbm_gibbs_steps: PerKind<usize>,
    /// Posterior denoising: Gibbs chains per pattern and sweeps (the mean
    /// over the second half).
    pub rbm_posterior_chains: usize,
    pub rbm_posterior_sweeps: usize,
    /// Validation patterns of the RBM protocol (the chi-pair runs' last
    /// snapshots, at most 2 chi_pairs).
    pub rbm_validation_patterns: usize,
    /// Other interaction strengths to sample at with no new data.
    pub extrapolate: Vec<f64>,
    /// The physics denoise operator (`learn` from the first chi pair's two
    /// samples): clean L-FTS patterns it makes at the inferred chi (0: no
    /// such row), and the burn-in steps of each (absent: `learn`'s plateau of H).
    #[serde(default)]
    pub learn_patterns: usize,
    #[serde(default)]
    pub learn_burn_in: Option<usize>,
    /// The data-only denoise operators: the same network trained on this
    /// many observed pool patterns each.
    #[serde(default)]
    pub denoiser_sizes: Vec<usize>,
    /// Training epochs of every denoise operator.
    #[serde(default = "default_denoiser_epochs")]
    pub denoiser_epochs: usize,
}

fn default_denoiser_epochs() -> usize {
    crate::learn::LEARN_EPOCHS
}

/// One setting for each kind of RBM.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PerKind<T> {
    pub dense: T,
    pub convolutional: T,
}

impl<T: Copy> PerKind<T> {
    pub fn of(&self, kind: Connectivity) -> T {
        match kind {
            Connectivity::Dense => self.dense,
            Connectivity::Convolutional => self.convolutional,
        }
    }
}

fn chains(spec: &Fig4Spec, kind: Connectivity) -> String {
    let k = spec.rbm_gibbs_steps.of(kind);
    match spec.rbm_negatives.of(kind) {
        Negatives::Persistent => format!("PCD-{k}"),
        Negatives::Noise => format!("CD-{k} from noise"),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Fig4Report {
    pub figure: String,
    pub variant: String,
    pub chi_true: f64,
    /// chi inferred from the first pair: the one denoising uses.
    pub chi_used: f64,
    pub chi_pairs: Vec<ChiEstimate>,
    pub chi_mean: f64,
    pub chi_spread: f64,
    pub beads_per_cell: f64,
    pub grid: [usize; 2],
    pub operator: Option<String>,
    pub methods: Vec<MethodRow>,
    pub rbm_protocol: RbmProtocol,
    pub runs: Vec<RunRecord>,
    pub extrapolation: Vec<ExtrapolationRow>,
    #[serde(skip)]
    pub table: String,
    #[serde(skip)]
    pub out_dir: PathBuf,
}

/// The whole pipeline; writes `out_dir/{fig4.png, fig2.png, table.md,
/// table.json, report.json, recovered.safetensors}` (`reproduce`:
/// `experiments/denoise[-quick]`).
pub fn fig4(
    spec: &Fig4Spec,
    name: &str,
    out_dir: PathBuf,
    workspace: &Workspace,
    backend: Backend,
    stop: &Stop,
    reporter: &Reporter,
) -> Result<Fig4Report> {
    if spec.test_runs == 0 || spec.chi_pairs == 0 || spec.snapshots == 0 || spec.noise_levels.is_empty() {
        bail!("{name}: test_runs, chi_pairs, snapshots and noise_levels must not be empty");
    }
    let model = ChainModel::default();
    std::fs::create_dir_all(&out_dir)?;
    let pool = pool::Pool::load_or_generate(spec, &workspace.datasets(name), &model, reporter)?;
    let grid = Grid::for_model(&model, pool.data.mx, pool.data.my)?;
    let exact = ExactSolver::new(&model, grid)?;
    let plan = SpectralPlan::new(grid);

    let pair_chi = chi_pairs::chi_from_pairs(spec, &pool, &exact, &plan)?;
    let chi_values: Vec<f64> = pair_chi.iter().map(|e| e.chi).collect();
    let (chi_mean, chi_spread) = mean_std(&chi_values);
    let chi = chi_values[0];
    reporter.note(&format!(
        "chi from two samples: {chi:.4} (over {} pairs {chi_mean:.4} +- {chi_spread:.4}; true {})",
        spec.chi_pairs, spec.chi
    ));

    let operator_dir = workspace.path(&spec.operator);
    let operator = if operator_dir.join("config.json").exists() {
        Some(operator_with_gradient(&operator_dir, backend, &model, &grid)?)
    } else {
        reporter
            .note(&format!("{}: no trained operator there, the operator column is skipped", operator_dir.display()));
        None
    };
    let rbms = rbms::train_rbms(spec, &pool, grid, &workspace.checkpoints(name), reporter)?;
    let (tests, validation) = pool.tests_and_validation(spec)?;
    let protocol = rbms::assess(spec, &pool, &rbms, &validation, &tests, &plan, reporter)?;
    let linear = LinearResponse::new(&model, grid);
    let solvers = methods::Physics { exact: &exact, linear: &linear, operator: operator.as_ref() };
    let denoisers = operators::denoisers(spec, &pool, &model, &workspace.checkpoints(name), stop, reporter)?;
    let comparison = methods::compare(spec, &pool, &tests, chi, &solvers, &denoisers, &rbms, &plan, reporter)?;

    let mut table = methods::table(spec, &comparison, tests.len(), chi, grid);
    table.push_str(&settings_note(spec, &chi_values, (chi_mean, chi_spread), &protocol));
    table.push_str(&operators::note(spec, &denoisers, &comparison.rows(spec)));
    let rows = comparison.rows(spec);
    let unseen = |method: &str, li: usize| rows.iter().find(|r| r.method == method).map(|r| r.levels[li].mean);
    table.push_str(&rbms::table(spec, &protocol, &unseen));
    let fig2 = protocol.chosen_methods();
    if let Some(picture) = &comparison.picture {
        methods::draw(picture, &fig2, &model, chi, grid, &out_dir)?;
    }
    // The chosen variant at the largest training set.
    let shown = fig2.first().and_then(|m| rbms.iter().find(|r| Denoiser::ALL.iter().any(|d| d.method(&r.label) == *m)));
    let extrapolation = extrapolation::extrapolate(spec, chi, &tests, &pool, &exact, shown, &plan, reporter)?;
    table.push_str(&extrapolation::table(spec, &extrapolation));

    let report = Fig4Report {
        figure: "fig4".into(),
        variant: name.into(),
        chi_true: spec.chi,
        chi_used: chi,
        chi_pairs: pair_chi,
        chi_mean,
        chi_spread,
        beads_per_cell: spec.beads_per_cell,
        grid: [grid.mx, grid.my],
        operator: operator.as_ref().map(|_| spec.operator.clone()),
        methods: rows,
        rbm_protocol: protocol,
        runs: comparison.runs,
        extrapolation,
        table,
        out_dir: out_dir.clone(),
    };
    write_atomic(&out_dir.join("table.md"), report.table.as_bytes())?;
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    write_atomic(&out_dir.join("table.json"), serde_json::to_string_pretty(&report.methods)?.as_bytes())?;
    Ok(report)
}

/// The table's note: chi over the pairs, and the RBMs' and baselines' settings.
fn settings_note(
    spec: &Fig4Spec,
    chi_values: &[f64],
    (chi_mean, chi_spread): (f64, f64),
    protocol: &RbmProtocol,
) -> String {
    format!(
        "\nchi from two independent samples, over {} pairs: {chi_mean:.4} +- {chi_spread:.4} (true {}; values {:?}).\n\
         RBMs: Gaussian-Bernoulli with the visible sigma fixed at the training patterns' spread; dense with {} hidden units ({}), \
         convolutional with {} periodic filters of {}x{} ({}); {} Adam updates of 16 patterns at learning rate {}; \
         augmented: each pattern at a random periodic shift and symmetry of the box; trained on the first patterns of the pool runs \
         (last snapshots of distinct runs first). Posterior: {} chains, {} sweeps. The oracle blur is tuned on each clean pattern (an upper bound); \
         the Wiener filter and the RBMs' posterior use the noise level estimated from each noisy pattern; Fig. 2 shows {}.\n",
        spec.chi_pairs,
        spec.chi,
        chi_values.iter().map(|c| (c * 1e4).round() / 1e4).collect::<Vec<_>>(),
        spec.rbm_hidden,
        chains(spec, Connectivity::Dense),
        spec.rbm_filters,
        spec.rbm_filter_size,
        spec.rbm_filter_size,
        chains(spec, Connectivity::Convolutional),
        spec.rbm_updates,
        spec.rbm_learning_rate,
        spec.rbm_posterior_chains,
        spec.rbm_posterior_sweeps,
        match protocol.chosen_methods().as_slice() {
            [] => "no RBM".to_string(),
            methods => format!("{} (chosen on the validation patterns)", methods.join(" and ")),
        },
    )
}

/// Denoising from two samples, beside the RBMs.
pub struct Fig4;

impl Figure for Fig4 {
    fn name(&self) -> &'static str {
        "fig4"
    }
    fn about(&self) -> &'static str {
        "denoising from two samples by action minimisation, beside the RBMs (writes Fig. 2's picture too)"
    }
    fn run(&self, ctx: &FigureContext) -> Result<Produced> {
        let out_dir = ctx.workspace.experiments(&ctx.variant("denoise"));
        let r =
            fig4(&ctx.spec()?, &ctx.variant(self.name()), out_dir, ctx.workspace, ctx.backend, ctx.stop, ctx.reporter)?;
        Ok(Produced { text: r.table, out_dir: r.out_dir })
    }
}

/// The RBM baseline on Fig. 4's experiment file and data (`fig2`).
pub struct Fig2;

impl Figure for Fig2 {
    fn name(&self) -> &'static str {
        "fig2"
    }
    fn about(&self) -> &'static str {
        "the RBM baselines alone: trained, chosen and scored as in Fig. 4, on its data (fig4.toml)"
    }
    fn spec_file(&self) -> &'static str {
        "fig4"
    }
    fn run(&self, ctx: &FigureContext) -> Result<Produced> {
        let out_dir = ctx.workspace.experiments(&ctx.variant(self.name()));
        let r = fig2(&ctx.spec()?, &ctx.variant("fig4"), out_dir, ctx.workspace, ctx.reporter)?;
        Ok(Produced { text: r.table, out_dir: r.out_dir })
    }
}
