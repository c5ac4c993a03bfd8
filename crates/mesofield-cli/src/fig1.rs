//! `mesofield reproduce fig1 [--quick]`: L-FTS density patterns phi_A at
//! several chi (the paper's Fig. 1), one `sample` run per panel under
//! `experiments/fig1/runs/`, then `fig1.png` (the last snapshots on one
//! colour scale, their S(q) below), `report.json` and `table.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::json;

use mesofield_physics::io::{FieldFile, write_atomic};

use crate::plot;
use crate::sample::{SampleArgs, cmd_sample};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Panel {
    chi: f64,
    seed: u64,
    step_size: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fig1Spec {
    grid: [usize; 2],
    beads_per_cell: f64,
    steps: usize,
    every: usize,
    tol: f64,
    init: String,
    panels: Vec<Panel>,
}

pub fn reproduce_fig1(config_path: &Path, quick: bool, solver: &str, backend: &str) -> Result<()> {
    let spec: Fig1Spec = crate::reproduce::load_spec(config_path, quick)?;
    let name = if quick { "fig1-quick" } else { "fig1" };
    let out_dir = PathBuf::from("experiments").join(name);
    let runs = out_dir.join("runs");
    std::fs::create_dir_all(&runs)?;
    let (mx, my) = (spec.grid[0], spec.grid[1]);
    let mut summaries = Vec::new();
    let mut top = Vec::new();
    let mut bottom = Vec::new();
    let mut table = String::from(
        "| chi | chi N | seed | B | steps | <(phi_A - phi_B)^2> | H per chain | S(q) peak q | peak S | steps/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for panel in &spec.panels {
        let run = runs.join(format!("chi{}_seed{}", panel.chi, panel.seed));
        let args = SampleArgs {
            chi: panel.chi,
            beads_per_cell: spec.beads_per_cell,
            steps: spec.steps,
            step_size: panel.step_size,
            seed: panel.seed,
            init: spec.init.clone(),
            grid: format!("{mx}x{my}"),
            model: None,
            tol: spec.tol,
            every: spec.every,
            solver: solver.to_string(),
            backend: backend.to_string(),
            out: run.clone(),
            resume: false,
            common: crate::Common::default(),
        };
        let summary_path = run.join("summary.json");
        let done = std::fs::read_to_string(&summary_path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|s| {
                s["chi"] == json!(panel.chi)
                    && s["seed"] == json!(panel.seed)
                    && s["step_size"] == json!(panel.step_size)
                    && s["beads_per_cell"] == json!(spec.beads_per_cell)
                    && s["steps"] == json!(spec.steps)
                    && s["grid"] == json!([mx, my])
                    && s["solver"] == json!(solver)
            });
        if done {
            eprintln!("{}: finished run with these settings, reused", run.display());
        } else {
            if run.exists() {
                std::fs::remove_dir_all(&run).with_context(|| format!("clearing {}", run.display()))?;
            }
            cmd_sample(&args)?;
        }
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary_path)?)?;
        let sq: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("sq.json"))?)?;
        let q: Vec<f64> = serde_json::from_value(sq["q"].clone())?;
        let s: Vec<f64> = serde_json::from_value(sq["S"].clone())?;
        let peak = (0..s.len()).max_by(|&i, &j| s[i].total_cmp(&s[j])).unwrap_or(0);
        let last = FieldFile::open(&run.join("last.safetensors"))?;
        let (_, _, _, phi) = last.fields("phi")?;
        let title = format!("CHI {} SEED {}", panel.chi, panel.seed);
        top.push(plot::titled(plot::field_image(&phi[..mx * my], mx, my, Some((0.0, 1.0)), 256).0, &title));
        bottom.push(plot::xy_image(&q, &s, &format!("S(Q) CHI {}", panel.chi), 200, 200));
        table.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} | {:.4} +- {:.4} | {:.4} +- {:.4} | {:.3} | {:.4} | {:.1} |\n",
            panel.chi,
            panel.chi * 100.0,
            panel.seed,
            spec.beads_per_cell,
            spec.steps,
            summary["psi2_mean"].as_f64().unwrap_or(f64::NAN),
            summary["psi2_stderr"].as_f64().unwrap_or(f64::NAN),
            summary["H_mean"].as_f64().unwrap_or(f64::NAN),
            summary["H_stderr"].as_f64().unwrap_or(f64::NAN),
            q.get(peak).copied().unwrap_or(f64::NAN),
            s.get(peak).copied().unwrap_or(f64::NAN),
            summary["steps_per_second"].as_f64().unwrap_or(f64::NAN),
        ));
        summaries.push(json!({"run": run, "summary": summary, "peak_q": q.get(peak), "peak_S": s.get(peak)}));
    }
    plot::save_png(plot::tile(vec![top, bottom]), &out_dir.join("fig1.png"))?;
    write_atomic(&out_dir.join("table.md"), table.as_bytes())?;
    let report = json!({"figure": "fig1", "variant": name, "beads_per_cell": spec.beads_per_cell, "panels": summaries});
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    print!("{table}");
    println!("report, table and figure -> {}", out_dir.display());
    Ok(())
}
