//! Truncated DFT matrices for the spectral convolution, and the naive float64
//! reference that both the matmul path and tests check against.
//!
//! Conventions (torch's `rfft2` with norm "backward"): the forward transform
//! is unnormalised, the inverse carries 1/(Mx My). Kept modes: along y the
//! real-FFT indices 0..modes_y, along x the signed indices 0..modes_x and
//! -modes_x..-1 (2 modes_x rows, in that order). The output of the truncated
//! operator is the real field
//!     out(x, y) = 1/(Mx My) sum_{kept kx, ky} c_ky Re[O(kx, ky) e^{+2 pi i (kx x/Mx + ky y/My)}]
//! with c_ky = 1 for ky = 0 (and the Nyquist column), 2 otherwise: the inverse
//! real FFT of the zero-padded half spectrum, Hermitian-symmetrised.

use std::f64::consts::PI;

/// Signed x wave indices kept: 0..modes_x then -modes_x..-1.
pub fn kept_x_modes(modes_x: usize) -> Vec<i64> {
    (0..modes_x as i64).chain(-(modes_x as i64)..0).collect()
}

/// Weight c_ky of a real-FFT column in the inverse transform.
pub fn column_weight(ky: usize, my: usize) -> f64 {
    if ky == 0 || (my % 2 == 0 && ky == my / 2) { 1.0 } else { 2.0 }
}

/// Row-major matrices (f64; the model converts to its float type).
#[derive(Clone, Debug)]
pub struct DftMatrices {
    pub mx: usize,
    pub my: usize,
    pub modes_x: usize,
    pub modes_y: usize,
    /// [My, Ky]: cos(2 pi ky y / My) and -sin(2 pi ky y / My): x @ these gives Re, Im of the y-rfft.
    pub fwd_y_cos: Vec<f64>,
    pub fwd_y_sin: Vec<f64>,
    /// [2 Kx, Mx]: cos(2 pi kx x / Mx) and sin(2 pi kx x / Mx) (forward uses e^{-i theta}).
    pub fwd_x_cos: Vec<f64>,
    pub fwd_x_sin: Vec<f64>,
    /// [Mx, 2 Kx]: cos and sin of +2 pi kx x / Mx (inverse uses e^{+i theta}).
    pub inv_x_cos: Vec<f64>,
    pub inv_x_sin: Vec<f64>,
    /// [Ky, My]: c_ky cos / (Mx My) and -c_ky sin / (Mx My): Re, Im rows to real output.
    pub inv_y_cos: Vec<f64>,
    pub inv_y_sin: Vec<f64>,
}

impl DftMatrices {
    pub fn new(mx: usize, my: usize, modes_x: usize, modes_y: usize) -> Self {
        let kx = kept_x_modes(modes_x);
        let ky_count = modes_y;
        let mut m = DftMatrices {
            mx,
            my,
            modes_x,
            modes_y,
            fwd_y_cos: vec![0.0; my * ky_count],
            fwd_y_sin: vec![0.0; my * ky_count],
            fwd_x_cos: vec![0.0; kx.len() * mx],
            fwd_x_sin: vec![0.0; kx.len() * mx],
            inv_x_cos: vec![0.0; mx * kx.len()],
            inv_x_sin: vec![0.0; mx * kx.len()],
            inv_y_cos: vec![0.0; ky_count * my],
            inv_y_sin: vec![0.0; ky_count * my],
        };
        let norm = 1.0 / (mx * my) as f64;
        for y in 0..my {
            for ky in 0..ky_count {
                // Reduce the phase exactly in integers before the float multiply.
                let theta = 2.0 * PI * ((ky * y) % my) as f64 / my as f64;
                m.fwd_y_cos[y * ky_count + ky] = theta.cos();
                m.fwd_y_sin[y * ky_count + ky] = -theta.sin();
                let c = column_weight(ky, my) * norm;
                m.inv_y_cos[ky * my + y] = c * theta.cos();
                m.inv_y_sin[ky * my + y] = -c * theta.sin();
            }
        }
        for (row, &k) in kx.iter().enumerate() {
            for x in 0..mx {
                let phase = (k * x as i64).rem_euclid(mx as i64) as f64;
                let theta = 2.0 * PI * phase / mx as f64;
                m.fwd_x_cos[row * mx + x] = theta.cos();
                m.fwd_x_sin[row * mx + x] = theta.sin();
                m.inv_x_cos[x * kx.len() + row] = theta.cos();
                m.inv_x_sin[x * kx.len() + row] = theta.sin();
            }
        }
        m
    }
}

/// Naive float64 spectral convolution, straight from the definition:
/// `v` [B, Cin, Mx, My], weights `w_re`, `w_im` [Cin, Cout, 2 Kx, Ky];
/// returns [B, Cout, Mx, My].
#[allow(clippy::too_many_arguments)]
pub fn reference_spectral_conv(
    v: &[f64],
    batch: usize,
    c_in: usize,
    c_out: usize,
    mx: usize,
    my: usize,
    modes_x: usize,
    modes_y: usize,
    w_re: &[f64],
    w_im: &[f64],
) -> Vec<f64> {
    let kx = kept_x_modes(modes_x);
    let nkx = kx.len();
    let mut out = vec![0.0; batch * c_out * mx * my];
    for b in 0..batch {
        // V(kx, ky) for every input channel by explicit sums.
        let mut spec = vec![(0.0, 0.0); c_in * nkx * modes_y];
        for i in 0..c_in {
            for (r, &k) in kx.iter().enumerate() {
                for ky in 0..modes_y {
                    let (mut re, mut im) = (0.0, 0.0);
                    for x in 0..mx {
                        for y in 0..my {
                            let theta = 2.0 * PI * (k as f64 * x as f64 / mx as f64 + ky as f64 * y as f64 / my as f64);
                            let val = v[((b * c_in + i) * mx + x) * my + y];
                            re += val * theta.cos();
                            im -= val * theta.sin();
                        }
                    }
                    spec[(i * nkx + r) * modes_y + ky] = (re, im);
                }
            }
        }
        for o in 0..c_out {
            for (r, &k) in kx.iter().enumerate() {
                for ky in 0..modes_y {
                    let (mut ore, mut oim) = (0.0, 0.0);
                    for i in 0..c_in {
                        let (vr, vi) = spec[(i * nkx + r) * modes_y + ky];
                        let widx = ((i * c_out + o) * nkx + r) * modes_y + ky;
                        ore += vr * w_re[widx] - vi * w_im[widx];
                        oim += vr * w_im[widx] + vi * w_re[widx];
                    }
                    let c = column_weight(ky, my) / (mx * my) as f64;
                    for x in 0..mx {
                        for y in 0..my {
                            let theta = 2.0 * PI * (k as f64 * x as f64 / mx as f64 + ky as f64 * y as f64 / my as f64);
                            out[((b * c_out + o) * mx + x) * my + y] += c * (ore * theta.cos() - oim * theta.sin());
                        }
                    }
                }
            }
        }
    }
    out
}
