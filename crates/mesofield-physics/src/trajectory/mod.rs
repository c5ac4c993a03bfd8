//! One trajectory driver for every loop that advances states in time
//! (pscfpp's `fts/analyzer` pattern): a `Stepper` moves a batch of replicas
//! one step, and after every step the driver hands each replica's new state
//! to that replica's analyzers (trace, running S(q), snapshots, files).
//! `mesofield sample`, `mesofield dynamics`, `bench loops` and Python's
//! `sample` are compositions of it, so their means and errors are computed
//! by the same code from the same states.

pub mod analyzer;

use std::time::Instant;

use crate::dynamics::{Dynamics, DynamicsCost, DynamicsState};
use crate::error::Result;
use crate::fts::{Lfts, LftsState};
use crate::seam::SolveCost;

/// A loop that advances each of a batch of states by one step.
pub trait Stepper {
    type State;
    /// What a step spent (summed over a run with `+=`).
    type Cost: Copy + Default + std::ops::AddAssign;
    fn step(&self, states: &[Self::State]) -> Result<Vec<(Self::State, Self::Cost)>>;
}

/// An analyzer of one replica: it sees the replica's state after every step
/// (and its start, where the driver samples it), with the replica's cost so
/// far.
pub trait Analyzer<S, C> {
    fn sample(&mut self, state: &S, cost: &C) -> Result<()>;
}

/// One replica: its state, its cost so far, and its analyzers.
pub struct Replica<'a, S, C> {
    pub state: S,
    pub cost: C,
    pub analyzers: Vec<&'a mut dyn Analyzer<S, C>>,
}

/// What a state shows its analyzers.
pub trait Observed {
    /// Steps taken.
    fn step(&self) -> usize;
    /// Energy per chain relative to the homogeneous melt (H for L-FTS, F
    /// for dynamics).
    fn energy(&self) -> f64;
    /// Densities `[2][M]`.
    fn phi(&self) -> &[f64];
}

/// Advances `replicas` with `stepper` to step `until`, every analyzer of a
/// replica sampling each of its new states; `after_step` sees the states
/// after each step (progress). Returns the seconds spent stepping.
pub fn run<T: Stepper>(
    stepper: &T,
    replicas: &mut [Replica<'_, T::State, T::Cost>],
    until: usize,
    after_step: &mut dyn FnMut(&[Replica<'_, T::State, T::Cost>]),
) -> Result<f64>
where
    T::State: Observed + Clone,
{
    let started = Instant::now();
    while replicas.first().is_some_and(|r| r.state.step() < until) {
        let states: Vec<T::State> = replicas.iter().map(|r| r.state.clone()).collect();
        for (replica, (state, cost)) in replicas.iter_mut().zip(stepper.step(&states)?) {
            replica.cost += cost;
            replica.state = state;
            sample(replica)?;
        }
        after_step(replicas);
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Every analyzer of `replica` samples its current state (a run's start).
pub fn sample<S, C>(replica: &mut Replica<'_, S, C>) -> Result<()> {
    for analyzer in replica.analyzers.iter_mut() {
        analyzer.sample(&replica.state, &replica.cost)?;
    }
    Ok(())
}

/// L-FTS replicas: replica r draws its noise from the stream (seeds[r], step).
pub struct LftsChains<'a> {
    pub lfts: &'a Lfts<'a>,
    pub seeds: Vec<u64>,
    /// A state at a multiple of this step (0: none) is stepped without the
    /// compressor's carried history, as one read back from a file would be:
    /// a run resumed from its snapshots then repeats the uninterrupted run
    /// to round-off, not merely to the compressor's tolerance.
    pub checkpoint_every: usize,
}

impl LftsChains<'_> {
    pub fn new<'a>(lfts: &'a Lfts<'a>, seeds: Vec<u64>) -> LftsChains<'a> {
        LftsChains { lfts, seeds, checkpoint_every: 0 }
    }
}

impl Stepper for LftsChains<'_> {
    type State = LftsState;
    type Cost = SolveCost;
    fn step(&self, states: &[LftsState]) -> Result<Vec<(LftsState, SolveCost)>> {
        let every = self.checkpoint_every;
        let checkpoint = |s: &LftsState| every > 0 && s.step.is_multiple_of(every) && !s.history.is_empty();
        if states.iter().any(checkpoint) {
            let mut fresh = states.to_vec();
            fresh.iter_mut().filter(|s| checkpoint(s)).for_each(|s| s.history.clear());
            return self.lfts.step_replicas(&fresh, &self.seeds);
        }
        self.lfts.step_replicas(states, &self.seeds)
    }
}

impl Observed for LftsState {
    fn step(&self) -> usize {
        self.step
    }
    fn energy(&self) -> f64 {
        self.hamiltonian
    }
    fn phi(&self) -> &[f64] {
        &self.phi
    }
}

impl Stepper for Dynamics<'_> {
    type State = DynamicsState;
    type Cost = DynamicsCost;
    fn step(&self, states: &[DynamicsState]) -> Result<Vec<(DynamicsState, DynamicsCost)>> {
        states.iter().map(|s| Dynamics::step(self, s)).collect()
    }
}

impl Observed for DynamicsState {
    fn step(&self) -> usize {
        self.step
    }
    fn energy(&self) -> f64 {
        self.free_energy
    }
    fn phi(&self) -> &[f64] {
        &self.phi
    }
}
