//! The Langevin sampler: one step against a hand computation with the same
//! noise, the noise's variance, the mean-field limit (noise off) at the SCFT
//! saddle point (the structure factor's tests are in observables_stats.rs).

use mesofield_physics::Solvers;
use mesofield_physics::fields::{InitialField, to_exchange_pressure};
use mesofield_physics::fts::{CompressorConfig, Integrator, Lfts, LftsConfig, langevin_update};
use mesofield_physics::hamiltonian::max_pressure_residual;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

#[test]
fn one_step_matches_a_hand_computed_update_with_the_same_noise() {
    let model = ChainModel { beads: 20, a_beads: 14, box_size: [2.0, 2.0], segment_a: 0.3, segment_b: 0.3 };
    let grid = Grid::for_model(&model, 4, 4).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    let (chi, b, lambda, seed) = (0.8, 50.0, 0.2, 9);
    for integrator in [Integrator::EulerMaruyama, Integrator::LeimkuhlerMatthews] {
        let config = LftsConfig::new(chi, b, lambda, seed).with_integrator(integrator);
        let sampler = Lfts::new(config, Solvers::exact(&exact)).unwrap();
        let w0 = InitialField::Random { amplitude: 0.3 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
        let (state, _) = sampler.start(&w0, 7).unwrap();
        assert!(state.pressure_residual < 1e-6);
        let (next, cost) = sampler.step(&state).unwrap();
        assert_eq!(next.step, 8);
        assert!(cost.exact_solves >= 1 && cost.operator_calls == 0);
        // By hand: W_- - lambda (phi_B - phi_A + 2 W_- / chi) + sqrt(2 lambda / B) z,
        // z the standard normals of stream (seed, step) (Euler-Maruyama), or
        // the mean of those of streams (seed, step) and (seed, step + 1)
        // (Leimkuhler-Matthews).
        let m = grid.points();
        let (mut rng, mut next_rng) = (StreamRng::new(seed, 7), StreamRng::new(seed, 8));
        for i in 0..m {
            let (phi_a, phi_b) = (state.phi[i], state.phi[m + i]);
            let z = match integrator {
                Integrator::EulerMaruyama => rng.normal(),
                Integrator::LeimkuhlerMatthews => 0.5 * (rng.normal() + next_rng.normal()),
            };
            let expected = state.w_minus[i] - lambda * (phi_b - phi_a + 2.0 * state.w_minus[i] / chi)
                + (2.0 * lambda / b).sqrt() * z;
            assert!(
                (next.w_minus[i] - expected).abs() < 1e-12,
                "{integrator}, point {i}: {} vs {expected}",
                next.w_minus[i]
            );
        }
        // W_+ is back at its partial saddle point.
        assert!(max_pressure_residual(&next.phi) < 1e-6);
    }
}

/// The Gaussian toy: with the densities held fixed, psi = phi_A - phi_B at
/// each point, the step is an Ornstein-Uhlenbeck chain per point, W_- =
/// chi psi / 2 + x, x' = c x + xi with c = 1 - 2 lambda / chi. Its
/// stationary variance is chi / (2 B) (the continuum ensemble's) for the
/// Leimkuhler-Matthews noise at any stable step, and (2 lambda / B) / (1 -
/// c^2), a third higher at lambda / chi = 1/4, for Euler-Maruyama's. The
/// equipartition estimator, told the integrator, recovers chi from either.
#[test]
fn leimkuhler_matthews_samples_a_quadratic_hamiltonian_exactly() {
    use mesofield_physics::chi::{ChiEstimator, estimate_chi};
    use mesofield_physics::spectral::SpectralPlan;
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let m = grid.points();
    let (chi, b, lambda, seed): (f64, f64, f64, u64) = (0.4, 100.0, 0.1, 17);
    let c = 1.0 - 2.0 * lambda / chi;
    let phi_a: Vec<f64> =
        (0..m).map(|i| 0.7 + 0.25 * (std::f64::consts::TAU * (i / grid.my) as f64 / 16.0).cos()).collect();
    let mut phi = phi_a.clone();
    phi.extend(phi_a.iter().map(|a| 1.0 - a));
    let std = (2.0 * lambda / b).sqrt();
    for (integrator, variance) in [
        (Integrator::LeimkuhlerMatthews, chi / (2.0 * b)),
        (Integrator::EulerMaruyama, 2.0 * lambda / b / (1.0 - c * c)),
    ] {
        let mut w_minus: Vec<f64> = (0..m).map(|i| 0.5 * chi * (2.0 * phi_a[i] - 1.0)).collect();
        let mut xi = vec![0.0; m];
        let (mut sum2, mut count) = (0.0, 0usize);
        let (mut w_samples, mut phi_samples) = (Vec::new(), Vec::new());
        for step in 0..6000 {
            integrator.noise(seed, step, std, &mut xi);
            langevin_update(&mut w_minus, &phi, chi, lambda, &xi);
            if step < 100 {
                continue;
            }
            for i in 0..m {
                let x = w_minus[i] - 0.5 * chi * (2.0 * phi_a[i] - 1.0);
                sum2 += x * x;
            }
            count += m;
            if step % 400 == 0 {
                // w_A = -W_-, w_B = W_- (W_+ = 0).
                w_samples.extend(w_minus.iter().map(|v| -v));
                w_samples.extend(w_minus.iter().copied());
                phi_samples.extend(phi.iter().copied());
            }
        }
        let measured = sum2 / count as f64;
        // About 6 million draws with tau_int (1 + c) / (1 - c) = 3: 0.1% standard error.
        assert!((measured / variance - 1.0).abs() < 0.01, "{integrator}: variance {measured:e}, exact {variance:e}");
        let plan = SpectralPlan::new(grid);
        let told = ChiEstimator::Equipartition { beads_per_cell: b, step_size: lambda, integrator };
        let estimate = estimate_chi(&plan, &w_samples, &phi_samples, told).unwrap();
        assert!((estimate.chi / chi - 1.0).abs() < 0.03, "{integrator}: chi {} for {chi}", estimate.chi);
        let other = match integrator {
            Integrator::EulerMaruyama => Integrator::LeimkuhlerMatthews,
            Integrator::LeimkuhlerMatthews => Integrator::EulerMaruyama,
        };
        let wrong = ChiEstimator::Equipartition { beads_per_cell: b, step_size: lambda, integrator: other };
        let misled = estimate_chi(&plan, &w_samples, &phi_samples, wrong).unwrap();
        assert!((misled.chi / chi - 1.0).abs() > 0.05, "{integrator} read as {other}: chi {} for {chi}", misled.chi);
    }
}

/// One step's noise: eta_k of variance 2 lambda / B (Euler-Maruyama), the
/// mean of two such draws (Leimkuhler-Matthews), variance lambda / B.
#[test]
fn the_noise_has_variance_two_lambda_over_b() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    let (lambda, b): (f64, f64) = (0.1, 100.0);
    for (integrator, expected) in
        [(Integrator::EulerMaruyama, 2.0 * lambda / b), (Integrator::LeimkuhlerMatthews, lambda / b)]
    {
        let config = LftsConfig::new(0.3, b, lambda, 4).with_integrator(integrator);
        let noisy = Lfts::new(config.clone(), Solvers::exact(&exact)).unwrap();
        let quiet = Lfts::new(LftsConfig { noise: false, ..config }, Solvers::exact(&exact)).unwrap();
        let w0 = vec![0.0; 2 * grid.points()];
        let (state, _) = noisy.start(&w0, 0).unwrap();
        let (a, _) = noisy.step(&state).unwrap();
        let (c, _) = quiet.step(&state).unwrap();
        let eta: Vec<f64> = a.w_minus.iter().zip(&c.w_minus).map(|(x, y)| x - y).collect();
        let n = eta.len() as f64;
        let mean = eta.iter().sum::<f64>() / n;
        let var = eta.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0);
        // 1024 draws: the sample variance is within 4 standard errors (sqrt(2/n)).
        assert!((var / expected - 1.0).abs() < 4.0 * (2.0 / n).sqrt(), "{integrator}: variance {var} vs {expected}");
        assert!(mean.abs() < 4.0 * (expected / n).sqrt(), "{integrator}: mean {mean}");
    }
}

#[test]
fn without_noise_the_sampler_descends_to_the_scft_saddle_point() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    let chi = 0.3;
    let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut StreamRng::new(2, 0));
    let saddle =
        run_scft(&exact, &ScftConfig { chi, tolerance: 1e-10, ..Default::default() }, &w0, &mut |_, _| {}).unwrap();
    let config = LftsConfig { noise: false, ..LftsConfig::new(chi, 1.0, 0.1, 0).with_pressure_tolerance(1e-10) };
    let sampler = Lfts::new(config, Solvers::exact(&exact)).unwrap();
    let (mut state, _) = sampler.start(&w0, 0).unwrap();
    let mut previous = f64::INFINITY;
    for _ in 0..600 {
        (state, _) = sampler.step(&state).unwrap();
        // A descent along W_- with W_+ at its partial saddle point.
        assert!(state.hamiltonian <= previous + 1e-9, "H rose: {previous} -> {}", state.hamiltonian);
        previous = state.hamiltonian;
    }
    assert!((state.hamiltonian - saddle.d_f).abs() < 1e-6, "H {} vs SCFT dF {}", state.hamiltonian, saddle.d_f);
    let m = grid.points();
    let (mut w_minus, mut w_plus) = (vec![0.0; m], vec![0.0; m]);
    to_exchange_pressure(&saddle.w, &mut w_minus, &mut w_plus);
    let gap = w_minus.iter().zip(&state.w_minus).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(gap < 1e-5, "W_- differs from the saddle point's by {gap}");
}

/// Replicas stepped together (one batched solve per inner iteration) are
/// the chains of separate runs with their seeds, bit for bit, and each pays
/// for its own solves; the same holds with an operator in the inner loop,
/// where replicas also leave the operator's loop at different iterations.
#[test]
fn replicas_stepped_together_are_the_separate_runs() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 16, 16).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    let (chi, b, lambda) = (0.5, 100.0, 0.05);
    let seeds = [3u64, 11, 12];
    let starts: Vec<Vec<f64>> = seeds
        .iter()
        .map(|&s| InitialField::Random { amplitude: 0.1 }.fields(&model, &grid, chi, &mut StreamRng::new(s, 0)))
        .collect();
    // A perturbed exact solver stands in for an operator: wrong enough that
    // the trust check and the exact polish both matter.
    let skewed = mesofield_physics::seam::conformance::ScaledFields { exact: &exact, factor: 1.03 };
    for solvers in [Solvers::exact(&exact), Solvers::new(&exact, Some(&skewed)).unwrap()] {
        let together = Lfts::new(LftsConfig::new(chi, b, lambda, 0), solvers).unwrap();
        let mut states: Vec<_> =
            together.start_replicas(&starts.concat(), 0).unwrap().into_iter().map(|(s, _)| s).collect();
        let mut costs = vec![0usize; seeds.len()];
        for _ in 0..5 {
            let next = together.step_replicas(&states, &seeds).unwrap();
            costs.iter_mut().zip(&next).for_each(|(c, (_, cost))| *c += cost.exact_solves);
            states = next.into_iter().map(|(s, _)| s).collect();
        }
        for (r, &seed) in seeds.iter().enumerate() {
            let alone = Lfts::new(LftsConfig::new(chi, b, lambda, seed), solvers).unwrap();
            let (mut state, _) = alone.start(&starts[r], 0).unwrap();
            let mut solves = 0;
            for _ in 0..5 {
                let (next, cost) = alone.step(&state).unwrap();
                solves += cost.exact_solves;
                state = next;
            }
            assert_eq!(state.step, states[r].step);
            assert_eq!(state.w_minus, states[r].w_minus, "replica {r}: W_-");
            assert_eq!(state.w_plus, states[r].w_plus, "replica {r}: W_+");
            assert_eq!(state.phi[..m], states[r].phi[..m], "replica {r}: phi_A");
            assert_eq!(state.hamiltonian, states[r].hamiltonian);
            assert_eq!(solves, costs[r], "replica {r}: exact solves");
        }
        assert!(states[0].w_minus != states[1].w_minus, "replicas with different seeds differ");
    }
    let sampler = Lfts::new(LftsConfig::new(chi, b, lambda, 0), Solvers::exact(&exact)).unwrap();
    assert!(sampler.step_replicas(&[], &[1]).is_err());
    assert!(sampler.start_replicas(&starts[0][..m], 0).is_err());
}

/// The compressor's schemes (the melt's response with a fresh Anderson
/// history per step, and the default: the state's local response with the
/// history carried from step to step) walk the same chain to their
/// tolerance: the same noise gives the same fields to well within the
/// tolerance's reach, every step ends incompressible, and the default
/// spends fewer exact solves. A chain that forgets its history at a step
/// continues as one started from that step's fields (a resumed run), to
/// round-off.
#[test]
fn compressor_schemes_walk_the_same_chain_and_forgetting_the_history_is_a_restart() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    let chi = 1.0;
    let tolerance = 1e-8;
    let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut StreamRng::new(9, 0));
    let run = |compressor: CompressorConfig, steps: usize| {
        let mut config = LftsConfig::new(chi, 100.0, 0.05, 21);
        config.compressor = CompressorConfig { tolerance, ..compressor };
        let lfts = Lfts::new(config, Solvers::exact(&exact)).unwrap();
        let (mut state, _) = lfts.start(&w0, 0).unwrap();
        let mut solves = 0;
        for _ in 0..steps {
            let (next, cost) = lfts.step(&state).unwrap();
            assert!(next.pressure_residual < tolerance, "step {}: {:e}", next.step, next.pressure_residual);
            solves += cost.exact_solves;
            state = next;
        }
        (state, solves)
    };
    let (melt, melt_solves) = run(CompressorConfig::melt(), 30);
    let (chain, chain_solves) = run(CompressorConfig::chain(), 30);
    assert!(!chain.history.is_empty(), "the default carries the history");
    let apart = melt.phi.iter().zip(&chain.phi).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(apart < 1e-6, "the schemes' chains differ by {apart:e} in phi after 30 steps");
    assert!((melt.hamiltonian - chain.hamiltonian).abs() < 1e-7, "{} vs {}", melt.hamiltonian, chain.hamiltonian);
    assert!(chain_solves < melt_solves, "{chain_solves} solves against the melt's {melt_solves}");

    // Forgetting at step 10 = starting afresh from step 10's fields.
    let mut config = LftsConfig::new(chi, 100.0, 0.05, 21);
    config.compressor.tolerance = tolerance;
    let lfts = Lfts::new(config, Solvers::exact(&exact)).unwrap();
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    for _ in 0..10 {
        state = lfts.step(&state).unwrap().0;
    }
    let (mut restarted, _) = lfts.start(&state.saddle().fields(), 10).unwrap();
    assert!(restarted.history.is_empty());
    state.history.clear();
    for _ in 0..5 {
        state = lfts.step(&state).unwrap().0;
        restarted = lfts.step(&restarted).unwrap().0;
    }
    // The file's (w_A, w_B) -> (W_-, W_+) round trip is the only difference.
    let apart = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(apart(&state.w_minus, &restarted.w_minus) < 1e-11, "{:e}", apart(&state.w_minus, &restarted.w_minus));
    assert!(apart(&state.phi, &restarted.phi) < 1e-11, "{:e}", apart(&state.phi, &restarted.phi));
}
