//! Observed patterns: phi_A on the grid (phi_B = 1 - phi_A unless the file
//! gives phi_B too), from the files users have: safetensors (`phi`
//! [n, 2, Mx, My] or `phi_a` [n, Mx, My], a single sample without the
//! leading n), NumPy `.npy` ([n, Mx, My] or [Mx, My], float32 or float64, C
//! order) and grayscale PNG (0..max scaled to a given phi range; x left to
//! right, y upwards, as `plot` draws fields).
//!
//! Why phi_B from the file where it has one: an L-FTS snapshot's densities
//! meet phi_A + phi_B = 1 only to its compressor's tolerance (1e-6 by
//! default), so 1 - phi_A is not quite a density pair the chain makes.
//! Measured on L-FTS snapshots of `bench inverse`'s sweep (seed 2029,
//! patterns 3 and 6): against 1 - phi_A the inverse map stalled at 1.3e-6
//! and 4.7e-6 after 10-15 thousand exact-solve equivalents; against the
//! snapshots' own phi_B it converged to 1e-11 in 3-7 thousand, as it did
//! against 1 - phi_A from runs whose compressor went to 1e-11.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use mesofield_physics::ChainModel;
use mesofield_physics::io::FieldFile;

/// How far a pattern may stray outside (0, 1): exact densities of strong
/// fields do, by the band-limited kernel's negative lobes (docs/model.md).
const PATTERN_SLACK: f64 = 0.01;

#[derive(Clone, Debug)]
pub struct Patterns {
    pub n: usize,
    pub mx: usize,
    pub my: usize,
    /// `[n][Mx*My]`.
    pub phi_a: Vec<f64>,
    /// `[n][Mx*My]` phi_B where the file gives both densities (mesofield's
    /// snapshots do); None: phi_B = 1 - phi_A.
    pub phi_b: Option<Vec<f64>>,
    /// The chain model of the file's metadata, if it names one.
    pub model: Option<ChainModel>,
}

impl Patterns {
    pub fn points(&self) -> usize {
        self.mx * self.my
    }

    pub fn sample(&self, s: usize) -> &[f64] {
        &self.phi_a[s * self.points()..(s + 1) * self.points()]
    }

    /// `[n][2][M]` densities: phi_B from the file, else 1 - phi_A.
    pub fn densities(&self) -> Vec<f64> {
        let m = self.points();
        let mut out = Vec::with_capacity(2 * self.phi_a.len());
        for s in 0..self.n {
            let a = self.sample(s);
            out.extend_from_slice(a);
            match &self.phi_b {
                Some(b) => out.extend_from_slice(&b[s * m..(s + 1) * m]),
                None => out.extend(a.iter().map(|v| 1.0 - v)),
            }
        }
        debug_assert_eq!(out.len(), 2 * self.n * m);
        out
    }

    /// The chain model: `explicit` (a model file) if given, else the one
    /// named in the patterns' metadata, else the paper's system.
    pub fn chain_model(&self, explicit: Option<&Path>) -> Result<ChainModel> {
        Ok(match (explicit, &self.model) {
            (Some(path), _) => ChainModel::from_toml_file(path)?,
            (None, Some(m)) => m.clone(),
            (None, None) => ChainModel::default(),
        })
    }

    /// The clean patterns of `--truth` at `path`, one per pattern of `self`
    /// and on its grid.
    pub fn load_truth(&self, path: &Path, phi_range: [f64; 2]) -> Result<Patterns> {
        let truth = load_patterns(path, phi_range, true)?;
        truth.expect_grid(self.mx, self.my, &format!("--truth {}", path.display()))?;
        if truth.n != self.n {
            bail!("--truth has {} patterns, --input {}", truth.n, self.n);
        }
        Ok(truth)
    }

    /// Refuses a pattern on another grid than `(mx, my)`.
    pub fn expect_grid(&self, mx: usize, my: usize, what: &str) -> Result<()> {
        if (self.mx, self.my) != (mx, my) {
            bail!("{what} is {}x{}, expected {mx}x{my} like the other patterns", self.mx, self.my);
        }
        Ok(())
    }

    /// Every value finite and, if `bounded`, within (0, 1) up to `PATTERN_SLACK`.
    pub fn validate(&self, what: &str, bounded: bool) -> Result<()> {
        let m = self.points();
        if let Some(i) = self.phi_b.as_ref().and_then(|b| b.iter().position(|v| !v.is_finite())) {
            let (s, ix, iy) = (i / m, (i % m) / self.my, i % self.my);
            bail!("{what}: sample {s} has a non-finite phi_B at grid point ({ix}, {iy})");
        }
        for (i, &v) in self.phi_a.iter().enumerate() {
            let (s, ix, iy) = (i / m, (i % m) / self.my, i % self.my);
            if !v.is_finite() {
                bail!("{what}: sample {s} has a non-finite value {v} at grid point ({ix}, {iy})");
            }
            if bounded && !(-PATTERN_SLACK..=1.0 + PATTERN_SLACK).contains(&v) {
                bail!(
                    "{what}: sample {s} has phi_A = {v} at grid point ({ix}, {iy}), outside (0, 1): \
                     a pattern is a volume fraction"
                );
            }
        }
        Ok(())
    }

    /// Shifts each sample so mean(phi_A) = f (and mean(phi_B) = 1 - f where
    /// the file gives phi_B), the fractions the chain fixes (no field can
    /// change them); returns phi_A's shifts.
    pub fn match_mean(&mut self, f_a: f64) -> Vec<f64> {
        let m = self.points();
        let shift_to = |values: &mut [f64], mean: f64| -> Vec<f64> {
            values
                .chunks_mut(m)
                .map(|s| {
                    let shift = mean - s.iter().sum::<f64>() / m as f64;
                    s.iter_mut().for_each(|v| *v += shift);
                    shift
                })
                .collect()
        };
        if let Some(b) = self.phi_b.as_mut() {
            shift_to(b, 1.0 - f_a);
        }
        shift_to(&mut self.phi_a, f_a)
    }

    /// phi_B of every sample, from the file or 1 - phi_A.
    fn phi_b_or_complement(&self) -> Vec<f64> {
        self.phi_b.clone().unwrap_or_else(|| self.phi_a.iter().map(|v| 1.0 - v).collect())
    }
}

/// Loads patterns from `path` by its extension; `phi_range` maps a PNG's
/// black..white to phi_A. `clean` patterns must lie in (0, 1); noisy
/// observations need only be finite.
pub fn load_patterns(path: &Path, phi_range: [f64; 2], clean: bool) -> Result<Patterns> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let patterns = match ext.as_str() {
        "safetensors" => from_safetensors(path)?,
        "npy" => from_npy(path)?,
        "png" => from_png(path, phi_range)?,
        _ => bail!("{}: unknown pattern format (expected .safetensors, .npy or .png)", path.display()),
    };
    patterns.validate(&path.display().to_string(), clean)?;
    Ok(patterns)
}

/// Patterns of several files, one after another (all on one grid).
pub fn load_many(paths: &[std::path::PathBuf], phi_range: [f64; 2], clean: bool) -> Result<Patterns> {
    let mut all: Option<Patterns> = None;
    for path in paths {
        let p = load_patterns(path, phi_range, clean)?;
        match all.as_mut() {
            None => all = Some(p),
            Some(a) => {
                p.expect_grid(a.mx, a.my, &path.display().to_string())?;
                // phi_B from the files that give it, 1 - phi_A for the others.
                if a.phi_b.is_some() || p.phi_b.is_some() {
                    let mut b = a.phi_b_or_complement();
                    b.extend(p.phi_b_or_complement());
                    a.phi_b = Some(b);
                }
                a.n += p.n;
                a.phi_a.extend(p.phi_a);
                if a.model.is_none() {
                    a.model = p.model;
                }
            }
        }
    }
    all.ok_or_else(|| anyhow!("no pattern files given"))
}

fn from_safetensors(path: &Path) -> Result<Patterns> {
    let file = FieldFile::open(path)?;
    let model = match file.metadata()?.as_ref().and_then(|m| m.get("model")) {
        Some(value) => Some(
            ChainModel::from_json_value(value)
                .with_context(|| format!("{}: the model in its metadata", path.display()))?,
        ),
        None => None,
    };
    let (shape, data, two_channel) = if file.has("phi") {
        let (shape, data) = file.f64_tensor("phi")?;
        (shape, data, true)
    } else if file.has("phi_a") {
        let (shape, data) = file.f64_tensor("phi_a")?;
        (shape, data, false)
    } else {
        bail!("{}: no tensor \"phi\" [n, 2, Mx, My] or \"phi_a\" [n, Mx, My]", path.display());
    };
    let (n, mx, my) = match (two_channel, shape.as_slice()) {
        (true, &[n, 2, mx, my]) => (n, mx, my),
        (true, &[2, mx, my]) => (1, mx, my),
        (false, &[n, mx, my]) => (n, mx, my),
        (false, &[mx, my]) => (1, mx, my),
        _ => bail!(
            "{}: tensor {:?} has shape {shape:?}, expected {}",
            path.display(),
            if two_channel { "phi" } else { "phi_a" },
            if two_channel { "[n, 2, Mx, My] or [2, Mx, My]" } else { "[n, Mx, My] or [Mx, My]" }
        ),
    };
    check_size(path, n, mx, my)?;
    let m = mx * my;
    let (phi_a, phi_b) = if two_channel {
        let channel = |c: usize| data.chunks(2 * m).flat_map(|s| s[c * m..(c + 1) * m].to_vec()).collect();
        (channel(0), Some(channel(1)))
    } else {
        (data, None)
    };
    Ok(Patterns { n, mx, my, phi_a, phi_b, model })
}

fn check_size(path: &Path, n: usize, mx: usize, my: usize) -> Result<()> {
    if n == 0 || mx < 2 || my < 2 {
        bail!("{}: {n} patterns of {mx}x{my}: need at least one pattern of at least 2x2", path.display());
    }
    Ok(())
}

fn from_npy(path: &Path) -> Result<Patterns> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = |e: std::io::Error| anyhow!("{}: not a valid .npy file (truncated or foreign?): {e}", path.display());
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(bad)?;
    if npy.order() != npyz::Order::C {
        bail!("{}: Fortran-order arrays are not supported; save with C order", path.display());
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let (n, mx, my) = match shape.as_slice() {
        &[n, mx, my] => (n, mx, my),
        &[mx, my] => (1, mx, my),
        _ => bail!("{}: array of shape {shape:?}, expected [n, Mx, My] or [Mx, My]", path.display()),
    };
    check_size(path, n, mx, my)?;
    let descr = match npy.dtype() {
        npyz::DType::Plain(type_str) => type_str.to_string(),
        other => bail!("{}: a structured array ({}), expected float32 or float64", path.display(), other.descr()),
    };
    let phi_a: Vec<f64> = match descr.trim_start_matches(['<', '|', '=']) {
        "f8" => npy.into_vec::<f64>().map_err(bad)?,
        "f4" => npy.into_vec::<f32>().map_err(bad)?.into_iter().map(f64::from).collect(),
        _ => bail!("{}: dtype {descr}, expected little-endian float32 or float64", path.display()),
    };
    if phi_a.len() != n * mx * my {
        bail!("{}: truncated: {} values for shape {shape:?}", path.display(), phi_a.len());
    }
    Ok(Patterns { n, mx, my, phi_a, phi_b: None, model: None })
}

fn from_png(path: &Path, [lo, hi]: [f64; 2]) -> Result<Patterns> {
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        bail!("--phi-range {lo},{hi}: expected finite LO < HI");
    }
    let img = image::open(path).with_context(|| format!("{}: cannot read as PNG", path.display()))?;
    if img.color().has_color() {
        bail!("{}: a colour PNG; a pattern is a grayscale picture", path.display());
    }
    let gray = img.to_luma16();
    let (mx, my) = (gray.width() as usize, gray.height() as usize);
    check_size(path, 1, mx, my)?;
    let mut phi_a = vec![0.0; mx * my];
    for (x, y, p) in gray.enumerate_pixels() {
        let (ix, iy) = (x as usize, my - 1 - y as usize);
        phi_a[ix * my + iy] = lo + (hi - lo) * p.0[0] as f64 / u16::MAX as f64;
    }
    Ok(Patterns { n: 1, mx, my, phi_a, phi_b: None, model: None })
}
