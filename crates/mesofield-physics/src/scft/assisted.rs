//! Operator-assisted SCFT: the SCF iterations run on a trained operator, the
//! exact solver anchors and polishes them, so the saddle point is exact.
//!
//! Iterating on the operator alone ends at the operator's own saddle point,
//! whose exact residual is set by the operator's error amplified by the
//! incompressibility condition (measured: operator residual 4e-3, exact
//! residual 0.5 on the default system). So the operator is corrected by the
//! exact solver (defect correction): at an anchor w_k, one exact solve gives
//! c = phi_exact(w_k) - phi_op(w_k); the inner SCF loop then runs on
//! phi_op(w) + c, which is exact at w_k and carries the operator's response
//! away from it; its result is the next anchor. A fixed point of this outer
//! loop is an exact saddle point, and each outer step costs one exact solve.
//!
//! The outer loop converges linearly at the rate set by the operator's
//! Jacobian error, so it needs an operator whose response to small changes
//! of w is right, not only its values: one trained on the SCFT path alone
//! responded with 8-30% of the exact response near a saddle point and the
//! outer steps diverged; trained with perturbed copies of the snapshots
//! (`dataset::ScftFamily::perturbed_copies`) its response error was about
//! 20% and each outer step divided the residual by 2-10. Anderson mixing
//! over the last `outer_history` anchors speeds the outer loop up, and near
//! an anchor the corrected operator answers with its scaled linear response
//! (see `Corrected`) so float32 rounding does not stall it near 1e-6.
//! Once the outer steps stop paying (a step divides the residual by no more
//! than `outer_gain`, or it is below `polish_below`), exact SCFT polishes
//! from the best anchor to the requested tolerance.
//!
//! Trust check: an anchor whose exact residual is worse than the previous
//! one's is never taken (a mixed anchor is retried unmixed first); the run
//! goes back to the best anchor and continues with exact iterations only,
//! and says so. If the polish does not converge, exact SCFT from the
//! starting fields is the fallback. Either way the result is a saddle point
//! of the exact equations.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::anderson::AndersonMixer;
use crate::error::{Error, Result};
use crate::hamiltonian::residuals;
use crate::scft::{ScftConfig, ScftOutcome, run_scft};
use crate::seam::{FieldSolver, SolveCost, trusted};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AssistConfig {
    /// The run's settings (chi, the exact tolerance, Anderson parameters).
    pub scft: ScftConfig,
    /// An inner loop on the corrected operator stops when its residual has
    /// not fallen below 0.9 times its best for this many iterations.
    pub stall_window: usize,
    /// At most this many iterations per inner loop.
    pub operator_max_iterations: usize,
    /// The inner loop aims at this fraction of its anchor's exact residual.
    pub inner_reduction: f64,
    /// Outer steps continue while each divides the exact residual by more
    /// than this factor (1: while it falls at all).
    pub outer_gain: f64,
    /// Exact polish once the exact residual is below this.
    pub polish_below: f64,
    pub max_outer: usize,
    /// Anderson mixing of the outer steps over this many past anchors (0:
    /// each inner result is the next anchor). Defect correction converges
    /// linearly at the rate of the operator's Jacobian error; mixing over
    /// the anchors, whose exact residuals are known, removes the slowest
    /// directions of that error.
    #[serde(default)]
    pub outer_history: usize,
    /// Closer than this to its anchor (max-norm of w, kT per bead), the
    /// corrected operator answers with its scaled linear response (see
    /// `Corrected`); 0: plain differences everywhere.
    #[serde(default)]
    pub linear_below: f64,
}

impl AssistConfig {
    pub fn new(scft: ScftConfig) -> Self {
        AssistConfig {
            scft,
            stall_window: 50,
            operator_max_iterations: 2000,
            inner_reduction: 1e-3,
            outer_gain: 1.0,
            polish_below: 1e-7,
            max_outer: 50,
            outer_history: 5,
            linear_below: 1e-3,
        }
    }
}

/// Where the run came out and what it cost.
#[derive(Clone, Debug)]
pub struct AssistOutcome {
    /// The final, exact state (its `solves` counts only the polish run).
    pub outcome: ScftOutcome,
    /// Fields solved by the exact solver (the trust check's residuals of the
    /// start and of the switch, and every solve of the polish and of the
    /// fallback, if any), fields solved by the operator, and operator
    /// anchors that the trust check threw away.
    pub cost: SolveCost,
    /// Iterations of all inner loops on the corrected operator.
    pub operator_iterations: usize,
    /// Outer (anchor) steps taken.
    pub outer_steps: usize,
    /// Exact residual of each anchor, the starting fields first.
    pub anchor_residuals: Vec<f64>,
    /// Exact residual where the exact polish started.
    pub switch_residual: f64,
    /// Why the run fell back to exact iterations from the start, if it did.
    pub fallback: Option<String>,
    pub seconds: f64,
}

/// Counts the fields a solver solves, so reports count every call.
pub struct Counting<'a> {
    pub inner: &'a dyn FieldSolver,
    pub fields: AtomicUsize,
}

impl<'a> Counting<'a> {
    pub fn new(inner: &'a dyn FieldSolver) -> Self {
        Counting { inner, fields: AtomicUsize::new(0) }
    }
    pub fn count(&self) -> usize {
        self.fields.load(Ordering::Relaxed)
    }
}

impl FieldSolver for Counting<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn model(&self) -> &crate::ChainModel {
        self.inner.model()
    }
    fn grid(&self) -> &crate::Grid {
        self.inner.grid()
    }
    fn provides_log_q(&self) -> bool {
        self.inner.provides_log_q()
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()> {
        self.fields.fetch_add(log_q.len(), Ordering::Relaxed);
        self.inner.solve_batch(w, phi, log_q)
    }
}

/// The operator plus a fixed correction: exact at the anchor it was made at,
/// phi(w) = phi_exact(w_k) + phi_op(w) - phi_op(w_k).
///
/// Near the anchor the difference is taken along the same direction at a
/// larger distance and scaled back: for |w - w_k|_max < `linear_below`,
/// phi(w) = phi_exact(w_k) + [phi_op(w_k + s (w - w_k)) - phi_op(w_k)] / s,
/// s = linear_below / |w - w_k|_max. The operator computes in float32, so a
/// plain difference of two nearby predictions is rounding noise once w is
/// within about 1e-5 of w_k (measured: the outer steps stalled at exact
/// residuals near 1e-6); the scaled difference is the operator's linear
/// response there, with float32 rounding relative to the response itself.
struct Corrected<'a> {
    operator: &'a dyn FieldSolver,
    anchor_w: Vec<f64>,
    anchor_phi_op: Vec<f64>,
    anchor_log_q_op: f64,
    anchor_phi: Vec<f64>,
    anchor_log_q: f64,
    linear_below: f64,
}

impl FieldSolver for Corrected<'_> {
    fn name(&self) -> String {
        format!("corrected {}", self.operator.name())
    }
    fn model(&self) -> &crate::ChainModel {
        self.operator.model()
    }
    fn grid(&self) -> &crate::Grid {
        self.operator.grid()
    }
    fn provides_log_q(&self) -> bool {
        self.operator.provides_log_q()
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()> {
        let size = self.anchor_w.len();
        // Each sample's evaluation point and its scale s >= 1.
        let mut scales = Vec::with_capacity(log_q.len());
        let mut points = Vec::with_capacity(w.len());
        for sample in w.chunks(size) {
            let distance = sample.iter().zip(&self.anchor_w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let scale = if distance > 0.0 { (self.linear_below / distance).max(1.0) } else { 1.0 };
            points.extend(sample.iter().zip(&self.anchor_w).map(|(a, b)| b + scale * (a - b)));
            scales.push(scale);
        }
        self.operator.solve_batch(&points, phi, log_q)?;
        for ((sample, l), scale) in phi.chunks_mut(size).zip(log_q.iter_mut()).zip(&scales) {
            for ((p, op), exact) in sample.iter_mut().zip(&self.anchor_phi_op).zip(&self.anchor_phi) {
                *p = exact + (*p - op) / scale;
            }
            *l = self.anchor_log_q + (*l - self.anchor_log_q_op) / scale;
        }
        Ok(())
    }
}

/// Exact densities, ln Q and max-norm SCF residual at `w` (one solve).
fn exact_state(exact: &dyn FieldSolver, chi: f64, w: &[f64]) -> Result<(Vec<f64>, f64, f64)> {
    let mut phi = vec![0.0; w.len()];
    let mut log_q = [0.0];
    exact.solve_batch(w, &mut phi, &mut log_q)?;
    let (r_minus, r_plus) = residuals(chi, w, &phi);
    Ok((phi, log_q[0], r_minus.max(r_plus)))
}

/// SCFT from `w_init` with the iterations on `operator` and anchors and
/// polish on `exact`. `progress` sees (phase, iteration, residual), phase
/// "operator" (inner loop), "anchor" (outer step, exact residual), "exact"
/// (polish) or "fallback".
pub fn run_assisted_scft(
    operator: &dyn FieldSolver,
    exact: &dyn FieldSolver,
    config: &AssistConfig,
    w_init: &[f64],
    progress: &mut dyn FnMut(&str, usize, f64),
) -> Result<AssistOutcome> {
    let start = Instant::now();
    crate::Solvers::new(exact, Some(operator))?;
    if !(config.outer_gain.is_finite() && config.outer_gain >= 1.0) {
        return Err(Error::Parameter(format!("outer_gain must be finite and >= 1, got {}", config.outer_gain)));
    }
    if !(config.linear_below.is_finite() && config.linear_below >= 0.0) {
        return Err(Error::Parameter(format!("linear_below must be finite and >= 0, got {}", config.linear_below)));
    }
    let (operator, exact) = (Counting::new(operator), Counting::new(exact));
    let polish_config = ScftConfig { record_every: 0, ..config.scft.clone() };
    let mut anchors = Anchors::new(&exact, config, w_init)?;
    while anchors.previous >= config.polish_below.max(config.scft.tolerance) && anchors.outer_steps < config.max_outer {
        if !anchors.step(&operator, &exact, config, progress) {
            break;
        }
    }
    let switch_residual = anchors.previous;
    let outcome = polish(&exact, &polish_config, &anchors.w, w_init, &mut anchors.fallback, progress)?;
    Ok(AssistOutcome {
        outcome,
        cost: SolveCost { exact_solves: exact.count(), operator_calls: operator.count(), rejected: anchors.rejected },
        operator_iterations: anchors.operator_iterations,
        outer_steps: anchors.outer_steps,
        anchor_residuals: anchors.residuals,
        switch_residual,
        fallback: anchors.fallback,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The outer (defect-correction) loop's state: the best anchor w_k with its
/// exact densities, and what the steps cost.
struct Anchors {
    w: Vec<f64>,
    phi: Vec<f64>,
    log_q: f64,
    /// The exact residual at `w`: a step that raises it is never taken.
    previous: f64,
    /// Exact residual of each anchor tried, the starting fields first.
    residuals: Vec<f64>,
    /// Anderson mixing over past anchors (None: `outer_history` 0).
    mixer: Option<AndersonMixer>,
    operator_iterations: usize,
    outer_steps: usize,
    /// Candidates that the trust check threw away.
    rejected: usize,
    fallback: Option<String>,
}

impl Anchors {
    /// The starting fields as the first anchor (one exact solve).
    fn new(exact: &dyn FieldSolver, config: &AssistConfig, w_init: &[f64]) -> Result<Self> {
        let w = w_init.to_vec();
        let (phi, log_q, start_residual) = exact_state(exact, config.scft.chi, &w)?;
        let mixer = (config.outer_history > 0).then(|| AndersonMixer::new(w.len(), config.outer_history));
        Ok(Anchors {
            w,
            phi,
            log_q,
            previous: start_residual,
            residuals: vec![start_residual],
            mixer,
            operator_iterations: 0,
            outer_steps: 0,
            rejected: 0,
            fallback: None,
        })
    }

    /// One outer step: the inner loop on the corrected operator, then the
    /// trust check of its result. False when the outer loop ends here
    /// (`fallback` says why if it failed).
    fn step(
        &mut self,
        operator: &dyn FieldSolver,
        exact: &dyn FieldSolver,
        config: &AssistConfig,
        progress: &mut dyn FnMut(&str, usize, f64),
    ) -> bool {
        let step_w = match self.inner_loop(operator, config, progress) {
            Ok(step_w) => step_w,
            Err(why) => {
                self.fallback = Some(why);
                return false;
            }
        };
        let Some((candidate, phi, log_q, residual)) = self.trust_check(exact, config.scft.chi, step_w, progress) else {
            self.fallback = Some(format!(
                "the exact residual rose from {:.3e} to {:.3e} after an operator step: exact iterations from the best fields",
                self.previous,
                self.residuals.last().copied().unwrap_or(f64::NAN)
            ));
            return false;
        };
        (self.w, self.phi, self.log_q) = (candidate, phi, log_q);
        let gain = self.previous / residual;
        self.previous = residual;
        gain > config.outer_gain
    }

    /// SCFT on the operator corrected at the anchor; its final fields, or
    /// why it failed.
    fn inner_loop(
        &mut self,
        operator: &dyn FieldSolver,
        config: &AssistConfig,
        progress: &mut dyn FnMut(&str, usize, f64),
    ) -> std::result::Result<Vec<f64>, String> {
        // c = phi_exact(w_k) - phi_op(w_k).
        let mut phi_op = vec![0.0; self.w.len()];
        let mut log_q_op = [0.0];
        if let Err(e) = operator.solve_batch(&self.w, &mut phi_op, &mut log_q_op) {
            return Err(format!("the operator failed: {e}"));
        }
        let corrected = Corrected {
            operator,
            anchor_w: self.w.clone(),
            anchor_phi_op: phi_op,
            anchor_log_q_op: log_q_op[0],
            anchor_phi: self.phi.clone(),
            anchor_log_q: self.log_q,
            linear_below: config.linear_below,
        };
        let inner = ScftConfig {
            tolerance: (self.previous * config.inner_reduction).max(0.1 * config.scft.tolerance),
            max_iterations: config.operator_max_iterations,
            stall_window: config.stall_window.max(1),
            record_every: 0,
            // The operator's own saddle point is not the goal: a stalled
            // inner loop hands back to the exact anchors, not to the descent.
            robust: false,
            ..config.scft.clone()
        };
        let step = match run_scft(&corrected, &inner, &self.w, &mut |i, r| progress("operator", i, r)) {
            Ok(step) => step,
            Err(e) => return Err(format!("the iterations on the operator failed: {e}")),
        };
        self.operator_iterations += step.iterations;
        self.outer_steps += 1;
        Ok(step.w)
    }

    /// The next anchor from the inner result `step_w`: the mixed anchor,
    /// else `step_w` itself (mixing off, its history empty, or the mixed
    /// anchor failing), each taken only if its exact residual is no worse
    /// than the previous anchor's. Returns (w, phi, ln Q, residual).
    fn trust_check(
        &mut self,
        exact: &dyn FieldSolver,
        chi: f64,
        step_w: Vec<f64>,
        progress: &mut dyn FnMut(&str, usize, f64),
    ) -> Option<(Vec<f64>, Vec<f64>, f64, f64)> {
        let w = &self.w;
        let mixed = self.mixer.as_mut().map(|mixer| {
            let d: Vec<f64> = step_w.iter().zip(w).map(|(a, b)| a - b).collect();
            let mut next = vec![0.0; w.len()];
            mixer.next(w, &d, 1.0, &mut next);
            next
        });
        for candidate in mixed.into_iter().chain(std::iter::once(step_w)) {
            // The operator's fields may lie outside the exact solver's domain.
            let (phi, log_q, residual) =
                exact_state(exact, chi, &candidate).unwrap_or((vec![], f64::NAN, f64::INFINITY));
            self.residuals.push(residual);
            progress("anchor", self.outer_steps, residual);
            let mut cost = SolveCost::default();
            let kept = trusted(residual, self.previous, &mut cost);
            self.rejected += cost.rejected;
            if kept {
                return Some((candidate, phi, log_q, residual));
            }
            if let Some(mixer) = self.mixer.as_mut() {
                mixer.reset();
            }
        }
        None
    }
}

/// Exact SCFT from the best anchor `w`; if it does not converge, exact SCFT
/// from the starting fields, noted in `fallback`.
fn polish(
    exact: &dyn FieldSolver,
    polish_config: &ScftConfig,
    w: &[f64],
    w_init: &[f64],
    fallback: &mut Option<String>,
    progress: &mut dyn FnMut(&str, usize, f64),
) -> Result<ScftOutcome> {
    match run_scft(exact, polish_config, w, &mut |i, r| progress("exact", i, r)) {
        Ok(polished) if polished.converged => Ok(polished),
        polished => {
            let why = match polished {
                Ok(p) => format!("did not converge in {} iterations (residual {:.3e})", p.iterations, p.residual),
                Err(e) => format!("failed: {e}"),
            };
            let note = format!("the exact polish {why}: exact SCFT from the starting fields");
            *fallback = Some(match fallback.take() {
                Some(f) => format!("{f}; {note}"),
                None => note,
            });
            run_scft(exact, polish_config, w_init, &mut |i, r| progress("fallback", i, r))
        }
    }
}
