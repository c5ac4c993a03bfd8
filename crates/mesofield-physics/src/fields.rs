//! Field constructors: smooth Gaussian random fields and the initial states of
//! SCFT (random, lamellar, dots/cylinders on a lattice).
//!
//! Fields are stored as `[2][Mx*My]`, channel 0 = w_A, 1 = w_B. In exchange
//! and pressure form, w_A = W_+ - W_-, w_B = W_+ + W_-.

use crate::error::{Error, Result};
use crate::grid::Grid;
use crate::model::ChainModel;
use crate::rng::StreamRng;
use crate::spectral::{C64, SpectralPlan};
use crate::stats;

/// (W_-, W_+) -> (w_A, w_B) in place into `w`.
pub fn from_exchange_pressure(w_minus: &[f64], w_plus: &[f64], w: &mut [f64]) {
    let m = w_minus.len();
    let (w_a, w_b) = w.split_at_mut(m);
    for i in 0..m {
        w_a[i] = w_plus[i] - w_minus[i];
        w_b[i] = w_plus[i] + w_minus[i];
    }
}

/// (w_A, w_B) -> (W_-, W_+).
pub fn to_exchange_pressure(w: &[f64], w_minus: &mut [f64], w_plus: &mut [f64]) {
    let m = w_minus.len();
    let (w_a, w_b) = w.split_at(m);
    for i in 0..m {
        w_minus[i] = 0.5 * (w_b[i] - w_a[i]);
        w_plus[i] = 0.5 * (w_a[i] + w_b[i]);
    }
}

/// A smooth, zero-mean Gaussian random field with unit sample standard
/// deviation and Gaussian correlation exp(-r^2 / (2 l^2)) of length
/// `correlation_length` (box units): white noise filtered by exp(-q^2 l^2 / 4).
pub fn gaussian_random_field(plan: &SpectralPlan, rng: &mut StreamRng, correlation_length: f64, out: &mut [f64]) {
    let mut scratch = plan.scratch();
    let mut spectrum = vec![C64::default(); plan.spectrum_len()];
    rng.fill_normal(out);
    plan.forward(&mut scratch, out, &mut spectrum);
    let l2 = correlation_length * correlation_length;
    for (value, q2) in spectrum.iter_mut().zip(plan.q_squared_table()) {
        *value *= (-0.25 * q2 * l2).exp();
    }
    spectrum[0] = C64::default();
    plan.inverse(&mut scratch, &spectrum, out);
    let (mean, std) = (stats::mean(out), stats::population_std(out));
    // A correlation length far beyond the box can leave only round-off.
    let scale = if std > 1e-300 { 1.0 / std } else { 0.0 };
    for v in out.iter_mut() {
        *v = (*v - mean) * scale;
    }
}

/// How an SCFT run starts.
#[derive(Clone, Debug, PartialEq)]
pub enum InitialField {
    /// The homogeneous melt plus white noise of this standard deviation in
    /// phi_A - phi_B (W_- = chi (phi_A - phi_B) / 2).
    Random { amplitude: f64 },
    /// Lamellae with this many periods along x.
    Lamellar { periods: usize },
    /// Minority dots (cylinders in 3D) on a hexagonal lattice: `nx` x `ny`
    /// centred rectangular cells, each holding two dots; a hexagonal lattice
    /// needs Ly / ny = sqrt(3) Lx / nx.
    Hex { nx: usize, ny: usize },
    /// Minority dots on a square (rectangular) lattice of `nx` x `ny` sites.
    Square { nx: usize, ny: usize },
}

impl InitialField {
    /// Parses `random[:AMP]`, `lamellar[:N]`, `hex:NX:NY` (alias `cylinders`),
    /// `square:NX:NY` (alias `dots`).
    /// Anything else is not a built-in (the caller may treat it as a file).
    pub fn parse(text: &str) -> Option<Result<Self>> {
        let parts: Vec<&str> = text.split(':').collect();
        let int = |s: &str| -> Result<usize> {
            match s.parse::<usize>() {
                Ok(v) if v >= 1 => Ok(v),
                _ => Err(Error::Parameter(format!("initial field {text:?}: {s:?} is not a positive integer"))),
            }
        };
        let parsed = match parts.as_slice() {
            ["random"] => Ok(InitialField::Random { amplitude: 0.1 }),
            ["random", amp] => match amp.parse::<f64>() {
                Ok(a) if a.is_finite() && a >= 0.0 => Ok(InitialField::Random { amplitude: a }),
                _ => Err(Error::Parameter(format!("initial field {text:?}: amplitude must be a finite number >= 0"))),
            },
            ["lamellar"] => Ok(InitialField::Lamellar { periods: 1 }),
            ["lamellar", n] => int(n).map(|periods| InitialField::Lamellar { periods }),
            ["hex" | "cylinders"] => Ok(InitialField::Hex { nx: 1, ny: 1 }),
            ["hex" | "cylinders", nx, ny] => int(nx).and_then(|nx| int(ny).map(|ny| InitialField::Hex { nx, ny })),
            ["square" | "dots"] => Ok(InitialField::Square { nx: 1, ny: 1 }),
            ["square" | "dots", nx, ny] => int(nx).and_then(|nx| int(ny).map(|ny| InitialField::Square { nx, ny })),
            [name, ..] if ["random", "lamellar", "hex", "cylinders", "square", "dots"].contains(name) => {
                Err(Error::Parameter(format!("cannot parse initial field {text:?}")))
            }
            _ => return None,
        };
        Some(parsed)
    }

    /// The starting fields `[2][Mx*My]` at `chi`: W_- = chi (phi_A - phi_B) / 2
    /// for a guessed composition, W_+ = 0.
    pub fn fields(&self, model: &ChainModel, grid: &Grid, chi: f64, rng: &mut StreamRng) -> Vec<f64> {
        let m = grid.points();
        let f = model.f_a();
        // +1 when A is the minority block (A-rich dots), -1 when B is.
        let minority_sign = if f <= 0.5 { 1.0 } else { -1.0 };
        let contrast = 0.6 * f.min(1.0 - f);
        let two_pi = 2.0 * std::f64::consts::PI;
        let mut w_minus = vec![0.5 * chi * (2.0 * f - 1.0); m];
        let profile = |x: f64, y: f64| -> f64 {
            match *self {
                InitialField::Random { .. } => 0.0,
                InitialField::Lamellar { periods } => (two_pi * periods as f64 * x / grid.lx).cos(),
                InitialField::Square { nx, ny } => {
                    0.5 * ((two_pi * nx as f64 * x / grid.lx).cos() + (two_pi * ny as f64 * y / grid.ly).cos())
                }
                InitialField::Hex { nx, ny } => {
                    let (ax, ay) = (grid.lx / nx as f64, grid.ly / ny as f64);
                    ((2.0 * two_pi * y / ay).cos() + 2.0 * (two_pi * x / ax).cos() * (two_pi * y / ay).cos()) / 3.0
                }
            }
        };
        for ix in 0..grid.mx {
            for iy in 0..grid.my {
                let delta = minority_sign * 2.0 * contrast * profile(grid.x(ix), grid.y(iy));
                w_minus[ix * grid.my + iy] += 0.5 * chi * delta;
            }
        }
        if let InitialField::Random { amplitude } = *self {
            for v in w_minus.iter_mut() {
                *v += 0.5 * chi * amplitude * rng.normal();
            }
        }
        let mut w = vec![0.0; 2 * m];
        from_exchange_pressure(&w_minus, &vec![0.0; m], &mut w);
        w
    }
}
