//! The sampling check: new patterns from the generator that `learn` trains
//! beside the physics denoiser (reverse diffusion, `generate`), against
//! independent L-FTS runs of the observed system (the last snapshot of
//! every pool run but the two samples learned from) and against `learn`'s
//! own L-FTS patterns at the inferred chi: S(q)'s peak, <(phi_A - phi_B)^2>
//! and the phi_A histogram, with standard errors over patterns (each from an
//! independent run), and the patterns per second against `learn`'s L-FTS.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use mesofield_fno::denoise::DenoiseOperator;
use mesofield_physics::Grid;
use mesofield_physics::observables::StructureFactor;
use mesofield_physics::spectral::SpectralPlan;

use super::Fig4Spec;
use super::pool::Pool;
use crate::charts::{COLOURS, LineChart, Series, line_chart, sq_range};
use crate::generate::{Comparison, PatternStatistics, generate};
use crate::patterns::Patterns;
use crate::plot;

/// Bins of the phi_A histograms over [0, 1].
const HISTOGRAM_BINS: usize = 20;

/// `learn`'s generator and what it was trained on.
pub struct Generator {
    pub operator: DenoiseOperator,
    /// `learn`'s clean L-FTS patterns (at the inferred chi).
    pub learned: Patterns,
    /// `learn`'s L-FTS patterns per second (one per replica burn-in).
    pub lfts_patterns_per_second: f64,
}

/// One ensemble's line of the check.
#[derive(Clone, Debug, Serialize)]
pub struct Ensemble {
    pub name: String,
    pub statistics: PatternStatistics,
    /// Against the independent runs' (ratio 1 and distance 0 for those).
    #[serde(flatten)]
    pub comparison: Comparison,
}

#[derive(Clone, Debug, Serialize)]
pub struct SamplingCheck {
    /// The pool runs whose last snapshots are the reference.
    pub reference_runs: Vec<usize>,
    pub generated: usize,
    pub operator_calls: usize,
    pub seconds: f64,
    pub patterns_per_second: f64,
    pub lfts_patterns_per_second: f64,
    pub speedup: f64,
    /// Independent runs, `learn`'s patterns, generated.
    pub ensembles: Vec<Ensemble>,
}

/// Runs the check; `samples` are the pool runs learned from (left out of
/// the reference). Writes `generated.png`: L-FTS patterns above generated
/// ones, and the three ensembles' S(q).
pub fn check(
    spec: &Fig4Spec,
    pool: &Pool,
    samples: &[usize],
    generator: &Generator,
    plan: &SpectralPlan,
    out_dir: &Path,
) -> Result<SamplingCheck> {
    let runs = spec.test_runs + 2 * spec.chi_pairs + spec.pool_runs;
    let reference_runs: Vec<usize> = (0..runs).filter(|r| !samples.contains(r)).collect();
    let reference: Vec<f64> = reference_runs
        .iter()
        .map(|&r| pool.last_of(r).map(|i| pool.phi_a(i).to_vec()))
        .collect::<Result<Vec<_>>>()?
        .concat();
    let made = generate(&generator.operator, spec.generate_count, spec.generate_steps, spec.seed);

    let stats = |phi_a: &[f64]| PatternStatistics::with_structure_factor(plan, phi_a, HISTOGRAM_BINS);
    let (runs_stats, runs_sq) = stats(&reference)?;
    let (learned_stats, learned_sq) = stats(&generator.learned.phi_a)?;
    let (made_stats, made_sq) = stats(&made.phi_a)?;
    let ensemble = |name: &str, s: PatternStatistics| Ensemble {
        name: name.into(),
        comparison: s.compare(&runs_stats),
        statistics: s,
    };
    let ensembles = vec![
        ensemble("L-FTS, independent runs (true chi)", runs_stats.clone()),
        ensemble("L-FTS, learn's replicas (inferred chi)", learned_stats),
        ensemble("generated (reverse diffusion)", made_stats),
    ];
    let patterns_per_second = spec.generate_count as f64 / made.seconds;
    draw(&reference, &made.phi_a, [&runs_sq, &learned_sq, &made_sq], &ensembles, *plan.grid(), out_dir)?;
    Ok(SamplingCheck {
        reference_runs,
        generated: spec.generate_count,
        operator_calls: made.operator_calls,
        seconds: made.seconds,
        patterns_per_second,
        lfts_patterns_per_second: generator.lfts_patterns_per_second,
        speedup: patterns_per_second / generator.lfts_patterns_per_second,
        ensembles,
    })
}

/// Four L-FTS patterns above four generated ones, and the S(q) of each
/// ensemble beside them.
fn draw(
    reference: &[f64],
    made: &[f64],
    sq: [&StructureFactor; 3],
    ensembles: &[Ensemble],
    grid: Grid,
    out_dir: &Path,
) -> Result<()> {
    let panel =
        |v: &[f64], title: &str| plot::titled(plot::field_image(v, grid.mx, grid.my, Some((0.0, 1.0)), 192).0, title);
    let row = |phi_a: &[f64], title: &str| -> Vec<image::RgbImage> {
        phi_a.chunks(grid.points()).take(4).map(|p| panel(p, title)).collect()
    };
    let mut chart = LineChart::new("S(q) of phi_A", "|q| (box units)", "S(q)").y_from_zero().size(560, 380);
    for ((s, e), colour) in sq.iter().zip(ensembles).zip(COLOURS) {
        chart = chart.with(Series::new(e.name.as_str(), &s.q, &s.s, colour));
    }
    if let Some((lo, hi)) = sq_range(&sq[0].q, &sq[0].s) {
        chart = chart.x_range(lo, hi);
    }
    let picture = plot::tile(vec![row(reference, "L-FTS"), row(made, "GENERATED"), vec![line_chart(&chart)?]]);
    plot::save_png(picture, &out_dir.join("generated.png"))
}

/// The table's paragraph.
pub fn table(check: &SamplingCheck) -> String {
    let mut text = format!(
        "\nSampling check: {} patterns generated by reverse diffusion with `learn`'s generator in {} batched calls, \
         {:.1} patterns/s against {:.2} for `learn`'s L-FTS (one pattern per replica burn-in): {:.0}x. \
         Against the last snapshots of {} independent runs (standard errors over patterns):\n\n\
         | patterns | n | S(q) peak at q | peak S | ratio | <(phi_A - phi_B)^2> | ratio | histogram distance |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        check.generated,
        check.operator_calls,
        check.patterns_per_second,
        check.lfts_patterns_per_second,
        check.speedup,
        check.reference_runs.len()
    );
    for e in &check.ensembles {
        let s = &e.statistics;
        text.push_str(&format!(
            "| {} | {} | {:.3}{} | {:.3} +- {:.3} | {:.3} +- {:.3} | {:.4} +- {:.4} | {:.4} +- {:.4} | {:.3} |\n",
            e.name,
            s.patterns,
            s.peak.q,
            if e.comparison.same_peak_q { "" } else { " (other shell)" },
            s.peak.s,
            s.peak_stderr,
            e.comparison.peak_ratio,
            e.comparison.peak_ratio_stderr,
            s.psi2,
            s.psi2_stderr,
            e.comparison.psi2_ratio,
            e.comparison.psi2_ratio_stderr,
            e.comparison.histogram_distance
        ));
    }
    text
}
