//! Pictures and checks around a trained operator, shared by `train`,
//! `eval` and Fig. 3: the loss curve, the error histograms, the worst
//! predictions, and the error that ends an interrupted training run.

use std::path::Path;

use anyhow::{Context, Result, bail};

use mesofield_fno::checkpoint::TrainState;
use mesofield_fno::evaluation::EvalReport;
use mesofield_physics::dataset::Dataset;

use crate::charts::{COLOURS, LineChart, Series, line_chart_png, log_histogram};
use crate::plot;

/// DIR/loss.png from DIR/metrics.jsonl: training loss (dark) and mean
/// validation error (light) per epoch, log scale.
pub fn loss_curve(dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap_or_default();
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}/metrics.jsonl", dir.display()))?;
        train.push(v["train_loss"].as_f64().unwrap_or(f64::NAN));
        valid.push(v["valid_error_mean"].as_f64().unwrap_or(f64::NAN));
    }
    let epochs: Vec<f64> = (1..=train.len()).map(|e| e as f64).collect();
    let chart = LineChart::new("Training", "epoch", "loss, error")
        .log_y()
        .with(Series::new("training loss", &epochs, &train, COLOURS[0]))
        .with(Series::new("validation error (mean)", &epochs, &valid, COLOURS[1]));
    line_chart_png(&chart, &dir.join("loss.png"))
}

/// The error that ends a command whose training was interrupted, if it was.
pub fn interrupted(state: &TrainState, epochs: usize, dir: &Path, to_continue: &str) -> Result<()> {
    if state.epoch < epochs && !state.stopped_early {
        bail!(
            "interrupted in epoch {} after batch {}: {} holds the state; {to_continue}",
            state.epoch + 1,
            state.epoch_batches,
            dir.join("last").display()
        );
    }
    Ok(())
}

/// Rows of pictures for the samples `picks` of `data`: w_A, the exact and
/// the predicted phi_A on one colour scale, and their difference, each
/// titled; the first panel names the sample and its errors.
pub fn example_rows(data: &Dataset, report: &EvalReport, picks: &[usize]) -> Vec<Vec<image::RgbImage>> {
    let (mx, my) = (data.mx, data.my);
    let m = mx * my;
    picks
        .iter()
        .map(|&s| {
            let w_a = &data.w[s * 2 * m..s * 2 * m + m];
            let exact = &data.phi[s * 2 * m..s * 2 * m + m];
            let pred = &report.predicted[s * 2 * m..s * 2 * m + m];
            let error: Vec<f64> = pred.iter().zip(exact).map(|(p, e)| p - e).collect();
            let (lo, hi) =
                exact.iter().chain(pred).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            let e = error.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-12);
            let family = match data.family.get(s) {
                Some(1) => "SCFT",
                Some(0) => "GRF",
                _ => "",
            };
            vec![
                plot::titled(plot::field_image(w_a, mx, my, None, 256).0, &format!("W_A  {family} SAMPLE {s}")),
                plot::titled(plot::field_image(exact, mx, my, Some((lo, hi)), 256).0, "EXACT PHI_A"),
                plot::titled(plot::field_image(pred, mx, my, Some((lo, hi)), 256).0, "PREDICTED PHI_A"),
                plot::titled(
                    plot::field_image(&error, mx, my, Some((-e, e)), 256).0,
                    &format!("ERROR A {:.4} B {:.4}", report.per_sample_a[s], report.per_sample_b[s]),
                ),
            ]
        })
        .collect()
}

/// `DIR/PREFIXhistogram.png` (contrast-relative errors of phi_A and phi_B on
/// log bins) and `DIR/PREFIXworst.png` (the four samples worst in phi_A).
pub fn eval_pictures(data: &Dataset, report: &EvalReport, dir: &Path, prefix: &str) -> Result<()> {
    let histogram = log_histogram(
        &[("phi_A", &report.per_sample_a, COLOURS[0]), ("phi_B", &report.per_sample_b, COLOURS[1])],
        "Contrast-relative error per sample",
        "||phi_pred - phi|| / ||phi - mean(phi)||",
        (760, 420),
    )?;
    plot::save_png(histogram, &dir.join(format!("{prefix}histogram.png")))?;
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|&i, &j| report.per_sample_a[j].total_cmp(&report.per_sample_a[i]));
    order.truncate(4);
    plot::save_png(plot::tile(example_rows(data, report, &order)), &dir.join(format!("{prefix}worst.png")))
}

/// Two test examples (the median and the 90th-percentile error): w_A, exact
/// phi_A, predicted phi_A (one colour scale) and the error map.
pub fn draw_examples(data: &Dataset, report: &EvalReport, path: &Path) -> Result<()> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|&i, &j| report.per_sample_a[i].total_cmp(&report.per_sample_a[j]));
    let picks = [order[order.len() / 2], order[(order.len() * 9 / 10).min(order.len() - 1)]];
    plot::save_png(plot::tile(example_rows(data, report, &picks)), path)
}
