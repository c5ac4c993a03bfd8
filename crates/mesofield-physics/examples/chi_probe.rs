//! chi from two L-FTS patterns (B = 100, step 0.05, 32x32, snapshots after
//! 200 and 400 steps from lamellar:2): the equipartition estimator on the
//! fields the inverse map finds and on the run's own fields, and how far the
//! two fields are apart by density. For BENCHMARKS.md (issue 14).
//! `cargo run --release -p mesofield-physics --example chi_probe -- CHI SEED [own|inverse] [em|lm] [STEP] [SNAPSHOTS]`
//! (`own`: the run's own fields only, without the inverse map; the
//! integrator, step size and snapshots of 200 steps default to em, 0.05, 2).

use mesofield_physics::chi::{ChiEstimator, estimate_chi};
use mesofield_physics::fields::{InitialField, from_exchange_pressure};
use mesofield_physics::fts::{Integrator, Lfts, LftsConfig};
use mesofield_physics::inverse::{InverseConfig, invert};
use mesofield_physics::rng::StreamRng;
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

/// W_- with its mean removed.
fn w_minus(w: &[f64]) -> Vec<f64> {
    let m = w.len() / 2;
    let v: Vec<f64> = (0..m).map(|i| 0.5 * (w[m + i] - w[i])).collect();
    let mean = v.iter().sum::<f64>() / m as f64;
    v.into_iter().map(|x| x - mean).collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let chi: f64 = args.next().map(|s| s.parse().expect("CHI")).unwrap_or(1.0);
    let seed: u64 = args.next().map(|s| s.parse().expect("SEED")).unwrap_or(3);
    let invert_too = args.next().as_deref() != Some("own");
    let integrator: Integrator = args.next().map(|s| s.parse().expect("em|lm")).unwrap_or(Integrator::EulerMaruyama);
    let step_size: f64 = args.next().map(|s| s.parse().expect("STEP")).unwrap_or(0.05);
    let snapshots: usize = args.next().map(|s| s.parse().expect("SNAPSHOTS")).unwrap_or(2);
    let beads_per_cell = 100.0;
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    let mut config = LftsConfig::new(chi, beads_per_cell, step_size, seed).with_integrator(integrator);
    config.compressor.tolerance = 1e-10;
    let lfts = Lfts::new(config, Solvers::exact(&solver)).unwrap();
    let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    let (mut own, mut inverted, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    for snapshot in 0..snapshots {
        for _ in 0..200 {
            state = lfts.step(&state).unwrap().0;
        }
        let target = pattern(&state.phi);
        let mut w = vec![0.0; 2 * m];
        from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
        if invert_too {
            let out = invert(&solver, &target, None, &InverseConfig::default()).unwrap();
            println!(
                "snapshot {snapshot}: inverse residual {:.1e}, {} solve equivalents",
                out.residual,
                out.solve_equivalents()
            );
            let (found, run) = (w_minus(&out.w), w_minus(&w));
            for (lo, hi) in [(f64::NEG_INFINITY, 1e-3), (1e-3, 1e-2), (1e-2, 3e-2), (3e-2, f64::INFINITY)] {
                let points: Vec<usize> = (0..m)
                    .filter(|&i| {
                        let d = target[i].min(target[m + i]);
                        d >= lo && d < hi
                    })
                    .collect();
                let rms = (points.iter().map(|&i| (found[i] - run[i]).powi(2)).sum::<f64>()
                    / points.len().max(1) as f64)
                    .sqrt();
                let max = points.iter().map(|&i| (found[i] - run[i]).abs()).fold(0.0, f64::max);
                println!(
                    "  min density in [{lo:.0e}, {hi:.0e}): {} points, W_- apart by rms {rms:.3}, max {max:.3}",
                    points.len()
                );
            }
            inverted.extend(out.w);
        }
        own.extend(w);
        targets.extend(target);
    }
    let plan = SpectralPlan::new(grid);
    let estimate = |w: &[f64], step_size: f64| {
        estimate_chi(&plan, w, &targets, ChiEstimator::Equipartition { beads_per_cell, step_size, integrator })
            .map(|e| format!("{:.4} +- {:.4}", e.chi, e.std_error))
            .unwrap_or_else(|e| e.to_string())
    };
    println!(
        "chi {chi} seed {seed}, the run's own fields: {} (continuum form {})",
        estimate(&own, step_size),
        estimate(&own, 0.0)
    );
    if invert_too {
        println!(
            "chi {chi} seed {seed}, the inverted fields: {} (continuum form {})",
            estimate(&inverted, step_size),
            estimate(&inverted, 0.0)
        );
    }
}
