//! Pattern `k` of `bench inverse`'s sweep (seed SEED), inverted against the
//! run's own densities (exactly the chain's image of the run's fields) and,
//! with `BOTH=1`, against phi_B = 1 - phi_A (what a phi_A-only file gives):
//! their difference is the compressor's residual phi_A + phi_B - 1. The
//! snapshots are cached in DIR.
//! `PTOL=X` runs the sampler's compressor to X instead of its default;
//! `TOL=X` inverts to X (1e-10); `BOTH=1` inverts against 1 - phi_A as
//! well; `SKIP64=1` leaves the 64x64 patterns out; `GEN_ONLY=1` only makes
//! and caches the patterns. One `RESULT k residual solve-equivalents` line
//! per inversion, for sweeping settings over a cached set.
//! `cargo run --release -p mesofield-experiments --example inv_consistency -- DIR SEED K...`

use std::time::Instant;

use mesofield_experiments::bench_inverse::{InverseSweepSpec, draw, snapshot};
use mesofield_physics::inverse::{InverseConfig, Inverter};
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

fn read(path: &str) -> Option<Vec<f64>> {
    let b = std::fs::read(path).ok()?;
    Some(b.chunks(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect())
}

fn write(path: &str, v: &[f64]) {
    std::fs::write(path, v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("DIR");
    let seed: u64 = args.next().expect("SEED").parse().unwrap();
    let ks: Vec<usize> = args.map(|s| s.parse().expect("K")).collect();
    let ptol: Option<f64> = std::env::var("PTOL").ok().map(|s| s.parse().unwrap());
    let tol: f64 = std::env::var("TOL").ok().map(|s| s.parse().unwrap()).unwrap_or(1e-10);
    let spec = InverseSweepSpec::full(seed);
    let model = ChainModel::default();
    std::fs::create_dir_all(&dir).unwrap();
    for k in ks {
        let (chi, b, lambda, _, snapshot_step, [mx, my], _) = draw(&spec, k);
        if std::env::var_os("SKIP64").is_some() && mx > 32 {
            continue;
        }
        let grid = Grid::for_model(&model, mx, my).unwrap();
        let exact = ExactSolver::new(&model, grid).unwrap();
        let m = grid.points();
        let path = format!("{dir}/{seed}_{k}_{}.bin", ptol.unwrap_or(0.0));
        let phi = match read(&path) {
            Some(phi) => phi,
            None => {
                let phi = snapshot(&spec, k, &exact, ptol).unwrap().phi;
                write(&path, &phi);
                phi
            }
        };
        let pressure = (0..m).map(|i| (phi[i] + phi[m + i] - 1.0).abs()).fold(0.0, f64::max);
        let min_a = phi[..m].iter().copied().fold(f64::INFINITY, f64::min);
        let min_b = phi[m..].iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "k {k}: chi {chi:.3} B {b:.0} lambda {lambda:.3} {mx}x{my} step {snapshot_step}: |phi_A+phi_B-1| {pressure:.1e}, min phi_A {min_a:.1e}, min phi_B {min_b:.1e}"
        );
        if std::env::var_os("GEN_ONLY").is_some() {
            continue;
        }
        let from_a: Vec<f64> = phi[..m].iter().copied().chain(phi[..m].iter().map(|v| 1.0 - v)).collect();
        let variants: Vec<(&str, &Vec<f64>)> = if std::env::var_os("BOTH").is_some() {
            vec![("1 - phi_A", &from_a), ("own phi_B", &phi)]
        } else {
            vec![("own phi_B", &phi)]
        };
        for (name, target) in variants {
            let config = InverseConfig { tolerance: tol, ..Default::default() };
            let inverter = Inverter::new(Solvers::exact(&exact), config).unwrap();
            let t = Instant::now();
            let (out, _) = inverter.invert(target, None).unwrap();
            let ra = (0..m).map(|i| (out.phi[i] - target[i]).abs()).fold(0.0, f64::max);
            let rp = (0..m).map(|i| (out.phi[i] + out.phi[m + i] - 1.0).abs()).fold(0.0, f64::max);
            println!("RESULT {k} {:.3e} {} {:.2}", out.residual, out.solve_equivalents(), t.elapsed().as_secs_f64());
            println!(
                "  {name}: phi_A residual {ra:.1e}, |phi_A+phi_B-1| {rp:.1e}, residual {:.1e} converged {} iterations {} newton {} solves {} products {} ({:.1} s)",
                out.residual,
                out.converged,
                out.iterations,
                out.newton_steps,
                out.solves,
                out.jacobian_products,
                t.elapsed().as_secs_f64()
            );
        }
    }
}
