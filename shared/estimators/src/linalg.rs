//! Dense linear algebra for the estimators, on `ndarray`: design matrices are `n x k` arrays
//! (column-major when built from columns, so each regressor is one contiguous run), small `k x k`
//! matrices (cross-products, covariances) are `Array2`. Products use ndarray's matrix
//! multiplication (`matrixmultiply`); decompositions (Cholesky, symmetric eigen-decomposition,
//! SVD) come from `nalgebra`, on top of which this module adds what regression needs: the rank
//! check that names the first collinear column, and symmetric results.

use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, ShapeBuilder, Slice};
use rayon::prelude::*;

/// A column is collinear with the previous ones when its Cholesky pivot falls below this
/// fraction of its own squared norm.
pub const COLLINEARITY_TOL: f64 = 1e-10;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column} is collinear with the columns before it")]
pub struct Singular {
    pub column: usize,
}

/// The mean and the population standard deviation of the values `values()` yields (called a few
/// times), the spread summed relative to the largest deviation so that neither 1e155 nor 1e-200
/// overflows or underflows; (0, 0) for no values. For the estimators that fit on standardised
/// columns and map back (the propensity logit, the time-series counterfactual).
pub(crate) fn mean_sd<I: Iterator<Item = f64>>(values: impl Fn() -> I) -> (f64, f64) {
    let count = values().count().max(1) as f64;
    let mean = values().sum::<f64>() / count;
    let big = values().map(|x| (x - mean).abs()).fold(0.0_f64, f64::max);
    let sd =
        if big > 0.0 { big * (values().map(|x| ((x - mean) / big).powi(2)).sum::<f64>() / count).sqrt() } else { 0.0 };
    (mean, sd)
}

/// An `n x k` column-major matrix from `k` columns of length `n` (shapes checked here, once).
///
/// # Panics
/// If the columns differ in length: the callers build them from one table.
pub fn columns<C: AsRef<[f64]>>(cols: &[C]) -> Array2<f64> {
    from_columns(cols.iter().map(|c| ArrayView1::from(c.as_ref())))
}

/// The same from ndarray columns.
pub fn stack_columns(cols: &[Array1<f64>]) -> Array2<f64> {
    from_columns(cols.iter().map(|c| c.view()))
}

/// The same from views of columns (no copy of each column before the matrix is built).
pub fn stack_views<'a>(cols: impl ExactSizeIterator<Item = ArrayView1<'a, f64>>) -> Array2<f64> {
    from_columns(cols)
}

fn from_columns<'a>(cols: impl ExactSizeIterator<Item = ArrayView1<'a, f64>>) -> Array2<f64> {
    let k = cols.len();
    let mut data = Vec::new();
    let mut cols = cols.peekable();
    // the whole matrix at once: no doubling (and copying) as it fills
    data.reserve_exact(k * cols.peek().map_or(0, |c| c.len()));
    let mut n = None;
    for c in cols {
        let len = *n.get_or_insert(c.len());
        assert_eq!(c.len(), len, "columns of one design matrix have one length");
        data.extend(c.iter().copied());
    }
    let n = n.unwrap_or(0);
    Array2::from_shape_vec((n, k).f(), data).unwrap_or_else(|_| Array2::zeros((n, k).f()))
}

/// The block of rows `r` and columns `c` (ndarray's `s!` macro, without its `unsafe`, which
/// this workspace forbids).
pub fn block(a: ArrayView2<'_, f64>, r: std::ops::Range<usize>, c: std::ops::Range<usize>) -> ArrayView2<'_, f64> {
    a.slice_axis_move(Axis(0), Slice::from(r)).slice_axis_move(Axis(1), Slice::from(c))
}

/// The same, mutable.
pub fn block_mut(
    a: ArrayViewMut2<'_, f64>,
    r: std::ops::Range<usize>,
    c: std::ops::Range<usize>,
) -> ArrayViewMut2<'_, f64> {
    a.slice_axis_move(Axis(0), Slice::from(r)).slice_axis_move(Axis(1), Slice::from(c))
}

/// `x` with a column of ones in front (an intercept).
pub fn with_intercept(x: ArrayView2<f64>) -> Array2<f64> {
    let (n, k) = x.dim();
    let mut m = Array2::ones((n, k + 1).f());
    block_mut(m.view_mut(), 0..n, 1..k + 1).assign(&x);
    m
}

/// Rows per block of the blocked cross-products: the block of every column stays in cache.
const BLOCK: usize = 2048;

/// Columns above which X'X goes to gemm rather than the column kernel: the kernel reads two
/// columns per multiply-add, which wins on tall, thin designs, while gemm's packed blocks win
/// once the product is wide (the Callaway-Sant'Anna anchor's covariances of its event-time and
/// pre-period influence functions over 5,000 units: the whole fit 0.024 s with the kernel,
/// 0.017 s with gemm, measured 2026-12-03).
const WIDE: usize = 32;

/// X'X (k x k).
pub fn crossprod(x: ArrayView2<f64>) -> Array2<f64> {
    match contiguous_columns(x) {
        Some(cols) if x.ncols() <= WIDE => crossprod_columns(&cols, None),
        _ => symmetrise(x.t().dot(&x)),
    }
}

/// X'X (k x k) for `k` columns given as slices of one length, without assembling the n x k
/// matrix: the column kernel up to [`WIDE`] columns; above it, gemm over blocks of rows copied
/// into a buffer of at most [`WIDE_BLOCK_BYTES`] and the blocks' products summed. (The
/// Callaway-Sant'Anna pre-trend test's 90 influence functions over 5,000 units were stacked into
/// a 3.6 MB matrix for one product; the buffer here is 256 KiB.)
///
/// # Panics
/// If the columns differ in length.
pub fn crossprod_slices(cols: &[&[f64]]) -> Array2<f64> {
    let k = cols.len();
    if k <= WIDE {
        return crossprod_columns(cols, None);
    }
    let n = cols[0].len();
    assert!(cols.iter().all(|c| c.len() == n), "columns of one design matrix have one length");
    let rows = (WIDE_BLOCK_BYTES / (8 * k)).max(64);
    let mut out = Array2::<f64>::zeros((k, k));
    let mut buf = Array2::<f64>::zeros((rows.min(n), k).f());
    let mut start = 0;
    while start < n {
        let end = (start + rows).min(n);
        let mut b = block_mut(buf.view_mut(), 0..end - start, 0..k);
        for (j, c) in cols.iter().enumerate() {
            b.column_mut(j).assign(&ArrayView1::from(&c[start..end]));
        }
        let b = b.view();
        ndarray::linalg::general_mat_mul(1.0, &b.t(), &b, 1.0, &mut out);
        start = end;
    }
    symmetrise(out)
}

/// The largest row block [`crossprod_slices`] copies at once.
const WIDE_BLOCK_BYTES: usize = 256 << 10;

/// X'WX with W = diag(w) (k x k), computed block by block so no n x k copy is made.
pub fn weighted_crossprod(x: ArrayView2<f64>, w: ArrayView1<f64>) -> Array2<f64> {
    if let (Some(cols), Some(ws)) = (contiguous_columns(x), w.as_slice()) {
        return crossprod_columns(&cols, Some(ws));
    }
    let (n, k) = x.dim();
    let mut m = Array2::zeros((k, k));
    let mut start = 0;
    while start < n {
        let end = (start + BLOCK).min(n);
        let xb = x.slice_axis(Axis(0), Slice::from(start..end));
        let xwb = &xb * &w.slice_axis(Axis(0), Slice::from(start..end)).insert_axis(Axis(1));
        ndarray::linalg::general_mat_mul(1.0, &xb.t(), &xwb, 1.0, &mut m);
        start = end;
    }
    symmetrise(m)
}

/// The columns of `x` as slices when each is one contiguous run (a column-major matrix or a
/// block of one).
pub fn contiguous_columns<'a>(x: ArrayView2<'a, f64>) -> Option<Vec<&'a [f64]>> {
    (0..x.ncols()).map(|j| x.index_axis_move(Axis(1), j).to_slice()).collect()
}

/// X'WX (`w` = None for X'X) for `k` columns of one length, given as slices (no matrix is
/// assembled). A hand-written kernel kept because the anchor benchmark measures it faster than
/// ndarray's `matrixmultiply` on tall, thin designs: the 2SLS anchor (1,000,000 x 14) fitted in
/// 0.29 s through an assembled matrix and gemm, 0.12 s through this, which reads each block of
/// rows from memory once and reduces it with eight independent accumulators (vectorised, and
/// half the rounding error of one running sum); with weights, each block is scaled once into a
/// cached buffer (the AIPW anchor's logit: 0.85 s -> 0.74 s).
pub fn crossprod_columns(x: &[&[f64]], w: Option<&[f64]>) -> Array2<f64> {
    let [m] = crossprods(x, [w]);
    m
}

/// X'W₁X, ..., X'W_NX (None: unweighted) in one pass over the data: each block of rows is read
/// from memory once and stays in cache while every weight uses it (the 2SLS's weak-instrument
/// tests need three weighted products of the same instruments).
pub fn crossprods<const N: usize>(x: &[&[f64]], ws: [Option<&[f64]>; N]) -> [Array2<f64>; N] {
    let k = x.len();
    let n = x.first().map(|c| c.len()).unwrap_or(0);
    assert!(x.iter().all(|c| c.len() == n), "columns of one design matrix have one length");
    assert!(ws.iter().flatten().all(|w| w.len() == n), "a weight for every row");
    // Rows in fixed chunks on every core, the chunks' sums added in order: the same answer on any
    // number of threads.
    let starts: Vec<usize> = (0..n).step_by(CHUNK).collect();
    let parts: Vec<[Array2<f64>; N]> =
        starts.par_iter().map(|&s| crossprod_rows(x, &ws, s, (s + CHUNK).min(n))).collect();
    let mut out: [Array2<f64>; N] = std::array::from_fn(|_| Array2::zeros((k, k)));
    for p in &parts {
        for (o, q) in out.iter_mut().zip(p) {
            *o += q;
        }
    }
    for m in &mut out {
        for i in 0..k {
            for j in 0..i {
                m[[j, i]] = m[[i, j]];
            }
        }
    }
    out
}

/// A column computed a block of rows at a time during [`meats`]: `base − Σ coef · column`, the
/// sum taken in order from zero as [`combine`] takes it. Indices run over the pass's input
/// columns, then over the derived columns before this one.
pub struct Derived {
    pub base: usize,
    pub minus: Vec<(usize, f64)>,
}

/// How a [`Meat`] sums.
#[derive(Clone, Copy)]
pub enum MeatKind<'a> {
    /// Over rows: Σᵢ cᵢ cᵢ' wᵢ (heteroskedasticity-robust).
    Rows,
    /// Over clusters (codes 0..g): Sₐ' S_b with S_g = Σ_{i in g} cᵢ rᵢ.
    Clusters(&'a [u32], usize),
}

/// A cross-product of the columns `cols` (input or derived) weighted by the product of the
/// columns `weight.0` and `weight.1` (unweighted without one).
pub struct Meat<'a> {
    pub cols: Vec<usize>,
    pub weight: Option<(usize, usize)>,
    pub kind: MeatKind<'a>,
}

/// Several sandwich meats whose residuals are linear in the input columns, in one pass over the
/// rows: each block of rows computes its residuals (`derived`) and adds to every meat while it is
/// in cache, so no residual vector is stored and the data is read from memory once (twice with
/// clustered meats: the row meats on every core, the cluster sums in row order). Each meat is what
/// [`crossprods`] (rows) or the cluster sums' product would give on the materialised residuals,
/// bit for bit. The robust 2SLS's five residuals and six meats read its columns once instead of
/// ten times: its anchor's fit went from 0.208 s to 0.134 s (2026-12-03).
pub fn meats(x: &[&[f64]], derived: &[Derived], meats: &[Meat]) -> Vec<Array2<f64>> {
    let n = x.first().map(|c| c.len()).unwrap_or(0);
    assert!(x.iter().all(|c| c.len() == n), "columns of one pass have one length");
    let ncols = x.len() + derived.len();
    for (i, d) in derived.iter().enumerate() {
        let own = x.len() + i;
        assert!(
            d.base < own && d.minus.iter().all(|t| t.0 < own),
            "a derived column uses input columns and earlier derived ones"
        );
    }
    for m in meats {
        let used = m.cols.iter().chain(m.weight.iter().flat_map(|w| [&w.0, &w.1]));
        assert!(used.into_iter().all(|&c| c < ncols), "a meat's columns exist");
    }
    let mut out: Vec<Array2<f64>> = meats.iter().map(|m| Array2::zeros((m.cols.len(), m.cols.len()))).collect();
    let rows: Vec<usize> = (0..meats.len()).filter(|&i| matches!(meats[i].kind, MeatKind::Rows)).collect();
    if !rows.is_empty() {
        let starts: Vec<usize> = (0..n).step_by(CHUNK).collect();
        let parts: Vec<Vec<Array2<f64>>> =
            starts.par_iter().map(|&s| row_meats(x, derived, meats, &rows, s, (s + CHUNK).min(n))).collect();
        for p in &parts {
            for (&i, q) in rows.iter().zip(p) {
                out[i] += q;
            }
        }
        for &i in &rows {
            let m = &mut out[i];
            for a in 0..m.nrows() {
                for b in 0..a {
                    m[[b, a]] = m[[a, b]];
                }
            }
        }
    }
    let clustered: Vec<usize> = (0..meats.len()).filter(|&i| !matches!(meats[i].kind, MeatKind::Rows)).collect();
    if !clustered.is_empty() {
        for (i, m) in cluster_meats(x, derived, meats, &clustered, n) {
            out[i] = m;
        }
    }
    out
}

/// The derived columns over rows `start..start + len`, into `buf` (one `BLOCK` per column).
#[inline]
fn derive_block(x: &[&[f64]], derived: &[Derived], start: usize, len: usize, buf: &mut [f64]) {
    let nx = x.len();
    for (d, spec) in derived.iter().enumerate() {
        let (done, rest) = buf.split_at_mut(d * BLOCK);
        let out = &mut rest[..len];
        let column = |c: usize| -> &[f64] {
            if c < nx {
                &x[c][start..start + len]
            } else {
                &done[(c - nx) * BLOCK..(c - nx) * BLOCK + len]
            }
        };
        out.fill(0.0);
        for &(c, coef) in &spec.minus {
            for (o, &v) in out.iter_mut().zip(column(c)) {
                *o += coef * v;
            }
        }
        for (o, &b) in out.iter_mut().zip(column(spec.base)) {
            *o = b - *o;
        }
    }
}

/// Column `c` of a block: an input column's rows or a derived column from `buf`.
#[inline]
fn block_column<'a>(x: &'a [&[f64]], buf: &'a [f64], c: usize, start: usize, len: usize) -> &'a [f64] {
    if c < x.len() {
        &x[c][start..start + len]
    } else {
        let d = c - x.len();
        &buf[d * BLOCK..d * BLOCK + len]
    }
}

/// The row meats' lower triangles over rows `start..end`.
fn row_meats(
    x: &[&[f64]],
    derived: &[Derived],
    meats: &[Meat],
    which: &[usize],
    mut start: usize,
    end: usize,
) -> Vec<Array2<f64>> {
    let mut ms: Vec<Array2<f64>> =
        which.iter().map(|&i| Array2::zeros((meats[i].cols.len(), meats[i].cols.len()))).collect();
    let mut buf = vec![0.0; derived.len() * BLOCK];
    let widest = which.iter().map(|&i| meats[i].cols.len()).max().unwrap_or(0);
    let mut scaled = vec![0.0; widest * BLOCK];
    let mut w = vec![0.0; BLOCK];
    while start < end {
        let len = (start + BLOCK).min(end) - start;
        derive_block(x, derived, start, len, &mut buf);
        for (m, &i) in ms.iter_mut().zip(which) {
            let spec = &meats[i];
            let col = |c: usize| block_column(x, &buf, c, start, len);
            if let Some((a, b)) = spec.weight {
                for ((o, &ra), &rb) in w[..len].iter_mut().zip(col(a)).zip(col(b)) {
                    *o = ra * rb;
                }
                for (j, &c) in spec.cols.iter().enumerate() {
                    let out = &mut scaled[j * BLOCK..j * BLOCK + len];
                    for ((o, &v), &wv) in out.iter_mut().zip(col(c)).zip(&w[..len]) {
                        *o = v * wv;
                    }
                }
            }
            for (j, &cj) in spec.cols.iter().enumerate() {
                let left = if spec.weight.is_some() { &scaled[j * BLOCK..j * BLOCK + len] } else { col(cj) };
                for (k, &ck) in spec.cols[..=j].iter().enumerate() {
                    m[[j, k]] += dot(left, col(ck));
                }
            }
        }
        start += len;
    }
    ms
}

/// The clustered meats, the cluster sums taken in row order.
fn cluster_meats(
    x: &[&[f64]],
    derived: &[Derived],
    meats: &[Meat],
    which: &[usize],
    n: usize,
) -> Vec<(usize, Array2<f64>)> {
    // One score matrix (clusters x columns) per meat and residual.
    let mut scores: Vec<(Array2<f64>, Option<Array2<f64>>)> = which
        .iter()
        .map(|&i| {
            let g = match meats[i].kind {
                MeatKind::Clusters(_, g) => g,
                MeatKind::Rows => 0,
            };
            let k = meats[i].cols.len();
            let two = meats[i].weight.is_some_and(|(a, b)| a != b);
            (Array2::zeros((g, k)), two.then(|| Array2::zeros((g, k))))
        })
        .collect();
    let mut buf = vec![0.0; derived.len() * BLOCK];
    let mut start = 0;
    while start < n {
        let len = (start + BLOCK).min(n) - start;
        derive_block(x, derived, start, len, &mut buf);
        for ((sa, sb), &i) in scores.iter_mut().zip(which) {
            let spec = &meats[i];
            let MeatKind::Clusters(ids, _) = spec.kind else { continue };
            let ids = &ids[start..start + len];
            let col = |c: usize| block_column(x, &buf, c, start, len);
            let (a, b) = spec.weight.expect("a clustered meat has residuals");
            for (s, r) in [(Some(sa), a), (sb.as_mut(), b)] {
                let Some(s) = s else { continue };
                for (j, &c) in spec.cols.iter().enumerate() {
                    let mut out = s.column_mut(j);
                    for ((&v, &e), &g) in col(c).iter().zip(col(r)).zip(ids) {
                        out[g as usize] += v * e;
                    }
                }
            }
        }
        start += len;
    }
    scores
        .into_iter()
        .zip(which)
        .map(|((sa, sb), &i)| {
            let m = match sb {
                None => crossprod(sa.view()),
                Some(sb) => sa.t().dot(&sb),
            };
            (i, m)
        })
        .collect()
}

/// Rows handed to one core at a time by the column kernels.
const CHUNK: usize = 1 << 16;

/// The lower triangles of X'W_iX over rows `start..end`.
fn crossprod_rows<const N: usize>(
    x: &[&[f64]],
    ws: &[Option<&[f64]>; N],
    mut start: usize,
    n: usize,
) -> [Array2<f64>; N] {
    let k = x.len();
    let mut ms: [Array2<f64>; N] = std::array::from_fn(|_| Array2::zeros((k, k)));
    // With a weight, each block of a column is scaled once into a scratch buffer that stays in
    // cache, so each pair costs one multiply-add per row.
    let mut scaled = vec![0.0; if ws.iter().any(Option::is_some) { k * BLOCK } else { 0 }];
    while start < n {
        let end = (start + BLOCK).min(n);
        let len = end - start;
        for (m, w) in ms.iter_mut().zip(ws) {
            if let Some(w) = w {
                for (i, c) in x.iter().enumerate() {
                    let out = &mut scaled[i * BLOCK..i * BLOCK + len];
                    for ((o, &v), &wv) in out.iter_mut().zip(&c[start..end]).zip(&w[start..end]) {
                        *o = v * wv;
                    }
                }
            }
            for i in 0..k {
                let ci = if w.is_some() { &scaled[i * BLOCK..i * BLOCK + len] } else { &x[i][start..end] };
                for j in 0..=i {
                    m[[i, j]] += dot(ci, &x[j][start..end]);
                }
            }
        }
        start = end;
    }
    ms
}

/// Σ aᵢ bᵢ with eight independent accumulators over exact chunks.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let ((ca, ra), (cb, rb)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    for (x, y) in ca.iter().zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    // Reduced lane by lane (the two halves, then pairs), the order the vector registers hold
    // them in: summed pair by pair instead, the compiler shuffled lanes inside the loop above,
    // and the 2SLS anchor's fit took 0.134 s instead of 0.095 s (2026-12-03).
    let t = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    let mut s = (t[0] + t[2]) + (t[1] + t[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Σⱼ bⱼ xⱼ over columns given as slices: X b without assembling X.
pub fn combine(x: &[&[f64]], b: ArrayView1<f64>) -> Array1<f64> {
    let n = x.first().map(|c| c.len()).unwrap_or(0);
    let mut out = vec![0.0; n];
    // a block of rows at a time (it stays in cache while every column is added), on every core;
    // each row's sum runs over the columns in order, as one loop would
    out.par_chunks_mut(BLOCK).enumerate().for_each(|(i, block)| {
        let (start, len) = (i * BLOCK, block.len());
        for (c, &bj) in x.iter().zip(b.iter()) {
            for (o, &v) in block.iter_mut().zip(&c[start..start + len]) {
                *o += bj * v;
            }
        }
    });
    Array1::from(out)
}

/// X'y.
pub fn xty(x: ArrayView2<f64>, y: ArrayView1<f64>) -> Array1<f64> {
    x.t().dot(&y)
}

/// (A + A') / 2: removes the rounding asymmetry of products that are symmetric in exact
/// arithmetic.
pub fn symmetrise(mut a: Array2<f64>) -> Array2<f64> {
    let k = a.nrows();
    for i in 0..k {
        for j in 0..i {
            let v = 0.5 * (a[[i, j]] + a[[j, i]]);
            a[[i, j]] = v;
            a[[j, i]] = v;
        }
    }
    a
}

pub fn to_nalgebra(a: ArrayView2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

pub fn from_nalgebra(m: &DMatrix<f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// The Cholesky factor of a symmetric positive definite matrix (nalgebra's), with its solves.
#[derive(Debug, Clone)]
pub struct Cholesky(nalgebra::linalg::Cholesky<f64, nalgebra::Dyn>);

/// Cholesky factorisation with a rank check: the first column whose pivot (its squared norm
/// after projecting out the columns before it) is below [`COLLINEARITY_TOL`] times its squared
/// norm is reported as collinear.
pub fn cholesky(a: ArrayView2<f64>) -> Result<Cholesky, Singular> {
    let k = a.nrows();
    let collinear = |j: usize| Singular { column: j };
    if let Some(j) = (0..k).find(|&j| !a[[j, j]].is_finite()) {
        return Err(collinear(j));
    }
    let scale = |j: usize| a[[j, j]].abs().max(f64::MIN_POSITIVE);
    match nalgebra::linalg::Cholesky::new(to_nalgebra(a)) {
        Some(c) => {
            let l = c.l_dirty();
            match (0..k).find(|&j| {
                let d = l[(j, j)] * l[(j, j)];
                !d.is_finite() || d <= COLLINEARITY_TOL * scale(j)
            }) {
                Some(j) => Err(collinear(j)),
                None => Ok(Cholesky(c)),
            }
        }
        // A pivot at or below zero: the first leading block that fails names the column.
        None => {
            let j = (0..k)
                .find(|&j| {
                    let sub = block(a, 0..j + 1, 0..j + 1);
                    nalgebra::linalg::Cholesky::new(to_nalgebra(sub)).is_none_or(|c| {
                        let d = c.l_dirty()[(j, j)].powi(2);
                        d <= COLLINEARITY_TOL * scale(j)
                    })
                })
                .unwrap_or(k.saturating_sub(1));
            Err(collinear(j))
        }
    }
}

impl Cholesky {
    /// Solve A x = b.
    pub fn solve(&self, b: ArrayView1<f64>) -> Array1<f64> {
        let v = nalgebra::DVector::from_iterator(b.len(), b.iter().copied());
        let x = self.0.solve(&v);
        Array1::from_iter(x.iter().copied())
    }

    /// Solve A X = B column by column.
    pub fn solve_matrix(&self, b: ArrayView2<f64>) -> Array2<f64> {
        let m = to_nalgebra(b);
        from_nalgebra(&self.0.solve(&m))
    }

    /// The lower-triangular factor L (A = L L').
    pub fn l(&self) -> Array2<f64> {
        from_nalgebra(&self.0.l())
    }

    /// A⁻¹, symmetric.
    pub fn inverse(&self) -> Array2<f64> {
        symmetrise(from_nalgebra(&self.0.inverse()))
    }
}

/// Inverse of a symmetric positive definite matrix (with the rank check of [`cholesky`]).
pub fn inv_spd(a: ArrayView2<f64>) -> Result<Array2<f64>, Singular> {
    Ok(cholesky(a)?.inverse())
}

/// B M B (a sandwich) for symmetric B and M.
pub fn sandwich(bread: ArrayView2<f64>, meat: ArrayView2<f64>) -> Array2<f64> {
    symmetrise(bread.dot(&meat).dot(&bread))
}

/// The sub-matrix of rows and columns `idx`.
pub fn submatrix(a: ArrayView2<f64>, idx: &[usize]) -> Array2<f64> {
    a.select(Axis(0), idx).select(Axis(1), idx)
}

/// Quadratic form b' A⁻¹ b (a Wald statistic).
pub fn quad_form_inv(a: ArrayView2<f64>, b: ArrayView1<f64>) -> Result<f64, Singular> {
    let x = cholesky(a)?.solve(b);
    Ok(b.dot(&x))
}

/// Eigenvalues (ascending) and eigenvectors (as columns, in the same order) of a symmetric
/// matrix (nalgebra's symmetric QR algorithm).
pub fn symmetric_eigen(a: ArrayView2<f64>) -> (Array1<f64>, Array2<f64>) {
    let e = nalgebra::linalg::SymmetricEigen::new(to_nalgebra(a));
    let mut order: Vec<usize> = (0..e.eigenvalues.len()).collect();
    order.sort_by(|&i, &j| e.eigenvalues[i].total_cmp(&e.eigenvalues[j]));
    let values = Array1::from_iter(order.iter().map(|&i| e.eigenvalues[i]));
    let vectors = Array2::from_shape_fn((a.nrows(), order.len()), |(r, c)| e.eigenvectors[(r, order[c])]);
    (values, vectors)
}

/// The largest singular value of a matrix (nalgebra's SVD).
pub fn largest_singular_value(a: ArrayView2<f64>) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    nalgebra::linalg::SVD::new(to_nalgebra(a), false, false).singular_values.iter().copied().fold(0.0, f64::max)
}

/// Serialise a square matrix as its entries in row-major order (a flat JSON list), as the API
/// has always written covariance matrices; read one back from such a list.
pub mod flat_square {
    use ndarray::Array2;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(m: &Array2<f64>, s: S) -> Result<S::Ok, S::Error> {
        m.iter().copied().collect::<Vec<f64>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Array2<f64>, D::Error> {
        let v = Vec::<f64>::deserialize(d)?;
        let k = (v.len() as f64).sqrt().round() as usize;
        Array2::from_shape_vec((k, k), v).map_err(|_| serde::de::Error::custom("a square matrix's entries, row by row"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The cross-product of wide slices over blocks of rows (70 columns, so blocks of 468 rows;
    /// 5,003 rows, so a partial last block) equals the plain sums over rows and is symmetric;
    /// narrow slices take the column kernel, bit for bit.
    #[test]
    fn cross_products_of_wide_slices_over_row_blocks_match_the_plain_sums() {
        let (n, k) = (5_003, 70);
        let mut rng = crate::rng::Rng::new(11);
        let cols: Vec<Vec<f64>> = (0..k).map(|_| (0..n).map(|_| rng.uniform() - 0.5).collect()).collect();
        let x: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let m = crossprod_slices(&x);
        assert_eq!(m.dim(), (k, k));
        for i in 0..k {
            for j in 0..k {
                let exact: f64 = (0..n).map(|r| cols[i][r] * cols[j][r]).sum();
                assert!((m[[i, j]] - exact).abs() < 1e-11 * exact.abs().max(1.0), "{i},{j}: {} vs {exact}", m[[i, j]]);
                assert_eq!(m[[i, j]].to_bits(), m[[j, i]].to_bits(), "symmetric");
            }
        }
        let narrow = &x[..WIDE];
        let bits = |m: &Array2<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&crossprod_slices(narrow)), bits(&crossprod_columns(narrow, None)));
    }

    /// The column kernels over several chunks of rows (150,001 rows: two whole chunks and a
    /// partial one, blocks not a multiple of the row count): each weighted product equals the
    /// plain sum over rows, whatever the chunking, and the one-pass product of several weights
    /// is, weight for weight, bit for bit the single product.
    #[test]
    fn cross_products_over_chunks_match_the_plain_sums() {
        let n = 150_001;
        let mut rng = crate::rng::Rng::new(7);
        let mut next = || rng.uniform() - 0.5;
        let cols: Vec<Vec<f64>> = (0..4).map(|_| (0..n).map(|_| next()).collect()).collect();
        let w1: Vec<f64> = (0..n).map(|_| next().abs()).collect();
        let w2: Vec<f64> = (0..n).map(|_| next()).collect();
        let x: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let [plain, a, b] = crossprods(&x, [None, Some(&w1), Some(&w2)]);
        for (m, w) in [(&plain, None), (&a, Some(&w1)), (&b, Some(&w2))] {
            for i in 0..4 {
                for j in 0..4 {
                    let exact: f64 = (0..n).map(|r| cols[i][r] * cols[j][r] * w.map_or(1.0, |w| w[r])).sum();
                    assert!(
                        (m[[i, j]] - exact).abs() < 1e-9 * exact.abs().max(1.0),
                        "{i},{j}: {} vs {exact}",
                        m[[i, j]]
                    );
                    assert_eq!(m[[i, j]].to_bits(), m[[j, i]].to_bits(), "symmetric");
                }
            }
        }
        let bits = |m: &Array2<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&crossprod_columns(&x, None)), bits(&plain));
        assert_eq!(bits(&crossprod_columns(&x, Some(&w1))), bits(&a));
        assert_eq!(bits(&crossprod_columns(&x, Some(&w2))), bits(&b));
        // combine: Σ_j b_j x_j row by row
        let c = combine(&x, array![1.0, -2.0, 0.5, 3.0].view());
        for r in [0, 2047, 2048, 65_536, n - 1] {
            let want = cols[0][r] - 2.0 * cols[1][r] + 0.5 * cols[2][r] + 3.0 * cols[3][r];
            assert!((c[r] - want).abs() < 1e-15, "{r}");
        }
    }

    /// The one-pass meats are, bit for bit, the meats of the materialised residuals: row meats
    /// as `crossprods` of the weighted columns, cluster meats as the cluster sums' products
    /// (150,001 rows over three chunks; a residual built on an earlier one; weights of two
    /// different residuals; an unweighted product of a residual; 37 clusters).
    #[test]
    fn meats_in_one_pass_are_those_of_the_materialised_residuals() {
        let n = 150_001;
        let mut rng = crate::rng::Rng::new(11);
        let mut next = || rng.uniform() - 0.5;
        let cols: Vec<Vec<f64>> = (0..4).map(|_| (0..n).map(|_| next()).collect()).collect();
        let ids: Vec<u32> = (0..n).map(|i| ((i * 7919) % 37) as u32).collect();
        let x: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        // r1 = x2 − (0.3 x0 − 1.2 x1); r2 = x3 − (0.7 x0 + 0.4 r1)
        let derived = vec![
            Derived { base: 2, minus: vec![(0, 0.3), (1, -1.2)] },
            Derived { base: 3, minus: vec![(0, 0.7), (4, 0.4)] },
        ];
        let r1 = &ArrayView1::from(x[2]) - &combine(&x[..2], array![0.3, -1.2].view());
        let r2 = &ArrayView1::from(x[3]) - &combine(&[x[0], r1.as_slice().unwrap()], array![0.7, 0.4].view());
        let specs = vec![
            Meat { cols: vec![0, 1, 4], weight: Some((4, 5)), kind: MeatKind::Rows },
            Meat { cols: vec![5], weight: None, kind: MeatKind::Rows },
            Meat { cols: vec![0, 5], weight: Some((5, 5)), kind: MeatKind::Clusters(&ids, 37) },
            Meat { cols: vec![1, 4], weight: Some((4, 5)), kind: MeatKind::Clusters(&ids, 37) },
        ];
        let got = meats(&x, &derived, &specs);
        let bits = |m: &Array2<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let w = &r1 * &r2;
        let want0 = crossprod_columns(&[x[0], x[1], r1.as_slice().unwrap()], w.as_slice());
        assert_eq!(bits(&got[0]), bits(&want0));
        let want1 = crossprod_columns(&[r2.as_slice().unwrap()], None);
        assert_eq!(bits(&got[1]), bits(&want1));
        let scores = |cs: &[&[f64]], r: &Array1<f64>| {
            let mut s = Array2::<f64>::zeros((37, cs.len()));
            for (j, c) in cs.iter().enumerate() {
                for i in 0..n {
                    s[[ids[i] as usize, j]] += c[i] * r[i];
                }
            }
            s
        };
        let s2 = scores(&[x[0], r2.as_slice().unwrap()], &r2);
        assert_eq!(bits(&got[2]), bits(&crossprod(s2.view())));
        let (sa, sb) = (scores(&[x[1], r1.as_slice().unwrap()], &r1), scores(&[x[1], r1.as_slice().unwrap()], &r2));
        assert_eq!(bits(&got[3]), bits(&sa.t().dot(&sb)));
    }

    #[test]
    fn inverse_and_solve() {
        // [[4,2],[2,3]]^-1 = 1/8 [[3,-2],[-2,4]]
        let a = array![[4.0, 2.0], [2.0, 3.0]];
        let inv = inv_spd(a.view()).unwrap();
        for (x, y) in inv.iter().zip([0.375, -0.25, -0.25, 0.5]) {
            assert!((x - y).abs() < 1e-14);
        }
        let x = cholesky(a.view()).unwrap().solve(array![2.0, 1.0].view());
        assert!((x[0] - 0.5).abs() < 1e-14 && x[1].abs() < 1e-14);
        assert!((quad_form_inv(a.view(), array![2.0, 1.0].view()).unwrap() - 1.0).abs() < 1e-14);
    }

    #[test]
    fn collinear_columns_are_detected() {
        let c0 = [1.0, 1.0, 1.0, 1.0];
        let c1 = [1.0, 2.0, 3.0, 4.0];
        let c2 = [3.0, 5.0, 7.0, 9.0]; // 1 + 2*c1
        let m = crossprod(columns(&[&c0[..], &c1, &c2]).view());
        assert_eq!(cholesky(m.view()).unwrap_err(), Singular { column: 2 });
        let m = crossprod(columns(&[&c0[..], &c1]).view());
        assert!(cholesky(m.view()).is_ok());
        // exactly singular in floating point too: a negative or zero pivot
        let m = array![[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert_eq!(cholesky(m.view()).unwrap_err(), Singular { column: 1 });
    }

    #[test]
    fn weighted_cross_product_equals_the_direct_one() {
        let n = 10_000;
        let x = Array2::from_shape_fn((n, 3).f(), |(i, j)| ((i * (j + 3)) % 17) as f64 - 8.0);
        let w = Array1::from_shape_fn(n, |i| 0.5 + (i % 5) as f64);
        let got = weighted_crossprod(x.view(), w.view());
        let want = x.t().dot(&(&x * &w.view().insert_axis(Axis(1))));
        for (a, b) in got.iter().zip(want.iter()) {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0));
        }
    }

    #[test]
    fn eigen_and_singular_values() {
        let a = array![[2.0, 1.0], [1.0, 2.0]];
        let (vals, vecs) = symmetric_eigen(a.view());
        assert!((vals[0] - 1.0).abs() < 1e-12 && (vals[1] - 3.0).abs() < 1e-12);
        let v = vecs.column(1);
        assert!((v[0].abs() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        let b = array![[3.0, 0.0], [0.0, -5.0], [0.0, 0.0]];
        assert!((largest_singular_value(b.view()) - 5.0).abs() < 1e-12);
    }
}
