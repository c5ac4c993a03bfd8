//! The data term's gradient: v -> J^T v, where J = d phi_A / d W_- at the
//! partial saddle point (W_+ following W_- so that phi_A + phi_B = 1).
//!
//! With w_A = W_+ - W_-, w_B = W_+ + W_- and dW_+ = C dW_-,
//!     J^T v = -g_A + g_B + C^T (g_A + g_B),   g_t = (d phi_A / d w_t)^T v.
//! In the homogeneous melt g_A = -S_AA v, g_B = -S_AB v and C = (S_AA -
//! S_BB) / S_tot per wave vector, which gives J = 2 det(S) / S_tot: the
//! incompressible RPA response of phi_A to W_-.
//!
//! - `LinearResponse` (the exact path) applies that homogeneous J. It is a
//!   documented approximation: exact for weak patterns, and it keeps the
//!   right sign and scale for strong ones, so the minimisation still lowers
//!   the objective (each step is checked on the exact objective), it only
//!   converges to where the approximate gradient vanishes.
//! - `OperatorGradient` takes g_A, g_B from a trained operator by Burn
//!   autodiff, at the actual fields, and C from linear response (the
//!   operator's own W_+ response is its weakest part, see BENCHMARKS.md).

use mesofield_fno::vjp::FnoVjp;
use mesofield_physics::debye::{Debye, melt_response};
use mesofield_physics::spectral::{C64, SpectralPlan};
use mesofield_physics::{ChainModel, Grid};

pub trait DataGradient {
    fn name(&self) -> String;
    /// `out = J^T v` at fields `w` (`[2][M]`, densities `phi` there) for `v` (`[M]`).
    fn exchange_vjp(&self, w: &[f64], phi: &[f64], v: &[f64], out: &mut [f64]);
}

pub struct LinearResponse {
    plan: SpectralPlan,
    /// 2 det(S) / S_tot per mode, 0 at q = 0.
    response: Vec<f64>,
    /// sqrt(f (1 - f)): the local scale's value in the homogeneous melt.
    spread: f64,
}

const LOCAL: bool = true;

impl LinearResponse {
    pub fn new(model: &ChainModel, grid: Grid) -> Self {
        let plan = SpectralPlan::new(grid);
        let response = plan
            .q_squared_table()
            .iter()
            .enumerate()
            .map(|(i, &q2)| {
                if i == 0 {
                    return 0.0;
                }
                // det(S) / S_tot = 1 / F(q) (F = 1/S at chi = 0).
                2.0 / Debye::at(model, q2).rpa_f()
            })
            .collect();
        let f = model.f_a();
        LinearResponse { plan, response, spread: (f * (1.0 - f)).sqrt() }
    }
}

impl DataGradient for LinearResponse {
    fn name(&self) -> String {
        "linear-response".into()
    }
    fn exchange_vjp(&self, _w: &[f64], phi: &[f64], v: &[f64], out: &mut [f64]) {
        let m = v.len();
        let local = |i: usize| if LOCAL { (phi[i] * phi[m + i]).max(0.0).sqrt() / self.spread } else { 1.0 };
        for i in 0..m {
            out[i] = v[i] * local(i);
        }
        let mut scratch = self.plan.scratch();
        let mut spectrum = vec![C64::default(); self.plan.spectrum_len()];
        self.plan.apply_multiplier(&mut scratch, &mut spectrum, out, &self.response);
        for i in 0..m {
            out[i] *= local(i);
        }
    }
}

pub struct OperatorGradient {
    pub vjp: FnoVjp,
    plan: SpectralPlan,
    /// (S_AA - S_BB) / S_tot per mode.
    compensation: Vec<f64>,
}

impl OperatorGradient {
    pub fn new(vjp: FnoVjp, model: &ChainModel) -> Self {
        let plan = SpectralPlan::new(*vjp.grid());
        let (_, compensation) = melt_response(&plan, model);
        OperatorGradient { vjp, plan, compensation }
    }
}

impl DataGradient for OperatorGradient {
    fn name(&self) -> String {
        "operator-autodiff".into()
    }
    fn exchange_vjp(&self, w: &[f64], _phi: &[f64], v: &[f64], out: &mut [f64]) {
        let m = v.len();
        let (_, g) = self.vjp.phi_a_vjp(w, v);
        let mut both: Vec<f64> = (0..m).map(|i| g[i] + g[m + i]).collect();
        let mut scratch = self.plan.scratch();
        let mut spectrum = vec![C64::default(); self.plan.spectrum_len()];
        self.plan.apply_multiplier(&mut scratch, &mut spectrum, &mut both, &self.compensation);
        for i in 0..m {
            out[i] = -g[i] + g[m + i] + both[i];
        }
    }
}
