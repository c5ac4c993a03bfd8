//! Error types. Every message is one line and names what was wrong, so the
//! CLI can print it as it is.

use std::path::Path;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ModelError {
    #[error("invalid model: {0}")]
    Invalid(String),
    #[error("cannot parse model: {0}")]
    Parse(String),
    #[error("{0}")]
    Io(String),
}

impl ModelError {
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            ModelError::Invalid(m) => ModelError::Invalid(format!("{}: {m}", path.display())),
            ModelError::Parse(m) => ModelError::Parse(format!("{}: {m}", path.display())),
            other => other,
        }
    }
}

/// Why one sample's fields could not be solved.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DomainError {
    #[error("non-finite field value {value} at grid point ({ix}, {iy}) of channel {channel}")]
    NonFiniteField { channel: usize, ix: usize, iy: usize, value: f64 },
    #[error(
        "single-chain partition function Q = {q:e} <= 0: the fields are outside the model's domain \
         (too strong and rough for the band-limited bond kernel, see docs/model.md)"
    )]
    NonPositiveQ { q: f64 },
    #[error("non-finite result ({what}): the fields are outside the model's domain")]
    NonFiniteResult { what: &'static str },
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("invalid grid: {0}")]
    Grid(String),
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("sample {sample}: {cause}{}", more_failed(*more))]
    Domain { sample: usize, cause: DomainError, more: usize },
    #[error("invalid parameter: {0}")]
    Parameter(String),
    #[error("{0}")]
    Dataset(String),
    #[error("{0}")]
    Io(String),
    #[error("SCFT failed: {0}")]
    Scft(String),
    #[error("L-FTS failed: {0}")]
    Sampling(String),
    /// The solver's interrupt flag was set (`ExactSolver::with_interrupt`).
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn more_failed(more: usize) -> String {
    if more == 0 { String::new() } else { format!(" ({more} more samples failed)") }
}
