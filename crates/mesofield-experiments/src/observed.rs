//! Observed patterns through the physics model: the fields of each pattern
//! by the inverse map (exact, or the operator first and the exact solver
//! after), and chi from clean samples.

use anyhow::{Context, Result, bail};
use serde::Serialize;

use mesofield_physics::chi::{ChiEstimate, ChiEstimator, estimate_chi};
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ChainModel, ExactSolver, FieldSolver, Grid};

use crate::patterns::Patterns;
use crate::progress::Reporter;
use crate::solvers::{Backend, SolverChoice};

/// One pattern's inverse map.
#[derive(Clone, Debug, Serialize)]
pub struct InverseRecord {
    /// What was added to make mean(phi_A) = f.
    pub mean_shift: f64,
    pub inverse_residual: f64,
    pub converged: bool,
    pub exact_solves: usize,
    pub exact_iterations: usize,
    pub operator_calls: usize,
}

/// The fields of each pattern.
pub struct Inverted {
    pub grid: Grid,
    /// `[n][2][M]` targets (phi_B = 1 - phi_A) and their fields.
    pub phi: Vec<f64>,
    pub w: Vec<f64>,
    pub per_sample: Vec<InverseRecord>,
}

/// Inverts every pattern (shifted to the chain's mean), refusing any the
/// chain cannot make.
pub fn invert_patterns(
    mut patterns: Patterns,
    model: &ChainModel,
    solver: &SolverChoice,
    backend: Backend,
    tol: f64,
    reporter: &Reporter,
) -> Result<Inverted> {
    let grid = Grid::for_model(model, patterns.mx, patterns.my)?;
    let shifts = patterns.match_mean(model.f_a());
    let phi = patterns.densities();
    let exact = ExactSolver::new(model, grid)?;
    let operator = solver.load(backend, model, &grid)?;
    let config = InverseConfig { tolerance: tol, ..Default::default() };
    let inverter = Inverter::new(&exact, operator.as_ref().map(|o| o as &dyn FieldSolver), config)?;
    let m = grid.points();
    let stage = reporter.stage(patterns.n as u64, "inverse map");
    let mut w = Vec::with_capacity(phi.len());
    let mut per_sample = Vec::new();
    for s in 0..patterns.n {
        let target = &phi[s * 2 * m..(s + 1) * 2 * m];
        let (out, rough) = inverter.invert(target, None).with_context(|| format!("sample {s}: inverse map"))?;
        if !out.converged && out.residual > 1e-6 {
            bail!(
                "sample {s}: the inverse map stopped at max |phi(w) - pattern| = {:.3e} after {} iterations: \
                 the chain may not be able to make this pattern (too sharp or too strongly segregated)",
                out.residual,
                out.iterations
            );
        }
        per_sample.push(InverseRecord {
            mean_shift: shifts[s],
            inverse_residual: out.residual,
            converged: out.converged,
            exact_solves: out.solves,
            exact_iterations: out.iterations,
            operator_calls: rough.as_ref().map_or(0, |r| r.solves),
        });
        w.extend_from_slice(&out.w);
        stage.inc(1);
    }
    stage.finish();
    Ok(Inverted { grid, phi, w, per_sample })
}

/// chi from clean samples: the inverse map, then the equipartition estimator
/// of an ensemble at `beads_per_cell`.
pub fn chi_from_samples(
    clean: Patterns,
    model: &ChainModel,
    beads_per_cell: f64,
    solver: &SolverChoice,
    backend: Backend,
    reporter: &Reporter,
) -> Result<ChiEstimate> {
    let inv = invert_patterns(clean, model, solver, backend, 1e-10, reporter)?;
    let plan = SpectralPlan::new(inv.grid);
    Ok(estimate_chi(&plan, &inv.w, &inv.phi, ChiEstimator::Equipartition { beads_per_cell })?)
}
