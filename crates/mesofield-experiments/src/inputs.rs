//! What the loops start from: the chain model (a model file, a file's
//! metadata, or the paper's system) and the starting fields (a built-in
//! pattern on a grid, a file's first `w`, or a PSCF r-grid file).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};

use mesofield_physics::fields::InitialField;
use mesofield_physics::io::FieldFile;
use mesofield_physics::pscf::RGrid;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::{ChainModel, Grid};

/// The model file at `path`, else the paper's system.
pub fn load_model(path: Option<&Path>) -> Result<ChainModel> {
    match path {
        Some(p) => Ok(ChainModel::from_toml_file(p)?),
        None => Ok(ChainModel::default()),
    }
}

/// `model` (a model file) if given, else the `model` of `file`'s metadata,
/// else the paper's system.
pub fn model_for_input(model: Option<&Path>, file: &FieldFile) -> Result<ChainModel> {
    if model.is_some() {
        return load_model(model);
    }
    if let Some(meta) = file.metadata()?
        && let Some(value) = meta.get("model")
    {
        return ChainModel::from_json_value(value)
            .with_context(|| format!("{}: the model in its metadata", file.path.display()));
    }
    Ok(ChainModel::default())
}

/// Where a run's starting fields come from, parsed once from `--init`.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// A built-in pattern (random[:AMP], lamellar[:N], hex:NX:NY, square:NX:NY).
    Builtin(InitialField),
    /// A file's first `w` (its metadata gives the model unless a model file does).
    File(PathBuf),
    /// A PSCF r-grid file of w_A, w_B (`mesofield_physics::pscf`): the
    /// model from a model file or the defaults, its box the file's cell.
    Pscf(PathBuf),
    /// Fields the caller passes itself (an array from Python).
    Given,
}

impl FromStr for Start {
    type Err = anyhow::Error;
    fn from_str(init: &str) -> Result<Start> {
        if let Some(path) = init.strip_prefix("pscf:") {
            if !Path::new(path).exists() {
                bail!("--init pscf:{path}: {path} does not exist");
            }
            return Ok(Start::Pscf(PathBuf::from(path)));
        }
        match InitialField::parse(init) {
            Some(field) => Ok(Start::Builtin(field?)),
            None if Path::new(init).exists() => Ok(Start::File(PathBuf::from(init))),
            None => bail!(
                "--init {init:?} is neither a built-in (random[:AMP], lamellar[:N], hex:NX:NY, square:NX:NY), pscf:FILE nor an existing file"
            ),
        }
    }
}

/// Starting fields of `start` (a built-in on `grid`, MXxMY, or a file's
/// first `w`, whose metadata gives the model unless `model_path` does),
/// with the model and grid.
pub fn initial_fields(
    start: &Start,
    grid: &str,
    model_path: Option<&Path>,
    chi: f64,
    seed: u64,
) -> Result<(ChainModel, Grid, Vec<f64>)> {
    let model = load_model(model_path)?;
    let path = match start {
        Start::Builtin(field) => {
            let (mx, my) = Grid::parse_size(grid)?;
            let grid = Grid::for_model(&model, mx, my)?;
            let w = field.fields(&model, &grid, chi, &mut StreamRng::new(seed, 0));
            return Ok((model, grid, w));
        }
        Start::File(path) => path,
        Start::Pscf(path) => {
            let (grid, w) = pscf_fields(path, &model)?;
            return Ok((model, grid, w));
        }
        Start::Given => bail!("the starting fields are the caller's: there is nothing to read"),
    };
    let file = FieldFile::open(path)?;
    let model = if model_path.is_none() { model_for_input(None, &file)? } else { model };
    let (_, mx, my, w) = file.fields("w")?;
    let grid = Grid::for_model(&model, mx, my)?;
    if let Some(i) = w[..2 * grid.points()].iter().position(|v| !v.is_finite()) {
        bail!("{}: non-finite field value at index {i}", path.display());
    }
    Ok((model, grid, w[..2 * grid.points()].to_vec()))
}

/// w_A, w_B of a PSCF r-grid file on `model`'s box (its cell must be the
/// box: the two programs then share their length units).
pub fn pscf_fields(path: &Path, model: &ChainModel) -> Result<(Grid, Vec<f64>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rgrid = RGrid::parse(&text).with_context(|| path.display().to_string())?;
    if rgrid.monomers != 2 {
        bail!("{}: {} monomer types; mesofield's chain has two (A, B)", path.display(), rgrid.monomers);
    }
    let [lx, ly] = model.box_size;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    if !(close(rgrid.cell[0], lx) && close(rgrid.cell[1], ly)) {
        bail!(
            "{}: the PSCF cell is {} x {}, the model's box {lx} x {ly} (give --model with that box, in the units of PSCF's segment lengths)",
            path.display(),
            rgrid.cell[0],
            rgrid.cell[1]
        );
    }
    let grid = Grid::for_model(model, rgrid.mesh[0], rgrid.mesh[1])?;
    Ok((grid, rgrid.fields))
}

/// The starting fields of a built-in `init` (random[:AMP], lamellar[:N],
/// hex:NX:NY, square:NX:NY) on an `mx` x `my` grid, a random one drawn from
/// `seed`'s stream 0; None if `init` is not a built-in.
pub fn builtin_fields(
    init: &str,
    model: &ChainModel,
    [mx, my]: [usize; 2],
    chi: f64,
    seed: u64,
) -> Option<mesofield_physics::Result<(Grid, Vec<f64>)>> {
    let field = InitialField::parse(init)?;
    Some(field.and_then(|field| {
        let grid = Grid::for_model(model, mx, my)?;
        let w = field.fields(model, &grid, chi, &mut StreamRng::new(seed, 0));
        Ok((grid, w))
    }))
}
