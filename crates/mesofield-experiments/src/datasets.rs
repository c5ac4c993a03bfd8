//! Datasets a pipeline needs, generated once and reused while their
//! settings stay the same.

use std::path::Path;

use anyhow::Result;

use mesofield_physics::ChainModel;
use mesofield_physics::dataset::{Dataset, GeneratorConfig};

use crate::progress::Reporter;

/// Loads `path` if it holds the dataset `config` describes for `model`,
/// else generates it there.
pub fn load_or_generate(
    path: &Path,
    model: &ChainModel,
    config: &GeneratorConfig,
    what: &str,
    reporter: &Reporter,
) -> Result<Dataset> {
    if path.exists() {
        let d = Dataset::load(path)?;
        if d.meta.generator.as_ref() == Some(config) && &d.meta.model == model {
            return Ok(d);
        }
        reporter.note(&format!("{} was made with other settings: regenerating", path.display()));
    }
    let stage = reporter.stage(config.units() as u64, &format!("generate {what}"));
    let d = mesofield_physics::dataset::generate(model, config, None, &|n| stage.set_position(n as u64))?;
    stage.finish();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    d.save(path)?;
    reporter.note(&format!("{what}: {} samples -> {}", d.len(), path.display()));
    Ok(d)
}
