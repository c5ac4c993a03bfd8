//! The RBM baselines (Fig. 2): Gaussian-Bernoulli RBMs of each kind
//! (dense, periodic convolutional), each without and with symmetry
//! augmentation, one per training-set size, saved under
//! `checkpoints/NAME/rbm-SIZE-KIND[-augmented]`; and the protocol they are
//! judged by (issue 17, item 4): each denoiser (mean-field, posterior)
//! scored on validation patterns (the chi-pair runs' last snapshots, seen
//! by no RBM and not the test patterns) to choose the one Fig. 2 shows, the
//! error on the RBM's own training patterns beside the test patterns'
//! (memorisation against generalisation), and the S(q) peak of the RBM's
//! own Gibbs samples against the observed patterns'.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow};
use serde::Serialize;

use mesofield_inference::baselines::estimate_noise_sigma;
use mesofield_inference::contrast_relative_error;
use mesofield_inference::gbrbm::{Connectivity, GbRbmConfig, TrainedGbRbm, train_gbrbm};
use mesofield_inference::noise::add_noise;
use mesofield_physics::Grid;
use mesofield_physics::observables::{Peak, StructureFactor, mean_of, structure_factor};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::stats::mean;

use super::Fig4Spec;
use super::pool::Pool;
use crate::progress::Reporter;
use crate::solvers::Backend;

pub struct NamedRbm {
    /// "RBM-80, convolutional, augmented".
    pub label: String,
    pub size: usize,
    pub kind: Connectivity,
    pub augment: bool,
    /// The pool samples it was trained on.
    pub train: Vec<usize>,
    pub rbm: TrainedGbRbm,
}

/// The two ways an RBM denoises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Denoiser {
    /// One pass y -> E[h | y] -> b + W E[h | y].
    MeanField,
    /// The RBM as prior, the noise as likelihood; Gibbs chains from y.
    Posterior,
}

impl Denoiser {
    pub const ALL: [Denoiser; 2] = [Denoiser::MeanField, Denoiser::Posterior];

    pub fn method(self, label: &str) -> String {
        match self {
            Denoiser::MeanField => format!("{label} (mean-field)"),
            Denoiser::Posterior => format!("{label} (posterior)"),
        }
    }
}

impl NamedRbm {
    /// `y` recovered by `denoiser`, with the seconds it took; `sigma` is the
    /// noise level in phi units.
    pub fn denoise(&self, spec: &Fig4Spec, denoiser: Denoiser, y: &[f64], sigma: f64, seed: u64) -> (Vec<f64>, f64) {
        let start = Instant::now();
        let x = match denoiser {
            Denoiser::MeanField => self.rbm.reconstruct(y),
            Denoiser::Posterior => {
                self.rbm.posterior_mean(y, sigma, spec.rbm_posterior_chains, spec.rbm_posterior_sweeps, seed)
            }
        };
        (x, start.elapsed().as_secs_f64())
    }
}

fn kind_name(kind: Connectivity) -> &'static str {
    match kind {
        Connectivity::Dense => "dense",
        Connectivity::Convolutional => "convolutional",
    }
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
        for &kind in &spec.rbm_kinds {
            if kind == Connectivity::Convolutional && spec.rbm_filter_size > grid.mx.min(grid.my) {
                reporter.note(&format!(
                    "RBM-{size}: filters of {0}x{0} do not fit the {1}x{2} grid, the convolutional RBM is skipped",
                    spec.rbm_filter_size, grid.mx, grid.my
                ));
                continue;
            }
            for &augment in &spec.rbm_augment {
                // The visible sigma fixed at the patterns' spread: learned, it
                // fell to 0.48 of it and the prior got worse (BENCHMARKS.md).
                let config = GbRbmConfig::new()
                    .with_connectivity(kind)
                    .with_hidden(spec.rbm_hidden)
                    .with_filters(spec.rbm_filters)
                    .with_filter_size(spec.rbm_filter_size)
                    .with_updates(spec.rbm_updates)
                    .with_learning_rate(spec.rbm_learning_rate)
                    .with_negatives(spec.rbm_negatives.of(kind))
                    .with_gibbs_steps(spec.rbm_gibbs_steps.of(kind))
                    .with_augment(augment)
                    .with_sigma_min(1.0)
                    .with_sigma_max(1.0)
                    .with_seed(spec.seed);
                let label = format!("RBM-{size}, {}{}", kind_name(kind), if augment { ", augmented" } else { "" });
                let stage = reporter.stage(spec.rbm_updates as u64, &format!("train {label}"));
                let rbm =
                    train_gbrbm(&train, grid.mx, grid.my, &config, &device, &mut |u| stage.set_position(u as u64))
                        .map_err(|e| anyhow!(e))?;
                stage.finish();
                let folder = format!("rbm-{size}-{}{}", kind_name(kind), if augment { "-augmented" } else { "" });
                rbm.save(&dir.join(folder)).map_err(|e| anyhow!(e))?;
                rbms.push(NamedRbm { label, size, kind, augment, train: samples[..size].to_vec(), rbm });
            }
        }
    }
    Ok(rbms)
}

/// One RBM denoiser under the protocol: mean error per noise level on the
/// validation patterns and on its own training patterns, and the S(q) peak
/// of the RBM's samples (the same for both denoisers).
#[derive(Clone, Debug, Serialize)]
pub struct RbmAssessment {
    pub method: String,
    pub size: usize,
    pub kind: Connectivity,
    pub augment: bool,
    pub denoiser: Denoiser,
    pub validation: Vec<f64>,
    pub training_patterns: Vec<f64>,
    pub sample_peak: Peak,
}

/// The protocol's numbers and its choice.
#[derive(Clone, Debug, Serialize)]
pub struct RbmProtocol {
    /// The validation patterns (pool samples) and the training patterns
    /// scored per RBM.
    pub validation_patterns: usize,
    pub training_patterns: usize,
    pub assessments: Vec<RbmAssessment>,
    /// The observed test patterns' S(q) peak, for the samples' peaks.
    pub observed_peak: Peak,
    /// The denoiser with the lowest validation error (mean over the noise
    /// levels) among the largest training set's: its kind, augmentation and
    /// denoiser are the ones Fig. 2 shows at every size.
    pub chosen: Option<(Connectivity, bool, Denoiser)>,
}

impl RbmProtocol {
    /// The chosen variant's method name at each training-set size, largest first.
    pub fn chosen_methods(&self) -> Vec<String> {
        let Some((kind, augment, denoiser)) = self.chosen else { return Vec::new() };
        let mut rows: Vec<&RbmAssessment> = self
            .assessments
            .iter()
            .filter(|a| a.kind == kind && a.augment == augment && a.denoiser == denoiser)
            .collect();
        rows.sort_by_key(|a| std::cmp::Reverse(a.size));
        rows.into_iter().map(|a| a.method.clone()).collect()
    }
}

/// Noise of `level` on `clean`, seeded per (level, stream, pattern), and the
/// noise level estimated from the result (as every method gets it).
pub fn noisy(spec: &Fig4Spec, plan: &SpectralPlan, clean: &[f64], li: usize, stream: u64) -> (Vec<f64>, f64) {
    let (y, _) =
        add_noise(clean, spec.noise_levels[li], 0.0, &mut StreamRng::new(spec.seed + 1000 * (li as u64 + 1), stream));
    let sigma = estimate_noise_sigma(plan, &y);
    (y, sigma)
}

/// The seed of an RBM's posterior chains on test pattern `t` at noise level
/// `li` (Fig. 4 and Fig. 2 use the same, so their rows agree).
pub fn chain_seed(spec: &Fig4Spec, li: usize, t: usize) -> u64 {
    spec.seed + 7000 + 1000 * li as u64 + t as u64
}

/// The noise level whose first test pattern the pictures show: 0.5, else
/// the first.
pub fn picture_level(spec: &Fig4Spec) -> usize {
    spec.noise_levels.iter().position(|&l| (l - 0.5).abs() < 1e-12).unwrap_or(0)
}

/// Streams of the validation and training-pattern noise (the test
/// patterns' are 0, 1, ...).
const VALIDATION_STREAM: u64 = 100;
const TRAINING_STREAM: u64 = 200;
/// Training patterns scored per RBM, at most.
const MEMORISATION_PATTERNS: usize = 4;
/// Gibbs chains and sweeps of the samples whose S(q) is measured.
const SAMPLE_CHAINS: usize = 8;
const SAMPLE_SWEEPS: usize = 500;

/// The S(q) peak over `SAMPLE_CHAINS` Gibbs chains started from the
/// homogeneous melt with weak noise.
pub fn sample_peak(spec: &Fig4Spec, r: &NamedRbm, plan: &SpectralPlan) -> Result<Peak> {
    let m = plan.grid().points();
    let f = r.rbm.meta.mean;
    let mut rng = StreamRng::new(spec.seed, 99);
    let start: Vec<f64> = (0..SAMPLE_CHAINS * m).map(|_| f + 0.1 * rng.normal()).collect();
    let samples = r.rbm.sample(&start, SAMPLE_SWEEPS, spec.seed);
    let all: Vec<StructureFactor> = samples.chunks(m).map(|s| structure_factor(plan, s)).collect();
    Ok(mean_of(&all)?.peak())
}

pub fn assess(
    spec: &Fig4Spec,
    pool: &Pool,
    rbms: &[NamedRbm],
    validation: &[usize],
    tests: &[usize],
    plan: &SpectralPlan,
    reporter: &Reporter,
) -> Result<RbmProtocol> {
    let observed: Vec<StructureFactor> = tests.iter().map(|&i| structure_factor(plan, pool.phi_a(i))).collect();
    let observed_peak = mean_of(&observed)?.peak();
    let levels = spec.noise_levels.len();
    let stage = reporter.stage(rbms.len() as u64, "RBM validation, memorisation, samples");
    let mut assessments = Vec::new();
    let mut memorised = 0;
    for r in rbms {
        let own = &r.train[..r.train.len().min(MEMORISATION_PATTERNS)];
        memorised = memorised.max(own.len());
        let peak = sample_peak(spec, r, plan)?;
        for denoiser in Denoiser::ALL {
            let score = |patterns: &[usize], stream: u64| -> Vec<f64> {
                (0..levels)
                    .map(|li| {
                        let errors: Vec<f64> = patterns
                            .iter()
                            .enumerate()
                            .map(|(t, &i)| {
                                let clean = pool.phi_a(i);
                                let (y, sigma) = noisy(spec, plan, clean, li, stream + t as u64);
                                let seed = spec.seed + 9000 + stream + 1000 * li as u64 + t as u64;
                                contrast_relative_error(&r.denoise(spec, denoiser, &y, sigma, seed).0, clean)
                            })
                            .collect();
                        if errors.is_empty() { f64::NAN } else { mean(&errors) }
                    })
                    .collect()
            };
            assessments.push(RbmAssessment {
                method: denoiser.method(&r.label),
                size: r.size,
                kind: r.kind,
                augment: r.augment,
                denoiser,
                validation: score(validation, VALIDATION_STREAM),
                training_patterns: score(own, TRAINING_STREAM),
                sample_peak: peak.clone(),
            });
        }
        stage.inc(1);
    }
    stage.finish();
    let largest = rbms.iter().map(|r| r.size).max();
    let chosen = assessments
        .iter()
        .filter(|a| Some(a.size) == largest && a.validation.iter().all(|e| e.is_finite()))
        .min_by(|a, b| mean(&a.validation).total_cmp(&mean(&b.validation)))
        .map(|a| (a.kind, a.augment, a.denoiser));
    Ok(RbmProtocol {
        validation_patterns: validation.len(),
        training_patterns: memorised,
        assessments,
        observed_peak,
        chosen,
    })
}

/// The protocol's part of `table.md`; `unseen(method, level)` is the test
/// patterns' mean error from the comparison.
pub fn table(spec: &Fig4Spec, p: &RbmProtocol, unseen: &dyn Fn(&str, usize) -> Option<f64>) -> String {
    if p.assessments.is_empty() {
        return String::new();
    }
    let mut t = format!(
        "\nRBM protocol: mean contrast-relative error on {} validation patterns (the chi-pair runs' last snapshots, \
         which choose the RBM of Fig. 2), on up to {} of each RBM's own training patterns, and on the unseen test patterns; \
         and the S(q) peak of {SAMPLE_CHAINS} Gibbs chains of {SAMPLE_SWEEPS} sweeps from the melt (observed test patterns: \
         q* = {:.3}, S* = {:.3}).\n\n| RBM, denoiser |",
        p.validation_patterns, p.training_patterns, p.observed_peak.q, p.observed_peak.s
    );
    for level in &spec.noise_levels {
        t.push_str(&format!(" noise {level}: validation / training / unseen |"));
    }
    t.push_str(" samples: q*, S* |\n| --- |");
    t.push_str(&" --- |".repeat(spec.noise_levels.len() + 1));
    t.push('\n');
    let chosen = p.chosen_methods();
    for a in &p.assessments {
        let mark = if chosen.contains(&a.method) { " (chosen)" } else { "" };
        t.push_str(&format!("| {}{mark} |", a.method));
        for li in 0..spec.noise_levels.len() {
            let u = unseen(&a.method, li).map_or("-".to_string(), |e| format!("{e:.4}"));
            t.push_str(&format!(" {:.4} / {:.4} / {u} |", a.validation[li], a.training_patterns[li]));
        }
        t.push_str(&format!(" {:.3}, {:.3} |\n", a.sample_peak.q, a.sample_peak.s));
    }
    t
}
