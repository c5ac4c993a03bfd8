//! `mesofield bench inverse`: the inverse map on a sweep of patterns the
//! chain itself made. Each pattern is an L-FTS snapshot at a chi, B, step
//! size, start, snapshot step and box drawn from one seed; its densities,
//! both channels as `sample` writes them, are the target (`patterns`: why
//! not 1 - phi_A), and the exact inverse map runs to 1e-10 without a
//! refusal gate. Per pattern: the
//! residual max |phi(w) - phi*| on all points and on the points the
//! equipartition estimator uses (both densities >= 3e-3), chi from that
//! pattern alone against the run's chi, and the cost in exact-solve
//! equivalents.

use std::time::Instant;

use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;

use mesofield_physics::chi::{ChiEstimator, EQUIPARTITION_DENSITY, estimate_chi};
use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{Integrator, Lfts, LftsConfig, LftsState};
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::stats::quantile;
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

use crate::progress::Reporter;

/// The sweep: ranges the patterns' settings are drawn from.
#[derive(Clone, Debug, Serialize)]
pub struct InverseSweepSpec {
    pub patterns: usize,
    pub seed: u64,
    pub chi: [f64; 2],
    /// B, log-uniform.
    pub beads_per_cell: [f64; 2],
    /// The snapshot's step, log-uniform.
    pub snapshot_step: [usize; 2],
    /// Grids (MX, MY) on the model's spacing, drawn with equal weight.
    pub grids: Vec<[usize; 2]>,
    pub tolerance: f64,
    /// The runs' Langevin step (the estimator follows it). The tables in
    /// BENCHMARKS.md before the Leimkuhler-Matthews default were measured
    /// on Euler-Maruyama runs (`--integrator em` draws those patterns).
    pub integrator: Integrator,
}

impl InverseSweepSpec {
    /// chi 0.2-1.5, B 30-1000, snapshots at steps 200-5000, 32x32 and a
    /// 64x64 box of 12.8, 100 patterns.
    pub fn full(seed: u64) -> Self {
        InverseSweepSpec {
            patterns: 100,
            seed,
            chi: [0.2, 1.5],
            beads_per_cell: [30.0, 1000.0],
            snapshot_step: [200, 5000],
            grids: vec![[32, 32], [32, 32], [32, 32], [64, 64]],
            tolerance: 1e-10,
            integrator: Integrator::default(),
        }
    }

    /// Seconds: six patterns on 16x16 at steps 20-60.
    pub fn quick(seed: u64) -> Self {
        InverseSweepSpec {
            patterns: 6,
            chi: [0.3, 1.0],
            snapshot_step: [20, 60],
            grids: vec![[16, 16]],
            ..InverseSweepSpec::full(seed)
        }
    }
}

/// One pattern's settings and outcome.
#[derive(Clone, Debug, Serialize)]
pub struct InverseSweepRow {
    pub chi: f64,
    pub beads_per_cell: f64,
    pub step_size: f64,
    pub start: String,
    pub snapshot_step: usize,
    pub grid: [usize; 2],
    pub converged: bool,
    /// max |phi(w) - phi*| over all points, and over the estimator's points.
    pub residual: f64,
    pub residual_estimator_points: f64,
    /// chi from this pattern alone (equipartition at the run's B and step).
    pub chi_estimate: f64,
    pub chi_stderr: f64,
    pub solve_equivalents: usize,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct InverseSweepReport {
    pub spec: InverseSweepSpec,
    pub rows: Vec<InverseSweepRow>,
    /// Patterns inverted to the tolerance; to 1e-8 on every point; to 1e-8
    /// on the estimator's points.
    pub converged: usize,
    pub below_1e8: usize,
    pub below_1e8_estimator_points: usize,
    /// chi within 3% of the run's, or within 3 of its standard errors.
    pub chi_within: usize,
    pub median_solve_equivalents: f64,
    pub worst_solve_equivalents: usize,
}

/// The pattern of draw `k`: its settings (chi, B, lambda, start, snapshot
/// step, grid, the run's seed), from the sweep's seed.
pub fn draw(spec: &InverseSweepSpec, k: usize) -> (f64, f64, f64, InitialField, usize, [usize; 2], u64) {
    let mut rng = StreamRng::new(spec.seed, k as u64);
    let chi = rng.uniform_in(spec.chi[0], spec.chi[1]);
    let beads_per_cell = rng.log_uniform_in(spec.beads_per_cell[0], spec.beads_per_cell[1]);
    // The explicit step is stable for lambda well below chi.
    let step_size = rng.uniform_in(0.02, 0.05).min(0.1 * chi);
    let start = match (rng.uniform() * 3.0) as usize {
        0 => InitialField::Random { amplitude: 0.01 },
        1 => InitialField::Random { amplitude: 0.1 },
        _ => InitialField::Lamellar { periods: 1 + (rng.uniform() * 2.0) as usize },
    };
    let [lo, hi] = spec.snapshot_step;
    let snapshot = rng.log_uniform_in(lo as f64, hi as f64).round() as usize;
    let grid = spec.grids[(rng.uniform() * spec.grids.len() as f64) as usize % spec.grids.len()];
    (chi, beads_per_cell, step_size, start, snapshot, grid, rng.next_u64())
}

/// `--init`'s spelling of a start.
fn start_label(start: &InitialField) -> String {
    match start {
        InitialField::Random { amplitude } => format!("random:{amplitude}"),
        InitialField::Lamellar { periods } => format!("lamellar:{periods}"),
        InitialField::Hex { nx, ny } => format!("hex:{nx}:{ny}"),
        InitialField::Square { nx, ny } => format!("square:{nx}:{ny}"),
    }
}

/// The L-FTS snapshot of draw `k`, made with `exact` (on the draw's grid),
/// its compressor at `pressure_tolerance` (None: the sampler's default).
pub fn snapshot(
    spec: &InverseSweepSpec,
    k: usize,
    exact: &ExactSolver,
    pressure_tolerance: Option<f64>,
) -> Result<LftsState> {
    Ok(grow(spec, k, exact, pressure_tolerance)?.0)
}

/// Attempts at a draw whose run leaves the model's domain.
const GROW_ATTEMPTS: usize = 4;

/// Draw `k`'s run to its snapshot step, and the step size it ran with. A
/// drawn start or step can be too rough for the bond kernel (a lattice
/// start on a small box at large chi: Q <= 0 at step 0 or 1); such a run is
/// made again with the step and the start's fields halved, up to
/// `GROW_ATTEMPTS` times, and the error names the draw when none works.
fn grow(
    spec: &InverseSweepSpec,
    k: usize,
    exact: &ExactSolver,
    pressure_tolerance: Option<f64>,
) -> Result<(LftsState, f64)> {
    let (chi, beads_per_cell, drawn_step, start, snapshot, [mx, my], seed) = draw(spec, k);
    let w0 = start.fields(exact.model(), exact.grid(), chi, &mut StreamRng::new(seed, 0));
    let mut failure = None;
    for attempt in 0..GROW_ATTEMPTS {
        let scale = 0.5f64.powi(attempt as i32);
        let step_size = drawn_step * scale;
        let mut config = LftsConfig::new(chi, beads_per_cell, step_size, seed).with_integrator(spec.integrator);
        if let Some(tolerance) = pressure_tolerance {
            config = config.with_pressure_tolerance(tolerance);
        }
        let lfts = Lfts::new(config, Solvers::exact(exact))?;
        let w: Vec<f64> = w0.iter().map(|v| v * scale).collect();
        let run = || -> mesofield_physics::Result<LftsState> {
            let (mut state, _) = lfts.start(&w, 0)?;
            while state.step < snapshot {
                state = lfts.step(&state)?.0;
            }
            Ok(state)
        };
        match run() {
            Ok(state) => return Ok((state, step_size)),
            Err(e @ mesofield_physics::Error::Interrupted) => return Err(e.into()),
            Err(e) => failure = Some(e),
        }
    }
    Err(anyhow::anyhow!(
        "pattern {k} (chi {chi:.3}, B {beads_per_cell:.0}, lambda {drawn_step:.3}, {}, {mx}x{my}): \
         the L-FTS run failed with the step and the start halved {} times: {}",
        start_label(&start),
        GROW_ATTEMPTS - 1,
        failure.expect("an attempt failed")
    ))
}

/// Makes pattern `k` and inverts it.
fn row(spec: &InverseSweepSpec, k: usize, model: &ChainModel) -> Result<InverseSweepRow> {
    let (chi, beads_per_cell, _, start, snapshot_step, [mx, my], _) = draw(spec, k);
    let grid = Grid::for_model(model, mx, my)?;
    let exact = ExactSolver::new(model, grid)?;
    let m = grid.points();
    let (state, step_size) = grow(spec, k, &exact, None)?;
    let target = state.phi;
    let inverter =
        Inverter::new(Solvers::exact(&exact), InverseConfig { tolerance: spec.tolerance, ..Default::default() })?;
    let started = Instant::now();
    let (out, _) = inverter.invert(&target, None)?;
    let seconds = started.elapsed().as_secs_f64();
    let on_estimator_points = (0..m)
        .filter(|&i| target[i].min(target[m + i]) >= EQUIPARTITION_DENSITY)
        .flat_map(|i| [(out.phi[i] - target[i]).abs(), (out.phi[m + i] - target[m + i]).abs()])
        .fold(0.0, f64::max);
    let estimate = estimate_chi(
        &SpectralPlan::new(grid),
        &out.w,
        &out.phi,
        ChiEstimator::Equipartition { beads_per_cell, step_size, integrator: spec.integrator },
    )?;
    Ok(InverseSweepRow {
        chi,
        beads_per_cell,
        step_size,
        start: start_label(&start),
        snapshot_step,
        grid: [mx, my],
        converged: out.converged,
        residual: out.residual,
        residual_estimator_points: on_estimator_points,
        chi_estimate: estimate.chi,
        chi_stderr: estimate.std_error,
        solve_equivalents: out.solve_equivalents(),
        seconds,
    })
}

/// The sweep of `spec`, patterns made and inverted in parallel.
pub fn bench_inverse(spec: &InverseSweepSpec, reporter: &Reporter) -> Result<InverseSweepReport> {
    let model = ChainModel::default();
    let stage = reporter.stage(spec.patterns as u64, "inverse sweep");
    let rows: Vec<InverseSweepRow> = (0..spec.patterns)
        .into_par_iter()
        .map(|k| {
            let r = row(spec, k, &model);
            stage.inc(1);
            r
        })
        .collect::<Result<_>>()?;
    stage.finish();
    let count = |f: &dyn Fn(&InverseSweepRow) -> bool| rows.iter().filter(|r| f(r)).count();
    let mut costs: Vec<f64> = rows.iter().map(|r| r.solve_equivalents as f64).collect();
    costs.sort_by(f64::total_cmp);
    Ok(InverseSweepReport {
        converged: count(&|r| r.converged),
        below_1e8: count(&|r| r.residual < 1e-8),
        below_1e8_estimator_points: count(&|r| r.residual_estimator_points < 1e-8),
        chi_within: count(&|r| {
            let off = (r.chi_estimate - r.chi).abs();
            off <= 0.03 * r.chi || off <= 3.0 * r.chi_stderr
        }),
        median_solve_equivalents: quantile(&costs, 0.5),
        worst_solve_equivalents: rows.iter().map(|r| r.solve_equivalents).max().unwrap_or(0),
        rows,
        spec: spec.clone(),
    })
}

impl InverseSweepReport {
    pub fn markdown(&self) -> String {
        let n = self.rows.len();
        let mut t = format!(
            "{n} patterns (seed {}, {} steps): converged to {:e} {}; max |phi(w) - phi*| < 1e-8 on every point {}, on the estimator's points {}; \
             chi within 3% (or 3 standard errors) {}; exact-solve equivalents median {:.0}, worst {}.\n\n\
             | chi | B | lambda | start | step | grid | residual | on estimator points | chi from it | solves | s |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
            self.spec.seed,
            self.spec.integrator,
            self.spec.tolerance,
            self.converged,
            self.below_1e8,
            self.below_1e8_estimator_points,
            self.chi_within,
            self.median_solve_equivalents,
            self.worst_solve_equivalents
        );
        for r in &self.rows {
            t.push_str(&format!(
                "| {:.3} | {:.0} | {:.3} | {} | {} | {}x{} | {:.1e} | {:.1e} | {:.4} +- {:.4} | {} | {:.1} |\n",
                r.chi,
                r.beads_per_cell,
                r.step_size,
                r.start,
                r.snapshot_step,
                r.grid[0],
                r.grid[1],
                r.residual,
                r.residual_estimator_points,
                r.chi_estimate,
                r.chi_stderr,
                r.solve_equivalents,
                r.seconds
            ));
        }
        t
    }
}
