//! Gaussian-Bernoulli RBMs trained as the current literature does (issue
//! 17): a learned visible variance, CD-k from noise or persistent chains
//! with gradient clipping, and symmetry augmentation; fully connected or
//! periodic convolutional (Lee et al. 2009's filters shared over the box,
//! here with circular boundaries, so the model commutes with translations
//! as the statistically homogeneous patterns do).
//!
//! Visible units are phi_A standardised by the training patterns' mean and
//! spread. Energy in Cho, Ilin and Raiko's (2011) parameterisation, one
//! variance sigma^2 for every pixel (homogeneous patterns):
//!     E(v, h) = |v - b|^2 / (2 sigma^2) - c.h - v.(W h) / sigma^2,
//!     p(h_j = 1 | v) = sigmoid(c_j + (W^T v)_j / sigma^2),
//!     p(v | h) = N(b + W h, sigma^2),
//! with ln sigma = ln sigma_min + (ln sigma_max - ln sigma_min) sigmoid(theta)
//! for a parameter theta (a clamp would stop the gradient at the bound and
//! hold sigma there for good), starting at the bounds' geometric mean. The
//! free energy F(v) = |v - b|^2 / (2 sigma^2) - sum_j softplus(c_j + (W^T
//! v)_j / sigma^2) gives the log-likelihood gradient as
//! d/dtheta [<F>_data - <F>_model], which Burn's autodiff differentiates;
//! the model term's samples come from Gibbs chains (from noise each update,
//! Liao et al. 2022, or persistent). In the convolutional model W^T v is
//! the circular cross-correlation of v with each of K filters (hidden units
//! K x Mx x My) and W h its adjoint, the sum over filters of each filter
//! convolved with its hidden map.

use std::path::Path;

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softplus};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use mesofield_physics::rng::StreamRng;
use mesofield_physics::stats;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// Every visible unit to every hidden unit.
    Dense,
    /// K filters shared over the periodic box.
    Convolutional,
}

/// Where the model term's chains start each update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Negatives {
    /// Fresh standard-normal visibles, `gibbs_steps` sweeps (CD-k from noise).
    Noise,
    /// Persistent chains, `gibbs_steps` sweeps per update (PCD-k).
    Persistent,
}

#[derive(Config, Debug, PartialEq)]
pub struct GbRbmConfig {
    #[config(default = "Connectivity::Convolutional")]
    pub connectivity: Connectivity,
    /// Hidden units of the dense model.
    #[config(default = 256)]
    pub hidden: usize,
    /// Filters of the convolutional model.
    #[config(default = 16)]
    pub filters: usize,
    /// Filter side in grid points (about one pattern period).
    #[config(default = 12)]
    pub filter_size: usize,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = 1500)]
    pub updates: usize,
    /// Patterns per update (drawn with their symmetry copies).
    #[config(default = 16)]
    pub batch: usize,
    #[config(default = "Negatives::Persistent")]
    pub negatives: Negatives,
    #[config(default = 5)]
    pub gibbs_steps: usize,
    /// Gradient clipping by global norm (0: off).
    #[config(default = 10.0)]
    pub grad_clip: f64,
    /// Each drawn pattern is shifted by a random periodic translation and
    /// mapped by a random symmetry of the box (8 for a square box, 4 for a
    /// rectangle).
    #[config(default = true)]
    pub augment: bool,
    /// Weight of the sparsity penalty sum_k (<p(h_k | v)> - target)^2.
    #[config(default = 0.0)]
    pub sparsity: f64,
    #[config(default = 0.05)]
    pub sparsity_target: f64,
    /// Bounds of sigma, in units of the patterns' spread; equal bounds fix it.
    #[config(default = 0.05)]
    pub sigma_min: f64,
    #[config(default = 1.0)]
    pub sigma_max: f64,
    #[config(default = 0)]
    pub seed: u64,
}

#[derive(Module, Debug)]
pub struct GbRbm {
    /// Dense: [visible, hidden].
    pub weight: Option<Param<Tensor<2>>>,
    /// Convolutional: [K, 1, F, F].
    pub filters: Option<Param<Tensor<4>>>,
    /// [hidden] (dense) or [K] (one per filter).
    pub hidden_bias: Param<Tensor<1>>,
    /// [1]: one visible bias (homogeneous patterns).
    pub visible_bias: Param<Tensor<1>>,
    /// theta [1]: ln sigma runs from `log_sigma_min` to `log_sigma_max` as
    /// sigmoid(theta) runs from 0 to 1.
    pub sigma_logit: Param<Tensor<1>>,
    pub mx: usize,
    pub my: usize,
    pub log_sigma_min: f64,
    pub log_sigma_max: f64,
}

/// Periodic padding of `x` ([n, C, Mx, My]) by `p` rows and columns: after
/// the last ones (`high`) or before the first ones.
fn wrap(x: Tensor<4>, p: usize, high: bool) -> Tensor<4> {
    if p == 0 {
        return x;
    }
    let [_, _, mx, my] = x.dims();
    let x = if high {
        Tensor::cat(vec![x.clone(), x.narrow(2, 0, p)], 2)
    } else {
        Tensor::cat(vec![x.clone().narrow(2, mx - p, p), x], 2)
    };
    if high {
        Tensor::cat(vec![x.clone(), x.narrow(3, 0, p)], 3)
    } else {
        Tensor::cat(vec![x.clone().narrow(3, my - p, p), x], 3)
    }
}

impl GbRbm {
    pub fn new(config: &GbRbmConfig, mx: usize, my: usize, rng: &mut StreamRng, device: &Device) -> Self {
        let m = mx * my;
        let (weight, filters, hidden) = match config.connectivity {
            Connectivity::Dense => {
                let w: Vec<f32> = (0..m * config.hidden).map(|_| (0.01 * rng.normal()) as f32).collect();
                (Some(Param::from_tensor(tensor2(w, [m, config.hidden], device))), None, config.hidden)
            }
            Connectivity::Convolutional => {
                let (k, f) = (config.filters, config.filter_size);
                let w: Vec<f32> = (0..k * f * f).map(|_| (0.01 * rng.normal()) as f32).collect();
                let t = Tensor::<4>::from_data(TensorData::new(w, [k, 1, f, f]), device);
                (None, Some(Param::from_tensor(t)), k)
            }
        };
        GbRbm {
            weight,
            filters,
            hidden_bias: Param::from_tensor(Tensor::zeros([hidden], device)),
            visible_bias: Param::from_tensor(Tensor::zeros([1], device)),
            sigma_logit: Param::from_tensor(Tensor::zeros([1], device)),
            mx,
            my,
            log_sigma_min: config.sigma_min.ln(),
            log_sigma_max: config.sigma_max.ln(),
        }
    }

    /// Hidden units: `hidden` or K Mx My.
    pub fn hidden_units(&self) -> usize {
        match (&self.weight, &self.filters) {
            (Some(w), _) => w.dims()[1],
            (None, Some(f)) => f.dims()[0] * self.mx * self.my,
            _ => unreachable!("an RBM has dense weights or filters"),
        }
    }

    /// sigma^2, [1].
    pub fn variance(&self) -> Tensor<1> {
        let span = self.log_sigma_max - self.log_sigma_min;
        sigmoid(self.sigma_logit.val()).mul_scalar(2.0 * span).add_scalar(2.0 * self.log_sigma_min).exp()
    }

    pub fn sigma(&self) -> f64 {
        f64::from(self.variance().sqrt().into_scalar::<f32>())
    }

    /// W^T v for `v` [n, M]: [n, hidden units].
    pub fn up(&self, v: Tensor<2>) -> Tensor<2> {
        let n = v.dims()[0];
        match (&self.weight, &self.filters) {
            (Some(w), _) => v.matmul(w.val()),
            (None, Some(f)) => {
                let [k, _, size, _] = f.dims();
                let x = wrap(v.reshape([n, 1, self.mx, self.my]), size - 1, true);
                conv2d(x, f.val(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
                    .reshape([n, k * self.mx * self.my])
            }
            _ => unreachable!("an RBM has dense weights or filters"),
        }
    }

    /// W h for `h` [n, hidden units]: [n, M].
    pub fn down(&self, h: Tensor<2>) -> Tensor<2> {
        let n = h.dims()[0];
        match (&self.weight, &self.filters) {
            (Some(w), _) => h.matmul(w.val().transpose()),
            (None, Some(f)) => {
                let [k, _, size, _] = f.dims();
                let x = wrap(h.reshape([n, k, self.mx, self.my]), size - 1, false);
                let adjoint = f.val().swap_dims(0, 1).flip([2, 3]);
                conv2d(x, adjoint, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1)).reshape([n, self.mx * self.my])
            }
            _ => unreachable!("an RBM has dense weights or filters"),
        }
    }

    /// c, broadcast to [1, hidden units].
    fn hidden_bias_row(&self) -> Tensor<2> {
        let c = self.hidden_bias.val();
        match &self.filters {
            Some(_) => {
                let k = c.dims()[0];
                c.reshape([k, 1]).repeat_dim(1, self.mx * self.my).reshape([1, k * self.mx * self.my])
            }
            None => c.unsqueeze::<2>(),
        }
    }

    /// The hidden units' input c + W^T v / sigma^2.
    fn hidden_input(&self, v: Tensor<2>) -> Tensor<2> {
        let inv = self.variance().recip().unsqueeze::<2>();
        self.up(v) * inv + self.hidden_bias_row()
    }

    /// p(h = 1 | v).
    pub fn hidden_given(&self, v: Tensor<2>) -> Tensor<2> {
        sigmoid(self.hidden_input(v))
    }

    /// E[v | h] = b + W h.
    pub fn visible_mean(&self, h: Tensor<2>) -> Tensor<2> {
        self.down(h) + self.visible_bias.val().unsqueeze::<2>()
    }

    /// F(v) per row, [n].
    pub fn free_energy(&self, v: Tensor<2>) -> Tensor<1> {
        let var = self.variance().unsqueeze::<2>();
        let quadratic = (v.clone() - self.visible_bias.val().unsqueeze::<2>()).powi_scalar(2).div(var.mul_scalar(2.0));
        let hidden = softplus(self.hidden_input(v), 1.0);
        (quadratic.sum_dim(1) - hidden.sum_dim(1)).squeeze_dim(1)
    }
}

/// What rebuilds a trained GB-RBM beside its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbRbmMeta {
    pub format: String,
    pub mx: usize,
    pub my: usize,
    pub mean: f64,
    pub std: f64,
    pub samples: usize,
    pub config: GbRbmConfig,
    /// Learned sigma in phi units.
    pub sigma_phi: f64,
}

pub const GBRBM_FORMAT: &str = "mesofield-gbrbm-1";

/// The noise level of posterior denoising.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoiseLevel {
    /// The noise's standard deviation (phi units).
    Given(f64),
    /// Estimated from each noisy pattern (`baselines::estimate_noise_sigma`).
    Estimated,
}

#[derive(Debug)]
pub struct TrainedGbRbm {
    pub rbm: GbRbm,
    pub meta: GbRbmMeta,
    pub device: Device,
}

/// The symmetries of the box that map the grid onto itself: the 8 of the
/// square (4 rotations, each optionally transposed), or the 4 of a
/// rectangle (the identity, two mirrors, the half turn).
fn symmetry_count(mx: usize, my: usize) -> usize {
    if mx == my { 8 } else { 4 }
}

/// Pattern `p` ([Mx*My]) shifted by (sx, sy) and mapped by symmetry `s`.
pub fn transformed(p: &[f64], mx: usize, my: usize, sx: usize, sy: usize, s: usize) -> Vec<f64> {
    let mut out = vec![0.0; mx * my];
    for ix in 0..mx {
        for iy in 0..my {
            let (x, y) = ((ix + sx) % mx, (iy + sy) % my);
            let (flip_x, flip_y, transpose) = (s & 1 != 0, s & 2 != 0, s & 4 != 0);
            let x2 = if flip_x { (mx - x) % mx } else { x };
            let y2 = if flip_y { (my - y) % my } else { y };
            let (tx, ty) = if transpose { (y2, x2) } else { (x2, y2) };
            out[tx * my + ty] = p[ix * my + iy];
        }
    }
    out
}

/// One Gibbs sweep v -> h -> v.
fn gibbs(rbm: &GbRbm, v: Tensor<2>, rng: &mut StreamRng, device: &Device) -> Tensor<2> {
    let [n, m] = v.dims();
    let h = rbm.hidden_given(v);
    let u = random_tensor(rng, [n, rbm.hidden_units()], false, device);
    let h = h.greater(u).float();
    let z = random_tensor(rng, [n, m], true, device);
    rbm.visible_mean(h) + z * rbm.variance().sqrt().unsqueeze::<2>()
}

/// Refuses patterns that do not fill the grid and settings no model trains with.
fn check_training(patterns: &[f64], mx: usize, my: usize, config: &GbRbmConfig) -> Result<(), String> {
    let m = mx * my;
    if patterns.is_empty() || !patterns.len().is_multiple_of(m) {
        return Err(format!("RBM training needs patterns of {mx}x{my}, got {} values", patterns.len()));
    }
    if config.updates == 0 || config.batch == 0 || !(config.learning_rate > 0.0) {
        return Err("RBM: updates, batch and learning rate must be positive".into());
    }
    if !(config.sigma_min > 0.0 && config.sigma_min <= config.sigma_max) {
        return Err(format!("RBM: need 0 < sigma_min <= sigma_max, got {} and {}", config.sigma_min, config.sigma_max));
    }
    match config.connectivity {
        Connectivity::Dense if config.hidden == 0 => return Err("RBM: the dense model needs hidden units".into()),
        Connectivity::Convolutional if config.filters == 0 || config.filter_size == 0 => {
            return Err("RBM: the convolutional model needs filters of positive size".into());
        }
        Connectivity::Convolutional if config.filter_size > mx.min(my) => {
            return Err(format!("RBM: filters of {0}x{0} do not fit the {mx}x{my} grid", config.filter_size));
        }
        _ => {}
    }
    Ok(())
}

/// Trains on `patterns` (`[n][Mx*My]` phi_A); `progress(update)` after each update.
pub fn train_gbrbm(
    patterns: &[f64],
    mx: usize,
    my: usize,
    config: &GbRbmConfig,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<TrainedGbRbm, String> {
    check_training(patterns, mx, my, config)?;
    let m = mx * my;
    let n = patterns.len() / m;
    let mean = stats::mean(patterns);
    let std = stats::population_std(patterns).max(1e-12);
    let standard: Vec<f64> = patterns.iter().map(|v| (v - mean) / std).collect();
    let ad = device.clone().autodiff();
    let mut rng = StreamRng::new(config.seed, 0);
    let mut rbm = GbRbm::new(config, mx, my, &mut rng, &ad);
    let mut optim = AdamConfig::new()
        .with_grad_clipping(
            (config.grad_clip > 0.0)
                .then(|| burn::grad_clipping::GradientClippingConfig::Norm(config.grad_clip as f32)),
        )
        .init();
    let symmetries = symmetry_count(mx, my);
    let b = config.batch;
    let mut persistent: Option<Tensor<2>> = None;
    for update in 0..config.updates {
        let mut data = Vec::with_capacity(b * m);
        for _ in 0..b {
            let i = (rng.uniform() * n as f64) as usize % n;
            let p = &standard[i * m..(i + 1) * m];
            if config.augment {
                let sx = (rng.uniform() * mx as f64) as usize % mx;
                let sy = (rng.uniform() * my as f64) as usize % my;
                let s = (rng.uniform() * symmetries as f64) as usize % symmetries;
                data.extend(transformed(p, mx, my, sx, sy, s));
            } else {
                data.extend_from_slice(p);
            }
        }
        let data: Vec<f32> = data.into_iter().map(|v| v as f32).collect();
        let frozen = rbm.valid();
        let start = match (config.negatives, persistent.take()) {
            (Negatives::Persistent, Some(chains)) => chains,
            (Negatives::Persistent, None) => tensor2(data.clone(), [b, m], device),
            (Negatives::Noise, _) => random_tensor(&mut rng, [b, m], true, device),
        };
        let mut chains = start;
        for _ in 0..config.gibbs_steps.max(1) {
            chains = gibbs(&frozen, chains, &mut rng, device);
        }
        if config.negatives == Negatives::Persistent {
            persistent = Some(chains.clone());
        }
        let negatives = Tensor::<2>::from_data(chains.into_data(), &ad);
        let positives = tensor2(data, [b, m], &ad);
        let mut loss = rbm.free_energy(positives.clone()).mean() - rbm.free_energy(negatives).mean();
        if config.sparsity > 0.0 {
            let p = rbm.hidden_given(positives);
            let activity = match &rbm.filters {
                Some(f) => {
                    let k = f.dims()[0];
                    p.reshape([b, k, m]).mean_dim(2).mean_dim(0).reshape([k])
                }
                None => p.mean_dim(0).squeeze_dim(0),
            };
            let penalty = activity.sub_scalar(config.sparsity_target).powi_scalar(2).sum();
            loss = loss + penalty.mul_scalar(config.sparsity);
        }
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            return Err(format!("RBM training diverged at update {update} (loss {value}); lower the learning rate"));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &rbm);
        rbm = optim.step(config.learning_rate, rbm, grads);
        progress(update + 1);
    }
    let rbm = rbm.valid();
    let sigma_phi = rbm.sigma() * std;
    let meta =
        GbRbmMeta { format: GBRBM_FORMAT.into(), mx, my, mean, std, samples: n, config: config.clone(), sigma_phi };
    Ok(TrainedGbRbm { rbm, meta, device: device.clone() })
}

impl TrainedGbRbm {
    fn standardised(&self, values: &[f64], rows: usize) -> Tensor<2> {
        let v: Vec<f32> = values.iter().map(|y| ((y - self.meta.mean) / self.meta.std) as f32).collect();
        tensor2(v, [rows, self.meta.mx * self.meta.my], &self.device)
    }

    fn in_phi(&self, t: Tensor<2>) -> Vec<f64> {
        to_f64(t).into_iter().map(|x| self.meta.mean + self.meta.std * x).collect()
    }

    /// One mean-field pass per pattern: b + W E[h | y].
    pub fn reconstruct(&self, noisy: &[f64]) -> Vec<f64> {
        let n = noisy.len() / (self.meta.mx * self.meta.my);
        let v = self.standardised(noisy, n);
        self.in_phi(self.rbm.visible_mean(self.rbm.hidden_given(v)))
    }

    /// Posterior means of `n` noisy patterns `[n][M]`, pattern s with chain
    /// seed `seed + s` at noise level `noise` (estimated from each pattern
    /// where not given).
    pub fn posterior_means(
        &self,
        noisy: &[f64],
        noise: NoiseLevel,
        chains: usize,
        sweeps: usize,
        seed: u64,
    ) -> Result<Vec<f64>, String> {
        let (mx, my) = (self.meta.mx, self.meta.my);
        let m = mx * my;
        if chains == 0 || sweeps < 2 {
            return Err("posterior denoising needs >= 1 chain and >= 2 sweeps".into());
        }
        if noisy.is_empty() || !noisy.len().is_multiple_of(m) {
            return Err(format!("patterns of {mx}x{my} expected, got {} values", noisy.len()));
        }
        let grid = mesofield_physics::Grid::new(mx, my, 1.0, 1.0).map_err(|e| e.to_string())?;
        let plan = mesofield_physics::spectral::SpectralPlan::new(grid);
        let mut rec = Vec::with_capacity(noisy.len());
        for (s, y) in noisy.chunks(m).enumerate() {
            let sigma = match noise {
                NoiseLevel::Given(sigma) => sigma,
                NoiseLevel::Estimated => crate::baselines::estimate_noise_sigma(&plan, y),
            };
            rec.extend(self.posterior_mean(y, sigma, chains, sweeps, seed + s as u64));
        }
        Ok(rec)
    }

    /// Posterior denoising with the observation's noise `sigma` (phi units)
    /// as the likelihood: Gibbs sampling of h | v and
    ///     v | h, y ~ N(((b + W h) / sigma_v^2 + y / s^2) / (1 / sigma_v^2 + 1 / s^2),
    ///                  1 / (1 / sigma_v^2 + 1 / s^2)),
    /// `chains` chains per pattern from y; the mean of E[v | h, y] over the
    /// second half of `sweeps` sweeps and the chains.
    pub fn posterior_mean(&self, noisy: &[f64], sigma: f64, chains: usize, sweeps: usize, seed: u64) -> Vec<f64> {
        let m = self.meta.mx * self.meta.my;
        let n = noisy.len() / m;
        let k = chains.max(1);
        let s2 = (sigma / self.meta.std).max(1e-6).powi(2);
        let v2 = self.rbm.sigma().powi(2);
        let precision = 1.0 / v2 + 1.0 / s2;
        let rows: Vec<f64> = (0..n * k).flat_map(|row| noisy[(row / k) * m..(row / k + 1) * m].to_vec()).collect();
        let y = self.standardised(&rows, n * k);
        let pull = y.clone().div_scalar(s2);
        let mut v = y;
        let mut rng = StreamRng::new(seed, 2);
        let mut sum = Tensor::<2>::zeros([n * k, m], &self.device);
        let hidden = self.rbm.hidden_units();
        for sweep in 0..sweeps {
            let u = random_tensor(&mut rng, [n * k, hidden], false, &self.device);
            let h = self.rbm.hidden_given(v).greater(u).float();
            let mean = (self.rbm.visible_mean(h).div_scalar(v2) + pull.clone()).div_scalar(precision);
            if sweep >= sweeps / 2 {
                sum = sum + mean.clone();
            }
            let z = random_tensor(&mut rng, [n * k, m], true, &self.device);
            v = mean + z.mul_scalar(precision.recip().sqrt());
        }
        let kept = (sweeps - sweeps / 2).max(1);
        let per_row = self.in_phi(sum.div_scalar(kept as f64));
        (0..n)
            .flat_map(|p| (0..m).map(move |i| (p, i)))
            .map(|(p, i)| (0..k).map(|c| per_row[(p * k + c) * m + i]).sum::<f64>() / k as f64)
            .collect()
    }

    /// Patterns from Gibbs chains started at `start` (`[k][M]`), `sweeps`
    /// sweeps each; the last sweep's mean b + W E[h | v].
    pub fn sample(&self, start: &[f64], sweeps: usize, seed: u64) -> Vec<f64> {
        let k = start.len() / (self.meta.mx * self.meta.my);
        let mut rng = StreamRng::new(seed, 1);
        let mut v = self.standardised(start, k);
        for _ in 0..sweeps {
            v = gibbs(&self.rbm, v, &mut rng, &self.device);
        }
        self.in_phi(self.rbm.visible_mean(self.rbm.hidden_given(v)))
    }

    /// Writes `dir/gbrbm.bpk` and `dir/gbrbm.json`.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        save_folder(dir, "gbrbm", self.rbm.clone(), &self.meta)
    }

    pub fn load(dir: &Path, device: &Device) -> Result<Self, String> {
        let meta: GbRbmMeta = read_meta(dir, "gbrbm", |m: &GbRbmMeta| &m.format, GBRBM_FORMAT)?;
        let mut rng = StreamRng::new(0, 0);
        let rbm = load_weights(dir, "gbrbm", GbRbm::new(&meta.config, meta.mx, meta.my, &mut rng, device))?;
        Ok(TrainedGbRbm { rbm, meta, device: device.clone() })
    }
}

fn tensor2(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn to_f64(t: Tensor<2>) -> Vec<f64> {
    t.into_data().try_to_vec::<f32>().expect("float32").into_iter().map(f64::from).collect()
}

fn random_tensor(rng: &mut StreamRng, shape: [usize; 2], normal: bool, device: &Device) -> Tensor<2> {
    let values: Vec<f32> =
        (0..shape[0] * shape[1]).map(|_| if normal { rng.normal() as f32 } else { rng.uniform() as f32 }).collect();
    tensor2(values, shape, device)
}

/// Writes `dir/NAME.bpk` (the weights) and `dir/NAME.json` (what rebuilds them).
fn save_folder<M: Module, T: Serialize>(dir: &Path, name: &str, module: M, meta: &T) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    module
        .save_file(dir.join(format!("{name}.bpk")))
        .map_err(|e| format!("{}: cannot save the RBM ({e:?})", dir.display()))?;
    let text = serde_json::to_string_pretty(meta).expect("serialises");
    mesofield_physics::io::write_atomic(&dir.join(format!("{name}.json")), text.as_bytes()).map_err(|e| e.to_string())
}

/// `dir/NAME.json`, refused unless `format(meta)` is `expected`.
fn read_meta<T: for<'de> Deserialize<'de>>(
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
fn load_weights<M: Module>(dir: &Path, name: &str, empty: M) -> Result<M, String> {
    empty
        .try_load_file(dir.join(format!("{name}.bpk")))
        .map_err(|e| format!("{}: RBM weights unreadable or of another size ({e:?})", dir.display()))
}
