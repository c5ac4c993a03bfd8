//! Pattern dynamics into a run folder (`mesofield dynamics`, the dynamics
//! figure's legs): d phi_A/dt = div(M grad mu) by
//! `mesofield_physics::dynamics`, a trace record (t, F, mean phi_A, S(q)
//! peak) and a snapshot every `every` steps, `last.safetensors` to resume
//! from, `trace.png` (F against t) and `animation.gif` of the frames.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;

use mesofield_physics::dynamics::{Dynamics, DynamicsConfig, DynamicsCost, DynamicsState, Mobility};
use mesofield_physics::io::{FieldFile, TensorData};
use mesofield_physics::observables::structure_factor;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::trajectory::{self, Analyzer, Replica};
use mesofield_physics::{ChainModel, Grid, SolveCost};

use crate::charts::{COLOURS, LineChart, Series, line_chart_png};
use crate::patterns::load_patterns;
use crate::plot;
use crate::progress::Reporter;
use crate::roles;
use crate::run_folder::{Record, RunFolder, TraceWriter};
use crate::solvers::{Backend, SolverChoice};

/// One dynamics run.
#[derive(Clone, Debug)]
pub struct DynamicsSpec {
    pub chi: f64,
    /// A pattern file (safetensors `phi`/`phi_a`, .npy, grayscale .png), or noise[:AMP] around f.
    pub init: String,
    pub mobility: Mobility,
    pub m0: f64,
    /// The largest time step (halved while F would rise).
    pub dt: f64,
    pub steps: usize,
    /// Record (snapshot, frame, trace record) every this many steps.
    pub every: usize,
    /// Cahn-Hilliard-Cook noise at `beads_per_cell`.
    pub noise: bool,
    pub beads_per_cell: f64,
    pub seed: u64,
    /// Grid of a noise start, MXxMY.
    pub grid: String,
    pub model: Option<PathBuf>,
    pub solver: SolverChoice,
    pub backend: Backend,
}

impl DynamicsSpec {
    /// Deterministic quench of `init` to `chi`: constant mobility, no noise.
    pub fn new(chi: f64, init: impl Into<String>, dt: f64, steps: usize, every: usize) -> DynamicsSpec {
        DynamicsSpec {
            chi,
            init: init.into(),
            mobility: Mobility::Constant,
            m0: 1.0,
            dt,
            steps,
            every,
            noise: false,
            beads_per_cell: 100.0,
            seed: 0,
            grid: "32x32".into(),
            model: None,
            solver: SolverChoice::Exact,
            backend: Backend::Cpu,
        }
    }
}

/// A recorded step in `trace.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DynamicsRecord {
    pub step: usize,
    pub t: f64,
    #[serde(rename = "F")]
    pub free_energy: f64,
    pub mean_phi_a: f64,
    pub sq_peak_height: f64,
    pub sq_peak_q: f64,
}

impl Record for DynamicsRecord {
    fn step(&self) -> usize {
        self.step
    }
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DynamicsSummary {
    pub chi: f64,
    pub mobility: Mobility,
    pub steps: usize,
    pub t: f64,
    #[serde(rename = "F")]
    pub free_energy: f64,
    /// Of this invocation (a resumed run counts from its resume point).
    /// `rejected`: operator starts of the inverse map that its trust check
    /// threw away.
    #[serde(flatten)]
    pub cost: SolveCost,
    /// Steps redone with half the step.
    #[serde(alias = "rejected_steps")]
    pub halved_steps: usize,
    pub steps_per_second: f64,
    pub seconds: f64,
    pub solver: String,
}

#[derive(Clone, Debug)]
pub struct DynamicsRun {
    pub summary: DynamicsSummary,
    /// Every recorded step, the first included.
    pub trace: Vec<DynamicsRecord>,
    /// Steps the run advanced in this invocation.
    pub steps_done: usize,
}

/// The starting pattern and its model, from a file or noise around f.
fn initial_pattern(spec: &DynamicsSpec) -> Result<(ChainModel, Vec<f64>, usize, usize)> {
    let model_arg = match &spec.model {
        Some(p) => Some(ChainModel::from_toml_file(p)?),
        None => None,
    };
    if let Some(rest) = spec.init.strip_prefix("noise") {
        let amplitude = match rest.strip_prefix(':') {
            Some(v) => v.parse::<f64>().with_context(|| format!("--init {}: bad amplitude", spec.init))?,
            None if rest.is_empty() => 0.01,
            None => bail!("--init {}: expected noise[:AMP] or a file", spec.init),
        };
        let model = model_arg.unwrap_or_default();
        let (mx, my) = Grid::parse_size(&spec.grid)?;
        let f = model.f_a();
        let mut rng = StreamRng::new(spec.seed, u64::MAX);
        let mut phi: Vec<f64> = (0..mx * my).map(|_| f + amplitude * rng.normal()).collect();
        let mean = mesofield_physics::stats::mean(&phi);
        phi.iter_mut().for_each(|v| *v += f - mean);
        return Ok((model, phi, mx, my));
    }
    let mut patterns = load_patterns(Path::new(&spec.init), [0.0, 1.0], true)?;
    let model = model_arg.or(patterns.model.clone()).unwrap_or_default();
    patterns.match_mean(model.f_a());
    Ok((model, patterns.sample(0).to_vec(), patterns.mx, patterns.my))
}

fn save_state(
    folder: &RunFolder,
    path: &Path,
    state: &DynamicsState,
    grid: &Grid,
    run: &serde_json::Value,
) -> Result<()> {
    let meta = json!({"format": "mesofield-dynamics", "step": state.step, "t": state.t, "dt": state.dt,
                      "F": state.free_energy, "run": run, "model": run["model"]});
    let shape = vec![1, 2, grid.mx, grid.my];
    folder.save_state(
        path,
        &[("w", shape.clone(), TensorData::F64(&state.w)), ("phi", shape, TensorData::F64(&state.phi))],
        &meta,
    )
}

/// The last snapshot of a resumed run.
struct Resumed {
    w: Vec<f64>,
    step: usize,
    t: f64,
    dt: f64,
}

/// Where a run begins: `spec`'s pattern, or the folder's last snapshot
/// after checking that the settings match.
fn start_of(
    spec: &DynamicsSpec,
    folder: &RunFolder,
    resume: bool,
) -> Result<(ChainModel, Grid, Vec<f64>, Option<Resumed>)> {
    let keys = ["chi", "mobility", "m0", "noise", "beads_per_cell", "seed"];
    let settings = json!({"chi": spec.chi, "mobility": spec.mobility, "m0": spec.m0, "noise": spec.noise,
                          "beads_per_cell": spec.beads_per_cell, "seed": spec.seed});
    if resume {
        let (file, meta) = folder.resume_point(&settings, &keys)?;
        let model = ChainModel::from_json_value(&meta["model"])?;
        let (_, mx, my, w) = file.fields("w")?;
        let (_, _, _, phi) = file.fields("phi")?;
        let grid = Grid::for_model(&model, mx, my)?;
        let number = |key: &str| meta[key].as_f64().with_context(|| format!("last.safetensors: no {key}"));
        let resumed = Resumed { w, step: number("step")? as usize, t: number("t")?, dt: number("dt")? };
        Ok((model, grid, phi[..grid.points()].to_vec(), Some(resumed)))
    } else {
        let (model, phi, mx, my) = initial_pattern(spec)?;
        let grid = Grid::for_model(&model, mx, my)?;
        Ok((model, grid, phi, None))
    }
}

/// Runs (or, with `resume`, continues to `spec.steps`) the dynamics of `spec` in `dir`.
pub fn run_dynamics(spec: &DynamicsSpec, dir: &Path, resume: bool, reporter: &Reporter) -> Result<DynamicsRun> {
    if spec.steps == 0 || spec.every == 0 {
        bail!("--steps and --every must be at least 1");
    }
    let folder = RunFolder::new(dir);
    let (model, grid, phi_start, resumed) = start_of(spec, &folder, resume)?;
    let set = roles::resolve(&spec.solver, spec.backend, &model, &grid)?;
    let config = DynamicsConfig {
        mobility: spec.mobility,
        m0: spec.m0,
        noise: spec.noise,
        beads_per_cell: spec.beads_per_cell,
        seed: spec.seed,
        ..DynamicsConfig::new(spec.chi, spec.dt)
    };
    let dynamics = Dynamics::new(config, set.solvers())?;
    folder.create()?;
    let run = json!({"chi": spec.chi, "mobility": spec.mobility, "m0": spec.m0, "noise": spec.noise,
                     "beads_per_cell": spec.beads_per_cell, "seed": spec.seed, "dt": spec.dt,
                     "solver": spec.solver.to_string(), "grid": [grid.mx, grid.my], "model": model});
    let state = match &resumed {
        Some(r) => {
            let (mut s, _) = dynamics.start(&phi_start, Some(&r.w))?;
            s.step = r.step;
            s.t = r.t;
            s.dt = r.dt;
            s
        }
        None => dynamics.start(&phi_start, None)?.0,
    };
    let (trace, writer) = folder.open_trace::<DynamicsRecord>(resumed.as_ref().map(|r| r.step))?;
    let target = if resume { state.step.max(spec.steps) } else { spec.steps };
    let plan = SpectralPlan::new(grid);
    let mut files = DynamicsFiles { folder: &folder, grid, plan, run, trace, writer, every: spec.every, target };
    if files.trace.is_empty() {
        files.record(&state)?;
    }
    let first_step = state.step;
    let stage = reporter.stage((target - state.step) as u64, "dynamics");
    let mut leg =
        [Replica { state, cost: DynamicsCost::default(), analyzers: vec![&mut files as &mut dyn Analyzer<_, _>] }];
    let seconds = trajectory::run(&dynamics, &mut leg, target, &mut |leg| {
        let state = &leg[0].state;
        stage.inc(1);
        stage.set_message(format!("dynamics t {:.3} F {:.5}", state.t, state.free_energy));
    })?;
    stage.finish();
    let [Replica { state, cost, .. }] = leg;
    let trace = files.trace;
    let steps_done = state.step - first_step;
    let t: Vec<f64> = trace.iter().map(|r| r.t).collect();
    let f: Vec<f64> = trace.iter().map(|r| r.free_energy).collect();
    let chart =
        LineChart::new(format!("Free energy, chi {}", spec.chi), "t (1/M0)", "F per chain, relative to the melt (kT)")
            .with(Series::new("", &t, &f, COLOURS[0]));
    line_chart_png(&chart, &folder.file("trace.png"))?;
    write_gif(&folder, &trace, grid.mx, grid.my)?;
    let summary = DynamicsSummary {
        chi: spec.chi,
        mobility: spec.mobility,
        steps: state.step,
        t: state.t,
        free_energy: state.free_energy,
        cost: cost.solves,
        halved_steps: cost.halved_steps,
        steps_per_second: steps_done as f64 / seconds.max(1e-9),
        seconds,
        solver: spec.solver.to_string(),
    };
    folder.write_json("summary.json", &summary)?;
    Ok(DynamicsRun { summary, trace, steps_done })
}

/// A dynamics run's files, an analyzer of its states: a trace record and a
/// snapshot every `every` steps and at `target`, with `last.safetensors`.
struct DynamicsFiles<'f> {
    folder: &'f RunFolder,
    grid: Grid,
    plan: SpectralPlan,
    run: serde_json::Value,
    trace: Vec<DynamicsRecord>,
    writer: TraceWriter,
    every: usize,
    target: usize,
}

impl DynamicsFiles<'_> {
    /// The trace record (t, F, mean phi_A, S(q) peak) and snapshot of `state`.
    fn record(&mut self, state: &DynamicsState) -> Result<()> {
        let peak = structure_factor(&self.plan, &state.phi_a).peak();
        let r = DynamicsRecord {
            step: state.step,
            t: state.t,
            free_energy: state.free_energy,
            mean_phi_a: mesofield_physics::stats::mean(&state.phi_a),
            sq_peak_height: peak.s,
            sq_peak_q: peak.q,
        };
        self.writer.append(&r)?;
        self.trace.push(r);
        let (folder, grid) = (self.folder, &self.grid);
        save_state(folder, &folder.snapshot(state.step), state, grid, &self.run)?;
        let png = folder.file(&format!("snap_{:06}.png", state.step));
        plot::field_png(&state.phi_a, grid.mx, grid.my, Some((0.0, 1.0)), &png)?;
        Ok(())
    }
}

impl Analyzer<DynamicsState, DynamicsCost> for DynamicsFiles<'_> {
    fn sample(&mut self, state: &DynamicsState, _: &DynamicsCost) -> mesofield_physics::Result<()> {
        let mut write = || -> Result<()> {
            if state.step.is_multiple_of(self.every) || state.step == self.target {
                self.record(state)?;
                save_state(self.folder, &self.folder.last(), state, &self.grid, &self.run)?;
            }
            Ok(())
        };
        write().map_err(|e| mesofield_physics::Error::Io(format!("{e:#}")))
    }
}

/// `animation.gif` from the recorded snapshots' phi_A.
fn write_gif(folder: &RunFolder, trace: &[DynamicsRecord], mx: usize, my: usize) -> Result<()> {
    use image::codecs::gif::{GifEncoder, Repeat};
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(Repeat::Infinite).context("GIF")?;
        for r in trace {
            let file = FieldFile::open(&folder.snapshot(r.step))?;
            let (_, _, _, phi) = file.fields("phi")?;
            let (img, _, _) = plot::field_image(&phi[..mx * my], mx, my, Some((0.0, 1.0)), 256);
            let rgba = image::DynamicImage::ImageRgb8(img).to_rgba8();
            let frame = image::Frame::from_parts(rgba, 0, 0, image::Delay::from_numer_denom_ms(150, 1));
            encoder.encode_frame(frame).context("encoding a GIF frame")?;
        }
    }
    mesofield_physics::io::write_atomic(&folder.file("animation.gif"), &bytes)?;
    Ok(())
}
