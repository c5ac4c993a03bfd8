//! The inverse map: densities -> the fields that make them.
//!
//! Given phi* = (phi_A*, phi_B*), find w with phi(w) = phi*. Both means of w
//! are gauges (docs/model.md); the answer has zero-mean w_A and w_B. In strong
//! segregation w is not unique beyond them (see `inverse::newton`). The
//! first iteration is a quasi-Newton step with the free chains'
//! response at the homogeneous state as the Jacobian,
//!     phi(w + dw) ~ phi(w) - S(q) dw(q),   S = [[S_AA, S_AB], [S_AB, S_BB]],
//! so dw(q) = S(q)^{-1} (phi(w) - phi*)(q) per wave vector, accelerated by
//! Anderson mixing. S is positive definite at every q != 0 (Cauchy-Schwarz
//! on the bond products), so the step is always defined; away from the
//! homogeneous state Anderson corrects the Jacobian's error.
//!
//! Not a minimisation of the dual (ln Q + the targets' moments): the bond
//! kernel's negative lobes make it non-convex, and at chi = 0.5 L-BFGS on it
//! found other fields with the same densities to 1e-11 than the SCFT saddle
//! point's, 0.01 apart; this iteration from zero fields finds the saddle
//! point's own (to 2e-8). Patterns with a density near zero over whole
//! domains (strongly segregated saddle points, L-FTS at chi = 1.0) slow it
//! down: when its residual falls by less than a decade in 25 iterations,
//! Newton's method with the exact Jacobian takes over (`inverse::newton`,
//! exact solver only; `InverseConfig::newton` switches it off).
//!
//! Written against the solver seam: with an operator it gives the operator's
//! inverse, which `Inverter` then polishes with the exact solver.

use crate::anderson::AndersonMixer;
use crate::debye::Debye;
use crate::error::{Error, Result};
use crate::seam::{FieldSolver, SolveCost, Solvers, trusted};
use crate::solver::ExactSolver;
use crate::spectral::{C64, SpectralPlan};

#[doc(hidden)]
mod newton;

pub use crate::inverse::newton::newton_from;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InverseConfig {
    /// Stop when max |phi(w) - phi*| over both channels is below this.
    pub tolerance: f64,
    pub max_iterations: usize,
    /// Anderson history length.
    pub history: usize,
    /// Fraction of the quasi-Newton step taken while the history is empty.
    pub mixing: f64,
    /// Switch to Newton's method with the exact Jacobian when the
    /// quasi-Newton iteration slows down (exact solver only).
    #[serde(default = "yes")]
    pub newton: bool,
}

fn yes() -> bool {
    true
}

impl Default for InverseConfig {
    fn default() -> Self {
        InverseConfig { tolerance: 1e-10, max_iterations: 400, history: 12, mixing: 1.0, newton: true }
    }
}

impl InverseConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(Error::Parameter(format!("inverse tolerance must be > 0, got {}", self.tolerance)));
        }
        if self.max_iterations == 0 || self.history == 0 {
            return Err(Error::Parameter("inverse iterations and history must be >= 1".into()));
        }
        if !(self.mixing > 0.0 && self.mixing <= 1.0) {
            return Err(Error::Parameter(format!("inverse mixing must be in (0, 1], got {}", self.mixing)));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct InverseOutcome {
    /// `[2][M]`, zero-mean w_A and w_B.
    pub w: Vec<f64>,
    /// phi(w), `[2][M]`.
    pub phi: Vec<f64>,
    /// ln Q of `w` where the solver provides it.
    pub log_q: Option<f64>,
    pub iterations: usize,
    /// max |phi(w) - phi*|.
    pub residual: f64,
    pub converged: bool,
    /// Fields solved by `solver` (one per iteration, plus halved steps and
    /// one per Newton step and line-search trial).
    pub solves: usize,
    /// Newton steps taken after the quasi-Newton iteration handed over.
    pub newton_steps: usize,
    /// Products with the exact Jacobian (tangent maps, about one solve each).
    pub jacobian_products: usize,
    /// Operator starts the trust check threw away (`Inverter`: the exact
    /// residual at the operator's fields was higher than at the start).
    pub rejected: usize,
}

impl InverseOutcome {
    /// Solves plus Jacobian products: the cost in exact-solve equivalents.
    pub fn solve_equivalents(&self) -> usize {
        self.solves + self.jacobian_products
    }
}

/// The per-mode inverse of the free chains' response matrix, q = 0 set to
/// zero (the gauge): `[inv_aa, inv_ab, inv_bb]` in the half-spectrum layout.
pub struct InverseResponse {
    plan: SpectralPlan,
    inv_aa: Vec<f64>,
    inv_ab: Vec<f64>,
    inv_bb: Vec<f64>,
}

impl InverseResponse {
    pub fn new(solver: &dyn FieldSolver) -> Self {
        let plan = SpectralPlan::new(*solver.grid());
        let model = solver.model();
        let q2 = plan.q_squared_table();
        let (mut inv_aa, mut inv_ab, mut inv_bb) = (vec![0.0; q2.len()], vec![0.0; q2.len()], vec![0.0; q2.len()]);
        for (i, &q_squared) in q2.iter().enumerate().skip(1) {
            let s = Debye::at(model, q_squared);
            let det = s.s_aa * s.s_bb - s.s_ab * s.s_ab;
            inv_aa[i] = s.s_bb / det;
            inv_ab[i] = -s.s_ab / det;
            inv_bb[i] = s.s_aa / det;
        }
        InverseResponse { plan, inv_aa, inv_ab, inv_bb }
    }

    /// The transforms of this grid, for other spectral work of the inverse
    /// map (`inverse::newton`'s reset of depleted points).
    pub(crate) fn plan(&self) -> &SpectralPlan {
        &self.plan
    }

    pub fn scratch(&self) -> ResponseScratch {
        let len = self.plan.spectrum_len();
        ResponseScratch {
            spectral: self.plan.scratch(),
            ra: vec![C64::new(0.0, 0.0); len],
            rb: vec![C64::new(0.0, 0.0); len],
            scaled: vec![0.0; 2 * self.plan.grid().points()],
        }
    }

    /// `dw = S^{-1} r` for `r` = `[2][M]`, written into `dw`.
    pub fn apply(&self, scratch: &mut ResponseScratch, r: &[f64], dw: &mut [f64]) {
        let m = r.len() / 2;
        let len = self.plan.spectrum_len();
        let ResponseScratch { spectral: scratch, ra, rb, .. } = scratch;
        self.plan.forward(scratch, &r[..m], ra);
        self.plan.forward(scratch, &r[m..], rb);
        for k in 0..len {
            let (a, b) = (ra[k], rb[k]);
            ra[k] = a * self.inv_aa[k] + b * self.inv_ab[k];
            rb[k] = a * self.inv_ab[k] + b * self.inv_bb[k];
        }
        let (dw_a, dw_b) = dw.split_at_mut(m);
        self.plan.inverse(scratch, ra, dw_a);
        self.plan.inverse(scratch, rb, dw_b);
    }

    /// `dw = D S^{-1} D r` with `D = diag(scale)`: the homogeneous response
    /// rescaled by the local densities, the step of the quasi-Newton
    /// iteration and the preconditioner of Newton's linear solves.
    pub fn apply_scaled(&self, scratch: &mut ResponseScratch, scale: &[f64], r: &[f64], dw: &mut [f64]) {
        let mut scaled = std::mem::take(&mut scratch.scaled);
        for ((x, &d), &v) in scaled.iter_mut().zip(scale).zip(r) {
            *x = d * v;
        }
        self.apply(scratch, &scaled, dw);
        scratch.scaled = scaled;
        for (x, &d) in dw.iter_mut().zip(scale) {
            *x *= d;
        }
    }
}

/// Scratch of `InverseResponse::apply` and `apply_scaled`.
pub struct ResponseScratch {
    spectral: crate::spectral::SpectralScratch,
    ra: Vec<C64>,
    rb: Vec<C64>,
    /// D r in `apply_scaled`.
    scaled: Vec<f64>,
}

/// Checks a target density pair: finite, with the chain's means
/// (mean phi_A = f, mean phi_B = 1 - f to 1e-8, since no field can move them).
pub fn check_target(solver: &dyn FieldSolver, target: &[f64]) -> Result<()> {
    let m = solver.grid().points();
    if target.len() != 2 * m {
        return Err(Error::Shape(format!("target densities have {} values, the grid needs 2 x {m}", target.len())));
    }
    // Not >= 0: the band-limited bond kernel makes slightly negative
    // densities at strong fields (docs/model.md), and they are reachable.
    if let Some(i) = target.iter().position(|v| !v.is_finite()) {
        return Err(Error::Parameter(format!(
            "target density {} at index {i} of channel {} is not finite",
            target[i],
            i / m
        )));
    }
    let f = solver.model().f_a();
    for (channel, mean_wanted) in [(0, f), (1, 1.0 - f)] {
        let mean = crate::stats::mean(&target[channel * m..(channel + 1) * m]);
        if (mean - mean_wanted).abs() > 1e-8 {
            return Err(Error::Parameter(format!(
                "target phi_{} has mean {mean:.10}, the chain fixes it at {mean_wanted:.10}",
                ["A", "B"][channel]
            )));
        }
    }
    Ok(())
}

/// Fields that reproduce `target` (`[2][M]`) through `solver`, from `start`
/// (zero fields if None).
pub fn invert(
    solver: &dyn FieldSolver,
    target: &[f64],
    start: Option<&[f64]>,
    config: &InverseConfig,
) -> Result<InverseOutcome> {
    config.validate()?;
    check_target(solver, target)?;
    let response = InverseResponse::new(solver);
    invert_with(solver, &response, target, start, config)
}

/// `invert` with a prepared response (one per grid and chain).
pub fn invert_with(
    solver: &dyn FieldSolver,
    response: &InverseResponse,
    target: &[f64],
    start: Option<&[f64]>,
    config: &InverseConfig,
) -> Result<InverseOutcome> {
    let n = target.len();
    let w = match start {
        Some(s) if s.len() == n => s.to_vec(),
        Some(s) => return Err(Error::Shape(format!("start fields have {} values, expected {n}", s.len()))),
        None => vec![0.0; n],
    };
    let mut run = Inversion::new(solver, response, w, config.history)?;
    let f = solver.model().f_a();
    let newton = if config.newton { solver.exact_solver() } else { None };
    // The best residual after each iteration, to see the iteration slow down.
    let mut best_trace = Vec::new();
    loop {
        let residual = run.residual(target);
        let converged = residual < config.tolerance;
        if converged || run.iteration == config.max_iterations {
            return run.finish(residual, converged);
        }
        best_trace.push(run.best.as_ref().expect("one iterate").0);
        if let Some(exact) = newton
            && slowed_down(&best_trace)
        {
            return run.finish_by_newton(exact, response, target, config);
        }
        run.iteration += 1;
        run.quasi_newton_step(response, f);
        if run.since_best > STALL_WINDOW {
            // Anderson's history has gone bad: restart it from the best point
            // with a plain step.
            run.mixer.reset();
            run.back_to_best()?;
            continue;
        }
        run.mix_and_step(config.mixing)?;
    }
}

/// Whether the best residual fell by less than a decade over the last
/// `SWITCH_WINDOW` iterations: there a Newton step (one solve and some tens
/// of Jacobian products, quadratic convergence) costs less than the
/// quasi-Newton iterations still to come.
fn slowed_down(best_trace: &[f64]) -> bool {
    let k = best_trace.len();
    k > SWITCH_WINDOW && best_trace[k - 1] > 0.1 * best_trace[k - 1 - SWITCH_WINDOW]
}

/// The state of one `invert_with`: the iterate w and phi(w), the best
/// iterate so far, the Anderson mixer, and explicit scratch.
struct Inversion<'a> {
    solver: &'a dyn FieldSolver,
    w: Vec<f64>,
    phi: Vec<f64>,
    log_q: [f64; 1],
    /// phi(w) - phi*.
    r: Vec<f64>,
    /// The quasi-Newton step dw, then scratch for a shrunk step.
    dw: Vec<f64>,
    next: Vec<f64>,
    /// sqrt(phi_0 / phi) per point, the local scaling of the response.
    scale: Vec<f64>,
    response_scratch: ResponseScratch,
    mixer: AndersonMixer,
    /// The best residual and its fields.
    best: Option<(f64, Vec<f64>)>,
    solves: usize,
    iteration: usize,
    /// Iterations since the best residual last fell.
    since_best: usize,
}

impl<'a> Inversion<'a> {
    /// The state at `w` (its means removed), solved once.
    fn new(solver: &'a dyn FieldSolver, response: &InverseResponse, mut w: Vec<f64>, history: usize) -> Result<Self> {
        let n = w.len();
        remove_means(&mut w);
        let mut run = Inversion {
            solver,
            w,
            phi: vec![0.0; n],
            log_q: [0.0],
            r: vec![0.0; n],
            dw: vec![0.0; n],
            next: vec![0.0; n],
            scale: vec![0.0; n],
            response_scratch: response.scratch(),
            mixer: AndersonMixer::new(n, history),
            best: None,
            solves: 1,
            iteration: 0,
            since_best: 0,
        };
        run.solver.solve_batch(&run.w, &mut run.phi, &mut run.log_q)?;
        Ok(run)
    }

    /// r = phi(w) - phi* and its max-norm; keeps the best iterate.
    fn residual(&mut self, target: &[f64]) -> f64 {
        let mut residual = 0.0f64;
        for ((r, phi), target) in self.r.iter_mut().zip(&self.phi).zip(target) {
            *r = phi - target;
            residual = residual.max(r.abs());
        }
        if self.best.as_ref().is_none_or(|(b, _)| residual < *b) {
            self.best = Some((residual, self.w.clone()));
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
        residual
    }

    /// The outcome at w if it `converged`, else at the best iterate (solved
    /// again).
    fn finish(mut self, residual: f64, converged: bool) -> Result<InverseOutcome> {
        let (residual, w) = if converged { (residual, self.w) } else { self.best.take().expect("one iterate") };
        if !converged {
            self.solver.solve_batch(&w, &mut self.phi, &mut self.log_q)?;
            self.solves += 1;
        }
        Ok(InverseOutcome {
            w,
            phi: self.phi,
            log_q: self.solver.provides_log_q().then_some(self.log_q[0]),
            iterations: self.iteration,
            residual,
            converged,
            solves: self.solves,
            newton_steps: 0,
            jacobian_products: 0,
            rejected: 0,
        })
    }

    /// Newton's method from the best iterate; the outcome is the better of
    /// Newton's end and the best quasi-Newton iterate.
    fn finish_by_newton(
        self,
        exact: &ExactSolver,
        response: &InverseResponse,
        target: &[f64],
        config: &InverseConfig,
    ) -> Result<InverseOutcome> {
        let (best_residual, best_w) = self.best.clone().expect("one iterate");
        let run = crate::inverse::newton::polish(exact, response, target, best_w, config.tolerance)?;
        if !run.converged && run.residual >= best_residual {
            let mut outcome = self.finish(best_residual, false)?;
            outcome.solves += run.solves;
            outcome.newton_steps = run.steps;
            outcome.jacobian_products = run.products;
            return Ok(outcome);
        }
        Ok(InverseOutcome {
            w: run.w,
            phi: run.phi,
            log_q: Some(run.log_q),
            iterations: self.iteration,
            residual: run.residual,
            converged: run.converged,
            solves: self.solves + run.solves,
            newton_steps: run.steps,
            jacobian_products: run.products,
            rejected: 0,
        })
    }

    /// dw = D S^{-1} D r, D = sqrt(phi_0 / phi) per point (`f`: mean phi_A).
    fn quasi_newton_step(&mut self, response: &InverseResponse, f: f64) {
        let n = self.r.len();
        // Where a density is small, its response to its field is small in
        // proportion (the Boltzmann factor of each bead): scale the
        // homogeneous response by sqrt(phi / phi_0) on both sides.
        for i in 0..n {
            let phi0 = if i < n / 2 { f } else { 1.0 - f };
            self.scale[i] = (phi0 / self.phi[i].max(DENSITY_FLOOR * phi0)).sqrt();
        }
        response.apply_scaled(&mut self.response_scratch, &self.scale, &self.r, &mut self.dw);
    }

    /// The Anderson-mixed step from dw, shrunk to MAX_STEP and halved while
    /// it leaves the model's domain; back to the best point if no step
    /// stays inside.
    fn mix_and_step(&mut self, mixing: f64) -> Result<()> {
        let n = self.w.len();
        let (w, dw, next) = (&self.w, &mut self.dw, &mut self.next);
        self.mixer.next(w, dw, mixing, next);
        remove_means(next);
        // A step is at most MAX_STEP per point, and halved while the fields
        // leave the model's domain (Q <= 0 from the kernel's negative lobes).
        let largest = next.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let mut shrink = if largest > MAX_STEP { MAX_STEP / largest } else { 1.0 };
        let mut halvings = 0;
        let stepped = loop {
            if shrink < 1.0 {
                for i in 0..n {
                    self.dw[i] = self.w[i] + shrink * (self.next[i] - self.w[i]);
                }
                std::mem::swap(&mut self.dw, &mut self.next);
            }
            self.solves += 1;
            match self.solver.solve_batch(&self.next, &mut self.phi, &mut self.log_q) {
                Ok(()) => break true,
                Err(Error::Domain { .. }) if halvings < MAX_HALVINGS => {
                    halvings += 1;
                    shrink = 0.5;
                    self.mixer.reset();
                }
                Err(Error::Domain { .. }) => break false,
                Err(e) => return Err(e),
            }
        };
        if stepped {
            std::mem::swap(&mut self.w, &mut self.next);
            Ok(())
        } else {
            // No step along this direction stays in the domain: back to the
            // best point with an empty history.
            self.back_to_best()
        }
    }

    /// w = the best iterate, solved again.
    fn back_to_best(&mut self) -> Result<()> {
        self.w.copy_from_slice(&self.best.as_ref().expect("one iterate").1);
        self.solver.solve_batch(&self.w, &mut self.phi, &mut self.log_q)?;
        self.solves += 1;
        self.since_best = 0;
        Ok(())
    }
}

/// The inverse map through the solver seam: with an operator, its inverse
/// first (a few dozen iterations), then the exact solver from there, so the
/// answer reproduces phi* through the exact map.
pub struct Inverter<'a> {
    pub exact: &'a dyn FieldSolver,
    pub operator: Option<&'a dyn FieldSolver>,
    pub config: InverseConfig,
    response: InverseResponse,
}

impl<'a> Inverter<'a> {
    pub fn new(solvers: Solvers<'a>, config: InverseConfig) -> Result<Self> {
        config.validate()?;
        let Solvers { exact, operator } = solvers;
        Ok(Inverter { exact, operator, config, response: InverseResponse::new(exact) })
    }

    /// The polished outcome and the operator's (None without one), from `start`.
    pub fn invert(&self, target: &[f64], start: Option<&[f64]>) -> Result<(InverseOutcome, Option<InverseOutcome>)> {
        check_target(self.exact, target)?;
        let rough = match self.operator {
            Some(op) => {
                // The operator cannot reach the exact tolerance (its float32
                // densities and its error stop it near 1e-3 to 1e-5), and
                // once it stalls more iterations buy nothing.
                let loose = InverseConfig {
                    tolerance: self.config.tolerance.max(1e-4),
                    max_iterations: self.config.max_iterations.min(ROUGH_ITERATIONS),
                    ..self.config.clone()
                };
                Some(invert_with(op, &self.response, target, start, &loose)?)
            }
            None => None,
        };
        // The trust check: the operator's fields must fit the target better
        // under the exact solver than the start does, else the exact path
        // starts where it would have without an operator.
        let (mut from, mut checks) = (start, SolveCost::default());
        if let Some(r) = &rough {
            let (at_rough, at_start) = (self.exact_residual(target, Some(&r.w))?, self.exact_residual(target, start)?);
            checks.exact_solves = 2;
            if trusted(at_rough, at_start, &mut checks) {
                from = Some(&r.w);
            }
        }
        let mut polished = invert_with(self.exact, &self.response, target, from, &self.config)?;
        polished.solves += checks.exact_solves;
        polished.rejected = checks.rejected;
        Ok((polished, rough))
    }

    /// max |phi(w) - phi*| by one exact solve of `w` (zero fields for None);
    /// infinite where `w` leaves the model's domain.
    fn exact_residual(&self, target: &[f64], w: Option<&[f64]>) -> Result<f64> {
        let zero;
        let w = match w {
            Some(w) => w,
            None => {
                zero = vec![0.0; target.len()];
                &zero
            }
        };
        let mut phi = vec![0.0; target.len()];
        match self.exact.solve_batch(w, &mut phi, &mut [0.0]) {
            Ok(()) => Ok(phi.iter().zip(target).map(|(p, t)| (p - t).abs()).fold(0.0, f64::max)),
            Err(Error::Domain { .. }) => Ok(f64::INFINITY),
            Err(e) => Err(e),
        }
    }
}

/// Relative density below which the local scaling stops growing.
pub(crate) const DENSITY_FLOOR: f64 = 1e-3;
/// Largest change of a field at one point in one iteration.
const MAX_STEP: f64 = 1.0;
const MAX_HALVINGS: usize = 12;
/// The most iterations of an operator's rough inverse.
const ROUGH_ITERATIONS: usize = 40;
/// Iterations without a new best residual before Anderson restarts.
const STALL_WINDOW: usize = 30;
/// Iterations over which the quasi-Newton residual must fall a decade, or
/// Newton's method takes over.
const SWITCH_WINDOW: usize = 25;

pub(crate) fn remove_means(w: &mut [f64]) {
    let m = w.len() / 2;
    for channel in w.chunks_mut(m) {
        let mean = crate::stats::mean(channel);
        channel.iter_mut().for_each(|v| *v -= mean);
    }
}
