//! The central seam: "fields -> densities" over a batch. The exact solver
//! implements it here; a trained operator implements it in the FNO crate.
//! Every loop (SCFT, sampling, denoising, dynamics) is written against it.
//! `conformance::check_field_solver` is the contract every implementation
//! is tested against.

use crate::error::Result;
use crate::grid::Grid;
use crate::model::ChainModel;
use crate::solver::ExactSolver;

pub trait FieldSolver: Sync {
    /// A short name for reports ("exact", "operator:PATH").
    fn name(&self) -> String {
        "solver".to_string()
    }
    fn model(&self) -> &ChainModel;
    fn grid(&self) -> &Grid;
    /// Whether `solve_batch` fills `log_q` with ln Q (an operator may not).
    fn provides_log_q(&self) -> bool {
        true
    }
    /// `w` is `[n][2][Mx*My]` (A then B), `phi` likewise, `log_q` has n entries.
    /// Buffers of other sizes and the first sample that cannot be solved
    /// (non-finite values, a field outside the model's domain) are errors.
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()>;
    /// The exact solver itself, for loops that need its tangent map
    /// (`ExactSolver::linearize`, Newton's method in the inverse map); None
    /// for operators and for wrappers that count or change solves.
    fn exact_solver(&self) -> Option<&ExactSolver> {
        None
    }
}

impl FieldSolver for ExactSolver {
    fn name(&self) -> String {
        "exact".to_string()
    }
    fn model(&self) -> &ChainModel {
        ExactSolver::model(self)
    }
    fn grid(&self) -> &Grid {
        ExactSolver::grid(self)
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()> {
        ExactSolver::solve_batch(self, w, phi, log_q)
    }
    fn exact_solver(&self) -> Option<&ExactSolver> {
        Some(self)
    }
}

/// What a loop spent, in the one currency every loop reports: fields solved
/// by the exact solver, operator calls (each a batch member), and operator
/// results that the loop's trust check threw away (`rejected`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SolveCost {
    pub exact_solves: usize,
    pub operator_calls: usize,
    /// Files written before the name was shared call it `fallbacks`.
    #[serde(alias = "fallbacks")]
    pub rejected: usize,
}

impl std::ops::AddAssign for SolveCost {
    fn add_assign(&mut self, other: SolveCost) {
        self.exact_solves += other.exact_solves;
        self.operator_calls += other.operator_calls;
        self.rejected += other.rejected;
    }
}

impl std::ops::Add for SolveCost {
    type Output = SolveCost;
    fn add(mut self, other: SolveCost) -> SolveCost {
        self += other;
        self
    }
}

impl std::iter::Sum for SolveCost {
    fn sum<I: Iterator<Item = SolveCost>>(iter: I) -> SolveCost {
        iter.fold(SolveCost::default(), |a, b| a + b)
    }
}

/// The trust check of every loop that takes an operator's result but keeps
/// an exact guarantee: the result's exact score (a residual, measured by the
/// exact solver; infinite where it cannot be solved) must be below the
/// `baseline` the loop would continue from without it. Otherwise the loop
/// keeps its own state, and the rejection is counted in `cost.rejected`.
pub fn trusted(exact_score: f64, baseline: f64, cost: &mut SolveCost) -> bool {
    let kept = exact_score < baseline;
    if !kept {
        cost.rejected += 1;
    }
    kept
}

/// The solvers a loop runs on: the exact solver, which every final state
/// comes from, and optionally an operator inside the loop. Built once, with
/// the check that both are for one grid and chain model, and handed to the
/// loops (`Lfts`, `Inverter`, `Dynamics`, denoising, assisted SCFT), so
/// swapping an operator in is an argument, never a copied loop.
#[derive(Clone, Copy)]
pub struct Solvers<'a> {
    pub exact: &'a dyn FieldSolver,
    pub operator: Option<&'a dyn FieldSolver>,
}

impl<'a> Solvers<'a> {
    /// The exact solver alone.
    pub fn exact(exact: &'a dyn FieldSolver) -> Self {
        Solvers { exact, operator: None }
    }

    /// `exact` with `operator` in the loops, refusing an operator made for
    /// another grid or chain model.
    pub fn new(exact: &'a dyn FieldSolver, operator: Option<&'a dyn FieldSolver>) -> Result<Self> {
        if let Some(op) = operator
            && (op.grid() != exact.grid() || op.model() != exact.model())
        {
            return Err(crate::Error::Parameter(format!(
                "the operator ({}) was made for another grid or chain model than the exact solver's",
                op.name()
            )));
        }
        Ok(Solvers { exact, operator })
    }

    pub fn grid(&self) -> &'a Grid {
        self.exact.grid()
    }

    pub fn model(&self) -> &'a ChainModel {
        self.exact.model()
    }
}

/// The contract of `FieldSolver`, checked on any implementation (in the
/// spirit of rustfft's `check_fft_algorithm`): one helper that the exact
/// solver, the FNO operator and every wrapper are run through.
pub mod conformance {
    use super::FieldSolver;
    use crate::rng::StreamRng;
    use crate::{ChainModel, ExactSolver, Grid};

    /// A deliberately wrong operator for the loops' trust checks: the exact
    /// densities (and ln Q) of the fields times `factor` (-1: a response of
    /// the wrong sign; 1.05: a slightly skewed one).
    pub struct ScaledFields<'a> {
        pub exact: &'a ExactSolver,
        pub factor: f64,
    }

    impl FieldSolver for ScaledFields<'_> {
        fn name(&self) -> String {
            format!("exact solver of the fields x {}", self.factor)
        }
        fn model(&self) -> &ChainModel {
            self.exact.model()
        }
        fn grid(&self) -> &Grid {
            self.exact.grid()
        }
        fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> crate::Result<()> {
            let scaled: Vec<f64> = w.iter().map(|v| self.factor * v).collect();
            self.exact.solve_batch(&scaled, phi, log_q)
        }
    }

    /// Smooth fields of amplitude `amplitude` (a few low modes per channel).
    fn smooth_fields(solver: &dyn FieldSolver, n: usize, amplitude: f64, seed: u64) -> Vec<f64> {
        let g = solver.grid();
        let (mx, my) = (g.mx, g.my);
        let mut rng = StreamRng::new(seed, 0);
        let mut w = vec![0.0; n * 2 * mx * my];
        for s in 0..2 * n {
            let (a, b, c) = (rng.normal(), rng.normal(), rng.normal());
            for ix in 0..mx {
                for iy in 0..my {
                    let (x, y) = (ix as f64 / mx as f64, iy as f64 / my as f64);
                    let tau = std::f64::consts::TAU;
                    w[s * mx * my + ix * my + iy] =
                        amplitude * (a * (tau * x).cos() + b * (tau * y).sin() + c * (tau * (x + y)).cos());
                }
            }
        }
        w
    }

    /// Panics with a message naming the broken property. `tol` bounds the
    /// deviations a correct implementation may show (round-off for the
    /// exact solver, float32 rounding for an operator):
    /// - shapes: a batch of 3 fills `[3][2][M]` densities with finite values,
    ///   and buffers of the wrong size are an error, not a panic;
    /// - mass: mean(phi_A) = N_A/N and mean(phi_B) = N_B/N for every sample;
    /// - gauge invariance: constants c_A, c_B added to w_A and w_B leave phi
    ///   unchanged and shift ln Q by -(N_A c_A + N_B c_B) (docs/model.md);
    /// - batches: a sample solved in a batch equals the sample solved alone;
    /// - non-finite input: an error that names the sample.
    pub fn check_field_solver(solver: &dyn FieldSolver, tol: f64) {
        let name = solver.name();
        let model = solver.model().clone();
        let m = solver.grid().points();
        let n = 3;
        let w = smooth_fields(solver, n, 0.05, 1);
        let mut phi = vec![f64::NAN; w.len()];
        let mut log_q = vec![f64::NAN; n];
        solver.solve_batch(&w, &mut phi, &mut log_q).unwrap_or_else(|e| panic!("{name}: smooth fields: {e}"));
        assert!(phi.iter().all(|v| v.is_finite()), "{name}: non-finite densities");
        let (f_a, f_b) = (model.f_a(), 1.0 - model.f_a());
        for s in 0..n {
            let mean = |c: usize| phi[(2 * s + c) * m..(2 * s + c + 1) * m].iter().sum::<f64>() / m as f64;
            assert!((mean(0) - f_a).abs() <= tol, "{name}: sample {s}: mean phi_A {} != N_A/N {f_a}", mean(0));
            assert!((mean(1) - f_b).abs() <= tol, "{name}: sample {s}: mean phi_B {} != N_B/N {f_b}", mean(1));
        }

        // Gauge: w_A + c_A, w_B + c_B.
        let (c_a, c_b) = (0.3, -0.2);
        let shifted: Vec<f64> =
            w.iter().enumerate().map(|(i, v)| v + if (i / m).is_multiple_of(2) { c_a } else { c_b }).collect();
        let mut phi_s = vec![0.0; w.len()];
        let mut log_q_s = vec![0.0; n];
        solver.solve_batch(&shifted, &mut phi_s, &mut log_q_s).unwrap_or_else(|e| panic!("{name}: shifted: {e}"));
        let gauge = phi.iter().zip(&phi_s).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(gauge <= tol, "{name}: a gauge shift of w changed phi by {gauge:.3e}");
        if solver.provides_log_q() {
            let shift = -(model.a_beads as f64 * c_a + (model.beads - model.a_beads) as f64 * c_b);
            for s in 0..n {
                let d = log_q_s[s] - log_q[s] - shift;
                // ln Q is of order N: its tolerance scales with the chain.
                assert!(
                    d.abs() <= tol * model.beads as f64,
                    "{name}: sample {s}: ln Q shifted by {} not {shift}",
                    log_q_s[s] - log_q[s]
                );
            }
        }

        // The middle sample alone.
        let mut one_phi = vec![0.0; 2 * m];
        let mut one_log_q = [0.0];
        solver
            .solve_batch(&w[2 * m..4 * m], &mut one_phi, &mut one_log_q)
            .unwrap_or_else(|e| panic!("{name}: one sample: {e}"));
        let batch = one_phi.iter().zip(&phi[2 * m..4 * m]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(batch <= tol, "{name}: a sample alone and in a batch differ by {batch:.3e}");

        // Wrong buffer sizes and non-finite values are errors.
        let mut short = vec![0.0; w.len() - 1];
        assert!(solver.solve_batch(&w, &mut short, &mut log_q).is_err(), "{name}: a short phi buffer was accepted");
        let mut bad = w.clone();
        bad[2 * m + 5] = f64::NAN;
        match solver.solve_batch(&bad, &mut phi, &mut log_q) {
            Ok(()) => panic!("{name}: a NaN field was accepted"),
            Err(e) => assert!(e.to_string().contains('1'), "{name}: the error does not name sample 1: {e}"),
        }
    }
}
