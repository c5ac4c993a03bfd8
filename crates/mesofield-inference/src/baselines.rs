//! The bars a physics recovery must clear: a Gaussian blur with its width
//! tuned on the clean original (an oracle no real method has), and a Wiener
//! filter built from the noisy pattern alone. Also the noise estimate that
//! denoising uses when sigma is not given.

use mesofield_physics::spectral::{C64, SpectralPlan};

use crate::contrast_relative_error;

/// Estimated standard deviation of white noise on `y`: the mean power of
/// the outer quarter of wave numbers (|q| >= 3/4 of the largest on the
/// grid), where a smooth pattern has little. Patterns with power there (L-FTS
/// fluctuations) make it an overestimate.
pub fn estimate_noise_sigma(plan: &SpectralPlan, y: &[f64]) -> f64 {
    let m = y.len() as f64;
    let spectrum = forward(plan, y);
    let q2 = plan.q_squared_table();
    let q2_max = q2.iter().fold(0.0f64, |a, &v| a.max(v));
    let (mut power, mut count) = (0.0f64, 0.0f64);
    for (c, &q) in spectrum.iter().zip(&q2) {
        if q >= 0.5625 * q2_max {
            power += c.norm_sqr() / m;
            count += 1.0;
        }
    }
    (power / count.max(1.0)).sqrt()
}

/// `y` filtered by exp(-|q|^2 l^2 / 2): a Gaussian blur of width `length` (box units).
pub fn gaussian_blur(plan: &SpectralPlan, y: &[f64], length: f64) -> Vec<f64> {
    let filter: Vec<f64> = plan.q_squared_table().iter().map(|q2| (-0.5 * q2 * length * length).exp()).collect();
    apply(plan, y, &filter)
}

/// The blur whose width minimises the error against `clean` (widths from a
/// hundredth of a grid cell to a quarter of the box, log-spaced): returns
/// the width and the recovery.
pub fn oracle_blur(plan: &SpectralPlan, y: &[f64], clean: &[f64]) -> (f64, Vec<f64>) {
    let grid = plan.grid();
    let (lo, hi) = (0.01 * (grid.lx / grid.mx as f64), 0.25 * grid.lx.max(grid.ly));
    let mut best = (f64::INFINITY, 0.0, Vec::new());
    let steps = 80;
    for k in 0..=steps {
        let length = lo * (hi / lo).powf(k as f64 / steps as f64);
        let x = gaussian_blur(plan, y, length);
        let e = contrast_relative_error(&x, clean);
        if e < best.0 {
            best = (e, length, x);
        }
    }
    (best.1, best.2)
}

/// Wiener filter from the noisy pattern alone: per |q| shell (one
/// fundamental wide) the pattern's power P_s = max(P_y - sigma^2, 0), and the
/// gain P_s / (P_s + sigma^2); the mean is kept.
pub fn wiener(plan: &SpectralPlan, y: &[f64], sigma: f64) -> Vec<f64> {
    let grid = *plan.grid();
    let m = y.len() as f64;
    let spectrum = forward(plan, y);
    let q2 = plan.q_squared_table();
    let dq = 2.0 * std::f64::consts::PI / grid.lx.max(grid.ly);
    let shell = |q2: f64| (q2.sqrt() / dq).round() as usize;
    let shells = q2.iter().map(|&v| shell(v)).max().unwrap_or(0) + 1;
    let (mut power, mut count) = (vec![0.0; shells], vec![0.0; shells]);
    for (c, &q) in spectrum.iter().zip(&q2) {
        power[shell(q)] += c.norm_sqr() / m;
        count[shell(q)] += 1.0;
    }
    let noise = sigma * sigma;
    let gain: Vec<f64> = (0..shells)
        .map(|s| {
            let p_y = power[s] / f64::max(count[s], 1.0);
            let p_s = (p_y - noise).max(0.0);
            if p_s + noise > 0.0 { p_s / (p_s + noise) } else { 1.0 }
        })
        .collect();
    let mut filter: Vec<f64> = q2.iter().map(|&q| gain[shell(q)]).collect();
    filter[0] = 1.0;
    apply(plan, y, &filter)
}

fn forward(plan: &SpectralPlan, y: &[f64]) -> Vec<C64> {
    let mut scratch = plan.scratch();
    let mut spectrum = vec![C64::default(); plan.spectrum_len()];
    plan.forward(&mut scratch, y, &mut spectrum);
    spectrum
}

fn apply(plan: &SpectralPlan, y: &[f64], filter: &[f64]) -> Vec<f64> {
    let mut spectrum = forward(plan, y);
    for (c, f) in spectrum.iter_mut().zip(filter) {
        *c *= *f;
    }
    let mut out = vec![0.0; y.len()];
    plan.inverse(&mut plan.scratch(), &spectrum, &mut out);
    out
}
