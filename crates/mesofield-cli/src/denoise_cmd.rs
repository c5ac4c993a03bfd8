//! `mesofield denoise`: recover patterns from noisy observations by action
//! minimisation, chi given or inferred from clean samples.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use mesofield_fno::FnoOperator;
use mesofield_fno::vjp::FnoVjp;
use mesofield_inference::baselines::estimate_noise_sigma;
use mesofield_inference::contrast_relative_error;
use mesofield_inference::denoise::{DenoiseConfig, DenoiseOutcome, denoise};
use mesofield_inference::gradient::{DataGradient, LinearResponse, OperatorGradient};
use mesofield_physics::chi::{ChiEstimate, ChiEstimator, estimate_chi};
use mesofield_physics::io::{TensorData, to_safetensors, write_atomic};
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ChainModel, ExactSolver, FieldSolver, Grid};

use crate::observe::{Patterns, load_patterns};

#[derive(Args)]
pub struct DenoiseArgs {
    /// Noisy observations (.safetensors `phi_a`/`phi`, .npy or grayscale .png).
    #[arg(long)]
    pub input: PathBuf,
    /// The interaction, if known.
    #[arg(long, conflicts_with = "samples", required_unless_present = "samples")]
    pub chi: Option<f64>,
    /// Clean samples to infer chi from (the equipartition estimator at --beads-per-cell); several files are pooled.
    #[arg(long, num_args = 1..)]
    pub samples: Vec<PathBuf>,
    /// B, beads per grid cell of the ensemble: the weight of the action against the data.
    #[arg(long, default_value_t = 100.0)]
    pub beads_per_cell: f64,
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
    /// exact | operator:CHECKPOINT (W_+ loops and the data term's gradient on the operator).
    #[arg(long, default_value = "exact")]
    pub solver: String,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
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
    pub common: crate::Common,
}

/// The operator in `dir` (refused if trained for another chain) and its
/// autodiff data-term gradient.
pub fn operator_with_gradient(
    dir: &Path,
    backend: &str,
    model: &ChainModel,
    grid: &Grid,
) -> Result<(FnoOperator, OperatorGradient)> {
    let choice = format!("operator:{}", dir.display());
    let op = crate::operator_cmds::solver_choice(&choice, backend, model, grid)?.expect("an operator choice");
    let device = crate::operator_cmds::device(backend)?;
    let vjp = FnoVjp::load(dir, grid.mx, grid.my, &device)?;
    Ok((op, OperatorGradient::new(vjp, model)))
}

/// chi from clean samples by the inverse map and the equipartition estimator.
pub fn chi_from_samples(
    paths: &[PathBuf],
    model: &ChainModel,
    beads_per_cell: f64,
    solver: &str,
    backend: &str,
    phi_range: [f64; 2],
) -> Result<ChiEstimate> {
    let clean = crate::observe::load_many(paths, phi_range, true)?;
    let inv = crate::pattern_cmds::invert_patterns(clean, model.clone(), solver, backend, 1e-10)?;
    let plan = SpectralPlan::new(inv.grid);
    Ok(estimate_chi(&plan, &inv.w, &inv.phi, ChiEstimator::Equipartition { beads_per_cell })?)
}

pub fn cmd_denoise(a: &DenoiseArgs) -> Result<()> {
    let phi_range = crate::parse_range(&a.phi_range, "--phi-range")?;
    let noisy = load_patterns(&a.input, phi_range, false)?;
    let model = noisy.chain_model(a.model.as_deref())?;
    let grid = Grid::for_model(&model, noisy.mx, noisy.my)?;
    let truth = a.truth.as_deref().map(|path| noisy.load_truth(path, phi_range)).transpose()?;
    let inferred = if a.samples.is_empty() {
        None
    } else {
        Some(chi_from_samples(&a.samples, &model, a.beads_per_cell, &a.solver, &a.backend, phi_range)?)
    };
    let chi = a.chi.or(inferred.as_ref().map(|e| e.chi)).expect("clap requires --chi or --samples");
    let exact = ExactSolver::new(&model, grid)?;
    let (operator, gradient): (Option<FnoOperator>, Box<dyn DataGradient>) = match a.solver.strip_prefix("operator:") {
        Some(dir) => {
            let (op, gradient) = operator_with_gradient(Path::new(dir), &a.backend, &model, &grid)?;
            (Some(op), Box::new(gradient))
        }
        None => {
            crate::operator_cmds::solver_choice(&a.solver, &a.backend, &model, &grid)?;
            (None, Box::new(LinearResponse::new(&model, grid)))
        }
    };
    let plan = SpectralPlan::new(grid);
    let m = grid.points();
    let bar = crate::progress_bar((noisy.n * a.max_iterations) as u64, "denoise");
    let mut recovered = Vec::with_capacity(noisy.n * m);
    let mut fields = Vec::with_capacity(noisy.n * 2 * m);
    let mut reports = Vec::new();
    for s in 0..noisy.n {
        let y = noisy.sample(s);
        let sigma = match a.sigma {
            Some(v) => v,
            None => estimate_noise_sigma(&plan, y),
        };
        let config = DenoiseConfig {
            data_weight: a.data_weight,
            max_iterations: a.max_iterations,
            ..DenoiseConfig::new(chi, a.beads_per_cell, sigma)
        };
        let op = operator.as_ref().map(|o| o as &dyn FieldSolver);
        let run = |config: &DenoiseConfig| -> Result<DenoiseOutcome> {
            let base = (s * a.max_iterations) as u64;
            denoise(&exact, op, gradient.as_ref(), y, config, &mut |p| bar.set_position(base + p.iteration as u64))
                .with_context(|| format!("pattern {s}"))
        };
        let out = run(&config)?;
        let relaxation =
            if a.compare_relaxation { Some(run(&DenoiseConfig { data_weight: 0.0, ..config.clone() })?) } else { None };
        let errors = truth.as_ref().map(|t| {
            let clean = t.sample(s);
            json!({"recovery": contrast_relative_error(&out.phi_a, clean),
                   "relaxation": relaxation.as_ref().map(|r| contrast_relative_error(&r.phi_a, clean)),
                   "noisy": contrast_relative_error(y, clean)})
        });
        reports.push(json!({"sigma": sigma, "recovery": out, "relaxation": relaxation, "error": errors}));
        recovered.extend_from_slice(&out.phi_a);
        fields.extend_from_slice(&out.w);
    }
    bar.finish_and_clear();
    let meta = json!({"format": "mesofield-denoised", "model": model, "chi": chi, "beads_per_cell": a.beads_per_cell,
                      "solver": a.solver, "input": a.input});
    let bytes = to_safetensors(
        &[
            ("phi_a", vec![noisy.n, noisy.mx, noisy.my], TensorData::F64(&recovered)),
            ("w", vec![noisy.n, 2, noisy.mx, noisy.my], TensorData::F64(&fields)),
        ],
        &meta.to_string(),
    )?;
    write_atomic(&a.out, &bytes)?;
    draw(&noisy, &recovered, truth.as_ref(), &a.out.with_extension("png"))?;
    let report = json!({"chi": chi, "chi_inferred": inferred, "beads_per_cell": a.beads_per_cell, "solver": a.solver,
                        "gradient": gradient.name(), "samples": reports, "out": a.out});
    if a.common.json {
        crate::print_json(&report);
    } else {
        for (s, r) in reports.iter().enumerate() {
            let rec = &r["recovery"];
            println!(
                "pattern {s}: {} iterations, action {:.4}, data misfit {:.4}, {} exact solves, {:.2} s{}",
                rec["iterations"],
                rec["action"].as_f64().unwrap_or(f64::NAN),
                rec["data_misfit"].as_f64().unwrap_or(f64::NAN),
                rec["exact_solves"],
                rec["seconds"].as_f64().unwrap_or(f64::NAN),
                match r["error"]["recovery"].as_f64() {
                    Some(e) =>
                        format!(", error {e:.4} (noisy {:.4})", r["error"]["noisy"].as_f64().unwrap_or(f64::NAN)),
                    None => String::new(),
                }
            );
        }
        println!("chi {chi:.5} -> {}", a.out.display());
    }
    Ok(())
}

/// Noisy | recovered (| truth) per pattern, one shared colour scale.
fn draw(noisy: &Patterns, recovered: &[f64], truth: Option<&Patterns>, path: &Path) -> Result<()> {
    let m = noisy.points();
    let range = Some((0.0, 1.0));
    let mut rows = Vec::new();
    for s in 0..noisy.n.min(4) {
        let mut row = vec![
            crate::plot::titled(crate::plot::field_image(noisy.sample(s), noisy.mx, noisy.my, range, 192).0, "NOISY"),
            crate::plot::titled(
                crate::plot::field_image(&recovered[s * m..(s + 1) * m], noisy.mx, noisy.my, range, 192).0,
                "RECOVERED",
            ),
        ];
        if let Some(t) = truth {
            row.push(crate::plot::titled(crate::plot::field_image(t.sample(s), t.mx, t.my, range, 192).0, "ORIGINAL"));
        }
        rows.push(row);
    }
    crate::plot::save_png(crate::plot::tile(rows), path)
}
