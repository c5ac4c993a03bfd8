//! Measurements on densities: the circularly averaged structure factor S(q)
//! of phi_A (its peak gives the pattern's period, its height the strength of
//! composition fluctuations), averages of S(q) over samples or over the steps
//! of a run, and the order parameter mean((phi_A - phi_B)^2).
//!
//! Densities are laid out as everywhere in the crate: one channel `[Mx*My]`
//! (row-major, x outer) or both `[2][Mx*My]` (A then B).

use crate::error::{Error, Result};
use crate::spectral::{C64, SpectralPlan};

/// Circularly averaged structure factor: per non-empty shell of |q|, the mean
/// |q| (box units), S and the number of wave vectors in the shell.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StructureFactor {
    /// Mean |q| of each shell, box units.
    pub q: Vec<f64>,
    #[serde(rename = "S")]
    pub s: Vec<f64>,
    /// Wave vectors in each shell.
    pub modes: Vec<usize>,
}

/// A shell of S(q): its mean |q| and its S.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Peak {
    pub q: f64,
    #[serde(rename = "S")]
    pub s: f64,
}

/// Circularly averaged structure factor of phi_A (`[Mx*My]`):
/// S(q) = <|phi_A(k)|^2> / M over the wave vectors k of a shell, of the
/// deviations from the mean (so k = 0 is left out). |q| = 2 pi |k| / L in box
/// units, binned into shells one fundamental (2 pi / max(Lx, Ly)) wide;
/// only non-empty shells are kept. By Parseval,
/// sum over shells of S x modes = sum_r (phi_A - mean)^2.
pub fn structure_factor(plan: &SpectralPlan, phi_a: &[f64]) -> StructureFactor {
    let grid = *plan.grid();
    let m = grid.points();
    let mean = phi_a.iter().sum::<f64>() / m as f64;
    let centred: Vec<f64> = phi_a.iter().map(|v| v - mean).collect();
    let mut spectrum = vec![C64::default(); plan.spectrum_len()];
    let mut scratch = plan.scratch();
    plan.forward(&mut scratch, &centred, &mut spectrum);
    let q2 = plan.q_squared_table();
    let dq = 2.0 * std::f64::consts::PI / grid.lx.max(grid.ly);
    let bins = (q2.iter().fold(0.0f64, |a, &v| a.max(v)).sqrt() / dq).ceil() as usize + 1;
    let (mut sum, mut count, mut qsum) = (vec![0.0; bins], vec![0usize; bins], vec![0.0; bins]);
    // The half spectrum holds ky = 0 and the Nyquist column once, the other
    // columns stand for two modes each.
    let half = grid.my / 2 + 1;
    for (i, (c, &q2i)) in spectrum.iter().zip(&q2).enumerate() {
        if i == 0 {
            continue;
        }
        let ky = i / grid.mx;
        let weight = if ky == 0 || (grid.my % 2 == 0 && ky == half - 1) { 1 } else { 2 };
        let q = q2i.sqrt();
        let b = (q / dq).round() as usize;
        sum[b] += weight as f64 * c.norm_sqr() / m as f64;
        count[b] += weight;
        qsum[b] += weight as f64 * q;
    }
    let mut out = StructureFactor::default();
    for b in 0..bins {
        if count[b] > 0 {
            out.q.push(qsum[b] / count[b] as f64);
            out.s.push(sum[b] / count[b] as f64);
            out.modes.push(count[b]);
        }
    }
    out
}

impl StructureFactor {
    /// The shell with the largest S (q > 0: the pattern's dominant wave
    /// number, 2 pi / period); on ties the last such shell. NaN q and S when
    /// there are no shells.
    pub fn peak(&self) -> Peak {
        match (0..self.s.len()).max_by(|&i, &j| self.s[i].total_cmp(&self.s[j])) {
            Some(i) => Peak { q: self.q[i], s: self.s[i] },
            None => Peak { q: f64::NAN, s: f64::NAN },
        }
    }

    /// Whether `other` has the same shells (the same grid): shell count,
    /// modes per shell, and |q| to round-off.
    fn same_shells(&self, other: &StructureFactor) -> bool {
        self.s.len() == other.s.len()
            && self.modes == other.modes
            && self.q.len() == other.q.len()
            && self.q.iter().zip(&other.q).all(|(a, b)| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()))
    }
}

/// The average S(q) over structure factors of one grid (an ensemble or
/// time average); q and modes are the first one's. Errors if `all` is empty
/// or the shells differ.
pub fn mean_of(all: &[StructureFactor]) -> Result<StructureFactor> {
    let Some(first) = all.first() else {
        return Err(Error::Shape("the mean of no structure factors".into()));
    };
    let mut out = first.clone();
    for (k, sq) in all.iter().enumerate().skip(1) {
        if !first.same_shells(sq) {
            return Err(Error::Shape(format!(
                "structure factor {k} has other shells ({}) than the first ({}): another grid",
                sq.s.len(),
                first.s.len()
            )));
        }
        for (a, b) in out.s.iter_mut().zip(&sq.s) {
            *a += b;
        }
    }
    out.s.iter_mut().for_each(|v| *v /= all.len() as f64);
    Ok(out)
}

/// A running sum of S(q) over the steps of a run, so that a resumed run
/// continues its average (the JSON fields `q`, `sum`, `steps` are stored in
/// run folders' metadata and must keep these names).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunningStructureFactor {
    /// Mean |q| of each shell, box units (from the first step added).
    pub q: Vec<f64>,
    /// Sum of S over the steps added, per shell.
    pub sum: Vec<f64>,
    pub steps: usize,
}

impl RunningStructureFactor {
    /// Adds one step's S(q); the first one sets the shells.
    pub fn add(&mut self, sq: &StructureFactor) {
        if self.sum.is_empty() {
            self.q = sq.q.clone();
            self.sum = vec![0.0; sq.s.len()];
        }
        debug_assert_eq!(self.sum.len(), sq.s.len(), "structure factors of another grid");
        for (acc, v) in self.sum.iter_mut().zip(&sq.s) {
            *acc += v;
        }
        self.steps += 1;
    }

    /// The mean S per shell so far (the sum while no step was added).
    pub fn mean(&self) -> Vec<f64> {
        let steps = self.steps.max(1) as f64;
        self.sum.iter().map(|v| v / steps).collect()
    }
}

/// mean over the grid of (phi_A - phi_B)^2 for `phi` `[2][M]`: the mean
/// squared composition, (2f - 1)^2 in the homogeneous melt and larger by the
/// pattern's (and in L-FTS the fluctuations') contrast.
pub fn order_parameter(phi: &[f64]) -> f64 {
    let m = phi.len() / 2;
    (0..m).map(|i| (phi[i] - phi[m + i]).powi(2)).sum::<f64>() / m as f64
}
