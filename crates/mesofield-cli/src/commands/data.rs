//! Data commands: `generate`, `dataset info|merge`, `plot`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use mesofield_experiments::files::{FileInfo, describe, kind_of};
use mesofield_experiments::inputs::load_model;
use mesofield_experiments::plot::{field_png, format_value};
use mesofield_physics::Grid;
use mesofield_physics::dataset::{
    ChannelStats, Dataset, FORMAT as DATASET_FORMAT, GeneratorConfig, GrfFamily, LftsFamily, ScftFamily, Shard,
};
use mesofield_physics::io::FieldFile;

use super::{Common, parse_range, print_json, reporter};

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, default_value = "32x32")]
    pub grid: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Gaussian-random-field samples.
    #[arg(long, default_value_t = 0)]
    pub grf: usize,
    /// GRF amplitude range LO,HI (standard deviation of each channel, kT per bead).
    #[arg(long, default_value = "0.001,0.02")]
    pub amplitude: String,
    /// GRF correlation-length range LO,HI (box units).
    #[arg(long, default_value = "0.3,1.6")]
    pub correlation_length: String,
    /// SCFT runs from random starts (each gives --snapshots samples).
    #[arg(long, default_value_t = 0)]
    pub scft_runs: usize,
    #[arg(long, default_value_t = 8)]
    pub snapshots: usize,
    /// chi range LO,HI of the SCFT runs.
    #[arg(long, default_value = "0.1,1.0")]
    pub chi: String,
    #[arg(long, default_value_t = 400)]
    pub scft_iterations: usize,
    /// Perturbed copies of each SCFT snapshot (family scft_perturbed): they
    /// teach an operator the response near the SCFT path.
    #[arg(long, default_value_t = 0)]
    pub perturbed_copies: usize,
    /// Amplitude range LO,HI of the perturbations (kT per bead).
    #[arg(long, default_value = "0.001,0.01")]
    pub perturbation: String,
    /// Correlation-length range LO,HI of the perturbations (box units).
    #[arg(long, default_value = "0.15,1.0")]
    pub perturbation_length: String,
    /// L-FTS runs from random starts (each gives --snapshots samples from its second half).
    #[arg(long, default_value_t = 0)]
    pub lfts_runs: usize,
    /// chi range LO,HI of the L-FTS runs.
    #[arg(long, default_value = "0.1,0.8")]
    pub lfts_chi: String,
    #[arg(long, default_value_t = 400)]
    pub lfts_steps: usize,
    /// B of the L-FTS runs: one value, or LO,HI for B log-uniform per run.
    #[arg(long, default_value = "100")]
    pub lfts_beads_per_cell: String,
    #[arg(long, default_value_t = 0.02)]
    pub lfts_step_size: f64,
    /// Make shard i of n (0-based), e.g. 3/10.
    #[arg(long)]
    pub shard: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Shapes, parameters and field/density statistics.
    Info {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Join shards into the file the unsharded run makes.
    Merge {
        #[arg(long)]
        out: PathBuf,
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct PlotArgs {
    #[arg(long)]
    pub input: PathBuf,
    /// Tensor to draw: w or phi.
    #[arg(long, default_value = "phi")]
    pub tensor: String,
    #[arg(long, default_value_t = 0)]
    pub sample: usize,
    /// 0 = A, 1 = B.
    #[arg(long, default_value_t = 0)]
    pub channel: usize,
    /// Fixed colour range LO,HI (default: the field's min and max).
    #[arg(long)]
    pub range: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn dataset(command: &DatasetCommand) -> Result<()> {
    match command {
        DatasetCommand::Info { file, json } => info(file, *json),
        DatasetCommand::Merge { out, shards, json } => merge(out, shards, *json),
    }
}

/// A dataset in full (families, generator, statistics); any other file
/// mesofield writes by its kind, tensors and metadata.
fn info(path: &Path, json_out: bool) -> Result<()> {
    let file = FieldFile::open(path)?;
    let (format, _) = kind_of(&file)?;
    if format == DATASET_FORMAT {
        return dataset_info(path, json_out);
    }
    let info = describe(&file)?;
    if json_out {
        print_json(&json!({"file": path, "info": info}));
    } else {
        print_file_info(path, &info);
    }
    Ok(())
}

fn print_file_info(path: &Path, info: &FileInfo) {
    println!("{}: {} (format {})", path.display(), info.kind, info.format);
    if let Some(model) = &info.model {
        println!("model: {model}");
    }
    for t in &info.tensors {
        println!("  {:8} {:?}", t.name, t.shape);
        for (c, s) in t.channels.iter().enumerate() {
            let label = if t.channels.len() == 2 { ["A", "B"][c] } else { "" };
            println!(
                "    {label:1} min {:>12} max {:>12} mean {:>12} std {:>12}",
                format_value(s.min),
                format_value(s.max),
                format_value(s.mean),
                format_value(s.std)
            );
        }
    }
    println!("  metadata: {}", info.metadata);
}

pub fn generate(a: &GenerateArgs) -> Result<()> {
    let model = load_model(a.model.as_deref())?;
    let (mx, my) = Grid::parse_size(&a.grid)?;
    let b_range = parse_range(&a.lfts_beads_per_cell, "--lfts-beads-per-cell")?;
    let config = GeneratorConfig {
        grid: [mx, my],
        seed: a.seed,
        grf: GrfFamily {
            samples: a.grf,
            amplitude: parse_range(&a.amplitude, "--amplitude")?,
            correlation_length: parse_range(&a.correlation_length, "--correlation-length")?,
        },
        scft: ScftFamily {
            runs: a.scft_runs,
            snapshots_per_run: a.snapshots,
            chi: parse_range(&a.chi, "--chi")?,
            max_iterations: a.scft_iterations,
            perturbed_copies: a.perturbed_copies,
            perturbation: parse_range(&a.perturbation, "--perturbation")?,
            perturbation_length: parse_range(&a.perturbation_length, "--perturbation-length")?,
            ..Default::default()
        },
        lfts: LftsFamily::with_beads_per_cell(
            b_range,
            LftsFamily {
                runs: a.lfts_runs,
                snapshots_per_run: a.snapshots,
                chi: parse_range(&a.lfts_chi, "--lfts-chi")?,
                steps: a.lfts_steps,
                step_size: a.lfts_step_size,
                ..Default::default()
            },
        ),
    };
    config.validate()?;
    let shard = a.shard.as_deref().map(Shard::parse).transpose()?;
    let units = shard.map(|s| s.range(config.units()).len()).unwrap_or(config.units());
    let stage = reporter().stage(units as u64, "generate");
    let start = Instant::now();
    let dataset =
        mesofield_physics::dataset::generate(&model, &config, shard, &|done| stage.set_position(done as u64))?;
    stage.finish();
    dataset.save(&a.out)?;
    let seconds = start.elapsed().as_secs_f64();
    let report = json!({"samples": dataset.len(), "units": units, "rejected": dataset.meta.rejected,
                        "seconds": seconds, "samples_per_second": dataset.len() as f64 / seconds, "out": a.out});
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "{} samples ({} rejected draws) in {seconds:.2} s ({:.1} samples/s) -> {}",
            dataset.len(),
            dataset.meta.rejected,
            dataset.len() as f64 / seconds,
            a.out.display()
        );
    }
    Ok(())
}

fn dataset_info(path: &Path, json_out: bool) -> Result<()> {
    let d = Dataset::load(path)?;
    let m = d.mx * d.my;
    let mut families = serde_json::Map::new();
    for (code, name) in d.meta.families.iter().enumerate() {
        let count = d.family.iter().filter(|&&f| f as usize == code).count();
        if count > 0 {
            families.insert(name.clone(), json!(count));
        }
    }
    let chi = ChannelStats::of(d.chi.iter().copied().filter(|v| v.is_finite()));
    let report = json!({
        "file": path, "samples": d.len(), "grid": [d.mx, d.my], "model": d.meta.model, "generator": d.meta.generator,
        "rejected": d.meta.rejected, "shard": d.meta.shard, "families": families,
        "w_a": ChannelStats::of_channel(&d.w, m, 0), "w_b": ChannelStats::of_channel(&d.w, m, 1),
        "phi_a": ChannelStats::of_channel(&d.phi, m, 0), "phi_b": ChannelStats::of_channel(&d.phi, m, 1),
        "log_q": ChannelStats::of(d.log_q.iter().copied()),
        "chi": if chi.min.is_finite() { json!(chi) } else { json!(null) },
    });
    if json_out {
        print_json(&report);
    } else {
        println!(
            "{}: {} samples on {}x{}, families {}",
            path.display(),
            d.len(),
            d.mx,
            d.my,
            serde_json::Value::Object(families)
        );
        println!("model: {}", serde_json::to_string(&d.meta.model)?);
        for key in ["w_a", "w_b", "phi_a", "phi_b", "log_q", "chi"] {
            let s = &report[key];
            if s.is_null() {
                continue;
            }
            println!(
                "  {key:6} min {:>12} max {:>12} mean {:>12} std {:>12}",
                format_value(s["min"].as_f64().unwrap_or(f64::NAN)),
                format_value(s["max"].as_f64().unwrap_or(f64::NAN)),
                format_value(s["mean"].as_f64().unwrap_or(f64::NAN)),
                format_value(s["std"].as_f64().unwrap_or(f64::NAN))
            );
        }
        println!("  rejected draws: {}", d.meta.rejected);
    }
    Ok(())
}

fn merge(out: &Path, shards: &[PathBuf], json_out: bool) -> Result<()> {
    let loaded = shards.iter().map(|p| Dataset::load(p)).collect::<Result<Vec<_>, _>>()?;
    let merged = Dataset::merge(loaded)?;
    merged.save(out)?;
    if json_out {
        print_json(
            &json!({"shards": shards.len(), "samples": merged.len(), "rejected": merged.meta.rejected, "out": out}),
        );
        return Ok(());
    }
    println!("merged {} shards, {} samples -> {}", shards.len(), merged.len(), out.display());
    Ok(())
}

pub fn plot(a: &PlotArgs) -> Result<()> {
    let file = FieldFile::open(&a.input)?;
    // Patterns files (noise, denoise) hold `phi_a` [n, Mx, My] rather than `phi`.
    let tensor = if a.tensor == "phi" && !file.has("phi") && file.has("phi_a") { "phi_a" } else { a.tensor.as_str() };
    let (shape, data) = file.f64_tensor(tensor)?;
    let (n, channels, mx, my) = match *shape.as_slice() {
        [n, 2, mx, my] => (n, 2, mx, my),
        [n, mx, my] => (n, 1, mx, my),
        [mx, my] => (1, 1, mx, my),
        _ => bail!("{}: tensor {tensor:?} has shape {shape:?}, not a field to draw", a.input.display()),
    };
    if a.sample >= n {
        bail!("--sample {} out of range: {} holds {n} samples", a.sample, a.input.display());
    }
    if a.channel >= channels {
        bail!(
            "--channel must be 0 (A){}, got {}",
            if channels == 2 { " or 1 (B)" } else { " for this tensor" },
            a.channel
        );
    }
    let m = mx * my;
    let offset = (a.sample * channels + a.channel) * m;
    let values = &data[offset..offset + m];
    if values.iter().any(|v| !v.is_finite()) {
        bail!("{} sample {} channel {} holds non-finite values", tensor, a.sample, a.channel);
    }
    let range = a.range.as_deref().map(|r| parse_range(r, "--range")).transpose()?.map(|[lo, hi]| (lo, hi));
    let (lo, hi) = field_png(values, mx, my, range, &a.out)?;
    if a.json {
        print_json(
            &json!({"tensor": a.tensor, "sample": a.sample, "channel": a.channel, "min": lo, "max": hi, "out": a.out}),
        );
        return Ok(());
    }
    println!(
        "{} sample {} channel {} range [{}, {}] -> {}",
        a.tensor,
        a.sample,
        a.channel,
        format_value(lo),
        format_value(hi),
        a.out.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// A mesofield file with `w` or `phi` [n, 2, Mx, My] (`solve`, `scft`, `sample`'s snapshots).
    #[arg(long)]
    pub input: PathBuf,
    /// pscf-rgrid: PSCF's r-grid field file (column 0 A, column 1 B, first
    /// index fastest; `--init pscf:FILE` reads it back).
    #[arg(long, default_value = "pscf-rgrid")]
    pub format: String,
    /// Tensor to write: w (PSCF's w fields) or phi (its c fields).
    #[arg(long, default_value = "w")]
    pub tensor: String,
    #[arg(long, default_value_t = 0)]
    pub sample: usize,
    /// The chain and box (default: the file's metadata, else the paper's system): the cell of the file.
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: Common,
}

/// One sample of a field file as another program's file.
pub fn export(a: &ExportArgs) -> Result<()> {
    if a.format != "pscf-rgrid" {
        bail!("--format {:?}: the formats are pscf-rgrid", a.format);
    }
    if a.tensor != "w" && a.tensor != "phi" {
        bail!("--tensor {:?}: w or phi", a.tensor);
    }
    let file = FieldFile::open(&a.input)?;
    let model = mesofield_experiments::inputs::model_for_input(a.model.as_deref(), &file)?;
    let (n, mx, my, data) = file.fields(&a.tensor)?;
    if a.sample >= n {
        bail!("--sample {} out of range: {} holds {n} samples", a.sample, a.input.display());
    }
    let m = mx * my;
    let fields = data[2 * m * a.sample..2 * m * (a.sample + 1)].to_vec();
    if let Some(i) = fields.iter().position(|v| !v.is_finite()) {
        bail!("{}: non-finite {} value at index {i} of sample {}", a.input.display(), a.tensor, a.sample);
    }
    let rgrid = mesofield_physics::pscf::RGrid { cell: model.box_size, mesh: [mx, my], fields, monomers: 2 };
    mesofield_physics::io::write_atomic(&a.out, rgrid.to_text().as_bytes())?;
    if a.common.json {
        print_json(&json!({"out": a.out, "format": a.format, "tensor": a.tensor, "sample": a.sample,
                           "mesh": [mx, my], "cell": model.box_size}));
    } else {
        println!(
            "{} sample {} -> {} (PSCF r-grid, {mx} x {my}, cell {} x {})",
            a.tensor,
            a.sample,
            a.out.display(),
            model.box_size[0],
            model.box_size[1]
        );
    }
    Ok(())
}
