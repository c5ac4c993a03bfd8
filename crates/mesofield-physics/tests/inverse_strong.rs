//! The inverse map in strong segregation (issue 14): densities of exact SCFT
//! saddle points (dots at chi 0.5 and 1.0, lamellae at 1.5) and of an L-FTS
//! pattern at chi 1.0, whose densities nearly vanish over whole domains and
//! dip below zero at some points (the bond kernel's negative lobes). Each
//! answer is checked by an independent exact solve of the returned fields.

use mesofield_physics::chi::{ChiEstimator, estimate_chi};
use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{CompressorConfig, Integrator, Lfts, LftsConfig, LftsState};
use mesofield_physics::inverse::{InverseConfig, invert};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

/// phi_B = 1 - phi_A: only the pattern is known.
fn pattern(phi: &[f64]) -> Vec<f64> {
    let m = phi.len() / 2;
    let mut t = phi.to_vec();
    for i in 0..m {
        t[m + i] = 1.0 - t[i];
    }
    t
}

/// max |phi(w) - target| by a fresh exact solve.
fn reproduced(solver: &ExactSolver, w: &[f64], target: &[f64]) -> f64 {
    let mut phi = vec![0.0; w.len()];
    solver.solve_batch(w, &mut phi, &mut [0.0]).unwrap();
    phi.iter().zip(target).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

/// An L-FTS chain at `chi` (B = 100, step 0.05, W_+ to 1e-10) with noise
/// stream `seed`, started from `init` drawn from stream `init_seed`.
fn lfts_chain<'a>(
    solver: &'a ExactSolver,
    chi: f64,
    seed: u64,
    init: InitialField,
    init_seed: u64,
) -> (Lfts<'a>, LftsState) {
    let (model, grid) = (solver.model(), solver.grid());
    let mut config = LftsConfig::new(chi, 100.0, 0.05, seed).with_integrator(Integrator::EulerMaruyama);
    // The patterns these tests name were grown with the melt's response in
    // the compressor; another scheme meets the same tolerance on another
    // path, and 400 steps from random fields make that another pattern.
    config.compressor = CompressorConfig { tolerance: 1e-10, ..CompressorConfig::melt() };
    let lfts = Lfts::new(config, Solvers::exact(solver)).unwrap();
    let w0 = init.fields(model, grid, chi, &mut StreamRng::new(init_seed, 0));
    let (state, _) = lfts.start(&w0, 0).unwrap();
    (lfts, state)
}

fn default_solver() -> (ChainModel, Grid, ExactSolver) {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    (model, grid, solver)
}

#[test]
fn inverts_strongly_segregated_saddle_points_and_recovers_chi() {
    let (model, grid, solver) = default_solver();
    let plan = SpectralPlan::new(grid);
    for (chi, init) in [
        (0.5, InitialField::Hex { nx: 1, ny: 1 }),
        (1.0, InitialField::Square { nx: 2, ny: 2 }),
        (1.5, InitialField::Lamellar { periods: 2 }),
    ] {
        let w0 = init.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
        let config = ScftConfig { chi, tolerance: 1e-11, max_iterations: 5000, ..Default::default() };
        let scft = run_scft(&solver, &config, &w0, &mut |_, _| {}).unwrap();
        let target = pattern(&scft.phi);
        let lowest = target.iter().fold(f64::INFINITY, |a, &b| a.min(b));
        assert!(lowest < 0.0, "chi {chi} {init:?}: the case should have a negative density, lowest {lowest:e}");
        let out = invert(&solver, &target, None, &InverseConfig::default()).unwrap();
        assert!(out.converged, "chi {chi} {init:?}: residual {:e}", out.residual);
        let check = reproduced(&solver, &out.w, &target);
        assert!(check < 1e-10, "chi {chi} {init:?}: the fields reproduce the pattern to {check:e}");
        assert!(out.newton_steps > 0 && out.jacobian_products > 0, "chi {chi}: {out:?}");
        let est = estimate_chi(&plan, &out.w, &target, ChiEstimator::Saddle).unwrap();
        assert!((est.chi / chi - 1.0).abs() < 1e-6, "chi {chi} {init:?}: inferred {}", est.chi);
    }
}

/// Why Newton: the quasi-Newton iteration alone stops short on the dots at
/// chi = 0.5 (measured: 2.8e-5 after its 400 iterations).
#[test]
fn the_quasi_newton_iteration_alone_stops_short_on_dots() {
    let (model, grid, solver) = default_solver();
    let chi = 0.5;
    let w0 = InitialField::Hex { nx: 1, ny: 1 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    let config = ScftConfig { chi, tolerance: 1e-11, max_iterations: 5000, ..Default::default() };
    let scft = run_scft(&solver, &config, &w0, &mut |_, _| {}).unwrap();
    let target = pattern(&scft.phi);
    let alone = invert(&solver, &target, None, &InverseConfig { newton: false, ..Default::default() }).unwrap();
    assert!(!alone.converged && alone.residual > 1e-8, "{alone:?}");
    assert_eq!(alone.jacobian_products, 0);
}

/// Two L-FTS snapshots at chi = 1.0 (B = 100): each inverts to 1e-10, and
/// chi from the inverted fields is within 5% of the run's chi and within 1%
/// of the estimate from the run's own fields, although the inverse finds
/// other fields than the run's where a density nearly vanishes (the
/// estimator leaves those points out).
/// W_- = (w_B - w_A) / 2 with its mean removed.
fn w_minus_centred(w: &[f64]) -> Vec<f64> {
    let m = w.len() / 2;
    let v: Vec<f64> = (0..m).map(|i| 0.5 * (w[m + i] - w[i])).collect();
    let mean = v.iter().sum::<f64>() / m as f64;
    v.into_iter().map(|x| x - mean).collect()
}

#[test]
fn inverts_lfts_patterns_at_chi_1_and_recovers_chi() {
    let (_, grid, solver) = default_solver();
    let m = grid.points();
    let chi = 1.0;
    let (lfts, mut state) = lfts_chain(&solver, chi, 3, InitialField::Lamellar { periods: 2 }, 1);
    let (mut targets, mut inverted, mut own) = (Vec::new(), Vec::new(), Vec::new());
    for snapshot in 0..2 {
        for _ in 0..200 {
            state = lfts.step(&state).unwrap().0;
        }
        let target = pattern(&state.phi);
        let out = invert(&solver, &target, None, &InverseConfig::default()).unwrap();
        assert!(out.converged, "snapshot {snapshot}: residual {:e}", out.residual);
        let check = reproduced(&solver, &out.w, &target);
        assert!(check < 1e-10, "snapshot {snapshot}: the fields reproduce the pattern to {check:e}");
        let mut w = vec![0.0; 2 * m];
        mesofield_physics::fields::from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
        // The inverse is not unique where a density nearly vanishes; the
        // logarithmic residual of the Newton polish lands on the run's own
        // branch (the plain residual found fields 0.6-0.9 away there).
        let apart =
            w_minus_centred(&out.w).iter().zip(w_minus_centred(&w)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(apart < 1e-3, "snapshot {snapshot}: W_- found is up to {apart:e} from the run's own");
        own.extend_from_slice(&w);
        inverted.extend_from_slice(&out.w);
        targets.extend_from_slice(&target);
    }
    let plan = SpectralPlan::new(grid);
    let estimator =
        ChiEstimator::Equipartition { beads_per_cell: 100.0, step_size: 0.05, integrator: Integrator::EulerMaruyama };
    let est = estimate_chi(&plan, &inverted, &targets, estimator).unwrap();
    let reference = estimate_chi(&plan, &own, &targets, estimator).unwrap();
    assert!((est.chi / chi - 1.0).abs() < 0.05, "chi {} from the inverted fields", est.chi);
    assert!(
        (est.chi / reference.chi - 1.0).abs() < 0.01,
        "chi {} against {} from the run's fields",
        est.chi,
        reference.chi
    );
}

/// A pattern grown from random fields at chi = 1.0 (minority domains of
/// both kinds, negative densities from the bond kernel's lobes) that the
/// plain-residual Newton polish left at 6e-7 and the logarithmic one
/// inverts (example `inv_random`, seed 1, snapshot 200).
#[test]
fn inverts_an_lfts_pattern_grown_from_random_fields_at_chi_1() {
    let (_, grid, solver) = default_solver();
    let chi = 1.0;
    let (lfts, mut state) = lfts_chain(&solver, chi, 1, InitialField::Random { amplitude: 0.1 }, 1);
    for _ in 0..200 {
        state = lfts.step(&state).unwrap().0;
    }
    let target = pattern(&state.phi);
    let m = grid.points();
    assert!(target[..m].iter().any(|&p| p < 0.0), "the pattern has the kernel's negative densities");
    let out = invert(&solver, &target, None, &InverseConfig::default()).unwrap();
    assert!(out.converged, "residual {:e}", out.residual);
    let check = reproduced(&solver, &out.w, &target);
    assert!(check < 1e-10, "the fields reproduce the pattern to {check:e}");
}

/// The 400-step patterns of `inv_random`'s seeds 7 and 8 (random fields at
/// chi = 1.0), which the Newton starts leave at 3.7e-9 and 9.8e-5: the
/// first is finished by the accurate Newton iteration, the second after its
/// depleted points' fields are reset. Both must invert to 1e-10, checked by
/// an independent solve.
#[test]
fn inverts_the_random_start_patterns_that_stalled() {
    let (_, _, solver) = default_solver();
    let chi = 1.0;
    for seed in [7, 8] {
        let (lfts, mut state) = lfts_chain(&solver, chi, seed, InitialField::Random { amplitude: 0.1 }, seed);
        for _ in 0..400 {
            state = lfts.step(&state).unwrap().0;
        }
        let target = pattern(&state.phi);
        let out = invert(&solver, &target, None, &InverseConfig::default()).unwrap();
        assert!(out.converged, "seed {seed}: residual {:e}", out.residual);
        let check = reproduced(&solver, &out.w, &target);
        assert!(check < 1e-10, "seed {seed}: the fields reproduce the pattern to {check:e}");
    }
}
