//! The noisy observations every method gets: Gaussian noise of a multiple of
//! the clean pattern's standard deviation, optionally salt and pepper.

use mesofield_physics::rng::StreamRng;
use mesofield_physics::stats::population_std;

/// `pattern` plus noise of `sigma_rel` times its standard deviation; a
/// fraction `salt_pepper` of points set to its minimum or maximum. Returns
/// the noisy pattern and the absolute noise standard deviation.
pub fn add_noise(pattern: &[f64], sigma_rel: f64, salt_pepper: f64, rng: &mut StreamRng) -> (Vec<f64>, f64) {
    let std = population_std(pattern);
    let (lo, hi) = pattern.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let amplitude = sigma_rel * std;
    let noisy = pattern
        .iter()
        .map(|&v| {
            let mut y = v + amplitude * rng.normal();
            if salt_pepper > 0.0 && rng.uniform() < salt_pepper {
                y = if rng.uniform() < 0.5 { lo } else { hi };
            }
            y
        })
        .collect();
    (noisy, amplitude)
}
