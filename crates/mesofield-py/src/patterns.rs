//! Patterns: `invert`, `infer_chi`, `denoise` (the CLI's `infer-chi` and
//! `denoise`, on arrays). The same experiments-crate functions run, so a
//! pattern gives the CLI's answer to the bit.

use numpy::PyArrayDyn;
use pyo3::prelude::*;
use serde_json::json;

use mesofield_experiments::Reporter;
use mesofield_experiments::observed::{
    DenoiseSpec, chi_from_samples, denoise_patterns, infer_chi as infer_chi_from, invert_patterns,
};
use mesofield_experiments::patterns::Patterns;
use mesofield_experiments::roles::SolverSource;
use mesofield_physics::{ChainModel, Grid};

use crate::arrays::{batch_shape, pattern_shape, read_f64, to_numpy};
use crate::model::{PyChainModel, model_or_default};
use crate::operator::{Loaded, PyOperator};
use crate::run::{Failure, Outcome, interruptible};

/// phi_A patterns from an array `[n, Mx, My]` or `[Mx, My]`, checked as
/// the CLI checks a file's (`clean`: within (0, 1)); with `batched`.
pub fn read_patterns(obj: &Bound<'_, PyAny>, name: &str, clean: bool) -> PyResult<(Patterns, bool)> {
    let input = read_f64(obj, name)?;
    let (n, mx, my, batched) = pattern_shape(&input.shape, name)?;
    let patterns = Patterns { n, mx, my, phi_a: input.data, phi_b: None, model: None };
    patterns.validate(name, clean).map_err(|e| Failure::Input(format!("{e:#}")))?;
    Ok((patterns, batched))
}

/// The clean originals of `noisy`, where given, of its count and grid.
pub fn read_truth(truth: Option<&Bound<'_, PyAny>>, noisy: &Patterns) -> PyResult<Option<Patterns>> {
    let Some(truth) = truth else { return Ok(None) };
    let (t, _) = read_patterns(truth, "truth", true)?;
    if (t.n, t.mx, t.my) != (noisy.n, noisy.mx, noisy.my) {
        return Err(Failure::Input(format!(
            "truth holds {} patterns of {}x{}, noisy {} of {}x{}",
            t.n, t.mx, t.my, noisy.n, noisy.mx, noisy.my
        ))
        .into());
    }
    Ok(Some(t))
}

fn loaded<'a>(operator: Option<&'a Bound<'_, PyOperator>>) -> Loaded<'a> {
    Loaded { operator: operator.map(|o| o.get()) }
}

/// The inverse map: fields whose exact densities are the patterns (phi_B
/// = 1 - phi_A, each shifted to the chain's mean first). Returns (w, report
/// JSON with one record per pattern).
#[pyfunction]
#[pyo3(signature = (phi_a, model=None, tol=1e-10, operator=None))]
pub fn invert<'py>(
    py: Python<'py>,
    phi_a: &Bound<'py, PyAny>,
    model: Option<&Bound<'py, PyChainModel>>,
    tol: f64,
    operator: Option<&Bound<'py, PyOperator>>,
) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, String)> {
    let (patterns, batched) = read_patterns(phi_a, "phi_a", true)?;
    let model = model_or_default(model);
    let (n, mx, my) = (patterns.n, patterns.mx, patterns.my);
    let source = loaded(operator);
    let inv = interruptible(py, || -> Outcome<_> {
        Ok(invert_patterns(patterns, &model, &source, tol, &Reporter::silent())?)
    })?;
    let report = json!({"per_sample": inv.per_sample, "grid": [mx, my], "solver": source.label()});
    Ok((to_numpy(py, &batch_shape(n, batched, &[2, mx, my]), inv.w), report.to_string()))
}

/// chi from clean patterns, as `mesofield infer-chi` (its JSON report).
#[pyfunction]
#[pyo3(signature = (patterns, beads_per_cell=None, step_size=0.0, model=None, tol=1e-10, operator=None, integrator=None))]
pub fn infer_chi<'py>(
    py: Python<'py>,
    patterns: &Bound<'py, PyAny>,
    beads_per_cell: Option<f64>,
    step_size: f64,
    model: Option<&Bound<'py, PyChainModel>>,
    tol: f64,
    operator: Option<&Bound<'py, PyOperator>>,
    integrator: Option<&str>,
) -> PyResult<String> {
    let step = (step_size, crate::fields::parse_integrator(integrator)?);
    let (patterns, _) = read_patterns(patterns, "patterns", true)?;
    let model = model_or_default(model);
    let source = loaded(operator);
    interruptible(py, || -> Outcome<String> {
        let found = infer_chi_from(patterns, &model, beads_per_cell, step, &source, tol, &Reporter::silent())?;
        Ok(found.report(&source.label()).to_string())
    })
}

/// Denoising by action minimisation, as `mesofield denoise`: chi given, or
/// inferred from clean `samples` (equipartition at `beads_per_cell`).
/// Returns (recovered phi_A, their fields, report JSON).
#[pyfunction]
#[pyo3(signature = (noisy, chi=None, samples=None, beads_per_cell=100.0, step_size=0.0, sigma=None, data_weight=1.0, max_iterations=500, truth=None, model=None, operator=None, integrator=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn denoise<'py>(
    py: Python<'py>,
    noisy: &Bound<'py, PyAny>,
    chi: Option<f64>,
    samples: Option<&Bound<'py, PyAny>>,
    beads_per_cell: f64,
    step_size: f64,
    sigma: Option<f64>,
    data_weight: f64,
    max_iterations: usize,
    truth: Option<&Bound<'py, PyAny>>,
    model: Option<&Bound<'py, PyChainModel>>,
    operator: Option<&Bound<'py, PyOperator>>,
    integrator: Option<&str>,
) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyArrayDyn<f64>>, String)> {
    let step = (step_size, crate::fields::parse_integrator(integrator)?);
    let (noisy, batched) = read_patterns(noisy, "noisy", false)?;
    let clean = samples.map(|s| read_patterns(s, "samples", true)).transpose()?.map(|(p, _)| p);
    let truth = read_truth(truth, &noisy)?;
    let model: ChainModel = model_or_default(model);
    Grid::for_model(&model, noisy.mx, noisy.my).map_err(Failure::from)?;
    let (chi, clean) = match (chi, clean) {
        (Some(_), Some(_)) => {
            return Err(Failure::Input("give chi or samples to infer it from, not both".into()).into());
        }
        (None, None) => return Err(Failure::Input("give chi, or clean samples to infer it from".into()).into()),
        (c, s) => (c, s),
    };
    if let Some(s) = sigma
        && !(s.is_finite() && s > 0.0)
    {
        return Err(Failure::Input(format!("sigma must be finite and > 0, got {s}")).into());
    }
    if let Some(c) = chi
        && !(c.is_finite() && c > 0.0)
    {
        return Err(Failure::Input(format!("chi must be finite and > 0, got {c}")).into());
    }
    let source = loaded(operator);
    let (n, mx, my) = (noisy.n, noisy.mx, noisy.my);
    let (done, chi, inferred) = interruptible(py, || -> Outcome<_> {
        let reporter = Reporter::silent();
        let inferred = match clean {
            Some(clean) => Some(chi_from_samples(clean, &model, beads_per_cell, step, &source, &reporter)?),
            None => None,
        };
        let chi = chi.or(inferred.as_ref().map(|e| e.chi)).expect("chi or samples, checked above");
        let spec = DenoiseSpec {
            chi,
            beads_per_cell,
            sigma,
            data_weight,
            max_iterations,
            compare_relaxation: false,
            starts: None,
        };
        let done = denoise_patterns(&noisy, truth.as_ref(), &model, &spec, &source, &reporter)?;
        Ok((done, chi, inferred))
    })?;
    let report = json!({"chi": chi, "chi_inferred": inferred, "beads_per_cell": beads_per_cell,
                        "solver": source.label(), "gradient": done.gradient, "samples": done.patterns});
    Ok((
        to_numpy(py, &batch_shape(n, batched, &[mx, my]), done.recovered),
        to_numpy(py, &batch_shape(n, batched, &[2, mx, my]), done.fields),
        report.to_string(),
    ))
}
