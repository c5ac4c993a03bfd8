//! Commands on observed patterns: `noise` (the same noisy inputs for every
//! method) and `infer-chi` (the inverse map, then chi from the exchange-field
//! condition).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use mesofield_physics::chi::{ChiEstimator, estimate_chi};
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::io::{TensorData, to_safetensors, write_atomic};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ChainModel, ExactSolver, FieldSolver, Grid};

use mesofield_inference::noise::add_noise;

use crate::observe::{Patterns, load_patterns};

#[derive(Args)]
pub struct NoiseArgs {
    /// Clean patterns (.safetensors, .npy or grayscale .png).
    #[arg(long)]
    pub input: PathBuf,
    /// Gaussian noise of SIGMA times each clean pattern's standard deviation.
    #[arg(long, allow_negative_numbers = true)]
    pub sigma: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of grid points set to the pattern's minimum or maximum (salt and pepper).
    #[arg(long, default_value_t = 0.0)]
    pub salt_pepper: f64,
    /// phi_A of a PNG's black and white, LO,HI.
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
    /// Output safetensors: `phi_a` [n, Mx, My] (float64).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_noise(a: &NoiseArgs) -> Result<()> {
    if !(a.sigma.is_finite() && a.sigma >= 0.0) {
        bail!("--sigma must be finite and >= 0, got {}", a.sigma);
    }
    if !(0.0..=1.0).contains(&a.salt_pepper) {
        bail!("--salt-pepper must be a fraction in [0, 1], got {}", a.salt_pepper);
    }
    let clean = load_patterns(&a.input, crate::parse_range(&a.phi_range, "--phi-range")?, true)?;
    let mut noisy = Vec::with_capacity(clean.phi_a.len());
    let mut sigma_abs = Vec::with_capacity(clean.n);
    for s in 0..clean.n {
        // One stream per sample: sample s gets the same noise whatever n is.
        let (y, amplitude) = add_noise(clean.sample(s), a.sigma, a.salt_pepper, &mut StreamRng::new(a.seed, s as u64));
        noisy.extend(y);
        sigma_abs.push(amplitude);
    }
    let meta = json!({"format": "mesofield-noisy", "source": a.input, "sigma": a.sigma, "sigma_abs": sigma_abs,
                      "salt_pepper": a.salt_pepper, "seed": a.seed, "model": clean.model});
    let bytes =
        to_safetensors(&[("phi_a", vec![clean.n, clean.mx, clean.my], TensorData::F64(&noisy))], &meta.to_string())?;
    write_atomic(&a.out, &bytes)?;
    if a.json {
        crate::print_json(
            &json!({"out": a.out, "samples": clean.n, "grid": [clean.mx, clean.my], "sigma_abs": sigma_abs}),
        );
    } else {
        println!("{} noisy patterns ({}x{}) -> {}", clean.n, clean.mx, clean.my, a.out.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct InferChiArgs {
    /// Clean patterns (.safetensors, .npy or grayscale .png); several files are pooled.
    #[arg(long, num_args = 1.., required = true)]
    pub samples: Vec<PathBuf>,
    /// Model file (TOML); default: the samples' metadata, else the paper's system.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// exact | operator:CHECKPOINT (the operator inverts first, the exact solver polishes).
    #[arg(long, default_value = "exact")]
    pub solver: String,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Beads per grid cell of the L-FTS ensemble the samples come from: adds
    /// the equipartition estimator (unbiased on fluctuating samples) and makes it the answer.
    #[arg(long)]
    pub beads_per_cell: Option<f64>,
    /// Tolerance of the inverse map, max |phi(w) - pattern|.
    #[arg(long, default_value_t = 1e-10)]
    pub tol: f64,
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
    #[command(flatten)]
    pub common: crate::Common,
}

/// The fields of each pattern by the inverse map (exact, or operator then exact).
pub struct Inverted {
    pub grid: Grid,
    /// `[n][2][M]` targets (phi_B = 1 - phi_A) and their fields.
    pub phi: Vec<f64>,
    pub w: Vec<f64>,
    pub per_sample: Vec<serde_json::Value>,
}

/// Inverts every pattern, refusing any the chain cannot make.
pub fn invert_patterns(
    mut patterns: Patterns,
    model: ChainModel,
    solver: &str,
    backend: &str,
    tol: f64,
) -> Result<Inverted> {
    let grid = Grid::for_model(&model, patterns.mx, patterns.my)?;
    let shifts = patterns.match_mean(model.f_a());
    let phi = patterns.densities();
    let exact = ExactSolver::new(&model, grid)?;
    let operator = crate::operator_cmds::solver_choice(solver, backend, &model, &grid)?;
    let inverter = Inverter::new(
        &exact,
        operator.as_ref().map(|o| o as &dyn FieldSolver),
        InverseConfig { tolerance: tol, ..Default::default() },
    )?;
    let m = grid.points();
    let bar = crate::progress_bar(patterns.n as u64, "inverse map");
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
        per_sample.push(json!({"mean_shift": shifts[s], "inverse_residual": out.residual, "converged": out.converged,
                               "exact_solves": out.solves, "exact_iterations": out.iterations,
                               "operator_calls": rough.as_ref().map_or(0, |r| r.solves)}));
        w.extend_from_slice(&out.w);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Inverted { grid, phi, w, per_sample })
}

pub fn cmd_infer_chi(a: &InferChiArgs) -> Result<()> {
    let started = Instant::now();
    let patterns = crate::observe::load_many(&a.samples, crate::parse_range(&a.phi_range, "--phi-range")?, true)?;
    let model = patterns.chain_model(a.model.as_deref())?;
    let n = patterns.n;
    let inv = invert_patterns(patterns, model, &a.solver, &a.backend, a.tol)?;
    let plan = SpectralPlan::new(inv.grid);
    let saddle = estimate_chi(&plan, &inv.w, &inv.phi, ChiEstimator::Saddle)?;
    let equipartition = match a.beads_per_cell {
        Some(b) => Some(estimate_chi(&plan, &inv.w, &inv.phi, ChiEstimator::Equipartition { beads_per_cell: b })?),
        None => None,
    };
    let answer = equipartition.as_ref().unwrap_or(&saddle);
    let seconds = started.elapsed().as_secs_f64();
    if a.common.json {
        crate::print_json(&json!({
            "chi": answer.chi, "std_error": answer.std_error, "per_sample": answer.per_sample,
            "estimator": answer.estimator, "saddle": saddle, "equipartition": equipartition,
            "samples": n, "grid": [inv.grid.mx, inv.grid.my], "solver": a.solver,
            "inverse": inv.per_sample, "seconds": seconds,
        }));
    } else {
        println!(
            "chi = {:.6} +- {:.6} ({} estimator, {n} samples, {:.2} s)",
            answer.chi,
            answer.std_error,
            match answer.estimator {
                ChiEstimator::Saddle => "saddle",
                ChiEstimator::Equipartition { .. } => "equipartition",
            },
            seconds
        );
        if equipartition.is_some() {
            println!("saddle estimator: {:.6} +- {:.6}", saddle.chi, saddle.std_error);
        }
    }
    Ok(())
}
