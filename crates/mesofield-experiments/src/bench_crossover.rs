//! `mesofield bench crossover`: where the density operator pays. Seconds
//! per field of the exact solve (2(N - 1) convolutions a chain, so its cost
//! grows with N) and of a density FNO (whose cost does not depend on N),
//! over chain lengths, grids (h = 0.2, so the box grows with the grid),
//! batch sizes and thread counts, all in one run; per setting the N where
//! the two cost the same.
//!
//! The networks are untrained: the forward pass does the same arithmetic
//! whatever the weights (dense spectral and pointwise layers, no
//! data-dependent branch), so an untrained network of a trained one's shape
//! times the same.

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use mesofield_fno::FnoConfig;
use mesofield_fno::data::Normalization;
use mesofield_fno::operator::FnoOperator;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::{ChainModel, ExactSolver, Grid};

use crate::progress::Reporter;
use crate::solvers::Backend;

/// What one run measures.
#[derive(Clone, Debug, Serialize)]
pub struct CrossoverSpec {
    pub beads: Vec<usize>,
    pub grids: Vec<usize>,
    pub batches: Vec<usize>,
    pub threads: Vec<usize>,
    /// Least wall seconds of one measurement (fields are repeated until then).
    pub min_seconds: f64,
    pub seed: u64,
}

impl CrossoverSpec {
    pub fn full() -> Self {
        CrossoverSpec {
            beads: vec![50, 100, 200, 400, 800],
            grids: vec![32, 64, 128],
            batches: vec![1, 64],
            threads: vec![1, 2],
            min_seconds: 0.5,
            seed: 1,
        }
    }

    /// Seconds on 32x32: the harness, not the figures.
    pub fn quick() -> Self {
        CrossoverSpec {
            beads: vec![20, 40],
            grids: vec![32],
            batches: vec![1, 4],
            threads: vec![1],
            min_seconds: 0.0,
            seed: 1,
        }
    }
}

/// The networks timed: the Fig. 3 density operator's shape and a small one.
pub fn networks() -> Vec<(&'static str, FnoConfig)> {
    vec![
        ("FNO fig3 (width 48, 4 layers, 12 modes)", FnoConfig::new().with_width(48).with_layers(4)),
        (
            "FNO small (width 16, 3 layers, 6 modes)",
            FnoConfig::new().with_width(16).with_layers(3).with_modes_x(6).with_modes_y(6),
        ),
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct Setting {
    pub grid: usize,
    pub batch: usize,
    pub threads: usize,
    /// Seconds per field of the exact solve at each of `spec.beads`.
    pub exact: Vec<f64>,
    /// Seconds per field of each network, and the N where the exact solve
    /// costs the same (log-log interpolation; None outside the measured N:
    /// then `below`/`above` says which side).
    pub networks: Vec<NetworkTiming>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NetworkTiming {
    pub name: String,
    pub seconds: f64,
    pub crossover_beads: Option<f64>,
    /// "pays from N = ...", "pays at every N measured", "pays at no N measured".
    pub verdict: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CrossoverReport {
    pub spec: CrossoverSpec,
    pub settings: Vec<Setting>,
    pub seconds: f64,
}

/// Seconds per field of `run` over `fields` fields in batches of `batch`,
/// repeated until `min_seconds` (best of the repeats per pass).
fn per_field(min_seconds: f64, fields: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    run()?; // warm up: workspaces, page faults, the clock ramp
    let started = Instant::now();
    let mut best = f64::INFINITY;
    let mut passes = 0;
    while passes < 2 || started.elapsed().as_secs_f64() < min_seconds {
        let t = Instant::now();
        run()?;
        best = best.min(t.elapsed().as_secs_f64());
        passes += 1;
    }
    Ok(best / fields as f64)
}

/// The N where `exact` (seconds at `beads`) reaches `seconds`.
fn crossover(beads: &[usize], exact: &[f64], seconds: f64) -> (Option<f64>, String) {
    if exact.first().is_some_and(|&e| e >= seconds) {
        return (None, "pays at every N measured".into());
    }
    for i in 1..beads.len() {
        let (e0, e1) = (exact[i - 1], exact[i]);
        if e0 < seconds && e1 >= seconds {
            let (n0, n1) = (beads[i - 1] as f64, beads[i] as f64);
            let t = (seconds.ln() - e0.ln()) / (e1.ln() - e0.ln());
            let n = (n0.ln() + t * (n1.ln() - n0.ln())).exp();
            return (Some(n), format!("pays from N = {n:.0}"));
        }
    }
    (None, "pays at no N measured".into())
}

/// Runs the whole table.
pub fn bench_crossover(spec: &CrossoverSpec, reporter: &Reporter) -> Result<CrossoverReport> {
    let started = Instant::now();
    let device = Backend::Cpu.device()?;
    let nets = networks();
    let total = spec.grids.len() * spec.threads.len() * spec.batches.len();
    let stage = reporter.stage(total as u64, "crossover");
    let mut settings = Vec::new();
    for &g in &spec.grids {
        let base = ChainModel::default();
        let side = base.box_size[0] / 32.0 * g as f64;
        let model_of = |beads: usize| ChainModel {
            beads,
            a_beads: (beads as f64 * base.f_a()).round() as usize,
            box_size: [side, side],
            ..base.clone()
        };
        for &threads in &spec.threads {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .context("cannot start the benchmark's thread pool")?;
            for &batch in &spec.batches {
                let setting = pool.install(|| -> Result<Setting> {
                    let mut rng = StreamRng::new(spec.seed, g as u64);
                    let mut exact = Vec::new();
                    for &beads in &spec.beads {
                        let model = model_of(beads);
                        model.validate()?;
                        let grid = Grid::for_model(&model, g, g)?;
                        let solver = ExactSolver::new(&model, grid)?;
                        let w: Vec<f64> = (0..batch * 2 * grid.points()).map(|_| 0.1 * rng.normal()).collect();
                        let mut phi = vec![0.0; w.len()];
                        let mut log_q = vec![0.0; batch];
                        exact.push(per_field(spec.min_seconds, batch, || {
                            Ok(solver.solve_chunks(&w, &mut phi, &mut log_q, batch, &mut |_| Ok(()))?)
                        })?);
                    }
                    let model = model_of(100);
                    let grid = Grid::for_model(&model, g, g)?;
                    let w: Vec<f64> = (0..batch * 2 * grid.points()).map(|_| 0.1 * rng.normal()).collect();
                    let mut networks = Vec::new();
                    for (name, config) in &nets {
                        let operator = FnoOperator {
                            checkpoint_dir: Default::default(),
                            model: config.clone().with_predict_log_q(true).init(&device),
                            normalization: Normalization::unit(&model),
                            grid,
                            device: device.clone(),
                            batch,
                        };
                        let seconds = per_field(spec.min_seconds, batch, || {
                            std::hint::black_box(operator.predict(&w));
                            Ok(())
                        })?;
                        let (crossover_beads, verdict) = crossover(&spec.beads, &exact, seconds);
                        networks.push(NetworkTiming { name: name.to_string(), seconds, crossover_beads, verdict });
                    }
                    Ok(Setting { grid: g, batch, threads, exact, networks })
                })?;
                stage.inc(1);
                settings.push(setting);
            }
        }
    }
    stage.finish();
    Ok(CrossoverReport { spec: spec.clone(), settings, seconds: started.elapsed().as_secs_f64() })
}

impl CrossoverReport {
    pub fn markdown(&self) -> String {
        let beads = &self.spec.beads;
        let mut text = String::from(
            "Milliseconds per field (exact solve at each N; the FNO's does not depend on N):\n\n| grid | batch | threads |",
        );
        for n in beads {
            text.push_str(&format!(" exact N={n} |"));
        }
        let names: Vec<&str> =
            self.settings.first().map(|s| s.networks.iter().map(|n| n.name.as_str()).collect()).unwrap_or_default();
        for name in &names {
            text.push_str(&format!(" {name} |"));
        }
        text.push_str("\n| --- | --- | --- |");
        text.push_str(&" --- |".repeat(beads.len() + names.len()));
        text.push('\n');
        for s in &self.settings {
            text.push_str(&format!("| {0}x{0} | {1} | {2} |", s.grid, s.batch, s.threads));
            for e in &s.exact {
                text.push_str(&format!(" {:.3} |", 1e3 * e));
            }
            for n in &s.networks {
                text.push_str(&format!(" {:.3} ({}) |", 1e3 * n.seconds, n.verdict));
            }
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crossover_of_a_power_law_is_exact_and_the_ends_say_which_side() {
        // Exact cost linear in N: it reaches 2 ms at N = 200 exactly.
        let beads = [50, 100, 400, 800];
        let exact: Vec<f64> = beads.iter().map(|&n| 1e-5 * n as f64).collect();
        let (n, verdict) = crossover(&beads, &exact, 2e-3);
        assert!((n.unwrap() - 200.0).abs() < 1e-9, "{n:?}");
        assert_eq!(verdict, "pays from N = 200");
        assert_eq!(crossover(&beads, &exact, 1e-4), (None, "pays at every N measured".to_string()));
        assert_eq!(crossover(&beads, &exact, 1.0), (None, "pays at no N measured".to_string()));
    }

    #[test]
    fn the_quick_table_times_every_setting() {
        let spec = CrossoverSpec::quick();
        let report = bench_crossover(&spec, &Reporter::silent()).unwrap();
        assert_eq!(report.settings.len(), spec.grids.len() * spec.batches.len() * spec.threads.len());
        for s in &report.settings {
            assert_eq!(s.exact.len(), spec.beads.len());
            assert!(s.exact.iter().all(|e| e.is_finite() && *e > 0.0), "{s:?}");
            assert_eq!(s.networks.len(), networks().len());
            for n in &s.networks {
                assert!(n.seconds.is_finite() && n.seconds > 0.0, "{n:?}");
                // A crossover lies within the measured chain lengths.
                assert!(n.crossover_beads.is_none_or(|b| (20.0..=40.0).contains(&b)), "{n:?}");
            }
        }
        let table = report.markdown();
        assert!(table.contains("| 32x32 | 4 | 1 |") && table.contains("exact N=40"), "{table}");
    }
}
