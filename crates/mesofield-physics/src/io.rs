//! Reading and writing field files (safetensors) with atomic replacement.
//!
//! Every file mesofield writes goes to a temporary file beside the target and
//! is renamed over it, so an interrupted job never leaves a truncated file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};

/// The one metadata key mesofield writes (a single key keeps the header
/// byte-identical between runs; safetensors stores metadata in a hash map).
pub const METADATA_KEY: &str = "mesofield";

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io(format!("cannot create directory {}: {e}", dir.display())))?;
    }
    let name = path.file_name().ok_or_else(|| Error::Io(format!("{} is not a file path", path.display())))?;
    let tmp: PathBuf = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io(format!("cannot write {}: {e}", tmp.display()))
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io(format!("cannot move {} to {}: {e}", tmp.display(), path.display()))
    })
}

/// A tensor to write: float64, float32, int64 or uint8 data with its shape.
pub enum TensorData<'a> {
    F64(&'a [f64]),
    F32(&'a [f32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
}

/// Serialises named tensors and a JSON metadata string to safetensors bytes.
pub fn to_safetensors(tensors: &[(&str, Vec<usize>, TensorData<'_>)], metadata: &str) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let (dtype, raw) = match data {
                TensorData::F64(v) => (Dtype::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                TensorData::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                TensorData::I64(v) => (Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                TensorData::U8(v) => (Dtype::U8, v.to_vec()),
            };
            (name.to_string(), dtype, shape.clone(), raw)
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, dtype, shape, raw) in &bytes {
        let view = TensorView::new(*dtype, shape.clone(), raw).map_err(|e| Error::Io(format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let meta = HashMap::from([(METADATA_KEY.to_string(), metadata.to_string())]);
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::Io(format!("cannot serialise safetensors: {e}")))
}

/// A safetensors file read into memory, tensors converted to float64.
pub struct FieldFile {
    pub path: PathBuf,
    bytes: Vec<u8>,
}

impl FieldFile {
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
        SafeTensors::deserialize(&bytes).map_err(|e| {
            Error::Dataset(format!("{} is not a valid safetensors file (truncated or foreign?): {e}", path.display()))
        })?;
        Ok(FieldFile { path: path.to_path_buf(), bytes })
    }

    fn parsed(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("validated in open")
    }

    /// The mesofield metadata JSON, if present and parseable.
    pub fn metadata(&self) -> Result<Option<serde_json::Value>> {
        let (_, meta) = SafeTensors::read_metadata(&self.bytes).expect("validated in open");
        let Some(map) = meta.metadata() else { return Ok(None) };
        let Some(text) = map.get(METADATA_KEY) else { return Ok(None) };
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| Error::Dataset(format!("{}: metadata is not valid JSON: {e}", self.path.display())))
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.parsed().names().into_iter().map(str::to_string).collect();
        names.sort();
        names
    }

    pub fn has(&self, name: &str) -> bool {
        self.parsed().tensor(name).is_ok()
    }

    pub fn shape(&self, name: &str) -> Result<Vec<usize>> {
        let parsed = self.parsed();
        let view = parsed
            .tensor(name)
            .map_err(|_| Error::Dataset(format!("{} has no tensor {name:?}", self.path.display())))?;
        Ok(view.shape().to_vec())
    }

    /// A tensor as float64 (F64, F32, integer types converted) with its shape.
    pub fn f64_tensor(&self, name: &str) -> Result<(Vec<usize>, Vec<f64>)> {
        let parsed = self.parsed();
        let view = parsed
            .tensor(name)
            .map_err(|_| Error::Dataset(format!("{} has no tensor {name:?}", self.path.display())))?;
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            Dtype::F64 => data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            Dtype::I64 => data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            Dtype::I32 => data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
            Dtype::U8 => data.iter().map(|&v| v as f64).collect(),
            other => {
                return Err(Error::Dataset(format!(
                    "{}: tensor {name:?} has unsupported dtype {other:?}",
                    self.path.display()
                )));
            }
        };
        Ok((view.shape().to_vec(), values))
    }

    /// `w`-like tensor `[n, 2, Mx, My]`: returns (n, Mx, My, data).
    pub fn fields(&self, name: &str) -> Result<(usize, usize, usize, Vec<f64>)> {
        let (shape, data) = self.f64_tensor(name)?;
        match shape.as_slice() {
            &[n, 2, mx, my] if n > 0 && mx >= 2 && my >= 2 => Ok((n, mx, my, data)),
            _ => Err(Error::Shape(format!(
                "{}: tensor {name:?} has shape {shape:?}, expected [n, 2, Mx, My] with n >= 1 and Mx, My >= 2 \
                 (channel 0 = A, 1 = B)",
                self.path.display()
            ))),
        }
    }
}
