//! `mesofield dynamics`: a pattern evolved by d phi_A/dt = div(M grad mu)
//! into a run folder: snapshots (safetensors + PNG) every K steps,
//! `last.safetensors` (`w`, `phi`, step, t, dt and the settings in its
//! metadata), `trace.json` (t, F, mean phi_A, S(q) peak per recorded step)
//! with `trace.png`, and `animation.gif` of the frames. `--resume` continues
//! from `last.safetensors`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;

use mesofield_physics::dynamics::{Dynamics, DynamicsConfig, DynamicsState, Mobility};
use mesofield_physics::io::{FieldFile, TensorData, to_safetensors, write_atomic};
use mesofield_physics::lfts::structure_factor;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::{ChainModel, ExactSolver, FieldSolver, Grid};

use crate::plot;

#[derive(Args, Clone)]
pub struct DynamicsArgs {
    #[arg(long)]
    pub chi: f64,
    /// A pattern file (safetensors `phi`/`phi_a`, .npy, grayscale .png), or noise[:AMP] around f.
    #[arg(long, default_value = "noise:0.01")]
    pub init: String,
    #[arg(long, default_value = "constant")]
    pub mobility: String,
    #[arg(long, default_value_t = 1.0)]
    pub m0: f64,
    /// Time step (the largest; halved while F would rise).
    #[arg(long, default_value_t = 1.0)]
    pub dt: f64,
    #[arg(long, default_value_t = 500)]
    pub steps: usize,
    /// Record (snapshot, frame, trace point) every this many steps.
    #[arg(long, default_value_t = 25)]
    pub every: usize,
    /// Cahn-Hilliard-Cook noise at --beads-per-cell.
    #[arg(long)]
    pub noise: bool,
    #[arg(long, default_value_t = 100.0)]
    pub beads_per_cell: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Grid of a noise start.
    #[arg(long, default_value = "32x32")]
    pub grid: String,
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// exact | operator:CHECKPOINT (each step's inverse map starts on the operator, exact polish).
    #[arg(long, default_value = "exact")]
    pub solver: String,
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: crate::Common,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Trace {
    pub step: Vec<usize>,
    pub t: Vec<f64>,
    #[serde(rename = "F")]
    pub free_energy: Vec<f64>,
    pub mean_phi_a: Vec<f64>,
    pub sq_peak_height: Vec<f64>,
    pub sq_peak_q: Vec<f64>,
}

/// Where a run begins: a new pattern, or the last snapshot of a run.
enum Start {
    Fresh(Vec<f64>),
    Resumed { phi: Vec<f64>, w: Vec<f64>, step: usize, t: f64, dt: f64 },
}

fn parse_mobility(text: &str) -> Result<Mobility> {
    match text {
        "constant" => Ok(Mobility::Constant),
        "local" => Ok(Mobility::Local),
        other => bail!("--mobility {other:?}: expected constant or local"),
    }
}

/// The starting pattern and its model, from a file or noise.
fn initial_pattern(a: &DynamicsArgs) -> Result<(ChainModel, Vec<f64>, usize, usize)> {
    let model_arg = match &a.model {
        Some(p) => Some(ChainModel::from_toml_file(p)?),
        None => None,
    };
    if let Some(rest) = a.init.strip_prefix("noise") {
        let amplitude = match rest.strip_prefix(':') {
            Some(v) => v.parse::<f64>().with_context(|| format!("--init {}: bad amplitude", a.init))?,
            None if rest.is_empty() => 0.01,
            None => bail!("--init {}: expected noise[:AMP] or a file", a.init),
        };
        let model = model_arg.unwrap_or_default();
        let (mx, my) = Grid::parse_size(&a.grid)?;
        let f = model.f_a();
        let mut rng = StreamRng::new(a.seed, u64::MAX);
        let mut phi: Vec<f64> = (0..mx * my).map(|_| f + amplitude * rng.normal()).collect();
        let mean = phi.iter().sum::<f64>() / phi.len() as f64;
        phi.iter_mut().for_each(|v| *v += f - mean);
        return Ok((model, phi, mx, my));
    }
    let mut patterns = crate::observe::load_patterns(Path::new(&a.init), [0.0, 1.0], true)?;
    let model = model_arg.or(patterns.model.clone()).unwrap_or_default();
    patterns.match_mean(model.f_a());
    Ok((model, patterns.sample(0).to_vec(), patterns.mx, patterns.my))
}

fn save_state(path: &Path, state: &DynamicsState, grid: &Grid, meta: &serde_json::Value) -> Result<()> {
    let meta = json!({"format": "mesofield-dynamics", "step": state.step, "t": state.t, "dt": state.dt,
                      "F": state.free_energy, "run": meta, "model": meta["model"]});
    let shape = vec![1, 2, grid.mx, grid.my];
    let bytes = to_safetensors(
        &[("w", shape.clone(), TensorData::F64(&state.w)), ("phi", shape, TensorData::F64(&state.phi))],
        &meta.to_string(),
    )?;
    write_atomic(path, &bytes)?;
    Ok(())
}

pub fn cmd_dynamics(a: &DynamicsArgs) -> Result<()> {
    let mobility = parse_mobility(&a.mobility)?;
    if a.steps == 0 || a.every == 0 {
        bail!("--steps and --every must be at least 1");
    }
    let last_path = a.out.join("last.safetensors");
    let trace_path = a.out.join("trace.json");
    let settings = json!({"chi": a.chi, "mobility": a.mobility, "m0": a.m0, "noise": a.noise,
                          "beads_per_cell": a.beads_per_cell, "seed": a.seed});
    let (model, grid, start) = if a.resume {
        if !last_path.exists() {
            bail!("--resume: {} does not exist", last_path.display());
        }
        let file = FieldFile::open(&last_path)?;
        let meta = file.metadata()?.context("last.safetensors has no metadata")?;
        for key in ["chi", "mobility", "m0", "noise", "beads_per_cell", "seed"] {
            if meta["run"][key] != settings[key] {
                bail!(
                    "--resume: the run in {} has {key} = {}, not {}",
                    a.out.display(),
                    meta["run"][key],
                    settings[key]
                );
            }
        }
        let model = ChainModel::from_json_value(&meta["model"])?;
        let (_, mx, my, w) = file.fields("w")?;
        let (_, _, _, phi) = file.fields("phi")?;
        let grid = Grid::for_model(&model, mx, my)?;
        let step = meta["step"].as_u64().context("last.safetensors: no step")? as usize;
        let t = meta["t"].as_f64().context("last.safetensors: no t")?;
        let dt = meta["dt"].as_f64().context("last.safetensors: no dt")?;
        (model, grid, Start::Resumed { phi, w, step, t, dt })
    } else {
        let (model, phi, mx, my) = initial_pattern(a)?;
        let grid = Grid::for_model(&model, mx, my)?;
        (model, grid, Start::Fresh(phi))
    };
    let exact = ExactSolver::new(&model, grid)?;
    let operator = crate::operator_cmds::solver_choice(&a.solver, &a.backend, &model, &grid)?;
    let config = DynamicsConfig {
        mobility,
        m0: a.m0,
        noise: a.noise,
        beads_per_cell: a.beads_per_cell,
        seed: a.seed,
        ..DynamicsConfig::new(a.chi, a.dt)
    };
    let dynamics = Dynamics::new(config, &exact, operator.as_ref().map(|o| o as &dyn FieldSolver))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let meta = json!({"chi": a.chi, "mobility": a.mobility, "m0": a.m0, "noise": a.noise, "beads_per_cell": a.beads_per_cell,
                      "seed": a.seed, "dt": a.dt, "solver": a.solver, "grid": [grid.mx, grid.my], "model": model});
    let m = grid.points();
    let (mut state, mut trace) = match start {
        Start::Resumed { phi, w, step, t, dt } => {
            let (mut s, _) = dynamics.start(&phi[..m], Some(&w))?;
            s.step = step;
            s.t = t;
            s.dt = dt;
            let mut trace: Trace = std::fs::read_to_string(&trace_path)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            // Records past the snapshot are recomputed.
            let keep = trace.step.iter().take_while(|&&k| k <= step).count();
            trace.step.truncate(keep);
            trace.t.truncate(keep);
            trace.free_energy.truncate(keep);
            trace.mean_phi_a.truncate(keep);
            trace.sq_peak_height.truncate(keep);
            trace.sq_peak_q.truncate(keep);
            (s, trace)
        }
        Start::Fresh(phi) => (dynamics.start(&phi, None)?.0, Trace::default()),
    };
    let plan = SpectralPlan::new(grid);
    let record = |state: &DynamicsState, trace: &mut Trace| -> Result<()> {
        let sq = structure_factor(&plan, &state.phi_a);
        let peak = (0..sq.s.len()).max_by(|&i, &j| sq.s[i].total_cmp(&sq.s[j])).unwrap_or(0);
        trace.step.push(state.step);
        trace.t.push(state.t);
        trace.free_energy.push(state.free_energy);
        trace.mean_phi_a.push(state.phi_a.iter().sum::<f64>() / m as f64);
        trace.sq_peak_height.push(sq.s.get(peak).copied().unwrap_or(f64::NAN));
        trace.sq_peak_q.push(sq.q.get(peak).copied().unwrap_or(f64::NAN));
        let name = format!("snap_{:06}", state.step);
        save_state(&a.out.join(format!("{name}.safetensors")), state, &grid, &meta)?;
        plot::field_png(&state.phi_a, grid.mx, grid.my, Some((0.0, 1.0)), &a.out.join(format!("{name}.png")))?;
        Ok(())
    };
    if trace.step.is_empty() {
        record(&state, &mut trace)?;
    }
    let target = if a.resume { state.step.max(a.steps) } else { a.steps };
    let started = Instant::now();
    let (mut exact_solves, mut operator_calls, mut rejected) = (0, 0, 0);
    let first_step = state.step;
    let bar = crate::progress_bar((target - state.step) as u64, "dynamics");
    while state.step < target {
        let (next, cost) = dynamics.step(&state)?;
        state = next;
        exact_solves += cost.exact_solves;
        operator_calls += cost.operator_calls;
        rejected += cost.rejected;
        bar.inc(1);
        bar.set_message(format!("dynamics t {:.3} F {:.5}", state.t, state.free_energy));
        if state.step % a.every == 0 || state.step == target {
            record(&state, &mut trace)?;
            save_state(&last_path, &state, &grid, &meta)?;
            write_atomic(&trace_path, serde_json::to_string(&trace)?.as_bytes())?;
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let steps_done = state.step - first_step;
    plot::xy_png(&trace.t, &trace.free_energy, "F PER CHAIN VS T", &a.out.join("trace.png"))?;
    write_gif(&a.out, &trace.step, grid.mx, grid.my)?;
    let summary = json!({"chi": a.chi, "mobility": a.mobility, "steps": state.step, "t": state.t, "F": state.free_energy,
                         "exact_solves": exact_solves, "operator_calls": operator_calls, "rejected_steps": rejected,
                         "steps_per_second": steps_done as f64 / seconds.max(1e-9), "seconds": seconds, "solver": a.solver});
    write_atomic(&a.out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    if a.common.json {
        crate::print_json(&summary);
    } else {
        println!(
            "{} steps to t = {:.3}: F {:.6} -> {:.6}, {exact_solves} exact solves, {:.1} steps/s -> {}",
            steps_done,
            state.t,
            trace.free_energy.first().copied().unwrap_or(f64::NAN),
            state.free_energy,
            steps_done as f64 / seconds.max(1e-9),
            a.out.display()
        );
    }
    Ok(())
}

/// `animation.gif` from the recorded snapshots' phi_A.
fn write_gif(dir: &Path, steps: &[usize], mx: usize, my: usize) -> Result<()> {
    use image::codecs::gif::{GifEncoder, Repeat};
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(Repeat::Infinite).context("GIF")?;
        for &step in steps {
            let file = FieldFile::open(&dir.join(format!("snap_{step:06}.safetensors")))?;
            let (_, _, _, phi) = file.fields("phi")?;
            let (img, _, _) = plot::field_image(&phi[..mx * my], mx, my, Some((0.0, 1.0)), 256);
            let rgba = image::DynamicImage::ImageRgb8(img).to_rgba8();
            let frame = image::Frame::from_parts(rgba, 0, 0, image::Delay::from_numer_denom_ms(150, 1));
            encoder.encode_frame(frame).context("encoding a GIF frame")?;
        }
    }
    write_atomic(&dir.join("animation.gif"), &bytes)?;
    Ok(())
}
