//! Checkpoint folders: everything needed to rebuild the operator from the
//! folder alone.
//!
//! `DIR/operator.json` (which map the operator is: its kind, input and
//! output channels, gauge and normalisation; a folder without one is a
//! density operator, the only kind before the file), `DIR/config.json` (the
//! training config, which holds the model config), `DIR/normalization.json`,
//! `DIR/model.bpk` (burnpack: weights with their parameter ids, so the
//! optimiser state matches on resume), `DIR/state.json` (epoch, step, best
//! validation loss) and, in `last`, `DIR/optim.bpk`.
//! A folder is written under a temporary name and renamed into place.

use std::path::{Path, PathBuf};

use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::Normalization;
use crate::model::Fno;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub format: String,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: usize,
    pub best_valid: f64,
    pub best_epoch: usize,
    /// Batches of the unfinished epoch `epoch` already taken (a run stopped
    /// mid-epoch, e.g. by Ctrl-C); resume skips them in the same order.
    #[serde(default)]
    pub epoch_batches: usize,
    /// Their summed loss (times batch size), for that epoch's mean.
    #[serde(default)]
    pub epoch_loss_sum: f64,
    /// The run ended before `epochs` because the validation error had not
    /// improved for `patience` epochs; resuming does not train on.
    #[serde(default)]
    pub stopped_early: bool,
}

pub const FORMAT: &str = "mesofield-fno-checkpoint-1";

/// The map an operator stands in for. Loops take the kinds they can use
/// and refuse the others by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// (w_A, w_B) -> (phi_A, phi_B, ln Q): the exact solver's map.
    Density,
    /// W_- -> W_+ at the partial saddle point (phi_A + phi_B = 1).
    Pressure,
    /// phi_A -> (W_-, W_+): the densities-to-fields map.
    Inverse,
    /// (noisy phi_A, noise level sigma) -> phi_A: a denoiser (`denoise`).
    Denoise,
}

impl OperatorKind {
    pub fn name(self) -> &'static str {
        match self {
            OperatorKind::Density => "density",
            OperatorKind::Pressure => "pressure",
            OperatorKind::Inverse => "inverse",
            OperatorKind::Denoise => "denoise",
        }
    }
    pub fn inputs(self) -> &'static [&'static str] {
        match self {
            OperatorKind::Density => &["w_A", "w_B"],
            OperatorKind::Pressure => &["W_-"],
            OperatorKind::Inverse => &["phi_A"],
            OperatorKind::Denoise => &["noisy phi_A", "sigma"],
        }
    }
    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            OperatorKind::Density => &["phi_A", "phi_B", "ln Q"],
            OperatorKind::Pressure => &["W_+"],
            OperatorKind::Inverse => &["W_-", "W_+"],
            OperatorKind::Denoise => &["phi_A"],
        }
    }
    pub fn gauge(self) -> &'static str {
        match self {
            OperatorKind::Density => {
                "the means of w_A and w_B are removed (they leave phi unchanged); ln Q of the zero-mean fields, the given means restored"
            }
            OperatorKind::Pressure => "the mean of W_- is removed; W_+ has mean 0",
            OperatorKind::Inverse => "W_- and W_+ have mean 0",
            OperatorKind::Denoise => "mean(phi_A) = f exactly and 0 < phi_A < 1 (phi_B = 1 - phi_A)",
        }
    }
    /// "density operator ((w_A, w_B) -> (phi_A, phi_B, ln Q))".
    pub fn describe(self) -> String {
        format!("{} operator (({}) -> ({}))", self.name(), self.inputs().join(", "), self.outputs().join(", "))
    }
}

/// `operator.json`: the kind, with its channels and gauge spelled out for
/// whoever reads the folder without mesofield.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorSpec {
    pub kind: OperatorKind,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub gauge: String,
    /// The file that holds the channels' normalisation.
    pub normalization: String,
}

impl OperatorSpec {
    pub fn of(kind: OperatorKind) -> Self {
        OperatorSpec {
            kind,
            inputs: kind.inputs().iter().map(|s| s.to_string()).collect(),
            outputs: kind.outputs().iter().map(|s| s.to_string()).collect(),
            gauge: kind.gauge().to_string(),
            normalization: match kind {
                OperatorKind::Denoise => "denoise.json",
                _ => "normalization.json",
            }
            .to_string(),
        }
    }
}

#[derive(Debug)]
pub struct CheckpointError(pub String);

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckpointError {}

pub(crate) fn err(path: &Path, what: impl std::fmt::Display) -> CheckpointError {
    CheckpointError(format!("checkpoint {}: {what}", path.display()))
}

/// `DIR/state.json`, refusing another checkpoint format.
pub(crate) fn read_state(dir: &Path) -> Result<TrainState, CheckpointError> {
    let state: TrainState = read_json(dir, "state.json")?;
    if state.format != FORMAT {
        return Err(err(dir, format!("format {:?} is not {FORMAT:?}", state.format)));
    }
    Ok(state)
}

/// A loaded checkpoint (model on the device it was loaded to).
pub struct Checkpoint {
    pub dir: PathBuf,
    pub kind: OperatorKind,
    pub config: TrainConfig,
    pub normalization: Normalization,
    pub state: TrainState,
    pub model: Fno,
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<T, CheckpointError> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| err(dir, format!("cannot read {name}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| err(dir, format!("{name} is not a mesofield FNO file: {e}")))
}

/// The kind `dir/operator.json` states (a folder without one is a density
/// operator, the only kind before the file).
pub fn folder_kind(dir: &Path) -> Result<OperatorKind, CheckpointError> {
    if !dir.is_dir() {
        return Err(err(dir, "is not a checkpoint folder"));
    }
    Ok(if dir.join("operator.json").exists() {
        read_json::<OperatorSpec>(dir, "operator.json")?.kind
    } else {
        OperatorKind::Density
    })
}

/// `dir/config.json`, with settings added after it was written at their
/// defaults (which are the behaviour from before).
pub(crate) fn read_config(dir: &Path) -> Result<TrainConfig, CheckpointError> {
    let mut config: serde_json::Value = read_json(dir, "config.json")?;
    let defaults = serde_json::to_value(TrainConfig::new(crate::FnoConfig::new())).expect("config serialises");
    fill_defaults(&mut config, &defaults);
    serde_json::from_value(config).map_err(|e| err(dir, format!("config.json is not a mesofield FNO file: {e}")))
}

/// The network `config` describes with the weights of `dir/model.bpk`.
pub(crate) fn read_weights(dir: &Path, config: &TrainConfig, device: &Device) -> Result<Fno, CheckpointError> {
    let weights = dir.join("model.bpk");
    if !weights.is_file() {
        return Err(err(dir, "model.bpk is missing"));
    }
    config
        .model
        .init(device)
        .try_load_file(&weights)
        .map_err(|e| err(dir, format!("weights do not match the model config ({e:?})")))
}

impl Checkpoint {
    /// Loads a checkpoint folder onto `device`, refusing folders whose
    /// weights do not match their config or that are not FNO checkpoints.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, CheckpointError> {
        if !dir.is_dir() {
            return Err(err(dir, "is not a checkpoint folder"));
        }
        let kind = folder_kind(dir)?;
        if kind == OperatorKind::Denoise {
            return Err(err(dir, format!("is a {}, not a fields -> densities operator", kind.describe())));
        }
        let state = read_state(dir)?;
        let config = read_config(dir)?;
        let normalization: Normalization = read_json(dir, "normalization.json")?;
        let model = read_weights(dir, &config, device)?;
        Ok(Checkpoint { dir: dir.to_path_buf(), kind, config, normalization, state, model })
    }

    /// A density operator's checkpoint for fields on an `mx` x `my` grid of
    /// its box, and that grid; `purpose` names the user in the refusal of
    /// another kind.
    pub fn load_density(
        dir: &Path,
        mx: usize,
        my: usize,
        device: &Device,
        purpose: &str,
    ) -> Result<(Self, mesofield_physics::Grid), CheckpointError> {
        let ckpt = Checkpoint::load(dir, device)?;
        ckpt.require(OperatorKind::Density, purpose)?;
        ckpt.model.check_grid(mx, my).map_err(|e| err(dir, e))?;
        let grid = mesofield_physics::Grid::for_model(&ckpt.normalization.model, mx, my)
            .map_err(|e| CheckpointError(e.to_string()))?;
        Ok((ckpt, grid))
    }

    /// Refuses a checkpoint of another kind than `kind`, naming both.
    pub fn require(&self, kind: OperatorKind, purpose: &str) -> Result<(), CheckpointError> {
        if self.kind == kind {
            return Ok(());
        }
        Err(err(&self.dir, format!("is a {}; {purpose} needs a {}", self.kind.describe(), kind.describe())))
    }

    /// The optimiser state saved beside a `last` checkpoint.
    pub fn load_optimizer(&self) -> Result<ModuleOptimizer, CheckpointError> {
        let path = self.dir.join("optim.bpk");
        optimizer(&self.config).load(&path).map_err(|e| err(&self.dir, format!("optimiser state unreadable ({e:?})")))
    }
}

pub fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let clip = (config.grad_clip_norm > 0.0)
        .then(|| burn::grad_clipping::GradientClippingConfig::Norm(config.grad_clip_norm as f32));
    AdamWConfig::new().with_weight_decay(config.weight_decay as f32).with_grad_clipping(clip).init()
}

/// Writes a density operator's checkpoint folder atomically.
pub fn save(
    dir: &Path,
    model: &Fno,
    optim: Option<&ModuleOptimizer>,
    config: &TrainConfig,
    normalization: &Normalization,
    state: &TrainState,
) -> Result<(), CheckpointError> {
    let normalization = serde_json::to_string_pretty(normalization).expect("serialises");
    let spec = OperatorSpec::of(OperatorKind::Density);
    write_folder(dir, &spec, &[("normalization.json", normalization)], model, optim, config, state)
}

/// Writes a checkpoint folder of any kind atomically (temporary folder,
/// then rename): `operator.json`, `config.json`, `state.json`, the kind's
/// own files `extra` (name, text), the weights and, given, the optimiser.
pub(crate) fn write_folder(
    dir: &Path,
    spec: &OperatorSpec,
    extra: &[(&str, String)],
    model: &Fno,
    optim: Option<&ModuleOptimizer>,
    config: &TrainConfig,
    state: &TrainState,
) -> Result<(), CheckpointError> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| err(dir, format!("cannot create {}: {e}", parent.display())))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "checkpoint".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| err(dir, format!("cannot create {}: {e}", tmp.display())))?;
    let write = |file: &str, text: &str| -> Result<(), CheckpointError> {
        std::fs::write(tmp.join(file), text).map_err(|e| err(dir, format!("cannot write {file}: {e}")))
    };
    write("operator.json", &serde_json::to_string_pretty(spec).expect("serialises"))?;
    write("config.json", &serde_json::to_string_pretty(config).expect("config serialises"))?;
    for (file, text) in extra {
        write(file, text)?;
    }
    write("state.json", &serde_json::to_string_pretty(state).expect("serialises"))?;
    model.clone().save_file(tmp.join("model.bpk")).map_err(|e| err(dir, format!("cannot save weights ({e:?})")))?;
    if let Some(optim) = optim {
        optim.save(tmp.join("optim.bpk")).map_err(|e| err(dir, format!("cannot save optimiser ({e:?})")))?;
    }
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| err(dir, format!("cannot replace: {e}")))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| err(dir, format!("cannot move into place: {e}")))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Adds the keys of `defaults` missing from `stored`, recursing into objects
/// present in both.
fn fill_defaults(stored: &mut serde_json::Value, defaults: &serde_json::Value) {
    if let (Some(stored), Some(defaults)) = (stored.as_object_mut(), defaults.as_object()) {
        for (key, value) in defaults {
            match stored.get_mut(key) {
                Some(present) => fill_defaults(present, value),
                None => {
                    stored.insert(key.clone(), value.clone());
                }
            }
        }
    }
}
