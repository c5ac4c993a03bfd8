//! The compressor: the pressure field W_+ at its partial saddle point
//! (phi_A + phi_B = 1) for a given exchange field W_- (pscfpp's
//! `fts/compressor`). L-FTS calls it after every Langevin step; the SCFT
//! descent, denoising and the inverse map's saddle-shaped start call it on
//! their own W_-. It knows nothing of chi or noise: those belong to the
//! loops that move W_-.
//!
//! Scheme: Anderson-accelerated Newton steps on W_+, to the max-norm
//! tolerance `tolerance` on |phi_A + phi_B - 1|. The Newton step inverts
//! the local response of the current state (`fts::response`) by
//! `response_iterations` conjugate-gradient iterations (0: the homogeneous
//! melt's 1/S_tot per Fourier mode). `advance` starts the Anderson history
//! from the pairs of the loop that made the state (`carry_history`): W_-
//! moves little in one step, so the slow directions that loop found are
//! still the slow ones (L-FTS carries it; descents, whose trial steps
//! jump further, do not). Together they halve the solves of an L-FTS step
//! at chi = 1 (BENCHMARKS.md).
//!
//! With an operator among the solvers, the loop first runs on the operator
//! corrected at the first exact solve (defect correction:
//! phi_op(w) + phi_exact(w_0) - phi_op(w_0)); the trust check keeps its W_+
//! only if the exact residual fell, and exact iterations polish to the same
//! tolerance, so the final residual is always exact.

use std::sync::Arc;

use crate::anderson::AndersonMixer;
use crate::error::{Error, Result};
use crate::fields::{from_exchange_pressure, to_exchange_pressure};
use crate::fts::response::LocalResponse;
use crate::hamiltonian::{free_energy, max_pressure_residual};
use crate::model::ChainModel;
use crate::seam::{FieldSolver, SolveCost, Solvers, trusted};
use crate::spectral::SpectralPlan;

/// The compressor's settings (algorithm only; no physics parameter).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CompressorConfig {
    /// Max-norm of phi_A + phi_B - 1 to reach.
    pub tolerance: f64,
    /// Iterations (per solver) before giving up.
    pub max_iterations: usize,
    /// Anderson history.
    pub history: usize,
    /// With an operator, its loop aims at this fraction of the first exact
    /// residual before the exact polish.
    pub operator_reduction: f64,
    /// Conjugate-gradient iterations on the state's local response per
    /// Newton step; 0 is the melt's response (settings saved without it).
    #[serde(default)]
    pub response_iterations: usize,
    /// `advance` starts from the Anderson pairs of the state's own loop:
    /// for a chain of small moves of W_- (L-FTS sets it); a descent's trial
    /// steps jump too far for the pairs to help.
    #[serde(default)]
    pub carry_history: bool,
}

impl Default for CompressorConfig {
    fn default() -> Self {
        CompressorConfig {
            tolerance: 1e-6,
            max_iterations: 500,
            history: 10,
            operator_reduction: 0.1,
            response_iterations: 3,
            carry_history: false,
        }
    }
}

impl CompressorConfig {
    /// The scheme before the local response and the carried history: the
    /// melt's response, a fresh history per loop.
    pub fn melt() -> Self {
        CompressorConfig { response_iterations: 0, carry_history: false, ..CompressorConfig::default() }
    }

    /// L-FTS's: the default with the history carried from step to step.
    pub fn chain() -> Self {
        CompressorConfig { carry_history: true, ..CompressorConfig::default() }
    }
}

impl CompressorConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(Error::Parameter(format!("pressure tolerance must be > 0, got {}", self.tolerance)));
        }
        if self.history == 0 || self.max_iterations == 0 {
            return Err(Error::Parameter("history and pressure iterations must be >= 1".into()));
        }
        Ok(())
    }
}

/// Fields at the partial saddle point and their exact densities.
#[derive(Clone, Debug)]
pub struct PartialSaddle {
    pub w_minus: Vec<f64>,
    pub w_plus: Vec<f64>,
    /// `[2][M]`, exact.
    pub phi: Vec<f64>,
    pub log_q: f64,
    /// Exact max-norm of phi_A + phi_B - 1.
    pub pressure_residual: f64,
    /// The Anderson pairs of the loop that made the state.
    pub history: PressureHistory,
}

/// The Anderson pairs (dW_+, d of the Newton step) of a finished W_+ loop,
/// shared by the clones of its state; empty where none was kept.
#[derive(Clone, Default)]
pub struct PressureHistory(Option<Arc<SecantPairs>>);

/// Anderson's differences of iterates `dx` and of steps `dd`, oldest first.
struct SecantPairs {
    dx: Vec<Vec<f64>>,
    dd: Vec<Vec<f64>>,
}

impl PressureHistory {
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |pairs| pairs.dx.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the pairs: the next loop starts as from a file (a run that
    /// forgets at each checkpoint resumes on its own path).
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

impl std::fmt::Debug for PressureHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PressureHistory({} pairs)", self.len())
    }
}

impl PartialSaddle {
    /// (w_A, w_B) as `[2][M]`.
    pub fn fields(&self) -> Vec<f64> {
        let mut w = vec![0.0; 2 * self.w_minus.len()];
        from_exchange_pressure(&self.w_minus, &self.w_plus, &mut w);
        w
    }

    /// H/n relative to the homogeneous melt at `chi` (`hamiltonian::free_energy`).
    pub fn hamiltonian(&self, model: &ChainModel, chi: f64) -> f64 {
        free_energy(model.beads, model.f_a(), chi, &self.fields(), self.log_q)
    }
}

/// W_+ moved with W_- point by point, dW_+ = psi / (phi_A + phi_B) dW_-:
/// the start of the loop after a move of W_- from `from`. Where a bead's
/// weight answers its own field (the move is mostly shorter than a chain),
/// that keeps w_A phi_A + w_B phi_B and so phi_A + phi_B fixed to first
/// order. In an A-rich domain W_+ follows W_- almost one to one, which the
/// melt's linear response (S_AA - S_BB) / S_tot (2f - 1 = 0.4 at short
/// wavelengths) misses: measured on the default system (B = 100, 40 L-FTS
/// steps, tolerance 1e-6) the loop takes 22.4 solves a step instead of 27.9
/// at chi = 1.0, 14.6 instead of 17.0 at 0.4, 10.7 instead of 12.7 at 0.2
/// and 5.2 instead of 5.3 at 0.1, near the melt, where the two rules differ
/// only at long wavelengths.
pub fn predicted_w_plus(from: &PartialSaddle, w_minus: &[f64]) -> Vec<f64> {
    let m = from.w_minus.len();
    let mut w_plus = from.w_plus.clone();
    for (i, p) in w_plus.iter_mut().enumerate() {
        let (phi_a, phi_b) = (from.phi[i], from.phi[m + i]);
        *p += (phi_a - phi_b) / (phi_a + phi_b) * (w_minus[i] - from.w_minus[i]);
    }
    w_plus
}

pub struct Compressor<'a> {
    pub config: CompressorConfig,
    exact: &'a dyn FieldSolver,
    operator: Option<&'a dyn FieldSolver>,
    plan: SpectralPlan,
    response: LocalResponse,
}

impl<'a> Compressor<'a> {
    /// A compressor on `solvers`' grid; with an operator, its loop runs on
    /// it first (module docs).
    pub fn new(config: CompressorConfig, solvers: Solvers<'a>) -> Result<Self> {
        config.validate()?;
        let Solvers { exact, operator } = solvers;
        let plan = SpectralPlan::new(*exact.grid());
        let response = LocalResponse::new(&plan, exact.model());
        Ok(Compressor { config, exact, operator, plan, response })
    }

    pub fn solvers(&self) -> Solvers<'a> {
        Solvers { exact: self.exact, operator: self.operator }
    }

    pub fn points(&self) -> usize {
        self.plan.grid().points()
    }

    /// The partial saddle point of fields `w` (`[2][M]`), from their W_+.
    pub fn start(&self, w: &[f64]) -> Result<(PartialSaddle, SolveCost)> {
        let m = self.points();
        if w.len() != 2 * m {
            return Err(Error::Shape(format!("fields hold {} values, expected 2 x {m}", w.len())));
        }
        Ok(self.start_batch(w, &[0])?.pop().expect("one field"))
    }

    /// `start` for R fields at once (`w` is `[R][2][M]`); `steps` number them
    /// in error messages.
    pub fn start_batch(&self, w: &[f64], steps: &[usize]) -> Result<Vec<(PartialSaddle, SolveCost)>> {
        let m = self.points();
        if w.is_empty() || !w.len().is_multiple_of(2 * m) || w.len() / (2 * m) != steps.len() {
            return Err(Error::Shape(format!("fields hold {} values, expected {} x 2 x {m}", w.len(), steps.len())));
        }
        let starts: Vec<LoopStart> = w
            .chunks(2 * m)
            .map(|fields| {
                let (mut w_minus, mut w_plus) = (vec![0.0; m], vec![0.0; m]);
                to_exchange_pressure(fields, &mut w_minus, &mut w_plus);
                LoopStart { w_minus, w_plus, history: PressureHistory::default() }
            })
            .collect();
        self.relax(steps, starts)
    }

    /// The partial saddle point at a new exchange field `w_minus`, the loop
    /// started from `from` by `predicted_w_plus` (and from its Anderson
    /// pairs with `carry_history`).
    pub fn advance(&self, from: &PartialSaddle, w_minus: Vec<f64>) -> Result<(PartialSaddle, SolveCost)> {
        Ok(self.advance_batch(std::slice::from_ref(from), vec![w_minus], &[1])?.pop().expect("one field"))
    }

    /// `advance` for each of `from` (`steps` number them in error messages).
    /// Every failure but an interrupt is `Error::Sampling`, naming the step.
    pub fn advance_batch(
        &self,
        from: &[PartialSaddle],
        w_minus: Vec<Vec<f64>>,
        steps: &[usize],
    ) -> Result<Vec<(PartialSaddle, SolveCost)>> {
        let m = self.points();
        if from.is_empty() || w_minus.len() != from.len() || steps.len() != from.len() {
            return Err(Error::Shape(format!("{} states with {} exchange fields", from.len(), w_minus.len())));
        }
        let mut starts = Vec::with_capacity(from.len());
        for (state, w_minus) in from.iter().zip(w_minus) {
            if w_minus.len() != m {
                return Err(Error::Shape(format!("W_- holds {} values, expected {m}", w_minus.len())));
            }
            let w_plus = predicted_w_plus(state, &w_minus);
            let history = if self.config.carry_history { state.history.clone() } else { PressureHistory::default() };
            starts.push(LoopStart { w_minus, w_plus, history });
        }
        self.relax(steps, starts).map_err(|e| match e {
            Error::Interrupted | Error::Sampling(_) => e,
            other => Error::Sampling(format!("step {}: {other}", steps[0])),
        })
    }

    /// The loops of all fields (`starts`). With an
    /// operator, in lockstep: one batched call per iteration, which is what
    /// makes an operator cheap. On the exact solver alone, each field's loop
    /// on its own worker thread: the same solves (each field is solved on
    /// its own), without the lockstep's wait for the slowest field.
    pub fn relax(&self, steps: &[usize], starts: Vec<LoopStart>) -> Result<Vec<(PartialSaddle, SolveCost)>> {
        use rayon::prelude::*;
        let r = starts.len();
        if self.operator.is_some() || r == 1 {
            let mut costs = vec![SolveCost::default(); r];
            let states = self.relax_together(steps, starts, &mut costs)?;
            return Ok(states.into_iter().zip(costs).collect());
        }
        starts
            .into_par_iter()
            .zip(steps.par_iter())
            .enumerate()
            .map(|(i, (pair, &step))| {
                let mut cost = [SolveCost::default()];
                let mut state = self.relax_together(&[step], vec![pair], &mut cost).map_err(|e| match e {
                    Error::Interrupted => Error::Interrupted,
                    Error::Sampling(text) => Error::Sampling(format!("replica {i}, {text}")),
                    other => other,
                })?;
                Ok((state.pop().expect("one field"), cost[0]))
            })
            .collect()
    }

    /// The loops of `starts` in lockstep: the operator's corrected loop and
    /// its trust check where there is one, then the exact loop.
    fn relax_together(
        &self,
        steps: &[usize],
        starts: Vec<LoopStart>,
        costs: &mut [SolveCost],
    ) -> Result<Vec<PartialSaddle>> {
        let m = self.points();
        let r = starts.len();
        let label =
            |i: usize| if r > 1 { format!("replica {i}, step {}", steps[i]) } else { format!("step {}", steps[i]) };
        // A failed batched solve names the first failing field of `members`.
        let failed = |members: &[usize], e: Error| match e {
            Error::Interrupted => Error::Interrupted,
            Error::Domain { sample, .. } => Error::Sampling(format!("{}: {e}", label(members[sample]))),
            other => Error::Sampling(format!("{}: {other}", label(members[0]))),
        };
        let (mut w_minus, mut w_plus, mut histories) =
            (Vec::with_capacity(r), Vec::with_capacity(r), Vec::with_capacity(r));
        for start in starts {
            w_minus.push(start.w_minus);
            w_plus.push(start.w_plus);
            histories.push(start.history);
        }
        let everyone: Vec<usize> = (0..r).collect();
        let mut w = vec![0.0; 2 * m * r];
        let mut flat_phi = vec![0.0; 2 * m * r];
        let mut log_q = vec![0.0; r];
        // The first exact solves anchor the operator's correction.
        for i in 0..r {
            from_exchange_pressure(&w_minus[i], &w_plus[i], &mut w[2 * m * i..2 * m * (i + 1)]);
        }
        self.exact.solve_batch(&w, &mut flat_phi, &mut log_q).map_err(|e| failed(&everyone, e))?;
        let mut phi: Vec<Vec<f64>> = flat_phi.chunks(2 * m).map(<[f64]>::to_vec).collect();
        costs.iter_mut().for_each(|c| c.exact_solves += 1);
        let tolerance = vec![self.config.tolerance; r];
        if let Some(op) = self.operator {
            let mut fields = Fields { w_minus: &w_minus, w_plus: &mut w_plus, phi: &mut phi, log_q: &mut log_q };
            self.operator_start(op, &w, &mut fields, costs)?;
        }
        let exact = self.exact;
        let never = self.config.max_iterations;
        let loop_fields = LoopFields { w_minus: &w_minus, w_plus: &mut w_plus, phi: &mut phi };
        let carried = Some(histories.as_mut_slice());
        let iterations = self.config.response_iterations;
        self.pressure_loop(&everyone, loop_fields, iterations, carried, &tolerance, costs, never, |ids, w, phi| {
            let mut lq = vec![0.0; ids.len()];
            exact.solve_batch(w, phi, &mut lq).map_err(|e| failed(ids, e))?;
            for (slot, &i) in ids.iter().enumerate() {
                log_q[i] = lq[slot];
            }
            Ok(true)
        })?;
        let mut states = Vec::with_capacity(r);
        let fields = w_minus.into_iter().zip(w_plus).zip(phi).zip(histories);
        for (i, (((w_minus, w_plus), phi), history)) in fields.enumerate() {
            let residual = max_pressure_residual(&phi);
            if residual >= self.config.tolerance {
                return Err(Error::Sampling(format!(
                    "{}: the pressure field did not converge in {} iterations (residual {residual:.3e})",
                    label(i),
                    self.config.max_iterations
                )));
            }
            let log_q = log_q[i];
            states.push(PartialSaddle { w_minus, w_plus, phi, log_q, pressure_residual: residual, history });
        }
        Ok(states)
    }

    /// The operator's loop on the fields still above tolerance, corrected at
    /// their anchors `w` (the first exact solves, in `fields`), down to
    /// `operator_reduction` of the anchor's residual (further, the
    /// operator's own error in the pressure response takes over). The trust
    /// check keeps a field's new W_+ only if its exact residual fell;
    /// otherwise the anchor's state (W_+, phi, ln Q) still stands.
    fn operator_start(
        &self,
        op: &dyn FieldSolver,
        w: &[f64],
        fields: &mut Fields<'_>,
        costs: &mut [SolveCost],
    ) -> Result<()> {
        let m = self.points();
        let r = fields.w_minus.len();
        let tolerance = self.config.tolerance;
        let before: Vec<f64> = fields.phi.iter().map(|p| max_pressure_residual(p)).collect();
        let members: Vec<usize> = (0..r).filter(|&i| before[i] >= tolerance).collect();
        if members.is_empty() {
            return Ok(());
        }
        let anchors: Vec<f64> = members.iter().flat_map(|&i| w[2 * m * i..2 * m * (i + 1)].to_vec()).collect();
        let mut phi_op = vec![0.0; anchors.len()];
        op.solve_batch(&anchors, &mut phi_op, &mut vec![0.0; members.len()])?;
        let mut shift = vec![Vec::new(); r];
        for (slot, &i) in members.iter().enumerate() {
            costs[i].operator_calls += 1;
            shift[i] = fields.phi[i].iter().zip(&phi_op[2 * m * slot..]).map(|(e, o)| e - o).collect();
        }
        let mut corrected = fields.phi.clone();
        let saved_w_plus = fields.w_plus.to_vec();
        let targets: Vec<f64> =
            (0..r).map(|i| (before[i] * self.config.operator_reduction).max(0.1 * tolerance)).collect();
        self.pressure_loop(
            &members,
            LoopFields { w_minus: fields.w_minus, w_plus: fields.w_plus, phi: &mut corrected },
            // The melt's response: an operator's densities are too rough a
            // state to linearise about, and the trust check judges the loop.
            0,
            None,
            &targets,
            costs,
            10,
            |ids, w, phi| {
                op.solve_batch(w, phi, &mut vec![0.0; ids.len()])?;
                for (slot, &i) in ids.iter().enumerate() {
                    for (p, s) in phi[2 * m * slot..2 * m * (slot + 1)].iter_mut().zip(&shift[i]) {
                        *p += s;
                    }
                }
                Ok(false)
            },
        )?;
        let moved: Vec<f64> = members
            .iter()
            .flat_map(|&i| {
                let mut out = vec![0.0; 2 * m];
                from_exchange_pressure(&fields.w_minus[i], &fields.w_plus[i], &mut out);
                out
            })
            .collect();
        let mut phi_after = vec![0.0; moved.len()];
        let mut log_q_after = vec![0.0; members.len()];
        // A batch with a field outside the model's domain keeps every anchor.
        let solved = self.exact.solve_batch(&moved, &mut phi_after, &mut log_q_after);
        for (slot, &i) in members.iter().enumerate() {
            costs[i].exact_solves += 1;
            let after = &phi_after[2 * m * slot..2 * m * (slot + 1)];
            let score = if solved.is_ok() { max_pressure_residual(after) } else { f64::INFINITY };
            if trusted(score, before[i], &mut costs[i]) {
                fields.phi[i].copy_from_slice(after);
                fields.log_q[i] = log_q_after[slot];
            } else {
                fields.w_plus[i].clone_from(&saved_w_plus[i]);
            }
        }
        Ok(())
    }

    /// Anderson-accelerated Newton iterations on W_+ of the fields `members`
    /// until the max-norm of phi_A + phi_B - 1 is below each one's
    /// `tolerance`. `fields.phi` holds the densities at the entry fields;
    /// `solve` fills the densities of a batch (the fields `ids`, `[n][2][M]`)
    /// and says whether that was an exact solve. One call per iteration for
    /// every field still iterating, each with its own Anderson history,
    /// started from and written back to `carried` where given; Newton steps
    /// on the local response by `response_iterations` conjugate gradients.
    #[allow(clippy::too_many_arguments)]
    fn pressure_loop(
        &self,
        members: &[usize],
        fields: LoopFields<'_>,
        response_iterations: usize,
        carried: Option<&mut [PressureHistory]>,
        tolerance: &[f64],
        costs: &mut [SolveCost],
        stall: usize,
        mut solve: impl FnMut(&[usize], &[f64], &mut [f64]) -> Result<bool>,
    ) -> Result<()> {
        let LoopFields { w_minus, w_plus, phi } = fields;
        let m = self.points();
        let mut mixers: Vec<AndersonMixer> =
            members.iter().map(|_| AndersonMixer::new(m, self.config.history)).collect();
        if let Some(carried) = carried.as_deref() {
            for (mixer, &i) in mixers.iter_mut().zip(members) {
                if let Some(pairs) = &carried[i].0 {
                    mixer.seed(&pairs.dx, &pairs.dd);
                }
            }
        }
        let mut response = self.response.workspace(&self.plan);
        let mut d = vec![0.0; m];
        let mut step = vec![0.0; m];
        let mut next = vec![0.0; m];
        let mut w = vec![0.0; 2 * m * members.len()];
        let mut out = vec![0.0; 2 * m * members.len()];
        let mut best = vec![f64::INFINITY; members.len()];
        let mut best_at = vec![0usize; members.len()];
        // Positions in `members` still iterating, and their fields.
        let mut active: Vec<usize> = (0..members.len()).collect();
        let mut ids = Vec::with_capacity(members.len());
        let keep = |mixers: &mut Vec<AndersonMixer>, carried: Option<&mut [PressureHistory]>| {
            if let Some(carried) = carried {
                for (mixer, &i) in mixers.iter_mut().zip(members) {
                    let (dx, dd) = mixer.take_pairs();
                    carried[i] = PressureHistory(Some(Arc::new(SecantPairs { dx, dd })));
                }
            }
        };
        for iteration in 0..self.config.max_iterations {
            active.retain(|&k| {
                let i = members[k];
                let residual = max_pressure_residual(&phi[i]);
                if residual < tolerance[i] {
                    return false;
                }
                // Stalled: no 10% gain in `stall` iterations (an operator's
                // response error floor); the caller checks the residual.
                if residual < 0.9 * best[k] {
                    (best[k], best_at[k]) = (residual, iteration);
                    true
                } else {
                    iteration - best_at[k] < stall
                }
            });
            if active.is_empty() {
                keep(&mut mixers, carried);
                return Ok(());
            }
            ids.clear();
            for (slot, &k) in active.iter().enumerate() {
                let i = members[k];
                ids.push(i);
                for j in 0..m {
                    d[j] = phi[i][j] + phi[i][m + j] - 1.0;
                }
                if response_iterations > 0 {
                    self.response.set_densities(&mut response, &phi[i]);
                }
                self.response.newton_step(&self.plan, &mut response, &d, &mut step, response_iterations);
                mixers[k].next(&w_plus[i], &step, 1.0, &mut next);
                std::mem::swap(&mut w_plus[i], &mut next);
                from_exchange_pressure(&w_minus[i], &w_plus[i], &mut w[2 * m * slot..2 * m * (slot + 1)]);
            }
            let n = 2 * m * ids.len();
            let was_exact = solve(&ids, &w[..n], &mut out[..n])?;
            for (slot, &i) in ids.iter().enumerate() {
                phi[i].copy_from_slice(&out[2 * m * slot..2 * m * (slot + 1)]);
                if was_exact {
                    costs[i].exact_solves += 1;
                } else {
                    costs[i].operator_calls += 1;
                }
            }
        }
        keep(&mut mixers, carried);
        Ok(())
    }
}

/// Where a field's W_+ loop starts.
pub struct LoopStart {
    pub w_minus: Vec<f64>,
    pub w_plus: Vec<f64>,
    pub history: PressureHistory,
}

/// The fields a `pressure_loop` moves, indexed by field.
struct LoopFields<'b> {
    w_minus: &'b [Vec<f64>],
    w_plus: &'b mut [Vec<f64>],
    phi: &'b mut [Vec<f64>],
}

/// The per-field state of a lockstep loop, borrowed from `relax_together`.
struct Fields<'b> {
    w_minus: &'b [Vec<f64>],
    w_plus: &'b mut Vec<Vec<f64>>,
    phi: &'b mut Vec<Vec<f64>>,
    log_q: &'b mut Vec<f64>,
}
