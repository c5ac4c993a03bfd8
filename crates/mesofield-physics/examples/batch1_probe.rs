use mesofield_physics::*;
use std::time::Instant;
fn main() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let solver = ExactSolver::new(&model, grid).unwrap();
    let m = grid.points();
    let mut rng = mesofield_physics::rng::StreamRng::new(1, 0);
    let w: Vec<f64> = (0..2 * m).map(|_| 0.05 * rng.normal()).collect();
    let mut phi = vec![0.0; 2 * m];
    let mut lq = [0.0];
    let mut ws = solver.workspace();
    for _ in 0..10 { solver.solve_into(&mut ws, &w, &mut phi).unwrap(); }
    let t = Instant::now();
    for _ in 0..1000 { solver.solve_into(&mut ws, &w, &mut phi).unwrap(); }
    println!("solve_into: {:.3} ms", t.elapsed().as_secs_f64());
    let t = Instant::now();
    for _ in 0..1000 { solver.solve_batch(&w, &mut phi, &mut lq).unwrap(); }
    println!("solve_batch(1): {:.3} ms", t.elapsed().as_secs_f64());
}
