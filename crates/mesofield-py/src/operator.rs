//! Trained operators (`Operator.load`, `.predict`) and the files mesofield
//! writes (`load_dataset`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use numpy::PyArrayDyn;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use mesofield_experiments::Backend;
use mesofield_experiments::roles::SolverSource;
use mesofield_experiments::roles::density::operator_gradient;
use mesofield_fno::{Checkpoint, FnoOperator, OperatorKind};
use mesofield_inference::gradient::{DataGradient, LinearResponse};
use mesofield_physics::io::FieldFile;
use mesofield_physics::solver_set::Density;
use mesofield_physics::{ChainModel, ExactSolver, Grid, SolverSet};

use crate::arrays::{field_shape, read_f64, to_numpy};
use crate::model::PyChainModel;
use crate::run::{Failure, Outcome, interruptible};

/// A trained operator: a checkpoint folder of `mesofield train` (a density
/// operator, w -> (phi, ln Q), or a pressure or inverse operator), loaded
/// once with `Operator.load(path, device="cpu")`; the network for a grid is
/// built on first use and kept for the next call on that grid. Pass it as
/// `operator=` to `sample`, `invert`, `infer_chi` and `denoise` (the exact
/// solver still checks every result), or call `predict` directly.
#[pyclass(name = "Operator", module = "mesofield", frozen)]
pub struct PyOperator {
    pub dir: PathBuf,
    backend: Backend,
    kind: OperatorKind,
    model: ChainModel,
    predicts_log_q: bool,
    cache: Mutex<Option<Arc<FnoOperator>>>,
}

impl PyOperator {
    /// The operator for fields on `grid` of `model`, refusing another
    /// chain model or box, another kind, or a grid too coarse for its modes.
    pub fn for_grid(&self, model: &ChainModel, grid: &Grid) -> PyResult<Arc<FnoOperator>> {
        if &self.model != model {
            return Err(Failure::Input(format!(
                "operator {}: trained for another chain model or box than this call's",
                self.dir.display()
            ))
            .into());
        }
        let mut cache = self.cache.lock().map_err(|_| Failure::Run("operator cache poisoned".into()))?;
        if let Some(op) = cache.as_ref()
            && op.grid == *grid
        {
            return Ok(op.clone());
        }
        let device = self.backend.device().map_err(|e| Failure::Input(format!("{e:#}")))?;
        let op = FnoOperator::load(&self.dir, grid.mx, grid.my, &device).map_err(|e| Failure::Input(e.to_string()))?;
        let op = Arc::new(op);
        *cache = Some(op.clone());
        Ok(op)
    }
}

/// The solvers of a Python call: the exact solver, with a loaded
/// `Operator` in the density role (resolved once, never reloaded from its
/// path), and its autodiff gradient for denoising.
pub struct Loaded<'a> {
    pub operator: Option<&'a PyOperator>,
}

impl SolverSource for Loaded<'_> {
    fn solvers(&self, model: &ChainModel, grid: &Grid) -> anyhow::Result<SolverSet> {
        let set = SolverSet::exact(ExactSolver::new(model, *grid)?);
        let Some(op) = self.operator else { return Ok(set) };
        let fno: Arc<FnoOperator> = op.for_grid(model, grid).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(set.with::<Density>(fno, self.label())?)
    }
    fn gradient(&self, model: &ChainModel, grid: &Grid) -> anyhow::Result<Box<dyn DataGradient>> {
        Ok(match self.operator {
            Some(op) => Box::new(operator_gradient(&op.dir, op.backend, model, grid)?),
            None => Box::new(LinearResponse::new(model, *grid)),
        })
    }
    fn label(&self) -> String {
        match self.operator {
            Some(op) => format!("operator:{}", op.dir.display()),
            None => "exact".into(),
        }
    }
}

#[pymethods]
impl PyOperator {
    /// Loads a checkpoint folder (as written by `mesofield train`).
    /// `device`: "cpu" (Burn's Flex backend) or "wgpu" (a GPU, in a build
    /// with the `wgpu` feature). OSError if the folder is missing,
    /// ValueError if it is not a checkpoint mesofield can read.
    #[staticmethod]
    #[pyo3(signature = (path, device="cpu"))]
    fn load(path: PathBuf, device: &str) -> PyResult<Self> {
        if !path.exists() {
            return Err(Failure::Io(format!("{}: no such checkpoint folder", path.display())).into());
        }
        let backend: Backend = device.parse().map_err(|e: anyhow::Error| Failure::Input(e.to_string()))?;
        let dev = backend.device().map_err(|e| Failure::Input(format!("{e:#}")))?;
        let ckpt = Checkpoint::load(&path, &dev)
            .map_err(|e| if path.exists() { Failure::Input(e.to_string()) } else { Failure::Io(e.to_string()) })?;
        Ok(PyOperator {
            dir: path,
            backend,
            kind: ckpt.kind,
            model: ckpt.normalization.model.clone(),
            predicts_log_q: ckpt.model.log_q_head.is_some(),
            cache: Mutex::new(None),
        })
    }

    /// "density", "pressure" or "inverse": the map the operator stands in for.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind.name()
    }
    /// The arrays the operator takes (e.g. ["w_A", "w_B"]).
    #[getter]
    fn inputs(&self) -> Vec<&'static str> {
        self.kind.inputs().to_vec()
    }
    /// The arrays it predicts.
    #[getter]
    fn outputs(&self) -> Vec<&'static str> {
        self.kind.outputs().to_vec()
    }
    /// How the gauge of its inputs is fixed (the fields' means are free).
    #[getter]
    fn gauge(&self) -> &'static str {
        self.kind.gauge()
    }
    /// The chain model and box it was trained for.
    #[getter]
    fn model(&self) -> PyChainModel {
        PyChainModel { inner: self.model.clone() }
    }
    /// The checkpoint folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }
    /// The backend it runs on ("cpu" or "wgpu").
    #[getter]
    fn device(&self) -> String {
        self.backend.to_string()
    }

    /// Predicted (phi, log_q) for fields `w` as in `solve` (float64 out,
    /// float32 inside the network). log_q is NaN for an operator without
    /// a ln Q head. The fields are taken to be of the checkpoint's chain
    /// model and box; `model`, where given, is the one they come from, and
    /// another than the checkpoint's is refused (the network would answer
    /// for the wrong box). A grid below twice the network's modes is refused.
    #[pyo3(signature = (w, model=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        w: &Bound<'py, PyAny>,
        model: Option<&Bound<'py, PyChainModel>>,
    ) -> PyResult<(Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyAny>)> {
        if let Some(m) = model
            && m.get().inner != self.model
        {
            return Err(Failure::Input(format!(
                "operator {}: trained for another chain model or box than the fields' (model=)",
                self.dir.display()
            ))
            .into());
        }
        if self.kind != OperatorKind::Density {
            return Err(Failure::Input(format!(
                "operator {}: predict needs a {}, this is a {}",
                self.dir.display(),
                OperatorKind::Density.describe(),
                self.kind.describe()
            ))
            .into());
        }
        let input = read_f64(w, "w")?;
        let (n, mx, my, batched) = field_shape(&input.shape, "w")?;
        let grid = Grid::for_model(&self.model, mx, my).map_err(Failure::from)?;
        let op = self.for_grid(&self.model, &grid)?;
        let (phi, log_q) = interruptible(py, || -> Outcome<_> { Ok(op.predict(&input.data)) })?;
        let phi = to_numpy(py, &input.shape, phi);
        let log_q = if batched { to_numpy(py, &[n], log_q).into_any() } else { log_q[0].into_pyobject(py)?.into_any() };
        Ok((phi, log_q))
    }

    /// Writes the weights, config and normalisation for PyTorch as one
    /// safetensors file (PyTorch's layout; `mesofield.torch`
    /// loads it into a torch module with the same predictions).
    fn export(&self, path: PathBuf) -> PyResult<()> {
        let device = self.backend.device().map_err(|e| Failure::Input(format!("{e:#}")))?;
        let ckpt = Checkpoint::load(&self.dir, &device).map_err(|e| Failure::Io(e.to_string()))?;
        mesofield_fno::export::export_torch(&ckpt, &path).map_err(|e| Failure::Io(e.to_string()))?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "Operator({:?}, kind={:?}, device={:?}{})",
            self.dir.display().to_string(),
            self.kind.name(),
            self.backend.to_string(),
            if self.predicts_log_q { "" } else { ", no ln Q head" }
        )
    }
}

/// Every tensor of a safetensors file mesofield wrote (dataset, solve or
/// SCFT output, run snapshot) as float64 arrays, and its metadata JSON.
#[pyfunction]
pub fn load_dataset<'py>(py: Python<'py>, path: PathBuf) -> PyResult<(Bound<'py, PyDict>, Option<String>)> {
    let file = FieldFile::open(&path).map_err(|e| match e {
        mesofield_physics::Error::Io(m) => Failure::Io(m),
        other => Failure::from(other),
    })?;
    let arrays = PyDict::new(py);
    for name in file.names() {
        let (shape, data) = file.f64_tensor(&name).map_err(Failure::from)?;
        arrays.set_item(&name, to_numpy(py, &shape, data))?;
    }
    let meta = file.metadata().map_err(Failure::from)?.map(|m| m.to_string());
    Ok((arrays, meta))
}
