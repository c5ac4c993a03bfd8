//! Pattern dynamics (the paper's eq. 26): d phi_A / dt = div[ M grad mu ].
//!
//! Free energy of an incompressible pattern phi_A (phi_B = 1 - phi_A), per
//! chain and relative to the homogeneous melt, with w the fields that make
//! it (the inverse map; both gauges cancel):
//!     F[phi] = -ln Q[w] - N mean(w_A phi_A + w_B phi_B) + N chi mean(phi_A phi_B)
//!              - N chi f (1 - f).
//! At an SCFT saddle point it equals docs/model.md's dF. Its derivative at grid
//! point r (phi_B following phi_A; the terms from w's change cancel because
//! phi = phi[w]) is (N/M) mu(r), with the exchange chemical potential
//!     mu = dF/dphi_A - dF/dphi_B = 2 W_- - chi (phi_A - phi_B),
//! zero at a saddle point. Time is measured in units where the mobility M0
//! multiplies mu as defined here. For the whole box of B M / N chains the
//! derivative is B mu, which sets the Cahn-Hilliard-Cook noise:
//! <zeta zeta> = 2 (M0 / B) (-laplacian) per unit time.
//!
//! Linear theory: near the melt W_- = delta phi_A / (2 S_D) with
//! S_D = det(S) / S_tot (the incompressible free-chain response), so
//! mu = (1 / S_D - 2 chi) delta phi_A and each mode grows at
//! R(q) = -M0 q^2 [1 / S_D(q) - 2 chi], the RPA rate.
//!
//! Scheme: semi-implicit in Fourier space with the stiff positive part A(q) =
//! 1 / S_D(q) of the linear operator taken implicitly,
//!     phi^{n+1}(q) = phi^n(q) + dt flux^n(q) / (1 + dt M_ref q^2 A(q)),
//! flux = -M0 q^2 mu (constant mobility) or div(M0 phi_A phi_B grad mu)
//! evaluated pseudo-spectrally (local mobility): the stabilised explicit
//! scheme, with M_ref the largest M(r) f (1 - f) / (phi_A phi_B)(r) (the
//! local stiffness of mu: without it, once domains form, steps had to fall to
//! 1e-3 to keep F from rising). In the melt M_ref = M0, so the linear rates
//! keep their first-order accuracy. The q = 0 mode is never touched, so
//! mean(phi_A) is conserved to round-off. Without noise a step that would
//! raise F (or leave the inverse map's reach) is redone with half the step;
//! the step grows back by 1.25 per accepted step up to the requested dt.

use crate::debye::Debye;
use crate::error::{Error, Result};
use crate::hamiltonian::pattern_free_energy;
use crate::inverse::{InverseConfig, Inverter};
use crate::rng::StreamRng;
use crate::seam::{SolveCost, Solvers};
use crate::spectral::{C64, SpectralPlan};

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mobility {
    /// M = M0.
    Constant,
    /// M = M0 phi_A phi_B: no flux through pure domains.
    Local,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DynamicsConfig {
    pub chi: f64,
    pub mobility: Mobility,
    pub m0: f64,
    /// The largest time step (the one asked for).
    pub dt: f64,
    /// Cahn-Hilliard-Cook noise at fluctuation strength B (beads per cell).
    pub noise: bool,
    pub beads_per_cell: f64,
    pub seed: u64,
    /// Inverse-map tolerance, max |phi(w) - phi|.
    pub tolerance: f64,
}

impl DynamicsConfig {
    pub fn new(chi: f64, dt: f64) -> Self {
        DynamicsConfig {
            chi,
            mobility: Mobility::Constant,
            m0: 1.0,
            dt,
            noise: false,
            beads_per_cell: 100.0,
            seed: 0,
            tolerance: 1e-10,
        }
    }

    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("chi", self.chi), ("mobility M0", self.m0), ("dt", self.dt), ("tolerance", self.tolerance)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::Parameter(format!("dynamics: {name} must be finite and > 0, got {v}")));
            }
        }
        if self.noise && !(self.beads_per_cell.is_finite() && self.beads_per_cell > 0.0) {
            return Err(Error::Parameter(format!("dynamics: beads per cell must be > 0, got {}", self.beads_per_cell)));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct DynamicsState {
    pub step: usize,
    pub t: f64,
    /// `[M]`.
    pub phi_a: Vec<f64>,
    /// `[2][M]`, the fields that reproduce phi_A (zero-mean gauge).
    pub w: Vec<f64>,
    /// Exact densities at `w`, `[2][M]`.
    pub phi: Vec<f64>,
    pub log_q: f64,
    /// F per chain relative to the homogeneous melt.
    pub free_energy: f64,
    /// The step the next update will try.
    pub dt: f64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct DynamicsCost {
    /// Exact solves (and Jacobian products, about one solve each) of the
    /// inverse map; its `rejected` counts operator starts that the trust
    /// check threw away.
    pub solves: SolveCost,
    /// Steps redone with half the step.
    pub halved_steps: usize,
}

impl std::ops::AddAssign for DynamicsCost {
    fn add_assign(&mut self, other: DynamicsCost) {
        self.solves += other.solves;
        self.halved_steps += other.halved_steps;
    }
}

pub struct Dynamics<'a> {
    pub config: DynamicsConfig,
    inverter: Inverter<'a>,
    plan: SpectralPlan,
    q2: Vec<f64>,
    /// (q_x, q_y) per half-spectrum mode, the Nyquist components zeroed.
    qxy: Vec<(f64, f64)>,
    /// 1 / S_D(q), 0 at q = 0.
    stiffness: Vec<f64>,
}

/// The most the local stiffness may raise the implicit term.
const MAX_STIFFNESS: f64 = 1e4;

impl<'a> Dynamics<'a> {
    pub fn new(config: DynamicsConfig, solvers: Solvers<'a>) -> Result<Self> {
        config.validate()?;
        let inverter = Inverter::new(solvers, InverseConfig { tolerance: config.tolerance, ..Default::default() })?;
        let exact = solvers.exact;
        let grid = *exact.grid();
        let plan = SpectralPlan::new(grid);
        let q2 = plan.q_squared_table();
        let model = exact.model();
        let stiffness = q2
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                if i == 0 {
                    return 0.0;
                }
                Debye::at(model, q).rpa_f()
            })
            .collect();
        let two_pi = 2.0 * std::f64::consts::PI;
        let qxy = (0..plan.spectrum_len())
            .map(|i| {
                let (kx, ky) = (i % grid.mx, i / grid.mx);
                let nx = if kx <= grid.mx / 2 { kx as f64 } else { kx as f64 - grid.mx as f64 };
                // A derivative of the Nyquist mode has no real representation.
                let qx = if grid.mx.is_multiple_of(2) && kx == grid.mx / 2 { 0.0 } else { two_pi * nx / grid.lx };
                let qy =
                    if grid.my.is_multiple_of(2) && ky == grid.my / 2 { 0.0 } else { two_pi * ky as f64 / grid.ly };
                (qx, qy)
            })
            .collect();
        Ok(Dynamics { config, inverter, plan, q2, qxy, stiffness })
    }

    fn points(&self) -> usize {
        self.plan.grid().points()
    }

    /// The state of pattern `phi_a` (`[M]`), its fields by the inverse map from `start`.
    pub fn start(&self, phi_a: &[f64], start: Option<&[f64]>) -> Result<(DynamicsState, DynamicsCost)> {
        let m = self.points();
        if phi_a.len() != m {
            return Err(Error::Shape(format!("pattern has {} values, the grid {m}", phi_a.len())));
        }
        let mut cost = DynamicsCost::default();
        let state = self.state_of(phi_a.to_vec(), start, 0, 0.0, self.config.dt, &mut cost)?;
        Ok((state, cost))
    }

    fn state_of(
        &self,
        phi_a: Vec<f64>,
        start: Option<&[f64]>,
        step: usize,
        t: f64,
        dt: f64,
        cost: &mut DynamicsCost,
    ) -> Result<DynamicsState> {
        let mut target = phi_a.clone();
        target.extend(phi_a.iter().map(|v| 1.0 - v));
        let (out, rough) = self.inverter.invert(&target, start)?;
        // Newton's Jacobian products cost about a solve each.
        cost.solves += SolveCost {
            exact_solves: out.solve_equivalents(),
            operator_calls: rough.map_or(0, |r| r.solves),
            rejected: out.rejected,
        };
        if !out.converged {
            return Err(Error::Parameter(format!(
                "the inverse map of the pattern at t = {t:.4} stopped at residual {:.2e}",
                out.residual
            )));
        }
        let log_q = out.log_q.expect("the exact solver gives ln Q");
        let model = self.inverter.exact.model();
        let free_energy = pattern_free_energy(model.beads, model.f_a(), self.config.chi, &out.w, &out.phi, log_q);
        Ok(DynamicsState { step, t, phi_a, w: out.w, phi: out.phi, log_q, free_energy, dt })
    }

    /// mu = 2 W_- - chi (phi_A - phi_B) of a state, with the mean of W_-
    /// (a gauge of the inverse map) set so that mean(mu) = 0: then mu = 0
    /// everywhere at a saddle point. The flux sees only its gradient.
    pub fn chemical_potential(&self, state: &DynamicsState) -> Vec<f64> {
        let m = self.points();
        let mut mu: Vec<f64> = (0..m)
            .map(|i| (state.w[m + i] - state.w[i]) - self.config.chi * (state.phi[i] - state.phi[m + i]))
            .collect();
        let mean = crate::stats::mean(&mu);
        mu.iter_mut().for_each(|v| *v -= mean);
        mu
    }

    /// One step (redone with half the step while it would raise F, without noise).
    pub fn step(&self, state: &DynamicsState) -> Result<(DynamicsState, DynamicsCost)> {
        let m = self.points();
        let mut cost = DynamicsCost::default();
        let mu = self.chemical_potential(state);
        let mut scratch = self.plan.scratch();
        let len = self.plan.spectrum_len();
        let mut mu_hat = vec![C64::default(); len];
        self.plan.forward(&mut scratch, &mu, &mut mu_hat);
        let m0 = self.config.m0;
        // The flux div(M grad mu) in Fourier space, and M_ref: the largest
        // M(r) times the local stiffness of mu relative to the melt's,
        // f (1 - f) / (phi_A phi_B) (a chain end in a nearly pure domain
        // answers weakly to its field, so mu there moves fast with phi).
        let f = self.inverter.exact.model().f_a();
        let stiff = |a: f64| (f * (1.0 - f) / (a * (1.0 - a)).max(1e-300)).clamp(1.0, MAX_STIFFNESS);
        let mobility: Vec<f64> = match self.config.mobility {
            Mobility::Constant => vec![m0; m],
            Mobility::Local => state.phi_a.iter().map(|&a| m0 * (a * (1.0 - a)).max(0.0)).collect(),
        };
        let m_ref = state.phi_a.iter().zip(&mobility).fold(1e-12f64, |acc, (&a, &mob)| acc.max(mob * stiff(a)));
        let flux = match self.config.mobility {
            Mobility::Constant => mu_hat.iter().zip(&self.q2).map(|(u, q)| -m0 * q * u).collect::<Vec<_>>(),
            Mobility::Local => self.divergence(&mut scratch, &mobility, &mu_hat),
        };
        // The noise of one unit of time; a step of dt takes sqrt(dt) of it.
        let unit_kick = self.config.noise.then(|| {
            let amplitude: Vec<f64> =
                mobility.iter().map(|&mob| (2.0 * mob / self.config.beads_per_cell).sqrt()).collect();
            self.noise_divergence(&mut scratch, &amplitude, &self.noise(state.step))
        });
        let mut dt = state.dt;
        let mut phi_hat = vec![C64::default(); len];
        self.plan.forward(&mut scratch, &state.phi_a, &mut phi_hat);
        for _ in 0..30 {
            let mut next_hat = phi_hat.clone();
            for k in 1..len {
                next_hat[k] += dt * flux[k] / (1.0 + dt * m_ref * self.q2[k] * self.stiffness[k]);
            }
            if let Some(kick) = &unit_kick {
                let scale = dt.sqrt();
                for k in 1..len {
                    next_hat[k] += scale * kick[k] / (1.0 + dt * m_ref * self.q2[k] * self.stiffness[k]);
                }
            }
            let mut next = vec![0.0; m];
            self.plan.inverse(&mut scratch, &next_hat, &mut next);
            let attempt = self.state_of(next, Some(&state.w), state.step + 1, state.t + dt, dt, &mut cost);
            match attempt {
                Ok(mut next_state)
                    if unit_kick.is_some()
                        || next_state.free_energy <= state.free_energy + 1e-12 * state.free_energy.abs().max(1.0) =>
                {
                    next_state.dt = (dt * 1.25).min(self.config.dt);
                    return Ok((next_state, cost));
                }
                Ok(_) | Err(Error::Parameter(_)) | Err(Error::Domain { .. }) => {
                    cost.halved_steps += 1;
                    dt *= 0.5;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Parameter(format!(
            "dynamics step {}: no step down to dt = {dt:.2e} lowered F or stayed invertible",
            state.step + 1
        )))
    }

    /// div(M grad mu) in Fourier space, M in real space.
    fn divergence(&self, scratch: &mut crate::spectral::SpectralScratch, mobility: &[f64], mu_hat: &[C64]) -> Vec<C64> {
        let m = self.points();
        let len = mu_hat.len();
        let i = C64::new(0.0, 1.0);
        let mut out = vec![C64::default(); len];
        for axis in 0..2 {
            let grad_hat: Vec<C64> =
                mu_hat.iter().zip(&self.qxy).map(|(u, &(qx, qy))| i * if axis == 0 { qx } else { qy } * u).collect();
            let mut grad = vec![0.0; m];
            self.plan.inverse(scratch, &grad_hat, &mut grad);
            for (g, &mob) in grad.iter_mut().zip(mobility) {
                *g *= mob;
            }
            let mut flux_hat = vec![C64::default(); len];
            self.plan.forward(scratch, &grad, &mut flux_hat);
            for ((o, f), &(qx, qy)) in out.iter_mut().zip(&flux_hat).zip(&self.qxy) {
                *o += i * if axis == 0 { qx } else { qy } * f;
            }
        }
        out
    }

    /// Two white-noise components per grid point for step `step`.
    fn noise(&self, step: usize) -> [Vec<f64>; 2] {
        let m = self.points();
        let mut rng = StreamRng::new(self.config.seed, step as u64);
        let mut x = vec![0.0; m];
        let mut y = vec![0.0; m];
        rng.fill_normal(&mut x);
        rng.fill_normal(&mut y);
        [x, y]
    }

    /// div(amplitude xi) in Fourier space for the vector white noise xi.
    fn noise_divergence(
        &self,
        scratch: &mut crate::spectral::SpectralScratch,
        amplitude: &[f64],
        xi: &[Vec<f64>; 2],
    ) -> Vec<C64> {
        let len = self.plan.spectrum_len();
        let i = C64::new(0.0, 1.0);
        let mut out = vec![C64::default(); len];
        for (axis, component) in xi.iter().enumerate() {
            let scaled: Vec<f64> = component.iter().zip(amplitude).map(|(x, a)| x * a).collect();
            let mut hat = vec![C64::default(); len];
            self.plan.forward(scratch, &scaled, &mut hat);
            for ((o, h), &(qx, qy)) in out.iter_mut().zip(&hat).zip(&self.qxy) {
                *o += i * if axis == 0 { qx } else { qy } * h;
            }
        }
        out
    }

    /// R(q) = -M0 q^2 [1 / S_D(q) - 2 chi] at |q|^2 = `q_squared`: the linear growth rate.
    pub fn linear_rate(&self, q_squared: f64) -> f64 {
        -self.config.m0
            * q_squared
            * (Debye::at(self.inverter.exact.model(), q_squared).rpa_f() - 2.0 * self.config.chi)
    }
}
