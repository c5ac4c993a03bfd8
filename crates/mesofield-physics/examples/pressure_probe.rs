//! How much a better W_+ start could save the L-FTS inner loop: each step's
//! converged W_+* perturbed by a smooth random field of rms `delta`, then
//! relaxed to the same tolerance, against the default start (the local
//! response from the previous W_+). For issue 16's pressure operator.
//! `cargo run --release -p mesofield-physics --example pressure_probe -- CHI TOL`

use mesofield_physics::fields::{InitialField, from_exchange_pressure, gaussian_random_field};
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

fn main() {
    let mut args = std::env::args().skip(1);
    let chi: f64 = args.next().map(|s| s.parse().expect("CHI")).unwrap_or(1.0);
    let tol: f64 = args.next().map(|s| s.parse().expect("TOL")).unwrap_or(1e-6);
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let plan = SpectralPlan::new(grid);
    let m = grid.points();
    let mut config = LftsConfig::new(chi, 100.0, 0.05, 1);
    config.compressor.tolerance = tol;
    let lfts = Lfts::new(config, Solvers::exact(&solver)).unwrap();
    let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    for _ in 0..100 {
        state = lfts.step(&state).unwrap().0;
    }
    let deltas = [0.0, 1e-4, 1e-3, 1e-2];
    let (mut default_solves, mut solves) = (0, vec![0; deltas.len()]);
    let steps = 40;
    let mut rng = StreamRng::new(99, 0);
    let mut rms_w_plus = 0.0;
    for _ in 0..steps {
        let (next, cost) = lfts.step(&state).unwrap();
        default_solves += cost.exact_solves;
        let mean = next.w_plus.iter().sum::<f64>() / m as f64;
        rms_w_plus += (next.w_plus.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64).sqrt() / steps as f64;
        for (k, &delta) in deltas.iter().enumerate() {
            let mut noise = vec![0.0; m];
            gaussian_random_field(&plan, &mut rng, 0.5, &mut noise);
            let rms = (noise.iter().map(|v| v * v).sum::<f64>() / m as f64).sqrt().max(1e-300);
            let w_plus: Vec<f64> = next.w_plus.iter().zip(&noise).map(|(p, n)| p + delta * n / rms).collect();
            let mut w = vec![0.0; 2 * m];
            from_exchange_pressure(&next.w_minus, &w_plus, &mut w);
            let (_, cost) = lfts.start(&w, next.step).unwrap();
            solves[k] += cost.exact_solves;
        }
        state = next;
    }
    println!("chi {chi}, tolerance {tol:e}, {steps} steps, rms of W_+ {rms_w_plus:.3}");
    println!("| W_+ start | exact solves per step |");
    println!("| --- | --- |");
    println!("| the default (W_+ moved by psi dW_- point by point) | {:.1} |", default_solves as f64 / steps as f64);
    for (k, delta) in deltas.iter().enumerate() {
        println!("| converged W_+ + smooth error of rms {delta:e} | {:.1} |", solves[k] as f64 / steps as f64);
    }
}
