//! Operators learned from the physics: `learn` (the CLI's `learn`: chi from
//! clean samples, L-FTS patterns at it, a denoise operator and a generator
//! trained on them) and `DenoiseOperator` (`denoise --solver operator:` and
//! `generate-patterns` on arrays). The same experiments-crate functions
//! run, so the same inputs give the CLI's numbers.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use numpy::PyArrayDyn;
use pyo3::prelude::*;

use mesofield_experiments::Reporter;
use mesofield_experiments::denoiser::{default_network, denoise_loaded};
use mesofield_experiments::generate::generate;
use mesofield_experiments::learn::{BurnIn, LearnSettings, learn as learn_from};
use mesofield_experiments::solvers::Backend;
use mesofield_fno::TrainConfig;
use mesofield_fno::denoise::DenoiseOperator;
use mesofield_fno::training::Stop;

use crate::arrays::{batch_shape, to_numpy};
use crate::model::{PyChainModel, model_or_default};
use crate::patterns::{read_patterns, read_truth};
use crate::run::{Failure, Outcome, interruptible_training};

/// `mesofield learn` on arrays: returns the report JSON (`DIR/report.json`).
#[pyfunction]
#[pyo3(signature = (samples, beads_per_cell, step_size, out, patterns=None, burn_in_steps=None, epochs=None, quick=false, generator=true, seed=0, resume=false, model=None, integrator=None))]
#[allow(clippy::too_many_arguments)]
pub fn learn<'py>(
    py: Python<'py>,
    samples: &Bound<'py, PyAny>,
    beads_per_cell: f64,
    step_size: f64,
    out: PathBuf,
    patterns: Option<usize>,
    burn_in_steps: Option<usize>,
    epochs: Option<usize>,
    quick: bool,
    generator: bool,
    seed: u64,
    resume: bool,
    model: Option<&Bound<'py, PyChainModel>>,
    integrator: Option<&str>,
) -> PyResult<String> {
    let integrator = crate::fields::parse_integrator(integrator)?;
    let (mut clean, _) = read_patterns(samples, "samples", true)?;
    let model = model_or_default(model);
    clean.model = Some(model.clone());
    let mut settings = if quick {
        LearnSettings::quick(beads_per_cell, step_size)
    } else {
        LearnSettings::new(beads_per_cell, step_size)
    };
    settings.integrator = integrator;
    settings.patterns = patterns.unwrap_or(settings.patterns);
    if let Some(n) = burn_in_steps {
        settings.burn_in = BurnIn::Fixed(n);
    }
    settings.seed = seed;
    let epochs = settings.apply_epochs(epochs, quick);
    if !generator {
        settings.generator = None;
    }
    settings.validate().map_err(|e| Failure::Input(format!("{e:#}")))?;
    if epochs == 0 {
        return Err(Failure::Input("epochs must be at least 1".into()).into());
    }
    if resume && !out.exists() {
        return Err(Failure::Io(format!("resume: {} does not exist", out.display())).into());
    }
    let config = TrainConfig::new(default_network()).with_epochs(epochs).with_batch(16).with_seed(seed);
    let sources: Vec<String> = (0..clean.n).map(|i| format!("array sample {i}")).collect();
    interruptible_training(py, |stop: &Stop| -> Outcome<String> {
        let report = learn_from(
            &sources,
            clean,
            &model,
            &settings,
            config,
            &out,
            resume,
            stop,
            &Reporter::silent(),
            &mut |_| {},
        )?;
        if let Some(why) = report.unfinished(&settings, epochs) {
            return Err(Failure::Run(format!("{why}; {} holds it: call again with resume=True", out.display())));
        }
        serde_json::to_string(&report).map_err(|e| Failure::Run(e.to_string()))
    })
}

/// A denoise operator (`learn`'s `DIR/best` or `DIR/generator/best`, or
/// `train-denoiser`'s), loaded once.
#[pyclass(name = "DenoiseOperator", module = "mesofield", frozen)]
pub struct PyDenoiseOperator {
    operator: Mutex<DenoiseOperator>,
}

impl PyDenoiseOperator {
    fn operator(&self) -> PyResult<MutexGuard<'_, DenoiseOperator>> {
        Ok(self.operator.lock().map_err(|_| Failure::Run("denoise operator poisoned".into()))?)
    }
}

#[pymethods]
impl PyDenoiseOperator {
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        if !path.exists() {
            return Err(Failure::Io(format!("{}: no such checkpoint folder", path.display())).into());
        }
        let device = Backend::Cpu.device().map_err(|e| Failure::Run(format!("{e:#}")))?;
        let operator = DenoiseOperator::load(&path, &device).map_err(|e| Failure::Input(e.to_string()))?;
        Ok(PyDenoiseOperator { operator: Mutex::new(operator) })
    }

    /// The checkpoint's `denoise.json` as JSON text.
    #[getter]
    fn spec_json(&self) -> PyResult<String> {
        Ok(serde_json::to_string(&self.operator()?.spec).map_err(|e| Failure::Run(e.to_string()))?)
    }

    #[getter]
    fn model(&self) -> PyResult<PyChainModel> {
        Ok(PyChainModel { inner: self.operator()?.spec.model.clone() })
    }

    #[getter]
    fn path(&self) -> PyResult<PathBuf> {
        Ok(self.operator()?.dir.clone())
    }

    /// Recovered patterns and the JSON report (sigma per pattern, errors
    /// against `truth` where given, seconds).
    #[pyo3(signature = (noisy, sigma=None, truth=None))]
    fn denoise<'py>(
        &self,
        py: Python<'py>,
        noisy: &Bound<'py, PyAny>,
        sigma: Option<f64>,
        truth: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, String)> {
        let (noisy, batched) = read_patterns(noisy, "noisy", false)?;
        let truth = read_truth(truth, &noisy)?;
        let op = self.operator()?;
        let model = op.spec.model.clone();
        let (n, mx, my) = (noisy.n, noisy.mx, noisy.my);
        let done = crate::run::interruptible(py, || -> Outcome<_> {
            denoise_loaded(&op, &noisy, &model, sigma, truth.as_ref()).map_err(|e| Failure::Input(format!("{e:#}")))
        })?;
        let report = serde_json::json!({"samples": done.patterns, "seconds": done.seconds,
                                         "solver": format!("operator:{}", op.dir.display())});
        Ok((to_numpy(py, &batch_shape(n, batched, &[mx, my]), done.recovered), report.to_string()))
    }

    /// `count` new patterns `[count, Mx, My]` by reverse diffusion in
    /// `steps` batched calls.
    #[pyo3(signature = (count, steps=30, seed=0))]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        count: usize,
        steps: usize,
        seed: u64,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        if count == 0 || steps < 2 {
            return Err(Failure::Input(format!(
                "count must be at least 1 and steps at least 2, got {count} and {steps}"
            ))
            .into());
        }
        let op = self.operator()?;
        let [mx, my] = op.spec.grid;
        let made = crate::run::interruptible(py, || -> Outcome<_> { Ok(generate(&op, count, steps, seed)) })?;
        Ok(to_numpy(py, &[count, mx, my], made.phi_a))
    }

    fn __repr__(&self) -> PyResult<String> {
        let op = self.operator()?;
        let s = &op.spec;
        Ok(format!(
            "DenoiseOperator({:?}, grid={}x{}, chi={}, sigma={:?})",
            op.dir.display().to_string(),
            s.grid[0],
            s.grid[1],
            s.chi.map_or("None".into(), |c| format!("{c:.4}")),
            s.sigma
        ))
    }
}
