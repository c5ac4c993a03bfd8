use mesofield_physics::fields::InitialField;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mixing: f64 = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(0.5);
    let history: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(20);
    let hex = ChainModel::pscf_hex_bead();
    let def = ChainModel::default();
    let cases: Vec<(&str, ChainModel, (usize, usize), f64, InitialField, f64)> = vec![
        ("hex_bead", hex.clone(), (32, 56), 0.2, InitialField::Hex { nx: 1, ny: 1 }, 0.0),
        ("default lam+noise chi0.3", def.clone(), (32, 32), 0.3, InitialField::Lamellar { periods: 1 }, 0.05),
        ("default lam2+noise chi0.3", def.clone(), (32, 32), 0.3, InitialField::Lamellar { periods: 2 }, 0.05),
        ("default random chi0.3", def.clone(), (32, 32), 0.3, InitialField::Random { amplitude: 0.1 }, 0.0),
        ("default random chi0.5", def.clone(), (32, 32), 0.5, InitialField::Random { amplitude: 0.1 }, 0.0),
        ("default random chi1.0", def.clone(), (32, 32), 1.0, InitialField::Random { amplitude: 0.1 }, 0.0),
        ("default random chi0.1", def.clone(), (32, 32), 0.1, InitialField::Random { amplitude: 0.1 }, 0.0),
    ];
    for (name, model, (mx, my), chi, init, noise) in cases {
        let grid = Grid::for_model(&model, mx, my).unwrap();
        let solver = ExactSolver::new(&model, grid).unwrap();
        let mut rng = StreamRng::new(7, 0);
        let mut w = init.fields(&model, &grid, chi, &mut rng);
        for i in 0..grid.points() {
            let z = noise * chi * 0.5 * rng.normal();
            w[i] -= z;
            w[grid.points() + i] += z;
        }
        let cfg = ScftConfig {
            chi,
            tolerance: 1e-10,
            max_iterations: 3000,
            history,
            mixing,
            anderson_below: args.get(3).map(|s| s.parse().unwrap()).unwrap_or(1e-2),
            record_every: 0,
            ..Default::default()
        };
        let trace = std::env::var("TRACE").is_ok();
        let out = match run_scft(&solver, &cfg, &w, &mut |it, r| {
            if trace && (it % 20 == 0 || it < 10) {
                println!("  {it} {r:.3e}")
            }
        }) {
            Ok(o) => o,
            Err(e) => {
                println!("{name}: {e}");
                continue;
            }
        };
        let pa = &out.phi[..grid.points()];
        let (mn, mxv) = pa.iter().fold((1e9f64, -1e9f64), |a, &v| (a.0.min(v), a.1.max(v)));
        println!(
            "{name:30} it={:5} solves={:5} restarts={:3} res={:.2e} dF={:.10} phiA=[{mn:.3},{mxv:.3}] {:.1} ms ({:.3} ms/it)",
            out.iterations,
            out.solves,
            out.restarts,
            out.residual,
            out.d_f,
            out.seconds * 1e3,
            out.seconds * 1e3 / out.solves as f64
        );
    }
}
