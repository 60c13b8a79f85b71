//! Least squares on the probability simplex, min ||A w - b||² s.t. w >= 0, Σw = 1, by a primal
//! active-set method (Lawson-Hanson's NNLS with the equality constraint kept in every
//! sub-problem). It is exact and finite: each step solves the equality-constrained problem on
//! the current support from its KKT system, and it stops only when the KKT conditions of the
//! full problem hold (every excluded column's multiplier non-negative). With k rows the
//! support has at most k + 1 columns, so each solve factorises a (k+2)² system: microseconds,
//! where an interior-point solve of the same QP takes milliseconds. A warm start from the
//! previous support (the V search moves V a little at a time) usually finishes in one step.
//! When the sub-problem is singular (degenerate data) it returns `None` and the caller falls
//! back to the interior-point solver.

#![allow(clippy::needless_range_loop)]

/// Columns `a[j]` (each of length k), target `b`.
pub struct SimplexLs<'a> {
    pub a: &'a [Vec<f64>],
    pub b: &'a [f64],
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

impl SimplexLs<'_> {
    /// Solve the equality-constrained problem on support `p`: min ||A_P z - b||², Σz = 1.
    fn eqp(&self, p: &[usize]) -> Option<Vec<f64>> {
        let m = p.len();
        let n = m + 1;
        // KKT: [G 1; 1' 0] [z; mu] = [c; 1]
        let mut k = vec![vec![0.0; n + 1]; n];
        let mut scale = 0.0f64;
        for i in 0..m {
            for j in 0..=i {
                let g = dot(&self.a[p[i]], &self.a[p[j]]);
                k[i][j] = g;
                k[j][i] = g;
                scale = scale.max(g.abs());
            }
            k[i][m] = 1.0;
            k[m][i] = 1.0;
            k[i][n] = dot(&self.a[p[i]], self.b);
        }
        k[m][n] = 1.0;
        let x = solve_dense(k, 1e-12 * scale.max(1e-300))?;
        Some(x[..m].to_vec())
    }

    /// The optimum, or `None` when a sub-problem is singular or the method does not settle.
    pub fn solve(&self, warm: Option<&[usize]>) -> Option<(Vec<f64>, Vec<usize>)> {
        self.solve_with_margin(warm).map(|(w, p, _)| (w, p))
    }

    /// As [`Self::solve`], with the optimum's dual margin: the smallest multiplier of an
    /// excluded column relative to the problem's scale (infinite when every column is in the
    /// support). A margin near zero means the optimum may not be unique (a face of minimisers).
    pub fn solve_with_margin(&self, warm: Option<&[usize]>) -> Option<(Vec<f64>, Vec<usize>, f64)> {
        let jn = self.a.len();
        if jn == 0 {
            return None;
        }
        let mut w = vec![0.0; jn];
        let mut p: Vec<usize> = Vec::new();
        if let Some(s) = warm.filter(|s| !s.is_empty() && s.iter().all(|&j| j < jn)) {
            if let Some(z) = self.eqp(s) {
                if z.iter().all(|v| *v > 0.0) {
                    for (&j, &v) in s.iter().zip(&z) {
                        w[j] = v;
                    }
                    p = s.to_vec();
                }
            }
        }
        if p.is_empty() {
            // The best single donor.
            let best = (0..jn)
                .map(|j| (j, self.a[j].iter().zip(self.b).map(|(x, y)| (x - y).powi(2)).sum::<f64>()))
                .min_by(|x, y| x.1.total_cmp(&y.1))
                .map(|x| x.0)?;
            w[best] = 1.0;
            p.push(best);
        }
        let amax = self.a.iter().map(|c| dot(c, c).sqrt()).fold(0.0, f64::max);
        let bnorm = dot(self.b, self.b).sqrt();
        let tol = 1e-11 * amax * (amax + bnorm) + 1e-300;
        let k = self.b.len();
        for _ in 0..(4 * jn + 20) {
            // Residual and gradient; the multiplier of Σw = 1 is the common gradient on the support.
            let mut r: Vec<f64> = self.b.iter().map(|v| -v).collect();
            for &j in &p {
                for i in 0..k {
                    r[i] += w[j] * self.a[j][i];
                }
            }
            let g: Vec<f64> = self.a.iter().map(|c| dot(c, &r)).collect();
            let lambda = p.iter().map(|&j| g[j]).sum::<f64>() / p.len() as f64;
            let entering =
                (0..jn).filter(|j| !p.contains(j)).map(|j| (j, g[j] - lambda)).min_by(|x, y| x.1.total_cmp(&y.1));
            match entering {
                Some((t, nu)) if nu < -tol => p.push(t),
                other => {
                    p.sort_unstable();
                    let margin = other.map_or(f64::INFINITY, |(_, nu)| nu / (tol * 1e11));
                    return Some((w, p, margin));
                }
            }
            let t = *p.last()?;
            // Inner loop: move toward the sub-problem's solution, dropping columns that hit zero.
            loop {
                let z = self.eqp(&p)?;
                if z.iter().all(|v| *v > 0.0) {
                    for (&j, &v) in p.iter().zip(&z) {
                        w[j] = v;
                    }
                    break;
                }
                let mut alpha = f64::INFINITY;
                for (i, &j) in p.iter().enumerate() {
                    if z[i] <= 0.0 {
                        let a = w[j] / (w[j] - z[i]);
                        alpha = alpha.min(a);
                    }
                }
                for (i, &j) in p.iter().enumerate() {
                    w[j] += alpha * (z[i] - w[j]);
                }
                let before = p.len();
                let mut dropped_t = false;
                p.retain(|&j| {
                    let keep = w[j] > 1e-14;
                    if !keep {
                        w[j] = 0.0;
                        dropped_t |= j == t;
                    }
                    keep
                });
                // The entering column left at once: degenerate, let the interior point decide.
                if dropped_t || p.len() == before || p.is_empty() {
                    return None;
                }
            }
        }
        None
    }
}

/// Gaussian elimination with partial pivoting on an augmented n x (n+1) matrix.
fn solve_dense(mut m: Vec<Vec<f64>>, tiny: f64) -> Option<Vec<f64>> {
    let n = m.len();
    for c in 0..n {
        let piv = (c..n).max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))?;
        if m[piv][c].abs() <= tiny {
            return None;
        }
        m.swap(c, piv);
        for r in c + 1..n {
            let f = m[r][c] / m[c][c];
            if f != 0.0 {
                for cc in c..=n {
                    m[r][cc] -= f * m[c][cc];
                }
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| m[r][c] * x[c]).sum();
        x[r] = (m[r][n] - s) / m[r][r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn objective(a: &[Vec<f64>], b: &[f64], w: &[f64]) -> f64 {
        (0..b.len()).map(|i| (a.iter().zip(w).map(|(c, wj)| c[i] * wj).sum::<f64>() - b[i]).powi(2)).sum()
    }

    /// On random problems the active-set optimum satisfies the KKT conditions and no random
    /// feasible point (nor any vertex) does better.
    #[test]
    fn kkt_and_no_better_point() {
        let mut rng = Rng::new(7);
        for trial in 0..200 {
            let k = 2 + trial % 9;
            let jn = 3 + (trial * 7) % 40;
            let a: Vec<Vec<f64>> = (0..jn).map(|_| (0..k).map(|_| rng.normal()).collect()).collect();
            let b: Vec<f64> = (0..k).map(|_| rng.normal() * 0.7).collect();
            let (w, p) = SimplexLs { a: &a, b: &b }.solve(None).expect("solved");
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(w.iter().all(|v| *v >= 0.0));
            assert!(p.len() <= k + 1);
            let f = objective(&a, &b, &w);
            for j in 0..jn {
                let mut e = vec![0.0; jn];
                e[j] = 1.0;
                assert!(f <= objective(&a, &b, &e) + 1e-12);
            }
            for _ in 0..50 {
                let mut x: Vec<f64> = (0..jn).map(|_| rng.uniform().powi(4)).collect();
                let s: f64 = x.iter().sum();
                x.iter_mut().for_each(|v| *v /= s);
                assert!(f <= objective(&a, &b, &x) + 1e-12);
            }
            // Warm start from the answer returns it unchanged.
            let (w2, _) = SimplexLs { a: &a, b: &b }.solve(Some(&p)).expect("warm");
            for (x, y) in w.iter().zip(&w2) {
                assert!((x - y).abs() < 1e-10);
            }
        }
    }
}
