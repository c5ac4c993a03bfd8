//! The central seam: "fields -> densities" over a batch. The exact solver
//! implements it here; a trained operator implements it in the FNO crate.
//! Every loop (SCFT, sampling, denoising, dynamics) is written against it.

use crate::error::Result;
use crate::grid::Grid;
use crate::model::ChainModel;
use crate::solver::ExactSolver;

pub trait FieldSolver {
    /// A short name for reports ("exact", "operator:PATH").
    fn name(&self) -> String;
    fn model(&self) -> &ChainModel;
    fn grid(&self) -> &Grid;
    /// Whether `solve_batch` fills `log_q` with ln Q (an operator may not).
    fn provides_log_q(&self) -> bool;
    /// Whether this is the exact solver (loops count exact solves separately).
    fn is_exact(&self) -> bool;
    /// `w` is `[n][2][Mx*My]` (A then B), `phi` likewise, `log_q` has n entries.
    /// The first sample that cannot be solved is the error.
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()>;
}

impl FieldSolver for ExactSolver {
    fn name(&self) -> String {
        "exact".to_string()
    }
    fn model(&self) -> &ChainModel {
        ExactSolver::model(self)
    }
    fn grid(&self) -> &Grid {
        ExactSolver::grid(self)
    }
    fn provides_log_q(&self) -> bool {
        true
    }
    fn is_exact(&self) -> bool {
        true
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()> {
        ExactSolver::solve_batch(self, w, phi, log_q)
    }
}
