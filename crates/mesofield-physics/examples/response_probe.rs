//! The pressure response of an L-FTS state against the melt's: per shell
//! of |q|, S_eff(q) = -<Re conj(u_q) d(phi_A + phi_B)_q> / <|u_q|^2> for
//! random W_+ probes u (tangent map, w_A and w_B both moved by u), beside
//! the melt's S_tot(q) that preconditions the inner loop.
//! `cargo run --release -p mesofield-physics --example response_probe -- CHI`

use mesofield_physics::debye::Debye;
use mesofield_physics::fields::{InitialField, from_exchange_pressure};
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::spectral::{C64, SpectralPlan};
use mesofield_physics::{ChainModel, ExactSolver, Grid, Solvers};

fn main() {
    let chi: f64 = std::env::args().nth(1).map(|s| s.parse().expect("CHI")).unwrap_or(1.0);
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let plan = SpectralPlan::new(grid);
    let m = grid.points();
    let lfts = Lfts::new(LftsConfig::new(chi, 100.0, 0.05, 1), Solvers::exact(&solver)).unwrap();
    let w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    for _ in 0..100 {
        state = lfts.step(&state).unwrap().0;
    }
    let mut w = vec![0.0; 2 * m];
    from_exchange_pressure(&state.w_minus, &state.w_plus, &mut w);
    let mut lin = solver.linearize(&w).unwrap();
    let q2 = plan.q_squared_table();
    let dq2 = (2.0 * std::f64::consts::PI / model.box_size[0]).powi(2);
    let shells = 12;
    let (mut num, mut den) = (vec![0.0; shells], vec![0.0; shells]);
    let mut scratch = plan.scratch();
    let (mut uk, mut rk) = (vec![C64::default(); plan.spectrum_len()], vec![C64::default(); plan.spectrum_len()]);
    let mut rng = StreamRng::new(5, 0);
    let mut dphi = vec![0.0; 2 * m];
    for _ in 0..8 {
        let u: Vec<f64> = (0..m).map(|_| 1e-3 * rng.normal()).collect();
        let v: Vec<f64> = u.iter().chain(u.iter()).copied().collect();
        lin.apply(&v, &mut dphi).unwrap();
        let total: Vec<f64> = (0..m).map(|i| dphi[i] + dphi[m + i]).collect();
        plan.forward(&mut scratch, &u, &mut uk);
        plan.forward(&mut scratch, &total, &mut rk);
        for k in 1..uk.len() {
            let shell = ((q2[k] / dq2).sqrt().round() as usize).min(shells - 1);
            num[shell] -= (uk[k].conj() * rk[k]).re;
            den[shell] += uk[k].norm_sqr();
        }
    }
    println!("chi {chi}: | |q| (2 pi / L) | S_tot melt | S_eff | ratio |");
    for s in 1..shells {
        if den[s] == 0.0 {
            continue;
        }
        let q2s = (s as f64).powi(2) * dq2;
        let melt = Debye::at(&model, q2s).total();
        let eff = num[s] / den[s];
        println!("| {s} | {melt:.4} | {eff:.4} | {:.3} |", eff / melt);
    }
}
