//! `mesofield dynamics`: a pattern evolved by d phi_A/dt = div(M grad mu)
//! into a run folder (`mesofield_experiments::dynamics_run`): snapshots
//! (safetensors + PNG) every K steps, `last.safetensors` (`w`, `phi`, step,
//! t, dt and the settings in its metadata), `trace.jsonl` (t, F, mean phi_A,
//! S(q) peak per recorded step) with `trace.png`, and `animation.gif` of the
//! frames. `--resume` continues from `last.safetensors`.

use anyhow::{Result, bail};
use clap::Args;

use mesofield_experiments::dynamics_run::{DynamicsSpec, run_dynamics};
use mesofield_physics::dynamics::Mobility;

use super::{RunArgs, reporter};

#[derive(Args, Clone)]
pub struct DynamicsArgs {
    #[arg(long)]
    pub chi: f64,
    /// A pattern file (safetensors `phi`/`phi_a`, .npy, grayscale .png), or noise[:AMP] around f.
    #[arg(long, default_value = "noise:0.01")]
    pub init: String,
    /// constant or local (M0 phi_A phi_B).
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
    /// The grid is a noise start's; with --solver operator:CHECKPOINT each
    /// step's inverse map starts on the operator (exact polish).
    #[command(flatten)]
    pub run: RunArgs,
}

fn parse_mobility(text: &str) -> Result<Mobility> {
    match text {
        "constant" => Ok(Mobility::Constant),
        "local" => Ok(Mobility::Local),
        other => bail!("--mobility {other:?}: expected constant or local"),
    }
}

pub fn dynamics(a: &DynamicsArgs) -> Result<()> {
    let spec = DynamicsSpec {
        chi: a.chi,
        init: a.init.clone(),
        mobility: parse_mobility(&a.mobility)?,
        m0: a.m0,
        dt: a.dt,
        steps: a.steps,
        every: a.every,
        noise: a.noise,
        beads_per_cell: a.beads_per_cell,
        seed: a.seed,
        grid: a.run.grid.clone(),
        model: a.run.model.clone(),
        solver: a.run.solvers.solver.clone(),
        backend: a.run.solvers.backend,
    };
    let run = run_dynamics(&spec, &a.run.out, a.run.resume, &reporter())?;
    let s = &run.summary;
    if !a.run.print_json(s) {
        println!(
            "{} steps to t = {:.3}: F {:.6} -> {:.6}, {} exact solves, {:.1} steps/s -> {}",
            run.steps_done,
            s.t,
            run.trace.first().map_or(f64::NAN, |r| r.free_energy),
            s.free_energy,
            s.cost.exact_solves,
            s.steps_per_second,
            a.run.out.display()
        );
    }
    Ok(())
}
