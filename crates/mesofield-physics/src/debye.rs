//! Discrete-chain Debye functions and the RPA spinodal of the incompressible melt.
//!
//! S_XY(q) = (1/N) sum_{s in X} sum_{t in Y} prod of g_hat over the bonds
//! between s and t (docs/model.md). The junction bond is two half bonds, so its
//! factor is sqrt(g_A g_B). The incompressible RPA gives the composition
//! structure factor S(q) with
//!     1/S(q) = (S_AA + S_BB + 2 S_AB) / (S_AA S_BB - S_AB^2) - 2 chi,
//! and the homogeneous melt is unstable where 1/S(q) < 0: chi_s = min_q F(q)/2.

use crate::grid::Grid;
use crate::model::ChainModel;
use crate::solver::bond_factor;
use crate::spectral::SpectralPlan;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Debye {
    pub s_aa: f64,
    pub s_ab: f64,
    pub s_bb: f64,
}

/// sum_{i,j=0}^{n-1} g^|i-j| = n + 2 sum_{k=1}^{n-1} (n - k) g^k
fn block_self(n: usize, g: f64) -> f64 {
    let mut total = n as f64;
    let mut gk = 1.0;
    for k in 1..n {
        gk *= g;
        total += 2.0 * (n - k) as f64 * gk;
    }
    total
}

/// sum_{k=0}^{n-1} g^k
fn geometric(n: usize, g: f64) -> f64 {
    let mut total = 0.0;
    let mut gk = 1.0;
    for _ in 0..n {
        total += gk;
        gk *= g;
    }
    total
}

impl Debye {
    /// The Debye functions at |q|^2 = `q_squared` (box units).
    pub fn at(model: &ChainModel, q_squared: f64) -> Debye {
        let n = model.beads as f64;
        let g_a = bond_factor(model.segment_a.powi(2), q_squared);
        let g_b = bond_factor(model.segment_b.powi(2), q_squared);
        let g_j = bond_factor(0.5 * (model.segment_a.powi(2) + model.segment_b.powi(2)), q_squared);
        Debye {
            s_aa: block_self(model.a_beads, g_a) / n,
            s_bb: block_self(model.b_beads(), g_b) / n,
            // From A bead s to B bead t: (N_A-1-s) A bonds, the junction, (t-N_A) B bonds.
            s_ab: g_j * geometric(model.a_beads, g_a) * geometric(model.b_beads(), g_b) / n,
        }
    }

    /// F(q) = (S_AA + S_BB + 2 S_AB) / (S_AA S_BB - S_AB^2): 1/S(q) at chi = 0.
    pub fn rpa_f(&self) -> f64 {
        (self.s_aa + self.s_bb + 2.0 * self.s_ab) / (self.s_aa * self.s_bb - self.s_ab * self.s_ab)
    }

    /// The incompressible-melt composition structure factor S(q) at chi.
    pub fn rpa_structure_factor(&self, chi: f64) -> f64 {
        1.0 / (self.rpa_f() - 2.0 * chi)
    }

    /// Total-density response S_AA + 2 S_AB + S_BB (the W_+ susceptibility of the homogeneous melt).
    pub fn total(&self) -> f64 {
        self.s_aa + 2.0 * self.s_ab + self.s_bb
    }
}

/// Per mode of `plan`'s half spectrum, the homogeneous melt's (RPA) response:
/// 1 / S_tot (the Newton step of W_+ on phi_A + phi_B - 1), and the W_+
/// change (S_AA - S_BB) / S_tot that keeps phi_A + phi_B fixed when W_-
/// moves by one unit. Both are 0 at q = 0 (the gauge). The first is the
/// pressure step of SCFT and L-FTS, the second SCFT's and the denoiser's
/// data gradient's W_+ compensation (L-FTS moves W_+ point by point
/// instead), through `SpectralPlan::apply_multiplier`.
pub fn melt_response(plan: &SpectralPlan, model: &ChainModel) -> (Vec<f64>, Vec<f64>) {
    plan.q_squared_table()
        .iter()
        .enumerate()
        .map(|(i, &q2)| {
            if i == 0 {
                return (0.0, 0.0);
            }
            let debye = Debye::at(model, q2);
            (1.0 / debye.total(), (debye.s_aa - debye.s_bb) / debye.total())
        })
        .unzip()
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Spinodal {
    pub chi_s: f64,
    #[serde(rename = "chiN_s")]
    pub chi_n_s: f64,
    /// Wave number of the first unstable mode, box units.
    pub q_star: f64,
}

/// The mean-field spinodal over continuous wave numbers.
pub fn spinodal(model: &ChainModel) -> Spinodal {
    let b2 = (model.a_beads as f64 * model.segment_a.powi(2) + model.b_beads() as f64 * model.segment_b.powi(2))
        / model.beads as f64;
    let rg = (model.beads as f64 * b2 / 6.0).sqrt();
    let f = |q: f64| Debye::at(model, q * q).rpa_f();
    // Coarse log scan for the basin, then golden section inside it.
    let (lo, hi) = (0.05 / rg, 50.0 / rg);
    let points = 600;
    let at = |i: usize| lo * (hi / lo).powf(i as f64 / (points - 1) as f64);
    let best = (0..points).map(|i| (i, f(at(i)))).min_by(|a, b| a.1.total_cmp(&b.1)).map(|(i, _)| i).unwrap();
    let (mut a, mut b) = (at(best.saturating_sub(1)), at((best + 1).min(points - 1)));
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    while (b - a) > 1e-13 * b {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    let q_star = 0.5 * (a + b);
    let chi_s = 0.5 * f(q_star);
    Spinodal { chi_s, chi_n_s: chi_s * model.beads as f64, q_star }
}

/// The spinodal restricted to the wave vectors the grid's box allows (q != 0,
/// n_i in [-M_i/2, M_i/2)): the chi at which the homogeneous melt first goes
/// unstable in that box, and |q| of the mode that does.
pub fn spinodal_on_grid(model: &ChainModel, grid: &Grid) -> Spinodal {
    let mut best = (f64::INFINITY, 0.0);
    for kx in 0..grid.mx {
        for ky in 0..grid.my {
            if kx == 0 && ky == 0 {
                continue;
            }
            let q2 = grid.q_squared(kx, ky);
            let value = Debye::at(model, q2).rpa_f();
            if value < best.0 {
                best = (value, q2.sqrt());
            }
        }
    }
    let chi_s = 0.5 * best.0;
    Spinodal { chi_s, chi_n_s: chi_s * model.beads as f64, q_star: best.1 }
}
