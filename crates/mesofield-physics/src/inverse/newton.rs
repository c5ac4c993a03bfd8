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
//! Where a Newton step's cost goes: near the root of an L-FTS pattern at
//! chi = 1.0 (`bench inverse`'s seed 2029, pattern 27, 32x32) J itself has
//! 123 negative eigenvalues of 2048 (so has J P for any symmetric positive
//! definite P: Sylvester's law of inertia), and D S^{-1} D leaves 455
//! eigenvalues of modulus below 0.5 in [-0.66, 3.1], on points where the
//! density is above half its mean. GMRES takes 12 products to reduce a
//! random right-hand side tenfold there, but Newton's late residuals lie in
//! those slow directions, and each step took its 300-product cap. Each
//! linear solve's Krylov space is a set of secant pairs A z = y of nearly
//! the next step's Jacobian, so the next solves are preconditioned by P
//! corrected to invert A exactly on it (`krylov::SecantUpdate`, two levels
//! nested): on 18 patterns of that sweep 137k -> 73k solve equivalents in
//! all, the seconds unchanged (the corrections' dense algebra costs what
//! the products saved). It changes which root basin the iterates reach, so
//! a pattern it leaves unconverged gets all four starts again with the
//! plain preconditioner (`polish`).
//!
//! So four starts, each polished by the same Newton iteration; the first
//! that converges wins, else the best one is returned:
//! 1. mean-field-shaped fields: W_- = c psi / 2 with W_+ at its partial
//!    saddle point and c fitted to the pattern. This is the saddle point's
//!    own branch for an SCFT pattern (c = chi there), so chi inferred from
//!    the fields is the pattern's, and a start on the moderate-field branch
//!    for others. First, although it costs a few hundred solves, because
//!    the other starts can converge on other branches (from the
//!    quasi-Newton iterate of a lamellar saddle point at chi = 1.5: fields
//!    whose saddle estimate of chi is 1.79);
//! 2. the quasi-Newton iteration's best iterate; where start 1's run came
//!    within 1e-4, only after start 3 has failed (measured on 18 L-FTS
//!    patterns of `bench inverse`'s seed 2029, 32x32: it never helped
//!    there, its runs ended at 1e-3 to 1e-4);
//! 3. the best iterate so far with the fields at depleted points (density
//!    below 1e-3) reset to their neighbourhood's (`reset_depleted`),
//!    repeated while it helps;
//! 4. continuation in the target from the melt, for what is left.
//!
//! A run that ends within 1e-6 of the target without converging is
//! continued by Newton with accurately solved steps (`Newton::accurate`).
//!
//! Which of the many solutions: for SCFT patterns the first start gives the
//! saddle point's own fields (chi from them to 1e-8). For L-FTS patterns
//! at chi = 1.0 the Newton polish with the plain residual phi - phi* found
//! fields that reproduce the pattern to 1e-12 but differ from the run's W_-
//! by up to 0.6-0.9 where a density nearly vanishes (chi from them over
//! every point: 1.44 for chi = 1, hence the density cut of `chi`'s
//! equipartition estimator). With the logarithmic residual the same
//! patterns invert onto the run's own branch (W_- within 2e-6).
//!
//! The L-FTS patterns at chi = 1.0 grown from random fields (minority
//! domains of both kinds, 5% of the points with phi_A < 1e-3) were harder:
//! with starts 1, 2 and 4 alone, 7 of 16 such snapshots (seeds 1-8, example
//! `inv_random`) stopped at 4e-9 to 1e-4. Their stalls are of two kinds,
//! seen on the straight line from the stalled fields to the run's own:
//! (a) 0.04-0.1 (rms) away, behind a barrier (the residual rises to 1e-3
//! along the line before it falls to the root), the largest differences (up
//! to 1.6) in fields at points where that channel's density is below 1e-3:
//! start 3 crosses it; (b) within 0.001 of the run's fields, where the cheap
//! steps (300 products, forcing 0.1) converge only linearly and stall at
//! 4e-9: the accurate iteration converges in 5 steps. With both, all 32
//! snapshots of seeds 1-16 invert to 1e-10 in 3100-25000 solve equivalents
//! (3-30 s), on the run's own branch (chi from the fields found equals chi
//! from the run's to 1e-4). Tried and
//! not kept: continuation along low-pass filtered targets (exp(-tau q^2),
//! tau -> 0) inverted none of 10; the quasi-Newton iteration restarted from
//! a stalled iterate does not move. Which residual floor a pattern needs
//! varies (0.01 and 0.3 each invert some that 0.1 does not alone).
//!
//! The convex-dual view that works for a positive kernel fails here:
//! minimising
//! F(w) = M ln Q / N + sum_r w . phi* (gradient phi* - phi(w)) by L-BFGS
//! preconditioned with S^{-1}, from the melt, drove the fields of two such
//! patterns to |w| = 710 in 1700 iterations with the residual at 0.08-0.17:
//! their targets dip below zero (to -2.4e-4), where F is unbounded below,
//! and the solution is a saddle of F, not its minimum.

use crate::error::{Error, Result};
use crate::fields::from_exchange_pressure;
use crate::fts::compressor::{Compressor, CompressorConfig};
use crate::inverse::{InverseResponse, ResponseScratch, remove_means};
use crate::krylov::{Gmres, SecantUpdate};
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

/// The four starts in turn (see the module comment), with `w` the
/// quasi-Newton iteration's best iterate.
pub(crate) fn polish(
    exact: &ExactSolver,
    response: &InverseResponse,
    target: &[f64],
    w: Vec<f64>,
    tolerance: f64,
) -> Result<NewtonRun> {
    let first = polish_with(exact, response, target, w.clone(), tolerance, SECANT_LEVELS)?;
    if first.converged {
        return Ok(first);
    }
    // The corrected preconditioner changes the iterates' paths: on the
    // 100 patterns of `bench inverse --seed 6007` it left unconverged 4
    // that the plain one converges (one of them at 3.5e-4, past the
    // partial-inversion gate) and converged 1 that the plain one does not.
    // So what it does not converge, the plain one is tried on.
    let second = polish_with(exact, response, target, w, tolerance, 0)?;
    let counts = (first.steps + second.steps, first.solves + second.solves, first.products + second.products);
    let best = if second.converged || second.residual < first.residual { second } else { first };
    Ok(NewtonRun { steps: counts.0, solves: counts.1, products: counts.2, ..best })
}

/// The four starts with Newton's preconditioner corrected by up to
/// `secant_levels` secant updates.
fn polish_with(
    exact: &ExactSolver,
    response: &InverseResponse,
    target: &[f64],
    w: Vec<f64>,
    tolerance: f64,
    secant_levels: usize,
) -> Result<NewtonRun> {
    let mut polish = Polish::new(exact, response, target, tolerance, secant_levels);
    let (start, start_solves) = saddle_shaped_start(exact, target)?;
    polish.counts[1] += start_solves;
    if let Some(start) = start {
        polish.run_from(start)?;
    }
    // From a run that came close, the depleted-point resets below come
    // first: the quasi-Newton iterate (which stopped far off) is then
    // tried only if they fail.
    let came_close = polish.unconverged_residual().is_some_and(|r| r < QUASI_NEWTON_START_ABOVE);
    let mut quasi_newton_start = Some(w);
    if !polish.converged() && !came_close {
        polish.run_from(quasi_newton_start.take().expect("not taken yet"))?;
    }
    // Restarts with the fields at depleted points reset (see
    // `reset_depleted`), each from the best iterate: per blur width, while
    // they lower its residual.
    for cells in RESET_WIDTHS {
        for _ in 0..RESET_ROUNDS {
            let Some(before) = polish.unconverged_residual() else { break };
            let w = reset_depleted(response, target, polish.best_w(), cells);
            polish.run_from(w)?;
            if polish.unconverged_residual().is_some_and(|r| r >= before) {
                break;
            }
        }
    }
    if let Some(w) = quasi_newton_start.filter(|_| !polish.converged()) {
        polish.run_from(w)?;
    }
    // From the melt, not from the mean-field-shaped start: measured on an
    // L-FTS pattern at chi = 1.0, the path from that start stalled at 2e-3
    // after 25 s, the path from the melt converged in 4 s.
    if !polish.converged() {
        let run = continuation(&mut polish.newton, target, tolerance)?;
        polish.consider(run)?;
    }
    Ok(polish.finish())
}

/// The starts' bookkeeping: the best run so far and the counts of all.
/// Every run that ends close to a root without converging is continued by
/// the accurate Newton iteration (see `Newton::accurate`).
struct Polish<'a> {
    newton: Newton<'a>,
    accurate: Newton<'a>,
    target: &'a [f64],
    tolerance: f64,
    best: Option<NewtonRun>,
    /// Steps, solves and Jacobian products of every run.
    counts: [usize; 3],
}

impl<'a> Polish<'a> {
    fn new(
        exact: &'a ExactSolver,
        response: &'a InverseResponse,
        target: &'a [f64],
        tolerance: f64,
        secant_levels: usize,
    ) -> Self {
        Polish {
            newton: Newton { secant_levels, ..Newton::new(exact, response) },
            accurate: Newton { secant_levels, ..Newton::accurate(exact, response) },
            target,
            tolerance,
            best: None,
            counts: [0; 3],
        }
    }

    fn converged(&self) -> bool {
        self.best.as_ref().is_some_and(|b| b.converged)
    }

    fn unconverged_residual(&self) -> Option<f64> {
        self.best.as_ref().filter(|b| !b.converged).map(|b| b.residual)
    }

    fn best_w(&self) -> Vec<f64> {
        self.best.as_ref().map(|b| b.w.clone()).expect("called after a run")
    }

    fn run_from(&mut self, w: Vec<f64>) -> Result<()> {
        let run = self.newton.solve(self.target, w, self.tolerance, NEWTON_STEPS)?;
        self.consider(run)
    }

    fn consider(&mut self, run: NewtonRun) -> Result<()> {
        let close = !run.converged && run.residual < ACCURATE_FROM;
        let w = close.then(|| run.w.clone());
        self.keep(run);
        if let Some(w) = w {
            let run = self.accurate.solve(self.target, w, self.tolerance, NEWTON_STEPS)?;
            self.keep(run);
        }
        Ok(())
    }

    fn keep(&mut self, run: NewtonRun) {
        self.counts[0] += run.steps;
        self.counts[1] += run.solves;
        self.counts[2] += run.products;
        if self.best.as_ref().is_none_or(|b| !b.converged && (run.converged || run.residual < b.residual)) {
            self.best = Some(run);
        }
    }

    fn finish(self) -> NewtonRun {
        let best = self.best.expect("the quasi-Newton iterate's start runs unless an earlier one converged");
        let [steps, solves, products] = self.counts;
        NewtonRun { steps, solves, products, ..best }
    }
}

/// `w` with the field of each channel, at the points where the target's
/// density of that channel is below DEPLETED, replaced by the field
/// blurred over `cells` grid cells (a Gaussian filter of that standard
/// deviation).
///
/// Why: there a field barely moves any density, so Newton's steps (the
/// largest there, clipped) drive it to values far from its neighbours', and
/// on the L-FTS patterns grown from random fields at chi = 1.0 the
/// iteration then stalls 0.04-0.1 (rms) away from the sampled fields, at a
/// local minimum of the residual behind a barrier (measured on the straight
/// line to the run's own fields: 4e-6 rising to 2.7e-3 and falling to 7e-11).
/// Newton from the run's fields with only the depleted points' values taken
/// from the stalled iterate converges; so does Newton from the stalled
/// iterate with its depleted points smoothed, which needs no knowledge of
/// the run (`examples/inv_random`).
fn reset_depleted(response: &InverseResponse, target: &[f64], mut w: Vec<f64>, cells: f64) -> Vec<f64> {
    let plan = response.plan();
    let grid = *plan.grid();
    let m = grid.points();
    let mut scratch = plan.scratch();
    let width2 = cells * cells * grid.hx() * grid.hy();
    let kernel: Vec<f64> = plan.q_squared_table().iter().map(|&q2| (-0.5 * q2 * width2).exp()).collect();
    let mut blurred = vec![0.0; m];
    for ch in 0..2 {
        let channel = ch * m..(ch + 1) * m;
        plan.convolve(&mut scratch, &w[channel.clone()], &kernel, 1.0 / m as f64, &mut blurred);
        for (j, i) in channel.enumerate() {
            if target[i] < DEPLETED {
                w[i] = blurred[j];
            }
        }
    }
    remove_means(&mut w);
    w
}

/// W_- = c psi / 2 (psi = phi_A* - phi_B*) and W_+ at its partial saddle
/// point (phi_A + phi_B = 1), with c minimising |phi(w) - phi*| by golden
/// section on ln c over [C_LOW, C_HIGH]. None if no c gives fields inside
/// the model's domain. Returns the solves spent.
fn saddle_shaped_start(exact: &ExactSolver, target: &[f64]) -> Result<(Option<Vec<f64>>, usize)> {
    let n = target.len();
    let m = n / 2;
    let psi: Vec<f64> = (0..m).map(|i| target[i] - target[m + i]).collect();
    // A c whose W_+ does not settle is a poor start anyway: fail it early.
    // The budget was set on the melt's response, which the start keeps.
    let config = CompressorConfig {
        tolerance: START_PRESSURE_TOLERANCE,
        max_iterations: START_PRESSURE_ITERATIONS,
        ..CompressorConfig::melt()
    };
    let compressor = Compressor::new(config, Solvers::exact(exact))?;
    let mut w_plus = vec![0.0; m];
    let mut w = vec![0.0; n];
    let mut solves = 0;
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut evaluate = |c: f64, w_plus: &mut Vec<f64>, solves: &mut usize| -> Result<f64> {
        let w_minus: Vec<f64> = psi.iter().map(|p| 0.5 * c * p).collect();
        from_exchange_pressure(&w_minus, w_plus, &mut w);
        match compressor.start(&w) {
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
/// right-preconditioned by the quasi-Newton inverse D S^{-1} D G^{-1}
/// corrected by the secant pairs of the run's latest linear solves (see
/// the module comment), to the relative accuracy of the
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
    /// Jacobian products per linear solve and the loosest forcing term.
    products: usize,
    forcing_max: f64,
    /// Secant corrections of the preconditioner kept (0: none).
    secant_levels: usize,
}

impl<'a> Newton<'a> {
    fn new(exact: &'a ExactSolver, response: &'a InverseResponse) -> Self {
        Newton {
            exact,
            response,
            lin: None,
            gmres: None,
            scratch: response.scratch(),
            products: GMRES_PRODUCTS,
            forcing_max: FORCING_MAX,
            secant_levels: SECANT_LEVELS,
        }
    }

    /// Each step solved to a tight forcing term, whatever the residual:
    /// quadratic convergence where the cheap steps converge only linearly.
    fn accurate(exact: &'a ExactSolver, response: &'a InverseResponse) -> Self {
        Newton { products: ACCURATE_PRODUCTS, forcing_max: ACCURATE_FORCING, ..Newton::new(exact, response) }
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
        let (cap, forcing_max) = (self.products, self.forcing_max);
        let gmres = self.gmres.get_or_insert_with(|| Gmres::new(n, cap));
        let (response, scratch) = (self.response, &mut self.scratch);
        let (mut solves, mut products, mut steps) = (1, 0, 0);
        let (mut r, mut dw, mut trial, mut scale) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut slope, mut unslope) = (vec![0.0; n], vec![0.0; n]);
        let mut previous_norm: Option<f64> = None;
        let mut forcing = forcing_max;
        // The secant corrections of the preconditioner, oldest first, each
        // made for the one below it (see `SecantUpdate`).
        let secant_levels = self.secant_levels;
        let mut levels: Vec<SecantUpdate> = Vec::with_capacity(secant_levels + 1);
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
                forcing = if safeguard > 0.1 { proposed.max(safeguard) } else { proposed }.min(forcing_max);
            }
            let rtol = forcing.max(0.1 * tolerance / norm).max(1e-13);
            for i in 0..n {
                let phi0 = if i < m { f } else { 1.0 - f };
                scale[i] = (phi0 / lin.phi()[i].abs().max(crate::inverse::DENSITY_FLOOR * phi0)).sqrt();
            }
            let mut base = |v: &[f64], out: &mut [f64]| {
                unslope.iter_mut().zip(v).zip(&slope).for_each(|((u, x), s)| *u = x / s);
                response.apply_scaled(scratch, &scale, &unslope, out)
            };
            for l in 0..levels.len() {
                let (lower, upper) = levels.split_at_mut(l);
                upper[0].set_base(|v: &[f64], out: &mut [f64]| {
                    base(v, out);
                    for c in lower.iter() {
                        c.correct(v, out);
                    }
                });
            }
            let info = {
                let lin = &mut *lin;
                let slope = &slope;
                gmres.solve(
                    |v, out| {
                        lin.apply(v, out)?;
                        out.iter_mut().zip(slope).for_each(|(x, s)| *x = -*x * s);
                        Ok(())
                    },
                    |v, out| {
                        base(v, out);
                        for c in &levels {
                            c.correct(v, out);
                        }
                    },
                    &r,
                    &mut dw,
                    rtol,
                    cap,
                )?
            };
            if secant_levels > 0 {
                if let Some(update) = gmres.secant_update().filter(|u| u.dimension() >= SECANT_MIN_DIMENSION) {
                    levels.push(update);
                    if levels.len() > secant_levels {
                        levels.remove(0);
                    }
                }
            }
            products += info.products;
            remove_means(&mut dw);
            dw.iter_mut().for_each(|x| *x = x.clamp(-CLIP, CLIP));
            let (tried, accepted) = line_search(lin, &w, &dw, &mut trial, norm, &distance)?;
            solves += tried;
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

/// Backtracking from `w` along `dw` until the distance of the densities
/// falls to (1 - 1e-4 t) `norm` (t the step fraction): the solves spent and
/// whether a step was taken (then `trial` holds it and `lin` is at it).
fn line_search(
    lin: &mut Linearization,
    w: &[f64],
    dw: &[f64],
    trial: &mut [f64],
    norm: f64,
    distance: &dyn Fn(&[f64]) -> f64,
) -> Result<(usize, bool)> {
    let mut t = 1.0;
    for tried in 1..=LINE_SEARCH_HALVINGS + 1 {
        for i in 0..w.len() {
            trial[i] = w[i] + t * dw[i];
        }
        match lin.at(trial) {
            Ok(()) if distance(lin.phi()) <= (1.0 - 1e-4 * t) * norm => return Ok((tried, true)),
            Ok(()) | Err(Error::Domain { .. }) => {}
            Err(e) => return Err(e),
        }
        t *= 0.5;
    }
    Ok((LINE_SEARCH_HALVINGS + 1, false))
}

/// Newton steps at most per start.
const NEWTON_STEPS: usize = 25;
/// Steps at most while each lowers |r| by STEADY_PROGRESS or more.
const EXTENDED_STEPS: usize = 60;
const STEADY_PROGRESS: f64 = 0.8;
/// Jacobian products per GMRES solve, unrestarted (restarted GMRES
/// stagnates on the indefinite preconditioned spectrum).
const GMRES_PRODUCTS: usize = 300;
/// The secant corrections kept (the latest linear solves' spaces), and the
/// smallest space worth one. Measured on 18 L-FTS patterns (`bench
/// inverse`'s seed 2029, 32x32): none, 137k solve equivalents in all; the
/// latest solve's alone, 102k; two levels 73k; three 75k, slower.
const SECANT_LEVELS: usize = 2;
const SECANT_MIN_DIMENSION: usize = 20;
/// The loosest relative accuracy of a Newton step's linear solve.
const FORCING_MAX: f64 = 0.1;
/// The accurate Newton iteration's products per step and forcing term, and
/// the residual below which it is tried.
const ACCURATE_PRODUCTS: usize = 1500;
const ACCURATE_FORCING: f64 = 1e-3;
const ACCURATE_FROM: f64 = 1e-6;
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
/// 12 steps narrow ln c to 0.02 of its range. 22 narrowed it to 2e-5: on
/// two L-FTS patterns (chi 0.87 and 0.63) that start cost 810-2200 solves
/// against 560-1200, for Newton runs that converged alike.
const GOLDEN_STEPS: usize = 12;
const START_PRESSURE_TOLERANCE: f64 = 1e-9;
const START_PRESSURE_ITERATIONS: usize = 100;
/// The quasi-Newton iterate is tried as a start before the depleted-point
/// resets only where the mean-field-shaped start's run ended above this.
const QUASI_NEWTON_START_ABOVE: f64 = 1e-4;
/// Continuation: first step in l, smallest before giving up, the tolerance
/// and Newton steps of the intermediate targets.
const CONTINUATION_FIRST_STEP: f64 = 0.1;
const CONTINUATION_SMALLEST_STEP: f64 = 1e-4;
const CONTINUATION_TOLERANCE: f64 = 1e-7;
const CONTINUATION_NEWTON_STEPS: usize = 8;
/// Restarts from the best iterate with the depleted points' fields reset,
/// and the density below which a point counts as depleted.
const RESET_ROUNDS: usize = 3;
/// The blur widths tried in turn, in grid cells: one cell rescued 6 of the
/// 7 stalled patterns of `inv_random`'s seeds 1-8; seed 12's 400-step
/// pattern needed two.
const RESET_WIDTHS: [f64; 2] = [1.0, 2.0];
const DEPLETED: f64 = 1e-3;
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
