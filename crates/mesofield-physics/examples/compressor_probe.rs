//! The W_+ loop's exact solves per L-FTS step, per compressor scheme and
//! tolerance: one chain (B = 100, lambda = 0.05, lamellar start, the
//! default integrator), 100 steps to settle, then `STEPS` steps counted,
//! the same noise for every setting; and Newton-Krylov on the exact
//! tangent (GMRES preconditioned by the melt's response, forcing term 0.1)
//! from the same starts. For issue 32's compressor.
//! `cargo run --release -p mesofield-physics --example compressor_probe -- CHI [STEPS] [GRID]`
//! (GRID 32: a square of 6.4; 64: of 12.8). Environment: BPC (B, 100),
//! LAMBDA (0.05), RANDOM (set: random fields of amplitude 0.1 instead of
//! the lamellar start).

use mesofield_physics::debye::melt_response;
use mesofield_physics::fields::{InitialField, from_exchange_pressure};
use mesofield_physics::fts::{CompressorConfig, Lfts, LftsConfig, langevin_update, predicted_w_plus};
use mesofield_physics::krylov::Gmres;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::{C64, SpectralPlan};
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

fn main() {
    let mut args = std::env::args().skip(1);
    let chi: f64 = args.next().map(|s| s.parse().expect("CHI")).unwrap_or(1.0);
    let steps: usize = args.next().map(|s| s.parse().expect("STEPS")).unwrap_or(200);
    let side: usize = args.next().map(|s| s.parse().expect("GRID")).unwrap_or(32);
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, side, side).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let periods = side / 16;
    let bpc: f64 = std::env::var("BPC").ok().map(|s| s.parse().unwrap()).unwrap_or(100.0);
    let lam: f64 = std::env::var("LAMBDA").ok().map(|s| s.parse().unwrap()).unwrap_or(0.05);
    let init = if std::env::var("RANDOM").is_ok() {
        InitialField::Random { amplitude: 0.1 }
    } else {
        InitialField::Lamellar { periods }
    };
    let w0 = init.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    println!("| chi | grid | tolerance | scheme | solves/step | ms/step |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for tolerance in [1e-4, 1e-6] {
        let schemes = [
            ("melt, fresh history", 0, false),
            ("melt, carried history", 0, true),
            ("local response, fresh history", 3, false),
            ("local response, carried history (default)", 3, true),
        ];
        let mut settled = None;
        for (name, iterations, carry) in schemes {
            let compressor = CompressorConfig {
                tolerance,
                response_iterations: iterations,
                carry_history: carry,
                ..CompressorConfig::default()
            };
            let mut config = LftsConfig::new(chi, bpc, lam, 1);
            config.compressor = compressor;
            let lfts = Lfts::new(config, Solvers::exact(&solver)).unwrap();
            let (mut state, _) = lfts.start(&w0, 0).unwrap();
            for _ in 0..100 {
                state = lfts.step(&state).unwrap().0;
            }
            settled.get_or_insert_with(|| state.clone());
            let (mut solves, started) = (0, std::time::Instant::now());
            for _ in 0..steps {
                let (next, cost) = lfts.step(&state).unwrap();
                solves += cost.exact_solves;
                state = next;
            }
            let ms = 1e3 * started.elapsed().as_secs_f64() / steps as f64;
            println!("| {chi} | {side} | {tolerance:e} | {name} | {:.2} | {ms:.2} |", solves as f64 / steps as f64);
        }
        newton_krylov(&solver, chi, bpc, lam, tolerance, settled.expect("a run"), steps.min(50));
    }
}

/// Newton-Krylov from the default compressor's steps: per step, the exact
/// solves (one per Newton iteration) and the tangent products (about one
/// solve each).
fn newton_krylov(
    solver: &ExactSolver,
    chi: f64,
    beads_per_cell: f64,
    step_size: f64,
    tolerance: f64,
    mut state: mesofield_physics::fts::LftsState,
    steps: usize,
) {
    let grid = *solver.grid();
    let m = grid.points();
    let mut config = LftsConfig::new(chi, beads_per_cell, step_size, 1);
    config.compressor.tolerance = tolerance;
    let lfts = Lfts::new(config.clone(), Solvers::exact(solver)).unwrap();
    let plan = SpectralPlan::new(grid);
    let (inverse_total, _) = melt_response(&plan, solver.model());
    let mut scratch = plan.scratch();
    let mut spectrum = vec![C64::default(); plan.spectrum_len()];
    let mut gmres = Gmres::new(m, 30);
    let mut w = vec![0.0; 2 * m];
    let mut lin = solver.linearize(&state.saddle().fields()).unwrap();
    let (mut v2, mut dv) = (vec![0.0; 2 * m], vec![0.0; 2 * m]);
    let (mut solves, mut products, started) = (0, 0, std::time::Instant::now());
    for _ in 0..steps {
        let mut xi = vec![0.0; m];
        config.integrator.noise(config.seed, state.step, config.noise_std(), &mut xi);
        let mut w_minus = state.w_minus.clone();
        langevin_update(&mut w_minus, &state.phi, chi, config.step_size, &xi);
        let mut w_plus = predicted_w_plus(&state.saddle(), &w_minus);
        loop {
            from_exchange_pressure(&w_minus, &w_plus, &mut w);
            lin.at(&w).unwrap();
            solves += 1;
            let phi = lin.phi();
            let minus_g: Vec<f64> = (0..m).map(|i| 1.0 - phi[i] - phi[m + i]).collect();
            if minus_g.iter().all(|g| g.abs() < tolerance) {
                break;
            }
            let mut delta = vec![0.0; m];
            let apply = |v: &[f64], out: &mut [f64]| {
                v2[..m].copy_from_slice(v);
                v2[m..].copy_from_slice(v);
                lin.apply(&v2, &mut dv)?;
                for i in 0..m {
                    out[i] = dv[i] + dv[m + i];
                }
                Ok(())
            };
            let precondition = |v: &[f64], out: &mut [f64]| {
                out.copy_from_slice(v);
                plan.apply_multiplier(&mut scratch, &mut spectrum, out, &inverse_total);
                out.iter_mut().for_each(|o| *o = -*o);
            };
            let info = gmres.solve(apply, precondition, &minus_g, &mut delta, 0.1, 60).unwrap();
            products += info.products;
            for (x, d) in w_plus.iter_mut().zip(&delta) {
                *x += d;
            }
        }
        state = lfts.advance(&state, w_minus).unwrap().0;
    }
    let s = steps as f64;
    let ms = 1e3 * started.elapsed().as_secs_f64() / s;
    println!(
        "| {chi} | {} | {tolerance:e} | Newton-Krylov, exact tangent ({:.2} solves + {:.2} products) | {:.2} | {ms:.2} (with the default's step) |",
        grid.mx,
        solves as f64 / s,
        products as f64 / s,
        (solves + products) as f64 / s
    );
}
