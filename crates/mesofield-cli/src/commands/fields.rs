//! Field-theory commands: `solve`, `scft`, `spinodal`, `bench`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use serde_json::json;

use mesofield_experiments::charts::line_chart_png;
use mesofield_experiments::inputs::{initial_fields, load_model, model_for_input};
use mesofield_experiments::scft_run::{self, AssistSettings};
use mesofield_experiments::scft_sweep::{SweepSpec, sweep, table as sweep_table};
use mesofield_experiments::scft_walk::{chart as walk_chart, parse_chi_walk, table as walk_table, walk};
use mesofield_experiments::{files, roles};
use mesofield_physics::io::{FieldFile, write_atomic};
use mesofield_physics::scft::ScftConfig;
use mesofield_physics::{ExactSolver, Grid, spinodal as rpa_spinodal, spinodal_on_grid};

use super::{Common, SolverArgs, parse_range, print_json, reporter};

#[derive(Args)]
pub struct SolveArgs {
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long)]
    pub output: PathBuf,
    /// Model file (TOML); default: the input's metadata, else the paper's system.
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct ScftArgs {
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// chi, or LO:HI:STEP to walk chi (each saddle point starts from the previous one).
    #[arg(long, allow_negative_numbers = true)]
    pub chi: String,
    /// random[:AMP] | lamellar[:N] | hex:NX:NY (cylinders) | square:NX:NY (dots) | FILE.safetensors (its first `w`);
    /// in a chi walk, several built-ins separated by commas walk side by side.
    #[arg(long, default_value = "random")]
    pub init: String,
    /// Grid MXxMY (a FILE init brings its own).
    #[arg(long, default_value = "32x32")]
    pub grid: String,
    /// Residual tolerance (max-norm of both SCF residuals).
    #[arg(long, default_value_t = 1e-8)]
    pub tol: f64,
    #[arg(long, default_value_t = 5000)]
    pub max_iterations: usize,
    /// Seed of a random initial field.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The saddle point (safetensors); in a chi walk, the walk's report (JSON).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// In a chi walk: dF(chi) of every start as a PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub solvers: SolverArgs,
    /// With an operator: an inner loop on the corrected operator stops once
    /// its residual has not fallen by 10% for this many iterations.
    #[arg(long, default_value_t = 50)]
    pub stall_window: usize,
    /// With an operator: Anderson mixing over this many past anchors of the
    /// outer (defect-correction) steps (0: none) [default: 5].
    #[arg(long)]
    pub outer_history: Option<usize>,
    /// With an operator: outer steps continue while each divides the exact
    /// residual by more than this factor [default: 1, i.e. while it falls].
    #[arg(long)]
    pub outer_gain: Option<f64>,
    /// With an operator: within this max-norm distance of an anchor the
    /// corrected operator answers with its scaled linear response (0: off)
    /// [default: 0.001].
    #[arg(long)]
    pub linear_below: Option<f64>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct SpinodalArgs {
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Also report the spinodal restricted to this grid's wave vectors.
    #[arg(long)]
    pub grid: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ScftSweepArgs {
    /// Interaction strengths, comma-separated.
    #[arg(long, default_value = "0.15,0.2,0.25,0.3,0.4,0.5,0.7,1.0,1.5")]
    pub chi: String,
    /// Built-in starts, comma-separated (random ones run once per seed).
    #[arg(long, default_value = "random:0.1,random:0.5,hex:1:1,hex:2:2,square:2:2,lamellar:2")]
    pub init: String,
    /// Seeds of each random start.
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    #[arg(long, default_value = "32x32")]
    pub grid: String,
    /// Box LX,LY (box units); default: the model's (6.4, 6.4).
    #[arg(long = "box")]
    pub box_size: Option<String>,
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, default_value_t = 1e-10)]
    pub tol: f64,
    #[arg(long, default_value_t = 5000)]
    pub max_iterations: usize,
    /// Also write the report (every run) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct BenchArgs {
    /// solver: exact solves per second and SCFT timings; loops: each loop on
    /// the exact solver beside the same loop with --solver's operator;
    /// inverse: the inverse map on a sweep of L-FTS patterns (chi 0.2-1.5,
    /// B 30-1000, steps 200-5000, 32x32 and 64x64), drawn from --seed;
    /// crossover: seconds per field of the exact solve (N = 50-800 beads)
    /// and of a density FNO, grids 32-128, batch 1 and 64, 1 and 2 threads,
    /// and the N from which the FNO is the cheaper.
    #[arg(default_value = "solver", value_parser = ["solver", "loops", "inverse", "crossover"])]
    pub what: String,
    /// Solves per measurement at batch 64 (batch 1 uses the same count).
    #[arg(long, default_value_t = 256)]
    pub solves: usize,
    /// loops: the operator beside the exact solver (exact alone: the exact rows only).
    #[command(flatten)]
    pub solvers: super::SolverArgs,
    /// loops: timed L-FTS steps per solver (after 100 exact burn-in steps).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// loops: patterns of the chi = 0.4 run for the inverse map (default 20);
    /// inverse: patterns in the sweep (default 100, 6 with --quick).
    #[arg(long)]
    pub patterns: Option<usize>,
    /// inverse: the seed the sweep's patterns are drawn from.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// inverse: the L-FTS step of the sweep's runs, lm | em (em: the patterns
    /// of the tables measured before lm was the default).
    #[arg(long, default_value_t = mesofield_physics::fts::Integrator::default())]
    pub integrator: mesofield_physics::fts::Integrator,
    /// inverse: six small patterns (16x16, steps 20-60), as CI runs it;
    /// crossover: two chain lengths on 32x32 (the harness in seconds).
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn solve(a: &SolveArgs) -> Result<()> {
    let file = FieldFile::open(&a.input)?;
    let model = model_for_input(a.model.as_deref(), &file)?;
    let (n, mx, my, w) = file.fields("w")?;
    let grid = Grid::for_model(&model, mx, my)?;
    let solver = ExactSolver::new(&model, grid)?;
    let mut phi = vec![0.0; w.len()];
    let mut log_q = vec![0.0; n];
    let stage = reporter().stage(n as u64, "solve");
    let start = Instant::now();
    let mut progress = |done: usize| {
        stage.set_position(done as u64);
        Ok(())
    };
    solver.solve_chunks(&w, &mut phi, &mut log_q, 64, &mut progress).map_err(|e| match e {
        // The sample is named in the whole file.
        e @ mesofield_physics::Error::Domain { .. } => anyhow!("{}: {e}", a.input.display()),
        other => other.into(),
    })?;
    stage.finish();
    let seconds = start.elapsed().as_secs_f64();
    files::write_solve(&a.output, [n, mx, my], (&w, &phi), Some(&log_q), &model, "exact")?;
    let report = json!({"samples": n, "grid": [mx, my], "seconds": seconds, "solves_per_second": n as f64 / seconds});
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "solved {n} fields on {mx}x{my} in {seconds:.3} s ({:.1} solves/s) -> {}",
            n as f64 / seconds,
            a.output.display()
        );
    }
    Ok(())
}

pub fn scft(a: &ScftArgs) -> Result<()> {
    let chis = parse_chi_walk(&a.chi)?;
    if chis.len() > 1 || a.init.contains(',') {
        return scft_walk(a, &chis);
    }
    let chi = chis[0];
    let (model, grid, w0) = initial_fields(&a.init.parse()?, &a.grid, a.model.as_deref(), chi, a.seed)?;
    let config = ScftConfig { chi, tolerance: a.tol, max_iterations: a.max_iterations, ..Default::default() };
    let set = roles::resolve(&a.solvers.solver, a.solvers.backend, &model, &grid)?;
    let stage = reporter().stage(a.max_iterations as u64, "scft");
    let settings = AssistSettings {
        stall_window: a.stall_window,
        outer_history: a.outer_history,
        outer_gain: a.outer_gain,
        linear_below: a.linear_below,
    };
    let run = scft_run::run(&set, &config, &settings, &w0, &mut |phase, it, r| {
        stage.set_position(it as u64);
        match phase {
            "exact" => stage.set_message(format!("scft residual {r:.2e}")),
            _ => stage.set_message(format!("scft ({phase}) residual {r:.2e}")),
        }
    })?;
    if let Some(why) = run.assisted.as_ref().and_then(|r| r.fallback.as_ref()) {
        stage.println(format!("trust check: {why}; fell back to exact iterations from the start"));
    }
    stage.finish();
    let outcome = &run.outcome;
    if let Some(out) = &a.output {
        files::write_scft(out, outcome, &model, chi, &grid)?;
    }
    let report = run.report(chi, &grid, &a.solvers.solver.to_string());
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "chi {} dF {:.10} per chain, {} iterations{}, residual {:.2e}, {} exact solves, {} operator calls, {:.3} s{}",
            chi,
            outcome.d_f,
            outcome.iterations,
            match outcome.descent_iterations {
                0 => String::new(),
                d => format!(" ({d} in the descent fallback)"),
            },
            outcome.residual,
            report["exact_solves"],
            report["operator_calls"],
            report["seconds"].as_f64().unwrap_or(outcome.seconds),
            if outcome.converged { "" } else { " (NOT converged)" }
        );
    }
    if !outcome.converged {
        bail!(
            "SCFT did not reach tolerance {} in {} iterations (residual {:.2e})",
            a.tol,
            a.max_iterations,
            outcome.residual
        );
    }
    Ok(())
}

/// `scft --chi LO:HI:STEP [--init A,B,...]`: the walk of every start.
fn scft_walk(a: &ScftArgs, chis: &[f64]) -> Result<()> {
    if a.solvers.solver != mesofield_experiments::SolverChoice::Exact {
        bail!("a chi walk runs on the exact solver (--solver exact)");
    }
    let model = load_model(a.model.as_deref())?;
    let (mx, my) = Grid::parse_size(&a.grid)?;
    let inits: Vec<String> = a.init.split(',').map(|s| s.trim().to_string()).collect();
    let report = walk(&model, [mx, my], chis, &inits, a.seed, a.tol, a.max_iterations, &reporter())?;
    if let Some(out) = &a.output {
        write_atomic(out, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    if let Some(png) = &a.plot {
        line_chart_png(&walk_chart(&report), png)?;
    }
    if a.common.json {
        print_json(&report);
    } else {
        println!("{}", walk_table(&report));
    }
    let failed = report.walks.iter().flat_map(|w| &w.points).filter(|p| !p.converged).count();
    if failed > 0 {
        bail!("{failed} of {} points did not reach tolerance {} (see the table)", chis.len() * inits.len(), a.tol);
    }
    Ok(())
}

pub fn spinodal(a: &SpinodalArgs) -> Result<()> {
    let model = load_model(a.model.as_deref())?;
    let s = rpa_spinodal(&model);
    let mut report = json!({"chi_s": s.chi_s, "chiN_s": s.chi_n_s, "q_star": s.q_star});
    if let Some(g) = &a.grid {
        let (mx, my) = Grid::parse_size(g)?;
        let grid = Grid::for_model(&model, mx, my)?;
        let sg = spinodal_on_grid(&model, &grid);
        report["chi_s_grid"] = json!(sg.chi_s);
        report["chiN_s_grid"] = json!(sg.chi_n_s);
        report["q_grid"] = json!(sg.q_star);
    }
    if a.json {
        print_json(&report);
    } else {
        println!("chi_s {:.8} (chiN_s {:.6}) at q* {:.6} (box units)", s.chi_s, s.chi_n_s, s.q_star);
        if let Some(v) = report.get("chi_s_grid") {
            println!("on the grid: chi_s {} at |q| {}", v, report["q_grid"]);
        }
    }
    Ok(())
}

pub fn scft_sweep(a: &ScftSweepArgs) -> Result<()> {
    let mut model = load_model(a.model.as_deref())?;
    if let Some(b) = &a.box_size {
        model.box_size = parse_range(b, "--box")?;
        model = mesofield_physics::ChainModel::from_json_value(&serde_json::to_value(&model)?)?;
    }
    let (mx, my) = Grid::parse_size(&a.grid)?;
    let chis = a
        .chi
        .split(',')
        .map(|c| c.trim().parse::<f64>().map_err(|_| anyhow!("--chi: cannot parse {c:?} as a number")))
        .collect::<Result<Vec<_>>>()?;
    let spec = SweepSpec {
        chis,
        inits: a.init.split(',').map(|s| s.trim().to_string()).collect(),
        seeds: a.seeds,
        model,
        grid: [mx, my],
        tolerance: a.tol,
        max_iterations: a.max_iterations,
    };
    let report = sweep(&spec, &reporter())?;
    if let Some(out) = &a.out {
        write_atomic(out, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    if a.common.json {
        print_json(&report);
    } else {
        println!("{}", sweep_table(&report));
    }
    Ok(())
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    if a.what == "loops" {
        use mesofield_experiments::bench_loops::{LoopsSpec, bench_loops};
        let spec = LoopsSpec { steps: a.steps, patterns: a.patterns.unwrap_or(20), ..LoopsSpec::default() };
        let report = bench_loops(&spec, &a.solvers.solver, a.solvers.backend, &reporter())?;
        if a.common.json {
            print_json(&report);
        } else {
            println!("{}", report.markdown());
        }
        return Ok(());
    }
    if a.what == "inverse" {
        use mesofield_experiments::bench_inverse::{InverseSweepSpec, bench_inverse};
        let spec = if a.quick { InverseSweepSpec::quick(a.seed) } else { InverseSweepSpec::full(a.seed) };
        let spec = InverseSweepSpec { patterns: a.patterns.unwrap_or(spec.patterns), integrator: a.integrator, ..spec };
        let report = bench_inverse(&spec, &reporter())?;
        if a.common.json {
            print_json(&report);
        } else {
            println!("{}", report.markdown());
        }
        return Ok(());
    }
    if a.what == "crossover" {
        use mesofield_experiments::bench_crossover::{CrossoverSpec, bench_crossover};
        let spec = if a.quick { CrossoverSpec::quick() } else { CrossoverSpec::full() };
        let report = bench_crossover(&spec, &reporter())?;
        if a.common.json {
            print_json(&serde_json::to_value(&report)?);
        } else {
            println!("{}", report.markdown());
        }
        return Ok(());
    }
    let report = mesofield_experiments::bench::exact_bench(a.solves)?;
    // The figures are the output, pretty-printed either way.
    let _ = a.common.json;
    print_json(&report);
    Ok(())
}
