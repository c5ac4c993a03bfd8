//! `mesofield bench loops`: the loops on the exact solver and with an
//! operator, side by side in one run, on the paper's system (32x32): L-FTS
//! at chi = 0.4 and 1.0 (both solvers from the same burnt-in state and
//! noise), and the inverse map on patterns of the chi = 0.4 run. Per loop:
//! wall time, rate, exact solves (the inverse map's are solve equivalents:
//! solves plus Jacobian products), operator calls, fallbacks (operator inner
//! loops the trust check threw away) and the ensemble averages with their
//! block errors, so a faster loop can be seen to sample the same ensemble.
//! Denoising and dynamics are not in it yet.

use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;

use mesofield_physics::fields::InitialField;
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::lfts::{Lfts, LftsConfig, LftsState};
use mesofield_physics::observables::order_parameter;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::stats::block_mean_error;
use mesofield_physics::{ChainModel, ExactSolver, FieldSolver, Grid, Solvers};

use crate::progress::Reporter;
use crate::solvers::{Backend, SolverChoice};

/// Blocks of the standard errors of the L-FTS means.
const BLOCKS: usize = 10;

#[derive(Clone, Debug, Serialize)]
pub struct LoopsSpec {
    /// Timed L-FTS steps per solver, after `burn_in` exact steps.
    pub steps: usize,
    pub burn_in: usize,
    /// Patterns of the chi = 0.4 run for the inverse map.
    pub patterns: usize,
    pub beads_per_cell: f64,
    pub step_size: f64,
    /// Max-norm of phi_A + phi_B - 1 after every step.
    pub tol: f64,
    pub seed: u64,
}

impl Default for LoopsSpec {
    fn default() -> Self {
        LoopsSpec { steps: 200, burn_in: 100, patterns: 20, beads_per_cell: 100.0, step_size: 0.05, tol: 1e-6, seed: 1 }
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
    pub exact_solves: usize,
    pub operator_calls: usize,
    pub fallbacks: usize,
    /// L-FTS: H per chain and mean (phi_A - phi_B)^2 over the timed steps.
    #[serde(rename = "H")]
    pub h: Option<Estimate>,
    pub psi2: Option<Estimate>,
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
            "| loop | solver | per second | exact solves | operator calls | fallbacks | H | (phi_A - phi_B)^2 |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        let show = |e: &Option<Estimate>| e.map_or("".to_string(), |e| format!("{:.5} +- {:.5}", e.mean, e.stderr));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.2} {} | {} | {} | {} | {} | {} |\n",
                r.name,
                r.solver,
                r.rate,
                r.unit,
                r.exact_solves,
                r.operator_calls,
                r.fallbacks,
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
    let (mut h, mut psi2) = (Vec::with_capacity(spec.steps), Vec::with_capacity(spec.steps));
    let (mut exact_solves, mut operator_calls, mut fallbacks) = (0, 0, 0);
    let every = (spec.steps / patterns.max(1)).max(1);
    let mut taken = Vec::new();
    let mut state = state.clone();
    let started = Instant::now();
    for k in 1..=spec.steps {
        let (next, cost) = lfts.step(&state)?;
        state = next;
        exact_solves += cost.exact_solves;
        operator_calls += cost.operator_calls;
        fallbacks += cost.rejected_operator_steps;
        h.push(state.hamiltonian);
        psi2.push(order_parameter(&state.phi));
        if k % every == 0 && taken.len() < patterns {
            taken.push(state.phi.clone());
        }
        stage.inc(1);
    }
    let seconds = started.elapsed().as_secs_f64();
    stage.finish();
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
        exact_solves,
        operator_calls,
        fallbacks,
        h: Some(estimate(&h)),
        psi2: Some(estimate(&psi2)),
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
    let exact = ExactSolver::new(&model, grid)?;
    let operator = solver.load(backend, &model, &grid)?;
    let operator_name = solver.to_string();
    let solvers: Vec<(String, Option<&dyn FieldSolver>)> = std::iter::once(("exact".to_string(), None))
        .chain(operator.as_ref().map(|o| (operator_name.clone(), Some(o as &dyn FieldSolver))))
        .collect();
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    let mut patterns = Vec::new();
    for chi in [0.4, 1.0] {
        let name = format!("L-FTS chi {chi}, B {}", spec.beads_per_cell);
        let config = LftsConfig {
            pressure_tolerance: spec.tol,
            ..LftsConfig::new(chi, spec.beads_per_cell, spec.step_size, spec.seed)
        };
        let burn = Lfts::new(config.clone(), Solvers::exact(&exact))?;
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
            let lfts = Lfts::new(config.clone(), Solvers::new(&exact, *op)?)?;
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
        let inverter = Inverter::new(Solvers::new(&exact, *op)?, InverseConfig::default())?;
        let stage = reporter.stage(patterns.len() as u64, &format!("{name}, {label}"));
        let (mut exact_solves, mut operator_calls) = (0, 0);
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
            exact_solves += out.solve_equivalents();
            operator_calls += rough.map_or(0, |r| r.solves);
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
            exact_solves,
            operator_calls,
            // The polish always runs, from the operator's fields.
            fallbacks: 0,
            h: None,
            psi2: None,
        });
    }
    if rates.len() == 2 {
        ratios.push((name, rates[1] / rates[0]));
    }
    Ok(LoopsReport { spec: spec.clone(), rows, ratios })
}
