//! Field-theoretic simulation: the Langevin step of W_- (`lfts`) and the
//! compressor that keeps W_+ at its partial saddle point (`compressor`).

pub mod compressor;
pub mod lfts;

pub use compressor::{Compressor, CompressorConfig, PartialSaddle, predicted_w_plus};
pub use lfts::{Integrator, Lfts, LftsConfig, LftsState, langevin_update};
