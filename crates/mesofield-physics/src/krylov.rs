//! Restarted GMRES with right preconditioning (Saad, "Iterative Methods for
//! Sparse Linear Systems", algorithm 9.5), for the Newton steps of the
//! inverse map. Right preconditioning keeps the residual it monitors the
//! true residual |b - A x|, which is what the Newton forcing term bounds.
//!
//! Scratch memory (the Krylov basis, the Hessenberg matrix) is allocated
//! once per `Gmres` and reused by every `solve`. A solve's last cycle can
//! be kept as a secant correction of the preconditioner for the next
//! solves of a slowly changing system (`SecantUpdate`).

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
    /// The last cycle's preconditioned basis vectors M^{-1} v_j and its
    /// Hessenberg matrix before the rotations, and its dimension.
    zs: Vec<Vec<f64>>,
    h_raw: Vec<f64>,
    last_k: usize,
}

/// Four partial sums, so that the loop vectorises (a single running sum
/// fixes the order of the additions).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            sums[i] += x[i] * y[i];
        }
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
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
            zs: (0..restart).map(|_| vec![0.0; n]).collect(),
            h_raw: vec![0.0; (restart + 1) * restart],
            last_k: 0,
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
        self.last_k = 0;
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
                precondition(&self.basis[k], &mut self.zs[k]);
                a(&self.zs[k], &mut self.w)?;
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
                self.h_raw[k * rows..(k + 1) * rows].copy_from_slice(&self.h[k * rows..(k + 1) * rows]);
                residual = self.rotate(k, rows);
                k += 1;
                self.last_k = k;
                // A zero new direction: the Krylov space is invariant and
                // the solution in it exact (a "lucky breakdown").
                let breakdown = h_next <= 1e-14 * beta;
                if breakdown {
                    self.basis[k].fill(0.0);
                } else {
                    for (nv, wv) in self.basis[k].iter_mut().zip(&self.w) {
                        *nv = wv / h_next;
                    }
                }
                if breakdown || residual <= target {
                    break;
                }
            }
            // x += M^{-1} V y = Z y.
            self.combine(k, rows);
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

    /// y = H^{-1} g (upper triangular k x k) and z = Z y.
    fn combine(&mut self, k: usize, rows: usize) {
        for i in (0..k).rev() {
            let mut sum = self.g[i];
            for j in i + 1..k {
                sum -= self.h[j * rows + i] * self.y[j];
            }
            let d = self.h[i * rows + i];
            self.y[i] = if d == 0.0 { 0.0 } else { sum / d };
        }
        self.z.fill(0.0);
        for j in 0..k {
            for (zv, bv) in self.z.iter_mut().zip(&self.zs[j]) {
                *zv += self.y[j] * bv;
            }
        }
    }

    /// The last solve's last cycle as a secant update of its
    /// preconditioner (see `SecantUpdate`); None before a solve or where
    /// the cycle's triangular factor is singular.
    pub fn secant_update(&self) -> Option<SecantUpdate> {
        let (k, n) = (self.last_k, self.n);
        let rows = self.restart + 1;
        if k == 0 {
            return None;
        }
        let diagonal = (0..k).map(|j| self.h[j * rows + j].abs());
        let (smallest, largest) = diagonal.fold((f64::INFINITY, 0.0f64), |(a, b), d| (a.min(d), b.max(d)));
        if smallest.is_nan() || smallest <= 1e-12 * largest {
            return None;
        }
        let mut h = vec![0.0; (k + 1) * k];
        let mut r = vec![0.0; k * k];
        for j in 0..k {
            h[j * (k + 1)..j * (k + 1) + j + 2].copy_from_slice(&self.h_raw[j * rows..j * rows + j + 2]);
            r[j * k..j * k + j + 1].copy_from_slice(&self.h[j * rows..j * rows + j + 1]);
        }
        Some(SecantUpdate {
            n,
            basis: self.basis[..=k].concat(),
            zs: self.zs[..k].concat(),
            h,
            r,
            cs: self.cs[..k].to_vec(),
            sn: self.sn[..k].to_vec(),
            d: Vec::new(),
            t: std::cell::RefCell::new(vec![0.0; k + 1]),
        })
    }
}

/// The secant pairs of one GMRES cycle, A z_j = y_j with Z = M^{-1} V_k
/// and Y = A Z = V_{k+1} H_k, as a correction of a base preconditioner P:
/// M' v = P v + (Z - P Y) (Y^T Y)^{-1} Y^T v, so that M' Y = Z exactly
/// (M' inverts A on the space the cycle explored) and M' = P on its
/// complement. For a sequence of slowly changing systems (Newton's steps
/// near a root), where each step's residual lies mostly in the slow
/// directions that the previous cycles had to find.
///
/// (Y^T Y)^{-1} Y^T = R^{-1} [G^T V_{k+1}^T]_{1..k}, with G R the Givens QR
/// of H_k that GMRES made anyway.
pub struct SecantUpdate {
    n: usize,
    /// V_{k+1} and Z, row after row of length n.
    basis: Vec<f64>,
    zs: Vec<f64>,
    /// H_k, column-major (k + 1) x k; R, column-major k x k.
    h: Vec<f64>,
    r: Vec<f64>,
    cs: Vec<f64>,
    sn: Vec<f64>,
    /// D = Z - P Y for the current base preconditioner P, rows of length n.
    d: Vec<f64>,
    /// Scratch of length k + 1.
    t: std::cell::RefCell<Vec<f64>>,
}

impl SecantUpdate {
    /// Dimension of the explored space.
    pub fn dimension(&self) -> usize {
        self.cs.len()
    }

    /// Sets the base preconditioner P the correction is made for:
    /// D = Z - (P V_{k+1}) H_k.
    pub fn set_base(&mut self, mut base: impl FnMut(&[f64], &mut [f64])) {
        let (n, k) = (self.n, self.dimension());
        self.d.clone_from(&self.zs);
        let mut pv = vec![0.0; n];
        for i in 0..=k {
            base(&self.basis[i * n..(i + 1) * n], &mut pv);
            // Row i of H_k is nonzero from column i - 1 on.
            for j in i.saturating_sub(1)..k {
                let hij = self.h[j * (k + 1) + i];
                self.d[j * n..(j + 1) * n].iter_mut().zip(&pv).for_each(|(dv, p)| *dv -= hij * p);
            }
        }
    }

    /// out += (Z - P Y) (Y^T Y)^{-1} Y^T v, with `out` already P v.
    pub fn correct(&self, v: &[f64], out: &mut [f64]) {
        let (n, k) = (self.n, self.dimension());
        let mut t = self.t.borrow_mut();
        for (ti, b) in t.iter_mut().zip(self.basis.chunks_exact(n)) {
            *ti = dot(b, v);
        }
        for i in 0..k {
            let (u, w) = (t[i], t[i + 1]);
            t[i] = self.cs[i] * u + self.sn[i] * w;
            t[i + 1] = -self.sn[i] * u + self.cs[i] * w;
        }
        // c = R^{-1} t[..k], in place.
        for i in (0..k).rev() {
            let mut sum = t[i];
            for j in i + 1..k {
                sum -= self.r[j * k + i] * t[j];
            }
            t[i] = sum / self.r[i * k + i];
        }
        for (j, dj) in self.d.chunks_exact(n).enumerate() {
            let c = t[j];
            out.iter_mut().zip(dj).for_each(|(o, dv)| *o += c * dv);
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

    /// A nonsymmetric, indefinite system (eigenvalues on both sides of 0).
    fn indefinite(n: usize) -> impl Fn(&[f64], &mut [f64]) -> Result<()> + Copy {
        move |v: &[f64], out: &mut [f64]| {
            for i in 0..n {
                let left = if i > 0 { v[i - 1] } else { 0.0 };
                let right = if i + 1 < n { v[i + 1] } else { 0.0 };
                let d = if i % 3 == 0 { -1.0 - 0.02 * i as f64 } else { 0.5 + 0.05 * i as f64 };
                out[i] = d * v[i] + 0.3 * left - 0.2 * right;
            }
            Ok(())
        }
    }

    /// The secant update inverts A on the space a loose solve explored:
    /// M' (A x) = x for that solve's x, with M' = P + correction; and a
    /// second right-hand side then needs fewer products.
    #[test]
    fn secant_update_inverts_the_explored_space() {
        let n = 80;
        let apply = indefinite(n);
        let jacobi = |v: &[f64], out: &mut [f64]| {
            for i in 0..n {
                out[i] = v[i] / (if i % 3 == 0 { -1.0 - 0.02 * i as f64 } else { 0.5 + 0.05 * i as f64 });
            }
        };
        let b: Vec<f64> = (0..n).map(|i| ((i * 5) % 7) as f64 - 3.0).collect();
        let mut gmres = Gmres::new(n, 200);
        let mut x = vec![0.0; n];
        let first = gmres.solve(apply, jacobi, &b, &mut x, 1e-3, 200).unwrap();
        assert!(first.converged, "{first:?}");
        let mut update = gmres.secant_update().expect("a cycle ran");
        assert_eq!(update.dimension(), first.products);
        update.set_base(jacobi);
        let mut ax = vec![0.0; n];
        apply(&x, &mut ax).unwrap();
        let mut back = vec![0.0; n];
        jacobi(&ax, &mut back);
        update.correct(&ax, &mut back);
        let err = back.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let size = x.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(err < 1e-9 * size, "M' A x - x: {err:e} (|x| {size:e})");

        let b2: Vec<f64> = (0..n).map(|i| ((i * 3) % 5) as f64 - 2.0 + 0.1 * i as f64).collect();
        let mut plain = Gmres::new(n, 200);
        let before = plain.solve(apply, jacobi, &b2, &mut x, 1e-8, 200).unwrap();
        let corrected = |v: &[f64], out: &mut [f64]| {
            jacobi(v, out);
            update.correct(v, out);
        };
        let mut y = vec![0.0; n];
        let after = gmres.solve(apply, corrected, &b2, &mut y, 1e-8, 200).unwrap();
        assert!(before.converged && after.converged, "{before:?} {after:?}");
        assert!(
            after.products < before.products,
            "{} products with the update, {} without",
            after.products,
            before.products
        );
        let err = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-6, "the two solutions differ by {err:e}");
    }
}
