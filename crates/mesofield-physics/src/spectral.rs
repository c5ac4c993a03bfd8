//! 2D real FFTs on the periodic grid, planned once and executed many times.
//!
//! Forward: a real-to-complex transform along y (contiguous rows), a transpose,
//! then complex transforms along x over all My/2+1 columns in one call. The
//! half spectrum is kept transposed, `[ky][kx]` (index `ky * mx + kx`), which is
//! the layout kernels are stored in. The inverse runs the same steps backwards.
//! Scratch is explicit (`SpectralScratch`) so hot loops never allocate.

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::grid::Grid;

pub type C64 = Complex<f64>;

pub struct SpectralPlan {
    grid: Grid,
    my_half: usize,
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    fft_x: Arc<dyn Fft<f64>>,
    ifft_x: Arc<dyn Fft<f64>>,
}

/// Per-thread buffers for one `SpectralPlan`.
pub struct SpectralScratch {
    row: Vec<f64>,
    rows: Vec<C64>,
    spectrum: Vec<C64>,
    r2c: Vec<C64>,
    c2r: Vec<C64>,
    fft: Vec<C64>,
}

impl SpectralPlan {
    pub fn new(grid: Grid) -> Self {
        let mut real_planner = RealFftPlanner::<f64>::new();
        let mut planner = FftPlanner::<f64>::new();
        SpectralPlan {
            grid,
            my_half: grid.my_half(),
            r2c: real_planner.plan_fft_forward(grid.my),
            c2r: real_planner.plan_fft_inverse(grid.my),
            fft_x: planner.plan_fft_forward(grid.mx),
            ifft_x: planner.plan_fft_inverse(grid.mx),
        }
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Length of a half spectrum, `(My/2+1) * Mx`.
    pub fn spectrum_len(&self) -> usize {
        self.my_half * self.grid.mx
    }

    pub fn scratch(&self) -> SpectralScratch {
        let fft_len = self.fft_x.get_inplace_scratch_len().max(self.ifft_x.get_inplace_scratch_len());
        SpectralScratch {
            row: vec![0.0; self.grid.my],
            rows: vec![C64::default(); self.spectrum_len()],
            spectrum: vec![C64::default(); self.spectrum_len()],
            r2c: self.r2c.make_scratch_vec(),
            c2r: self.c2r.make_scratch_vec(),
            fft: vec![C64::default(); fft_len],
        }
    }

    /// A real spectral multiplier in the transposed half-spectrum layout,
    /// `kernel[ky * mx + kx] = f(|q|^2) / (Mx My)`: the inverse transform's
    /// normalisation is folded in so `convolve` needs no extra pass.
    pub fn kernel(&self, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let norm = 1.0 / self.grid.points() as f64;
        let mut kernel = vec![0.0; self.spectrum_len()];
        for ky in 0..self.my_half {
            for kx in 0..self.grid.mx {
                kernel[ky * self.grid.mx + kx] = f(self.grid.q_squared(kx, ky)) * norm;
            }
        }
        kernel
    }

    /// Unnormalised forward transform of `input` into `scratch`'s spectrum.
    pub fn forward_into_scratch(&self, scratch: &mut SpectralScratch, input: &[f64]) {
        let (mx, my, myh) = (self.grid.mx, self.grid.my, self.my_half);
        debug_assert_eq!(input.len(), mx * my);
        for ix in 0..mx {
            scratch.row.copy_from_slice(&input[ix * my..(ix + 1) * my]);
            self.r2c
                .process_with_scratch(&mut scratch.row, &mut scratch.rows[ix * myh..(ix + 1) * myh], &mut scratch.r2c)
                .expect("buffer lengths fixed by the plan");
        }
        for ix in 0..mx {
            for ky in 0..myh {
                scratch.spectrum[ky * mx + ix] = scratch.rows[ix * myh + ky];
            }
        }
        self.fft_x.process_with_scratch(&mut scratch.spectrum, &mut scratch.fft);
    }

    /// Inverse of `forward_into_scratch` (unnormalised) from `scratch`'s spectrum into `out`.
    pub fn inverse_from_scratch(&self, scratch: &mut SpectralScratch, out: &mut [f64]) {
        let (mx, my, myh) = (self.grid.mx, self.grid.my, self.my_half);
        debug_assert_eq!(out.len(), mx * my);
        self.ifft_x.process_with_scratch(&mut scratch.spectrum, &mut scratch.fft);
        for ky in 0..myh {
            for ix in 0..mx {
                scratch.rows[ix * myh + ky] = scratch.spectrum[ky * mx + ix];
            }
        }
        let nyquist = if my % 2 == 0 { Some(myh - 1) } else { None };
        for ix in 0..mx {
            let row = &mut scratch.rows[ix * myh..(ix + 1) * myh];
            // Exactly real in exact arithmetic; round-off would make realfft refuse.
            row[0].im = 0.0;
            if let Some(k) = nyquist {
                row[k].im = 0.0;
            }
            self.c2r
                .process_with_scratch(row, &mut out[ix * my..(ix + 1) * my], &mut scratch.c2r)
                .expect("buffer lengths fixed by the plan");
        }
    }

    /// `out = IFFT[scale * kernel * FFT[input]]`, a periodic convolution with a
    /// real, even kernel built by `kernel`.
    pub fn convolve(&self, scratch: &mut SpectralScratch, input: &[f64], kernel: &[f64], scale: f64, out: &mut [f64]) {
        self.forward_into_scratch(scratch, input);
        for (value, &k) in scratch.spectrum.iter_mut().zip(kernel) {
            *value *= k * scale;
        }
        self.inverse_from_scratch(scratch, out);
    }

    /// Forward transform into a caller's buffer (transposed half spectrum).
    pub fn forward(&self, scratch: &mut SpectralScratch, input: &[f64], spectrum: &mut [C64]) {
        self.forward_into_scratch(scratch, input);
        spectrum.copy_from_slice(&scratch.spectrum);
    }

    /// Inverse transform of a caller's spectrum, normalised so that
    /// `inverse(forward(x)) == x`.
    pub fn inverse(&self, scratch: &mut SpectralScratch, spectrum: &[C64], out: &mut [f64]) {
        let norm = 1.0 / self.grid.points() as f64;
        for (dst, src) in scratch.spectrum.iter_mut().zip(spectrum) {
            *dst = src * norm;
        }
        self.inverse_from_scratch(scratch, out);
    }

    /// `values <- IFFT[multiplier * FFT[values]]` with a real multiplier per
    /// mode of the half spectrum (transposed layout, not normalised: the
    /// inverse transform normalises), e.g. a linear response S(q) applied to a
    /// field. `spectrum` is the caller's buffer of `spectrum_len()` entries.
    pub fn apply_multiplier(
        &self,
        scratch: &mut SpectralScratch,
        spectrum: &mut [C64],
        values: &mut [f64],
        multiplier: &[f64],
    ) {
        self.forward(scratch, values, spectrum);
        for (v, &p) in spectrum.iter_mut().zip(multiplier) {
            *v *= p;
        }
        self.inverse(scratch, spectrum, values);
    }

    /// |q|^2 of every half-spectrum entry, in the transposed layout.
    pub fn q_squared_table(&self) -> Vec<f64> {
        let mut table = vec![0.0; self.spectrum_len()];
        for ky in 0..self.my_half {
            for kx in 0..self.grid.mx {
                table[ky * self.grid.mx + kx] = self.grid.q_squared(kx, ky);
            }
        }
        table
    }
}
