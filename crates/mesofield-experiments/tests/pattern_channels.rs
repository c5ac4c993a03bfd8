//! Pattern files that give both densities: phi_B is read from the file,
//! not taken as 1 - phi_A, because an L-FTS snapshot meets
//! phi_A + phi_B = 1 only to its compressor's tolerance, and against
//! 1 - phi_A the inverse map chases densities the chain does not make.

use mesofield_experiments::bench_inverse::{InverseSweepSpec, draw, snapshot};
use mesofield_experiments::observed::infer_chi;
use mesofield_experiments::patterns::{load_many, load_patterns};
use mesofield_experiments::roles::Resolved;
use mesofield_experiments::{Backend, Reporter, SolverChoice};
use mesofield_physics::fts::Integrator;
use mesofield_physics::io::{TensorData, to_safetensors, write_atomic};
use mesofield_physics::{ChainModel, ExactSolver, Grid};

fn write_file(path: &std::path::Path, name: &str, shape: Vec<usize>, data: &[f64]) {
    let bytes = to_safetensors(&[(name, shape, TensorData::F64(data))], "{}").unwrap();
    write_atomic(path, &bytes).unwrap();
}

#[test]
fn a_two_channel_file_gives_phi_b_and_a_phi_a_file_its_complement() {
    let dir = std::env::temp_dir().join(format!("mesofield-pattern-channels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mx, my) = (4, 4);
    let m = mx * my;
    // phi_B deliberately not 1 - phi_A, and neither mean the chain's.
    let phi_a: Vec<f64> = (0..m).map(|i| 0.6 + 0.01 * i as f64).collect();
    let phi_b: Vec<f64> = (0..m).map(|i| 0.45 - 0.02 * i as f64 + 0.001 * (i * i) as f64).collect();
    let both = dir.join("both.safetensors");
    write_file(&both, "phi", vec![1, 2, mx, my], &[phi_a.clone(), phi_b.clone()].concat());
    let mut p = load_patterns(&both, [0.0, 1.0], true).unwrap();
    assert_eq!(p.phi_b.as_deref(), Some(&phi_b[..]));
    assert_eq!(p.densities(), [phi_a.clone(), phi_b.clone()].concat());
    // Means shifted to the chain's fractions, each channel by its own shift.
    let f = 0.7;
    let shifts = p.match_mean(f);
    let d = p.densities();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!((mean(&d[..m]) - f).abs() < 1e-14 && (mean(&d[m..]) - (1.0 - f)).abs() < 1e-14);
    assert!((d[0] - phi_a[0] - shifts[0]).abs() < 1e-14);
    let shift_b = (1.0 - f) - mean(&phi_b);
    assert!((d[m + 5] - phi_b[5] - shift_b).abs() < 1e-14);

    // A phi_a-only file after it: its phi_B is 1 - phi_A.
    let only_a = dir.join("a.safetensors");
    let other: Vec<f64> = (0..m).map(|i| 0.65 + 0.005 * i as f64).collect();
    write_file(&only_a, "phi_a", vec![mx, my], &other);
    assert!(load_patterns(&only_a, [0.0, 1.0], true).unwrap().phi_b.is_none());
    let all = load_many(&[both, only_a], [0.0, 1.0], true).unwrap();
    let d = all.densities();
    assert_eq!(all.n, 2);
    assert_eq!(&d[m..2 * m], &phi_b[..]);
    assert_eq!(&d[2 * m..3 * m], &other[..]);
    for i in 0..m {
        assert_eq!(d[3 * m + i], 1.0 - other[i]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Pattern 3 of `bench inverse`'s seed 2029 (chi 0.872, B 780, 357 steps
/// from lamellae, compressor at its default 1e-6): against 1 - phi_A the
/// inverse map stalled at 4.7e-6 after 15 thousand solve equivalents; the
/// snapshot's own densities invert to 1e-10.
#[test]
fn an_lfts_snapshot_inverts_against_its_own_densities() {
    let model = ChainModel::default();
    // The Euler-Maruyama pattern the measurement above was made on.
    let spec = InverseSweepSpec { integrator: Integrator::EulerMaruyama, ..InverseSweepSpec::full(2029) };
    let (chi, b, lambda, _, _, [mx, my], _) = draw(&spec, 3);
    let grid = Grid::for_model(&model, mx, my).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    let state = snapshot(&spec, 3, &exact, None).unwrap();
    let m = grid.points();
    let off = (0..m).map(|i| (state.phi[i] + state.phi[m + i] - 1.0).abs()).fold(0.0, f64::max);
    assert!(off > 1e-8, "the snapshot is incompressible to {off:e}: 1 - phi_A would do as well");

    let path = std::env::temp_dir().join(format!("mesofield-snapshot-{}.safetensors", std::process::id()));
    write_file(&path, "phi", vec![1, 2, mx, my], &state.phi);
    let patterns = load_patterns(&path, [0.0, 1.0], true).unwrap();
    std::fs::remove_file(&path).ok();
    let found = infer_chi(
        patterns,
        &model,
        Some(b),
        (lambda, spec.integrator),
        &Resolved { choice: SolverChoice::Exact, backend: Backend::Cpu },
        1e-10,
        &Reporter::silent(),
    )
    .unwrap();
    let record = &found.inverted.per_sample[0];
    assert!(record.converged && record.inverse_residual < 1e-10, "residual {:e}", record.inverse_residual);
    let chi_found = found.answer().chi;
    assert!((chi_found / chi - 1.0).abs() < 0.03, "chi {chi_found} for {chi}");
}
