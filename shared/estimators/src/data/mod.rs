//! Tables read from CSV: numeric columns as `f64`, others as text. Errors name the column and
//! the row.

use ndarray::{Array1, ArrayView1, CowArray, Ix1};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use crate::columns::Columns;

mod fast;
mod text;

pub use text::{Texts, TextsBuilder};

/// 2^53: a double holds every whole number below it exactly (2^53 + 1 is read as 2^53). A
/// column with a whole number of at least this size (written without a point or an exponent:
/// an identifier) is read as text, by the CSV readers here and by the platform's Parquet and
/// JSON readers.
pub const EXACT_INTEGERS: u64 = 1 << 53;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DataError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{column}: no such column (columns are: {available})")]
    MissingColumn { column: String, available: String },
    #[error("{column}: row {row}: {message}")]
    BadValue { column: String, row: usize, message: String },
}

/// Columns of one table always have its row count; a [`Columns`] built from them that did not
/// would be reported against the column.
impl From<crate::columns::ShapeError> for DataError {
    fn from(e: crate::columns::ShapeError) -> Self {
        DataError::BadValue { column: e.column.clone(), row: 0, message: e.to_string() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Num(Vec<f64>),
    Text(Texts),
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub names: Vec<String>,
    columns: HashMap<String, Column>,
    pub rows: usize,
    /// Columns of the header that were not read (not asked for).
    skipped: Vec<String>,
    /// Numeric columns that hold calendar days (days since 1970-01-01: a Parquet file's DATE
    /// columns), so a panel's time column of them is read as dates.
    days: Vec<String>,
    /// Numeric columns read from `true`/`false` ([`booleans`]): flags, not measures.
    flags: Vec<String>,
}

impl Table {
    /// Read a CSV file with a header row: numeric columns as numbers, the others as text.
    pub fn read_csv(path: &Path) -> Result<Self, DataError> {
        Self::read_csv_columns(path, None)
    }

    /// Read a CSV file, parsing only the columns named in `wanted` (None: every column); the
    /// others stay in `names` but asking for them is an error. Quote-free files (numeric panels)
    /// are parsed in parallel blocks straight into columns; files with quotes go through the
    /// csv crate. A column that turns out not to be numeric is read again as text.
    pub fn read_csv_columns(path: &Path, wanted: Option<&[String]>) -> Result<Self, DataError> {
        let err = |m: String| DataError::Read { path: path.display().to_string(), message: m };
        let size = std::fs::metadata(path).ok().map(|m| m.len());
        // large reads pass straight through the buffer to the block reader; the csv crate's
        // reader (files with quotes) gets it
        let open = || -> Result<Box<dyn std::io::Read + Send>, DataError> {
            let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
            Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, file)))
        };
        read_twice(open, size, wanted).map_err(|e| relabel(e, path))
    }

    /// Read CSV from memory (inline rows, panels from object storage), every column.
    pub fn from_reader(mut reader: impl std::io::Read) -> Result<Self, DataError> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::Read { path: "<input>".into(), message: e.to_string() })?;
        Self::from_csv_bytes(&bytes, None)
    }

    /// CSV bytes to a table, only the `wanted` columns parsed (None: all), as
    /// [`Table::read_csv_columns`].
    pub fn from_csv_bytes(bytes: &[u8], wanted: Option<&[String]>) -> Result<Self, DataError> {
        read_twice(|| Ok(bytes), Some(bytes.len() as u64), wanted)
    }

    /// Build from numeric columns (tests, benchmarks, inline rows).
    pub fn from_columns(cols: Vec<(&str, Column)>) -> Self {
        let rows = cols.first().map(|(_, c)| c.len()).unwrap_or(0);
        let names = cols.iter().map(|(n, _)| n.to_string()).collect();
        Self {
            names,
            columns: cols.into_iter().map(|(n, c)| (n.to_string(), c)).collect(),
            rows,
            skipped: vec![],
            days: vec![],
            flags: vec![],
        }
    }

    /// A table of `rows` rows whose header had `names`, of which only `cols` were read (asking
    /// for another of `names` is an error saying it was not read).
    pub fn from_read_columns(names: Vec<String>, cols: Vec<(String, Column)>, rows: usize) -> Self {
        let columns: HashMap<String, Column> = cols.into_iter().collect();
        let skipped = names.iter().filter(|n| !columns.contains_key(*n)).cloned().collect();
        Self { names, columns, rows, skipped, days: vec![], flags: vec![] }
    }

    pub fn column(&self, name: &str) -> Result<&Column, DataError> {
        if self.skipped.iter().any(|s| s == name) {
            return Err(DataError::BadValue {
                column: name.to_string(),
                row: 0,
                message: "was not read (the request does not name it)".into(),
            });
        }
        self.columns
            .get(name)
            .ok_or_else(|| DataError::MissingColumn { column: name.to_string(), available: self.names.join(", ") })
    }

    /// A numeric column; every value must be a finite number.
    pub fn numeric(&self, name: &str) -> Result<Array1<f64>, DataError> {
        self.finite(name).map(Array1::from)
    }

    /// [`Table::numeric`] as a vector (one copy of the column).
    fn finite(&self, name: &str) -> Result<Vec<f64>, DataError> {
        self.finite_ref(name).map(<[f64]>::to_vec)
    }

    /// A numeric column, finite everywhere, borrowed.
    fn finite_ref(&self, name: &str) -> Result<&[f64], DataError> {
        match self.column(name)? {
            Column::Num(v) => {
                all_finite(name, v)?;
                Ok(v)
            }
            Column::Text(v) => {
                let too_large = |s: &str| s.parse::<f64>().is_ok_and(|x| fast::beyond_doubles(s.as_bytes(), x));
                let number =
                    |s: &str| matches!(parse_number(s.trim()), Some(x) if !x.is_nan()) || formatted_number(s).is_some();
                let row = v.iter().position(|s| !number(s)).unwrap_or(0);
                let what = if is_date(&v[row]) {
                    "a date, not a number"
                } else if too_large(&v[row]) {
                    "a whole number of 2^53 or more, which a double cannot hold exactly (an identifier?), so the column is read as text"
                } else {
                    "not a number"
                };
                Err(DataError::BadValue {
                    column: name.into(),
                    row: row + 1,
                    message: format!("{:?} is {what}", &v[row]),
                })
            }
        }
    }

    /// A numeric column where empty cells are allowed (NaN).
    pub fn numeric_or_missing(&self, name: &str) -> Result<Array1<f64>, DataError> {
        match self.column(name)? {
            Column::Num(v) => {
                in_range(name, v)?;
                Ok(Array1::from(v.clone()))
            }
            Column::Text(_) => self.numeric(name),
        }
    }

    /// Drop the columns `names` from an owned table once the caller holds what it needs of them
    /// (their codes), unless `keep` names one (still read from the table); a borrowed table is
    /// left as it is. Asking for a dropped column afterwards is [`DataError::MissingColumn`].
    pub fn free(table: &mut Cow<'_, Table>, names: &[&str], keep: &[&str]) {
        if let Cow::Owned(t) = table {
            for name in names.iter().filter(|n| !keep.contains(n)) {
                t.columns.remove(*name);
            }
        }
    }

    /// A numeric column where empty cells are allowed (NaN), for an estimator that may consume
    /// it: moved out of an owned table (no copy) unless `keep` names it (the caller still reads
    /// it from the table: then copied), viewed in a borrowed one.
    pub fn take_numeric_or_missing<'a>(
        table: &mut Cow<'a, Table>,
        name: &str,
        keep: &[&str],
    ) -> Result<CowArray<'a, f64, Ix1>, DataError> {
        match table {
            Cow::Borrowed(t) => {
                let t: &'a Table = t;
                Ok(match t.column(name)? {
                    Column::Num(v) => {
                        in_range(name, v)?;
                        CowArray::from(ArrayView1::from(&v[..]))
                    }
                    Column::Text(_) => CowArray::from(t.numeric(name)?),
                })
            }
            Cow::Owned(t) => Ok(CowArray::from(match t.take_num(name, keep)? {
                Some(v) => {
                    in_range(name, &v)?;
                    Array1::from(v)
                }
                None => t.numeric_or_missing(name)?,
            })),
        }
    }

    /// A numeric column, finite everywhere ([`Table::numeric`]'s checks), as an owned vector:
    /// moved out of an owned table unless `keep` names it, copied otherwise.
    pub fn take_numeric(table: &mut Cow<'_, Table>, name: &str, keep: &[&str]) -> Result<Vec<f64>, DataError> {
        Self::take_checked(table, name, keep, all_finite)
    }

    /// [`Table::take_numeric`] where an empty cell (NaN: empty, `NA`) is allowed, for a caller that
    /// leaves such rows out of the fit; every other value must be a finite number within range.
    pub fn take_numeric_or_empty(table: &mut Cow<'_, Table>, name: &str, keep: &[&str]) -> Result<Vec<f64>, DataError> {
        Self::take_checked(table, name, keep, finite_or_empty)
    }

    /// A numeric column that passes `check`, taken or copied as [`Table::take_numeric`] says; a
    /// column of text is [`Table::numeric`]'s error.
    fn take_checked(
        table: &mut Cow<'_, Table>,
        name: &str,
        keep: &[&str],
        check: fn(&str, &[f64]) -> Result<(), DataError>,
    ) -> Result<Vec<f64>, DataError> {
        if let Column::Num(v) = table.column(name)? {
            check(name, v)?;
        }
        if let Cow::Owned(t) = table {
            if let Some(v) = t.take_num(name, keep)? {
                return Ok(v);
            }
        }
        match table.column(name)? {
            Column::Num(v) => Ok(v.clone()),
            Column::Text(_) => table.finite(name),
        }
    }

    /// Covariates for a regression: each numeric column as [`Table::take_numeric`] takes it (taken
    /// unless a later name asks for it again, then copied), and a column of categories
    /// (text without a number or a date in it: `North`, `South`, `East`) becomes an indicator
    /// per level but the first in sorted order (the reference level, absorbed by the intercept),
    /// named `Region=South`, as a formula's `C(Region)` codes it. An empty cell among the
    /// categories, or more than [`MAX_LEVELS`] of them, is an error naming the row. `empty_ok`:
    /// an empty cell of a numeric covariate is NaN ([`Table::take_numeric_or_empty`]), not an error.
    pub fn take_covariates(
        table: &mut Cow<'_, Table>,
        names: &[&str],
        empty_ok: bool,
    ) -> Result<Vec<(String, Vec<f64>)>, DataError> {
        let mut out = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            match table.column(names[i])? {
                Column::Text(v) if categories(v) => out.extend(indicators(names[i], v, empty_ok)?),
                _ if empty_ok => {
                    out.push((names[i].to_string(), Table::take_numeric_or_empty(table, names[i], &names[i + 1..])?))
                }
                _ => out.push((names[i].to_string(), Table::take_numeric(table, names[i], &names[i + 1..])?)),
            }
        }
        Ok(out)
    }

    /// The numeric column `name`, removed from the table; None when `keep` names it or it is text.
    fn take_num(&mut self, name: &str, keep: &[&str]) -> Result<Option<Vec<f64>>, DataError> {
        if keep.contains(&name) || !matches!(self.column(name)?, Column::Num(_)) {
            return Ok(None);
        }
        Ok(match self.columns.remove(name) {
            Some(Column::Num(v)) => Some(v),
            _ => None,
        })
    }

    /// Numeric columns by name, each finite everywhere, as the estimators' input matrix.
    pub fn columns(&self, names: &[String]) -> Result<Columns, DataError> {
        let cols = names.iter().map(|n| Ok((n.clone(), self.finite(n)?))).collect::<Result<Vec<_>, DataError>>()?;
        // One table: every column has its row count.
        Ok(Columns::new(cols)?)
    }

    /// Whole numbers (periods, cohorts). A column of dates is refused with a message that says
    /// so (periods are numbers: the estimators count event times and cohorts in them).
    pub fn integers(&self, name: &str) -> Result<Vec<i64>, DataError> {
        if let Column::Text(v) = self.column(name)? {
            let first_bad = v.iter().position(|s| s.parse::<f64>().is_err());
            if let Some(row) = first_bad.filter(|&r| is_date(&v[r])) {
                return Err(DataError::BadValue {
                    column: name.into(),
                    row: row + 1,
                    message: format!(
                        "{:?} is a date; this column takes whole-number periods (1, 2, 3, ...): number the dates first, for example days or weeks since the first",
                        &v[row]
                    ),
                });
            }
        }
        let v = self.finite_ref(name)?;
        // the check, then the conversion: two plain loops (one collecting Results is slower)
        if let Some(i) = v.iter().position(|&x| whole(x).is_none()) {
            return Err(DataError::BadValue {
                column: name.into(),
                row: i + 1,
                message: format!("{} is not a whole number", v[i]),
            });
        }
        Ok(v.iter().map(|&x| x as i64).collect())
    }

    /// [`Table::integers`] where a cell may be empty (a period not recorded): the rows with one
    /// are marked NaN (0 elsewhere) in the second value (None when no cell is empty), for the
    /// caller to leave them out; their integer, which no fit reads, is 0.
    pub fn integers_or_empty(&self, name: &str) -> Result<(Vec<i64>, Option<Vec<f64>>), DataError> {
        match self.column(name)? {
            Column::Num(v) if v.iter().any(|x| x.is_nan()) => {
                if let Some(i) = v.iter().position(|&x| !x.is_nan() && whole(x).is_none()) {
                    return Err(DataError::BadValue {
                        column: name.into(),
                        row: i + 1,
                        message: format!("{} is not a whole number", v[i]),
                    });
                }
                let marks = v.iter().map(|x| if x.is_nan() { f64::NAN } else { 0.0 }).collect();
                Ok((v.iter().map(|&x| if x.is_nan() { 0 } else { x as i64 }).collect(), Some(marks)))
            }
            _ => Ok((self.integers(name)?, None)),
        }
    }

    /// Integer codes 0..levels for a column (units, clusters), with the level labels. Whole-number
    /// columns are coded without formatting every row as text.
    pub fn codes(&self, name: &str) -> Result<(Vec<u32>, Vec<String>), DataError> {
        match self.column(name)? {
            Column::Num(v) if v.iter().all(|&x| whole(x).is_some()) => {
                let (codes, levels) = crate::panel::factorize_ints(v.iter().map(|&x| x as i64), v.len());
                Ok((codes, levels.iter().map(|l| l.to_string()).collect()))
            }
            Column::Num(v) if v.iter().all(|&x| x.is_nan() || whole(x).is_some()) && v.iter().any(|x| !x.is_nan()) => {
                Ok(codes_with_empty_cells(v))
            }
            // one hash pass over the labels as they are (sorting a clone of every row's label
            // took 14% of a 1,000,000-row TWFE run with text units)
            Column::Text(v) => Ok(v.factorize()),
            _ => Ok(crate::panel::factorize_str(&self.labels(name)?)),
        }
    }

    /// Put `values` in place of the read column `name` (a column of dates by the periods they
    /// are, for the panel estimators). One value per row.
    pub fn set_numeric(&mut self, name: &str, values: Vec<f64>) -> Result<(), DataError> {
        self.replace(name, Column::Num(values))
    }

    /// Put `values` in place of the read column `name`, as text (a column of ids the reader took
    /// for numbers, as written). One value per row.
    pub fn set_text(&mut self, name: &str, values: Vec<String>) -> Result<(), DataError> {
        self.replace(name, Column::Text(values.into()))
    }

    fn replace(&mut self, name: &str, column: Column) -> Result<(), DataError> {
        self.column(name)?;
        if column.len() != self.rows {
            return Err(DataError::BadValue {
                column: name.to_string(),
                row: 0,
                message: format!("{} values for a table of {} rows", column.len(), self.rows),
            });
        }
        self.columns.insert(name.to_string(), column);
        self.days.retain(|d| d != name);
        self.flags.retain(|d| d != name);
        Ok(())
    }

    /// Mark the numeric column `name` as calendar days (days since 1970-01-01: a typed file's
    /// DATE column).
    pub fn mark_days(&mut self, name: &str) {
        if !self.holds_days(name) {
            self.days.push(name.to_string());
        }
    }

    /// Mark the numeric column `name` as flags (a typed file's BOOLEAN column, read as 1 and 0).
    pub fn mark_flags(&mut self, name: &str) {
        if !self.holds_flags(name) {
            self.flags.push(name.to_string());
        }
    }

    /// Whether the numeric column `name` was read from `true` and `false` (a flag: a breakdown
    /// of an export's rows, not a metric).
    pub fn holds_flags(&self, name: &str) -> bool {
        self.flags.iter().any(|d| d == name) && matches!(self.columns.get(name), Some(Column::Num(_)))
    }

    /// Whether the column `name` holds calendar days ([`Table::mark_days`]).
    pub fn holds_days(&self, name: &str) -> bool {
        self.days.iter().any(|d| d == name) && matches!(self.columns.get(name), Some(Column::Num(_)))
    }

    /// Any column as labels (numbers printed without a trailing `.0`).
    pub fn labels(&self, name: &str) -> Result<Vec<String>, DataError> {
        Ok(match self.column(name)? {
            Column::Text(v) => v.to_vec(),
            Column::Num(v) => {
                v.iter().map(|x| if x.fract() == 0.0 { format!("{}", *x as i64) } else { x.to_string() }).collect()
            }
        })
    }
}

impl<'a> From<&'a Table> for Cow<'a, Table> {
    fn from(t: &'a Table) -> Self {
        Cow::Borrowed(t)
    }
}

impl From<Table> for Cow<'_, Table> {
    fn from(t: Table) -> Self {
        Cow::Owned(t)
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

/// Text that is not UTF-8 read as Windows-1252, the code page Excel saves "CSV" in on Windows in
/// Western Europe and the Americas (`Müller`, `€` as single bytes); None for UTF-8 text, which is
/// read as it is. Every byte decodes (as the WHATWG Encoding Standard's windows-1252), so the
/// numbers of a file in another code page still read; only its names would not.
pub fn windows_1252(bytes: &[u8]) -> Option<String> {
    if std::str::from_utf8(bytes).is_ok() {
        return None;
    }
    Some(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned())
}

/// CSV from a source that can be read twice (`open` starts it again): the fast reader when the
/// input has no quote, else the csv crate's; a column that turned out not to be numeric is read
/// again as text. An input that fails to read is read whole once more and, if it is not UTF-8,
/// read again as [`windows_1252`] text.
fn read_twice<R: std::io::Read + Send>(
    open: impl Fn() -> Result<R, DataError>,
    size: Option<u64>,
    wanted: Option<&[String]>,
) -> Result<Table, DataError> {
    match read_utf8(&open, size, wanted) {
        Ok(table) => Ok(table),
        Err(e) => {
            let mut bytes = Vec::new();
            open()?
                .read_to_end(&mut bytes)
                .map_err(|e| DataError::Read { path: "<input>".into(), message: e.to_string() })?;
            match windows_1252(&bytes) {
                Some(text) => read_utf8(&|| Ok(text.as_bytes()), Some(text.len() as u64), wanted),
                None => Err(e),
            }
        }
    }
}

fn read_utf8<R: std::io::Read + Send>(
    open: &impl Fn() -> Result<R, DataError>,
    size: Option<u64>,
    wanted: Option<&[String]>,
) -> Result<Table, DataError> {
    // the lines above the header, found in the input's first 64 KiB: skipped on every read
    // (the reader itself is handed on as it is, so that large reads still pass straight through)
    use std::io::Read;
    let mut head = Vec::with_capacity(64 << 10);
    open()?.take(64 << 10).read_to_end(&mut head).map_err(io_err)?;
    let skip = lines_above_header(&head) as u64;
    let open = || -> Result<R, DataError> {
        let mut reader = open()?;
        if skip > 0 {
            std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink()).map_err(io_err)?;
        }
        Ok(reader)
    };
    if let Some(fast::Parsed { table, failed, texts }) = fast::parse(open()?, size, wanted, &[])? {
        let table = settle_text(table, &texts);
        if failed.is_empty() {
            return Ok(table);
        }
        if let Some(again) = fast::parse(open()?, size, Some(&[]), &failed)? {
            return Ok(merge_text(table, again.table, failed));
        }
    }
    let (table, text_cols) = parse(open()?, &[])?;
    if text_cols.is_empty() {
        return Ok(table);
    }
    let (again, _) = parse(open()?, &text_cols)?;
    Ok(merge_text(table, again, text_cols))
}

/// How many bytes of the input lie above its header: comment lines starting with `#` (Google
/// Analytics 4 writes its report's name, property and dates so: `# Start date: 20261101`), and,
/// where a line with separators follows, blank lines and title lines without one outside quotes
/// (a platform export's report name and date range: Google Ads' `Campaign report` above
/// `"October 1, 2026 - November 25, 2026"`). Lines below the header are data, whatever they
/// start with. A file whose lines have no separator (one column) keeps them all.
fn lines_above_header(head: &[u8]) -> usize {
    let mut comments = 0;
    let mut at = 0;
    while let Some(n) = memchr::memchr(b'\n', &head[at..]) {
        let line = &head[at..at + n];
        let line = if at == 0 { line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line) } else { line };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'#') {
            if comments == at {
                comments = at + n + 1;
            }
        } else if separated(line) {
            return at;
        }
        at += n + 1;
    }
    comments
}

fn io_err(e: std::io::Error) -> DataError {
    DataError::Read { path: "<input>".into(), message: e.to_string() }
}

/// A line holds a field separator (comma, semicolon or tab) outside quotes.
fn separated(line: &[u8]) -> bool {
    let mut quoted = false;
    line.iter().any(|&b| {
        if b == b'"' {
            quoted = !quoted;
        }
        !quoted && matches!(b, b',' | b';' | b'\t')
    })
}

/// `table` with its `text_cols` (by index) taken from `again`, which read them as text; a
/// column of [`booleans`] as its numbers.
fn merge_text(mut table: Table, mut again: Table, text_cols: Vec<usize>) -> Table {
    for &c in &text_cols {
        let name = table.names[c].clone();
        if let Some(col) = again.columns.remove(&name) {
            table.columns.insert(name, col);
        }
    }
    settle_text(table, &text_cols)
}

/// `table` with each of its text columns `cols` (by index) that holds [`booleans`] or
/// [`formatted_numbers`] as those numbers.
fn settle_text(mut table: Table, cols: &[usize]) -> Table {
    for &c in cols {
        let name = table.names[c].clone();
        let Some(Column::Text(v)) = table.columns.get(&name) else { continue };
        let col = match booleans(v) {
            Some(x) => {
                table.flags.push(name.clone());
                Column::Num(x)
            }
            None => match formatted_numbers(v) {
                Some(x) => Column::Num(x),
                None => continue,
            },
        };
        table.columns.insert(name, col);
    }
    table
}

/// A column of `true` and `false` in any case (pandas writes `True`, R, Excel and SQL exports
/// `TRUE`), or of `yes` and `no` (a spreadsheet's `Treated?` column), as 1 and 0, an empty cell
/// missing, as a Parquet file's booleans are read: a treatment or a converted flag saved that way
/// is the 0/1 column it means. The same words in the languages the exports are read in: Excel's
/// `WAHR`/`FALSCH` and `VRAI`/`FAUX`, a sheet's `ja`/`nein`, `oui`/`non`, `sí`/`no`, `sim`/`não`,
/// `ja`/`nee`. None when any other value is there or none is a boolean.
pub fn booleans(v: &Texts) -> Option<Vec<f64>> {
    const TRUE: &[&str] = &[
        "true",
        "yes",
        "wahr",
        "ja",
        "vrai",
        "oui",
        "verdadero",
        "sí",
        "si",
        "vero",
        "sì",
        "verdadeiro",
        "sim",
        "waar",
    ];
    const FALSE: &[&str] = &["false", "no", "falsch", "nein", "faux", "non", "falso", "não", "nao", "onwaar", "nee"];
    let x = v.map_levels(|s| match s.trim().to_lowercase().as_str() {
        t if TRUE.contains(&t) => Some(1.0),
        t if FALSE.contains(&t) => Some(0.0),
        "" => Some(f64::NAN),
        _ => None,
    })?;
    x.iter().any(|x| !x.is_nan()).then_some(x)
}

/// A column of numbers as a spreadsheet shows them, saved as CSV by Excel or downloaded from
/// Google Sheets (`"1,001.89"`, `$12.50`, beside plain `958.98` and empty cells): its numbers,
/// when every cell is one ([`formatted_number`]), empty or NA and one at least is formatted; or,
/// failing that, a column written with decimal commas ([`decimal_comma_numbers`]).
pub fn formatted_numbers(v: &Texts) -> Option<Vec<f64>> {
    point_formatted_numbers(v).or_else(|| decimal_comma_numbers(v))
}

/// A column written with decimal commas, as a spreadsheet set to German or French shows it and
/// Google Sheets downloads it, quoted, into a comma-separated file (`"48.499,81"`, `"12,5 %"`,
/// `1.234,56 €`): its numbers ([`decimal_comma_dressed`]), when every cell is one, a whole
/// number, empty or NA, and one at least has a decimal comma. A column that mixes in a decimal
/// point (`12.5`) is neither reading's, and stays text.
pub fn decimal_comma_numbers(v: &Texts) -> Option<Vec<f64>> {
    let mut comma = false;
    let whole = |t: &str| {
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    // each distinct value read once (every one is some row's)
    let x = v.map_levels(|s| match s.trim() {
        t if empty_cell(t) => Some(f64::NAN),
        t => match decimal_comma_dressed(t) {
            Some(d) => {
                comma |= t.contains(',');
                d.parse::<f64>().ok()
            }
            None if whole(t) => t.parse::<f64>().ok().filter(|x| !fast::beyond_doubles(t.as_bytes(), *x)),
            None => None,
        },
    })?;
    comma.then_some(x)
}

fn point_formatted_numbers(v: &Texts) -> Option<Vec<f64>> {
    let mut formatted = false;
    let x = v.map_levels(|s| match s.trim() {
        t if empty_cell(t) => Some(f64::NAN),
        t => match formatted_number(t) {
            Some(x) => {
                formatted = true;
                Some(x)
            }
            None => t.parse::<f64>().ok().filter(|x| !fast::beyond_doubles(t.as_bytes(), *x)),
        },
    })?;
    formatted.then_some(x)
}

/// The currency signs and the ISO 4217 codes of the common currencies, written before or after
/// an amount (`$12.50`, `12.50 €`, `USD 1,234.00`, `1.234,56 EUR`).
const CURRENCY_SIGNS: [char; 4] = ['$', '€', '£', '¥'];
const CURRENCY_CODES: [&str; 24] = [
    "USD", "EUR", "GBP", "JPY", "CAD", "AUD", "NZD", "CHF", "CNY", "HKD", "SGD", "INR", "BRL", "MXN", "SEK", "NOK",
    "DKK", "PLN", "CZK", "ZAR", "KRW", "TRY", "ILS", "AED",
];

/// How a spreadsheet dresses a number: the number's text without it, whether it is negative
/// (a minus sign, or an accountant's parentheses: `(1,234.56)` is -1234.56), and what was
/// taken off: a currency (sign or code) or a percent sign (`2.20%` is 0.022, as Excel and
/// Google Sheets read it). None when the text is not a number so dressed.
fn undress(s: &str) -> Option<(&str, bool, Dress)> {
    let t = s.trim();
    let (parens, t) = match t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) => (true, inner.trim()),
        None => (false, t),
    };
    let (minus, t) = match t.strip_prefix('-') {
        Some(rest) if !parens => (true, rest.trim_start()),
        Some(_) => return None,
        None => (false, t),
    };
    let (percent, t) = match t.strip_suffix('%') {
        Some(rest) => (true, rest.trim_end()),
        None => (false, t),
    };
    let mut bare = t.trim_start_matches(CURRENCY_SIGNS).trim_end_matches(CURRENCY_SIGNS).trim();
    for code in CURRENCY_CODES {
        bare = bare.strip_prefix(code).unwrap_or(bare).trim_start();
        bare = bare.strip_suffix(code).unwrap_or(bare).trim_end();
    }
    let currency = bare.len() != t.len();
    if currency && percent {
        return None;
    }
    let (minus, bare) = match bare.strip_prefix('-') {
        Some(rest) if !minus && !parens && (currency || percent) => (true, rest),
        _ => (minus || parens, bare),
    };
    let dress = match (currency, percent, parens) {
        (true, _, _) => Dress::Currency,
        (_, true, _) => Dress::Percent,
        (_, _, true) => Dress::Parentheses,
        _ => Dress::None,
    };
    Some((bare, minus, dress))
}

/// What [`undress`] took off a number.
#[derive(Clone, Copy, PartialEq)]
enum Dress {
    None,
    Currency,
    Percent,
    Parentheses,
}

/// A number written with thousands separated by commas (`1,001.89`, `-12,345`), with a
/// currency sign or code before or after it (`$1,001.89`, `-$5`, `€12.50`, `12.50 €`, `£3`,
/// `¥1,200`, `USD 1,234.00`), as a percentage (`2.20%`: 0.022, as a spreadsheet reads it) or
/// negative in an accountant's parentheses (`(1,234.56)`): its value. None for anything else, a
/// plain number included (`12.5`, read as it is), and for a comma not between groups of three
/// digits (`1,5`: a decimal comma, or two values).
pub fn formatted_number(s: &str) -> Option<f64> {
    let (bare, minus, dress) = undress(s)?;
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = match bare.split_once('.') {
        Some((i, f)) if digits(f) => (i, Some(f)),
        Some(_) => return None,
        None => (bare, None),
    };
    let mut groups = int.split(',');
    let first = groups.next().unwrap_or_default();
    let rest: Vec<&str> = groups.collect();
    let ok = if rest.is_empty() {
        // a plain number is formatted only by its dress; `12.` and `.5` need none
        dress != Dress::None && (digits(first) || (first.is_empty() && frac.is_some()))
    } else {
        digits(first) && first.len() <= 3 && !first.starts_with('0') && rest.iter().all(|g| g.len() == 3 && digits(g))
    };
    if !ok {
        return None;
    }
    let mut plain = String::with_capacity(bare.len() + 4);
    if minus {
        plain.push('-');
    }
    plain.extend(std::iter::once(first).chain(rest));
    if let Some(f) = frac {
        plain.push('.');
        plain.push_str(f);
    }
    let x: f64 = plain.parse().ok()?;
    if fast::beyond_doubles(plain.as_bytes(), x) {
        return None;
    }
    // a hundredth of the decimal, rounded once (`2.2%` is the double nearest 0.022)
    if dress == Dress::Percent {
        plain.push_str("e-2");
        return plain.parse().ok();
    }
    Some(x)
}

/// A date written YYYY-MM-DD (maybe with a time after it), as exports write their days.
/// The most levels a column of categories may have as a covariate (more is an identifier, or
/// a column that wants to be a fixed effect).
pub const MAX_LEVELS: usize = 100;

/// Text with no number and no date in it: categories.
fn categories(v: &Texts) -> bool {
    let levels = v.levels();
    levels
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .all(|s| !(matches!(parse_number(s), Some(x) if !x.is_nan()) || formatted_number(s).is_some() || is_date(s)))
        && levels.iter().any(|s| !s.trim().is_empty())
}

/// One 0/1 column per level of `v` but the first in sorted order, named `name=level`.
/// `empty_ok`: an empty cell is NaN in every indicator (its row left out by the caller), not an
/// error, unless the column has one level besides (no indicator would carry it).
fn indicators(name: &str, v: &Texts, empty_ok: bool) -> Result<Vec<(String, Vec<f64>)>, DataError> {
    let bad = |row: usize, message: String| DataError::BadValue { column: name.into(), row: row + 1, message };
    let mut levels: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let mut first_empty = None;
    for (row, s) in v.iter().enumerate() {
        let s = s.trim();
        if s.is_empty() {
            if !empty_ok {
                return Err(bad(row, "is empty: a column of categories needs one in every row".into()));
            }
            first_empty = first_empty.or(Some(row));
            continue;
        }
        levels.insert(s);
        if levels.len() > MAX_LEVELS {
            return Err(bad(
                row,
                format!(
                    "{s:?} is category {} of this column; a covariate takes at most {MAX_LEVELS} (an identifier?)",
                    levels.len()
                ),
            ));
        }
    }
    if let (Some(row), true) = (first_empty, levels.len() < 2) {
        return Err(bad(row, "is empty, and the column's other rows hold one category: nothing to adjust for".into()));
    }
    let mut columns: Vec<(String, Vec<f64>)> =
        levels.iter().skip(1).map(|level| (format!("{name}={level}"), vec![0.0; v.len()])).collect();
    let slot: HashMap<&str, usize> = levels.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    for (row, s) in v.iter().enumerate() {
        match slot.get(s.trim()) {
            Some(i) => {
                if let Some(c) = i.checked_sub(1) {
                    columns[c].1[row] = 1.0;
                }
            }
            None => columns.iter_mut().for_each(|c| c.1[row] = f64::NAN),
        }
    }
    Ok(columns)
}

fn is_date(s: &str) -> bool {
    let b = s.trim().as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// `x` as an integer when it is a whole number of at most 9e15 in size (exactly representable).
/// A truncating cast and back instead of `fract()`, which compiles to a call to libm's `trunc`
/// here (3% of a 1,000,000-row TWFE run).
fn whole(x: f64) -> Option<i64> {
    (x.abs() < 9.0e15 && (x as i64) as f64 == x).then_some(x as i64)
}

/// The largest magnitude a value may have: squares summed over millions of rows stay finite
/// (1e100² x 1e7 = 1e207), and the smallest the largest value of a column may have: its squares
/// stay above the doubles' underflow (1e-100² = 1e-200). Outside, variances overflow to infinity
/// or underflow to zero, and an estimator would report a standard error of 0 (and p = 0) or
/// none at all for data that only needed another unit.
pub const MAX_MAGNITUDE: f64 = 1e100;
pub const MIN_SCALE: f64 = 1e-100;

/// An error naming the first row of column `name` that is missing or not a finite number, or
/// that is larger than [`MAX_MAGNITUDE`]; or the column when all its values are below
/// [`MIN_SCALE`] and not all zero.
fn all_finite(name: &str, v: &[f64]) -> Result<(), DataError> {
    use rayon::prelude::*;
    /// Rows per block: each block is tested without a branch per value (the compiler
    /// vectorises it), and long columns a block per core.
    const BLOCK: usize = 4096;
    // Finite and within the magnitude: |x| <= MAX_MAGNITUDE is false for NaN and infinities.
    let usable = |c: &[f64]| c.iter().fold(true, |ok, x| ok & (x.abs() <= MAX_MAGNITUDE));
    let bad_block = if v.len() > 16 * BLOCK {
        v.par_chunks(BLOCK).position_first(|c| !usable(c))
    } else {
        v.chunks(BLOCK).position(|c| !usable(c))
    };
    let first = bad_block
        .and_then(|b| v[b * BLOCK..].iter().position(|x| x.abs() > MAX_MAGNITUDE || x.is_nan()).map(|i| b * BLOCK + i));
    match first {
        Some(i) if v[i].is_finite() => Err(too_large(name, i, v[i])),
        Some(i) => Err(DataError::BadValue {
            column: name.into(),
            row: i + 1,
            message: "missing or not a finite number".into(),
        }),
        None => not_too_small(name, v),
    }
}

/// [`Table::codes`] of whole numbers with empty cells: the numbers' levels in their order, as
/// without the empty cells, and the empty cells one level after them, "NaN". (Out of line: the
/// common path's code stays as it was.)
#[inline(never)]
fn codes_with_empty_cells(v: &[f64]) -> (Vec<u32>, Vec<String>) {
    let fill = v.iter().find(|x| !x.is_nan()).map_or(0, |&x| x as i64);
    let values = v.iter().map(move |&x| if x.is_nan() { fill } else { x as i64 });
    let (mut codes, levels) = crate::panel::factorize_ints(values, v.len());
    for (c, x) in codes.iter_mut().zip(v) {
        if x.is_nan() {
            *c = levels.len() as u32;
        }
    }
    let mut labels: Vec<String> = levels.iter().map(|l| l.to_string()).collect();
    labels.push("NaN".into());
    (codes, labels)
}

/// [`all_finite`]'s checks where an empty cell (NaN) is allowed: an infinity is still an error.
fn finite_or_empty(name: &str, v: &[f64]) -> Result<(), DataError> {
    if all_finite(name, v).is_ok() {
        return Ok(());
    }
    if let Some(i) = v.iter().position(|x| x.is_infinite()) {
        return Err(DataError::BadValue { column: name.into(), row: i + 1, message: "not a finite number".into() });
    }
    in_range(name, v)
}

/// [`all_finite`]'s checks of magnitude for a column where a missing value (NaN, or an infinity
/// an estimator drops with its row) is allowed.
fn in_range(name: &str, v: &[f64]) -> Result<(), DataError> {
    match v.iter().position(|x| x.is_finite() && x.abs() > MAX_MAGNITUDE) {
        Some(i) => Err(too_large(name, i, v[i])),
        None => not_too_small(name, v),
    }
}

fn too_large(name: &str, i: usize, x: f64) -> DataError {
    DataError::BadValue {
        column: name.into(),
        row: i + 1,
        message: format!(
            "{x:e} is larger than the estimators' arithmetic allows ({MAX_MAGNITUDE:e} at most: its squares would overflow); express the column in a larger unit (thousands, millions)"
        ),
    }
}

/// An error when every finite value of the column is below [`MIN_SCALE`] and not all are zero.
fn not_too_small(name: &str, v: &[f64]) -> Result<(), DataError> {
    use rayon::prelude::*;
    let size = |x: &f64| if x.is_finite() { x.abs() } else { 0.0 };
    let largest = if v.len() > 16 * 4096 {
        v.par_chunks(4096).map(|c| c.iter().map(size).fold(0.0f64, f64::max)).reduce(|| 0.0, f64::max)
    } else {
        v.iter().map(size).fold(0.0f64, f64::max)
    };
    if largest > 0.0 && largest < MIN_SCALE {
        return Err(DataError::BadValue {
            column: name.into(),
            row: v.iter().position(|x| size(x) == largest).map_or(1, |i| i + 1),
            message: format!(
                "the column's largest value is {largest:e}, smaller than the estimators' arithmetic allows ({MIN_SCALE:e}: its squares would underflow to zero); express the column in a smaller unit"
            ),
        });
    }
    Ok(())
}

fn relabel(e: DataError, path: &Path) -> DataError {
    match e {
        DataError::Read { message, .. } => DataError::Read { path: path.display().to_string(), message },
        other => other,
    }
}

/// A cell that holds no value: empty, `NA` (as R writes it) or `NaN` (as pandas does), trimmed.
pub fn empty_cell(s: &str) -> bool {
    let s = s.trim();
    s.is_empty() || s.eq_ignore_ascii_case("na") || s.eq_ignore_ascii_case("nan")
}

fn parse_number(v: &str) -> Option<f64> {
    if empty_cell(v) {
        Some(f64::NAN)
    } else {
        v.parse::<f64>().ok().filter(|&x| !fast::beyond_doubles(v.as_bytes(), x))
    }
}

/// A number written with a decimal comma, as the spreadsheets that separate fields with
/// semicolons write them (`1.234,56`, `-12,5`, `250,00 €`, `1.234`): the same number with a
/// decimal point and no thousands separators (`1234.56`). A point followed by groups of three
/// digits is a thousands separator there, as pandas reads such a file with `decimal=","` and
/// `thousands="."`; so is a space, as French spreadsheets write thousands (`1 234,56 €`, with a
/// space, a no-break space or a narrow one). None for anything else, which is read as it is
/// (`12.5`, `1e3`, `NA`, `7`).
pub fn decimal_comma(field: &str) -> Option<String> {
    // names and rates are left as written (an ingested export's campaign "20%" stays a name)
    if field.contains(['%', '(']) || field.bytes().any(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    decimal_comma_dressed(field)
}

/// [`decimal_comma`] and, as an estimator's table reads them, percentages (`12,5 %`: `12.5e-2`),
/// an accountant's negatives (`(1.234,56)`) and amounts with a currency's code (`1.234,56 EUR`).
pub fn decimal_comma_dressed(field: &str) -> Option<String> {
    let t = field.trim();
    let (body, minus, dress) = undress(t.strip_prefix('+').unwrap_or(t))?;
    let sign = if minus { "-" } else { "" };
    let body = body.trim_matches(|c: char| CURRENCY_SIGNS.contains(&c) || c.is_whitespace());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = match body.split_once(',') {
        Some((i, f)) if digits(f) => (i, Some(f)),
        Some(_) => return None,
        None => (body, None),
    };
    let space = |c: char| matches!(c, ' ' | '\u{a0}' | '\u{202f}');
    let mut groups: Box<dyn Iterator<Item = &str>> =
        if int.contains('.') { Box::new(int.split('.')) } else { Box::new(int.split(space)) };
    let first = groups.next().unwrap_or_default();
    let rest: Vec<&str> = groups.collect();
    let grouped = !rest.is_empty();
    let ok = if grouped {
        digits(first) && first.len() <= 3 && !first.starts_with('0') && rest.iter().all(|g| g.len() == 3 && digits(g))
    } else {
        digits(first)
    };
    // a whole number with no separator is read as it is, unless dressed (`12 %`, `(12)`)
    if !ok || (!grouped && frac.is_none() && dress == Dress::None) {
        return None;
    }
    let whole: String = std::iter::once(first).chain(rest).collect();
    let exponent = if dress == Dress::Percent { "e-2" } else { "" };
    Some(match frac {
        Some(f) => format!("{sign}{whole}.{f}{exponent}"),
        None => format!("{sign}{whole}{exponent}"),
    })
}

/// How one column of a file separated by semicolons writes its numbers: with a decimal comma
/// (`1.234,56`, read by [`decimal_comma`]), or, where none of its fields has a comma and one has a
/// point that cannot separate thousands (`12.5`, `0.125`), with a decimal point, so that its
/// `1.500` is 1.5 and not 1500. Known after [`see`](Self::see)ing every field of the column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecimalCommas {
    comma: bool,
    point: bool,
    /// Percentages, parentheses and currency codes too ([`decimal_comma_dressed`]).
    dressed: bool,
}

impl DecimalCommas {
    /// For an estimator's table, whose columns of rates and amounts are numbers however dressed
    /// ([`decimal_comma_dressed`]); the default reads amounts only ([`decimal_comma`]).
    pub fn dressed() -> Self {
        Self { dressed: true, ..Self::default() }
    }

    fn convert(&self, field: &str) -> Option<String> {
        if self.dressed {
            decimal_comma_dressed(field)
        } else {
            decimal_comma(field)
        }
    }

    pub fn see(&mut self, field: &str) {
        match self.convert(field) {
            Some(_) => self.comma |= field.contains(','),
            None => self.point |= field.contains('.') && field.trim().parse::<f64>().is_ok(),
        }
    }

    /// The field as a number with a decimal point, or None to read it as it is written.
    pub fn read(&self, field: &str) -> Option<String> {
        if self.point && !self.comma {
            None
        } else {
            self.convert(field)
        }
    }
}

/// One pass over the CSV. Columns listed in `as_text` are kept as text; the others are parsed
/// as numbers, and those that fail are returned (by index) to be read again as text.
/// A header separated by tabs or semicolons (and not by commas) sets the separator; in a file
/// separated by semicolons numbers are read as each column writes them ([`DecimalCommas`]): such a
/// file is read whole before its numbers are.
fn parse(reader: impl std::io::Read, as_text: &[usize]) -> Result<(Table, Vec<usize>), DataError> {
    use std::io::BufRead;
    let err = |m: String| DataError::Read { path: "<input>".into(), message: m };
    let mut reader = std::io::BufReader::with_capacity(64 << 10, reader);
    let head = reader.fill_buf().map_err(|e| err(e.to_string()))?;
    let header = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = fast::separator(header);
    let mut rdr =
        csv::ReaderBuilder::new().has_headers(true).delimiter(delimiter).trim(csv::Trim::All).from_reader(reader);
    let names: Vec<String> = rdr.headers().map_err(|e| err(e.to_string()))?.iter().map(String::from).collect();
    if names.is_empty() {
        return Err(err("no header row".into()));
    }
    let mut styles = vec![DecimalCommas::dressed(); names.len()];
    let records: Box<dyn Iterator<Item = Result<csv::StringRecord, csv::Error>>> = if delimiter == b';' {
        let held: Vec<csv::StringRecord> =
            rdr.into_records().collect::<Result<_, _>>().map_err(|e| err(e.to_string()))?;
        for record in &held {
            for (style, v) in styles.iter_mut().zip(record.iter()) {
                style.see(v);
            }
        }
        Box::new(held.into_iter().map(Ok))
    } else {
        Box::new(rdr.into_records())
    };
    let number = |c: usize, v: &str| match (delimiter == b';').then(|| styles[c].read(v)).flatten() {
        Some(d) => parse_number(&d),
        None => parse_number(v),
    };
    let mut nums: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut texts: Vec<TextsBuilder> = (0..names.len()).map(|_| TextsBuilder::default()).collect();
    let is_text: Vec<bool> = (0..names.len()).map(|c| as_text.contains(&c)).collect();
    let mut failed = vec![false; names.len()];
    let mut rows = 0;
    for record in records {
        let record = record.map_err(|e| err(e.to_string()))?;
        rows += 1;
        if record.len() != names.len() {
            return Err(err(format!("row {rows}: {} fields, the header has {}", record.len(), names.len())));
        }
        for (c, v) in record.iter().enumerate() {
            if is_text[c] {
                texts[c].push(v);
            } else if !failed[c] {
                match number(c, v) {
                    Some(x) => nums[c].push(x),
                    None => {
                        failed[c] = true;
                        nums[c] = Vec::new();
                    }
                }
            }
        }
    }
    let mut columns = HashMap::with_capacity(names.len());
    for (c, name) in names.iter().enumerate() {
        if is_text[c] {
            columns.insert(name.clone(), Column::Text(texts[c].take()));
        } else if !failed[c] {
            columns.insert(name.clone(), Column::Num(std::mem::take(&mut nums[c])));
        }
    }
    let text_cols = (0..names.len()).filter(|&c| failed[c]).collect();
    Ok((Table { names, columns, rows, skipped: vec![], days: vec![], flags: vec![] }, text_cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read column replaced by numbers or by text: one value per row, a column that was read,
    /// and the replaced column no longer marked as days.
    #[test]
    fn a_column_is_replaced_by_as_many_values() {
        let mut t =
            Table::from_columns(vec![("id", Column::Num(vec![1.2e17, 1.2e17])), ("day", Column::Num(vec![0.0, 1.0]))]);
        t.mark_days("day");
        t.set_text("id", vec!["1.2E+17".into(), "1.2E+17".into()]).unwrap();
        assert!(matches!(t.column("id"), Ok(Column::Text(v)) if &v[0] == "1.2E+17"));
        t.set_numeric("day", vec![5.0, 6.0]).unwrap();
        assert!(!t.holds_days("day"));
        assert_eq!(t.numeric("day").unwrap().to_vec(), [5.0, 6.0]);
        let short = t.set_text("id", vec!["x".into()]).unwrap_err().to_string();
        assert!(short.contains("1 values for a table of 2 rows"), "{short}");
        assert!(t.set_numeric("nowhere", vec![1.0, 2.0]).is_err());
        assert!(matches!(t.column("id"), Ok(Column::Text(v)) if v.len() == 2));
    }

    /// Google Analytics 4's download: `#` lines above the header are skipped, on the fast path
    /// (no quotes), the csv crate's (quotes) and with a byte order mark; a `#` below the header
    /// is a value. So are a platform export's title lines.
    #[test]
    fn comment_and_title_lines_above_the_header_are_skipped() {
        let head = "# ----------------------------------------\n# Free form 1\n#\n# Start date: 20261101\n";
        for body in [
            "Date,Revenue,Note\n20261101,10.5,a\n20261102,12,#2\n",
            "Date,Revenue,Note\n20261101,10.5,\"a, b\"\n20261102,12,#2\n",
        ] {
            for bom in ["", "\u{feff}"] {
                let text = format!("{bom}{head}{body}");
                let t = Table::from_csv_bytes(text.as_bytes(), None).expect("read");
                assert_eq!(t.names, ["Date", "Revenue", "Note"], "{text}");
                assert_eq!(t.numeric("Date").unwrap().to_vec(), [20261101.0, 20261102.0]);
                assert_eq!(t.numeric("Revenue").unwrap().to_vec(), [10.5, 12.0]);
                assert_eq!(t.labels("Note").unwrap()[1], "#2");
            }
        }
        // a file of comments only has no header
        assert!(Table::from_csv_bytes(b"# nothing\n#\n", None).is_err());
        // a platform export's title lines (Google Ads' report name and quoted date range) and a
        // blank line above the header; a one-column file keeps its first line as the header
        let text = "Campaign report\n\"October 1, 2026 - November 25, 2026\"\n\nDay,Cost\n2026-10-01,12.5\n";
        let t = Table::from_csv_bytes(text.as_bytes(), None).expect("read");
        assert_eq!(
            (t.names.clone(), t.numeric("Cost").unwrap().to_vec()),
            (vec!["Day".to_string(), "Cost".to_string()], vec![12.5])
        );
        let t = Table::from_csv_bytes(b"y\n1\n2\n", None).expect("read");
        assert_eq!((t.names.clone(), t.numeric("y").unwrap().to_vec()), (vec!["y".to_string()], vec![1.0, 2.0]));
        // a comment line among title lines, on the csv crate's path (quotes in the data)
        let text = "Report\n# generated\nName,Cost\n\"a, b\",3\n";
        let t = Table::from_csv_bytes(text.as_bytes(), None).expect("read");
        assert_eq!(t.labels("Name").unwrap(), ["a, b"]);
    }

    /// A value beyond 1e100 in magnitude is refused with its row and what to do; so is a column
    /// whose values are all below 1e-100 (and not all zero); a single tiny value among ordinary
    /// ones, or a column of zeros, is read.
    #[test]
    fn values_outside_the_arithmetic_s_range_are_refused() {
        for n in [10, 300_001] {
            let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 7.0).collect();
            v[4] = 1e-300;
            assert!(all_finite("y", &v).is_ok());
            v[n - 3] = -2e101;
            match all_finite("y", &v) {
                Err(DataError::BadValue { column, row, message }) => {
                    assert_eq!((column.as_str(), row), ("y", n - 2));
                    assert!(message.contains("-2e101 is larger than") && message.contains("larger unit"), "{message}");
                }
                other => panic!("{other:?}"),
            }
            let tiny: Vec<f64> = (0..n).map(|i| (i % 7) as f64 * 1e-120).collect();
            match all_finite("y", &tiny) {
                Err(DataError::BadValue { row, message, .. }) => {
                    assert_eq!(row, 7);
                    assert!(message.contains("largest value is 5.99") && message.contains("smaller unit"), "{message}");
                }
                other => panic!("{other:?}"),
            }
            assert!(all_finite("y", &vec![0.0; n]).is_ok());
            assert!(all_finite("y", &vec![1e100; n]).is_ok());
            // Where a value may be missing: the same checks over the values that are there.
            let mut m = tiny.clone();
            m[0] = f64::NAN;
            m[1] = f64::INFINITY;
            assert!(matches!(in_range("y", &m), Err(DataError::BadValue { row: 7, .. })));
            m.iter_mut().skip(2).for_each(|x| *x *= 1e100);
            assert!(in_range("y", &m).is_ok());
            m[n - 1] = 3e100;
            assert!(matches!(in_range("y", &m), Err(DataError::BadValue { row, .. }) if row == n));
        }
    }

    /// The first row that is not finite is named, wherever it falls against the blocks (a
    /// block's first, last and inner rows, the short last block) and on both paths (short
    /// columns serial, long ones a block per core), also with later bad rows on other cores.
    #[test]
    fn the_first_bad_row_is_named() {
        for n in [1, 4095, 4096, 4097, 16 * 4096, 16 * 4096 + 1, 300_001] {
            let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 7.0).collect();
            assert!(all_finite("y", &v).is_ok(), "{n}");
            let rows = [0, 1, 4095, 4096, 8191, n / 2, n - 1].into_iter().filter(|&r| r < n);
            for (i, r) in rows.enumerate() {
                let mut w = v.clone();
                w[r] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][i % 3];
                for later in [r + 1, r + 4096 * 3, n - 1] {
                    if later > r && later < n {
                        w[later] = f64::NAN;
                    }
                }
                match all_finite("y", &w) {
                    Err(DataError::BadValue { column, row, .. }) => assert_eq!((column.as_str(), row), ("y", r + 1)),
                    other => panic!("{n} rows, bad row {r}: {other:?}"),
                }
            }
            v.clear();
        }
        assert!(all_finite("y", &[]).is_ok());
    }

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

    /// `true`/`false` in any case are 1 and 0 (an empty cell missing), on both readers (the fast
    /// one, and the csv crate's for quoted input); a column with anything else stays text.
    #[test]
    fn a_column_of_booleans_is_ones_and_zeros() {
        for text in [
            "unit,treated,y,label\na,TRUE,1,x\nb,False,2,TRUE\nc,,3,maybe\n",
            "\"unit\",\"treated\",\"y\",\"label\"\n\"a\",\"true\",1,\"x\"\n\"b\",\"FALSE\",2,\"TRUE\"\n\"c\",\"\",3,\"maybe\"\n",
        ] {
            let t = Table::from_reader(text.as_bytes()).unwrap();
            let treated = t.numeric_or_missing("treated").unwrap();
            assert_eq!((treated[0], treated[1]), (1.0, 0.0), "{text}");
            assert!(treated[2].is_nan());
            assert!(matches!(t.column("label").unwrap(), Column::Text(_)));
            assert_eq!(t.labels("unit").unwrap(), vec!["a", "b", "c"]);
            assert!(t.holds_flags("treated") && !t.holds_flags("y") && !t.holds_flags("label"));
        }
        assert_eq!(booleans(&["".to_string()].iter().collect()), None, "no boolean in it");
        let t = Table::from_reader("unit,treated\na,Yes\nb,no\nc,\n".as_bytes()).unwrap();
        let treated = t.numeric_or_missing("treated").unwrap();
        assert_eq!((treated[0], treated[1]), (1.0, 0.0));
        assert!(treated[2].is_nan() && t.holds_flags("treated"));
        assert_eq!(booleans(&["yes".to_string(), "maybe".to_string()].iter().collect()), None);
        // Excel's booleans in German and French, and a sheet's yes and no in the exports' languages
        for (yes, no) in [
            ("WAHR", "FALSCH"),
            ("VRAI", "FAUX"),
            ("ja", "nein"),
            ("Oui", "Non"),
            ("Sí", "No"),
            ("sim", "não"),
            ("Ja", "Nee"),
        ] {
            let got = booleans(&[yes.to_string(), no.to_string(), String::new()].iter().collect()).unwrap();
            assert_eq!((got[0], got[1]), (1.0, 0.0), "{yes}/{no}");
            assert!(got[2].is_nan());
        }
        assert_eq!(booleans(&["ja".to_string(), "vielleicht".to_string()].iter().collect()), None);
    }

    /// Google Sheets set to German downloads a comma-separated file whose numbers are quoted with
    /// decimal commas: a column of them is its numbers (percentages and negatives too), a column
    /// that mixes the two decimal marks stays text, and a column of American thousands stays
    /// American.
    #[test]
    fn a_comma_file_with_quoted_decimal_commas_reads_its_numbers() {
        let csv = "market,day,sales,ctr,margin,mixed,us\n\
                   Köln,1,\"48.499,81\",\"2,5 %\",\"(1.234,56)\",\"12,5\",\"1,234\"\n\
                   Bonn,2,\"1.500\",\"10 %\",7,12.5,\"2,000.50\"\n\
                   Aachen,3,7,,\"0,5\",1,3\n";
        let t = Table::from_reader(csv.as_bytes()).unwrap();
        let sales = t.numeric_or_missing("sales").unwrap().to_vec();
        assert_eq!(sales, vec![48499.81, 1500.0, 7.0]);
        let ctr = t.numeric_or_missing("ctr").unwrap();
        assert!((ctr[0] - 0.025).abs() < 1e-15 && (ctr[1] - 0.1).abs() < 1e-15 && ctr[2].is_nan(), "{ctr:?}");
        assert_eq!(t.numeric_or_missing("margin").unwrap().to_vec(), vec![-1234.56, 7.0, 0.5]);
        assert!(matches!(t.column("mixed").unwrap(), Column::Text(_)), "12,5 beside 12.5");
        assert_eq!(t.numeric_or_missing("us").unwrap().to_vec(), vec![1234.0, 2000.5, 3.0]);
        assert_eq!(
            decimal_comma_numbers(&["7".to_string(), "".to_string()].iter().collect()),
            None,
            "no decimal comma in it"
        );
    }

    /// Numbers as a spreadsheet shows them (Excel's "CSV" and Google Sheets' download write the
    /// displayed text): thousands separators and currency signs read as the numbers they are, on
    /// both readers; a column with anything else stays text, its first cell that is no number
    /// named.
    #[test]
    fn numbers_written_as_a_spreadsheet_shows_them_are_numbers() {
        for (s, x) in [
            ("1,001.89", Some(1001.89)),
            ("12,345", Some(12345.0)),
            ("-1,234,567.5", Some(-1234567.5)),
            ("$1,001.89", Some(1001.89)),
            ("-$5", Some(-5.0)),
            ("$-5.25", Some(-5.25)),
            ("€12.50", Some(12.5)),
            ("12.50 €", Some(12.5)),
            (" £3 ", Some(3.0)),
            ("¥1,200", Some(1200.0)),
            ("12.5", None),
            ("1,5", None),
            ("1,2345", None),
            ("0,123", None),
            ("1,234.", None),
            ("$", None),
            ("1,234.5x", None),
            ("$1.2.3", None),
            ("99,999,999,999,999,999", None),
            // percentages as a spreadsheet reads them (a hundredth, rounded once), an
            // accountant's parentheses, ISO currency codes
            ("2.20%", Some(0.022)),
            ("-1.5 %", Some(-0.015)),
            ("1,250%", Some(12.5)),
            ("0.07%", Some(0.0007)),
            (".5%", Some(0.005)),
            ("(1,234.56)", Some(-1234.56)),
            ("($12.50)", Some(-12.5)),
            ("(3)", Some(-3.0)),
            ("(2.5%)", Some(-0.025)),
            ("USD 1,234.00", Some(1234.0)),
            ("1234.5 EUR", Some(1234.5)),
            ("GBP-3", Some(-3.0)),
            ("(-3)", None),
            ("$5%", None),
            ("%", None),
            ("()", None),
            ("(none)", None),
            ("SKU 123", None),
            ("AUDIT 5", None),
            ("1,5%", None),
        ] {
            assert_eq!(formatted_number(s), x, "{s}");
        }
        // the percentage is the double nearest the hundredth of the decimal, as a spreadsheet's
        for (s, x) in [("2.20%", "0.022"), ("0.3%", "0.003"), ("14.99%", "0.1499"), ("33.333%", "0.33333")] {
            assert_eq!(formatted_number(s).map(f64::to_bits), x.parse::<f64>().ok().map(f64::to_bits), "{s}");
        }
        for text in [
            "unit,sales,spend,note\na,\"1,001.89\",$12.50,x\nb,958.98,\"$1,200\",1\nc,,NA,2\n",
            "unit\tsales\tspend\tnote\na\t1,001.89\t$12.50\tx\nb\t958.98\t$1,200\t1\nc\t\tNA\t2\n",
        ] {
            let t = Table::from_reader(text.as_bytes()).unwrap();
            let sales = t.numeric_or_missing("sales").unwrap();
            assert_eq!((sales[0], sales[1]), (1001.89, 958.98), "{text}");
            assert!(sales[2].is_nan());
            let spend = t.numeric_or_missing("spend").unwrap();
            assert_eq!((spend[0], spend[1]), (12.5, 1200.0));
            assert!(matches!(t.column("note").unwrap(), Column::Text(_)));
        }
        // an export's rates (CTR 2.20%) and an accountant's negatives are numbers, not categories
        let t = Table::from_reader("ctr,net,spend\n2.20%,\"(1,234.56)\",USD 12.50\n0.5%,7,USD 3\n,(3),\n".as_bytes())
            .unwrap();
        let ctr = t.numeric_or_missing("ctr").unwrap();
        assert_eq!((ctr[0], ctr[1]), (0.022, 0.005));
        assert!(ctr[2].is_nan());
        let net = t.numeric_or_missing("net").unwrap();
        assert_eq!(net.to_vec(), vec![-1234.56, 7.0, -3.0]);
        assert_eq!(t.numeric_or_missing("spend").unwrap().to_vec()[..2], [12.5, 3.0]);
        let t = Table::from_reader("y\n\"1,001.89\"\n12\nn/a\n".as_bytes()).unwrap();
        match t.numeric("y") {
            Err(DataError::BadValue { row, message, .. }) => {
                assert_eq!((row, message.as_str()), (3, "\"n/a\" is not a number"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_column_of_dates_is_named_as_dates_where_periods_are_asked_for() {
        let t =
            Table::from_reader("day,week,odd\n3,2026-09-07,x\n2026-09-01,2026-09-14T00:00:00,2026-09-01\n".as_bytes())
                .unwrap();
        match t.integers("day") {
            Err(DataError::BadValue { column, row, message }) => {
                assert_eq!((column.as_str(), row), ("day", 2));
                assert!(
                    message.starts_with("\"2026-09-01\" is a date; this column takes whole-number periods"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(t.integers("week"), Err(DataError::BadValue { row: 1, ref message, .. }) if message.contains("is a date"))
        );
        // The first value that is not a number is not a date: the usual message, at its row.
        match t.integers("odd") {
            Err(DataError::BadValue { row, message, .. }) => {
                assert_eq!((row, message.as_str()), (1, "\"x\" is not a number"))
            }
            other => panic!("{other:?}"),
        }
        // Where any number is asked for (an outcome, a cohort), a date is named too.
        match t.numeric("week") {
            Err(DataError::BadValue { row, message, .. }) => {
                assert_eq!((row, message.as_str()), (1, "\"2026-09-07\" is a date, not a number"))
            }
            other => panic!("{other:?}"),
        }
        for (s, date) in [
            ("2026-09-01", true),
            (" 2026-09-01 ", true),
            ("2026-9-01", false),
            ("20260901", false),
            ("2026/09/01", false),
        ] {
            assert_eq!(is_date(s), date, "{s}");
        }
    }

    #[test]
    fn whole_numbers_are_what_fract_says_they_are() {
        for x in [0.0f64, -0.0, 1.0, -7.0, 2026.0, 8.9e15, -8.9e15, 0.5, -0.5, 1e-300, 2026.000001, 9.0e15, 1e300] {
            let by_fract = (x.fract() == 0.0 && x.abs() < 9.0e15).then_some(x as i64);
            assert_eq!(whole(x), by_fract, "{x}");
        }
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(whole(x), None);
        }
        let t = Table::from_reader("t,u\n3,1.5\n-2,2\n".as_bytes()).unwrap();
        assert_eq!(t.integers("t").unwrap(), vec![3, -2]);
        let e = t.integers("u").unwrap_err().to_string();
        assert!(e.contains("u: row 1: 1.5 is not a whole number"), "{e}");
        // whole-number labels are coded as integers, sorted by value
        assert_eq!(t.codes("t").unwrap(), (vec![1, 0], vec!["-2".to_string(), "3".to_string()]));
    }

    #[test]
    fn owned_tables_give_up_their_columns_borrowed_ones_are_copied() {
        let csv = "y,x,label,gap\n1,10,a,\n2,20,b,5\n3,30,c,6\n";
        let table = Table::from_reader(csv.as_bytes()).unwrap();
        let address = |t: &Table, n: &str| match t.column(n).unwrap() {
            Column::Num(v) => v.as_ptr(),
            Column::Text(_) => std::ptr::null(),
        };
        // Owned: moved out (the same buffer), unless kept (the caller reads it again).
        let mut owned = Cow::Owned(table.clone());
        let x_buffer = address(&owned, "x");
        assert_eq!(Table::take_numeric(&mut owned, "x", &["x"]).unwrap(), vec![10.0, 20.0, 30.0]);
        assert_eq!(address(&owned, "x"), x_buffer, "kept in the table");
        let x = Table::take_numeric(&mut owned, "x", &[]).unwrap();
        assert_eq!((x.as_ptr(), x), (x_buffer, vec![10.0, 20.0, 30.0]), "moved, not copied");
        assert!(owned.column("x").is_err(), "taken");
        let y_buffer = address(&owned, "y");
        let y = Table::take_numeric_or_missing(&mut owned, "y", &[]).unwrap();
        assert_eq!(y.as_ptr(), y_buffer, "moved, not copied");
        let gap = Table::take_numeric_or_missing(&mut owned, "gap", &["gap"]).unwrap();
        assert!(gap[0].is_nan() && gap[2] == 6.0);
        assert!(owned.column("gap").is_ok());
        // Borrowed: the table is untouched; the arrays view it or copy it.
        let mut borrowed = Cow::Borrowed(&table);
        let y = Table::take_numeric_or_missing(&mut borrowed, "y", &[]).unwrap();
        assert_eq!(y.as_ptr(), address(&table, "y"));
        assert_eq!(Table::take_numeric(&mut borrowed, "x", &[]).unwrap(), vec![10.0, 20.0, 30.0]);
        assert!(table.column("x").is_ok());
        // The errors of `numeric`: a missing value names its row, text and unknown columns their name.
        for t in [Cow::Owned(table.clone()), Cow::Borrowed(&table)] {
            let mut t = t;
            assert!(matches!(
                Table::take_numeric(&mut t, "gap", &[]),
                Err(DataError::BadValue { ref column, row: 1, .. }) if column == "gap"
            ));
            assert!(t.column("gap").is_ok(), "a refused column stays");
            assert!(matches!(Table::take_numeric(&mut t, "label", &[]), Err(DataError::BadValue { row: 1, .. })));
            assert!(matches!(Table::take_numeric(&mut t, "nope", &[]), Err(DataError::MissingColumn { .. })));
            assert!(matches!(Table::take_numeric_or_missing(&mut t, "label", &[]), Err(DataError::BadValue { .. })));
        }
    }

    /// A column of categories as covariates: an indicator per level but the first in sorted
    /// order, named column=level; numbers as they are; a column with a number, a date or an empty
    /// cell among its words, or with more levels than MAX_LEVELS, is an error naming the row.
    #[test]
    fn categories_become_indicators_of_their_levels() {
        let csv = "y,region,age,id,mixed,day,gap\n1,West,30,a1,x,2026-01-01,a\n2,North,41,a2,3,2026-01-02,\n3, South ,52,a3,y,2026-01-03,b\n4,North,63,a4,z,2026-01-04,c\n";
        let table = Table::from_reader(csv.as_bytes()).unwrap();
        let mut t = Cow::Borrowed(&table);
        let cols = Table::take_covariates(&mut t, &["age", "region"], false).unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["age", "region=South", "region=West"]);
        assert_eq!(cols[0].1, [30.0, 41.0, 52.0, 63.0]);
        assert_eq!(cols[1].1, [0.0, 0.0, 1.0, 0.0], "South, trimmed");
        assert_eq!(cols[2].1, [1.0, 0.0, 0.0, 0.0]);
        let err =
            |name: &str| Table::take_covariates(&mut Cow::Borrowed(&table), &[name], false).unwrap_err().to_string();
        // a number among the words: a numeric column with a bad value, as before
        assert_eq!(err("mixed"), "mixed: row 1: \"x\" is not a number");
        assert!(err("day").contains("a date, not a number"), "{}", err("day"));
        assert_eq!(err("gap"), "gap: row 2: is empty: a column of categories needs one in every row");
        let many: String = (0..=MAX_LEVELS).map(|i| format!("{i},c{i}\n")).collect();
        let many = Table::from_reader(format!("y,code\n{many}").as_bytes()).unwrap();
        let e = Table::take_covariates(&mut Cow::Borrowed(&many), &["code"], false).unwrap_err().to_string();
        assert!(e.starts_with("code: row 101: \"c100\" is category 101 of this column"), "{e}");
        // owned: a numeric covariate is taken, a column of categories read in place
        let mut owned = Cow::Owned(table.clone());
        let cols = Table::take_covariates(&mut owned, &["region", "age"], false).unwrap();
        assert_eq!(cols.len(), 3);
        assert!(owned.column("age").is_err() && owned.column("region").is_ok());
    }
}
