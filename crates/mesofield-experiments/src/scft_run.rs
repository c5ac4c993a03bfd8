//! `mesofield scft` at one chi: SCFT on the exact solver, or, with a
//! density operator in the solvers, assisted SCFT (iterations on the
//! operator corrected at exact anchors, each anchor through the trust
//! check, exact polish); and the run's report.

use anyhow::Result;
use serde_json::{Value, json};

use mesofield_physics::scft::assisted::{AssistConfig, AssistOutcome, run_assisted_scft};
use mesofield_physics::scft::{ScftConfig, ScftOutcome, run_scft};
use mesofield_physics::{Grid, SolverSet};

/// Assisted SCFT's settings a run may override (None: `AssistConfig`'s).
#[derive(Clone, Debug, Default)]
pub struct AssistSettings {
    pub stall_window: usize,
    pub outer_history: Option<usize>,
    pub outer_gain: Option<f64>,
    pub linear_below: Option<f64>,
}

/// The final, exact state, and the assisted run's account where an
/// operator took part.
pub struct ScftRun {
    pub outcome: ScftOutcome,
    pub assisted: Option<AssistOutcome>,
}

/// SCFT of `config` from `w0` on `set`. `progress` sees (phase, iteration,
/// residual): "exact" without an operator, else assisted SCFT's phases.
pub fn run(
    set: &SolverSet,
    config: &ScftConfig,
    settings: &AssistSettings,
    w0: &[f64],
    progress: &mut dyn FnMut(&str, usize, f64),
) -> Result<ScftRun> {
    let Some(op) = set.solvers().operator else {
        let outcome = run_scft(set.exact_solver(), config, w0, &mut |it, r| progress("exact", it, r))?;
        return Ok(ScftRun { outcome, assisted: None });
    };
    let defaults = AssistConfig::new(config.clone());
    let assist = AssistConfig {
        stall_window: settings.stall_window.max(1),
        outer_history: settings.outer_history.unwrap_or(defaults.outer_history),
        outer_gain: settings.outer_gain.unwrap_or(defaults.outer_gain),
        linear_below: settings.linear_below.unwrap_or(defaults.linear_below),
        ..defaults
    };
    let run = run_assisted_scft(op, set.exact_solver(), &assist, w0, progress)?;
    Ok(ScftRun { outcome: run.outcome.clone(), assisted: Some(run) })
}

impl ScftRun {
    /// `mesofield scft --json`'s report: the outcome, and the assisted
    /// run's cost, anchors and fallback where there was an operator.
    pub fn report(&self, chi: f64, grid: &Grid, solver: &str) -> Value {
        let outcome = &self.outcome;
        let mut report = json!({
            "chi": chi, "dF": outcome.d_f, "iterations": outcome.iterations, "residual": outcome.residual,
            "exact_solves": outcome.solves, "seconds": outcome.seconds, "converged": outcome.converged,
            "log_q": outcome.log_q, "grid": [grid.mx, grid.my], "solver": solver, "operator_calls": 0,
            "rejected": 0, "descent_iterations": outcome.descent_iterations, "restarts": outcome.restarts,
        });
        if let Some(run) = &self.assisted {
            report["exact_solves"] = json!(run.cost.exact_solves);
            report["operator_calls"] = json!(run.cost.operator_calls);
            report["rejected"] = json!(run.cost.rejected);
            report["operator_iterations"] = json!(run.operator_iterations);
            report["outer_steps"] = json!(run.outer_steps);
            report["anchor_residuals"] = json!(run.anchor_residuals);
            report["switch_residual"] = json!(run.switch_residual);
            report["fallback"] = json!(run.fallback);
            report["seconds"] = json!(run.seconds);
        }
        report
    }
}
