//! SCFT against the published PSCF value and the spinodal, Debye functions
//! against the continuous-chain limit, model files, and dataset determinism.

use mesofield_physics::dataset::{Dataset, GeneratorConfig, GrfFamily, LftsFamily, ScftFamily, Shard, generate};
use mesofield_physics::fields::InitialField;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, Debye, ExactSolver, Grid, spinodal};

fn hex_bead() -> (ChainModel, Grid) {
    // PSCF's hex_bead has 30 A + 70 B beads, as here.
    let model = ChainModel::pscf_hex_bead();
    let grid = Grid::for_model(&model, 32, 56).unwrap();
    (model, grid)
}

#[test]
fn scft_reproduces_pscf_hex_bead_free_energy() {
    let (model, grid) = hex_bead();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let w0 = InitialField::Hex { nx: 1, ny: 1 }.fields(&model, &grid, 0.2, &mut StreamRng::new(0, 0));
    let config = ScftConfig { chi: 0.2, tolerance: 1e-10, ..Default::default() };
    let out = run_scft(&solver, &config, &w0, &mut |_, _| {}).unwrap();
    assert!(out.converged, "residual {}", out.residual);
    assert!((out.d_f - (-0.399510804)).abs() < 1e-6, "dF = {}", out.d_f);
    // Gauge mean(W_+) = 0 on output.
    let m = grid.points();
    let mean_plus: f64 = (0..m).map(|i| 0.5 * (out.w[i] + out.w[m + i])).sum::<f64>() / m as f64;
    assert!(mean_plus.abs() < 1e-12);
}

#[test]
fn scft_swapping_a_and_b_gives_the_same_free_energy() {
    let (model, grid) = hex_bead();
    let swapped = ChainModel { a_beads: 70, ..model.clone() };
    let solver = ExactSolver::new(&swapped, grid).unwrap();
    let w0 = InitialField::Hex { nx: 1, ny: 1 }.fields(&swapped, &grid, 0.2, &mut StreamRng::new(0, 0));
    let out = run_scft(&solver, &ScftConfig { chi: 0.2, tolerance: 1e-10, ..Default::default() }, &w0, &mut |_, _| {})
        .unwrap();
    assert!((out.d_f - (-0.399510804)).abs() < 1e-6, "dF = {}", out.d_f);
}

#[test]
fn scft_stays_homogeneous_below_the_spinodal_and_orders_above() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let chi_s = spinodal(&model).chi_s;
    let m = grid.points();
    let std_phi_a = |phi: &[f64]| {
        let mean = phi[..m].iter().sum::<f64>() / m as f64;
        (phi[..m].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64).sqrt()
    };
    let w0 = InitialField::Random { amplitude: 0.05 }.fields(&model, &grid, 0.7 * chi_s, &mut StreamRng::new(3, 0));
    let below =
        run_scft(&solver, &ScftConfig { chi: 0.7 * chi_s, tolerance: 1e-9, ..Default::default() }, &w0, &mut |_, _| {})
            .unwrap();
    assert!(below.converged);
    assert!(std_phi_a(&below.phi) < 1e-8, "std {}", std_phi_a(&below.phi));
    assert!(below.d_f.abs() < 1e-9, "dF {}", below.d_f);

    let chi = 2.0 * chi_s;
    let w0 = InitialField::Random { amplitude: 0.05 }.fields(&model, &grid, chi, &mut StreamRng::new(3, 0));
    let config = ScftConfig { chi, tolerance: 1e-9, max_iterations: 400, ..Default::default() };
    let above = run_scft(&solver, &config, &w0, &mut |_, _| {}).unwrap();
    assert!(std_phi_a(&above.phi) > 0.1, "no pattern formed: std {}", std_phi_a(&above.phi));
    assert!(above.d_f < -0.1, "dF {}", above.d_f);
}

#[test]
fn scft_converges_from_a_noisy_lamellar_start_at_chi_0_3() {
    // PSCF 1.3.3 stalls from this kind of start.
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let mut rng = StreamRng::new(7, 0);
    for periods in [1, 2] {
        let mut w = InitialField::Lamellar { periods }.fields(&model, &grid, 0.3, &mut rng);
        for i in 0..grid.points() {
            let z = 0.0075 * rng.normal();
            w[i] -= z;
            w[grid.points() + i] += z;
        }
        let out =
            run_scft(&solver, &ScftConfig { chi: 0.3, tolerance: 1e-10, ..Default::default() }, &w, &mut |_, _| {})
                .unwrap();
        assert!(out.converged, "lamellar:{periods} residual {}", out.residual);
        assert!(out.d_f < -1.0, "dF {}", out.d_f);
    }
}

/// Leibler's continuous-chain Debye functions, g(f, x) = 2 [f x + e^{-f x} - 1] / x^2.
fn debye_continuous(f: f64, x: f64) -> f64 {
    2.0 * (f * x + (-f * x).exp() - 1.0) / (x * x)
}

#[test]
fn discrete_debye_functions_approach_the_continuous_chain() {
    let n = 4000usize;
    let b = 0.01;
    let model = ChainModel { beads: n, a_beads: n * 3 / 10, segment_a: b, segment_b: b, box_size: [1.0, 1.0] };
    let rg2 = n as f64 * b * b / 6.0;
    for x in [0.5, 2.0, 3.7, 8.0] {
        let q2 = x / rg2;
        let d = Debye::at(&model, q2);
        let f = 0.3;
        let s_aa = n as f64 * debye_continuous(f, x);
        let s_bb = n as f64 * debye_continuous(1.0 - f, x);
        let s_ab = 0.5 * n as f64 * (debye_continuous(1.0, x) - debye_continuous(f, x) - debye_continuous(1.0 - f, x));
        for (got, want) in [(d.s_aa, s_aa), (d.s_bb, s_bb), (d.s_ab, s_ab)] {
            assert!((got - want).abs() / want < 2e-3, "x={x}: {got} vs {want}");
        }
    }
    // Leibler's symmetric-diblock spinodal chiN = 10.495 at q Rg = 1.946.
    let sym = ChainModel { a_beads: n / 2, ..model };
    let s = spinodal(&sym);
    assert!((s.chi_n_s - 10.495).abs() < 0.02, "chiN_s {}", s.chi_n_s);
    assert!((s.q_star * rg2.sqrt() - 1.946).abs() < 0.01, "q* Rg {}", s.q_star * rg2.sqrt());
}

#[test]
fn model_files_are_validated() {
    let m = ChainModel::from_toml_str("beads = 50\na_beads = 20\nsegment_a = 0.3\nsegment_b = 0.4\nbox = [3.0, 4.0]")
        .unwrap();
    assert_eq!((m.beads, m.a_beads, m.box_size), (50, 20, [3.0, 4.0]));
    let k = ChainModel::from_toml_str("stiffness_a = 2.25\nstiffness_b = 3.0\nlattice_spacing = 0.2").unwrap();
    assert!((k.segment_a - 0.2 * (3.0f64 / 2.25).sqrt()).abs() < 1e-15);
    assert!((k.segment_b - 0.2).abs() < 1e-15);
    assert_eq!(ChainModel::from_toml_str("").unwrap(), ChainModel::default());
    assert!((ChainModel::default().segment_a - 0.23094).abs() < 1e-5);
    for bad in [
        "beads = 100\nfoo = 1",
        "a_beads = 0",
        "a_beads = 100",
        "segment_a = -0.1",
        "segment_a = nan",
        "box = [6.4, 0.0]",
        "segment_a = 0.2\nstiffness_a = 2.0",
        "stiffness_b = 0.0",
        "beads = \"many\"",
    ] {
        let err = ChainModel::from_toml_str(bad).unwrap_err().to_string();
        assert!(!err.contains('\n'), "multi-line error for {bad:?}: {err}");
        assert!(err.starts_with("invalid model") || err.starts_with("cannot parse model"), "{bad:?}: {err}");
    }
}

fn small_config() -> GeneratorConfig {
    GeneratorConfig {
        grid: [16, 16],
        seed: 42,
        grf: GrfFamily { samples: 9, ..Default::default() },
        scft: ScftFamily { runs: 3, snapshots_per_run: 3, max_iterations: 60, ..Default::default() },
        lfts: LftsFamily { runs: 2, snapshots_per_run: 3, steps: 30, ..Default::default() },
    }
}

fn small_model() -> ChainModel {
    ChainModel { beads: 40, a_beads: 28, box_size: [3.2, 3.2], ..ChainModel::default() }
}

#[test]
fn datasets_are_deterministic_across_threads_and_shards_merge_to_the_whole() {
    let config = small_config();
    let model = small_model();
    let make = |threads: usize, shard: Option<Shard>| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| generate(&model, &config, shard, &|_| {}).unwrap())
    };
    let whole = make(2, None);
    assert_eq!(whole.len(), 9 + 3 * 3 + 2 * 3);
    let bytes = whole.to_bytes().unwrap();
    assert_eq!(bytes, make(1, None).to_bytes().unwrap(), "thread count changed the file");
    let shards: Vec<Dataset> = (0..4).rev().map(|i| make(1 + i % 2, Some(Shard { index: i, count: 4 }))).collect();
    let merged = Dataset::merge(shards).unwrap();
    assert_eq!(merged.to_bytes().unwrap(), bytes, "merged shards differ from the unsharded file");

    // Round trip through a file, and the pairs are exact solves.
    let dir = std::env::temp_dir().join(format!("mesofield-test-{}", std::process::id()));
    let path = dir.join("d.safetensors");
    whole.save(&path).unwrap();
    let loaded = Dataset::load(&path).unwrap();
    assert_eq!(loaded.to_bytes().unwrap(), bytes);
    let grid = Grid::for_model(&model, 16, 16).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let mut phi = vec![0.0; loaded.w.len()];
    let mut log_q = vec![0.0; loaded.len()];
    solver.solve_batch(&loaded.w, &mut phi, &mut log_q).unwrap();
    assert_eq!(phi, loaded.phi);
    assert!(loaded.family.iter().filter(|&&f| f == 1).count() == 9);
    // L-FTS snapshots: W_+ at its partial saddle point, steps in the second half.
    let m = grid.points();
    for s in (0..loaded.len()).filter(|&s| loaded.family[s] == 2) {
        let p = &loaded.phi[s * 2 * m..(s + 1) * 2 * m];
        let worst = (0..m).map(|i| (p[i] + p[m + i] - 1.0).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-6, "sample {s}: |phi_A + phi_B - 1| = {worst}");
        assert!((15..=30).contains(&loaded.step[s]), "step {}", loaded.step[s]);
    }
    assert!(loaded.chi.iter().zip(&loaded.family).all(|(c, &f)| (f == 0) == c.is_nan()));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn merging_refuses_incomplete_or_mixed_shards() {
    let config = small_config();
    let model = small_model();
    let a = generate(&model, &config, Some(Shard { index: 0, count: 2 }), &|_| {}).unwrap();
    assert!(Dataset::merge(vec![a.clone()]).is_err());
    let other = GeneratorConfig { seed: 43, ..config };
    let b = generate(&model, &other, Some(Shard { index: 1, count: 2 }), &|_| {}).unwrap();
    assert!(Dataset::merge(vec![a, b]).is_err());
}

#[test]
fn perturbed_copies_sit_near_their_snapshots_and_leave_the_rest_unchanged() {
    let model = small_model();
    let base = GeneratorConfig {
        grid: [16, 16],
        seed: 7,
        grf: GrfFamily::default(),
        scft: ScftFamily { runs: 2, snapshots_per_run: 3, max_iterations: 60, ..Default::default() },
        lfts: LftsFamily::default(),
    };
    let copies = GeneratorConfig {
        scft: ScftFamily { perturbed_copies: 2, perturbation: [0.002, 0.004], ..base.scft.clone() },
        ..base.clone()
    };
    let plain = generate(&model, &base, None, &|_| {}).unwrap();
    let more = generate(&model, &copies, None, &|_| {}).unwrap();
    assert_eq!(more.meta.rejected, 0);
    assert_eq!(more.len(), 2 * 3 * 3);
    let m = 16 * 16;
    let sample = |d: &Dataset, s: usize| d.w[s * 2 * m..(s + 1) * 2 * m].to_vec();
    // Per run: its 3 snapshots as without copies, then 2 copies of each.
    for run in 0..2 {
        for j in 0..3 {
            assert_eq!(sample(&more, 9 * run + j), sample(&plain, 3 * run + j), "snapshot {j} of run {run} changed");
        }
        for c in 0..6 {
            let s = 9 * run + 3 + c;
            let from = 9 * run + c / 2;
            assert_eq!(more.family[s], 3);
            assert_eq!((more.run[s], more.step[s]), (more.run[from], more.step[from]));
            assert_eq!(more.chi[s].to_bits(), more.chi[from].to_bits());
            // Each channel moved by about the drawn amplitude (rms within the
            // range, up to the sampling spread of a smooth field).
            let (w, w0) = (sample(&more, s), sample(&more, from));
            for channel in 0..2 {
                let rms = (w[channel * m..(channel + 1) * m]
                    .iter()
                    .zip(&w0[channel * m..(channel + 1) * m])
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    / m as f64)
                    .sqrt();
                assert!((0.0005..0.008).contains(&rms), "copy {s} channel {channel}: rms change {rms}");
            }
        }
    }
    // The copies' densities are exact solves of their fields.
    let grid = Grid::for_model(&model, 16, 16).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let mut phi = vec![0.0; more.w.len()];
    let mut log_q = vec![0.0; more.len()];
    solver.solve_batch(&more.w, &mut phi, &mut log_q).unwrap();
    assert_eq!(phi, more.phi);
}
