use mesofield_physics::fields::InitialField;
use mesofield_physics::hamiltonian::residuals;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::*;
fn main() {
    let hex = ChainModel::pscf_hex_bead();
    let grid = Grid::for_model(&hex, 32, 56).unwrap();
    let solver = ExactSolver::new(&hex, grid).unwrap();
    let config = ScftConfig { chi: 0.2, tolerance: 1e-10, ..Default::default() };
    let w0 = InitialField::Hex { nx: 1, ny: 1 }.fields(&hex, &grid, 0.2, &mut StreamRng::new(0, 0));
    let saddle = run_scft(&solver, &config, &w0, &mut |_, _| {}).unwrap();
    let scaled: Vec<f64> = saddle.w.iter().map(|v| 0.9 * v).collect();
    let mut phi = vec![0.0; scaled.len()];
    let mut lq = [0.0];
    solver.solve_batch(&scaled, &mut phi, &mut lq).unwrap();
    println!("initial residuals {:?}", residuals(0.2, &scaled, &phi));
    let out = run_scft(&solver, &config, &scaled, &mut |it, r| println!("{it} {r:.3e}")).unwrap();
    println!("{} {}", out.iterations, out.d_f);
}
