//! Observed patterns through the physics model: the fields of each pattern
//! by the inverse map (exact, or the operator first and the exact solver
//! after), chi from clean samples, and noisy patterns recovered by action
//! minimisation.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use mesofield_inference::baselines::estimate_noise_sigma;
use mesofield_inference::contrast_relative_error;
use mesofield_inference::denoise::{DenoiseConfig, DenoiseOutcome, denoise_from};
use mesofield_physics::chi::{ChiEstimate, ChiEstimator, estimate_chi};
use mesofield_physics::fts::Integrator;
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ChainModel, Grid};

use crate::patterns::Patterns;
use crate::plot;
use crate::progress::Reporter;
use crate::roles::SolverSource;

/// One pattern's inverse map.
#[derive(Clone, Debug, Serialize)]
pub struct InverseRecord {
    /// What was added to make mean(phi_A) = f.
    pub mean_shift: f64,
    pub inverse_residual: f64,
    pub converged: bool,
    pub exact_solves: usize,
    pub exact_iterations: usize,
    /// Newton steps after the quasi-Newton iteration, and their products
    /// with the exact Jacobian (each about one solve).
    pub newton_steps: usize,
    pub jacobian_products: usize,
    pub operator_calls: usize,
    /// 1 where the trust check threw the operator's start away.
    pub rejected: usize,
}

/// The fields of each pattern.
pub struct Inverted {
    pub grid: Grid,
    /// `[n][2][M]` targets (phi_B = 1 - phi_A) and their fields.
    pub phi: Vec<f64>,
    pub w: Vec<f64>,
    pub per_sample: Vec<InverseRecord>,
}

/// How far a pattern may stay from its fields' densities (max-norm) and
/// still be used. L-FTS patterns grown from random fields at chi = 1.0,
/// which the chain makes (their runs' fields reproduce them to 1e-10), used
/// to stop at 4e-9 to 1e-4 in 7 of 16 cases (example `inv_random`), with chi
/// from their best fields equal to chi from the runs' own to 2e-4 relative;
/// since the inverse map resets depleted points' fields and finishes with
/// accurate Newton steps, all 32 of seeds 1-16 invert to 1e-10, and the gate
/// remains for patterns from elsewhere that the chain nearly makes. Stripes
/// with interfaces of 0-2 grid cells, which no moderate field makes, stop
/// at 1.3e-3 to 0.2 (example `inv_gate`). The gate sits between the two.
pub const PARTIAL_INVERSION: f64 = 3e-4;

/// Inverts every pattern (shifted to the chain's mean), refusing any the
/// chain cannot make (further than `PARTIAL_INVERSION` from every
/// field's densities the inverse map finds).
pub fn invert_patterns(
    mut patterns: Patterns,
    model: &ChainModel,
    source: &dyn SolverSource,
    tol: f64,
    reporter: &Reporter,
) -> Result<Inverted> {
    let grid = Grid::for_model(model, patterns.mx, patterns.my)?;
    let shifts = patterns.match_mean(model.f_a());
    let phi = patterns.densities();
    let set = source.solvers(model, &grid)?;
    let config = InverseConfig { tolerance: tol, ..Default::default() };
    let inverter = Inverter::new(set.solvers(), config)?;
    let m = grid.points();
    let stage = reporter.stage(patterns.n as u64, "inverse map");
    let mut w = Vec::with_capacity(phi.len());
    let mut per_sample = Vec::new();
    for s in 0..patterns.n {
        let target = &phi[s * 2 * m..(s + 1) * 2 * m];
        let (out, rough) = inverter.invert(target, None).with_context(|| format!("sample {s}: inverse map"))?;
        if !out.converged && out.residual > PARTIAL_INVERSION {
            bail!(
                "sample {s}: the inverse map stopped at max |phi(w) - pattern| = {:.3e} after {} iterations, \
                 {} Newton steps and {} exact-solve equivalents: the chain may not be able to make this pattern \
                 (too sharp or too strongly segregated)",
                out.residual,
                out.iterations,
                out.newton_steps,
                out.solve_equivalents()
            );
        }
        if !out.converged {
            reporter.note(&format!(
                "sample {s}: the inverse map reached max |phi(w) - pattern| = {:.1e}, not {tol:.0e}; its best fields are used",
                out.residual
            ));
        }
        per_sample.push(InverseRecord {
            mean_shift: shifts[s],
            inverse_residual: out.residual,
            converged: out.converged,
            exact_solves: out.solves,
            exact_iterations: out.iterations,
            newton_steps: out.newton_steps,
            jacobian_products: out.jacobian_products,
            operator_calls: rough.as_ref().map_or(0, |r| r.solves),
            rejected: out.rejected,
        });
        w.extend_from_slice(&out.w);
        stage.inc(1);
    }
    stage.finish();
    Ok(Inverted { grid, phi, w, per_sample })
}

/// `infer-chi`'s answer: the saddle estimator always, the equipartition
/// estimator when the ensemble's B is known, and the inverse map's records.
pub struct ChiInference {
    pub saddle: ChiEstimate,
    pub equipartition: Option<ChiEstimate>,
    pub inverted: Inverted,
    pub seconds: f64,
}

impl ChiInference {
    /// The equipartition estimate if there is one, else the saddle's.
    pub fn answer(&self) -> &ChiEstimate {
        self.equipartition.as_ref().unwrap_or(&self.saddle)
    }

    /// The JSON report of `infer-chi --json` (and of Python's `infer_chi`).
    pub fn report(&self, solver: &str) -> serde_json::Value {
        let answer = self.answer();
        let grid = self.inverted.grid;
        serde_json::json!({
            "chi": answer.chi, "std_error": answer.std_error, "per_sample": answer.per_sample,
            "estimator": answer.estimator, "saddle": self.saddle, "equipartition": self.equipartition,
            "samples": self.inverted.per_sample.len(), "grid": [grid.mx, grid.my], "solver": solver,
            "inverse": self.inverted.per_sample, "seconds": self.seconds,
        })
    }
}

/// chi from clean patterns: the inverse map (to `tol`), then the saddle
/// estimator and, given `beads_per_cell`, the equipartition estimator of
/// an ensemble sampled with L-FTS steps `(step_size, integrator)`
/// (step size 0: the continuum).
pub fn infer_chi(
    patterns: Patterns,
    model: &ChainModel,
    beads_per_cell: Option<f64>,
    (step_size, integrator): (f64, Integrator),
    source: &dyn SolverSource,
    tol: f64,
    reporter: &Reporter,
) -> Result<ChiInference> {
    let started = std::time::Instant::now();
    let inverted = invert_patterns(patterns, model, source, tol, reporter)?;
    let plan = SpectralPlan::new(inverted.grid);
    let saddle = estimate_chi(&plan, &inverted.w, &inverted.phi, ChiEstimator::Saddle)?;
    let equipartition = match beads_per_cell {
        Some(b) => Some(estimate_chi(
            &plan,
            &inverted.w,
            &inverted.phi,
            ChiEstimator::Equipartition { beads_per_cell: b, step_size, integrator },
        )?),
        None => None,
    };
    Ok(ChiInference { saddle, equipartition, inverted, seconds: started.elapsed().as_secs_f64() })
}

/// chi from clean samples: the inverse map, then the equipartition estimator
/// of an ensemble at `beads_per_cell` sampled with L-FTS steps
/// `(step_size, integrator)` (step size 0: the continuum limit).
pub fn chi_from_samples(
    clean: Patterns,
    model: &ChainModel,
    beads_per_cell: f64,
    (step_size, integrator): (f64, Integrator),
    source: &dyn SolverSource,
    reporter: &Reporter,
) -> Result<ChiEstimate> {
    let inv = invert_patterns(clean, model, source, 1e-10, reporter)?;
    let plan = SpectralPlan::new(inv.grid);
    Ok(estimate_chi(&plan, &inv.w, &inv.phi, ChiEstimator::Equipartition { beads_per_cell, step_size, integrator })?)
}

/// Denoising settings shared by every pattern of a call.
#[derive(Clone, Debug)]
pub struct DenoiseSpec {
    pub chi: f64,
    /// B, the weight of the action against the data.
    pub beads_per_cell: f64,
    /// The noise's standard deviation; None: estimated from each pattern.
    pub sigma: Option<f64>,
    /// 1: the posterior (action + data); 0: plain SCF relaxation.
    pub data_weight: f64,
    pub max_iterations: usize,
    /// Also run the relaxation without data and report both.
    pub compare_relaxation: bool,
    /// `[n][M]` phi_A to start each descent from (a denoise operator's
    /// output, `denoise --polish`); None: the noisy patterns.
    pub starts: Option<Vec<f64>>,
}

/// Contrast-relative errors against the clean original.
#[derive(Clone, Debug, Serialize)]
pub struct RecoveryErrors {
    pub recovery: f64,
    pub relaxation: Option<f64>,
    pub noisy: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PatternRecovery {
    pub sigma: f64,
    pub recovery: DenoiseOutcome,
    pub relaxation: Option<DenoiseOutcome>,
    pub error: Option<RecoveryErrors>,
}

pub struct Denoised {
    /// `[n][M]` recovered phi_A and `[n][2][M]` their fields.
    pub recovered: Vec<f64>,
    pub fields: Vec<f64>,
    pub patterns: Vec<PatternRecovery>,
    /// Which data-term gradient ran (linear response or the operator's autodiff).
    pub gradient: String,
}

/// Every noisy pattern recovered by action minimisation (with the
/// operator's W_+ loops and gradient for `operator:`), with errors against
/// `truth` when given.
pub fn denoise_patterns(
    noisy: &Patterns,
    truth: Option<&Patterns>,
    model: &ChainModel,
    spec: &DenoiseSpec,
    source: &dyn SolverSource,
    reporter: &Reporter,
) -> Result<Denoised> {
    let grid = Grid::for_model(model, noisy.mx, noisy.my)?;
    let set = source.solvers(model, &grid)?;
    let gradient = source.gradient(model, &grid)?;
    let solvers = set.solvers();
    let plan = SpectralPlan::new(grid);
    let m = grid.points();
    let stage = reporter.stage((noisy.n * spec.max_iterations) as u64, "denoise");
    let mut out = Denoised {
        recovered: Vec::with_capacity(noisy.n * m),
        fields: Vec::with_capacity(noisy.n * 2 * m),
        patterns: Vec::new(),
        gradient: gradient.name(),
    };
    for s in 0..noisy.n {
        let y = noisy.sample(s);
        let sigma = spec.sigma.unwrap_or_else(|| estimate_noise_sigma(&plan, y));
        let config = DenoiseConfig {
            data_weight: spec.data_weight,
            max_iterations: spec.max_iterations,
            ..DenoiseConfig::new(spec.chi, spec.beads_per_cell, sigma)
        };
        let run = |config: &DenoiseConfig| -> Result<DenoiseOutcome> {
            let base = (s * spec.max_iterations) as u64;
            let start = spec.starts.as_ref().map(|x| &x[s * m..(s + 1) * m]);
            denoise_from(solvers, gradient.as_ref(), y, start, config, &mut |p| {
                stage.set_position(base + p.iteration as u64)
            })
            .with_context(|| format!("pattern {s}"))
        };
        let recovery = run(&config)?;
        let relaxation = if spec.compare_relaxation {
            Some(run(&DenoiseConfig { data_weight: 0.0, ..config.clone() })?)
        } else {
            None
        };
        let error = truth.map(|t| {
            let clean = t.sample(s);
            RecoveryErrors {
                recovery: contrast_relative_error(&recovery.phi_a, clean),
                relaxation: relaxation.as_ref().map(|r| contrast_relative_error(&r.phi_a, clean)),
                noisy: contrast_relative_error(y, clean),
            }
        });
        out.recovered.extend_from_slice(&recovery.phi_a);
        out.fields.extend_from_slice(&recovery.w);
        out.patterns.push(PatternRecovery { sigma, recovery, relaxation, error });
    }
    stage.finish();
    Ok(out)
}

/// Noisy | recovered (| truth) per pattern (the first four), one colour scale.
pub fn draw_recoveries(noisy: &Patterns, recovered: &[f64], truth: Option<&Patterns>, path: &Path) -> Result<()> {
    let m = noisy.points();
    let range = Some((0.0, 1.0));
    let panel = |v: &[f64], title: &str| plot::titled(plot::field_image(v, noisy.mx, noisy.my, range, 192).0, title);
    let mut rows = Vec::new();
    for s in 0..noisy.n.min(4) {
        let mut row = vec![panel(noisy.sample(s), "NOISY"), panel(&recovered[s * m..(s + 1) * m], "RECOVERED")];
        if let Some(t) = truth {
            row.push(panel(t.sample(s), "ORIGINAL"));
        }
        rows.push(row);
    }
    plot::save_png(plot::tile(rows), path)
}
