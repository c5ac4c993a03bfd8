use mesofield_physics::spectral::{SpectralPlan, C64};
use mesofield_physics::*;
fn main() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    let plan = SpectralPlan::new(grid);
    let mut scratch = plan.scratch();
    let eps = 1e-6;
    let mut rng = mesofield_physics::rng::StreamRng::new(1, 1);
    let wp: Vec<f64> = (0..m).map(|_| eps * rng.normal()).collect();
    let mut w = vec![0.0; 2 * m];
    for i in 0..m { w[i] = wp[i]; w[m + i] = wp[i]; }
    let mut phi = vec![0.0; 2 * m];
    let mut lq = [0.0];
    solver.solve_batch(&w, &mut phi, &mut lq).unwrap();
    let mut r: Vec<f64> = (0..m).map(|i| phi[i] + phi[m + i] - 1.0).collect();
    let mut spec = vec![C64::default(); plan.spectrum_len()];
    plan.forward(&mut scratch, &r, &mut spec);
    for (i, (v, q2)) in spec.iter_mut().zip(plan.q_squared_table()).enumerate() {
        *v *= if i == 0 { 0.0 } else { 1.0 / Debye::at(&model, q2).total() };
    }
    plan.inverse(&mut scratch, &spec, &mut r);
    let mean = wp.iter().sum::<f64>() / m as f64;
    let err = r.iter().zip(&wp).map(|(a, b)| (a + (b - mean)).abs()).fold(0.0f64, f64::max);
    println!("max |d + (W+ - mean)| = {err:.3e} (eps {eps})");
    println!("sample: {:?} vs {:?}", &r[..3], &wp[..3]);
}
