//! Experiment files: TOML with a `[default]` and a `[quick]` table of the
//! same typed spec, chosen by `--quick`.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// An experiment file's two tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Variants<T> {
    default: T,
    quick: T,
}

/// The `[default]` or `[quick]` table of the experiment file at `path`.
pub fn load_spec<T: DeserializeOwned>(path: &Path, quick: bool) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_spec(&text, quick).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// `load_spec` on the text of an experiment file.
pub fn parse_spec<T: DeserializeOwned>(text: &str, quick: bool) -> Result<T> {
    let file: Variants<T> = toml::from_str(text).map_err(|e| anyhow!("{}", e.to_string().replace('\n', " ")))?;
    Ok(if quick { file.quick } else { file.default })
}

/// Where a pipeline reads and writes, relative to the project root:
/// `datasets/NAME`, `checkpoints/NAME`, `experiments/NAME`.
#[derive(Clone, Debug)]
pub struct Workspace {
    pub root: std::path::PathBuf,
}

impl Workspace {
    pub fn new(root: impl Into<std::path::PathBuf>) -> Workspace {
        Workspace { root: root.into() }
    }
    /// The current directory (what the CLI runs in).
    pub fn current() -> Workspace {
        Workspace::new("")
    }
    pub fn datasets(&self, name: &str) -> std::path::PathBuf {
        self.root.join("datasets").join(name)
    }
    pub fn checkpoints(&self, name: &str) -> std::path::PathBuf {
        self.root.join("checkpoints").join(name)
    }
    pub fn experiments(&self, name: &str) -> std::path::PathBuf {
        self.root.join("experiments").join(name)
    }
    /// A path given relative to the project root (an operator in a spec).
    pub fn path(&self, relative: &str) -> std::path::PathBuf {
        let p = Path::new(relative);
        if p.is_absolute() { p.to_path_buf() } else { self.root.join(p) }
    }
}
