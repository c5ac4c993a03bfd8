//! One module per command group; the argument blocks they share; the few
//! helpers of a command line (threads, JSON on stdout, LO,HI ranges).

pub mod data;
pub mod dynamics;
pub mod fields;
pub mod operator;
pub mod patterns;
pub mod reproduce;
pub mod sample;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use mesofield_experiments::roles::Resolved;
use mesofield_experiments::{Backend, Reporter, SolverChoice};

/// `--json` and `--threads`, on every command that computes.
#[derive(Args, Clone, Debug, Default)]
pub struct Common {
    /// Print the figures as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: RAYON_NUM_THREADS, else all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `--solver exact|operator:CHECKPOINT` and `--backend cpu|wgpu`, parsed once.
#[derive(Args, Clone, Debug)]
pub struct SolverArgs {
    /// exact, or operator:CHECKPOINT: a trained operator inside the loop, the exact solver for the final state.
    #[arg(long, default_value = "exact")]
    pub solver: SolverChoice,
    /// cpu (Flex) or wgpu (needs a build with the `wgpu` feature), for an operator.
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
}

impl SolverArgs {
    /// The solvers these name, resolved by the role registry once a grid is known.
    pub fn source(&self) -> Resolved {
        Resolved { choice: self.solver.clone(), backend: self.backend }
    }
}

/// What `sample` and `dynamics` share: the box, the solvers, the run folder.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Grid MXxMY of a built-in start (a file brings its own).
    #[arg(long, default_value = "32x32")]
    pub grid: String,
    /// Model file (TOML); default: a file start's metadata, else the paper's system.
    #[arg(long)]
    pub model: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub solvers: SolverArgs,
    /// The run folder.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Continue the run in OUT from its last snapshot (same settings).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub common: Common,
}

impl RunArgs {
    /// Prints `summary` as JSON if `--json` asked for it; whether it did.
    pub fn print_json(&self, summary: &impl serde::Serialize) -> bool {
        if self.common.json {
            print_json(summary);
        }
        self.common.json
    }
}

/// `--backend` alone, for the commands that always run an operator.
#[derive(Args, Clone, Debug)]
pub struct BackendArg {
    /// cpu (Flex) or wgpu (needs a build with the `wgpu` feature).
    #[arg(long, default_value = "cpu")]
    pub backend: Backend,
}

/// Runs `f` on a pool of `threads` workers (None: rayon's default).
pub fn with_threads(threads: Option<usize>, f: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    match threads {
        None => f(),
        Some(0) => bail!("--threads must be >= 1"),
        // The global pool where it is still free: the same loop ran 27%
        // slower inside `install` on a one-thread pool of its own than on
        // the global pool of one thread (L-FTS at 32x32, BENCHMARKS.md).
        Some(n) => match rayon::ThreadPoolBuilder::new().num_threads(n).build_global() {
            Ok(()) => f(),
            Err(_) => {
                rayon::ThreadPoolBuilder::new().num_threads(n).build().context("building the thread pool")?.install(f)
            }
        },
    }
}

/// Progress bars on a terminal, plain lines in a log.
pub fn reporter() -> Reporter {
    Reporter::detect()
}

pub fn parse_range(text: &str, what: &str) -> Result<[f64; 2]> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let parse = |s: &str| s.parse::<f64>().map_err(|_| anyhow!("{what}: cannot parse {text:?} as LO,HI"));
    match parts.as_slice() {
        [one] => {
            let v = parse(one)?;
            Ok([v, v])
        }
        [lo, hi] => Ok([parse(lo)?, parse(hi)?]),
        _ => bail!("{what}: expected LO,HI, got {text:?}"),
    }
}

pub fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON serialises"));
}
