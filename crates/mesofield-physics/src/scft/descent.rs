//! The globally convergent SCFT iteration: L-BFGS on the mean-field
//! Hamiltonian over the exchange field, with the pressure field at its
//! partial saddle point for every trial (the L-FTS inner loop without
//! noise). `run_scft` falls back to it when its fast iteration leaves the
//! model's domain or stops making progress.
//!
//! Why it converges from any start: with W_+ at its partial saddle point,
//! H/n(W_-) = -ln Q + N mean(W_-^2 / chi - W_+) is bounded below (the
//! quadratic term wins over -ln Q, which grows at most linearly) and smooth
//! inside the model's domain, and its gradient is
//!     dH/dW_-(r) = (N / M) (phi_B - phi_A + 2 W_- / chi) = -(2 N / (M chi)) R_-(r),
//! so its stationary points are exactly the SCFT saddle points (the
//! exchange condition R_- = 0 with incompressibility). A line search that
//! accepts only trials that solve (Q > 0, finite densities, W_+ converged)
//! and lower H (Armijo) cannot leave the domain or diverge; L-BFGS
//! directions make it superlinear near the solution. It ends at a local
//! minimum of H over W_-, which may be a metastable (defected) pattern: a
//! legitimate saddle point, converged to the tolerance like any other.
//!
//! Near the end H changes by less than its round-off (at |R_-| = 1e-10 the
//! decrease is ~1e-18 relative), so a trial that keeps H within round-off
//! and lowers the residual is accepted too.

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::fields::from_exchange_pressure;
use crate::fts::compressor::{Compressor, CompressorConfig, PartialSaddle};
use crate::scft::{ScftConfig, Visited};
use crate::seam::{FieldSolver, SolveCost, Solvers};

/// L-BFGS memory (pairs of steps and gradient changes).
const MEMORY: usize = 10;
/// Armijo's sufficient-decrease constant.
const ARMIJO: f64 = 1e-4;
/// Halvings of one line search before the memory is dropped.
const HALVINGS: usize = 40;
/// Halvings of a start that cannot be solved towards the melt.
const START_SHRINKS: usize = 40;
/// The first step: W_- += FIRST_STEP R_- (the relaxation SCFT starts with).
const FIRST_STEP: f64 = 0.5;

/// What the descent reached.
pub struct Descent {
    /// Final fields `[2][M]` (w_A, w_B) in the partial-saddle gauge, their
    /// densities and ln Q.
    pub w: Vec<f64>,
    pub phi: Vec<f64>,
    pub log_q: f64,
    pub residual: f64,
    pub iterations: usize,
    pub solves: usize,
    /// Halvings of unsolvable starts towards the melt.
    pub start_shrinks: usize,
}

fn exchange_residual(chi: f64, state: &PartialSaddle) -> Vec<f64> {
    let m = state.w_minus.len();
    (0..m).map(|i| 0.5 * chi * (state.phi[i] - state.phi[m + i]) - state.w_minus[i]).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// The partial saddle point at the start's W_-, halving W_- towards its
/// mean (the melt, always solvable) while it cannot be solved.
fn start(compressor: &Compressor<'_>, x: &[f64], cost: &mut SolveCost) -> Result<(PartialSaddle, usize)> {
    let m = x.len() / 2;
    let (mut w_minus, mut w_plus) = (x[..m].to_vec(), x[m..].to_vec());
    let mut w = vec![0.0; 2 * m];
    for shrinks in 0..=START_SHRINKS {
        from_exchange_pressure(&w_minus, &w_plus, &mut w);
        match compressor.start(&w) {
            Ok((state, c)) => {
                cost.exact_solves += c.exact_solves;
                return Ok((state, shrinks));
            }
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(_) => {
                cost.exact_solves += 1;
                let mean = crate::stats::mean(&w_minus);
                w_minus.iter_mut().for_each(|v| *v = mean + 0.5 * (*v - mean));
                w_plus.iter_mut().for_each(|v| *v = 0.0);
            }
        }
    }
    Err(Error::Scft("the start cannot be solved even close to the homogeneous melt".into()))
}

/// The L-BFGS direction -H g from the memory (two-loop recursion), with
/// the initial inverse Hessian `gamma` times the identity.
fn direction(g: &[f64], memory: &VecDeque<(Vec<f64>, Vec<f64>, f64)>, gamma: f64) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(memory.len());
    for (s, y, rho) in memory.iter().rev() {
        let a = rho * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
        alphas.push(a);
    }
    q.iter_mut().for_each(|v| *v *= gamma);
    for ((s, y, rho), a) in memory.iter().zip(alphas.into_iter().rev()) {
        let b = rho * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
    }
    q.iter_mut().for_each(|v| *v = -*v);
    q
}

/// Descends from `x` = (W_-, W_+) to the saddle point. `first_iteration`
/// numbers the progress calls after the iterations already run.
pub fn descend(
    solver: &dyn FieldSolver,
    config: &ScftConfig,
    x: &[f64],
    first_iteration: usize,
    history: &mut Vec<Visited>,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<Descent> {
    let chi = config.chi;
    let model = solver.model();
    let m = x.len() / 2;
    // dH/dW_- = -scale R_-.
    let scale = 2.0 * model.beads as f64 / (m as f64 * chi);
    let inner = CompressorConfig {
        tolerance: 1e-3f64.max(0.1 * config.tolerance),
        max_iterations: 1000,
        ..CompressorConfig::default()
    };
    let mut compressor = Compressor::new(inner, Solvers::exact(solver))?;
    let mut cost = SolveCost::default();
    let (mut state, start_shrinks) = start(&compressor, x, &mut cost)?;
    let mut r_minus = exchange_residual(chi, &state);
    let mut g: Vec<f64> = r_minus.iter().map(|r| -scale * r).collect();
    let mut memory: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
    let mut gamma = FIRST_STEP / scale;
    let mut iterations = 0;
    let residual = loop {
        let r = max_abs(&r_minus).max(state.pressure_residual);
        let at = first_iteration + iterations;
        progress(at, r);
        if config.record_every > 0 && at.is_multiple_of(config.record_every) {
            let mut w = vec![0.0; 2 * m];
            from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
            history.push(Visited { iteration: at, w });
        }
        if r < config.tolerance || at >= config.max_iterations {
            break r;
        }
        // W_+ as accurate as the exchange residual asks (H is insensitive
        // to its error to second order, the gradient to first order).
        let wanted = (0.1 * max_abs(&r_minus)).clamp(0.1 * config.tolerance, 1e-3);
        if wanted < compressor.config.tolerance {
            compressor.config.tolerance = wanted;
            if state.pressure_residual >= wanted {
                let (s, c) = compressor.advance(&state, state.w_minus.clone())?;
                cost += c;
                state = s;
                r_minus = exchange_residual(chi, &state);
                g = r_minus.iter().map(|r| -scale * r).collect();
                iterations += 1;
                continue;
            }
        }
        let Some((next, step)) =
            line_search(&compressor, &state, &g, &memory, gamma, r, chi, &mut cost).or_else(|| {
                memory.clear();
                line_search(&compressor, &state, &g, &memory, gamma, r, chi, &mut cost)
            })
        else {
            // No trial lowers H or the residual: the best point reachable.
            break r;
        };
        let r_next = exchange_residual(chi, &next);
        let g_next: Vec<f64> = r_next.iter().map(|r| -scale * r).collect();
        let y: Vec<f64> = g_next.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&step, &y);
        if sy > 1e-12 * dot(&step, &step).sqrt() * dot(&y, &y).sqrt() {
            gamma = sy / dot(&y, &y);
            memory.push_back((step, y, 1.0 / sy));
            if memory.len() > MEMORY {
                memory.pop_front();
            }
        }
        (state, r_minus, g) = (next, r_next, g_next);
        iterations += 1;
    };
    let mut w = vec![0.0; 2 * m];
    from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
    Ok(Descent {
        w,
        phi: state.phi,
        log_q: state.log_q,
        residual,
        iterations,
        solves: cost.exact_solves,
        start_shrinks,
    })
}

/// A trial along the L-BFGS direction, halved until it solves and lowers H
/// enough (or, within H's round-off, lowers the residual `r`); the new
/// state and the step taken.
#[allow(clippy::too_many_arguments)]
fn line_search(
    compressor: &Compressor<'_>,
    state: &PartialSaddle,
    g: &[f64],
    memory: &VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    gamma: f64,
    r: f64,
    chi: f64,
    cost: &mut SolveCost,
) -> Option<(PartialSaddle, Vec<f64>)> {
    let mut p = direction(g, memory, gamma);
    let mut slope = dot(g, &p);
    // Not a descent direction (or NaN): steepest descent instead.
    if slope.is_nan() || slope >= 0.0 {
        p = g.iter().map(|v| -gamma * v).collect();
        slope = dot(g, &p);
    }
    let model = compressor.solvers().model();
    let f = state.hamiltonian(model, chi);
    let noise = 1e-12 * (1.0 + f.abs());
    let mut alpha = 1.0;
    for _ in 0..HALVINGS {
        let trial: Vec<f64> = state.w_minus.iter().zip(&p).map(|(w, d)| w + alpha * d).collect();
        match compressor.advance(state, trial) {
            Ok((next, c)) => {
                *cost += c;
                let h = next.hamiltonian(model, chi);
                let decrease = h <= f + ARMIJO * alpha * slope;
                let round_off =
                    h <= f + noise && max_abs(&exchange_residual(chi, &next)).max(next.pressure_residual) < r;
                if decrease || round_off {
                    let step = p.iter().map(|d| alpha * d).collect();
                    return Some((next, step));
                }
            }
            // Outside the model's domain, or W_+ did not converge there.
            Err(_) => cost.exact_solves += 1,
        }
        alpha *= 0.5;
    }
    None
}
