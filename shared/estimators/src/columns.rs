//! Named numeric columns of one length: the estimators' input matrices (regressors, instruments,
//! covariates, the variables of a causal graph). The shape is checked once, here, when the
//! columns are put together; the estimators then take it for granted.

use ndarray::{Array2, ArrayView1, ShapeBuilder};

/// Two columns that should have had one length.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{column}: has {found} rows; the others have {expected}")]
pub struct ShapeError {
    pub column: String,
    pub found: usize,
    pub expected: usize,
}

/// `k` named columns of length `n`, each kept as it was given: putting the reader's columns
/// together copies nothing. (They were copied into one `n x k` column-major matrix until
/// 2026-12-06; the estimators only ever read them a column at a time, and the copy was a fresh
/// 80 MB for the 2SLS benchmark's ten controls, whose pages the kernel zeroed first.) An
/// estimator that wants one matrix asks for it: [`Columns::to_matrix`], [`Columns::with_intercept`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Columns {
    names: Vec<String>,
    values: Vec<Vec<f64>>,
    n: usize,
}

impl Columns {
    /// From `(name, values)` pairs, all of one length.
    pub fn new(cols: Vec<(String, Vec<f64>)>) -> Result<Self, ShapeError> {
        let n = cols.first().map_or(0, |c| c.1.len());
        if let Some((name, c)) = cols.iter().find(|c| c.1.len() != n) {
            return Err(ShapeError { column: name.clone(), found: c.len(), expected: n });
        }
        let (names, values) = cols.into_iter().unzip();
        Ok(Self { names, values, n })
    }

    /// No columns, `n` rows (so that an empty set of controls still knows the sample size).
    pub fn empty(n: usize) -> Self {
        Self { names: vec![], values: vec![], n }
    }

    /// Rows.
    pub fn n(&self) -> usize {
        self.n
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

    /// The columns as one `n x k` column-major matrix (a copy).
    pub fn to_matrix(&self) -> Array2<f64> {
        self.matrix(false)
    }

    /// `[1, columns]`: the `n x (k + 1)` column-major design with an intercept first (a copy).
    pub fn with_intercept(&self) -> Array2<f64> {
        self.matrix(true)
    }

    fn matrix(&self, intercept: bool) -> Array2<f64> {
        let first = usize::from(intercept);
        let mut m = Array2::zeros((self.n, self.k() + first).f());
        if intercept {
            m.column_mut(0).fill(1.0);
        }
        for (mut to, from) in m.columns_mut().into_iter().skip(first).zip(&self.values) {
            to.assign(&ArrayView1::from(from.as_slice()));
        }
        m
    }

    /// The columns as slices.
    pub fn slices(&self) -> Vec<&[f64]> {
        self.values.iter().map(Vec::as_slice).collect()
    }

    pub fn column(&self, j: usize) -> ArrayView1<'_, f64> {
        ArrayView1::from(self.values[j].as_slice())
    }

    /// `(name, column)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, ArrayView1<'_, f64>)> {
        self.names.iter().map(String::as_str).zip(self.values.iter().map(|c| ArrayView1::from(c.as_slice())))
    }

    /// The columns at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Self {
        Self {
            names: idx.iter().map(|&j| self.names[j].clone()).collect(),
            values: idx.iter().map(|&j| self.values[j].clone()).collect(),
            n: self.n,
        }
    }

    /// The rows at `idx`, in that order.
    pub fn rows(&self, idx: &[usize]) -> Self {
        Self {
            names: self.names.clone(),
            values: self.values.iter().map(|c| idx.iter().map(|&i| c[i]).collect()).collect(),
            n: idx.len(),
        }
    }

    /// These columns and one more.
    pub fn with_column(mut self, name: &str, values: Vec<f64>) -> Result<Self, ShapeError> {
        if self.is_empty() {
            self.n = values.len();
        } else if values.len() != self.n {
            return Err(ShapeError { column: name.to_string(), found: values.len(), expected: self.n });
        }
        self.names.push(name.to_string());
        self.values.push(values);
        Ok(self)
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
        // many columns, each in its place under its name, as slices and as one matrix
        let cols: Vec<(String, Vec<f64>)> =
            (0..37).map(|j| (format!("c{j}"), (0..1001).map(|i| (i * 37 + j) as f64).collect())).collect();
        let c = Columns::new(cols.clone()).unwrap();
        assert_eq!((c.n(), c.k()), (1001, 37));
        for (j, (name, v)) in cols.iter().enumerate() {
            assert_eq!((&c.names()[j], c.column(j).to_vec()), (name, v.clone()));
        }
        assert_eq!(c.slices()[36], &cols[36].1[..]);
        let (m, d) = (c.to_matrix(), c.with_intercept());
        assert_eq!((m.dim(), d.dim()), ((1001, 37), (1001, 38)));
        assert!(m.t().is_standard_layout() && d.t().is_standard_layout(), "column-major");
        assert!(d.column(0).iter().all(|&v| v == 1.0));
        for (j, (_, v)) in cols.iter().enumerate() {
            assert_eq!((m.column(j).to_vec(), d.column(j + 1).to_vec()), (v.clone(), v.clone()));
        }
        let picked = c.select(&[5, 2]).rows(&[1000, 0]);
        assert_eq!((picked.names(), picked.n()), (&["c5".to_string(), "c2".to_string()][..], 2));
        assert_eq!(picked.column(0).to_vec(), vec![cols[5].1[1000], cols[5].1[0]]);
        let more =
            Columns::empty(0).with_column("a", vec![1.0, 2.0]).unwrap().with_column("b", vec![3.0, 4.0]).unwrap();
        assert_eq!((more.n(), more.k(), more.column(1).to_vec()), (2, 2, vec![3.0, 4.0]));
        assert_eq!(
            more.with_column("c", vec![1.0]).unwrap_err(),
            ShapeError { column: "c".into(), found: 1, expected: 2 }
        );
        // columns of no rows, and no columns
        let none = Columns::new(vec![("a".into(), vec![]), ("b".into(), vec![])]).unwrap();
        assert_eq!((none.n(), none.k(), none.names()), (0, 2, &["a".to_string(), "b".to_string()][..]));
        assert_eq!((Columns::new(vec![]).unwrap().n(), Columns::new(vec![]).unwrap().k()), (0, 0));
    }
}
