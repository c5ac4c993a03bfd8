//! The inverse map: densities -> the fields that make them.
//!
//! Given phi* = (phi_A*, phi_B*), find w with phi(w) = phi*. Both means of w
//! are gauges (MODEL.md), so w is unique up to them; the answer has zero-mean
//! w_A and w_B. The iteration is a quasi-Newton step with the free chains'
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
//! domains (L-FTS at chi = 1.0) are beyond it: there the fields no longer
//! move the densities.
//!
//! Written against the solver seam: with an operator it gives the operator's
//! inverse, which `Inverter` then polishes with the exact solver.

use crate::anderson::AndersonMixer;
use crate::debye::Debye;
use crate::error::{Error, Result};
use crate::seam::{FieldSolver, Solvers};
use crate::spectral::{C64, SpectralPlan};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InverseConfig {
    /// Stop when max |phi(w) - phi*| over both channels is below this.
    pub tolerance: f64,
    pub max_iterations: usize,
    /// Anderson history length.
    pub history: usize,
    /// Fraction of the quasi-Newton step taken while the history is empty.
    pub mixing: f64,
}

impl Default for InverseConfig {
    fn default() -> Self {
        InverseConfig { tolerance: 1e-10, max_iterations: 400, history: 12, mixing: 1.0 }
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
    /// Fields solved by `solver` (one per iteration, plus halved steps).
    pub solves: usize,
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

    /// `dw = S^{-1} r` for `r` = `[2][M]`, written into `dw`.
    pub fn apply(&self, r: &[f64], dw: &mut [f64]) {
        let m = r.len() / 2;
        let mut scratch = self.plan.scratch();
        let len = self.plan.spectrum_len();
        let (mut ra, mut rb) = (vec![C64::new(0.0, 0.0); len], vec![C64::new(0.0, 0.0); len]);
        self.plan.forward(&mut scratch, &r[..m], &mut ra);
        self.plan.forward(&mut scratch, &r[m..], &mut rb);
        for k in 0..len {
            let (a, b) = (ra[k], rb[k]);
            ra[k] = a * self.inv_aa[k] + b * self.inv_ab[k];
            rb[k] = a * self.inv_ab[k] + b * self.inv_bb[k];
        }
        let (dw_a, dw_b) = dw.split_at_mut(m);
        self.plan.inverse(&mut scratch, &ra, dw_a);
        self.plan.inverse(&mut scratch, &rb, dw_b);
    }
}

/// Checks a target density pair: finite, with the chain's means
/// (mean phi_A = f, mean phi_B = 1 - f to 1e-8, since no field can move them).
pub fn check_target(solver: &dyn FieldSolver, target: &[f64]) -> Result<()> {
    let m = solver.grid().points();
    if target.len() != 2 * m {
        return Err(Error::Shape(format!("target densities have {} values, the grid needs 2 x {m}", target.len())));
    }
    // Not >= 0: the band-limited bond kernel makes slightly negative
    // densities at strong fields (MODEL.md), and they are reachable.
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
    let mut w = match start {
        Some(s) if s.len() == n => s.to_vec(),
        Some(s) => return Err(Error::Shape(format!("start fields have {} values, expected {n}", s.len()))),
        None => vec![0.0; n],
    };
    remove_means(&mut w);
    let mut phi = vec![0.0; n];
    let mut log_q = [0.0];
    let (mut r, mut dw, mut next, mut scale) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut mixer = AndersonMixer::new(n, config.history);
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut solves = 1;
    solver.solve_batch(&w, &mut phi, &mut log_q)?;
    let f = solver.model().f_a();
    let (mut iteration, mut since_best) = (0, 0);
    loop {
        let mut residual = 0.0f64;
        for i in 0..n {
            r[i] = phi[i] - target[i];
            residual = residual.max(r[i].abs());
        }
        if best.as_ref().is_none_or(|(b, _)| residual < *b) {
            best = Some((residual, w.clone()));
            since_best = 0;
        } else {
            since_best += 1;
        }
        let converged = residual < config.tolerance;
        if converged || iteration == config.max_iterations {
            let (residual, w) = if converged { (residual, w) } else { best.take().expect("one iterate") };
            if !converged {
                solver.solve_batch(&w, &mut phi, &mut log_q)?;
                solves += 1;
            }
            return Ok(InverseOutcome {
                w,
                phi,
                log_q: solver.provides_log_q().then_some(log_q[0]),
                iterations: iteration,
                residual,
                converged,
                solves,
            });
        }
        iteration += 1;
        // Where a density is small, its response to its field is small in
        // proportion (the Boltzmann factor of each bead): scale the
        // homogeneous response by sqrt(phi / phi_0) on both sides.
        for i in 0..n {
            let phi0 = if i < n / 2 { f } else { 1.0 - f };
            scale[i] = (phi0 / phi[i].max(DENSITY_FLOOR * phi0)).sqrt();
            r[i] *= scale[i];
        }
        response.apply(&r, &mut dw);
        for i in 0..n {
            dw[i] *= scale[i];
        }
        if since_best > STALL_WINDOW {
            // Anderson's history has gone bad: restart it from the best point
            // with a plain step.
            mixer.reset();
            since_best = 0;
            w.copy_from_slice(&best.as_ref().expect("one iterate").1);
            solver.solve_batch(&w, &mut phi, &mut log_q)?;
            solves += 1;
            continue;
        }
        mixer.next(&w, &dw, config.mixing, &mut next);
        remove_means(&mut next);
        // A step is at most MAX_STEP per point, and halved while the fields
        // leave the model's domain (Q <= 0 from the kernel's negative lobes).
        let largest = next.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let mut shrink = if largest > MAX_STEP { MAX_STEP / largest } else { 1.0 };
        let mut halvings = 0;
        let stepped = loop {
            if shrink < 1.0 {
                for i in 0..n {
                    dw[i] = w[i] + shrink * (next[i] - w[i]);
                }
                std::mem::swap(&mut dw, &mut next);
            }
            solves += 1;
            match solver.solve_batch(&next, &mut phi, &mut log_q) {
                Ok(()) => break true,
                Err(Error::Domain { .. }) if halvings < MAX_HALVINGS => {
                    halvings += 1;
                    shrink = 0.5;
                    mixer.reset();
                }
                Err(Error::Domain { .. }) => break false,
                Err(e) => return Err(e),
            }
        };
        if stepped {
            std::mem::swap(&mut w, &mut next);
        } else {
            // No step along this direction stays in the domain: back to the
            // best point with an empty history.
            w.copy_from_slice(&best.as_ref().expect("one iterate").1);
            solver.solve_batch(&w, &mut phi, &mut log_q)?;
            solves += 1;
            since_best = 0;
        }
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
        let from = rough.as_ref().map(|o| o.w.as_slice()).or(start);
        let polished = invert_with(self.exact, &self.response, target, from, &self.config)?;
        Ok((polished, rough))
    }
}

/// Relative density below which the local scaling stops growing.
const DENSITY_FLOOR: f64 = 1e-3;
/// Largest change of a field at one point in one iteration.
const MAX_STEP: f64 = 1.0;
const MAX_HALVINGS: usize = 12;
/// The most iterations of an operator's rough inverse.
const ROUGH_ITERATIONS: usize = 40;
/// Iterations without a new best residual before Anderson restarts.
const STALL_WINDOW: usize = 30;

fn remove_means(w: &mut [f64]) {
    let m = w.len() / 2;
    for channel in w.chunks_mut(m) {
        let mean = crate::stats::mean(channel);
        channel.iter_mut().for_each(|v| *v -= mean);
    }
}
