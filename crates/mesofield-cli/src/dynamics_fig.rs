//! `mesofield reproduce dynamics [--quick]`: the pattern recovered in Fig. 4
//! (`experiments/denoise/recovered.safetensors`, written by `reproduce
//! fig4`) quenched to a higher chi and annealed to a lower one by
//! `mesofield dynamics` runs under `experiments/dynamics/`, with
//! `dynamics.png` (frames of both runs, F(t) below), `table.md` and
//! `report.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::json;

use mesofield_physics::io::{FieldFile, write_atomic};

use crate::dynamics_cmd::{DynamicsArgs, Trace, cmd_dynamics};
use crate::plot;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Leg {
    name: String,
    chi: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DynamicsSpec {
    legs: Vec<Leg>,
    mobility: String,
    dt: f64,
    steps: usize,
    every: usize,
}

pub fn reproduce_dynamics(config_path: &Path, quick: bool, solver: &str, backend: &str) -> Result<()> {
    let spec: DynamicsSpec = crate::reproduce::load_spec(config_path, quick)?;
    let (name, source) = if quick {
        ("dynamics-quick", "experiments/denoise-quick/recovered.safetensors")
    } else {
        ("dynamics", "experiments/denoise/recovered.safetensors")
    };
    let source = PathBuf::from(source);
    if !source.exists() {
        bail!(
            "{} is missing: run `mesofield reproduce fig4{}` first",
            source.display(),
            if quick { " --quick" } else { "" }
        );
    }
    let recovered = FieldFile::open(&source)?;
    let from_chi = recovered.metadata()?.and_then(|m| m["chi"].as_f64()).context("recovered pattern without chi")?;
    let out_dir = PathBuf::from("experiments").join(name);
    std::fs::create_dir_all(&out_dir)?;
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    let mut table = format!(
        "The pattern recovered in Fig. 4 (at chi = {from_chi:.4}) evolved by d phi_A/dt = div(M grad mu), \
         {} mobility, dt <= {}, {} steps.\n\n\
         | run | chi | t end | F start | F end | S(q) peak start (q, S) | end (q, S) | exact solves | steps/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        spec.mobility, spec.dt, spec.steps
    );
    let mut report = Vec::new();
    for leg in &spec.legs {
        let run = out_dir.join(&leg.name);
        if run.exists() {
            std::fs::remove_dir_all(&run).with_context(|| format!("clearing {}", run.display()))?;
        }
        let args = DynamicsArgs {
            chi: leg.chi,
            init: source.to_string_lossy().to_string(),
            mobility: spec.mobility.clone(),
            m0: 1.0,
            dt: spec.dt,
            steps: spec.steps,
            every: spec.every,
            noise: false,
            beads_per_cell: 100.0,
            seed: 0,
            grid: "32x32".into(),
            model: None,
            solver: solver.to_string(),
            backend: backend.to_string(),
            out: run.clone(),
            resume: false,
            common: crate::Common::default(),
        };
        cmd_dynamics(&args)?;
        let trace: Trace = serde_json::from_str(&std::fs::read_to_string(run.join("trace.json"))?)?;
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json"))?)?;
        let last = trace.step.len() - 1;
        // Four frames: start, two in between, end.
        let picks = [0, last / 3, 2 * last / 3, last];
        let mut row = Vec::new();
        for &k in &picks {
            let snap = FieldFile::open(&run.join(format!("snap_{:06}.safetensors", trace.step[k])))?;
            let (_, mx, my, phi) = snap.fields("phi")?;
            let title = format!("{} CHI {} T {:.0}", leg.name.to_uppercase(), leg.chi, trace.t[k]);
            row.push(plot::titled(plot::field_image(&phi[..mx * my], mx, my, Some((0.0, 1.0)), 192).0, &title));
        }
        rows.push(row);
        curves.push(plot::xy_image(&trace.t, &trace.free_energy, &format!("F {}", leg.name.to_uppercase()), 240, 200));
        table.push_str(&format!(
            "| {} | {} | {:.1} | {:.5} | {:.5} | {:.3}, {:.3} | {:.3}, {:.3} | {} | {:.1} |\n",
            leg.name,
            leg.chi,
            trace.t[last],
            trace.free_energy[0],
            trace.free_energy[last],
            trace.sq_peak_q[0],
            trace.sq_peak_height[0],
            trace.sq_peak_q[last],
            trace.sq_peak_height[last],
            summary["exact_solves"],
            summary["steps_per_second"].as_f64().unwrap_or(f64::NAN),
        ));
        report.push(json!({"run": leg.name, "chi": leg.chi, "summary": summary, "trace": trace}));
    }
    rows.push(curves);
    plot::save_png(plot::tile(rows), &out_dir.join("dynamics.png"))?;
    write_atomic(&out_dir.join("table.md"), table.as_bytes())?;
    let report = json!({"figure": "dynamics", "variant": name, "source": source, "from_chi": from_chi, "runs": report});
    write_atomic(&out_dir.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    print!("{table}");
    println!("report, table and figure -> {}", out_dir.display());
    Ok(())
}
