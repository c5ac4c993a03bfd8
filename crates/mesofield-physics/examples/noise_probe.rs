use mesofield_physics::rng::StreamRng;
use mesofield_physics::*;
fn main() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    for amp in [0.01, 0.05, 0.1, 0.3, 0.7] {
        let mut rng = StreamRng::new(7, 0);
        let wm: Vec<f64> = (0..m).map(|_| amp * rng.normal()).collect();
        let mut w = vec![0.0; 2 * m];
        for i in 0..m { w[i] = -wm[i]; w[m + i] = wm[i]; }
        let mut phi = vec![0.0; 2 * m];
        let mut lq = [0.0];
        let r = solver.solve_batch(&w, &mut phi, &mut lq);
        let tot: Vec<f64> = (0..m).map(|i| phi[i] + phi[m + i] - 1.0).collect();
        let mx = tot.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
        let pa = phi[..m].iter().fold((9.0f64, -9.0f64), |a, &b| (a.0.min(b), a.1.max(b)));
        println!("amp {amp}: {:?} maxdev tot {mx:.3e} phiA {pa:?} lnQ {}", r.is_ok(), lq[0]);
    }
}
