//! Denoising by action minimisation (the paper's Fig. 4).
//!
//! The L-FTS ensemble at fluctuation strength B is exp(-B G[W_-]), with
//! dG/dW_-(r) = phi_B - phi_A + 2 W_- / chi (W_+ at its partial saddle
//! point; G = (M/N) H/n, H/n the Hamiltonian per chain of docs/model.md). With a
//! noisy observation y = phi_A + Gaussian noise of standard deviation sigma,
//! the most probable field given y minimises
//!     A[W_-] = B G[W_-] + lambda_d ||phi_A[W] - y||^2 / (2 sigma^2),
//! lambda_d = 1 (the posterior), 0 (plain SCF relaxation from the noisy
//! start, the comparison the issue asks for). Its gradient divided by B,
//!     F(r) = phi_B - phi_A + 2 W_- / chi + lambda_d / (B sigma^2) J^T (phi_A - y),
//! drives steepest descent W_- <- W_- - tau F, the step tau adapted: a step
//! is kept only if A (evaluated exactly, with the exact densities) fell;
//! otherwise tau halves. J^T comes from a `DataGradient`.
//!
//! The start is W_- = chi (2 y - 1) / 2, the exchange-field condition of the
//! observation itself (y clamped to [0, 1]).

use std::time::Instant;

use mesofield_physics::fts::{Compressor, CompressorConfig, PartialSaddle};
use mesofield_physics::{Error, Result, SolveCost, Solvers};

use crate::gradient::{DataGradient, LinearResponse};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DenoiseConfig {
    pub chi: f64,
    /// B, beads per grid cell: how strongly the action weighs against the data.
    pub beads_per_cell: f64,
    /// Noise standard deviation of the observation (absolute, phi units).
    pub sigma: f64,
    /// 1: the posterior; 0: SCF relaxation from the noisy start.
    pub data_weight: f64,
    /// First descent step tau.
    pub step_size: f64,
    pub max_iterations: usize,
    /// Stop when the largest change of W_- in a kept step is below this.
    pub tolerance: f64,
    /// max |phi_A + phi_B - 1| of every evaluated state.
    pub pressure_tolerance: f64,
}

impl DenoiseConfig {
    pub fn new(chi: f64, beads_per_cell: f64, sigma: f64) -> Self {
        DenoiseConfig {
            chi,
            beads_per_cell,
            sigma,
            data_weight: 1.0,
            step_size: 0.2,
            max_iterations: 500,
            tolerance: 1e-6,
            pressure_tolerance: 1e-8,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        for (name, v) in [
            ("chi", self.chi),
            ("beads per cell", self.beads_per_cell),
            ("sigma", self.sigma),
            ("step size", self.step_size),
            ("tolerance", self.tolerance),
        ] {
            if !positive(v) {
                return Err(Error::Parameter(format!("denoising: {name} must be finite and > 0, got {v}")));
            }
        }
        if !(self.data_weight.is_finite() && self.data_weight >= 0.0) {
            return Err(Error::Parameter(format!("denoising: data weight must be >= 0, got {}", self.data_weight)));
        }
        if self.max_iterations == 0 {
            return Err(Error::Parameter("denoising: max iterations must be >= 1".into()));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DenoiseOutcome {
    /// The recovered pattern, exact phi_A at the final fields.
    #[serde(skip)]
    pub phi_a: Vec<f64>,
    /// Final fields `[2][M]`.
    #[serde(skip)]
    pub w: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
    /// A at the end, relative to the homogeneous melt with no data.
    pub action: f64,
    /// ||phi_A - y||^2 / (2 sigma^2) at the end.
    pub data_misfit: f64,
    /// H/n at the end (per chain, relative to the homogeneous melt).
    pub hamiltonian: f64,
    /// Solves of the compressor; `rejected`: its operator loops that the
    /// trust check threw away.
    #[serde(flatten)]
    pub cost: SolveCost,
    pub gradient_calls: usize,
    /// Descent steps halved because the action did not fall.
    pub backtracks: usize,
    pub seconds: f64,
}

pub struct Progress {
    pub iteration: usize,
    pub action: f64,
    pub step_size: f64,
}

/// Denoises one observation `y` (`[M]`) on the solvers' grid. With an
/// operator in `solvers`, it runs the W_+ inner loops (each step confirmed
/// exactly) of a first descent along `gradient`, and the exact path's
/// descent (exact W_+ loops, `LinearResponse`) continues from there to its
/// own tolerance, so the recovery is the exact path's fixed point.
pub fn denoise(
    solvers: Solvers<'_>,
    gradient: &dyn DataGradient,
    y: &[f64],
    config: &DenoiseConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<DenoiseOutcome> {
    denoise_from(solvers, gradient, y, None, config, progress)
}

/// `denoise` from the fields of a pattern `start` (`[M]` phi_A, e.g. a
/// denoise operator's output) instead of the observation's: the descent
/// and its fixed point are the same, the path shorter where the start is
/// close.
pub fn denoise_from(
    solvers: Solvers<'_>,
    gradient: &dyn DataGradient,
    y: &[f64],
    start: Option<&[f64]>,
    config: &DenoiseConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<DenoiseOutcome> {
    config.validate()?;
    let started = Instant::now();
    let exact = solvers.exact;
    let m = exact.grid().points();
    if y.len() != m {
        return Err(Error::Shape(format!("observation has {} values, the grid {m}", y.len())));
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(Error::Parameter(format!("observation value {} at index {i} is not finite", y[i])));
    }
    let compressor_config = CompressorConfig { tolerance: config.pressure_tolerance, ..CompressorConfig::default() };
    let mut descent = Descent {
        compressor: Compressor::new(compressor_config.clone(), solvers)?,
        gradient,
        y,
        config,
        // B G = B (M/N) H/n.
        action_scale: config.beads_per_cell * m as f64 / exact.model().beads as f64,
        force: vec![0.0; m],
        residual: vec![0.0; m],
        jt: vec![0.0; m],
        cost: SolveCost::default(),
        gradient_calls: 0,
        backtracks: 0,
    };
    if let Some(start) = start {
        if start.len() != m || start.iter().any(|v| !v.is_finite()) {
            return Err(Error::Shape(format!("the start needs {m} finite values, got {}", start.len())));
        }
    }
    let (state, cost) = descent.compressor.start(&start_fields(config.chi, start.unwrap_or(y)))?;
    descent.cost += cost;
    let (state, value, iterations, converged) = descent.run(state, progress)?;
    if solvers.operator.is_none() {
        return Ok(descent.outcome(&state, value, iterations, converged, started));
    }
    // The exact path's fixed point: its descent (exact W_+ loops, the
    // linear-response data gradient) from where the operator's stopped, so
    // the recovery does not depend on the operator's gradient.
    let linear = LinearResponse::new(exact.model(), *exact.grid());
    let mut polish = Descent {
        compressor: Compressor::new(compressor_config, Solvers::exact(exact))?,
        gradient: &linear,
        ..descent
    };
    let (state, value, more, converged) = polish.run(state, progress)?;
    Ok(polish.outcome(&state, value, iterations + more, converged, started))
}

/// The start W_- = chi (2 y - 1) / 2 as fields `[2][M]` (W_+ = 0).
fn start_fields(chi: f64, y: &[f64]) -> Vec<f64> {
    let m = y.len();
    let mut w = vec![0.0; 2 * m];
    for i in 0..m {
        // Clamped to a volume fraction: strong noise would otherwise start
        // from fields outside the model's domain.
        let w_minus = 0.5 * chi * (2.0 * y[i].clamp(0.0, 1.0) - 1.0);
        w[i] = -w_minus;
        w[m + i] = w_minus;
    }
    w
}

/// The steepest descent on A: the compressor that evaluates states, the
/// force F with its explicit scratch, and what the descent cost.
struct Descent<'a> {
    compressor: Compressor<'a>,
    gradient: &'a dyn DataGradient,
    /// The observation, `[M]`.
    y: &'a [f64],
    config: &'a DenoiseConfig,
    /// B G = B (M/N) H/n.
    action_scale: f64,
    /// F, the gradient of A divided by B.
    force: Vec<f64>,
    /// phi_A - y, and J^T of it.
    residual: Vec<f64>,
    jt: Vec<f64>,
    /// Solves of the compressor (its `rejected`: operator loops that the
    /// trust check threw away).
    cost: SolveCost,
    gradient_calls: usize,
    /// Descent steps that did not lower A.
    backtracks: usize,
}

impl Descent<'_> {
    /// Steepest descent from `state` until the step's largest change of W_-
    /// falls below the tolerance or after `max_iterations`: the end state,
    /// its action, the iterations taken and whether it converged.
    fn run(
        &mut self,
        mut state: PartialSaddle,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<(PartialSaddle, f64, usize, bool)> {
        let config = self.config;
        let mut iteration = 0;
        let mut value = self.action(&state);
        let mut tau = config.step_size;
        while iteration < config.max_iterations {
            iteration += 1;
            self.update_force(&state);
            let Some((next, next_value)) = self.backtrack(&state, value, &mut tau)? else {
                // No downhill step along the gradient: a minimum to round-off.
                return Ok((state, value, iteration, true));
            };
            let change = tau * self.force.iter().fold(0.0f64, |a, f| a.max(f.abs()));
            state = next;
            value = next_value;
            progress(&Progress { iteration, action: value, step_size: tau });
            if change < config.tolerance {
                return Ok((state, value, iteration, true));
            }
            tau = (tau * 1.25).min(4.0 * config.step_size);
        }
        Ok((state, value, iteration, false))
    }

    fn outcome(
        &self,
        state: &PartialSaddle,
        action: f64,
        iterations: usize,
        converged: bool,
        started: Instant,
    ) -> DenoiseOutcome {
        let m = self.y.len();
        let mut w = vec![0.0; 2 * m];
        mesofield_physics::fields::from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
        DenoiseOutcome {
            phi_a: state.phi[..m].to_vec(),
            w,
            iterations,
            converged,
            action,
            data_misfit: self.misfit(state),
            hamiltonian: self.hamiltonian(state),
            cost: self.cost,
            gradient_calls: self.gradient_calls,
            backtracks: self.backtracks,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// ||phi_A - y||^2 / (2 sigma^2).
    fn misfit(&self, state: &PartialSaddle) -> f64 {
        let m = self.y.len();
        state.phi[..m].iter().zip(self.y).map(|(p, o)| (p - o).powi(2)).sum::<f64>() / (2.0 * self.config.sigma.powi(2))
    }

    /// A = B G + lambda_d misfit.
    fn action(&self, state: &PartialSaddle) -> f64 {
        self.action_scale * self.hamiltonian(state) + self.config.data_weight * self.misfit(state)
    }

    /// H/n at `state` (per chain, relative to the homogeneous melt).
    fn hamiltonian(&self, state: &PartialSaddle) -> f64 {
        state.hamiltonian(self.compressor.solvers().model(), self.config.chi)
    }

    /// F = phi_B - phi_A + 2 W_- / chi + lambda_d / (B sigma^2) J^T (phi_A - y) at `state`.
    fn update_force(&mut self, state: &PartialSaddle) {
        let (m, config) = (self.y.len(), self.config);
        for i in 0..m {
            self.force[i] = state.phi[m + i] - state.phi[i] + 2.0 * state.w_minus[i] / config.chi;
        }
        if config.data_weight > 0.0 {
            for i in 0..m {
                self.residual[i] = state.phi[i] - self.y[i];
            }
            let mut fields = vec![0.0; 2 * m];
            mesofield_physics::fields::from_exchange_pressure(&state.w_minus, &state.w_plus, &mut fields);
            self.gradient.exchange_vjp(&fields, &state.phi, &self.residual, &mut self.jt);
            self.gradient_calls += 1;
            let weight = config.data_weight / (config.beads_per_cell * config.sigma.powi(2));
            for i in 0..m {
                self.force[i] += weight * self.jt[i];
            }
        }
    }

    /// Backtracking from `state` (action `value`) along -F: halves `tau`
    /// until the exact action falls. The kept state and its action, or None
    /// if no step of 30 halvings does.
    fn backtrack(&mut self, state: &PartialSaddle, value: f64, tau: &mut f64) -> Result<Option<(PartialSaddle, f64)>> {
        for _ in 0..30 {
            let trial: Vec<f64> = state.w_minus.iter().zip(&self.force).map(|(w, f)| w - *tau * f).collect();
            match self.compressor.advance(state, trial) {
                Ok((next, cost)) => {
                    self.cost += cost;
                    let next_value = self.action(&next);
                    if next_value <= value {
                        return Ok(Some((next, next_value)));
                    }
                }
                Err(Error::Sampling(_)) => {}
                Err(e) => return Err(e),
            }
            self.backtracks += 1;
            *tau *= 0.5;
        }
        Ok(None)
    }
}
