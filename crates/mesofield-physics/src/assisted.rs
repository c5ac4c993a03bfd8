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
//! Once the outer steps stop paying (the residual falls by less than
//! `outer_gain` per step, or is below `polish_below`), exact SCFT polishes
//! from the best anchor to the requested tolerance.
//!
//! Trust check: if an anchor's exact residual is worse than the previous
//! one's, the run goes back to the best anchor and continues with exact
//! iterations only, and says so. If the polish does not converge, exact SCFT
//! from the starting fields is the fallback. Either way the result is a
//! saddle point of the exact equations.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::scft::{ScftConfig, ScftOutcome, residuals, run_scft};
use crate::seam::FieldSolver;

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
    /// Outer steps continue while each divides the exact residual by at
    /// least this factor.
    pub outer_gain: f64,
    /// Exact polish once the exact residual is below this.
    pub polish_below: f64,
    pub max_outer: usize,
}

impl AssistConfig {
    pub fn new(scft: ScftConfig) -> Self {
        AssistConfig {
            scft,
            stall_window: 50,
            operator_max_iterations: 2000,
            inner_reduction: 1e-3,
            outer_gain: 3.0,
            polish_below: 1e-7,
            max_outer: 50,
        }
    }
}

/// Where the run came out and what it cost.
#[derive(Clone, Debug)]
pub struct AssistOutcome {
    /// The final, exact state (its `solves` counts only the polish run).
    pub outcome: ScftOutcome,
    /// Fields solved by the exact solver: the trust check's residuals of the
    /// start and of the switch, and every solve of the polish (and of the
    /// fallback, if any).
    pub exact_solves: usize,
    /// Fields solved by the operator.
    pub operator_calls: usize,
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
    fn is_exact(&self) -> bool {
        self.inner.is_exact()
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()> {
        self.fields.fetch_add(log_q.len(), Ordering::Relaxed);
        self.inner.solve_batch(w, phi, log_q)
    }
}

/// The operator plus a fixed correction: exact at the anchor it was made at.
struct Corrected<'a> {
    operator: &'a dyn FieldSolver,
    phi_shift: Vec<f64>,
    log_q_shift: f64,
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
    fn is_exact(&self) -> bool {
        false
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()> {
        self.operator.solve_batch(w, phi, log_q)?;
        for sample in phi.chunks_mut(self.phi_shift.len()) {
            for (p, s) in sample.iter_mut().zip(&self.phi_shift) {
                *p += s;
            }
        }
        for l in log_q.iter_mut() {
            *l += self.log_q_shift;
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
    if operator.grid() != exact.grid() || operator.model() != exact.model() {
        return Err(Error::Parameter(format!(
            "the operator ({}) was made for another grid or chain model than the exact solver's",
            operator.name()
        )));
    }
    let (operator, exact) = (Counting::new(operator), Counting::new(exact));
    let chi = config.scft.chi;
    let tolerance = config.scft.tolerance;
    let polish_config = ScftConfig { record_every: 0, ..config.scft.clone() };
    let mut w = w_init.to_vec();
    let (phi_start, log_q_start, start_residual) = exact_state(&exact, chi, &w)?;
    let mut anchor = (phi_start, log_q_start);
    let mut anchor_residuals = vec![start_residual];
    let (mut fallback, mut operator_iterations, mut outer_steps) = (None, 0usize, 0usize);
    // `w` is the best anchor so far and `previous` its exact residual: a
    // step that raises the residual is never taken.
    let mut previous = start_residual;
    while previous >= config.polish_below.max(tolerance) && outer_steps < config.max_outer {
        // c = phi_exact(w_k) - phi_op(w_k).
        let mut phi_op = vec![0.0; w.len()];
        let mut log_q_op = [0.0];
        if let Err(e) = operator.solve_batch(&w, &mut phi_op, &mut log_q_op) {
            fallback = Some(format!("the operator failed: {e}"));
            break;
        }
        let corrected = Corrected {
            operator: &operator,
            phi_shift: anchor.0.iter().zip(&phi_op).map(|(e, o)| e - o).collect(),
            log_q_shift: anchor.1 - log_q_op[0],
        };
        let inner = ScftConfig {
            tolerance: (previous * config.inner_reduction).max(0.1 * tolerance),
            max_iterations: config.operator_max_iterations,
            stall_window: config.stall_window.max(1),
            record_every: 0,
            ..config.scft.clone()
        };
        let step = match run_scft(&corrected, &inner, &w, &mut |i, r| progress("operator", i, r)) {
            Ok(step) => step,
            Err(e) => {
                fallback = Some(format!("the iterations on the operator failed: {e}"));
                break;
            }
        };
        operator_iterations += step.iterations;
        outer_steps += 1;
        // The operator's fields may lie outside the exact solver's domain.
        let (phi, log_q, residual) = exact_state(&exact, chi, &step.w).unwrap_or((vec![], f64::NAN, f64::INFINITY));
        anchor_residuals.push(residual);
        progress("anchor", outer_steps, residual);
        if residual > previous {
            fallback = Some(format!(
                "the exact residual rose from {previous:.3e} to {residual:.3e} after an operator step: exact iterations from the best fields"
            ));
            break;
        }
        (w, anchor) = (step.w, (phi, log_q));
        let gain = previous / residual;
        previous = residual;
        if gain < config.outer_gain {
            break;
        }
    }
    let switch_residual = previous;
    let outcome = match run_scft(&exact, &polish_config, &w, &mut |i, r| progress("exact", i, r)) {
        Ok(polished) if polished.converged => polished,
        polished => {
            let why = match polished {
                Ok(p) => format!("did not converge in {} iterations (residual {:.3e})", p.iterations, p.residual),
                Err(e) => format!("failed: {e}"),
            };
            let note = format!("the exact polish {why}: exact SCFT from the starting fields");
            fallback = Some(match fallback {
                Some(f) => format!("{f}; {note}"),
                None => note,
            });
            run_scft(&exact, &polish_config, w_init, &mut |i, r| progress("fallback", i, r))?
        }
    };
    Ok(AssistOutcome {
        outcome,
        exact_solves: exact.count(),
        operator_calls: operator.count(),
        operator_iterations,
        outer_steps,
        anchor_residuals,
        switch_residual,
        fallback,
        seconds: start.elapsed().as_secs_f64(),
    })
}
