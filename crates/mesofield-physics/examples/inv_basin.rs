//! How far from a known solution Newton's method still finds one: an L-FTS
//! pattern at chi = 1.0 grown from random fields (as `inv_random`: B = 100,
//! step 0.05, 32x32, `random:0.1`), inverted by Newton alone from the run's
//! own fields plus Gaussian noise of each standard deviation EPS, then (unless
//! NEWTON_ONLY is set) by the full `invert` from the same start.
//! `cargo run --release -p mesofield-physics --example inv_basin -- SEED STEPS EPS...`
use mesofield_physics::fields::{InitialField, from_exchange_pressure};
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::inverse::{InverseConfig, invert};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().unwrap().parse().unwrap();
    let snap: usize = args.next().unwrap().parse().unwrap();
    let eps: Vec<f64> = args.map(|s| s.parse().unwrap()).collect();
    let chi = 1.0;
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    let mut config = LftsConfig::new(chi, 100.0, 0.05, seed);
    config.compressor.tolerance = 1e-10;
    let lfts = Lfts::new(config, Solvers::exact(&solver)).unwrap();
    let w0 = InitialField::Random { amplitude: 0.1 }.fields(&model, &grid, chi, &mut StreamRng::new(seed, 0));
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    for _ in 0..snap {
        state = lfts.step(&state).unwrap().0;
    }
    let mut target = state.phi.clone();
    for i in 0..m {
        target[m + i] = 1.0 - target[i];
    }
    let mut w = vec![0.0; 2 * m];
    from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
    for c in w.chunks_mut(m) {
        let mean = c.iter().sum::<f64>() / m as f64;
        c.iter_mut().for_each(|x| *x -= mean);
    }
    let wmin = state.w_minus.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    let wpl = state.w_plus.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    let neg = target.iter().filter(|&&x| x < 0.0).count();
    println!(
        "max|W-| {wmin:.3} max|W+| {wpl:.3} negative densities {neg} min {:.2e}",
        target.iter().cloned().fold(1.0, f64::min)
    );
    let mut rng = StreamRng::new(99, 1);
    for e in eps {
        let start: Vec<f64> = w.iter().map(|x| x + e * rng.normal()).collect();
        let t = Instant::now();
        let (wn, res, conv, [steps, solves, products]) =
            mesofield_physics::inverse::newton_from(&solver, &target, start.clone(), 1e-10, 60).unwrap();
        let dist = wn.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!(
            "  newton only eps {e}: residual {res:.1e} conv {conv} steps {steps} solves {solves} products {products} in {:.1}s; max|w - w_run| {dist:.2e}",
            t.elapsed().as_secs_f64()
        );
        if std::env::var("NEWTON_ONLY").is_ok() {
            continue;
        }
        let t = Instant::now();
        let o = invert(&solver, &target, Some(&start), &InverseConfig::default()).unwrap();
        let dist = o.w.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!(
            "eps {e}: residual {:.1e} conv {} solve-eq {} newton {} qn-iters {} in {:.1}s; max|w - w_run| {dist:.2e}",
            o.residual,
            o.converged,
            o.solve_equivalents(),
            o.newton_steps,
            o.iterations,
            t.elapsed().as_secs_f64()
        );
    }
}
