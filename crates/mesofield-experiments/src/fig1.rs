//! Fig. 1: L-FTS density patterns phi_A at several chi, one run folder per
//! panel under `experiments/NAME/runs/` (finished runs with the same
//! settings are reused), then `fig1.png` (the last snapshots on one colour
//! scale, their S(q) below), `table.md` and `report.json`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use mesofield_physics::io::write_atomic;

use crate::charts::{line_chart, sq_chart};
use crate::figure::{Figure, FigureContext, Produced};
use crate::plot;
use crate::progress::Reporter;
use crate::sampling::{SampleRun, SampleSpec, SampleSummary, run_sample};
use crate::solvers::{Backend, SolverChoice};
use crate::spec::Workspace;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    pub chi: f64,
    pub seed: u64,
    pub step_size: f64,
}

/// `experiments/fig1.toml`'s tables.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fig1Spec {
    pub grid: [usize; 2],
    pub beads_per_cell: f64,
    pub steps: usize,
    pub every: usize,
    pub tol: f64,
    pub init: String,
    /// The Langevin integrator of every panel (the default's when absent).
    #[serde(default)]
    pub integrator: mesofield_physics::fts::Integrator,
    pub panels: Vec<Panel>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PanelReport {
    pub run: PathBuf,
    pub summary: SampleSummary,
    pub peak_q: f64,
    #[serde(rename = "peak_S")]
    pub peak_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Fig1Report {
    pub figure: String,
    pub variant: String,
    pub beads_per_cell: f64,
    pub panels: Vec<PanelReport>,
    #[serde(skip)]
    pub table: String,
    #[serde(skip)]
    pub out_dir: PathBuf,
}

/// Runs (or reuses) every panel's L-FTS run and draws the figure.
pub fn fig1(
    spec: &Fig1Spec,
    name: &str,
    workspace: &Workspace,
    solver: &SolverChoice,
    backend: Backend,
    reporter: &Reporter,
) -> Result<Fig1Report> {
    let out_dir = workspace.experiments(name);
    let runs = out_dir.join("runs");
    std::fs::create_dir_all(&runs)?;
    let [mx, my] = spec.grid;
    let mut panels = Vec::new();
    let (mut top, mut bottom) = (Vec::new(), Vec::new());
    let mut table = String::from(
        "| chi | chi N | seed | B | steps | <(phi_A - phi_B)^2> | H per chain | S(q) peak q | peak S | steps/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for panel in &spec.panels {
        let dir = runs.join(format!("chi{}_seed{}", panel.chi, panel.seed));
        let sample = SampleSpec {
            chi: panel.chi,
            beads_per_cell: spec.beads_per_cell,
            steps: spec.steps,
            step_size: panel.step_size,
            integrator: spec.integrator,
            seed: panel.seed,
            init: spec.init.parse()?,
            grid: format!("{mx}x{my}"),
            model: None,
            tol: spec.tol,
            every: spec.every,
            solver: solver.clone(),
            backend,
        };
        let run = match SampleRun::load_finished(&dir, &sample, spec.grid) {
            Some(run) => {
                reporter.note(&format!("{}: finished run with these settings, reused", dir.display()));
                run
            }
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
                }
                run_sample(&sample, &dir, false, reporter)?
            }
        };
        let (peak_q, peak_s) = run.sq.peak();
        let title = format!("CHI {} SEED {}", panel.chi, panel.seed);
        let [rx, ry] = run.grid;
        top.push(plot::titled(plot::field_image(&run.last_phi_a, rx, ry, Some((0.0, 1.0)), 256).0, &title));
        bottom.push(line_chart(&sq_chart(&run.sq.q, &run.sq.s, format!("S(q), chi {}", panel.chi)).size(414, 300))?);
        let s = &run.summary;
        table.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} | {:.4} +- {:.4} | {:.4} +- {:.4} | {:.3} | {:.4} | {:.1} |\n",
            panel.chi,
            panel.chi * 100.0,
            panel.seed,
            spec.beads_per_cell,
            spec.steps,
            s.psi2_mean,
            s.psi2_stderr,
            s.h_mean,
            s.h_stderr,
            peak_q,
            peak_s,
            s.steps_per_second,
        ));
        panels.push(PanelReport { run: dir, summary: run.summary, peak_q, peak_s });
    }
    plot::save_png(plot::tile(vec![top, bottom]), &out_dir.join("fig1.png"))?;
    write_atomic(&out_dir.join("table.md"), table.as_bytes())?;
    let report = Fig1Report {
        figure: "fig1".into(),
        variant: name.into(),
        beads_per_cell: spec.beads_per_cell,
        panels,
        table,
        out_dir: out_dir.clone(),
    };
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    Ok(report)
}

/// L-FTS patterns at several chi.
pub struct Fig1;

impl Figure for Fig1 {
    fn name(&self) -> &'static str {
        "fig1"
    }
    fn about(&self) -> &'static str {
        "L-FTS patterns at several chi: snapshots, S(q), H"
    }
    fn run(&self, ctx: &FigureContext) -> Result<Produced> {
        let name = ctx.variant(self.name());
        let r = fig1(&ctx.spec()?, &name, ctx.workspace, &ctx.solver, ctx.backend, ctx.reporter)?;
        Ok(Produced { text: r.table, out_dir: r.out_dir })
    }
}
