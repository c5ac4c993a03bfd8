//! The RBM baselines (Fig. 2): one per training-set size, and with
//! translations when the spec asks, saved under `checkpoints/NAME/rbmSIZE`.

use std::path::Path;

use anyhow::{Result, anyhow};

use mesofield_inference::rbm::{RbmConfig, TrainedRbm, train_rbm};
use mesofield_physics::Grid;

use super::Fig4Spec;
use super::pool::Pool;
use crate::progress::Reporter;
use crate::solvers::Backend;

pub struct NamedRbm {
    pub label: String,
    pub translate: bool,
    pub rbm: TrainedRbm,
}

pub fn train_rbms(spec: &Fig4Spec, pool: &Pool, grid: Grid, dir: &Path, reporter: &Reporter) -> Result<Vec<NamedRbm>> {
    let samples = pool.baseline_samples(spec);
    let device = Backend::Cpu.device()?;
    let mut rbms = Vec::new();
    for &size in &spec.rbm_sizes {
        if size > samples.len() {
            reporter.note(&format!("RBM-{size}: the pool holds only {} patterns, skipped", samples.len()));
            continue;
        }
        let train: Vec<f64> = samples[..size].iter().flat_map(|&i| pool.phi_a(i).to_vec()).collect();
        for translate in if spec.rbm_translate { vec![false, true] } else { vec![false] } {
            let config = RbmConfig::new()
                .with_hidden(spec.rbm_hidden)
                .with_updates(spec.rbm_updates)
                .with_learning_rate(spec.rbm_learning_rate)
                .with_translate(translate)
                .with_seed(spec.seed);
            let label = if translate { format!("RBM-{size}, translations") } else { format!("RBM-{size}") };
            let stage = reporter.stage(spec.rbm_updates as u64, &format!("train {label}"));
            let rbm = train_rbm(&train, grid.mx, grid.my, &config, &device, &mut |u| stage.set_position(u as u64))
                .map_err(|e| anyhow!(e))?;
            stage.finish();
            rbm.save(&dir.join(format!("rbm{size}{}", if translate { "-translate" } else { "" })))
                .map_err(|e| anyhow!(e))?;
            rbms.push(NamedRbm { label, translate, rbm });
        }
    }
    Ok(rbms)
}
