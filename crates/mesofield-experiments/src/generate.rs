//! New patterns from a denoise operator by reverse diffusion. A denoiser
//! D(y, sigma) trained over a range of noise levels estimates the
//! posterior mean E[phi_A | y], so by Tweedie's formula it gives the score
//! of the noisy pattern distribution, (D - y) / sigma^2. The sampler walks
//! the trained levels down, geometrically from the largest to the smallest,
//! with the Euler ancestral step of the variance-exploding diffusion
//! (Karras et al. 2022's `sample_euler_ancestral`): a deterministic step
//! towards D to level sigma_down and fresh noise of sigma_up, with
//! sigma_down^2 + sigma_up^2 = sigma_next^2. The last call's D is the pattern.
//! The start is white noise of the marginal's spread at the top level,
//! sqrt(contrast^2 + sigma_max^2), about f.
//!
//! The check against the field theory (`PatternStatistics`): S(q)'s peak,
//! <(phi_A - phi_B)^2> and the phi_A histogram of generated patterns beside
//! those of independent L-FTS patterns at the operator's chi.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use mesofield_fno::denoise::DenoiseOperator;
use mesofield_physics::observables::{Peak, StructureFactor, mean_of, structure_factor};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::SpectralPlan;
use mesofield_physics::stats::mean_std;

/// Patterns generated in one run.
pub struct Generated {
    /// `[n][Mx*My]` phi_A.
    pub phi_a: Vec<f64>,
    /// The noise levels walked, top first.
    pub levels: Vec<f64>,
    pub operator_calls: usize,
    pub seconds: f64,
}

/// `count` patterns in `steps` (>= 2) batched operator calls, the noise
/// drawn from `seed`'s streams (one per pattern).
pub fn generate(operator: &DenoiseOperator, count: usize, steps: usize, seed: u64) -> Generated {
    let spec = &operator.spec;
    let m = spec.grid[0] * spec.grid[1];
    let f = spec.model.f_a();
    let steps = steps.max(2);
    let [low, high] = spec.sigma;
    let levels: Vec<f64> = (0..steps).map(|i| high * (low / high).powf(i as f64 / (steps - 1) as f64)).collect();
    let mut rngs: Vec<StreamRng> = (0..count as u64).map(|s| StreamRng::new(seed, s)).collect();
    let mut z = vec![0.0; m];
    let mut noise = |x: &mut [f64], scale: f64| {
        for (rng, pattern) in rngs.iter_mut().zip(x.chunks_mut(m)) {
            rng.fill_normal(&mut z);
            // Mean-free: the pattern's mean is f at every level.
            let mean = z.iter().sum::<f64>() / m as f64;
            pattern.iter_mut().zip(&z).for_each(|(p, z)| *p += scale * (z - mean));
        }
    };
    let started = Instant::now();
    let mut x = vec![f; count * m];
    noise(&mut x, (spec.contrast.powi(2) + high * high).sqrt());
    let mut denoised = Vec::new();
    for (i, &sigma) in levels.iter().enumerate() {
        denoised = operator.denoise(&x, &vec![sigma; count]);
        let Some(&next) = levels.get(i + 1) else { break };
        let up = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).sqrt().min(next);
        let down = (next * next - up * up).sqrt();
        for (xi, di) in x.iter_mut().zip(&denoised) {
            *xi = di + (*xi - di) * down / sigma;
        }
        noise(&mut x, up);
    }
    Generated { phi_a: denoised, levels, operator_calls: steps, seconds: started.elapsed().as_secs_f64() }
}

/// An ensemble's statistics, with standard errors over its patterns (each
/// an independent draw).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PatternStatistics {
    pub patterns: usize,
    /// The peak of S(q) averaged over the patterns.
    pub peak: Peak,
    /// The spread of each pattern's S at the mean peak's shell, over sqrt(n).
    pub peak_stderr: f64,
    /// <(phi_A - phi_B)^2> with phi_B = 1 - phi_A, and its standard error.
    pub psi2: f64,
    pub psi2_stderr: f64,
    /// Histogram of phi_A over [0, 1] in `histogram.len()` bins (fractions of points).
    pub histogram: Vec<f64>,
}

impl PatternStatistics {
    pub fn of(plan: &SpectralPlan, phi_a: &[f64], bins: usize) -> mesofield_physics::Result<Self> {
        Ok(Self::with_structure_factor(plan, phi_a, bins)?.0)
    }

    /// The statistics and S(q) averaged over the patterns.
    pub fn with_structure_factor(
        plan: &SpectralPlan,
        phi_a: &[f64],
        bins: usize,
    ) -> mesofield_physics::Result<(Self, StructureFactor)> {
        let m = plan.grid().points();
        let n = phi_a.len() / m;
        let sq: Vec<_> = phi_a.chunks(m).map(|p| structure_factor(plan, p)).collect();
        let mean = mean_of(&sq)?;
        let peak = mean.peak();
        let shell = mean.q.iter().position(|&q| q == peak.q).unwrap_or(0);
        let (_, spread) = mean_std(&sq.iter().map(|s| s.s[shell]).collect::<Vec<_>>());
        let psi2: Vec<f64> =
            phi_a.chunks(m).map(|p| p.iter().map(|a| (2.0 * a - 1.0).powi(2)).sum::<f64>() / m as f64).collect();
        let (psi2_mean, psi2_spread) = mean_std(&psi2);
        let mut histogram = vec![0.0; bins.max(1)];
        for &a in phi_a {
            let b = ((a.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
            histogram[b] += 1.0 / phi_a.len() as f64;
        }
        let root = (n as f64).sqrt();
        let statistics = PatternStatistics {
            patterns: n,
            peak,
            peak_stderr: spread / root,
            psi2: psi2_mean,
            psi2_stderr: psi2_spread / root,
            histogram,
        };
        Ok((statistics, mean))
    }
}

/// One ensemble's statistics against a reference ensemble's: the peak's
/// shell equal, the ratios of the peak heights and of <(phi_A - phi_B)^2>
/// with their standard errors (both ensembles' combined), and the total
/// variation distance of the phi_A histograms.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub same_peak_q: bool,
    pub peak_ratio: f64,
    pub peak_ratio_stderr: f64,
    pub psi2_ratio: f64,
    pub psi2_ratio_stderr: f64,
    pub histogram_distance: f64,
}

impl PatternStatistics {
    pub fn compare(&self, reference: &PatternStatistics) -> Comparison {
        let r = reference;
        let ratio = |a: f64, sa: f64, b: f64, sb: f64| (a / b, a / b * ((sa / a).powi(2) + (sb / b).powi(2)).sqrt());
        let (peak_ratio, peak_ratio_stderr) = ratio(self.peak.s, self.peak_stderr, r.peak.s, r.peak_stderr);
        let (psi2_ratio, psi2_ratio_stderr) = ratio(self.psi2, self.psi2_stderr, r.psi2, r.psi2_stderr);
        Comparison {
            same_peak_q: (self.peak.q - r.peak.q).abs() <= 1e-9 * r.peak.q,
            peak_ratio,
            peak_ratio_stderr,
            psi2_ratio,
            psi2_ratio_stderr,
            histogram_distance: 0.5 * self.histogram.iter().zip(&r.histogram).map(|(a, b)| (a - b).abs()).sum::<f64>(),
        }
    }
}

/// `generate-patterns`' report.
#[derive(Clone, Debug, Serialize)]
pub struct GenerateReport {
    pub checkpoint: String,
    pub chi: Option<f64>,
    pub count: usize,
    pub steps: usize,
    pub seed: u64,
    pub seconds: f64,
    pub patterns_per_second: f64,
    pub generated: PatternStatistics,
    /// The L-FTS patterns compared against (`--reference`, else the
    /// `patterns.safetensors` that `learn` wrote with the checkpoint).
    pub reference: Option<Reference>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    pub file: String,
    pub statistics: PatternStatistics,
    /// Generated against reference.
    #[serde(flatten)]
    pub comparison: Comparison,
    /// L-FTS patterns per second where `sampling.json` lies beside the
    /// reference (`learn`'s: one pattern per replica burn-in), and the
    /// generator's speed-up over it.
    pub lfts_patterns_per_second: Option<f64>,
    pub speedup: Option<f64>,
}

/// Generates `count` patterns with the denoise operator in `checkpoint`
/// into `out` (`phi_a` [n, Mx, My], the mean S(q) as `sq_q` and `sq_S`,
/// the report in the metadata), checked against `reference` patterns.
pub fn generate_to_file(
    checkpoint: &std::path::Path,
    count: usize,
    steps: usize,
    seed: u64,
    reference: Option<&std::path::Path>,
    out: &std::path::Path,
) -> anyhow::Result<GenerateReport> {
    use anyhow::{anyhow, bail};
    if count == 0 || steps < 2 {
        bail!("--count must be at least 1 and --steps at least 2");
    }
    let device = crate::solvers::Backend::Cpu.device()?;
    let operator = DenoiseOperator::load(checkpoint, &device).map_err(|e| anyhow!(e))?;
    let spec = &operator.spec;
    let grid = mesofield_physics::Grid::for_model(&spec.model, spec.grid[0], spec.grid[1])?;
    let plan = SpectralPlan::new(grid);
    let generated = generate(&operator, count, steps, seed);
    let (statistics, sq) = PatternStatistics::with_structure_factor(&plan, &generated.phi_a, 20)?;
    // `learn` writes the patterns beside `best` and above `generator/best`.
    let beside = checkpoint.ancestors().skip(1).take(2).map(|p| p.join("patterns.safetensors")).find(|p| p.exists());
    let reference = match reference.map(std::path::Path::to_path_buf).or(beside) {
        None => None,
        Some(file) => {
            let patterns = crate::patterns::load_patterns(&file, [0.0, 1.0], true)?;
            patterns.expect_grid(grid.mx, grid.my, &file.display().to_string())?;
            let r = PatternStatistics::of(&plan, &patterns.phi_a, 20)?;
            let lfts = file
                .parent()
                .map(|p| p.join("sampling.json"))
                .and_then(|p| std::fs::read_to_string(p).ok())
                .and_then(|t| serde_json::from_str::<crate::learn::Sampling>(&t).ok())
                .map(|s| s.patterns as f64 / s.seconds);
            let rate = count as f64 / generated.seconds;
            Some(Reference {
                file: file.display().to_string(),
                comparison: statistics.compare(&r),
                lfts_patterns_per_second: lfts,
                speedup: lfts.map(|l| rate / l),
                statistics: r,
            })
        }
    };
    let report = GenerateReport {
        checkpoint: checkpoint.display().to_string(),
        chi: spec.chi,
        count,
        steps,
        seed,
        seconds: generated.seconds,
        patterns_per_second: count as f64 / generated.seconds,
        generated: statistics,
        reference,
    };
    let meta = serde_json::json!({"format": "mesofield-generated", "model": spec.model, "report": report});
    use mesofield_physics::io::{TensorData, to_safetensors, write_atomic};
    let bytes = to_safetensors(
        &[
            ("phi_a", vec![count, grid.mx, grid.my], TensorData::F64(&generated.phi_a)),
            ("sq_q", vec![sq.q.len()], TensorData::F64(&sq.q)),
            ("sq_S", vec![sq.s.len()], TensorData::F64(&sq.s)),
        ],
        &meta.to_string(),
    )?;
    write_atomic(out, &bytes)?;
    Ok(report)
}
