//! mesofield-experiments: the paper's experiments as library pipelines, each
//! a function over a typed spec (an experiment file's `[default]` or
//! `[quick]` table) that writes its pictures and returns a typed,
//! serialisable report: Fig. 1 (`fig1`), Fig. 3 (`fig3`), Fig. 4 with
//! Fig. 2 (`fig4`) and the dynamics figure (`dynamics_fig`). Below them the
//! run folders of L-FTS and dynamics runs, the pattern files users bring,
//! the pictures, and progress that reads on a terminal and in a log.

// Pipelines: one per figure.
pub mod dynamics_fig;
pub mod fig1;
pub mod fig3;
pub mod fig4;
pub mod figure;
pub mod figures;

// Runs: a loop stepped into a folder that can be resumed.
pub mod dynamics_run;
pub mod run_folder;
pub mod sampling;

// SCFT studies: every start at every chi, continuation in chi.
pub mod scft_run;
pub mod scft_sweep;
pub mod scft_walk;

// Inputs: experiment files, models and starts, solver choice, datasets, patterns.
pub mod datasets;
pub mod denoiser;
pub mod files;
pub mod generate;
pub mod inputs;
pub mod learn;
pub mod observed;
pub mod patterns;
pub mod roles;
pub mod solvers;
pub mod spec;

// Measurements: the exact solver's throughput, SCFT timings, the loops
// side by side with and without an operator.
pub mod bench;
pub mod bench_crossover;
pub mod bench_inverse;
pub mod bench_loops;

// Outputs: pictures, operator evaluation pictures, progress.
pub mod charts;
pub mod operator_eval;
pub mod plot;
pub mod progress;

pub use progress::Reporter;
pub use solvers::{Backend, SolverChoice};
pub use spec::{Workspace, load_spec};
