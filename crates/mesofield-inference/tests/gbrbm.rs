//! The GB-RBMs with learned variance: the periodic convolution against a
//! direct sum and its adjoint, the free energy, p(h | v) and the posterior
//! mean against exact enumeration on tiny convolutional and dense models, the box's
//! symmetries, training that learns a family, a round trip and bad input.

use burn::module::Param;
use burn::prelude::*;
use mesofield_inference::gbrbm::{
    Connectivity, GBRBM_FORMAT, GbRbm, GbRbmConfig, GbRbmMeta, TrainedGbRbm, train_gbrbm, transformed,
};
use mesofield_physics::rng::StreamRng;

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
}

fn tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.iter().map(|&v| v as f32).collect::<Vec<_>>(), shape), device)
}

/// A convolutional RBM on an mx x my grid with the given filters [K][F][F].
fn conv_rbm(mx: usize, my: usize, filters: &[f64], k: usize, f: usize, c: &[f64], b: f64, sigma: f64) -> GbRbm {
    let device = Device::flex();
    GbRbm {
        weight: None,
        filters: Some(Param::from_tensor(tensor(filters, [k, 1, f, f], &device))),
        hidden_bias: Param::from_tensor(tensor(c, [k], &device)),
        ..biases_and_sigma(mx, my, b, sigma, &device)
    }
}

/// A model with the visible bias b and sigma set (ln sigma = ln 0.01 +
/// (ln 100) sigmoid(theta)), no weights and an empty hidden bias.
fn biases_and_sigma(mx: usize, my: usize, b: f64, sigma: f64, device: &Device) -> GbRbm {
    GbRbm {
        weight: None,
        filters: None,
        hidden_bias: Param::from_tensor(Tensor::zeros([0], device)),
        visible_bias: Param::from_tensor(tensor(&[b], [1], device)),
        sigma_logit: Param::from_tensor(tensor(&[logit((sigma / 0.01).ln() / 100f64.ln())], [1], device)),
        mx,
        my,
        log_sigma_min: (0.01f64).ln(),
        log_sigma_max: (1.0f64).ln(),
    }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StreamRng::new(seed, 0);
    (0..n).map(|_| rng.normal()).collect()
}

#[test]
fn the_periodic_convolution_is_a_circular_cross_correlation_and_down_is_its_adjoint() {
    let device = Device::flex();
    let (mx, my, k, f) = (6, 5, 2, 3);
    let w = random(k * f * f, 1);
    let rbm = conv_rbm(mx, my, &w, k, f, &[0.0; 2], 0.0, 1.0);
    let v = random(2 * mx * my, 2);
    let up = to_vec(rbm.up(tensor(&v, [2, mx * my], &device)));
    // Direct sum: (W_k * v)(x, y) = sum_{u, t} W_k(u, t) v(x + u, y + t), periodic.
    for s in 0..2 {
        for kk in 0..k {
            for x in 0..mx {
                for y in 0..my {
                    let mut direct = 0.0;
                    for u in 0..f {
                        for t in 0..f {
                            direct += w[(kk * f + u) * f + t] * v[s * mx * my + ((x + u) % mx) * my + (y + t) % my];
                        }
                    }
                    let got = up[s * k * mx * my + (kk * mx + x) * my + y];
                    assert!((got - direct).abs() < 1e-5, "up[{s}][{kk}][{x}][{y}] {got} vs {direct}");
                }
            }
        }
    }
    // <up(v), h> = <v, down(h)>.
    let h = random(2 * k * mx * my, 3);
    let down = to_vec(rbm.down(tensor(&h, [2, k * mx * my], &device)));
    let lhs: f64 = up.iter().zip(&h).map(|(a, b)| a * b).sum();
    let rhs: f64 = v.iter().zip(&down).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
}

/// All 2^H hidden states of a tiny model with weight matrix `wm`
/// ([visible][hidden]) and hidden biases `c`: -ln sum_h exp(-E(v, h)) and
/// the exact posterior mean of v given y, against the model's.
fn check_against_enumeration(rbm: GbRbm, wm: &[f64], c: &[f64], b: f64, sigma: f64, config: GbRbmConfig) {
    let device = Device::flex();
    assert!((rbm.sigma() - sigma).abs() < 1e-5, "sigma {} set as {sigma}", rbm.sigma());
    let (mx, my) = (rbm.mx, rbm.my);
    let m = mx * my;
    let hidden = c.len();
    assert_eq!(rbm.hidden_units(), hidden);
    let v = [0.5, -1.0, 0.3, 1.2];
    let s2 = sigma * sigma;
    let energy = |v: &[f64], h: &[f64]| {
        let quad: f64 = v.iter().map(|x| (x - b).powi(2)).sum::<f64>() / (2.0 * s2);
        let ch: f64 = h.iter().zip(c).map(|(x, c)| c * x).sum();
        let vwh: f64 = (0..m).map(|i| v[i] * (0..hidden).map(|j| wm[i * hidden + j] * h[j]).sum::<f64>()).sum();
        quad - ch - vwh / s2
    };
    let states: Vec<Vec<f64>> =
        (0..1 << hidden).map(|bits: usize| (0..hidden).map(|j| ((bits >> j) & 1) as f64).collect()).collect();
    let exact_f = -states.iter().map(|h| (-energy(&v, h)).exp()).sum::<f64>().ln();
    let got_f = to_vec(rbm.free_energy(tensor(&v, [1, m], &device)))[0];
    assert!((got_f - exact_f).abs() < 1e-4, "F {got_f} vs exact {exact_f}");
    // p(h_j = 1 | v) against the ratio of the two energies' weights.
    let p_h = to_vec(rbm.hidden_given(tensor(&v, [1, m], &device)));
    for j in 0..hidden {
        let (mut on, mut all) = (0.0, 0.0);
        for h in &states {
            let weight = (-energy(&v, h)).exp();
            all += weight;
            if h[j] == 1.0 {
                on += weight;
            }
        }
        assert!((p_h[j] - on / all).abs() < 1e-5, "p(h_{j} | v) {} vs exact {}", p_h[j], on / all);
    }

    // p(h | y) ~ exp(c.h + |mu_h|^2 / (2 sigma^2)) N(y; mu_h, (sigma^2 + s^2) I),
    // E[v | h, y] = (mu_h / sigma^2 + y / s^2) / (1 / sigma^2 + 1 / s^2).
    let (y, noise) = ([1.1, -0.7, 0.0, 0.9], 0.5);
    let n2 = noise * noise;
    let (mut z, mut exact) = (0.0, [0.0; 4]);
    for h in &states {
        let mu: Vec<f64> = (0..m).map(|i| b + (0..hidden).map(|j| wm[i * hidden + j] * h[j]).sum::<f64>()).collect();
        let log_w = h.iter().zip(c).map(|(x, c)| c * x).sum::<f64>()
            + mu.iter().map(|x| x * x).sum::<f64>() / (2.0 * s2)
            - (0..m).map(|i| (y[i] - mu[i]).powi(2)).sum::<f64>() / (2.0 * (s2 + n2));
        let weight = log_w.exp();
        z += weight;
        for i in 0..m {
            exact[i] += weight * (mu[i] / s2 + y[i] / n2) / (1.0 / s2 + 1.0 / n2);
        }
    }
    exact.iter_mut().for_each(|x| *x /= z);
    let meta =
        GbRbmMeta { format: GBRBM_FORMAT.into(), mx, my, mean: 0.0, std: 1.0, samples: 1, config, sigma_phi: sigma };
    let trained = TrainedGbRbm { rbm, meta, device };
    let estimate = trained.posterior_mean(&y, noise, 4000, 60, 3);
    for i in 0..m {
        assert!((estimate[i] - exact[i]).abs() < 0.02, "v_{i}: {} vs exact {}", estimate[i], exact[i]);
    }
    assert!((0..m).any(|i| (exact[i] - y[i]).abs() > 0.1), "the posterior mean must differ from the observation");
}

#[test]
fn the_convolutional_model_matches_exact_enumeration() {
    let (mx, my, k, f) = (2, 2, 1, 2);
    let w = [0.9, -0.6, 0.4, 0.7];
    let (c, b, sigma) = ([-0.3], 0.2, 0.6);
    let rbm = conv_rbm(mx, my, &w, k, f, &c, b, sigma);
    let m = mx * my;
    let hidden = k * m;
    // W as a matrix [visible][hidden]: hidden unit (x, y) sees v(x + u, y + t).
    let mut wm = vec![0.0; m * hidden];
    for x in 0..mx {
        for y in 0..my {
            for u in 0..f {
                for t in 0..f {
                    wm[(((x + u) % mx) * my + (y + t) % my) * hidden + x * my + y] += w[u * f + t];
                }
            }
        }
    }
    // One bias per filter, shared by its hidden map.
    check_against_enumeration(rbm, &wm, &[c[0]; 4], b, sigma, GbRbmConfig::new().with_filters(k).with_filter_size(f));
}

#[test]
fn the_dense_model_matches_exact_enumeration() {
    let device = Device::flex();
    let (mx, my, hidden) = (2, 2, 3);
    let wm = [0.8, -0.5, 0.1, 0.3, 0.6, -0.7, -0.4, 0.2, 0.9, 0.5, -0.3, 0.4];
    let (c, b, sigma): ([f64; 3], f64, f64) = ([-0.2, 0.3, 0.1], -0.1, 0.7);
    let rbm = GbRbm {
        weight: Some(Param::from_tensor(tensor(&wm, [mx * my, hidden], &device))),
        filters: None,
        hidden_bias: Param::from_tensor(tensor(&c, [hidden], &device)),
        ..biases_and_sigma(mx, my, b, sigma, &device)
    };
    let config = GbRbmConfig::new().with_connectivity(Connectivity::Dense).with_hidden(hidden);
    check_against_enumeration(rbm, &wm, &c, b, sigma, config);
}

#[test]
fn the_box_symmetries_are_eight_distinct_permutations() {
    let (mx, my) = (4, 4);
    let p: Vec<f64> = (0..16).map(|i| (i * i % 17) as f64).collect();
    let mut images = Vec::new();
    for s in 0..8 {
        let q = transformed(&p, mx, my, 1, 2, s);
        let (mut a, mut b) = (p.clone(), q.clone());
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        assert_eq!(a, b, "symmetry {s} is not a permutation");
        images.push(q);
    }
    for i in 0..8 {
        for j in 0..i {
            assert_ne!(images[i], images[j], "symmetries {i} and {j} coincide");
        }
    }
    // Shifting by the grid's size is the identity.
    assert_eq!(transformed(&p, mx, my, 4, 4, 0), p);
}

/// Stripes of random phase and orientation (x or y).
fn stripes(n: usize, mx: usize, my: usize, seed: u64) -> Vec<f64> {
    let mut rng = StreamRng::new(seed, 0);
    let mut out = Vec::new();
    for _ in 0..n {
        let phase = rng.uniform() * std::f64::consts::TAU;
        let along_x = rng.uniform() < 0.5;
        for ix in 0..mx {
            for iy in 0..my {
                let t = if along_x { ix as f64 / mx as f64 } else { iy as f64 / my as f64 };
                out.push(0.5 + 0.4 * (2.0 * std::f64::consts::TAU * t + phase).sin());
            }
        }
    }
    out
}

#[test]
fn a_trained_convolutional_rbm_denoises_its_family_and_survives_a_round_trip() {
    let device = Device::flex();
    let (mx, my) = (8, 8);
    let train = stripes(6, mx, my, 1);
    let config = GbRbmConfig::new()
        .with_connectivity(Connectivity::Convolutional)
        .with_filters(8)
        .with_filter_size(4)
        .with_updates(400)
        .with_learning_rate(3e-3);
    // The variance is learned: it leaves its start, the bounds' geometric mean.
    let learned = train_gbrbm(&train, mx, my, &config, &device, &mut |_| {}).unwrap();
    let start = (config.sigma_min * config.sigma_max).sqrt();
    assert!((learned.rbm.sigma() / start).ln().abs() > 0.1, "sigma {} did not move from {start}", learned.rbm.sigma());
    // Fixed at the patterns' spread, the prior denoises its family.
    let config = config.with_sigma_min(1.0).with_sigma_max(1.0);
    let rbm = train_gbrbm(&train, mx, my, &config, &device, &mut |_| {}).unwrap();
    assert!((rbm.rbm.sigma() - 1.0).abs() < 1e-6);
    let clean = stripes(4, mx, my, 2);
    let mut rng = StreamRng::new(5, 0);
    let sigma = 0.2;
    let noisy: Vec<f64> = clean.iter().map(|v| v + sigma * rng.normal()).collect();
    let err = |x: &[f64]| x.iter().zip(&clean).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    let posterior = rbm.posterior_mean(&noisy, sigma, 8, 100, 1);
    // Against the same prior after one update (its posterior mean is nearly
    // a shrinkage of y to the mean): training, not shrinkage, does the work.
    let untrained = train_gbrbm(&train, mx, my, &config.clone().with_updates(1), &device, &mut |_| {}).unwrap();
    let shrunk = untrained.posterior_mean(&noisy, sigma, 8, 100, 1);
    assert!(err(&posterior) < 0.8 * err(&noisy), "posterior {} vs noisy {}", err(&posterior), err(&noisy));
    assert!(err(&posterior) < 0.9 * err(&shrunk), "posterior {} vs untrained {}", err(&posterior), err(&shrunk));

    let dir = std::env::temp_dir().join(format!("mesofield-gbrbm-{}", std::process::id()));
    rbm.save(&dir).unwrap();
    let back = TrainedGbRbm::load(&dir, &device).unwrap();
    assert_eq!(back.meta, rbm.meta);
    assert_eq!(back.posterior_mean(&noisy, sigma, 8, 100, 1), posterior);
    std::fs::write(dir.join("gbrbm.json"), "{").unwrap();
    assert!(TrainedGbRbm::load(&dir, &device).unwrap_err().contains("not valid"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_training_input_is_refused_with_a_reason() {
    let device = Device::flex();
    let train = stripes(2, 8, 8, 1);
    let too_big = GbRbmConfig::new().with_filter_size(9);
    assert!(train_gbrbm(&train, 8, 8, &too_big, &device, &mut |_| {}).unwrap_err().contains("do not fit"));
    let bounds = GbRbmConfig::new().with_sigma_min(1.0).with_sigma_max(0.5);
    assert!(train_gbrbm(&train, 8, 8, &bounds, &device, &mut |_| {}).unwrap_err().contains("sigma_min"));
    assert!(train_gbrbm(&train[..10], 8, 8, &GbRbmConfig::new(), &device, &mut |_| {}).unwrap_err().contains("8x8"));
    let dense = GbRbmConfig::new().with_connectivity(Connectivity::Dense).with_hidden(0);
    assert!(train_gbrbm(&train, 8, 8, &dense, &device, &mut |_| {}).unwrap_err().contains("hidden"));
}
