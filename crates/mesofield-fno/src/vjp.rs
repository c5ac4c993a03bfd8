//! The operator's vector-Jacobian product by Burn autodiff: for fields w and
//! a weight v on the grid, the gradient of sum_r v(r) phi_A[w](r) with
//! respect to w_A and w_B. This is what a differentiable surrogate is for:
//! the data term of denoising pulls on the fields through it.

use std::path::Path;

use burn::prelude::*;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::data::Normalization;
use crate::model::Fno;
use mesofield_physics::Grid;

pub struct FnoVjp {
    model: Fno,
    normalization: Normalization,
    grid: Grid,
    device: Device,
}

impl FnoVjp {
    /// Loads `dir` on the autodiff flavour of `device`, for an `mx` x `my` grid.
    pub fn load(dir: &Path, mx: usize, my: usize, device: &Device) -> Result<Self, CheckpointError> {
        let ad = device.clone().autodiff();
        let (ckpt, grid) = Checkpoint::load_density(dir, mx, my, &ad, "the denoiser's data gradient")?;
        Ok(FnoVjp { model: ckpt.model, normalization: ckpt.normalization, grid, device: ad })
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// For one field `w` (`[2][M]`) and weight `v` (`[M]`): the predicted
    /// phi_A and d(sum v phi_A)/dw as `[2][M]` (zero mean per channel: both
    /// means of w are gauges the operator ignores).
    pub fn phi_a_vjp(&self, w: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mx, my) = (self.grid.mx, self.grid.my);
        let m = mx * my;
        assert_eq!(w.len(), 2 * m, "fields of the operator's grid");
        assert_eq!(v.len(), m, "a weight per grid point");
        let inputs = self.normalization.inputs(w, mx, my);
        let x = Tensor::<4>::from_data(TensorData::new(inputs, [1, mx, my, 2]), &self.device).require_grad();
        let out = self.model.forward(x.clone());
        let model = &self.normalization.model;
        let p = self.model.densities(out.density_logits, model.f_a(), self.normalization.logit_scale);
        let phi_a = p.narrow(3, 0, 1).reshape([m]);
        let weight: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let weight = Tensor::<1>::from_data(TensorData::new(weight, [m]), &self.device);
        let total = (phi_a.clone() * weight).sum();
        let grads = total.backward();
        let gx = x.grad(&grads).expect("the input is a tracked leaf");
        let gx = gx.into_data().try_to_vec::<f32>().expect("float32 gradient");
        let phi_a: Vec<f64> =
            phi_a.into_data().try_to_vec::<f32>().expect("float32 densities").into_iter().map(f64::from).collect();
        // x_c = (w_c - mean(w_c)) / std_c: project out the mean, then scale.
        let mut grad = vec![0.0; 2 * m];
        for c in 0..2 {
            let mean = (0..m).map(|i| gx[2 * i + c] as f64).sum::<f64>() / m as f64;
            for i in 0..m {
                grad[c * m + i] = (gx[2 * i + c] as f64 - mean) / self.normalization.w_std[c];
            }
        }
        (phi_a, grad)
    }
}
