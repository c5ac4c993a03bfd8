//! The inverse map on the pattern classes of issue 14, the quasi-Newton
//! iteration alone (`newton: false`, the method before Newton) against the
//! default (quasi-Newton handing over to Newton-Krylov and its starts), and
//! chi inferred from the inverted fields. Prints markdown tables.
//! `cargo run --release -p mesofield-physics --example inv_probe`.

use std::time::Instant;

use mesofield_physics::chi::{ChiEstimator, estimate_chi};
use mesofield_physics::fields::{InitialField, gaussian_random_field};
use mesofield_physics::fts::{Integrator, Lfts, LftsConfig};
use mesofield_physics::inverse::{InverseConfig, InverseOutcome, invert};
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

fn row(name: &str, solver: &ExactSolver, target: &[f64]) -> InverseOutcome {
    let mut cells = Vec::new();
    let mut last = None;
    for newton in [false, true] {
        let t = Instant::now();
        let out = invert(solver, target, None, &InverseConfig { newton, ..Default::default() }).unwrap();
        cells.push(format!("{:.1e} | {} | {:.2}", out.residual, out.solve_equivalents(), t.elapsed().as_secs_f64()));
        last = Some(out);
    }
    println!("| {name} | {} |", cells.join(" | "));
    last.unwrap()
}

fn main() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let plan = SpectralPlan::new(grid);
    let m = grid.points();
    println!("| pattern | before: residual | solves | s | now: residual | solves + products | s |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let inits = [
        ("lamellar:2", InitialField::Lamellar { periods: 2 }),
        ("hex:2:2", InitialField::Hex { nx: 2, ny: 2 }),
        ("hex:1:1", InitialField::Hex { nx: 1, ny: 1 }),
        ("square:2:2", InitialField::Square { nx: 2, ny: 2 }),
    ];
    let mut chi_rows = Vec::new();
    for chi in [0.2, 0.3, 0.5, 0.7, 1.0, 1.5] {
        for (name, init) in &inits {
            let w0 = init.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
            let cfg = ScftConfig { chi, tolerance: 1e-11, max_iterations: 5000, ..Default::default() };
            let scft = run_scft(&solver, &cfg, &w0, &mut |_, _| {}).unwrap();
            let target = pattern(&scft.phi);
            let out = row(&format!("SCFT {name} chi {chi}"), &solver, &target);
            let est = estimate_chi(&plan, &out.w, &target, ChiEstimator::Saddle).unwrap();
            chi_rows.push(format!("| SCFT {name} | {chi} | {:.8} | {:.1e} |", est.chi, (est.chi / chi - 1.0).abs()));
        }
    }
    for chi in [0.1, 0.4, 1.0] {
        let mut cfg = LftsConfig::new(chi, 100.0, 0.05, 3).with_integrator(Integrator::EulerMaruyama);
        cfg.compressor.tolerance = 1e-10;
        let lfts = Lfts::new(cfg, Solvers::exact(&solver)).unwrap();
        let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
        let (mut state, _) = lfts.start(&w0, 0).unwrap();
        let (mut ws, mut targets, mut true_ws) = (Vec::new(), Vec::new(), Vec::new());
        for snapshot in 0..2 {
            for _ in 0..200 {
                state = lfts.step(&state).unwrap().0;
            }
            let target = pattern(&state.phi);
            let out = row(&format!("L-FTS chi {chi} B 100, snapshot {snapshot}"), &solver, &target);
            ws.extend_from_slice(&out.w);
            let mut w_true = vec![0.0; 2 * m];
            mesofield_physics::fields::from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w_true);
            true_ws.extend_from_slice(&w_true);
            let wm_inv: Vec<f64> = (0..m).map(|i| 0.5 * (out.w[m + i] - out.w[i])).collect();
            let mean_t = state.w_minus.iter().sum::<f64>() / m as f64;
            let mean_i = wm_inv.iter().sum::<f64>() / m as f64;
            let dev = (0..m).map(|i| (wm_inv[i] - mean_i - state.w_minus[i] + mean_t).abs()).fold(0.0, f64::max);
            println!("|   (its W_- differs from the run's own by up to {dev:.2e}) | | | | | | |");
            targets.extend_from_slice(&target);
        }
        let estimator = ChiEstimator::Equipartition {
            beads_per_cell: 100.0,
            step_size: 0.05,
            integrator: Integrator::EulerMaruyama,
        };
        let est = estimate_chi(&plan, &ws, &targets, estimator).unwrap();
        chi_rows.push(format!(
            "| 2 L-FTS patterns, B 100 | {chi} | {:.4} | {:.1e} |",
            est.chi,
            (est.chi / chi - 1.0).abs()
        ));
        let est_true = estimate_chi(&plan, &true_ws, &targets, estimator).unwrap();
        chi_rows.push(format!(
            "| 2 L-FTS patterns, B 100, their own fields | {chi} | {:.4} | {:.1e} |",
            est_true.chi,
            (est_true.chi / chi - 1.0).abs()
        ));
    }
    // Per-bead amplitudes of the dataset's grf family (phi_A reaches about
    // 2.2 at 0.01).
    for (amplitude, seed) in [(0.005, 1u64), (0.01, 2), (0.02, 3)] {
        let mut rng = StreamRng::new(seed, 0);
        let mut w = vec![0.0; 2 * m];
        gaussian_random_field(&plan, &mut rng, 0.6, &mut w[..m]);
        gaussian_random_field(&plan, &mut rng, 0.4, &mut w[m..]);
        w.iter_mut().for_each(|v| *v *= amplitude);
        let mut phi = vec![0.0; 2 * m];
        solver.solve_batch(&w, &mut phi, &mut [0.0]).unwrap();
        row(&format!("smooth random fields (grf family), amplitude {amplitude}"), &solver, &phi);
    }
    println!("\n| chi from | true chi | inferred | relative error |");
    println!("| --- | --- | --- | --- |");
    for r in chi_rows {
        println!("{r}");
    }
}
