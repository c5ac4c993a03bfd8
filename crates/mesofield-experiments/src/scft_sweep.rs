//! `mesofield scft-sweep`: SCFT from every start at every chi, the test of
//! "converges from any start" (issue 14), with per-chi counts of failures
//! and the median and worst iterations, exact solves and seconds. Runs are
//! independent and run in parallel, one thread each.

use std::time::Instant;

use anyhow::{Result, bail};
use rayon::prelude::*;
use serde::Serialize;

use mesofield_physics::fields::InitialField;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::stats::quantile;
use mesofield_physics::{ChainModel, ExactSolver, Grid};

use crate::progress::Reporter;

#[derive(Clone, Debug)]
pub struct SweepSpec {
    pub chis: Vec<f64>,
    /// Built-in starts (`random:AMP`, `lamellar:N`, `hex:NX:NY`, `square:NX:NY`).
    pub inits: Vec<String>,
    /// Seeds of each random start (the lattice starts run once).
    pub seeds: usize,
    pub model: ChainModel,
    pub grid: [usize; 2],
    pub tolerance: f64,
    pub max_iterations: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepRun {
    pub init: String,
    pub seed: u64,
    pub chi: f64,
    pub converged: bool,
    pub residual: f64,
    pub iterations: usize,
    pub descent_iterations: usize,
    pub exact_solves: usize,
    pub seconds: f64,
    #[serde(rename = "dF")]
    pub d_f: f64,
    /// The error of a run that ended in one.
    pub error: Option<String>,
}

/// Per chi: runs, failures (errors or not converged), and the median and
/// worst of iterations, exact solves and seconds over the converged runs.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRow {
    pub chi: f64,
    pub runs: usize,
    pub failures: usize,
    pub fell_back: usize,
    pub iterations: [f64; 2],
    pub exact_solves: [f64; 2],
    pub seconds: [f64; 2],
    /// The lowest dF found and the start that found it.
    pub best_d_f: f64,
    pub best_init: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    pub grid: [usize; 2],
    pub box_size: [f64; 2],
    pub tolerance: f64,
    pub rows: Vec<SweepRow>,
    pub runs: Vec<SweepRun>,
    pub seconds: f64,
}

/// One start (its text and the parsed field) at one chi.
struct Job<'a> {
    init: &'a str,
    field: &'a InitialField,
    seed: u64,
    chi: f64,
}

fn one_run(spec: &SweepSpec, solver: &ExactSolver, grid: &Grid, job: &Job<'_>) -> SweepRun {
    let Job { init, field, seed, chi } = *job;
    let started = Instant::now();
    let config =
        ScftConfig { chi, tolerance: spec.tolerance, max_iterations: spec.max_iterations, ..Default::default() };
    let w0 = field.fields(&spec.model, grid, chi, &mut StreamRng::new(seed, 0));
    let outcome = run_scft(solver, &config, &w0, &mut |_, _| {});
    let seconds = started.elapsed().as_secs_f64();
    let (init, nan) = (init.to_string(), f64::NAN);
    match outcome {
        Ok(o) => SweepRun {
            init,
            seed,
            chi,
            converged: o.converged,
            residual: o.residual,
            iterations: o.iterations,
            descent_iterations: o.descent_iterations,
            exact_solves: o.solves,
            seconds,
            d_f: o.d_f,
            error: None,
        },
        Err(e) => SweepRun {
            init,
            seed,
            chi,
            converged: false,
            residual: nan,
            iterations: 0,
            descent_iterations: 0,
            exact_solves: 0,
            seconds,
            d_f: nan,
            error: Some(e.to_string()),
        },
    }
}

fn median_worst(values: Vec<f64>) -> [f64; 2] {
    let mut v = values;
    v.sort_by(f64::total_cmp);
    [quantile(&v, 0.5), v.last().copied().unwrap_or(f64::NAN)]
}

pub fn sweep(spec: &SweepSpec, reporter: &Reporter) -> Result<SweepReport> {
    let grid = Grid::for_model(&spec.model, spec.grid[0], spec.grid[1])?;
    let solver = ExactSolver::new(&spec.model, grid)?;
    let fields = spec
        .inits
        .iter()
        .map(|init| match InitialField::parse(init) {
            Some(field) => Ok(field?),
            None => bail!("--init {init:?} is not a built-in start"),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut jobs = Vec::new();
    for &chi in &spec.chis {
        for (init, field) in spec.inits.iter().zip(&fields) {
            let seeds = if matches!(field, InitialField::Random { .. }) { spec.seeds.max(1) } else { 1 };
            jobs.extend((0..seeds as u64).map(|seed| Job { init, field, seed, chi }));
        }
    }
    let started = Instant::now();
    let stage = reporter.stage(jobs.len() as u64, "scft sweep");
    let runs: Vec<SweepRun> = jobs
        .par_iter()
        .map(|job| {
            let run = one_run(spec, &solver, &grid, job);
            stage.inc(1);
            run
        })
        .collect();
    stage.finish();
    let rows = spec
        .chis
        .iter()
        .map(|&chi| {
            let at: Vec<&SweepRun> = runs.iter().filter(|r| r.chi == chi).collect();
            let ok: Vec<&&SweepRun> = at.iter().filter(|r| r.converged).collect();
            let best = ok.iter().min_by(|a, b| a.d_f.total_cmp(&b.d_f));
            SweepRow {
                chi,
                runs: at.len(),
                failures: at.len() - ok.len(),
                fell_back: at.iter().filter(|r| r.descent_iterations > 0).count(),
                iterations: median_worst(ok.iter().map(|r| r.iterations as f64).collect()),
                exact_solves: median_worst(ok.iter().map(|r| r.exact_solves as f64).collect()),
                seconds: median_worst(ok.iter().map(|r| r.seconds).collect()),
                best_d_f: best.map_or(f64::NAN, |r| r.d_f),
                best_init: best.map_or(String::new(), |r| format!("{} (seed {})", r.init, r.seed)),
            }
        })
        .collect();
    Ok(SweepReport {
        grid: spec.grid,
        box_size: spec.model.box_size,
        tolerance: spec.tolerance,
        rows,
        runs,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The per-chi table (markdown) and the failed runs under it.
pub fn table(report: &SweepReport) -> String {
    let mut t = format!(
        "SCFT to {:e} on {}x{} (box {} x {}), {:.0} s in all.\n\n\
         | chi | runs | failures | fell back | iterations median / worst | exact solves median / worst | seconds median / worst | lowest dF (start) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        report.tolerance, report.grid[0], report.grid[1], report.box_size[0], report.box_size[1], report.seconds
    );
    for r in &report.rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} / {:.0} | {:.0} / {:.0} | {:.2} / {:.2} | {:.6} ({}) |\n",
            r.chi,
            r.runs,
            r.failures,
            r.fell_back,
            r.iterations[0],
            r.iterations[1],
            r.exact_solves[0],
            r.exact_solves[1],
            r.seconds[0],
            r.seconds[1],
            r.best_d_f,
            r.best_init
        ));
    }
    for run in report.runs.iter().filter(|r| !r.converged) {
        t.push_str(&format!(
            "\nfailed: chi {} {} seed {}: {}",
            run.chi,
            run.init,
            run.seed,
            run.error
                .clone()
                .unwrap_or_else(|| format!("residual {:.2e} after {} iterations", run.residual, run.iterations))
        ));
    }
    t
}
