//! The SCFT sweep and the chi walk on small boxes.

use mesofield_experiments::Reporter;
use mesofield_experiments::scft_sweep::{SweepSpec, sweep};
use mesofield_experiments::scft_walk::{parse_chi_walk, walk};
use mesofield_physics::ChainModel;

#[test]
fn chi_walks_parse_inclusively_and_refuse_nonsense() {
    let chis = parse_chi_walk("0.2:0.5:0.1").unwrap();
    assert_eq!(chis.len(), 4);
    assert!((chis[3] - 0.5).abs() < 1e-12);
    assert_eq!(parse_chi_walk("0.3").unwrap(), [0.3]);
    assert_eq!(parse_chi_walk("1.0:0.8:-0.1").unwrap().len(), 3);
    for bad in ["0.2:0.5:0", "0.5:0.2:0.1", "a:b:c", "0.1:0.2"] {
        assert!(parse_chi_walk(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_walk_follows_each_start_and_finds_the_lowest() {
    let model = ChainModel::default();
    let chis = [0.3, 0.35, 0.4];
    let inits = ["lamellar:1".to_string(), "square:1:1".to_string()];
    let report = walk(&model, [16, 16], &chis, &inits, 0, 1e-9, 3000, &Reporter::silent()).unwrap();
    assert_eq!(report.walks.len(), 2);
    for w in &report.walks {
        assert!(w.points.iter().all(|p| p.converged && p.residual < 1e-9), "{}", w.init);
        // Stronger segregation, lower free energy along a followed phase.
        assert!(w.points.windows(2).all(|p| p[1].d_f < p[0].d_f), "{}", w.init);
    }
    for (k, lowest) in report.lowest.iter().enumerate() {
        let best = report.walks.iter().min_by(|a, b| a.points[k].d_f.total_cmp(&b.points[k].d_f)).unwrap();
        assert_eq!(lowest, &best.init);
    }
    let changes = report.lowest.windows(2).filter(|p| p[0] != p[1]).count();
    assert_eq!(report.boundaries.len(), changes);
}

#[test]
fn a_sweep_counts_every_start_and_converges() {
    let spec = SweepSpec {
        chis: vec![0.3, 0.6],
        inits: vec!["random:0.1".into(), "lamellar:1".into()],
        seeds: 2,
        model: ChainModel::default(),
        grid: [16, 16],
        tolerance: 1e-9,
        max_iterations: 5000,
    };
    let report = sweep(&spec, &Reporter::silent()).unwrap();
    assert_eq!(report.runs.len(), 6);
    for row in &report.rows {
        assert_eq!((row.runs, row.failures), (3, 0), "chi {}", row.chi);
        assert!(row.iterations[0] <= row.iterations[1]);
        assert!(row.best_d_f < 0.0);
    }
    let bad = SweepSpec { inits: vec!["file.safetensors".into()], ..spec };
    assert!(sweep(&bad, &Reporter::silent()).is_err());
}
