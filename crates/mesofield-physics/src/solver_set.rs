//! Loaded solvers: the exact solver and at most one operator per role,
//! resolved once at the edge (`--solver`, a Python `Operator`) and handed to
//! the loops, which ask the set for the role they can use.
//!
//! A role is what an operator does in the loops: its `KIND` is the name a
//! checkpoint states, its `Operator` the interface loops call (a trait
//! object). `Density` (w -> phi, the exact solver's map) is the role every
//! loop written against `Solvers` takes. A new role is a type implementing
//! `Role`; the experiments crate's registry says how a checkpoint of that
//! kind is loaded.

use std::any::Any;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::grid::Grid;
use crate::model::ChainModel;
use crate::seam::{FieldSolver, Solvers};
use crate::solver::ExactSolver;

/// What an operator does in the loops.
pub trait Role: 'static {
    /// The kind a checkpoint of this role states (`operator.json`).
    const KIND: &'static str;
    /// The interface the loops call.
    type Operator: ?Sized + Send + Sync + 'static;
    /// The chain model and grid the operator was made for (a set refuses an
    /// operator made for another than its exact solver's).
    fn made_for(operator: &Self::Operator) -> (&ChainModel, &Grid);
}

/// (w_A, w_B) -> (phi_A, phi_B, ln Q): the exact solver's map, used inside
/// the loops with an exact trust check (`Solvers`).
pub struct Density;

impl Role for Density {
    const KIND: &'static str = "density";
    type Operator = dyn FieldSolver + Send;
    fn made_for(operator: &Self::Operator) -> (&ChainModel, &Grid) {
        (operator.model(), operator.grid())
    }
}

struct Loaded {
    kind: &'static str,
    /// An `Arc<R::Operator>` of the role with this kind.
    operator: Box<dyn Any + Send + Sync>,
}

/// The exact solver and the loaded operators, each of its own role.
pub struct SolverSet {
    exact: ExactSolver,
    operators: Vec<Loaded>,
    label: String,
}

impl std::fmt::Debug for SolverSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolverSet").field("label", &self.label).field("kinds", &self.kinds()).finish()
    }
}

impl SolverSet {
    /// The exact solver alone.
    pub fn exact(exact: ExactSolver) -> Self {
        SolverSet { exact, operators: Vec::new(), label: "exact".into() }
    }

    /// The set with `operator` in role `R`, named `label` in reports
    /// (`operator:PATH`); refused if `R` is taken or the operator was made
    /// for another chain model or grid.
    pub fn with<R: Role>(mut self, operator: Arc<R::Operator>, label: impl Into<String>) -> Result<Self> {
        let label = label.into();
        if self.operators.iter().any(|o| o.kind == R::KIND) {
            return Err(Error::Parameter(format!("{label}: the solvers already hold a {} operator", R::KIND)));
        }
        let (model, grid) = R::made_for(&operator);
        if model != self.exact.model() || grid != self.exact.grid() {
            return Err(Error::Parameter(format!(
                "{label}: the {} operator was made for another grid or chain model than this run's",
                R::KIND
            )));
        }
        self.operators.push(Loaded { kind: R::KIND, operator: Box::new(operator) });
        self.label = if self.operators.len() == 1 { label } else { format!("{} + {label}", self.label) };
        Ok(self)
    }

    /// The operator in role `R`, if the set holds one.
    pub fn operator<R: Role>(&self) -> Option<&R::Operator> {
        self.operators
            .iter()
            .filter(|o| o.kind == R::KIND)
            .find_map(|o| o.operator.downcast_ref::<Arc<R::Operator>>())
            .map(|arc| &**arc)
    }

    pub fn exact_solver(&self) -> &ExactSolver {
        &self.exact
    }

    /// The kinds of the operators held.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.operators.iter().map(|o| o.kind).collect()
    }

    /// The solvers of the loops written against the density seam.
    pub fn solvers(&self) -> Solvers<'_> {
        let operator = self.operator::<Density>().map(|o| o as &dyn FieldSolver);
        Solvers { exact: &self.exact, operator }
    }

    /// How reports name the set: `exact`, or the operators' labels.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn model(&self) -> &ChainModel {
        self.exact.model()
    }

    pub fn grid(&self) -> &Grid {
        self.exact.grid()
    }
}
