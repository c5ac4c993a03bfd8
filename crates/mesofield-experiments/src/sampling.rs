//! L-FTS into a run folder (`mesofield sample`, Fig. 1's panels): the
//! sampler of `mesofield_physics::lfts` stepped from a start or resumed, a
//! trace record per step, snapshots every `every` steps, S(q) averaged over
//! the steps of the last half, H and (phi_A - phi_B)^2 with block-averaged
//! standard errors, and the pictures `hamiltonian.png` and `sq.png`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;

use mesofield_physics::fts::{Integrator, Lfts, LftsConfig, LftsState};
use mesofield_physics::io::TensorData;
use mesofield_physics::observables::{RunningStructureFactor, StructureFactor};
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::trajectory::analyzer::{LastHalf, Snapshots, StructureFactorSum, Trace};
use mesofield_physics::trajectory::{self, Analyzer, LftsChains, Replica};
use mesofield_physics::{Grid, SolveCost};

use crate::charts::{COLOURS, LineChart, Series, line_chart_png, sq_chart};
use crate::inputs::{Start, initial_fields};
use crate::plot;
use crate::progress::Reporter;
use crate::roles;
use crate::run_folder::{Record, RunFolder};
use crate::solvers::{Backend, SolverChoice};

/// One L-FTS run.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    pub chi: f64,
    /// B, beads per grid cell (fluctuation strength: larger is weaker).
    pub beads_per_cell: f64,
    pub steps: usize,
    pub step_size: f64,
    pub integrator: Integrator,
    pub seed: u64,
    /// random[:AMP] | lamellar[:N] | hex:NX:NY | square:NX:NY | FILE.safetensors.
    pub init: Start,
    /// MXxMY of a built-in start.
    pub grid: String,
    pub model: Option<PathBuf>,
    /// Max-norm of phi_A + phi_B - 1 after every step.
    pub tol: f64,
    /// Snapshot every this many steps (0: only the last).
    pub every: usize,
    pub solver: SolverChoice,
    pub backend: Backend,
}

pub use mesofield_physics::trajectory::analyzer::SampleRecord;

impl Record for SampleRecord {
    fn step(&self) -> usize {
        self.step
    }
}

/// `summary.json`: the run's settings, cost and means over its last half.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleSummary {
    pub chi: f64,
    pub beads_per_cell: f64,
    pub steps: usize,
    pub step_size: f64,
    #[serde(default = "Integrator::legacy")]
    pub integrator: Integrator,
    pub seed: u64,
    pub solver: String,
    pub tol: f64,
    pub grid: [usize; 2],
    pub steps_per_second: f64,
    pub seconds: f64,
    #[serde(flatten)]
    pub cost: SolveCost,
    #[serde(rename = "H_mean")]
    pub h_mean: f64,
    #[serde(rename = "H_stderr")]
    pub h_stderr: f64,
    pub psi2_mean: f64,
    pub psi2_stderr: f64,
    pub statistics_over_steps: usize,
    pub final_pressure_residual: f64,
    /// Integrated autocorrelation times (steps) of H, of
    /// (phi_A - phi_B)^2 and of S(q*) over the last half, whether Sokal's
    /// windows closed (else lower bounds), and the decorrelated samples per
    /// second they give: steps per second / (2 tau) of the slowest series.
    #[serde(rename = "H_tau_int", default = "nan", deserialize_with = "null_as_nan")]
    pub h_tau: f64,
    #[serde(rename = "psi2_tau_int", default = "nan", deserialize_with = "null_as_nan")]
    pub psi2_tau: f64,
    /// The same of S(q*), each state's largest shell of S(q).
    #[serde(rename = "sq_peak_tau_int", default = "nan", deserialize_with = "null_as_nan")]
    pub sq_peak_tau: f64,
    #[serde(default)]
    pub tau_window_closed: bool,
    #[serde(default = "nan", deserialize_with = "null_as_nan")]
    pub effective_samples_per_second: f64,
}

fn nan() -> f64 {
    f64::NAN
}

pub(crate) use mesofield_physics::trajectory::analyzer::null_as_nan;

impl SampleSummary {
    /// The summary of the chain with `seed` of `spec` on `grid`: its cost,
    /// its timing (seconds, steps run by this invocation), and the means of
    /// its trace's last half (`LastHalf`).
    pub fn of(
        spec: &SampleSpec,
        seed: u64,
        grid: &Grid,
        trace: &[SampleRecord],
        cost: SolveCost,
        (seconds, steps_run): (f64, usize),
        final_pressure_residual: f64,
    ) -> SampleSummary {
        let half = LastHalf::of(trace, spec.steps);
        SampleSummary {
            chi: spec.chi,
            beads_per_cell: spec.beads_per_cell,
            steps: spec.steps,
            step_size: spec.step_size,
            integrator: spec.integrator,
            seed,
            solver: spec.solver.to_string(),
            tol: spec.tol,
            grid: [grid.mx, grid.my],
            steps_per_second: steps_run as f64 / seconds,
            seconds,
            cost,
            h_mean: half.h_mean,
            h_stderr: half.h_stderr,
            psi2_mean: half.psi2_mean,
            psi2_stderr: half.psi2_stderr,
            statistics_over_steps: half.count,
            final_pressure_residual,
            h_tau: half.h_tau,
            psi2_tau: half.psi2_tau,
            sq_peak_tau: half.sq_peak_tau,
            tau_window_closed: half.tau_window_closed,
            effective_samples_per_second: steps_run as f64 / seconds * half.effective_per_step(),
        }
    }
}

/// `sq.json`: S(q) of phi_A averaged over the steps of the last half.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MeanStructureFactor {
    pub q: Vec<f64>,
    #[serde(rename = "S")]
    pub s: Vec<f64>,
    pub steps: usize,
}

impl MeanStructureFactor {
    /// The shell with the largest S: (q, S), NaN for an empty one.
    pub fn peak(&self) -> (f64, f64) {
        let peak = StructureFactor { q: self.q.clone(), s: self.s.clone(), modes: Vec::new() }.peak();
        (peak.q, peak.s)
    }
}

/// A finished run: its summary, mean S(q) and the last phi_A.
#[derive(Clone, Debug)]
pub struct SampleRun {
    pub summary: SampleSummary,
    pub sq: MeanStructureFactor,
    pub last_phi_a: Vec<f64>,
    pub grid: [usize; 2],
    /// Steps taken by this invocation (0 for a reused run).
    pub steps_run: usize,
}

impl SampleRun {
    /// The finished run in `dir` if it was made with `spec`'s settings.
    pub fn load_finished(dir: &Path, spec: &SampleSpec, grid: [usize; 2]) -> Option<SampleRun> {
        let folder = RunFolder::new(dir);
        let summary: SampleSummary = folder.read_json("summary.json").ok()?;
        let same = summary.chi == spec.chi
            && summary.seed == spec.seed
            && summary.step_size == spec.step_size
            && summary.integrator == spec.integrator
            && summary.beads_per_cell == spec.beads_per_cell
            && summary.steps == spec.steps
            && summary.grid == grid
            && summary.solver == spec.solver.to_string();
        if !same {
            return None;
        }
        let sq: MeanStructureFactor = folder.read_json("sq.json").ok()?;
        let last = mesofield_physics::io::FieldFile::open(&folder.last()).ok()?;
        let (_, mx, my, phi) = last.fields("phi").ok()?;
        Some(SampleRun { summary, sq, last_phi_a: phi[..mx * my].to_vec(), grid: [mx, my], steps_run: 0 })
    }
}

fn save_state(
    folder: &RunFolder,
    path: &Path,
    state: &LftsState,
    grid: &Grid,
    run: &serde_json::Value,
    sq: &RunningStructureFactor,
) -> Result<()> {
    let mut w = vec![0.0; 2 * grid.points()];
    mesofield_physics::fields::from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
    let shape = vec![1, 2, grid.mx, grid.my];
    let meta = json!({"format": "mesofield-lfts", "step": state.step, "run": run, "model": run["model"], "sq_sum": sq});
    folder.save_state(
        path,
        &[
            ("w", shape.clone(), TensorData::F64(&w)),
            ("phi", shape, TensorData::F64(&state.phi)),
            ("log_q", vec![1], TensorData::F64(&[state.log_q])),
        ],
        &meta,
    )
}

/// Where a run begins: `spec`'s start, or the folder's last snapshot (its
/// step and running S(q) sum) when resuming.
fn start_of(spec: &SampleSpec, folder: &RunFolder, resume: bool) -> Result<ChainStart> {
    if !resume {
        let (model, grid, w) = initial_fields(&spec.init, &spec.grid, spec.model.as_deref(), spec.chi, spec.seed)?;
        return Ok((model, grid, w, 0, RunningStructureFactor::default()));
    }
    let check = json!({"chi": spec.chi, "beads_per_cell": spec.beads_per_cell, "seed": spec.seed});
    let (_, meta) = folder.resume_point(&check, &["chi", "beads_per_cell", "seed"])?;
    let saved = meta["run"]["integrator"].as_str().unwrap_or(Integrator::legacy().name());
    if saved != spec.integrator.name() {
        bail!("--resume: the run in {} has integrator = {saved}, not {}", folder.last().display(), spec.integrator);
    }
    let Some(step) = meta["step"].as_u64() else { bail!("{}: no step in its metadata", folder.last().display()) };
    let sq_sum: RunningStructureFactor = serde_json::from_value(meta["sq_sum"].clone()).unwrap_or_default();
    let last = folder.last();
    let (model, grid, w) = initial_fields(&Start::File(last), &spec.grid, spec.model.as_deref(), spec.chi, 0)?;
    Ok((model, grid, w, step as usize, sq_sum))
}

type ChainStart = (mesofield_physics::ChainModel, Grid, Vec<f64>, usize, RunningStructureFactor);

/// Runs (or, with `resume`, continues) the L-FTS run of `spec` in `dir`.
pub fn run_sample(spec: &SampleSpec, dir: &Path, resume: bool, reporter: &Reporter) -> Result<SampleRun> {
    Ok(run_replicas(spec, 1, dir, resume, reporter)?.runs.swap_remove(0))
}

/// R chains advanced together (`Lfts::step_replicas`).
pub struct Replicas {
    /// Each replica's run, as a separate run with its seed would give.
    pub runs: Vec<SampleRun>,
    /// `summary.json` of `dir` for R > 1 (None for one chain, whose own
    /// summary is there).
    pub summary: Option<ReplicaSummary>,
}

/// `summary.json` of a replica run: the pooled means (the standard errors
/// from the spread of the replicas' means) and each replica's summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicaSummary {
    pub replicas: usize,
    pub seeds: Vec<u64>,
    /// Replica-steps per second of wall time (all chains together).
    pub steps_per_second: f64,
    pub seconds: f64,
    #[serde(flatten)]
    pub cost: SolveCost,
    #[serde(rename = "H_mean")]
    pub h_mean: f64,
    #[serde(rename = "H_stderr")]
    pub h_stderr: f64,
    pub psi2_mean: f64,
    pub psi2_stderr: f64,
    /// Decorrelated samples per second of wall time, all chains together
    /// (the sum of the replicas').
    #[serde(default = "nan", deserialize_with = "null_as_nan")]
    pub effective_samples_per_second: f64,
    pub per_replica: Vec<SampleSummary>,
}

/// Mean and standard error of the mean over independent values (R > 1).
fn mean_error(values: &[f64]) -> (f64, f64) {
    let (mean, std) = mesofield_physics::stats::mean_std(values);
    (mean, std / (values.len() as f64).sqrt())
}

/// One chain's files, an analyzer of its states: the trace in memory and
/// in `trace.jsonl`, S(q) summed over the last half, and snapshots (with
/// `last.safetensors`) every `every` steps and at the end.
struct ChainFiles {
    seed: u64,
    folder: RunFolder,
    trace: Trace,
    writer: crate::run_folder::TraceWriter,
    sq: StructureFactorSum,
    /// The cost recorded before a resumed run's first step.
    resumed: SolveCost,
    run: serde_json::Value,
    every: usize,
    steps: usize,
    grid: Grid,
}

impl ChainFiles {
    fn write(&mut self, state: &LftsState, cost: &SolveCost) -> Result<()> {
        self.trace.sample(state, cost)?;
        self.writer.append(self.trace.records.last().expect("just sampled"))?;
        self.sq.sample(state, cost)?;
        if Snapshots::keeps(self.every, self.steps, state.step) {
            let (folder, grid, m) = (&self.folder, &self.grid, self.grid.points());
            save_state(folder, &folder.snapshot(state.step), state, grid, &self.run, &self.sq.sum)?;
            let png = folder.file(&format!("snap_{:06}.png", state.step));
            plot::field_png(&state.phi[..m], grid.mx, grid.my, Some((0.0, 1.0)), &png)?;
            save_state(folder, &folder.last(), state, grid, &self.run, &self.sq.sum)?;
        }
        Ok(())
    }
}

impl Analyzer<LftsState, SolveCost> for ChainFiles {
    fn sample(&mut self, state: &LftsState, cost: &SolveCost) -> mesofield_physics::Result<()> {
        self.write(state, cost).map_err(|e| mesofield_physics::Error::Io(format!("{e:#}")))
    }
}

/// `spec` with `replicas` chains in `dir` (one: `dir` is the run folder;
/// more: `dir/replica_NN/` for chain r with seed `spec.seed + r`, the run
/// `mesofield sample --seed SEED+r` makes, and a pooled `dir/summary.json`).
pub fn run_replicas(
    spec: &SampleSpec,
    replicas: usize,
    dir: &Path,
    resume: bool,
    reporter: &Reporter,
) -> Result<Replicas> {
    if spec.steps == 0 {
        bail!("--steps must be at least 1");
    }
    if replicas == 0 {
        bail!("--replicas must be at least 1");
    }
    let (folders, starts) = replica_starts(spec, replicas, dir, resume)?;
    let (model, grid, _, start_step, _) = &starts[0];
    let (model, grid, start_step) = (model.clone(), *grid, *start_step);
    let set = roles::resolve(&spec.solver, spec.backend, &model, &grid)?;
    let config = LftsConfig::new(spec.chi, spec.beads_per_cell, spec.step_size, spec.seed)
        .with_pressure_tolerance(spec.tol)
        .with_integrator(spec.integrator);
    let sampler = Lfts::new(config, set.solvers())?;
    let solver_name = spec.solver.to_string();
    let mut files = Vec::with_capacity(replicas);
    let mut w_start = Vec::with_capacity(replicas * 2 * grid.points());
    for (r, (folder, (_, _, w, _, sq_sum))) in folders.into_iter().zip(starts).enumerate() {
        folder.create()?;
        let seed = spec.seed + r as u64;
        let run = json!({"chi": spec.chi, "beads_per_cell": spec.beads_per_cell, "step_size": spec.step_size,
                         "integrator": spec.integrator, "seed": seed, "steps": spec.steps, "solver": solver_name, "tol": spec.tol,
                         "compressor": sampler.config.compressor,
                         "grid": [grid.mx, grid.my], "model": model});
        // A run stopped between snapshots wrote records past its last one: they are recomputed.
        let (records, writer) = folder.open_trace::<SampleRecord>(resume.then_some(start_step))?;
        let resumed = records.last().map(|t| t.cost).unwrap_or_default();
        w_start.extend(w);
        let sq = StructureFactorSum::new(SpectralPlan::new(grid), spec.steps / 2, sq_sum);
        let trace = Trace::with_peak(SpectralPlan::new(grid), spec.steps / 2, records);
        files.push(ChainFiles {
            seed,
            folder,
            trace,
            writer,
            sq,
            resumed,
            run,
            every: spec.every,
            steps: spec.steps,
            grid,
        });
    }
    let chains =
        LftsChains { lfts: &sampler, seeds: files.iter().map(|c| c.seed).collect(), checkpoint_every: spec.every };
    let stage = reporter.stage(spec.steps as u64, "sample");
    stage.set_position(start_step as u64);
    let mut chain_states = Vec::with_capacity(replicas);
    for (f, (state, cost)) in files.iter_mut().zip(sampler.start_replicas(&w_start, start_step)?) {
        let cost = f.resumed + cost;
        chain_states.push(Replica { state, cost, analyzers: vec![f as &mut dyn Analyzer<LftsState, SolveCost>] });
    }
    if start_step == 0 {
        chain_states.iter_mut().try_for_each(trajectory::sample)?;
    }
    let seconds = trajectory::run(&chains, &mut chain_states, spec.steps, &mut |chains| {
        stage.set_position(chains[0].state.step as u64);
        stage.set_message(format!("sample H {:.4}", chains[0].state.hamiltonian));
    })?;
    stage.finish();
    let ends: Vec<(LftsState, SolveCost)> = chain_states.into_iter().map(|r| (r.state, r.cost)).collect();
    let steps_run = spec.steps - start_step;
    let seeds = chains.seeds.clone();
    let mut runs = Vec::with_capacity(replicas);
    for (chain, (state, cost)) in files.into_iter().zip(ends) {
        runs.push(finish_chain(spec, chain, &state, cost, seconds, steps_run)?);
    }
    let summary = (replicas > 1).then(|| {
        let (h_mean, h_stderr) = mean_error(&runs.iter().map(|r| r.summary.h_mean).collect::<Vec<_>>());
        let (psi2_mean, psi2_stderr) = mean_error(&runs.iter().map(|r| r.summary.psi2_mean).collect::<Vec<_>>());
        ReplicaSummary {
            replicas,
            seeds,
            steps_per_second: (replicas * steps_run) as f64 / seconds,
            seconds,
            cost: runs.iter().map(|r| r.summary.cost).sum(),
            h_mean,
            h_stderr,
            psi2_mean,
            psi2_stderr,
            effective_samples_per_second: runs.iter().map(|r| r.summary.effective_samples_per_second).sum(),
            per_replica: runs.iter().map(|r| r.summary.clone()).collect(),
        }
    });
    if let Some(summary) = &summary {
        RunFolder::new(dir).write_json("summary.json", summary)?;
    }
    Ok(Replicas { runs, summary })
}

/// Each replica's run folder and start (`dir` itself for one chain,
/// `dir/replica_NN/` for more), all at one step on one grid.
fn replica_starts(
    spec: &SampleSpec,
    replicas: usize,
    dir: &Path,
    resume: bool,
) -> Result<(Vec<RunFolder>, Vec<ChainStart>)> {
    let chain_spec = |r: usize| SampleSpec { seed: spec.seed + r as u64, ..spec.clone() };
    let folders: Vec<RunFolder> = (0..replicas)
        .map(|r| if replicas == 1 { RunFolder::new(dir) } else { RunFolder::new(dir.join(format!("replica_{r:02}"))) })
        .collect();
    let mut starts = Vec::with_capacity(replicas);
    for (r, folder) in folders.iter().enumerate() {
        starts.push(start_of(&chain_spec(r), folder, resume)?);
    }
    let (grid, start_step) = (starts[0].1, starts[0].3);
    if let Some(r) = starts.iter().position(|s| s.3 != start_step || s.1 != grid) {
        bail!(
            "--resume: replica {r} stopped at step {}, replica 0 at {start_step}: the replicas must resume together",
            starts[r].3
        );
    }
    Ok((folders, starts))
}

/// A chain's means over its last half, `sq.json`, pictures and `summary.json`.
fn finish_chain(
    spec: &SampleSpec,
    chain: ChainFiles,
    state: &LftsState,
    cost: SolveCost,
    seconds: f64,
    steps_run: usize,
) -> Result<SampleRun> {
    let ChainFiles { seed, folder, trace, sq, grid, .. } = chain;
    let (trace, sq_sum) = (trace.records, sq.sum);
    let m = grid.points();
    let sq = MeanStructureFactor { q: sq_sum.q.clone(), s: sq_sum.mean(), steps: sq_sum.steps };
    folder.write_json("sq.json", &sq)?;
    line_chart_png(&sq_chart(&sq.q, &sq.s, "S(q) of phi_A, mean over the last half"), &folder.file("sq.png"))?;
    let steps_axis: Vec<f64> = trace.iter().map(|t| t.step as f64).collect();
    let h: Vec<f64> = trace.iter().map(|t| t.hamiltonian).collect();
    let chart = LineChart::new(
        format!("L-FTS, chi {}, B = {}", spec.chi, spec.beads_per_cell),
        "step",
        "H per chain, relative to the melt (kT)",
    )
    .with(Series::new("", &steps_axis, &h, COLOURS[0]));
    line_chart_png(&chart, &folder.file("hamiltonian.png"))?;
    let summary = SampleSummary::of(spec, seed, &grid, &trace, cost, (seconds, steps_run), state.pressure_residual);
    folder.write_json("summary.json", &summary)?;
    Ok(SampleRun { summary, sq, last_phi_a: state.phi[..m].to_vec(), grid: [grid.mx, grid.my], steps_run })
}
