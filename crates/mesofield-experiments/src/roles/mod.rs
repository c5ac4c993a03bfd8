//! Operator roles the CLI and Python load from checkpoints, and the
//! registry that turns `--solver operator:CHECKPOINT` into a `SolverSet`.
//!
//! A new role is one file here: a type implementing the physics crate's
//! `Role` (its kind and the interface loops call) and `OperatorRole` (how
//! a checkpoint of that kind becomes the operator), plus one line in
//! `Registry::builtin`. Loops then ask the set for it:
//! `set.operator::<MyRole>()`.

pub mod density;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};

use mesofield_inference::gradient::{DataGradient, LinearResponse};
use mesofield_physics::solver_set::Role;
use mesofield_physics::{ChainModel, ExactSolver, Grid, SolverSet};

use crate::solvers::{Backend, SolverChoice};

/// A role whose operators come from checkpoint folders.
pub trait OperatorRole: Role {
    /// The operator in `dir` for `grid`, refusing one made for another
    /// chain model.
    fn load(dir: &Path, backend: Backend, model: &ChainModel, grid: &Grid) -> Result<Arc<Self::Operator>>;
}

type Loader = fn(&Path, Backend, &ChainModel, &Grid, SolverSet, String) -> Result<SolverSet>;

fn load_into<R: OperatorRole>(
    dir: &Path,
    backend: Backend,
    model: &ChainModel,
    grid: &Grid,
    set: SolverSet,
    label: String,
) -> Result<SolverSet> {
    let operator = R::load(dir, backend, model, grid)?;
    Ok(set.with::<R>(operator, label)?)
}

/// Checkpoint kinds and how each is loaded into a `SolverSet`.
#[derive(Default)]
pub struct Registry {
    entries: Vec<(&'static str, Loader)>,
}

impl Registry {
    /// The roles this mesofield loads.
    pub fn builtin() -> Self {
        Registry::default().with::<mesofield_physics::solver_set::Density>()
    }

    /// The registry with role `R` (its kind replaces one of the same name).
    pub fn with<R: OperatorRole>(mut self) -> Self {
        self.entries.retain(|(kind, _)| *kind != R::KIND);
        self.entries.push((R::KIND, load_into::<R>));
        self
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.entries.iter().map(|(kind, _)| *kind).collect()
    }

    /// The solvers `choice` names, on `model` and `grid`: the exact solver,
    /// with the checkpoint's operator in the role its `operator.json` states.
    pub fn resolve(
        &self,
        choice: &SolverChoice,
        backend: Backend,
        model: &ChainModel,
        grid: &Grid,
    ) -> Result<SolverSet> {
        let set = SolverSet::exact(ExactSolver::new(model, *grid)?);
        let SolverChoice::Operator(dir) = choice else { return Ok(set) };
        let kind = checkpoint_kind(dir)?;
        let Some((_, load)) = self.entries.iter().find(|(k, _)| *k == kind) else {
            bail!("{}: a {kind} operator, and no loop takes one (kinds: {})", dir.display(), self.kinds().join(", "));
        };
        load(dir, backend, model, grid, set, choice.to_string())
    }
}

/// The kind `dir/operator.json` states; a checkpoint folder without one is
/// a density operator (the only kind before the file).
pub fn checkpoint_kind(dir: &Path) -> Result<String> {
    if !dir.exists() {
        bail!("{}: no such checkpoint folder", dir.display());
    }
    let spec = dir.join("operator.json");
    if !spec.exists() {
        return Ok(mesofield_physics::solver_set::Density::KIND.to_string());
    }
    let text = std::fs::read_to_string(&spec).with_context(|| format!("{}", spec.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}", spec.display()))?;
    value["kind"].as_str().map(str::to_string).ok_or_else(|| anyhow!("{}: no \"kind\"", spec.display()))
}

/// Where a call's solvers come from, made once the patterns' grid is known:
/// `--solver` resolved by the registry (`Resolved`), or operators already
/// loaded (Python's `Operator` objects).
pub trait SolverSource {
    /// The exact solver and the operators, on `grid`.
    fn solvers(&self, model: &ChainModel, grid: &Grid) -> Result<SolverSet>;
    /// The data term's gradient for denoising on `grid`: the density
    /// operator's autodiff where there is one, else the linear response.
    fn gradient(&self, model: &ChainModel, grid: &Grid) -> Result<Box<dyn DataGradient>>;
    /// How reports name the solvers (`exact`, `operator:PATH`).
    fn label(&self) -> String;
}

/// `--solver` and `--backend`, resolved by the built-in registry.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub choice: SolverChoice,
    pub backend: Backend,
}

impl SolverSource for Resolved {
    fn solvers(&self, model: &ChainModel, grid: &Grid) -> Result<SolverSet> {
        resolve(&self.choice, self.backend, model, grid)
    }
    fn gradient(&self, model: &ChainModel, grid: &Grid) -> Result<Box<dyn DataGradient>> {
        Ok(match &self.choice {
            SolverChoice::Operator(dir) => Box::new(density::operator_gradient(dir, self.backend, model, grid)?),
            SolverChoice::Exact => Box::new(LinearResponse::new(model, *grid)),
        })
    }
    fn label(&self) -> String {
        self.choice.to_string()
    }
}

/// `choice` resolved by the built-in registry.
pub fn resolve(choice: &SolverChoice, backend: Backend, model: &ChainModel, grid: &Grid) -> Result<SolverSet> {
    Registry::builtin().resolve(choice, backend, model, grid)
}
