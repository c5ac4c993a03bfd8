//! `ChainModel`: the AB diblock chain and its box (docs/model.md, "The system").

use pyo3::prelude::*;
use serde_json::json;

use mesofield_physics::ChainModel;

use crate::run::Failure;

/// AB diblock chain and its periodic box (docs/model.md, "The system"):
/// `beads` N, `a_beads` N_A (A beads first), segment lengths `segment_a`,
/// `segment_b` b (box units; or lattice stiffnesses `stiffness_a`,
/// `stiffness_b` k with `lattice_spacing` h, b = h sqrt(3/k), never both
/// for one block) and `box` (Lx, Ly) in box units. Anything not given is
/// the paper's system: 100 beads, 70 A, b = 0.2 sqrt(3/2.25), box 6.4 x 6.4.
/// `ChainModel.from_toml(path)` reads a model file, `to_toml()` writes one.
#[pyclass(name = "ChainModel", module = "mesofield", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyChainModel {
    pub inner: ChainModel,
}

#[pymethods]
impl PyChainModel {
    /// Built like a model file: segment lengths b (box units) or lattice
    /// stiffnesses k with their lattice spacing h (b = h sqrt(3/k)), never
    /// both for one block; anything not given is the paper's system.
    #[new]
    #[pyo3(signature = (beads=None, a_beads=None, segment_a=None, segment_b=None, r#box=None, stiffness_a=None, stiffness_b=None, lattice_spacing=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        beads: Option<usize>,
        a_beads: Option<usize>,
        segment_a: Option<f64>,
        segment_b: Option<f64>,
        r#box: Option<(f64, f64)>,
        stiffness_a: Option<f64>,
        stiffness_b: Option<f64>,
        lattice_spacing: Option<f64>,
    ) -> PyResult<Self> {
        let mut spec = serde_json::Map::new();
        let mut put = |key: &str, value: Option<serde_json::Value>| {
            if let Some(v) = value {
                spec.insert(key.to_string(), v);
            }
        };
        put("beads", beads.map(|v| json!(v)));
        put("a_beads", a_beads.map(|v| json!(v)));
        put("segment_a", segment_a.map(|v| json!(v)));
        put("segment_b", segment_b.map(|v| json!(v)));
        put("box", r#box.map(|(x, y)| json!([x, y])));
        put("stiffness_a", stiffness_a.map(|v| json!(v)));
        put("stiffness_b", stiffness_b.map(|v| json!(v)));
        put("lattice_spacing", lattice_spacing.map(|v| json!(v)));
        // Non-finite numbers have no JSON form: refuse them by name here.
        for (name, v) in [
            ("segment_a", segment_a),
            ("segment_b", segment_b),
            ("stiffness_a", stiffness_a),
            ("stiffness_b", stiffness_b),
            ("lattice_spacing", lattice_spacing),
            ("box[0]", r#box.map(|b| b.0)),
            ("box[1]", r#box.map(|b| b.1)),
        ] {
            if let Some(v) = v
                && !v.is_finite()
            {
                return Err(Failure::Input(format!("invalid model: {name} must be finite, got {v}")).into());
            }
        }
        let inner = ChainModel::from_json_value(&serde_json::Value::Object(spec)).map_err(Failure::from)?;
        Ok(PyChainModel { inner })
    }

    /// The model of a TOML model file (the CLI's `--model`).
    #[staticmethod]
    fn from_toml(path: std::path::PathBuf) -> PyResult<Self> {
        let inner = ChainModel::from_toml_file(&path).map_err(|e| match e {
            mesofield_physics::ModelError::Io(m) => Failure::Io(m),
            other => Failure::Input(other.to_string()),
        })?;
        Ok(PyChainModel { inner })
    }

    /// N, beads per chain.
    #[getter]
    fn beads(&self) -> usize {
        self.inner.beads
    }
    /// N_A, the A beads (the first N_A of the chain).
    #[getter]
    fn a_beads(&self) -> usize {
        self.inner.a_beads
    }
    /// N_B = N - N_A.
    #[getter]
    fn b_beads(&self) -> usize {
        self.inner.b_beads()
    }
    /// b_A, the A segment length (box units).
    #[getter]
    fn segment_a(&self) -> f64 {
        self.inner.segment_a
    }
    /// b_B, the B segment length (box units).
    #[getter]
    fn segment_b(&self) -> f64 {
        self.inner.segment_b
    }
    /// (Lx, Ly), the box sides (box units).
    #[getter(r#box)]
    fn box_size(&self) -> (f64, f64) {
        (self.inner.box_size[0], self.inner.box_size[1])
    }
    /// f = N_A / N.
    #[getter]
    fn f_a(&self) -> f64 {
        self.inner.f_a()
    }

    /// The model as a TOML model file's text.
    fn to_toml(&self) -> String {
        self.inner.to_toml_string()
    }

    fn __repr__(&self) -> String {
        let m = &self.inner;
        format!(
            "ChainModel(beads={}, a_beads={}, segment_a={}, segment_b={}, box=({}, {}))",
            m.beads, m.a_beads, m.segment_a, m.segment_b, m.box_size[0], m.box_size[1]
        )
    }
}

/// The given model, else the paper's system.
pub fn model_or_default(model: Option<&Bound<'_, PyChainModel>>) -> ChainModel {
    model.map(|m| m.get().inner.clone()).unwrap_or_default()
}
