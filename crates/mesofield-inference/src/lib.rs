//! mesofield-inference: the field theory as a prior for observed patterns.
//! Denoising by minimising the action plus a data term over the exchange
//! field (the data term's gradient by linear response on the exact path, by
//! Burn autodiff through a trained operator), and the baselines it is
//! measured against. Loops are written against the physics crate's
//! `FieldSolver` seam, so `--solver` swaps the operator in.

pub mod baselines;
pub mod denoise;
pub mod gbrbm;
pub mod gradient;
pub mod noise;

/// ||x - truth|| / ||truth - mean(truth)||: the error that a density near its
/// mean cannot flatter.
pub fn contrast_relative_error(x: &[f64], truth: &[f64]) -> f64 {
    let mean = mesofield_physics::stats::mean(truth);
    let err = x.iter().zip(truth).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    let spread = truth.iter().map(|b| (b - mean).powi(2)).sum::<f64>();
    (err / spread).sqrt()
}
