//! `mesofield reproduce FIGURE [--quick]`: a figure of the registry
//! (`mesofield_experiments::figures`), run on its experiment file's table,
//! with its table on stdout.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use clap::builder::PossibleValuesParser;

use mesofield_experiments::Workspace;
use mesofield_experiments::figure::FigureContext;
use mesofield_experiments::figures::{figure, registry};

use super::operator::ctrl_c_stop;
use super::{SolverArgs, reporter};

fn figure_names() -> PossibleValuesParser {
    PossibleValuesParser::new(registry().map(|f| clap::builder::PossibleValue::new(f.name()).help(f.about())))
}

#[derive(Args)]
pub struct ReproduceArgs {
    /// The figure.
    #[arg(value_parser = figure_names())]
    pub figure: String,
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
    let figure = figure(&a.figure)?;
    let config = a.config.clone().unwrap_or_else(|| PathBuf::from(format!("experiments/{}.toml", figure.spec_file())));
    let workspace = Workspace::current();
    let reporter = reporter();
    let ctx = FigureContext {
        workspace: &workspace,
        config,
        quick: a.quick,
        solver: a.solvers.solver.clone(),
        backend: a.solvers.backend,
        stop: ctrl_c_stop(),
        reporter: &reporter,
    };
    let produced = figure.run(&ctx)?;
    print!("{}", produced.text);
    println!("report, table and figure -> {}", produced.out_dir.display());
    Ok(())
}
