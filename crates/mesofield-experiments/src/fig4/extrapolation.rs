//! Extrapolation with no new data: L-FTS at chi_hat x target / chi (the
//! observed system's interaction scaled, so the inference error carries
//! over) against L-FTS run directly at each target, compared by the S(q)
//! peak; the Gibbs samples of the RBM that Fig. 2 shows (its largest
//! training set) for contrast (an RBM has no interaction to change).

use anyhow::{Context, Result};
use mesofield_physics::Solvers;
use serde::Serialize;

use mesofield_physics::ExactSolver;
use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::observables::{Peak, StructureFactor, mean_of, structure_factor};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;

use super::Fig4Spec;
use super::pool::Pool;
use super::rbms::{NamedRbm, sample_peak};
use crate::progress::{Reporter, Stage};

/// The S(q) peak of a run and its whole S(q).
#[derive(Clone, Debug, Serialize)]
pub struct SqPeak {
    pub q: f64,
    #[serde(rename = "S")]
    pub s: f64,
    pub sq: StructureFactor,
}

/// The physics model's run: the chi it used, its peak and S(q).
#[derive(Clone, Debug, Serialize)]
pub struct PhysicsPeak {
    pub chi: f64,
    pub q: f64,
    #[serde(rename = "S")]
    pub s: f64,
    pub sq: StructureFactor,
}

#[derive(Clone, Debug, Serialize)]
pub struct RbmPeak {
    pub model: String,
    pub q: f64,
    #[serde(rename = "S")]
    pub s: f64,
}

/// The first row is the observed test patterns (`observed`); the others
/// hold `direct`, `physics` and `rbm`.
#[derive(Clone, Debug, Serialize)]
pub struct ExtrapolationRow {
    pub target: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Peak>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct: Option<SqPeak>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physics: Option<PhysicsPeak>,
    pub rbm: Option<RbmPeak>,
}

/// S(q) of phi_A averaged over the second half of an L-FTS run from a weak
/// random start at `chi`.
fn lfts_sq(
    exact: &ExactSolver,
    chi: f64,
    spec: &Fig4Spec,
    step_size: f64,
    seed: u64,
    stage: &Stage,
) -> Result<StructureFactor> {
    let grid = *exact.grid();
    let plan = SpectralPlan::new(grid);
    let w0 = InitialField::Random { amplitude: 0.01 }.fields(exact.model(), &grid, chi, &mut StreamRng::new(seed, 0));
    let config = LftsConfig::new(chi, spec.beads_per_cell, step_size, seed).with_integrator(spec.integrator);
    let sampler = Lfts::new(config, Solvers::exact(exact))?;
    let (mut state, _) = sampler.start(&w0, 0)?;
    let mut acc = Vec::new();
    let m = grid.points();
    while state.step < spec.steps {
        state = sampler.step(&state).with_context(|| format!("L-FTS at chi {chi}"))?.0;
        if state.step > spec.steps / 2 {
            acc.push(structure_factor(&plan, &state.phi[..m]));
        }
        stage.inc(1);
    }
    Ok(mean_of(&acc)?)
}

#[allow(clippy::too_many_arguments)]
pub fn extrapolate(
    spec: &Fig4Spec,
    chi: f64,
    tests: &[usize],
    pool: &Pool,
    exact: &ExactSolver,
    rbm: Option<&NamedRbm>,
    plan: &SpectralPlan,
    reporter: &Reporter,
) -> Result<Vec<ExtrapolationRow>> {
    if spec.extrapolate.is_empty() {
        return Ok(Vec::new());
    }
    let observed: Vec<StructureFactor> = tests.iter().map(|&i| structure_factor(plan, pool.phi_a(i))).collect();
    let mut rows = vec![ExtrapolationRow {
        target: spec.chi,
        observed: Some(mean_of(&observed)?.peak()),
        direct: None,
        physics: None,
        rbm: None,
    }];
    let rbm = match rbm {
        Some(r) => {
            let peak = sample_peak(spec, r, plan)?;
            Some(RbmPeak { model: r.label.clone(), q: peak.q, s: peak.s })
        }
        None => None,
    };
    for &target in &spec.extrapolate {
        let step_size = spec.step_size * (spec.chi / target).min(1.0);
        let stage = reporter.stage(2 * spec.steps as u64, &format!("L-FTS at chi {target}"));
        let direct = lfts_sq(exact, target, spec, step_size, spec.seed + 501, &stage)?;
        let chi_model = chi * target / spec.chi;
        let physics = lfts_sq(exact, chi_model, spec, step_size, spec.seed + 502, &stage)?;
        stage.finish();
        let (d, p) = (direct.peak(), physics.peak());
        rows.push(ExtrapolationRow {
            target,
            observed: None,
            direct: Some(SqPeak { q: d.q, s: d.s, sq: direct }),
            physics: Some(PhysicsPeak { chi: chi_model, q: p.q, s: p.s, sq: physics }),
            rbm: rbm.clone(),
        });
    }
    Ok(rows)
}

/// The extrapolation's part of `table.md` (empty without targets).
pub fn table(spec: &Fig4Spec, rows: &[ExtrapolationRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut table = String::from(
        "\nExtrapolation with no new data: S(q) peak (position q*, height S*) over the second half of each run.\n\n| target chi | L-FTS at target: q*, S* | physics from two samples: chi used, q*, S* | RBM samples: q*, S* |\n| --- | --- | --- | --- |\n",
    );
    for row in rows {
        if let Some(o) = &row.observed {
            table.push_str(&format!("| {} (observed: the test patterns) | {:.3}, {:.3} | | |\n", row.target, o.q, o.s));
            continue;
        }
        let (Some(d), Some(p)) = (&row.direct, &row.physics) else { continue };
        let rbm = match &row.rbm {
            Some(r) => format!("{:.3}, {:.3} ({} trained at chi {})", r.q, r.s, r.model, spec.chi),
            None => "no RBM".into(),
        };
        table.push_str(&format!(
            "| {} | {:.3}, {:.3} | {:.4}, {:.3}, {:.3} | {rbm} |\n",
            row.target, d.q, d.s, p.chi, p.q, p.s
        ));
    }
    table
}
