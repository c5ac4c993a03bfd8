//! The `mesofield` binary end to end: the solve/scft/spinodal contracts, and a
//! clear one-line error with a non-zero exit for each class of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mesofield_physics::io::{FieldFile, TensorData, to_safetensors};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mesofield"))
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesofield-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run mesofield")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Asserts a failed run with exactly one line on stderr, `error: ...` containing `needle`.
fn assert_clean_failure(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "expected failure, got success; stderr: {err}");
    assert!(matches!(out.status.code(), Some(1) | Some(2)), "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.to_lowercase().contains(&needle.to_lowercase()), "expected {needle:?} in: {err}");
}

fn write_fields(path: &Path, shape: &[usize], values: &[f64], metadata: &str) {
    let bytes = to_safetensors(&[("w", shape.to_vec(), TensorData::F64(values))], metadata).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn smooth_fields(n: usize, mx: usize, my: usize) -> Vec<f64> {
    let mut w = Vec::with_capacity(n * 2 * mx * my);
    for s in 0..n {
        for c in 0..2 {
            for ix in 0..mx {
                for iy in 0..my {
                    let x = 2.0 * std::f64::consts::PI * ix as f64 / mx as f64;
                    let y = 2.0 * std::f64::consts::PI * iy as f64 / my as f64;
                    let sign = if c == 0 { 1.0 } else { -1.0 };
                    w.push(0.05 * sign * (x + s as f64).cos() + 0.02 * (2.0 * y).sin());
                }
            }
        }
    }
    w
}

#[test]
fn solve_matches_the_library_and_takes_the_model_from_metadata() {
    let dir = scratch_dir("solve");
    let (mx, my) = (16, 12);
    let model = ChainModel { beads: 30, a_beads: 12, segment_a: 0.3, segment_b: 0.25, box_size: [3.0, 2.5] };
    let w = smooth_fields(3, mx, my);
    let meta = serde_json::json!({ "model": model }).to_string();
    let input = dir.join("in.safetensors");
    write_fields(&input, &[3, 2, mx, my], &w, &meta);
    let output = dir.join("out.safetensors");
    let out = run(&["solve", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let file = FieldFile::open(&output).unwrap();
    let (n, gx, gy, phi) = file.fields("phi").unwrap();
    assert_eq!((n, gx, gy), (3, mx, my));
    let (shape, log_q) = file.f64_tensor("log_q").unwrap();
    assert_eq!(shape, vec![3]);
    let solver = ExactSolver::new(&model, Grid::for_model(&model, mx, my).unwrap()).unwrap();
    let mut phi_ref = vec![0.0; phi.len()];
    let mut log_q_ref = vec![0.0; 3];
    solver.solve_batch(&w, &mut phi_ref, &mut log_q_ref).unwrap();
    assert_eq!(phi, phi_ref);
    assert_eq!(log_q, log_q_ref);

    // --model overrides the metadata.
    let model_path = dir.join("m.toml");
    std::fs::write(&model_path, ChainModel::default().to_toml_string()).unwrap();
    let out = run(&[
        "solve",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--model",
        model_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, _, _, phi_default) = FieldFile::open(&output).unwrap().fields("phi").unwrap();
    assert_ne!(phi_default, phi_ref);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn scft_and_spinodal_report_json() {
    let dir = scratch_dir("scft");
    let output = dir.join("saddle.safetensors");
    let out = run(&[
        "scft",
        "--chi",
        "0.3",
        "--init",
        "lamellar:2",
        "--grid",
        "32x32",
        "--tol",
        "1e-8",
        "--json",
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["dF", "iterations", "residual", "exact_solves", "seconds"] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    assert!(report["residual"].as_f64().unwrap() < 1e-8);
    assert!(report["dF"].as_f64().unwrap() < -1.0);
    let file = FieldFile::open(&output).unwrap();
    for name in ["w", "phi", "log_q", "dF"] {
        assert!(file.has(name), "missing tensor {name}");
    }
    // A FILE init restarts from the saddle point: converged at once.
    let again = run(&["scft", "--chi", "0.3", "--init", output.to_str().unwrap(), "--json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(again["iterations"].as_u64().unwrap() <= 1);
    assert!((again["dF"].as_f64().unwrap() - report["dF"].as_f64().unwrap()).abs() < 1e-7);

    let out = run(&["spinodal", "--grid", "32x32", "--json"]);
    assert!(out.status.success());
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chi_n = s["chiN_s"].as_f64().unwrap();
    assert!((chi_n - 14.6).abs() < 0.05, "chiN_s {chi_n}");
    assert!(s["chi_s_grid"].as_f64().unwrap() >= s["chi_s"].as_f64().unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_inputs_get_one_line_errors() {
    let dir = scratch_dir("bad");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let out_file = p("out.safetensors");

    assert_clean_failure(&run(&["bench", "loops", "--steps", "0"]), "at least one step");
    assert_clean_failure(&run(&["bench", "everything"]), "invalid value");

    // Wrong shape: three channels.
    write_fields(Path::new(&p("shape.safetensors")), &[1, 3, 8, 8], &vec![0.0; 3 * 64], "{}");
    assert_clean_failure(&run(&["solve", "--input", &p("shape.safetensors"), "--output", &out_file]), "shape");

    // NaN in the fields, naming the sample.
    let mut w = smooth_fields(2, 8, 8);
    w[2 * 64 + 5] = f64::NAN;
    write_fields(Path::new(&p("nan.safetensors")), &[2, 2, 8, 8], &w, "{}");
    assert_clean_failure(&run(&["solve", "--input", &p("nan.safetensors"), "--output", &out_file]), "sample 1");

    // Non-physical model parameters.
    std::fs::write(p("bad.toml"), "beads = 10\na_beads = 10\n").unwrap();
    write_fields(Path::new(&p("ok.safetensors")), &[1, 2, 8, 8], &smooth_fields(1, 8, 8), "{}");
    assert_clean_failure(
        &run(&["solve", "--input", &p("ok.safetensors"), "--output", &out_file, "--model", &p("bad.toml")]),
        "a_beads",
    );
    std::fs::write(p("unknown.toml"), "beads = 10\ncolour = 3\n").unwrap();
    assert_clean_failure(&run(&["spinodal", "--model", &p("unknown.toml")]), "colour");
    assert_clean_failure(&run(&["scft", "--chi", "-1", "--init", "lamellar:1"]), "chi");
    assert_clean_failure(&run(&["scft", "--chi", "0.3", "--init", "nonsense"]), "nonsense");
    assert_clean_failure(&run(&["scft", "--chi", "0.3", "--grid", "32y32"]), "grid");
    // A value outside a closed set names the valid ones.
    assert_clean_failure(&run(&["reproduce", "fig5"]), "possible values: fig1, fig2, fig3, fig4, dynamics");
    assert_clean_failure(&run(&["scft", "--chi", "0.3:0.2:0.1"]), "STEP");
    assert_clean_failure(&run(&["generate", "--out", &out_file, "--grf", "3", "--shard", "3/3"]), "shard");

    // Truncated file.
    let bytes = std::fs::read(p("ok.safetensors")).unwrap();
    std::fs::write(p("trunc.safetensors"), &bytes[..bytes.len() - 17]).unwrap();
    assert_clean_failure(&run(&["solve", "--input", &p("trunc.safetensors"), "--output", &out_file]), "truncated");

    // Foreign files: not safetensors at all, and a safetensors without `w`.
    std::fs::write(p("foreign.safetensors"), b"PK\x03\x04 this is a zip file, not tensors").unwrap();
    assert_clean_failure(&run(&["solve", "--input", &p("foreign.safetensors"), "--output", &out_file]), "safetensors");
    let other = to_safetensors(&[("weights", vec![4], TensorData::F64(&[1.0, 2.0, 3.0, 4.0]))], "{}").unwrap();
    std::fs::write(p("other.safetensors"), other).unwrap();
    assert_clean_failure(&run(&["solve", "--input", &p("other.safetensors"), "--output", &out_file]), "\"w\"");
    assert_clean_failure(&run(&["dataset", "info", &p("other.safetensors")]), "not a mesofield file");

    // Missing file.
    assert_clean_failure(&run(&["solve", "--input", &p("missing.safetensors"), "--output", &out_file]), "cannot read");
    assert!(!Path::new(&out_file).exists(), "a failed run left an output file");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn generate_info_merge_and_plot() {
    let dir = scratch_dir("gen");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let common = [
        "--grid",
        "16x16",
        "--grf",
        "6",
        "--scft-runs",
        "2",
        "--snapshots",
        "2",
        "--scft-iterations",
        "40",
        "--seed",
        "9",
    ];
    let mut args = vec!["generate", "--out"];
    let whole = p("whole.safetensors");
    args.push(&whole);
    args.extend(common);
    assert!(run(&args).status.success());
    let mut shards = Vec::new();
    for i in 0..3 {
        let name = p(&format!("s{i}.safetensors"));
        let shard = format!("{i}/3");
        let mut args = vec!["generate", "--out", &name, "--shard", &shard];
        args.extend(common);
        let out = run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        shards.push(name);
    }
    let merged = p("merged.safetensors");
    let mut args = vec!["dataset", "merge", "--out", &merged];
    args.extend(shards.iter().rev().map(String::as_str));
    assert!(run(&args).status.success());
    assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&merged).unwrap());

    let info = run(&["dataset", "info", &whole, "--json"]);
    assert!(info.status.success());
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["samples"], 10);
    assert!((info["phi_a"]["mean"].as_f64().unwrap() - 0.7).abs() < 1e-12);

    let png = p("phi.png");
    assert!(run(&["plot", "--input", &whole, "--tensor", "phi", "--sample", "7", "--out", &png]).status.success());
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    assert_clean_failure(&run(&["plot", "--input", &whole, "--sample", "99", "--out", &png]), "out of range");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn train_predict_and_eval_an_operator() {
    let dir = scratch_dir("fno");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    for (name, seed) in [("train.safetensors", "1"), ("valid.safetensors", "2")] {
        let out = run(&["generate", "--out", &p(name), "--grid", "16x16", "--grf", "16", "--seed", seed]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let ck = p("ck");
    let out = run(&[
        "train",
        "--data",
        &p("train.safetensors"),
        "--valid",
        &p("valid.safetensors"),
        "--out",
        &ck,
        "--epochs",
        "2",
        "--batch",
        "8",
        "--width",
        "8",
        "--layers",
        "1",
        "--modes",
        "4",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["epochs"], 2);
    let best = format!("{ck}/best");

    // predict has the contract of solve: reads `w`, writes `phi` and `log_q`.
    let out = run(&[
        "predict",
        "--checkpoint",
        &best,
        "--input",
        &p("valid.safetensors"),
        "--output",
        &p("pred.safetensors"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = FieldFile::open(Path::new(&p("pred.safetensors"))).unwrap();
    let (n, mx, my, phi) = file.fields("phi").unwrap();
    assert_eq!((n, mx, my), (16, 16, 16));
    assert!(file.has("log_q"));
    for s in 0..n {
        let mass: f64 = phi[s * 512..(s + 1) * 512].iter().sum::<f64>() / 256.0;
        assert!((mass - 1.0).abs() < 1e-5);
    }

    let out = run(&["eval", "--checkpoint", &best, "--data", &p("valid.safetensors"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["contrast_relative_a"]["median"].as_f64().unwrap().is_finite());
    assert!(report["exact_fields_per_second"].as_f64().unwrap() > 0.0);

    // The operator inside SCFT: the answer is still an exact saddle point.
    let out = run(&[
        "scft",
        "--chi",
        "0.3",
        "--init",
        "lamellar:1",
        "--grid",
        "16x16",
        "--solver",
        &format!("operator:{best}"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["converged"], true);
    assert!(report["residual"].as_f64().unwrap() < 1e-8);
    assert!(report["operator_calls"].as_u64().unwrap() >= 1);
    assert!(report["exact_solves"].as_u64().unwrap() >= 2);
    let exact = run(&["scft", "--chi", "0.3", "--init", "lamellar:1", "--grid", "16x16", "--json"]);
    let exact: serde_json::Value = serde_json::from_slice(&exact.stdout).unwrap();
    let d_f = |r: &serde_json::Value| r["dF"].as_f64().unwrap();
    assert!((d_f(&report) - d_f(&exact)).abs() < 1e-7, "{} vs {}", d_f(&report), d_f(&exact));
    assert_clean_failure(&run(&["scft", "--chi", "0.3", "--solver", "magic"]), "operator:CHECKPOINT");

    // Errors: a grid below twice the modes, a folder that is not a checkpoint, no wgpu in this build.
    write_fields(Path::new(&p("tiny.safetensors")), &[1, 2, 6, 6], &vec![0.0; 72], "{}");
    assert_clean_failure(
        &run(&["predict", "--checkpoint", &best, "--input", &p("tiny.safetensors"), "--output", &p("x.safetensors")]),
        "twice",
    );
    assert_clean_failure(
        &run(&[
            "predict",
            "--checkpoint",
            &p("train.safetensors"),
            "--input",
            &p("valid.safetensors"),
            "--output",
            &p("x.safetensors"),
        ]),
        "checkpoint",
    );
    if !cfg!(feature = "wgpu") {
        assert_clean_failure(
            &run(&[
                "train",
                "--data",
                &p("train.safetensors"),
                "--valid",
                &p("valid.safetensors"),
                "--out",
                &ck,
                "--backend",
                "wgpu",
            ]),
            "wgpu",
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sample_writes_its_run_folder_and_resumes_the_same_trajectory() {
    let dir = scratch_dir("sample");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let args = |out: &str, steps: &str| -> Vec<String> {
        [
            "sample",
            "--chi",
            "0.5",
            "--beads-per-cell",
            "200",
            "--step-size",
            "0.05",
            "--grid",
            "16x16",
            "--every",
            "10",
            "--seed",
            "3",
            "--steps",
            steps,
            "--out",
            out,
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run_args = |v: Vec<String>| run(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let straight = run_args(args(&p("straight"), "40"));
    assert!(straight.status.success(), "{}", stderr(&straight));
    let first = run_args(args(&p("split"), "20"));
    assert!(first.status.success(), "{}", stderr(&first));
    let mut resume = args(&p("split"), "40");
    resume.push("--resume".into());
    let second = run_args(resume);
    assert!(second.status.success(), "{}", stderr(&second));
    let a: serde_json::Value = serde_json::from_slice(&straight.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    for key in ["H_mean", "psi2_mean"] {
        let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
        assert!((x - y).abs() < 1e-9 * x.abs().max(1.0), "{key}: {x} vs {y}");
    }
    assert!(a["final_pressure_residual"].as_f64().unwrap() < 1e-6);
    // Integrated times over the last half's 20 records, and the effective
    // samples per second they give (the slower series' 2 tau per sample).
    let f = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap_or_else(|| panic!("{key}: {}", v[key]));
    let (h_tau, psi2_tau, sq_tau) = (f(&a, "H_tau_int"), f(&a, "psi2_tau_int"), f(&a, "sq_peak_tau_int"));
    assert!((f(&b, "H_tau_int") - h_tau).abs() < 1e-6 * h_tau.abs().max(1.0), "a resumed run's tau");
    assert!((f(&b, "sq_peak_tau_int") - sq_tau).abs() < 1e-6 * sq_tau.max(1.0), "a resumed run's S(q*) tau");
    let slower = h_tau.max(psi2_tau).max(sq_tau);
    let expected = f(&a, "steps_per_second") / (2.0 * slower);
    assert!((f(&a, "effective_samples_per_second") - expected).abs() < 1e-9 * expected, "{a}");
    assert!(a["tau_window_closed"].is_boolean());
    assert_eq!(a["operator_calls"], 0);
    assert_eq!(a["rejected"], 0);
    for file in
        ["summary.json", "sq.json", "last.safetensors", "trace.jsonl", "sq.png", "hamiltonian.png", "snap_000040.png"]
    {
        assert!(dir.join("straight").join(file).exists(), "{file} missing");
    }
    let sq: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("straight/sq.json")).unwrap()).unwrap();
    assert_eq!(sq["q"].as_array().unwrap().len(), sq["S"].as_array().unwrap().len());
    let last = FieldFile::open(&dir.join("straight/last.safetensors")).unwrap();
    assert_eq!(last.fields("w").unwrap().0, 1);
    assert!(last.has("phi"));

    // Replicas: chain r of --seed 2 --replicas 2 is the run with seed 2 + r,
    // field for field; the pooled summary sits above the replica folders.
    let mut together = args(&p("replicas"), "40");
    together[12] = "2".into();
    together.extend(["--replicas".to_string(), "2".to_string()]);
    let pooled = run_args(together);
    assert!(pooled.status.success(), "{}", stderr(&pooled));
    let pooled: serde_json::Value = serde_json::from_slice(&pooled.stdout).unwrap();
    assert_eq!(pooled["replicas"], 2);
    assert_eq!(pooled["per_replica"][1]["seed"], 3);
    assert_eq!(pooled["per_replica"][1]["H_mean"], a["H_mean"]);
    let replica = FieldFile::open(&dir.join("replicas/replica_01/last.safetensors")).unwrap();
    assert_eq!(replica.fields("w").unwrap().3, last.fields("w").unwrap().3);
    let h: Vec<f64> = (0..2).map(|r| pooled["per_replica"][r]["H_mean"].as_f64().unwrap()).collect();
    assert!((pooled["H_mean"].as_f64().unwrap() - 0.5 * (h[0] + h[1])).abs() < 1e-12);
    let ess: f64 = (0..2).map(|r| f(&pooled["per_replica"][r], "effective_samples_per_second")).sum();
    assert!((f(&pooled, "effective_samples_per_second") - ess).abs() < 1e-9 * ess);
    assert!(dir.join("replicas/summary.json").exists() && dir.join("replicas/replica_00/trace.jsonl").exists());

    // Resuming with other settings, or with nothing to resume, is refused.
    let mut other = args(&p("split"), "60");
    other[2] = "0.6".into();
    other.push("--resume".into());
    assert_clean_failure(&run_args(other), "chi");
    let mut other = args(&p("split"), "60");
    let not_default = match mesofield_physics::fts::Integrator::default() {
        mesofield_physics::fts::Integrator::EulerMaruyama => "lm",
        mesofield_physics::fts::Integrator::LeimkuhlerMatthews => "em",
    };
    other.extend(["--resume".to_string(), "--integrator".to_string(), not_default.to_string()]);
    assert_clean_failure(&run_args(other), "integrator");
    let mut missing = args(&p("nothing"), "10");
    missing.push("--resume".into());
    assert_clean_failure(&run_args(missing), "does not exist");
    assert_clean_failure(&run(&["sample", "--chi", "0.5", "--step-size", "0", "--out", &p("bad")]), "step size");
    std::fs::remove_dir_all(&dir).ok();
}

/// SCFT's fields out as a PSCF r-grid file and back in as a start: the
/// saddle point is where it was (no iteration, the same dF); a file whose
/// cell is not the model's box is refused.
#[test]
fn fields_go_to_pscf_and_come_back() {
    let dir = scratch_dir("pscf");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let scft = |init: &str, out: &str| -> serde_json::Value {
        let o = run(&["scft", "--chi", "0.3", "--grid", "16x16", "--init", init, "--output", out, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let first = scft("lamellar:2", &p("a.safetensors"));
    let out = run(&["export", "--input", &p("a.safetensors"), "--out", &p("a.rf")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.join("a.rf")).unwrap();
    assert!(text.starts_with(" format  1  0\ndim\n") && text.contains("square"), "{text}");
    let again = scft(&format!("pscf:{}", p("a.rf")), &p("b.safetensors"));
    assert_eq!(again["iterations"], 0, "{again}");
    assert!((again["dF"].as_f64().unwrap() - first["dF"].as_f64().unwrap()).abs() < 1e-10);
    let w_a = FieldFile::open(&dir.join("a.safetensors")).unwrap().fields("w").unwrap().3;
    let w_b = FieldFile::open(&dir.join("b.safetensors")).unwrap().fields("w").unwrap().3;
    let moved = w_a.iter().zip(&w_b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(moved < 1e-12, "fields moved by {moved}");
    let model = dir.join("box.toml");
    std::fs::write(&model, "box = [3.2, 6.4]\n").unwrap();
    let o =
        run(&["scft", "--chi", "0.3", "--init", &format!("pscf:{}", p("a.rf")), "--model", model.to_str().unwrap()]);
    assert_clean_failure(&o, "cell");
    assert_clean_failure(
        &run(&["scft", "--chi", "0.3", "--init", &format!("pscf:{}", p("none.rf"))]),
        "does not exist",
    );
    let o = run(&["export", "--input", &p("a.safetensors"), "--format", "vtk", "--out", &p("a.vtk")]);
    assert_clean_failure(&o, "pscf-rgrid");
    std::fs::remove_dir_all(&dir).ok();
}

/// A minimal NumPy .npy (version 1.0, little-endian float64, C order).
fn npy_bytes(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in values {
        out.extend(v.to_le_bytes());
    }
    out
}

#[test]
fn noise_and_infer_chi_on_patterns() {
    let dir = scratch_dir("patterns");
    let saddle = dir.join("saddle.safetensors");
    let out = run(&[
        "scft",
        "--chi",
        "0.3",
        "--init",
        "lamellar:2",
        "--grid",
        "16x16",
        "--tol",
        "1e-11",
        "--output",
        saddle.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // chi of the saddle point, from its pattern alone.
    let out = run(&["infer-chi", "--samples", saddle.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chi = report["chi"].as_f64().unwrap();
    assert!((chi / 0.3 - 1.0).abs() < 1e-6, "chi {chi}");
    assert_eq!(report["estimator"]["kind"], "saddle");

    // The same pattern as .npy (phi_A only) gives the same chi.
    let file = FieldFile::open(&saddle).unwrap();
    let (_, mx, my, phi) = file.fields("phi").unwrap();
    let m = mx * my;
    let npy = dir.join("pattern.npy");
    std::fs::write(&npy, npy_bytes(&[mx, my], &phi[..m])).unwrap();
    let out = run(&["infer-chi", "--samples", npy.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((report["chi"].as_f64().unwrap() / 0.3 - 1.0).abs() < 1e-6, "{report}");

    // A file numpy wrote, with no mesofield metadata, goes the whole way:
    // noise -> denoise -> infer-chi (its noisy file has no null model).
    let noisy_np = dir.join("noisy_np.safetensors");
    let recovered_np = dir.join("recovered_np.safetensors");
    let out = run(&["noise", "--input", npy.to_str().unwrap(), "--sigma", "0.3", "--out", noisy_np.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = FieldFile::open(&noisy_np).unwrap().metadata().unwrap().unwrap();
    assert!(meta.get("model").is_none(), "{meta}");
    let out = run(&[
        "denoise",
        "--input",
        noisy_np.to_str().unwrap(),
        "--samples",
        npy.to_str().unwrap(),
        "--out",
        recovered_np.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["infer-chi", "--samples", recovered_np.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["chi"].as_f64().unwrap() > 0.0, "{report}");

    // Noise: seeded, sigma relative to the pattern's spread.
    let noisy = dir.join("noisy.safetensors");
    let noisy2 = dir.join("noisy2.safetensors");
    for path in [&noisy, &noisy2] {
        let out = run(&[
            "noise",
            "--input",
            saddle.to_str().unwrap(),
            "--sigma",
            "0.5",
            "--seed",
            "4",
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(&noisy).unwrap(), std::fs::read(&noisy2).unwrap());
    let (shape, y) = FieldFile::open(&noisy).unwrap().f64_tensor("phi_a").unwrap();
    assert_eq!(shape, vec![1, mx, my]);
    let clean = &phi[..m];
    let mean = clean.iter().sum::<f64>() / m as f64;
    let std_clean = (clean.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64).sqrt();
    let std_noise = (y.iter().zip(clean).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / m as f64).sqrt();
    assert!((std_noise / (0.5 * std_clean) - 1.0).abs() < 0.15, "noise std {std_noise} vs {}", 0.5 * std_clean);

    // Denoising the noisy saddle pattern at its chi beats the noisy input.
    let recovered = dir.join("recovered.safetensors");
    let out = run(&[
        "denoise",
        "--input",
        noisy.to_str().unwrap(),
        "--chi",
        "0.3",
        "--truth",
        saddle.to_str().unwrap(),
        "--out",
        recovered.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = &report["samples"][0]["error"];
    let (rec, noisy_err) = (errors["recovery"].as_f64().unwrap(), errors["noisy"].as_f64().unwrap());
    assert!(rec < 0.5 * noisy_err, "recovery {rec} vs noisy {noisy_err}");
    assert!(recovered.with_extension("png").exists());
    let (shape, _) = FieldFile::open(&recovered).unwrap().f64_tensor("phi_a").unwrap();
    assert_eq!(shape, vec![1, mx, my]);
    // A truth on another grid (as .npy and as PNG), and neither chi nor samples.
    let small = dir.join("small.npy");
    std::fs::write(&small, npy_bytes(&[8, 8], &[0.7; 64])).unwrap();
    let small_png = dir.join("small.png");
    image::GrayImage::from_pixel(8, 8, image::Luma([180])).save(&small_png).unwrap();
    for truth in [&small, &small_png] {
        let out = run(&[
            "denoise",
            "--input",
            noisy.to_str().unwrap(),
            "--chi",
            "0.3",
            "--truth",
            truth.to_str().unwrap(),
            "--out",
            recovered.to_str().unwrap(),
        ]);
        assert_clean_failure(&out, "8x8");
    }
    assert_clean_failure(
        &run(&["denoise", "--input", noisy.to_str().unwrap(), "--out", recovered.to_str().unwrap()]),
        "chi",
    );

    // An RBM trained on the clean pattern denoises by its mean-field
    // reconstruction or by posterior inference (seeded: twice the same).
    let rbm_dir = dir.join("rbm");
    let out = run(&[
        "rbm",
        "train",
        "--samples",
        saddle.to_str().unwrap(),
        "--out",
        rbm_dir.to_str().unwrap(),
        "--kind",
        "dense",
        "--hidden",
        "16",
        "--updates",
        "50",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The convolutional model too, and a filter larger than the grid refused.
    let conv_dir = dir.join("rbm-conv");
    let conv = |size: &str| {
        run(&[
            "rbm",
            "train",
            "--samples",
            saddle.to_str().unwrap(),
            "--out",
            conv_dir.to_str().unwrap(),
            "--filters",
            "2",
            "--filter-size",
            size,
            "--updates",
            "5",
        ])
    };
    assert!(conv("4").status.success(), "{}", stderr(&conv("4")));
    assert!(conv_dir.join("gbrbm.json").exists());
    assert_clean_failure(&conv("999"), "do not fit");
    let bad_sigma = run(&[
        "rbm",
        "train",
        "--samples",
        saddle.to_str().unwrap(),
        "--out",
        conv_dir.to_str().unwrap(),
        "--sigma",
        "-1",
    ]);
    assert_clean_failure(&bad_sigma, "--sigma");
    let rbm_denoise = |extra: &[&str], out_path: &Path| {
        let mut args = vec![
            "rbm",
            "denoise",
            "--checkpoint",
            rbm_dir.to_str().unwrap(),
            "--input",
            noisy.to_str().unwrap(),
            "--truth",
            saddle.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (posterior, again) = (dir.join("posterior.safetensors"), dir.join("posterior2.safetensors"));
    for path in [&posterior, &again] {
        let out = rbm_denoise(&["--posterior", "auto", "--sweeps", "20"], path);
        assert!(out.status.success(), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["error"][0].as_f64().is_some_and(f64::is_finite), "{report}");
    }
    assert_eq!(
        FieldFile::open(&posterior).unwrap().f64_tensor("phi_a").unwrap(),
        FieldFile::open(&again).unwrap().f64_tensor("phi_a").unwrap()
    );
    let mean_field = dir.join("mean_field.safetensors");
    assert!(rbm_denoise(&[], &mean_field).status.success());
    assert_ne!(
        FieldFile::open(&posterior).unwrap().f64_tensor("phi_a").unwrap(),
        FieldFile::open(&mean_field).unwrap().f64_tensor("phi_a").unwrap()
    );
    assert_clean_failure(&rbm_denoise(&["--posterior", "0"], &mean_field), "--posterior");

    // Grayscale PNGs: a pattern of the grid's size loads (one of another size
    // is refused above), a colour picture is refused.
    let gray = dir.join("gray.png");
    image::GrayImage::from_fn(mx as u32, my as u32, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]))
        .save(&gray)
        .unwrap();
    let out = run(&["noise", "--input", gray.to_str().unwrap(), "--sigma", "0.1", "--out", noisy2.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let colour = dir.join("colour.png");
    image::RgbImage::from_pixel(mx as u32, my as u32, image::Rgb([200, 10, 10])).save(&colour).unwrap();
    assert_clean_failure(&run(&["infer-chi", "--samples", colour.to_str().unwrap()]), "colour");

    // Bad patterns: outside (0, 1), NaN, truncated, unknown format.
    let mut outside = clean.to_vec();
    outside[5] = 1.5;
    std::fs::write(&npy, npy_bytes(&[mx, my], &outside)).unwrap();
    assert_clean_failure(&run(&["infer-chi", "--samples", npy.to_str().unwrap()]), "outside (0, 1)");
    outside[5] = f64::NAN;
    std::fs::write(&npy, npy_bytes(&[mx, my], &outside)).unwrap();
    assert_clean_failure(
        &run(&["noise", "--input", npy.to_str().unwrap(), "--sigma", "1", "--out", noisy.to_str().unwrap()]),
        "non-finite",
    );
    let bytes = npy_bytes(&[mx, my], clean);
    std::fs::write(&npy, &bytes[..bytes.len() - 100]).unwrap();
    assert_clean_failure(&run(&["infer-chi", "--samples", npy.to_str().unwrap()]), "npy");
    std::fs::write(&npy, npy_bytes(&[3], &[0.5, 0.5, 0.5])).unwrap();
    assert_clean_failure(&run(&["infer-chi", "--samples", npy.to_str().unwrap()]), "shape");
    let txt = dir.join("pattern.txt");
    std::fs::write(&txt, "0.5").unwrap();
    assert_clean_failure(&run(&["infer-chi", "--samples", txt.to_str().unwrap()]), "unknown pattern format");
    assert_clean_failure(
        &run(&["noise", "--input", saddle.to_str().unwrap(), "--sigma", "-1", "--out", noisy.to_str().unwrap()]),
        "sigma",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dynamics_writes_its_run_folder_and_resumes_the_same_trajectory() {
    let dir = scratch_dir("dynamics");
    let (straight, split) = (dir.join("straight"), dir.join("split"));
    let common = ["dynamics", "--chi", "0.2", "--grid", "16x16", "--dt", "2", "--every", "20", "--seed", "3"];
    let run_to = |out: &Path, steps: &str, resume: bool| {
        let mut args: Vec<&str> = common.to_vec();
        args.extend(["--steps", steps, "--out", out.to_str().unwrap(), "--json"]);
        if resume {
            args.push("--resume");
        }
        let out = run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let whole = run_to(&straight, "120", false);
    run_to(&split, "60", false);
    let resumed = run_to(&split, "120", true);
    let (a, b) = (whole["F"].as_f64().unwrap(), resumed["F"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-9, "straight F {a} vs resumed F {b}");
    assert!(a < -0.2, "no pattern formed: F {a}");
    for name in ["last.safetensors", "trace.jsonl", "trace.png", "animation.gif", "snap_000120.png", "summary.json"] {
        assert!(split.join(name).exists(), "{name} missing");
    }
    // One record per recorded step, the resumed run's appended to the first half's.
    let records: Vec<serde_json::Value> = std::fs::read_to_string(split.join("trace.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<u64> = records.iter().map(|r| r["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [0, 20, 40, 60, 80, 100, 120]);
    let f: Vec<f64> = records.iter().map(|r| r["F"].as_f64().unwrap()).collect();
    assert!(f.windows(2).all(|p| p[1] <= p[0] + 1e-12), "F rose: {f:?}");
    let means: Vec<f64> = records.iter().map(|r| r["mean_phi_a"].as_f64().unwrap()).collect();
    assert!(means.iter().all(|m| (m - 0.7).abs() < 1e-12), "{means:?}");
    // Settings that differ from the run's are refused on resume.
    let out = run(&[
        "dynamics",
        "--chi",
        "0.3",
        "--grid",
        "16x16",
        "--steps",
        "130",
        "--out",
        split.to_str().unwrap(),
        "--resume",
    ]);
    assert_clean_failure(&out, "chi");
    assert_clean_failure(
        &run(&["dynamics", "--chi", "0.2", "--mobility", "fast", "--out", split.to_str().unwrap()]),
        "mobility",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    // `mesofield ... | head`: the reader is gone before the first print.
    let mut child = bin()
        .args(["spinodal", "--grid", "32x32"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

/// A denoise operator trained on clean patterns from numpy, then `denoise
/// --solver operator:` on a noisy file: one batched call, each recovery of
/// the chain's mean, errors reported against the truth; a denoise operator
/// refuses patterns of another grid, and a density loop refuses it.
#[test]
fn train_denoiser_then_denoise_by_the_operator() {
    let dir = scratch_dir("denoiser");
    let (n, mx, my) = (6, 16, 16);
    let m = mx * my;
    let mut clean = Vec::with_capacity(n * m);
    for s in 0..n {
        for ix in 0..mx {
            for iy in 0..my {
                let (x, y) = (ix as f64 / mx as f64, iy as f64 / my as f64);
                let phase = 0.7 * s as f64;
                clean.push(0.7 + 0.2 * (2.0 * std::f64::consts::PI * (x + (s % 2) as f64 * y) + phase).cos());
            }
        }
    }
    let patterns = dir.join("clean.npy");
    std::fs::write(&patterns, npy_bytes(&[n, mx, my], &clean)).unwrap();
    let operator = dir.join("den");
    let out = run(&[
        "train-denoiser",
        "--patterns",
        patterns.to_str().unwrap(),
        "--out",
        operator.to_str().unwrap(),
        "--epochs",
        "4",
        "--width",
        "8",
        "--layers",
        "2",
        "--modes",
        "4",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["training_patterns"], 5);
    assert_eq!(report["validation_patterns"], 1);
    assert!(operator.join("best/denoise.json").exists() && operator.join("report.json").exists());

    let noisy = dir.join("noisy.safetensors");
    let out = run(&[
        "noise",
        "--input",
        patterns.to_str().unwrap(),
        "--sigma",
        "0.5",
        "--seed",
        "4",
        "--out",
        noisy.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recovered = dir.join("recovered.safetensors");
    let best = format!("operator:{}", operator.join("best").display());
    let out = run(&[
        "denoise",
        "--input",
        noisy.to_str().unwrap(),
        "--solver",
        &best,
        "--truth",
        patterns.to_str().unwrap(),
        "--out",
        recovered.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let samples = report["samples"].as_array().unwrap();
    assert_eq!(samples.len(), n);
    assert!(samples.iter().all(|s| s["error"].as_f64().unwrap().is_finite() && s["sigma"].as_f64().unwrap() > 0.0));
    let (shape, phi) = FieldFile::open(&recovered).unwrap().f64_tensor("phi_a").unwrap();
    assert_eq!(shape, vec![n, mx, my]);
    for sample in phi.chunks(m) {
        let mean = sample.iter().sum::<f64>() / m as f64;
        assert!((mean - 0.7).abs() < 1e-5, "recovered mean {mean}");
        assert!(sample.iter().all(|&p| p > 0.0 && p < 1.0));
    }

    // Patterns of another grid, and a loop that takes density operators.
    let small = dir.join("small.npy");
    std::fs::write(&small, npy_bytes(&[8, 8], &[0.7; 64])).unwrap();
    let out =
        run(&["denoise", "--input", small.to_str().unwrap(), "--solver", &best, "--out", recovered.to_str().unwrap()]);
    assert_clean_failure(&out, "16x16");
    let out = run(&["infer-chi", "--samples", patterns.to_str().unwrap(), "--solver", &best]);
    assert_clean_failure(&out, "denoise");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `learn --quick` end to end from two snapshots of an L-FTS run at chi =
/// 0.4: chi near the run's, one pattern per replica whose segregation
/// matches the samples', a checkpoint; the same seed gives the same
/// patterns; `--resume` reuses chi and the patterns and trains on.
#[test]
fn learn_quick_from_two_samples_then_resume() {
    let dir = scratch_dir("learn");
    let run_dir = dir.join("run");
    let out = run(&[
        "sample",
        "--chi",
        "0.4",
        "--beads-per-cell",
        "100",
        "--step-size",
        "0.1",
        "--steps",
        "300",
        "--every",
        "100",
        "--init",
        "random:0.01",
        "--seed",
        "4242",
        "--grid",
        "32x32",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let a = run_dir.join("snap_000200.safetensors");
    let b = run_dir.join("snap_000300.safetensors");
    let learn = |out_dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "learn",
            "--samples",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--beads-per-cell",
            "100",
            "--step-size",
            "0.1",
            "--out",
            out_dir.to_str().unwrap(),
            "--quick",
            "--width",
            "8",
            "--layers",
            "2",
            "--modes",
            "4",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = dir.join("learned");
    let report = learn(&first, &[]);
    let chi = report["chi"]["chi"].as_f64().unwrap();
    assert!((chi - 0.4).abs() < 0.04, "chi {chi} from two samples of a run at 0.4");
    let s = &report["sampling"];
    assert_eq!(s["patterns"], 8);
    assert_eq!(s["replicas"], 8);
    let burn_in = s["burn_in"].as_u64().unwrap();
    assert!((100..=300).contains(&burn_in), "quick burn-in between t = 10 and 30: {burn_in}");
    assert_eq!(s["hamiltonian"].as_array().unwrap().len() as u64, burn_in / s["record_every"].as_u64().unwrap());
    let (made, seen) = (s["patterns_psi2"].as_f64().unwrap(), s["samples_psi2"].as_f64().unwrap());
    assert!((made - seen).abs() < 0.05 * seen, "<(phi_A - phi_B)^2> {made} against the samples' {seen}");
    // At chi = 0.4 a pattern outlives the burn-in: 5 steps later it is nearly itself.
    assert!(s["self_overlap"][0][1].as_f64().unwrap() > 0.8, "{}", s["self_overlap"]);
    assert_eq!(report["curve"].as_array().unwrap().len(), 2);
    assert!(first.join("best/denoise.json").exists() && first.join("report.json").exists());
    assert!(first.join("generator/best/denoise.json").exists());
    // The generator's range hides the patterns; the denoiser's is train-denoiser's.
    let range = |d: &str| -> f64 {
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(first.join(d).join("denoise.json")).unwrap()).unwrap();
        spec["sigma"][1].as_f64().unwrap() / spec["sigma"][0].as_f64().unwrap()
    };
    assert!((range("best") - 15.0).abs() < 1e-9 && (range("generator/best") - 200.0).abs() < 1e-6);
    let patterns = std::fs::read(first.join("patterns.safetensors")).unwrap();

    // The same seed, the same clean patterns.
    let second = dir.join("again");
    learn(&second, &["--epochs", "1"]);
    assert!(std::fs::read(second.join("patterns.safetensors")).unwrap() == patterns);

    let resumed = learn(&first, &["--resume", "--epochs", "3"]);
    assert_eq!(resumed["minutes"]["chi"], 0.0);
    assert_eq!(resumed["minutes"]["sampling"], 0.0);
    assert_eq!(resumed["chi"]["chi"].as_f64().unwrap(), chi);
    assert_eq!(resumed["training"]["epochs"], 3);
    assert_eq!(resumed["curve"].as_array().unwrap().len(), 3);
    assert_eq!(resumed["generator"]["epochs"], 3);
    assert_eq!(resumed["generator_curve"].as_array().unwrap().len(), 3);
    assert!(std::fs::read(first.join("patterns.safetensors")).unwrap() == patterns);

    // New patterns by reverse diffusion, checked against the L-FTS ones learn made.
    let best = first.join("best");
    let generated = dir.join("generated.safetensors");
    let out = run(&[
        "generate-patterns",
        "--checkpoint",
        first.join("generator/best").to_str().unwrap(),
        "--count",
        "3",
        "--steps",
        "4",
        "--out",
        generated.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["count"], 3);
    assert_eq!(report["reference"]["statistics"]["patterns"], 8);
    assert!(report["reference"]["peak_ratio"].as_f64().unwrap().is_finite());
    let out = run(&["dataset", "info", generated.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Densities the chain allows, of the chain's mean f = 0.7 (the output's shift fixes it).
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let phi_a = info["info"]["tensors"].as_array().unwrap().iter().find(|t| t["name"] == "phi_a").unwrap();
    let stats = &phi_a["channels"][0];
    assert_eq!(phi_a["shape"], serde_json::json!([3, 32, 32]));
    assert!(stats["min"].as_f64().unwrap() > 0.0 && stats["max"].as_f64().unwrap() < 1.0, "{stats}");
    assert!((stats["mean"].as_f64().unwrap() - 0.7).abs() < 1e-5, "{stats}");

    // The operator as the start of exact action minimisation (chi and B from the checkpoint).
    let noisy = dir.join("noisy.safetensors");
    let out = run(&[
        "noise",
        "--input",
        b.to_str().unwrap(),
        "--sigma",
        "0.5",
        "--seed",
        "2",
        "--out",
        noisy.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let solver = format!("operator:{}", best.display());
    let polished = dir.join("polished.safetensors");
    let out = run(&[
        "denoise",
        "--input",
        noisy.to_str().unwrap(),
        "--solver",
        &solver,
        "--polish",
        "--truth",
        b.to_str().unwrap(),
        "--out",
        polished.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chi"].as_f64().unwrap(), chi);
    let polish = &report["polish"][0];
    assert!(polish["recovery"]["iterations"].as_u64().unwrap() >= 1);
    let (op, exact) =
        (report["operator"]["samples"][0]["error"].as_f64().unwrap(), polish["error"]["recovery"].as_f64().unwrap());
    assert!(exact < 0.5 && op.is_finite(), "operator {op}, polished {exact} against noise 0.5");
}
