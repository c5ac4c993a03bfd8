//! Probe of the inverse map on exact SCFT saddle-point densities where it
//! stops short (issue 14): the residual reached for several Anderson
//! histories and mixings. `cargo run --release -p mesofield-physics --example inv_probe`.
//! Measured 2026-12-01: hex:1:1 and random starts at chi 0.5 stop at
//! 6e-4 to 7e-3, square:2:2 at chi 1.0 at 9e-3 to 2e-2, whatever the settings.

use mesofield_physics::fields::InitialField;
use mesofield_physics::inverse::{InverseConfig, invert};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

fn main() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    for (chi, init) in [
        (0.5, InitialField::Hex { nx: 1, ny: 1 }),
        (0.5, InitialField::Random { amplitude: 0.1 }),
        (1.0, InitialField::Square { nx: 2, ny: 2 }),
    ] {
        let w0 = init.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
        let out = run_scft(
            &solver,
            &ScftConfig { chi, tolerance: 1e-11, max_iterations: 5000, ..Default::default() },
            &w0,
            &mut |_, _| {},
        )
        .unwrap();
        for (hist, mix, iters) in [(12, 1.0, 3000), (30, 1.0, 3000), (12, 0.5, 3000), (5, 1.0, 3000)] {
            let cfg = InverseConfig { max_iterations: iters, history: hist, mixing: mix, ..Default::default() };
            let inv = invert(&solver, &out.phi, None, &cfg).unwrap();
            println!(
                "chi {chi} {init:?} hist {hist} mix {mix}: residual {:.2e} after {} its ({} solves)",
                inv.residual, inv.iterations, inv.solves
            );
        }
    }
}
