//! mesofield-physics: the microscopic model of MODEL.md and everything computed
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
pub mod solver;
pub mod tangent;

// Loops written against the seam: SCFT, operator-assisted SCFT, L-FTS, the
// inverse map, chi estimation, dynamics.
pub mod assisted_scft;
pub mod chi;
pub mod dynamics;
pub mod inverse;
// Newton-Krylov and its starts for the inverse map where `inverse` slows.
mod inverse_newton;
pub mod lfts;
pub mod scft;
// The globally convergent fallback of `scft` (L-BFGS on H over W_-).
pub mod scft_descent;

// Measurements on densities.
pub mod observables;

// Data: datasets and file formats.
pub mod dataset;
pub mod io;

pub use debye::{Debye, Spinodal, spinodal, spinodal_on_grid};
pub use error::{DomainError, Error, ModelError, Result};
pub use grid::Grid;
pub use model::ChainModel;
pub use seam::{FieldSolver, Solvers};
pub use solver::{ExactSolver, SolverWorkspace};
