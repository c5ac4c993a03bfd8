//! The training settings, saved beside every checkpoint (Burn's `Config`):
//! apart from the training loop so that a checkpoint can state them without
//! depending on the loop.

use burn::prelude::*;

use crate::model::FnoConfig;

#[derive(Config, Debug)]
pub struct TrainConfig {
    pub model: FnoConfig,
    #[config(default = 50)]
    pub epochs: usize,
    #[config(default = 32)]
    pub batch: usize,
    #[config(default = 3e-3)]
    pub learning_rate: f64,
    #[config(default = 1e-4)]
    pub weight_decay: f64,
    /// Warm-up steps as a fraction of all steps.
    #[config(default = 0.03)]
    pub warmup: f64,
    /// Final learning rate as a fraction of the peak.
    #[config(default = 0.01)]
    pub final_lr_fraction: f64,
    #[config(default = 0.1)]
    pub log_q_weight: f64,
    /// Floor of the loss's denominator, as an rms density contrast: samples
    /// flatter than this are judged by absolute error.
    #[config(default = 0.01)]
    pub contrast_floor: f64,
    /// With e_ref > 0, each sample's loss is e (1 + e / e_ref) instead of e:
    /// errors above e_ref weigh more (0: off).
    #[config(default = 0.0)]
    pub tail_scale: f64,
    /// Clip each parameter's gradient to this norm before the optimiser
    /// step (0: off). Guards wide models against a rare exploding batch.
    #[config(default = 0.0)]
    pub grad_clip_norm: f64,
    /// Judge errors in the H1 norm (values and gradients) instead of L2.
    #[config(default = false)]
    pub h1: bool,
    #[config(default = 0)]
    pub seed: u64,
    /// Sub-batches of each step, each forward and backward pass on its own
    /// worker thread (Flex keeps one graph on about one core). Fixed in the
    /// config rather than taken from the thread count, so a run gives the
    /// same numbers on any machine.
    #[config(default = 2)]
    pub shards: usize,
    /// Stop once the validation error has not improved for this many
    /// epochs (0: train all `epochs`). The learning-rate schedule stays the
    /// one planned for `epochs`.
    #[config(default = 0)]
    pub patience: usize,
}

impl TrainConfig {
    pub fn learning_rate_at(&self, step: usize, total_steps: usize) -> f64 {
        let total = total_steps.max(1) as f64;
        let warmup = (self.warmup * total).max(1.0);
        let s = step as f64;
        if s < warmup {
            return self.learning_rate * (s + 1.0) / warmup;
        }
        let progress = ((s - warmup) / (total - warmup).max(1.0)).min(1.0);
        let floor = self.final_lr_fraction;
        self.learning_rate * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
    }
}
