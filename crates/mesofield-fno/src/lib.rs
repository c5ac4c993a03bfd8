//! mesofield-fno: a Fourier neural operator on Burn for the fields -> densities
//! map of mesofield-physics.

pub mod dft;
pub mod model;

pub use model::{densities, Fno, FnoConfig, FnoOutput, SpectralConv2d};
