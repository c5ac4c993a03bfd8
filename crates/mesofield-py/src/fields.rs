//! Field theory: `solve`, `scft`, `spinodal`, `sample` (the CLI's `solve`,
//! `scft`, `spinodal` and `sample`, without the files).

use std::sync::{Arc, Mutex};

use numpy::PyArrayDyn;
use pyo3::prelude::*;
use serde_json::json;

use mesofield_experiments::bench::best_seconds;
use mesofield_experiments::inputs::Start;
use mesofield_experiments::inputs::builtin_fields;
use mesofield_experiments::sampling::{SampleRecord, SampleSpec, SampleSummary};
use mesofield_experiments::{Backend, SolverChoice};
use mesofield_physics::fts::{Integrator, Lfts, LftsConfig, LftsState};
use mesofield_physics::observables::RunningStructureFactor;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::trajectory::analyzer::{Snapshots, StructureFactorSum, Trace};
use mesofield_physics::trajectory::{self, Analyzer, LftsChains, Replica};
use mesofield_physics::{ChainModel, Error, ExactSolver, FieldSolver, Grid, SolveCost, Solvers, spinodal_on_grid};

use crate::arrays::{field_shape, read_f64, to_numpy};
use crate::model::{PyChainModel, model_or_default};
use crate::operator::PyOperator;
use crate::run::{Failure, Outcome, interruptible};

/// Fields per exact-solver call in `solve`, as in the CLI (a Ctrl-C is
/// looked at between chunks).
const SOLVE_CHUNK: usize = 64;

#[pyfunction]
#[pyo3(signature = (w, model=None))]
pub fn solve<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    model: Option<&Bound<'py, PyChainModel>>,
) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyAny>)> {
    let input = read_f64(w, "w")?;
    let (n, mx, my, batched) = field_shape(&input.shape, "w")?;
    let model = model_or_default(model);
    let grid = Grid::for_model(&model, mx, my).map_err(Failure::from)?;
    let solver = cached_solver(&model, grid)?;
    let mut phi = vec![0.0; input.data.len()];
    let mut log_q = vec![0.0; n];
    // Chunks on this thread with the lock released, signals looked at in
    // between: no worker thread, so a batch of one costs one solve.
    let mut signal: Option<PyErr> = None;
    let mut look = |_: usize| match Python::attach(|py| py.check_signals()) {
        Ok(()) => Ok(()),
        Err(e) => {
            signal = Some(e);
            Err(Error::Interrupted)
        }
    };
    let solved = py.detach(|| solver.solve_chunks(&input.data, &mut phi, &mut log_q, SOLVE_CHUNK, &mut look));
    if let Some(e) = signal {
        return Err(e);
    }
    solved.map_err(|e| match e {
        // The user's fields are outside the model's domain: bad input.
        e @ Error::Domain { .. } => Failure::Input(format!("w: {e}")),
        other => Failure::from(other),
    })?;
    let phi = to_numpy(py, &input.shape, phi);
    let log_q = if batched { to_numpy(py, &[n], log_q).into_any() } else { log_q[0].into_pyobject(py)?.into_any() };
    Ok((phi, log_q))
}

/// Best of `repeats` timings (seconds) of solving `w` in batches of `batch`
/// by the Rust loop alone (the solver `solve` uses, on this thread): the
/// in-process reference of bench/python_overhead.py.
#[pyfunction]
#[pyo3(signature = (w, batch, repeats=5))]
pub fn rust_solve_seconds(py: Python<'_>, w: &Bound<'_, PyAny>, batch: usize, repeats: usize) -> PyResult<f64> {
    let input = read_f64(w, "w")?;
    let (n, mx, my, _) = field_shape(&input.shape, "w")?;
    let grid = Grid::for_model(&ChainModel::default(), mx, my).map_err(Failure::from)?;
    let solver = cached_solver(&ChainModel::default(), grid)?;
    let (mut phi, mut log_q) = (vec![0.0; input.data.len()], vec![0.0; n]);
    let best = py.detach(|| best_seconds(&solver, &input.data, &mut phi, &mut log_q, batch, repeats));
    Ok(best.map_err(Failure::from)?)
}

/// Exact solvers of recent (model, grid) pairs, for `solve`: building one
/// (FFT plans, kernels) and its first workspace costs more than a small
/// solve, which a notebook calls in a loop. Loops build their own (with the
/// call's interrupt flag).
fn cached_solver(model: &ChainModel, grid: Grid) -> PyResult<Arc<ExactSolver>> {
    static CACHE: Mutex<Vec<(ChainModel, Grid, Arc<ExactSolver>)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(i) = cache.iter().position(|(m, g, _)| m == model && *g == grid) {
        let entry = cache.remove(i);
        let solver = entry.2.clone();
        cache.push(entry);
        return Ok(solver);
    }
    let solver = Arc::new(ExactSolver::new(model, grid).map_err(Failure::from)?);
    if cache.len() >= SOLVER_CACHE {
        cache.remove(0);
    }
    cache.push((model.clone(), grid, solver.clone()));
    Ok(solver)
}

/// (model, grid) pairs whose solvers `solve` keeps.
const SOLVER_CACHE: usize = 4;

/// Starting fields: a built-in name on `grid`, or an array `[2, Mx, My]`.
fn start_fields(
    init: &Bound<'_, PyAny>,
    grid: Option<(usize, usize)>,
    model: &ChainModel,
    chi: f64,
    seed: u64,
) -> PyResult<(Grid, Vec<f64>)> {
    if let Ok(name) = init.extract::<String>() {
        if let Some(path) = name.strip_prefix("pscf:") {
            let path = std::path::Path::new(path);
            if !path.exists() {
                return Err(pyo3::exceptions::PyOSError::new_err(format!("init: {} does not exist", path.display())));
            }
            let (g, w) = mesofield_experiments::inputs::pscf_fields(path, model)
                .map_err(|e| Failure::Input(format!("init: {e:#}")))?;
            if let Some(asked) = grid
                && asked != (g.mx, g.my)
            {
                return Err(Failure::Input(format!(
                    "grid {asked:?} differs from the PSCF file's mesh {}x{}; leave grid out",
                    g.mx, g.my
                ))
                .into());
            }
            return Ok((g, w));
        }
        let (mx, my) = grid.unwrap_or((32, 32));
        let Some(built) = builtin_fields(&name, model, [mx, my], chi, seed) else {
            return Err(Failure::Input(format!(
                "init {name:?} is not a built-in start (random[:AMP], lamellar[:N], hex:NX:NY, square:NX:NY) \
                 nor pscf:FILE; \
                 pass fields as an array [2, Mx, My] instead"
            ))
            .into());
        };
        return Ok(built.map_err(Failure::from)?);
    }
    let input = read_f64(init, "init")?;
    let (n, mx, my, batched) = field_shape(&input.shape, "init")?;
    if batched && n != 1 {
        return Err(Failure::Input(format!("init holds {n} samples; give one, [2, Mx, My]")).into());
    }
    if let Some(g) = grid
        && g != (mx, my)
    {
        return Err(
            Failure::Input(format!("grid {g:?} differs from the init array's {mx}x{my}; leave grid out")).into()
        );
    }
    let grid = Grid::for_model(model, mx, my).map_err(Failure::from)?;
    Ok((grid, input.data))
}

/// SCFT at one chi; returns (w, phi, report JSON). Refuses an unconverged
/// run with the CLI's message when `check` is set.
#[pyfunction]
#[pyo3(signature = (chi, init, grid=None, tol=1e-8, max_iterations=5000, seed=0, model=None, check=true))]
#[allow(clippy::too_many_arguments)]
pub fn scft<'py>(
    py: Python<'py>,
    chi: f64,
    init: &Bound<'py, PyAny>,
    grid: Option<(usize, usize)>,
    tol: f64,
    max_iterations: usize,
    seed: u64,
    model: Option<&Bound<'py, PyChainModel>>,
    check: bool,
) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyArrayDyn<f64>>, String)> {
    let model = model_or_default(model);
    let (grid, w0) = start_fields(init, grid, &model, chi, seed)?;
    let config = ScftConfig { chi, tolerance: tol, max_iterations, ..Default::default() };
    let outcome = interruptible(py, || -> Outcome<_> {
        let solver = ExactSolver::new(&model, grid)?;
        Ok(run_scft(&solver, &config, &w0, &mut |_, _| {})?)
    })?;
    if check && !outcome.converged {
        return Err(Failure::Run(format!(
            "SCFT did not reach tolerance {tol} in {max_iterations} iterations (residual {:.2e})",
            outcome.residual
        ))
        .into());
    }
    let report = json!({
        "chi": chi, "dF": outcome.d_f, "iterations": outcome.iterations, "residual": outcome.residual,
        "exact_solves": outcome.solves, "seconds": outcome.seconds, "converged": outcome.converged,
        "log_q": outcome.log_q, "grid": [grid.mx, grid.my], "descent_iterations": outcome.descent_iterations,
        "restarts": outcome.restarts,
    });
    let shape = [2, grid.mx, grid.my];
    Ok((to_numpy(py, &shape, outcome.w), to_numpy(py, &shape, outcome.phi), report.to_string()))
}

/// The RPA spinodal (continuous q, and on `grid` if given), as JSON.
#[pyfunction]
#[pyo3(signature = (model=None, grid=None))]
pub fn spinodal(model: Option<&Bound<'_, PyChainModel>>, grid: Option<(usize, usize)>) -> PyResult<String> {
    let model = model_or_default(model);
    let s = mesofield_physics::spinodal(&model);
    let mut report = json!({"chi_s": s.chi_s, "chiN_s": s.chi_n_s, "q_star": s.q_star});
    if let Some((mx, my)) = grid {
        let grid = Grid::for_model(&model, mx, my).map_err(Failure::from)?;
        let sg = spinodal_on_grid(&model, &grid);
        report["chi_s_grid"] = json!(sg.chi_s);
        report["chiN_s_grid"] = json!(sg.chi_n_s);
        report["q_grid"] = json!(sg.q_star);
    }
    Ok(report.to_string())
}

/// `integrator=` as the CLI's `--integrator` (None: the default).
pub(crate) fn parse_integrator(name: Option<&str>) -> PyResult<Integrator> {
    name.map_or(Ok(Integrator::default()), |n| {
        n.parse().map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("{e}")))
    })
}

/// What `sample` returns: snapshots, the per-step trace, S(q) and the
/// CLI's summary.
pub struct Trajectory {
    snapshots: Snapshots,
    trace: Vec<SampleRecord>,
    sq: RunningStructureFactor,
    report: serde_json::Value,
}

#[pyfunction]
#[pyo3(signature = (chi, beads_per_cell=1000.0, steps=1000, step_size=0.05, seed=0, init=None, grid=None, every=100, tol=1e-6, model=None, operator=None, integrator=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn sample<'py>(
    py: Python<'py>,
    chi: f64,
    beads_per_cell: f64,
    steps: usize,
    step_size: f64,
    seed: u64,
    init: Option<&Bound<'py, PyAny>>,
    grid: Option<(usize, usize)>,
    every: usize,
    tol: f64,
    model: Option<&Bound<'py, PyChainModel>>,
    operator: Option<&Bound<'py, PyOperator>>,
    integrator: Option<&str>,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let model = model_or_default(model);
    let integrator = parse_integrator(integrator)?;
    let default_init = pyo3::types::PyString::new(py, "random:0.01").into_any();
    let (grid, w0) = start_fields(init.unwrap_or(&default_init), grid, &model, chi, seed)?;
    let config =
        LftsConfig::new(chi, beads_per_cell, step_size, seed).with_pressure_tolerance(tol).with_integrator(integrator);
    config.validate().map_err(Failure::from)?;
    let op = operator.map(|o| o.get().for_grid(&model, &grid)).transpose()?;
    let solver = match operator {
        Some(o) => SolverChoice::Operator(o.get().dir.clone()),
        None => SolverChoice::Exact,
    };
    let spec = SampleSpec {
        chi,
        beads_per_cell,
        steps,
        step_size,
        integrator,
        seed,
        init: Start::Given,
        grid: format!("{}x{}", grid.mx, grid.my),
        model: None,
        tol,
        every,
        solver,
        backend: Backend::Cpu,
    };
    let t = interruptible(py, || -> Outcome<Trajectory> {
        let exact = ExactSolver::new(&model, grid)?;
        let solvers = Solvers::new(&exact, op.as_deref().map(|o| o as &dyn FieldSolver))?;
        run_lfts(&Lfts::new(config.clone(), solvers)?, &spec, &grid, w0)
    })?;
    let (mx, my) = (grid.mx, grid.my);
    let k = t.snapshots.steps.len();
    let out = pyo3::types::PyDict::new(py);
    out.set_item("phi_a", to_numpy(py, &[k, mx, my], t.snapshots.phi_a))?;
    out.set_item("w", to_numpy(py, &[k, 2, mx, my], t.snapshots.w))?;
    out.set_item("steps", t.snapshots.steps)?;
    let len = t.trace.len();
    let column = |f: fn(&SampleRecord) -> f64| to_numpy(py, &[len], t.trace.iter().map(f).collect());
    out.set_item("hamiltonian", column(|r| r.hamiltonian))?;
    out.set_item("psi2", column(|r| r.psi2))?;
    out.set_item("pressure_residual", column(|r| r.pressure_residual))?;
    let sq_mean = t.sq.mean();
    out.set_item("q", to_numpy(py, &[t.sq.q.len()], t.sq.q.clone()))?;
    out.set_item("S", to_numpy(py, &[sq_mean.len()], sq_mean))?;
    out.set_item("report", t.report.to_string())?;
    Ok(out)
}

/// One chain of `spec` from `w0` through the trajectory driver, with the
/// analyzers of the CLI's `sample` kept in memory: the same trace, S(q)
/// and summary (`SampleSummary::of`) for the same seed.
fn run_lfts(sampler: &Lfts<'_>, spec: &SampleSpec, grid: &Grid, w0: Vec<f64>) -> Outcome<Trajectory> {
    let mut trace = Trace::with_peak(SpectralPlan::new(*grid), spec.steps / 2, Vec::new());
    let mut sq = StructureFactorSum::new(SpectralPlan::new(*grid), spec.steps / 2, RunningStructureFactor::default());
    let mut snapshots = Snapshots::new(spec.every, spec.steps);
    // The CLI's run forgets the compressor's history at its snapshots (the
    // states it can resume from): the same chain needs the same.
    let chains = LftsChains { checkpoint_every: spec.every, ..LftsChains::new(sampler, vec![spec.seed]) };
    let (state, cost) = sampler.start_replicas(&w0, 0)?.pop().expect("one replica");
    let analyzers: Vec<&mut dyn Analyzer<LftsState, SolveCost>> = vec![&mut trace, &mut sq, &mut snapshots];
    let mut chain = [Replica { state, cost, analyzers }];
    trajectory::sample(&mut chain[0])?;
    let seconds = trajectory::run(&chains, &mut chain, spec.steps, &mut |_| {})?;
    let [Replica { state, cost, .. }] = chain;
    let summary =
        SampleSummary::of(spec, spec.seed, grid, &trace.records, cost, (seconds, spec.steps), state.pressure_residual);
    let mut report = serde_json::to_value(&summary).map_err(|e| Error::Io(e.to_string()))?;
    report["sq_steps"] = json!(sq.sum.steps);
    Ok(Trajectory { snapshots, trace: trace.records, sq: sq.sum, report })
}
