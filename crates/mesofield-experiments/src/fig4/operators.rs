//! Denoise operators beside action minimisation: the physics operator
//! learned from the first chi pair's two samples (`learn`: chi, L-FTS
//! patterns at it, training), and the same network trained on observed
//! pool patterns only (`FNO-10 (data only)`, `FNO-80 (data only)`, with
//! noise augmentation and the box's symmetries). Each is trained once into
//! the figure's checkpoint folder and reused while its `report.json` is there.
//! Where the spec asks for the sampling check, `learn` trains its generator
//! as well (`learned/generator`).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use mesofield_fno::TrainConfig;
use mesofield_fno::denoise::DenoiseOperator;
use mesofield_fno::training::Stop;
use mesofield_physics::ChainModel;

use super::pool::Pool;
use super::sampling::Generator;
use super::{Fig4Spec, MethodRow};
use crate::denoiser::{DenoiserSettings, default_network, train_denoiser};
use crate::learn::{BurnIn, LearnSettings, Sampling, learn};
use crate::patterns::{Patterns, load_patterns};
use crate::progress::Reporter;
use crate::solvers::Backend;

pub struct NamedDenoiser {
    pub method: String,
    pub operator: DenoiseOperator,
    /// Wall minutes from the observed samples to the checkpoint (learn:
    /// chi, sampling and training; data only: training).
    pub minutes: f64,
}

/// The method name of the physics operator's row.
pub const PHYSICS_OPERATOR: &str = "physics operator (two samples)";

fn train_config(spec: &Fig4Spec) -> TrainConfig {
    TrainConfig::new(default_network()).with_epochs(spec.denoiser_epochs).with_batch(16).with_seed(spec.seed)
}

/// `samples` of the pool as clean patterns (phi_B from the pool).
fn patterns_of(pool: &Pool, samples: &[usize], model: &ChainModel) -> Patterns {
    let d = &pool.data;
    let m = d.mx * d.my;
    let phi = |c: usize| samples.iter().flat_map(move |&i| d.phi[i * 2 * m + c * m..i * 2 * m + (c + 1) * m].to_vec());
    Patterns {
        n: samples.len(),
        mx: d.mx,
        my: d.my,
        phi_a: phi(0).collect(),
        phi_b: Some(phi(1).collect()),
        model: Some(model.clone()),
    }
}

/// The minutes in `dir/report.json` at `minutes`, if every training it
/// holds at one of `epochs` ran all of `expected` epochs (else None: train,
/// resuming).
fn finished(dir: &Path, minutes: &[&str], epochs: &[&[&str]], expected: usize) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("report.json")).ok()?;
    let report: serde_json::Value = serde_json::from_str(&text).ok()?;
    let at = |keys: &[&str]| keys.iter().try_fold(&report, |v, k| v.get(*k));
    for keys in epochs {
        (at(keys)?.as_u64()? as usize >= expected).then_some(())?;
    }
    at(minutes)?.as_f64()
}

/// The denoise operators of the table and the generator of the sampling check.
pub struct Denoisers {
    pub named: Vec<NamedDenoiser>,
    pub generator: Option<Generator>,
}

/// The pool runs whose last snapshots `learn` starts from: the first chi pair's.
pub fn learned_from(spec: &Fig4Spec) -> [usize; 2] {
    [spec.test_runs, spec.test_runs + 1]
}

/// The physics operator and the data-only ones of `spec`, trained into
/// `dir` or loaded from it.
pub fn denoisers(
    spec: &Fig4Spec,
    pool: &Pool,
    model: &ChainModel,
    dir: &Path,
    stop: &Stop,
    reporter: &Reporter,
) -> Result<Denoisers> {
    let device = Backend::Cpu.device()?;
    let mut out = Vec::new();
    let mut generator = None;
    if spec.learn_patterns >= 2 {
        let learned = dir.join("learned");
        let runs = learned_from(spec);
        let wants_generator = spec.generate_count > 0;
        let trainings: &[&[&str]] = if wants_generator {
            &[&["training", "epochs"], &["generator", "epochs"]]
        } else {
            &[&["training", "epochs"]]
        };
        let minutes = match finished(&learned, &["minutes", "total"], trainings, spec.denoiser_epochs) {
            Some(m) => {
                reporter.note(&format!("{PHYSICS_OPERATOR}: reusing {}", learned.display()));
                m
            }
            None => {
                let samples: Vec<usize> = runs.iter().map(|&r| pool.last_of(r)).collect::<Result<_>>()?;
                let sources: Vec<String> = runs.iter().map(|r| format!("pool run {r}, last snapshot")).collect();
                let mut settings = LearnSettings::new(spec.beads_per_cell, spec.step_size);
                settings.integrator = spec.integrator;
                settings.patterns = spec.learn_patterns;
                if !wants_generator {
                    settings.generator = None;
                }
                settings.generator_epochs = spec.denoiser_epochs;
                settings.seed = spec.seed;
                if let Some(steps) = spec.learn_burn_in {
                    settings.burn_in = BurnIn::Fixed(steps);
                }
                let report = learn(
                    &sources,
                    patterns_of(pool, &samples, model),
                    model,
                    &settings,
                    train_config(spec),
                    &learned,
                    learned.join("last").exists(),
                    stop,
                    reporter,
                    &mut |_| {},
                )?;
                if let Some(why) = report.unfinished(&settings, spec.denoiser_epochs) {
                    bail!("{}: {why}; run again to resume", learned.display());
                }
                report.minutes.total
            }
        };
        let operator = DenoiseOperator::load(&learned.join("best"), &device).map_err(|e| anyhow!(e))?;
        out.push(NamedDenoiser { method: PHYSICS_OPERATOR.into(), operator, minutes });
        if wants_generator {
            let operator =
                DenoiseOperator::load(&learned.join("generator").join("best"), &device).map_err(|e| anyhow!(e))?;
            let patterns = learned.join("patterns.safetensors");
            let sampling: Sampling = serde_json::from_str(
                &std::fs::read_to_string(learned.join("sampling.json"))
                    .with_context(|| format!("cannot read {}", learned.join("sampling.json").display()))?,
            )
            .with_context(|| format!("cannot parse {}", learned.join("sampling.json").display()))?;
            generator = Some(Generator {
                operator,
                learned: load_patterns(&patterns, [0.0, 1.0], true)?,
                lfts_patterns_per_second: sampling.patterns as f64 / sampling.seconds,
            });
        }
    }
    let samples = pool.baseline_samples(spec);
    for &size in &spec.denoiser_sizes {
        if size > samples.len() {
            reporter.note(&format!("FNO-{size}: the pool holds only {} patterns, skipped", samples.len()));
            continue;
        }
        let folder = dir.join(format!("fno-{size}-data-only"));
        let minutes = match finished(&folder, &["minutes"], &[&["epochs"]], spec.denoiser_epochs) {
            Some(m) => m,
            None => {
                let clean = patterns_of(pool, &samples[..size], model);
                let settings = DenoiserSettings::default();
                let resume = folder.join("last").exists();
                let stage = reporter.stage(spec.denoiser_epochs as u64, &format!("train FNO-{size} (data only)"));
                let report =
                    train_denoiser(&clean, model, &settings, train_config(spec), &folder, resume, stop, &mut |p| {
                        if let mesofield_fno::training::Progress::Epoch(m) = p {
                            stage.set_position(m.epoch as u64);
                        }
                    })?;
                stage.finish();
                if report.epochs < spec.denoiser_epochs {
                    bail!("{}: training stopped at epoch {}; run again to resume", folder.display(), report.epochs);
                }
                report.minutes
            }
        };
        let operator = DenoiseOperator::load(&folder.join("best"), &device).map_err(|e| anyhow!(e))?;
        out.push(NamedDenoiser { method: format!("FNO-{size} (data only)"), operator, minutes });
    }
    Ok(Denoisers { named: out, generator })
}

/// The table's note on the denoise operators: their training minutes and,
/// for each, how many patterns it must denoise before its training has
/// paid against action minimisation with the exact solver.
pub fn note(spec: &Fig4Spec, denoisers: &[NamedDenoiser], rows: &[MethodRow]) -> String {
    if denoisers.is_empty() {
        return String::new();
    }
    let seconds = |method: &str| rows.iter().find(|r| r.method == method).map(|r| r.seconds_mean);
    let exact = seconds("physics, exact solver").unwrap_or(f64::NAN);
    let mut text = format!(
        "\nDenoise operators (FNO, {} epochs, one batched call per noise level; seconds per pattern are the call's over the patterns):",
        spec.denoiser_epochs
    );
    for d in denoisers {
        let mine = seconds(&d.method).unwrap_or(f64::NAN);
        let break_even = (d.minutes * 60.0 / (exact - mine)).ceil().max(1.0);
        let what = if d.method == PHYSICS_OPERATOR {
            format!("learned from two samples ({} L-FTS patterns at the inferred chi)", spec.learn_patterns)
        } else {
            "trained on observed patterns only".to_string()
        };
        text.push_str(&format!(
            " {}: {what} in {:.1} min, which one batched call repays against action minimisation from {:.0} patterns on;",
            d.method, d.minutes, break_even
        ));
    }
    text.pop();
    text.push_str(".\n");
    text
}
