//! `mesofield reproduce fig4 [--quick]`: learning from two samples (the
//! paper's Fig. 4). L-FTS patterns at one chi (datasets/fig4/pool), chi
//! inferred from two of them (and over several independent pairs), then every
//! test pattern made noisy at each noise level and recovered by each method:
//! action minimisation with the exact solver and with the operator, plain SCF
//! relaxation from the noisy start, the oracle Gaussian blur and a Wiener
//! filter. Writes experiments/fig4/{fig4.png, table.md, report.json}.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::json;

use mesofield_fno::vjp::FnoVjp;
use mesofield_inference::baselines::{estimate_noise_sigma, oracle_blur, wiener};
use mesofield_inference::contrast_relative_error;
use mesofield_inference::denoise::{DenoiseConfig, denoise};
use mesofield_inference::gradient::{DataGradient, LinearResponse, OperatorGradient};
use mesofield_inference::noise::add_noise;
use mesofield_physics::chi::{ChiEstimator, estimate_chi};
use mesofield_physics::dataset::{GeneratorConfig, LftsFamily};
use mesofield_physics::inverse::{InverseConfig, invert};
use mesofield_physics::io::write_atomic;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ChainModel, ExactSolver, FieldSolver, Grid};

use crate::plot;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fig4Spec {
    grid: [usize; 2],
    chi: f64,
    beads_per_cell: f64,
    step_size: f64,
    steps: usize,
    /// Independent runs whose last snapshot is a test pattern.
    test_runs: usize,
    /// Independent pairs of runs, each pair one chi inference.
    chi_pairs: usize,
    /// Further runs for the data-driven baselines' training samples.
    pool_runs: usize,
    /// Snapshots kept per run (spread over the second half, the last included).
    snapshots: usize,
    noise_levels: Vec<f64>,
    seed: u64,
    max_iterations: usize,
    /// A trained operator for the operator column; skipped if absent.
    operator: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fig4File {
    default: Fig4Spec,
    quick: Fig4Spec,
}

/// Mean and sample standard deviation.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

pub fn reproduce_fig4(config_path: &Path, quick: bool, backend: &str) -> Result<()> {
    let text = std::fs::read_to_string(config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let file: Fig4File = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", config_path.display(), e.to_string().replace('\n', " ")))?;
    let (spec, name) = if quick { (file.quick, "fig4-quick") } else { (file.default, "fig4") };
    if spec.test_runs == 0 || spec.chi_pairs == 0 || spec.snapshots == 0 || spec.noise_levels.is_empty() {
        bail!("{}: test_runs, chi_pairs, snapshots and noise_levels must not be empty", config_path.display());
    }
    let model = ChainModel::default();
    let out_dir = PathBuf::from("experiments").join(name);
    let data_dir = PathBuf::from("datasets").join(name);
    std::fs::create_dir_all(&out_dir)?;
    std::fs::create_dir_all(&data_dir)?;
    let runs = spec.test_runs + 2 * spec.chi_pairs + spec.pool_runs;
    let generator = GeneratorConfig {
        grid: spec.grid,
        seed: spec.seed,
        grf: Default::default(),
        scft: Default::default(),
        lfts: LftsFamily {
            runs,
            snapshots_per_run: spec.snapshots,
            chi: [spec.chi, spec.chi],
            steps: spec.steps,
            beads_per_cell: spec.beads_per_cell,
            step_size: spec.step_size,
        },
    };
    let pool = crate::reproduce::dataset(&data_dir.join("pool.safetensors"), &model, &generator, "L-FTS patterns")?;
    let grid = Grid::for_model(&model, pool.mx, pool.my)?;
    let m = grid.points();
    // The last snapshot of run r (snapshots are stored run by run, in order).
    let last_of = |r: usize| -> Result<usize> {
        (0..pool.len())
            .filter(|&i| pool.run[i] == r as i64)
            .max_by_key(|&i| pool.step[i])
            .with_context(|| format!("the pool has no snapshot of run {r}"))
    };
    let phi_a = |i: usize| -> &[f64] { &pool.phi[i * 2 * m..i * 2 * m + m] };
    let exact = ExactSolver::new(&model, grid)?;
    let plan = SpectralPlan::new(grid);

    // chi from each independent pair of samples.
    let mut pair_chi = Vec::new();
    for k in 0..spec.chi_pairs {
        let (mut w, mut phi) = (Vec::new(), Vec::new());
        for r in [spec.test_runs + 2 * k, spec.test_runs + 2 * k + 1] {
            let i = last_of(r)?;
            let mut target = phi_a(i).to_vec();
            target.extend(phi_a(i).iter().map(|v| 1.0 - v));
            let inv = invert(&exact, &target, None, &InverseConfig::default())?;
            if !inv.converged {
                bail!("chi pair {k}: the inverse map of run {r}'s pattern stopped at residual {:.2e}", inv.residual);
            }
            w.extend(inv.w);
            phi.extend(target);
        }
        let estimate =
            estimate_chi(&plan, &w, &phi, ChiEstimator::Equipartition { beads_per_cell: spec.beads_per_cell })?;
        pair_chi.push(estimate);
    }
    let chi_values: Vec<f64> = pair_chi.iter().map(|e| e.chi).collect();
    let (chi_mean, chi_spread) = mean_std(&chi_values);
    let chi = chi_values[0];
    eprintln!(
        "chi from two samples: {chi:.4} (over {} pairs {chi_mean:.4} +- {chi_spread:.4}; true {})",
        spec.chi_pairs, spec.chi
    );

    let operator_dir = PathBuf::from(&spec.operator);
    let operator = if operator_dir.join("config.json").exists() {
        let device = crate::operator_cmds::device(backend)?;
        let op = mesofield_fno::FnoOperator::load(&operator_dir, grid.mx, grid.my, &device)?;
        if op.normalization.model != model {
            bail!("{}: the operator was trained for another chain model", operator_dir.display());
        }
        let vjp = FnoVjp::load(&operator_dir, grid.mx, grid.my, &device)?;
        Some((op, OperatorGradient::new(vjp, &model)))
    } else {
        eprintln!("{}: no trained operator there, the operator column is skipped", operator_dir.display());
        None
    };
    let linear = LinearResponse::new(&model, grid);

    let methods: Vec<&str> = {
        let mut v = vec!["physics, exact solver"];
        if operator.is_some() {
            v.push("physics, operator");
        }
        v.extend(["SCF relaxation (no data)", "oracle Gaussian blur", "Wiener filter", "noisy input"]);
        v
    };
    let tests: Vec<usize> = (0..spec.test_runs).map(last_of).collect::<Result<_>>()?;
    // errors[method][level] and seconds[method][level], one entry per pattern.
    let mut errors = vec![vec![Vec::new(); spec.noise_levels.len()]; methods.len()];
    let mut seconds = vec![vec![Vec::new(); spec.noise_levels.len()]; methods.len()];
    let mut iterations = Vec::new();
    let mut picture = None;
    let picture_level = spec.noise_levels.iter().position(|&l| (l - 0.5).abs() < 1e-12).unwrap_or(0);
    let bar = crate::progress_bar((spec.noise_levels.len() * tests.len()) as u64, "denoise");
    for (li, &level) in spec.noise_levels.iter().enumerate() {
        for (t, &i) in tests.iter().enumerate() {
            let clean = phi_a(i);
            let (y, _) =
                add_noise(clean, level, 0.0, &mut StreamRng::new(spec.seed + 1000 * (li as u64 + 1), t as u64));
            let sigma = estimate_noise_sigma(&plan, &y);
            let config = DenoiseConfig {
                max_iterations: spec.max_iterations,
                ..DenoiseConfig::new(chi, spec.beads_per_cell, sigma)
            };
            let mut results: Vec<(Vec<f64>, f64)> = Vec::new();
            let timed = |f: &mut dyn FnMut() -> Result<Vec<f64>>| -> Result<(Vec<f64>, f64)> {
                let start = Instant::now();
                let x = f()?;
                Ok((x, start.elapsed().as_secs_f64()))
            };
            let physics = |op: Option<&dyn FieldSolver>, gradient: &dyn DataGradient, config: &DenoiseConfig| {
                denoise(&exact, op, gradient, &y, config, &mut |_| {})
                    .with_context(|| format!("noise {level}, pattern {t}"))
            };
            let out = physics(None, &linear, &config)?;
            iterations.push(json!({"level": level, "pattern": t, "exact": out}));
            results.push((out.phi_a, out.seconds));
            if let Some((op, gradient)) = &operator {
                let out = physics(Some(op as &dyn FieldSolver), gradient, &config)?;
                results.push((out.phi_a, out.seconds));
            }
            let relaxed = physics(None, &linear, &DenoiseConfig { data_weight: 0.0, ..config.clone() })?;
            results.push((relaxed.phi_a, relaxed.seconds));
            results.push(timed(&mut || Ok(oracle_blur(&plan, &y, clean).1))?);
            results.push(timed(&mut || Ok(wiener(&plan, &y, sigma)))?);
            results.push((y.clone(), 0.0));
            for (k, (x, s)) in results.iter().enumerate() {
                errors[k][li].push(contrast_relative_error(x, clean));
                seconds[k][li].push(*s);
            }
            if li == picture_level && t == 0 {
                picture = Some((
                    y.clone(),
                    clean.to_vec(),
                    results[0].0.clone(),
                    operator.as_ref().map(|_| results[1].0.clone()),
                ));
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let mut table = format!(
        "Contrast-relative error ||phi_rec - phi|| / ||phi - mean(phi)|| over {} test patterns (mean +- standard deviation), \
         L-FTS at chi = {}, B = {}, {}x{}; chi inferred from two samples: {chi:.4}.\n\n| method |",
        tests.len(),
        spec.chi,
        spec.beads_per_cell,
        grid.mx,
        grid.my
    );
    for level in &spec.noise_levels {
        table.push_str(&format!(" noise {level} |"));
    }
    table.push_str(" seconds per pattern |\n| --- |");
    table.push_str(&" --- |".repeat(spec.noise_levels.len() + 1));
    table.push('\n');
    let mut rows = Vec::new();
    for (k, method) in methods.iter().enumerate() {
        table.push_str(&format!("| {method} |"));
        let mut per_level = Vec::new();
        for li in 0..spec.noise_levels.len() {
            let (mean, std) = mean_std(&errors[k][li]);
            table.push_str(&format!(" {mean:.4} +- {std:.4} |"));
            per_level.push(json!({"noise": spec.noise_levels[li], "mean": mean, "std": std, "errors": errors[k][li]}));
        }
        let all_seconds: Vec<f64> = seconds[k].iter().flatten().copied().collect();
        let (s_mean, _) = mean_std(&all_seconds);
        table.push_str(&format!(" {s_mean:.3} |\n"));
        rows.push(json!({"method": method, "levels": per_level, "seconds_mean": s_mean}));
    }
    table.push_str(&format!(
        "\nchi from two independent samples, over {} pairs: {chi_mean:.4} +- {chi_spread:.4} (true {}; values {:?}).\n\
         RBM baselines (Fig. 2): not built yet.\n",
        spec.chi_pairs,
        spec.chi,
        chi_values.iter().map(|c| (c * 1e4).round() / 1e4).collect::<Vec<_>>()
    ));
    if let Some((y, clean, exact_rec, op_rec)) = picture {
        let range = Some((0.0, 1.0));
        let panel = |v: &[f64], title: &str| plot::titled(plot::field_image(v, grid.mx, grid.my, range, 256).0, title);
        let mut row = vec![panel(&y, "NOISY"), panel(&clean, "ORIGINAL"), panel(&exact_rec, "RECOVERED EXACT")];
        if let Some(op) = op_rec {
            row.push(panel(&op, "RECOVERED OPERATOR"));
        }
        plot::save_png(plot::tile(vec![row]), &out_dir.join("fig4.png"))?;
    }
    write_atomic(&out_dir.join("table.md"), table.as_bytes())?;
    let report = json!({
        "figure": "fig4", "variant": name, "chi_true": spec.chi, "chi_used": chi,
        "chi_pairs": pair_chi, "chi_mean": chi_mean, "chi_spread": chi_spread,
        "beads_per_cell": spec.beads_per_cell, "grid": [grid.mx, grid.my], "operator": operator.as_ref().map(|_| &spec.operator),
        "methods": rows, "runs": iterations,
    });
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    print!("{table}");
    println!("report, table and figure -> {}", out_dir.display());
    Ok(())
}
