//! `mesofield learn`: a denoise operator from two clean samples and the
//! field theory. chi comes from the samples (the inverse map and the
//! equipartition estimator, as `infer-chi`); L-FTS replicas at that chi
//! from independent random starts make the clean patterns, one per replica
//! at the end of its burn-in; a denoise operator is trained on them with
//! fresh noise each epoch (`DIR/best`), and a second one over noise levels
//! that hide the patterns, for `generate-patterns` (`DIR/generator/best`).
//! Each stage writes its result to DIR before the next starts (`chi.json`,
//! `patterns.safetensors` with `sampling.json`, the checkpoints), so
//! `resume` picks up at the first stage not done.
//!
//! Why one pattern per replica: within a run the pattern outlives any
//! affordable run. At chi = 0.4, B = 100 (32 x 32, step 0.1) the overlap of
//! phi_A - f with itself is still 0.97 after 100 steps and 0.71 after 1900
//! (BENCHMARKS.md), while H and <(phi_A - phi_B)^2> reach their plateau
//! within 200 steps. So a replica's burn-in ends at the plateau of H
//! (measured), and further snapshots of the same run would add little that
//! the box's translations in training do not; independent starts do.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;

use mesofield_fno::TrainConfig;
use mesofield_fno::training::{Progress, Stop};
use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{Integrator, Lfts, LftsConfig, LftsState};
use mesofield_physics::io::{TensorData, to_safetensors, write_atomic};
use mesofield_physics::observables::order_parameter;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::stats::{mean, vector_autocorrelation};
use mesofield_physics::trajectory::{self, Analyzer, LftsChains, Replica};
use mesofield_physics::{ChainModel, Grid, SolveCost};

use crate::denoiser::{DenoiserReport, DenoiserSettings, fit_denoiser};
use crate::observed::chi_from_samples;
use crate::patterns::{Patterns, load_patterns};
use crate::progress::Reporter;
use crate::roles::Resolved;
use crate::solvers::{Backend, SolverChoice};

/// The field theory the samples came from, apart from chi, and how the
/// clean patterns are made.
#[derive(Clone, Debug)]
pub struct LearnSettings {
    /// B and the L-FTS step size of the ensemble the samples were drawn
    /// from (the estimator needs both) and of the replicas.
    pub beads_per_cell: f64,
    pub step_size: f64,
    /// The samples' L-FTS integrator (the estimator follows it), the
    /// replicas' too.
    pub integrator: Integrator,
    /// Clean patterns to make, one per L-FTS replica (the last fifth held
    /// out for validation).
    pub patterns: usize,
    pub burn_in: BurnIn,
    /// The compressor's max |phi_A + phi_B - 1|.
    pub tol: f64,
    /// Seeds the replicas (seed + r) and the training.
    pub seed: u64,
    /// The denoiser (`DIR/best`) and, where set, the generator
    /// (`DIR/generator/best`): the same network over a range of noise wide
    /// enough to start `generate-patterns` from noise.
    pub denoiser: DenoiserSettings,
    pub generator: Option<DenoiserSettings>,
    /// The generator's training epochs (the denoiser's are the config's).
    pub generator_epochs: usize,
}

/// The plateau test's scale: a fall of the replicas' mean H over L-FTS
/// time 5 below this fraction of the spread of H between replicas is flat.
pub const PLATEAU_FRACTION: f64 = 0.1;

/// When a replica's pattern is taken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BurnIn {
    /// After this many steps.
    Fixed(usize),
    /// Once the replicas' mean H has stopped falling (over the last L-FTS
    /// time 5 it is no lower than over the 5 before, within twice the
    /// standard error of that change over the replicas or by less than
    /// `PLATEAU_FRACTION` of the spread of H between replicas), or once they
    /// are as segregated as the samples (mean <(phi_A - phi_B)^2> within
    /// its error of the samples'), whichever comes first; not before `min`
    /// steps, at most `max`.
    Plateau { min: usize, max: usize },
}

impl LearnSettings {
    /// Defaults in units of L-FTS time t = steps x step size: the plateau
    /// of H or the samples' segregation between t = 20 and t = 100 (the
    /// Fig. 1 pattern forms by t = 15 from a random start, and H is flat
    /// from t = 20 at chi = 0.4; at chi = 0.55 the replicas matched the
    /// samples' <(phi_A - phi_B)^2> at t = 10 while H still fell, and a
    /// denoiser trained on those patterns was 2-4% worse than action
    /// minimisation at noise 0.5-1.0).
    pub fn new(beads_per_cell: f64, step_size: f64) -> Self {
        LearnSettings {
            beads_per_cell,
            step_size,
            integrator: Integrator::default(),
            patterns: 256,
            burn_in: BurnIn::Plateau { min: steps_of(20.0, step_size), max: steps_of(100.0, step_size) },
            // Training patterns need no tighter pressure than their noise:
            // 1e-4 takes 1.4x fewer exact solves than `sample`'s 1e-6, with
            // the same H to five digits over 4 x 200 steps at chi = 0.55.
            tol: 1e-4,
            seed: 0,
            denoiser: DenoiserSettings::default(),
            generator: Some(DenoiserSettings {
                sigma_relative: GENERATOR_SIGMA,
                focus_relative: Some(GENERATOR_FOCUS),
                ..DenoiserSettings::default()
            }),
            generator_epochs: GENERATOR_EPOCHS,
        }
    }

    /// `learn --quick`: 8 patterns, the burn-in between t = 10 and 30
    /// (with `QUICK_EPOCHS`): the whole pipeline in seconds.
    pub fn quick(beads_per_cell: f64, step_size: f64) -> Self {
        LearnSettings {
            patterns: 8,
            burn_in: BurnIn::Plateau { min: steps_of(10.0, step_size), max: steps_of(30.0, step_size) },
            generator_epochs: QUICK_EPOCHS,
            ..LearnSettings::new(beads_per_cell, step_size)
        }
    }

    /// The denoiser's training epochs of a run: `given`, which the
    /// generator then trains too, else the default (`QUICK_EPOCHS` for a
    /// quick run, `LEARN_EPOCHS`; the generator keeps its own).
    pub fn apply_epochs(&mut self, given: Option<usize>, quick: bool) -> usize {
        match given {
            Some(e) => {
                self.generator_epochs = e;
                e
            }
            None if quick => QUICK_EPOCHS,
            None => LEARN_EPOCHS,
        }
    }

    /// The settings a run can start with.
    pub fn validate(&self) -> Result<()> {
        if !(self.beads_per_cell.is_finite() && self.beads_per_cell > 0.0) {
            bail!("beads per cell (B) must be finite and > 0, got {}", self.beads_per_cell);
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            bail!("the step size must be finite and > 0 (the replicas step with it), got {}", self.step_size);
        }
        if self.patterns < 2 {
            bail!("learn needs at least 2 patterns (one held out for validation), got {}", self.patterns);
        }
        if self.generator.is_some() && self.generator_epochs == 0 {
            bail!("the generator needs at least 1 training epoch");
        }
        if self.burn_in == BurnIn::Fixed(0) {
            bail!("the burn-in must be at least 1 step");
        }
        Ok(())
    }

    /// States are recorded every this many steps (t = 0.5) for the plateau
    /// and overlap measurements.
    fn record_every(&self) -> usize {
        steps_of(0.5, self.step_size).max(1)
    }
}

/// The generator's noise levels, in units of the patterns' rms contrast.
/// The top level hides the patterns (their S(q) peak under the noise), so
/// `generate-patterns` can start from noise: trained up to 1.5 (the
/// denoiser's range) the generated patterns' S(q) peak came out 18% low,
/// up to 20 within 1%. One network for both costs the denoising band 1-2%
/// (BENCHMARKS.md), hence two.
pub const GENERATOR_SIGMA: [f64; 2] = [0.1, 20.0];

/// Half of the generator's draws are below this level (the denoiser's top).
pub const GENERATOR_FOCUS: f64 = 1.5;

/// Training epochs of `learn`'s denoiser. At chi = 0.55 (256 patterns,
/// 32 test patterns) 300 epochs against 150 lowered the best validation
/// error from 0.1022 to 0.0984 (still falling) and the test error at noise
/// 0.25 / 0.5 / 1.0 by 0.5% / 0.2% / 0.5%, to action minimisation's or
/// below at 0.5 and 1.0 (BENCHMARKS.md).
pub const LEARN_EPOCHS: usize = 300;

/// Training epochs of `learn`'s generator (its patterns' S(q) peak within
/// 6% of its training ensemble's at 150).
pub const GENERATOR_EPOCHS: usize = 150;

/// Training epochs of `learn --quick`.
pub const QUICK_EPOCHS: usize = 2;

/// Steps of `step_size` in L-FTS time `t`.
pub fn steps_of(t: f64, step_size: f64) -> usize {
    (t / step_size).ceil() as usize
}

/// `DIR/chi.json`: chi from the samples.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LearnedChi {
    /// Where the samples came from (their files).
    pub samples: Vec<String>,
    pub chi: f64,
    pub std_error: f64,
    pub per_sample: Vec<f64>,
    pub beads_per_cell: f64,
    pub step_size: f64,
    #[serde(default = "Integrator::legacy")]
    pub integrator: Integrator,
    pub seconds: f64,
}

/// `DIR/sampling.json`: how the clean patterns were made and how
/// independent they are.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sampling {
    pub chi: f64,
    /// One per pattern, seeds seed + r.
    pub replicas: usize,
    pub seed: u64,
    /// `fixed` or `H plateau`, and the steps it gave.
    pub burn_in_rule: String,
    pub burn_in: usize,
    pub record_every: usize,
    /// The replicas' mean H per chain at each record (every `record_every` steps).
    pub hamiltonian: Vec<f64>,
    /// The change of the replicas' mean H over the last L-FTS time 5 and
    /// its standard error over the replicas (the plateau test; NaN, written
    /// as null, where the burn-in was shorter than that).
    #[serde(deserialize_with = "crate::sampling::null_as_nan")]
    pub final_drift: f64,
    #[serde(deserialize_with = "crate::sampling::null_as_nan")]
    pub final_drift_stderr: f64,
    /// The overlap of a replica's phi_A - f with itself `lag` steps
    /// earlier, pooled over replicas, over the last L-FTS time 10: how
    /// alike further snapshots of one run would be.
    pub self_overlap: Vec<(usize, f64)>,
    /// The overlap between different replicas' patterns, mean of its
    /// modulus and largest: independent starts, independent patterns.
    pub cross_overlap_mean: f64,
    pub cross_overlap_max: f64,
    /// <(phi_A - phi_B)^2> of the samples and of the patterns made.
    pub samples_psi2: f64,
    pub patterns_psi2: f64,
    pub patterns: usize,
    pub seconds: f64,
    pub replica_steps_per_second: f64,
    #[serde(flatten)]
    pub cost: SolveCost,
}

/// `DIR/report.json`.
#[derive(Clone, Debug, Serialize)]
pub struct LearnReport {
    pub chi: LearnedChi,
    pub sampling: Sampling,
    pub training: DenoiserReport,
    /// `metrics.jsonl`: one record per epoch.
    pub curve: Vec<serde_json::Value>,
    /// The generator's training and curve (`DIR/generator`).
    pub generator: Option<DenoiserReport>,
    pub generator_curve: Vec<serde_json::Value>,
    /// Wall minutes of each stage run by this invocation (0 for a stage a
    /// resumed run reused) and of the whole.
    pub minutes: StageMinutes,
}

impl LearnReport {
    /// Where training stopped short of `settings` (the denoiser's `epochs`
    /// and the generator's), None when every operator ran all its epochs.
    pub fn unfinished(&self, settings: &LearnSettings, epochs: usize) -> Option<String> {
        if self.training.epochs < epochs {
            return Some(format!("the denoiser stopped after epoch {} of {epochs}", self.training.epochs));
        }
        match (&settings.generator, &self.generator) {
            (Some(_), None) => Some("the generator's training did not start".into()),
            (Some(_), Some(g)) if g.epochs < settings.generator_epochs => {
                Some(format!("the generator stopped after epoch {} of {}", g.epochs, settings.generator_epochs))
            }
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct StageMinutes {
    pub chi: f64,
    pub sampling: f64,
    pub training: f64,
    pub generator: f64,
    pub total: f64,
}

/// Learns a denoise operator for the ensemble of `samples` into `dir`.
#[allow(clippy::too_many_arguments)]
pub fn learn(
    samples: &[String],
    clean: Patterns,
    model: &ChainModel,
    settings: &LearnSettings,
    config: TrainConfig,
    dir: &Path,
    resume: bool,
    stop: &Stop,
    reporter: &Reporter,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<LearnReport> {
    settings.validate()?;
    let started = Instant::now();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut minutes = StageMinutes::default();
    let grid = Grid::for_model(model, clean.mx, clean.my)?;
    let samples_psi2: Vec<f64> = clean.densities().chunks(2 * grid.points()).map(order_parameter).collect();

    let chi_path = dir.join("chi.json");
    let chi = if resume && chi_path.exists() {
        let chi: LearnedChi = read_json(&chi_path)?;
        if chi.samples != samples
            || chi.beads_per_cell != settings.beads_per_cell
            || chi.step_size != settings.step_size
            || chi.integrator != settings.integrator
        {
            bail!("--resume: {} was learned from other samples or another B, step size or integrator", dir.display());
        }
        reporter.note(&format!("chi {:.4} from {} (resumed)", chi.chi, chi_path.display()));
        chi
    } else {
        let t = Instant::now();
        let source = Resolved { choice: SolverChoice::Exact, backend: Backend::Cpu };
        let step = (settings.step_size, settings.integrator);
        let estimate = chi_from_samples(clean, model, settings.beads_per_cell, step, &source, reporter)?;
        let chi = LearnedChi {
            samples: samples.to_vec(),
            chi: estimate.chi,
            std_error: estimate.std_error,
            per_sample: estimate.per_sample,
            beads_per_cell: settings.beads_per_cell,
            step_size: settings.step_size,
            integrator: settings.integrator,
            seconds: t.elapsed().as_secs_f64(),
        };
        if !(chi.chi.is_finite() && chi.chi > 0.0) {
            bail!("chi from the samples is {}: the samples show no segregation to learn from", chi.chi);
        }
        write_atomic(&chi_path, serde_json::to_string_pretty(&chi)?.as_bytes())?;
        minutes.chi = t.elapsed().as_secs_f64() / 60.0;
        reporter.note(&format!("chi {:.4} +- {:.4} from {} samples", chi.chi, chi.std_error, samples.len()));
        chi
    };

    let patterns_path = dir.join("patterns.safetensors");
    let sampling_path = dir.join("sampling.json");
    let (patterns, sampling) = if resume && patterns_path.exists() && sampling_path.exists() {
        let sampling: Sampling = read_json(&sampling_path)?;
        let patterns = load_patterns(&patterns_path, [0.0, 1.0], true)?;
        reporter.note(&format!("{} clean patterns from {} (resumed)", patterns.n, patterns_path.display()));
        (patterns, sampling)
    } else {
        let t = Instant::now();
        let (patterns, sampling) = sample_patterns(model, &grid, chi.chi, settings, &samples_psi2, reporter)?;
        let m = grid.points();
        let densities = patterns.densities();
        let meta = json!({"format": "mesofield-patterns", "model": model, "chi": chi.chi,
                          "beads_per_cell": settings.beads_per_cell, "step_size": settings.step_size,
                          "integrator": settings.integrator});
        let bytes = to_safetensors(
            &[("phi", vec![patterns.n, 2, grid.mx, grid.my], TensorData::F64(&densities))],
            &meta.to_string(),
        )?;
        debug_assert_eq!(densities.len(), patterns.n * 2 * m);
        write_atomic(&patterns_path, &bytes)?;
        write_atomic(&sampling_path, serde_json::to_string_pretty(&sampling)?.as_bytes())?;
        minutes.sampling = t.elapsed().as_secs_f64() / 60.0;
        (patterns, sampling)
    };

    let stated = |d: &DenoiserSettings| DenoiserSettings {
        chi: Some(chi.chi),
        beads_per_cell: Some(settings.beads_per_cell),
        step_size: Some(settings.step_size),
        ..d.clone()
    };
    let t = Instant::now();
    let resume_training = resume && dir.join("last").exists();
    let training = fit_denoiser(
        &patterns,
        model,
        &stated(&settings.denoiser),
        config.clone(),
        dir,
        resume_training,
        stop,
        progress,
    )?;
    minutes.training = t.elapsed().as_secs_f64() / 60.0;
    let generator = match &settings.generator {
        Some(g) if training.epochs >= config.epochs => {
            let t = Instant::now();
            let out = dir.join("generator");
            let resume_generator = resume && out.join("last").exists();
            let config = config.clone().with_epochs(settings.generator_epochs);
            let report = fit_denoiser(&patterns, model, &stated(g), config, &out, resume_generator, stop, progress)?;
            minutes.generator = t.elapsed().as_secs_f64() / 60.0;
            Some(report)
        }
        _ => None,
    };
    minutes.total = started.elapsed().as_secs_f64() / 60.0;
    let curve_of = |dir: &Path| {
        std::fs::read_to_string(dir.join("metrics.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let report = LearnReport {
        chi,
        sampling,
        training,
        curve: curve_of(dir),
        generator,
        generator_curve: curve_of(&dir.join("generator")),
        minutes,
    };
    write_atomic(&dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    Ok(report)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not what learn writes", path.display()))
}

/// One replica's H at every record and phi_A - f at the records of the
/// last L-FTS time 10.
struct Recorder {
    every: usize,
    keep: usize,
    f: f64,
    hamiltonian: Vec<f64>,
    /// The last `keep` recorded `[M]` phi_A - f, oldest first.
    deviation: std::collections::VecDeque<Vec<f64>>,
    /// phi_B of the last state (the pattern keeps the compressor's pair).
    phi_b: Vec<f64>,
}

impl Analyzer<LftsState, SolveCost> for Recorder {
    fn sample(&mut self, state: &LftsState, _: &SolveCost) -> mesofield_physics::Result<()> {
        if state.step.is_multiple_of(self.every) {
            let m = state.phi.len() / 2;
            self.hamiltonian.push(state.hamiltonian);
            if self.deviation.len() == self.keep {
                self.deviation.pop_front();
            }
            self.deviation.push_back(state.phi[..m].iter().map(|v| v - self.f).collect());
            self.phi_b.clear();
            self.phi_b.extend_from_slice(&state.phi[m..]);
        }
        Ok(())
    }
}

/// The change of the replicas' mean H between the last two windows of
/// `window` records, its standard error over the replicas, and the spread
/// of H between replicas (the standard deviation of their last-window means).
fn drift(recorders: &[Recorder], window: usize) -> (f64, f64, f64) {
    let k = recorders[0].hamiltonian.len();
    if k < 2 * window {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let (changes, last): (Vec<f64>, Vec<f64>) = recorders
        .iter()
        .map(|r| {
            let h = &r.hamiltonian;
            let last = mean(&h[k - window..]);
            (last - mean(&h[k - 2 * window..k - window]), last)
        })
        .unzip();
    let (d, spread) = mesofield_physics::stats::mean_std(&changes);
    (d, spread / (changes.len() as f64).sqrt(), mesofield_physics::stats::std_dev(&last))
}

/// One clean pattern from each of `settings.patterns` L-FTS replicas at
/// `chi`, started from independent random fields and taken at the end of
/// the burn-in.
pub fn sample_patterns(
    model: &ChainModel,
    grid: &Grid,
    chi: f64,
    settings: &LearnSettings,
    samples_psi2: &[f64],
    reporter: &Reporter,
) -> Result<(Patterns, Sampling)> {
    let m = grid.points();
    let f = model.f_a();
    let every = settings.record_every();
    let window = steps_of(5.0, settings.step_size).div_ceil(every).max(1);
    let replicas = settings.patterns;
    let set = crate::roles::resolve(&SolverChoice::Exact, Backend::Cpu, model, grid)?;
    let config = LftsConfig::new(chi, settings.beads_per_cell, settings.step_size, settings.seed)
        .with_pressure_tolerance(settings.tol)
        .with_integrator(settings.integrator);
    let sampler = Lfts::new(config, set.solvers())?;
    let seeds: Vec<u64> = (0..replicas as u64).map(|r| settings.seed.wrapping_add(r)).collect();
    let mut w = Vec::with_capacity(replicas * 2 * m);
    for &seed in &seeds {
        w.extend(InitialField::Random { amplitude: 0.01 }.fields(model, grid, chi, &mut StreamRng::new(seed, 0)));
    }
    let mut recorders: Vec<Recorder> = (0..replicas)
        .map(|_| Recorder {
            every,
            keep: 2 * window + 1,
            f,
            hamiltonian: Vec::new(),
            deviation: Default::default(),
            phi_b: Vec::new(),
        })
        .collect();
    let chains = LftsChains::new(&sampler, seeds.clone());
    let (min, max, mut rule) = match settings.burn_in {
        BurnIn::Fixed(n) => (n, n, "fixed"),
        BurnIn::Plateau { min, max } => (min, max.max(min), "H plateau"),
    };
    if max == 0 {
        bail!("the burn-in must be at least one step");
    }
    let started = Instant::now();
    let stage = reporter.stage(max as u64, &format!("burn in {replicas} L-FTS replicas"));
    let mut states: Vec<(LftsState, SolveCost)> = sampler.start_replicas(&w, 0)?;
    let mut step = 0;
    let (final_drift, final_drift_stderr) = loop {
        let until = (step + every).min(max);
        let mut chain_states: Vec<Replica<'_, LftsState, SolveCost>> = states
            .into_iter()
            .zip(recorders.iter_mut())
            .map(|((state, cost), r)| Replica { state, cost, analyzers: vec![r as &mut dyn Analyzer<_, _>] })
            .collect();
        trajectory::run(&chains, &mut chain_states, until, &mut |_| {})?;
        states = chain_states.into_iter().map(|r| (r.state, r.cost)).collect();
        step = until;
        let (d, se, spread) = drift(&recorders, window);
        stage.set_position(step as u64);
        let h = mean(&states.iter().map(|s| s.0.hamiltonian).collect::<Vec<_>>());
        stage.set_message(format!("mean H {h:.4}, change over t = 5 {d:.1e} +- {se:.1e}"));
        // Flat: no fall beyond twice its error, or one too small to matter,
        // under a tenth of the spread of H between patterns. Slow annealing
        // keeps a small fall significant over many replicas for long.
        let flat = d.is_finite() && (d >= -2.0 * se || d >= -PLATEAU_FRACTION * spread || replicas < 2);
        // As segregated as the samples: the replicas' mean <(phi_A -
        // phi_B)^2> at or above the samples' within its error (the spread
        // between replicas over the root of the samples' count). H cannot be
        // compared: the samples' fields come from the inverse map, without
        // the high-q noise of W_- that L-FTS states carry.
        let psi2_now: Vec<f64> = states.iter().map(|s| order_parameter(&s.0.phi)).collect();
        let (psi2_mean, psi2_spread) = mesofield_physics::stats::mean_std(&psi2_now);
        let reached = !samples_psi2.is_empty()
            && replicas > 1
            && psi2_mean >= mean(samples_psi2) - psi2_spread / (samples_psi2.len() as f64).sqrt();
        let plateau = matches!(settings.burn_in, BurnIn::Plateau { .. });
        if step >= max || (step >= min && plateau && (flat || reached)) {
            if step < max && plateau {
                rule = if flat { "H plateau" } else { "the samples' <(phi_A - phi_B)^2> reached" };
            }
            break (d, se);
        }
    };
    stage.finish();
    let seconds = started.elapsed().as_secs_f64();
    let cost: SolveCost = states.iter().map(|s| s.1).sum();
    reporter.note(&format!("burn-in: {step} steps ({rule}), {seconds:.0} s"));

    let deviations: Vec<Vec<f64>> = recorders.iter().map(|r| r.deviation.iter().flatten().copied().collect()).collect();
    let refs: Vec<&[f64]> = deviations.iter().map(|d| d.as_slice()).collect();
    let rho = vector_autocorrelation(&refs, m, 2 * window);
    let self_overlap = rho.iter().enumerate().skip(1).map(|(l, r)| (l * every, *r)).collect();
    let last: Vec<&[f64]> = recorders.iter().map(|r| &r.deviation.back().expect("recorded")[..]).collect();
    let (mut cross_sum, mut cross_max, mut pairs) = (0.0, 0.0f64, 0usize);
    for i in 0..last.len() {
        for j in i + 1..last.len() {
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
            let c = dot(last[i], last[j]) / (dot(last[i], last[i]) * dot(last[j], last[j])).sqrt();
            cross_sum += c.abs();
            cross_max = cross_max.max(c.abs());
            pairs += 1;
        }
    }
    let phi_a: Vec<f64> = last.iter().flat_map(|d| d.iter().map(|v| v + f)).collect();
    let phi_b: Vec<f64> = recorders.iter().flat_map(|r| r.phi_b.iter().copied()).collect();
    let patterns =
        Patterns { n: replicas, mx: grid.mx, my: grid.my, phi_a, phi_b: Some(phi_b), model: Some(model.clone()) };
    let replica_means: Vec<f64> = (0..recorders[0].hamiltonian.len())
        .map(|k| mean(&recorders.iter().map(|r| r.hamiltonian[k]).collect::<Vec<_>>()))
        .collect();
    let sampling = Sampling {
        chi,
        replicas,
        seed: settings.seed,
        burn_in_rule: rule.into(),
        burn_in: step,
        record_every: every,
        hamiltonian: replica_means,
        final_drift,
        final_drift_stderr,
        self_overlap,
        cross_overlap_mean: if pairs > 0 { cross_sum / pairs as f64 } else { f64::NAN },
        cross_overlap_max: cross_max,
        samples_psi2: mean(samples_psi2),
        patterns_psi2: mean(&patterns.densities().chunks(2 * m).map(order_parameter).collect::<Vec<_>>()),
        patterns: replicas,
        seconds,
        replica_steps_per_second: (replicas * step) as f64 / seconds,
        cost,
    };
    Ok((patterns, sampling))
}
