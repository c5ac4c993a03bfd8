//! `sample`: Langevin field-theoretic simulation (L-FTS) into a run folder.
//!
//! RUN/ holds `trace.jsonl` (one line per step: step, H, mean (phi_A -
//! phi_B)^2, pressure residual, cumulative solves), snapshots
//! `snap_STEP.safetensors` and `.png` every `--every` steps, `last.safetensors`
//! (`w`, `phi`, the step and the run's settings in its metadata), `sq.json`
//! (S(q) averaged over the steps of the last half), `summary.json` and the
//! pictures `hamiltonian.png` and `sq.png`. `--resume` continues from
//! `last.safetensors` with the same settings.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use mesofield_physics::io::{FieldFile, TensorData, to_safetensors, write_atomic};
use mesofield_physics::lfts::{Lfts, LftsConfig, LftsState, structure_factor};
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ExactSolver, FieldSolver, Grid};

use crate::{initial_fields, plot, print_json, progress_bar};

#[derive(Args)]
pub struct SampleArgs {
    #[arg(long, allow_negative_numbers = true)]
    pub chi: f64,
    /// Beads per grid cell B (fluctuation strength: larger is weaker).
    #[arg(long, default_value_t = 1000.0)]
    pub beads_per_cell: f64,
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Langevin step lambda (stable below chi; see MODEL.md).
    #[arg(long, default_value_t = 0.05)]
    pub step_size: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// random[:AMP] | lamellar[:N] | hex:NX:NY | square:NX:NY | FILE.safetensors.
    #[arg(long, default_value = "random:0.01")]
    pub init: String,
    #[arg(long, default_value = "32x32")]
    pub grid: String,
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Max-norm of phi_A + phi_B - 1 after every step.
    #[arg(long, default_value_t = 1e-6)]
    pub tol: f64,
    /// Snapshot every this many steps (0: only the last).
    #[arg(long, default_value_t = 100)]
    pub every: usize,
    /// exact, or operator:CHECKPOINT (the inner W_+ loop on the operator, exact polish).
    #[arg(long, default_value = "exact")]
    pub solver: String,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in OUT from its last snapshot.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: crate::Common,
}

/// One step's record.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct TraceLine {
    step: usize,
    hamiltonian: f64,
    /// mean over the grid of (phi_A - phi_B)^2.
    psi2: f64,
    pressure_residual: f64,
    exact_solves: usize,
    operator_calls: usize,
}

fn psi2(phi: &[f64]) -> f64 {
    let m = phi.len() / 2;
    (0..m).map(|i| (phi[i] - phi[m + i]).powi(2)).sum::<f64>() / m as f64
}

/// Mean and standard error of a correlated series by 10 blocks.
fn mean_and_error(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let blocks = 10.min(n);
    let size = n / blocks;
    if blocks < 2 || size == 0 {
        return (mean, f64::NAN);
    }
    let block_means: Vec<f64> =
        (0..blocks).map(|b| values[b * size..(b + 1) * size].iter().sum::<f64>() / size as f64).collect();
    let bm = block_means.iter().sum::<f64>() / blocks as f64;
    let var = block_means.iter().map(|v| (v - bm).powi(2)).sum::<f64>() / (blocks - 1) as f64;
    (mean, (var / blocks as f64).sqrt())
}

/// Running sum of S(q) over the steps of the last half, kept in the
/// snapshots' metadata so a resumed run continues it.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct SqSum {
    q: Vec<f64>,
    sum: Vec<f64>,
    steps: usize,
}

fn save_state(path: &Path, state: &LftsState, grid: &Grid, meta: &serde_json::Value, sq: &SqSum) -> Result<()> {
    let m = grid.points();
    let mut w = vec![0.0; 2 * m];
    mesofield_physics::fields::from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
    let shape = vec![1, 2, grid.mx, grid.my];
    let bytes = to_safetensors(
        &[
            ("w", shape.clone(), TensorData::F64(&w)),
            ("phi", shape, TensorData::F64(&state.phi)),
            ("log_q", vec![1], TensorData::F64(&[state.log_q])),
        ],
        &json!({"format": "mesofield-lfts", "step": state.step, "run": meta, "model": meta["model"], "sq_sum": sq})
            .to_string(),
    )?;
    write_atomic(path, &bytes)?;
    Ok(())
}

pub fn cmd_sample(a: &SampleArgs) -> Result<()> {
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let last_path = a.out.join("last.safetensors");
    let trace_path = a.out.join("trace.jsonl");
    let mut sq_sum = SqSum::default();
    let (model, grid, w_start, start_step) = if a.resume {
        if !last_path.exists() {
            bail!("--resume: {} does not exist", last_path.display());
        }
        let file = FieldFile::open(&last_path)?;
        let meta = file.metadata()?.context("last.safetensors has no metadata")?;
        let run = &meta["run"];
        for (key, value) in
            [("chi", json!(a.chi)), ("beads_per_cell", json!(a.beads_per_cell)), ("seed", json!(a.seed))]
        {
            if run[key] != value {
                bail!("--resume: the run in {} has {key} = {}, not {value}", a.out.display(), run[key]);
            }
        }
        let step = meta["step"].as_u64().context("last.safetensors: no step")? as usize;
        sq_sum = serde_json::from_value(meta["sq_sum"].clone()).unwrap_or_default();
        let (model, grid, w) =
            initial_fields(last_path.to_str().context("path")?, &a.grid, a.model.as_deref(), a.chi, 0)?;
        (model, grid, w, step)
    } else {
        let (model, grid, w) = initial_fields(&a.init, &a.grid, a.model.as_deref(), a.chi, a.seed)?;
        (model, grid, w, 0)
    };
    let exact = ExactSolver::new(&model, grid)?;
    let operator = crate::operator_cmds::solver_choice(&a.solver, &a.backend, &model, &grid)?;
    let config =
        LftsConfig { pressure_tolerance: a.tol, ..LftsConfig::new(a.chi, a.beads_per_cell, a.step_size, a.seed) };
    let sampler = Lfts::new(config, &exact, operator.as_ref().map(|o| o as &dyn FieldSolver))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let meta = json!({"chi": a.chi, "beads_per_cell": a.beads_per_cell, "step_size": a.step_size, "seed": a.seed,
                      "steps": a.steps, "solver": a.solver, "tol": a.tol, "grid": [grid.mx, grid.my], "model": model});

    // The trace up to the resumed step (a run stopped between snapshots
    // wrote lines past it; they are recomputed).
    let mut trace: Vec<TraceLine> = Vec::new();
    if a.resume && trace_path.exists() {
        for line in std::fs::read_to_string(&trace_path)?.lines() {
            let t: TraceLine = serde_json::from_str(line).context("trace.jsonl")?;
            if t.step <= start_step {
                trace.push(t);
            }
        }
    }
    let (mut exact_solves, mut operator_calls) =
        trace.last().map(|t| (t.exact_solves, t.operator_calls)).unwrap_or((0, 0));
    let mut text = String::new();
    for t in &trace {
        text.push_str(&serde_json::to_string(t)?);
        text.push('\n');
    }
    write_atomic(&trace_path, text.as_bytes())?;
    let mut trace_file = std::fs::OpenOptions::new().append(true).open(&trace_path)?;

    let (mut state, cost) = sampler.start(&w_start, start_step)?;
    exact_solves += cost.exact_solves;
    operator_calls += cost.operator_calls;
    let plan = SpectralPlan::new(grid);
    let m = grid.points();
    let bar = progress_bar(a.steps as u64, "sample");
    bar.set_position(start_step as u64);
    let started = Instant::now();
    let mut record = |state: &LftsState, exact_solves: usize, operator_calls: usize| -> Result<TraceLine> {
        let line = TraceLine {
            step: state.step,
            hamiltonian: state.hamiltonian,
            psi2: psi2(&state.phi),
            pressure_residual: state.pressure_residual,
            exact_solves,
            operator_calls,
        };
        writeln!(trace_file, "{}", serde_json::to_string(&line)?)?;
        Ok(line)
    };
    if start_step == 0 {
        trace.push(record(&state, exact_solves, operator_calls)?);
    }
    while state.step < a.steps {
        let (next, cost) = sampler.step(&state)?;
        state = next;
        exact_solves += cost.exact_solves;
        operator_calls += cost.operator_calls;
        trace.push(record(&state, exact_solves, operator_calls)?);
        if state.step > a.steps / 2 {
            let sq = structure_factor(&plan, &state.phi[..m]);
            if sq_sum.sum.is_empty() {
                sq_sum = SqSum { q: sq.q.clone(), sum: vec![0.0; sq.s.len()], steps: 0 };
            }
            for (acc, v) in sq_sum.sum.iter_mut().zip(&sq.s) {
                *acc += v;
            }
            sq_sum.steps += 1;
        }
        bar.set_position(state.step as u64);
        bar.set_message(format!("sample H {:.4}", state.hamiltonian));
        if (a.every > 0 && state.step % a.every == 0) || state.step == a.steps {
            let name = format!("snap_{:06}", state.step);
            save_state(&a.out.join(format!("{name}.safetensors")), &state, &grid, &meta, &sq_sum)?;
            plot::field_png(&state.phi[..m], grid.mx, grid.my, Some((0.0, 1.0)), &a.out.join(format!("{name}.png")))?;
            save_state(&last_path, &state, &grid, &meta, &sq_sum)?;
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let steps_run = a.steps - start_step;

    // Statistics over the steps of the last half of the run.
    let half: Vec<&TraceLine> = trace.iter().filter(|t| t.step > a.steps / 2).collect();
    let (h_mean, h_err) = mean_and_error(&half.iter().map(|t| t.hamiltonian).collect::<Vec<_>>());
    let (p_mean, p_err) = mean_and_error(&half.iter().map(|t| t.psi2).collect::<Vec<_>>());
    let sq_q = sq_sum.q.clone();
    let sq_mean: Vec<f64> = sq_sum.sum.iter().map(|v| v / sq_sum.steps.max(1) as f64).collect();
    write_atomic(
        &a.out.join("sq.json"),
        serde_json::to_string_pretty(&json!({"q": sq_q, "S": sq_mean, "steps": sq_sum.steps}))?.as_bytes(),
    )?;
    plot::xy_png(&sq_q, &sq_mean, "S(Q) OF PHI_A, LAST HALF", &a.out.join("sq.png"))?;
    let steps_axis: Vec<f64> = trace.iter().map(|t| t.step as f64).collect();
    let h: Vec<f64> = trace.iter().map(|t| t.hamiltonian).collect();
    plot::xy_png(&steps_axis, &h, "H PER CHAIN VS STEP", &a.out.join("hamiltonian.png"))?;
    let summary = json!({
        "chi": a.chi, "beads_per_cell": a.beads_per_cell, "steps": a.steps, "step_size": a.step_size, "seed": a.seed,
        "solver": a.solver, "tol": a.tol, "grid": [grid.mx, grid.my],
        "steps_per_second": steps_run as f64 / seconds, "seconds": seconds,
        "exact_solves": exact_solves, "operator_calls": operator_calls,
        "H_mean": h_mean, "H_stderr": h_err, "psi2_mean": p_mean, "psi2_stderr": p_err,
        "statistics_over_steps": half.len(), "final_pressure_residual": state.pressure_residual,
    });
    write_atomic(&a.out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    if a.common.json {
        print_json(&summary);
    } else {
        println!(
            "{} steps ({:.1}/s), H = {:.5} +- {:.5}, <(phi_A - phi_B)^2> = {:.5} +- {:.5}, {} exact solves, {} operator calls -> {}",
            steps_run,
            steps_run as f64 / seconds,
            h_mean,
            h_err,
            p_mean,
            p_err,
            exact_solves,
            operator_calls,
            a.out.display()
        );
    }
    Ok(())
}
