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
//! - `Equipartition { beads_per_cell: B }`: the L-FTS ensemble is
//!   exp(-B G[W_-]) with dG/dW_-(r) = phi_B - phi_A + 2 W_- / chi (MODEL.md's
//!   Langevin force), so <W_- dG/dW_-> = 1/B per point (equipartition); over
//!   the M - 1 zero-mean degrees of freedom
//!   2 sum(dW^2) / chi - sum(dW dpsi) = (M - 1) / B,
//!   chi = 2 sum(dW^2) / (sum(dW dpsi) + (M - 1) / B). Unbiased in the
//!   ensemble up to the O(lambda) error of the discrete Langevin step and the
//!   ratio-of-means bias, which falls as 1/(samples x modes); with B -> infinity
//!   it is the saddle estimator's mean-field limit.
//!
//! Equipartition's sums are taken over Fourier modes, its uncertainty is a
//! delete-one-group jackknife over 16 groups of wave vectors (modes of a
//! stationary field are close to independent); the saddle estimator's is the
//! same jackknife over 16 interleaved groups of grid points. Both pool all
//! samples.

use crate::error::{Error, Result};
use crate::spectral::{C64, SpectralPlan};
use crate::stats::jackknife_error;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChiEstimator {
    Saddle,
    Equipartition { beads_per_cell: f64 },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChiEstimate {
    pub chi: f64,
    /// Jackknife standard error over groups of wave vectors.
    pub std_error: f64,
    /// The estimator applied to each sample alone.
    pub per_sample: Vec<f64>,
    pub estimator: ChiEstimator,
}

const GROUPS: usize = 16;

/// Per-group sums. Equipartition: sum(dW dpsi), sum(dpsi^2), sum(dW^2) over
/// zero-mean parts and the degrees of freedom. Saddle: the weighted raw
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
            ChiEstimator::Equipartition { beads_per_cell } => 2.0 * self.w_w / (self.w_psi + self.dof / beads_per_cell),
        }
    }
}

/// Both densities above this for a point to enter the saddle estimator.
const IDENTIFIABLE_DENSITY: f64 = 1e-4;

/// Group sums of one sample: `w` `[2][M]` (any gauge), `phi` `[2][M]`.
fn sample_sums(plan: &SpectralPlan, w: &[f64], phi: &[f64], estimator: ChiEstimator) -> [Sums; GROUPS] {
    let grid = *plan.grid();
    let m = grid.points();
    let w_minus: Vec<f64> = (0..m).map(|i| 0.5 * (w[m + i] - w[i])).collect();
    let psi: Vec<f64> = (0..m).map(|i| phi[i] - phi[m + i]).collect();
    let mut groups = [Sums::default(); GROUPS];
    if estimator == ChiEstimator::Saddle {
        for i in 0..m {
            if phi[i].min(phi[m + i]) < IDENTIFIABLE_DENSITY {
                continue;
            }
            let (ix, iy) = (i / grid.my, i % grid.my);
            let g = &mut groups[(7 * ix + 13 * iy) % GROUPS];
            g.weight += 1.0;
            g.w += w_minus[i];
            g.psi += psi[i];
            g.w_psi += w_minus[i] * psi[i];
            g.psi_psi += psi[i] * psi[i];
        }
        return groups;
    }
    let mut scratch = plan.scratch();
    let (mut wk, mut pk) = (vec![C64::default(); plan.spectrum_len()], vec![C64::default(); plan.spectrum_len()]);
    plan.forward(&mut scratch, &w_minus, &mut wk);
    plan.forward(&mut scratch, &psi, &mut pk);
    let half = grid.my / 2 + 1;
    // Parseval over the half spectrum: columns other than ky = 0 and the
    // Nyquist one stand for two modes; k = 0 (the means) is left out.
    for i in 1..wk.len() {
        let (kx, ky) = (i % grid.mx, i / grid.mx);
        let weight = if ky == 0 || (grid.my.is_multiple_of(2) && ky == half - 1) { 1.0 } else { 2.0 };
        let g = &mut groups[(7 * kx + 13 * ky) % GROUPS];
        let scale = weight / m as f64;
        g.w_psi += scale * (wk[i].conj() * pk[i]).re;
        g.psi_psi += scale * pk[i].norm_sqr();
        g.w_w += scale * wk[i].norm_sqr();
        g.dof += weight;
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
    if let ChiEstimator::Equipartition { beads_per_cell } = estimator
        && !(beads_per_cell.is_finite() && beads_per_cell > 0.0)
    {
        return Err(Error::Parameter(format!("beads per cell must be finite and > 0, got {beads_per_cell}")));
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
