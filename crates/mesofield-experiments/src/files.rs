//! What a safetensors file mesofield wrote holds: a dataset, an `scft`
//! output, a run snapshot, `solve`/`predict` output, noisy or denoised
//! patterns. `dataset info` and `plot` read every kind.

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use mesofield_physics::dataset::{ChannelStats, Dataset, FORMAT as DATASET_FORMAT};
use mesofield_physics::io::FieldFile;

/// The metadata formats mesofield writes, with what each file is.
pub const KINDS: [(&str, &str); 7] = [
    (DATASET_FORMAT, "dataset of exact (w, phi) pairs"),
    ("mesofield-scft", "SCFT saddle point (scft --output)"),
    ("mesofield-lfts", "L-FTS snapshot (a sample run folder)"),
    ("mesofield-dynamics", "dynamics snapshot (a dynamics run folder)"),
    ("mesofield-solve", "fields and densities (solve or predict output)"),
    ("mesofield-noisy", "noisy patterns (noise output)"),
    ("mesofield-denoised", "recovered patterns (denoise, rbm denoise or fig4 output)"),
];

/// One tensor: its shape and, per channel of a `[n, 2, Mx, My]` field
/// (else over all values), min, max, mean and standard deviation.
#[derive(Clone, Debug, Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub channels: Vec<ChannelStats>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    pub format: String,
    pub kind: String,
    pub tensors: Vec<TensorInfo>,
    /// The file's metadata without the model (printed apart).
    pub metadata: Value,
    pub model: Option<Value>,
}

/// The format and kind of a mesofield file, refusing foreign ones.
pub fn kind_of(file: &FieldFile) -> Result<(String, &'static str)> {
    let path = file.path.display();
    let Some(meta) = file.metadata()? else {
        bail!("{path}: no mesofield metadata: not a mesofield file (tensors {:?})", file.names());
    };
    let format = meta.get("format").and_then(Value::as_str).unwrap_or("none").to_string();
    match KINDS.iter().find(|(f, _)| *f == format) {
        Some((_, kind)) => Ok((format, kind)),
        None => bail!("{path}: metadata format {format:?} is not one mesofield writes: not a mesofield file"),
    }
}

/// Describes an open file of any kind mesofield writes (a dataset in full
/// through `Dataset`).
pub fn describe(file: &FieldFile) -> Result<FileInfo> {
    let (format, kind) = kind_of(file)?;
    if format == DATASET_FORMAT {
        // Validates the whole dataset, as it did before other kinds were read.
        Dataset::load(&file.path)?;
    }
    let mut metadata = file.metadata()?.unwrap_or(json!({}));
    let model = metadata.as_object_mut().and_then(|m| m.remove("model"));
    let mut tensors = Vec::new();
    for name in file.names() {
        let shape = file.shape(&name)?;
        let channels = match file.f64_tensor(&name) {
            Ok((_, data)) => channel_stats(&shape, &data),
            // Integer tensors of a dataset (family, run, step) have no float statistics.
            Err(_) => Vec::new(),
        };
        tensors.push(TensorInfo { name, shape, channels });
    }
    Ok(FileInfo { format, kind: kind.to_string(), tensors, metadata, model })
}

fn channel_stats(shape: &[usize], data: &[f64]) -> Vec<ChannelStats> {
    match shape {
        [_, 2, mx, my] => (0..2).map(|c| ChannelStats::of_channel(data, mx * my, c)).collect(),
        _ => vec![ChannelStats::of(data.iter().copied())],
    }
}
