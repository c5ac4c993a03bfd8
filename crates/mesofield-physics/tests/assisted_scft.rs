//! Operator-assisted SCFT ends at the exact saddle point, whatever the
//! approximate solver: a close one saves exact solves, a useless one is
//! caught by the trust check.

use mesofield_physics::fields::InitialField;
use mesofield_physics::hamiltonian::residuals;
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::assisted::{AssistConfig, Counting, run_assisted_scft};
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::seam::conformance::ScaledFields;
use mesofield_physics::{ChainModel, Error, ExactSolver, FieldSolver, Grid};

/// An approximate solver: the exact solver of a slightly different chain
/// (segment lengths scaled), reported under the true model; with `float32`,
/// its densities and ln Q are rounded to float32 as a trained operator's are.
struct Approximate {
    inner: ExactSolver,
    model: ChainModel,
    float32: bool,
}

impl FieldSolver for Approximate {
    fn name(&self) -> String {
        "approximate".into()
    }
    fn model(&self) -> &ChainModel {
        &self.model
    }
    fn grid(&self) -> &Grid {
        self.inner.grid()
    }
    fn provides_log_q(&self) -> bool {
        true
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<(), Error> {
        self.inner.solve_batch(w, phi, log_q)?;
        if self.float32 {
            for v in phi.iter_mut().chain(log_q.iter_mut()) {
                *v = *v as f32 as f64;
            }
        }
        Ok(())
    }
}

/// A useless solver: the homogeneous densities whatever the fields.
struct Uniform {
    model: ChainModel,
    grid: Grid,
}

impl FieldSolver for Uniform {
    fn name(&self) -> String {
        "uniform".into()
    }
    fn model(&self) -> &ChainModel {
        &self.model
    }
    fn grid(&self) -> &Grid {
        &self.grid
    }
    fn provides_log_q(&self) -> bool {
        false
    }
    fn solve_batch(&self, w: &[f64], phi: &mut [f64], log_q: &mut [f64]) -> Result<(), Error> {
        let m = self.grid.points();
        let f = self.model.f_a();
        for (s, sample) in phi.chunks_mut(2 * m).enumerate() {
            let (a, b) = sample.split_at_mut(m);
            a.fill(f);
            b.fill(1.0 - f);
            log_q[s] = 0.0;
        }
        let _ = w;
        Ok(())
    }
}

fn setup(chi: f64) -> (ChainModel, Grid, ExactSolver, Vec<f64>) {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 32, 32).unwrap();
    let exact = ExactSolver::new(&model, grid).unwrap();
    // Two lamellae with noise on W_-: a start where plain SCFT converges.
    let mut rng = StreamRng::new(11, 0);
    let mut w0 = InitialField::Lamellar { periods: 2 }.fields(&model, &grid, chi, &mut rng);
    let m = grid.points();
    for i in 0..m {
        let z = 0.05 * chi * rng.normal();
        w0[i] -= z;
        w0[m + i] += z;
    }
    (model, grid, exact, w0)
}

fn exact_residual(exact: &ExactSolver, chi: f64, w: &[f64]) -> f64 {
    let mut phi = vec![0.0; w.len()];
    let mut log_q = [0.0];
    exact.solve_batch(w, &mut phi, &mut log_q).unwrap();
    let (a, b) = residuals(chi, w, &phi);
    a.max(b)
}

#[test]
fn a_close_operator_reaches_the_exact_saddle_point_with_fewer_exact_solves() {
    let chi = 0.3;
    let (model, grid, exact, w0) = setup(chi);
    let close_model =
        ChainModel { segment_a: 0.99 * model.segment_a, segment_b: 0.99 * model.segment_b, ..model.clone() };
    let operator =
        Approximate { inner: ExactSolver::new(&close_model, grid).unwrap(), model: model.clone(), float32: false };
    let scft = ScftConfig { chi, tolerance: 1e-9, ..Default::default() };
    let reference = run_scft(&exact, &scft, &w0, &mut |_, _| {}).unwrap();
    assert!(reference.converged);
    let run = run_assisted_scft(&operator, &exact, &AssistConfig::new(scft.clone()), &w0, &mut |_, _, _| {}).unwrap();
    assert!(run.fallback.is_none(), "{:?}", run.fallback);
    assert!(run.outcome.converged);
    assert!(exact_residual(&exact, chi, &run.outcome.w) < 1e-9);
    assert!((run.outcome.d_f - reference.d_f).abs() < 1e-8, "dF {} vs exact {}", run.outcome.d_f, reference.d_f);
    assert!(run.cost.operator_calls > 0);
    assert!(
        run.cost.exact_solves < reference.solves,
        "assisted used {} exact solves, exact alone {}",
        run.cost.exact_solves,
        reference.solves
    );
}

#[test]
fn outer_steps_reach_the_tolerance_through_float32_rounding_with_a_third_of_the_exact_solves() {
    // A close operator whose outputs are rounded to float32: plain
    // differences of two nearby predictions are rounding noise once the
    // anchors are within about 1e-5 of the saddle point, so the outer steps
    // stall there and the exact polish does the rest; the scaled linear
    // response (`linear_below`) carries them down to the tolerance itself.
    let chi = 0.3;
    let (model, grid, exact, w0) = setup(chi);
    let close_model =
        ChainModel { segment_a: 0.99 * model.segment_a, segment_b: 0.99 * model.segment_b, ..model.clone() };
    let operator =
        Approximate { inner: ExactSolver::new(&close_model, grid).unwrap(), model: model.clone(), float32: true };
    let scft = ScftConfig { chi, tolerance: 1e-8, ..Default::default() };
    let reference = run_scft(&exact, &scft, &w0, &mut |_, _| {}).unwrap();
    let run_with = |linear_below: f64| {
        let config = AssistConfig { linear_below, ..AssistConfig::new(scft.clone()) };
        run_assisted_scft(&operator, &exact, &config, &w0, &mut |_, _, _| {}).unwrap()
    };
    let linear = run_with(1e-3);
    assert!(linear.fallback.is_none(), "{:?}", linear.fallback);
    assert!(linear.outcome.converged);
    assert!((linear.outcome.d_f - reference.d_f).abs() < 1e-8, "dF {} vs {}", linear.outcome.d_f, reference.d_f);
    assert!(
        *linear.anchor_residuals.last().unwrap() < 1e-7,
        "the outer steps stopped at {:?}",
        linear.anchor_residuals
    );
    assert!(
        3 * linear.cost.exact_solves <= reference.solves,
        "assisted {} exact solves, exact alone {}",
        linear.cost.exact_solves,
        reference.solves
    );
    let plain = run_with(0.0);
    assert!(plain.outcome.converged);
    let floor = plain.anchor_residuals.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(floor > 1e-7, "plain differences went below the rounding floor: {:?}", plain.anchor_residuals);
}

#[test]
fn a_wrong_operator_is_caught_by_the_trust_check_and_the_answer_stays_exact() {
    let chi = 0.3;
    let (_, _, exact, w0) = setup(chi);
    let operator = ScaledFields { exact: &exact, factor: -1.0 };
    let scft = ScftConfig { chi, tolerance: 1e-9, ..Default::default() };
    let counted = Counting::new(&exact);
    let run = run_assisted_scft(&operator, &counted, &AssistConfig::new(scft.clone()), &w0, &mut |_, _, _| {}).unwrap();
    assert!(run.fallback.is_some(), "the trust check let a wrong operator through: {:?}", run.anchor_residuals);
    assert!(run.outcome.converged);
    assert!(exact_residual(&exact, chi, &run.outcome.w) < 1e-9);
    assert_eq!(run.cost.exact_solves, counted.count(), "every exact solve is counted");
    let reference = run_scft(&exact, &scft, &w0, &mut |_, _| {}).unwrap();
    assert!((run.outcome.d_f - reference.d_f).abs() < 1e-8, "dF {} vs exact {}", run.outcome.d_f, reference.d_f);
}

#[test]
fn a_useless_operator_still_ends_at_the_exact_saddle_point() {
    let chi = 0.3;
    let (model, grid, exact, w0) = setup(chi);
    let operator = Uniform { model: model.clone(), grid };
    let scft = ScftConfig { chi, tolerance: 1e-9, ..Default::default() };
    let run = run_assisted_scft(&operator, &exact, &AssistConfig::new(scft.clone()), &w0, &mut |_, _, _| {}).unwrap();
    assert!(run.outcome.converged);
    assert!(exact_residual(&exact, chi, &run.outcome.w) < 1e-9);
    let reference = run_scft(&exact, &scft, &w0, &mut |_, _| {}).unwrap();
    assert!((run.outcome.d_f - reference.d_f).abs() < 1e-8, "dF {} vs exact {}", run.outcome.d_f, reference.d_f);
}

#[test]
fn an_operator_for_another_grid_is_refused() {
    let (model, _, exact, w0) = setup(0.3);
    let other = Grid::for_model(&model, 16, 16).unwrap();
    let operator = Uniform { model: model.clone(), grid: other };
    let scft = ScftConfig { chi: 0.3, ..Default::default() };
    let err = run_assisted_scft(&operator, &exact, &AssistConfig::new(scft), &w0, &mut |_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("another grid"), "{err}");
}
