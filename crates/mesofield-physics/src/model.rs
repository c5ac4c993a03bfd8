//! Model parameters of docs/model.md: the AB diblock chain and the periodic box.
//!
//! The grid is not part of the model: it comes with the data (fields, datasets),
//! so one model file serves every resolution.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// The paper's lattice spacing h = 6.4 / 32, used to turn a lattice stiffness k
/// into a segment length b = h sqrt(3 / k) when a model file gives no
/// `lattice_spacing` of its own.
pub const PAPER_LATTICE_SPACING: f64 = 0.2;
/// The paper's bond stiffness in lattice units.
pub const PAPER_STIFFNESS: f64 = 2.25;

/// An AB diblock chain in a rectangular periodic box (docs/model.md, "The system").
///
/// Beads `0..a_beads` are A, the rest B. Segment lengths are in box units.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChainModel {
    pub beads: usize,
    pub a_beads: usize,
    pub segment_a: f64,
    pub segment_b: f64,
    #[serde(rename = "box")]
    pub box_size: [f64; 2],
}

/// What a model file may say: segment lengths, or lattice stiffnesses (with the
/// lattice spacing they refer to), never both for one block.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSpec {
    beads: Option<usize>,
    a_beads: Option<usize>,
    segment_a: Option<f64>,
    segment_b: Option<f64>,
    stiffness_a: Option<f64>,
    stiffness_b: Option<f64>,
    lattice_spacing: Option<f64>,
    #[serde(rename = "box")]
    box_size: Option<[f64; 2]>,
}

/// b = h sqrt(3 / k): the Gaussian bond whose variance matches the lattice
/// bond energy k |dr/h|^2 / 2 (docs/model.md).
pub fn segment_from_stiffness(stiffness: f64, lattice_spacing: f64) -> f64 {
    lattice_spacing * (3.0 / stiffness).sqrt()
}

impl Default for ChainModel {
    /// The paper's system: 100 beads, 70 A + 30 B, k = 2.25 at h = 0.2, box 6.4 x 6.4.
    fn default() -> Self {
        let b = segment_from_stiffness(PAPER_STIFFNESS, PAPER_LATTICE_SPACING);
        ChainModel { beads: 100, a_beads: 70, segment_a: b, segment_b: b, box_size: [6.4, 6.4] }
    }
}

impl ChainModel {
    /// PSCF's published check `hex_bead` (docs/model.md): 30 A + 70 B beads,
    /// b_A = b_B = 0.1, the rectangular cell of two hexagonally packed
    /// cylinders, solved on a 32 x 56 grid at chi = 0.2.
    pub fn pscf_hex_bead() -> Self {
        ChainModel { beads: 100, a_beads: 30, segment_a: 0.1, segment_b: 0.1, box_size: [1.69001931690, 2.92719932260] }
    }
}

impl<'de> Deserialize<'de> for ChainModel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spec = ModelSpec::deserialize(deserializer)?;
        ChainModel::from_spec(spec).map_err(serde::de::Error::custom)
    }
}

impl ChainModel {
    fn from_spec(spec: ModelSpec) -> Result<Self, ModelError> {
        let default = ChainModel::default();
        let h = spec.lattice_spacing.unwrap_or(PAPER_LATTICE_SPACING);
        if !(h.is_finite() && h > 0.0) {
            return Err(ModelError::Invalid(format!("lattice_spacing must be finite and > 0, got {h}")));
        }
        let pick = |segment: Option<f64>, stiffness: Option<f64>, block: &str| -> Result<f64, ModelError> {
            match (segment, stiffness) {
                (Some(_), Some(_)) => {
                    Err(ModelError::Invalid(format!("give segment_{block} or stiffness_{block}, not both")))
                }
                (Some(b), None) => Ok(b),
                (None, Some(k)) => {
                    if !(k.is_finite() && k > 0.0) {
                        return Err(ModelError::Invalid(format!("stiffness_{block} must be finite and > 0, got {k}")));
                    }
                    Ok(segment_from_stiffness(k, h))
                }
                (None, None) => Ok(default.segment_a),
            }
        };
        let model = ChainModel {
            beads: spec.beads.unwrap_or(default.beads),
            a_beads: spec.a_beads.unwrap_or(default.a_beads),
            segment_a: pick(spec.segment_a, spec.stiffness_a, "a")?,
            segment_b: pick(spec.segment_b, spec.stiffness_b, "b")?,
            box_size: spec.box_size.unwrap_or(default.box_size),
        };
        model.validate()?;
        Ok(model)
    }

    /// Checks every parameter; the error names the first offending one.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.beads < 2 {
            return Err(ModelError::Invalid(format!("beads must be >= 2, got {}", self.beads)));
        }
        if self.a_beads < 1 || self.a_beads > self.beads - 1 {
            return Err(ModelError::Invalid(format!(
                "a_beads must satisfy 1 <= a_beads <= beads - 1 = {}, got {}",
                self.beads - 1,
                self.a_beads
            )));
        }
        for (name, value) in [("segment_a", self.segment_a), ("segment_b", self.segment_b)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ModelError::Invalid(format!("{name} must be finite and > 0, got {value}")));
            }
        }
        for (axis, value) in ["Lx", "Ly"].iter().zip(self.box_size) {
            if !(value.is_finite() && value > 0.0) {
                return Err(ModelError::Invalid(format!("box side {axis} must be finite and > 0, got {value}")));
            }
        }
        Ok(())
    }

    pub fn b_beads(&self) -> usize {
        self.beads - self.a_beads
    }

    /// A-block fraction f = N_A / N.
    pub fn f_a(&self) -> f64 {
        self.a_beads as f64 / self.beads as f64
    }

    pub fn is_a(&self, bead: usize) -> bool {
        bead < self.a_beads
    }

    /// Parses a TOML model file; unknown keys and invalid values are errors.
    pub fn from_toml_str(text: &str) -> Result<Self, ModelError> {
        let spec: ModelSpec = toml::from_str(text).map_err(|e| ModelError::Parse(one_line(&e.to_string())))?;
        Self::from_spec(spec)
    }

    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ModelError::Io(format!("cannot read model file {}: {e}", path.display())))?;
        Self::from_toml_str(&text).map_err(|e| e.in_file(path))
    }

    /// Parses the JSON form stored in dataset metadata (same keys as TOML).
    pub fn from_json_value(value: &serde_json::Value) -> Result<Self, ModelError> {
        let spec: ModelSpec =
            serde_json::from_value(value.clone()).map_err(|e| ModelError::Parse(one_line(&e.to_string())))?;
        Self::from_spec(spec)
    }

    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("a ChainModel always serialises")
    }
}

/// toml errors span several lines with a source excerpt; the CLI prints one.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('|')).collect::<Vec<_>>().join(" ")
}
