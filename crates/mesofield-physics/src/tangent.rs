//! The exact solver's tangent map: phi(w + eps v) = phi(w) + eps J(w) v + O(eps^2),
//! J v computed by tangent propagators through the same bead recursion.
//!
//! Differentiating docs/model.md's recursion,
//!     dq_s  = -v_s q_s  + exp(-w_s) conv(g, dq_(s-1)),   dq_0 = -v_0 q_0,
//!     dqd_s = -v_s qd_s + exp(-w_s) conv(g, dqd_(s+1)),  dqd_(N-1) = -v_(N-1) qd_(N-1),
//!     d ln Q = mean(dq_(N-1)) / Q,
//!     dphi_s = (dq_s qd_s + q_s dqd_s) exp(w_s) / (N Q) + phi_s (v_s - d ln Q),
//! with v_s = v_A or v_B by bead type. The base propagators are kept from
//! one solve at w (with their power-of-two rescaling, which the tangents
//! share), so a product costs one forward and one backward tangent pass:
//! 2(N-1) convolutions, about one solve. The tangent of phi_s needs the
//! other direction's base propagator at the same bead, which is stored, so
//! neither tangent is stored.
//!
//! J is symmetric (phi_t(r) = -(M/N) d ln Q / d w_t(r), so J is -(M/N) times
//! the Hessian of ln Q) and maps every v to fields of zero mean per channel
//! (the means of phi are fixed); the constants per channel are its null
//! space (the gauges).

use crate::error::{DomainError, Error, Result};
use crate::solver::{ExactSolver, SolverWorkspace};

/// The exact solver linearised at one w.
pub struct Linearization<'a> {
    solver: &'a ExactSolver,
    /// The base solve's propagators (and Boltzmann factors).
    ws: SolverWorkspace,
    phi: Vec<f64>,
    log_q: f64,
    /// exp(c_s + d_s - ln Q - ln N) per bead: the scale of phi_s in terms
    /// of the stored (rescaled) propagators.
    factor: Vec<f64>,
    /// exp(c_(s-1) - c_s) (forward) and exp(d_(s+1) - d_s) (backward) per
    /// bead: the powers of two the recursion divided by.
    step_forward: Vec<f64>,
    step_backward: Vec<f64>,
    /// mean of the stored q_(N-1): Q up to its scale.
    mean_last: f64,
    tangent_forward: [Vec<f64>; 2],
    tangent_backward: [Vec<f64>; 2],
    acc: Vec<f64>,
}

impl ExactSolver {
    /// Solves at `w` (`[2][M]`) and keeps what `Linearization::apply` needs.
    pub fn linearize(&self, w: &[f64]) -> Result<Linearization<'_>> {
        let m = self.grid().points();
        let n = self.model().beads;
        let mut lin = Linearization {
            solver: self,
            ws: self.workspace(),
            phi: vec![0.0; 2 * m],
            log_q: 0.0,
            factor: vec![0.0; n],
            step_forward: vec![1.0; n],
            step_backward: vec![1.0; n],
            mean_last: 0.0,
            tangent_forward: [vec![0.0; m], vec![0.0; m]],
            tangent_backward: [vec![0.0; m], vec![0.0; m]],
            acc: vec![0.0; 2 * m],
        };
        lin.at(w)?;
        Ok(lin)
    }
}

impl Linearization<'_> {
    /// Moves the linearisation to `w`, reusing every buffer: one solve.
    /// After an error the state is invalid until a successful `at`.
    pub fn at(&mut self, w: &[f64]) -> Result<()> {
        let solver = self.solver;
        let m = solver.grid().points();
        let n = solver.model().beads;
        if w.len() != 2 * m {
            return Err(Error::Shape(format!("linearize: {} field values, the grid needs 2 x {m}", w.len())));
        }
        solver.check_interrupt()?;
        self.log_q = solver.solve_into(&mut self.ws, w, &mut self.phi).map_err(|cause| Error::Domain {
            sample: 0,
            cause,
            more: 0,
        })?;
        let (c, d) = (&self.ws.forward.log_scale, &self.ws.backward.log_scale);
        let log_norm = self.log_q + (n as f64).ln();
        for s in 0..n {
            self.factor[s] = (c[s] + d[s] - log_norm).exp();
        }
        // The scales are multiples of ln 2: round to recover the exact power.
        let power = |x: f64| (x / std::f64::consts::LN_2).round().exp2();
        for s in 1..n {
            self.step_forward[s] = power(c[s - 1] - c[s]);
        }
        for s in 0..n - 1 {
            self.step_backward[s] = power(d[s + 1] - d[s]);
        }
        self.mean_last = self.ws.forward.props[(n - 1) * m..].iter().sum::<f64>() / m as f64;
        Ok(())
    }

    /// phi(w), `[2][M]`.
    pub fn phi(&self) -> &[f64] {
        &self.phi
    }

    pub fn log_q(&self) -> f64 {
        self.log_q
    }

    /// `dphi = J v` for `v` = `[2][M]`; returns d ln Q along v.
    pub fn apply(&mut self, v: &[f64], dphi: &mut [f64]) -> Result<f64> {
        let solver = self.solver;
        let model = solver.model();
        let n = model.beads;
        let m = solver.grid().points();
        if v.len() != 2 * m || dphi.len() != 2 * m {
            return Err(Error::Shape(format!(
                "tangent map: {} direction and {} output values, the grid needs 2 x {m}",
                v.len(),
                dphi.len()
            )));
        }
        solver.check_interrupt()?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::Parameter("tangent map: the direction has non-finite values".into()));
        }
        let SolverWorkspace { paired, forward, backward, boltzmann } = &mut self.ws;
        let (q, qd) = (&forward.props, &backward.props);
        let (v_a, v_b) = v.split_at(m);
        let dir = |bead: usize| if model.is_a(bead) { v_a } else { v_b };
        let weight = |bead: usize| if model.is_a(bead) { &boltzmann[0] } else { &boltzmann[1] };
        let at = |bead: usize| bead * m..(bead + 1) * m;
        let acc = &mut self.acc;
        acc.fill(0.0);
        let channel = |bead: usize| if model.is_a(bead) { 0..m } else { m..2 * m };
        let [tf_prev, tf_cur] = &mut self.tangent_forward;
        let [tb_prev, tb_cur] = &mut self.tangent_backward;

        // dq_0 = -v_0 q_0 and dqd_(N-1) = -v_(N-1) qd_(N-1), and their terms of dphi.
        let (first, last) = (0, n - 1);
        for (t, (&x, &vx)) in tf_prev.iter_mut().zip(q[at(first)].iter().zip(dir(first))) {
            *t = -vx * x;
        }
        for (t, (&x, &vx)) in tb_prev.iter_mut().zip(qd[at(last)].iter().zip(dir(last))) {
            *t = -vx * x;
        }
        accumulate(&mut acc[channel(first)], self.factor[first], tf_prev, &qd[at(first)]);
        accumulate(&mut acc[channel(last)], self.factor[last], tb_prev, &q[at(last)]);
        for t in 1..n {
            let (fb, bb) = (t, n - 1 - t);
            solver.paired.convolve_pair(
                paired,
                [tf_prev.as_slice(), tb_prev.as_slice()],
                [self.step_forward[fb], self.step_backward[bb]],
                [solver.full_kernel(solver.bond(fb - 1)), solver.full_kernel(solver.bond(bb))],
                [weight(fb), weight(bb)],
                [tf_cur.as_mut_slice(), tb_cur.as_mut_slice()],
            );
            for (t, (&x, &vx)) in tf_cur.iter_mut().zip(q[at(fb)].iter().zip(dir(fb))) {
                *t -= vx * x;
            }
            for (t, (&x, &vx)) in tb_cur.iter_mut().zip(qd[at(bb)].iter().zip(dir(bb))) {
                *t -= vx * x;
            }
            accumulate(&mut acc[channel(fb)], self.factor[fb], tf_cur, &qd[at(fb)]);
            accumulate(&mut acc[channel(bb)], self.factor[bb], tb_cur, &q[at(bb)]);
            std::mem::swap(tf_prev, tf_cur);
            std::mem::swap(tb_prev, tb_cur);
        }
        // tf_prev now holds the tangent of the stored q_(N-1).
        let d_log_q = tf_prev.iter().sum::<f64>() / m as f64 / self.mean_last;
        for i in 0..2 * m {
            let boltzmann_plus = if i < m { boltzmann[2][i] } else { boltzmann[3][i - m] };
            dphi[i] = boltzmann_plus * acc[i] + self.phi[i] * (v[i] - d_log_q);
        }
        if !d_log_q.is_finite() || dphi.iter().any(|x| !x.is_finite()) {
            return Err(Error::Domain { sample: 0, cause: DomainError::NonFiniteResult { what: "tangent" }, more: 0 });
        }
        Ok(d_log_q)
    }
}

/// acc += factor * a * b.
fn accumulate(acc: &mut [f64], factor: f64, a: &[f64], b: &[f64]) {
    for ((y, &x), &z) in acc.iter_mut().zip(a).zip(b) {
        *y += factor * x * z;
    }
}
