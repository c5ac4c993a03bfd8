//! mesofield-fno: a Fourier neural operator on Burn for the fields -> densities
//! map of mesofield-physics: model, data, training, checkpoints, and the
//! operator behind the physics crate's `FieldSolver` seam.

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod denoise;
pub mod dft;
pub mod evaluation;
// A density operator's weights for PyTorch (the Python package's mesofield.torch).
pub mod export;
pub mod model;
pub mod operator;
pub mod training;
pub mod vjp;

pub use checkpoint::{Checkpoint, CheckpointError, OperatorKind, OperatorSpec};
pub use config::TrainConfig;
pub use denoise::{DenoiseOperator, DenoiseSpec};
pub use model::{Fno, FnoConfig, FnoOutput, SpectralConv2d, densities};
pub use operator::FnoOperator;
pub use training::train;
