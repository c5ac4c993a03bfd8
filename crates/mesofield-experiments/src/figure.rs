//! What a figure is: a type implementing `Figure` (its name, its
//! experiment file and its run over a `FigureContext`). `figures::registry`
//! lists them.

use std::path::PathBuf;

use anyhow::Result;
use serde::de::DeserializeOwned;

use mesofield_fno::training::Stop;

use crate::progress::Reporter;
use crate::solvers::{Backend, SolverChoice};
use crate::spec::{Workspace, load_spec};

/// What a figure's run is given.
pub struct FigureContext<'a> {
    pub workspace: &'a Workspace,
    /// The experiment file (`experiments/SPEC_FILE.toml` unless given).
    pub config: PathBuf,
    /// The small variant: its `[quick]` table, every path `NAME-quick`.
    pub quick: bool,
    /// The inner loops' solvers (fig1, dynamics); the backend of operators.
    pub solver: SolverChoice,
    pub backend: Backend,
    /// Interrupts training (fig3) with a resumable checkpoint.
    pub stop: &'a Stop,
    pub reporter: &'a Reporter,
}

impl FigureContext<'_> {
    /// The experiment file's `[default]` or `[quick]` table.
    pub fn spec<T: DeserializeOwned>(&self) -> Result<T> {
        load_spec(&self.config, self.quick)
    }

    /// `stem`, or `stem-quick` for the small variant: the name of the
    /// figure's datasets, checkpoints and output folders.
    pub fn variant(&self, stem: &str) -> String {
        if self.quick { format!("{stem}-quick") } else { stem.to_string() }
    }
}

/// What a figure's run produced.
pub struct Produced {
    /// Printed on stdout (the table, and any per-set reports).
    pub text: String,
    /// Where its report, table and pictures are.
    pub out_dir: PathBuf,
}

pub trait Figure: Sync {
    /// The name `reproduce` takes.
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn about(&self) -> &'static str;
    /// The stem of its experiment file.
    fn spec_file(&self) -> &'static str {
        self.name()
    }
    fn run(&self, ctx: &FigureContext) -> Result<Produced>;
}
