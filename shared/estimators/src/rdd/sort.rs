//! Sorting the running variable, the outcome and the row numbers together, in place.
//!
//! The RDD's data must be ordered by the running variable. Sorting (value, row) pairs and then
//! gathering the outcome holds the pairs (16 bytes a row) next to both columns; sorting the row
//! numbers alone by their values reads the values in random order (several times slower on a
//! million rows). This sorts the three columns where they are, as one: a quicksort whose swaps
//! move a row in all three, the two halves of a large partition on both cores.

use std::cmp::Ordering;

/// Partitions at least this long are split between the cores.
const PARALLEL: usize = 1 << 15;
/// Partitions at most this long are finished by insertion sort.
const SMALL: usize = 20;

/// The three columns of the rows being sorted.
struct Rows<'a> {
    x: &'a mut [f64],
    y: &'a mut [f64],
    row: &'a mut [u32],
}

impl<'a> Rows<'a> {
    fn len(&self) -> usize {
        self.x.len()
    }

    /// Row a before row b: by value (`total_cmp`), ties by row number (every key distinct, so
    /// the order is one whatever the algorithm).
    fn less(&self, a: usize, b: usize) -> bool {
        match self.x[a].total_cmp(&self.x[b]) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => self.row[a] < self.row[b],
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.x.swap(a, b);
        self.y.swap(a, b);
        self.row.swap(a, b);
    }

    fn split_at(self, mid: usize) -> (Rows<'a>, Rows<'a>) {
        let (xl, xr) = self.x.split_at_mut(mid);
        let (yl, yr) = self.y.split_at_mut(mid);
        let (rl, rr) = self.row.split_at_mut(mid);
        (Rows { x: xl, y: yl, row: rl }, Rows { x: xr, y: yr, row: rr })
    }
}

/// Sort `x` ascending (`total_cmp`, ties by `row`), moving `y` and `row` with it.
///
/// # Panics
/// If the three slices differ in length.
pub(crate) fn co_sort(x: &mut [f64], y: &mut [f64], row: &mut [u32]) {
    assert!(x.len() == y.len() && x.len() == row.len(), "co_sort: columns of different lengths");
    let depth = 2 * (usize::BITS - x.len().leading_zeros()) as usize;
    quicksort(Rows { x, y, row }, depth);
}

fn quicksort(mut rows: Rows, depth: usize) {
    let n = rows.len();
    if n <= SMALL {
        insertion_sort(&mut rows);
        return;
    }
    if depth == 0 {
        heapsort(&mut rows);
        return;
    }
    let mid = partition(&mut rows);
    let (left, right) = rows.split_at(mid);
    // the pivot is `right`'s first row, already in its place
    let (_, right) = right.split_at(1);
    if n >= PARALLEL {
        rayon::join(|| quicksort(left, depth - 1), || quicksort(right, depth - 1));
    } else {
        quicksort(left, depth - 1);
        quicksort(right, depth - 1);
    }
}

/// The sort key of a value: `total_cmp`'s order as an integer's.
fn key(v: f64) -> i64 {
    let b = v.to_bits() as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

/// Partition around the median of the first, middle and last rows (Hoare's scheme: rows are
/// swapped only when both ends find one on the wrong side; every key is distinct); returns the
/// pivot's final position.
fn partition(rows: &mut Rows) -> usize {
    let n = rows.len();
    let (a, b, c) = (0, n / 2, n - 1);
    let median = if rows.less(a, b) {
        if rows.less(b, c) {
            b
        } else if rows.less(a, c) {
            c
        } else {
            a
        }
    } else if rows.less(a, c) {
        a
    } else if rows.less(b, c) {
        c
    } else {
        b
    };
    rows.swap(median, 0);
    let pivot = (key(rows.x[0]), rows.row[0]);
    let below = |rows: &Rows, i: usize| (key(rows.x[i]), rows.row[i]) < pivot;
    let (mut i, mut j) = (1, n - 1);
    loop {
        while i <= j && below(rows, i) {
            i += 1;
        }
        while i <= j && !below(rows, j) {
            j -= 1;
        }
        if i > j {
            break;
        }
        rows.swap(i, j);
        i += 1;
        j -= 1;
    }
    rows.swap(0, i - 1);
    i - 1
}

fn insertion_sort(rows: &mut Rows) {
    for i in 1..rows.len() {
        let mut j = i;
        while j > 0 && rows.less(j, j - 1) {
            rows.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// The fallback when partitions keep coming out lopsided: n log n whatever the input.
fn heapsort(rows: &mut Rows) {
    let n = rows.len();
    let sift = |rows: &mut Rows, mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && rows.less(child, child + 1) {
            child += 1;
        }
        if !rows.less(root, child) {
            break;
        }
        rows.swap(root, child);
        root = child;
    };
    for start in (0..n / 2).rev() {
        sift(rows, start, n);
    }
    for end in (1..n).rev() {
        rows.swap(0, end);
        sift(rows, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The order the pairs' sort gives: by value, ties by row.
    fn reference(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<u32>) {
        let mut idx: Vec<u32> = (0..x.len() as u32).collect();
        idx.sort_by(|&a, &b| x[a as usize].total_cmp(&x[b as usize]).then(a.cmp(&b)));
        (idx.iter().map(|&i| x[i as usize]).collect(), idx.iter().map(|&i| y[i as usize]).collect(), idx)
    }

    fn check(x: Vec<f64>) {
        let y: Vec<f64> = (0..x.len()).map(|i| i as f64 * 0.5 - 3.0).collect();
        let want = reference(&x, &y);
        let (mut xs, mut ys) = (x.clone(), y.clone());
        let mut rows: Vec<u32> = (0..x.len() as u32).collect();
        co_sort(&mut xs, &mut ys, &mut rows);
        assert_eq!(rows, want.2, "row order for n = {}", x.len());
        assert_eq!(
            xs.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(ys, want.1);
    }

    #[test]
    fn sorts_three_columns_as_one_with_ties_in_row_order() {
        let mut rng = Rng::new(7);
        for n in [0usize, 1, 2, 3, 5, 19, 20, 21, 64, 1000, 40_000, 100_000] {
            // continuous values, heavy ties (a few distinct values), and signed zeros
            check((0..n).map(|_| rng.normal()).collect());
            check((0..n).map(|_| (rng.uniform() * 5.0).floor()).collect());
            check((0..n).map(|i| if i % 2 == 0 { 0.0 } else { -0.0 }).collect());
        }
    }

    #[test]
    fn sorted_reversed_and_constant_inputs_stay_n_log_n_and_correct() {
        // inputs that make a naive quicksort quadratic; the heapsort fallback bounds them
        let n = 200_000;
        check((0..n).map(|i| i as f64).collect());
        check((0..n).rev().map(|i| i as f64).collect());
        check(vec![1.5; n]);
        check((0..n).map(|i| (i % 2) as f64).collect());
        let mut organ: Vec<f64> = (0..n / 2).map(|i| i as f64).collect();
        organ.extend((0..n / 2).rev().map(|i| i as f64));
        check(organ);
    }

    #[test]
    fn the_heapsort_fallback_sorts_alone() {
        let mut rng = Rng::new(11);
        let x: Vec<f64> = (0..5000).map(|_| (rng.uniform() * 50.0).floor()).collect();
        let y: Vec<f64> = x.iter().map(|v| v * 2.0).collect();
        let want = reference(&x, &y);
        let (mut xs, mut ys) = (x.clone(), y.clone());
        let mut rows: Vec<u32> = (0..x.len() as u32).collect();
        heapsort(&mut Rows { x: &mut xs, y: &mut ys, row: &mut rows });
        assert_eq!(rows, want.2);
        assert_eq!(ys, want.1);
    }
}
