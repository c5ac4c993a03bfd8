//! Self-consistent field theory: the saddle point of docs/model.md at a given chi.
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
//! - A guard watches this fast iteration. When it leaves the model's domain
//!   more than `FAST_RESTARTS` times, cannot solve its start, or has not
//!   halved its best residual in `guard_window` iterations (seen from
//!   random starts at chi >= 0.25: non-finite densities, Q = -inf, stalls
//!   at 1e-5 to 1e-1), the run falls back to `scft::descent`: L-BFGS on the
//!   Hamiltonian over W_- with W_+ at its partial saddle point, a globally
//!   convergent descent that takes only trials that solve, from the fast
//!   iteration's best iterate. Healthy runs never reach the guard and keep
//!   their iterates exactly.

pub mod assisted;
pub mod descent;

use std::time::Instant;

use crate::anderson::AndersonMixer;
use crate::debye::melt_response;
use crate::error::{Error, Result};
use crate::fields::{from_exchange_pressure, to_exchange_pressure};
use crate::hamiltonian::{free_energy, residuals};
use crate::scft::descent::descend;
use crate::seam::FieldSolver;
use crate::spectral::{C64, SpectralPlan, SpectralScratch};
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
    /// Fall back to the globally convergent descent (`scft::descent`) when
    /// the fast iteration leaves the model's domain more than a few times,
    /// cannot solve its start, or has not halved its best residual in
    /// `guard_window` iterations. Off for runs whose path is data (the
    /// dataset's SCFT family) or whose solver is approximate.
    #[serde(default = "default_robust")]
    pub robust: bool,
    #[serde(default = "default_guard_window")]
    pub guard_window: usize,
}

fn default_robust() -> bool {
    true
}

fn default_guard_window() -> usize {
    200
}

/// Domain errors of the fast iteration before a robust run falls back.
const FAST_RESTARTS: usize = 5;

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
            robust: true,
            guard_window: 200,
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
    /// Iterations of the descent fallback (0: the fast iteration sufficed).
    pub descent_iterations: usize,
    pub seconds: f64,
    pub history: Vec<Visited>,
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
    let mut run = ScftRun::new(solver, config, w_init)?;
    let mut guard = Guard::default();
    let residual = loop {
        match run.solve() {
            Ok(true) => {}
            Ok(false) if config.robust && run.restarts > FAST_RESTARTS => {
                return run.fall_back(&guard, start, progress);
            }
            Ok(false) => continue,
            // The start itself cannot be solved: the descent starts closer to the melt.
            Err(e) if config.robust && run.iterations == 0 && e != Error::Interrupted => {
                return run.fall_back(&guard, start, progress);
            }
            Err(e) => return Err(e),
        }
        let (r_minus, r_plus) = residuals(config.chi, &run.w, &run.phi);
        let residual = r_minus.max(r_plus);
        progress(run.iterations, residual);
        if config.record_every > 0 && run.iterations % config.record_every == 0 {
            run.history.push(Visited { iteration: run.iterations, w: run.w.clone() });
        }
        if residual < config.tolerance || run.iterations >= config.max_iterations {
            break residual;
        }
        if !residual.is_finite() {
            return Err(Error::Scft(format!("non-finite residual at iteration {}", run.iterations)));
        }
        if config.stall_window > 0 && run.stalls(residual) {
            break residual;
        }
        if config.robust && guard.no_progress(residual, &run.x, run.iterations, config.guard_window) {
            return run.fall_back(&guard, start, progress);
        }
        run.step(r_minus, r_plus);
    };
    Ok(run.finish(residual, start))
}

/// The fast iteration's best iterate, and whether it still makes progress.
#[derive(Default)]
struct Guard {
    best_x: Option<Vec<f64>>,
    best_residual: f64,
    /// The iteration of the last halving of the best residual.
    halved_at: usize,
    halved_from: f64,
}

impl Guard {
    /// Records the iterate `x` of residual `residual`; true once the best
    /// residual has not halved in `window` iterations.
    fn no_progress(&mut self, residual: f64, x: &[f64], iteration: usize, window: usize) -> bool {
        if self.best_x.is_none() {
            (self.best_residual, self.halved_from, self.halved_at) = (residual, residual, iteration);
        }
        if self.best_x.is_none() || residual < self.best_residual {
            self.best_x.get_or_insert_with(|| vec![0.0; x.len()]).copy_from_slice(x);
            self.best_residual = residual;
        }
        if self.best_residual < 0.5 * self.halved_from {
            (self.halved_from, self.halved_at) = (self.best_residual, iteration);
        }
        iteration - self.halved_at >= window
    }
}

/// The best state an SCFT run has seen, for the stall stop.
struct Best {
    w: Vec<f64>,
    phi: Vec<f64>,
    log_q: f64,
    residual: f64,
    iteration: usize,
}

/// The state of one `run_scft`: the iterate, the solved state at it, the
/// mixers, and the explicit scratch of the spectral steps.
struct ScftRun<'a> {
    solver: &'a dyn FieldSolver,
    config: &'a ScftConfig,
    m: usize,
    plan: SpectralPlan,
    scratch: SpectralScratch,
    spectrum: Vec<C64>,
    /// P = 1 / S_tot per mode: the Newton step of W_+ on R_+.
    inverse_total: Vec<f64>,
    /// (S_AA - S_BB) / S_tot per mode: the W_+ change that keeps
    /// phi_A + phi_B fixed while W_- moves.
    compensation: Vec<f64>,
    /// The iterate x = (W_-, W_+).
    x: Vec<f64>,
    /// The residual fields d = (R_-, R_+), then the pressure step in d_+.
    d: Vec<f64>,
    next: Vec<f64>,
    /// The exchange step (d_-, its compensating W_+ change).
    outer_d: Vec<f64>,
    /// Fields (w_A, w_B) of x and the solved state there.
    w: Vec<f64>,
    phi: Vec<f64>,
    log_q: [f64; 1],
    pressure_mixer: AndersonMixer,
    exchange_mixer: AndersonMixer,
    /// The last iterate whose fields were solved, to back off towards.
    accepted_x: Option<Vec<f64>>,
    best: Option<Best>,
    stalled: bool,
    solves: usize,
    restarts: usize,
    iterations: usize,
    history: Vec<Visited>,
}

impl<'a> ScftRun<'a> {
    fn new(solver: &'a dyn FieldSolver, config: &'a ScftConfig, w_init: &[f64]) -> Result<Self> {
        let grid = *solver.grid();
        let m = grid.points();
        if w_init.len() != 2 * m {
            return Err(Error::Shape(format!(
                "initial fields hold {} values, expected 2 x {} x {}",
                w_init.len(),
                grid.mx,
                grid.my
            )));
        }
        let plan = SpectralPlan::new(grid);
        let scratch = plan.scratch();
        let (inverse_total, compensation) = melt_response(&plan, solver.model());
        let spectrum = vec![C64::default(); plan.spectrum_len()];
        let mut x = vec![0.0; 2 * m];
        {
            let (w_minus, w_plus) = x.split_at_mut(m);
            to_exchange_pressure(w_init, w_minus, w_plus);
        }
        Ok(ScftRun {
            solver,
            config,
            m,
            plan,
            scratch,
            spectrum,
            inverse_total,
            compensation,
            x,
            d: vec![0.0; 2 * m],
            next: vec![0.0; 2 * m],
            outer_d: vec![0.0; 2 * m],
            w: vec![0.0; 2 * m],
            phi: vec![0.0; 2 * m],
            log_q: [0.0],
            pressure_mixer: AndersonMixer::new(m, config.history),
            exchange_mixer: AndersonMixer::new(2 * m, config.history),
            accepted_x: None,
            best: None,
            stalled: false,
            solves: 0,
            restarts: 0,
            iterations: 0,
            history: Vec::new(),
        })
    }

    /// Solves the fields of x. False when they left the model's domain and
    /// x was moved back towards the last solved iterate (solve again).
    fn solve(&mut self) -> Result<bool> {
        let m = self.m;
        from_exchange_pressure(&self.x[..m], &self.x[m..], &mut self.w);
        self.solves += 1;
        let Err(err) = self.solver.solve_batch(&self.w, &mut self.phi, &mut self.log_q) else {
            return Ok(true);
        };
        if err == Error::Interrupted {
            return Err(err);
        }
        // A trial step left the model's domain: go half way back, drop
        // the history that proposed it, and relax.
        let Some(prev) = self.accepted_x.as_ref() else {
            return Err(Error::Scft(format!("the initial fields cannot be solved: {err}")));
        };
        if self.restarts > 200 {
            return Err(Error::Scft(format!("too many rejected steps, last: {err}")));
        }
        self.restarts += 1;
        self.pressure_mixer.reset();
        self.exchange_mixer.reset();
        for (xi, pi) in self.x.iter_mut().zip(prev) {
            *xi = pi + 0.5 * (*xi - pi);
        }
        Ok(false)
    }

    /// Keeps the best state; true (and `stalled`) once the residual has not
    /// fallen below 0.9 times the best for `stall_window` iterations.
    fn stalls(&mut self, residual: f64) -> bool {
        match &mut self.best {
            Some(b) if residual >= 0.9 * b.residual => {
                if self.iterations - b.iteration >= self.config.stall_window {
                    self.stalled = true;
                    return true;
                }
            }
            Some(b) => {
                b.w.copy_from_slice(&self.w);
                b.phi.copy_from_slice(&self.phi);
                (b.log_q, b.residual, b.iteration) = (self.log_q[0], residual, self.iterations);
            }
            None => {
                self.best = Some(Best {
                    w: self.w.clone(),
                    phi: self.phi.clone(),
                    log_q: self.log_q[0],
                    residual,
                    iteration: self.iterations,
                })
            }
        }
        false
    }

    /// One iteration from the solved state at x, whose residuals' max-norms
    /// are `r_minus` and `r_plus`: x becomes the next iterate.
    fn step(&mut self, r_minus: f64, r_plus: f64) {
        let (m, chi, config) = (self.m, self.config.chi, self.config);
        let (x, phi) = (&self.x, &self.phi);
        let (r_field_minus, r_field_plus) = self.d.split_at_mut(m);
        for i in 0..m {
            r_field_minus[i] = 0.5 * chi * (phi[i] - phi[m + i]) - x[i];
            r_field_plus[i] = phi[i] + phi[m + i] - 1.0;
        }
        // The pressure step P R_+: Newton on the homogeneous melt's response.
        self.plan.apply_multiplier(&mut self.scratch, &mut self.spectrum, r_field_plus, &self.inverse_total);
        let next = &mut self.next;
        // W_- moves only once incompressibility holds well enough for its
        // residual to mean something.
        if r_plus >= 0.3 * r_minus {
            next[..m].copy_from_slice(&x[..m]);
            self.pressure_mixer.next(&x[m..], r_field_plus, 1.0, &mut next[m..]);
        } else {
            self.pressure_mixer.reset();
            // The W_+ change that keeps phi_A + phi_B fixed while W_- moves
            // along R_- (homogeneous melt's response).
            let outer_d = &mut self.outer_d;
            outer_d[..m].copy_from_slice(r_field_minus);
            outer_d[m..].copy_from_slice(r_field_minus);
            self.plan.apply_multiplier(&mut self.scratch, &mut self.spectrum, &mut outer_d[m..], &self.compensation);
            // Relative to the pattern's own size, so a near-homogeneous start
            // above the spinodal relaxes into a pattern instead of Anderson
            // homing in on the unstable disordered state.
            if r_minus < config.anderson_below * population_std(&x[..m]) {
                // Anderson on the reduced problem: its coefficients, fitted to
                // the R_- history, also extrapolate W_+ along the states
                // visited, which predicts W_+ far better than the melt's
                // response once a pattern has formed.
                self.exchange_mixer.next(x, outer_d, 1.0, next);
            } else {
                for i in 0..2 * m {
                    next[i] = x[i] + config.mixing * outer_d[i];
                }
            }
            for i in 0..m {
                next[m + i] += r_field_plus[i];
            }
        }
        self.accepted_x.get_or_insert_with(|| vec![0.0; 2 * m]).copy_from_slice(&self.x);
        std::mem::swap(&mut self.x, &mut self.next);
        self.iterations += 1;
    }

    /// Hands over to the descent from the fast iteration's best iterate
    /// (its current one before any was solved): the outcome is the
    /// descent's, with both phases' iterations and solves.
    fn fall_back(mut self, guard: &Guard, start: Instant, progress: &mut dyn FnMut(usize, f64)) -> Result<ScftOutcome> {
        let x = guard.best_x.clone().unwrap_or_else(|| self.x.clone());
        let d = descend(self.solver, self.config, &x, self.iterations, &mut self.history, progress)?;
        (self.w, self.phi, self.log_q) = (d.w, d.phi, [d.log_q]);
        self.iterations += d.iterations;
        self.solves += d.solves;
        self.restarts += d.start_shrinks;
        let mut outcome = self.finish(d.residual, start);
        outcome.descent_iterations = d.iterations;
        Ok(outcome)
    }

    /// The outcome at the last solved state (the best one after a stall),
    /// in the gauge mean(W_+) = 0.
    fn finish(self, mut residual: f64, start: Instant) -> ScftOutcome {
        let (mut w, mut phi, mut log_q) = (self.w, self.phi, self.log_q[0]);
        if self.stalled
            && let Some(best) = self.best
        {
            (w, phi, log_q, residual) = (best.w, best.phi, best.log_q, best.residual);
        }
        let model = self.solver.model();
        let mut log_q = if self.solver.provides_log_q() { log_q } else { f64::NAN };
        fix_gauge(model.beads, &mut w, &mut log_q);
        let d_f = free_energy(model.beads, model.f_a(), self.config.chi, &w, log_q);
        ScftOutcome {
            w,
            phi,
            log_q,
            d_f,
            iterations: self.iterations,
            residual,
            solves: self.solves,
            converged: residual < self.config.tolerance,
            stalled: self.stalled,
            restarts: self.restarts,
            descent_iterations: 0,
            seconds: start.elapsed().as_secs_f64(),
            history: self.history,
        }
    }
}
