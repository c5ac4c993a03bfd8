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
use mesofield_physics::rng::StreamRng;

use crate::checkpoint::{self, CheckpointError, OperatorKind, OperatorSpec, TrainState, err};
use crate::config::TrainConfig;
use crate::model::Fno;
use crate::training::{Progress, Stop, Task, mean_and_median, train_task};

/// What a denoise operator was trained on and for (`denoise.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiseSpec {
    /// The chain the clean patterns come from.
    pub model: ChainModel,
    /// The grid of the patterns (of the model's box).
    pub grid: [usize; 2],
    /// The field theory the clean patterns were sampled from: chi (as
    /// inferred from the user's samples), beads per cell B, and the L-FTS
    /// step size; None for an operator trained on observed patterns only.
    pub chi: Option<f64>,
    pub beads_per_cell: Option<f64>,
    pub step_size: Option<f64>,
    /// The noise the operator was trained to remove: Gaussian of standard
    /// deviation sigma (in density units) on phi_A, and a fraction of the
    /// points set to the pattern's minimum or maximum ("salt and pepper",
    /// as `noise` makes it), at most `salt_pepper`.
    pub sigma: [f64; 2],
    /// Where set, half of the training draws are log-uniform over
    /// [sigma[0], sigma_focus] instead of the whole range: a range wide
    /// enough to generate from keeps the denoising band's accuracy.
    #[serde(default)]
    pub sigma_focus: Option<f64>,
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
        if let Some(focus) = self.sigma_focus {
            if !(focus > low && focus <= high) {
                return Err(format!("sigma focus must lie in ({low}, {high}], got {focus}"));
            }
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
        checkpoint::read_state(dir)?;
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
    /// pattern), float64 `[n][Mx*My]`, in batches of at most `batch` patterns spread over the threads.
    pub fn denoise(&self, noisy: &[f64], sigma: &[f64]) -> Vec<f64> {
        use rayon::prelude::*;
        let m = self.spec.grid[0] * self.spec.grid[1];
        // Every worker thread gets a share: Flex runs one pass on about one core.
        let n = sigma.len();
        let per = self.batch.min(n.div_ceil(rayon::current_num_threads())).max(1);
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

/// The denoise operator's training task: clean phi_A patterns (`[n][M]`),
/// each drawn per epoch under a random symmetry of the box (a translation,
/// reflections, and the transpose where the box is square) with fresh
/// noise: sigma log-uniform over the spec's range (half of the draws
/// below `sigma_focus` where set), and, for half of the
/// patterns where the spec allows it, a fraction up to `salt_pepper` of
/// the points set to the pattern's minimum or maximum. Validation: each
/// validation pattern at the range's ends and its geometric middle, with
/// noise fixed by the seed.
pub struct DenoiseTask<'a> {
    pub spec: DenoiseSpec,
    train: &'a [f64],
    valid_noisy: Vec<f64>,
    valid_sigma: Vec<f64>,
    valid_clean: Vec<f64>,
    seed: u64,
}

/// Streams of the noise draws: training samples by (epoch, index), the
/// validation set by its own.
const TRAIN_STREAM: u64 = 1 << 40;
const VALID_STREAM: u64 = 1 << 41;

/// `clean` under a random symmetry of the box, with noise; returns the
/// noisy and the transformed clean pattern and sigma.
fn draw(spec: &DenoiseSpec, clean: &[f64], rng: &mut StreamRng, sigma: Option<f64>) -> (Vec<f64>, Vec<f64>, f64) {
    let [mx, my] = spec.grid;
    let (sx, sy) = ((rng.next_u64() % mx as u64) as usize, (rng.next_u64() % my as u64) as usize);
    let (flip_x, flip_y) = (rng.uniform() < 0.5, rng.uniform() < 0.5);
    let transpose = mx == my && rng.uniform() < 0.5;
    let mut moved = vec![0.0; mx * my];
    for ix in 0..mx {
        for iy in 0..my {
            let (mut jx, mut jy) = ((ix + sx) % mx, (iy + sy) % my);
            if flip_x {
                jx = (mx - jx) % mx;
            }
            if flip_y {
                jy = (my - jy) % my;
            }
            let (tx, ty) = if transpose { (jy, jx) } else { (jx, jy) };
            moved[tx * my + ty] = clean[ix * my + iy];
        }
    }
    let [low, mut high] = spec.sigma.map(f64::ln);
    if let Some(focus) = spec.sigma_focus.filter(|_| sigma.is_none() && rng.uniform() < 0.5) {
        high = focus.ln();
    }
    let sigma = sigma.unwrap_or_else(|| (low + (high - low) * rng.uniform()).exp());
    let salt = if spec.salt_pepper > 0.0 && rng.uniform() < 0.5 { spec.salt_pepper * rng.uniform() } else { 0.0 };
    let (lo, hi) = moved.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let noisy = moved
        .iter()
        .map(|&v| {
            if salt > 0.0 && rng.uniform() < salt {
                if rng.uniform() < 0.5 { lo } else { hi }
            } else {
                v + sigma * rng.normal()
            }
        })
        .collect();
    (noisy, moved, sigma)
}

/// A shard: network inputs and the clean patterns, `[B, Mx, My, 1]`.
pub struct DenoiseShard {
    inputs: Tensor<4>,
    clean: Tensor<4>,
}

/// Per pattern ||phi_A - clean|| / sqrt(||clean - f||^2 + floor^2 M): the
/// contrast-relative error; `[B]`.
pub fn errors(phi: Tensor<4>, clean: Tensor<4>, f: f64, floor: f64) -> Tensor<1> {
    let [b, mx, my, _] = phi.dims();
    let num = (phi - clean.clone()).powi_scalar(2).sum_dims(&[1, 2]).reshape([b]);
    let den = clean.sub_scalar(f).powi_scalar(2).sum_dims(&[1, 2]).reshape([b]);
    (num / den.add_scalar(floor * floor * (mx * my) as f64)).sqrt()
}

impl<'a> DenoiseTask<'a> {
    /// Training on `train`, validation on `valid` (both `[n][M]` clean
    /// phi_A of the spec's grid).
    pub fn new(spec: DenoiseSpec, train: &'a [f64], valid: &[f64], seed: u64) -> Result<Self, CheckpointError> {
        spec.validate().map_err(CheckpointError)?;
        let m = spec.grid[0] * spec.grid[1];
        if train.is_empty() || valid.is_empty() || train.len() % m != 0 || valid.len() % m != 0 {
            return Err(CheckpointError(format!(
                "denoiser training needs whole {}x{} patterns for training and validation",
                spec.grid[0], spec.grid[1]
            )));
        }
        let [low, high] = spec.sigma;
        // The range's ends and middle, and the focus band's middle and top:
        // the best checkpoint is chosen on both.
        let mut levels = vec![low, (low * high).sqrt(), high];
        if let Some(focus) = spec.sigma_focus {
            levels.extend([(low * focus).sqrt(), focus]);
        }
        let mut rng = StreamRng::new(seed, VALID_STREAM);
        let (mut valid_noisy, mut valid_sigma, mut valid_clean) = (Vec::new(), Vec::new(), Vec::new());
        for clean in valid.chunks(m) {
            for &level in &levels {
                let (noisy, moved, sigma) = draw(&spec, clean, &mut rng, Some(level));
                valid_noisy.extend(noisy);
                valid_clean.extend(moved);
                valid_sigma.push(sigma);
            }
        }
        Ok(DenoiseTask { spec, train, valid_noisy, valid_sigma, valid_clean, seed })
    }

    fn points(&self) -> usize {
        self.spec.grid[0] * self.spec.grid[1]
    }

    fn tensor(&self, values: &[f64], device: &Device) -> Tensor<4> {
        let [mx, my] = self.spec.grid;
        let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(data, [values.len() / (mx * my), mx, my, 1]), device)
    }
}

impl Task for DenoiseTask<'_> {
    type Shard = DenoiseShard;

    fn kind(&self) -> OperatorKind {
        OperatorKind::Denoise
    }

    fn len(&self) -> usize {
        self.train.len() / self.points()
    }

    fn shard(&self, indices: &[usize], epoch: usize, _batch: usize, device: &Device) -> DenoiseShard {
        let m = self.points();
        let (mut noisy, mut clean, mut sigma) = (Vec::new(), Vec::new(), Vec::new());
        for &i in indices {
            let stream = TRAIN_STREAM + (epoch as u64) * (self.len() as u64) + i as u64;
            let mut rng = StreamRng::new(self.seed, stream);
            let (y, moved, s) = draw(&self.spec, &self.train[i * m..(i + 1) * m], &mut rng, None);
            noisy.extend(y);
            clean.extend(moved);
            sigma.push(s);
        }
        DenoiseShard { inputs: self.spec.inputs(&noisy, &sigma, device), clean: self.tensor(&clean, device) }
    }

    fn shard_len(&self, shard: &DenoiseShard) -> usize {
        shard.inputs.dims()[0]
    }

    fn loss(&self, model: &Fno, shard: &DenoiseShard, config: &TrainConfig) -> Tensor<1> {
        let f = self.spec.model.f_a();
        let phi = forward(model, shard.inputs.clone(), f);
        errors(phi, shard.clean.clone(), f, config.contrast_floor).mean()
    }

    fn validate(&self, model: &Fno, config: &TrainConfig, device: &Device) -> (f64, f64) {
        let m = self.points();
        let f = self.spec.model.f_a();
        let per = config.batch.max(1);
        let mut all = Vec::with_capacity(self.valid_sigma.len());
        for ((noisy, sigma), clean) in
            self.valid_noisy.chunks(per * m).zip(self.valid_sigma.chunks(per)).zip(self.valid_clean.chunks(per * m))
        {
            let phi = forward(model, self.spec.inputs(noisy, sigma, device), f);
            let e = errors(phi, self.tensor(clean, device), f, config.contrast_floor);
            all.extend(e.into_data().try_to_vec::<f32>().unwrap_or_default().into_iter().map(f64::from));
        }
        mean_and_median(all)
    }

    fn save(
        &self,
        dir: &Path,
        model: &Fno,
        optim: Option<&ModuleOptimizer>,
        config: &TrainConfig,
        state: &TrainState,
    ) -> Result<(), CheckpointError> {
        save(dir, model, optim, config, &self.spec, state)
    }
}

/// Trains a denoise operator on clean patterns into `out` (`best`, `last`,
/// `metrics.jsonl`), as `training::train` does for density operators.
#[allow(clippy::too_many_arguments)]
pub fn train(
    task: &DenoiseTask,
    config: TrainConfig,
    out: &Path,
    resume: bool,
    stop: &Stop,
    device: &Device,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<TrainState, CheckpointError> {
    if resume && out.join("last").exists() {
        let stored: DenoiseSpec = checkpoint::read_json(&out.join("last"), "denoise.json")?;
        if stored != task.spec {
            return Err(CheckpointError(format!(
                "{}: was trained for another denoise.json than this run's; resume with the same patterns and noise",
                out.join("last").display()
            )));
        }
    }
    train_task(task, task.spec.grid, config, out, resume, stop, device, progress)
}
