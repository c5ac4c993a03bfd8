//! Langevin field-theoretic simulation (MODEL.md): the exchange field W_-
//! fluctuates, the pressure field W_+ sits at its partial saddle point
//! (phi_A + phi_B = 1) after every step.
//!
//! Scheme: MODEL.md's Euler-Maruyama step,
//!     W_- <- W_- - lambda (phi_B - phi_A + 2 W_- / chi) + eta,
//!     <eta(r) eta(r')> = 2 lambda / B delta(r, r'),
//! then the inner loop: Anderson-accelerated Newton steps on W_+ with the
//! homogeneous melt's response 1/S_tot per Fourier mode (the pressure part
//! of `scft`), to the max-norm tolerance `pressure_tolerance` on
//! |phi_A + phi_B - 1|. Step k draws its noise from the stream (seed, k), so
//! a resumed run continues the same trajectory.
//!
//! With an approximate solver (a trained operator) the inner loop runs on
//! the operator corrected at the step's first exact solve (defect correction:
//! phi_op(w) + phi_exact(w_0) - phi_op(w_0)), then exact iterations polish
//! the step to the same tolerance; the step's final residual is exact.

use crate::anderson::AndersonMixer;
use crate::debye::melt_response;
use crate::error::{Error, Result};
use crate::fields::from_exchange_pressure;
use crate::rng::StreamRng;
use crate::scft::free_energy;
use crate::seam::{FieldSolver, Solvers};
use crate::spectral::{C64, SpectralPlan};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LftsConfig {
    pub chi: f64,
    /// Beads per grid cell, B: the fluctuation strength (larger is weaker;
    /// infinite is mean field).
    pub beads_per_cell: f64,
    /// lambda, the Langevin step.
    pub step_size: f64,
    pub seed: u64,
    /// Max-norm of phi_A + phi_B - 1 after each step.
    pub pressure_tolerance: f64,
    /// Inner iterations per step (per solver) before giving up.
    pub pressure_max_iterations: usize,
    /// Anderson history of the inner loop.
    pub history: usize,
    /// Without noise the run is a descent to the SCFT saddle point.
    pub noise: bool,
    /// With an operator, its inner loop aims at this fraction of the step's
    /// first exact pressure residual.
    pub operator_reduction: f64,
}

impl LftsConfig {
    pub fn new(chi: f64, beads_per_cell: f64, step_size: f64, seed: u64) -> Self {
        LftsConfig {
            chi,
            beads_per_cell,
            step_size,
            seed,
            pressure_tolerance: 1e-6,
            pressure_max_iterations: 500,
            history: 10,
            noise: true,
            operator_reduction: 0.1,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.chi) {
            return Err(Error::Parameter(format!("chi must be finite and > 0, got {}", self.chi)));
        }
        if !(self.beads_per_cell > 0.0) {
            return Err(Error::Parameter(format!("beads per cell must be > 0, got {}", self.beads_per_cell)));
        }
        if !positive(self.step_size) {
            return Err(Error::Parameter(format!("step size must be finite and > 0, got {}", self.step_size)));
        }
        if !positive(self.pressure_tolerance) {
            return Err(Error::Parameter(format!("pressure tolerance must be > 0, got {}", self.pressure_tolerance)));
        }
        if self.history == 0 || self.pressure_max_iterations == 0 {
            return Err(Error::Parameter("history and pressure iterations must be >= 1".into()));
        }
        Ok(())
    }

    /// Standard deviation of the noise per grid point, sqrt(2 lambda / B).
    pub fn noise_std(&self) -> f64 {
        if self.noise { (2.0 * self.step_size / self.beads_per_cell).sqrt() } else { 0.0 }
    }
}

/// MODEL.md's update of W_- at every point, given the densities at the
/// current fields and the noise `eta` (already scaled).
pub fn langevin_update(w_minus: &mut [f64], phi: &[f64], chi: f64, step_size: f64, eta: &[f64]) {
    let m = w_minus.len();
    for i in 0..m {
        let force = phi[m + i] - phi[i] + 2.0 * w_minus[i] / chi;
        w_minus[i] += -step_size * force + eta[i];
    }
}

/// The sampler's state: fields at the partial saddle point and their
/// densities, ln Q and Hamiltonian.
#[derive(Clone, Debug)]
pub struct LftsState {
    /// Steps taken.
    pub step: usize,
    pub w_minus: Vec<f64>,
    pub w_plus: Vec<f64>,
    pub phi: Vec<f64>,
    pub log_q: f64,
    /// H/n relative to the homogeneous melt (`scft::free_energy`).
    pub hamiltonian: f64,
    /// Exact max-norm of phi_A + phi_B - 1.
    pub pressure_residual: f64,
}

/// What one step cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepCost {
    pub exact_solves: usize,
    pub operator_calls: usize,
    pub inner_iterations: usize,
    /// Operator inner loops whose W_+ the trust check threw away.
    pub rejected_operator_steps: usize,
}

pub struct Lfts<'a> {
    pub config: LftsConfig,
    exact: &'a dyn FieldSolver,
    operator: Option<&'a dyn FieldSolver>,
    plan: SpectralPlan,
    inverse_total: Vec<f64>,
}

impl<'a> Lfts<'a> {
    /// A sampler on `exact`'s grid; with `operator`, the inner loop runs on it.
    pub fn new(config: LftsConfig, solvers: Solvers<'a>) -> Result<Self> {
        config.validate()?;
        let Solvers { exact, operator } = solvers;
        let plan = SpectralPlan::new(*exact.grid());
        let (inverse_total, _) = melt_response(&plan, exact.model());
        Ok(Lfts { config, exact, operator, plan, inverse_total })
    }

    pub fn points(&self) -> usize {
        self.plan.grid().points()
    }

    /// The state at fields `w` (`[2][M]`): W_+ brought to its partial saddle point.
    pub fn start(&self, w: &[f64], step: usize) -> Result<(LftsState, StepCost)> {
        let m = self.points();
        if w.len() != 2 * m {
            return Err(Error::Shape(format!("fields hold {} values, expected 2 x {m}", w.len())));
        }
        Ok(self.start_replicas(w, step)?.pop().expect("one replica"))
    }

    /// `start` for R replicas at once (`w` is `[R][2][M]`; the inner loops
    /// as in `relax_replicas`).
    pub fn start_replicas(&self, w: &[f64], step: usize) -> Result<Vec<(LftsState, StepCost)>> {
        let m = self.points();
        if w.is_empty() || !w.len().is_multiple_of(2 * m) {
            return Err(Error::Shape(format!("fields hold {} values, expected R x 2 x {m}", w.len())));
        }
        let pairs: Vec<(Vec<f64>, Vec<f64>)> = w
            .chunks(2 * m)
            .map(|fields| {
                let (mut w_minus, mut w_plus) = (vec![0.0; m], vec![0.0; m]);
                crate::fields::to_exchange_pressure(fields, &mut w_minus, &mut w_plus);
                (w_minus, w_plus)
            })
            .collect();
        let steps = vec![step; pairs.len()];
        self.relax_replicas(&steps, pairs)
    }

    /// One Langevin step from `state`.
    pub fn step(&self, state: &LftsState) -> Result<(LftsState, StepCost)> {
        Ok(self.step_replicas(std::slice::from_ref(state), &[self.config.seed])?.pop().expect("one replica"))
    }

    /// One Langevin step of each replica, replica r drawing its noise from
    /// the stream (seeds[r], step): the chain of a run with seed seeds[r],
    /// step for step (each field is solved on its own, so batching does not
    /// change a single bit).
    pub fn step_replicas(&self, states: &[LftsState], seeds: &[u64]) -> Result<Vec<(LftsState, StepCost)>> {
        if states.len() != seeds.len() {
            return Err(Error::Shape(format!("{} replicas with {} seeds", states.len(), seeds.len())));
        }
        let m = self.points();
        let std = self.config.noise_std();
        let moved = states
            .iter()
            .zip(seeds)
            .map(|(state, &seed)| {
                let mut eta = vec![0.0; m];
                if std > 0.0 {
                    let mut rng = StreamRng::new(seed, state.step as u64);
                    for e in eta.iter_mut() {
                        *e = std * rng.normal();
                    }
                }
                let mut w_minus = state.w_minus.clone();
                langevin_update(&mut w_minus, &state.phi, self.config.chi, self.config.step_size, &eta);
                w_minus
            })
            .collect();
        self.advance_replicas(states, moved)
    }

    /// The state at a new exchange field `w_minus`, W_+ relaxed to its partial
    /// saddle point from `state`'s (step count + 1).
    pub fn advance(&self, state: &LftsState, w_minus: Vec<f64>) -> Result<(LftsState, StepCost)> {
        Ok(self.advance_replicas(std::slice::from_ref(state), vec![w_minus])?.pop().expect("one replica"))
    }

    /// `advance` for each replica (the inner loops as in `relax_replicas`).
    pub fn advance_replicas(&self, states: &[LftsState], w_minus: Vec<Vec<f64>>) -> Result<Vec<(LftsState, StepCost)>> {
        let m = self.points();
        if states.is_empty() || w_minus.len() != states.len() {
            return Err(Error::Shape(format!("{} replicas with {} exchange fields", states.len(), w_minus.len())));
        }
        let mut pairs = Vec::with_capacity(states.len());
        for (state, w_minus) in states.iter().zip(w_minus) {
            if w_minus.len() != m {
                return Err(Error::Shape(format!("W_- holds {} values, expected {m}", w_minus.len())));
            }
            // Start the inner loop from W_+ moved with W_- point by point,
            // dW_+ = psi / (phi_A + phi_B) dW_-: where a bead's weight answers
            // its own field (the step's noise is mostly shorter than a chain),
            // that keeps w_A phi_A + w_B phi_B and so phi_A + phi_B fixed to
            // first order. In an A-rich domain W_+ follows W_- almost one to
            // one, which the melt's linear response (S_AA - S_BB) / S_tot
            // used before (2f - 1 = 0.4 at short wavelengths) missed: measured
            // on the default system (B = 100, 40 steps, tolerance 1e-6) the
            // inner loop takes 22.4 solves a step instead of 27.9 at
            // chi = 1.0, 14.6 instead of 17.0 at 0.4, 10.7 instead of 12.7 at
            // 0.2 and 5.2 instead of 5.3 at 0.1, near the melt, where the two
            // rules differ only at long wavelengths.
            let mut w_plus = state.w_plus.clone();
            for (i, p) in w_plus.iter_mut().enumerate() {
                let (phi_a, phi_b) = (state.phi[i], state.phi[m + i]);
                *p += (phi_a - phi_b) / (phi_a + phi_b) * (w_minus[i] - state.w_minus[i]);
            }
            pairs.push((w_minus, w_plus));
        }
        let steps: Vec<usize> = states.iter().map(|s| s.step + 1).collect();
        self.relax_replicas(&steps, pairs).map_err(|e| match e {
            Error::Interrupted => Error::Interrupted,
            Error::Sampling(text) => Error::Sampling(format!("{text} (a smaller step size may help)")),
            other => Error::Sampling(format!("step {}: {other} (a smaller step size may help)", steps[0])),
        })
    }

    /// The inner loops of all replicas. With an operator, in lockstep: one
    /// batched call per iteration, which is what makes an operator cheap.
    /// On the exact solver alone, each replica's loop on its own worker
    /// thread: the same solves (each field is solved on its own), without
    /// the lockstep's wait for the replica that needs the most iterations.
    fn relax_replicas(&self, steps: &[usize], pairs: Vec<(Vec<f64>, Vec<f64>)>) -> Result<Vec<(LftsState, StepCost)>> {
        use rayon::prelude::*;
        let r = pairs.len();
        if self.operator.is_some() || r == 1 {
            let mut costs = vec![StepCost::default(); r];
            let states = self.relax_pressure(steps, pairs, &mut costs)?;
            return Ok(states.into_iter().zip(costs).collect());
        }
        pairs
            .into_par_iter()
            .zip(steps.par_iter())
            .enumerate()
            .map(|(i, (pair, &step))| {
                let mut cost = [StepCost::default()];
                let mut state = self.relax_pressure(&[step], vec![pair], &mut cost).map_err(|e| match e {
                    Error::Interrupted => Error::Interrupted,
                    Error::Sampling(text) => Error::Sampling(format!("replica {i}, {text}")),
                    other => other,
                })?;
                Ok((state.pop().expect("one replica"), cost[0]))
            })
            .collect()
    }

    /// Solves phi_A + phi_B = 1 for W_+ at fixed W_-, for each replica
    /// (`pairs` of (W_-, W_+ start)).
    fn relax_pressure(
        &self,
        steps: &[usize],
        pairs: Vec<(Vec<f64>, Vec<f64>)>,
        costs: &mut [StepCost],
    ) -> Result<Vec<LftsState>> {
        let m = self.points();
        let r = pairs.len();
        let label =
            |i: usize| if r > 1 { format!("replica {i}, step {}", steps[i]) } else { format!("step {}", steps[i]) };
        // A failed batched solve names the first failing field of `members`.
        let failed = |members: &[usize], e: Error| match e {
            Error::Interrupted => Error::Interrupted,
            Error::Domain { sample, .. } => Error::Sampling(format!("{}: {e}", label(members[sample]))),
            other => Error::Sampling(format!("{}: {other}", label(members[0]))),
        };
        let (w_minus, mut w_plus): (Vec<Vec<f64>>, Vec<Vec<f64>>) = pairs.into_iter().unzip();
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
        let tolerance = vec![self.config.pressure_tolerance; r];
        if let Some(op) = self.operator {
            let before: Vec<f64> = phi.iter().map(|p| max_pressure_residual(p)).collect();
            let members: Vec<usize> = (0..r).filter(|&i| before[i] >= tolerance[i]).collect();
            if !members.is_empty() {
                let anchors: Vec<f64> = members.iter().flat_map(|&i| w[2 * m * i..2 * m * (i + 1)].to_vec()).collect();
                let mut phi_op = vec![0.0; anchors.len()];
                op.solve_batch(&anchors, &mut phi_op, &mut vec![0.0; members.len()])?;
                let mut shift = vec![Vec::new(); r];
                for (slot, &i) in members.iter().enumerate() {
                    costs[i].operator_calls += 1;
                    shift[i] = phi[i].iter().zip(&phi_op[2 * m * slot..]).map(|(e, o)| e - o).collect();
                }
                let mut corrected = phi.clone();
                let saved_w_plus = w_plus.clone();
                // On the corrected operator down to `operator_reduction` of the
                // anchor's residual (further, the operator's own error in the
                // pressure response takes over), then exact polish.
                let targets: Vec<f64> = (0..r)
                    .map(|i| (before[i] * self.config.operator_reduction).max(0.1 * self.config.pressure_tolerance))
                    .collect();
                self.pressure_loop(
                    &members,
                    &w_minus,
                    &mut w_plus,
                    &mut corrected,
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
                        let mut fields = vec![0.0; 2 * m];
                        from_exchange_pressure(&w_minus[i], &w_plus[i], &mut fields);
                        fields
                    })
                    .collect();
                let mut phi_after = vec![0.0; moved.len()];
                let mut log_q_after = vec![0.0; members.len()];
                let solved = self.exact.solve_batch(&moved, &mut phi_after, &mut log_q_after);
                // Trust check: keep the operator's W_+ only if it lowered the
                // exact residual; otherwise the anchor's state (W_+, phi, ln Q)
                // still stands. A batch with a field outside the model's
                // domain keeps every anchor.
                for (slot, &i) in members.iter().enumerate() {
                    costs[i].exact_solves += 1;
                    let after = &phi_after[2 * m * slot..2 * m * (slot + 1)];
                    if solved.is_ok() && max_pressure_residual(after) < before[i] {
                        phi[i].copy_from_slice(after);
                        log_q[i] = log_q_after[slot];
                    } else {
                        costs[i].rejected_operator_steps += 1;
                        w_plus[i].clone_from(&saved_w_plus[i]);
                    }
                }
            }
        }
        let exact = self.exact;
        let never = self.config.pressure_max_iterations;
        self.pressure_loop(&everyone, &w_minus, &mut w_plus, &mut phi, &tolerance, costs, never, |ids, w, phi| {
            let mut lq = vec![0.0; ids.len()];
            exact.solve_batch(w, phi, &mut lq).map_err(|e| failed(ids, e))?;
            for (slot, &i) in ids.iter().enumerate() {
                log_q[i] = lq[slot];
            }
            Ok(true)
        })?;
        let model = self.exact.model();
        let mut states = Vec::with_capacity(r);
        for (i, ((w_minus, w_plus), phi)) in w_minus.into_iter().zip(w_plus).zip(phi).enumerate() {
            let residual = max_pressure_residual(&phi);
            if residual >= self.config.pressure_tolerance {
                return Err(Error::Sampling(format!(
                    "{}: the pressure field did not converge in {} iterations (residual {residual:.3e})",
                    label(i),
                    self.config.pressure_max_iterations
                )));
            }
            let mut fields = vec![0.0; 2 * m];
            from_exchange_pressure(&w_minus, &w_plus, &mut fields);
            let hamiltonian = free_energy(model.beads, model.f_a(), self.config.chi, &fields, log_q[i]);
            states.push(LftsState {
                step: steps[i],
                w_minus,
                w_plus,
                phi,
                log_q: log_q[i],
                hamiltonian,
                pressure_residual: residual,
            });
        }
        Ok(states)
    }

    /// Anderson-accelerated Newton iterations on W_+ of the replicas
    /// `members` until the max-norm of phi_A + phi_B - 1 is below each one's
    /// `tolerance`. `phi` holds the densities at the entry fields; `solve`
    /// fills the densities of a batch (the replicas `ids`, fields `[n][2][M]`)
    /// and says whether that was an exact solve. One call per iteration for
    /// every replica still iterating, each with its own Anderson history.
    #[allow(clippy::too_many_arguments)]
    fn pressure_loop(
        &self,
        members: &[usize],
        w_minus: &[Vec<f64>],
        w_plus: &mut [Vec<f64>],
        phi: &mut [Vec<f64>],
        tolerance: &[f64],
        costs: &mut [StepCost],
        stall: usize,
        mut solve: impl FnMut(&[usize], &[f64], &mut [f64]) -> Result<bool>,
    ) -> Result<()> {
        let m = self.points();
        let mut mixers: Vec<AndersonMixer> =
            members.iter().map(|_| AndersonMixer::new(m, self.config.history)).collect();
        let mut scratch = self.plan.scratch();
        let mut spectrum = vec![C64::default(); self.plan.spectrum_len()];
        let mut d = vec![0.0; m];
        let mut next = vec![0.0; m];
        let mut w = vec![0.0; 2 * m * members.len()];
        let mut out = vec![0.0; 2 * m * members.len()];
        let mut best = vec![f64::INFINITY; members.len()];
        let mut best_at = vec![0usize; members.len()];
        // Positions in `members` still iterating, and their replicas.
        let mut active: Vec<usize> = (0..members.len()).collect();
        let mut ids = Vec::with_capacity(members.len());
        for iteration in 0..self.config.pressure_max_iterations {
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
                return Ok(());
            }
            ids.clear();
            for (slot, &k) in active.iter().enumerate() {
                let i = members[k];
                ids.push(i);
                for j in 0..m {
                    d[j] = phi[i][j] + phi[i][m + j] - 1.0;
                }
                self.plan.apply_multiplier(&mut scratch, &mut spectrum, &mut d, &self.inverse_total);
                mixers[k].next(&w_plus[i], &d, 1.0, &mut next);
                std::mem::swap(&mut w_plus[i], &mut next);
                from_exchange_pressure(&w_minus[i], &w_plus[i], &mut w[2 * m * slot..2 * m * (slot + 1)]);
            }
            let n = 2 * m * ids.len();
            let was_exact = solve(&ids, &w[..n], &mut out[..n])?;
            for (slot, &i) in ids.iter().enumerate() {
                phi[i].copy_from_slice(&out[2 * m * slot..2 * m * (slot + 1)]);
                costs[i].inner_iterations += 1;
                if was_exact {
                    costs[i].exact_solves += 1;
                } else {
                    costs[i].operator_calls += 1;
                }
            }
        }
        Ok(())
    }
}

/// Max-norm of phi_A + phi_B - 1.
pub fn max_pressure_residual(phi: &[f64]) -> f64 {
    let m = phi.len() / 2;
    (0..m).map(|i| (phi[i] + phi[m + i] - 1.0).abs()).fold(0.0, f64::max)
}
