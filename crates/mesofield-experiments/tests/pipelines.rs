//! Each pipeline run on a tiny spec in a scratch workspace, without the
//! binary: the report's numbers against what the spec asked for and the
//! model's properties, and the files the figure consists of.

use std::path::{Path, PathBuf};

use mesofield_experiments::dynamics_fig::{DynamicsFigSpec, dynamics_figure};
use mesofield_experiments::fig1::{Fig1Spec, fig1};
use mesofield_experiments::fig3::{EVAL_SETS, Fig3Spec, fig3};
use mesofield_experiments::fig4::{Fig4Spec, fig2, fig4};
use mesofield_experiments::spec::parse_spec;
use mesofield_experiments::{Backend, Reporter, SolverChoice, Workspace};
use mesofield_fno::training::Stop;
use mesofield_physics::ChainModel;
use mesofield_physics::io::{TensorData, to_safetensors, write_atomic};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesofield-pipeline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn exists(dir: &Path, names: &[&str]) {
    for name in names {
        assert!(dir.join(name).exists(), "{} missing", dir.join(name).display());
    }
}

#[test]
fn fig1_runs_each_panel_and_reuses_finished_runs() {
    let root = scratch("fig1");
    let spec: Fig1Spec = parse_spec(
        r#"
        [default]
        grid = [16, 16]
        beads_per_cell = 100.0
        steps = 20
        every = 10
        tol = 1e-6
        init = "random:0.01"
        panels = [{ chi = 0.4, seed = 1, step_size = 0.04 }, { chi = 0.1, seed = 2, step_size = 0.025 }]
        [quick]
        grid = [16, 16]
        beads_per_cell = 100.0
        steps = 1
        every = 1
        tol = 1e-6
        init = "random:0.01"
        panels = []
        "#,
        false,
    )
    .unwrap();
    let ws = Workspace::new(&root);
    let silent = Reporter::silent();
    let report = fig1(&spec, "fig1-tiny", &ws, &SolverChoice::Exact, Backend::Cpu, &silent).unwrap();
    assert_eq!(report.panels.len(), 2);
    for (panel, asked) in report.panels.iter().zip(&spec.panels) {
        let s = &panel.summary;
        assert_eq!((s.chi, s.seed, s.steps, s.grid), (asked.chi, asked.seed, 20, [16, 16]));
        // The statistics run over the steps of the second half.
        assert_eq!(s.statistics_over_steps, 10);
        assert!(s.psi2_mean > 0.0 && s.psi2_mean < 1.0, "{}", s.psi2_mean);
        assert!(s.final_pressure_residual <= 1e-6);
        // The peak is a shell of the 16 x 16 box: q a multiple of about 2 pi / 6.4.
        assert!(panel.peak_q > 0.9 && panel.peak_q < 10.0, "{}", panel.peak_q);
        assert!(panel.peak_s > 0.0);
        exists(&panel.run, &["summary.json", "sq.json", "last.safetensors", "trace.jsonl", "snap_000020.png"]);
    }
    let out = ws.experiments("fig1-tiny");
    exists(&out, &["fig1.png", "table.md", "report.json"]);
    assert_eq!(report.table.lines().count(), 4);
    // A second call reuses the finished runs: the same figures, no new steps.
    let again = fig1(&spec, "fig1-tiny", &ws, &SolverChoice::Exact, Backend::Cpu, &silent).unwrap();
    for (a, b) in report.panels.iter().zip(&again.panels) {
        assert_eq!(a.summary.psi2_mean, b.summary.psi2_mean);
        assert_eq!(a.summary.seconds, b.summary.seconds, "the run was redone");
        assert_eq!((a.peak_q, a.peak_s), (b.peak_q, b.peak_s));
    }
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn fig3_trains_evaluates_and_reports_every_set() {
    let root = scratch("fig3");
    let text = r#"
        grid = [16, 16]
        zero_shot_grid = [24, 24]
        train = { grf = 24, scft_runs = 1, snapshots = 2, chi = [0.2, 0.3], seed = 1, lfts = { runs = 1, snapshots = 2, chi = [0.3, 0.5], beads_per_cell = [50.0, 1000.0], steps = 20 } }
        valid = { grf = 8, seed = 2 }
        test = { grf = 10, seed = 3 }
        ood = { grf = 6, amplitude = [0.03, 0.06], seed = 4 }
        zero_shot = { grf = 4, seed = 5 }
        lfts_eval = { runs = 1, snapshots = 3, chi = [0.4, 0.4], beads_per_cell = [50.0, 500.0], steps = 20, seed = 6 }
        epochs = 1
        batch = 8
        learning_rate = 3e-3
        width = 8
        layers = 1
        modes = 4
        seed = 0
    "#;
    let spec: Fig3Spec = parse_spec(&format!("[default]\n{text}\n[quick]\n{text}"), true).unwrap();
    let ws = Workspace::new(&root);
    let report = fig3(&spec, "fig3-tiny", &ws, Backend::Cpu, &Stop::never(), &Reporter::silent()).unwrap();
    assert_eq!(report.epochs, 1);
    assert_eq!(report.best_epoch, 1);
    assert!(report.best_valid.is_finite() && report.best_valid > 0.0);
    assert_eq!(report.sets.len(), 5);
    let labels = EVAL_SETS
        .iter()
        .map(|(label, _)| label.to_string())
        .chain(["L-FTS runs, B = 50".into(), "L-FTS runs, B = 500".into()]);
    assert_eq!(report.set_order, labels.clone().collect::<Vec<_>>());
    let expected = [(10, [16, 16]), (6, [16, 16]), (4, [24, 24]), (3, [16, 16]), (3, [16, 16])];
    for (label, (samples, grid)) in labels.zip(expected) {
        let r = &report.sets[&label];
        assert_eq!((r.samples, r.grid), (samples, grid), "{label}");
        assert!(r.contrast_relative_a.median.is_finite() && r.contrast_relative_a.median > 0.0);
        assert!(r.contrast_relative_a.median <= r.contrast_relative_a.p95);
        assert!(r.contrast_relative_a.p95 <= r.contrast_relative_a.worst);
        // The output layer fixes each density's mean exactly.
        assert!(r.mass_error.worst < 1e-4, "{label}: mass error {}", r.mass_error.worst);
    }
    exists(
        &ws.experiments("fig3-tiny"),
        &[
            "report.json",
            "table.md",
            "fig3.png",
            "loss.png",
            "test_worst.png",
            "ood_histogram.png",
            "lfts_b50_worst.png",
        ],
    );
    exists(&ws.checkpoints("fig3-tiny"), &["best/config.json", "last/config.json", "metrics.jsonl"]);
    // A finished run is not trained again: the same report.
    let again = fig3(&spec, "fig3-tiny", &ws, Backend::Cpu, &Stop::never(), &Reporter::silent()).unwrap();
    assert_eq!(again.best_valid, report.best_valid);
    let label = EVAL_SETS[0].0;
    assert_eq!(again.sets[label].contrast_relative_a.median, report.sets[label].contrast_relative_a.median);
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn fig4_infers_chi_and_ranks_the_methods() {
    let root = scratch("fig4");
    let text = r#"
        grid = [32, 32]
        chi = 0.4
        beads_per_cell = 100.0
        step_size = 0.1
        steps = 150
        test_runs = 1
        chi_pairs = 1
        pool_runs = 1
        snapshots = 2
        noise_levels = [0.5]
        seed = 11
        max_iterations = 30
        operator = "checkpoints/none"
        rbm_sizes = [2, 50]
        rbm_kinds = ["dense", "convolutional"]
        rbm_augment = [true]
        rbm_hidden = 8
        rbm_filters = 2
        rbm_filter_size = 6
        rbm_updates = 20
        rbm_learning_rate = 2e-3
        rbm_negatives = { dense = "noise", convolutional = "persistent" }
        rbm_gibbs_steps = { dense = 3, convolutional = 2 }
        rbm_posterior_chains = 2
        rbm_posterior_sweeps = 10
        rbm_validation_patterns = 2
        extrapolate = []
        learn_patterns = 4
        learn_burn_in = 60
        denoiser_sizes = [2, 50]
        denoiser_epochs = 1
        generate_count = 6
        generate_steps = 3
    "#;
    let spec: Fig4Spec = parse_spec(&format!("[default]\n{text}\n[quick]\n{text}"), false).unwrap();
    let ws = Workspace::new(&root);
    let report =
        fig4(&spec, "fig4-tiny", ws.experiments("denoise"), &ws, Backend::Cpu, &Stop::never(), &Reporter::silent())
            .unwrap();
    // chi from two samples: the equipartition estimator on L-FTS at chi = 0.4.
    assert_eq!(report.chi_pairs.len(), 1);
    assert!((report.chi_used - 0.4).abs() < 0.1, "chi from two samples {}", report.chi_used);
    assert_eq!(report.chi_spread, 0.0);
    // No density operator there; RBM-50 and FNO-50 are larger than the pool of 2 patterns.
    assert!(report.operator.is_none());
    let methods: Vec<&str> = report.methods.iter().map(|m| m.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "physics, exact solver",
            "physics operator (two samples)",
            "FNO-2 (data only)",
            "SCF relaxation (no data)",
            "oracle Gaussian blur",
            "Wiener filter",
            "noisy input",
            "RBM-2, dense, augmented (mean-field)",
            "RBM-2, dense, augmented (posterior)",
            "RBM-2, convolutional, augmented (mean-field)",
            "RBM-2, convolutional, augmented (posterior)",
        ]
    );
    let error = |name: &str| report.methods.iter().find(|m| m.method == name).unwrap().levels[0].mean;
    // The noisy input's contrast-relative error is the noise level itself (sigma = 0.5 std of the pattern).
    assert!((error("noisy input") - 0.5).abs() < 0.05, "{}", error("noisy input"));
    assert!(error("physics, exact solver") < error("noisy input"));
    assert!(error("RBM-2, convolutional, augmented (posterior)").is_finite());
    // The denoise operators: learned from the chi pair, trained on the pool; each one batched call.
    assert!(error("physics operator (two samples)").is_finite() && error("FNO-2 (data only)").is_finite());
    assert!(report.table.contains("learned from two samples (4 L-FTS patterns"), "{}", report.table);
    exists(
        &ws.checkpoints("fig4-tiny"),
        &[
            "learned/best/denoise.json",
            "learned/report.json",
            "learned/patterns.safetensors",
            "fno-2-data-only/best/denoise.json",
            "learned/generator/best/denoise.json",
        ],
    );
    // The sampling check: the generator's patterns beside the independent
    // runs (the test run and the pool run; the chi pair was learned from)
    // and learn's 4 replicas, each ensemble's statistics over its own patterns.
    let check = report.sampling.as_ref().expect("the sampling check ran");
    assert_eq!(check.reference_runs, [0, 3]);
    assert_eq!((check.generated, check.operator_calls), (6, 3));
    let sizes: Vec<usize> = check.ensembles.iter().map(|e| e.statistics.patterns).collect();
    assert_eq!(sizes, [2, 4, 6]);
    assert_eq!(
        (check.ensembles[0].comparison.peak_ratio, check.ensembles[0].comparison.histogram_distance),
        (1.0, 0.0)
    );
    for e in &check.ensembles {
        let s = &e.statistics;
        assert!((s.histogram.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{e:?}");
        assert!(s.psi2 > 0.0 && s.psi2 <= 1.0 && e.comparison.peak_ratio > 0.0 && check.speedup > 0.0, "{e:?}");
    }
    assert!(report.table.contains("Sampling check: 6 patterns"), "{}", report.table);
    // The protocol: each RBM denoiser scored on the validation patterns
    // (chi_pairs = 1: two runs) and on its own two training patterns, one
    // chosen for Fig. 2, the samples' S(q) peak measured.
    let protocol = &report.rbm_protocol;
    assert_eq!(protocol.assessments.len(), 4);
    assert_eq!((protocol.validation_patterns, protocol.training_patterns), (2, 2));
    let chosen = protocol.chosen_methods();
    assert_eq!(chosen.len(), 1);
    let best = protocol.assessments.iter().map(|a| a.validation[0]).fold(f64::INFINITY, f64::min);
    let chosen_row = protocol.assessments.iter().find(|a| a.method == chosen[0]).unwrap();
    assert_eq!(chosen_row.validation[0], best);
    for a in &protocol.assessments {
        assert!(a.training_patterns[0].is_finite() && a.sample_peak.q > 0.0, "{a:?}");
    }
    assert_eq!(report.runs.len(), 1);
    assert!(report.extrapolation.is_empty());
    exists(
        &report.out_dir,
        &["fig4.png", "fig2.png", "generated.png", "table.md", "table.json", "report.json", "recovered.safetensors"],
    );
    assert!(report.out_dir.ends_with("experiments/denoise"));
    // Fig. 2 on its own, on the same data: the same RBMs (reused from their
    // checkpoints), the same choice, and its rows equal Fig. 4's RBM rows.
    let alone = fig2(&spec, "fig4-tiny", ws.experiments("fig2"), &ws, &Reporter::silent()).unwrap();
    assert_eq!(alone.rbm_protocol.chosen_methods(), chosen);
    assert_eq!(alone.methods.len(), 4);
    for row in &alone.methods {
        let same = report.methods.iter().find(|m| m.method == row.method).unwrap();
        let errors = |r: &mesofield_experiments::fig4::MethodRow| -> Vec<Vec<f64>> {
            r.levels.iter().map(|l| l.errors.clone()).collect()
        };
        assert_eq!(errors(row), errors(same), "{}", row.method);
    }
    exists(&alone.out_dir, &["fig2.png", "table.md", "report.json"]);
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn dynamics_figure_quenches_and_anneals_a_pattern() {
    let root = scratch("dynamics");
    let (mx, my) = (16, 16);
    let f = ChainModel::default().f_a();
    let pattern: Vec<f64> =
        (0..mx * my).map(|i| f + 0.05 * (2.0 * std::f64::consts::PI * (i / my) as f64 / mx as f64).cos()).collect();
    let source = root.join("recovered.safetensors");
    let meta = serde_json::json!({"format": "mesofield-denoised", "chi": 0.4}).to_string();
    write_atomic(&source, &to_safetensors(&[("phi_a", vec![1, mx, my], TensorData::F64(&pattern))], &meta).unwrap())
        .unwrap();
    let spec: DynamicsFigSpec = parse_spec(
        r#"
        [default]
        legs = [{ name = "quench", chi = 0.6 }, { name = "anneal", chi = 0.15 }]
        mobility = "constant"
        dt = 2.0
        steps = 10
        every = 5
        [quick]
        legs = []
        mobility = "local"
        dt = 1.0
        steps = 1
        every = 1
        "#,
        false,
    )
    .unwrap();
    let ws = Workspace::new(&root);
    let report = dynamics_figure(
        &spec,
        "dynamics-tiny",
        &ws,
        Some(source),
        &SolverChoice::Exact,
        Backend::Cpu,
        &Reporter::silent(),
    )
    .unwrap();
    assert_eq!(report.from_chi, 0.4);
    assert_eq!(report.runs.len(), 2);
    for leg in &report.runs {
        let steps: Vec<usize> = leg.trace.iter().map(|r| r.step).collect();
        assert_eq!(steps, [0, 5, 10]);
        // Conserved order parameter, free energy that never rises without noise.
        assert!(leg.trace.iter().all(|r| (r.mean_phi_a - f).abs() < 1e-12));
        assert!(leg.trace.windows(2).all(|p| p[1].free_energy <= p[0].free_energy + 1e-12));
        exists(&ws.experiments("dynamics-tiny").join(&leg.run), &["last.safetensors", "trace.jsonl", "animation.gif"]);
    }
    // Above the spectrum's instability the cosine grows, below it decays (chi_s = 0.146).
    let amplitude = |leg: usize, k: usize| report.runs[leg].trace[k].sq_peak_height;
    assert!(amplitude(0, 2) > amplitude(0, 0), "quench did not grow the pattern");
    assert!(amplitude(1, 2) < amplitude(1, 0), "anneal above the spinodal did not shrink it");
    exists(&ws.experiments("dynamics-tiny"), &["dynamics.png", "table.md", "report.json"]);
    std::fs::remove_dir_all(&root).ok();
}

/// `bench loops` on the exact solver alone: a row per loop, rates and
/// costs that are real, the L-FTS means inside the model's bounds, and no
/// ratio without an operator.
#[test]
fn bench_loops_reports_every_loop() {
    use mesofield_experiments::bench_loops::{LoopsSpec, bench_loops};
    let spec = LoopsSpec { steps: 10, burn_in: 5, patterns: 2, dynamics_steps: 3, ..LoopsSpec::default() };
    let report = bench_loops(&spec, &SolverChoice::Exact, Backend::Cpu, &Reporter::silent()).unwrap();
    assert_eq!(report.rows.len(), 5);
    assert!(report.ratios.is_empty());
    for row in &report.rows {
        assert!(row.rate > 0.0 && row.seconds > 0.0, "{row:?}");
        assert!(row.cost.exact_solves >= if row.unit == "steps" { spec.steps } else { 2 }, "{row:?}");
        assert_eq!((row.solver.as_str(), row.cost.operator_calls, row.cost.rejected), ("exact", 0, 0));
    }
    for row in &report.rows[..2] {
        let psi2 = row.psi2.unwrap();
        assert!(psi2.mean > 0.0 && psi2.mean < 1.0, "{row:?}");
        assert!(row.h.unwrap().mean < 0.0, "ordered states lie below the melt: {row:?}");
    }
    assert!(report.rows[2].name.contains("2 L-FTS patterns"));
    // Denoising the 2 patterns recovers them better than not at all, and the
    // anneal ends at a free energy.
    let recovery = report.rows[3].recovery_error.unwrap();
    assert!(report.rows[3].name.starts_with("denoising, 2 patterns"), "{:?}", report.rows[3]);
    assert!(recovery.mean > 0.0 && recovery.mean < 0.5, "{:?}", report.rows[3]);
    assert!(report.rows[4].free_energy.is_some_and(f64::is_finite), "{:?}", report.rows[4]);
    assert_eq!(report.markdown().lines().count(), 7);
    let none = LoopsSpec { patterns: 0, ..spec };
    assert!(bench_loops(&none, &SolverChoice::Exact, Backend::Cpu, &Reporter::silent()).is_err());
}

#[test]
fn inverse_sweep_is_drawn_from_its_seed_and_reports_every_pattern() {
    use mesofield_experiments::bench_inverse::{InverseSweepSpec, bench_inverse};
    let spec = InverseSweepSpec { patterns: 3, ..InverseSweepSpec::quick(77) };
    let a = bench_inverse(&spec, &Reporter::silent()).unwrap();
    let b = bench_inverse(&spec, &Reporter::silent()).unwrap();
    assert_eq!(a.rows.len(), 3);
    for (x, y) in a.rows.iter().zip(&b.rows) {
        // The same pattern, the same inversion, whatever the thread order.
        assert_eq!((x.chi, x.snapshot_step, &x.start, x.residual), (y.chi, y.snapshot_step, &y.start, y.residual));
        assert_eq!(x.solve_equivalents, y.solve_equivalents);
        assert!((spec.chi[0]..=spec.chi[1]).contains(&x.chi));
        assert!((spec.snapshot_step[0]..=spec.snapshot_step[1]).contains(&x.snapshot_step));
        // The estimator's points are a subset of all points.
        assert!(x.residual_estimator_points <= x.residual);
        assert_eq!(x.converged, x.residual < spec.tolerance);
        assert!(x.chi_estimate.is_finite() && x.chi_stderr > 0.0);
    }
    assert_eq!(a.converged, a.rows.iter().filter(|r| r.converged).count());
    assert!(a.markdown().lines().count() >= 3 + 3);
}
