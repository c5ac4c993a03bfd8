//! The interrupt flag (`mesofield_physics::interrupt`): once set, the loops
//! built on solvers made inside `with_interrupt` stop with
//! `Error::Interrupted`, whichever thread sets it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mesofield_physics::fields::InitialField;
use mesofield_physics::fts::{Lfts, LftsConfig};
use mesofield_physics::interrupt::with_interrupt;
use mesofield_physics::inverse::{InverseConfig, invert};
use mesofield_physics::rng::StreamRng;
use mesofield_physics::scft::{ScftConfig, run_scft};
use mesofield_physics::{ChainModel, Error, ExactSolver, Grid, Solvers};

fn setup() -> (ChainModel, Grid) {
    let model = ChainModel::default();
    let grid = Grid::for_model(&model, 16, 16).unwrap();
    (model, grid)
}

#[test]
fn a_set_flag_stops_scft_and_the_inverse_map() {
    let (model, grid) = setup();
    let flag = Arc::new(AtomicBool::new(false));
    let solver = with_interrupt(flag.clone(), || ExactSolver::new(&model, grid).unwrap());
    let w0 = InitialField::parse("lamellar:1").unwrap().unwrap().fields(&model, &grid, 0.5, &mut StreamRng::new(0, 0));
    let config = ScftConfig { chi: 0.5, tolerance: 1e-10, ..Default::default() };
    // Unset, the solver works.
    let out = run_scft(&solver, &config, &w0, &mut |_, _| {}).unwrap();
    assert!(out.converged);
    flag.store(true, Ordering::Relaxed);
    assert_eq!(run_scft(&solver, &config, &w0, &mut |_, _| {}).err(), Some(Error::Interrupted));
    let target = out.phi.clone();
    assert_eq!(invert(&solver, &target, None, &InverseConfig::default()).err(), Some(Error::Interrupted));
    // A solver made outside the scope does not see the flag.
    let free = ExactSolver::new(&model, grid).unwrap();
    assert!(run_scft(&free, &config, &w0, &mut |_, _| {}).is_ok());
}

#[test]
fn another_thread_stops_a_long_sampling_run() {
    let (model, grid) = setup();
    let flag = Arc::new(AtomicBool::new(false));
    let steps_done = Arc::new(AtomicUsize::new(0));
    let solver = with_interrupt(flag.clone(), || ExactSolver::new(&model, grid).unwrap());
    let watcher = {
        let (flag, steps_done) = (flag.clone(), steps_done.clone());
        std::thread::spawn(move || {
            while steps_done.load(Ordering::Relaxed) < 3 {
                std::thread::yield_now();
            }
            flag.store(true, Ordering::Relaxed);
        })
    };
    let lfts = Lfts::new(LftsConfig::new(0.4, 100.0, 0.05, 1), Solvers::exact(&solver)).unwrap();
    let w0 = InitialField::Random { amplitude: 0.1 }.fields(&model, &grid, 0.4, &mut StreamRng::new(1, 0));
    let (mut state, _) = lfts.start(&w0, 0).unwrap();
    let total = 1_000_000;
    let mut stopped = None;
    for step in 0..total {
        match lfts.step(&state) {
            Ok((next, _)) => state = next,
            Err(e) => {
                stopped = Some((step, e));
                break;
            }
        }
        steps_done.store(step + 1, Ordering::Relaxed);
    }
    watcher.join().unwrap();
    let (step, e) = stopped.expect("the run stopped");
    assert_eq!(e, Error::Interrupted);
    assert!(step >= 3 && step < total, "stopped at step {step}");
}
