//! The Newton step's operator at the root of pattern `k` of `bench
//! inverse`'s sweep (seed SEED): the exact Jacobian J at the fields the
//! inverse map finds, right-multiplied by the base preconditioner
//! D S^{-1} D, written as a dense float64 matrix (little-endian, column j
//! the image of unit vector j) for an eigenvalue analysis elsewhere:
//! `numpy.fromfile(OUT).reshape(n, n).T` is the matrix, its eigenvalues
//! those of the Newton systems near the root (the residual's scaling G is
//! a similarity). Also writes the pattern's densities to OUT.phi. Patterns
//! are made (and cached in DIR) as `inv_consistency` makes them.
//! `cargo run --release -p mesofield-experiments --example inv_spectrum -- DIR SEED K OUT`

use anyhow::{Context, Result, bail};

use mesofield_experiments::bench_inverse::{InverseSweepSpec, draw, snapshot};
use mesofield_physics::inverse::{InverseConfig, InverseResponse, Inverter};
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

fn write(path: &str, v: &[f64]) -> Result<()> {
    std::fs::write(path, v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).with_context(|| path.to_string())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, seed, k, out] = &args[..] else { bail!("usage: inv_spectrum DIR SEED K OUT") };
    let (seed, k): (u64, usize) = (seed.parse()?, k.parse()?);
    let spec = InverseSweepSpec::full(seed);
    let model = ChainModel::default();
    let (_, _, _, _, _, [mx, my], _) = draw(&spec, k);
    let grid = Grid::for_model(&model, mx, my)?;
    let exact = ExactSolver::new(&model, grid)?;
    let cached = format!("{dir}/{seed}_{k}_0.bin");
    let phi: Vec<f64> = match std::fs::read(&cached) {
        Ok(b) => b.chunks(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect(),
        Err(_) => {
            std::fs::create_dir_all(dir)?;
            let phi = snapshot(&spec, k, &exact, None)?.phi;
            write(&cached, &phi)?;
            phi
        }
    };
    let inverter = Inverter::new(Solvers::exact(&exact), InverseConfig::default())?;
    let (found, _) = inverter.invert(&phi, None)?;
    eprintln!("pattern {k}: inverted to {:.1e}", found.residual);
    let n = phi.len();
    let m = n / 2;
    let f = model.f_a();
    let response = InverseResponse::new(&exact);
    let mut scratch = response.scratch();
    let mut lin = exact.linearize(&found.w)?;
    // D as the Newton iteration sets it (densities floored at 1e-3 of the
    // channel's mean).
    let scale: Vec<f64> = (0..n)
        .map(|i| {
            let phi0 = if i < m { f } else { 1.0 - f };
            (phi0 / lin.phi()[i].abs().max(1e-3 * phi0)).sqrt()
        })
        .collect();
    let mut matrix = vec![0.0; n * n];
    let (mut unit, mut z) = (vec![0.0; n], vec![0.0; n]);
    for j in 0..n {
        unit.fill(0.0);
        unit[j] = 1.0;
        response.apply_scaled(&mut scratch, &scale, &unit, &mut z);
        let column = &mut matrix[j * n..(j + 1) * n];
        lin.apply(&z, column)?;
        column.iter_mut().for_each(|x| *x = -*x);
    }
    write(out, &matrix)?;
    write(&format!("{out}.phi"), &phi)?;
    Ok(())
}
