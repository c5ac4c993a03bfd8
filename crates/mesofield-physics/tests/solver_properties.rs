//! The exact solver against docs/model.md's listed properties and against a slow,
//! obviously correct reference written here (direct real-space convolution).

use mesofield_physics::rng::StreamRng;
use mesofield_physics::{ChainModel, Debye, DomainError, Error, ExactSolver, Grid};

fn random_fields(grid: &Grid, amplitude: f64, seed: u64) -> Vec<f64> {
    let mut rng = StreamRng::new(seed, 0);
    (0..2 * grid.points()).map(|_| amplitude * rng.normal()).collect()
}

fn solve(model: &ChainModel, grid: Grid, w: &[f64]) -> (Vec<f64>, f64) {
    let solver = ExactSolver::new(model, grid).unwrap();
    let mut phi = vec![0.0; w.len()];
    let mut log_q = [0.0];
    solver.solve_batch(w, &mut phi, &mut log_q).unwrap();
    (phi, log_q[0])
}

/// docs/model.md's recursion, transcribed literally: the real-space kernel built
/// by an explicit inverse DFT, convolutions as double sums, no rescaling.
fn reference_solve(model: &ChainModel, grid: &Grid, w: &[f64]) -> (Vec<f64>, f64) {
    let (mx, my) = (grid.mx, grid.my);
    let m = mx * my;
    let n = model.beads;
    let kernel = |b2: f64| -> Vec<f64> {
        let mut g = vec![0.0; m];
        for rx in 0..mx {
            for ry in 0..my {
                let mut sum = 0.0;
                for kx in 0..mx {
                    for ky in 0..my {
                        let phase = 2.0
                            * std::f64::consts::PI
                            * (kx as f64 * rx as f64 / mx as f64 + ky as f64 * ry as f64 / my as f64);
                        sum += (-b2 * grid.q_squared(kx, ky) / 6.0).exp() * phase.cos();
                    }
                }
                g[rx * my + ry] = sum / m as f64;
            }
        }
        g
    };
    let (ba2, bb2) = (model.segment_a.powi(2), model.segment_b.powi(2));
    let (g_aa, g_bb, g_j) = (kernel(ba2), kernel(bb2), kernel(0.5 * (ba2 + bb2)));
    let bond = |s: usize, t: usize| match (model.is_a(s), model.is_a(t)) {
        (true, true) => &g_aa,
        (false, false) => &g_bb,
        _ => &g_j,
    };
    let conv = |g: &[f64], q: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; m];
        for x in 0..mx {
            for y in 0..my {
                let mut sum = 0.0;
                for xp in 0..mx {
                    for yp in 0..my {
                        let dx = (x + mx - xp) % mx;
                        let dy = (y + my - yp) % my;
                        sum += g[dx * my + dy] * q[xp * my + yp];
                    }
                }
                out[x * my + y] = sum;
            }
        }
        out
    };
    let w_of = |s: usize| if model.is_a(s) { &w[..m] } else { &w[m..] };
    let mut q = vec![vec![0.0; m]; n];
    let mut qd = vec![vec![0.0; m]; n];
    q[0] = w_of(0).iter().map(|v| (-v).exp()).collect();
    for s in 1..n {
        let c = conv(bond(s - 1, s), &q[s - 1]);
        q[s] = c.iter().zip(w_of(s)).map(|(c, v)| c * (-v).exp()).collect();
    }
    qd[n - 1] = w_of(n - 1).iter().map(|v| (-v).exp()).collect();
    for s in (0..n - 1).rev() {
        let c = conv(bond(s, s + 1), &qd[s + 1]);
        qd[s] = c.iter().zip(w_of(s)).map(|(c, v)| c * (-v).exp()).collect();
    }
    let big_q = q[n - 1].iter().sum::<f64>() / m as f64;
    let mut phi = vec![0.0; 2 * m];
    for s in 0..n {
        let offset = if model.is_a(s) { 0 } else { m };
        for r in 0..m {
            phi[offset + r] += q[s][r] * qd[s][r] * w_of(s)[r].exp() / (n as f64 * big_q);
        }
    }
    (phi, big_q.ln())
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn odd_chain() -> ChainModel {
    ChainModel { beads: 13, a_beads: 5, segment_a: 0.35, segment_b: 0.55, box_size: [1.3, 0.9] }
}

#[test]
fn matches_direct_real_space_reference_on_tiny_grids() {
    for (model, (mx, my)) in [(odd_chain(), (6, 5)), (odd_chain(), (4, 8)), (ChainModel::default(), (8, 6))] {
        let model = ChainModel { box_size: [1.3 * mx as f64 / 6.0, 0.9], ..model };
        let grid = Grid::for_model(&model, mx, my).unwrap();
        let w = random_fields(&grid, 0.4, 11);
        let (phi, log_q) = solve(&model, grid, &w);
        let (phi_ref, log_q_ref) = reference_solve(&model, &grid, &w);
        assert!(max_abs_diff(&phi, &phi_ref) < 1e-12, "phi differs by {}", max_abs_diff(&phi, &phi_ref));
        assert!((log_q - log_q_ref).abs() < 1e-11 * log_q_ref.abs().max(1.0), "{log_q} vs {log_q_ref}");
    }
}

#[test]
fn mass_is_conserved_for_any_fields() {
    for (model, mx, my, amplitude) in
        [(ChainModel::default(), 32, 32, 0.5), (odd_chain(), 16, 10, 1.0), (ChainModel::default(), 24, 40, 2.0)]
    {
        let grid = Grid::for_model(&model, mx, my).unwrap();
        let w = random_fields(&grid, amplitude, 3);
        let (phi, _) = solve(&model, grid, &w);
        let mean = phi.iter().sum::<f64>() / grid.points() as f64;
        // Round-off of 100 chained FFT convolutions, not a loose bound; white
        // noise of amplitude 2 spans e^12 within one propagator.
        let tolerance = if amplitude > 1.0 { 1e-11 } else { 1e-12 };
        assert!((mean - 1.0).abs() < tolerance, "amp {amplitude}: mean(phi_A + phi_B) = {mean}");
    }
}

#[test]
fn gauge_shifts_move_only_log_q() {
    let model = ChainModel { box_size: [6.4, 4.0], ..ChainModel::default() };
    let grid = Grid::for_model(&model, 32, 20).unwrap();
    let m = grid.points();
    let w = random_fields(&grid, 0.3, 5);
    let (phi, log_q) = solve(&model, grid, &w);

    let c = 0.37;
    let shifted: Vec<f64> = w.iter().map(|v| v + c).collect();
    let (phi_s, log_q_s) = solve(&model, grid, &shifted);
    assert!(max_abs_diff(&phi, &phi_s) < 1e-12, "{}", max_abs_diff(&phi, &phi_s));
    assert!((log_q_s - (log_q - model.beads as f64 * c)).abs() < 1e-10);

    let c_a = -0.81;
    let mut shifted_a = w.clone();
    shifted_a[..m].iter_mut().for_each(|v| *v += c_a);
    let (phi_a, log_q_a) = solve(&model, grid, &shifted_a);
    assert!(max_abs_diff(&phi, &phi_a) < 1e-12);
    assert!((log_q_a - (log_q - model.a_beads as f64 * c_a)).abs() < 1e-10);
}

#[test]
fn uniform_fields_give_the_block_fractions() {
    let model = odd_chain();
    let grid = Grid::for_model(&model, 8, 12).unwrap();
    let m = grid.points();
    let (w_a, w_b) = (0.7, -1.3);
    let mut w = vec![w_a; 2 * m];
    w[m..].fill(w_b);
    let (phi, log_q) = solve(&model, grid, &w);
    let f = model.f_a();
    assert!(phi[..m].iter().all(|v| (v - f).abs() < 1e-14));
    assert!(phi[m..].iter().all(|v| (v - (1.0 - f)).abs() < 1e-14));
    let expected = -(model.a_beads as f64) * w_a - model.b_beads() as f64 * w_b;
    assert!((log_q - expected).abs() < 1e-12);
}

/// Cosine component (2/M) sum f(r) cos(q.r) for the wave vector (nx, ny).
fn cosine_amplitude(grid: &Grid, field: &[f64], nx: usize, ny: usize) -> f64 {
    let mut sum = 0.0;
    for ix in 0..grid.mx {
        for iy in 0..grid.my {
            let phase = 2.0 * std::f64::consts::PI * (nx * ix) as f64 / grid.mx as f64
                + 2.0 * std::f64::consts::PI * (ny * iy) as f64 / grid.my as f64;
            sum += field[ix * grid.my + iy] * phase.cos();
        }
    }
    2.0 * sum / grid.points() as f64
}

#[test]
fn linear_response_matches_the_debye_functions() {
    for model in [ChainModel::default(), ChainModel { box_size: [5.0, 7.5], ..odd_chain() }] {
        let grid = Grid::for_model(&model, 16, 24).unwrap();
        let m = grid.points();
        let eps = 1e-6;
        for (nx, ny) in [(1, 0), (0, 1), (1, 1), (2, 3), (5, 1), (3, 7)] {
            let q2 = grid.q_squared(nx, ny);
            let debye = Debye::at(&model, q2);
            for (channel, s_self, s_cross) in [(0, debye.s_aa, debye.s_ab), (1, debye.s_bb, debye.s_ab)] {
                // Symmetric differences cancel the O(eps^2) term.
                let make = |sign: f64| {
                    let mut w = vec![0.0; 2 * m];
                    for ix in 0..grid.mx {
                        for iy in 0..grid.my {
                            let phase = 2.0
                                * std::f64::consts::PI
                                * ((nx * ix) as f64 / grid.mx as f64 + (ny * iy) as f64 / grid.my as f64);
                            w[channel * m + ix * grid.my + iy] = sign * eps * phase.cos();
                        }
                    }
                    solve(&model, grid, &w).0
                };
                let (plus, minus) = (make(1.0), make(-1.0));
                let diff: Vec<f64> = plus.iter().zip(&minus).map(|(a, b)| (a - b) / (2.0 * eps)).collect();
                let response_self = -cosine_amplitude(&grid, &diff[channel * m..(channel + 1) * m], nx, ny);
                let other = 1 - channel;
                let response_cross = -cosine_amplitude(&grid, &diff[other * m..(other + 1) * m], nx, ny);
                let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
                assert!(rel(response_self, s_self) < 1e-7, "q=({nx},{ny}) ch{channel}: {response_self} vs {s_self}");
                assert!(rel(response_cross, s_cross) < 1e-7, "q=({nx},{ny}) cross: {response_cross} vs {s_cross}");
            }
        }
    }
}

#[test]
fn strong_fields_do_not_overflow() {
    // exp(-w) over 100 beads with |w| = 9 is exp(900): beyond f64 without rescaling.
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 16, 16).unwrap();
    let m = grid.points();
    for offset in [-9.0, 9.0] {
        let mut w = random_fields(&grid, 0.05, 9);
        w.iter_mut().for_each(|v| *v += offset);
        let (phi, log_q) = solve(&model, grid, &w);
        let (phi_0, log_q_0) = solve(&model, grid, &w.iter().map(|v| v - offset).collect::<Vec<_>>());
        assert!(max_abs_diff(&phi, &phi_0) < 1e-11, "{}", max_abs_diff(&phi, &phi_0));
        assert!((log_q - (log_q_0 - 100.0 * offset)).abs() < 1e-9, "{log_q} vs {}", log_q_0 - 100.0 * offset);
        assert!(phi[..m].iter().all(|v| v.is_finite()));
    }
}

#[test]
fn non_finite_fields_are_an_error_naming_the_sample() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 8, 8).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let mut w = vec![0.0; 3 * 2 * grid.points()];
    w[2 * 2 * grid.points() + 70] = f64::NAN;
    let mut phi = vec![0.0; w.len()];
    let mut log_q = [0.0; 3];
    let err = solver.solve_batch(&w, &mut phi, &mut log_q).unwrap_err();
    match &err {
        Error::Domain { sample: 2, cause: DomainError::NonFiniteField { channel: 1, .. }, .. } => {}
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().starts_with("sample 2: non-finite field"));
}

#[test]
fn results_are_bit_identical_across_thread_counts() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let n = 6;
    let w: Vec<f64> = (0..n).flat_map(|i| random_fields(&grid, 0.3, 100 + i)).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let solver = ExactSolver::new(&model, grid).unwrap();
            let mut phi = vec![0.0; w.len()];
            let mut log_q = vec![0.0; n as usize];
            solver.solve_batch(&w, &mut phi, &mut log_q).unwrap();
            (phi, log_q)
        })
    };
    let (a, b) = (run(1), run(2));
    assert!(a.0.iter().zip(&b.0).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!(a.1.iter().zip(&b.1).all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn fields_outside_the_domain_are_reported_not_returned_as_nan() {
    // docs/model.md: rough exchange fields of standard deviation ~0.7 on the grid
    // scale can drive q_s through the kernel's negative lobes (this draw does).
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let m = grid.points();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let mut w = vec![0.0; 2 * 2 * m];
    w[..2 * m].copy_from_slice(&random_fields(&grid, 0.02, 1));
    let mut rng = StreamRng::new(7, 0);
    for i in 0..m {
        let w_minus = 0.7 * rng.normal();
        w[2 * m + i] = -w_minus;
        w[3 * m + i] = w_minus;
    }
    let mut phi = vec![0.0; w.len()];
    let mut log_q = [0.0; 2];
    let outcome = solver.solve_batch_each(&w, &mut phi, &mut log_q);
    assert!(outcome[0].is_ok());
    let err = outcome[1].clone().unwrap_err();
    assert!(
        matches!(err, DomainError::NonPositiveQ { .. } | DomainError::NonFiniteResult { .. }),
        "unexpected {err:?}"
    );
    assert!(phi.iter().all(|v| v.is_finite()) && log_q.iter().all(|v| v.is_finite()));
    let batch_err = solver.solve_batch(&w, &mut phi, &mut log_q).unwrap_err().to_string();
    assert!(batch_err.starts_with("sample 1: "), "{batch_err}");
}

#[test]
fn paired_complex_fft_path_matches_the_real_fft_path() {
    // Unequal segments exercise the unpacking of two different kernels.
    for (model, (mx, my)) in [(odd_chain(), (20, 14)), (ChainModel::default(), (32, 32)), (odd_chain(), (9, 7))] {
        let grid = Grid::for_model(&model, mx, my).unwrap();
        let w = random_fields(&grid, 0.3, 21);
        let solve_with = |paired: bool| {
            let solver = ExactSolver::new(&model, grid).unwrap().with_paired_fft(paired);
            let mut phi = vec![0.0; w.len()];
            let mut log_q = [0.0];
            solver.solve_batch(&w, &mut phi, &mut log_q).unwrap();
            (phi, log_q[0])
        };
        let (phi_p, lq_p) = solve_with(true);
        let (phi_r, lq_r) = solve_with(false);
        assert!(max_abs_diff(&phi_p, &phi_r) < 1e-13, "{}", max_abs_diff(&phi_p, &phi_r));
        assert!((lq_p - lq_r).abs() < 1e-12);
    }
}

/// The seam adds nothing: through `&dyn FieldSolver` the exact solver gives
/// bit for bit what calling it directly gives, and it says what it is.
#[test]
fn the_seam_gives_the_exact_solver_results_unchanged() {
    use mesofield_physics::FieldSolver;
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 16, 12).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    let mut rng = StreamRng::new(4, 0);
    let w: Vec<f64> = (0..3 * 2 * m).map(|_| 0.05 * rng.normal()).collect();
    let (mut phi_direct, mut lq_direct) = (vec![0.0; w.len()], vec![0.0; 3]);
    solver.solve_batch(&w, &mut phi_direct, &mut lq_direct).unwrap();
    let seam: &dyn FieldSolver = &solver;
    let (mut phi_seam, mut lq_seam) = (vec![0.0; w.len()], vec![0.0; 3]);
    seam.solve_batch(&w, &mut phi_seam, &mut lq_seam).unwrap();
    assert_eq!(phi_direct, phi_seam);
    assert_eq!(lq_direct, lq_seam);
    assert!(seam.provides_log_q());
    assert_eq!(seam.name(), "exact");
    assert_eq!(seam.grid(), &grid);
    assert_eq!(seam.model(), &model);
}

#[test]
fn the_exact_solver_and_its_counting_wrapper_meet_the_seam_contract() {
    use mesofield_physics::scft::assisted::Counting;
    use mesofield_physics::seam::conformance::check_field_solver;
    let model = ChainModel::default();
    for (mx, my) in [(16, 16), (12, 20)] {
        let solver = ExactSolver::new(&model, Grid::for_model(&model, mx, my).unwrap()).unwrap();
        check_field_solver(&solver, 1e-10);
        let counting = Counting::new(&solver);
        check_field_solver(&counting, 1e-10);
        // Five calls of 3, 3, 1 samples, then a refused short buffer and a NaN batch of 3 (counted before refusal).
        assert!(counting.count() >= 7, "{}", counting.count());
    }
}

#[test]
fn solvers_refuse_an_operator_for_another_grid_or_chain() {
    use mesofield_physics::fts::{Lfts, LftsConfig};
    use mesofield_physics::inverse::{InverseConfig, Inverter};
    use mesofield_physics::{FieldSolver, Solvers};
    let model = ChainModel::default();
    let exact = ExactSolver::new(&model, Grid::for_model(&model, 16, 16).unwrap()).unwrap();
    let other_grid = ExactSolver::new(&model, Grid::for_model(&model, 16, 12).unwrap()).unwrap();
    let chain = ChainModel { a_beads: 50, ..ChainModel::default() };
    let other_chain = ExactSolver::new(&chain, Grid::for_model(&chain, 16, 16).unwrap()).unwrap();
    for op in [&other_grid as &dyn FieldSolver, &other_chain] {
        let err = Solvers::new(&exact, Some(op)).err().expect("refused").to_string();
        assert!(err.contains("another grid or chain model"), "{err}");
    }
    let same = Solvers::new(&exact, Some(&exact)).unwrap();
    assert_eq!(same.grid(), exact.grid());
    assert!(same.operator.is_some() && Solvers::exact(&exact).operator.is_none());
    // The loops take the checked pair.
    assert!(Lfts::new(LftsConfig::new(0.3, 100.0, 0.05, 0), same).is_ok());
    assert!(Inverter::new(same, InverseConfig::default()).is_ok());
}
