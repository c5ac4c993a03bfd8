//! Newton's method for the inverse map, where the quasi-Newton iteration of
//! `inverse` slows down: strongly segregated patterns, whose densities
//! nearly vanish (or, from the bond kernel's negative lobes, dip slightly
//! below zero) over whole domains.
//!
//! What makes these hard, measured on the densities of an SCFT saddle point
//! at chi = 0.5 (32x32): the Jacobian -J = (M/N) Hess ln Q is not positive
//! definite there (26 negative eigenvalues, from the negative lobes), its
//! eigenvalues span 1e-5 to 71, and the smallest belong to fields where a
//! density is 1e-6 (fields there barely move any density). Preconditioned
//! by the quasi-Newton inverse D S^{-1} D the spectrum is [-1.4, 8] and
//! bounded away from zero, so GMRES solves a Newton step in some tens of
//! products; and the exact inverse is not unique (several fields make the
//! same densities to 1e-12). Globally the straight path from the melt to
//! such a target has a fold just before the target (continuation stalls at
//! l = 0.996 for that case): densities near zero are reached there by
//! fields that grow without bound, and the target's slightly negative ones
//! only by moderate fields on another branch.
//!
//! So three starts, each polished by the same Newton iteration; the first
//! that converges wins, else the best one is returned:
//! 1. mean-field-shaped fields: W_- = c psi / 2 with W_+ at its partial
//!    saddle point and c fitted to the pattern. This is the saddle point's
//!    own branch for an SCFT pattern (c = chi there), so chi inferred from
//!    the fields is the pattern's, and a start on the moderate-field branch
//!    for others. First, although it costs a few hundred solves, because
//!    the other starts can converge on other branches (from the
//!    quasi-Newton iterate of a lamellar saddle point at chi = 1.5: fields
//!    whose saddle estimate of chi is 1.79);
//! 2. the quasi-Newton iteration's best iterate;
//! 3. continuation in the target from the melt, for what is left.
//!
//! Which of the many solutions: for SCFT patterns the first start gives the
//! saddle point's own fields (chi from them to 1e-8). For L-FTS patterns
//! at chi = 1.0 the Newton polish with the plain residual phi - phi* found
//! fields that reproduce the pattern to 1e-12 but differ from the run's W_-
//! by up to 0.6-0.9 where a density nearly vanishes (chi from them over
//! every point: 1.44 for chi = 1, hence the density cut of `chi`'s
//! equipartition estimator). With the logarithmic residual the same
//! patterns invert onto the run's own branch (W_- within 2e-6). Still
//! open: the L-FTS patterns at chi = 1.0 grown from random fields
//! (minority domains of both kinds, 5% of the points with phi_A < 1e-3):
//! with the plain residual phi - phi* 11 of 16 such
//! snapshots (seeds 1-8, example `inv_random`) stopped at 6e-7 to 4e-4,
//! every start ending in a minimum of |r| where the fields grow along it.
//! The logarithmic residual and the extended budget of `Newton` leave 6-7
//! of 16 failing (at 4e-9 to 1e-4); chi from their best fields equals chi
//! from the runs' own to 2e-4, so `infer-chi` uses them
//! (`mesofield_experiments::observed::PARTIAL_INVERSION`). Which residual a pattern needs varies from
//! one pattern to the next (floors 0.01 and 0.3 each invert some that 0.1
//! does not), none tried inverts them all, and a retry with another floor
//! from the best iterate does not rescue them. Nor does the convex-dual
//! view that works for a positive kernel: minimising
//! F(w) = M ln Q / N + sum_r w . phi* (gradient phi* - phi(w)) by L-BFGS
//! preconditioned with S^{-1}, from the melt, drove the fields of two such
//! patterns to |w| = 710 in 1700 iterations with the residual at 0.08-0.17:
//! their targets dip below zero (to -2.4e-4), where F is unbounded below,
//! and the solution is a saddle of F, not its minimum.

use crate::error::{Error, Result};
use crate::fields::from_exchange_pressure;
use crate::inverse::{InverseResponse, ResponseScratch, remove_means};
use crate::krylov::Gmres;
use crate::lfts::{Lfts, LftsConfig};
use crate::seam::Solvers;
use crate::solver::ExactSolver;
use crate::tangent::Linearization;

/// The end of a Newton run: fields, their densities and the counts.
pub(crate) struct NewtonRun {
    pub w: Vec<f64>,
    pub phi: Vec<f64>,
    pub log_q: f64,
    /// max |phi(w) - phi*|.
    pub residual: f64,
    pub converged: bool,
    pub steps: usize,
    pub solves: usize,
    pub products: usize,
}

/// The three starts in turn (see the module comment), with `w` the
/// quasi-Newton iteration's best iterate.
pub(crate) fn polish(
    exact: &ExactSolver,
    response: &InverseResponse,
    target: &[f64],
    w: Vec<f64>,
    tolerance: f64,
) -> Result<NewtonRun> {
    let mut newton = Newton::new(exact, response);
    let (start, start_solves) = saddle_shaped_start(exact, target)?;
    let mut counts = [0, start_solves, 0];
    let mut best: Option<NewtonRun> = None;
    let mut consider = |run: NewtonRun, best: &mut Option<NewtonRun>| {
        counts[0] += run.steps;
        counts[1] += run.solves;
        counts[2] += run.products;
        if best.as_ref().is_none_or(|b| !b.converged && (run.converged || run.residual < b.residual)) {
            *best = Some(run);
        }
    };
    if let Some(start) = start {
        consider(newton.solve(target, start, tolerance, NEWTON_STEPS)?, &mut best);
    }
    if !best.as_ref().is_some_and(|b| b.converged) {
        consider(newton.solve(target, w, tolerance, NEWTON_STEPS)?, &mut best);
    }
    // From the melt, not from the mean-field-shaped start: measured on an
    // L-FTS pattern at chi = 1.0, the path from that start stalled at 2e-3
    // after 25 s, the path from the melt converged in 4 s.
    if !best.as_ref().is_some_and(|b| b.converged) {
        consider(continuation(&mut newton, target, tolerance)?, &mut best);
    }
    let best = best.expect("the quasi-Newton iterate's start runs unless an earlier one converged");
    let [steps, solves, products] = counts;
    Ok(NewtonRun { steps, solves, products, ..best })
}

/// W_- = c psi / 2 (psi = phi_A* - phi_B*) and W_+ at its partial saddle
/// point (phi_A + phi_B = 1), with c minimising |phi(w) - phi*| by golden
/// section on ln c over [C_LOW, C_HIGH]. None if no c gives fields inside
/// the model's domain. Returns the solves spent.
fn saddle_shaped_start(exact: &ExactSolver, target: &[f64]) -> Result<(Option<Vec<f64>>, usize)> {
    let n = target.len();
    let m = n / 2;
    let psi: Vec<f64> = (0..m).map(|i| target[i] - target[m + i]).collect();
    let mut config = LftsConfig::new(1.0, 1.0, 0.1, 0);
    config.noise = false;
    config.pressure_tolerance = START_PRESSURE_TOLERANCE;
    // A c whose W_+ does not settle is a poor start anyway: fail it early.
    config.pressure_max_iterations = START_PRESSURE_ITERATIONS;
    let lfts = Lfts::new(config, Solvers::exact(exact))?;
    let mut w_plus = vec![0.0; m];
    let mut w = vec![0.0; n];
    let mut solves = 0;
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut evaluate = |c: f64, w_plus: &mut Vec<f64>, solves: &mut usize| -> Result<f64> {
        let w_minus: Vec<f64> = psi.iter().map(|p| 0.5 * c * p).collect();
        from_exchange_pressure(&w_minus, w_plus, &mut w);
        match lfts.start(&w, 0) {
            Ok((state, cost)) => {
                *solves += cost.exact_solves;
                let distance = state.phi.iter().zip(target).map(|(p, q)| (p - q) * (p - q)).sum::<f64>().sqrt();
                w_plus.copy_from_slice(&state.w_plus);
                if best.as_ref().is_none_or(|(d, _)| distance < *d) {
                    let mut fields = vec![0.0; n];
                    from_exchange_pressure(&state.w_minus, &state.w_plus, &mut fields);
                    best = Some((distance, fields));
                }
                Ok(distance)
            }
            // Too strong for the model (or its pressure loop): not this c.
            // The loop ran at most its iteration limit before giving up:
            // counted as that many solves.
            Err(Error::Domain { .. } | Error::Sampling(_)) => {
                *solves += START_PRESSURE_ITERATIONS;
                Ok(f64::INFINITY)
            }
            Err(e) => Err(e),
        }
    };
    let golden = 0.5 * (5f64.sqrt() - 1.0);
    let (mut a, mut b) = (C_LOW.ln(), C_HIGH.ln());
    let mut x1 = b - golden * (b - a);
    let mut x2 = a + golden * (b - a);
    let mut f1 = evaluate(x1.exp(), &mut w_plus, &mut solves)?;
    let mut f2 = evaluate(x2.exp(), &mut w_plus, &mut solves)?;
    for _ in 0..GOLDEN_STEPS {
        if f1 <= f2 {
            (b, x2, f2) = (x2, x1, f1);
            x1 = b - golden * (b - a);
            f1 = evaluate(x1.exp(), &mut w_plus, &mut solves)?;
        } else {
            (a, x1, f1) = (x1, x2, f2);
            x2 = a + golden * (b - a);
            f2 = evaluate(x2.exp(), &mut w_plus, &mut solves)?;
        }
    }
    let start = best.map(|(_, mut fields)| {
        remove_means(&mut fields);
        fields
    });
    Ok((start, solves))
}

/// Natural-parameter continuation from the melt (zero fields, densities
/// phi_0): targets phi(l) = phi_0 + l (phi* - phi_0) for l from 0 to 1, each solved by
/// Newton from the previous solution (secant predictor) to a loose
/// tolerance, the last to `tolerance`; l steps shrink when the corrector
/// fails and grow when it succeeds in a few steps.
fn continuation(newton: &mut Newton, target: &[f64], tolerance: f64) -> Result<NewtonRun> {
    let n = target.len();
    let mut w = vec![0.0; n];
    let mut origin = vec![0.0; n];
    newton.exact.solve_batch(&w, &mut origin, &mut [0.0])?;
    let mut previous: Option<(f64, Vec<f64>)> = None;
    let (mut lambda, mut step) = (0.0f64, CONTINUATION_FIRST_STEP);
    let (mut steps_taken, mut solves, mut products) = (0, 1, 0);
    let mut last_run: Option<NewtonRun> = None;
    let mut intermediate = vec![0.0; n];
    while step >= CONTINUATION_SMALLEST_STEP && solves + products < CONTINUATION_BUDGET {
        let next = (lambda + step).min(1.0);
        for i in 0..n {
            intermediate[i] = origin[i] + next * (target[i] - origin[i]);
        }
        let start: Vec<f64> = match &previous {
            Some((l_prev, w_prev)) if lambda > *l_prev => {
                let s = (next - lambda) / (lambda - l_prev);
                w.iter().zip(w_prev).map(|(a, b)| a + s * (a - b)).collect()
            }
            _ => w.clone(),
        };
        let last = next >= 1.0;
        let (tol, steps) =
            if last { (tolerance, NEWTON_STEPS) } else { (CONTINUATION_TOLERANCE, CONTINUATION_NEWTON_STEPS) };
        let run = newton.solve(&intermediate, start, tol, steps)?;
        steps_taken += run.steps;
        solves += run.solves;
        products += run.products;
        if run.converged {
            let quick = run.steps <= CONTINUATION_NEWTON_STEPS / 2;
            previous = Some((lambda, std::mem::replace(&mut w, run.w.clone())));
            lambda = next;
            if last {
                last_run = Some(run);
                break;
            }
            if quick {
                step *= 1.5;
            }
        } else {
            if last {
                last_run = Some(run);
            }
            step *= 0.5;
        }
    }
    match last_run {
        Some(run) => Ok(NewtonRun { steps: steps_taken, solves, products, ..run }),
        // Never reached l = 1: the fields at the last l, with their residual
        // against the real target.
        None => {
            let mut phi = vec![0.0; n];
            let mut log_q = [0.0];
            newton.exact.solve_batch(&w, &mut phi, &mut log_q)?;
            let residual = phi.iter().zip(target).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
            Ok(NewtonRun {
                phi,
                log_q: log_q[0],
                w,
                residual,
                converged: false,
                steps: steps_taken,
                solves: solves + 1,
                products,
            })
        }
    }
}

/// Newton's method for phi(w) = phi* with the exact Jacobian, and its
/// buffers (the linearisation's propagators, the GMRES basis), reused by
/// every start and every intermediate target of the continuation.
///
/// Each step solves -G J dw = g(phi(w)) - g(phi*), with g a logarithm
/// that turns linear at small densities and G = diag g'(phi), by GMRES
/// right-preconditioned by the quasi-Newton inverse D S^{-1} D G^{-1}, to
/// the relative accuracy of the
/// Eisenstat-Walker forcing term (loose far away, tight near the root).
/// The step is clipped to CLIP per point: where Newton asks for large
/// changes the density is insensitive to the field (that is why the change
/// is large), so clipping barely changes the predicted densities while it
/// keeps the next linearisation near this one. Then a backtracking line
/// search on |g(phi) - g(phi*)|_2 whose trials stay in the model's domain
/// (Q <= 0 is a rejected trial). The run stops after `max_steps`, or up to
/// EXTENDED_STEPS while each step still lowers that norm steadily.
struct Newton<'a> {
    exact: &'a ExactSolver,
    response: &'a InverseResponse,
    /// None until the first solve.
    lin: Option<Linearization<'a>>,
    gmres: Option<Gmres>,
    scratch: ResponseScratch,
}

impl<'a> Newton<'a> {
    fn new(exact: &'a ExactSolver, response: &'a InverseResponse) -> Self {
        Newton { exact, response, lin: None, gmres: None, scratch: response.scratch() }
    }

    /// From `w`, at most `max_steps` steps.
    fn solve(&mut self, target: &[f64], mut w: Vec<f64>, tolerance: f64, max_steps: usize) -> Result<NewtonRun> {
        let n = target.len();
        let m = n / 2;
        let f = self.exact.model().f_a();
        let lin = match &mut self.lin {
            Some(lin) => {
                lin.at(&w)?;
                lin
            }
            slot => slot.insert(self.exact.linearize(&w)?),
        };
        let gmres = self.gmres.get_or_insert_with(|| Gmres::new(n, GMRES_PRODUCTS));
        let (response, scratch) = (self.response, &mut self.scratch);
        let (mut solves, mut products, mut steps) = (1, 0, 0);
        let (mut r, mut dw, mut trial, mut scale) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut slope, mut unslope) = (vec![0.0; n], vec![0.0; n]);
        let mut previous_norm: Option<f64> = None;
        let mut forcing = FORCING_MAX;
        // The residual in g(phi) = asinh(phi / c), c = LOG_FLOOR x the
        // channel's mean: logarithmic above c, where a field moves a
        // density by a factor, linear below c and through zero, where
        // densities vanish or dip below it.
        let floor: Vec<f64> = (0..n).map(|i| LOG_FLOOR * if i < m { f } else { 1.0 - f }).collect();
        let g = |i: usize, p: f64| -> f64 { (p / floor[i]).asinh() };
        let g_target: Vec<f64> = (0..n).map(|i| g(i, target[i])).collect();
        let distance =
            |phi: &[f64]| phi.iter().enumerate().map(|(i, &p)| (g(i, p) - g_target[i]).powi(2)).sum::<f64>().sqrt();
        loop {
            let mut residual = 0.0f64;
            for i in 0..n {
                let p = lin.phi()[i];
                residual = residual.max((p - target[i]).abs());
                r[i] = g(i, p) - g_target[i];
                slope[i] = 1.0 / (p * p + floor[i] * floor[i]).sqrt();
            }
            let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt();
            let converged = residual < tolerance;
            // Past the budget only while each step still shrinks |r|
            // steadily: near the root of these patterns GMRES reaches only
            // part of the Newton step and the iteration converges linearly.
            let progressing = previous_norm.is_some_and(|p| norm < STEADY_PROGRESS * p);
            if converged || steps >= max_steps && !(progressing && steps < EXTENDED_STEPS) {
                let (phi, log_q) = (lin.phi().to_vec(), lin.log_q());
                return Ok(NewtonRun { w, phi, log_q, residual, converged, steps, solves, products });
            }
            steps += 1;
            // Eisenstat and Walker's second choice, safeguarded, and never
            // tighter than the tolerance needs.
            if let Some(previous) = previous_norm {
                let proposed = 0.9 * (norm / previous).powi(2);
                let safeguard = 0.9 * forcing * forcing;
                forcing = if safeguard > 0.1 { proposed.max(safeguard) } else { proposed }.min(FORCING_MAX);
            }
            let rtol = forcing.max(0.1 * tolerance / norm).max(1e-13);
            for i in 0..n {
                let phi0 = if i < m { f } else { 1.0 - f };
                scale[i] = (phi0 / lin.phi()[i].abs().max(crate::inverse::DENSITY_FLOOR * phi0)).sqrt();
            }
            let info = {
                let (lin, scale, slope, unslope) = (&mut *lin, &scale, &slope, &mut unslope);
                gmres.solve(
                    |v, out| {
                        lin.apply(v, out)?;
                        out.iter_mut().zip(slope).for_each(|(x, s)| *x = -*x * s);
                        Ok(())
                    },
                    |v, out| {
                        unslope.iter_mut().zip(v).zip(slope).for_each(|((u, x), s)| *u = x / s);
                        response.apply_scaled(scratch, scale, unslope, out)
                    },
                    &r,
                    &mut dw,
                    rtol,
                    GMRES_PRODUCTS,
                )?
            };
            products += info.products;
            remove_means(&mut dw);
            dw.iter_mut().for_each(|x| *x = x.clamp(-CLIP, CLIP));
            let mut t = 1.0;
            let mut accepted = false;
            for _ in 0..=LINE_SEARCH_HALVINGS {
                for i in 0..n {
                    trial[i] = w[i] + t * dw[i];
                }
                solves += 1;
                match lin.at(&trial) {
                    Ok(()) if distance(lin.phi()) <= (1.0 - 1e-4 * t) * norm => {
                        accepted = true;
                        break;
                    }
                    Ok(()) | Err(Error::Domain { .. }) => {}
                    Err(e) => return Err(e),
                }
                t *= 0.5;
            }
            if !accepted {
                // No step along this direction lowers |r|: stop at w.
                lin.at(&w)?;
                solves += 1;
                let (phi, log_q) = (lin.phi().to_vec(), lin.log_q());
                return Ok(NewtonRun { w, phi, log_q, residual, converged: false, steps, solves, products });
            }
            std::mem::swap(&mut w, &mut trial);
            previous_norm = Some(norm);
        }
    }
}

/// Newton steps at most per start.
const NEWTON_STEPS: usize = 25;
/// Steps at most while each lowers |r| by STEADY_PROGRESS or more.
const EXTENDED_STEPS: usize = 60;
const STEADY_PROGRESS: f64 = 0.8;
/// Jacobian products per GMRES solve, unrestarted (restarted GMRES
/// stagnates on the indefinite preconditioned spectrum).
const GMRES_PRODUCTS: usize = 300;
/// The loosest relative accuracy of a Newton step's linear solve.
const FORCING_MAX: f64 = 0.1;
/// Largest change of a field at one point in one Newton step.
const CLIP: f64 = 0.5;
/// Where the residual turns from logarithmic to linear, as a fraction of
/// the channel's mean density. Measured on 16 L-FTS patterns at chi 1.0
/// grown from random fields: 10 converge with 0.1, 9 with 0.01, 5 with the
/// plain residual phi - phi*.
const LOG_FLOOR: f64 = 0.1;
const LINE_SEARCH_HALVINGS: usize = 12;
/// The mean-field-shaped start: its range of c, golden-section steps, and
/// the incompressibility it solves W_+ to.
const C_LOW: f64 = 0.01;
const C_HIGH: f64 = 10.0;
const GOLDEN_STEPS: usize = 22;
const START_PRESSURE_TOLERANCE: f64 = 1e-9;
const START_PRESSURE_ITERATIONS: usize = 100;
/// Continuation: first step in l, smallest before giving up, the tolerance
/// and Newton steps of the intermediate targets.
const CONTINUATION_FIRST_STEP: f64 = 0.1;
const CONTINUATION_SMALLEST_STEP: f64 = 1e-4;
const CONTINUATION_TOLERANCE: f64 = 1e-7;
const CONTINUATION_NEWTON_STEPS: usize = 8;
/// Solves plus Jacobian products after which continuation gives up (about
/// 6 s on the default 32x32 system): what a pattern no chain can make costs
/// before its error.
const CONTINUATION_BUDGET: usize = 12_000;

/// One Newton run from `w` alone, without the other starts: returns the
/// fields, max |phi(w) - phi*|, whether it converged, and steps, solves and
/// Jacobian products. For probing the basin of a known solution
/// (`examples/inv_basin`); `invert` is the method to use.
#[doc(hidden)]
pub fn newton_from(
    exact: &ExactSolver,
    target: &[f64],
    w: Vec<f64>,
    tolerance: f64,
    max_steps: usize,
) -> Result<(Vec<f64>, f64, bool, [usize; 3])> {
    let response = InverseResponse::new(exact);
    let run = Newton::new(exact, &response).solve(target, w, tolerance, max_steps)?;
    Ok((run.w, run.residual, run.converged, [run.steps, run.solves, run.products]))
}
