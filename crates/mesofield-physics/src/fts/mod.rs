//! Field-theoretic simulation: the Langevin step of W_- (`lfts`) and the
//! compressor that keeps W_+ at its partial saddle point (`compressor`),
//! with the pressure field's linear response in the current state (`response`).

pub mod compressor;
pub mod lfts;
pub mod response;

pub use compressor::{Compressor, CompressorConfig, LoopStart, PartialSaddle, PressureHistory, predicted_w_plus};
pub use lfts::{Integrator, Lfts, LftsConfig, LftsState, langevin_update};
