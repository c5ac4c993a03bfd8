//! Analyzers in memory: the L-FTS trace, the running S(q), snapshots, any
//! closure; and the statistics of a trace's last half, the one place a
//! run's means and standard errors come from.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fts::LftsState;
use crate::observables::{RunningStructureFactor, order_parameter, structure_factor};
use crate::seam::SolveCost;
use crate::spectral::SpectralPlan;
use crate::stats::{correlated_mean_error, integrated_time, scalar_autocorrelation};
use crate::trajectory::{Analyzer, Observed};

/// Blocks of the standard errors of a run's means.
pub const BLOCKS: usize = 10;

/// The largest lag of the autocorrelations behind `LastHalf`'s integrated
/// times: Sokal's window closes by then for tau up to 400 steps.
pub const MAX_LAG: usize = 2000;

/// One L-FTS step's record (a line of `trace.jsonl`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleRecord {
    pub step: usize,
    pub hamiltonian: f64,
    /// Mean over the grid of (phi_A - phi_B)^2.
    pub psi2: f64,
    pub pressure_residual: f64,
    /// Cumulative over the run; `rejected`: operator loops of the
    /// compressor that its trust check threw away.
    #[serde(flatten)]
    pub cost: SolveCost,
    /// S(q*) of this state, its largest shell of S(q) (`Trace::with_peak`;
    /// NaN, written as null, where it was not recorded).
    #[serde(default = "nan", deserialize_with = "null_as_nan")]
    pub sq_peak: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// JSON writes a NaN as null; read it back as NaN.
pub fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl SampleRecord {
    pub fn of(state: &LftsState, cost: &SolveCost) -> Self {
        SampleRecord {
            step: state.step,
            hamiltonian: state.hamiltonian,
            psi2: order_parameter(&state.phi),
            pressure_residual: state.pressure_residual,
            cost: *cost,
            sq_peak: f64::NAN,
        }
    }
}

/// The trace of an L-FTS replica, one record per sampled state.
#[derive(Default)]
pub struct Trace {
    pub records: Vec<SampleRecord>,
    /// Where set, each record after the step also gets its state's S(q*).
    peak: Option<(SpectralPlan, usize)>,
}

impl Trace {
    /// A trace (continuing `records`) whose records after step `after` carry
    /// their state's S(q*) on `plan`'s grid: the series whose integrated
    /// time says how fast the structure decorrelates.
    pub fn with_peak(plan: SpectralPlan, after: usize, records: Vec<SampleRecord>) -> Self {
        Trace { records, peak: Some((plan, after)) }
    }
}

impl Analyzer<LftsState, SolveCost> for Trace {
    fn sample(&mut self, state: &LftsState, cost: &SolveCost) -> Result<()> {
        let mut record = SampleRecord::of(state, cost);
        if let Some((plan, after)) = &self.peak
            && state.step > *after
        {
            let m = plan.grid().points();
            record.sq_peak = structure_factor(plan, &state.phi[..m]).peak().s;
        }
        self.records.push(record);
        Ok(())
    }
}

/// Means of H and (phi_A - phi_B)^2 over the steps of the last half
/// (step > steps / 2), the integrated autocorrelation time of each series
/// in steps (Sokal's window, `stats::integrated_time`; NaN for fewer than 4
/// records or a constant series), and the standard errors they give
/// (`stats::correlated_mean_error`: sqrt(2 tau var / n), at least the
/// `BLOCKS`-block error where a window did not close).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LastHalf {
    pub h_mean: f64,
    pub h_stderr: f64,
    pub psi2_mean: f64,
    pub psi2_stderr: f64,
    pub h_tau: f64,
    pub psi2_tau: f64,
    /// The integrated time of S(q*) where every record of the last half
    /// carries it (`Trace::with_peak`), else NaN.
    pub sq_peak_tau: f64,
    /// Whether the windows closed within the lags (else the times are lower bounds).
    pub tau_window_closed: bool,
    /// Records averaged.
    pub count: usize,
}

/// The integrated time of one series (see `LastHalf`).
fn tau_of(x: &[f64]) -> (f64, bool) {
    if x.len() < 4 {
        return (f64::NAN, false);
    }
    integrated_time(&scalar_autocorrelation(&[x], (x.len() / 2).min(MAX_LAG)))
}

impl LastHalf {
    /// Over the records of a run of `steps` steps.
    pub fn of(records: &[SampleRecord], steps: usize) -> Self {
        let half: Vec<&SampleRecord> = records.iter().filter(|t| t.step > steps / 2).collect();
        let h: Vec<f64> = half.iter().map(|t| t.hamiltonian).collect();
        let psi2: Vec<f64> = half.iter().map(|t| t.psi2).collect();
        let ((h_tau, h_closed), (psi2_tau, psi2_closed)) = (tau_of(&h), tau_of(&psi2));
        let peaks: Vec<f64> = half.iter().map(|t| t.sq_peak).collect();
        let (sq_peak_tau, peak_closed) =
            if peaks.iter().all(|p| p.is_finite()) { tau_of(&peaks) } else { (f64::NAN, true) };
        let (h_mean, h_stderr) = correlated_mean_error(&h, (h_tau, h_closed), BLOCKS);
        let (psi2_mean, psi2_stderr) = correlated_mean_error(&psi2, (psi2_tau, psi2_closed), BLOCKS);
        LastHalf {
            h_mean,
            h_stderr,
            psi2_mean,
            psi2_stderr,
            h_tau,
            psi2_tau,
            sq_peak_tau,
            tau_window_closed: h_closed && psi2_closed && (peak_closed || sq_peak_tau.is_nan()),
            count: half.len(),
        }
    }

    /// Decorrelated samples per step: 1 / (2 tau) of the slowest series
    /// (H, (phi_A - phi_B)^2 and, where recorded, S(q*)).
    pub fn effective_per_step(&self) -> f64 {
        1.0 / (2.0 * self.h_tau.max(self.psi2_tau).max(self.sq_peak_tau))
    }
}

/// S(q) of phi_A summed over the states after step `after`.
pub struct StructureFactorSum {
    plan: SpectralPlan,
    after: usize,
    pub sum: RunningStructureFactor,
}

impl StructureFactorSum {
    /// From `sum` (empty, or a resumed run's), on `plan`'s grid.
    pub fn new(plan: SpectralPlan, after: usize, sum: RunningStructureFactor) -> Self {
        StructureFactorSum { plan, after, sum }
    }
}

impl<S: Observed, C> Analyzer<S, C> for StructureFactorSum {
    fn sample(&mut self, state: &S, _: &C) -> Result<()> {
        if state.step() > self.after {
            let m = self.plan.grid().points();
            self.sum.add(&structure_factor(&self.plan, &state.phi()[..m]));
        }
        Ok(())
    }
}

/// phi_A and the fields (w_A, w_B) of the states at every `every`-th step
/// (0: none) and at step `last`.
pub struct Snapshots {
    every: usize,
    last: usize,
    pub steps: Vec<usize>,
    /// `[k][M]`.
    pub phi_a: Vec<f64>,
    /// `[k][2][M]`.
    pub w: Vec<f64>,
}

impl Snapshots {
    pub fn new(every: usize, last: usize) -> Self {
        Snapshots { every, last, steps: Vec::new(), phi_a: Vec::new(), w: Vec::new() }
    }

    /// Whether a state at `step` is kept (0 never is: the start).
    pub fn keeps(every: usize, last: usize, step: usize) -> bool {
        step > 0 && ((every > 0 && step.is_multiple_of(every)) || step == last)
    }
}

impl Analyzer<LftsState, SolveCost> for Snapshots {
    fn sample(&mut self, state: &LftsState, _: &SolveCost) -> Result<()> {
        if Snapshots::keeps(self.every, self.last, state.step) {
            let m = state.w_minus.len();
            self.steps.push(state.step);
            self.phi_a.extend_from_slice(&state.phi[..m]);
            let mut w = vec![0.0; 2 * m];
            crate::fields::from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
            self.w.extend(w);
        }
        Ok(())
    }
}

/// Any closure as an analyzer.
pub struct Each<F>(pub F);

impl<S, C, F: FnMut(&S, &C) -> Result<()>> Analyzer<S, C> for Each<F> {
    fn sample(&mut self, state: &S, cost: &C) -> Result<()> {
        (self.0)(state, cost)
    }
}
