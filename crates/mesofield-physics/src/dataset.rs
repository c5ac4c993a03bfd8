//! (w, phi) datasets: generation, the safetensors format, shards and merging.
//!
//! Format (one `.safetensors` file):
//! - `w` f64 [n, 2, Mx, My], channel 0 = w_A, 1 = w_B, first grid index along x
//! - `phi` f64 [n, 2, Mx, My], `log_q` f64 [n]
//! - labels: `family` u8 [n] (index into metadata `families`), `chi` f64 [n]
//!   (NaN where the family has no chi), `run` i64 [n] (the generating unit:
//!   one GRF draw or one SCFT run, for leak-free splits), `step` i64 [n]
//!   (SCFT iteration of the snapshot, or of the snapshot a perturbed copy
//!   was made from; 0 for GRF)
//! - metadata key `mesofield`: JSON `DatasetMeta` (model, generator, seed,
//!   version, rejected draws, shard).
//!
//! Determinism: every unit (a GRF sample or an SCFT run) draws from its own
//! random stream keyed by (seed, family, unit index), and is solved by the
//! same sequential arithmetic on any thread, so the same settings give a
//! byte-identical file whatever the thread count. Shard i of n takes a
//! contiguous block of units, so merging shards in order rebuilds the
//! unsharded file.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::{InitialField, from_exchange_pressure, gaussian_random_field};
use crate::fts::{Integrator, Lfts, LftsConfig};
use crate::grid::Grid;
use crate::io::{FieldFile, TensorData, to_safetensors};
use crate::model::ChainModel;
use crate::rng::StreamRng;
use crate::scft::{ScftConfig, run_scft};
use crate::solver::ExactSolver;
use crate::spectral::SpectralPlan;

pub const FORMAT: &str = "mesofield-dataset";
pub const FORMAT_VERSION: u32 = 1;
pub const FAMILIES: [&str; 4] = ["grf", "scft", "lfts", "scft_perturbed"];
/// Draws of one unit before giving up (each rejection is counted).
const MAX_ATTEMPTS: u64 = 64;

/// Smooth Gaussian random fields: per sample, an amplitude (standard
/// deviation of each channel) and a correlation length, both log-uniform, and
/// random weights of A/B-correlated, anticorrelated and independent parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrfFamily {
    pub samples: usize,
    pub amplitude: [f64; 2],
    pub correlation_length: [f64; 2],
}

impl Default for GrfFamily {
    fn default() -> Self {
        GrfFamily { samples: 0, amplitude: [0.001, 0.02], correlation_length: [0.3, 1.6] }
    }
}

/// Fields visited by SCFT runs from random starts, chi uniform in a range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScftFamily {
    pub runs: usize,
    pub snapshots_per_run: usize,
    pub chi: [f64; 2],
    /// Iterations each run may take; snapshots are spread over the visited path.
    pub max_iterations: usize,
    /// Standard deviation of the initial white noise in phi_A - phi_B.
    pub initial_noise: f64,
    /// Perturbed copies of each snapshot (family "scft_perturbed"): w plus a
    /// smooth random field mixed as in the GRF family, amplitude log-uniform
    /// in `perturbation`, correlation length log-uniform in
    /// `perturbation_length`. Value-only training on the SCFT path leaves
    /// how densities respond away from it undetermined (measured: a
    /// width-48 operator with 1% errors on the path responded with 8-30% of
    /// the exact response to small perturbations of an SCFT saddle point);
    /// nearby pairs teach that response, which the loops iterate on.
    #[serde(default)]
    pub perturbed_copies: usize,
    #[serde(default = "default_perturbation")]
    pub perturbation: [f64; 2],
    #[serde(default = "default_perturbation_length")]
    pub perturbation_length: [f64; 2],
}

fn default_perturbation() -> [f64; 2] {
    [0.001, 0.01]
}

fn default_perturbation_length() -> [f64; 2] {
    [0.15, 1.0]
}

impl Default for ScftFamily {
    fn default() -> Self {
        ScftFamily {
            runs: 0,
            snapshots_per_run: 8,
            chi: [0.1, 1.0],
            max_iterations: 400,
            initial_noise: 0.1,
            perturbed_copies: 0,
            perturbation: default_perturbation(),
            perturbation_length: default_perturbation_length(),
        }
    }
}

/// Fields visited by L-FTS runs (what the sampler's inner loop meets): per
/// run chi uniform in a range, a random start of amplitude 0.01, `steps`
/// Langevin steps, snapshots spread evenly over the second half (after the
/// pattern has formed) and the last step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LftsFamily {
    pub runs: usize,
    pub snapshots_per_run: usize,
    pub chi: [f64; 2],
    pub steps: usize,
    pub beads_per_cell: f64,
    /// Upper end of B per run, log-uniform from `beads_per_cell` (the loops
    /// meet fluctuations from B = 10 to 1000); absent: every run at
    /// `beads_per_cell`, with the random stream of files written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beads_per_cell_max: Option<f64>,
    pub step_size: f64,
    /// The runs' Langevin integrator; absent: Euler-Maruyama, the files
    /// written before it was a choice.
    #[serde(default = "Integrator::legacy")]
    pub integrator: Integrator,
}

impl LftsFamily {
    /// B per run log-uniform over `[lo, hi]`, or every run at `lo` when the
    /// two are equal (the random stream of files written before ranges).
    pub fn with_beads_per_cell([lo, hi]: [f64; 2], family: LftsFamily) -> Self {
        LftsFamily { beads_per_cell: lo, beads_per_cell_max: (hi != lo).then_some(hi), ..family }
    }
}

impl Default for LftsFamily {
    fn default() -> Self {
        LftsFamily {
            runs: 0,
            snapshots_per_run: 8,
            chi: [0.1, 0.8],
            steps: 400,
            beads_per_cell: 100.0,
            beads_per_cell_max: None,
            step_size: 0.02,
            integrator: Integrator::legacy(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    pub grid: [usize; 2],
    pub seed: u64,
    pub grf: GrfFamily,
    pub scft: ScftFamily,
    /// Absent in files written before the family existed.
    #[serde(default)]
    pub lfts: LftsFamily,
}

impl GeneratorConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Parameter(m));
        for (name, [lo, hi]) in [
            ("grf amplitude", self.grf.amplitude),
            ("grf correlation_length", self.grf.correlation_length),
            ("scft chi", self.scft.chi),
            ("scft perturbation", self.scft.perturbation),
            ("scft perturbation_length", self.scft.perturbation_length),
        ] {
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
                return bad(format!("{name} range [{lo}, {hi}] must be finite with 0 < lo <= hi"));
            }
        }
        if self.scft.runs > 0 && (self.scft.snapshots_per_run == 0 || self.scft.max_iterations == 0) {
            return bad("scft snapshots_per_run and max_iterations must be >= 1".into());
        }
        if !(self.scft.initial_noise.is_finite() && self.scft.initial_noise >= 0.0) {
            return bad(format!("scft initial_noise must be finite and >= 0, got {}", self.scft.initial_noise));
        }
        if self.lfts.runs > 0 {
            let l = &self.lfts;
            let [lo, hi] = l.chi;
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
                return bad(format!("lfts chi range [{lo}, {hi}] must be finite with 0 < lo <= hi"));
            }
            if l.snapshots_per_run == 0 || l.steps == 0 {
                return bad("lfts snapshots_per_run and steps must be >= 1".into());
            }
            if !(l.beads_per_cell > 0.0 && l.step_size.is_finite() && l.step_size > 0.0) {
                return bad(format!(
                    "lfts beads_per_cell and step_size must be > 0, got {} and {}",
                    l.beads_per_cell, l.step_size
                ));
            }
            if let Some(hi) = l.beads_per_cell_max
                && !(hi.is_finite() && hi >= l.beads_per_cell)
            {
                return bad(format!(
                    "lfts beads_per_cell_max must be finite and >= beads_per_cell ({}), got {hi}",
                    l.beads_per_cell
                ));
            }
        }
        if self.units() == 0 {
            return bad("nothing to generate: give GRF samples, SCFT runs and/or L-FTS runs".into());
        }
        Ok(())
    }

    /// GRF samples, then SCFT runs, then L-FTS runs.
    pub fn units(&self) -> usize {
        self.grf.samples + self.scft.runs + self.lfts.runs
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses "i/n" with 0 <= i < n.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Error::Parameter(format!("cannot parse shard {text:?}: expected i/n with 0 <= i < n"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The contiguous block of `units` this shard owns.
    pub fn range(&self, units: usize) -> std::ops::Range<usize> {
        (self.index * units / self.count)..((self.index + 1) * units / self.count)
    }
}

/// What the file's metadata says. Field order is the JSON order, so equal
/// settings serialise to equal bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    pub format: String,
    pub format_version: u32,
    pub mesofield_version: String,
    pub model: ChainModel,
    pub families: Vec<String>,
    pub generator: Option<GeneratorConfig>,
    /// Draws rejected because the solver could not solve them.
    pub rejected: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<Shard>,
}

impl DatasetMeta {
    pub fn new(model: &ChainModel, generator: Option<GeneratorConfig>) -> Self {
        DatasetMeta {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            mesofield_version: env!("CARGO_PKG_VERSION").to_string(),
            model: model.clone(),
            families: FAMILIES.iter().map(|s| s.to_string()).collect(),
            generator,
            rejected: 0,
            shard: None,
        }
    }
}

/// A dataset in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub meta: DatasetMeta,
    pub mx: usize,
    pub my: usize,
    pub w: Vec<f64>,
    pub phi: Vec<f64>,
    pub log_q: Vec<f64>,
    pub family: Vec<u8>,
    pub chi: Vec<f64>,
    pub run: Vec<i64>,
    pub step: Vec<i64>,
}

/// One generated sample before assembly.
struct Sample {
    w: Vec<f64>,
    phi: Vec<f64>,
    log_q: f64,
    family: u8,
    chi: f64,
    run: i64,
    step: i64,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.log_q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log_q.is_empty()
    }

    fn from_samples(meta: DatasetMeta, mx: usize, my: usize, samples: Vec<Sample>) -> Self {
        let mut d = Dataset {
            meta,
            mx,
            my,
            w: Vec::new(),
            phi: Vec::new(),
            log_q: Vec::new(),
            family: Vec::new(),
            chi: Vec::new(),
            run: Vec::new(),
            step: Vec::new(),
        };
        for s in samples {
            d.w.extend_from_slice(&s.w);
            d.phi.extend_from_slice(&s.phi);
            d.log_q.push(s.log_q);
            d.family.push(s.family);
            d.chi.push(s.chi);
            d.run.push(s.run);
            d.step.push(s.step);
        }
        d
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let n = self.len();
        let shape = vec![n, 2, self.mx, self.my];
        let meta = serde_json::to_string(&self.meta).expect("metadata serialises");
        to_safetensors(
            &[
                ("w", shape.clone(), TensorData::F64(&self.w)),
                ("phi", shape, TensorData::F64(&self.phi)),
                ("log_q", vec![n], TensorData::F64(&self.log_q)),
                ("family", vec![n], TensorData::U8(&self.family)),
                ("chi", vec![n], TensorData::F64(&self.chi)),
                ("run", vec![n], TensorData::I64(&self.run)),
                ("step", vec![n], TensorData::I64(&self.step)),
            ],
            &meta,
        )
    }

    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        crate::io::write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a dataset written by mesofield (all tensors and metadata required).
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let file = FieldFile::open(path)?;
        let meta_value = file.metadata()?.ok_or_else(|| {
            Error::Dataset(format!("{} has no mesofield metadata: not a mesofield dataset", path.display()))
        })?;
        let format = meta_value.get("format").and_then(|f| f.as_str()).unwrap_or("none");
        if format != FORMAT {
            return Err(Error::Dataset(format!(
                "{}: not a mesofield dataset (metadata format {format:?}, expected {FORMAT:?})",
                path.display()
            )));
        }
        let meta: DatasetMeta = serde_json::from_value(meta_value)
            .map_err(|e| Error::Dataset(format!("{}: unreadable dataset metadata: {e}", path.display())))?;
        if meta.format != FORMAT {
            return Err(Error::Dataset(format!("{}: format {:?} is not {FORMAT:?}", path.display(), meta.format)));
        }
        let (n, mx, my, w) = file.fields("w")?;
        let (phi_n, phi_mx, phi_my, phi) = file.fields("phi")?;
        if (phi_n, phi_mx, phi_my) != (n, mx, my) {
            return Err(Error::Shape(format!("{}: phi and w shapes differ", path.display())));
        }
        let vector = |name: &str| -> Result<Vec<f64>> {
            let (shape, data) = file.f64_tensor(name)?;
            if shape != [n] {
                return Err(Error::Shape(format!("{}: {name} has shape {shape:?}, expected [{n}]", path.display())));
            }
            Ok(data)
        };
        Ok(Dataset {
            meta,
            mx,
            my,
            w,
            phi,
            log_q: vector("log_q")?,
            family: vector("family")?.into_iter().map(|v| v as u8).collect(),
            chi: vector("chi")?,
            run: vector("run")?.into_iter().map(|v| v as i64).collect(),
            step: vector("step")?.into_iter().map(|v| v as i64).collect(),
        })
    }

    /// Joins shards (any order) into the file the unsharded run makes.
    pub fn merge(mut shards: Vec<Dataset>) -> Result<Dataset> {
        if shards.is_empty() {
            return Err(Error::Dataset("nothing to merge".into()));
        }
        let count = shards[0]
            .meta
            .shard
            .map(|s| s.count)
            .ok_or_else(|| Error::Dataset("the first input is not a shard (its metadata has no shard)".into()))?;
        shards.sort_by_key(|d| d.meta.shard.map(|s| s.index).unwrap_or(usize::MAX));
        let mut reference = shards[0].meta.clone();
        reference.shard = None;
        reference.rejected = 0;
        for (i, d) in shards.iter().enumerate() {
            match d.meta.shard {
                Some(s) if s.count == count && s.index == i => {}
                Some(s) if s.count != count => {
                    return Err(Error::Dataset(format!("shard {}/{} does not belong with /{count}", s.index, s.count)));
                }
                _ => {
                    return Err(Error::Dataset(format!(
                        "shards must be exactly 0..{count} once each; found {:?}",
                        shards.iter().map(|d| d.meta.shard.map(|s| s.index)).collect::<Vec<_>>()
                    )));
                }
            }
            let mut other = d.meta.clone();
            other.shard = None;
            other.rejected = 0;
            if other != reference || (d.mx, d.my) != (shards[0].mx, shards[0].my) {
                return Err(Error::Dataset(format!("shard {i} was made with other settings than shard 0")));
            }
        }
        if shards.len() != count {
            return Err(Error::Dataset(format!("{} of {count} shards given", shards.len())));
        }
        let mut merged = Dataset { meta: reference, ..shards[0].clone() };
        merged.meta.rejected = shards[0].meta.rejected;
        for d in shards.into_iter().skip(1) {
            merged.meta.rejected += d.meta.rejected;
            merged.w.extend(d.w);
            merged.phi.extend(d.phi);
            merged.log_q.extend(d.log_q);
            merged.family.extend(d.family);
            merged.chi.extend(d.chi);
            merged.run.extend(d.run);
            merged.step.extend(d.step);
        }
        Ok(merged)
    }
}

/// Generates the dataset (or one shard of it). `progress` is called with the
/// number of units finished so far.
pub fn generate(
    model: &ChainModel,
    config: &GeneratorConfig,
    shard: Option<Shard>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Dataset> {
    config.validate()?;
    let grid = Grid::for_model(model, config.grid[0], config.grid[1])?;
    let solver = ExactSolver::new(model, grid)?;
    let plan = SpectralPlan::new(grid);
    let units = config.units();
    let range = shard.map(|s| s.range(units)).unwrap_or(0..units);
    let done = AtomicUsize::new(0);
    let rejected = AtomicUsize::new(0);
    let outputs: Vec<Result<Vec<Sample>>> = range
        .clone()
        .into_par_iter()
        // Units differ in cost by 1000x (a GRF draw vs an SCFT run): one unit
        // per task keeps both cores busy to the end.
        .with_max_len(1)
        .map(|unit| {
            let out = if unit < config.grf.samples {
                grf_unit(&solver, &plan, config, unit, &rejected).map(|s| vec![s])
            } else if unit < config.grf.samples + config.scft.runs {
                scft_unit(&solver, &plan, config, unit, &rejected)
            } else {
                lfts_unit(&solver, config, unit, &rejected)
            };
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            out
        })
        .collect();
    let mut samples = Vec::new();
    for out in outputs {
        samples.extend(out?);
    }
    let mut meta = DatasetMeta::new(model, Some(config.clone()));
    meta.rejected = rejected.load(Ordering::Relaxed) as u64;
    meta.shard = shard;
    Ok(Dataset::from_samples(meta, grid.mx, grid.my, samples))
}

fn grf_unit(
    solver: &ExactSolver,
    plan: &SpectralPlan,
    config: &GeneratorConfig,
    unit: usize,
    rejected: &AtomicUsize,
) -> Result<Sample> {
    let m = solver.grid().points();
    let mut rng = StreamRng::new(config.seed, unit as u64);
    let family = &config.grf;
    let mut parts = vec![vec![0.0; m]; 4];
    for attempt in 0..MAX_ATTEMPTS {
        let amplitude = rng.log_uniform_in(family.amplitude[0], family.amplitude[1]);
        let length = rng.log_uniform_in(family.correlation_length[0], family.correlation_length[1]);
        let mut w = vec![0.0; 2 * m];
        mixed_random_fields(plan, &mut rng, amplitude, length, &mut parts, &mut w);
        let mut phi = vec![0.0; 2 * m];
        let mut log_q = [0.0];
        match solver.solve_batch(&w, &mut phi, &mut log_q) {
            Ok(()) => {
                return Ok(Sample { w, phi, log_q: log_q[0], family: 0, chi: f64::NAN, run: unit as i64, step: 0 });
            }
            Err(_) if attempt + 1 < MAX_ATTEMPTS => {
                rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(Error::Dataset(format!("GRF unit {unit}: {MAX_ATTEMPTS} draws rejected, last: {e}"))),
        }
    }
    unreachable!()
}

/// Adds to `w` ([2][M]) smooth random fields of standard deviation
/// `amplitude` per channel and correlation length `length`: Dirichlet(1, 1, 1)
/// weights of an A/B-correlated, an anticorrelated and an independent part.
fn mixed_random_fields(
    plan: &SpectralPlan,
    rng: &mut StreamRng,
    amplitude: f64,
    length: f64,
    parts: &mut [Vec<f64>],
    w: &mut [f64],
) {
    let m = w.len() / 2;
    let e: Vec<f64> = (0..3).map(|_| -(1.0 - rng.uniform()).ln()).collect();
    let total: f64 = e.iter().sum();
    let weights: Vec<f64> = e.iter().map(|v| (v / total).sqrt()).collect();
    for part in parts.iter_mut() {
        gaussian_random_field(plan, rng, length, part);
    }
    for i in 0..m {
        let shared = weights[0] * parts[0][i];
        let anti = weights[1] * parts[1][i];
        w[i] += amplitude * (shared + anti + weights[2] * parts[2][i]);
        w[m + i] += amplitude * (shared - anti + weights[2] * parts[3][i]);
    }
}

fn scft_unit(
    solver: &ExactSolver,
    plan: &SpectralPlan,
    config: &GeneratorConfig,
    unit: usize,
    rejected: &AtomicUsize,
) -> Result<Vec<Sample>> {
    let family = &config.scft;
    let mut rng = StreamRng::new(config.seed, unit as u64);
    let m = solver.grid().points();
    for attempt in 0..MAX_ATTEMPTS {
        let chi = rng.uniform_in(family.chi[0], family.chi[1]);
        let init = InitialField::Random { amplitude: family.initial_noise };
        let w0 = init.fields(solver.model(), solver.grid(), chi, &mut rng);
        let scft_config = ScftConfig {
            chi,
            tolerance: 1e-8,
            max_iterations: family.max_iterations,
            record_every: 1,
            // The family is the fast iteration's path; a run that fails is redrawn.
            robust: false,
            ..Default::default()
        };
        match run_scft(solver, &scft_config, &w0, &mut |_, _| {}) {
            Ok(outcome) => {
                let path = outcome.history;
                let count = family.snapshots_per_run.min(path.len());
                let mut samples = Vec::with_capacity(count);
                let mut phi = vec![0.0; 2 * m];
                let mut log_q = [0.0];
                for j in 0..count {
                    let index = if count == 1 { path.len() - 1 } else { j * (path.len() - 1) / (count - 1) };
                    let visited = &path[index];
                    solver.solve_batch(&visited.w, &mut phi, &mut log_q)?;
                    samples.push(Sample {
                        w: visited.w.clone(),
                        phi: phi.clone(),
                        log_q: log_q[0],
                        family: 1,
                        chi,
                        run: unit as i64,
                        step: visited.iteration as i64,
                    });
                }
                // Perturbations after all snapshots, so adding copies leaves
                // the snapshots (and the run's stream up to here) unchanged.
                let mut parts = vec![vec![0.0; m]; 4];
                let snapshots = samples.len();
                for j in 0..snapshots * family.perturbed_copies {
                    let base = &samples[j / family.perturbed_copies];
                    let (step, mut w) = (base.step, base.w.clone());
                    let amplitude = rng.log_uniform_in(family.perturbation[0], family.perturbation[1]);
                    let length = rng.log_uniform_in(family.perturbation_length[0], family.perturbation_length[1]);
                    mixed_random_fields(plan, &mut rng, amplitude, length, &mut parts, &mut w);
                    // A perturbation that leaves the solver's domain is
                    // dropped and counted, not redrawn: the copy is optional.
                    if solver.solve_batch(&w, &mut phi, &mut log_q).is_err() {
                        rejected.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    samples.push(Sample {
                        w,
                        phi: phi.clone(),
                        log_q: log_q[0],
                        family: 3,
                        chi,
                        run: unit as i64,
                        step,
                    });
                }
                return Ok(samples);
            }
            Err(_) if attempt + 1 < MAX_ATTEMPTS => {
                rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(Error::Dataset(format!("SCFT unit {unit}: {MAX_ATTEMPTS} runs failed, last: {e}"))),
        }
    }
    unreachable!()
}

fn lfts_unit(
    solver: &ExactSolver,
    config: &GeneratorConfig,
    unit: usize,
    rejected: &AtomicUsize,
) -> Result<Vec<Sample>> {
    let family = &config.lfts;
    let mut rng = StreamRng::new(config.seed, unit as u64);
    let steps = family.steps;
    let count = family.snapshots_per_run.min(steps / 2 + 1);
    // Evenly over the second half, ending at the last step.
    let keep: Vec<usize> = (0..count)
        .map(|j| if count == 1 { steps } else { steps / 2 + j * (steps - steps / 2) / (count - 1) })
        .collect();
    for attempt in 0..MAX_ATTEMPTS {
        let chi = rng.uniform_in(family.chi[0], family.chi[1]);
        let run_seed = rng.next_u64();
        let beads_per_cell = match family.beads_per_cell_max {
            Some(hi) => rng.log_uniform_in(family.beads_per_cell, hi),
            None => family.beads_per_cell,
        };
        let w0 = InitialField::Random { amplitude: 0.01 }.fields(solver.model(), solver.grid(), chi, &mut rng);
        let lfts_config =
            LftsConfig::new(chi, beads_per_cell, family.step_size, run_seed).with_integrator(family.integrator);
        let run = || -> Result<Vec<Sample>> {
            let sampler = Lfts::new(lfts_config.clone(), crate::Solvers::exact(solver))?;
            let (mut state, _) = sampler.start(&w0, 0)?;
            let mut samples = Vec::with_capacity(count);
            let m = solver.grid().points();
            while state.step <= steps {
                if keep.contains(&state.step) {
                    let mut w = vec![0.0; 2 * m];
                    from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
                    let sample = Sample {
                        w,
                        phi: state.phi.clone(),
                        log_q: state.log_q,
                        family: 2,
                        chi,
                        run: unit as i64,
                        step: state.step as i64,
                    };
                    samples.push(sample);
                }
                if state.step == steps {
                    break;
                }
                state = sampler.step(&state)?.0;
            }
            Ok(samples)
        };
        match run() {
            Ok(samples) => return Ok(samples),
            Err(_) if attempt + 1 < MAX_ATTEMPTS => {
                rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(Error::Dataset(format!("L-FTS unit {unit}: {MAX_ATTEMPTS} runs failed, last: {e}"))),
        }
    }
    unreachable!()
}

/// Summary statistics for `dataset info`.
#[derive(Clone, Debug, Serialize)]
pub struct ChannelStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
}

impl ChannelStats {
    /// Statistics of channel `c` of a `[n][2][M]` tensor.
    pub fn of_channel(data: &[f64], m: usize, channel: usize) -> ChannelStats {
        let values = data.chunks(2 * m).flat_map(|s| s[channel * m..(channel + 1) * m].iter().copied());
        Self::of(values)
    }

    pub fn of(values: impl Iterator<Item = f64>) -> ChannelStats {
        let (mut min, mut max, mut sum, mut sum_sq, mut count) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0usize);
        for v in values {
            min = min.min(v);
            max = max.max(v);
            sum += v;
            sum_sq += v * v;
            count += 1;
        }
        let mean = sum / count.max(1) as f64;
        ChannelStats { min, max, mean, std: (sum_sq / count.max(1) as f64 - mean * mean).max(0.0).sqrt() }
    }
}
