//! A trained operator behind the physics crate's `FieldSolver` seam, so every
//! loop written for the exact solver runs on it unchanged.

use std::path::Path;

use burn::prelude::*;

use mesofield_physics::{ChainModel, Error, FieldSolver, Grid};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::data::{Normalization, channels_first, gauge_free_log_q};
use crate::model::Fno;

pub struct FnoOperator {
    pub checkpoint_dir: std::path::PathBuf,
    pub model: Fno,
    pub normalization: Normalization,
    pub grid: Grid,
    pub device: Device,
    /// Fields per forward pass.
    pub batch: usize,
}

impl FnoOperator {
    /// Loads `dir` for fields on an `mx` x `my` grid of the checkpoint's box.
    pub fn load(dir: &Path, mx: usize, my: usize, device: &Device) -> Result<Self, CheckpointError> {
        // The exact solver's seam: fields in, densities and ln Q out.
        let (ckpt, grid) = Checkpoint::load_density(dir, mx, my, device, "a loop's solver")?;
        Ok(FnoOperator {
            checkpoint_dir: dir.to_path_buf(),
            model: ckpt.model,
            normalization: ckpt.normalization,
            grid,
            device: device.clone(),
            batch: 64,
        })
    }

    /// Predictions for `w` (`[n][2][Mx*My]`): densities in the same layout
    /// and ln Q (with the gauge of the given fields restored), float64.
    /// Batches of at most `batch` fields, as many at a time as there are
    /// worker threads (one forward pass keeps about one core busy on Flex).
    pub fn predict(&self, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
        use rayon::prelude::*;
        let m = self.grid.points();
        let n = w.len() / (2 * m);
        let per = self.batch.max(1).min(n.div_ceil(rayon::current_num_threads()).max(1));
        let parts: Vec<(Vec<f64>, Vec<f64>)> =
            w.par_chunks(per * 2 * m).map(|chunk| self.predict_chunk(chunk)).collect();
        let mut phi = Vec::with_capacity(w.len());
        let mut log_q = Vec::with_capacity(n);
        for (p, lq) in parts {
            phi.extend(p);
            log_q.extend(lq);
        }
        (phi, log_q)
    }

    /// One forward pass over all fields of `chunk`.
    fn predict_chunk(&self, chunk: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mx, my) = (self.grid.mx, self.grid.my);
        let m = mx * my;
        let count = chunk.len() / (2 * m);
        let model = &self.normalization.model;
        let inputs = self.normalization.inputs(chunk, mx, my);
        let x = Tensor::<4>::from_data(TensorData::new(inputs, [count, mx, my, 2]), &self.device);
        let out = self.model.forward(x);
        let p = self.model.densities(out.density_logits, model.f_a(), self.normalization.logit_scale);
        let values = p.into_data().try_to_vec::<f32>().expect("float32 densities");
        let phi = channels_first(&values, mx, my);
        let lq: Vec<f64> = match out.log_q {
            Some(t) => t.into_data().try_to_vec::<f32>().expect("float32 ln Q").into_iter().map(f64::from).collect(),
            None => vec![f64::NAN; count],
        };
        let log_q = lq
            .into_iter()
            .enumerate()
            .map(|(s, v)| {
                let ws = &chunk[s * 2 * m..(s + 1) * 2 * m];
                // ln Q of the zero-mean fields, moved back to the fields' gauge.
                let free = v * self.normalization.log_q_std + self.normalization.log_q_mean;
                free - gauge_free_log_q(model, ws, 0.0)
            })
            .collect();
        (phi, log_q)
    }

    pub fn predicts_log_q(&self) -> bool {
        self.model.log_q_head.is_some()
    }
}

impl FieldSolver for FnoOperator {
    fn name(&self) -> String {
        format!("operator:{}", self.checkpoint_dir.display())
    }
    fn model(&self) -> &ChainModel {
        &self.normalization.model
    }
    fn grid(&self) -> &Grid {
        &self.grid
    }
    fn provides_log_q(&self) -> bool {
        self.predicts_log_q()
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<(), Error> {
        let m = self.grid.points();
        if w.len() != log_q.len() * 2 * m || phi.len() != w.len() {
            return Err(Error::Shape(format!("operator on {}x{}: batch buffers disagree", self.grid.mx, self.grid.my)));
        }
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::Parameter(format!("sample {}: non-finite field value", i / (2 * m))));
        }
        let (p, lq) = self.predict(w);
        phi.copy_from_slice(&p);
        log_q.copy_from_slice(&lq);
        Ok(())
    }
}
