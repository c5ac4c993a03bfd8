//! Continuation in chi (`mesofield scft --chi LO:HI:STEP`): each saddle
//! point starts from the previous one's fields, so a phase is followed as
//! chi changes; several starts walk side by side, and where the lowest dF
//! changes start is a phase boundary in this box. A point that fails is
//! reported and the walk continues from the last good one.

use anyhow::{Result, bail};
use serde::Serialize;

use mesofield_physics::fields::InitialField;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

use crate::charts::{COLOURS, LineChart, Series};
use crate::progress::Reporter;

/// `LO:HI:STEP` (inclusive of HI to round-off), or one value.
pub fn parse_chi_walk(text: &str) -> Result<Vec<f64>> {
    let parts: Vec<&str> = text.split(':').collect();
    let num = |s: &str| s.trim().parse::<f64>().map_err(|_| anyhow::anyhow!("--chi {text:?}: {s:?} is not a number"));
    match parts.as_slice() {
        [one] => Ok(vec![num(one)?]),
        [lo, hi, step] => {
            let (lo, hi, step) = (num(lo)?, num(hi)?, num(step)?);
            if !(step.is_finite() && step != 0.0 && (hi - lo) / step >= 0.0 && lo.is_finite() && hi.is_finite()) {
                bail!("--chi {text:?}: expected LO:HI:STEP with STEP moving LO towards HI");
            }
            let n = ((hi - lo) / step + 1e-9).floor() as usize;
            if n > 10_000 {
                bail!("--chi {text:?}: {n} points, at most 10000");
            }
            Ok((0..=n).map(|k| lo + k as f64 * step).collect())
        }
        _ => bail!("--chi {text:?}: expected a number or LO:HI:STEP"),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct WalkPoint {
    pub chi: f64,
    pub converged: bool,
    #[serde(rename = "dF")]
    pub d_f: f64,
    pub iterations: usize,
    pub residual: f64,
    pub exact_solves: usize,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Walk {
    pub init: String,
    pub points: Vec<WalkPoint>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WalkReport {
    pub chis: Vec<f64>,
    pub walks: Vec<Walk>,
    /// Per chi, the start with the lowest converged dF ("" where none converged).
    pub lowest: Vec<String>,
    /// (chi before, chi after, start before, start after) where `lowest` changes.
    pub boundaries: Vec<(f64, f64, String, String)>,
}

/// Walks each start along `chis` on `grid` to `tolerance`.
#[allow(clippy::too_many_arguments)]
pub fn walk(
    model: &ChainModel,
    grid: [usize; 2],
    chis: &[f64],
    inits: &[String],
    seed: u64,
    tolerance: f64,
    max_iterations: usize,
    reporter: &Reporter,
) -> Result<WalkReport> {
    let grid = Grid::for_model(model, grid[0], grid[1])?;
    let solver = ExactSolver::new(model, grid)?;
    let stage = reporter.stage((chis.len() * inits.len()) as u64, "chi walk");
    let mut walks = Vec::new();
    for init in inits {
        let field = match InitialField::parse(init) {
            Some(f) => f?,
            None => bail!(
                "--init {init:?}: a walk starts from a built-in (random[:AMP], lamellar[:N], hex:NX:NY, square:NX:NY)"
            ),
        };
        let mut from: Option<Vec<f64>> = None;
        let mut points = Vec::new();
        for &chi in chis {
            // The first point starts from the built-in at its chi; the next
            // ones from the last good saddle point's fields.
            let w0 = from.clone().unwrap_or_else(|| field.fields(model, &grid, chi, &mut StreamRng::new(seed, 0)));
            let config = ScftConfig { chi, tolerance, max_iterations, ..Default::default() };
            let point = match run_scft(&solver, &config, &w0, &mut |_, _| {}) {
                Ok(o) => {
                    if o.converged {
                        from = Some(o.w.clone());
                    }
                    WalkPoint {
                        chi,
                        converged: o.converged,
                        d_f: o.d_f,
                        iterations: o.iterations,
                        residual: o.residual,
                        exact_solves: o.solves,
                        error: None,
                    }
                }
                Err(e) => WalkPoint {
                    chi,
                    converged: false,
                    d_f: f64::NAN,
                    iterations: 0,
                    residual: f64::NAN,
                    exact_solves: 0,
                    error: Some(e.to_string()),
                },
            };
            points.push(point);
            stage.inc(1);
        }
        walks.push(Walk { init: init.clone(), points });
    }
    stage.finish();
    let lowest: Vec<String> = (0..chis.len())
        .map(|k| {
            walks
                .iter()
                .filter(|w| w.points[k].converged)
                .min_by(|a, b| a.points[k].d_f.total_cmp(&b.points[k].d_f))
                .map_or(String::new(), |w| w.init.clone())
        })
        .collect();
    let boundaries = (1..chis.len())
        .filter(|&k| lowest[k] != lowest[k - 1] && !lowest[k].is_empty() && !lowest[k - 1].is_empty())
        .map(|k| (chis[k - 1], chis[k], lowest[k - 1].clone(), lowest[k].clone()))
        .collect();
    Ok(WalkReport { chis: chis.to_vec(), walks, lowest, boundaries })
}

/// dF(chi) of every start relative to the lowest at that chi, so the
/// phases' differences (small beside dF itself) and the boundaries show.
pub fn chart(report: &WalkReport) -> LineChart {
    let lowest: Vec<f64> = (0..report.chis.len())
        .map(|k| {
            report.walks.iter().filter(|w| w.points[k].converged).map(|w| w.points[k].d_f).fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut chart = LineChart::new("Free energy along chi", "chi", "dF - lowest dF at that chi (kT per chain)");
    for (k, w) in report.walks.iter().enumerate() {
        let (x, y): (Vec<f64>, Vec<f64>) =
            w.points.iter().zip(&lowest).filter(|(p, _)| p.converged).map(|(p, low)| (p.chi, p.d_f - low)).unzip();
        chart = chart.with(Series::new(w.init.clone(), &x, &y, COLOURS[k % COLOURS.len()]));
    }
    chart
}

/// One row per chi: dF of every start (the lowest marked), iterations.
pub fn table(report: &WalkReport) -> String {
    let mut t = String::from("| chi |");
    for w in &report.walks {
        t.push_str(&format!(" {} dF (iterations) |", w.init));
    }
    t.push_str(" lowest |\n| --- |");
    t.push_str(&" --- |".repeat(report.walks.len() + 1));
    t.push('\n');
    for (k, chi) in report.chis.iter().enumerate() {
        t.push_str(&format!("| {chi:.4} |"));
        for w in &report.walks {
            let p = &w.points[k];
            let mark = if report.lowest[k] == w.init { " *" } else { "" };
            match (&p.error, p.converged) {
                (Some(e), _) => t.push_str(&format!(" failed: {e} |")),
                (None, false) => t.push_str(&format!(" not converged ({:.1e}) |", p.residual)),
                (None, true) => t.push_str(&format!(" {:.6}{mark} ({}) |", p.d_f, p.iterations)),
            }
        }
        t.push_str(&format!(" {} |\n", report.lowest[k]));
    }
    for (a, b, from, to) in &report.boundaries {
        t.push_str(&format!("\nphase boundary between chi {a:.4} and {b:.4}: {from} -> {to}"));
    }
    t
}
