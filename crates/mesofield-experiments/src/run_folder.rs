//! The run folder that `sample` (L-FTS) and `dynamics` write, one layout for
//! both: `snap_STEP.safetensors` and `.png` every few steps,
//! `last.safetensors` (the state to resume from: `w`, `phi`, the step and
//! the run's settings under `run` in its metadata), `trace.jsonl` (one JSON
//! record per recorded step, appended as the run goes) and `summary.json`.
//! A resumed run checks that its settings match the folder's, drops the
//! trace records past the last snapshot (they are recomputed) and appends.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use mesofield_physics::io::{FieldFile, TensorData, to_safetensors, write_atomic};

/// A trace record knows its step.
pub trait Record: Serialize + DeserializeOwned {
    fn step(&self) -> usize;
}

pub struct RunFolder {
    pub dir: PathBuf,
}

impl RunFolder {
    pub fn new(dir: impl Into<PathBuf>) -> RunFolder {
        RunFolder { dir: dir.into() }
    }

    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))
    }

    pub fn last(&self) -> PathBuf {
        self.dir.join("last.safetensors")
    }

    pub fn snapshot(&self, step: usize) -> PathBuf {
        self.dir.join(format!("snap_{step:06}.safetensors"))
    }

    pub fn trace_path(&self) -> PathBuf {
        self.dir.join("trace.jsonl")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The last snapshot of a run to resume, with its metadata, after
    /// checking that `settings[key]` equals the run's for every key.
    pub fn resume_point(&self, settings: &Value, keys: &[&str]) -> Result<(FieldFile, Value)> {
        let last = self.last();
        if !last.exists() {
            bail!("--resume: {} does not exist", last.display());
        }
        let file = FieldFile::open(&last)?;
        let meta = file.metadata()?.context("last.safetensors has no metadata")?;
        for key in keys {
            if meta["run"][key] != settings[key] {
                bail!(
                    "--resume: the run in {} has {key} = {}, not {}",
                    self.dir.display(),
                    meta["run"][key],
                    settings[key]
                );
            }
        }
        Ok((file, meta))
    }

    /// The trace records up to `upto` (all of them for None, none for a
    /// fresh run: pass `Some(0)` and an empty folder), rewritten to
    /// `trace.jsonl`, and a writer that appends to it.
    pub fn open_trace<T: Record>(&self, keep_upto: Option<usize>) -> Result<(Vec<T>, TraceWriter)> {
        let path = self.trace_path();
        let mut kept: Vec<T> = Vec::new();
        if let (Some(step), true) = (keep_upto, path.exists()) {
            for line in std::fs::read_to_string(&path)?.lines() {
                let record: T = serde_json::from_str(line).with_context(|| format!("{}", path.display()))?;
                if record.step() <= step {
                    kept.push(record);
                }
            }
        }
        let mut text = String::new();
        for r in &kept {
            text.push_str(&serde_json::to_string(r)?);
            text.push('\n');
        }
        write_atomic(&path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(&path)?;
        Ok((kept, TraceWriter { file }))
    }

    /// Writes a state (`w`, `phi` and further tensors) to `path` with
    /// `meta` as its metadata.
    pub fn save_state(&self, path: &Path, tensors: &[(&str, Vec<usize>, TensorData<'_>)], meta: &Value) -> Result<()> {
        write_atomic(path, &to_safetensors(tensors, &meta.to_string())?)?;
        Ok(())
    }

    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<()> {
        write_atomic(&self.file(name), serde_json::to_string_pretty(value)?.as_bytes())?;
        Ok(())
    }

    /// Reads a JSON file this folder holds (a finished run's summary).
    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
    }
}

/// Appends records to a run's `trace.jsonl`.
pub struct TraceWriter {
    file: File,
}

impl TraceWriter {
    pub fn append<T: Record>(&mut self, record: &T) -> Result<()> {
        writeln!(self.file, "{}", serde_json::to_string(record)?)?;
        Ok(())
    }
}
