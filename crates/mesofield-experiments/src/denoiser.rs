//! Denoise operators: trained on clean patterns (`mesofield train-denoiser`),
//! then one batched network call per file in place of an action
//! minimisation per pattern (`denoise --solver operator:DIR`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use mesofield_fno::denoise::{self, DenoiseOperator, DenoiseSpec, DenoiseTask};
use mesofield_fno::training::{Progress, Stop};
use mesofield_fno::{FnoConfig, TrainConfig};
use mesofield_inference::baselines::estimate_noise_sigma;
use mesofield_inference::contrast_relative_error;
use mesofield_physics::ChainModel;
use mesofield_physics::spectral::SpectralPlan;

use crate::patterns::Patterns;
use crate::solvers::Backend;

/// What a denoiser is trained for, apart from the network and optimiser.
#[derive(Clone, Debug)]
pub struct DenoiserSettings {
    /// The noise levels to train over, in units of the clean patterns'
    /// standard deviation (as `noise --sigma` counts them).
    pub sigma_relative: [f64; 2],
    /// Half of the draws below this level (same units), where set.
    pub focus_relative: Option<f64>,
    /// Largest salt-and-pepper fraction (0: Gaussian noise only).
    pub salt_pepper: f64,
    /// Patterns held out for validation (at least one).
    pub valid_fraction: f64,
    /// The field theory the patterns were sampled from, where known.
    pub chi: Option<f64>,
    pub beads_per_cell: Option<f64>,
    pub step_size: Option<f64>,
}

impl Default for DenoiserSettings {
    fn default() -> Self {
        DenoiserSettings {
            sigma_relative: [0.1, 1.5],
            focus_relative: None,
            salt_pepper: 0.0,
            valid_fraction: 0.2,
            chi: None,
            beads_per_cell: None,
            step_size: None,
        }
    }
}

/// `DIR/report.json` of a training run.
#[derive(Clone, Debug, Serialize)]
pub struct DenoiserReport {
    pub training_patterns: usize,
    pub validation_patterns: usize,
    pub grid: [usize; 2],
    pub spec: DenoiseSpec,
    pub epochs: usize,
    pub best_epoch: usize,
    /// Mean contrast-relative error of the best checkpoint on the
    /// validation patterns at the range's ends and its geometric middle.
    pub best_valid_error: f64,
    pub minutes: f64,
}

/// The default network of a denoiser: the density operator's FNO without
/// the ln Q head.
pub fn default_network() -> FnoConfig {
    FnoConfig::new().with_predict_log_q(false)
}

/// Trains a denoise operator on `clean` into `out` (`best`, `last`,
/// `metrics.jsonl`, `report.json`); the last patterns are held out.
#[allow(clippy::too_many_arguments)]
pub fn train_denoiser(
    clean: &Patterns,
    model: &ChainModel,
    settings: &DenoiserSettings,
    config: TrainConfig,
    out: &Path,
    resume: bool,
    stop: &Stop,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<DenoiserReport> {
    let report = fit_denoiser(clean, model, settings, config, out, resume, stop, progress)?;
    let text = serde_json::to_string_pretty(&report)?;
    mesofield_physics::io::write_atomic(&out.join("report.json"), text.as_bytes())?;
    Ok(report)
}

/// `train_denoiser` without `report.json` (callers with a report of their own).
#[allow(clippy::too_many_arguments)]
pub fn fit_denoiser(
    clean: &Patterns,
    model: &ChainModel,
    settings: &DenoiserSettings,
    config: TrainConfig,
    out: &Path,
    resume: bool,
    stop: &Stop,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<DenoiserReport> {
    let m = clean.points();
    if clean.n < 2 {
        bail!("a denoiser needs at least 2 clean patterns (one held out for validation), got {}", clean.n);
    }
    let [low, high] = settings.sigma_relative;
    if !(low > 0.0 && high >= low && high.is_finite()) {
        bail!("noise levels must satisfy 0 < low <= high, got {low},{high}");
    }
    let held = ((clean.n as f64 * settings.valid_fraction).round() as usize).clamp(1, clean.n - 1);
    let f = model.f_a();
    let contrast = (clean.phi_a.iter().map(|v| (v - f).powi(2)).sum::<f64>() / clean.phi_a.len() as f64).sqrt();
    if !(contrast > 1e-6) {
        bail!("the clean patterns are uniform (rms contrast {contrast:.1e}): nothing to learn a denoiser from");
    }
    let spec = DenoiseSpec {
        model: model.clone(),
        grid: [clean.mx, clean.my],
        chi: settings.chi,
        beads_per_cell: settings.beads_per_cell,
        step_size: settings.step_size,
        sigma: [low * contrast, high * contrast],
        sigma_focus: settings.focus_relative.map(|f| f * contrast),
        salt_pepper: settings.salt_pepper,
        contrast,
    };
    let split = (clean.n - held) * m;
    let (train, valid) = clean.phi_a.split_at(split);
    let task = DenoiseTask::new(spec.clone(), train, valid, config.seed).map_err(|e| anyhow!(e))?;
    let device = Backend::Cpu.device()?;
    let epochs = config.epochs;
    let started = Instant::now();
    let state = denoise::train(&task, config, out, resume, stop, &device, progress).map_err(|e| anyhow!(e))?;
    let report = DenoiserReport {
        training_patterns: clean.n - held,
        validation_patterns: held,
        grid: spec.grid,
        spec,
        epochs: state.epoch.min(epochs),
        best_epoch: state.best_epoch,
        best_valid_error: state.best_valid,
        minutes: started.elapsed().as_secs_f64() / 60.0,
    };
    Ok(report)
}

/// One pattern's recovery by a denoise operator.
#[derive(Clone, Debug, Serialize)]
pub struct OperatorRecovery {
    pub sigma: f64,
    /// Contrast-relative errors against the clean original, where given.
    pub error: Option<f64>,
    pub noisy_error: Option<f64>,
}

pub struct OperatorDenoised {
    /// `[n][M]` recovered phi_A.
    pub recovered: Vec<f64>,
    pub patterns: Vec<OperatorRecovery>,
    pub seconds: f64,
    /// What the operator was trained on and for.
    pub spec: DenoiseSpec,
}

/// Every pattern of `noisy` through the denoise operator in `dir` in one
/// batched call, sigma given or estimated per pattern as action
/// minimisation estimates it, with errors against `truth` where given.
pub fn denoise_with_operator(
    noisy: &Patterns,
    model: &ChainModel,
    dir: &Path,
    sigma: Option<f64>,
    truth: Option<&Patterns>,
) -> Result<OperatorDenoised> {
    let device = Backend::Cpu.device()?;
    let operator = DenoiseOperator::load(dir, &device).map_err(|e| anyhow!(e))?;
    denoise_loaded(&operator, noisy, model, sigma, truth)
}

/// `denoise_with_operator` with the operator loaded.
pub fn denoise_loaded(
    operator: &DenoiseOperator,
    noisy: &Patterns,
    model: &ChainModel,
    sigma: Option<f64>,
    truth: Option<&Patterns>,
) -> Result<OperatorDenoised> {
    operator.require(model, [noisy.mx, noisy.my]).map_err(|e| anyhow!(e))?;
    if let Some(s) = sigma
        && !(s.is_finite() && s > 0.0)
    {
        bail!("sigma must be finite and > 0, got {s}");
    }
    let grid = mesofield_physics::Grid::for_model(model, noisy.mx, noisy.my)?;
    let plan = SpectralPlan::new(grid);
    let sigmas: Vec<f64> =
        (0..noisy.n).map(|s| sigma.unwrap_or_else(|| estimate_noise_sigma(&plan, noisy.sample(s)))).collect();
    let started = Instant::now();
    let recovered = operator.denoise(&noisy.phi_a, &sigmas);
    let seconds = started.elapsed().as_secs_f64();
    let m = noisy.points();
    let patterns = (0..noisy.n)
        .map(|s| {
            let mine = &recovered[s * m..(s + 1) * m];
            let errors = truth.map(|t| {
                (contrast_relative_error(mine, t.sample(s)), contrast_relative_error(noisy.sample(s), t.sample(s)))
            });
            OperatorRecovery { sigma: sigmas[s], error: errors.map(|e| e.0), noisy_error: errors.map(|e| e.1) }
        })
        .collect();
    Ok(OperatorDenoised { recovered, patterns, seconds, spec: operator.spec.clone() })
}
