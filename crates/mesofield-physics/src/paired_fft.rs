//! Two real periodic convolutions for the price of one complex 2D FFT.
//!
//! The solver's forward step s and backward step N-1-s are independent, so
//! their inputs a and b travel together as z = a + i b. With Z = FFT[z],
//! A(k) = (Z(k) + Z*(-k)) / 2 and B(k) = (Z(k) - Z*(-k)) / 2i; for real, even
//! kernels g_a, g_b the packed result of both convolutions is
//!     R(k) = (g_a + g_b)/2 Z(k) + (g_a - g_b)/2 Z*(-k),
//! and IFFT[R] = conv(g_a, a) + i conv(g_b, b). Each complex transform is a
//! batch of length-My transforms along rows, a transpose, and a batch along x.
//! The realfft path in `spectral` stays the reference this is tested against.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::grid::Grid;

type C64 = Complex<f64>;

pub struct PairedPlan {
    mx: usize,
    my: usize,
    fft_y: Arc<dyn Fft<f64>>,
    ifft_y: Arc<dyn Fft<f64>>,
    fft_x: Arc<dyn Fft<f64>>,
    ifft_x: Arc<dyn Fft<f64>>,
    /// For each entry of the transposed spectrum `[ky][kx]`, the index of -k.
    negative: Vec<u32>,
}

pub struct PairedScratch {
    rows: Vec<C64>,
    columns: Vec<C64>,
    fft: Vec<C64>,
}

impl PairedPlan {
    pub fn new(grid: Grid) -> Self {
        let (mx, my) = (grid.mx, grid.my);
        let mut planner = FftPlanner::<f64>::new();
        let mut negative = vec![0u32; mx * my];
        for ky in 0..my {
            for kx in 0..mx {
                negative[ky * mx + kx] = (((my - ky) % my) * mx + (mx - kx) % mx) as u32;
            }
        }
        PairedPlan {
            mx,
            my,
            fft_y: planner.plan_fft_forward(my),
            ifft_y: planner.plan_fft_inverse(my),
            fft_x: planner.plan_fft_forward(mx),
            ifft_x: planner.plan_fft_inverse(mx),
            negative,
        }
    }

    pub fn scratch(&self) -> PairedScratch {
        let len = [&self.fft_y, &self.ifft_y, &self.fft_x, &self.ifft_x]
            .iter()
            .map(|f| f.get_inplace_scratch_len())
            .max()
            .unwrap_or(0);
        PairedScratch {
            rows: vec![C64::default(); self.mx * self.my],
            columns: vec![C64::default(); self.mx * self.my],
            fft: vec![C64::default(); len],
        }
    }

    /// A full-spectrum kernel in the transposed layout `[ky][kx]`,
    /// `f(|q|^2) / (Mx My)` (the inverse transform's normalisation folded in).
    pub fn kernel(&self, grid: &Grid, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let norm = 1.0 / (self.mx * self.my) as f64;
        let mut kernel = vec![0.0; self.mx * self.my];
        for ky in 0..self.my {
            for kx in 0..self.mx {
                kernel[ky * self.mx + kx] = f(grid.q_squared(kx, ky)) * norm;
            }
        }
        kernel
    }

    /// `out[i] = weight[i] * conv(kernel[i], scale[i] * input[i])` for the
    /// two inputs, returning max |out[i]| of each.
    pub fn convolve_pair(
        &self,
        s: &mut PairedScratch,
        input: [&[f64]; 2],
        scale: [f64; 2],
        kernel: [&[f64]; 2],
        weight: [&[f64]; 2],
        out: [&mut [f64]; 2],
    ) -> (f64, f64) {
        let (mx, my) = (self.mx, self.my);
        for ((z, &x), &y) in s.rows.iter_mut().zip(input[0]).zip(input[1]) {
            *z = C64::new(x * scale[0], y * scale[1]);
        }
        self.fft_y.process_with_scratch(&mut s.rows, &mut s.fft);
        transpose(&s.rows, &mut s.columns, mx, my);
        self.fft_x.process_with_scratch(&mut s.columns, &mut s.fft);
        // Combine into `rows` (used as a [ky][kx] buffer here).
        let (g_a, g_b) = (kernel[0], kernel[1]);
        if std::ptr::eq(g_a, g_b) {
            for ((r, z), &g) in s.rows.iter_mut().zip(&s.columns).zip(g_a) {
                *r = z * g;
            }
        } else {
            for (k, r) in s.rows.iter_mut().enumerate() {
                let z = s.columns[k];
                let zn = s.columns[self.negative[k] as usize].conj();
                let (ga, gb) = (g_a[k], g_b[k]);
                *r = z * (0.5 * (ga + gb)) + zn * (0.5 * (ga - gb));
            }
        }
        self.ifft_x.process_with_scratch(&mut s.rows, &mut s.fft);
        transpose(&s.rows, &mut s.columns, my, mx);
        self.ifft_y.process_with_scratch(&mut s.columns, &mut s.fft);
        // Unpack, weight and track the maxima in one pass; lanes and
        // compare-select keep it vectorisable (NaNs surface later in Q, phi).
        let [out_a, out_b] = out;
        let mut max = [0.0f64; 2];
        for ((((z, xa), xb), &wa), &wb) in
            s.columns.iter().zip(out_a.iter_mut()).zip(out_b.iter_mut()).zip(weight[0]).zip(weight[1])
        {
            let (a, b) = (z.re * wa, z.im * wb);
            *xa = a;
            *xb = b;
            max[0] = if a.abs() > max[0] { a.abs() } else { max[0] };
            max[1] = if b.abs() > max[1] { b.abs() } else { max[1] };
        }
        (max[0], max[1])
    }
}

/// `dst[j][i] = src[i][j]` for `src` of `rows` x `cols`, in 4 x 4 tiles so
/// both sides stay in cache lines.
fn transpose(src: &[C64], dst: &mut [C64], rows: usize, cols: usize) {
    assert!(src.len() == rows * cols && dst.len() == rows * cols);
    const TILE: usize = 4;
    if rows % TILE == 0 && cols % TILE == 0 {
        for i0 in (0..rows).step_by(TILE) {
            for j0 in (0..cols).step_by(TILE) {
                for di in 0..TILE {
                    let row = &src[(i0 + di) * cols + j0..(i0 + di) * cols + j0 + TILE];
                    for (dj, &v) in row.iter().enumerate() {
                        dst[(j0 + dj) * rows + i0 + di] = v;
                    }
                }
            }
        }
    } else {
        for i in 0..rows {
            for j in 0..cols {
                dst[j * rows + i] = src[i * cols + j];
            }
        }
    }
}
