//! The figure registry: every figure `mesofield reproduce` makes, listed
//! once. A new figure is its pipeline module (with a type implementing
//! `figure::Figure`), its experiment file and one line here.

use anyhow::{Result, anyhow};

use crate::figure::Figure;

/// Every figure `reproduce` makes, in the paper's order.
pub fn registry() -> [&'static dyn Figure; 5] {
    [
        &crate::fig1::Fig1,
        &crate::fig4::Fig2,
        &crate::fig3::Fig3,
        &crate::fig4::Fig4,
        &crate::dynamics_fig::DynamicsFigure,
    ]
}

/// The registered figure called `name`.
pub fn figure(name: &str) -> Result<&'static dyn Figure> {
    registry().into_iter().find(|f| f.name() == name).ok_or_else(|| {
        let names: Vec<&str> = registry().iter().map(|f| f.name()).collect();
        anyhow!("no figure {name:?}: the figures are {}", names.join(", "))
    })
}
