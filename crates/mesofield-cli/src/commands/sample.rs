//! `sample`: L-FTS into a run folder (`mesofield_experiments::sampling`).
//!
//! RUN/ holds `trace.jsonl` (one line per step: step, H, mean (phi_A -
//! phi_B)^2, pressure residual, cumulative solves), snapshots
//! `snap_STEP.safetensors` and `.png` every `--every` steps, `last.safetensors`
//! (`w`, `phi`, the step and the run's settings in its metadata), `sq.json`
//! (S(q) averaged over the steps of the last half), `summary.json` and the
//! pictures `hamiltonian.png` and `sq.png`. `--resume` continues from
//! `last.safetensors` with the same settings. With `--replicas R` the R
//! chains (seeds SEED..SEED+R-1) advance together, one batched solve per
//! inner iteration, each into `RUN/replica_NN/` as its own run would, and
//! `RUN/summary.json` pools them.

use anyhow::Result;
use clap::Args;

use mesofield_experiments::inputs::Start;
use mesofield_experiments::sampling::{SampleSpec, run_replicas};
use mesofield_physics::fts::Integrator;

use super::{RunArgs, reporter};

#[derive(Args)]
pub struct SampleArgs {
    #[arg(long, allow_negative_numbers = true)]
    pub chi: f64,
    /// Beads per grid cell B (fluctuation strength: larger is weaker).
    #[arg(long, default_value_t = 1000.0)]
    pub beads_per_cell: f64,
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Langevin step lambda (stable below chi; see docs/model.md).
    #[arg(long, default_value_t = 0.05)]
    pub step_size: f64,
    /// em (Euler-Maruyama) | lm (Leimkuhler-Matthews): how the noise enters the step (docs/model.md).
    #[arg(long, default_value_t = Integrator::default())]
    pub integrator: Integrator,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// random[:AMP] | lamellar[:N] | hex:NX:NY | square:NX:NY | FILE.safetensors.
    #[arg(long, default_value = "random:0.01")]
    pub init: Start,
    /// Max-norm of phi_A + phi_B - 1 after every step.
    #[arg(long, default_value_t = 1e-6)]
    pub tol: f64,
    /// Snapshot every this many steps (0: only the last).
    #[arg(long, default_value_t = 100)]
    pub every: usize,
    /// Independent chains advanced together (seeds SEED to SEED+R-1), one
    /// batched solve per inner iteration: RUN/replica_NN/ each, pooled RUN/summary.json.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// With --solver operator:CHECKPOINT the inner W_+ loop runs on the operator (exact polish).
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn sample(a: &SampleArgs) -> Result<()> {
    let spec = SampleSpec {
        chi: a.chi,
        beads_per_cell: a.beads_per_cell,
        steps: a.steps,
        step_size: a.step_size,
        integrator: a.integrator,
        seed: a.seed,
        init: a.init.clone(),
        grid: a.run.grid.clone(),
        model: a.run.model.clone(),
        tol: a.tol,
        every: a.every,
        solver: a.run.solvers.solver.clone(),
        backend: a.run.solvers.backend,
    };
    let out = run_replicas(&spec, a.replicas, &a.run.out, a.run.resume, &reporter())?;
    if let Some(pooled) = &out.summary {
        if !a.run.print_json(pooled) {
            println!(
                "{} replicas x {} steps ({:.1} replica-steps/s), H = {:.5} +- {:.5}, <(phi_A - phi_B)^2> = {:.5} +- {:.5} (errors from the spread of the replicas), {:.1} effective samples/s, {} exact solves, {} operator calls -> {}",
                pooled.replicas,
                out.runs[0].steps_run,
                pooled.steps_per_second,
                pooled.h_mean,
                pooled.h_stderr,
                pooled.psi2_mean,
                pooled.psi2_stderr,
                pooled.effective_samples_per_second,
                pooled.cost.exact_solves,
                pooled.cost.operator_calls,
                a.run.out.display()
            );
        }
        return Ok(());
    }
    let run = &out.runs[0];
    let s = &run.summary;
    if !a.run.print_json(s) {
        println!(
            "{} steps ({:.1}/s), H = {:.5} +- {:.5}, <(phi_A - phi_B)^2> = {:.5} +- {:.5}, tau_int {:.2}, {:.2} and {:.2} steps (H, psi^2, S(q*)){} ({:.1} effective samples/s), {} exact solves, {} operator calls -> {}",
            run.steps_run,
            s.steps_per_second,
            s.h_mean,
            s.h_stderr,
            s.psi2_mean,
            s.psi2_stderr,
            s.h_tau,
            s.psi2_tau,
            s.sq_peak_tau,
            if s.tau_window_closed { "" } else { " (at least: the window did not close)" },
            s.effective_samples_per_second,
            s.cost.exact_solves,
            s.cost.operator_calls,
            a.run.out.display()
        );
    }
    Ok(())
}
