//! Named numeric columns of one length: the estimators' input matrices (regressors, instruments,
//! covariates, the variables of a causal graph). The shape is checked once, here, when the
//! columns are put together; the estimators then take it for granted.

use ndarray::{Array2, ArrayView1, ArrayView2, ShapeBuilder};

/// Two columns that should have had one length.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{column}: has {found} rows; the others have {expected}")]
pub struct ShapeError {
    pub column: String,
    pub found: usize,
    pub expected: usize,
}

/// `k` named columns of length `n`, as an `n x k` column-major matrix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Columns {
    names: Vec<String>,
    values: Array2<f64>,
}

impl Columns {
    /// From `(name, values)` pairs, all of one length.
    pub fn new(cols: Vec<(String, Vec<f64>)>) -> Result<Self, ShapeError> {
        let expected = cols.first().map_or(0, |c| c.1.len());
        if let Some((name, c)) = cols.iter().find(|c| c.1.len() != expected) {
            return Err(ShapeError { column: name.clone(), found: c.len(), expected });
        }
        // Each column is copied into its place in the matrix and freed, on every core: at most
        // a column per core more than the matrix is ever held.
        use rayon::prelude::*;
        let (n, k) = (expected, cols.len());
        let names = cols.iter().map(|c| c.0.clone()).collect();
        let mut data = vec![0.0; n * k];
        if n > 0 {
            data.par_chunks_mut(n).zip(cols.into_par_iter()).for_each(|(to, (_, from))| to.copy_from_slice(&from));
        }
        let values = Array2::from_shape_vec((n, k).f(), data).unwrap_or_else(|_| Array2::zeros((n, k).f()));
        Ok(Self { names, values })
    }

    /// No columns, `n` rows (so that an empty set of controls still knows the sample size).
    pub fn empty(n: usize) -> Self {
        Self { names: vec![], values: Array2::zeros((n, 0).f()) }
    }

    /// Rows.
    pub fn n(&self) -> usize {
        self.values.nrows()
    }

    /// Columns.
    pub fn k(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn values(&self) -> ArrayView2<'_, f64> {
        self.values.view()
    }

    /// The columns as slices: each is one contiguous run, since the matrix is column-major by
    /// construction.
    pub fn slices(&self) -> Vec<&[f64]> {
        crate::linalg::contiguous_columns(self.values.view()).expect("Columns are column-major by construction")
    }

    pub fn column(&self, j: usize) -> ArrayView1<'_, f64> {
        self.values.column(j)
    }

    /// `(name, column)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, ArrayView1<'_, f64>)> {
        self.names.iter().map(String::as_str).zip(self.values.columns())
    }

    /// The columns at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Self {
        Self {
            names: idx.iter().map(|&j| self.names[j].clone()).collect(),
            values: column_major(self.values.select(ndarray::Axis(1), idx)),
        }
    }

    /// The rows at `idx`, in that order.
    pub fn rows(&self, idx: &[usize]) -> Self {
        Self { names: self.names.clone(), values: column_major(self.values.select(ndarray::Axis(0), idx)) }
    }

    /// These columns and one more.
    pub fn with_column(self, name: &str, values: Vec<f64>) -> Result<Self, ShapeError> {
        if !self.is_empty() && values.len() != self.n() {
            return Err(ShapeError { column: name.to_string(), found: values.len(), expected: self.n() });
        }
        let mut cols: Vec<(String, Vec<f64>)> = self.iter().map(|(n, c)| (n.to_string(), c.to_vec())).collect();
        cols.push((name.to_string(), values));
        Self::new(cols)
    }

    /// The first column that is not finite everywhere, with the row (1-based).
    pub fn first_non_finite(&self) -> Option<(&str, usize)> {
        self.iter().find_map(|(name, c)| c.iter().position(|v| !v.is_finite()).map(|i| (name, i + 1)))
    }

    /// The first constant column.
    pub fn first_constant(&self) -> Option<&str> {
        self.iter().find_map(|(name, c)| {
            let first = c.first().copied()?;
            c.iter().all(|&v| v == first).then_some(name)
        })
    }
}

/// `a` in column-major order (a copy only when it is not already).
fn column_major(a: Array2<f64>) -> Array2<f64> {
    if a.t().is_standard_layout() {
        return a;
    }
    let mut out = Array2::zeros(a.raw_dim().f());
    out.assign(&a);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked_once() {
        let c = Columns::new(vec![("a".into(), vec![1.0, 2.0]), ("b".into(), vec![3.0, 4.0])]).unwrap();
        assert_eq!((c.n(), c.k()), (2, 2));
        assert_eq!(c.column(1).to_vec(), vec![3.0, 4.0]);
        assert_eq!(c.select(&[1]).names(), ["b".to_string()]);
        let e = Columns::new(vec![("a".into(), vec![1.0]), ("b".into(), vec![3.0, 4.0])]).unwrap_err();
        assert_eq!(e, ShapeError { column: "b".into(), found: 2, expected: 1 });
        assert_eq!(Columns::empty(3).n(), 3);
        // many columns (copied on several cores) each land in its place, under its name
        let cols: Vec<(String, Vec<f64>)> =
            (0..37).map(|j| (format!("c{j}"), (0..1001).map(|i| (i * 37 + j) as f64).collect())).collect();
        let c = Columns::new(cols.clone()).unwrap();
        assert_eq!((c.n(), c.k()), (1001, 37));
        for (j, (name, v)) in cols.iter().enumerate() {
            assert_eq!((&c.names()[j], c.column(j).to_vec()), (name, v.clone()));
        }
        assert_eq!(c.slices()[36], &cols[36].1[..]);
        // columns of no rows, and no columns
        let none = Columns::new(vec![("a".into(), vec![]), ("b".into(), vec![])]).unwrap();
        assert_eq!((none.n(), none.k(), none.names()), (0, 2, &["a".to_string(), "b".to_string()][..]));
        assert_eq!((Columns::new(vec![]).unwrap().n(), Columns::new(vec![]).unwrap().k()), (0, 0));
    }
}
