//! Inferring chi from patterns and the fields that make them.
//!
//! With w from the inverse map (zero-mean, so W_- = (w_B - w_A)/2 is known up
//! to its mean, a gauge) and psi = phi_A - phi_B, two estimators, both exact
//! at an SCFT saddle point, where W_- = chi psi / 2 everywhere:
//!
//! - `Saddle`: the least-squares slope (with intercept, the gauge) of W_- on
//!   psi / 2 over the grid points where both densities exceed 1e-4: where
//!   one vanishes its field no longer moves any density, so the inverse map
//!   cannot tell it (at chi = 0.5 a strongly segregated saddle point has
//!   phi_B crossing zero in the A cores, and those points alone shift the
//!   unmasked slope by 2%). On fluctuating (L-FTS) samples the exchange
//!   condition holds only on average, and W_- carries noise at every wave
//!   vector that psi does not follow, so this estimator is biased there.
//! - `Equipartition { beads_per_cell: B, step_size: lambda, integrator }`:
//!   the L-FTS ensemble is exp(-B G[W_-]) with dG/dW_-(r) = phi_B - phi_A +
//!   2 W_- / chi (docs/model.md's Langevin force), so <W_- dG/dW_-> = 1/B
//!   per degree of freedom (equipartition); over the points kept (n of
//!   them, W_- and psi centred on their mean there, which takes the gauge
//!   and one degree of freedom) 2 sum(dW^2) / chi - sum(dW dpsi) =
//!   (n - 1) / B, chi = 2 sum(dW^2) / (sum(dW dpsi) + (n - 1) / B) in the
//!   continuum limit. The samples come from a discrete step, F = dG/dW_-:
//!   - Euler-Maruyama, W' = W - lambda F + eta: stationarity of <W^2>
//!     gives exactly <W F> = 1/B + (lambda / 2) <F^2> per degree of
//!     freedom, with F = 2 W / chi - psi a quadratic in 1 / chi, solved
//!     as such. The continuum form is biased by the step (measured from
//!     the run's own fields at lambda = 0.05, B = 100, two patterns:
//!     0.165-0.173 for chi = 0.1, 0.211-0.214 for 0.2); the discrete one
//!     gives 0.106-0.117 and 0.199-0.202.
//!   - Leimkuhler-Matthews, W' = W - lambda F + (eta_k + eta_{k+1}) / 2:
//!     W carries eta_k itself (<W eta_k> = lambda / B), and stationarity
//!     gives <W F> = 1/B + (lambda / 2) (<F^2> - <F eta_k> / lambda). For
//!     a quadratic G the bracket vanishes exactly (<F eta_k> = a <W eta_k>,
//!     <F^2> = a / B), so these samples take the continuum form, linear in
//!     1 / chi (on the model's own fields: within 1.6% at chi 0.1-1.0,
//!     BENCHMARKS.md).
//!   With every point kept it is exact in the ensemble up to the
//!   ratio-of-means bias, which falls as 1/(samples x points); with
//!   B -> infinity it is the saddle estimator's mean-field limit, and exact
//!   at a saddle point with any points kept.
//!
//! Which points: only those where both densities are at least
//! `EQUIPARTITION_DENSITY`. The inverse map is not unique where a density
//! nearly vanishes: measured on two L-FTS patterns at chi = 1.0 (B = 100,
//! 32x32, 40% of the points below 1e-3), the fields it finds reproduce the
//! patterns to 1e-12 but differ from the run's own W_- by 0.66 rms below
//! density 1e-3 and 0.16 rms between 1e-3 and 1e-2, and with every point
//! kept chi comes out at 1.44 (0.996 from the run's own fields). With the
//! cut at 3e-3 the inverted and the run's fields give the same chi to 0.4%
//! (five seeds: 0.986-1.000; 1e-3 lets the branches in, 1.05). Those
//! fields came from the inverse map's plain-residual Newton polish; its
//! logarithmic residual now lands on the run's own branch for them, and
//! the cut stays as the guard for a pattern inverted onto another. It is a
//! function of the pattern, hence of W_-, and equipartition leaves out its
//! divergence at the edge of the cut: measured from the run's own fields, it
//! biases chi low by 0.5-0.9% at chi = 1.0 and 0.4, against the 5% and 3%
//! such estimates are asked for.
//!
//! The uncertainties are a delete-one-group jackknife over 16 interleaved
//! groups of grid points; both estimators pool all samples.

use crate::error::{Error, Result};
use crate::fts::Integrator;
use crate::spectral::SpectralPlan;
use crate::stats::jackknife_error;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChiEstimator {
    Saddle,
    /// `step_size` and `integrator`: the L-FTS step lambda the samples
    /// were drawn with and how (module docs); 0 is the continuum limit.
    Equipartition {
        beads_per_cell: f64,
        step_size: f64,
        integrator: Integrator,
    },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChiEstimate {
    pub chi: f64,
    /// Jackknife standard error over interleaved groups of grid points.
    pub std_error: f64,
    /// The estimator applied to each sample alone.
    pub per_sample: Vec<f64>,
    pub estimator: ChiEstimator,
}

const GROUPS: usize = 16;

/// Per-group sums. Equipartition: sum(dW dpsi), sum(dpsi^2), sum(dW^2) over
/// the parts centred on each sample's mean over the points kept, and the
/// degrees of freedom. Saddle: the weighted raw
/// moments of a regression with intercept.
#[derive(Clone, Copy, Default)]
struct Sums {
    w_psi: f64,
    psi_psi: f64,
    w_w: f64,
    dof: f64,
    weight: f64,
    w: f64,
    psi: f64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.w_psi += o.w_psi;
        self.psi_psi += o.psi_psi;
        self.w_w += o.w_w;
        self.dof += o.dof;
        self.weight += o.weight;
        self.w += o.w;
        self.psi += o.psi;
    }
    fn sub(&self, o: &Sums) -> Sums {
        Sums {
            w_psi: self.w_psi - o.w_psi,
            psi_psi: self.psi_psi - o.psi_psi,
            w_w: self.w_w - o.w_w,
            dof: self.dof - o.dof,
            weight: self.weight - o.weight,
            w: self.w - o.w,
            psi: self.psi - o.psi,
        }
    }
    /// The spread of psi that the estimate rests on.
    fn psi_spread(&self, estimator: ChiEstimator) -> f64 {
        match estimator {
            ChiEstimator::Saddle => self.psi_psi - self.psi * self.psi / self.weight.max(1.0),
            ChiEstimator::Equipartition { .. } => self.psi_psi,
        }
    }
    fn chi(&self, estimator: ChiEstimator) -> f64 {
        match estimator {
            ChiEstimator::Saddle => 2.0 * (self.w_psi - self.w * self.psi / self.weight) / self.psi_spread(estimator),
            ChiEstimator::Equipartition { beads_per_cell, step_size, integrator } => {
                let step_size = match integrator {
                    Integrator::EulerMaruyama => step_size,
                    Integrator::LeimkuhlerMatthews => 0.0,
                };
                // 2 lambda S_ww u^2 - 2 (S_ww + lambda S_wpsi) u
                //   + S_wpsi + dof / B + lambda S_psipsi / 2 = 0 for u = 1 / chi,
                // the root that stays finite as lambda -> 0 (the sampler's
                // for lambda < chi / 2), in the form without cancellation.
                // At lambda = chi / 2 a step forgets W_- (x' = (1 - 2 lambda
                // / chi) x + eta at high q) and the roots meet: sampling
                // noise there can push the discriminant below zero, and the
                // double root is the nearest real answer.
                let a = 2.0 * step_size * self.w_w;
                let b = -2.0 * (self.w_w + step_size * self.w_psi);
                let c = self.w_psi + self.dof / beads_per_cell + 0.5 * step_size * self.psi_psi;
                let discriminant = (b * b - 4.0 * a * c).max(0.0);
                (-b + discriminant.sqrt()) / (2.0 * c)
            }
        }
    }
}

/// Both densities above this for a point to enter the saddle estimator.
const IDENTIFIABLE_DENSITY: f64 = 1e-4;
/// Both densities above this for a point to enter the equipartition
/// estimator (the module comment says why it is higher: on fluctuating patterns the inverse map's solutions differ up
/// to densities of about 1e-2, on saddle points only below 1e-4).
pub const EQUIPARTITION_DENSITY: f64 = 3e-3;

/// Group sums of one sample: `w` `[2][M]` (any gauge), `phi` `[2][M]`.
fn sample_sums(plan: &SpectralPlan, w: &[f64], phi: &[f64], estimator: ChiEstimator) -> [Sums; GROUPS] {
    let grid = *plan.grid();
    let m = grid.points();
    // Interleaved groups of grid points, for the jackknife.
    let group_of = |i: usize| (7 * (i / grid.my) + 13 * (i % grid.my)) % GROUPS;
    let w_minus: Vec<f64> = (0..m).map(|i| 0.5 * (w[m + i] - w[i])).collect();
    let psi: Vec<f64> = (0..m).map(|i| phi[i] - phi[m + i]).collect();
    let mut groups = [Sums::default(); GROUPS];
    if estimator == ChiEstimator::Saddle {
        for i in 0..m {
            if phi[i].min(phi[m + i]) < IDENTIFIABLE_DENSITY {
                continue;
            }
            let g = &mut groups[group_of(i)];
            g.weight += 1.0;
            g.w += w_minus[i];
            g.psi += psi[i];
            g.w_psi += w_minus[i] * psi[i];
            g.psi_psi += psi[i] * psi[i];
        }
        return groups;
    }
    // Per-sample centring on the points kept: each sample has its own gauge.
    let kept: Vec<usize> = (0..m).filter(|&i| phi[i].min(phi[m + i]) >= EQUIPARTITION_DENSITY).collect();
    if kept.len() < 2 {
        return groups;
    }
    let n = kept.len() as f64;
    let w_mean = kept.iter().map(|&i| w_minus[i]).sum::<f64>() / n;
    let psi_mean = kept.iter().map(|&i| psi[i]).sum::<f64>() / n;
    for &i in &kept {
        let (dw, dpsi) = (w_minus[i] - w_mean, psi[i] - psi_mean);
        let g = &mut groups[group_of(i)];
        g.w_psi += dw * dpsi;
        g.psi_psi += dpsi * dpsi;
        g.w_w += dw * dw;
        g.dof += 1.0 - 1.0 / n;
    }
    groups
}

/// chi from samples of (w, phi) (`[n][2][M]` each) on `plan`'s grid.
pub fn estimate_chi(plan: &SpectralPlan, w: &[f64], phi: &[f64], estimator: ChiEstimator) -> Result<ChiEstimate> {
    let m = plan.grid().points();
    if w.len() != phi.len() || w.is_empty() || !w.len().is_multiple_of(2 * m) {
        return Err(Error::Shape(format!(
            "chi needs w and phi of [n][2][{m}] values, got {} and {}",
            w.len(),
            phi.len()
        )));
    }
    if let ChiEstimator::Equipartition { beads_per_cell, step_size, .. } = estimator {
        if !(beads_per_cell.is_finite() && beads_per_cell > 0.0) {
            return Err(Error::Parameter(format!("beads per cell must be finite and > 0, got {beads_per_cell}")));
        }
        if !(step_size.is_finite() && step_size >= 0.0) {
            return Err(Error::Parameter(format!("the L-FTS step size must be finite and >= 0, got {step_size}")));
        }
    }
    let mut groups = [Sums::default(); GROUPS];
    let mut per_sample = Vec::new();
    for (ws, ps) in w.chunks(2 * m).zip(phi.chunks(2 * m)) {
        let sample = sample_sums(plan, ws, ps, estimator);
        let mut total = Sums::default();
        for (g, s) in groups.iter_mut().zip(&sample) {
            g.add(s);
            total.add(s);
        }
        per_sample.push(total.chi(estimator));
    }
    let mut total = Sums::default();
    groups.iter().for_each(|g| total.add(g));
    if matches!(estimator, ChiEstimator::Equipartition { .. }) && total.dof < 1.0 {
        return Err(Error::Parameter(format!(
            "no sample has two points where both densities are at least {EQUIPARTITION_DENSITY}: chi cannot be \
             inferred from where the pattern does not determine the fields"
        )));
    }
    if !(total.psi_spread(estimator) > 1e-300) {
        return Err(Error::Parameter("the patterns are uniform: chi cannot be inferred from them".into()));
    }
    let chi = total.chi(estimator);
    let leave_out: Vec<f64> = groups.iter().map(|g| total.sub(g).chi(estimator)).collect();
    if !chi.is_finite() {
        return Err(Error::Parameter(
            "chi estimate is not finite (no exchange field correlates with the pattern)".into(),
        ));
    }
    Ok(ChiEstimate { chi, std_error: jackknife_error(&leave_out), per_sample, estimator })
}
