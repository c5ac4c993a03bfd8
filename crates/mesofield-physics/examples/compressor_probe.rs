//! The W_+ loop's exact solves per L-FTS step against its Anderson history
//! and tolerance: one chain (B = 100, lambda = 0.05, 32x32, lamellar:2,
//! the default integrator), 100 steps to settle, then `STEPS` steps counted,
//! the same noise for every setting. For issue 32's compressor.
//! `cargo run --release -p mesofield-physics --example compressor_probe -- CHI [STEPS]`

use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

fn main() {
    let mut args = std::env::args().skip(1);
    let chi: f64 = args.next().map(|s| s.parse().expect("CHI")).unwrap_or(1.0);
    let steps: usize = args.next().map(|s| s.parse().expect("STEPS")).unwrap_or(200);
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    println!("| chi | tolerance | history | solves/step | seconds |");
    println!("| --- | --- | --- | --- | --- |");
    for tolerance in [1e-4, 1e-6] {
        for history in [5, 10, 20, 40] {
            let mut config = LftsConfig::new(chi, 100.0, 0.05, 1).with_pressure_tolerance(tolerance);
            config.compressor.history = history;
            let lfts = Lfts::new(config, Solvers::exact(&solver)).unwrap();
            let (mut state, _) = lfts.start(&w0, 0).unwrap();
            for _ in 0..100 {
                state = lfts.step(&state).unwrap().0;
            }
            let (mut solves, started) = (0, std::time::Instant::now());
            for _ in 0..steps {
                let (next, cost) = lfts.step(&state).unwrap();
                solves += cost.exact_solves;
                state = next;
            }
            let seconds = started.elapsed().as_secs_f64();
            println!("| {chi} | {tolerance:e} | {history} | {:.2} | {seconds:.2} |", solves as f64 / steps as f64);
        }
    }
}
