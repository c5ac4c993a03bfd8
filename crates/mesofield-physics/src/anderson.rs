//! Anderson mixing (Walker & Ni's form with consecutive differences) for a
//! fixed-point problem x = x + d(x).
//!
//! History holds the differences dx_i = x_{i+1} - x_i and dd_i = d_{i+1} - d_i,
//! whose Gram matrix is kept up to date one row at a time, so an iteration
//! costs 2m dot products plus an m x m solve: the extrapolation never
//! dominates the field solve it accelerates.

pub struct AndersonMixer {
    capacity: usize,
    dim: usize,
    dx: Vec<Vec<f64>>,
    dd: Vec<Vec<f64>>,
    /// Gram matrix of `dd`, `gram[i][j] = dd_i . dd_j`.
    gram: Vec<Vec<f64>>,
    last_x: Vec<f64>,
    last_d: Vec<f64>,
    has_last: bool,
}

impl AndersonMixer {
    pub fn new(dim: usize, capacity: usize) -> Self {
        AndersonMixer {
            capacity,
            dim,
            dx: Vec::with_capacity(capacity),
            dd: Vec::with_capacity(capacity),
            gram: Vec::with_capacity(capacity),
            last_x: vec![0.0; dim],
            last_d: vec![0.0; dim],
            has_last: false,
        }
    }

    /// The history's pairs (dx_i, dd_i), oldest first, taken out (the
    /// mixer is left empty).
    pub fn take_pairs(&mut self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let pairs = (std::mem::take(&mut self.dx), std::mem::take(&mut self.dd));
        self.reset();
        pairs
    }

    /// Starts from the pairs of an earlier loop (at most `capacity`, the
    /// newest kept), forgetting its own; the next point makes no pair with
    /// them. The pairs are a secant model of the inverse Jacobian, which a
    /// loop on a nearby problem can start from.
    pub fn seed(&mut self, dx: &[Vec<f64>], dd: &[Vec<f64>]) {
        self.reset();
        let skip = dx.len().saturating_sub(self.capacity);
        for (x, d) in dx[skip..].iter().zip(&dd[skip..]) {
            let row: Vec<f64> = self.dd.iter().chain(std::iter::once(d)).map(|v| dot(v, d)).collect();
            for (i, row_i) in self.gram.iter_mut().enumerate() {
                row_i.push(row[i]);
            }
            self.gram.push(row);
            self.dx.push(x.clone());
            self.dd.push(d.clone());
        }
    }

    /// Forgets the history (after a rejected step or a stall).
    pub fn reset(&mut self) {
        self.dx.clear();
        self.dd.clear();
        self.gram.clear();
        self.has_last = false;
    }

    /// Given the current point `x` and its step `d`, writes the next point into
    /// `next`: x + mixing * d corrected by the history (plain mixing while the
    /// history is empty).
    pub fn next(&mut self, x: &[f64], d: &[f64], mixing: f64, next: &mut [f64]) {
        assert_eq!(x.len(), self.dim);
        if self.has_last {
            if self.dx.len() == self.capacity {
                let (mut old_x, mut old_d) = (self.dx.remove(0), self.dd.remove(0));
                self.gram.remove(0);
                for row in self.gram.iter_mut() {
                    row.remove(0);
                }
                for i in 0..self.dim {
                    old_x[i] = x[i] - self.last_x[i];
                    old_d[i] = d[i] - self.last_d[i];
                }
                self.dx.push(old_x);
                self.dd.push(old_d);
            } else {
                self.dx.push(x.iter().zip(&self.last_x).map(|(a, b)| a - b).collect());
                self.dd.push(d.iter().zip(&self.last_d).map(|(a, b)| a - b).collect());
            }
            let newest = self.dd.last().unwrap();
            let row: Vec<f64> = self.dd.iter().map(|v| dot(v, newest)).collect();
            let n = row.len();
            for (i, row_i) in self.gram.iter_mut().enumerate() {
                row_i.push(row[i]);
            }
            self.gram.push(row);
            debug_assert_eq!(self.gram[n - 1].len(), n);
        }
        self.last_x.copy_from_slice(x);
        self.last_d.copy_from_slice(d);
        self.has_last = true;

        for i in 0..self.dim {
            next[i] = x[i] + mixing * d[i];
        }
        let m = self.dx.len();
        if m == 0 {
            return;
        }
        let rhs: Vec<f64> = self.dd.iter().map(|v| dot(v, d)).collect();
        let Some(gamma) = solve_regularised(&self.gram, &rhs) else {
            return;
        };
        for (j, g) in gamma.iter().enumerate() {
            let (dx, dd) = (&self.dx[j], &self.dd[j]);
            for i in 0..self.dim {
                next[i] -= g * (dx[i] + mixing * dd[i]);
            }
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves (G + eps I) g = r by Gaussian elimination with partial pivoting;
/// eps is a tiny fraction of the largest diagonal so collinear history
/// cannot blow up the coefficients. None if the system is still singular.
fn solve_regularised(gram: &[Vec<f64>], rhs: &[f64]) -> Option<Vec<f64>> {
    let n = rhs.len();
    let scale = (0..n).map(|i| gram[i][i]).fold(0.0f64, f64::max);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let mut a: Vec<Vec<f64>> = gram.iter().map(|r| r.clone()).collect();
    let mut b = rhs.to_vec();
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += 1e-11 * scale;
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= factor * a[col][k];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let mut sum = b[row];
        for k in row + 1..n {
            sum -= a[row][k] * x[k];
        }
        x[row] = sum / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}
