//! GELU and erf on the CPU backend (Flex, with mesofield's vectorisable
//! f32 erf, vendor/README.md) against the float64 path, whose erf is libm's
//! double-precision one: values and the autodiff gradient over the range
//! FNO activations take, to float32 rounding.

use burn::prelude::*;

fn grid(n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64).collect()
}

fn f64_tensor(values: &[f64], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

fn f32_tensor(values: &[f64], device: &Device) -> Tensor<1> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [values.len()]), device)
}

fn as_f64(t: Tensor<1>) -> Vec<f64> {
    let data = t.into_data();
    match data.clone().try_to_vec::<f64>() {
        Ok(v) => v,
        Err(_) => data.try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect(),
    }
}

#[test]
fn erf_and_gelu_match_the_float64_path() {
    let device = Device::flex();
    let x = grid(20_001, -10.0, 10.0);
    let erf64 = as_f64(f64_tensor(&x, &device).erf());
    let erf32 = as_f64(f32_tensor(&x, &device).erf());
    let worst = erf64.iter().zip(&erf32).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-6, "erf f32 vs f64: {worst:e}");
    // Spot values of erf (Abramowitz and Stegun, table 7.1).
    for (v, e) in [(0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (2.0, 0.995_322_265_0)] {
        let got = as_f64(f32_tensor(&[v], &device).erf())[0];
        assert!((got - e).abs() < 1e-6, "erf({v}) = {got}, expected {e}");
    }
    let gelu64 = as_f64(burn::tensor::activation::gelu(f64_tensor(&x, &device)));
    let gelu32 = as_f64(burn::tensor::activation::gelu(f32_tensor(&x, &device)));
    for ((a, b), &xi) in gelu64.iter().zip(&gelu32).zip(&x) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + xi.abs()), "gelu({xi}): f32 {b} vs f64 {a}");
    }
}

#[test]
fn gelu_gradient_matches_the_float64_derivative() {
    let device = Device::flex().autodiff();
    let x = grid(4001, -8.0, 8.0);
    let t = f32_tensor(&x, &device).require_grad();
    let grads = burn::tensor::activation::gelu(t.clone()).sum().backward();
    let got = as_f64(t.grad(&grads).unwrap());
    // d/dx [x Phi(x)] = Phi(x) + x phi(x), Phi from the f64 erf.
    let plain = Device::flex();
    let erf = as_f64(f64_tensor(&x.iter().map(|v| v / 2f64.sqrt()).collect::<Vec<_>>(), &plain).erf());
    for ((&xi, &e), &g) in x.iter().zip(&erf).zip(&got) {
        let expected = 0.5 * (1.0 + e) + xi * (-0.5 * xi * xi).exp() / (2.0 * std::f64::consts::PI).sqrt();
        assert!((g - expected).abs() < 2e-6, "gelu'({xi}) = {g}, expected {expected}");
    }
}
