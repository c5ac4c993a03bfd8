//! The periodic rectangular grid: Mx x My points on an Lx x Ly box, stored
//! row-major with the first index along x (`ix * my + iy`).

use crate::error::{Error, Result};
use crate::model::ChainModel;

/// Largest grid side accepted; a guard against typos that would allocate
/// gigabytes, not a limit of the FFT (rustfft handles any length).
pub const MAX_GRID_SIDE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    pub mx: usize,
    pub my: usize,
    pub lx: f64,
    pub ly: f64,
}

impl Grid {
    pub fn new(mx: usize, my: usize, lx: f64, ly: f64) -> Result<Self> {
        for (axis, m) in [("Mx", mx), ("My", my)] {
            if !(2..=MAX_GRID_SIDE).contains(&m) {
                return Err(Error::Grid(format!("{axis} = {m} must be between 2 and {MAX_GRID_SIDE}")));
            }
        }
        for (axis, l) in [("Lx", lx), ("Ly", ly)] {
            if !(l.is_finite() && l > 0.0) {
                return Err(Error::Grid(format!("box side {axis} = {l} must be finite and > 0")));
            }
        }
        Ok(Grid { mx, my, lx, ly })
    }

    /// The grid of `model`'s box with Mx x My points.
    pub fn for_model(model: &ChainModel, mx: usize, my: usize) -> Result<Self> {
        Grid::new(mx, my, model.box_size[0], model.box_size[1])
    }

    /// Parses "32x32" (also "32X32", "32,32").
    pub fn parse_size(text: &str) -> Result<(usize, usize)> {
        let parts: Vec<&str> = text.split(['x', 'X', ',']).map(str::trim).collect();
        let bad = || Error::Grid(format!("cannot parse grid size {text:?}, expected MXxMY such as 32x32"));
        if parts.len() != 2 {
            return Err(bad());
        }
        let mx = parts[0].parse().map_err(|_| bad())?;
        let my = parts[1].parse().map_err(|_| bad())?;
        Ok((mx, my))
    }

    pub fn points(&self) -> usize {
        self.mx * self.my
    }

    pub fn hx(&self) -> f64 {
        self.lx / self.mx as f64
    }

    pub fn hy(&self) -> f64 {
        self.ly / self.my as f64
    }

    /// Columns of the real-to-complex transform along y.
    pub fn my_half(&self) -> usize {
        self.my / 2 + 1
    }

    /// Signed wave index n in [-M/2, M/2) for FFT bin k (docs/model.md's convention).
    pub fn wave_index(k: usize, m: usize) -> i64 {
        if 2 * k < m { k as i64 } else { k as i64 - m as i64 }
    }

    /// |q|^2 of FFT bin (kx, ky), q = (2 pi n_x / Lx, 2 pi n_y / Ly).
    pub fn q_squared(&self, kx: usize, ky: usize) -> f64 {
        let qx = 2.0 * std::f64::consts::PI * Self::wave_index(kx, self.mx) as f64 / self.lx;
        let qy = 2.0 * std::f64::consts::PI * Self::wave_index(ky, self.my) as f64 / self.ly;
        qx * qx + qy * qy
    }

    pub fn x(&self, ix: usize) -> f64 {
        ix as f64 * self.hx()
    }

    pub fn y(&self, iy: usize) -> f64 {
        iy as f64 * self.hy()
    }
}
