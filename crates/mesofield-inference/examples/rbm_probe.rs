//! Measures GB-RBM variants (issue 17) on L-FTS patterns: trains on the
//! pool runs' snapshots of a dataset made like `reproduce fig4`'s pool and
//! denoises the test runs' last snapshots by posterior inference.
//!
//! cargo run --release -p mesofield-inference --example rbm_probe -- POOL.safetensors \
//!     SIZE dense|conv UPDATES LR noise|persistent GIBBS [FILTERS SIZE | HIDDEN] [augment 0|1] [sparsity] [sigma|learn]

use std::time::Instant;

use burn::prelude::*;
use mesofield_inference::baselines::{estimate_noise_sigma, wiener};
use mesofield_inference::contrast_relative_error;
use mesofield_inference::gbrbm::{Connectivity, GbRbmConfig, Negatives, train_gbrbm};
use mesofield_inference::noise::add_noise;
use mesofield_physics::dataset::Dataset;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::stats::mean_std;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let data = Dataset::load(std::path::Path::new(&a[1])).expect("pool");
    let size: usize = a[2].parse().unwrap();
    let conv = a[3] == "conv";
    let updates: usize = a[4].parse().unwrap();
    let lr: f64 = a[5].parse().unwrap();
    let negatives = if a[6] == "noise" { Negatives::Noise } else { Negatives::Persistent };
    let gibbs: usize = a[7].parse().unwrap();
    let (p1, p2): (usize, usize) =
        (a.get(8).map_or(16, |s| s.parse().unwrap()), a.get(9).map_or(12, |s| s.parse().unwrap()));
    let augment = a.get(10).is_none_or(|s| s == "1");
    let sparsity: f64 = a.get(11).map_or(0.0, |s| s.parse().unwrap());
    // sigma fixed at this many pattern spreads, or learned in [0.05, 1].
    let fixed: Option<f64> = a.get(12).and_then(|s| s.parse().ok());
    let (mx, my) = (data.mx, data.my);
    let m = mx * my;
    let phi_a = |i: usize| data.phi[i * 2 * m..i * 2 * m + m].to_vec();
    // Runs 0-7 are the test runs, 8-17 the chi pairs, 18-37 the pool (fig4's
    // order). With SPLIT=validation the patterns scored are the chi-pair
    // runs' last snapshots (fig4's validation patterns) instead of the tests.
    let last = |r: i64| (0..data.len()).filter(|&i| data.run[i] == r).max_by_key(|&i| data.step[i]).unwrap();
    let first = if std::env::var("SPLIT").is_ok_and(|s| s == "validation") { 8 } else { 0 };
    let tests: Vec<usize> = (first..first + 8).map(last).collect();
    let mut pool: Vec<usize> = (0..data.len()).filter(|&i| data.run[i] >= 18).collect();
    pool.sort_by_key(|&i| (std::cmp::Reverse(data.step[i]), data.run[i]));
    let train: Vec<f64> = pool[..size].iter().flat_map(|&i| phi_a(i)).collect();
    let mut config = GbRbmConfig::new()
        .with_connectivity(if conv { Connectivity::Convolutional } else { Connectivity::Dense })
        .with_updates(updates)
        .with_learning_rate(lr)
        .with_negatives(negatives)
        .with_gibbs_steps(gibbs)
        .with_augment(augment)
        .with_sparsity(sparsity);
    if let Some(sigma) = fixed {
        config = config.with_sigma_min(sigma).with_sigma_max(sigma);
    }
    if conv {
        config = config.with_filters(p1).with_filter_size(p2);
    } else {
        config = config.with_hidden(p1);
    }
    let device = Device::default();
    let t0 = Instant::now();
    let rbm = train_gbrbm(&train, mx, my, &config, &device, &mut |_| {}).expect("train");
    let train_s = t0.elapsed().as_secs_f64();
    let [lx, ly] = data.meta.model.box_size;
    let plan = SpectralPlan::new(mesofield_physics::Grid::new(mx, my, lx, ly).expect("grid"));
    println!(
        "trained {size} patterns in {train_s:.1} s; sigma_v {:.4} (phi units; pattern std {:.4})",
        rbm.meta.sigma_phi, rbm.meta.std
    );
    let mut rng = StreamRng::new(5, 0);
    for level in [0.25, 0.5, 1.0] {
        let (mut e_noisy, mut e_w, mut e_post, mut e_mf) = (vec![], vec![], vec![], vec![]);
        let t1 = Instant::now();
        for &i in &tests {
            let clean = phi_a(i);
            let (y, _) = add_noise(&clean, level, 0.0, &mut rng);
            let s = estimate_noise_sigma(&plan, &y);
            e_noisy.push(contrast_relative_error(&y, &clean));
            e_w.push(contrast_relative_error(&wiener(&plan, &y, s), &clean));
            e_post.push(contrast_relative_error(&rbm.posterior_mean(&y, s, 8, 200, 1), &clean));
            e_mf.push(contrast_relative_error(&rbm.reconstruct(&y), &clean));
        }
        let per = t1.elapsed().as_secs_f64() / tests.len() as f64;
        let f = |v: &[f64]| {
            let (m, s) = mean_std(v);
            format!("{m:.4} +- {s:.4}")
        };
        println!(
            "noise {level}: noisy {} wiener {} posterior {} mean-field {} ({per:.2} s/pattern)",
            f(&e_noisy),
            f(&e_w),
            f(&e_post),
            f(&e_mf)
        );
    }
}
