//! Measurements and their statistics: the structure factor against Parseval
//! and a cosine, its peak, sample and running means, the order parameter of
//! a known field; the spectral multiplier against a Laplacian; the block and
//! jackknife errors against hand computations and known series; standard
//! deviations and nearest-rank quantiles of known sets; the integrated
//! autocorrelation time of an AR(1) series against (1 + a) / (2 (1 - a)).

use std::f64::consts::PI;

use mesofield_physics::observables::{
    Peak, RunningStructureFactor, StructureFactor, mean_of, order_parameter, structure_factor,
};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::{C64, SpectralPlan};
use mesofield_physics::stats::{
    block_mean_error, integrated_time, jackknife_error, mean, mean_std, population_std, quantile,
    scalar_autocorrelation, std_dev, vector_autocorrelation,
};
use mesofield_physics::{ChainModel, Grid};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

/// phi_A = f + a cos(2 pi k x / Lx) + noise on a 32 x 24 grid.
fn cosine_pattern(seed: u64, k: f64, a: f64, noise: f64) -> (Grid, Vec<f64>) {
    let grid = Grid::for_model(&ChainModel::default(), 32, 24).unwrap();
    let mut phi_a = vec![0.0; grid.points()];
    let mut rng = StreamRng::new(seed, 0);
    for ix in 0..grid.mx {
        for iy in 0..grid.my {
            phi_a[ix * grid.my + iy] =
                0.7 + a * (2.0 * PI * k * ix as f64 / grid.mx as f64).cos() + noise * rng.normal();
        }
    }
    (grid, phi_a)
}

#[test]
fn structure_factor_obeys_parseval_and_peaks_at_a_cosine_wave_number() {
    let k = 3.0;
    let (grid, phi_a) = cosine_pattern(5, k, 0.2, 0.01);
    let plan = SpectralPlan::new(grid);
    let sq = structure_factor(&plan, &phi_a);
    let m = mean(&phi_a);
    let power: f64 = phi_a.iter().map(|v| (v - m).powi(2)).sum();
    let total: f64 = sq.s.iter().zip(&sq.modes).map(|(s, &n)| s * n as f64).sum();
    assert!((total / power - 1.0).abs() < 1e-10, "Parseval: {total} vs {power}");
    // Every wave vector but k = 0 is in one shell.
    assert_eq!(sq.modes.iter().sum::<usize>(), grid.points() - 1);
    let peak = sq.peak();
    let q_expected = 2.0 * PI * k / grid.lx;
    assert!((peak.q - q_expected).abs() < 0.5 * 2.0 * PI / grid.lx, "peak at {}", peak.q);
    let i = sq.q.iter().position(|&q| q == peak.q).unwrap();
    assert_eq!(peak.s, sq.s[i]);
    assert!(sq.s.iter().all(|&s| s <= peak.s));
}

#[test]
fn the_peak_is_the_largest_shell_the_last_on_ties_and_nan_when_empty() {
    let sq = StructureFactor { q: vec![1.0, 2.0, 3.0, 4.0], s: vec![0.5, 3.0, 3.0, 1.0], modes: vec![4, 8, 4, 8] };
    assert_eq!(sq.peak(), Peak { q: 3.0, s: 3.0 });
    let single = StructureFactor { q: vec![2.5], s: vec![0.1], modes: vec![4] };
    assert_eq!(single.peak(), Peak { q: 2.5, s: 0.1 });
    let empty = StructureFactor::default().peak();
    assert!(empty.q.is_nan() && empty.s.is_nan());
}

#[test]
fn mean_of_averages_s_and_refuses_empty_or_mismatched_lists() {
    let a = StructureFactor { q: vec![1.0, 2.0], s: vec![1.0, 4.0], modes: vec![4, 4] };
    let b = StructureFactor { q: vec![1.0, 2.0], s: vec![3.0, 0.0], modes: vec![4, 4] };
    let c = StructureFactor { q: vec![1.0, 2.0], s: vec![2.0, 2.0], modes: vec![4, 4] };
    let avg = mean_of(&[a.clone(), b.clone(), c]).unwrap();
    assert_eq!(avg.q, a.q);
    assert_eq!(avg.modes, a.modes);
    assert_eq!(avg.s, vec![2.0, 2.0]);
    assert_eq!(mean_of(std::slice::from_ref(&a)).unwrap(), a);
    assert!(mean_of(&[]).is_err());
    let other_grid = StructureFactor { q: vec![1.0, 2.0, 3.0], s: vec![1.0, 1.0, 1.0], modes: vec![4, 4, 8] };
    assert!(mean_of(&[a.clone(), other_grid]).is_err());
    let other_modes = StructureFactor { modes: vec![4, 8], ..b };
    assert!(mean_of(&[a, other_modes]).is_err());
}

#[test]
fn the_running_mean_of_two_steps_equals_their_mean() {
    let (grid, first) = cosine_pattern(1, 2.0, 0.1, 0.05);
    let (_, second) = cosine_pattern(2, 4.0, 0.15, 0.05);
    let plan = SpectralPlan::new(grid);
    let sqs = [structure_factor(&plan, &first), structure_factor(&plan, &second)];
    let mut running = RunningStructureFactor::default();
    assert!(running.mean().is_empty());
    for sq in &sqs {
        running.add(sq);
    }
    assert_eq!(running.steps, 2);
    let avg = mean_of(&sqs).unwrap();
    assert_eq!(running.q, avg.q);
    // Same summation order: bit for bit.
    assert_eq!(running.mean(), avg.s);
}

#[test]
fn structure_factors_keep_their_json_names() {
    let running = RunningStructureFactor { q: vec![1.0, 2.0], sum: vec![0.5, 1.5], steps: 3 };
    let text = serde_json::to_string(&running).unwrap();
    assert_eq!(text, r#"{"q":[1.0,2.0],"sum":[0.5,1.5],"steps":3}"#);
    // What old run folders store in their metadata.
    let old: RunningStructureFactor = serde_json::from_str(r#"{"q":[1.0,2.0],"sum":[0.5,1.5],"steps":3}"#).unwrap();
    assert_eq!(old, running);
    assert_eq!(old.mean(), vec![0.5 / 3.0, 0.5]);
    let sq = StructureFactor { q: vec![1.0], s: vec![2.0], modes: vec![4] };
    let text = serde_json::to_string(&sq).unwrap();
    assert_eq!(text, r#"{"q":[1.0],"S":[2.0],"modes":[4]}"#);
    assert_eq!(serde_json::from_str::<StructureFactor>(&text).unwrap(), sq);
    assert_eq!(serde_json::to_string(&Peak { q: 1.5, s: 0.25 }).unwrap(), r#"{"q":1.5,"S":0.25}"#);
}

#[test]
fn order_parameter_of_a_cosine_is_two_a_squared() {
    let grid = Grid::for_model(&ChainModel::default(), 16, 12).unwrap();
    let m = grid.points();
    let a = 0.3;
    let mut phi = vec![0.0; 2 * m];
    for ix in 0..grid.mx {
        for iy in 0..grid.my {
            let i = ix * grid.my + iy;
            phi[i] = 0.5 + a * (2.0 * PI * 3.0 * ix as f64 / grid.mx as f64).cos();
            phi[m + i] = 1.0 - phi[i];
        }
    }
    // mean((2 a cos)^2) = 4 a^2 / 2.
    let value = order_parameter(&phi);
    assert!(close(value, 2.0 * a * a, 1e-12), "{value}");
    // The homogeneous melt at f: (2f - 1)^2.
    let melt: Vec<f64> = (0..2 * m).map(|i| if i < m { 0.7 } else { 0.3 }).collect();
    assert!(close(order_parameter(&melt), 0.16, 1e-12));
}

#[test]
fn apply_multiplier_by_minus_q_squared_is_the_laplacian_of_a_cosine() {
    let grid = Grid::for_model(&ChainModel::default(), 16, 12).unwrap();
    let plan = SpectralPlan::new(grid);
    let (kx, ky) = (2.0, 1.0);
    let (qx, qy) = (2.0 * PI * kx / grid.lx, 2.0 * PI * ky / grid.ly);
    let wave =
        |ix: usize, iy: usize| (2.0 * PI * (kx * ix as f64 / grid.mx as f64 + ky * iy as f64 / grid.my as f64)).cos();
    let mut values: Vec<f64> = (0..grid.points()).map(|i| wave(i / grid.my, i % grid.my)).collect();
    let original = values.clone();
    let mut scratch = plan.scratch();
    let mut spectrum = vec![C64::default(); plan.spectrum_len()];
    let ones = vec![1.0; plan.spectrum_len()];
    plan.apply_multiplier(&mut scratch, &mut spectrum, &mut values, &ones);
    assert!(values.iter().zip(&original).all(|(a, b)| (a - b).abs() < 1e-12));
    let minus_q2: Vec<f64> = plan.q_squared_table().iter().map(|q2| -q2).collect();
    plan.apply_multiplier(&mut scratch, &mut spectrum, &mut values, &minus_q2);
    let expected = -(qx * qx + qy * qy);
    for (v, o) in values.iter().zip(&original) {
        assert!((v - expected * o).abs() < 1e-9 * expected.abs(), "{v} vs {}", expected * o);
    }
}

#[test]
fn mean_and_standard_deviations_of_a_known_set() {
    let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
    assert_eq!(mean(&values), 5.0);
    // Sum of squared deviations 32: population 32/8 = 4, sample 32/7.
    assert_eq!(population_std(&values), 2.0);
    assert!(close(std_dev(&values), (32.0f64 / 7.0).sqrt(), 1e-15));
    assert_eq!(mean_std(&values), (5.0, std_dev(&values)));
    assert_eq!(std_dev(&[3.0]), 0.0);
    assert!(std_dev(&[]).is_nan() && mean(&[]).is_nan() && population_std(&[]).is_nan());
}

#[test]
fn quantiles_use_the_nearest_rank_rule() {
    let five = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(quantile(&five, 0.5), 3.0);
    // round(4 x 0.95) = 4.
    assert_eq!(quantile(&five, 0.95), 5.0);
    // round(4 x 0.6) = round(2.4) = 2.
    assert_eq!(quantile(&five, 0.6), 3.0);
    assert_eq!(quantile(&five, 0.0), 1.0);
    assert_eq!(quantile(&five, 1.0), 5.0);
    // Even count: round(1.5) = 2, the upper middle value (= v[len / 2]).
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 3.0);
    assert_eq!(quantile(&[7.0], 0.95), 7.0);
    assert!(quantile(&[], 0.5).is_nan());
}

#[test]
fn block_error_of_a_ramp_matches_a_hand_computation() {
    // 0..20 in 10 blocks of 2: block means 0.5, 2.5, ..., 18.5, spaced by 2,
    // sample variance 4 x var(0..9) = 4 x 55/6, error sqrt(that / 10).
    let values: Vec<f64> = (0..20).map(f64::from).collect();
    let (m, err) = block_mean_error(&values, 10);
    assert_eq!(m, 9.5);
    assert!(close(err, (4.0 * 55.0 / 6.0 / 10.0f64).sqrt(), 1e-14), "{err}");
}

#[test]
fn block_error_is_the_spread_of_block_means_over_root_blocks() {
    let mut rng = StreamRng::new(3, 0);
    // 23 values in 4 blocks of 5: the last 3 enter the mean only.
    let values: Vec<f64> = (0..23).map(|_| rng.normal()).collect();
    let (m, err) = block_mean_error(&values, 4);
    assert_eq!(m, mean(&values));
    let block_means: Vec<f64> = values[..20].chunks(5).map(mean).collect();
    assert!(close(err, std_dev(&block_means) / 2.0, 1e-14), "{err}");
    // Blocks capped at the length: 3 values in 3 blocks of one.
    let (_, err) = block_mean_error(&values[..3], 10);
    assert!(close(err, std_dev(&values[..3]) / 3f64.sqrt(), 1e-14));
    let (m, err) = block_mean_error(&values, 1);
    assert_eq!(m, mean(&values));
    assert!(err.is_nan());
    let (m, err) = block_mean_error(&[], 10);
    assert!(m.is_nan() && err.is_nan());
}

#[test]
fn block_error_of_an_ar1_series_matches_its_integrated_correlation() {
    // x_t = rho x_{t-1} + z_t, z unit normals: var(x) = 1 / (1 - rho^2) and
    // n var(mean) -> var(x) (1 + rho) / (1 - rho) = 1 / (1 - rho)^2.
    let (rho, n, blocks) = (0.9, 200_000, 100);
    let mut rng = StreamRng::new(11, 0);
    let mut x = rng.normal() / (1.0f64 - rho * rho).sqrt();
    let values: Vec<f64> = (0..n)
        .map(|_| {
            x = rho * x + rng.normal();
            x
        })
        .collect();
    let (m, err) = block_mean_error(&values, blocks);
    let expected = 1.0 / ((1.0 - rho) * (n as f64).sqrt());
    // 99 degrees of freedom: the error estimate scatters by about 7%.
    assert!((err / expected - 1.0).abs() < 0.25, "block error {err} vs {expected}");
    assert!(m.abs() < 4.0 * expected, "mean {m}");
    // The naive error of correlated steps is sqrt((1 - rho) / (1 + rho)) ~ 0.23 of it.
    let naive = std_dev(&values) / (n as f64).sqrt();
    assert!(err > 3.0 * naive, "block {err} vs naive {naive}");
}

/// The error from the integrated time against the spread of the means of
/// 400 independent AR(1) series (a = 0.9, 2000 steps each: tau = 9.5).
#[test]
fn the_error_from_the_integrated_time_is_the_spread_of_the_means() {
    use mesofield_physics::stats::correlated_mean_error;
    let a: f64 = 0.9;
    let (mut means, mut errors) = (Vec::new(), Vec::new());
    for s in 0..400 {
        let mut rng = StreamRng::new(59, s);
        let mut x = rng.normal() / (1.0 - a * a).sqrt();
        let values: Vec<f64> = (0..2000)
            .map(|_| {
                x = a * x + rng.normal();
                x
            })
            .collect();
        let rho = scalar_autocorrelation(&[&values], 1000);
        let (m, err) = correlated_mean_error(&values, integrated_time(&rho), 10);
        means.push(m);
        errors.push(err);
    }
    let spread = std_dev(&means);
    let typical = mean(&errors);
    // 400 means: their spread is known to 3.5%; the estimates scatter more
    // but their mean is close (Sokal's window biases tau low by a few %).
    assert!((typical / spread - 1.0).abs() < 0.12, "error {typical} vs spread of the means {spread}");
    // A window that cannot close: at least the block error.
    let frozen: Vec<f64> = (0..100).map(|i| (i / 10) as f64).collect();
    let (_, block) = block_mean_error(&frozen, 10);
    let (_, err) = correlated_mean_error(&frozen, (0.5, false), 10);
    assert!(err >= block && block > 0.0, "{err} vs block {block}");
    // No time: the block error.
    assert_eq!(correlated_mean_error(&frozen, (f64::NAN, false), 10).1, block);
}

#[test]
fn jackknife_of_the_mean_is_the_standard_error_of_the_mean() {
    let mut rng = StreamRng::new(7, 0);
    let values: Vec<f64> = (0..37).map(|_| 2.0 + 0.5 * rng.normal()).collect();
    let n = values.len();
    let total: f64 = values.iter().sum();
    let leave_out: Vec<f64> = values.iter().map(|v| (total - v) / (n - 1) as f64).collect();
    let expected = std_dev(&values) / (n as f64).sqrt();
    let err = jackknife_error(&leave_out);
    assert!(close(err, expected, 1e-12), "jackknife {err} vs {expected}");
    assert_eq!(jackknife_error(&[1.5]), 0.0);
    assert!(jackknife_error(&[]).is_nan());
    // Two groups: sqrt(1/2 x 2 (d/2)^2) = d/2.
    assert!(close(jackknife_error(&[1.0, 3.0]), 1.0, 1e-15));
}

/// An AR(1) series x_t = a x_(t-1) + e_t has rho(l) = a^l and integrated
/// time tau = 1/2 + a / (1 - a); four pooled series of 50 000 samples give
/// it to a few per cent. As vectors (two independent components per
/// sample) the pooled overlap has the same rho.
#[test]
fn integrated_time_of_an_ar1_series() {
    let a: f64 = 0.8;
    let exact = 0.5 + a / (1.0 - a);
    let series: Vec<Vec<f64>> = (0..4)
        .map(|s| {
            let mut rng = StreamRng::new(41, s);
            let mut x = 0.0;
            (0..50_000)
                .map(|_| {
                    x = a * x + rng.normal();
                    x
                })
                .collect()
        })
        .collect();
    let refs: Vec<&[f64]> = series.iter().map(|x| x.as_slice()).collect();
    let rho = scalar_autocorrelation(&refs, 200);
    assert!((rho[0] - 1.0).abs() < 1e-12);
    assert!((rho[1] - a).abs() < 0.01 && (rho[3] - a.powi(3)).abs() < 0.02, "rho {:?}", &rho[..4]);
    let (tau, closed) = integrated_time(&rho);
    assert!(closed, "the window closes well within 200 lags");
    assert!((tau - exact).abs() < 0.08 * exact, "tau {tau} against {exact}");
    // Too few lags to close the window: a lower bound, said so.
    let (short, closed) = integrated_time(&rho[..6]);
    assert!(!closed && short < tau);
    // The same series as pairs of components: the same overlap.
    let pairs: Vec<f64> = series[0].iter().zip(&series[1]).flat_map(|(u, v)| [*u, *v]).collect();
    let rho2 = vector_autocorrelation(&[&pairs], 2, 10);
    assert!((rho2[1] - a).abs() < 0.02 && (rho2[2] - a * a).abs() < 0.03, "{rho2:?}");
    // A frozen pattern stays correlated at every lag.
    let frozen: Vec<f64> = (0..20).flat_map(|_| [0.3, -0.1, -0.2]).collect();
    let rho3 = vector_autocorrelation(&[&frozen], 3, 19);
    assert!(rho3.iter().all(|r| (r - 1.0).abs() < 1e-12) && rho3.len() == 20);
    assert!(!integrated_time(&rho3).1);
}

#[test]
fn a_runs_last_half_reports_the_integrated_times_of_its_series() {
    use mesofield_physics::seam::SolveCost;
    use mesofield_physics::trajectory::analyzer::{LastHalf, SampleRecord};
    // H an AR(1) series (tau = 1/2 + a/(1 - a) = 4.5 steps), psi^2 white
    // noise (tau = 1/2), over a run of 40000 steps: the last half counts.
    let a: f64 = 0.8;
    let mut rng = StreamRng::new(77, 0);
    let mut h = 0.0;
    let records: Vec<SampleRecord> = (0..=40_000)
        .map(|step| {
            h = a * h + rng.normal();
            SampleRecord {
                step,
                hamiltonian: h,
                psi2: 0.7 + 0.01 * rng.normal(),
                pressure_residual: 0.0,
                cost: SolveCost::default(),
                sq_peak: f64::NAN,
            }
        })
        .collect();
    let half = LastHalf::of(&records, 40_000);
    assert_eq!(half.count, 20_000);
    assert!(half.tau_window_closed);
    assert!((half.h_tau - 4.5).abs() < 0.08 * 4.5, "tau_int(H) {}", half.h_tau);
    assert!((half.psi2_tau - 0.5).abs() < 0.1, "tau_int(psi^2) {}", half.psi2_tau);
    assert!((half.effective_per_step() - 1.0 / (2.0 * half.h_tau)).abs() < 1e-15);
    // The errors follow the times: the exact standard error of the mean of
    // 20000 AR(1) steps of unit innovations is 1 / ((1 - a) sqrt(n)), of
    // the white psi^2 0.01 / sqrt(n).
    let n = 20_000f64;
    let exact_h = 1.0 / ((1.0 - a) * n.sqrt());
    assert!((half.h_stderr / exact_h - 1.0).abs() < 0.1, "H error {} vs {exact_h}", half.h_stderr);
    let exact_psi2 = 0.01 / n.sqrt();
    assert!((half.psi2_stderr / exact_psi2 - 1.0).abs() < 0.1, "psi^2 error {} vs {exact_psi2}", half.psi2_stderr);
    // Records without S(q*): no time for it, and the rate from the other two.
    assert!(half.sq_peak_tau.is_nan());
    // With an S(q*) series slower than both (AR(1), a = 0.9: tau 9.5), it
    // sets the effective rate.
    let mut s = 0.0;
    let with_peak: Vec<SampleRecord> = records
        .iter()
        .map(|r| {
            s = 0.9 * s + rng.normal();
            SampleRecord { sq_peak: 10.0 + s, ..r.clone() }
        })
        .collect();
    let slow = LastHalf::of(&with_peak, 40_000);
    assert!((slow.sq_peak_tau - 9.5).abs() < 0.1 * 9.5, "tau_int(S(q*)) {}", slow.sq_peak_tau);
    assert!((slow.effective_per_step() - 1.0 / (2.0 * slow.sq_peak_tau)).abs() < 1e-15);
    assert_eq!((slow.h_mean, slow.h_tau), (half.h_mean, half.h_tau));
    // Too short to measure: NaN, not a number that looks like one.
    assert!(LastHalf::of(&records[..5], 4).h_tau.is_nan());
}
