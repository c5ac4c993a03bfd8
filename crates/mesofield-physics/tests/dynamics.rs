//! Pattern dynamics: conservation, a free energy that never rises, a
//! stationary saddle point, the RPA growth rates of small modes, and long
//! runs that end at an SCFT saddle point.

use mesofield_physics::Solvers;
use mesofield_physics::dynamics::{Dynamics, DynamicsConfig, Mobility};
use mesofield_physics::fields::InitialField;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

fn setup(n: usize) -> (ChainModel, Grid, ExactSolver) {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, n, n).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    (model, grid, solver)
}

fn cosine(grid: &Grid, f: f64, eps: f64, kx: usize, ky: usize) -> Vec<f64> {
    (0..grid.points())
        .map(|i| {
            let (ix, iy) = (i / grid.my, i % grid.my);
            let phase = std::f64::consts::TAU
                * (kx as f64 * ix as f64 / grid.mx as f64 + ky as f64 * iy as f64 / grid.my as f64);
            f + eps * phase.cos()
        })
        .collect()
}

/// The cosine amplitude of mode (kx, ky) in a pattern.
fn amplitude(grid: &Grid, phi: &[f64], kx: usize, ky: usize) -> f64 {
    let c = cosine(grid, 0.0, 1.0, kx, ky);
    2.0 * phi.iter().zip(&c).map(|(p, c)| p * c).sum::<f64>() / grid.points() as f64
}

#[test]
fn small_modes_grow_or_decay_at_the_rpa_rate() {
    let (model, grid, solver) = setup(16);
    let q_unit = std::f64::consts::TAU / grid.lx;
    // Above the spinodal (chi N = 14.6) near q* = 2.13 modes grow, below all decay.
    for (chi, modes) in [(0.2, vec![(2usize, 0usize), (1, 1), (2, 1)]), (0.1, vec![(1, 0), (2, 0), (3, 1)])] {
        for (kx, ky) in modes {
            let q2 = q_unit * q_unit * (kx * kx + ky * ky) as f64;
            let config = DynamicsConfig::new(chi, 1e-3);
            let dynamics = Dynamics::new(config, Solvers::exact(&solver)).unwrap();
            let rate = dynamics.linear_rate(q2);
            // A step of 0.2 % of the mode's e-folding time.
            let dt = 0.002 / rate.abs();
            let dynamics = Dynamics::new(DynamicsConfig::new(chi, dt), Solvers::exact(&solver)).unwrap();
            let eps = 1e-5;
            let (mut state, _) = dynamics.start(&cosine(&grid, model.f_a(), eps, kx, ky), None).unwrap();
            let steps = 20;
            for _ in 0..steps {
                state = dynamics.step(&state).unwrap().0;
            }
            let measured = (amplitude(&grid, &state.phi_a, kx, ky) / eps).ln() / state.t;
            assert!(
                (measured / rate - 1.0).abs() < 0.02,
                "chi {chi}, mode ({kx},{ky}): measured rate {measured:.5} vs R(q) {rate:.5}"
            );
            if chi < 0.146 {
                assert!(rate < 0.0, "below the spinodal mode ({kx},{ky}) must decay, R = {rate}");
            }
        }
    }
}

fn noise_start(grid: &Grid, f: f64, seed: u64) -> Vec<f64> {
    let mut rng = StreamRng::new(seed, 0);
    let mut phi: Vec<f64> = (0..grid.points()).map(|_| f + 0.01 * rng.normal()).collect();
    let mean = phi.iter().sum::<f64>() / phi.len() as f64;
    phi.iter_mut().for_each(|v| *v += f - mean);
    phi
}

#[test]
fn mass_is_conserved_and_the_free_energy_never_rises() {
    let (model, grid, solver) = setup(16);
    for mobility in [Mobility::Constant, Mobility::Local] {
        let config = DynamicsConfig { mobility, ..DynamicsConfig::new(0.25, 0.5) };
        let dynamics = Dynamics::new(config, Solvers::exact(&solver)).unwrap();
        let (mut state, _) = dynamics.start(&noise_start(&grid, model.f_a(), 3), None).unwrap();
        let mut free_energy = vec![state.free_energy];
        for _ in 0..300 {
            state = dynamics.step(&state).unwrap().0;
            let mean = state.phi_a.iter().sum::<f64>() / grid.points() as f64;
            assert!((mean - model.f_a()).abs() < 1e-12, "{mobility:?}: mean phi_A {mean}");
            free_energy.push(state.free_energy);
        }
        for pair in free_energy.windows(2) {
            assert!(
                pair[1] <= pair[0] + 1e-12 * pair[0].abs().max(1.0),
                "{mobility:?}: F rose {} -> {}",
                pair[0],
                pair[1]
            );
        }
        assert!(
            free_energy.last().unwrap() < &-0.3,
            "{mobility:?}: no pattern formed, F = {}",
            free_energy.last().unwrap()
        );
    }
}

#[test]
fn a_long_run_from_noise_ends_at_an_scft_saddle_point() {
    let (model, grid, solver) = setup(16);
    let chi = 0.17; // chi N = 17, above the spinodal's 14.6
    let dynamics = Dynamics::new(DynamicsConfig::new(chi, 2.0), Solvers::exact(&solver)).unwrap();
    let (mut state, _) = dynamics.start(&noise_start(&grid, model.f_a(), 5), None).unwrap();
    for _ in 0..2000 {
        state = dynamics.step(&state).unwrap().0;
    }
    let mu = dynamics.chemical_potential(&state);
    let largest = mu.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(largest < 1e-4, "max |mu| = {largest} at t = {}", state.t);
    assert!(state.free_energy < -0.05, "no pattern: F = {}", state.free_energy);
    // SCFT from the run's last fields stays there, with the same free energy.
    let scft = run_scft(&solver, &ScftConfig { chi, tolerance: 1e-9, ..Default::default() }, &state.w, &mut |_, _| {})
        .unwrap();
    assert!(scft.converged);
    assert!((scft.d_f - state.free_energy).abs() < 1e-6, "SCFT dF {} vs dynamics F {}", scft.d_f, state.free_energy);
}

#[test]
fn a_saddle_point_is_stationary() {
    let (model, grid, solver) = setup(16);
    let chi = 0.3;
    let w0 = InitialField::Lamellar { periods: 1 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    let scft =
        run_scft(&solver, &ScftConfig { chi, tolerance: 1e-11, ..Default::default() }, &w0, &mut |_, _| {}).unwrap();
    let m = grid.points();
    let dynamics = Dynamics::new(DynamicsConfig::new(chi, 0.1), Solvers::exact(&solver)).unwrap();
    let (mut state, _) = dynamics.start(&scft.phi[..m], Some(&scft.w)).unwrap();
    assert!((state.free_energy - scft.d_f).abs() < 1e-8, "F {} vs SCFT dF {}", state.free_energy, scft.d_f);
    for _ in 0..10 {
        state = dynamics.step(&state).unwrap().0;
    }
    let moved = state.phi_a.iter().zip(&scft.phi[..m]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(moved < 1e-8, "the saddle point moved by {moved}");
}
