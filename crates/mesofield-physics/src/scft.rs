//! Self-consistent field theory: the saddle point of MODEL.md at a given chi.
//!
//! Unknowns are the exchange and pressure fields (W_-, W_+). Residuals:
//!     R_- = chi (phi_A - phi_B) / 2 - W_-        (exchange condition)
//!     R_+ = phi_A + phi_B - 1                     (incompressibility)
//! The reported residual is the max-norm of both.
//!
//! The scheme, chosen after plain Anderson mixing of both fields converged to
//! the disordered melt (an unstable saddle above the spinodal) or collapsed:
//! - W_+ is driven to incompressibility by Anderson-accelerated Newton steps
//!   whose Jacobian is the homogeneous melt's, per Fourier mode
//!   dW_+ = (R_+ + (S_AA - S_BB) dW_-) / S_tot, S_tot = S_AA + 2 S_AB + S_BB:
//!   exact in the linear regime, and the (S_AA - S_BB) term moves W_+ with
//!   W_- so that a W_- step does not break incompressibility by a
//!   chain-scale response.
//! - W_- moves only when |R_+| < 0.3 |R_-|. Far from the saddle it takes the
//!   damped step W_- += mixing R_-, a descent of the Hamiltonian along W_-
//!   with W_+ at its partial saddle point (mean-field L-FTS): it leaves the
//!   disordered melt above the spinodal and cannot collapse. Once |R_-| is
//!   below `anderson_below` times the standard deviation of W_-, Anderson
//!   mixing of the reduced problem in W_- takes over.

use std::time::Instant;

use crate::anderson::AndersonMixer;
use crate::debye::melt_response;
use crate::error::{Error, Result};
use crate::fields::{from_exchange_pressure, to_exchange_pressure};
use crate::seam::FieldSolver;
use crate::spectral::{C64, SpectralPlan};
use crate::stats::population_std;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScftConfig {
    pub chi: f64,
    /// Target max-norm of both residuals.
    pub tolerance: f64,
    pub max_iterations: usize,
    /// Anderson history length.
    pub history: usize,
    /// Mixing factor applied to the (preconditioned) step.
    pub mixing: f64,
    /// Relaxation of W_- while its residual is above this fraction of the
    /// standard deviation of W_-; Anderson mixing below it. Relaxation moves away from unstable stationary points (the
    /// disordered melt above the spinodal), while Anderson, a quasi-Newton
    /// root finder, converges to whichever stationary point is near.
    pub anderson_below: f64,
    /// Keep every k-th visited field in the outcome's history (0: none).
    pub record_every: usize,
    /// Stop once the residual has not fallen below 0.9 times its best for
    /// this many iterations, and return the best state seen (0: never). For
    /// runs on an approximate solver, whose residual stalls at its error.
    #[serde(default)]
    pub stall_window: usize,
}

impl Default for ScftConfig {
    fn default() -> Self {
        ScftConfig {
            chi: 0.3,
            tolerance: 1e-8,
            max_iterations: 3000,
            history: 20,
            mixing: 0.5,
            anderson_below: 0.1,
            record_every: 0,
            stall_window: 0,
        }
    }
}

impl ScftConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.chi.is_finite() && self.chi > 0.0) {
            return Err(Error::Parameter(format!("chi must be finite and > 0, got {}", self.chi)));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(Error::Parameter(format!("tolerance must be finite and > 0, got {}", self.tolerance)));
        }
        if !(self.mixing.is_finite() && self.mixing > 0.0 && self.mixing <= 1.0) {
            return Err(Error::Parameter(format!("mixing must be in (0, 1], got {}", self.mixing)));
        }
        if self.history == 0 {
            return Err(Error::Parameter("Anderson history must be >= 1".into()));
        }
        Ok(())
    }
}

/// One field visited by an SCFT run, kept for datasets.
#[derive(Clone, Debug)]
pub struct Visited {
    pub iteration: usize,
    pub w: Vec<f64>,
}

#[derive(Clone, Debug)]
pub struct ScftOutcome {
    /// Final fields `[2][Mx*My]`, gauge mean(W_+) = 0.
    pub w: Vec<f64>,
    pub phi: Vec<f64>,
    /// ln Q in that gauge (NaN if the solver gives no ln Q).
    pub log_q: f64,
    /// Free energy per chain relative to the homogeneous melt.
    pub d_f: f64,
    pub iterations: usize,
    pub residual: f64,
    /// Fields solved (one per iteration plus rejected trial steps).
    pub solves: usize,
    pub converged: bool,
    /// Ended by `stall_window` (the outcome is then the best state seen).
    pub stalled: bool,
    pub restarts: usize,
    pub seconds: f64,
    pub history: Vec<Visited>,
}

/// Max-norms of the two SCF residuals of a solved state.
pub fn residuals(chi: f64, w: &[f64], phi: &[f64]) -> (f64, f64) {
    let m = w.len() / 2;
    let (mut r_minus, mut r_plus) = (0.0f64, 0.0f64);
    for i in 0..m {
        let w_minus = 0.5 * (w[m + i] - w[i]);
        r_minus = r_minus.max((0.5 * chi * (phi[i] - phi[m + i]) - w_minus).abs());
        r_plus = r_plus.max((phi[i] + phi[m + i] - 1.0).abs());
    }
    (r_minus, r_plus)
}

/// H/n relative to the homogeneous melt (MODEL.md):
/// dF = -ln Q + N mean(W_-^2 / chi - W_+) + N chi (2f - 1)^2 / 4.
pub fn free_energy(beads: usize, f_a: f64, chi: f64, w: &[f64], log_q: f64) -> f64 {
    let m = w.len() / 2;
    let n = beads as f64;
    let mut sum = 0.0;
    for i in 0..m {
        let w_minus = 0.5 * (w[m + i] - w[i]);
        let w_plus = 0.5 * (w[m + i] + w[i]);
        sum += w_minus * w_minus / chi - w_plus;
    }
    -log_q + n * sum / m as f64 + n * chi * (2.0 * f_a - 1.0).powi(2) / 4.0
}

/// Shifts W_+ so its mean is zero; ln Q moves by +N times the removed mean.
pub fn fix_gauge(beads: usize, w: &mut [f64], log_q: &mut f64) {
    // mean(W_+) = mean over both channels of (w_A + w_B) / 2.
    let mean_plus = crate::stats::mean(w);
    for v in w.iter_mut() {
        *v -= mean_plus;
    }
    *log_q += beads as f64 * mean_plus;
}

/// Finds the saddle point from `w_init` (`[2][Mx*My]`). `progress` sees
/// (iteration, residual) after every iteration.
pub fn run_scft(
    solver: &dyn FieldSolver,
    config: &ScftConfig,
    w_init: &[f64],
    progress: &mut dyn FnMut(usize, f64),
) -> Result<ScftOutcome> {
    config.validate()?;
    let start = Instant::now();
    let grid = *solver.grid();
    let model = solver.model().clone();
    let m = grid.points();
    if w_init.len() != 2 * m {
        return Err(Error::Shape(format!(
            "initial fields hold {} values, expected 2 x {} x {}",
            w_init.len(),
            grid.mx,
            grid.my
        )));
    }
    let chi = config.chi;
    let plan = SpectralPlan::new(grid);
    let mut scratch = plan.scratch();
    let (inverse_total, compensation) = melt_response(&plan, &model);
    let mut spectrum = vec![C64::default(); plan.spectrum_len()];

    // x = (W_-, W_+), d = (d_-, d_+).
    let mut x = vec![0.0; 2 * m];
    {
        let (w_minus, w_plus) = x.split_at_mut(m);
        to_exchange_pressure(w_init, w_minus, w_plus);
    }
    let mut d = vec![0.0; 2 * m];
    let mut next = vec![0.0; 2 * m];
    let mut w = vec![0.0; 2 * m];
    let mut phi = vec![0.0; 2 * m];
    let mut log_q = [0.0];
    let mut pressure_mixer = AndersonMixer::new(m, config.history);
    let mut exchange_mixer = AndersonMixer::new(2 * m, config.history);
    let mut outer_d = vec![0.0; 2 * m];
    let mut history = Vec::new();
    let (mut solves, mut restarts, mut iterations) = (0usize, 0usize, 0usize);
    let mut residual;
    let mut accepted_x: Option<Vec<f64>> = None;
    // Best state (w, phi, ln Q, residual, iteration) for the stall stop.
    let mut best: Option<(Vec<f64>, Vec<f64>, f64, f64, usize)> = None;
    let mut stalled = false;

    loop {
        from_exchange_pressure(&x[..m], &x[m..], &mut w);
        solves += 1;
        if let Err(err) = solver.solve_batch(&w, &mut phi, &mut log_q) {
            // A trial step left the model's domain: go half way back, drop
            // the history that proposed it, and relax.
            let Some(prev) = accepted_x.as_ref() else {
                return Err(Error::Scft(format!("the initial fields cannot be solved: {err}")));
            };
            if restarts > 200 {
                return Err(Error::Scft(format!("too many rejected steps, last: {err}")));
            }
            restarts += 1;
            pressure_mixer.reset();
            exchange_mixer.reset();
            for (xi, pi) in x.iter_mut().zip(prev) {
                *xi = pi + 0.5 * (*xi - pi);
            }
            continue;
        }
        let (r_minus, r_plus) = residuals(chi, &w, &phi);
        residual = r_minus.max(r_plus);
        progress(iterations, residual);
        if config.record_every > 0 && iterations % config.record_every == 0 {
            history.push(Visited { iteration: iterations, w: w.clone() });
        }
        if residual < config.tolerance || iterations >= config.max_iterations {
            break;
        }
        if !residual.is_finite() {
            return Err(Error::Scft(format!("non-finite residual at iteration {iterations}")));
        }
        if config.stall_window > 0 {
            match &mut best {
                Some(b) if residual >= 0.9 * b.3 => {
                    if iterations - b.4 >= config.stall_window {
                        stalled = true;
                        break;
                    }
                }
                Some(b) => {
                    b.0.copy_from_slice(&w);
                    b.1.copy_from_slice(&phi);
                    (b.2, b.3, b.4) = (log_q[0], residual, iterations);
                }
                None => best = Some((w.clone(), phi.clone(), log_q[0], residual, iterations)),
            }
        }
        let (r_field_minus, r_field_plus) = d.split_at_mut(m);
        for i in 0..m {
            r_field_minus[i] = 0.5 * chi * (phi[i] - phi[m + i]) - x[i];
            r_field_plus[i] = phi[i] + phi[m + i] - 1.0;
        }
        // The pressure step P R_+: Newton on the homogeneous melt's response.
        plan.apply_multiplier(&mut scratch, &mut spectrum, r_field_plus, &inverse_total);
        // W_- moves only once incompressibility holds well enough for its
        // residual to mean something.
        if r_plus >= 0.3 * r_minus {
            next[..m].copy_from_slice(&x[..m]);
            pressure_mixer.next(&x[m..], r_field_plus, 1.0, &mut next[m..]);
        } else {
            pressure_mixer.reset();
            // The W_+ change that keeps phi_A + phi_B fixed while W_- moves
            // along R_- (homogeneous melt's response).
            outer_d[..m].copy_from_slice(r_field_minus);
            outer_d[m..].copy_from_slice(r_field_minus);
            plan.apply_multiplier(&mut scratch, &mut spectrum, &mut outer_d[m..], &compensation);
            // Relative to the pattern's own size, so a near-homogeneous start
            // above the spinodal relaxes into a pattern instead of Anderson
            // homing in on the unstable disordered state.
            if r_minus < config.anderson_below * population_std(&x[..m]) {
                // Anderson on the reduced problem: its coefficients, fitted to
                // the R_- history, also extrapolate W_+ along the states
                // visited, which predicts W_+ far better than the melt's
                // response once a pattern has formed.
                exchange_mixer.next(&x, &outer_d, 1.0, &mut next);
            } else {
                for i in 0..2 * m {
                    next[i] = x[i] + config.mixing * outer_d[i];
                }
            }
            for i in 0..m {
                next[m + i] += r_field_plus[i];
            }
        }
        accepted_x.get_or_insert_with(|| vec![0.0; 2 * m]).copy_from_slice(&x);
        std::mem::swap(&mut x, &mut next);
        iterations += 1;
    }

    if stalled && let Some((best_w, best_phi, best_log_q, best_residual, _)) = best {
        (w, phi, log_q[0], residual) = (best_w, best_phi, best_log_q, best_residual);
    }
    let mut log_q = if solver.provides_log_q() { log_q[0] } else { f64::NAN };
    fix_gauge(model.beads, &mut w, &mut log_q);
    let d_f = free_energy(model.beads, model.f_a(), chi, &w, log_q);
    Ok(ScftOutcome {
        w,
        phi,
        log_q,
        d_f,
        iterations,
        residual,
        solves,
        converged: residual < config.tolerance,
        stalled,
        restarts,
        seconds: start.elapsed().as_secs_f64(),
        history,
    })
}
