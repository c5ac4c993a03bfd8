//! Restarted GMRES with right preconditioning (Saad, "Iterative Methods for
//! Sparse Linear Systems", algorithm 9.5), for the Newton steps of the
//! inverse map. Right preconditioning keeps the residual it monitors the
//! true residual |b - A x|, which is what the Newton forcing term bounds.
//!
//! Scratch memory (the Krylov basis, the Hessenberg matrix) is allocated
//! once per `Gmres` and reused by every `solve`.

use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GmresInfo {
    /// Products with A.
    pub products: usize,
    /// |b - A x| / |b| at the end.
    pub relative_residual: f64,
    pub converged: bool,
}

pub struct Gmres {
    n: usize,
    restart: usize,
    /// restart + 1 basis vectors of length n.
    basis: Vec<Vec<f64>>,
    /// Column-major (restart + 1) x restart Hessenberg matrix.
    h: Vec<f64>,
    cs: Vec<f64>,
    sn: Vec<f64>,
    g: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    w: Vec<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

impl Gmres {
    pub fn new(n: usize, restart: usize) -> Self {
        let restart = restart.max(1);
        Gmres {
            n,
            restart,
            basis: (0..=restart).map(|_| vec![0.0; n]).collect(),
            h: vec![0.0; (restart + 1) * restart],
            cs: vec![0.0; restart],
            sn: vec![0.0; restart],
            g: vec![0.0; restart + 1],
            y: vec![0.0; restart],
            z: vec![0.0; n],
            w: vec![0.0; n],
        }
    }

    /// Solves A x = b to |b - A x| <= rtol |b| (or until `max_products`),
    /// from x = 0. `a(v, out)` sets out = A v; `precondition(v, out)` sets
    /// out = M^{-1} v for a preconditioner M ~ A.
    pub fn solve(
        &mut self,
        mut a: impl FnMut(&[f64], &mut [f64]) -> Result<()>,
        mut precondition: impl FnMut(&[f64], &mut [f64]),
        b: &[f64],
        x: &mut [f64],
        rtol: f64,
        max_products: usize,
    ) -> Result<GmresInfo> {
        let n = self.n;
        assert!(b.len() == n && x.len() == n, "GMRES vectors of length {n}");
        x.fill(0.0);
        let b_norm = norm(b);
        if b_norm == 0.0 {
            return Ok(GmresInfo { products: 0, relative_residual: 0.0, converged: true });
        }
        let target = rtol * b_norm;
        let mut products = 0;
        let mut residual: f64;
        let mut first = true;
        loop {
            // r = b - A x into basis[0].
            if first {
                self.basis[0].copy_from_slice(b);
                first = false;
            } else {
                a(x, &mut self.w)?;
                products += 1;
                for i in 0..n {
                    self.basis[0][i] = b[i] - self.w[i];
                }
            }
            let beta = norm(&self.basis[0]);
            residual = beta;
            if beta <= target || products >= max_products {
                break;
            }
            self.basis[0].iter_mut().for_each(|v| *v /= beta);
            self.g.fill(0.0);
            self.g[0] = beta;
            let rows = self.restart + 1;
            let mut k = 0;
            while k < self.restart && products < max_products {
                precondition(&self.basis[k], &mut self.z);
                a(&self.z, &mut self.w)?;
                products += 1;
                // Modified Gram-Schmidt.
                for i in 0..=k {
                    let hik = dot(&self.w, &self.basis[i]);
                    self.h[k * rows + i] = hik;
                    for (wv, bv) in self.w.iter_mut().zip(&self.basis[i]) {
                        *wv -= hik * bv;
                    }
                }
                let h_next = norm(&self.w);
                self.h[k * rows + k + 1] = h_next;
                residual = self.rotate(k, rows);
                k += 1;
                // A zero new direction: the Krylov space is invariant and
                // the solution in it exact (a "lucky breakdown").
                if h_next <= 1e-14 * beta || residual <= target {
                    break;
                }
                for (nv, wv) in self.basis[k].iter_mut().zip(&self.w) {
                    *nv = wv / h_next;
                }
            }
            // x += M^{-1} V y.
            self.combine(k, rows);
            precondition(&self.w, &mut self.z);
            for (xv, zv) in x.iter_mut().zip(&self.z) {
                *xv += zv;
            }
            if residual <= target || products >= max_products {
                break;
            }
        }
        let relative_residual = residual / b_norm;
        Ok(GmresInfo { products, relative_residual, converged: residual <= target })
    }

    /// The earlier Givens rotations on Hessenberg column `k`, then a new
    /// one that zeroes its subdiagonal; returns the new residual |g[k+1]|.
    fn rotate(&mut self, k: usize, rows: usize) -> f64 {
        for i in 0..k {
            let (u, v) = (self.h[k * rows + i], self.h[k * rows + i + 1]);
            self.h[k * rows + i] = self.cs[i] * u + self.sn[i] * v;
            self.h[k * rows + i + 1] = -self.sn[i] * u + self.cs[i] * v;
        }
        let (u, v) = (self.h[k * rows + k], self.h[k * rows + k + 1]);
        let r = u.hypot(v);
        let (c, s) = if r == 0.0 { (1.0, 0.0) } else { (u / r, v / r) };
        self.cs[k] = c;
        self.sn[k] = s;
        self.h[k * rows + k] = r;
        self.h[k * rows + k + 1] = 0.0;
        self.g[k + 1] = -s * self.g[k];
        self.g[k] *= c;
        self.g[k + 1].abs()
    }

    /// y = H^{-1} g (upper triangular k x k) and w = V y.
    fn combine(&mut self, k: usize, rows: usize) {
        for i in (0..k).rev() {
            let mut sum = self.g[i];
            for j in i + 1..k {
                sum -= self.h[j * rows + i] * self.y[j];
            }
            let d = self.h[i * rows + i];
            self.y[i] = if d == 0.0 { 0.0 } else { sum / d };
        }
        self.w.fill(0.0);
        for j in 0..k {
            for (wv, bv) in self.w.iter_mut().zip(&self.basis[j]) {
                *wv += self.y[j] * bv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A nonsymmetric, diagonally dominant tridiagonal system and its exact
    /// solution, with and without a Jacobi preconditioner and with restarts.
    #[test]
    fn solves_a_tridiagonal_system() {
        let n = 60;
        let apply = |v: &[f64], out: &mut [f64]| -> Result<()> {
            for i in 0..n {
                let left = if i > 0 { v[i - 1] } else { 0.0 };
                let right = if i + 1 < n { v[i + 1] } else { 0.0 };
                out[i] = (3.0 + i as f64 * 0.1) * v[i] - 1.2 * left - 0.7 * right;
            }
            Ok(())
        };
        let truth: Vec<f64> = (0..n).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let mut b = vec![0.0; n];
        apply(&truth, &mut b).unwrap();
        for (restart, jacobi) in [(80, false), (10, false), (10, true)] {
            let mut gmres = Gmres::new(n, restart);
            let mut x = vec![0.0; n];
            let precondition = |v: &[f64], out: &mut [f64]| {
                for i in 0..n {
                    out[i] = if jacobi { v[i] / (3.0 + i as f64 * 0.1) } else { v[i] };
                }
            };
            let info = gmres.solve(apply, precondition, &b, &mut x, 1e-12, 1000).unwrap();
            assert!(info.converged, "restart {restart}: {info:?}");
            let err = x.iter().zip(&truth).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err < 1e-9, "restart {restart} jacobi {jacobi}: max error {err:e}");
        }
    }
}
