//! `mesofield reproduce FIGURE [--quick]`: the experiment file's table, the
//! pipeline of `mesofield_experiments`, and its table on stdout.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use mesofield_experiments::{Workspace, dynamics_fig, fig1, fig3, fig4, load_spec};
use mesofield_fno::evaluation::EvalReport;

use super::operator::{ctrl_c_stop, print_report};
use super::{SolverArgs, reporter};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Figure {
    /// L-FTS patterns at several chi.
    Fig1,
    /// The RBM baseline (drawn by the fig4 pipeline from the same data).
    Fig2,
    /// The neural operator against the exact solver.
    Fig3,
    /// Denoising from two samples, beside the RBMs.
    Fig4,
    /// Pattern dynamics (eq. 26) of the Fig. 4 recovery.
    Dynamics,
}

impl Figure {
    /// The experiment file's stem and the variant's name.
    fn names(self, quick: bool) -> (&'static str, String) {
        let file = match self {
            Figure::Fig1 => "fig1",
            Figure::Fig2 | Figure::Fig4 => "fig4",
            Figure::Fig3 => "fig3",
            Figure::Dynamics => "dynamics",
        };
        (file, if quick { format!("{file}-quick") } else { file.to_string() })
    }
}

#[derive(Args)]
pub struct ReproduceArgs {
    pub figure: Figure,
    /// The small variant: minutes on 2 cores; every path says NAME-quick.
    #[arg(long)]
    pub quick: bool,
    /// Experiment file (default experiments/FIGURE.toml; fig2 reads fig4.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// fig1 and dynamics: exact or operator:CHECKPOINT for the inner loops; fig3 and fig4: the backend.
    #[command(flatten)]
    pub solvers: SolverArgs,
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn reproduce(a: &ReproduceArgs) -> Result<()> {
    let (file, name) = a.figure.names(a.quick);
    let config = a.config.clone().unwrap_or_else(|| PathBuf::from(format!("experiments/{file}.toml")));
    let workspace = Workspace::current();
    let reporter = reporter();
    let (solver, backend) = (&a.solvers.solver, a.solvers.backend);
    let (table, out_dir) = match a.figure {
        Figure::Fig1 => {
            let r = fig1::fig1(&load_spec(&config, a.quick)?, &name, &workspace, solver, backend, &reporter)?;
            (r.table, r.out_dir)
        }
        Figure::Fig3 => {
            let spec = load_spec(&config, a.quick)?;
            let r = fig3::fig3(&spec, &name, &workspace, backend, ctrl_c_stop(), &reporter)?;
            for label in &r.set_order {
                let set: &EvalReport = &r.sets[label];
                println!("{label}:");
                print_report(set);
            }
            (String::new(), r.out_dir)
        }
        Figure::Fig2 | Figure::Fig4 => {
            let r = fig4::fig4(&load_spec(&config, a.quick)?, &name, &workspace, backend, &reporter)?;
            (r.table, r.out_dir)
        }
        Figure::Dynamics => {
            let spec = load_spec(&config, a.quick)?;
            let r = dynamics_fig::dynamics_figure(&spec, &name, &workspace, None, solver, backend, &reporter)?;
            (r.table, r.out_dir)
        }
    };
    print!("{table}");
    println!("report, table and figure -> {}", out_dir.display());
    Ok(())
}
