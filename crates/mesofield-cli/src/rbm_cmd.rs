//! `mesofield rbm train|denoise`: the data-driven baseline of Fig. 2.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use serde_json::json;

use mesofield_inference::contrast_relative_error;
use mesofield_inference::rbm::{RbmConfig, TrainedRbm, train_rbm};
use mesofield_physics::io::{TensorData, to_safetensors, write_atomic};

use crate::observe::{load_many, load_patterns};

#[derive(Subcommand)]
pub enum RbmCommand {
    /// Train a Gaussian-Bernoulli RBM on clean patterns (persistent contrastive divergence).
    Train(RbmTrainArgs),
    /// Reconstruct noisy patterns through a trained RBM's hidden layer.
    Denoise(RbmDenoiseArgs),
}

#[derive(Args)]
pub struct RbmTrainArgs {
    /// Clean patterns (.safetensors, .npy or grayscale .png); several files are pooled.
    #[arg(long, num_args = 1.., required = true)]
    pub samples: Vec<PathBuf>,
    /// Checkpoint folder: rbm.bpk (weights) and rbm.json (sizes, standardisation, config).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    #[arg(long, default_value_t = 3000)]
    pub updates: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1)]
    pub gibbs_steps: usize,
    /// Show each update every pattern under a random periodic translation.
    #[arg(long)]
    pub translate: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RbmDenoiseArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub input: PathBuf,
    /// Output safetensors: `phi_a` [n, Mx, My].
    #[arg(long)]
    pub out: PathBuf,
    /// The clean originals, to report the contrast-relative error.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_rbm(command: &RbmCommand) -> Result<()> {
    match command {
        RbmCommand::Train(a) => cmd_train(a),
        RbmCommand::Denoise(a) => cmd_denoise(a),
    }
}

fn cmd_train(a: &RbmTrainArgs) -> Result<()> {
    let patterns = load_many(&a.samples, crate::parse_range(&a.phi_range, "--phi-range")?, true)?;
    let config = RbmConfig::new()
        .with_hidden(a.hidden)
        .with_updates(a.updates)
        .with_learning_rate(a.lr)
        .with_gibbs_steps(a.gibbs_steps)
        .with_translate(a.translate)
        .with_seed(a.seed);
    let device = crate::operator_cmds::device("cpu")?;
    let bar = crate::progress_bar(a.updates as u64, "RBM updates");
    let started = std::time::Instant::now();
    let rbm =
        train_rbm(&patterns.phi_a, patterns.mx, patterns.my, &config, &device, &mut |u| bar.set_position(u as u64))
            .map_err(|e| anyhow!(e))?;
    bar.finish_and_clear();
    rbm.save(&a.out).map_err(|e| anyhow!(e))?;
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        crate::print_json(
            &json!({"out": a.out, "samples": patterns.n, "grid": [patterns.mx, patterns.my], "seconds": seconds}),
        );
    } else {
        println!(
            "RBM on {} patterns ({}x{}), {} updates in {seconds:.1} s -> {}",
            patterns.n,
            patterns.mx,
            patterns.my,
            a.updates,
            a.out.display()
        );
    }
    Ok(())
}

fn cmd_denoise(a: &RbmDenoiseArgs) -> Result<()> {
    let device = crate::operator_cmds::device("cpu")?;
    let rbm = TrainedRbm::load(&a.checkpoint, &device).map_err(|e| anyhow!(e))?;
    let range = crate::parse_range(&a.phi_range, "--phi-range")?;
    let noisy = load_patterns(&a.input, range, false)?;
    noisy.expect_grid(rbm.meta.mx, rbm.meta.my, &format!("--input {}", a.input.display()))?;
    let rec = rbm.reconstruct(&noisy.phi_a);
    let errors = match &a.truth {
        Some(path) => {
            let t = noisy.load_truth(path, range)?;
            let m = noisy.points();
            Some(
                (0..noisy.n)
                    .map(|s| contrast_relative_error(&rec[s * m..(s + 1) * m], t.sample(s)))
                    .collect::<Vec<_>>(),
            )
        }
        None => None,
    };
    let meta = json!({"format": "mesofield-denoised", "method": "rbm", "checkpoint": a.checkpoint, "input": a.input});
    let bytes =
        to_safetensors(&[("phi_a", vec![noisy.n, noisy.mx, noisy.my], TensorData::F64(&rec))], &meta.to_string())?;
    write_atomic(&a.out, &bytes)?;
    if a.json {
        crate::print_json(&json!({"out": a.out, "samples": noisy.n, "error": errors}));
    } else {
        println!(
            "{} patterns reconstructed -> {}{}",
            noisy.n,
            a.out.display(),
            match &errors {
                Some(e) => format!(" (contrast-relative errors {e:.4?})"),
                None => String::new(),
            }
        );
    }
    Ok(())
}
