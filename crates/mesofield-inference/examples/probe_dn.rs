use mesofield_inference::contrast_relative_error;
use mesofield_inference::denoise::{DenoiseConfig, denoise};
use mesofield_inference::gradient::LinearResponse;
use mesofield_physics::fields::InitialField;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, ExactSolver, Grid};
fn main() {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 16, 16).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    let chi = 0.3;
    let w0 = InitialField::Lamellar { periods: 1 }.fields(&model, &grid, chi, &mut StreamRng::new(1, 0));
    let out =
        run_scft(&exact, &ScftConfig { chi, tolerance: 1e-10, ..Default::default() }, &w0, &mut |_, _| {}).unwrap();
    println!("scft dF {} iters {}", out.d_f, out.iterations);
    let m = grid.points();
    let mut rng = StreamRng::new(3, 0);
    let y: Vec<f64> = out.phi[..m].iter().map(|p| p + 0.01 * rng.normal()).collect();
    let config = DenoiseConfig {
        data_weight: 0.0,
        max_iterations: 3000,
        tolerance: 1e-9,
        ..DenoiseConfig::new(chi, 100.0, 0.05)
    };
    let r = denoise(&exact, None, &LinearResponse::new(&model, grid), &y, &config, &mut |p| {
        if p.iteration % 100 == 0 {
            println!("it {} action {} tau {}", p.iteration, p.action, p.step_size)
        }
    })
    .unwrap();
    println!("{}", serde_json::to_string(&r).unwrap());
    println!("err {}", contrast_relative_error(&r.phi_a, &out.phi[..m]));
    let (lo, hi) = r.phi_a.iter().fold((9.0f64, -9.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    println!("phi range {lo} {hi}");
}
