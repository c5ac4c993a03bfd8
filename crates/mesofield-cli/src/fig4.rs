//! `mesofield reproduce fig4 [--quick]`: learning from two samples (the
//! paper's Fig. 4). L-FTS patterns at one chi (datasets/fig4/pool), chi
//! inferred from two of them (and over several independent pairs), then every
//! test pattern made noisy at each noise level and recovered by each method:
//! action minimisation with the exact solver and with the operator, plain SCF
//! relaxation from the noisy start, the oracle Gaussian blur, a Wiener
//! filter and restricted Boltzmann machines trained on 10 and 80 patterns.
//! Writes experiments/fig4/{fig4.png, fig2.png, table.md, report.json}
//! (`reproduce fig2` runs the same pipeline: its figure needs the same data).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::json;

use mesofield_inference::baselines::{estimate_noise_sigma, oracle_blur, wiener};
use mesofield_inference::contrast_relative_error;
use mesofield_inference::denoise::{DenoiseConfig, denoise};
use mesofield_inference::gradient::{DataGradient, LinearResponse};
use mesofield_inference::noise::add_noise;
use mesofield_inference::rbm::{RbmConfig, train_rbm};
use mesofield_physics::chi::{ChiEstimator, estimate_chi};
use mesofield_physics::dataset::{GeneratorConfig, LftsFamily};
use mesofield_physics::fields::InitialField;
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::io::write_atomic;
use mesofield_physics::lfts::{Lfts, LftsConfig, StructureFactor, structure_factor};
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
    /// Training-set sizes of the RBM baselines (sizes beyond the pool are skipped).
    rbm_sizes: Vec<usize>,
    rbm_hidden: usize,
    rbm_updates: usize,
    rbm_learning_rate: f64,
    /// Also train each RBM with random periodic translations of its samples.
    rbm_translate: bool,
    /// Other interaction strengths to sample at with no new data.
    extrapolate: Vec<f64>,
}

/// Mean and sample standard deviation.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

pub fn reproduce_fig4(config_path: &Path, quick: bool, backend: &str) -> Result<()> {
    let spec: Fig4Spec = crate::reproduce::load_spec(config_path, quick)?;
    let name = if quick { "fig4-quick" } else { "fig4" };
    if spec.test_runs == 0 || spec.chi_pairs == 0 || spec.snapshots == 0 || spec.noise_levels.is_empty() {
        bail!("{}: test_runs, chi_pairs, snapshots and noise_levels must not be empty", config_path.display());
    }
    let model = ChainModel::default();
    let out_dir = PathBuf::from("experiments").join(if quick { "denoise-quick" } else { "denoise" });
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
    let inverter = Inverter::new(&exact, None, InverseConfig::default())?;
    let mut pair_chi = Vec::new();
    for k in 0..spec.chi_pairs {
        let (mut w, mut phi) = (Vec::new(), Vec::new());
        for r in [spec.test_runs + 2 * k, spec.test_runs + 2 * k + 1] {
            let i = last_of(r)?;
            let mut target = phi_a(i).to_vec();
            target.extend(phi_a(i).iter().map(|v| 1.0 - v));
            let (inv, _) = inverter.invert(&target, None)?;
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
        Some(crate::denoise_cmd::operator_with_gradient(&operator_dir, backend, &model, &grid)?)
    } else {
        eprintln!("{}: no trained operator there, the operator column is skipped", operator_dir.display());
        None
    };
    let linear = LinearResponse::new(&model, grid);

    // The RBM baselines, on the pool runs' patterns: the last snapshots of
    // distinct runs first, so a small set holds independent patterns.
    let first_pool_run = (spec.test_runs + 2 * spec.chi_pairs) as i64;
    let mut pool_samples: Vec<usize> = (0..pool.len()).filter(|&i| pool.run[i] >= first_pool_run).collect();
    pool_samples.sort_by_key(|&i| (std::cmp::Reverse(pool.step[i]), pool.run[i]));
    let mut rbms = Vec::new();
    let device = crate::operator_cmds::device("cpu")?;
    for &size in &spec.rbm_sizes {
        if size > pool_samples.len() {
            eprintln!("RBM-{size}: the pool holds only {} patterns, skipped", pool_samples.len());
            continue;
        }
        let train: Vec<f64> = pool_samples[..size].iter().flat_map(|&i| phi_a(i).to_vec()).collect();
        for translate in if spec.rbm_translate { vec![false, true] } else { vec![false] } {
            let config = RbmConfig::new()
                .with_hidden(spec.rbm_hidden)
                .with_updates(spec.rbm_updates)
                .with_learning_rate(spec.rbm_learning_rate)
                .with_translate(translate)
                .with_seed(spec.seed);
            let label = if translate { format!("RBM-{size}, translations") } else { format!("RBM-{size}") };
            let bar = crate::progress_bar(spec.rbm_updates as u64, &format!("train {label}"));
            let rbm = train_rbm(&train, grid.mx, grid.my, &config, &device, &mut |u| bar.set_position(u as u64))
                .map_err(|e| anyhow::anyhow!(e))?;
            bar.finish_and_clear();
            let dir = PathBuf::from("checkpoints")
                .join(name)
                .join(format!("rbm{size}{}", if translate { "-translate" } else { "" }));
            rbm.save(&dir).map_err(|e| anyhow::anyhow!(e))?;
            rbms.push((label, size, rbm));
        }
    }

    let methods: Vec<String> = {
        let mut v = vec!["physics, exact solver"];
        if operator.is_some() {
            v.push("physics, operator");
        }
        v.extend(["SCF relaxation (no data)", "oracle Gaussian blur", "Wiener filter", "noisy input"]);
        v.into_iter().map(String::from).chain(rbms.iter().map(|(label, _, _)| label.clone())).collect::<Vec<_>>()
    };
    let tests: Vec<usize> = (0..spec.test_runs).map(last_of).collect::<Result<_>>()?;
    // errors[method][level] and seconds[method][level], one entry per pattern.
    let mut errors = vec![vec![Vec::new(); spec.noise_levels.len()]; methods.len()];
    let mut seconds = vec![vec![Vec::new(); spec.noise_levels.len()]; methods.len()];
    let mut iterations = Vec::new();
    let mut picture = None;
    let mut rbm_picture: Vec<(String, Vec<f64>)> = Vec::new();
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
            for (_, _, rbm) in &rbms {
                results.push(timed(&mut || Ok(rbm.reconstruct(&y)))?);
            }
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
                let rbm_first = results.len() - rbms.len();
                rbm_picture = rbms
                    .iter()
                    .enumerate()
                    .filter(|(_, (label, _, _))| !label.contains("translations"))
                    .map(|(k, (label, _, _))| (label.clone(), results[rbm_first + k].0.clone()))
                    .collect();
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
         RBM: Gaussian-Bernoulli, {} hidden units, {} PCD-1 updates at learning rate {}, trained on the first patterns of the pool runs.\n",
        spec.chi_pairs,
        spec.chi,
        chi_values.iter().map(|c| (c * 1e4).round() / 1e4).collect::<Vec<_>>(),
        spec.rbm_hidden,
        spec.rbm_updates,
        spec.rbm_learning_rate,
    ));
    if let Some((y, clean, exact_rec, op_rec)) = picture {
        let range = Some((0.0, 1.0));
        let panel = |v: &[f64], title: &str| plot::titled(plot::field_image(v, grid.mx, grid.my, range, 256).0, title);
        let mut row = vec![panel(&y, "NOISY"), panel(&clean, "ORIGINAL"), panel(&exact_rec, "RECOVERED EXACT")];
        if let Some(op) = op_rec {
            row.push(panel(&op, "RECOVERED OPERATOR"));
        }
        plot::save_png(plot::tile(vec![row]), &out_dir.join("fig4.png"))?;
        // Fig. 2: the original, the noisy input and the RBM recoveries.
        let mut row = vec![panel(&clean, "ORIGINAL"), panel(&y, "NOISY")];
        for (label, rec) in rbm_picture.iter().rev() {
            row.push(panel(rec, &label.to_uppercase()));
        }
        plot::save_png(plot::tile(vec![row]), &out_dir.join("fig2.png"))?;
        // The recovered pattern, for `reproduce dynamics`.
        let meta = json!({"format": "mesofield-denoised", "model": model, "chi": chi, "noise": spec.noise_levels[picture_level]});
        let bytes = mesofield_physics::io::to_safetensors(
            &[
                ("phi_a", vec![1, grid.mx, grid.my], mesofield_physics::io::TensorData::F64(&exact_rec)),
                ("original", vec![1, grid.mx, grid.my], mesofield_physics::io::TensorData::F64(&clean)),
            ],
            &meta.to_string(),
        )?;
        write_atomic(&out_dir.join("recovered.safetensors"), &bytes)?;
    }
    // Extrapolation: L-FTS at chi_hat x target / chi (the observed system's
    // interaction scaled, so the inference error carries over) against L-FTS
    // run directly at each target, and the largest RBM's own samples.
    let mut extrapolation = Vec::new();
    if !spec.extrapolate.is_empty() {
        table.push_str(
            "\nExtrapolation with no new data: S(q) peak (position q*, height S*) over the second half of each run.\n\n| target chi | L-FTS at target: q*, S* | physics from two samples: chi used, q*, S* | RBM samples: q*, S* |\n| --- | --- | --- | --- |\n",
        );
        let observed: Vec<StructureFactor> = tests.iter().map(|&i| structure_factor(&plan, phi_a(i))).collect();
        let (oq, os) = peak_of(&average_sq(&observed));
        table.push_str(&format!("| {} (observed: the test patterns) | {oq:.3}, {os:.3} | | |\n", spec.chi));
        extrapolation.push(json!({"target": spec.chi, "observed": {"q": oq, "S": os}}));
        let rbm_last = rbms.iter().rfind(|(label, _, _)| !label.contains("translations"));
        let rbm_peak = match rbm_last {
            Some((label, _, rbm)) => {
                let mut rng = StreamRng::new(spec.seed, 99);
                let start: Vec<f64> = (0..8 * m).map(|_| 0.7 + 0.1 * rng.normal()).collect();
                let samples = rbm.sample(&start, 500, spec.seed);
                let mut acc = Vec::new();
                for s in samples.chunks(m) {
                    acc.push(structure_factor(&plan, s));
                }
                Some((label.clone(), peak_of(&average_sq(&acc))))
            }
            None => None,
        };
        for &target in &spec.extrapolate {
            let step_size = spec.step_size * (spec.chi / target).min(1.0);
            let bar = crate::progress_bar(2 * spec.steps as u64, &format!("L-FTS at chi {target}"));
            let direct = lfts_sq(&exact, target, spec.beads_per_cell, step_size, spec.steps, spec.seed + 501, &bar)?;
            let chi_model = chi * target / spec.chi;
            let physics =
                lfts_sq(&exact, chi_model, spec.beads_per_cell, step_size, spec.steps, spec.seed + 502, &bar)?;
            bar.finish_and_clear();
            let (dq, ds) = peak_of(&direct);
            let (pq, ps) = peak_of(&physics);
            table.push_str(&format!(
                "| {target} | {dq:.3}, {ds:.3} | {chi_model:.4}, {pq:.3}, {ps:.3} | {} |\n",
                match &rbm_peak {
                    Some((label, (rq, rs))) => format!("{rq:.3}, {rs:.3} ({label} trained at chi {})", spec.chi),
                    None => "no RBM".into(),
                }
            ));
            extrapolation.push(json!({"target": target, "direct": {"q": dq, "S": ds, "sq": direct},
                                      "physics": {"chi": chi_model, "q": pq, "S": ps, "sq": physics},
                                      "rbm": rbm_peak.as_ref().map(|(l, (q, s))| json!({"model": l, "q": q, "S": s}))}));
        }
    }
    write_atomic(&out_dir.join("table.md"), table.as_bytes())?;
    let report = json!({
        "figure": "fig4", "variant": name, "chi_true": spec.chi, "chi_used": chi,
        "chi_pairs": pair_chi, "chi_mean": chi_mean, "chi_spread": chi_spread,
        "beads_per_cell": spec.beads_per_cell, "grid": [grid.mx, grid.my], "operator": operator.as_ref().map(|_| &spec.operator),
        "methods": rows, "runs": iterations, "extrapolation": extrapolation,
    });
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    write_atomic(&out_dir.join("table.json"), serde_json::to_string_pretty(&report["methods"])?.as_bytes())?;
    print!("{table}");
    println!("report, table and figure -> {}", out_dir.display());
    Ok(())
}

/// S(q) of phi_A averaged over the second half of an L-FTS run from a weak
/// random start at `chi`.
fn lfts_sq(
    exact: &ExactSolver,
    chi: f64,
    beads_per_cell: f64,
    step_size: f64,
    steps: usize,
    seed: u64,
    bar: &indicatif::ProgressBar,
) -> Result<StructureFactor> {
    let grid = *exact.grid();
    let model = exact.model();
    let plan = SpectralPlan::new(grid);
    let w0 = InitialField::Random { amplitude: 0.01 }.fields(model, &grid, chi, &mut StreamRng::new(seed, 0));
    let sampler = Lfts::new(LftsConfig::new(chi, beads_per_cell, step_size, seed), exact, None)?;
    let (mut state, _) = sampler.start(&w0, 0)?;
    let mut acc = Vec::new();
    let m = grid.points();
    while state.step < steps {
        state = sampler.step(&state).with_context(|| format!("L-FTS at chi {chi}"))?.0;
        if state.step > steps / 2 {
            acc.push(structure_factor(&plan, &state.phi[..m]));
        }
        bar.inc(1);
    }
    Ok(average_sq(&acc))
}

fn average_sq(all: &[StructureFactor]) -> StructureFactor {
    let mut out = all[0].clone();
    for sq in &all[1..] {
        for (a, b) in out.s.iter_mut().zip(&sq.s) {
            *a += b;
        }
    }
    out.s.iter_mut().for_each(|v| *v /= all.len() as f64);
    out
}

/// Position and height of the highest shell (q > 0).
fn peak_of(sq: &StructureFactor) -> (f64, f64) {
    let i = (0..sq.s.len()).max_by(|&a, &b| sq.s[a].total_cmp(&sq.s[b])).unwrap_or(0);
    (sq.q.get(i).copied().unwrap_or(f64::NAN), sq.s.get(i).copied().unwrap_or(f64::NAN))
}
