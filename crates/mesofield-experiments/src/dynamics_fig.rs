//! The dynamics figure: the pattern recovered in Fig. 4
//! (`experiments/denoise[-quick]/recovered.safetensors`) quenched to a
//! higher chi and annealed to a lower one, one run folder per leg under
//! `experiments/NAME/`, with `dynamics.png` (frames of both legs, F(t)
//! below), `table.md` and `report.json`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use mesofield_physics::dynamics::Mobility;
use mesofield_physics::io::{FieldFile, write_atomic};

use crate::charts::{COLOURS, LineChart, Series, line_chart};
use crate::dynamics_run::{DynamicsRecord, DynamicsSpec, DynamicsSummary, run_dynamics};
use crate::figure::{Figure, FigureContext, Produced};
use crate::plot;
use crate::progress::Reporter;
use crate::solvers::{Backend, SolverChoice};
use crate::spec::Workspace;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Leg {
    pub name: String,
    pub chi: f64,
}

/// `experiments/dynamics.toml`'s tables.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicsFigSpec {
    /// The pattern to evolve, relative to the project root (a
    /// `mesofield-denoised` file: `reproduce fig4` writes one).
    #[serde(default)]
    pub source: Option<String>,
    pub legs: Vec<Leg>,
    pub mobility: Mobility,
    pub dt: f64,
    pub steps: usize,
    pub every: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct LegReport {
    pub run: String,
    pub chi: f64,
    pub summary: DynamicsSummary,
    pub trace: Vec<DynamicsRecord>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DynamicsReport {
    pub figure: String,
    pub variant: String,
    pub source: PathBuf,
    pub from_chi: f64,
    pub runs: Vec<LegReport>,
    #[serde(skip)]
    pub table: String,
    #[serde(skip)]
    pub out_dir: PathBuf,
}

/// `source`: the pattern to evolve (None: the spec's `source`).
pub fn dynamics_figure(
    spec: &DynamicsFigSpec,
    name: &str,
    workspace: &Workspace,
    source: Option<PathBuf>,
    solver: &SolverChoice,
    backend: Backend,
    reporter: &Reporter,
) -> Result<DynamicsReport> {
    let Some(source) = source.or_else(|| spec.source.as_deref().map(|s| workspace.path(s))) else {
        bail!("{name}: no pattern to evolve (`source` in the experiment file)");
    };
    if !source.exists() {
        bail!(
            "{} is missing: it is the pattern `mesofield reproduce fig4` recovers (the spec's `source`)",
            source.display()
        );
    }
    let recovered = FieldFile::open(&source)?;
    let from_chi = recovered.metadata()?.and_then(|m| m["chi"].as_f64()).context("recovered pattern without chi")?;
    let out_dir = workspace.experiments(name);
    std::fs::create_dir_all(&out_dir)?;
    let mobility = serde_json::to_value(spec.mobility)?;
    let mut table = format!(
        "The pattern recovered in Fig. 4 (at chi = {from_chi:.4}) evolved by d phi_A/dt = div(M grad mu), \
         {} mobility, dt <= {}, {} steps.\n\n\
         | run | chi | t end | F start | F end | S(q) peak start (q, S) | end (q, S) | exact solves | steps/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        mobility.as_str().unwrap_or("?"),
        spec.dt,
        spec.steps
    );
    let (mut rows, mut curves, mut legs) = (Vec::new(), Vec::new(), Vec::new());
    for leg in &spec.legs {
        let dir = out_dir.join(&leg.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        let run_spec = DynamicsSpec {
            mobility: spec.mobility,
            solver: solver.clone(),
            backend,
            ..DynamicsSpec::new(leg.chi, source.to_string_lossy(), spec.dt, spec.steps, spec.every)
        };
        let run = run_dynamics(&run_spec, &dir, false, reporter)?;
        let trace = &run.trace;
        let last = trace.len() - 1;
        // Four frames: start, two in between, end.
        let mut row = Vec::new();
        for k in [0, last / 3, 2 * last / 3, last] {
            let snap = FieldFile::open(&dir.join(format!("snap_{:06}.safetensors", trace[k].step)))?;
            let (_, mx, my, phi) = snap.fields("phi")?;
            let title = format!("{} CHI {} T {:.0}", leg.name.to_uppercase(), leg.chi, trace[k].t);
            row.push(plot::titled(plot::field_image(&phi[..mx * my], mx, my, Some((0.0, 1.0)), 192).0, &title));
        }
        rows.push(row);
        let t: Vec<f64> = trace.iter().map(|r| r.t).collect();
        let f: Vec<f64> = trace.iter().map(|r| r.free_energy).collect();
        let chart = LineChart::new(format!("{} to chi {}", leg.name, leg.chi), "t (1/M0)", "F per chain (kT)")
            .with(Series::new("", &t, &f, COLOURS[0]))
            .size(350, 260);
        curves.push(line_chart(&chart)?);
        let (first, end) = (&trace[0], &trace[last]);
        table.push_str(&format!(
            "| {} | {} | {:.1} | {:.5} | {:.5} | {:.3}, {:.3} | {:.3}, {:.3} | {} | {:.1} |\n",
            leg.name,
            leg.chi,
            end.t,
            first.free_energy,
            end.free_energy,
            first.sq_peak_q,
            first.sq_peak_height,
            end.sq_peak_q,
            end.sq_peak_height,
            run.summary.cost.exact_solves,
            run.summary.steps_per_second,
        ));
        legs.push(LegReport { run: leg.name.clone(), chi: leg.chi, summary: run.summary, trace: run.trace });
    }
    rows.push(curves);
    plot::save_png(plot::tile(rows), &out_dir.join("dynamics.png"))?;
    write_atomic(&out_dir.join("table.md"), table.as_bytes())?;
    let report = DynamicsReport {
        figure: "dynamics".into(),
        variant: name.into(),
        source,
        from_chi,
        runs: legs,
        table,
        out_dir: out_dir.clone(),
    };
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    Ok(report)
}

/// Pattern dynamics (eq. 26) of the Fig. 4 recovery.
pub struct DynamicsFigure;

impl Figure for DynamicsFigure {
    fn name(&self) -> &'static str {
        "dynamics"
    }
    fn about(&self) -> &'static str {
        "pattern dynamics (eq. 26) of the Fig. 4 recovery, quenched and annealed"
    }
    fn run(&self, ctx: &FigureContext) -> Result<Produced> {
        let name = ctx.variant(self.name());
        let r = dynamics_figure(&ctx.spec()?, &name, ctx.workspace, None, &ctx.solver, ctx.backend, ctx.reporter)?;
        Ok(Produced { text: r.table, out_dir: r.out_dir })
    }
}
