//! Operator against exact densities, per sample: contrast-relative error per
//! channel ||phi_pred - phi|| / ||phi - mean(phi)|| (the figure that matters:
//! plain relative L2 of a density near 0.7 flatters every model), relative L2
//! of phi, mass error, ln Q error, and operator vs exact-solver throughput on
//! the same fields and machine.

use std::time::Instant;

use serde::Serialize;

use mesofield_physics::dataset::Dataset;
use mesofield_physics::stats::{self, quantile};
use mesofield_physics::{ExactSolver, Grid};

use crate::operator::FnoOperator;

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub median: f64,
    pub p95: f64,
    pub worst: f64,
    pub mean: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Summary {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        Summary {
            median: quantile(&v, 0.5),
            p95: quantile(&v, 0.95),
            worst: v.last().copied().unwrap_or(f64::NAN),
            mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub samples: usize,
    pub grid: [usize; 2],
    pub contrast_relative_a: Summary,
    pub contrast_relative_b: Summary,
    pub relative_l2: Summary,
    pub mass_error: Summary,
    pub log_q_abs_error: Option<Summary>,
    pub operator_fields_per_second: f64,
    pub exact_fields_per_second: f64,
    pub threads: usize,
    /// Per-sample contrast-relative error of phi_A, in dataset order.
    #[serde(skip)]
    pub per_sample_a: Vec<f64>,
    /// Per-sample contrast-relative error of phi_B, in dataset order.
    #[serde(skip)]
    pub per_sample_b: Vec<f64>,
    /// The operator's densities `[n][2][Mx*My]`.
    #[serde(skip)]
    pub predicted: Vec<f64>,
}

impl EvalReport {
    /// The report as `mesofield eval` prints it.
    pub fn text(&self) -> String {
        let s = |x: &Summary| format!("median {:.4} p95 {:.4} worst {:.4}", x.median, x.p95, x.worst);
        format!(
            "{} fields on {}x{}\n  contrast-relative error A: {}\n  contrast-relative error B: {}\n  relative L2 of phi:        {}\n  operator {:.0} fields/s, exact solver {:.0} fields/s\n",
            self.samples,
            self.grid[0],
            self.grid[1],
            s(&self.contrast_relative_a),
            s(&self.contrast_relative_b),
            s(&self.relative_l2),
            self.operator_fields_per_second,
            self.exact_fields_per_second
        )
    }
}

/// Evaluates `op` on `data` (whose grid must be the operator's).
pub fn evaluate(op: &FnoOperator, data: &Dataset) -> EvalReport {
    let (mx, my) = (data.mx, data.my);
    let m = mx * my;
    let n = data.len();
    let start = Instant::now();
    let (phi, log_q) = op.predict(&data.w);
    let operator_seconds = start.elapsed().as_secs_f64();
    let exact_seconds = Grid::for_model(&data.meta.model, mx, my)
        .and_then(|grid| ExactSolver::new(&data.meta.model, grid))
        .map(|solver| {
            let mut phi_exact = vec![0.0; data.w.len()];
            let mut lq = vec![0.0; n];
            let start = Instant::now();
            let _ = solver.solve_batch(&data.w, &mut phi_exact, &mut lq);
            start.elapsed().as_secs_f64()
        })
        .unwrap_or(f64::NAN);
    let (mut rel_l2, mut con_a, mut con_b, mut mass, mut lq_err) = (vec![], vec![], vec![], vec![], vec![]);
    for s in 0..n {
        let p = &phi[s * 2 * m..(s + 1) * 2 * m];
        let t = &data.phi[s * 2 * m..(s + 1) * 2 * m];
        let diff2: f64 = p.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum();
        let norm2: f64 = t.iter().map(|v| v * v).sum();
        rel_l2.push((diff2 / norm2).sqrt());
        for (c, out) in [(0usize, &mut con_a), (1usize, &mut con_b)] {
            let (pc, tc) = (&p[c * m..(c + 1) * m], &t[c * m..(c + 1) * m]);
            let mean = stats::mean(tc);
            let num: f64 = pc.iter().zip(tc).map(|(a, b)| (a - b).powi(2)).sum();
            let den: f64 = tc.iter().map(|v| (v - mean).powi(2)).sum();
            out.push((num / den.max(1e-300)).sqrt());
        }
        mass.push((p.iter().sum::<f64>() / m as f64 - 1.0).abs());
        if op.predicts_log_q() {
            lq_err.push((log_q[s] - data.log_q[s]).abs());
        }
    }
    EvalReport {
        samples: n,
        grid: [mx, my],
        contrast_relative_a: Summary::of(&con_a),
        contrast_relative_b: Summary::of(&con_b),
        relative_l2: Summary::of(&rel_l2),
        mass_error: Summary::of(&mass),
        log_q_abs_error: (!lq_err.is_empty()).then(|| Summary::of(&lq_err)),
        operator_fields_per_second: n as f64 / operator_seconds,
        exact_fields_per_second: n as f64 / exact_seconds,
        threads: rayon::current_num_threads(),
        per_sample_a: con_a,
        per_sample_b: con_b,
        predicted: phi,
    }
}
