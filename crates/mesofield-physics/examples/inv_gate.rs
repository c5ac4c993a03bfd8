//! Where the inverse map stops on patterns no chain can make (32x32, the
//! default chain): a checkerboard at the grid's Nyquist wave number, stripes
//! with densities exactly 0 and 1, and the same stripes softened over one
//! or two grid cells. Beside the residual that patterns which the chain can
//! make once stopped at (3e-9 to 1e-4, before depleted points' fields were
//! reset), this sets how loose `infer-chi`'s acceptance of a partial
//! inversion may be.
//! `cargo run --release -p mesofield-physics --example inv_gate`
use mesofield_physics::inverse::{InverseConfig, invert};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

fn main() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let (mx, my) = (grid.mx, grid.my);
    let m = grid.points();
    let f = model.f_a();
    let mut cases: Vec<(String, Vec<f64>)> = Vec::new();
    for amp in [0.05, 0.1, 0.25] {
        cases.push((
            format!("checkerboard +-{amp}"),
            (0..m).map(|i| f + amp * if (i / my + i % my) % 2 == 0 { 1.0 } else { -1.0 }).collect(),
        ));
    }
    // Two lamellae of width 0.7 x period: A-rich where the stripe is.
    let stripes = |soft: f64| -> Vec<f64> {
        let period = mx as f64 / 2.0;
        let raw: Vec<f64> = (0..m)
            .map(|i| {
                let x = (i / my) as f64 % period;
                let d = (x - 0.35 * period).abs().min((x + period - 0.35 * period).abs()) - 0.35 * period;
                if soft == 0.0 { if d < 0.0 { 1.0 } else { 0.0 } } else { 0.5 * (1.0 - (d / soft).tanh()) }
            })
            .collect();
        let mean = raw.iter().sum::<f64>() / m as f64;
        raw.iter().map(|v| v - mean + f).collect()
    };
    for soft in [0.0, 0.25, 0.5, 1.0, 2.0] {
        cases.push((format!("stripes, interface width {soft} cells"), stripes(soft)));
    }
    for (name, phi_a) in cases {
        let target: Vec<f64> = phi_a.iter().copied().chain(phi_a.iter().map(|v| 1.0 - v)).collect();
        let lo = phi_a.iter().cloned().fold(1.0, f64::min);
        match invert(&solver, &target, None, &InverseConfig::default()) {
            Ok(o) => println!(
                "{name} (min phi_A {lo:.3}): residual {:.1e} converged {} solve-eq {}",
                o.residual,
                o.converged,
                o.solve_equivalents()
            ),
            Err(e) => println!("{name}: error {e}"),
        }
    }
}
