//! Panel helpers: integer codes for labels, and the within transformation (fixed effects
//! absorbed by alternating projections, never by dummy columns).

use ndarray::ArrayViewMut1;
use std::collections::HashMap;
use std::hash::Hash;

/// Codes 0..levels for `values`, levels sorted.
pub fn factorize<T: Hash + Eq + Ord + Clone>(values: &[T]) -> (Vec<u32>, Vec<T>) {
    let mut levels: Vec<T> = values.to_vec();
    levels.sort();
    levels.dedup();
    let index: HashMap<&T, u32> = levels.iter().enumerate().map(|(i, v)| (v, i as u32)).collect();
    let codes = values.iter().map(|v| index[v]).collect();
    (codes, levels)
}

/// One fixed-effect dimension: a code per row and the count per level.
#[derive(Debug, Clone)]
pub struct FixedEffect {
    pub codes: Vec<u32>,
    pub counts: Vec<f64>,
}

impl FixedEffect {
    pub fn new(codes: Vec<u32>, levels: usize) -> Self {
        let mut counts = vec![0.0; levels];
        for &c in &codes {
            counts[c as usize] += 1.0;
        }
        Self { codes, counts }
    }

    pub fn levels(&self) -> usize {
        self.counts.len()
    }

    /// Subtract the group means (one projection). Returns the largest adjustment made.
    fn sweep(&self, col: &mut ArrayViewMut1<f64>, sums: &mut [f64]) -> f64 {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for (v, &c) in col.iter().zip(&self.codes) {
            sums[c as usize] += v;
        }
        let mut largest = 0.0f64;
        for (s, n) in sums.iter_mut().zip(&self.counts) {
            *s /= n.max(1.0);
            largest = largest.max(s.abs());
        }
        for (v, &c) in col.iter_mut().zip(&self.codes) {
            *v -= sums[c as usize];
        }
        largest
    }

    /// True when every level of `self` lies within a single level of `outer` (e.g. units within
    /// clusters).
    pub fn nested_in(&self, outer: &[u32]) -> bool {
        let mut seen: Vec<Option<u32>> = vec![None; self.levels()];
        for (&c, &o) in self.codes.iter().zip(outer) {
            match seen[c as usize] {
                None => seen[c as usize] = Some(o),
                Some(prev) if prev != o => return false,
                _ => {}
            }
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the within transformation did not converge in {iterations} iterations")]
pub struct NotConverged {
    pub iterations: usize,
}

/// Demean `col` by every fixed effect until a full round changes nothing (relative 1e-13 of the
/// column's scale). One round is exact for a balanced two-way panel; unbalanced panels need more.
pub fn demean(mut col: ArrayViewMut1<f64>, fes: &[FixedEffect]) -> Result<usize, NotConverged> {
    const MAX_ITER: usize = 100_000;
    let scale = col.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    let max_levels = fes.iter().map(|f| f.levels()).max().unwrap_or(0);
    let mut sums = vec![0.0; max_levels];
    for it in 1..=MAX_ITER {
        let mut largest = 0.0f64;
        for fe in fes {
            largest = largest.max(fe.sweep(&mut col, &mut sums[..fe.levels()]));
        }
        if largest <= 1e-13 * scale || fes.len() < 2 {
            return Ok(it);
        }
    }
    Err(NotConverged { iterations: MAX_ITER })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_two_way_is_exact() {
        // y_it = a_i + b_t: demeaned it is zero.
        let (units, times) = (4u32, 3u32);
        let mut u = vec![];
        let mut t = vec![];
        let mut y = vec![];
        for i in 0..units {
            for s in 0..times {
                u.push(i);
                t.push(s);
                y.push(10.0 * i as f64 + (s as f64).powi(2));
            }
        }
        let fes = [FixedEffect::new(u.clone(), 4), FixedEffect::new(t, 3)];
        demean(ArrayViewMut1::from(&mut y[..]), &fes).unwrap();
        assert!(y.iter().all(|v| v.abs() < 1e-12), "{y:?}");
        let (codes, levels) = factorize(&["b", "a", "b", "c"]);
        assert_eq!((codes, levels), (vec![1, 0, 1, 2], vec!["a", "b", "c"]));
        assert!(fes[0].nested_in(&u));
    }

    #[test]
    fn unbalanced_converges_to_the_dummy_regression_residual() {
        // Drop one cell from a 3x3 panel; the additive part must still vanish.
        let cells = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 1), (2, 2), (1, 2)];
        let cells = &cells[..7];
        let u: Vec<u32> = cells.iter().map(|c| c.0).collect();
        let t: Vec<u32> = cells.iter().map(|c| c.1).collect();
        let mut y: Vec<f64> = cells.iter().map(|&(i, s)| 3.0 * i as f64 - 2.0 * s as f64 + 1.0).collect();
        let fes = [FixedEffect::new(u, 3), FixedEffect::new(t, 3)];
        let it = demean(ArrayViewMut1::from(&mut y[..]), &fes).unwrap();
        assert!(it > 1);
        assert!(y.iter().all(|v| v.abs() < 1e-10), "{y:?}");
    }
}
