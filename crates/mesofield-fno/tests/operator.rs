//! The FNO's spectral convolution against the naive float64 DFT, gradients
//! against finite differences, translation equivariance and the exact
//! constraints of the predicted densities.

use burn::module::Param;
use burn::prelude::*;
use mesofield_fno::dft::reference_spectral_conv;
use mesofield_fno::{FnoConfig, SpectralConv2d, densities};
use mesofield_physics::rng::StreamRng;

fn device() -> Device {
    Device::flex()
}

fn randn(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StreamRng::new(seed, 0);
    (0..n).map(|_| rng.normal()).collect()
}

fn tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
}

/// `[B, C, X, Y]` (reference layout) -> `[B, X, Y, C]` (model layout).
fn channels_last(v: &[f64], b: usize, c: usize, x: usize, y: usize) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    for ib in 0..b {
        for ic in 0..c {
            for ix in 0..x {
                for iy in 0..y {
                    out[((ib * x + ix) * y + iy) * c + ic] = v[((ib * c + ic) * x + ix) * y + iy];
                }
            }
        }
    }
    out
}

fn spectral_layer(c_in: usize, c_out: usize, kx: usize, ky: usize, seed: u64) -> (SpectralConv2d, Vec<f64>, Vec<f64>) {
    let modes = 2 * kx * ky;
    let w_re = randn(modes * c_in * c_out, seed);
    let w_im = randn(modes * c_in * c_out, seed + 1);
    // Reference layout [C_in, C_out, 2Kx, Ky]; model layout [2Kx*Ky, C_in, C_out].
    let to_model = |w: &[f64]| {
        let mut out = vec![0.0; w.len()];
        for i in 0..c_in {
            for o in 0..c_out {
                for m in 0..modes {
                    out[(m * c_in + i) * c_out + o] = w[(i * c_out + o) * modes + m];
                }
            }
        }
        out
    };
    let d = device();
    let layer = SpectralConv2d {
        weight_re: Param::from_tensor(tensor(&to_model(&w_re), [modes, c_in, c_out], &d)),
        weight_im: Param::from_tensor(tensor(&to_model(&w_im), [modes, c_in, c_out], &d)),
        modes_x: kx,
        modes_y: ky,
    };
    (layer, w_re, w_im)
}

#[test]
fn spectral_convolution_matches_the_naive_float64_dft() {
    // Odd and even mode counts, rectangular grids, and grids of exactly twice
    // the modes (the x Nyquist row is then a kept mode).
    for (b, c_in, c_out, mx, my, kx, ky) in
        [(2, 3, 2, 8, 8, 3, 3), (1, 2, 3, 12, 10, 4, 5), (2, 2, 2, 8, 6, 4, 3), (1, 1, 2, 10, 14, 2, 4)]
    {
        let (layer, w_re, w_im) = spectral_layer(c_in, c_out, kx, ky, 7 + mx as u64);
        let v = randn(b * c_in * mx * my, 3);
        let reference = reference_spectral_conv(&v, b, c_in, c_out, mx, my, kx, ky, &w_re, &w_im);
        let out = layer.forward(tensor(&channels_last(&v, b, c_in, mx, my), [b, mx, my, c_in], &device()));
        let got = to_vec(out);
        let want = channels_last(&reference, b, c_out, mx, my);
        let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let err = got.iter().zip(&want).fold(0.0f64, |a, (g, w)| a.max((g - w).abs()));
        assert!(err < 2e-5 * scale, "grid {mx}x{my} modes {kx}x{ky}: max error {err} (scale {scale})");
    }
}

#[test]
fn spectral_convolution_gradients_match_finite_differences() {
    // The layer is linear in its weights, so central differences are exact
    // up to float32 rounding.
    let (b, c, mx, my, kx, ky) = (1, 2, 8, 6, 2, 2);
    let (layer, _, _) = spectral_layer(c, c, kx, ky, 5);
    let d = device().autodiff();
    let layer_ad = SpectralConv2d {
        weight_re: Param::from_tensor(layer.weight_re.val().autodiff().require_grad()),
        weight_im: Param::from_tensor(layer.weight_im.val().autodiff().require_grad()),
        modes_x: kx,
        modes_y: ky,
    };
    let v = tensor(&randn(b * mx * my * c, 9), [b, mx, my, c], &d);
    let probe = tensor(&randn(b * mx * my * c, 10), [b, mx, my, c], &d);
    let loss = (layer_ad.forward(v.clone()) * probe.clone()).sum();
    let grads = loss.backward();
    let grad_re = to_vec(layer_ad.weight_re.val().grad(&grads).expect("gradient of weight_re"));
    let base = to_vec(layer.weight_re.val());
    let eval = |w: &[f64]| -> f64 {
        let l = SpectralConv2d {
            weight_re: Param::from_tensor(tensor(w, [2 * kx * ky, c, c], &device())),
            weight_im: Param::from_tensor(layer.weight_im.val()),
            modes_x: kx,
            modes_y: ky,
        };
        let v = v.clone().inner();
        to_vec((l.forward(v) * probe.clone().inner()).sum())[0]
    };
    for index in [0, 3, 7, 12, base.len() - 1] {
        let eps = 0.5;
        let (mut plus, mut minus) = (base.clone(), base.clone());
        plus[index] += eps;
        minus[index] -= eps;
        let fd = (eval(&plus) - eval(&minus)) / (2.0 * eps);
        assert!(
            (fd - grad_re[index]).abs() < 1e-3 * (1.0 + fd.abs()),
            "weight {index}: fd {fd} vs autodiff {}",
            grad_re[index]
        );
    }
}

#[test]
fn the_operator_is_translation_equivariant() {
    let config = FnoConfig::new().with_width(8).with_layers(2).with_modes_x(4).with_modes_y(4);
    let model = config.init(&device());
    let (b, mx, my) = (2, 16, 12);
    let x = randn(b * mx * my * 2, 4);
    let (sx, sy) = (5, 3);
    let index = |ib: usize, ix: usize, iy: usize, c: usize| ((ib * mx + ix) * my + iy) * 2 + c;
    let mut shifted = vec![0.0; x.len()];
    for ib in 0..b {
        for ix in 0..mx {
            for iy in 0..my {
                for c in 0..2 {
                    let (src, dst) = (index(ib, ix, iy, c), index(ib, (ix + sx) % mx, (iy + sy) % my, c));
                    shifted[dst] = x[src];
                }
            }
        }
    }
    let out = model.forward(tensor(&x, [b, mx, my, 2], &device()));
    let out_shifted = model.forward(tensor(&shifted, [b, mx, my, 2], &device()));
    let (a, s) = (to_vec(out.density_logits), to_vec(out_shifted.density_logits));
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for ib in 0..b {
        for ix in 0..mx {
            for iy in 0..my {
                for c in 0..2 {
                    let (src, dst) = (index(ib, ix, iy, c), index(ib, (ix + sx) % mx, (iy + sy) % my, c));
                    assert!((a[src] - s[dst]).abs() < 1e-5 * scale.max(1.0), "not equivariant at {ix},{iy}");
                }
            }
        }
    }
    let (lq, lq_s) = (to_vec(out.log_q.unwrap()), to_vec(out_shifted.log_q.unwrap()));
    assert!(lq.iter().zip(&lq_s).all(|(p, q)| (p - q).abs() < 1e-5 * (1.0 + p.abs())));
}

#[test]
fn predicted_densities_conserve_mass_and_are_non_negative() {
    let config = FnoConfig::new().with_width(8).with_layers(2).with_modes_x(4).with_modes_y(4);
    let model = config.init(&device());
    let (b, mx, my) = (3, 16, 16);
    // Large inputs push the logits far from zero.
    let x: Vec<f64> = randn(b * mx * my * 2, 8).into_iter().map(|v| 5.0 * v).collect();
    let logits = model.forward(tensor(&x, [b, mx, my, 2], &device())).density_logits;
    let f = 0.7;
    for log_density in [false, true] {
        // A large scale on top: exp must not overflow.
        let phi = to_vec(densities(logits.clone(), f, [30.0, 30.0], log_density));
        let m = mx * my;
        for ib in 0..b {
            let (mut sum_a, mut sum_b) = (0.0, 0.0);
            for p in 0..m {
                let (a, bb) = (phi[(ib * m + p) * 2], phi[(ib * m + p) * 2 + 1]);
                assert!(a.is_finite() && bb.is_finite() && a >= 0.0 && bb >= 0.0);
                sum_a += a;
                sum_b += bb;
            }
            assert!((sum_a / m as f64 - f).abs() < 1e-5, "mean phi_A {} (log {log_density})", sum_a / m as f64);
            assert!((sum_a / m as f64 + sum_b / m as f64 - 1.0).abs() < 1e-5);
        }
    }
}

#[test]
fn both_density_maps_agree_to_first_order_near_uniform() {
    // Same slope at a uniform density: a checkpoint's logit scale means the
    // same change of phi under either map.
    let (b, mx, my) = (2, 8, 8);
    let eps = 1e-3;
    let logits: Vec<f64> = randn(b * mx * my * 2, 3).into_iter().map(|v| eps * v).collect();
    let logits = tensor(&logits, [b, mx, my, 2], &device());
    let f = 0.7;
    let soft = to_vec(densities(logits.clone(), f, [1.0, 1.0], false));
    let exp = to_vec(densities(logits, f, [1.0, 1.0], true));
    let deviation: f64 = soft.iter().enumerate().map(|(i, p)| (p - if i % 2 == 0 { f } else { 1.0 - f }).abs()).sum();
    let difference: f64 = soft.iter().zip(&exp).map(|(s, e)| (s - e).abs()).sum();
    assert!(deviation > 1e-4, "the logits move phi: {deviation}");
    assert!(difference < 0.02 * deviation, "maps differ by {difference} for deviations {deviation}");
}
