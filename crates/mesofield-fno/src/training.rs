//! Training: AdamW, linear warm-up then cosine decay of the learning rate,
//! seeded shuffling, best and last checkpoints every epoch, resume from
//! `last`: one pipeline for every operator kind, each kind a `Task` (its
//! samples, the loss of a sub-batch, validation, its checkpoint folder).
//! The density operator's (`train`): a contrast-relative L2 loss on the
//! densities plus a standardised ln Q term when the model predicts it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::Serialize;

use mesofield_physics::dataset::Dataset;
use mesofield_physics::rng::StreamRng;

use crate::checkpoint::{self, CheckpointError, FORMAT, OperatorKind, TrainState};
use crate::config::TrainConfig;
use crate::data::{Batch, Normalization, batch};
use crate::model::{Fno, FnoConfig};

/// Whether a run at `state` has stopped improving (see `TrainConfig::patience`).
fn converged(config: &TrainConfig, state: &TrainState) -> bool {
    config.patience > 0 && state.epoch >= state.best_epoch + config.patience
}

/// Burn's random initialisation draws from a backend-wide generator; the lock
/// keeps a seeded init reproducible when several trainings share a process.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The model's initial weights, reproducible from `seed`.
pub fn init_seeded(config: &FnoConfig, seed: u64, device: &Device) -> Fno {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let model = config.init(device);
    // Parameters are initialised lazily, on first use: use them all now,
    // while the generator is ours.
    let (mx, my) = (2 * config.modes_x, 2 * config.modes_y);
    let probe = Tensor::<4>::zeros([1, mx, my, 2], device);
    let _ = model.forward(probe);
    model
}

/// Per-sample contrast-relative error of `phi` ([B, Mx, My, 2]) against
/// `target`, the mean over the two channels of
/// ||phi_t - target_t|| / sqrt(||target_t - f_t||^2 + floor^2 Mx My); returns `[B]`.
/// Per channel, because that is how the operator is judged: summed over both
/// channels, the B block (30 of 100 beads) weighs less than its error does.
/// With `h1`, both norms are H1 norms, ||u||^2 + ||grad u||^2, the gradient
/// by periodic forward differences on the unit square (neuraloperator's
/// convention), which weighs sharp interfaces more.
pub fn contrast_relative_error(phi: Tensor<4>, target: Tensor<4>, f_a: f64, floor: f64, h1: bool) -> Tensor<1> {
    let [b, mx, my, _] = phi.dims();
    let device = phi.device();
    let mean = Tensor::<4>::from_data(TensorData::new(vec![f_a as f32, (1.0 - f_a) as f32], [1, 1, 1, 2]), &device);
    let num = squared_norms(phi - target.clone(), h1);
    let den = squared_norms(target - mean, h1).add_scalar(floor * floor * (mx * my) as f64);
    (num / den).sqrt().mean_dim(1).reshape([b])
}

/// Per sample and channel, sum over the grid of u^2 (plus the squared
/// forward differences times M^2 along each axis with `h1`); `[B, C]`.
fn squared_norms(u: Tensor<4>, h1: bool) -> Tensor<2> {
    let [b, mx, my, c] = u.dims();
    let sum = |t: Tensor<4>| t.powi_scalar(2).sum_dims(&[1, 2]).reshape([b, c]);
    if !h1 {
        return sum(u);
    }
    let dx = (u.clone().roll_dim(-1, 1) - u.clone()).mul_scalar(mx as f64);
    let dy = (u.clone().roll_dim(-1, 2) - u.clone()).mul_scalar(my as f64);
    sum(u) + sum(dx) + sum(dy)
}

/// The loss of one batch and its per-sample density errors.
pub fn batch_loss(model: &Fno, batch: &Batch, config: &TrainConfig, norm: &Normalization) -> (Tensor<1>, Tensor<1>) {
    let out = model.forward(batch.inputs.clone());
    let f_a = norm.model.f_a();
    let phi = model.densities(out.density_logits, f_a, norm.logit_scale);
    let errors = contrast_relative_error(phi, batch.phi.clone(), f_a, config.contrast_floor, config.h1);
    let mut loss = if config.tail_scale > 0.0 {
        // e (1 + e / e_ref): samples with errors beyond e_ref weigh more,
        // which aims at the tail (the 95th percentile) rather than the mean.
        (errors.clone() + errors.clone().powi_scalar(2).div_scalar(config.tail_scale)).mean()
    } else {
        errors.clone().mean()
    };
    if let Some(log_q) = out.log_q {
        loss = loss + (log_q - batch.log_q.clone()).powi_scalar(2).mean().mul_scalar(config.log_q_weight);
    }
    (loss, errors)
}

/// Adds the gradients of `other` into `into`, parameter by parameter.
struct SumGradients<'a> {
    into: &'a mut GradientsParams,
    other: &'a mut GradientsParams,
}

impl ModuleVisitor for SumGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id = param.id;
        match (self.into.remove::<D>(id), self.other.remove::<D>(id)) {
            (Some(a), Some(b)) => self.into.register(id, a + b),
            (Some(g), None) | (None, Some(g)) => self.into.register(id, g),
            (None, None) => {}
        }
    }
}

/// The same parameters (same ids and values) as new autodiff leaves, so a
/// graph built on them shares no node with another shard's graph: Burn's
/// autodiff keeps graphs that share nodes under one mutex, which would run
/// the shards' backward passes one after the other.
struct FreshLeaves;

impl ModuleMapper for FreshLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.detach().require_grad())
    }
}

/// The gradients of the mean loss over the union of `shards` (sub-batches of
/// one batch), each shard's forward and backward pass on its own rayon task.
/// Flex runs most element-wise work of one graph on one core; a graph per
/// core is how a small model fills the machine. Each shard's loss is
/// weighted by its share of the samples, so the sum is the gradient of the
/// whole batch's mean loss. Returns that mean loss and the gradients.
pub fn batch_gradients(
    model: &Fno,
    shards: &[Batch],
    config: &TrainConfig,
    norm: &Normalization,
) -> (f64, GradientsParams) {
    shard_gradients(model, shards, |b| b.log_q.dims()[0], |model, shard| batch_loss(model, shard, config, norm).0)
}

/// `batch_gradients` for shards of any kind: `len` counts a shard's
/// samples, `loss` is its mean loss.
pub fn shard_gradients<S: Sync>(
    model: &Fno,
    shards: &[S],
    len: impl Fn(&S) -> usize + Sync,
    loss: impl Fn(&Fno, &S) -> Tensor<1> + Sync,
) -> (f64, GradientsParams) {
    use rayon::prelude::*;
    let total: usize = shards.iter().map(&len).sum();
    let results: Vec<(f64, GradientsParams)> = shards
        .par_iter()
        .map(|shard| {
            let model = if shards.len() > 1 { model.clone().map(&mut FreshLeaves) } else { model.clone() };
            let share = len(shard) as f64 / total.max(1) as f64;
            let loss = loss(&model, shard).mul_scalar(share);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            (value, GradientsParams::from_grads(loss.backward(), &model))
        })
        .collect();
    let mut iter = results.into_iter();
    let (mut loss, mut grads) = iter.next().unwrap_or((0.0, GradientsParams::new()));
    for (value, mut other) in iter {
        loss += value;
        model.visit(&mut SumGradients { into: &mut grads, other: &mut other });
    }
    (loss, grads)
}

/// Splits `indices` into at most `parts` nearly equal, non-empty pieces.
pub fn shard_indices(indices: &[usize], parts: usize) -> Vec<&[usize]> {
    let parts = parts.clamp(1, indices.len().max(1));
    let size = indices.len().div_ceil(parts).max(1);
    indices.chunks(size).collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub step: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub valid_error_mean: f64,
    pub valid_error_median: f64,
    pub seconds: f64,
    pub samples_per_second: f64,
    pub best: bool,
}

/// What the caller sees while training (for progress bars).
pub enum Progress<'a> {
    Batch { epoch: usize, done: usize, total: usize, loss: f64 },
    Epoch(&'a EpochMetrics),
}

/// Mean and median of the validation errors, evaluated without autodiff.
pub fn validate(
    model: &Fno,
    data: &Dataset,
    norm: &Normalization,
    config: &TrainConfig,
    device: &Device,
) -> (f64, f64) {
    use rayon::prelude::*;
    let indices: Vec<usize> = (0..data.len()).collect();
    let chunks: Vec<&[usize]> = indices.chunks(config.batch.max(1)).collect();
    let errors: Vec<f64> = chunks
        .par_iter()
        .flat_map_iter(|chunk| {
            let b = batch(data, norm, chunk, device);
            let (_, e) = batch_loss(model, &b, config, norm);
            e.into_data().try_to_vec::<f32>().unwrap_or_default().into_iter().map(f64::from)
        })
        .collect();
    mean_and_median(errors)
}

/// The mean and the nearest-rank median of validation errors.
pub fn mean_and_median(mut errors: Vec<f64>) -> (f64, f64) {
    let mean = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
    errors.sort_by(f64::total_cmp);
    (mean, mesofield_physics::stats::quantile(&errors, 0.5))
}

/// When a run stops before its last epoch, leaving `last` to resume from.
#[derive(Debug, Default)]
pub struct Stop {
    /// After this many epochs of this run.
    pub after_epochs: Option<usize>,
    /// After this many batches of this run (what an interruption mid-epoch does).
    pub after_batches: Option<usize>,
    /// Raised from outside (a Ctrl-C handler): the run saves `last` after the
    /// batch in progress and returns.
    pub requested: AtomicBool,
}

impl Stop {
    pub const fn never() -> Self {
        Stop { after_epochs: None, after_batches: None, requested: AtomicBool::new(false) }
    }
    pub fn after_epochs(n: usize) -> Self {
        Stop { after_epochs: Some(n), ..Stop::never() }
    }
    pub fn after_batches(n: usize) -> Self {
        Stop { after_batches: Some(n), ..Stop::never() }
    }
    /// Whether a run that has taken `batches` batches should stop now
    /// (`after_epochs` is checked at epoch boundaries by the caller).
    fn reached(&self, batches: usize) -> bool {
        self.requested.load(Ordering::Relaxed) || self.after_batches.is_some_and(|n| batches >= n)
    }
}

/// One operator kind's training, for `train_task`.
pub trait Task: Sync {
    /// A sub-batch of training samples on the autodiff device.
    type Shard: Sync;
    /// The kind the checkpoints state (resume refuses another).
    fn kind(&self) -> OperatorKind;
    /// Training samples per epoch.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Training samples `indices` of batch `batch` of `epoch` as a shard:
    /// whatever is drawn afresh per epoch (noise, symmetries) comes from
    /// those three, so a resumed run draws the same.
    fn shard(&self, indices: &[usize], epoch: usize, batch: usize, device: &Device) -> Self::Shard;
    fn shard_len(&self, shard: &Self::Shard) -> usize;
    /// The shard's mean loss.
    fn loss(&self, model: &Fno, shard: &Self::Shard, config: &TrainConfig) -> Tensor<1>;
    /// Mean and median validation error, without autodiff.
    fn validate(&self, model: &Fno, config: &TrainConfig, device: &Device) -> (f64, f64);
    /// Writes a checkpoint folder of this kind.
    fn save(
        &self,
        dir: &Path,
        model: &Fno,
        optim: Option<&ModuleOptimizer>,
        config: &TrainConfig,
        state: &TrainState,
    ) -> Result<(), CheckpointError>;
}

/// The density operator's task: (w, phi) pairs, normalised by `norm`.
struct DensityTask<'a> {
    train_data: &'a Dataset,
    valid_data: &'a Dataset,
    norm: Normalization,
}

impl Task for DensityTask<'_> {
    type Shard = Batch;
    fn kind(&self) -> OperatorKind {
        OperatorKind::Density
    }
    fn len(&self) -> usize {
        self.train_data.len()
    }
    fn shard(&self, indices: &[usize], _epoch: usize, _batch: usize, device: &Device) -> Batch {
        batch(self.train_data, &self.norm, indices, device)
    }
    fn shard_len(&self, shard: &Batch) -> usize {
        shard.log_q.dims()[0]
    }
    fn loss(&self, model: &Fno, shard: &Batch, config: &TrainConfig) -> Tensor<1> {
        batch_loss(model, shard, config, &self.norm).0
    }
    fn validate(&self, model: &Fno, config: &TrainConfig, device: &Device) -> (f64, f64) {
        validate(model, self.valid_data, &self.norm, config, device)
    }
    fn save(
        &self,
        dir: &Path,
        model: &Fno,
        optim: Option<&ModuleOptimizer>,
        config: &TrainConfig,
        state: &TrainState,
    ) -> Result<(), CheckpointError> {
        checkpoint::save(dir, model, optim, config, &self.norm, state)
    }
}

/// Trains a density operator into `out` (`out/best`, `out/last`,
/// `out/metrics.jsonl`). With `resume`, continues from `out/last` (its
/// config and normalisation win, except `epochs`). `stop` ends this run
/// early (after some epochs or batches, or when raised from outside),
/// leaving `last` to resume from; the returned state says where
/// (`epoch_batches > 0` when it stopped mid-epoch).
#[allow(clippy::too_many_arguments)]
pub fn train(
    train_data: &Dataset,
    valid_data: &Dataset,
    config: TrainConfig,
    out: &Path,
    resume: bool,
    stop: &Stop,
    device: &Device,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<TrainState, CheckpointError> {
    if train_data.meta.model != valid_data.meta.model {
        return Err(CheckpointError("training and validation sets were made with different models".into()));
    }
    if train_data.is_empty() || valid_data.is_empty() {
        return Err(CheckpointError("training and validation sets must not be empty".into()));
    }
    let last_dir = out.join("last");
    let norm = if resume && last_dir.exists() {
        checkpoint::read_json(&last_dir, "normalization.json")?
    } else {
        Normalization::fit(train_data)
    };
    let (mx, my) = (train_data.mx, train_data.my);
    let task = DensityTask { train_data, valid_data, norm };
    train_task(&task, [mx, my], config, out, resume, stop, device, progress)
}

/// Trains `task`'s operator on a `grid` into `out`, as `train` describes.
#[allow(clippy::too_many_arguments)]
pub fn train_task<T: Task>(
    task: &T,
    grid: [usize; 2],
    config: TrainConfig,
    out: &Path,
    resume: bool,
    stop: &Stop,
    device: &Device,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<TrainState, CheckpointError> {
    if task.is_empty() {
        return Err(CheckpointError("the training set must not be empty".into()));
    }
    let ad = device.clone().autodiff();
    let last_dir = out.join("last");
    let (mut model, mut optim, mut state, config) = start_or_resume(task.kind(), config, &last_dir, resume, &ad)?;
    model.check_grid(grid[0], grid[1]).map_err(|e| CheckpointError(format!("training set: {e}")))?;
    let steps_per_epoch = task.len().div_ceil(config.batch.max(1));
    let total_steps = steps_per_epoch * config.epochs;
    std::fs::create_dir_all(out).map_err(|e| CheckpointError(format!("cannot create {}: {e}", out.display())))?;
    let run = Run { task, config, out, last_dir, device, ad };
    let config = &run.config;
    let (mut epochs_this_run, mut batches_this_run) = (0usize, 0usize);
    while state.epoch < config.epochs && !state.stopped_early && stop.after_epochs.is_none_or(|n| epochs_this_run < n) {
        epochs_this_run += 1;
        let epoch = state.epoch;
        let start = Instant::now();
        let order = epoch_order(config.seed, epoch, task.len());
        let mut loss_sum = state.epoch_loss_sum;
        let mut lr = config.learning_rate;
        let skip = state.epoch_batches;
        for (k, chunk) in order.chunks(config.batch.max(1)).enumerate().skip(skip) {
            let (value, grads) = run.gradients(&model, chunk, epoch, k)?;
            loss_sum += value * chunk.len() as f64;
            lr = config.learning_rate_at(state.step, total_steps);
            model = optim.step(lr, model, grads);
            state.step += 1;
            batches_this_run += 1;
            progress(Progress::Batch { epoch, done: k + 1, total: steps_per_epoch, loss: value });
            let stopping = stop.reached(batches_this_run);
            if stopping && k + 1 < steps_per_epoch {
                state.epoch_batches = k + 1;
                state.epoch_loss_sum = loss_sum;
                task.save(&run.last_dir, &model, Some(&optim), config, &state)?;
                return Ok(state);
            }
        }
        let metrics = run.end_epoch(&model, &optim, &mut state, loss_sum, lr, start)?;
        progress(Progress::Epoch(&metrics));
        if stop.reached(batches_this_run) {
            break;
        }
    }
    Ok(state)
}

/// The model, optimiser, state and config a run starts from: `last_dir`'s
/// with `resume` (its config, except `epochs`; refused if of another kind
/// than `kind`), else fresh ones, the model seeded.
fn start_or_resume(
    kind: OperatorKind,
    config: TrainConfig,
    last_dir: &Path,
    resume: bool,
    ad: &Device,
) -> Result<(Fno, ModuleOptimizer, TrainState, TrainConfig), CheckpointError> {
    if resume && last_dir.exists() {
        let found = checkpoint::folder_kind(last_dir)?;
        if found != kind {
            return Err(CheckpointError(format!(
                "{}: is a {}; resuming {} training needs one",
                last_dir.display(),
                found.describe(),
                kind.name()
            )));
        }
        let state = checkpoint::read_state(last_dir)?;
        let mut cfg = checkpoint::read_config(last_dir)?;
        let model = checkpoint::read_weights(last_dir, &cfg, ad)?;
        let optim = checkpoint::optimizer(&cfg)
            .load(&last_dir.join("optim.bpk"))
            .map_err(|e| CheckpointError(format!("{}: optimiser state unreadable ({e:?})", last_dir.display())))?;
        cfg.epochs = config.epochs;
        Ok((model, optim, state, cfg))
    } else {
        let model = init_seeded(&config.model, config.seed, ad);
        let optim = checkpoint::optimizer(&config);
        let state = TrainState {
            format: FORMAT.into(),
            epoch: 0,
            step: 0,
            best_valid: f64::INFINITY,
            best_epoch: 0,
            epoch_batches: 0,
            epoch_loss_sum: 0.0,
            stopped_early: false,
        };
        Ok((model, optim, state, config))
    }
}

/// The order of the training samples in `epoch`, shuffled with the epoch's
/// own stream so that a resumed run reproduces it.
fn epoch_order(seed: u64, epoch: usize, len: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = StreamRng::new(seed, 1_000_000 + epoch as u64);
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// What a training run works with, fixed for the run.
struct Run<'a, T: Task> {
    task: &'a T,
    /// The run's config (`last`'s on resume).
    config: TrainConfig,
    out: &'a Path,
    last_dir: PathBuf,
    /// Where validation runs (no autodiff).
    device: &'a Device,
    /// Where training runs.
    ad: Device,
}

impl<T: Task> Run<'_, T> {
    /// The mean loss and gradients of batch `k` of `epoch` (samples
    /// `chunk`), its shards built on the autodiff device.
    fn gradients(
        &self,
        model: &Fno,
        chunk: &[usize],
        epoch: usize,
        k: usize,
    ) -> Result<(f64, GradientsParams), CheckpointError> {
        let shards: Vec<T::Shard> = shard_indices(chunk, self.config.shards.max(1))
            .into_iter()
            .map(|part| self.task.shard(part, epoch, k, &self.ad))
            .collect();
        let (value, grads) = shard_gradients(
            model,
            &shards,
            |s| self.task.shard_len(s),
            |model, s| self.task.loss(model, s, &self.config),
        );
        if !value.is_finite() {
            return Err(CheckpointError(format!("loss became {value} at epoch {epoch}, batch {k}")));
        }
        Ok((value, grads))
    }

    /// Closes the epoch that began at `start`: validates, saves `best` (if
    /// it is) and `last`, and appends the epoch's metrics, which it returns.
    fn end_epoch(
        &self,
        model: &Fno,
        optim: &ModuleOptimizer,
        state: &mut TrainState,
        loss_sum: f64,
        lr: f64,
        start: Instant,
    ) -> Result<EpochMetrics, CheckpointError> {
        let config = &self.config;
        state.epoch_batches = 0;
        state.epoch_loss_sum = 0.0;
        let train_seconds = start.elapsed().as_secs_f64();
        let inference = model.valid();
        let (valid_mean, valid_median) = self.task.validate(&inference, config, self.device);
        state.epoch += 1;
        let best = valid_mean < state.best_valid;
        if best {
            state.best_valid = valid_mean;
            state.best_epoch = state.epoch;
        }
        state.stopped_early = state.epoch < config.epochs && converged(config, state);
        if best {
            self.task.save(&self.out.join("best"), &inference, None, config, state)?;
        }
        self.task.save(&self.last_dir, model, Some(optim), config, state)?;
        let metrics = EpochMetrics {
            epoch: state.epoch,
            step: state.step,
            learning_rate: lr,
            train_loss: loss_sum / self.task.len() as f64,
            valid_error_mean: valid_mean,
            valid_error_median: valid_median,
            seconds: start.elapsed().as_secs_f64(),
            samples_per_second: self.task.len() as f64 / train_seconds,
            best,
        };
        let metrics_path = self.out.join("metrics.jsonl");
        let line = serde_json::to_string(&metrics).expect("metrics serialise") + "\n";
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| CheckpointError(format!("cannot append to {}: {e}", metrics_path.display())))?;
        Ok(metrics)
    }
}
