//! SCFT from starts where the fast iteration alone fails (it left the
//! model's domain, stalled at 1e-2, or could not solve its start): the
//! descent fallback reaches the tolerance, and the answer is a saddle point
//! by an independent exact solve of its fields.

use mesofield_physics::fields::InitialField;
use mesofield_physics::hamiltonian::residuals;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, ScftOutcome, run_scft};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

fn saddle_point(chi: f64, w0: &[f64], solver: &ExactSolver) -> ScftOutcome {
    let config = ScftConfig { chi, tolerance: 1e-10, max_iterations: 5000, ..Default::default() };
    let out = run_scft(solver, &config, w0, &mut |_, _| {}).unwrap();
    assert!(out.converged, "chi {chi}: residual {:.3e} after {} iterations", out.residual, out.iterations);
    // An independent solve of the returned fields: both SCF conditions hold.
    let mut phi = vec![0.0; w0.len()];
    let mut log_q = [0.0];
    solver.solve_batch(&out.w, &mut phi, &mut log_q).unwrap();
    let (r_minus, r_plus) = residuals(chi, &out.w, &phi);
    assert!(r_minus.max(r_plus) < 1e-10, "chi {chi}: re-solved residuals {r_minus:.2e} {r_plus:.2e}");
    assert!((log_q[0] - out.log_q).abs() < 1e-8 * out.log_q.abs().max(1.0));
    // A pattern, below the melt.
    assert!(out.d_f < -0.1, "chi {chi}: dF {}", out.d_f);
    out
}

fn random_start(model: &ChainModel, grid: &Grid, chi: f64, amplitude: f64, seed: u64) -> Vec<f64> {
    InitialField::Random { amplitude }.fields(model, grid, chi, &mut StreamRng::new(seed, 0))
}

#[test]
fn random_starts_that_broke_the_fast_iteration_converge() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    // chi 0.3 left the domain (non-finite densities), chi 1.0 from
    // random:0.5 reached Q = -inf, chi 0.4 stalled at 6.8e-2.
    for (chi, amplitude) in [(0.3, 0.1), (1.0, 0.5), (0.4, 0.1)] {
        let out = saddle_point(chi, &random_start(&model, &grid, chi, amplitude, 0), &solver);
        assert!(out.descent_iterations > 0, "chi {chi}: the fast iteration alone converged");
    }
}

#[test]
fn a_start_outside_the_domain_is_drawn_towards_the_melt_and_converges() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 16, 16).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    // White noise of standard deviation 3 in W_-: far beyond the kernel's
    // domain (docs/model.md: about 0.7 on 1-2 cells).
    let mut rng = StreamRng::new(5, 0);
    let mut w0 = vec![0.0; 2 * m];
    for i in 0..m {
        let z = 3.0 * rng.normal();
        (w0[i], w0[m + i]) = (-z, z);
    }
    let mut phi = vec![0.0; 2 * m];
    assert!(solver.solve_batch(&w0, &mut phi, &mut [0.0]).is_err(), "the start should be unsolvable");
    let out = saddle_point(0.5, &w0, &solver);
    assert!(out.restarts > 0);
}

#[test]
fn healthy_starts_keep_the_fast_iteration() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, 0.3, &mut StreamRng::new(0, 0));
    let out = saddle_point(0.3, &w0, &solver);
    assert_eq!(out.descent_iterations, 0);
    assert!(out.iterations < 200, "{}", out.iterations);
    // The fallback is what mends the broken start: without it the same run
    // ends in an error (it leaves the domain) or unconverged.
    let config = ScftConfig { chi: 0.3, tolerance: 1e-10, max_iterations: 5000, robust: false, ..Default::default() };
    let w0 = random_start(&model, &grid, 0.3, 0.1, 0);
    let fast_only = run_scft(&solver, &config, &w0, &mut |_, _| {});
    assert!(!matches!(fast_only, Ok(ref o) if o.converged), "the fast iteration alone converged");
}
