//! The pressure field's linear response in the current state, for the
//! compressor's Newton steps.
//!
//! The exact response of the total density to W_+ is the tangent map
//! (`tangent`): one solve per product, too dear for a preconditioner. The
//! homogeneous melt's, -S_tot(q) per mode, is free but wrong in a
//! segregated state: a W_+ wiggle inside an A domain moves A beads only.
//! The local response keeps the melt's chain statistics and puts each
//! block where it is:
//!
//!     -d(phi_A + phi_B) ~ sum_{a,b in {A,B}} D_a S_ab D_b dW_+,
//!     D_a(r) = sqrt(phi_a(r) / f_a),
//!
//! with S_ab the melt's Debye functions (convolutions). In the homogeneous
//! melt (phi_a = f_a) it is the RPA response; at short wavelengths
//! (S_aa -> f_a, S_AB -> 0) it is -(phi_A + phi_B), the answer of a bead to
//! its own field in any state. It is symmetric and positive semidefinite,
//! as the exact (negated) response is, so a few conjugate-gradient
//! iterations preconditioned by the melt's 1/S_tot invert it; each costs
//! six FFTs of the grid against about 4(N - 1) for one exact solve.

use crate::debye::{Debye, melt_response};
use crate::model::ChainModel;
use crate::spectral::{C64, SpectralPlan, SpectralScratch};

/// The melt's Debye functions per mode of a plan's half spectrum.
pub struct LocalResponse {
    s_aa: Vec<f64>,
    s_ab: Vec<f64>,
    s_bb: Vec<f64>,
    /// 1/S_tot, 0 at q = 0 (the gauge): the melt's Newton step (`melt_response`).
    inverse_total: Vec<f64>,
    f_a: f64,
}

/// Scratch memory of one field's steps (`LocalResponse::workspace`).
pub struct ResponseWorkspace {
    d_a: Vec<f64>,
    d_b: Vec<f64>,
    r: Vec<f64>,
    z: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
    tmp: Vec<f64>,
    spectrum_a: Vec<C64>,
    spectrum_b: Vec<C64>,
    scratch: SpectralScratch,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl LocalResponse {
    pub fn new(plan: &SpectralPlan, model: &ChainModel) -> Self {
        let q_squared = plan.q_squared_table();
        let n = q_squared.len();
        let (inverse_total, _) = melt_response(plan, model);
        let mut response = LocalResponse {
            s_aa: vec![0.0; n],
            s_ab: vec![0.0; n],
            s_bb: vec![0.0; n],
            inverse_total,
            f_a: model.f_a(),
        };
        for (k, &q2) in q_squared.iter().enumerate() {
            let debye = Debye::at(model, q2);
            response.s_aa[k] = debye.s_aa;
            response.s_ab[k] = debye.s_ab;
            response.s_bb[k] = debye.s_bb;
        }
        response
    }

    pub fn workspace(&self, plan: &SpectralPlan) -> ResponseWorkspace {
        let m = plan.grid().points();
        let n = plan.spectrum_len();
        ResponseWorkspace {
            d_a: vec![0.0; m],
            d_b: vec![0.0; m],
            r: vec![0.0; m],
            z: vec![0.0; m],
            p: vec![0.0; m],
            ap: vec![0.0; m],
            tmp: vec![0.0; m],
            spectrum_a: vec![C64::default(); n],
            spectrum_b: vec![C64::default(); n],
            scratch: plan.scratch(),
        }
    }

    /// The melt's step: `out` = (1/S_tot) `residual` per mode.
    pub fn melt_step(&self, plan: &SpectralPlan, ws: &mut ResponseWorkspace, residual: &[f64], out: &mut [f64]) {
        out.copy_from_slice(residual);
        plan.apply_multiplier(&mut ws.scratch, &mut ws.spectrum_a, out, &self.inverse_total);
    }

    /// Sets the state: the densities `phi` (`[2][M]`) at the current fields.
    pub fn set_densities(&self, ws: &mut ResponseWorkspace, phi: &[f64]) {
        let m = ws.d_a.len();
        let f_b = 1.0 - self.f_a;
        for i in 0..m {
            ws.d_a[i] = (phi[i].max(0.0) / self.f_a).sqrt();
            ws.d_b[i] = (phi[m + i].max(0.0) / f_b).sqrt();
        }
    }

    /// `out` = sum_ab D_a S_ab D_b `v` in the state last set.
    pub fn apply(&self, plan: &SpectralPlan, ws: &mut ResponseWorkspace, v: &[f64], out: &mut [f64]) {
        let ResponseWorkspace { d_a, d_b, tmp, spectrum_a, spectrum_b, scratch, .. } = ws;
        for ((t, &d), &x) in tmp.iter_mut().zip(d_a.iter()).zip(v) {
            *t = d * x;
        }
        plan.forward(scratch, tmp, spectrum_a);
        for ((t, &d), &x) in tmp.iter_mut().zip(d_b.iter()).zip(v) {
            *t = d * x;
        }
        plan.forward(scratch, tmp, spectrum_b);
        for k in 0..spectrum_a.len() {
            let (a, b) = (spectrum_a[k], spectrum_b[k]);
            spectrum_a[k] = a * self.s_aa[k] + b * self.s_ab[k];
            spectrum_b[k] = a * self.s_ab[k] + b * self.s_bb[k];
        }
        plan.inverse(scratch, spectrum_a, out);
        plan.inverse(scratch, spectrum_b, tmp);
        for i in 0..out.len() {
            out[i] = d_a[i] * out[i] + d_b[i] * tmp[i];
        }
    }

    /// The Newton step on W_+ for the residual phi_A + phi_B - 1: `out`
    /// ~ (sum_ab D_a S_ab D_b)^-1 `residual` by `iterations` conjugate-gradient
    /// iterations from the melt's step (0 gives the melt's step).
    pub fn newton_step(
        &self,
        plan: &SpectralPlan,
        ws: &mut ResponseWorkspace,
        residual: &[f64],
        out: &mut [f64],
        iterations: usize,
    ) {
        let m = out.len();
        // z = melt step of r; the first iterate x = 0 moves along z.
        let mut r = std::mem::take(&mut ws.r);
        let mut z = std::mem::take(&mut ws.z);
        let mut p = std::mem::take(&mut ws.p);
        let mut ap = std::mem::take(&mut ws.ap);
        r.copy_from_slice(residual);
        self.melt_step(plan, ws, &r, &mut z);
        if iterations == 0 {
            out.copy_from_slice(&z);
        } else {
            out.fill(0.0);
            p.copy_from_slice(&z);
            let mut rz = dot(&r, &z);
            for _ in 0..iterations {
                self.apply(plan, ws, &p, &mut ap);
                let curvature = dot(&p, &ap);
                // A state with empty regions can make the response singular
                // along p: stop with what the iterations gave.
                if !(curvature > 0.0 && rz > 0.0 && curvature.is_finite()) {
                    break;
                }
                let alpha = rz / curvature;
                for i in 0..m {
                    out[i] += alpha * p[i];
                    r[i] -= alpha * ap[i];
                }
                self.melt_step(plan, ws, &r, &mut z);
                let rz_next = dot(&r, &z);
                let beta = rz_next / rz;
                rz = rz_next;
                for i in 0..m {
                    p[i] = z[i] + beta * p[i];
                }
            }
            if out.iter().all(|v| *v == 0.0) {
                self.melt_step(plan, ws, residual, out);
            }
        }
        (ws.r, ws.z, ws.p, ws.ap) = (r, z, p, ap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Grid;

    fn smooth(m: usize, a: f64, phase: f64) -> Vec<f64> {
        (0..m).map(|i| a * ((i as f64) * 0.37 + phase).sin() + 0.3 * a * ((i as f64) * 1.9).cos()).collect()
    }

    /// In the homogeneous melt the local response is the RPA response, so
    /// its Newton step is the melt's 1/S_tot step.
    #[test]
    fn reduces_to_the_melt_in_the_homogeneous_state() {
        let model = ChainModel::default();
        let grid = Grid::for_model(&model, 16, 12).unwrap();
        let plan = SpectralPlan::new(grid);
        let response = LocalResponse::new(&plan, &model);
        let mut ws = response.workspace(&plan);
        let m = grid.points();
        let mut phi = vec![model.f_a(); 2 * m];
        phi[m..].fill(1.0 - model.f_a());
        response.set_densities(&mut ws, &phi);
        let mut g = smooth(m, 1e-2, 0.1);
        let mean = g.iter().sum::<f64>() / m as f64;
        g.iter_mut().for_each(|v| *v -= mean);
        let (mut melt, mut local) = (vec![0.0; m], vec![0.0; m]);
        response.newton_step(&plan, &mut ws, &g, &mut melt, 0);
        response.newton_step(&plan, &mut ws, &g, &mut local, 4);
        let scale = melt.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (a, b) in melt.iter().zip(&local) {
            assert!((a - b).abs() < 1e-10 * scale, "{a} vs {b}");
        }
        // And S_tot applied to the step gives the residual back.
        let mut back = vec![0.0; m];
        response.apply(&plan, &mut ws, &melt, &mut back);
        for (a, b) in back.iter().zip(&g) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
    }

    /// Symmetric and positive in a segregated state, and the conjugate
    /// gradients converge to its inverse.
    #[test]
    fn is_symmetric_positive_and_inverted_in_a_segregated_state() {
        let model = ChainModel::default();
        let grid = Grid::for_model(&model, 16, 16).unwrap();
        let plan = SpectralPlan::new(grid);
        let response = LocalResponse::new(&plan, &model);
        let mut ws = response.workspace(&plan);
        let m = grid.points();
        let mut phi = vec![0.0; 2 * m];
        for i in 0..m {
            let x = (i / 16) as f64 / 16.0;
            let a = 0.7 + 0.28 * (2.0 * std::f64::consts::PI * x).cos();
            phi[i] = a;
            phi[m + i] = 1.0 - a;
        }
        response.set_densities(&mut ws, &phi);
        let (u, v) = (smooth(m, 1.0, 0.0), smooth(m, 1.0, 2.0));
        let (mut au, mut av) = (vec![0.0; m], vec![0.0; m]);
        response.apply(&plan, &mut ws, &u, &mut au);
        response.apply(&plan, &mut ws, &v, &mut av);
        let (uav, vau) = (dot(&u, &av), dot(&v, &au));
        assert!((uav - vau).abs() < 1e-10 * uav.abs().max(1.0), "{uav} vs {vau}");
        assert!(dot(&u, &au) > 0.0 && dot(&v, &av) > 0.0);
        // The step fixes the gauge (zero-mean W_+ change) and solves on the
        // zero-mean residuals, which are all that phi_A + phi_B - 1 can be.
        let demean = |v: &mut Vec<f64>| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            v.iter_mut().for_each(|x| *x -= mean);
        };
        let mut target = au.clone();
        demean(&mut target);
        let mut x = vec![0.0; m];
        response.newton_step(&plan, &mut ws, &target, &mut x, 60);
        assert!(x.iter().sum::<f64>().abs() < 1e-9 * m as f64);
        let mut ax = vec![0.0; m];
        response.apply(&plan, &mut ws, &x, &mut ax);
        demean(&mut ax);
        let err = ax.iter().zip(&target).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let scale = target.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(err < 1e-6 * scale, "A x - b = {err:e} of {scale:e}");
    }
}
