//! The tangent map J(w) v of the exact solver against independent references:
//! central finite differences of the solver itself, the symmetry of J (it is
//! a Hessian of ln Q), d ln Q = -(N/M) sum phi . v (phi is the gradient of
//! ln Q), the fixed means, and the Debye response at w = 0 (docs/model.md).

use mesofield_physics::rng::StreamRng;
use mesofield_physics::{ChainModel, Debye, ExactSolver, Grid};

fn solver(mx: usize, my: usize) -> ExactSolver {
    let model = ChainModel::default();
    let grid = Grid::new(mx, my, 0.2 * mx as f64, 0.2 * my as f64).unwrap();
    ExactSolver::new(&model, grid).unwrap()
}

/// Rough fields of standard deviation `amplitude` per point (white noise
/// smoothed once by a 3-point average in x).
fn rough(m: usize, my: usize, amplitude: f64, seed: u64) -> Vec<f64> {
    let mut rng = StreamRng::new(seed, 0);
    let white: Vec<f64> = (0..2 * m).map(|_| amplitude * rng.normal()).collect();
    (0..2 * m)
        .map(|i| {
            let (c, p) = (i / m, i % m);
            let (ix, iy) = (p / my, p % my);
            let mx = m / my;
            let at = |dx: usize| white[c * m + ((ix + dx) % mx) * my + iy];
            (at(mx - 1) + at(0) + at(1)) / 3.0_f64.sqrt()
        })
        .collect()
}

fn solve(s: &ExactSolver, w: &[f64]) -> (Vec<f64>, f64) {
    let mut phi = vec![0.0; w.len()];
    let mut lq = [0.0];
    s.solve_batch(w, &mut phi, &mut lq).unwrap();
    (phi, lq[0])
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |a, x| a.max(x.abs()))
}

#[test]
fn matches_central_differences_on_rough_fields() {
    let s = solver(16, 12);
    let m = s.grid().points();
    for (amplitude, seed) in [(0.1, 1), (0.5, 2)] {
        let w = rough(m, 12, amplitude, seed);
        let v = rough(m, 12, 1.0, seed + 10);
        let mut lin = s.linearize(&w).unwrap();
        let mut jv = vec![0.0; 2 * m];
        let d_log_q = lin.apply(&v, &mut jv).unwrap();
        let eps = 1e-5;
        let plus: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + eps * b).collect();
        let minus: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a - eps * b).collect();
        let ((pp, lp), (pm, lm)) = (solve(&s, &plus), solve(&s, &minus));
        let fd: Vec<f64> = pp.iter().zip(&pm).map(|(a, b)| (a - b) / (2.0 * eps)).collect();
        let diff: Vec<f64> = fd.iter().zip(&jv).map(|(a, b)| a - b).collect();
        let rel = max_abs(&diff) / max_abs(&jv);
        assert!(rel < 1e-7, "amplitude {amplitude}: J v vs central differences: relative {rel:.2e}");
        let fd_log_q = (lp - lm) / (2.0 * eps);
        assert!((fd_log_q - d_log_q).abs() < 1e-7 * fd_log_q.abs().max(1.0), "d ln Q {d_log_q} vs {fd_log_q}");
        // phi(w) of the linearisation is the solver's.
        let (phi, log_q) = solve(&s, &w);
        assert_eq!(lin.phi(), phi.as_slice());
        assert_eq!(lin.log_q(), log_q);
    }
}

#[test]
fn is_symmetric_with_fixed_means_and_the_gradient_identity() {
    let s = solver(12, 16);
    let m = s.grid().points();
    let n = s.model().beads as f64;
    let w = rough(m, 16, 0.4, 5);
    let (u, v) = (rough(m, 16, 1.0, 6), rough(m, 16, 1.0, 7));
    let mut lin = s.linearize(&w).unwrap();
    let (mut ju, mut jv) = (vec![0.0; 2 * m], vec![0.0; 2 * m]);
    let d_log_q = lin.apply(&u, &mut ju).unwrap();
    lin.apply(&v, &mut jv).unwrap();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let (a, b) = (dot(&u, &jv), dot(&v, &ju));
    assert!((a - b).abs() < 1e-11 * a.abs().max(b.abs()), "u.Jv = {a} but v.Ju = {b}");
    // Each channel of J u sums to zero: no field moves the means of phi.
    for c in 0..2 {
        let sum: f64 = ju[c * m..(c + 1) * m].iter().sum();
        assert!(sum.abs() < 1e-11 * m as f64, "channel {c} of J u sums to {sum:e}");
    }
    // d ln Q / dw_t(r) = -(N/M) phi_t(r).
    let expected = -n / m as f64 * dot(lin.phi(), &u);
    assert!((d_log_q - expected).abs() < 1e-11 * expected.abs(), "d ln Q {d_log_q} vs -(N/M) phi.u {expected}");
    // A gauge direction is in the null space (to round-off on terms of
    // order N |v|, which cancel).
    let gauge: Vec<f64> = (0..2 * m).map(|i| if i < m { 0.7 } else { -0.3 }).collect();
    let mut jg = vec![0.0; 2 * m];
    lin.apply(&gauge, &mut jg).unwrap();
    assert!(max_abs(&jg) < 1e-10, "a gauge shift moved phi by {:e}", max_abs(&jg));
}

#[test]
fn at_zero_fields_is_minus_the_debye_response() {
    let s = solver(16, 16);
    let m = s.grid().points();
    let (lx, nx) = (s.grid().lx, 2.0);
    let q = std::f64::consts::TAU * nx / lx;
    let cos: Vec<f64> = (0..m).map(|p| (q * (p / 16) as f64 * s.grid().hx()).cos()).collect();
    let mut lin = s.linearize(&vec![0.0; 2 * m]).unwrap();
    let debye = Debye::at(s.model(), q * q);
    for (channel, (s_aa_or_ab, s_ab_or_bb)) in [(0, (debye.s_aa, debye.s_ab)), (1, (debye.s_ab, debye.s_bb))] {
        let mut v = vec![0.0; 2 * m];
        v[channel * m..(channel + 1) * m].copy_from_slice(&cos);
        let mut jv = vec![0.0; 2 * m];
        lin.apply(&v, &mut jv).unwrap();
        for p in 0..m {
            assert!((jv[p] + s_aa_or_ab * cos[p]).abs() < 1e-12, "dphi_A at {p}");
            assert!((jv[m + p] + s_ab_or_bb * cos[p]).abs() < 1e-12, "dphi_B at {p}");
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let s = solver(8, 8);
    let m = s.grid().points();
    assert!(s.linearize(&vec![0.0; m]).is_err());
    let mut lin = s.linearize(&vec![0.0; 2 * m]).unwrap();
    let mut out = vec![0.0; 2 * m];
    assert!(lin.apply(&vec![0.0; m], &mut out).is_err());
    let mut nan = vec![0.0; 2 * m];
    nan[3] = f64::NAN;
    assert!(lin.apply(&nan, &mut out).is_err());
}
