//! Charts a reader can read: axes with ticks, tick labels and axis labels,
//! legends when several curves share a panel, a log axis where the values
//! span decades. Drawn by plotters into an in-memory RGB buffer, text from
//! the embedded Noto Sans (no system fonts), written as PNG by
//! `plot::save_png` (atomically). Field panels stay in `plot` with their
//! viridis colour bars.

use std::sync::OnceLock;

use anyhow::{Result, anyhow, bail};
use plotters::prelude::*;

use crate::plot;

const FONT: &str = "sans-serif";
/// Series of at most this many points get a marker at each.
const MARKED_POINTS: usize = 40;

/// The embedded font, registered once for every chart (plotters looks a
/// family up when a text style is made, so before any chart is built).
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, ttf_noto_sans::REGULAR).is_ok());
    if ok { Ok(()) } else { bail!("the embedded chart font could not be read") }
}

/// One curve: its legend label (empty: no legend entry) and points.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub colour: [u8; 3],
}

impl Series {
    pub fn new(label: impl Into<String>, x: &[f64], y: &[f64], colour: [u8; 3]) -> Series {
        Series { label: label.into(), points: x.iter().copied().zip(y.iter().copied()).collect(), colour }
    }
}

/// A line chart; `x_range` clips the x axis (None: the data's range).
#[derive(Clone, Debug)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_y: bool,
    /// The y axis starts at 0 (a structure factor, a count).
    pub y_from_zero: bool,
    pub x_range: Option<(f64, f64)>,
    pub size: (u32, u32),
}

impl LineChart {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> LineChart {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            log_y: false,
            y_from_zero: false,
            x_range: None,
            size: (640, 400),
        }
    }
    pub fn with(mut self, series: Series) -> LineChart {
        self.series.push(series);
        self
    }
    pub fn log_y(mut self) -> LineChart {
        self.log_y = true;
        self
    }
    pub fn y_from_zero(mut self) -> LineChart {
        self.y_from_zero = true;
        self
    }
    pub fn x_range(mut self, lo: f64, hi: f64) -> LineChart {
        self.x_range = Some((lo, hi));
        self
    }
    pub fn size(mut self, w: u32, h: u32) -> LineChart {
        self.size = (w, h);
        self
    }
}

/// Series colours: dark blue, orange, green, red (distinct in grey too).
pub const COLOURS: [[u8; 3]; 4] = [[31, 60, 136], [230, 120, 20], [40, 150, 70], [200, 40, 40]];

/// A finite, non-degenerate range of `values` (padded when all are equal).
fn range_of(values: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return None;
    }
    Some(match (hi > lo, log) {
        (true, false) => (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)),
        (true, true) => (lo / 1.2, hi * 1.2),
        (false, false) => (lo - 0.5 * lo.abs().max(1e-12), hi + 0.5 * hi.abs().max(1e-12)),
        (false, true) => (lo / 2.0, hi * 2.0),
    })
}

/// Tick labels short enough for an axis.
fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

/// The legend of the labelled series, in the upper right corner.
fn draw_legend<'a, DB, CT>(ctx: &mut ChartContext<'a, DB, CT>) -> Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(plot_err)
}

/// Renders `chart`; an empty chart (no finite point) gets its axes only.
pub fn line_chart(chart: &LineChart) -> Result<image::RgbImage> {
    ensure_font()?;
    let (w, h) = chart.size;
    let in_x = |x: f64| chart.x_range.is_none_or(|(lo, hi)| x >= lo && x <= hi);
    let points = || chart.series.iter().flat_map(|s| s.points.iter().copied()).filter(move |p| in_x(p.0));
    let x = chart.x_range.or_else(|| range_of(points().map(|p| p.0), false)).unwrap_or((0.0, 1.0));
    let mut y =
        range_of(points().map(|p| p.1), chart.log_y).unwrap_or(if chart.log_y { (0.1, 10.0) } else { (0.0, 1.0) });
    if chart.y_from_zero && !chart.log_y {
        y.0 = 0.0;
    }
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(&chart.title, (FONT, 18)).margin(10).x_label_area_size(42).y_label_area_size(62);
        // The two axis kinds are different types: one body, drawn twice.
        macro_rules! draw {
            ($ctx:expr) => {{
                let mut ctx = $ctx.map_err(plot_err)?;
                ctx.configure_mesh()
                    .x_desc(&chart.x_label)
                    .y_desc(&chart.y_label)
                    .x_label_formatter(&|v| tick(*v))
                    .y_label_formatter(&|v| tick(*v))
                    .label_style((FONT, 13))
                    .axis_desc_style((FONT, 14))
                    .light_line_style(RGBColor(235, 235, 235))
                    .draw()
                    .map_err(plot_err)?;
                let mut legend = false;
                for s in &chart.series {
                    let colour = RGBColor(s.colour[0], s.colour[1], s.colour[2]);
                    let pts: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .copied()
                        .filter(|p| in_x(p.0) && p.0.is_finite() && p.1.is_finite() && (!chart.log_y || p.1 > 0.0))
                        .collect();
                    // Few points (shells of S(q)): each one marked.
                    if pts.len() <= MARKED_POINTS {
                        ctx.draw_series(pts.iter().map(|p| Circle::new(*p, 3, colour.filled()))).map_err(plot_err)?;
                    }
                    let drawn = ctx.draw_series(LineSeries::new(pts, colour.stroke_width(2))).map_err(plot_err)?;
                    if !s.label.is_empty() {
                        legend = true;
                        drawn
                            .label(s.label.clone())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
                    }
                }
                if legend {
                    draw_legend(&mut ctx)?;
                }
            }};
        }
        if chart.log_y {
            draw!(builder.build_cartesian_2d(x.0..x.1, (y.0..y.1).log_scale()));
        } else {
            draw!(builder.build_cartesian_2d(x.0..x.1, y.0..y.1));
        }
        root.present().map_err(plot_err)?;
    }
    image::RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("chart buffer of the wrong size"))
}

pub fn line_chart_png(chart: &LineChart, path: &std::path::Path) -> Result<()> {
    plot::save_png(line_chart(chart)?, path)
}

/// The x range that shows a structure factor's peak: from 0 to a little
/// past three times the peak's q (the higher shells hold only the tail).
pub fn sq_range(q: &[f64], s: &[f64]) -> Option<(f64, f64)> {
    let i = (0..s.len()).filter(|&i| s[i].is_finite()).max_by(|&a, &b| s[a].total_cmp(&s[b]))?;
    let q_max = q.iter().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    Some((0.0, (3.2 * q[i]).min(q_max).max(q[i] * 1.5)))
}

/// S(q) of phi_A against |q| in the range where its peak is.
pub fn sq_chart(q: &[f64], s: &[f64], title: impl Into<String>) -> LineChart {
    let chart = LineChart::new(title, "|q| (box units)", "S(q)").with(Series::new("", q, s, COLOURS[0])).y_from_zero();
    match sq_range(q, s) {
        Some((lo, hi)) => chart.x_range(lo, hi),
        None => chart,
    }
}

/// Histograms of positive values (errors) on shared log10 bins, on a log x
/// axis, one colour and legend entry per series, bars side by side.
pub fn log_histogram(
    series: &[(&str, &[f64], [u8; 3])],
    title: &str,
    x_label: &str,
    size: (u32, u32),
) -> Result<image::RgbImage> {
    ensure_font()?;
    let logs: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, v, _)| v.iter().filter(|x| **x > 0.0 && x.is_finite()).map(|x| x.log10()).collect())
        .collect();
    let (lo, hi) = logs.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo.floor(), hi.ceil().max(lo.floor() + 1.0)) } else { (-3.0, 0.0) };
    let bins = 40usize;
    let width = (hi - lo) / bins as f64;
    let counts: Vec<Vec<usize>> = logs
        .iter()
        .map(|v| {
            let mut c = vec![0usize; bins];
            for x in v {
                c[((x - lo) / width).floor().clamp(0.0, (bins - 1) as f64) as usize] += 1;
            }
            c
        })
        .collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let (w, h) = size;
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(10)
            .x_label_area_size(42)
            .y_label_area_size(55)
            .build_cartesian_2d((10f64.powf(lo)..10f64.powf(hi)).log_scale(), 0.0..top * 1.1)
            .map_err(plot_err)?;
        ctx.configure_mesh()
            .x_desc(x_label)
            .y_desc("samples per bin")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        let share = width / series.len().max(1) as f64;
        for (k, ((label, _, c), counts)) in series.iter().zip(&counts).enumerate() {
            let colour = RGBColor(c[0], c[1], c[2]);
            let bars = counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(b, &n)| {
                let x0 = lo + b as f64 * width + k as f64 * share;
                Rectangle::new([(10f64.powf(x0), 0.0), (10f64.powf(x0 + 0.9 * share), n as f64)], colour.filled())
            });
            ctx.draw_series(bars)
                .map_err(plot_err)?
                .label(label.to_string())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
        }
        draw_legend(&mut ctx)?;
        root.present().map_err(plot_err)?;
    }
    image::RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("chart buffer of the wrong size"))
}
