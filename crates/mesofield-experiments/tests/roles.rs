//! A new operator role is one type implementing `Role` and `OperatorRole`
//! plus one registry line: a toy role (the exact solver of the fields times
//! a factor, a deliberately wrong density map) goes the whole way from a checkpoint
//! folder that states its kind, through `--solver operator:DIR` resolution,
//! into a loop that asks the set for it, and the loop's trust check
//! rejects what it gets.

use std::path::Path;
use std::sync::Arc;

use mesofield_experiments::roles::{OperatorRole, Registry, checkpoint_kind};
use mesofield_experiments::{Backend, SolverChoice};
use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::seam::FieldSolver;
use mesofield_physics::seam::conformance::ScaledFields;
use mesofield_physics::solver_set::Role;
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

/// The toy role: its own kind, the density interface.
struct ScaledRole;

impl Role for ScaledRole {
    const KIND: &'static str = "scaled";
    type Operator = dyn FieldSolver + Send;
    fn made_for(operator: &Self::Operator) -> (&ChainModel, &Grid) {
        (operator.model(), operator.grid())
    }
}

impl OperatorRole for ScaledRole {
    /// The checkpoint is `operator.json` with the factor.
    fn load(dir: &Path, _: Backend, model: &ChainModel, grid: &Grid) -> anyhow::Result<Arc<Self::Operator>> {
        let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("operator.json"))?)?;
        let factor = spec["factor"].as_f64().ok_or_else(|| anyhow::anyhow!("no factor"))?;
        // The conformance suite's wrong operator, which borrows its solver.
        let exact: &'static ExactSolver = Box::leak(Box::new(ExactSolver::new(model, *grid)?));
        Ok(Arc::new(ScaledFields { exact, factor }))
    }
}

#[test]
fn a_toy_role_registers_resolves_and_runs_in_a_loop() {
    let dir = std::env::temp_dir().join(format!("mesofield-toy-role-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("operator.json"), r#"{"kind": "scaled", "factor": -1.0}"#).unwrap();
    assert_eq!(checkpoint_kind(&dir).unwrap(), "scaled");
    let choice: SolverChoice = format!("operator:{}", dir.display()).parse().unwrap();
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 16, 16).unwrap();

    // The built-in registry does not know the kind and says which it knows.
    let err = Registry::builtin().resolve(&choice, Backend::Cpu, &model, &grid).unwrap_err().to_string();
    assert!(err.contains("scaled") && err.contains("density"), "{err}");

    // One registry line later it resolves into the set, under its kind.
    let registry = Registry::builtin().with::<ScaledRole>();
    assert_eq!(registry.kinds(), ["density", "scaled"]);
    let set = registry.resolve(&choice, Backend::Cpu, &model, &grid).unwrap();
    assert_eq!(set.kinds(), ["scaled"]);
    assert_eq!(set.label(), choice.to_string());
    assert!(set.solvers().operator.is_none(), "a scaled operator is not a density operator");
    let toy = set.operator::<ScaledRole>().expect("the toy role is in the set");

    // A loop takes it where it takes a density operator: the reversed
    // response never passes L-FTS's trust check, and every step still ends
    // incompressible on exact solves.
    let solvers = Solvers::new(set.exact_solver(), Some(toy as &dyn FieldSolver)).unwrap();
    let lfts = Lfts::new(LftsConfig::new(0.45, 60.0, 0.03, 5), solvers).unwrap();
    let w0 = InitialField::Lamellar { periods: 1 }.fields(&model, &grid, 0.45, &mut StreamRng::new(5, 0));
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    let (mut rejected, mut tried) = (0, 0);
    for _ in 0..5 {
        let (next, cost) = lfts.step(&state).unwrap();
        tried += usize::from(cost.operator_calls > 0);
        rejected += cost.rejected;
        state = next;
        assert!(state.pressure_residual < 1e-6);
    }
    assert!(tried > 0 && rejected == tried, "{rejected} of {tried} operator loops rejected");
    std::fs::remove_dir_all(&dir).ok();
}
