//! mesofield-physics: the microscopic model of docs/model.md and everything computed
//! from it without machine learning: the exact propagator solver, Debye
//! functions and the RPA spinodal, SCFT by Anderson mixing (also assisted by a
//! trained operator), Langevin field-theoretic simulation (L-FTS), the inverse
//! map from densities back to fields, chi estimation from (w, phi) samples,
//! pattern dynamics, observables on densities (structure factor, order
//! parameter) with their statistics, initial and random fields, and the
//! (w, phi) dataset pipeline.

// Numerics: grid, FFTs, paired convolutions, Anderson mixing, GMRES,
// random streams, sample statistics.
pub mod anderson;
pub mod grid;
// Stopping a running loop from outside (Ctrl-C from Python).
pub mod interrupt;
pub mod krylov;
pub mod paired_fft;
pub mod rng;
pub mod spectral;
pub mod stats;

// The model: chain, Debye/RPA response, exact solver and its tangent map,
// the FieldSolver seam, field constructors, errors.
pub mod debye;
pub mod error;
pub mod fields;
pub mod model;
pub mod seam;
// Loaded solvers: the exact solver and operators by role.
pub mod solver;
pub mod solver_set;
pub mod tangent;

// The Hamiltonian and the residuals of its saddle-point conditions.
pub mod hamiltonian;

// Algorithm families, one folder each, written against the seam: SCFT
// (Anderson, the descent fallback, operator-assisted), field-theoretic
// simulation (Langevin step, compressor), the inverse map, chi estimation,
// dynamics.
pub mod chi;
pub mod dynamics;
pub mod fts;
pub mod inverse;
pub mod scft;

// Measurements on densities, and the trajectory driver with its analyzers.
pub mod observables;
pub mod trajectory;

// Data: datasets and file formats.
pub mod dataset;
pub mod io;
pub mod pscf;

pub use debye::{Debye, Spinodal, spinodal, spinodal_on_grid};
pub use error::{DomainError, Error, ModelError, Result};
pub use grid::Grid;
pub use model::ChainModel;
pub use seam::{FieldSolver, SolveCost, Solvers};
pub use solver::{ExactSolver, SolverWorkspace};
pub use solver_set::SolverSet;
