//! `mesofield bench`: exact solves per second (batch 1 and 64, the paired
//! complex-FFT path against the two real-FFT recursions, side by side in
//! one run) and SCFT timings on two systems.

use std::time::Instant;

use anyhow::Result;
use serde_json::{Map, Value, json};

use mesofield_physics::fields::InitialField;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

/// Best of `repeats` timings (seconds) of solving `w` in batches of `batch`
/// into `phi` and `log_q`: the Rust side of `mesofield bench` and of the
/// Python package's overhead benchmark.
pub fn best_seconds(
    solver: &ExactSolver,
    w: &[f64],
    phi: &mut [f64],
    log_q: &mut [f64],
    batch: usize,
    repeats: usize,
) -> mesofield_physics::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        solver.solve_chunks(w, phi, log_q, batch, &mut |_| Ok(()))?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Best of 3 timings of `total` solves of `w` in batches of 1 and 64.
fn throughput(solver: &ExactSolver, w: &[f64], total: usize, label: &str, out: &mut Map<String, Value>) -> Result<()> {
    let mut phi = vec![0.0; w.len()];
    let mut log_q = vec![0.0; total];
    // Warm up (workspace pool, page faults, clock ramp).
    solver.solve_batch(w, &mut phi, &mut log_q)?;
    for batch in [1usize, 64] {
        let best = best_seconds(solver, w, &mut phi, &mut log_q, batch, 3)?;
        out.insert(format!("solves_per_second_batch{batch}{label}"), json!(total as f64 / best));
    }
    Ok(())
}

/// The figures of `mesofield bench` (at least 64 solves per measurement).
pub fn exact_bench(solves: usize) -> Result<Value> {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32)?;
    let solver = ExactSolver::new(&model, grid)?;
    let total = solves.max(64);
    let mut rng = StreamRng::new(1, 0);
    let w: Vec<f64> = (0..total * 2 * grid.points()).map(|_| 0.05 * rng.normal()).collect();
    let mut results = Map::new();
    throughput(&solver, &w, total, "", &mut results)?;
    let realfft = ExactSolver::new(&model, grid)?.with_paired_fft(false);
    throughput(&realfft, &w, total, "_realfft_join", &mut results)?;

    // hex_bead: saddle point, then from its fields scaled by 0.9 to 1e-10.
    let hex = ChainModel::pscf_hex_bead();
    let hex_grid = Grid::for_model(&hex, 32, 56)?;
    let hex_solver = ExactSolver::new(&hex, hex_grid)?;
    let config = ScftConfig { chi: 0.2, tolerance: 1e-10, ..Default::default() };
    let w0 = InitialField::Hex { nx: 1, ny: 1 }.fields(&hex, &hex_grid, 0.2, &mut StreamRng::new(0, 0));
    let saddle = run_scft(&hex_solver, &config, &w0, &mut |_, _| {})?;
    let scaled: Vec<f64> = saddle.w.iter().map(|v| 0.9 * v).collect();
    let from_scaled = run_scft(&hex_solver, &config, &scaled, &mut |_, _| {})?;
    results.insert(
        "hex_bead_from_hex_init".into(),
        json!({"iterations": saddle.iterations, "seconds": saddle.seconds, "dF": saddle.d_f}),
    );
    results.insert(
        "hex_bead_from_saddle_x0.9".into(),
        json!({"iterations": from_scaled.iterations, "seconds": from_scaled.seconds,
               "ms_per_iteration": 1e3 * from_scaled.seconds / from_scaled.solves as f64, "dF": from_scaled.d_f}),
    );
    // Default system, chi = 0.3, lamellar start with small noise.
    let mut rng = StreamRng::new(7, 0);
    let mut w_lam = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, 0.3, &mut rng);
    for i in 0..grid.points() {
        let z = 0.05 * 0.15 * rng.normal();
        w_lam[i] -= z;
        w_lam[grid.points() + i] += z;
    }
    let config = ScftConfig { chi: 0.3, tolerance: 1e-10, ..Default::default() };
    let lam = run_scft(&solver, &config, &w_lam, &mut |_, _| {})?;
    results.insert(
        "default_chi0.3_lamellar2_noise".into(),
        json!({"iterations": lam.iterations, "seconds": lam.seconds,
               "ms_per_iteration": 1e3 * lam.seconds / lam.solves as f64, "dF": lam.d_f, "converged": lam.converged}),
    );
    results.insert("threads".into(), json!(rayon::current_num_threads()));
    Ok(Value::Object(results))
}
