//! PSCF's r-grid field files (pscfpp's `pscf_pc`, format 1 0), so a field
//! from one program starts the other.
//!
//! What the two programs share: PSCF's bead model is docs/model.md's chain,
//! its fields are per-monomer chemical potentials in kT like w_A and w_B,
//! and its lengths are in the units of its segment lengths, which are the
//! box units of `ChainModel` when the two models state the same b. A 2D
//! file is a `square` cell (one parameter, Lx = Ly) or a `rectangular` one
//! (Lx, Ly). Columns are monomer types in the order of PSCF's parameter
//! file: mesofield reads and writes column 0 as A and column 1 as B (a
//! parameter file listing A first). Rows are grid points with the first
//! index fastest (point (ix, iy) on row ix + Mx iy), where mesofield's
//! arrays are `[Mx][My]`, the last index fastest. Fields keep their gauge:
//! PSCF writes w with its pressure, mesofield accepts any constant.

use crate::error::{Error, Result};

/// The fields of an r-grid file, in mesofield's layout.
#[derive(Clone, Debug, PartialEq)]
pub struct RGrid {
    /// Lx, Ly.
    pub cell: [f64; 2],
    /// Mx, My.
    pub mesh: [usize; 2],
    /// `[monomer][Mx][My]`.
    pub fields: Vec<f64>,
    pub monomers: usize,
}

fn err(what: impl std::fmt::Display) -> Error {
    Error::Parameter(format!("PSCF r-grid file: {what}"))
}

impl RGrid {
    /// Parses a 2D r-grid file's text.
    pub fn parse(text: &str) -> Result<RGrid> {
        let mut tokens = text.split_whitespace().peekable();
        match (tokens.next(), tokens.next(), tokens.next()) {
            (Some("format"), Some(_), Some(_)) => {}
            _ => return Err(err("it does not begin with \"format\" and its version")),
        }
        let number = |key: &str, token: Option<&str>| -> Result<f64> {
            token.and_then(|t| t.parse::<f64>().ok()).ok_or_else(|| err(format!("{key} is not followed by a number")))
        };
        let (mut dim, mut system, mut cell, mut monomers, mut mesh) = (None, None, Vec::new(), None, None);
        while mesh.is_none() {
            let Some(key) = tokens.next() else { return Err(err("no mesh in the header")) };
            match key {
                "dim" => dim = Some(number(key, tokens.next())? as usize),
                "crystal_system" => system = tokens.next().map(|s| s.trim_matches('\'').to_string()),
                "N_cell_param" => {
                    let n = number(key, tokens.next())? as usize;
                    if n == 0 || n > 6 {
                        return Err(err(format!("N_cell_param {n}")));
                    }
                    if tokens.next() != Some("cell_param") {
                        return Err(err("N_cell_param is not followed by cell_param"));
                    }
                    cell = (0..n).map(|_| number("cell_param", tokens.next())).collect::<Result<_>>()?;
                }
                "group_name" => {
                    tokens.next();
                }
                "N_monomer" => monomers = Some(number(key, tokens.next())? as usize),
                "mesh" => {
                    let mx = number(key, tokens.next())? as usize;
                    let my = number(key, tokens.next())? as usize;
                    mesh = Some([mx, my]);
                }
                other => return Err(err(format!("unknown header entry {other:?}"))),
            }
        }
        if dim != Some(2) {
            return Err(err(format!("dim {dim:?}: mesofield reads 2D fields")));
        }
        let cell = match (system.as_deref(), cell.as_slice()) {
            (Some("square"), [a]) => [*a, *a],
            (Some("rectangular"), [a, b]) => [*a, *b],
            (s, c) => {
                return Err(err(format!(
                    "crystal_system {s:?} with {} cell parameters: mesofield's box is square or rectangular",
                    c.len()
                )));
            }
        };
        let monomers = monomers.ok_or_else(|| err("no N_monomer in the header"))?;
        let [mx, my] = mesh.expect("the loop ends at the mesh");
        if mx == 0 || my == 0 || monomers == 0 {
            return Err(err(format!("mesh {mx} x {my} with {monomers} monomers")));
        }
        let values: Vec<f64> = tokens
            .map(|t| t.parse::<f64>().map_err(|_| err(format!("{t:?} in the data is not a number"))))
            .collect::<Result<_>>()?;
        if values.len() != mx * my * monomers {
            return Err(err(format!(
                "{} values for a {mx} x {my} mesh of {monomers} monomers ({} expected)",
                values.len(),
                mx * my * monomers
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(err(format!("non-finite value at data entry {i}")));
        }
        let m = mx * my;
        let mut fields = vec![0.0; monomers * m];
        for (row, point) in values.chunks(monomers).enumerate() {
            let (ix, iy) = (row % mx, row / mx);
            for (k, v) in point.iter().enumerate() {
                fields[k * m + ix * my + iy] = *v;
            }
        }
        Ok(RGrid { cell, mesh: [mx, my], fields, monomers })
    }

    /// The file's text (`square` where Lx = Ly), every value with 17
    /// significant digits so that a round trip is exact.
    pub fn to_text(&self) -> String {
        let [mx, my] = self.mesh;
        let m = mx * my;
        let mut out = String::from(" format  1  0\n");
        let square = self.cell[0] == self.cell[1];
        out += "dim\n                   2\ncrystal_system\n";
        out += if square { "              square\n" } else { "         rectangular\n" };
        out += &format!("N_cell_param\n                   {}\ncell_param\n", if square { 1 } else { 2 });
        if square {
            out += &format!("    {:.16e}\n", self.cell[0]);
        } else {
            out += &format!("    {:.16e}    {:.16e}\n", self.cell[0], self.cell[1]);
        }
        out += &format!("N_monomer\n                   {}\nmesh\n{mx:>20}{my:>20}\n", self.monomers);
        for iy in 0..my {
            for ix in 0..mx {
                for k in 0..self.monomers {
                    out += &format!("  {:>24.16e}", self.fields[k * m + ix * my + iy]);
                }
                out.push('\n');
            }
        }
        out
    }
}
