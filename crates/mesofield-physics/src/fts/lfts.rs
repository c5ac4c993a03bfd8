//! Langevin field-theoretic simulation (docs/model.md): the exchange field W_-
//! fluctuates, the pressure field W_+ sits at its partial saddle point
//! (phi_A + phi_B = 1) after every step.
//!
//! Scheme: docs/model.md's step k,
//!     W_- <- W_- - lambda (phi_B - phi_A + 2 W_- / chi) + xi_k,
//!     <eta_k(r) eta_k(r')> = 2 lambda / B delta(r, r'),
//! with xi_k = eta_k (Euler-Maruyama) or (eta_k + eta_{k+1}) / 2
//! (Leimkuhler-Matthews), then the compressor (`fts::compressor`) brings
//! W_+ back to its partial saddle point. eta_k is drawn from the stream
//! (seed, k), so a resumed run continues the same trajectory under either
//! integrator, and the Leimkuhler-Matthews step costs no more solves.
//!
//! Why Leimkuhler-Matthews: for a quadratic G = a W^2 / 2 its chain
//! W_{k+1} = c W_k + s (eta_k + eta_{k+1}) / 2 (c = 1 - lambda a) has the
//! exact stationary variance 1 / (a B) at every stable step (with
//! z_k = W_k - eta_k / 2, an AR(1) chain independent of eta_k), where
//! Euler-Maruyama's is 1 / (a B (1 - lambda a / 2)).

use crate::error::{Error, Result};
use crate::fts::compressor::{Compressor, CompressorConfig, PartialSaddle, PressureHistory};
use crate::rng::StreamRng;
use crate::seam::{SolveCost, Solvers};

/// The discretisation of the Langevin equation (module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Integrator {
    /// xi_k = eta_k: the explicit step, first order in lambda.
    #[serde(rename = "em")]
    EulerMaruyama,
    /// xi_k = (eta_k + eta_{k+1}) / 2: exact stationary variance for a
    /// quadratic Hamiltonian, second order for averages. The default: at
    /// chi = 0.4, B = 100, lambda = 0.1 its <H> is within 0.0007 of the
    /// small-step limit where Euler-Maruyama's is 0.146 above it
    /// (BENCHMARKS.md).
    #[default]
    #[serde(rename = "lm")]
    LeimkuhlerMatthews,
}

impl Integrator {
    pub fn name(self) -> &'static str {
        match self {
            Integrator::EulerMaruyama => "em",
            Integrator::LeimkuhlerMatthews => "lm",
        }
    }

    /// Settings written before the integrator was a choice were
    /// Euler-Maruyama.
    pub fn legacy() -> Self {
        Integrator::EulerMaruyama
    }

    /// The noise xi_k of step `step` of the chain `seed`, each eta of
    /// standard deviation `std`, into `xi`.
    pub fn noise(self, seed: u64, step: usize, std: f64, xi: &mut [f64]) {
        xi.fill(0.0);
        if std <= 0.0 {
            return;
        }
        let (draws, weight) = match self {
            Integrator::EulerMaruyama => (1, std),
            Integrator::LeimkuhlerMatthews => (2, 0.5 * std),
        };
        for k in step..step + draws {
            let mut rng = StreamRng::new(seed, k as u64);
            for x in xi.iter_mut() {
                *x += weight * rng.normal();
            }
        }
    }
}

impl std::fmt::Display for Integrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Integrator {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "em" => Ok(Integrator::EulerMaruyama),
            "lm" => Ok(Integrator::LeimkuhlerMatthews),
            other => Err(Error::Parameter(format!("integrator: expected em or lm, got {other:?}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LftsConfig {
    pub chi: f64,
    /// Beads per grid cell, B: the fluctuation strength (larger is weaker;
    /// infinite is mean field).
    pub beads_per_cell: f64,
    /// lambda, the Langevin step.
    pub step_size: f64,
    /// How the noise enters the step (module docs).
    #[serde(default = "Integrator::legacy")]
    pub integrator: Integrator,
    pub seed: u64,
    /// Without noise the run is a descent to the SCFT saddle point.
    pub noise: bool,
    /// The W_+ solver after each step.
    pub compressor: CompressorConfig,
}

impl LftsConfig {
    pub fn new(chi: f64, beads_per_cell: f64, step_size: f64, seed: u64) -> Self {
        LftsConfig {
            chi,
            beads_per_cell,
            step_size,
            integrator: Integrator::default(),
            seed,
            noise: true,
            compressor: CompressorConfig::chain(),
        }
    }

    pub fn with_integrator(mut self, integrator: Integrator) -> Self {
        self.integrator = integrator;
        self
    }

    /// The same settings with the compressor's tolerance on
    /// max |phi_A + phi_B - 1| set to `tolerance`.
    pub fn with_pressure_tolerance(mut self, tolerance: f64) -> Self {
        self.compressor.tolerance = tolerance;
        self
    }

    pub fn validate(&self) -> Result<()> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.chi) {
            return Err(Error::Parameter(format!("chi must be finite and > 0, got {}", self.chi)));
        }
        if !(self.beads_per_cell > 0.0) {
            return Err(Error::Parameter(format!("beads per cell must be > 0, got {}", self.beads_per_cell)));
        }
        if !positive(self.step_size) {
            return Err(Error::Parameter(format!("step size must be finite and > 0, got {}", self.step_size)));
        }
        self.compressor.validate()
    }

    /// Standard deviation of eta per grid point, sqrt(2 lambda / B).
    pub fn noise_std(&self) -> f64 {
        if self.noise { (2.0 * self.step_size / self.beads_per_cell).sqrt() } else { 0.0 }
    }
}

/// docs/model.md's update of W_- at every point, given the densities at the
/// current fields and the step's noise `xi` (`Integrator::noise`).
pub fn langevin_update(w_minus: &mut [f64], phi: &[f64], chi: f64, step_size: f64, xi: &[f64]) {
    let m = w_minus.len();
    for i in 0..m {
        let force = phi[m + i] - phi[i] + 2.0 * w_minus[i] / chi;
        w_minus[i] += -step_size * force + xi[i];
    }
}

/// The sampler's state: fields at the partial saddle point and their
/// densities, ln Q and Hamiltonian.
#[derive(Clone, Debug)]
pub struct LftsState {
    /// Steps taken.
    pub step: usize,
    pub w_minus: Vec<f64>,
    pub w_plus: Vec<f64>,
    pub phi: Vec<f64>,
    pub log_q: f64,
    /// H/n relative to the homogeneous melt (`hamiltonian::free_energy`).
    pub hamiltonian: f64,
    /// Exact max-norm of phi_A + phi_B - 1.
    pub pressure_residual: f64,
    /// The compressor's Anderson pairs, for the next step's loop
    /// (`CompressorConfig::carry_history`); a state read from a file has none.
    pub history: PressureHistory,
}

impl LftsState {
    fn at(step: usize, saddle: PartialSaddle, hamiltonian: f64) -> Self {
        let PartialSaddle { w_minus, w_plus, phi, log_q, pressure_residual, history } = saddle;
        LftsState { step, w_minus, w_plus, phi, log_q, hamiltonian, pressure_residual, history }
    }

    /// The state's fields and densities as the compressor's (a clone).
    pub fn saddle(&self) -> PartialSaddle {
        PartialSaddle {
            w_minus: self.w_minus.clone(),
            w_plus: self.w_plus.clone(),
            phi: self.phi.clone(),
            log_q: self.log_q,
            pressure_residual: self.pressure_residual,
            history: self.history.clone(),
        }
    }
}

pub struct Lfts<'a> {
    pub config: LftsConfig,
    compressor: Compressor<'a>,
}

impl<'a> Lfts<'a> {
    /// A sampler on the solvers' grid; with an operator, the compressor runs on it.
    pub fn new(config: LftsConfig, solvers: Solvers<'a>) -> Result<Self> {
        config.validate()?;
        let compressor = Compressor::new(config.compressor.clone(), solvers)?;
        Ok(Lfts { config, compressor })
    }

    pub fn points(&self) -> usize {
        self.compressor.points()
    }

    /// The states of compressed fields, with their Hamiltonian at this chi.
    fn states(&self, steps: &[usize], relaxed: Vec<(PartialSaddle, SolveCost)>) -> Vec<(LftsState, SolveCost)> {
        let model = self.compressor.solvers().model();
        relaxed
            .into_iter()
            .zip(steps)
            .map(|((saddle, cost), &step)| {
                let hamiltonian = saddle.hamiltonian(model, self.config.chi);
                (LftsState::at(step, saddle, hamiltonian), cost)
            })
            .collect()
    }

    /// The state at fields `w` (`[2][M]`): W_+ brought to its partial saddle point.
    pub fn start(&self, w: &[f64], step: usize) -> Result<(LftsState, SolveCost)> {
        let m = self.points();
        if w.len() != 2 * m {
            return Err(Error::Shape(format!("fields hold {} values, expected 2 x {m}", w.len())));
        }
        Ok(self.start_replicas(w, step)?.pop().expect("one replica"))
    }

    /// `start` for R replicas at once (`w` is `[R][2][M]`; the compressor's
    /// loops as in `Compressor::relax`).
    pub fn start_replicas(&self, w: &[f64], step: usize) -> Result<Vec<(LftsState, SolveCost)>> {
        let m = self.points();
        if w.is_empty() || !w.len().is_multiple_of(2 * m) {
            return Err(Error::Shape(format!("fields hold {} values, expected R x 2 x {m}", w.len())));
        }
        let steps = vec![step; w.len() / (2 * m)];
        let relaxed = self.compressor.start_batch(w, &steps)?;
        Ok(self.states(&steps, relaxed))
    }

    /// One Langevin step from `state`.
    pub fn step(&self, state: &LftsState) -> Result<(LftsState, SolveCost)> {
        Ok(self.step_replicas(std::slice::from_ref(state), &[self.config.seed])?.pop().expect("one replica"))
    }

    /// One Langevin step of each replica, replica r drawing its noise from
    /// the stream (seeds[r], step): the chain of a run with seed seeds[r],
    /// step for step (each field is solved on its own, so batching does not
    /// change a single bit).
    pub fn step_replicas(&self, states: &[LftsState], seeds: &[u64]) -> Result<Vec<(LftsState, SolveCost)>> {
        if states.len() != seeds.len() {
            return Err(Error::Shape(format!("{} replicas with {} seeds", states.len(), seeds.len())));
        }
        let m = self.points();
        let std = self.config.noise_std();
        let moved = states
            .iter()
            .zip(seeds)
            .map(|(state, &seed)| {
                let mut xi = vec![0.0; m];
                self.config.integrator.noise(seed, state.step, std, &mut xi);
                let mut w_minus = state.w_minus.clone();
                langevin_update(&mut w_minus, &state.phi, self.config.chi, self.config.step_size, &xi);
                w_minus
            })
            .collect();
        self.advance_replicas(states, moved)
    }

    /// The state at a new exchange field `w_minus`, W_+ relaxed to its partial
    /// saddle point from `state`'s (step count + 1).
    pub fn advance(&self, state: &LftsState, w_minus: Vec<f64>) -> Result<(LftsState, SolveCost)> {
        Ok(self.advance_replicas(std::slice::from_ref(state), vec![w_minus])?.pop().expect("one replica"))
    }

    /// `advance` for each replica (`Compressor::advance_batch`).
    pub fn advance_replicas(
        &self,
        states: &[LftsState],
        w_minus: Vec<Vec<f64>>,
    ) -> Result<Vec<(LftsState, SolveCost)>> {
        if states.is_empty() || w_minus.len() != states.len() {
            return Err(Error::Shape(format!("{} replicas with {} exchange fields", states.len(), w_minus.len())));
        }
        let from: Vec<PartialSaddle> = states.iter().map(LftsState::saddle).collect();
        let steps: Vec<usize> = states.iter().map(|s| s.step + 1).collect();
        let relaxed = self.compressor.advance_batch(&from, w_minus, &steps).map_err(|e| match e {
            Error::Sampling(text) => Error::Sampling(format!("{text} (a smaller step size may help)")),
            other => other,
        })?;
        Ok(self.states(&steps, relaxed))
    }
}
