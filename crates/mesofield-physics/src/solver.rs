//! The exact solver of docs/model.md: fields (w_A, w_B) -> (phi_A, phi_B, ln Q) by
//! discrete-chain propagators, in float64.
//!
//! Propagators are rescaled at every bead so strong fields cannot overflow:
//! the stored q~_s has max |q~_s| in [1, 2) times one bead's Boltzmann factor
//! and the true propagator is q_s = q~_s exp(c_s), with the log scale c_s
//! carried separately. The forward
//! and backward passes are independent and run under `rayon::join`; a batch is
//! spread over threads with one workspace per worker. Each sample is computed
//! by the same sequential arithmetic whatever the thread count, so results are
//! bit-identical across thread counts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::error::{DomainError, Error, Result};
use crate::grid::Grid;
use crate::model::ChainModel;
use crate::paired_fft::{PairedPlan, PairedScratch};
use crate::spectral::{SpectralPlan, SpectralScratch};

/// Fourier transform of the bond kernels (docs/model.md, "Bonds").
pub fn bond_factor(segment_sq: f64, q_squared: f64) -> f64 {
    (-segment_sq * q_squared / 6.0).exp()
}

/// `values *= weights` and returns max |values|. Four independent lanes and
/// a compare-select (not `f64::max`, whose NaN rule blocks vectorising); a
/// NaN is caught later by the finiteness checks on Q and phi.
fn multiply_and_max_abs(values: &mut [f64], weights: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 4];
    let mut chunks = values.chunks_exact_mut(4);
    let mut weight_chunks = weights.chunks_exact(4);
    for (v, w) in (&mut chunks).zip(&mut weight_chunks) {
        for k in 0..4 {
            let x = v[k] * w[k];
            v[k] = x;
            let a = x.abs();
            lanes[k] = if a > lanes[k] { a } else { lanes[k] };
        }
    }
    for (v, w) in chunks.into_remainder().iter_mut().zip(weight_chunks.remainder()) {
        *v *= w;
        let a = v.abs();
        lanes[0] = if a > lanes[0] { a } else { lanes[0] };
    }
    lanes[0].max(lanes[1]).max(lanes[2].max(lanes[3]))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bond {
    Aa,
    Bb,
    Junction,
}

pub struct ExactSolver {
    model: ChainModel,
    grid: Grid,
    plan: SpectralPlan,
    kernel_aa: Vec<f64>,
    kernel_bb: Vec<f64>,
    kernel_junction: Vec<f64>,
    pub(crate) paired: PairedPlan,
    /// Full-spectrum kernels for the paired path: A-A, B-B, junction.
    full_kernels: [Vec<f64>; 3],
    /// Paired complex FFTs (default) or the two real-FFT recursions under
    /// `rayon::join` (faster for a single sample on two or more idle cores).
    paired_fft: bool,
    /// Workspaces kept between calls: a workspace is megabytes, and fresh
    /// pages cost more than a small solve.
    pool: Mutex<Vec<SolverWorkspace>>,
    /// Once set from outside, every later solve fails with
    /// `Error::Interrupted` (`crate::interrupt`): from `with_interrupt`, or
    /// the enclosing `interrupt::with_interrupt` when the solver was made.
    interrupt: Option<Arc<AtomicBool>>,
}

/// A workspace borrowed from the solver's pool, returned on drop.
struct PooledWorkspace<'a> {
    workspace: Option<SolverWorkspace>,
    pool: &'a Mutex<Vec<SolverWorkspace>>,
}

impl Drop for PooledWorkspace<'_> {
    fn drop(&mut self) {
        if let (Some(ws), Ok(mut pool)) = (self.workspace.take(), self.pool.lock()) {
            pool.push(ws);
        }
    }
}

/// One direction's propagators and scratch.
pub(crate) struct PropagatorBuffers {
    scratch: SpectralScratch,
    /// `[bead][point]`, rescaled.
    pub(crate) props: Vec<f64>,
    /// log of the factor removed from each bead's stored propagator.
    pub(crate) log_scale: Vec<f64>,
}

/// Everything one solve needs; reuse it across solves of the same solver.
pub struct SolverWorkspace {
    pub(crate) paired: PairedScratch,
    pub(crate) forward: PropagatorBuffers,
    pub(crate) backward: PropagatorBuffers,
    /// exp(-w_A), exp(-w_B), exp(+w_A), exp(+w_B).
    pub(crate) boltzmann: [Vec<f64>; 4],
}

#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Backward,
}

impl ExactSolver {
    pub fn new(model: &ChainModel, grid: Grid) -> Result<Self> {
        model.validate()?;
        let plan = SpectralPlan::new(grid);
        let (ba2, bb2) = (model.segment_a.powi(2), model.segment_b.powi(2));
        let kernel_aa = plan.kernel(|q2| bond_factor(ba2, q2));
        let kernel_bb = plan.kernel(|q2| bond_factor(bb2, q2));
        // Two half bonds: exp(-(b_A^2 + b_B^2) q^2 / 12).
        let kernel_junction = plan.kernel(|q2| bond_factor(0.5 * (ba2 + bb2), q2));
        let paired = PairedPlan::new(grid);
        let full_kernels = [
            paired.kernel(&grid, |q2| bond_factor(ba2, q2)),
            paired.kernel(&grid, |q2| bond_factor(bb2, q2)),
            paired.kernel(&grid, |q2| bond_factor(0.5 * (ba2 + bb2), q2)),
        ];
        Ok(ExactSolver {
            model: model.clone(),
            grid,
            plan,
            kernel_aa,
            kernel_bb,
            kernel_junction,
            paired,
            full_kernels,
            paired_fft: true,
            pool: Mutex::new(Vec::new()),
            interrupt: crate::interrupt::ambient(),
        })
    }

    /// Chooses the paired complex-FFT path (true, the default) or the two
    /// real-FFT recursions run under `rayon::join`. Both compute the same
    /// recursion; they differ by round-off only.
    pub fn with_paired_fft(mut self, paired: bool) -> Self {
        self.paired_fft = paired;
        self
    }

    /// Makes every solve (and tangent map) after `flag` is set an
    /// `Error::Interrupted`.
    pub fn with_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// `Err(Error::Interrupted)` once the interrupt flag is set.
    pub fn check_interrupt(&self) -> Result<()> {
        match &self.interrupt {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::Interrupted),
            _ => Ok(()),
        }
    }

    pub fn model(&self) -> &ChainModel {
        &self.model
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    pub fn workspace(&self) -> SolverWorkspace {
        let n = self.model.beads;
        let m = self.grid.points();
        let buffers =
            || PropagatorBuffers { scratch: self.plan.scratch(), props: vec![0.0; n * m], log_scale: vec![0.0; n] };
        SolverWorkspace {
            paired: self.paired.scratch(),
            forward: buffers(),
            backward: buffers(),
            boltzmann: std::array::from_fn(|_| vec![0.0; m]),
        }
    }

    fn pooled(&self) -> PooledWorkspace<'_> {
        let reused = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        PooledWorkspace { workspace: Some(reused.unwrap_or_else(|| self.workspace())), pool: &self.pool }
    }

    pub(crate) fn bond(&self, left: usize) -> Bond {
        match (self.model.is_a(left), self.model.is_a(left + 1)) {
            (true, true) => Bond::Aa,
            (false, false) => Bond::Bb,
            _ => Bond::Junction,
        }
    }

    fn kernel(&self, bond: Bond) -> &[f64] {
        match bond {
            Bond::Aa => &self.kernel_aa,
            Bond::Bb => &self.kernel_bb,
            Bond::Junction => &self.kernel_junction,
        }
    }

    /// Runs one direction's recursion over all beads into `buf`.
    fn propagate(
        &self,
        buf: &mut PropagatorBuffers,
        boltzmann: &[Vec<f64>; 4],
        direction: Direction,
    ) -> Result<(), DomainError> {
        let n = self.model.beads;
        let m = self.grid.points();
        let bead_at = |step: usize| match direction {
            Direction::Forward => step,
            Direction::Backward => n - 1 - step,
        };
        let first = bead_at(0);
        let weight = |bead: usize| if self.model.is_a(bead) { &boltzmann[0] } else { &boltzmann[1] };
        let mut max_abs = 0.0f64;
        {
            let q0 = &mut buf.props[first * m..(first + 1) * m];
            q0.copy_from_slice(weight(first));
            for &v in q0.iter() {
                max_abs = max_abs.max(v.abs());
            }
        }
        buf.log_scale[first] = 0.0;
        for step in 1..n {
            let (prev, bead) = (bead_at(step - 1), bead_at(step));
            if !(max_abs.is_finite() && max_abs > 0.0) {
                return Err(DomainError::NonFiniteResult { what: "propagator" });
            }
            let bond = self.bond(prev.min(bead));
            // Split so the previous bead's slice is read while this one is written.
            let (src, dst) = if prev < bead {
                let (lo, hi) = buf.props.split_at_mut(bead * m);
                (&lo[prev * m..(prev + 1) * m], &mut hi[..m])
            } else {
                let (lo, hi) = buf.props.split_at_mut(prev * m);
                (&hi[..m], &mut lo[bead * m..(bead + 1) * m])
            };
            // A power of two: rescaling is exact, so results equal the
            // unscaled recursion's wherever that one does not overflow.
            let exponent = max_abs.log2().floor();
            self.plan.convolve(&mut buf.scratch, src, self.kernel(bond), (-exponent).exp2(), dst);
            buf.log_scale[bead] = buf.log_scale[prev] + exponent * std::f64::consts::LN_2;
            max_abs = multiply_and_max_abs(dst, weight(bead));
        }
        if !max_abs.is_finite() {
            return Err(DomainError::NonFiniteResult { what: "propagator" });
        }
        Ok(())
    }

    pub(crate) fn full_kernel(&self, bond: Bond) -> &[f64] {
        // Equal segment lengths make all three kernels equal; handing out one
        // slice lets `convolve_pair` skip the unpacking of the two inputs.
        if self.model.segment_a == self.model.segment_b {
            return &self.full_kernels[0];
        }
        match bond {
            Bond::Aa => &self.full_kernels[0],
            Bond::Bb => &self.full_kernels[1],
            Bond::Junction => &self.full_kernels[2],
        }
    }

    /// Both recursions in one loop, forward bead t and backward bead N-1-t
    /// sharing one complex FFT pair per step (see `paired`).
    fn propagate_paired(&self, ws: &mut SolverWorkspace) -> Result<(), DomainError> {
        let n = self.model.beads;
        let m = self.grid.points();
        let SolverWorkspace { paired, forward, backward, boltzmann } = ws;
        let weight = |bead: usize| if self.model.is_a(bead) { &boltzmann[0] } else { &boltzmann[1] };
        forward.props[..m].copy_from_slice(weight(0));
        backward.props[(n - 1) * m..].copy_from_slice(weight(n - 1));
        forward.log_scale[0] = 0.0;
        backward.log_scale[n - 1] = 0.0;
        let max_abs = |v: &[f64]| v.iter().fold(0.0f64, |acc, x| if x.abs() > acc { x.abs() } else { acc });
        let mut max_f = max_abs(&forward.props[..m]);
        let mut max_b = max_abs(&backward.props[(n - 1) * m..]);
        for t in 1..n {
            if !(max_f.is_finite() && max_f > 0.0 && max_b.is_finite() && max_b > 0.0) {
                return Err(DomainError::NonFiniteResult { what: "propagator" });
            }
            let (fb, bb) = (t, n - 1 - t);
            // Powers of two: rescaling is exact (see `propagate`).
            let (ef, eb) = (max_f.log2().floor(), max_b.log2().floor());
            let (f_src, f_dst) = forward.props.split_at_mut(fb * m);
            let (b_dst, b_src) = backward.props.split_at_mut((bb + 1) * m);
            let f_src = &f_src[(fb - 1) * m..];
            let f_dst = &mut f_dst[..m];
            let b_dst = &mut b_dst[bb * m..];
            let b_src = &b_src[..m];
            (max_f, max_b) = self.paired.convolve_pair(
                paired,
                [f_src, b_src],
                [(-ef).exp2(), (-eb).exp2()],
                [self.full_kernel(self.bond(fb - 1)), self.full_kernel(self.bond(bb))],
                [weight(fb), weight(bb)],
                [f_dst, b_dst],
            );
            forward.log_scale[fb] = forward.log_scale[fb - 1] + ef * std::f64::consts::LN_2;
            backward.log_scale[bb] = backward.log_scale[bb + 1] + eb * std::f64::consts::LN_2;
        }
        if !(max_f.is_finite() && max_b.is_finite()) {
            return Err(DomainError::NonFiniteResult { what: "propagator" });
        }
        Ok(())
    }

    /// Solves one sample: `w` is `[2][Mx*My]` (A then B), `phi` likewise.
    /// Returns ln Q.
    pub fn solve_into(&self, ws: &mut SolverWorkspace, w: &[f64], phi: &mut [f64]) -> Result<f64, DomainError> {
        let m = self.grid.points();
        let n = self.model.beads;
        assert_eq!(w.len(), 2 * m, "w must hold two channels of the solver's grid");
        assert_eq!(phi.len(), 2 * m, "phi must hold two channels of the solver's grid");
        for (i, &v) in w.iter().enumerate() {
            if !v.is_finite() {
                let (channel, point) = (i / m, i % m);
                return Err(DomainError::NonFiniteField {
                    channel,
                    ix: point / self.grid.my,
                    iy: point % self.grid.my,
                    value: v,
                });
            }
        }
        for channel in 0..2 {
            let src = &w[channel * m..(channel + 1) * m];
            let (minus, plus) = ws.boltzmann.split_at_mut(2);
            for ((em, ep), &v) in minus[channel].iter_mut().zip(plus[channel].iter_mut()).zip(src) {
                *em = (-v).exp();
                *ep = v.exp();
            }
        }
        if self.paired_fft {
            self.propagate_paired(ws)?;
        } else {
            let SolverWorkspace { forward, backward, boltzmann, .. } = &mut *ws;
            let boltzmann = &*boltzmann;
            let (fwd, bwd) = rayon::join(
                || self.propagate(forward, boltzmann, Direction::Forward),
                || self.propagate(backward, boltzmann, Direction::Backward),
            );
            fwd?;
            bwd?;
        }
        let SolverWorkspace { forward, backward, boltzmann, .. } = ws;

        let last = &forward.props[(n - 1) * m..n * m];
        let mean_last = last.iter().sum::<f64>() / m as f64;
        let log_q_scale = forward.log_scale[n - 1];
        if !mean_last.is_finite() {
            return Err(DomainError::NonFiniteResult { what: "Q" });
        }
        if mean_last <= 0.0 {
            return Err(DomainError::NonPositiveQ { q: mean_last * log_q_scale.exp() });
        }
        let log_q = log_q_scale + mean_last.ln();

        phi.fill(0.0);
        let (phi_a, phi_b) = phi.split_at_mut(m);
        let log_norm = log_q + (n as f64).ln();
        for bead in 0..n {
            let factor = (forward.log_scale[bead] + backward.log_scale[bead] - log_norm).exp();
            let target = if self.model.is_a(bead) { &mut *phi_a } else { &mut *phi_b };
            let q = &forward.props[bead * m..(bead + 1) * m];
            let qd = &backward.props[bead * m..(bead + 1) * m];
            for ((p, &a), &b) in target.iter_mut().zip(q).zip(qd) {
                *p += a * b * factor;
            }
        }
        // exp(+w) is common to all beads of a block: applied once.
        for (p, &e) in phi_a.iter_mut().zip(&boltzmann[2]) {
            *p *= e;
        }
        for (p, &e) in phi_b.iter_mut().zip(&boltzmann[3]) {
            *p *= e;
        }
        if phi_a.iter().chain(phi_b.iter()).any(|v| !v.is_finite()) {
            return Err(DomainError::NonFiniteResult { what: "density" });
        }
        Ok(log_q)
    }

    /// Solves every sample of a batch `w` = `[n][2][Mx*My]`, in parallel.
    /// Each sample's outcome is returned; failed samples leave zeros.
    pub fn solve_batch_each(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Vec<Result<(), DomainError>> {
        let stride = 2 * self.grid.points();
        let n = log_q.len();
        assert_eq!(w.len(), n * stride);
        assert_eq!(phi.len(), n * stride);
        let mut outcome = vec![Ok(()); n];
        w.par_chunks(stride)
            .zip(phi.par_chunks_mut(stride))
            .zip(log_q.par_iter_mut())
            .zip(outcome.par_iter_mut())
            .for_each_init(
                || self.pooled(),
                |ws, (((w, phi), lq), out)| match self.solve_into(
                    ws.workspace.as_mut().expect("held until drop"),
                    w,
                    phi,
                ) {
                    Ok(v) => *lq = v,
                    Err(e) => {
                        phi.fill(0.0);
                        *lq = 0.0;
                        *out = Err(e);
                    }
                },
            );
        outcome
    }

    /// `solve_batch` over `chunk` samples at a time, calling `after(done)`
    /// with the samples solved so far after each chunk (progress, a look
    /// for Ctrl-C; its error stops the run). A failing sample is named by
    /// its index in the whole of `w`.
    pub fn solve_chunks(
        &self,
        w: &[f64],
        phi: &mut [f64],
        log_q: &mut [f64],
        chunk: usize,
        after: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<()> {
        let stride = 2 * self.grid.points();
        let chunk = chunk.max(1);
        if w.len() != log_q.len() * stride || phi.len() != w.len() {
            return self.solve_batch(w, phi, log_q);
        }
        let mut done = 0;
        for (w_chunk, (phi_chunk, lq_chunk)) in
            w.chunks(chunk * stride).zip(phi.chunks_mut(chunk * stride).zip(log_q.chunks_mut(chunk)))
        {
            self.solve_batch(w_chunk, phi_chunk, lq_chunk).map_err(|e| match e {
                Error::Domain { sample, cause, more } => Error::Domain { sample: sample + done, cause, more },
                other => other,
            })?;
            done += lq_chunk.len();
            after(done)?;
        }
        Ok(())
    }

    /// Like `solve_batch_each`, but the first failing sample is an error.
    pub fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<()> {
        let stride = 2 * self.grid.points();
        if w.len() != log_q.len() * stride || phi.len() != w.len() {
            return Err(Error::Shape(format!(
                "exact solver on {}x{}: {} field values, {} density values and {} ln Q for samples of {stride}",
                self.grid.mx,
                self.grid.my,
                w.len(),
                phi.len(),
                log_q.len()
            )));
        }
        self.check_interrupt()?;
        let outcome = self.solve_batch_each(w, phi, log_q);
        let failed = outcome.iter().filter(|r| r.is_err()).count();
        match outcome.into_iter().enumerate().find_map(|(i, r)| r.err().map(|e| (i, e))) {
            None => Ok(()),
            Some((sample, cause)) => Err(Error::Domain { sample, cause, more: failed - 1 }),
        }
    }
}
