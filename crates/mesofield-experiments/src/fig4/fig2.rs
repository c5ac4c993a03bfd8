//! Fig. 2 on its own: the RBM baselines of Fig. 4's experiment file on the
//! same pool, trained (or reused) as Fig. 4 trains them, chosen by the same
//! validation protocol, and scored on the same noisy test patterns with the
//! same chain seeds, so its rows equal Fig. 4's RBM rows. No chi inference,
//! no action minimisation: `experiments/fig2[-quick]/{fig2.png, table.md,
//! report.json}`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::Serialize;

use mesofield_inference::contrast_relative_error;
use mesofield_physics::io::write_atomic;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::stats::mean_std;
use mesofield_physics::{ChainModel, Grid};

use super::methods::{LevelErrors, MethodRow};
use super::rbms::{self, Denoiser, RbmProtocol, noisy};
use super::{Fig4Spec, pool};
use crate::plot;
use crate::progress::Reporter;
use crate::spec::Workspace;

#[derive(Clone, Debug, Serialize)]
pub struct Fig2Report {
    pub figure: String,
    /// The datasets and checkpoints it shares with Fig. 4 (`fig4[-quick]`).
    pub data: String,
    pub grid: [usize; 2],
    /// Each RBM method's contrast-relative errors on the test patterns.
    pub methods: Vec<MethodRow>,
    pub rbm_protocol: RbmProtocol,
    #[serde(skip)]
    pub table: String,
    #[serde(skip)]
    pub out_dir: PathBuf,
}

/// The RBM baselines of `spec` on the data of Fig. 4's variant `data`.
pub fn fig2(
    spec: &Fig4Spec,
    data: &str,
    out_dir: PathBuf,
    workspace: &Workspace,
    reporter: &Reporter,
) -> Result<Fig2Report> {
    if spec.test_runs == 0 || spec.chi_pairs == 0 || spec.noise_levels.is_empty() {
        bail!("{data}: test_runs, chi_pairs and noise_levels must not be empty");
    }
    let model = ChainModel::default();
    std::fs::create_dir_all(&out_dir)?;
    let pool = pool::Pool::load_or_generate(spec, &workspace.datasets(data), &model, reporter)?;
    let grid = Grid::for_model(&model, pool.data.mx, pool.data.my)?;
    let plan = SpectralPlan::new(grid);
    let rbms = rbms::train_rbms(spec, &pool, grid, &workspace.checkpoints(data), reporter)?;
    if rbms.is_empty() {
        bail!("{data}: no RBM fits the pool (rbm_sizes)");
    }
    let (tests, validation) = pool.tests_and_validation(spec)?;
    let protocol = rbms::assess(spec, &pool, &rbms, &validation, &tests, &plan, reporter)?;
    // The test patterns as Fig. 4 makes them noisy, each RBM method's
    // recoveries with Fig. 4's chain seeds; the first pattern at noise 0.5
    // (else the first level) is the picture's.
    let picture_level = rbms::picture_level(spec);
    let mut methods = Vec::new();
    let mut panels: Vec<(String, Vec<f64>)> = Vec::new();
    let mut picture_input = None;
    for r in &rbms {
        for denoiser in Denoiser::ALL {
            let method = denoiser.method(&r.label);
            let mut levels = Vec::with_capacity(spec.noise_levels.len());
            for (li, &level) in spec.noise_levels.iter().enumerate() {
                let mut errors = Vec::with_capacity(tests.len());
                for (t, &i) in tests.iter().enumerate() {
                    let clean = pool.phi_a(i);
                    let (y, sigma) = noisy(spec, &plan, clean, li, t as u64);
                    let (x, _) = r.denoise(spec, denoiser, &y, sigma, rbms::chain_seed(spec, li, t));
                    errors.push(contrast_relative_error(&x, clean));
                    if li == picture_level && t == 0 {
                        picture_input.get_or_insert_with(|| (clean.to_vec(), y.clone()));
                        panels.push((method.clone(), x));
                    }
                }
                let (mean, std) = mean_std(&errors);
                levels.push(LevelErrors { noise: level, mean, std, errors });
            }
            methods.push(MethodRow { method, levels, seconds_mean: f64::NAN });
        }
    }
    let chosen = protocol.chosen_methods();
    let (clean, y) = picture_input.expect("at least one RBM and one test pattern");
    draw(&clean, &y, &panels, &chosen, grid, &out_dir)?;
    let unseen = |method: &str, li: usize| methods.iter().find(|r| r.method == method).map(|r| r.levels[li].mean);
    let mut table = format!(
        "Contrast-relative error of the RBM baselines over {} test patterns (mean +- standard deviation), \
         L-FTS at chi = {}, B = {}, {}x{}: the RBM rows of Fig. 4.\n\n| method |",
        tests.len(),
        spec.chi,
        spec.beads_per_cell,
        grid.mx,
        grid.my
    );
    table.push_str(&spec.noise_levels.iter().map(|l| format!(" noise {l} |")).collect::<String>());
    table.push_str(&format!("\n| --- |{}\n", " --- |".repeat(spec.noise_levels.len())));
    for row in &methods {
        let cells: String = row.levels.iter().map(|l| format!(" {:.4} +- {:.4} |", l.mean, l.std)).collect();
        table.push_str(&format!("| {} |{cells}\n", row.method));
    }
    table.push_str(&rbms::table(spec, &protocol, &unseen));
    let report = Fig2Report {
        figure: "fig2".into(),
        data: data.into(),
        grid: [grid.mx, grid.my],
        methods,
        rbm_protocol: protocol,
        table,
        out_dir: out_dir.clone(),
    };
    write_atomic(&out_dir.join("table.md"), report.table.as_bytes())?;
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    Ok(report)
}

/// `fig2.png`: original, noisy, and the recoveries of the chosen methods
/// (the paper's panels).
pub(super) fn draw(
    clean: &[f64],
    y: &[f64],
    panels: &[(String, Vec<f64>)],
    chosen: &[String],
    grid: Grid,
    out: &std::path::Path,
) -> Result<()> {
    let panel =
        |v: &[f64], title: &str| plot::titled(plot::field_image(v, grid.mx, grid.my, Some((0.0, 1.0)), 256).0, title);
    let mut row = vec![panel(clean, "ORIGINAL"), panel(y, "NOISY")];
    for method in chosen {
        if let Some((_, rec)) = panels.iter().find(|(m, _)| m == method) {
            // "RBM-80, convolutional, augmented (posterior)" -> "RBM-80".
            let title = method.split(',').next().unwrap_or(method);
            row.push(panel(rec, &title.to_uppercase()));
        }
    }
    plot::save_png(plot::tile(vec![row]), &out.join("fig2.png"))
}
