//! What an inverse operator could save: the exact inverse map on L-FTS
//! patterns (chi = 0.4, B = 100, step 0.05, from random:0.1, 32x32; 20
//! snapshots every 20 steps after 200) from the melt, and from the run's
//! own fields plus a smooth error of relative size EPS (a random field of
//! Fourier modes |n| <= 6, scaled to EPS x the rms of each channel), which
//! is how an operator's prediction differs from the truth. The cost from a
//! start is what a call of an operator with that error leaves to the exact
//! polish; the saving bounds the operator's speed-up.
//! `cargo run --release -p mesofield-physics --example inv_start -- CHI EPS...`
use std::f64::consts::PI;
use std::time::Instant;

use mesofield_physics::fields::{InitialField, from_exchange_pressure};
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::inverse::{InverseConfig, invert};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

fn smooth_error(rng: &mut StreamRng, mx: usize, my: usize, rms: f64) -> Vec<f64> {
    let mut f = vec![0.0; mx * my];
    for kx in -6i32..=6 {
        for ky in -6i32..=6 {
            if kx == 0 && ky == 0 {
                continue;
            }
            let (a, p) = (rng.normal(), 2.0 * PI * rng.uniform());
            for x in 0..mx {
                for y in 0..my {
                    let arg = 2.0 * PI * (kx as f64 * x as f64 / mx as f64 + ky as f64 * y as f64 / my as f64) + p;
                    f[x * my + y] += a * arg.cos();
                }
            }
        }
    }
    let s = (f.iter().map(|v| v * v).sum::<f64>() / f.len() as f64).sqrt();
    f.iter_mut().for_each(|v| *v *= rms / s);
    f
}

fn main() {
    let mut args = std::env::args().skip(1);
    let chi: f64 = args.next().expect("CHI").parse().unwrap();
    let eps: Vec<f64> = args.map(|s| s.parse().unwrap()).collect();
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    let mut config = LftsConfig::new(chi, 100.0, 0.05, 1);
    config.compressor.tolerance = 1e-10;
    let lfts = Lfts::new(config, Solvers::exact(&solver)).unwrap();
    let w0 = InitialField::Random { amplitude: 0.1 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    let mut patterns = Vec::new();
    for k in 0..(200 + 20 * 20) {
        state = lfts.step(&state).unwrap().0;
        if k + 1 > 200 && (k + 1) % 20 == 0 {
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
            patterns.push((target, w));
        }
    }
    let inv = InverseConfig::default();
    let mut rng = StreamRng::new(7, 3);
    let starts: Vec<Option<f64>> = std::iter::once(None).chain(eps.iter().map(|&e| Some(e))).collect();
    for e in starts {
        let t = Instant::now();
        let (mut cost, mut worst, mut failed) = (Vec::new(), 0.0f64, 0);
        for (target, w) in &patterns {
            let start = e.map(|e| {
                let mut s = w.clone();
                for c in 0..2 {
                    let ch = &w[c * m..(c + 1) * m];
                    let rms = (ch.iter().map(|v| v * v).sum::<f64>() / m as f64).sqrt();
                    let err = smooth_error(&mut rng, grid.mx, grid.my, e * rms);
                    s[c * m..(c + 1) * m].iter_mut().zip(err).for_each(|(a, b)| *a += b);
                }
                s
            });
            let o = invert(&solver, target, start.as_deref(), &inv).unwrap();
            if !o.converged {
                failed += 1;
            }
            worst = worst.max(o.residual);
            cost.push(o.solve_equivalents());
        }
        cost.sort();
        let label = e.map_or("the melt".to_string(), |e| format!("run's fields + {e} error"));
        println!(
            "chi {chi}, start {label}: solve equivalents median {} max {} mean {:.1}; worst residual {worst:.1e}, {failed} not converged; {:.2} s for {}",
            cost[cost.len() / 2],
            cost[cost.len() - 1],
            cost.iter().sum::<usize>() as f64 / cost.len() as f64,
            t.elapsed().as_secs_f64(),
            cost.len()
        );
    }
}
