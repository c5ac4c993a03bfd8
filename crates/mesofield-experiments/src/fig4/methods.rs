//! The method comparison: every test pattern made noisy at each level and
//! recovered by each method, with the errors, the times, the exact runs'
//! records, and the pictures of Fig. 4 and Fig. 2 (and the recovered
//! pattern that the dynamics figure starts from).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::json;

use mesofield_fno::FnoOperator;
use mesofield_inference::baselines::{oracle_blur, wiener};
use mesofield_inference::contrast_relative_error;
use mesofield_inference::denoise::{DenoiseConfig, DenoiseOutcome, denoise};
use mesofield_inference::gradient::{DataGradient, LinearResponse, OperatorGradient};
use mesofield_physics::io::{TensorData, to_safetensors, write_atomic};
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::stats::mean_std;
use mesofield_physics::{ChainModel, ExactSolver, FieldSolver, Grid, Solvers};

use super::Fig4Spec;
use super::operators::NamedDenoiser;
use super::pool::Pool;
use super::rbms::{self, Denoiser, NamedRbm, noisy};
use crate::plot;
use crate::progress::Reporter;

/// The solvers of the physics methods.
pub struct Physics<'a> {
    pub exact: &'a ExactSolver,
    pub linear: &'a LinearResponse,
    pub operator: Option<&'a (FnoOperator, OperatorGradient)>,
}

/// One exact physics recovery, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub level: f64,
    pub pattern: usize,
    pub exact: DenoiseOutcome,
}

#[derive(Clone, Debug, Serialize)]
pub struct LevelErrors {
    pub noise: f64,
    pub mean: f64,
    pub std: f64,
    pub errors: Vec<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MethodRow {
    pub method: String,
    pub levels: Vec<LevelErrors>,
    pub seconds_mean: f64,
}

/// The first test pattern at noise 0.5 (else the first level), recovered.
pub struct Picture {
    pub level: f64,
    pub noisy: Vec<f64>,
    pub clean: Vec<f64>,
    pub exact: Vec<f64>,
    pub operator: Option<Vec<f64>>,
    /// The first denoise operator's recovery (the physics operator's where learned).
    pub learned: Option<Vec<f64>>,
    /// Every RBM method's recovery, by method name.
    pub rbm: Vec<(String, Vec<f64>)>,
}

pub struct Comparison {
    pub methods: Vec<String>,
    /// `errors[method][level]` and `seconds[method][level]`, one entry per pattern.
    pub errors: Vec<Vec<Vec<f64>>>,
    pub seconds: Vec<Vec<Vec<f64>>>,
    pub runs: Vec<RunRecord>,
    pub picture: Option<Picture>,
}

impl Comparison {
    pub fn rows(&self, spec: &Fig4Spec) -> Vec<MethodRow> {
        self.methods
            .iter()
            .enumerate()
            .map(|(k, method)| {
                let levels = (0..spec.noise_levels.len())
                    .map(|li| {
                        let (mean, std) = mean_std(&self.errors[k][li]);
                        LevelErrors { noise: spec.noise_levels[li], mean, std, errors: self.errors[k][li].clone() }
                    })
                    .collect();
                let all: Vec<f64> = self.seconds[k].iter().flatten().copied().collect();
                MethodRow { method: method.clone(), levels, seconds_mean: mean_std(&all).0 }
            })
            .collect()
    }
}

fn method_names(operator: bool, denoisers: &[NamedDenoiser], rbms: &[NamedRbm]) -> Vec<String> {
    let mut v: Vec<String> = vec!["physics, exact solver".into()];
    if operator {
        v.push("physics, operator".into());
    }
    v.extend(denoisers.iter().map(|d| d.method.clone()));
    v.extend(["SCF relaxation (no data)", "oracle Gaussian blur", "Wiener filter", "noisy input"].map(String::from));
    v.into_iter().chain(rbms.iter().flat_map(|r| Denoiser::ALL.map(|d| d.method(&r.label)))).collect()
}

fn timed(f: impl FnOnce() -> Vec<f64>) -> (Vec<f64>, f64) {
    let start = Instant::now();
    let x = f();
    (x, start.elapsed().as_secs_f64())
}

#[allow(clippy::too_many_arguments)]
pub fn compare(
    spec: &Fig4Spec,
    pool: &Pool,
    tests: &[usize],
    chi: f64,
    solvers: &Physics<'_>,
    denoisers: &[NamedDenoiser],
    rbms: &[NamedRbm],
    plan: &SpectralPlan,
    reporter: &Reporter,
) -> Result<Comparison> {
    let methods = method_names(solvers.operator.is_some(), denoisers, rbms);
    let levels = spec.noise_levels.len();
    let mut errors = vec![vec![Vec::new(); levels]; methods.len()];
    let mut seconds = vec![vec![Vec::new(); levels]; methods.len()];
    let mut runs = Vec::new();
    let mut picture = None;
    let picture_level = rbms::picture_level(spec);
    let stage = reporter.stage((levels * tests.len()) as u64, "denoise");
    for (li, &level) in spec.noise_levels.iter().enumerate() {
        // The denoise operators: one batched call per level, its time shared
        // over the patterns.
        let m = plan.grid().points();
        let inputs: Vec<(Vec<f64>, f64)> =
            tests.iter().enumerate().map(|(t, &i)| noisy(spec, plan, pool.phi_a(i), li, t as u64)).collect();
        let ys: Vec<f64> = inputs.iter().flat_map(|(y, _)| y.iter().copied()).collect();
        let sigmas: Vec<f64> = inputs.iter().map(|(_, s)| *s).collect();
        let batched: Vec<(Vec<f64>, f64)> = denoisers
            .iter()
            .map(|d| {
                let (x, s) = timed(|| d.operator.denoise(&ys, &sigmas));
                (x, s / tests.len() as f64)
            })
            .collect();
        for (t, &i) in tests.iter().enumerate() {
            let clean = pool.phi_a(i);
            let (y, sigma) = inputs[t].clone();
            let config = DenoiseConfig {
                max_iterations: spec.max_iterations,
                ..DenoiseConfig::new(chi, spec.beads_per_cell, sigma)
            };
            let physics = |op: Option<&dyn FieldSolver>, gradient: &dyn DataGradient, config: &DenoiseConfig| {
                denoise(Solvers::new(solvers.exact, op)?, gradient, &y, config, &mut |_| {})
                    .with_context(|| format!("noise {level}, pattern {t}"))
            };
            let mut results: Vec<(Vec<f64>, f64)> = Vec::new();
            let out = physics(None, solvers.linear, &config)?;
            results.push((out.phi_a.clone(), out.seconds));
            runs.push(RunRecord { level, pattern: t, exact: out });
            if let Some((op, gradient)) = solvers.operator {
                let out = physics(Some(op as &dyn FieldSolver), gradient, &config)?;
                results.push((out.phi_a, out.seconds));
            }
            let learned_first = results.len();
            for (x, s) in &batched {
                results.push((x[t * m..(t + 1) * m].to_vec(), *s));
            }
            let relaxed = physics(None, solvers.linear, &DenoiseConfig { data_weight: 0.0, ..config.clone() })?;
            results.push((relaxed.phi_a, relaxed.seconds));
            results.push(timed(|| oracle_blur(plan, &y, clean).1));
            results.push(timed(|| wiener(plan, &y, sigma)));
            results.push((y.clone(), 0.0));
            // Posterior inference with the estimated noise level.
            let rbm_first = results.len();
            for r in rbms {
                for denoiser in Denoiser::ALL {
                    results.push(r.denoise(spec, denoiser, &y, sigma, rbms::chain_seed(spec, li, t)));
                }
            }
            for (k, (x, s)) in results.iter().enumerate() {
                errors[k][li].push(contrast_relative_error(x, clean));
                seconds[k][li].push(*s);
            }
            if li == picture_level && t == 0 {
                picture = Some(Picture {
                    level,
                    noisy: y.clone(),
                    clean: clean.to_vec(),
                    exact: results[0].0.clone(),
                    operator: solvers.operator.map(|_| results[1].0.clone()),
                    learned: (!denoisers.is_empty()).then(|| results[learned_first].0.clone()),
                    rbm: methods[rbm_first..]
                        .iter()
                        .cloned()
                        .zip(results[rbm_first..].iter().map(|r| r.0.clone()))
                        .collect(),
                });
            }
            stage.inc(1);
        }
    }
    stage.finish();
    Ok(Comparison { methods, errors, seconds, runs, picture })
}

/// The error table: one row per method, one column per noise level.
pub fn table(spec: &Fig4Spec, c: &Comparison, tests: usize, chi: f64, grid: Grid) -> String {
    let mut table = format!(
        "Contrast-relative error ||phi_rec - phi|| / ||phi - mean(phi)|| over {tests} test patterns (mean +- standard deviation), \
         L-FTS at chi = {}, B = {}, {}x{}; chi inferred from two samples: {chi:.4}.\n\n| method |",
        spec.chi, spec.beads_per_cell, grid.mx, grid.my
    );
    for level in &spec.noise_levels {
        table.push_str(&format!(" noise {level} |"));
    }
    table.push_str(" seconds per pattern |\n| --- |");
    table.push_str(&" --- |".repeat(spec.noise_levels.len() + 1));
    table.push('\n');
    for row in c.rows(spec) {
        table.push_str(&format!("| {} |", row.method));
        for l in &row.levels {
            table.push_str(&format!(" {:.4} +- {:.4} |", l.mean, l.std));
        }
        table.push_str(&format!(" {:.3} |\n", row.seconds_mean));
    }
    table
}

/// `fig4.png` (noisy, original, recovered by each physics path), `fig2.png`
/// (original, noisy, the recoveries of `fig2`'s RBM methods, largest
/// training set first, as the paper's panels) and `recovered.safetensors`.
pub fn draw(p: &Picture, fig2: &[String], model: &ChainModel, chi: f64, grid: Grid, out_dir: &Path) -> Result<()> {
    let panel =
        |v: &[f64], title: &str| plot::titled(plot::field_image(v, grid.mx, grid.my, Some((0.0, 1.0)), 256).0, title);
    let mut row = vec![panel(&p.noisy, "NOISY"), panel(&p.clean, "ORIGINAL"), panel(&p.exact, "RECOVERED EXACT")];
    if let Some(op) = &p.operator {
        row.push(panel(op, "RECOVERED OPERATOR"));
    }
    if let Some(learned) = &p.learned {
        row.push(panel(learned, "DENOISE OPERATOR"));
    }
    plot::save_png(plot::tile(vec![row]), &out_dir.join("fig4.png"))?;
    super::fig2::draw(&p.clean, &p.noisy, &p.rbm, fig2, grid, out_dir)?;
    let meta = json!({"format": "mesofield-denoised", "model": model, "chi": chi, "noise": p.level});
    let shape = vec![1, grid.mx, grid.my];
    let bytes = to_safetensors(
        &[("phi_a", shape.clone(), TensorData::F64(&p.exact)), ("original", shape, TensorData::F64(&p.clean))],
        &meta.to_string(),
    )?;
    write_atomic(&out_dir.join("recovered.safetensors"), &bytes)?;
    Ok(())
}
