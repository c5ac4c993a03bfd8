//! chi from each independent pair of samples: the inverse map of both
//! patterns, then the equipartition estimator over the pair.

use anyhow::{Result, bail};
use mesofield_physics::Solvers;

use mesofield_physics::ExactSolver;
use mesofield_physics::chi::{ChiEstimate, ChiEstimator, estimate_chi};
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::spectral::SpectralPlan;

use super::Fig4Spec;
use super::pool::Pool;

pub fn chi_from_pairs(
    spec: &Fig4Spec,
    pool: &Pool,
    exact: &ExactSolver,
    plan: &SpectralPlan,
) -> Result<Vec<ChiEstimate>> {
    let inverter = Inverter::new(Solvers::exact(exact), InverseConfig::default())?;
    let mut estimates = Vec::new();
    for k in 0..spec.chi_pairs {
        let (mut w, mut phi) = (Vec::new(), Vec::new());
        for r in [spec.test_runs + 2 * k, spec.test_runs + 2 * k + 1] {
            let pattern = pool.phi_a(pool.last_of(r)?);
            let mut target = pattern.to_vec();
            target.extend(pattern.iter().map(|v| 1.0 - v));
            let (inv, _) = inverter.invert(&target, None)?;
            if !inv.converged {
                bail!("chi pair {k}: the inverse map of run {r}'s pattern stopped at residual {:.2e}", inv.residual);
            }
            w.extend(inv.w);
            phi.extend(target);
        }
        let estimator = ChiEstimator::Equipartition {
            beads_per_cell: spec.beads_per_cell,
            step_size: spec.step_size,
            integrator: spec.integrator,
        };
        estimates.push(estimate_chi(plan, &w, &phi, estimator)?);
    }
    Ok(estimates)
}
