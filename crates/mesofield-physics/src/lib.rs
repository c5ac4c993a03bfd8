//! mesofield-physics: the microscopic model of MODEL.md and everything computed
//! from it without machine learning: the exact propagator solver, Debye
//! functions and the RPA spinodal, SCFT by Anderson mixing, initial and random
//! fields, and the (w, phi) dataset pipeline.

pub mod anderson;
pub mod assisted;
pub mod chi;
pub mod dataset;
pub mod debye;
pub mod dynamics;
pub mod error;
pub mod fields;
pub mod grid;
pub mod inverse;
pub mod io;
pub mod lfts;
pub mod model;
pub mod paired;
pub mod rng;
pub mod scft;
pub mod seam;
pub mod solver;
pub mod spectral;

pub use debye::{Debye, Spinodal, spinodal, spinodal_on_grid};
pub use error::{DomainError, Error, ModelError, Result};
pub use grid::Grid;
pub use model::ChainModel;
pub use seam::FieldSolver;
pub use solver::{ExactSolver, SolverWorkspace};
