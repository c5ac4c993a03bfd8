//! A deliberately wrong operator in the loops (issue 16's contract): each
//! loop still ends at the exact path's tolerance, because every operator
//! result passes an exact trust check, and the rejections are counted.

use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::seam::conformance::ScaledFields;
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

fn setup() -> (ChainModel, Grid, ExactSolver) {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 16, 16).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    (model, grid, exact)
}

/// max |phi(w) - target| by a fresh exact solve.
fn exact_residual(exact: &ExactSolver, w: &[f64], target: &[f64]) -> f64 {
    let mut phi = vec![0.0; w.len()];
    exact.solve_batch(w, &mut phi, &mut [0.0]).unwrap();
    phi.iter().zip(target).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

#[test]
fn the_inverse_map_with_a_reversed_operator_falls_back_and_inverts() {
    let (model, grid, exact) = setup();
    let w_true = InitialField::Lamellar { periods: 1 }.fields(&model, &grid, 0.3, &mut StreamRng::new(1, 0));
    let mut target = vec![0.0; w_true.len()];
    exact.solve_batch(&w_true, &mut target, &mut [0.0]).unwrap();
    let config = InverseConfig::default();
    let reversed = ScaledFields { exact: &exact, factor: -1.0 };
    let inverter = Inverter::new(Solvers::new(&exact, Some(&reversed)).unwrap(), config.clone()).unwrap();
    let (out, rough) = inverter.invert(&target, None).unwrap();
    assert!(rough.is_some(), "the operator ran");
    assert_eq!(out.rejected, 1, "the reversed operator's start passed the trust check");
    assert!(out.converged && out.residual < config.tolerance, "residual {:e}", out.residual);
    assert!(exact_residual(&exact, &out.w, &target) < config.tolerance);
    // A faithful operator (the exact solver itself) passes the check.
    let faithful = Inverter::new(Solvers::new(&exact, Some(&exact)).unwrap(), config.clone()).unwrap();
    let (out, _) = faithful.invert(&target, None).unwrap();
    assert_eq!(out.rejected, 0);
    assert!(out.converged);
    // Without an operator nothing can fall back.
    let plain = Inverter::new(Solvers::exact(&exact), config).unwrap();
    assert_eq!(plain.invert(&target, None).unwrap().0.rejected, 0);
}

#[test]
fn lfts_with_a_reversed_operator_ends_each_step_incompressible_and_counts_rejections() {
    let (model, grid, exact) = setup();
    let m = grid.points();
    let chi = 0.5;
    let reversed = ScaledFields { exact: &exact, factor: -1.0 };
    let mut config = LftsConfig::new(chi, 100.0, 0.05, 4);
    config.compressor.tolerance = 1e-9;
    let lfts = Lfts::new(config.clone(), Solvers::new(&exact, Some(&reversed)).unwrap()).unwrap();
    let w0 = InitialField::Random { amplitude: 0.1 }.fields(&model, &grid, chi, &mut StreamRng::new(4, 0));
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    let mut rejected = 0;
    for _ in 0..5 {
        let (next, cost) = lfts.step(&state).unwrap();
        rejected += cost.rejected;
        state = next;
        // The step's densities are the exact solver's, incompressible to
        // the exact path's tolerance.
        let mut w = vec![0.0; 2 * m];
        mesofield_physics::fields::from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
        let mut phi = vec![0.0; 2 * m];
        exact.solve_batch(&w, &mut phi, &mut [0.0]).unwrap();
        let incompressibility = (0..m).map(|i| (phi[i] + phi[m + i] - 1.0).abs()).fold(0.0, f64::max);
        assert!(incompressibility < config.compressor.tolerance, "step {}: {incompressibility:e}", state.step);
    }
    assert!(rejected >= 1, "the reversed operator's steps were never rejected");
}
