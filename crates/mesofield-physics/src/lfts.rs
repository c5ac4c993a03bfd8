//! Langevin field-theoretic simulation (MODEL.md): the exchange field W_-
//! fluctuates, the pressure field W_+ sits at its partial saddle point
//! (phi_A + phi_B = 1) after every step.
//!
//! Scheme: MODEL.md's Euler-Maruyama step,
//!     W_- <- W_- - lambda (phi_B - phi_A + 2 W_- / chi) + eta,
//!     <eta(r) eta(r')> = 2 lambda / B delta(r, r'),
//! then the inner loop: Anderson-accelerated Newton steps on W_+ with the
//! homogeneous melt's response 1/S_tot per Fourier mode (the pressure part
//! of `scft`), to the max-norm tolerance `pressure_tolerance` on
//! |phi_A + phi_B - 1|. Step k draws its noise from the stream (seed, k), so
//! a resumed run continues the same trajectory.
//!
//! With an approximate solver (a trained operator) the inner loop runs on
//! the operator corrected at the step's first exact solve (defect correction:
//! phi_op(w) + phi_exact(w_0) - phi_op(w_0)), then exact iterations polish
//! the step to the same tolerance; the step's final residual is exact.

use crate::anderson::AndersonMixer;
use crate::debye::melt_response;
use crate::error::{Error, Result};
use crate::fields::from_exchange_pressure;
use crate::rng::StreamRng;
use crate::scft::free_energy;
use crate::seam::{FieldSolver, Solvers};
use crate::spectral::{C64, SpectralPlan};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LftsConfig {
    pub chi: f64,
    /// Beads per grid cell, B: the fluctuation strength (larger is weaker;
    /// infinite is mean field).
    pub beads_per_cell: f64,
    /// lambda, the Langevin step.
    pub step_size: f64,
    pub seed: u64,
    /// Max-norm of phi_A + phi_B - 1 after each step.
    pub pressure_tolerance: f64,
    /// Inner iterations per step (per solver) before giving up.
    pub pressure_max_iterations: usize,
    /// Anderson history of the inner loop.
    pub history: usize,
    /// Without noise the run is a descent to the SCFT saddle point.
    pub noise: bool,
    /// With an operator, its inner loop aims at this fraction of the step's
    /// first exact pressure residual.
    pub operator_reduction: f64,
}

impl LftsConfig {
    pub fn new(chi: f64, beads_per_cell: f64, step_size: f64, seed: u64) -> Self {
        LftsConfig {
            chi,
            beads_per_cell,
            step_size,
            seed,
            pressure_tolerance: 1e-6,
            pressure_max_iterations: 500,
            history: 10,
            noise: true,
            operator_reduction: 0.1,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.chi) {
            return Err(Error::Parameter(format!("chi must be finite and > 0, got {}", self.chi)));
        }
        if !(self.beads_per_cell > 0.0) {
            return Err(Error::Parameter(format!("beads per cell must be > 0, got {}", self.beads_per_cell)));
        }
        if !positive(self.step_size) {
            return Err(Error::Parameter(format!("step size must be finite and > 0, got {}", self.step_size)));
        }
        if !positive(self.pressure_tolerance) {
            return Err(Error::Parameter(format!("pressure tolerance must be > 0, got {}", self.pressure_tolerance)));
        }
        if self.history == 0 || self.pressure_max_iterations == 0 {
            return Err(Error::Parameter("history and pressure iterations must be >= 1".into()));
        }
        Ok(())
    }

    /// Standard deviation of the noise per grid point, sqrt(2 lambda / B).
    pub fn noise_std(&self) -> f64 {
        if self.noise { (2.0 * self.step_size / self.beads_per_cell).sqrt() } else { 0.0 }
    }
}

/// MODEL.md's update of W_- at every point, given the densities at the
/// current fields and the noise `eta` (already scaled).
pub fn langevin_update(w_minus: &mut [f64], phi: &[f64], chi: f64, step_size: f64, eta: &[f64]) {
    let m = w_minus.len();
    for i in 0..m {
        let force = phi[m + i] - phi[i] + 2.0 * w_minus[i] / chi;
        w_minus[i] += -step_size * force + eta[i];
    }
}

/// The sampler's state: fields at the partial saddle point and their
/// densities, ln Q and Hamiltonian.
#[derive(Clone, Debug)]
pub struct LftsState {
    /// Steps taken.
    pub step: usize,
    pub w_minus: Vec<f64>,
    pub w_plus: Vec<f64>,
    pub phi: Vec<f64>,
    pub log_q: f64,
    /// H/n relative to the homogeneous melt (`scft::free_energy`).
    pub hamiltonian: f64,
    /// Exact max-norm of phi_A + phi_B - 1.
    pub pressure_residual: f64,
}

/// What one step cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepCost {
    pub exact_solves: usize,
    pub operator_calls: usize,
    pub inner_iterations: usize,
    /// Operator inner loops whose W_+ the trust check threw away.
    pub rejected_operator_steps: usize,
}

pub struct Lfts<'a> {
    pub config: LftsConfig,
    exact: &'a dyn FieldSolver,
    operator: Option<&'a dyn FieldSolver>,
    plan: SpectralPlan,
    inverse_total: Vec<f64>,
    /// Per mode (S_AA - S_BB) / S_tot: the W_+ change that keeps the
    /// homogeneous melt incompressible when W_- moves by one unit.
    compensation: Vec<f64>,
}

impl<'a> Lfts<'a> {
    /// A sampler on `exact`'s grid; with `operator`, the inner loop runs on it.
    pub fn new(config: LftsConfig, solvers: Solvers<'a>) -> Result<Self> {
        config.validate()?;
        let Solvers { exact, operator } = solvers;
        let plan = SpectralPlan::new(*exact.grid());
        let (inverse_total, compensation) = melt_response(&plan, exact.model());
        Ok(Lfts { config, exact, operator, plan, inverse_total, compensation })
    }

    pub fn points(&self) -> usize {
        self.plan.grid().points()
    }

    /// The state at fields `w` (`[2][M]`): W_+ brought to its partial saddle point.
    pub fn start(&self, w: &[f64], step: usize) -> Result<(LftsState, StepCost)> {
        let m = self.points();
        if w.len() != 2 * m {
            return Err(Error::Shape(format!("fields hold {} values, expected 2 x {m}", w.len())));
        }
        let mut w_minus = vec![0.0; m];
        let mut w_plus = vec![0.0; m];
        crate::fields::to_exchange_pressure(w, &mut w_minus, &mut w_plus);
        let mut cost = StepCost::default();
        let state = self.relax_pressure(step, w_minus, w_plus, &mut cost)?;
        Ok((state, cost))
    }

    /// One Langevin step from `state`.
    pub fn step(&self, state: &LftsState) -> Result<(LftsState, StepCost)> {
        let m = self.points();
        let mut eta = vec![0.0; m];
        let std = self.config.noise_std();
        if std > 0.0 {
            let mut rng = StreamRng::new(self.config.seed, state.step as u64);
            for e in eta.iter_mut() {
                *e = std * rng.normal();
            }
        }
        let mut w_minus = state.w_minus.clone();
        langevin_update(&mut w_minus, &state.phi, self.config.chi, self.config.step_size, &eta);
        self.advance(state, w_minus)
    }

    /// The state at a new exchange field `w_minus`, W_+ relaxed to its partial
    /// saddle point from `state`'s (step count + 1).
    pub fn advance(&self, state: &LftsState, w_minus: Vec<f64>) -> Result<(LftsState, StepCost)> {
        if w_minus.len() != self.points() {
            return Err(Error::Shape(format!("W_- holds {} values, expected {}", w_minus.len(), self.points())));
        }
        // Start the inner loop from W_+ moved with W_- by the melt's linear
        // response, which keeps phi_A + phi_B = 1 to first order.
        let mut w_plus = state.w_plus.clone();
        let mut change: Vec<f64> = w_minus.iter().zip(&state.w_minus).map(|(a, b)| a - b).collect();
        let mut scratch = self.plan.scratch();
        let mut spectrum = vec![C64::default(); self.plan.spectrum_len()];
        self.plan.apply_multiplier(&mut scratch, &mut spectrum, &mut change, &self.compensation);
        for (p, c) in w_plus.iter_mut().zip(&change) {
            *p += c;
        }
        let mut cost = StepCost::default();
        let next = self.relax_pressure(state.step + 1, w_minus, w_plus, &mut cost).map_err(|e| match e {
            Error::Sampling(text) => Error::Sampling(format!("{text} (a smaller step size may help)")),
            other => Error::Sampling(format!("step {}: {other} (a smaller step size may help)", state.step + 1)),
        })?;
        Ok((next, cost))
    }

    /// Solves phi_A + phi_B = 1 for W_+ at fixed W_-.
    fn relax_pressure(
        &self,
        step: usize,
        w_minus: Vec<f64>,
        mut w_plus: Vec<f64>,
        cost: &mut StepCost,
    ) -> Result<LftsState> {
        let m = self.points();
        let mut w = vec![0.0; 2 * m];
        let mut phi = vec![0.0; 2 * m];
        let mut log_q = [0.0];
        // The first exact solve anchors the operator's correction.
        from_exchange_pressure(&w_minus, &w_plus, &mut w);
        self.exact.solve_batch(&w, &mut phi, &mut log_q).map_err(|e| Error::Sampling(format!("step {step}: {e}")))?;
        cost.exact_solves += 1;
        let before = max_pressure_residual(&phi);
        if let Some(op) = self.operator
            && before >= self.config.pressure_tolerance
        {
            let mut phi_op = vec![0.0; 2 * m];
            let mut log_q_op = [0.0];
            op.solve_batch(&w, &mut phi_op, &mut log_q_op)?;
            cost.operator_calls += 1;
            let shift: Vec<f64> = phi.iter().zip(&phi_op).map(|(e, o)| e - o).collect();
            let mut corrected = phi.clone();
            let saved_w_plus = w_plus.clone();
            // On the corrected operator down to `operator_reduction` of the
            // anchor's residual (further, the operator's own error in the
            // pressure response takes over), then exact polish.
            let target = (before * self.config.operator_reduction).max(0.1 * self.config.pressure_tolerance);
            self.pressure_loop(&w_minus, &mut w_plus, &mut corrected, target, cost, 10, |w, phi| {
                let mut lq = [0.0];
                op.solve_batch(w, phi, &mut lq)?;
                for (p, s) in phi.iter_mut().zip(&shift) {
                    *p += s;
                }
                Ok(false)
            })?;
            from_exchange_pressure(&w_minus, &w_plus, &mut w);
            let mut phi_after = vec![0.0; 2 * m];
            let mut log_q_after = [0.0];
            let solved = self.exact.solve_batch(&w, &mut phi_after, &mut log_q_after);
            cost.exact_solves += 1;
            // Trust check: keep the operator's W_+ only if it lowered the
            // exact residual; otherwise the anchor's state (W_+, phi, ln Q)
            // still stands.
            if solved.is_ok() && max_pressure_residual(&phi_after) < before {
                (phi, log_q) = (phi_after, log_q_after);
            } else {
                cost.rejected_operator_steps += 1;
                w_plus = saved_w_plus;
            }
        }
        let exact = self.exact;
        let mut exact_log_q = log_q[0];
        let never = self.config.pressure_max_iterations;
        self.pressure_loop(&w_minus, &mut w_plus, &mut phi, self.config.pressure_tolerance, cost, never, |w, phi| {
            let mut lq = [0.0];
            exact.solve_batch(w, phi, &mut lq)?;
            exact_log_q = lq[0];
            Ok(true)
        })?;
        let residual = max_pressure_residual(&phi);
        if residual >= self.config.pressure_tolerance {
            return Err(Error::Sampling(format!(
                "step {step}: the pressure field did not converge in {} iterations (residual {residual:.3e})",
                self.config.pressure_max_iterations
            )));
        }
        from_exchange_pressure(&w_minus, &w_plus, &mut w);
        let model = self.exact.model();
        let hamiltonian = free_energy(model.beads, model.f_a(), self.config.chi, &w, exact_log_q);
        Ok(LftsState { step, w_minus, w_plus, phi, log_q: exact_log_q, hamiltonian, pressure_residual: residual })
    }

    /// Anderson-accelerated Newton iterations on W_+ until the max-norm of
    /// phi_A + phi_B - 1 is below `tolerance`. `phi` holds the densities at
    /// the entry fields; `solve` fills `phi` at new fields and says whether
    /// that was an exact solve.
    fn pressure_loop(
        &self,
        w_minus: &[f64],
        w_plus: &mut Vec<f64>,
        phi: &mut [f64],
        tolerance: f64,
        cost: &mut StepCost,
        stall: usize,
        mut solve: impl FnMut(&[f64], &mut [f64]) -> Result<bool>,
    ) -> Result<()> {
        let m = self.points();
        let mut mixer = AndersonMixer::new(m, self.config.history);
        let mut scratch = self.plan.scratch();
        let mut spectrum = vec![C64::default(); self.plan.spectrum_len()];
        let mut d = vec![0.0; m];
        let mut next = vec![0.0; m];
        let mut w = vec![0.0; 2 * m];
        let (mut best, mut best_at) = (f64::INFINITY, 0usize);
        for iteration in 0..self.config.pressure_max_iterations {
            let residual = max_pressure_residual(phi);
            if residual < tolerance {
                return Ok(());
            }
            // Stalled: no 10% gain in `stall` iterations (an operator's
            // response error floor); the caller checks the residual.
            if residual < 0.9 * best {
                (best, best_at) = (residual, iteration);
            } else if iteration - best_at >= stall {
                return Ok(());
            }
            for i in 0..m {
                d[i] = phi[i] + phi[m + i] - 1.0;
            }
            self.plan.apply_multiplier(&mut scratch, &mut spectrum, &mut d, &self.inverse_total);
            mixer.next(w_plus, &d, 1.0, &mut next);
            std::mem::swap(w_plus, &mut next);
            from_exchange_pressure(w_minus, w_plus, &mut w);
            let was_exact = solve(&w, phi)?;
            cost.inner_iterations += 1;
            if was_exact {
                cost.exact_solves += 1;
            } else {
                cost.operator_calls += 1;
            }
        }
        Ok(())
    }
}

/// Max-norm of phi_A + phi_B - 1.
pub fn max_pressure_residual(phi: &[f64]) -> f64 {
    let m = phi.len() / 2;
    (0..m).map(|i| (phi[i] + phi[m + i] - 1.0).abs()).fold(0.0, f64::max)
}
