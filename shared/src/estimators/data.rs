//! Tables read from CSV: numeric columns as `f64`, others as text. Errors name the column and
//! the row.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DataError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{column}: no such column (columns are: {available})")]
    MissingColumn { column: String, available: String },
    #[error("{column}: row {row}: {message}")]
    BadValue { column: String, row: usize, message: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Num(Vec<f64>),
    Text(Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub names: Vec<String>,
    columns: HashMap<String, Column>,
    pub rows: usize,
}

impl Table {
    pub fn read_csv(path: &Path) -> Result<Self, DataError> {
        let err = |m: String| DataError::Read { path: path.display().to_string(), message: m };
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        Self::from_reader(std::io::BufReader::with_capacity(1 << 20, file)).map_err(|e| match e {
            DataError::Read { message, .. } => err(message),
            other => other,
        })
    }

    pub fn from_reader(reader: impl std::io::Read) -> Result<Self, DataError> {
        let err = |m: String| DataError::Read { path: "<input>".into(), message: m };
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(reader);
        let names: Vec<String> = rdr.headers().map_err(|e| err(e.to_string()))?.iter().map(String::from).collect();
        if names.is_empty() {
            return Err(err("no header row".into()));
        }
        let mut raw: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        let mut record = csv::StringRecord::new();
        let mut rows = 0;
        while rdr.read_record(&mut record).map_err(|e| err(e.to_string()))? {
            rows += 1;
            if record.len() != names.len() {
                return Err(err(format!("row {rows}: {} fields, the header has {}", record.len(), names.len())));
            }
            for (c, v) in record.iter().enumerate() {
                raw[c].push(v.to_string());
            }
        }
        let mut columns = HashMap::with_capacity(names.len());
        for (name, values) in names.iter().zip(raw) {
            columns.insert(name.clone(), parse_column(values));
        }
        Ok(Self { names, columns, rows })
    }

    /// Build from numeric columns (tests, benchmarks, inline rows).
    pub fn from_columns(cols: Vec<(&str, Column)>) -> Self {
        let rows = cols.first().map(|(_, c)| c.len()).unwrap_or(0);
        let names = cols.iter().map(|(n, _)| n.to_string()).collect();
        Self { names, columns: cols.into_iter().map(|(n, c)| (n.to_string(), c)).collect(), rows }
    }

    pub fn column(&self, name: &str) -> Result<&Column, DataError> {
        self.columns
            .get(name)
            .ok_or_else(|| DataError::MissingColumn { column: name.to_string(), available: self.names.join(", ") })
    }

    /// A numeric column; every value must be a finite number.
    pub fn numeric(&self, name: &str) -> Result<Vec<f64>, DataError> {
        match self.column(name)? {
            Column::Num(v) => {
                if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                    return Err(DataError::BadValue {
                        column: name.into(),
                        row: i + 1,
                        message: "missing or not a finite number".into(),
                    });
                }
                Ok(v.clone())
            }
            Column::Text(v) => {
                let row = v.iter().position(|s| s.parse::<f64>().is_err()).unwrap_or(0);
                Err(DataError::BadValue {
                    column: name.into(),
                    row: row + 1,
                    message: format!("{:?} is not a number", v[row]),
                })
            }
        }
    }

    /// A numeric column where empty cells are allowed (NaN).
    pub fn numeric_or_missing(&self, name: &str) -> Result<Vec<f64>, DataError> {
        match self.column(name)? {
            Column::Num(v) => Ok(v.clone()),
            Column::Text(_) => self.numeric(name),
        }
    }

    /// Whole numbers (periods, cohorts).
    pub fn integers(&self, name: &str) -> Result<Vec<i64>, DataError> {
        let v = self.numeric(name)?;
        v.iter()
            .enumerate()
            .map(|(i, &x)| {
                if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    Ok(x as i64)
                } else {
                    Err(DataError::BadValue {
                        column: name.into(),
                        row: i + 1,
                        message: format!("{x} is not a whole number"),
                    })
                }
            })
            .collect()
    }

    /// Any column as labels (numbers printed without a trailing `.0`).
    pub fn labels(&self, name: &str) -> Result<Vec<String>, DataError> {
        Ok(match self.column(name)? {
            Column::Text(v) => v.clone(),
            Column::Num(v) => {
                v.iter().map(|x| if x.fract() == 0.0 { format!("{}", *x as i64) } else { x.to_string() }).collect()
            }
        })
    }
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Num(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_column(values: Vec<String>) -> Column {
    let mut out = Vec::with_capacity(values.len());
    for v in &values {
        if v.is_empty() || v.eq_ignore_ascii_case("na") || v.eq_ignore_ascii_case("nan") {
            out.push(f64::NAN);
        } else if let Ok(x) = v.parse::<f64>() {
            out.push(x);
        } else {
            return Column::Text(values);
        }
    }
    Column::Num(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_errors() {
        let t = Table::from_reader("unit,year,y,label\na,2001,1.5,x\nb,2002,,y\n".as_bytes()).unwrap();
        assert_eq!(t.rows, 2);
        assert_eq!(t.integers("year").unwrap(), vec![2001, 2002]);
        assert_eq!(t.labels("unit").unwrap(), vec!["a", "b"]);
        assert_eq!(t.labels("year").unwrap(), vec!["2001", "2002"]);
        assert!(matches!(t.numeric("y"), Err(DataError::BadValue { row: 2, .. })));
        assert!(matches!(t.numeric("label"), Err(DataError::BadValue { row: 1, .. })));
        assert!(matches!(t.numeric("nope"), Err(DataError::MissingColumn { .. })));
        assert!(Table::from_reader("a,b\n1\n".as_bytes()).is_err());
    }
}
