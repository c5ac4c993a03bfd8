//! The Hamiltonian of docs/model.md and the residuals of its saddle-point
//! conditions, as functions of solved states: what SCFT, L-FTS, the
//! compressor and dynamics all evaluate, in one place so that none of those
//! loops imports another to reach it.

/// Max-norms of the two SCF residuals of a solved state.
pub fn residuals(chi: f64, w: &[f64], phi: &[f64]) -> (f64, f64) {
    let m = w.len() / 2;
    let (mut r_minus, mut r_plus) = (0.0f64, 0.0f64);
    for i in 0..m {
        let w_minus = 0.5 * (w[m + i] - w[i]);
        r_minus = r_minus.max((0.5 * chi * (phi[i] - phi[m + i]) - w_minus).abs());
        r_plus = r_plus.max((phi[i] + phi[m + i] - 1.0).abs());
    }
    (r_minus, r_plus)
}

/// H/n relative to the homogeneous melt (docs/model.md):
/// dF = -ln Q + N mean(W_-^2 / chi - W_+) + N chi (2f - 1)^2 / 4.
pub fn free_energy(beads: usize, f_a: f64, chi: f64, w: &[f64], log_q: f64) -> f64 {
    let m = w.len() / 2;
    let n = beads as f64;
    let mut sum = 0.0;
    for i in 0..m {
        let w_minus = 0.5 * (w[m + i] - w[i]);
        let w_plus = 0.5 * (w[m + i] + w[i]);
        sum += w_minus * w_minus / chi - w_plus;
    }
    -log_q + n * sum / m as f64 + n * chi * (2.0 * f_a - 1.0).powi(2) / 4.0
}

/// F[phi] per chain relative to the homogeneous melt (`dynamics` module docs: the functional of eq. 26).
pub fn pattern_free_energy(beads: usize, f_a: f64, chi: f64, w: &[f64], phi: &[f64], log_q: f64) -> f64 {
    let m = w.len() / 2;
    let n = beads as f64;
    let (mut coupling, mut contact) = (0.0, 0.0);
    for i in 0..m {
        coupling += w[i] * phi[i] + w[m + i] * phi[m + i];
        contact += phi[i] * phi[m + i];
    }
    -log_q - n * coupling / m as f64 + n * chi * contact / m as f64 - n * chi * f_a * (1.0 - f_a)
}

/// Max-norm of phi_A + phi_B - 1.
pub fn max_pressure_residual(phi: &[f64]) -> f64 {
    let m = phi.len() / 2;
    (0..m).map(|i| (phi[i] + phi[m + i] - 1.0).abs()).fold(0.0, f64::max)
}
