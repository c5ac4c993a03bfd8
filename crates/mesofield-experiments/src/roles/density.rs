//! The density role (w -> phi): a Fourier neural operator checkpoint of
//! kind `density`, the operator every loop on `Solvers` takes.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};

use mesofield_fno::FnoOperator;
use mesofield_fno::vjp::FnoVjp;
use mesofield_inference::gradient::OperatorGradient;
use mesofield_physics::solver_set::{Density, Role};
use mesofield_physics::{ChainModel, Grid};

use crate::roles::OperatorRole;
use crate::solvers::Backend;

impl OperatorRole for Density {
    fn load(dir: &Path, backend: Backend, model: &ChainModel, grid: &Grid) -> Result<Arc<<Density as Role>::Operator>> {
        Ok(Arc::new(load_fno(dir, backend, model, grid)?))
    }
}

/// The density operator in `dir` for `grid`, refusing one trained for
/// another chain model or box.
pub fn load_fno(dir: &Path, backend: Backend, model: &ChainModel, grid: &Grid) -> Result<FnoOperator> {
    let op = FnoOperator::load(dir, grid.mx, grid.my, &backend.device()?)?;
    if &op.normalization.model != model {
        bail!(
            "--solver operator:{}: the operator was trained for another chain model or box than this run's",
            dir.display()
        );
    }
    Ok(op)
}

/// The density operator in `dir` (refused if trained for another chain)
/// and its autodiff data-term gradient, for denoising.
pub fn operator_with_gradient(
    dir: &Path,
    backend: Backend,
    model: &ChainModel,
    grid: &Grid,
) -> Result<(FnoOperator, OperatorGradient)> {
    Ok((load_fno(dir, backend, model, grid)?, operator_gradient(dir, backend, model, grid)?))
}

/// The autodiff data-term gradient of the density operator in `dir`.
pub fn operator_gradient(dir: &Path, backend: Backend, model: &ChainModel, grid: &Grid) -> Result<OperatorGradient> {
    let vjp = FnoVjp::load(dir, grid.mx, grid.my, &backend.device()?)?;
    Ok(OperatorGradient::new(vjp, model))
}
