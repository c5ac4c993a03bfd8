//! `mesofield`: the command line of the mesofield framework.

// Training allocates and frees tensors of megabytes per step; glibc's malloc
// returns them to the kernel each time (a quarter of the run in page faults),
// mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod denoise_cmd;
mod dynamics_cmd;
mod dynamics_fig;
mod fig1;
mod fig4;
mod observe;
mod operator_cmds;
mod pattern_cmds;
mod plot;
mod rbm_cmd;
mod reproduce;
mod sample;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use mesofield_physics::assisted::{AssistConfig, run_assisted_scft};
use mesofield_physics::dataset::{
    ChannelStats, Dataset, GeneratorConfig, GrfFamily, LftsFamily, ScftFamily, Shard, generate,
};
use mesofield_physics::fields::InitialField;
use mesofield_physics::io::{FieldFile, TensorData, to_safetensors, write_atomic};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, ExactSolver, Grid, spinodal, spinodal_on_grid};

#[derive(Parser)]
#[command(
    name = "mesofield",
    version,
    about = "AB diblock field theory and neural operators: exact solver, SCFT, datasets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exact solve: read `w` [n, 2, Mx, My], write `phi` and `log_q` (float64).
    Solve(SolveArgs),
    /// Self-consistent field theory: the saddle point at a given chi.
    Scft(ScftArgs),
    /// The RPA spinodal of the homogeneous melt (continuous q, and on a grid).
    Spinodal(SpinodalArgs),
    /// Generate a (w, phi) dataset with the exact solver.
    Generate(GenerateArgs),
    /// Inspect or merge datasets.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// PNG picture of a field or density.
    Plot(PlotArgs),
    /// Measure exact-solver throughput and SCFT timing.
    Bench(BenchArgs),
    /// Train a Fourier neural operator on exact (w, phi) pairs.
    Train(operator_cmds::TrainArgs),
    /// Compare an operator's predictions with the exact densities of a dataset.
    Eval(operator_cmds::EvalArgs),
    /// Operator prediction with the contract of `solve`.
    Predict(operator_cmds::PredictArgs),
    /// Time the operator: training step, inference, spectral convolution (synthetic data).
    BenchOperator(operator_cmds::BenchOperatorArgs),
    /// Langevin field-theoretic simulation (L-FTS) into a run folder.
    Sample(sample::SampleArgs),
    /// Add Gaussian (and salt-and-pepper) noise to clean patterns, seeded.
    Noise(pattern_cmds::NoiseArgs),
    /// Infer chi from clean patterns: the inverse map, then the exchange-field condition.
    InferChi(pattern_cmds::InferChiArgs),
    /// Recover patterns from noisy observations by action minimisation (chi given or inferred).
    Denoise(denoise_cmd::DenoiseArgs),
    /// Pattern dynamics: d phi_A/dt = div(M grad mu) (paper eq. 26) into a run folder.
    Dynamics(dynamics_cmd::DynamicsArgs),
    /// The restricted Boltzmann machine baseline: train, denoise.
    #[command(subcommand)]
    Rbm(rbm_cmd::RbmCommand),
    /// Reproduce a figure of the paper end to end (fig3).
    Reproduce(reproduce::ReproduceArgs),
}

#[derive(Args, Clone, Debug, Default)]
pub struct Common {
    /// Print the figures as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: RAYON_NUM_THREADS, else all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args)]
struct SolveArgs {
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    output: PathBuf,
    /// Model file (TOML); default: the input's metadata, else the paper's system.
    #[arg(long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ScftArgs {
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, allow_negative_numbers = true)]
    chi: f64,
    /// random[:AMP] | lamellar[:N] | hex:NX:NY (cylinders) | square:NX:NY (dots) | FILE.safetensors (its first `w`).
    #[arg(long, default_value = "random")]
    init: String,
    /// Grid MXxMY (a FILE init brings its own).
    #[arg(long, default_value = "32x32")]
    grid: String,
    /// Residual tolerance (max-norm of both SCF residuals).
    #[arg(long, default_value_t = 1e-8)]
    tol: f64,
    #[arg(long, default_value_t = 5000)]
    max_iterations: usize,
    /// Seed of a random initial field.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    output: Option<PathBuf>,
    /// exact, or operator:CHECKPOINT: iterate on a trained operator while its
    /// residual falls, then polish with the exact solver to --tol.
    #[arg(long, default_value = "exact")]
    solver: String,
    /// cpu or wgpu, for an operator.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// With an operator: an inner loop on the corrected operator stops once
    /// its residual has not fallen by 10% for this many iterations.
    #[arg(long, default_value_t = 50)]
    stall_window: usize,
    /// With an operator: Anderson mixing over this many past anchors of the
    /// outer (defect-correction) steps (0: none) [default: 5].
    #[arg(long)]
    outer_history: Option<usize>,
    /// With an operator: outer steps continue while each divides the exact
    /// residual by more than this factor [default: 1, i.e. while it falls].
    #[arg(long)]
    outer_gain: Option<f64>,
    /// With an operator: within this max-norm distance of an anchor the
    /// corrected operator answers with its scaled linear response (0: off)
    /// [default: 0.001].
    #[arg(long)]
    linear_below: Option<f64>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct SpinodalArgs {
    #[arg(long)]
    model: Option<PathBuf>,
    /// Also report the spinodal restricted to this grid's wave vectors.
    #[arg(long)]
    grid: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct GenerateArgs {
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, default_value = "32x32")]
    grid: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Gaussian-random-field samples.
    #[arg(long, default_value_t = 0)]
    grf: usize,
    /// GRF amplitude range LO,HI (standard deviation of each channel, kT per bead).
    #[arg(long, default_value = "0.001,0.02")]
    amplitude: String,
    /// GRF correlation-length range LO,HI (box units).
    #[arg(long, default_value = "0.3,1.6")]
    correlation_length: String,
    /// SCFT runs from random starts (each gives --snapshots samples).
    #[arg(long, default_value_t = 0)]
    scft_runs: usize,
    #[arg(long, default_value_t = 8)]
    snapshots: usize,
    /// chi range LO,HI of the SCFT runs.
    #[arg(long, default_value = "0.1,1.0")]
    chi: String,
    #[arg(long, default_value_t = 400)]
    scft_iterations: usize,
    /// Perturbed copies of each SCFT snapshot (family scft_perturbed): they
    /// teach an operator the response near the SCFT path.
    #[arg(long, default_value_t = 0)]
    perturbed_copies: usize,
    /// Amplitude range LO,HI of the perturbations (kT per bead).
    #[arg(long, default_value = "0.001,0.01")]
    perturbation: String,
    /// Correlation-length range LO,HI of the perturbations (box units).
    #[arg(long, default_value = "0.15,1.0")]
    perturbation_length: String,
    /// L-FTS runs from random starts (each gives --snapshots samples from its second half).
    #[arg(long, default_value_t = 0)]
    lfts_runs: usize,
    /// chi range LO,HI of the L-FTS runs.
    #[arg(long, default_value = "0.1,0.8")]
    lfts_chi: String,
    #[arg(long, default_value_t = 400)]
    lfts_steps: usize,
    #[arg(long, default_value_t = 100.0)]
    lfts_beads_per_cell: f64,
    #[arg(long, default_value_t = 0.02)]
    lfts_step_size: f64,
    /// Make shard i of n (0-based), e.g. 3/10.
    #[arg(long)]
    shard: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand)]
enum DatasetCommand {
    /// Shapes, parameters and field/density statistics.
    Info {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Join shards into the file the unsharded run makes.
    Merge {
        #[arg(long)]
        out: PathBuf,
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct PlotArgs {
    #[arg(long)]
    input: PathBuf,
    /// Tensor to draw: w or phi.
    #[arg(long, default_value = "phi")]
    tensor: String,
    #[arg(long, default_value_t = 0)]
    sample: usize,
    /// 0 = A, 1 = B.
    #[arg(long, default_value_t = 0)]
    channel: usize,
    /// Fixed colour range LO,HI (default: the field's min and max).
    #[arg(long)]
    range: Option<String>,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Solves per measurement at batch 64 (batch 1 uses the same count).
    #[arg(long, default_value_t = 256)]
    solves: usize,
    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // clap's own report spans several lines; keep its first, which says what is wrong.
            let text = e.render().to_string();
            // A first line ending in ':' continues on the next ones (the missing arguments).
            let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let mut first = lines.first().copied().unwrap_or("invalid arguments").to_string();
            if first.ends_with(':') {
                let more: Vec<&str> = lines[1..].iter().take_while(|l| !l.starts_with("Usage")).copied().collect();
                first = format!("{first} {}", more.join(", "));
            }
            let first = first.trim_start_matches("error: ");
            eprintln!("error: {first} (see mesofield --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Solve(a) => with_threads(a.common.threads, || cmd_solve(&a)),
        Command::Scft(a) => with_threads(a.common.threads, || cmd_scft(&a)),
        Command::Spinodal(a) => cmd_spinodal(&a),
        Command::Generate(a) => with_threads(a.common.threads, || cmd_generate(&a)),
        Command::Dataset(DatasetCommand::Info { file, json }) => cmd_info(&file, json),
        Command::Dataset(DatasetCommand::Merge { out, shards, json }) => cmd_merge(&out, &shards, json),
        Command::Plot(a) => cmd_plot(&a),
        Command::Bench(a) => with_threads(a.common.threads, || cmd_bench(&a)),
        Command::BenchOperator(a) => with_threads(a.common.threads, || operator_cmds::cmd_bench_operator(&a)),
        Command::Sample(a) => with_threads(a.common.threads, || sample::cmd_sample(&a)),
        Command::Train(a) => with_threads(a.common.threads, || operator_cmds::cmd_train(&a)),
        Command::Eval(a) => with_threads(a.common.threads, || operator_cmds::cmd_eval(&a)),
        Command::Predict(a) => with_threads(a.common.threads, || operator_cmds::cmd_predict(&a)),
        Command::Noise(a) => pattern_cmds::cmd_noise(&a),
        Command::InferChi(a) => with_threads(a.common.threads, || pattern_cmds::cmd_infer_chi(&a)),
        Command::Denoise(a) => with_threads(a.common.threads, || denoise_cmd::cmd_denoise(&a)),
        Command::Dynamics(a) => with_threads(a.common.threads, || dynamics_cmd::cmd_dynamics(&a)),
        Command::Rbm(c) => rbm_cmd::cmd_rbm(&c),
        Command::Reproduce(a) => with_threads(a.threads, || reproduce::cmd_reproduce(&a)),
    }
}

fn with_threads(threads: Option<usize>, f: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    match threads {
        None => f(),
        Some(0) => bail!("--threads must be >= 1"),
        Some(n) => {
            rayon::ThreadPoolBuilder::new().num_threads(n).build().context("building the thread pool")?.install(f)
        }
    }
}

pub(crate) fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn load_model(path: Option<&Path>) -> Result<ChainModel> {
    match path {
        Some(p) => Ok(ChainModel::from_toml_file(p)?),
        None => Ok(ChainModel::default()),
    }
}

/// --model, else the input file's metadata `model`, else the defaults.
fn model_for_input(model: Option<&Path>, file: &FieldFile) -> Result<ChainModel> {
    if model.is_some() {
        return load_model(model);
    }
    if let Some(meta) = file.metadata()? {
        if let Some(value) = meta.get("model") {
            return ChainModel::from_json_value(value)
                .with_context(|| format!("{}: the model in its metadata", file.path.display()));
        }
    }
    Ok(ChainModel::default())
}

pub(crate) fn parse_range(text: &str, what: &str) -> Result<[f64; 2]> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let parse = |s: &str| s.parse::<f64>().map_err(|_| anyhow!("{what}: cannot parse {text:?} as LO,HI"));
    match parts.as_slice() {
        [one] => {
            let v = parse(one)?;
            Ok([v, v])
        }
        [lo, hi] => Ok([parse(lo)?, parse(hi)?]),
        _ => bail!("{what}: expected LO,HI, got {text:?}"),
    }
}

pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON serialises"));
}

/// The file `solve` and `predict` write: `w`, `phi` and, where known, `log_q`,
/// with the model and the solver in the metadata.
pub(crate) fn write_solve_output(
    path: &Path,
    [n, mx, my]: [usize; 3],
    w: &[f64],
    phi: &[f64],
    log_q: Option<&[f64]>,
    model: &ChainModel,
    solver: &str,
) -> Result<()> {
    let shape = vec![n, 2, mx, my];
    let meta = json!({"format": "mesofield-solve", "mesofield_version": env!("CARGO_PKG_VERSION"), "model": model, "solver": solver});
    let mut tensors = vec![("w", shape.clone(), TensorData::F64(w)), ("phi", shape, TensorData::F64(phi))];
    if let Some(log_q) = log_q {
        tensors.push(("log_q", vec![n], TensorData::F64(log_q)));
    }
    write_atomic(path, &to_safetensors(&tensors, &meta.to_string())?)?;
    Ok(())
}

fn cmd_solve(a: &SolveArgs) -> Result<()> {
    let file = FieldFile::open(&a.input)?;
    let model = model_for_input(a.model.as_deref(), &file)?;
    let (n, mx, my, w) = file.fields("w")?;
    let grid = Grid::for_model(&model, mx, my)?;
    let solver = ExactSolver::new(&model, grid)?;
    let stride = 2 * grid.points();
    let mut phi = vec![0.0; w.len()];
    let mut log_q = vec![0.0; n];
    let bar = progress_bar(n as u64, "solve");
    let start = Instant::now();
    let chunk = 64;
    for (c, (w_chunk, (phi_chunk, lq_chunk))) in
        w.chunks(chunk * stride).zip(phi.chunks_mut(chunk * stride).zip(log_q.chunks_mut(chunk))).enumerate()
    {
        solver.solve_batch(w_chunk, phi_chunk, lq_chunk).map_err(|e| match e {
            mesofield_physics::Error::Domain { sample, cause, more } => anyhow!(
                "{}: {}",
                a.input.display(),
                mesofield_physics::Error::Domain { sample: sample + c * chunk, cause, more }
            ),
            other => other.into(),
        })?;
        bar.inc(lq_chunk.len() as u64);
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    write_solve_output(&a.output, [n, mx, my], &w, &phi, Some(&log_q), &model, "exact")?;
    let report = json!({"samples": n, "grid": [mx, my], "seconds": seconds, "solves_per_second": n as f64 / seconds});
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "solved {n} fields on {mx}x{my} in {seconds:.3} s ({:.1} solves/s) -> {}",
            n as f64 / seconds,
            a.output.display()
        );
    }
    Ok(())
}

/// Starting fields from `--init` (a built-in on `--grid`, or a file's first
/// `w`, whose metadata gives the model unless `--model` does), with the model and grid.
pub(crate) fn initial_fields(
    init: &str,
    grid: &str,
    model_path: Option<&Path>,
    chi: f64,
    seed: u64,
) -> Result<(ChainModel, Grid, Vec<f64>)> {
    let mut model = load_model(model_path)?;
    match InitialField::parse(init) {
        Some(field) => {
            let field = field?;
            let (mx, my) = Grid::parse_size(grid)?;
            let grid = Grid::for_model(&model, mx, my)?;
            let mut rng = StreamRng::new(seed, 0);
            let w = field.fields(&model, &grid, chi, &mut rng);
            Ok((model, grid, w))
        }
        None => {
            let path = Path::new(init);
            if !path.exists() {
                bail!(
                    "--init {init:?} is neither a built-in (random[:AMP], lamellar[:N], hex:NX:NY, square:NX:NY) nor an existing file"
                );
            }
            let file = FieldFile::open(path)?;
            if model_path.is_none() {
                model = model_for_input(None, &file)?;
            }
            let (_, mx, my, w) = file.fields("w")?;
            let grid = Grid::for_model(&model, mx, my)?;
            if let Some(i) = w[..2 * grid.points()].iter().position(|v| !v.is_finite()) {
                bail!("{}: non-finite field value at index {i}", path.display());
            }
            Ok((model, grid, w[..2 * grid.points()].to_vec()))
        }
    }
}

fn cmd_scft(a: &ScftArgs) -> Result<()> {
    let (model, grid, w0) = initial_fields(&a.init, &a.grid, a.model.as_deref(), a.chi, a.seed)?;
    let config = ScftConfig { chi: a.chi, tolerance: a.tol, max_iterations: a.max_iterations, ..Default::default() };
    let solver = ExactSolver::new(&model, grid)?;
    let operator = operator_cmds::solver_choice(&a.solver, &a.backend, &model, &grid)?;
    let bar = progress_bar(a.max_iterations as u64, "scft");
    let (outcome, assisted) = match &operator {
        None => {
            let outcome = run_scft(&solver, &config, &w0, &mut |it, r| {
                bar.set_position(it as u64);
                bar.set_message(format!("scft residual {r:.2e}"));
            })?;
            (outcome, None)
        }
        Some(op) => {
            let defaults = AssistConfig::new(config.clone());
            let assist = AssistConfig {
                stall_window: a.stall_window.max(1),
                outer_history: a.outer_history.unwrap_or(defaults.outer_history),
                outer_gain: a.outer_gain.unwrap_or(defaults.outer_gain),
                linear_below: a.linear_below.unwrap_or(defaults.linear_below),
                ..defaults
            };
            let run = run_assisted_scft(op, &solver, &assist, &w0, &mut |phase, it, r| {
                bar.set_position(it as u64);
                bar.set_message(format!("scft ({phase}) residual {r:.2e}"));
            })?;
            if let Some(why) = &run.fallback {
                bar.println(format!("trust check: {why}; fell back to exact iterations from the start"));
            }
            (run.outcome.clone(), Some(run))
        }
    };
    bar.finish_and_clear();
    if let Some(out) = &a.output {
        let shape = vec![1, 2, grid.mx, grid.my];
        let meta = json!({"format": "mesofield-scft", "mesofield_version": env!("CARGO_PKG_VERSION"), "model": model, "chi": a.chi,
                          "converged": outcome.converged, "residual": outcome.residual});
        let bytes = to_safetensors(
            &[
                ("w", shape.clone(), TensorData::F64(&outcome.w)),
                ("phi", shape, TensorData::F64(&outcome.phi)),
                ("log_q", vec![1], TensorData::F64(&[outcome.log_q])),
                ("dF", vec![1], TensorData::F64(&[outcome.d_f])),
            ],
            &meta.to_string(),
        )?;
        write_atomic(out, &bytes)?;
    }
    let mut report = json!({
        "chi": a.chi, "dF": outcome.d_f, "iterations": outcome.iterations, "residual": outcome.residual,
        "exact_solves": outcome.solves, "seconds": outcome.seconds, "converged": outcome.converged,
        "log_q": outcome.log_q, "grid": [grid.mx, grid.my], "solver": a.solver, "operator_calls": 0,
    });
    if let Some(run) = &assisted {
        report["exact_solves"] = json!(run.exact_solves);
        report["operator_calls"] = json!(run.operator_calls);
        report["operator_iterations"] = json!(run.operator_iterations);
        report["outer_steps"] = json!(run.outer_steps);
        report["anchor_residuals"] = json!(run.anchor_residuals);
        report["switch_residual"] = json!(run.switch_residual);
        report["fallback"] = json!(run.fallback);
        report["seconds"] = json!(run.seconds);
    }
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "chi {} dF {:.10} per chain, {} iterations, residual {:.2e}, {} exact solves, {} operator calls, {:.3} s{}",
            a.chi,
            outcome.d_f,
            outcome.iterations,
            outcome.residual,
            report["exact_solves"],
            report["operator_calls"],
            report["seconds"].as_f64().unwrap_or(outcome.seconds),
            if outcome.converged { "" } else { " (NOT converged)" }
        );
    }
    if !outcome.converged {
        bail!(
            "SCFT did not reach tolerance {} in {} iterations (residual {:.2e})",
            a.tol,
            a.max_iterations,
            outcome.residual
        );
    }
    Ok(())
}

fn cmd_spinodal(a: &SpinodalArgs) -> Result<()> {
    let model = load_model(a.model.as_deref())?;
    let s = spinodal(&model);
    let mut report = json!({"chi_s": s.chi_s, "chiN_s": s.chi_n_s, "q_star": s.q_star});
    if let Some(g) = &a.grid {
        let (mx, my) = Grid::parse_size(g)?;
        let grid = Grid::for_model(&model, mx, my)?;
        let sg = spinodal_on_grid(&model, &grid);
        report["chi_s_grid"] = json!(sg.chi_s);
        report["chiN_s_grid"] = json!(sg.chi_n_s);
        report["q_grid"] = json!(sg.q_star);
    }
    if a.json {
        print_json(&report);
    } else {
        println!("chi_s {:.8} (chiN_s {:.6}) at q* {:.6} (box units)", s.chi_s, s.chi_n_s, s.q_star);
        if let Some(v) = report.get("chi_s_grid") {
            println!("on the grid: chi_s {} at |q| {}", v, report["q_grid"]);
        }
    }
    Ok(())
}

fn cmd_generate(a: &GenerateArgs) -> Result<()> {
    let model = load_model(a.model.as_deref())?;
    let (mx, my) = Grid::parse_size(&a.grid)?;
    let config = GeneratorConfig {
        grid: [mx, my],
        seed: a.seed,
        grf: GrfFamily {
            samples: a.grf,
            amplitude: parse_range(&a.amplitude, "--amplitude")?,
            correlation_length: parse_range(&a.correlation_length, "--correlation-length")?,
        },
        scft: ScftFamily {
            runs: a.scft_runs,
            snapshots_per_run: a.snapshots,
            chi: parse_range(&a.chi, "--chi")?,
            max_iterations: a.scft_iterations,
            perturbed_copies: a.perturbed_copies,
            perturbation: parse_range(&a.perturbation, "--perturbation")?,
            perturbation_length: parse_range(&a.perturbation_length, "--perturbation-length")?,
            ..Default::default()
        },
        lfts: LftsFamily {
            runs: a.lfts_runs,
            snapshots_per_run: a.snapshots,
            chi: parse_range(&a.lfts_chi, "--lfts-chi")?,
            steps: a.lfts_steps,
            beads_per_cell: a.lfts_beads_per_cell,
            step_size: a.lfts_step_size,
        },
    };
    config.validate()?;
    let shard = a.shard.as_deref().map(Shard::parse).transpose()?;
    let units = shard.map(|s| s.range(config.units()).len()).unwrap_or(config.units());
    let bar = progress_bar(units as u64, "generate");
    let start = Instant::now();
    let dataset = generate(&model, &config, shard, &|done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    dataset.save(&a.out)?;
    let seconds = start.elapsed().as_secs_f64();
    let report = json!({"samples": dataset.len(), "units": units, "rejected": dataset.meta.rejected,
                        "seconds": seconds, "samples_per_second": dataset.len() as f64 / seconds, "out": a.out});
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "{} samples ({} rejected draws) in {seconds:.2} s ({:.1} samples/s) -> {}",
            dataset.len(),
            dataset.meta.rejected,
            dataset.len() as f64 / seconds,
            a.out.display()
        );
    }
    Ok(())
}

fn cmd_info(path: &Path, json_out: bool) -> Result<()> {
    let d = Dataset::load(path)?;
    let m = d.mx * d.my;
    let mut families = serde_json::Map::new();
    for (code, name) in d.meta.families.iter().enumerate() {
        let count = d.family.iter().filter(|&&f| f as usize == code).count();
        if count > 0 {
            families.insert(name.clone(), json!(count));
        }
    }
    let chi = ChannelStats::of(d.chi.iter().copied().filter(|v| v.is_finite()));
    let report = json!({
        "file": path, "samples": d.len(), "grid": [d.mx, d.my], "model": d.meta.model, "generator": d.meta.generator,
        "rejected": d.meta.rejected, "shard": d.meta.shard, "families": families,
        "w_a": ChannelStats::of_channel(&d.w, m, 0), "w_b": ChannelStats::of_channel(&d.w, m, 1),
        "phi_a": ChannelStats::of_channel(&d.phi, m, 0), "phi_b": ChannelStats::of_channel(&d.phi, m, 1),
        "log_q": ChannelStats::of(d.log_q.iter().copied()),
        "chi": if chi.min.is_finite() { json!(chi) } else { json!(null) },
    });
    if json_out {
        print_json(&report);
    } else {
        println!(
            "{}: {} samples on {}x{}, families {}",
            path.display(),
            d.len(),
            d.mx,
            d.my,
            serde_json::Value::Object(families)
        );
        println!("model: {}", serde_json::to_string(&d.meta.model)?);
        for key in ["w_a", "w_b", "phi_a", "phi_b", "log_q", "chi"] {
            let s = &report[key];
            if s.is_null() {
                continue;
            }
            println!(
                "  {key:6} min {:>12} max {:>12} mean {:>12} std {:>12}",
                plot::format_value(s["min"].as_f64().unwrap_or(f64::NAN)),
                plot::format_value(s["max"].as_f64().unwrap_or(f64::NAN)),
                plot::format_value(s["mean"].as_f64().unwrap_or(f64::NAN)),
                plot::format_value(s["std"].as_f64().unwrap_or(f64::NAN))
            );
        }
        println!("  rejected draws: {}", d.meta.rejected);
    }
    Ok(())
}

fn cmd_merge(out: &Path, shards: &[PathBuf], json_out: bool) -> Result<()> {
    let loaded = shards.iter().map(|p| Dataset::load(p)).collect::<Result<Vec<_>, _>>()?;
    let merged = Dataset::merge(loaded)?;
    merged.save(out)?;
    if json_out {
        print_json(
            &json!({"shards": shards.len(), "samples": merged.len(), "rejected": merged.meta.rejected, "out": out}),
        );
        return Ok(());
    }
    println!("merged {} shards, {} samples -> {}", shards.len(), merged.len(), out.display());
    Ok(())
}

fn cmd_plot(a: &PlotArgs) -> Result<()> {
    let file = FieldFile::open(&a.input)?;
    let (n, mx, my, data) = file.fields(&a.tensor)?;
    if a.sample >= n {
        bail!("--sample {} out of range: {} holds {n} samples", a.sample, a.input.display());
    }
    if a.channel > 1 {
        bail!("--channel must be 0 (A) or 1 (B), got {}", a.channel);
    }
    let m = mx * my;
    let offset = (a.sample * 2 + a.channel) * m;
    let values = &data[offset..offset + m];
    if values.iter().any(|v| !v.is_finite()) {
        bail!("{} sample {} channel {} holds non-finite values", a.tensor, a.sample, a.channel);
    }
    let range = a.range.as_deref().map(|r| parse_range(r, "--range")).transpose()?.map(|[lo, hi]| (lo, hi));
    let (lo, hi) = plot::field_png(values, mx, my, range, &a.out)?;
    if a.json {
        print_json(
            &json!({"tensor": a.tensor, "sample": a.sample, "channel": a.channel, "min": lo, "max": hi, "out": a.out}),
        );
        return Ok(());
    }
    println!(
        "{} sample {} channel {} range [{}, {}] -> {}",
        a.tensor,
        a.sample,
        a.channel,
        plot::format_value(lo),
        plot::format_value(hi),
        a.out.display()
    );
    Ok(())
}

fn cmd_bench(a: &BenchArgs) -> Result<()> {
    let threads = rayon::current_num_threads();
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32)?;
    let solver = ExactSolver::new(&model, grid)?;
    let stride = 2 * grid.points();
    let mut rng = StreamRng::new(1, 0);
    let total = a.solves.max(64);
    let w: Vec<f64> = (0..total * stride).map(|_| 0.05 * rng.normal()).collect();
    let mut phi = vec![0.0; w.len()];
    let mut log_q = vec![0.0; total];
    let mut results = serde_json::Map::new();
    // The paired complex-FFT path (default) against the two real-FFT
    // recursions under rayon::join, in the same run.
    let realfft = ExactSolver::new(&model, grid)?.with_paired_fft(false);
    for (label, solver) in [("", &solver), ("_realfft_join", &realfft)] {
        // Warm up (workspace pool, page faults, clock ramp), then best of 3.
        solver.solve_batch(&w, &mut phi, &mut log_q)?;
        for batch in [1usize, 64] {
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let start = Instant::now();
                for (wc, (pc, lc)) in
                    w.chunks(batch * stride).zip(phi.chunks_mut(batch * stride).zip(log_q.chunks_mut(batch)))
                {
                    solver.solve_batch(wc, pc, lc)?;
                }
                best = best.min(start.elapsed().as_secs_f64());
            }
            results.insert(format!("solves_per_second_batch{batch}{label}"), json!(total as f64 / best));
        }
    }
    // hex_bead: saddle point, then from its fields scaled by 0.9 to 1e-10.
    let hex = ChainModel::pscf_hex_bead();
    let hex_grid = Grid::for_model(&hex, 32, 56)?;
    let hex_solver = ExactSolver::new(&hex, hex_grid)?;
    let config = ScftConfig { chi: 0.2, tolerance: 1e-10, ..Default::default() };
    let w0 = InitialField::Hex { nx: 1, ny: 1 }.fields(&hex, &hex_grid, 0.2, &mut StreamRng::new(0, 0));
    let saddle = run_scft(&hex_solver, &config, &w0, &mut |_, _| {})?;
    let scaled: Vec<f64> = saddle.w.iter().map(|v| 0.9 * v).collect();
    let from_scaled = run_scft(&hex_solver, &config, &scaled, &mut |_, _| {})?;
    results.insert(
        "hex_bead_from_hex_init".into(),
        json!({"iterations": saddle.iterations, "seconds": saddle.seconds, "dF": saddle.d_f}),
    );
    results.insert(
        "hex_bead_from_saddle_x0.9".into(),
        json!({"iterations": from_scaled.iterations, "seconds": from_scaled.seconds, "ms_per_iteration": 1e3 * from_scaled.seconds / from_scaled.solves as f64, "dF": from_scaled.d_f}),
    );
    // Default system, chi = 0.3, lamellar start with small noise.
    let mut rng = StreamRng::new(7, 0);
    let mut w_lam = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, 0.3, &mut rng);
    for i in 0..grid.points() {
        let z = 0.05 * 0.15 * rng.normal();
        w_lam[i] -= z;
        w_lam[grid.points() + i] += z;
    }
    let lam =
        run_scft(&solver, &ScftConfig { chi: 0.3, tolerance: 1e-10, ..Default::default() }, &w_lam, &mut |_, _| {})?;
    results.insert(
        "default_chi0.3_lamellar2_noise".into(),
        json!({"iterations": lam.iterations, "seconds": lam.seconds, "ms_per_iteration": 1e3 * lam.seconds / lam.solves as f64, "dF": lam.d_f, "converged": lam.converged}),
    );
    results.insert("threads".into(), json!(threads));
    let report = serde_json::Value::Object(results);
    if a.common.json {
        print_json(&report);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
