//! Commands on observed patterns: `noise` (the same noisy inputs for every
//! method), `infer-chi` (the inverse map, then chi from the exchange-field
//! condition), `denoise` (action minimisation, or a denoise operator) and the RBM baseline
//! (`rbm train|denoise`).

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use mesofield_experiments::denoiser::denoise_with_operator;
use mesofield_experiments::files::{PatternFile, write_patterns};
use mesofield_experiments::observed::{
    DenoiseSpec, chi_from_samples, denoise_patterns, draw_recoveries, infer_chi as infer_chi_from,
};
use mesofield_experiments::patterns::{Patterns, load_many, load_patterns};
use mesofield_experiments::roles::{SolverSource, checkpoint_kind};
use mesofield_experiments::solvers::{Backend, SolverChoice};
use mesofield_inference::contrast_relative_error;
use mesofield_inference::gbrbm::{Connectivity, GbRbmConfig, Negatives, NoiseLevel, TrainedGbRbm, train_gbrbm};
use mesofield_inference::noise::add_noise;
use mesofield_physics::chi::ChiEstimator;
use mesofield_physics::fts::Integrator;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::{ChainModel, Grid};

use super::{Common, SolverArgs, parse_range, print_json, reporter};

#[derive(Args)]
pub struct NoiseArgs {
    /// Clean patterns (.safetensors, .npy or grayscale .png).
    #[arg(long)]
    pub input: PathBuf,
    /// Gaussian noise of SIGMA times each clean pattern's standard deviation.
    #[arg(long, allow_negative_numbers = true)]
    pub sigma: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of grid points set to the pattern's minimum or maximum (salt and pepper).
    #[arg(long, default_value_t = 0.0)]
    pub salt_pepper: f64,
    /// phi_A of a PNG's black and white, LO,HI.
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
    /// Output safetensors: `phi_a` [n, Mx, My] (float64).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn noise(a: &NoiseArgs) -> Result<()> {
    if !(a.sigma.is_finite() && a.sigma >= 0.0) {
        bail!("--sigma must be finite and >= 0, got {}", a.sigma);
    }
    if !(0.0..=1.0).contains(&a.salt_pepper) {
        bail!("--salt-pepper must be a fraction in [0, 1], got {}", a.salt_pepper);
    }
    let clean = load_patterns(&a.input, parse_range(&a.phi_range, "--phi-range")?, true)?;
    let mut noisy = Vec::with_capacity(clean.phi_a.len());
    let mut sigma_abs = Vec::with_capacity(clean.n);
    for s in 0..clean.n {
        // One stream per sample: sample s gets the same noise whatever n is.
        let (y, amplitude) = add_noise(clean.sample(s), a.sigma, a.salt_pepper, &mut StreamRng::new(a.seed, s as u64));
        noisy.extend(y);
        sigma_abs.push(amplitude);
    }
    let meta = json!({"source": a.input, "sigma": a.sigma, "sigma_abs": sigma_abs,
                      "salt_pepper": a.salt_pepper, "seed": a.seed, "model": clean.model});
    write_patterns(&a.out, PatternFile::Noisy, [clean.n, clean.mx, clean.my], &noisy, None, meta)?;
    if a.json {
        print_json(&json!({"out": a.out, "samples": clean.n, "grid": [clean.mx, clean.my], "sigma_abs": sigma_abs}));
    } else {
        println!("{} noisy patterns ({}x{}) -> {}", clean.n, clean.mx, clean.my, a.out.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct InferChiArgs {
    /// Clean patterns (.safetensors, .npy or grayscale .png); several files are pooled.
    #[arg(long, num_args = 1.., required = true)]
    pub samples: Vec<PathBuf>,
    /// Model file (TOML); default: the samples' metadata, else the paper's system.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// exact | operator:CHECKPOINT (the operator inverts first, the exact solver polishes).
    #[command(flatten)]
    pub solvers: SolverArgs,
    /// Beads per grid cell of the L-FTS ensemble the samples come from: adds
    /// the equipartition estimator (unbiased on fluctuating samples) and makes it the answer.
    #[arg(long)]
    pub beads_per_cell: Option<f64>,
    /// The L-FTS step size lambda the samples were drawn with: the
    /// equipartition estimator is then exact for that discrete sampler (0: the
    /// continuum limit, biased by about lambda / chi).
    #[arg(long, default_value_t = 0.0, requires = "beads_per_cell")]
    pub step_size: f64,
    /// em | lm: the integrator the samples were drawn with (`sample --integrator`).
    #[arg(long, default_value_t = Integrator::default())]
    pub integrator: Integrator,
    /// Tolerance of the inverse map, max |phi(w) - pattern|.
    #[arg(long, default_value_t = 1e-10)]
    pub tol: f64,
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
    #[command(flatten)]
    pub common: Common,
}

pub fn infer_chi(a: &InferChiArgs) -> Result<()> {
    let patterns = load_many(&a.samples, parse_range(&a.phi_range, "--phi-range")?, true)?;
    let model = patterns.chain_model(a.model.as_deref())?;
    let n = patterns.n;
    let source = a.solvers.source();
    let step = (a.step_size, a.integrator);
    let found = infer_chi_from(patterns, &model, a.beads_per_cell, step, &source, a.tol, &reporter())?;
    if a.common.json {
        print_json(&found.report(&source.label()));
    } else {
        let answer = found.answer();
        println!(
            "chi = {:.6} +- {:.6} ({} estimator, {n} samples, {:.2} s)",
            answer.chi,
            answer.std_error,
            match answer.estimator {
                ChiEstimator::Saddle => "saddle",
                ChiEstimator::Equipartition { .. } => "equipartition",
            },
            found.seconds
        );
        if found.equipartition.is_some() {
            println!("saddle estimator: {:.6} +- {:.6}", found.saddle.chi, found.saddle.std_error);
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct DenoiseArgs {
    /// Noisy observations (.safetensors `phi_a`/`phi`, .npy or grayscale .png).
    #[arg(long)]
    pub input: PathBuf,
    /// The interaction, if known (else --samples; neither with a denoise operator).
    #[arg(long, conflicts_with = "samples")]
    pub chi: Option<f64>,
    /// Clean samples to infer chi from (the equipartition estimator at --beads-per-cell); several files are pooled.
    #[arg(long, num_args = 1..)]
    pub samples: Vec<PathBuf>,
    /// B, beads per grid cell of the ensemble: the weight of the action against the data.
    #[arg(long, default_value_t = 100.0)]
    pub beads_per_cell: f64,
    /// The L-FTS step size the --samples were drawn with (0: the continuum limit).
    #[arg(long, default_value_t = 0.0, requires = "samples")]
    pub step_size: f64,
    /// em | lm: the integrator the --samples were drawn with.
    #[arg(long, default_value_t = Integrator::default())]
    pub integrator: Integrator,
    /// Noise standard deviation (phi units); default: estimated from each noisy pattern.
    #[arg(long)]
    pub sigma: Option<f64>,
    /// 1: the posterior (action + data); 0: plain SCF relaxation from the noisy start.
    #[arg(long, default_value_t = 1.0)]
    pub data_weight: f64,
    /// Also run the relaxation without data (data weight 0) and report both.
    #[arg(long)]
    pub compare_relaxation: bool,
    #[arg(long, default_value_t = 500)]
    pub max_iterations: usize,
    /// With a denoise operator: then minimise the action with the exact solver from the operator's
    /// output (chi and B from the checkpoint where it states them, else --chi and --beads-per-cell).
    #[arg(long)]
    pub polish: bool,
    /// exact | operator:CHECKPOINT: a density operator for the W_+ loops and the data term's
    /// gradient, or a denoise operator (`train-denoiser`), one batched call in place of the minimisation.
    #[command(flatten)]
    pub solvers: SolverArgs,
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The clean originals, to report each method's contrast-relative error.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// phi_A of a PNG's black and white, LO,HI.
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
    /// Output safetensors: `phi_a` [n, Mx, My] (the recoveries) and `w` [n, 2, Mx, My]; a PNG beside it.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: Common,
}

pub fn denoise(a: &DenoiseArgs) -> Result<()> {
    let phi_range = parse_range(&a.phi_range, "--phi-range")?;
    let noisy = load_patterns(&a.input, phi_range, false)?;
    let model = noisy.chain_model(a.model.as_deref())?;
    // A grid the model cannot take is refused before any chi is inferred.
    Grid::for_model(&model, noisy.mx, noisy.my)?;
    let truth = a.truth.as_deref().map(|path| noisy.load_truth(path, phi_range)).transpose()?;
    if let SolverChoice::Operator(dir) = &a.solvers.solver {
        if checkpoint_kind(dir)? == "denoise" {
            return denoise_by_operator(a, &noisy, &model, dir, truth.as_ref());
        }
    }
    if a.chi.is_none() && a.samples.is_empty() {
        bail!("denoise needs --chi or --samples (or --solver operator:DIR of a denoise operator)");
    }
    let inferred = if a.samples.is_empty() {
        None
    } else {
        let clean = load_many(&a.samples, phi_range, true)?;
        Some(chi_from_samples(
            clean,
            &model,
            a.beads_per_cell,
            (a.step_size, a.integrator),
            &a.solvers.source(),
            &reporter(),
        )?)
    };
    let chi = a.chi.or(inferred.as_ref().map(|e| e.chi)).expect("--chi or --samples, checked above");
    let spec = DenoiseSpec {
        chi,
        beads_per_cell: a.beads_per_cell,
        sigma: a.sigma,
        data_weight: a.data_weight,
        max_iterations: a.max_iterations,
        compare_relaxation: a.compare_relaxation,
        starts: None,
    };
    let done = denoise_patterns(&noisy, truth.as_ref(), &model, &spec, &a.solvers.source(), &reporter())?;
    let meta = json!({"model": model, "chi": chi, "beads_per_cell": a.beads_per_cell,
                      "solver": a.solvers.solver.to_string(), "input": a.input});
    let dims = [noisy.n, noisy.mx, noisy.my];
    write_patterns(&a.out, PatternFile::Denoised, dims, &done.recovered, Some(&done.fields), meta)?;
    draw_recoveries(&noisy, &done.recovered, truth.as_ref(), &a.out.with_extension("png"))?;
    let report = json!({"chi": chi, "chi_inferred": inferred, "beads_per_cell": a.beads_per_cell, "solver": a.solvers.solver.to_string(),
                        "gradient": done.gradient, "samples": done.patterns, "out": a.out});
    if a.common.json {
        print_json(&report);
    } else {
        for (s, r) in done.patterns.iter().enumerate() {
            let rec = &r.recovery;
            println!(
                "pattern {s}: {} iterations, action {:.4}, data misfit {:.4}, {} exact solves, {:.2} s{}",
                rec.iterations,
                rec.action,
                rec.data_misfit,
                rec.cost.exact_solves,
                rec.seconds,
                match &r.error {
                    Some(e) => format!(", error {:.4} (noisy {:.4})", e.recovery, e.noisy),
                    None => String::new(),
                }
            );
        }
        println!("chi {chi:.5} -> {}", a.out.display());
    }
    Ok(())
}

/// `denoise` with a denoise operator: one batched call for the file.
fn denoise_by_operator(
    a: &DenoiseArgs,
    noisy: &Patterns,
    model: &ChainModel,
    dir: &Path,
    truth: Option<&Patterns>,
) -> Result<()> {
    let done = denoise_with_operator(noisy, model, dir, a.sigma, truth)?;
    if a.polish {
        return polish(a, noisy, model, done, truth);
    }
    let meta = json!({"model": model, "solver": a.solvers.solver.to_string(), "input": a.input});
    let dims = [noisy.n, noisy.mx, noisy.my];
    write_patterns(&a.out, PatternFile::Denoised, dims, &done.recovered, None, meta)?;
    draw_recoveries(noisy, &done.recovered, truth, &a.out.with_extension("png"))?;
    let report = json!({"solver": a.solvers.solver.to_string(), "samples": done.patterns,
                        "seconds": done.seconds, "out": a.out});
    if a.common.json {
        print_json(&report);
    } else {
        for (s, r) in done.patterns.iter().enumerate() {
            let error = match (r.error, r.noisy_error) {
                (Some(e), Some(n)) => format!(", error {e:.4} (noisy {n:.4})"),
                _ => String::new(),
            };
            println!("pattern {s}: sigma {:.4}{error}", r.sigma);
        }
        println!("{} patterns in {:.3} s -> {}", noisy.n, done.seconds, a.out.display());
    }
    Ok(())
}

/// `denoise --solver operator:DIR --polish`: action minimisation with the
/// exact solver from each of the operator's recoveries.
fn polish(
    a: &DenoiseArgs,
    noisy: &Patterns,
    model: &ChainModel,
    done: mesofield_experiments::denoiser::OperatorDenoised,
    truth: Option<&Patterns>,
) -> Result<()> {
    let Some(chi) = a.chi.or(done.spec.chi) else {
        bail!("--polish: the checkpoint states no chi (trained on observed patterns only); give --chi");
    };
    let beads_per_cell = done.spec.beads_per_cell.unwrap_or(a.beads_per_cell);
    let spec = DenoiseSpec {
        chi,
        beads_per_cell,
        sigma: a.sigma,
        data_weight: a.data_weight,
        max_iterations: a.max_iterations,
        compare_relaxation: false,
        starts: Some(done.recovered.clone()),
    };
    let exact = mesofield_experiments::roles::Resolved { choice: SolverChoice::Exact, backend: Backend::Cpu };
    let polished = denoise_patterns(noisy, truth, model, &spec, &exact, &reporter())?;
    let meta = json!({"model": model, "chi": chi, "beads_per_cell": beads_per_cell,
                      "solver": format!("{} + exact polish", a.solvers.solver), "input": a.input});
    let dims = [noisy.n, noisy.mx, noisy.my];
    write_patterns(&a.out, PatternFile::Denoised, dims, &polished.recovered, Some(&polished.fields), meta)?;
    draw_recoveries(noisy, &polished.recovered, truth, &a.out.with_extension("png"))?;
    let report = json!({"solver": a.solvers.solver.to_string(), "chi": chi, "beads_per_cell": beads_per_cell,
                        "operator": {"samples": done.patterns, "seconds": done.seconds},
                        "polish": polished.patterns, "out": a.out});
    if a.common.json {
        print_json(&report);
    } else {
        for (s, (op, r)) in done.patterns.iter().zip(&polished.patterns).enumerate() {
            let rec = &r.recovery;
            let errors = match (op.error, &r.error) {
                (Some(e), Some(p)) => format!(", error {e:.4} -> {:.4}", p.recovery),
                _ => String::new(),
            };
            println!(
                "pattern {s}: operator, then {} iterations, {} exact solves, {:.2} s{errors}",
                rec.iterations, rec.cost.exact_solves, rec.seconds
            );
        }
        println!("{} patterns -> {}", noisy.n, a.out.display());
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum RbmCommand {
    /// Train a Gaussian-Bernoulli RBM (periodic convolutional or dense) on clean patterns.
    Train(RbmTrainArgs),
    /// Denoise patterns with a trained RBM: mean-field reconstruction, or posterior inference.
    Denoise(RbmDenoiseArgs),
}

#[derive(Args)]
pub struct RbmTrainArgs {
    /// Clean patterns (.safetensors, .npy or grayscale .png); several files are pooled.
    #[arg(long, num_args = 1.., required = true)]
    pub samples: Vec<PathBuf>,
    /// Checkpoint folder: gbrbm.bpk (weights) and gbrbm.json (sizes, standardisation, config).
    #[arg(long)]
    pub out: PathBuf,
    /// `conv`: filters shared over the periodic box (translation-equivariant,
    /// the stronger baseline for homogeneous patterns); `dense`: fully connected.
    #[arg(long, value_enum, default_value_t = RbmKind::Conv)]
    pub kind: RbmKind,
    /// Hidden units of the dense model.
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// Filters of the convolutional model, and their size (about one pattern period).
    #[arg(long, default_value_t = 16)]
    pub filters: usize,
    #[arg(long, default_value_t = 12)]
    pub filter_size: usize,
    /// Adam updates, each on `--batch` patterns.
    #[arg(long, default_value_t = 600)]
    pub updates: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Gibbs sweeps per update of the model term's chains.
    #[arg(long, default_value_t = 5)]
    pub gibbs_steps: usize,
    /// Where those chains start: `persistent` (PCD) or `noise` (CD from noise).
    #[arg(long, value_enum, default_value_t = RbmNegatives::Persistent)]
    pub negatives: RbmNegatives,
    /// Train on the patterns as given, without a random periodic shift and
    /// symmetry of the box per pattern.
    #[arg(long)]
    pub no_augment: bool,
    /// The visible sigma in units of the patterns' spread, or `learn` (within [0.05, 1]).
    #[arg(long, default_value = "1", allow_negative_numbers = true)]
    pub sigma: String,
    /// Weight of the hidden-activity sparsity penalty (0: none), and its target.
    #[arg(long, default_value_t = 0.0)]
    pub sparsity: f64,
    #[arg(long, default_value_t = 0.05)]
    pub sparsity_target: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "0,1")]
    pub phi_range: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RbmKind {
    Conv,
    Dense,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RbmNegatives {
    Persistent,
    Noise,
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
    /// Posterior inference (the RBM as prior, Gaussian noise of this
    /// standard deviation in phi units as likelihood; `auto`: estimated from
    /// each pattern's spectrum) instead of the mean-field reconstruction.
    #[arg(long)]
    pub posterior: Option<String>,
    /// Posterior inference: Gibbs chains per pattern and sweeps (the mean
    /// over the second half).
    #[arg(long, default_value_t = 8)]
    pub chains: usize,
    #[arg(long, default_value_t = 200)]
    pub sweeps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn rbm(command: &RbmCommand) -> Result<()> {
    match command {
        RbmCommand::Train(a) => rbm_train(a),
        RbmCommand::Denoise(a) => rbm_denoise(a),
    }
}

fn rbm_train(a: &RbmTrainArgs) -> Result<()> {
    let patterns = load_many(&a.samples, parse_range(&a.phi_range, "--phi-range")?, true)?;
    let mut config = GbRbmConfig::new()
        .with_connectivity(match a.kind {
            RbmKind::Conv => Connectivity::Convolutional,
            RbmKind::Dense => Connectivity::Dense,
        })
        .with_hidden(a.hidden)
        .with_filters(a.filters)
        .with_filter_size(a.filter_size)
        .with_updates(a.updates)
        .with_batch(a.batch)
        .with_learning_rate(a.lr)
        .with_gibbs_steps(a.gibbs_steps)
        .with_negatives(match a.negatives {
            RbmNegatives::Persistent => Negatives::Persistent,
            RbmNegatives::Noise => Negatives::Noise,
        })
        .with_augment(!a.no_augment)
        .with_sparsity(a.sparsity)
        .with_sparsity_target(a.sparsity_target)
        .with_seed(a.seed);
    match a.sigma.as_str() {
        "learn" => config = config.with_sigma_min(0.05).with_sigma_max(1.0),
        v => match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => config = config.with_sigma_min(x).with_sigma_max(x),
            _ => bail!("--sigma takes a positive number (units of the patterns' spread) or `learn`, got {v:?}"),
        },
    }
    let device = Backend::Cpu.device()?;
    let stage = reporter().stage(a.updates as u64, "RBM updates");
    let started = std::time::Instant::now();
    let rbm =
        train_gbrbm(&patterns.phi_a, patterns.mx, patterns.my, &config, &device, &mut |u| stage.set_position(u as u64))
            .map_err(|e| anyhow!(e))?;
    stage.finish();
    rbm.save(&a.out).map_err(|e| anyhow!(e))?;
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        print_json(
            &json!({"out": a.out, "samples": patterns.n, "grid": [patterns.mx, patterns.my], "seconds": seconds,
                    "sigma_phi": rbm.meta.sigma_phi}),
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

fn rbm_denoise(a: &RbmDenoiseArgs) -> Result<()> {
    let device = Backend::Cpu.device()?;
    let rbm = TrainedGbRbm::load(&a.checkpoint, &device).map_err(|e| anyhow!(e))?;
    let range = parse_range(&a.phi_range, "--phi-range")?;
    let noisy = load_patterns(&a.input, range, false)?;
    noisy.expect_grid(rbm.meta.mx, rbm.meta.my, &format!("--input {}", a.input.display()))?;
    let rec = match a.posterior.as_deref() {
        None => rbm.reconstruct(&noisy.phi_a),
        Some(sigma) => {
            let noise = match sigma {
                "auto" => NoiseLevel::Estimated,
                v => match v.parse::<f64>() {
                    Ok(x) if x.is_finite() && x > 0.0 => NoiseLevel::Given(x),
                    _ => bail!("--posterior takes a noise level > 0 or `auto`, got {v:?}"),
                },
            };
            rbm.posterior_means(&noisy.phi_a, noise, a.chains, a.sweeps, a.seed).map_err(|e| anyhow!(e))?
        }
    };
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
    let method = if a.posterior.is_some() { "rbm posterior" } else { "rbm mean-field" };
    let meta = json!({"method": method, "checkpoint": a.checkpoint, "input": a.input});
    write_patterns(&a.out, PatternFile::Denoised, [noisy.n, noisy.mx, noisy.my], &rec, None, meta)?;
    if a.json {
        print_json(&json!({"out": a.out, "samples": noisy.n, "error": errors}));
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
