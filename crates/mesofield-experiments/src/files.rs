//! What a safetensors file mesofield wrote holds: a dataset, an `scft`
//! output, a run snapshot, `solve`/`predict` output, noisy or denoised
//! patterns. `dataset info` and `plot` read every kind.

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use mesofield_physics::dataset::{ChannelStats, Dataset, FORMAT as DATASET_FORMAT};
use mesofield_physics::io::{FieldFile, TensorData, to_safetensors, write_atomic};

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

/// Writes `solve`/`predict` output (`mesofield-solve`): fields and
/// densities `[n, 2, Mx, My]` and ln Q where the solver gives it, with the
/// model and the solver in the metadata.
pub fn write_solve(
    path: &std::path::Path,
    [n, mx, my]: [usize; 3],
    (w, phi): (&[f64], &[f64]),
    log_q: Option<&[f64]>,
    model: &mesofield_physics::ChainModel,
    solver: &str,
) -> Result<()> {
    let shape = vec![n, 2, mx, my];
    let meta = json!({"format": "mesofield-solve", "mesofield_version": env!("CARGO_PKG_VERSION"), "model": model, "solver": solver});
    let mut tensors = vec![("w", shape.clone(), TensorData::F64(w)), ("phi", shape, TensorData::F64(phi))];
    if let Some(log_q) = log_q {
        tensors.push(("log_q", vec![n], TensorData::F64(log_q)));
    }
    write_atomic(path, &to_safetensors(&tensors, &meta.to_string())?)?;
    Ok(())
}

/// Writes an SCFT saddle point (`mesofield-scft`): w, phi `[1, 2, Mx, My]`,
/// ln Q and dF, with the model, chi and whether it converged.
pub fn write_scft(
    path: &std::path::Path,
    outcome: &mesofield_physics::scft::ScftOutcome,
    model: &mesofield_physics::ChainModel,
    chi: f64,
    grid: &mesofield_physics::Grid,
) -> Result<()> {
    let shape = vec![1, 2, grid.mx, grid.my];
    let meta = json!({"format": "mesofield-scft", "mesofield_version": env!("CARGO_PKG_VERSION"), "model": model, "chi": chi,
                      "converged": outcome.converged, "residual": outcome.residual});
    let bytes = to_safetensors(
        &[
            ("w", shape.clone(), TensorData::F64(&outcome.w)),
            ("phi", shape, TensorData::F64(&outcome.phi)),
            ("log_q", vec![1], TensorData::F64(&[outcome.log_q])),
            ("dF", vec![1], TensorData::F64(&[outcome.d_f])),
        ],
        &meta.to_string(),
    )?;
    write_atomic(path, &bytes)?;
    Ok(())
}

/// The pattern files: noisy patterns and recovered ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternFile {
    Noisy,
    Denoised,
}

/// Writes patterns phi_A `[n, Mx, My]` (and, for recoveries, their fields
/// `[n, 2, Mx, My]`) as `mesofield-noisy` or `mesofield-denoised`, with
/// `provenance` in the metadata. A `model` of null (patterns from a file
/// another program wrote) is left out, so the file reads back.
pub fn write_patterns(
    path: &std::path::Path,
    kind: PatternFile,
    [n, mx, my]: [usize; 3],
    phi_a: &[f64],
    w: Option<&[f64]>,
    provenance: Value,
) -> Result<()> {
    let mut meta = match provenance {
        Value::Object(map) => map,
        other => bail!("pattern file metadata must be an object, got {other}"),
    };
    if meta.get("model").is_some_and(Value::is_null) {
        meta.remove("model");
    }
    let format = match kind {
        PatternFile::Noisy => "mesofield-noisy",
        PatternFile::Denoised => "mesofield-denoised",
    };
    meta.insert("format".into(), json!(format));
    let mut tensors = vec![("phi_a", vec![n, mx, my], TensorData::F64(phi_a))];
    if let Some(w) = w {
        tensors.push(("w", vec![n, 2, mx, my], TensorData::F64(w)));
    }
    write_atomic(path, &to_safetensors(&tensors, &Value::Object(meta).to_string())?)?;
    Ok(())
}
