//! The data-driven baseline of the paper's Fig. 2: a Gaussian-Bernoulli
//! restricted Boltzmann machine on Burn, trained by persistent contrastive
//! divergence (PCD-k).
//!
//! Visible units are the grid's phi_A, standardised with one mean and one
//! spread over the training patterns (per-pixel statistics from ten
//! patterns would be noise), in units of `visible_noise` (0.2) times that
//! spread, with unit-variance Gaussian noise in those units:
//!     E(v, h) = |v - b|^2 / 2 - c.h - v.W h,
//!     p(h_j = 1 | v) = sigmoid(c_j + (W^T v)_j),  p(v | h) = N(b + W h, 1).
//! The log-likelihood gradient is <v h^T>_data - <v h^T>_model (likewise for
//! b and c); the model term comes from persistent Gibbs chains, one per
//! training pattern. Denoising is either one mean-field pass through the
//! hidden layer, v -> E[h | v] -> b + W E[h | v] (the RBM's reconstruction,
//! `reconstruct`), or posterior inference with the observation's noise as
//! the likelihood (`posterior_mean`).
//! Random numbers come from the project's seeded streams, so a run is
//! reproducible on any thread count.

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use mesofield_physics::rng::StreamRng;
use mesofield_physics::stats;

#[derive(Config, Debug, PartialEq)]
pub struct RbmConfig {
    /// Hidden units.
    #[config(default = 256)]
    pub hidden: usize,
    #[config(default = 2e-3)]
    pub learning_rate: f64,
    /// Parameter updates (each over the whole training set).
    #[config(default = 3000)]
    pub updates: usize,
    /// Gibbs steps per update of the persistent chains.
    #[config(default = 1)]
    pub gibbs_steps: usize,
    #[config(default = 1e-4)]
    pub weight_decay: f64,
    #[config(default = 0.9)]
    pub momentum: f64,
    /// Each update sees every pattern shifted by a random periodic
    /// translation (the box is periodic, so these are patterns of the same
    /// ensemble). Off by default: the paper's baseline learns from the
    /// samples as they are.
    #[config(default = false)]
    pub translate: bool,
    #[config(default = 0)]
    pub seed: u64,
    /// The visible units' noise as a fraction of the patterns' standard
    /// deviation: the model's v = b + W h + N(0, sigma^2). With sigma equal
    /// to the whole spread (1 on standardised data) the RBM explains the
    /// patterns as noise: on 32 x 32 patterns it reconstructed even its own
    /// training patterns with errors above 1.
    #[config(default = 0.2)]
    pub visible_noise: f64,
}

#[derive(Module, Debug)]
pub struct Rbm {
    /// [visible, hidden].
    pub weight: Param<Tensor<2>>,
    pub visible_bias: Param<Tensor<1>>,
    pub hidden_bias: Param<Tensor<1>>,
}

/// What rebuilds an RBM beside its weights: sizes, the standardisation and the config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RbmMeta {
    pub format: String,
    pub mx: usize,
    pub my: usize,
    pub mean: f64,
    pub std: f64,
    pub samples: usize,
    pub config: RbmConfig,
}

pub const RBM_FORMAT: &str = "mesofield-rbm-1";

#[derive(Debug)]
pub struct TrainedRbm {
    pub rbm: Rbm,
    pub meta: RbmMeta,
    pub device: Device,
}

pub(crate) fn tensor2(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub(crate) fn to_f64(t: Tensor<2>) -> Vec<f64> {
    t.into_data().try_to_vec::<f32>().expect("float32").into_iter().map(f64::from).collect()
}

impl Rbm {
    pub fn new(visible: usize, hidden: usize, rng: &mut StreamRng, device: &Device) -> Self {
        let w: Vec<f32> = (0..visible * hidden).map(|_| (0.01 * rng.normal()) as f32).collect();
        Rbm {
            weight: Param::from_tensor(tensor2(w, [visible, hidden], device)),
            visible_bias: Param::from_tensor(Tensor::zeros([visible], device)),
            hidden_bias: Param::from_tensor(Tensor::zeros([hidden], device)),
        }
    }

    /// p(h = 1 | v) for a batch `v` [n, visible].
    pub fn hidden_given(&self, v: Tensor<2>) -> Tensor<2> {
        sigmoid(v.matmul(self.weight.val()) + self.hidden_bias.val().unsqueeze::<2>())
    }

    /// E[v | h] = b + W h for a batch `h` [n, hidden].
    pub fn visible_mean(&self, h: Tensor<2>) -> Tensor<2> {
        h.matmul(self.weight.val().transpose()) + self.visible_bias.val().unsqueeze::<2>()
    }

    /// The three gradient parts <v h^T>, <v>, <h> of a batch, averaged.
    fn moments(v: Tensor<2>, h: Tensor<2>) -> (Tensor<2>, Tensor<1>, Tensor<1>) {
        let n = v.dims()[0] as f64;
        let vh = v.clone().transpose().matmul(h.clone()).div_scalar(n);
        (vh, v.mean_dim(0).squeeze_dim(0), h.mean_dim(0).squeeze_dim(0))
    }

    /// One Gibbs sweep v -> h -> v with the given uniforms [n, hidden] and
    /// normals [n, visible].
    pub fn gibbs(&self, v: Tensor<2>, uniforms: Tensor<2>, normals: Tensor<2>) -> Tensor<2> {
        let p = self.hidden_given(v);
        let h = p.greater(uniforms).float();
        self.visible_mean(h) + normals
    }

    /// The log-likelihood gradient estimate (dW, db, dc): data term from `data`
    /// [n, visible], model term from `chains` [k, visible].
    pub fn gradient(&self, data: Tensor<2>, chains: Tensor<2>) -> (Tensor<2>, Tensor<1>, Tensor<1>) {
        let (vh_d, v_d, h_d) = Self::moments(data.clone(), self.hidden_given(data));
        let (vh_m, v_m, h_m) = Self::moments(chains.clone(), self.hidden_given(chains));
        (vh_d - vh_m, v_d - v_m, h_d - h_m)
    }
}

pub(crate) fn random_tensor(rng: &mut StreamRng, shape: [usize; 2], normal: bool, device: &Device) -> Tensor<2> {
    let values: Vec<f32> =
        (0..shape[0] * shape[1]).map(|_| if normal { rng.normal() as f32 } else { rng.uniform() as f32 }).collect();
    tensor2(values, shape, device)
}

/// A periodic translation of every pattern by its own random shift.
fn translated(patterns: &[f64], n: usize, mx: usize, my: usize, rng: &mut StreamRng) -> Vec<f64> {
    let m = mx * my;
    let mut out = Vec::with_capacity(patterns.len());
    for p in patterns[..n * m].chunks(m) {
        let (sx, sy) = ((rng.uniform() * mx as f64) as usize % mx, (rng.uniform() * my as f64) as usize % my);
        out.extend(crate::gbrbm::transformed(p, mx, my, sx, sy, 0));
    }
    out
}

/// Trains on `patterns` (`[n][Mx*My]` phi_A); `progress(update)` after each update.
pub fn train_rbm(
    patterns: &[f64],
    mx: usize,
    my: usize,
    config: &RbmConfig,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<TrainedRbm, String> {
    let m = mx * my;
    if patterns.is_empty() || !patterns.len().is_multiple_of(m) {
        return Err(format!("RBM training needs patterns of {mx}x{my}, got {} values", patterns.len()));
    }
    if config.hidden == 0 || config.updates == 0 || !(config.learning_rate > 0.0) || !(config.visible_noise > 0.0) {
        return Err("RBM: hidden units, updates, learning rate and visible noise must be positive".into());
    }
    let n = patterns.len() / m;
    let mean = stats::mean(patterns);
    // Unit-variance visible units in the model measure phi in units of
    // visible_noise times the patterns' spread.
    let std = config.visible_noise * stats::population_std(patterns).max(1e-12);
    let standard = |values: &[f64]| -> Vec<f32> { values.iter().map(|v| ((v - mean) / std) as f32).collect() };
    let mut rng = StreamRng::new(config.seed, 0);
    let mut rbm = Rbm::new(m, config.hidden, &mut rng, device);
    let fixed = tensor2(standard(patterns), [n, m], device);
    // Persistent chains start at the data.
    let mut chains = fixed.clone();
    let (mut vel_w, mut vel_b, mut vel_c) = (
        Tensor::<2>::zeros([m, config.hidden], device),
        Tensor::<1>::zeros([m], device),
        Tensor::<1>::zeros([config.hidden], device),
    );
    let lr = config.learning_rate;
    for update in 0..config.updates {
        let data = if config.translate {
            tensor2(standard(&translated(patterns, n, mx, my, &mut rng)), [n, m], device)
        } else {
            fixed.clone()
        };
        for _ in 0..config.gibbs_steps {
            let u = random_tensor(&mut rng, [n, config.hidden], false, device);
            let z = random_tensor(&mut rng, [n, m], true, device);
            chains = rbm.gibbs(chains, u, z);
        }
        let (dw, db, dc) = rbm.gradient(data, chains.clone());
        // Momentum ramps up from 0.5 over the first tenth of the run.
        let momentum = if update < config.updates / 10 { 0.5 } else { config.momentum };
        vel_w = vel_w.mul_scalar(momentum) + (dw - rbm.weight.val().mul_scalar(config.weight_decay)).mul_scalar(lr);
        vel_b = vel_b.mul_scalar(momentum) + db.mul_scalar(lr);
        vel_c = vel_c.mul_scalar(momentum) + dc.mul_scalar(lr);
        rbm.weight = Param::from_tensor(rbm.weight.val() + vel_w.clone());
        rbm.visible_bias = Param::from_tensor(rbm.visible_bias.val() + vel_b.clone());
        rbm.hidden_bias = Param::from_tensor(rbm.hidden_bias.val() + vel_c.clone());
        progress(update + 1);
    }
    let meta = RbmMeta { format: RBM_FORMAT.into(), mx, my, mean, std, samples: n, config: config.clone() };
    Ok(TrainedRbm { rbm, meta, device: device.clone() })
}

impl TrainedRbm {
    /// One mean-field pass per pattern of `noisy` (`[n][Mx*My]` phi_A).
    pub fn reconstruct(&self, noisy: &[f64]) -> Vec<f64> {
        let m = self.meta.mx * self.meta.my;
        let n = noisy.len() / m;
        let v: Vec<f32> = noisy.iter().map(|y| ((y - self.meta.mean) / self.meta.std) as f32).collect();
        let v = tensor2(v, [n, m], &self.device);
        let out = self.rbm.visible_mean(self.rbm.hidden_given(v));
        to_f64(out).into_iter().map(|x| self.meta.mean + self.meta.std * x).collect()
    }

    /// Posterior denoising: the RBM is the prior and the observation noise
    /// the likelihood, p(v | y) ~ p_RBM(v) N(y; v, s^2) with `sigma` = s in
    /// phi units. Gibbs sampling alternates h ~ p(h | v) and
    ///     v | h, y ~ N((b + W h + gamma y) / (1 + gamma), 1 / (1 + gamma)),
    /// gamma = 1 / s^2 in the model's units (its visible variance is 1), as
    /// in Tang et al.'s robust-RBM inference; `chains` chains per pattern
    /// start at y, and the result is the mean of E[v | h, y] over the second
    /// half of `sweeps` sweeps and over the chains. Unlike `reconstruct`,
    /// the observation stays in every step, so no pattern is pulled farther
    /// from y than its noise allows.
    pub fn posterior_mean(&self, noisy: &[f64], sigma: f64, chains: usize, sweeps: usize, seed: u64) -> Vec<f64> {
        let m = self.meta.mx * self.meta.my;
        let n = noisy.len() / m;
        let (k, hidden) = (chains.max(1), self.meta.config.hidden);
        let s = (sigma / self.meta.std).max(1e-6);
        let gamma = 1.0 / (s * s);
        let observed: Vec<f32> = (0..n * k)
            .flat_map(|row| noisy[(row / k) * m..(row / k + 1) * m].iter())
            .map(|y| ((y - self.meta.mean) / self.meta.std) as f32)
            .collect();
        let y = tensor2(observed, [n * k, m], &self.device);
        let pull = y.clone().mul_scalar(gamma);
        let mut v = y;
        let mut rng = StreamRng::new(seed, 2);
        let mut sum = Tensor::<2>::zeros([n * k, m], &self.device);
        let kept = sweeps - sweeps / 2;
        for sweep in 0..sweeps {
            let u = random_tensor(&mut rng, [n * k, hidden], false, &self.device);
            let h = self.rbm.hidden_given(v).greater(u).float();
            let mean = (self.rbm.visible_mean(h) + pull.clone()).div_scalar(1.0 + gamma);
            if sweep >= sweeps / 2 {
                sum = sum + mean.clone();
            }
            let z = random_tensor(&mut rng, [n * k, m], true, &self.device);
            v = mean + z.mul_scalar((1.0 / (1.0 + gamma)).sqrt());
        }
        let per_row = to_f64(sum.div_scalar(kept.max(1) as f64));
        (0..n)
            .flat_map(|p| {
                let rows = &per_row;
                (0..m).map(move |i| (0..k).map(|c| rows[(p * k + c) * m + i]).sum::<f64>() / k as f64)
            })
            .map(|x| self.meta.mean + self.meta.std * x)
            .collect()
    }

    /// `count` patterns from Gibbs chains started at `start` (`[k][M]`), `sweeps` sweeps each.
    pub fn sample(&self, start: &[f64], sweeps: usize, seed: u64) -> Vec<f64> {
        let m = self.meta.mx * self.meta.my;
        let k = start.len() / m;
        let mut rng = StreamRng::new(seed, 1);
        let v: Vec<f32> = start.iter().map(|y| ((y - self.meta.mean) / self.meta.std) as f32).collect();
        let mut v = tensor2(v, [k, m], &self.device);
        let hidden = self.meta.config.hidden;
        for _ in 0..sweeps {
            let u = random_tensor(&mut rng, [k, hidden], false, &self.device);
            let z = random_tensor(&mut rng, [k, m], true, &self.device);
            v = self.rbm.gibbs(v, u, z);
        }
        // The last sweep's mean, not its noisy draw: the pattern the chain is at.
        let mean = self.rbm.visible_mean(self.rbm.hidden_given(v));
        to_f64(mean).into_iter().map(|x| self.meta.mean + self.meta.std * x).collect()
    }

    /// Writes `dir/rbm.bpk` and `dir/rbm.json`.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        save_folder(dir, "rbm", self.rbm.clone(), &self.meta)
    }

    pub fn load(dir: &Path, device: &Device) -> Result<Self, String> {
        let meta: RbmMeta = read_meta(dir, "rbm", |m: &RbmMeta| &m.format, RBM_FORMAT)?;
        let mut rng = StreamRng::new(0, 0);
        let rbm = load_weights(dir, "rbm", Rbm::new(meta.mx * meta.my, meta.config.hidden, &mut rng, device))?;
        Ok(TrainedRbm { rbm, meta, device: device.clone() })
    }
}

/// Writes `dir/NAME.bpk` (the weights) and `dir/NAME.json` (what rebuilds them).
pub(crate) fn save_folder<M: Module, T: Serialize>(dir: &Path, name: &str, module: M, meta: &T) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    module
        .save_file(dir.join(format!("{name}.bpk")))
        .map_err(|e| format!("{}: cannot save the RBM ({e:?})", dir.display()))?;
    let text = serde_json::to_string_pretty(meta).expect("serialises");
    mesofield_physics::io::write_atomic(&dir.join(format!("{name}.json")), text.as_bytes()).map_err(|e| e.to_string())
}

/// `dir/NAME.json`, refused unless `format(meta)` is `expected`.
pub(crate) fn read_meta<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    name: &str,
    format: impl Fn(&T) -> &String,
    expected: &str,
) -> Result<T, String> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json")))
        .map_err(|e| format!("{}: not an RBM checkpoint ({name}.json: {e})", dir.display()))?;
    let meta: T =
        serde_json::from_str(&text).map_err(|e| format!("{}: {name}.json is not valid ({e})", dir.display()))?;
    if format(&meta) != expected {
        return Err(format!("{}: format {:?} is not {expected:?}", dir.display(), format(&meta)));
    }
    Ok(meta)
}

/// `empty` (a model of the stored sizes) with the weights of `dir/NAME.bpk`.
pub(crate) fn load_weights<M: Module>(dir: &Path, name: &str, empty: M) -> Result<M, String> {
    empty
        .try_load_file(dir.join(format!("{name}.bpk")))
        .map_err(|e| format!("{}: RBM weights unreadable or of another size ({e:?})", dir.display()))
}
