//! The denoise operator: (noisy phi_A, noise level sigma) -> phi_A, one
//! network call per pattern in place of a whole action minimisation.
//!
//! The network is the FNO of `model` with two input channels, the noisy
//! pattern's contrast (y - f) / c and the noise level as a constant channel
//! (ln(sigma / c), scaled to [-1, 1] over the trained range), c the clean
//! training patterns' rms contrast. Its first output channel z maps to
//! densities by `bounded_mean`: phi_A = sigmoid(z + c(z)) with the
//! per-pattern shift c(z) that makes mean(phi_A) = f exactly, so every
//! output is a density pair the chain allows (0 < phi_A < 1, phi_B =
//! 1 - phi_A, the mean the chain fixes).
//!
//! A checkpoint folder states its kind (`operator.json`: denoise), the
//! network (`config.json`), and what it was trained on (`denoise.json`:
//! the chain model, grid, chi, B, step size, the noise model and its sigma
//! range); loops refuse one of another kind or chain model.

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use mesofield_physics::ChainModel;

use crate::checkpoint::{self, CheckpointError, FORMAT, OperatorKind, OperatorSpec, TrainState};
use crate::config::TrainConfig;
use crate::model::Fno;

/// What a denoise operator was trained on and for (`denoise.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiseSpec {
    /// The chain the clean patterns come from.
    pub model: ChainModel,
    /// The grid of the patterns (of the model's box).
    pub grid: [usize; 2],
    /// The field theory the clean patterns were sampled from: chi (as
    /// inferred from the user's samples), beads per cell B, and the L-FTS
    /// step size.
    pub chi: f64,
    pub beads_per_cell: f64,
    pub step_size: f64,
    /// The noise the operator was trained to remove: Gaussian of standard
    /// deviation sigma (in density units) on phi_A, and a fraction of the
    /// points set to the pattern's minimum or maximum ("salt and pepper",
    /// as `noise` makes it), at most `salt_pepper`.
    pub sigma: [f64; 2],
    pub salt_pepper: f64,
    /// The clean training patterns' rms of phi_A - f: the inputs' scale.
    pub contrast: f64,
}

impl DenoiseSpec {
    pub fn validate(&self) -> Result<(), String> {
        let [low, high] = self.sigma;
        if !(low > 0.0 && high >= low && high.is_finite()) {
            return Err(format!("sigma range must satisfy 0 < low <= high, got [{low}, {high}]"));
        }
        if !(self.contrast > 0.0 && self.contrast.is_finite()) {
            return Err(format!("the patterns' contrast must be > 0, got {}", self.contrast));
        }
        if !(0.0..1.0).contains(&self.salt_pepper) {
            return Err(format!("salt-and-pepper fraction must be in [0, 1), got {}", self.salt_pepper));
        }
        Ok(())
    }

    /// The noise-level channel's value for `sigma`: ln sigma scaled to
    /// [-1, 1] over the trained range (a single level gives 0).
    pub fn sigma_channel(&self, sigma: f64) -> f64 {
        let [low, high] = self.sigma.map(f64::ln);
        let half = 0.5 * (high - low);
        if half <= 0.0 { 0.0 } else { (sigma.ln() - 0.5 * (low + high)) / half }
    }

    /// Network inputs `[n, Mx, My, 2]` for `n` noisy patterns (`[n][Mx*My]`)
    /// and their noise levels.
    pub fn inputs(&self, noisy: &[f64], sigma: &[f64], device: &Device) -> Tensor<4> {
        let [mx, my] = self.grid;
        let m = mx * my;
        let n = sigma.len();
        assert_eq!(noisy.len(), n * m, "one sigma per pattern of the operator's grid");
        let f = self.model.f_a();
        let mut values = Vec::with_capacity(2 * n * m);
        for (s, &level) in sigma.iter().enumerate() {
            let level = self.sigma_channel(level) as f32;
            for &y in &noisy[s * m..(s + 1) * m] {
                values.push(((y - f) / self.contrast) as f32);
                values.push(level);
            }
        }
        Tensor::from_data(TensorData::new(values, [n, mx, my, 2]), device)
    }
}

/// Bisection steps and Newton steps for the shift c of `bounded_mean`.
const SHIFT_BISECTIONS: usize = 30;
const SHIFT_NEWTON: usize = 2;

/// phi = sigmoid(z + c), with c per sample (over axes 1 and 2) such that
/// mean(phi) = f: in (0, 1) and of the chain's mean. c is found without
/// autodiff (bisection between the shifts that put every point below and
/// above f, then Newton); its gradient is the implicit one,
/// dc/dz_j = -s'_j / sum_i s'_i (s' = phi (1 - phi)), added as a term of
/// value zero. `z` is `[B, Mx, My, 1]`.
pub fn bounded_mean(z: Tensor<4>, f: f64) -> Tensor<4> {
    let logit_f = (f / (1.0 - f)).ln();
    let plain = z.clone().detach();
    let mean_at = |c: &Tensor<4>| sigmoid(plain.clone() + c.clone()).mean_dims(&[1, 2]);
    // At c = logit f - max z every point is at most f; at logit f - min z, at least.
    let mut low = plain.clone().max_dims(&[1, 2]).neg().add_scalar(logit_f);
    let mut high = plain.clone().min_dims(&[1, 2]).neg().add_scalar(logit_f);
    for _ in 0..SHIFT_BISECTIONS {
        let mid = (low.clone() + high.clone()).mul_scalar(0.5);
        let below = mean_at(&mid).lower_elem(f);
        low = low.mask_where(below.clone(), mid.clone());
        high = mid.mask_where(below, high);
    }
    let mut c = (low + high).mul_scalar(0.5);
    for _ in 0..SHIFT_NEWTON {
        let s = sigmoid(plain.clone() + c.clone());
        let slope = (s.clone() * s.clone().neg().add_scalar(1.0)).mean_dims(&[1, 2]).clamp_min(1e-12);
        c = c - (s.mean_dims(&[1, 2]).sub_scalar(f)) / slope;
    }
    let s = sigmoid(plain + c.clone());
    let slope = s.clone() * s.neg().add_scalar(1.0);
    let weights = slope.clone() / slope.sum_dims(&[1, 2]).clamp_min(1e-30);
    let implicit = (weights * z.clone()).sum_dims(&[1, 2]).neg();
    let zero_valued = implicit.clone() - implicit.detach();
    sigmoid(z + c + zero_valued)
}

/// The network's densities: `bounded_mean` of its first output channel.
/// `x` from `DenoiseSpec::inputs`; returns `[B, Mx, My, 1]`.
pub fn forward(model: &Fno, x: Tensor<4>, f: f64) -> Tensor<4> {
    let out = model.forward(x);
    bounded_mean(out.density_logits.narrow(3, 0, 1), f)
}

/// A denoise operator loaded from its checkpoint folder.
pub struct DenoiseOperator {
    pub dir: PathBuf,
    pub model: Fno,
    pub config: TrainConfig,
    pub spec: DenoiseSpec,
    pub device: Device,
    /// Patterns per forward pass.
    pub batch: usize,
}

fn err(dir: &Path, what: impl std::fmt::Display) -> CheckpointError {
    CheckpointError(format!("checkpoint {}: {what}", dir.display()))
}

impl DenoiseOperator {
    /// Loads `dir`, refusing a folder of another kind.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, CheckpointError> {
        let kind = checkpoint::folder_kind(dir)?;
        if kind != OperatorKind::Denoise {
            return Err(err(
                dir,
                format!("is a {}; denoising needs a {}", kind.describe(), OperatorKind::Denoise.describe()),
            ));
        }
        let state: TrainState = checkpoint::read_json(dir, "state.json")?;
        if state.format != FORMAT {
            return Err(err(dir, format!("format {:?} is not {FORMAT:?}", state.format)));
        }
        let config = checkpoint::read_config(dir)?;
        let spec: DenoiseSpec = checkpoint::read_json(dir, "denoise.json")?;
        spec.validate().map_err(|e| err(dir, format!("denoise.json: {e}")))?;
        let model = checkpoint::read_weights(dir, &config, device)?;
        model.check_grid(spec.grid[0], spec.grid[1]).map_err(|e| err(dir, e))?;
        Ok(DenoiseOperator { dir: dir.to_path_buf(), model, config, spec, device: device.clone(), batch: 64 })
    }

    /// Refuses patterns of another chain model or grid than the trained one.
    pub fn require(&self, model: &ChainModel, grid: [usize; 2]) -> Result<(), CheckpointError> {
        if &self.spec.model != model {
            return Err(err(&self.dir, "was trained for another chain model than the patterns'"));
        }
        if self.spec.grid != grid {
            return Err(err(
                &self.dir,
                format!(
                    "was trained on {}x{} patterns, these are {}x{}",
                    self.spec.grid[0], self.spec.grid[1], grid[0], grid[1]
                ),
            ));
        }
        Ok(())
    }

    /// phi_A for `noisy` (`[n][Mx*My]`) at noise levels `sigma` (one per
    /// pattern), float64 `[n][Mx*My]`, in batches of `batch` patterns.
    pub fn denoise(&self, noisy: &[f64], sigma: &[f64]) -> Vec<f64> {
        use rayon::prelude::*;
        let m = self.spec.grid[0] * self.spec.grid[1];
        let per = self.batch.max(1);
        let f = self.spec.model.f_a();
        let parts: Vec<Vec<f64>> = noisy
            .par_chunks(per * m)
            .zip(sigma.par_chunks(per))
            .map(|(y, s)| {
                let x = self.spec.inputs(y, s, &self.device);
                let phi = forward(&self.model, x, f);
                phi.into_data().try_to_vec::<f32>().expect("float32 densities").into_iter().map(f64::from).collect()
            })
            .collect();
        parts.concat()
    }
}

/// Writes a denoise checkpoint folder atomically.
pub fn save(
    dir: &Path,
    model: &Fno,
    optim: Option<&ModuleOptimizer>,
    config: &TrainConfig,
    spec: &DenoiseSpec,
    state: &TrainState,
) -> Result<(), CheckpointError> {
    let spec_json = serde_json::to_string_pretty(spec).expect("serialises");
    checkpoint::write_folder(
        dir,
        &OperatorSpec::of(OperatorKind::Denoise),
        &[("denoise.json", spec_json)],
        model,
        optim,
        config,
        state,
    )
}
