//! `mesofield bench loops`: the loops on the exact solver and with an
//! operator, side by side in one run, on the paper's system (32x32): L-FTS
//! at chi = 0.4 and 1.0 (both solvers from the same burnt-in state and
//! noise), and the inverse map on patterns of the chi = 0.4 run. Per loop:
//! wall time, rate, exact solves (the inverse map's are solve equivalents:
//! solves plus Jacobian products), operator calls, rejected (operator inner
//! loops or starts the trust check threw away) and the ensemble averages with their
//! block errors, so a faster loop can be seen to sample the same ensemble.
//! Then Fig. 4's denoising (patterns of the chi = 0.4 run with noise of half
//! their spread, recovered at chi 0.4, B = 100; its recovery error against
//! the clean pattern) and a dynamics anneal (eq. 26 at chi 0.25 from the
//! first pattern; the free energy it ends at).

use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;

use mesofield_inference::noise::add_noise;
use mesofield_physics::dynamics::{Dynamics, DynamicsConfig};
use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{Lfts, LftsConfig, LftsState};
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::stats::block_mean_error;
use mesofield_physics::trajectory::analyzer::{BLOCKS, Each, Trace};
use mesofield_physics::trajectory::{self, Analyzer, LftsChains, Replica};
use mesofield_physics::{ChainModel, ExactSolver, FieldSolver, Grid, SolveCost, Solvers};

use crate::observed::{DenoiseSpec, denoise_patterns};
use crate::patterns::Patterns;
use crate::progress::Reporter;
use crate::roles::{self, Resolved};
use crate::solvers::{Backend, SolverChoice};

#[derive(Clone, Debug, Serialize)]
pub struct LoopsSpec {
    /// Timed L-FTS steps per solver, after `burn_in` exact steps.
    pub steps: usize,
    pub burn_in: usize,
    /// Patterns of the chi = 0.4 run for the inverse map.
    pub patterns: usize,
    /// Of those, the first this many noisy for denoising.
    pub denoise_patterns: usize,
    /// Steps of the dynamics anneal.
    pub dynamics_steps: usize,
    pub beads_per_cell: f64,
    pub step_size: f64,
    /// Max-norm of phi_A + phi_B - 1 after every step.
    pub tol: f64,
    pub seed: u64,
}

impl Default for LoopsSpec {
    fn default() -> Self {
        LoopsSpec {
            steps: 200,
            burn_in: 100,
            patterns: 20,
            denoise_patterns: 4,
            dynamics_steps: 60,
            beads_per_cell: 100.0,
            step_size: 0.05,
            tol: 1e-6,
            seed: 1,
        }
    }
}

/// A mean and its standard error.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Estimate {
    pub mean: f64,
    pub stderr: f64,
}

/// One loop on one solver.
#[derive(Clone, Debug, Serialize)]
pub struct LoopRow {
    pub name: String,
    pub solver: String,
    pub seconds: f64,
    /// Steps (L-FTS) or patterns (inverse map) per second.
    pub rate: f64,
    pub unit: String,
    /// `rejected`: operator results that the loop's trust check threw away.
    #[serde(flatten)]
    pub cost: SolveCost,
    /// L-FTS: H per chain and mean (phi_A - phi_B)^2 over the timed steps.
    #[serde(rename = "H")]
    pub h: Option<Estimate>,
    pub psi2: Option<Estimate>,
    /// Denoising: the contrast-relative recovery error over the patterns.
    pub recovery_error: Option<Estimate>,
    /// Dynamics: F per chain at the last step.
    pub free_energy: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LoopsReport {
    pub spec: LoopsSpec,
    pub rows: Vec<LoopRow>,
    /// Per loop, the operator's rate over the exact one (with an operator).
    pub ratios: Vec<(String, f64)>,
}

impl LoopsReport {
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| loop | solver | per second | exact solves | operator calls | rejected | H | (phi_A - phi_B)^2 | outcome |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        let show = |e: &Option<Estimate>| e.map_or("".to_string(), |e| format!("{:.5} +- {:.5}", e.mean, e.stderr));
        for r in &self.rows {
            let outcome = match (&r.recovery_error, r.free_energy) {
                (Some(e), _) => format!("recovery error {:.4} +- {:.4}", e.mean, e.stderr),
                (None, Some(f)) => format!("F {f:.8}"),
                (None, None) => String::new(),
            };
            out.push_str(&format!(
                "| {} | {} | {:.2} {} | {} | {} | {} | {} | {} | {outcome} |\n",
                r.name,
                r.solver,
                r.rate,
                r.unit,
                r.cost.exact_solves,
                r.cost.operator_calls,
                r.cost.rejected,
                show(&r.h),
                show(&r.psi2)
            ));
        }
        for (name, ratio) in &self.ratios {
            out.push_str(&format!("\n{name}: the operator's rate is {ratio:.2}x the exact one's"));
        }
        out
    }
}

/// The timed steps of one solver from `state`, and the patterns it passes
/// (`patterns` of them, evenly spaced).
fn timed_lfts(
    lfts: &Lfts,
    name: &str,
    solver: &str,
    state: &LftsState,
    spec: &LoopsSpec,
    patterns: usize,
    reporter: &Reporter,
) -> Result<(LoopRow, Vec<Vec<f64>>)> {
    let stage = reporter.stage(spec.steps as u64, &format!("{name}, {solver}"));
    let every = (spec.steps / patterns.max(1)).max(1);
    let mut taken = Vec::new();
    let mut trace = Trace::default();
    let mut take = Each(|s: &LftsState, _: &SolveCost| {
        if (s.step - state.step).is_multiple_of(every) && taken.len() < patterns {
            taken.push(s.phi.clone());
        }
        Ok(())
    });
    let chains = LftsChains::new(lfts, vec![lfts.config.seed]);
    let analyzers: Vec<&mut dyn Analyzer<LftsState, SolveCost>> = vec![&mut trace, &mut take];
    let mut chain = [Replica { state: state.clone(), cost: SolveCost::default(), analyzers }];
    let seconds = trajectory::run(&chains, &mut chain, state.step + spec.steps, &mut |_| stage.inc(1))?;
    stage.finish();
    let total = chain[0].cost;
    drop(chain);
    let h: Vec<f64> = trace.records.iter().map(|r| r.hamiltonian).collect();
    let psi2: Vec<f64> = trace.records.iter().map(|r| r.psi2).collect();
    let estimate = |values: &[f64]| {
        let (mean, stderr) = block_mean_error(values, BLOCKS);
        Estimate { mean, stderr }
    };
    let row = LoopRow {
        name: name.to_string(),
        solver: solver.to_string(),
        seconds,
        rate: spec.steps as f64 / seconds,
        unit: "steps".into(),
        cost: total,
        h: Some(estimate(&h)),
        psi2: Some(estimate(&psi2)),
        recovery_error: None,
        free_energy: None,
    };
    Ok((row, taken))
}

/// Every loop on the exact solver and, with `solver` an operator, on it.
pub fn bench_loops(
    spec: &LoopsSpec,
    solver: &SolverChoice,
    backend: Backend,
    reporter: &Reporter,
) -> Result<LoopsReport> {
    if spec.steps == 0 || spec.patterns == 0 {
        bail!("bench loops needs at least one step and one pattern");
    }
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32)?;
    let set = roles::resolve(solver, backend, &model, &grid)?;
    let exact = set.exact_solver();
    let solvers: Vec<(String, Option<&dyn FieldSolver>)> = std::iter::once(("exact".to_string(), None))
        .chain(set.solvers().operator.map(|o| (set.label().to_string(), Some(o))))
        .collect();
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    let mut patterns = Vec::new();
    for chi in [0.4, 1.0] {
        let name = format!("L-FTS chi {chi}, B {}", spec.beads_per_cell);
        let config =
            LftsConfig::new(chi, spec.beads_per_cell, spec.step_size, spec.seed).with_pressure_tolerance(spec.tol);
        let burn = Lfts::new(config.clone(), Solvers::exact(exact))?;
        let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut StreamRng::new(spec.seed, 0));
        let (mut state, _) = burn.start(&w0, 0)?;
        let stage = reporter.stage(spec.burn_in as u64, &format!("{name}, burn-in"));
        for _ in 0..spec.burn_in {
            state = burn.step(&state)?.0;
            stage.inc(1);
        }
        stage.finish();
        let mut rates = Vec::new();
        for (label, op) in &solvers {
            let lfts = Lfts::new(config.clone(), Solvers::new(exact, *op)?)?;
            let keep = if chi == 0.4 && op.is_none() { spec.patterns } else { 0 };
            let (row, taken) = timed_lfts(&lfts, &name, label, &state, spec, keep, reporter)?;
            rates.push(row.rate);
            rows.push(row);
            patterns.extend(taken);
        }
        if rates.len() == 2 {
            ratios.push((name, rates[1] / rates[0]));
        }
    }
    // The inverse map on the chi = 0.4 run's patterns (phi_B = 1 - phi_A).
    let m = grid.points();
    let name = format!("inverse map, {} L-FTS patterns at chi 0.4", patterns.len());
    let mut rates = Vec::new();
    for (label, op) in &solvers {
        let inverter = Inverter::new(Solvers::new(exact, *op)?, InverseConfig::default())?;
        let stage = reporter.stage(patterns.len() as u64, &format!("{name}, {label}"));
        let mut total = SolveCost::default();
        let started = Instant::now();
        for (k, phi) in patterns.iter().enumerate() {
            let mut target = phi.clone();
            for i in 0..m {
                target[m + i] = 1.0 - target[i];
            }
            let (out, rough) = inverter.invert(&target, None)?;
            if !out.converged {
                bail!("{name}, {label}: pattern {k} stopped at {:.2e}", out.residual);
            }
            total += SolveCost {
                exact_solves: out.solve_equivalents(),
                operator_calls: rough.map_or(0, |r| r.solves),
                rejected: out.rejected,
            };
            stage.inc(1);
        }
        let seconds = started.elapsed().as_secs_f64();
        stage.finish();
        rates.push(patterns.len() as f64 / seconds);
        rows.push(LoopRow {
            name: name.clone(),
            solver: label.clone(),
            seconds,
            rate: patterns.len() as f64 / seconds,
            unit: "patterns".into(),
            cost: total,
            h: None,
            psi2: None,
            recovery_error: None,
            free_energy: None,
        });
    }
    if rates.len() == 2 {
        ratios.push((name, rates[1] / rates[0]));
    }
    let resolved = |choice: SolverChoice| Resolved { choice, backend };
    let choices: Vec<(String, Resolved)> = std::iter::once(("exact".to_string(), resolved(SolverChoice::Exact)))
        .chain(set.solvers().operator.is_some().then(|| (set.label().to_string(), resolved(solver.clone()))))
        .collect();
    denoise_rows(spec, &model, grid, &patterns, &choices, reporter, &mut rows, &mut ratios)?;
    dynamics_rows(spec, exact, &patterns[0], &solvers, reporter, &mut rows, &mut ratios)?;
    Ok(LoopsReport { spec: spec.clone(), rows, ratios })
}

/// Fig. 4's denoising on the first `denoise_patterns` patterns, each with
/// Gaussian noise of half its spread, on each solver.
#[allow(clippy::too_many_arguments)]
fn denoise_rows(
    spec: &LoopsSpec,
    model: &ChainModel,
    grid: Grid,
    patterns: &[Vec<f64>],
    choices: &[(String, Resolved)],
    reporter: &Reporter,
    rows: &mut Vec<LoopRow>,
    ratios: &mut Vec<(String, f64)>,
) -> Result<()> {
    let m = grid.points();
    let n = spec.denoise_patterns.min(patterns.len());
    if n == 0 {
        return Ok(());
    }
    let clean = Patterns {
        n,
        mx: grid.mx,
        my: grid.my,
        phi_a: patterns[..n].iter().flat_map(|p| p[..m].iter().copied()).collect(),
        phi_b: None,
        model: Some(model.clone()),
    };
    let mut noisy = clean.clone();
    noisy.phi_a.clear();
    for s in 0..n {
        let (y, _) = add_noise(clean.sample(s), 0.5, 0.0, &mut StreamRng::new(spec.seed, 500 + s as u64));
        noisy.phi_a.extend_from_slice(&y);
    }
    let name = format!("denoising, {n} patterns at chi 0.4 (noise 0.5 x spread)");
    let denoise_spec = DenoiseSpec {
        chi: 0.4,
        beads_per_cell: spec.beads_per_cell,
        sigma: None,
        data_weight: 1.0,
        max_iterations: 500,
        compare_relaxation: false,
        starts: None,
    };
    let mut rates = Vec::new();
    for (label, choice) in choices {
        let started = Instant::now();
        let done = denoise_patterns(&noisy, Some(&clean), model, &denoise_spec, choice, reporter)?;
        let seconds = started.elapsed().as_secs_f64();
        let errors: Vec<f64> = done.patterns.iter().filter_map(|p| p.error.as_ref().map(|e| e.recovery)).collect();
        let (mean, sd) = mesofield_physics::stats::mean_std(&errors);
        rates.push(n as f64 / seconds);
        rows.push(LoopRow {
            name: name.clone(),
            solver: label.clone(),
            seconds,
            rate: n as f64 / seconds,
            unit: "patterns".into(),
            cost: done.patterns.iter().map(|p| p.recovery.cost).sum(),
            h: None,
            psi2: None,
            recovery_error: Some(Estimate { mean, stderr: sd / (errors.len() as f64).sqrt() }),
            free_energy: None,
        });
    }
    if rates.len() == 2 {
        ratios.push((name, rates[1] / rates[0]));
    }
    Ok(())
}

/// A dynamics anneal (eq. 26, chi 0.25, dt 2) of `dynamics_steps` steps
/// from `phi` on each solver.
fn dynamics_rows(
    spec: &LoopsSpec,
    exact: &ExactSolver,
    phi: &[f64],
    solvers: &[(String, Option<&dyn FieldSolver>)],
    reporter: &Reporter,
    rows: &mut Vec<LoopRow>,
    ratios: &mut Vec<(String, f64)>,
) -> Result<()> {
    if spec.dynamics_steps == 0 {
        return Ok(());
    }
    let m = exact.grid().points();
    let name = format!("dynamics anneal, chi 0.25, {} steps", spec.dynamics_steps);
    let mut rates = Vec::new();
    for (label, op) in solvers {
        let dynamics = Dynamics::new(DynamicsConfig::new(0.25, 2.0), Solvers::new(exact, *op)?)?;
        let stage = reporter.stage(spec.dynamics_steps as u64, &format!("{name}, {label}"));
        let started = Instant::now();
        let (state, cost) = dynamics.start(&phi[..m], None)?;
        let mut leg = [Replica { state, cost, analyzers: Vec::new() }];
        trajectory::run(&dynamics, &mut leg, spec.dynamics_steps, &mut |_| stage.inc(1))?;
        let [Replica { state, cost, .. }] = leg;
        let total = cost.solves;
        let seconds = started.elapsed().as_secs_f64();
        stage.finish();
        rates.push(spec.dynamics_steps as f64 / seconds);
        rows.push(LoopRow {
            name: name.clone(),
            solver: label.clone(),
            seconds,
            rate: spec.dynamics_steps as f64 / seconds,
            unit: "steps".into(),
            cost: total,
            h: None,
            psi2: None,
            recovery_error: None,
            free_energy: Some(state.free_energy),
        });
    }
    if rates.len() == 2 {
        ratios.push((name, rates[1] / rates[0]));
    }
    Ok(())
}
