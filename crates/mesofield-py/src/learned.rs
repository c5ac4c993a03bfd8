//! Operators learned from the physics: `learn` (the CLI's `learn`: chi from
//! clean samples, L-FTS patterns at it, a denoise operator and a generator
//! trained on them) and `DenoiseOperator` (`denoise --solver operator:` and
//! `generate-patterns` on arrays). The same experiments-crate functions
//! run, so the same inputs give the CLI's numbers.

use std::path::PathBuf;
use std::sync::Mutex;

use numpy::PyArrayDyn;
use pyo3::prelude::*;

use mesofield_experiments::Reporter;
use mesofield_experiments::denoiser::{default_network, denoise_loaded};
use mesofield_experiments::generate::generate;
use mesofield_experiments::learn::{BurnIn, LEARN_EPOCHS, LearnSettings, QUICK_EPOCHS, learn as learn_from};
use mesofield_experiments::solvers::Backend;
use mesofield_fno::TrainConfig;
use mesofield_fno::denoise::DenoiseOperator;
use mesofield_fno::training::Stop;

use crate::arrays::{batch_shape, to_numpy};
use crate::model::{PyChainModel, model_or_default};
use crate::patterns::read_patterns;
use crate::run::{Failure, Outcome, interruptible_training};

/// `mesofield learn` on arrays: returns the report JSON (`DIR/report.json`).
#[pyfunction]
#[pyo3(signature = (samples, beads_per_cell, step_size, out, patterns=None, burn_in_steps=None, epochs=None, quick=false, generator=true, seed=0, resume=false, model=None))]
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
) -> PyResult<String> {
    let (mut clean, _) = read_patterns(samples, "samples", true)?;
    let model = model_or_default(model);
    clean.model = Some(model.clone());
    let mut settings = if quick {
        LearnSettings::quick(beads_per_cell, step_size)
    } else {
        LearnSettings::new(beads_per_cell, step_size)
    };
    settings.patterns = patterns.unwrap_or(settings.patterns);
    if let Some(n) = burn_in_steps {
        settings.burn_in = BurnIn::Fixed(n);
    }
    settings.seed = seed;
    if let Some(e) = epochs {
        settings.generator_epochs = e;
    }
    if !generator {
        settings.generator = None;
    }
    settings.validate().map_err(|e| Failure::Input(format!("{e:#}")))?;
    let epochs = epochs.unwrap_or(if quick { QUICK_EPOCHS } else { LEARN_EPOCHS });
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
    spec_json: String,
    dir: PathBuf,
}

impl PyDenoiseOperator {
    fn with<T>(&self, f: impl FnOnce(&DenoiseOperator) -> T) -> PyResult<T> {
        let op = self.operator.lock().map_err(|_| Failure::Run("denoise operator poisoned".into()))?;
        Ok(f(&op))
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
        let spec_json = serde_json::to_string(&operator.spec).map_err(|e| Failure::Run(e.to_string()))?;
        Ok(PyDenoiseOperator { operator: Mutex::new(operator), spec_json, dir: path })
    }

    /// The checkpoint's `denoise.json` as JSON text.
    #[getter]
    fn spec_json(&self) -> String {
        self.spec_json.clone()
    }

    #[getter]
    fn model(&self) -> PyResult<PyChainModel> {
        self.with(|op| PyChainModel { inner: op.spec.model.clone() })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
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
        let truth = truth.map(|t| read_patterns(t, "truth", true)).transpose()?.map(|(p, _)| p);
        if let Some(t) = &truth
            && (t.n, t.mx, t.my) != (noisy.n, noisy.mx, noisy.my)
        {
            return Err(Failure::Input(format!(
                "truth holds {} patterns of {}x{}, noisy {} of {}x{}",
                t.n, t.mx, t.my, noisy.n, noisy.mx, noisy.my
            ))
            .into());
        }
        let op = self.operator.lock().map_err(|_| Failure::Run("denoise operator poisoned".into()))?;
        let model = op.spec.model.clone();
        let (n, mx, my) = (noisy.n, noisy.mx, noisy.my);
        let done = crate::run::interruptible(py, || -> Outcome<_> {
            denoise_loaded(&op, &noisy, &model, sigma, truth.as_ref()).map_err(|e| Failure::Input(format!("{e:#}")))
        })?;
        let report = serde_json::json!({"samples": done.patterns, "seconds": done.seconds,
                                         "solver": format!("operator:{}", self.dir.display())});
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
        let op = self.operator.lock().map_err(|_| Failure::Run("denoise operator poisoned".into()))?;
        let [mx, my] = op.spec.grid;
        let made = crate::run::interruptible(py, || -> Outcome<_> { Ok(generate(&op, count, steps, seed)) })?;
        Ok(to_numpy(py, &[count, mx, my], made.phi_a))
    }

    fn __repr__(&self) -> PyResult<String> {
        self.with(|op| {
            let s = &op.spec;
            format!(
                "DenoiseOperator({:?}, grid={}x{}, chi={}, sigma={:?})",
                self.dir.display().to_string(),
                s.grid[0],
                s.grid[1],
                s.chi.map_or("None".into(), |c| format!("{c:.4}")),
                s.sigma
            )
        })
    }
}
