//! Where an analysis request's data comes from: inline `rows`, a `panel` object (CSV or
//! Parquet) under the caller's org in the panel store, or causal `records` in the memory store
//! with their detected treatment. All three become the same [`Table`], so the column roles and
//! result keys are those of `liftos estimate` whatever the source.

use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};

use super::ServiceError;
use crate::domain::{DateRange, OrgId, Platform, TreatmentGroup, ValidationError};
use crate::storage::{PageRequest, PanelStore, RecordQuery, RecordStore};
use liftos_estimators::data::{Column, Table, Texts, TextsBuilder, EXACT_INTEGERS};

/// The most values (rows x columns) read from one Parquet file.
pub const MAX_PARQUET_CELLS: usize = 200_000_000;
/// Inline rows are for small data (the body is capped at 5 MiB as well).
pub const MAX_INLINE_ROWS: usize = 100_000;
/// The largest panel object read (a Lambda with 3 GB holds its table comfortably).
pub const MAX_PANEL_BYTES: usize = 512 * 1024 * 1024;
/// The most records one analysis reads from the memory store.
pub const MAX_RECORDS: usize = 1_000_000;

pub use crate::api::causal::{DataInfo, DataSpec, DetectedTreatment, PanelFormat, PanelRef, RecordsRef, Row};

pub struct Loaded {
    pub table: Table,
    pub info: DataInfo,
}

impl Loaded {
    /// A table read from `source` (`rows`, `panel`, `records` or a local file's name), described
    /// by its size and columns.
    pub fn new(source: &str, table: Table) -> Self {
        let info = DataInfo {
            source: source.to_string(),
            rows: table.rows,
            columns: table.names.clone(),
            panel_key: None,
            bytes: None,
            units: None,
            treatment: None,
            time_axis: None,
            currency: None,
        };
        Self { table, info }
    }
}

impl DataSpec {
    /// Which source, checking that exactly one is named.
    pub fn kind(&self) -> Result<&'static str, ValidationError> {
        match (&self.rows, &self.panel, &self.records) {
            (Some(_), None, None) => Ok("rows"),
            (None, Some(_), None) => Ok("panel"),
            (None, None, Some(_)) => Ok("records"),
            (None, None, None) => Err(ValidationError::new(
                "rows",
                "name the data: inline `rows`, a `panel` object under your org, or stored `records`",
            )),
            _ => Err(ValidationError::new("rows", "name exactly one of `rows`, `panel` and `records`")),
        }
    }
}

/// A panel key as the caller may write it: relative to their org. A full `s3://` address or a
/// key naming another org's prefix is refused rather than silently re-rooted.
/// Where the platform keeps its own files under an org: a panel key may not name them (an
/// analysis would otherwise read the org's connection settings or a job's request).
pub const RESERVED_PREFIXES: [&str; 9] =
    ["config/", "raw/", "jobs/", "staged/", "quarantine/", "quality/", "reports/", "kse/", "llm-cache/"];

pub fn check_panel_ref(org: &OrgId, panel: &PanelRef) -> Result<PanelFormat, ValidationError> {
    let key = panel.key.as_str();
    if key.contains("://") {
        return Err(ValidationError::new(
            "panel.key",
            "must be a key relative to your org's prefix (e.g. panels/sales.csv), not a URL",
        ));
    }
    if let Some(rest) = key.strip_prefix("orgs/") {
        let owner = rest.split('/').next().unwrap_or("");
        if owner != org.as_str() {
            return Err(ValidationError::new("panel.key", "is outside your org's prefix"));
        }
        return Err(ValidationError::new(
            "panel.key",
            format!("is relative to your org's prefix already: drop the leading orgs/{owner}/"),
        ));
    }
    crate::storage::check_panel_key(key).map_err(|e| ValidationError::new("panel.key", e.to_string()))?;
    if let Some(p) = RESERVED_PREFIXES.iter().find(|p| key.starts_with(*p)) {
        return Err(ValidationError::new(
            "panel.key",
            format!("{p} holds the platform's own files (configuration, raw pages, jobs), not panels"),
        ));
    }
    match panel.format {
        Some(f) => Ok(f),
        None if key.ends_with(".csv") || key.ends_with(".csv.txt") => Ok(PanelFormat::Csv),
        None if key.ends_with(".parquet") || key.ends_with(".pq") => Ok(PanelFormat::Parquet),
        None => Err(ValidationError::new("panel.format", "is required when the key ends neither in .csv nor .parquet")),
    }
}

/// Read the named data for `org`.
pub async fn load(
    records: &dyn RecordStore,
    panels: &dyn PanelStore,
    org: &OrgId,
    spec: &DataSpec,
) -> Result<Loaded, ServiceError> {
    match spec.kind()? {
        "rows" => {
            let rows = spec.rows.as_deref().unwrap_or_default();
            Ok(Loaded::new("rows", table_from_rows(rows)?))
        }
        "panel" => {
            let panel = spec.panel.as_ref().ok_or_else(|| ValidationError::new("panel", "is required"))?;
            let format = check_panel_ref(org, panel)?;
            let bytes = panels.get_panel(org, &panel.key).await?.ok_or_else(|| {
                ValidationError::new("panel.key", format!("{:?}: no such object under your org", panel.key))
            })?;
            let size = bytes.len();
            let mut loaded = Loaded::new("panel", parse_panel_owned(bytes, format, None)?);
            loaded.info.panel_key = Some(panel.key.clone());
            loaded.info.bytes = Some(size);
            Ok(loaded)
        }
        _ => {
            let r = spec.records.as_ref().ok_or_else(|| ValidationError::new("records", "is required"))?;
            let mut loaded = table_from_records(records, org, r).await?;
            loaded.info.currency = records_currency(panels, org).await;
            Ok(loaded)
        }
    }
}

/// The currency of the org's stored money (its reporting currency, as its connections name it:
/// [`reporting_currency`]); None where they do not, or
/// cannot be read (the analysis goes on with bare amounts).
pub(crate) async fn records_currency(panels: &dyn PanelStore, org: &OrgId) -> Option<String> {
    let bytes = panels.get_panel(org, super::ingestion::CONNECTIONS_KEY).await.ok()??;
    let connections: Vec<crate::ingestion::connectors::Connection> = serde_json::from_slice(&bytes).ok()?;
    reporting_currency(&connections)
}

/// The org's reporting currency as its connections name it: the `currency` of those converting
/// at 1.0 (their money is already in it), when at least one names it and all that do agree.
pub fn reporting_currency(connections: &[crate::ingestion::connectors::Connection]) -> Option<String> {
    let mut named = connections
        .iter()
        .filter(|c| c.fx_rate == 1.0)
        .filter_map(|c| c.currency.as_deref().map(|s| s.trim().to_ascii_uppercase()))
        .filter(|s| !s.is_empty());
    let first = named.next()?;
    named.all(|c| c == first).then_some(first)
}

/// The size of a panel object, to decide between answering now and queueing a job.
pub fn panel_bytes_limit_error(bytes: usize) -> Option<ValidationError> {
    (bytes > MAX_PANEL_BYTES).then(|| {
        ValidationError::new("panel.key", format!("the object has {bytes} bytes; at most {MAX_PANEL_BYTES} are read"))
    })
}

/// CSV or Parquet bytes to a table.
pub fn parse_panel(bytes: &[u8], format: PanelFormat) -> Result<Table, ValidationError> {
    parse_panel_columns(bytes, format, None)
}

/// A platform export read: its table, the lines above its header, and its rows whose fields
/// do not line up with the header's (left out of the table as empty rows).
#[derive(Debug)]
pub struct Export {
    pub table: Table,
    /// The title lines above the header: a data row `r` (1-based) is line `skipped + 1 + r`.
    pub skipped: usize,
    pub ragged: Vec<crate::ingestion::connectors::file::RaggedRow>,
}

/// A platform export: after any title lines above its header, in UTF-8 or UTF-16, separated by
/// commas or tabs ([`file::export_text`](crate::ingestion::connectors::file::export_text)), its
/// rows of another length than the header's set apart
/// ([`file::even_rows`](crate::ingestion::connectors::file::even_rows)); a Parquet export as it
/// is. `map`: the header is the first line naming its date column (None: any known date
/// column), and its campaign id column is read as written where it holds ids in scientific
/// notation, as other id columns are.
pub fn read_export(
    bytes: &[u8],
    format: PanelFormat,
    map: Option<&crate::ingestion::connectors::file::ColumnMap>,
) -> Result<Export, ValidationError> {
    use crate::ingestion::connectors::file;
    let date_column = map.map(|m| m.date.as_str());
    match format {
        PanelFormat::Parquet => Ok(Export { table: parse_panel(bytes, format)?, skipped: 0, ragged: Vec::new() }),
        PanelFormat::Csv => {
            // the cap on what is read, before UTF-16 is decoded into a copy
            if let Some(e) = panel_bytes_limit_error(bytes.len()) {
                return Err(e);
            }
            let (text, skipped) =
                file::export_text(bytes, date_column).map_err(|m| ValidationError::new("panel", m))?;
            let (text, ragged) = file::even_rows(text, skipped).map_err(|m| ValidationError::new("panel", m))?;
            let mut table = parse_panel(&text, format)?;
            // ids written in scientific notation kept as written, for the connector to refuse
            // (a column the reader did not find as such, or counted other rows of, stays as read)
            for (name, fields) in file::scientific_id_columns(&text, map).unwrap_or_default() {
                let _ = table.set_text(&name, fields);
            }
            Ok(Export { table, skipped, ragged })
        }
    }
}

/// [`parse_panel`] reading only the `wanted` columns (None: all); the others stay in the
/// table's names, and asking for one is an error saying it was not read.
pub fn parse_panel_columns(
    bytes: &[u8],
    format: PanelFormat,
    wanted: Option<&[String]>,
) -> Result<Table, ValidationError> {
    if let Some(e) = panel_bytes_limit_error(bytes.len()) {
        return Err(e);
    }
    let table = match format {
        PanelFormat::Csv => {
            Table::from_csv_bytes(bytes, wanted).map_err(|e| ValidationError::new("panel", e.to_string()))?
        }
        // the Parquet reader holds its bytes: a borrowed slice is copied once
        PanelFormat::Parquet => parquet_table(bytes::Bytes::copy_from_slice(bytes), wanted)?,
    };
    non_empty(table)
}

/// [`parse_panel_columns`] on bytes the caller hands over (an object read from storage, a file
/// read whole): a Parquet file is decoded from them without a copy.
pub fn parse_panel_owned(
    bytes: bytes::Bytes,
    format: PanelFormat,
    wanted: Option<&[String]>,
) -> Result<Table, ValidationError> {
    match format {
        PanelFormat::Csv => parse_panel_columns(&bytes, format, wanted),
        PanelFormat::Parquet => {
            if let Some(e) = panel_bytes_limit_error(bytes.len()) {
                return Err(e);
            }
            non_empty(parquet_table(bytes, wanted)?)
        }
    }
}

/// A Parquet file on disk read by its columns (only `wanted`'s, None: all): each column chunk
/// is read from the file at its offset by the thread that decodes it, so the file is never held
/// whole in memory and the columns of a row group are read side by side.
pub fn parse_parquet_file(file: std::fs::File, wanted: Option<&[String]>) -> Result<Table, ValidationError> {
    let file = FileAt::new(file).map_err(|e| ValidationError::new("panel", e.to_string()))?;
    if let Some(e) = panel_bytes_limit_error(usize::try_from(file.len).unwrap_or(usize::MAX)) {
        return Err(e);
    }
    non_empty(parquet_table(file, wanted)?)
}

/// A file read at offsets (`pread`): readers at different offsets do not move each other
/// (parquet's own reader for `File` clones the handle, and the clones share one position, so
/// two threads reading two columns at once would read each other's bytes).
struct FileAt {
    file: std::sync::Arc<std::fs::File>,
    len: u64,
}

/// A reader from an offset of a [`FileAt`].
struct ReadAt {
    file: std::sync::Arc<std::fs::File>,
    pos: u64,
}

impl FileAt {
    fn new(file: std::fs::File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self { file: std::sync::Arc::new(file), len })
    }
}

/// Bytes at `pos` (as many as one read gives, 0 at the end).
#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(windows)]
fn read_at(file: &std::fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

impl std::io::Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl parquet::file::reader::Length for FileAt {
    fn len(&self) -> u64 {
        self.len
    }
}

impl parquet::file::reader::ChunkReader for FileAt {
    type T = std::io::BufReader<ReadAt>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(std::io::BufReader::new(ReadAt { file: self.file.clone(), pos: start }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        // a length the file cannot hold is refused before anything is allocated for it
        if start.checked_add(length as u64).is_none_or(|end| end > self.len) {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "{length} bytes at offset {start} run past the end of the file ({} bytes)",
                self.len
            )));
        }
        let mut buf = vec![0u8; length];
        let mut done = 0;
        while done < length {
            match read_at(&self.file, &mut buf[done..], start + done as u64) {
                Ok(0) => return Err(parquet::errors::ParquetError::EOF("the file ended early".into())),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(buf.into())
    }
}

fn non_empty(table: Table) -> Result<Table, ValidationError> {
    if table.rows == 0 {
        return Err(ValidationError::new("panel", "has no rows"));
    }
    Ok(table)
}

/// A cell on its way into a [`Column`].
enum Cell {
    Num(f64),
    Text(String),
    Null,
}

/// Columns of cells: numeric if every cell is a number or null (a missing value), or if its
/// text is flags (`"Yes"`, `"No"`, `"TRUE"`: 1 and 0) or numbers as a spreadsheet shows them
/// (`"$1,234.50"`, `"2.20%"`, `"(12)"` beside plain numbers: what the Google Sheets API returns
/// by default), as a CSV's are read; else text.
fn build_table(names: Vec<String>, cols: Vec<Vec<Cell>>) -> Table {
    let mut out = Vec::with_capacity(names.len());
    let mut flags = Vec::new();
    for (name, cells) in names.iter().zip(cols) {
        let numeric = cells.iter().all(|c| !matches!(c, Cell::Text(_)));
        let col = if numeric {
            Column::Num(cells.iter().map(|c| if let Cell::Num(x) = c { *x } else { f64::NAN }).collect())
        } else {
            let text: Texts = cells
                .into_iter()
                .map(|c| match c {
                    Cell::Num(x) => x.to_string(),
                    Cell::Text(s) => s,
                    Cell::Null => String::new(),
                })
                .collect();
            let (col, flag) = text_column(text);
            if flag {
                flags.push(name.as_str());
            }
            col
        };
        out.push((name.as_str(), col));
    }
    let mut table = Table::from_columns(out);
    for name in flags {
        table.mark_flags(name);
    }
    table
}

/// A column of strings as a CSV's is read: flags (`Yes`, `No`, `TRUE`: 1 and 0; true), numbers as
/// a spreadsheet shows them (`$1,234.50`, `2.20%`), or text.
fn text_column(text: Texts) -> (Column, bool) {
    match liftos_estimators::data::booleans(&text) {
        Some(x) => (Column::Num(x), true),
        None => match liftos_estimators::data::formatted_numbers(&text) {
            Some(x) => (Column::Num(x), false),
            None => (Column::Text(text), false),
        },
    }
}

/// Rows of JSON objects to a table: a column whose values are all numbers (or null, a missing
/// value) is numeric, `true` and `false` being 1 and 0, and so is one of numbers as a spreadsheet
/// shows them ([`build_table`]); otherwise it is text.
pub fn table_from_rows(rows: &[Row]) -> Result<Table, ValidationError> {
    if rows.is_empty() {
        return Err(ValidationError::new("rows", "must contain at least one row"));
    }
    if rows.len() > MAX_INLINE_ROWS {
        return Err(ValidationError::new(
            "rows",
            format!("has {} rows; at most {MAX_INLINE_ROWS} inline (put larger data in a panel)", rows.len()),
        ));
    }
    let names: Vec<String> = rows[0].keys().cloned().collect();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != names.len() || !names.iter().all(|n| r.contains_key(n)) {
            return Err(ValidationError::new(format!("rows[{i}]"), "must have the same keys as rows[0]"));
        }
    }
    let mut cols = Vec::with_capacity(names.len());
    for n in &names {
        let mut cells = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            cells.push(match &r[n] {
                serde_json::Value::Null => Cell::Null,
                // a whole number from 2^53 on (an identifier) is text, as it is in a CSV file
                serde_json::Value::Number(x)
                    if x.as_u64().or(x.as_i64().map(i64::unsigned_abs)).is_some_and(|m| m >= EXACT_INTEGERS) =>
                {
                    Cell::Text(x.to_string())
                }
                serde_json::Value::Number(x) => Cell::Num(x.as_f64().unwrap_or(f64::NAN)),
                serde_json::Value::String(s) => Cell::Text(s.clone()),
                // a flag, as a Parquet or CSV file's true/false are read
                serde_json::Value::Bool(b) => Cell::Num(if *b { 1.0 } else { 0.0 }),
                _ => {
                    return Err(ValidationError::new(
                        format!("rows[{i}].{n}"),
                        "must be a number, a boolean, a string or null",
                    ))
                }
            });
        }
        cols.push(cells);
    }
    Ok(build_table(names, cols))
}

/// A Parquet file's flat columns: numbers (ints, floats, decimals, booleans as 0/1, dates as
/// days since 1970-01-01) are numeric; strings and timestamps (RFC 3339, UTC) are text.
fn parquet_table<R: parquet::file::reader::ChunkReader + 'static>(
    input: R,
    wanted: Option<&[String]>,
) -> Result<Table, ValidationError> {
    use parquet::file::reader::SerializedFileReader;
    let bad = |m: String| ValidationError::new("panel", format!("is not a readable Parquet file: {m}"));
    let reader = SerializedFileReader::new(input).map_err(|e| bad(e.to_string()))?;
    let mut table = match parquet_columns(&reader, wanted).map_err(|e| bad(e.to_string()))? {
        Some(table) => table,
        None => parquet_rows(&reader)?,
    };
    // DATE columns (days since 1970-01-01) are marked so: a panel's time column of them is dates;
    // BOOLEAN columns (1 and 0) are flags, as `true`/`false` in a CSV: an export's breakdown
    {
        use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
        use parquet::file::reader::FileReader;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        for c in schema.columns() {
            if matches!(c.logical_type_ref(), Some(LogicalType::Date)) || c.converted_type() == ConvertedType::DATE {
                table.mark_days(c.name());
            } else if c.physical_type() == Physical::BOOLEAN {
                table.mark_flags(c.name());
            }
        }
    }
    Ok(table)
}

/// The row reader: any flat file, a cell at a time (what [`parquet_columns`] cannot read).
fn parquet_rows<R: parquet::file::reader::ChunkReader + 'static>(
    reader: &parquet::file::reader::SerializedFileReader<R>,
) -> Result<Table, ValidationError> {
    use parquet::file::reader::FileReader;
    use parquet::record::Field;
    let bad = |m: String| ValidationError::new("panel", format!("is not a readable Parquet file: {m}"));
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let names: Vec<String> = schema.root_schema().get_fields().iter().map(|f| f.name().to_string()).collect();
    let mut cols: Vec<Vec<Cell>> = names.iter().map(|_| Vec::new()).collect();
    let rows = reader.get_row_iter(None).map_err(|e| bad(e.to_string()))?;
    let ts = |micros: i64| {
        DateTime::from_timestamp_micros(micros)
            .map(|t| Cell::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
            .unwrap_or(Cell::Null)
    };
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| bad(e.to_string()))?;
        for (j, (name, field)) in row.get_column_iter().enumerate() {
            let cell = match field {
                Field::Null => Cell::Null,
                Field::Bool(b) => Cell::Num(if *b { 1.0 } else { 0.0 }),
                Field::Byte(x) => Cell::Num(*x as f64),
                Field::Short(x) => Cell::Num(*x as f64),
                Field::Int(x) => Cell::Num(*x as f64),
                Field::Long(x) if x.unsigned_abs() >= EXACT_INTEGERS => Cell::Text(x.to_string()),
                Field::Long(x) => Cell::Num(*x as f64),
                Field::UByte(x) => Cell::Num(*x as f64),
                Field::UShort(x) => Cell::Num(*x as f64),
                Field::UInt(x) => Cell::Num(*x as f64),
                Field::ULong(x) if *x >= EXACT_INTEGERS => Cell::Text(x.to_string()),
                Field::ULong(x) => Cell::Num(*x as f64),
                Field::Float16(x) => Cell::Num(f64::from(*x)),
                Field::Float(x) => Cell::Num(*x as f64),
                Field::Double(x) => Cell::Num(*x),
                Field::Decimal(d) => {
                    Cell::Num(parquet::record::Field::Decimal(d.clone()).to_string().parse().unwrap_or(f64::NAN))
                }
                Field::Str(s) => Cell::Text(s.clone()),
                Field::Date(d) => Cell::Num(*d as f64),
                Field::TimestampMillis(ms) => ts(ms * 1000),
                Field::TimestampMicros(us) => ts(*us),
                other => {
                    return Err(ValidationError::new(
                        format!("panel.{name}"),
                        format!(
                            "row {}: unsupported Parquet value {other}: use flat columns of numbers or text",
                            i + 1
                        ),
                    ))
                }
            };
            match cols.get_mut(j) {
                Some(c) => c.push(cell),
                None => return Err(bad(format!("row {} has more columns than the schema", i + 1))),
            }
        }
    }
    let n = cols.first().map_or(0, Vec::len);
    if cols.iter().any(|c| c.len() != n) {
        return Err(bad("columns of unequal length (nested or repeated fields are not supported)".into()));
    }
    Ok(build_table(names, cols))
}

/// A flat Parquet file read column by column (no rows of cells): doubles, floats, integers
/// (dates as their day number), booleans as 0/1 and UTF-8 strings, nulls as missing. None when
/// a column needs the row reader (decimals, timestamps, unsigned 64-bit, nested fields), which
/// then reads the whole file as before.
fn parquet_columns<R: parquet::file::reader::ChunkReader + 'static>(
    reader: &parquet::file::reader::SerializedFileReader<R>,
    wanted: Option<&[String]>,
) -> parquet::errors::Result<Option<Table>> {
    use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
    use parquet::file::reader::FileReader;
    use rayon::prelude::*;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let n_top = schema.root_schema().get_fields().len();
    if schema.num_columns() != n_top {
        return Ok(None);
    }
    let rows = meta.file_metadata().num_rows().max(0) as usize;
    // What the metadata claims is checked before anything is allocated for it (a few bytes of
    // run-length encoding can claim billions of values).
    if rows.saturating_mul(n_top.max(1)) > MAX_PARQUET_CELLS {
        return Err(parquet::errors::ParquetError::General(format!(
            "{rows} rows of {n_top} columns: at most {MAX_PARQUET_CELLS} values are read"
        )));
    }
    let mut names = Vec::with_capacity(n_top);
    let mut text = Vec::with_capacity(n_top);
    for c in schema.columns() {
        let plain_int = |lt: Option<&LogicalType>, ct: ConvertedType| match lt {
            None => matches!(
                ct,
                ConvertedType::NONE
                    | ConvertedType::DATE
                    | ConvertedType::INT_8
                    | ConvertedType::INT_16
                    | ConvertedType::INT_32
                    | ConvertedType::INT_64
                    | ConvertedType::UINT_8
                    | ConvertedType::UINT_16
            ),
            Some(LogicalType::Date) => true,
            Some(LogicalType::Integer { bit_width, is_signed }) => *is_signed || *bit_width < 32,
            _ => false,
        };
        let ok = c.max_rep_level() == 0
            && match c.physical_type() {
                Physical::DOUBLE | Physical::FLOAT | Physical::BOOLEAN => true,
                Physical::INT32 | Physical::INT64 => plain_int(c.logical_type_ref(), c.converted_type()),
                Physical::BYTE_ARRAY => {
                    matches!(c.logical_type_ref(), Some(LogicalType::String))
                        || c.converted_type() == ConvertedType::UTF8
                }
                _ => false,
            };
        if !ok {
            return Ok(None);
        }
        names.push(c.name().to_string());
        text.push(c.physical_type() == Physical::BYTE_ARRAY);
    }
    let read: Vec<bool> = names.iter().map(|n| wanted.is_none_or(|w| w.contains(n))).collect();
    // reserved up front only up to 4M rows (past that, the columns grow as values arrive)
    let reserve = rows.min(1 << 22);
    let mut nums: Vec<Vec<f64>> =
        (0..n_top).map(|c| if text[c] || !read[c] { vec![] } else { Vec::with_capacity(reserve) }).collect();
    let mut texts: Vec<TextsBuilder> = (0..n_top)
        .map(|c| if text[c] && read[c] { TextsBuilder::with_capacity(reserve) } else { TextsBuilder::default() })
        .collect();
    let mut group_rows = 0usize;
    for g in 0..reader.num_row_groups() {
        let n = meta.row_group(g).num_rows().max(0) as usize;
        group_rows = group_rows.saturating_add(n);
        if group_rows > rows {
            return Err(parquet::errors::ParquetError::General("the row groups hold more rows than the file".into()));
        }
        // the columns of a row group are read in parallel, each straight onto its column
        let done: Vec<parquet::errors::Result<bool>> = nums
            .par_iter_mut()
            .zip(texts.par_iter_mut())
            .enumerate()
            .map(|(c, (num, txt))| {
                if !read[c] {
                    return Ok(true);
                }
                let column = reader.get_row_group(g)?.get_column_reader(c)?;
                read_parquet_column(column, n, schema.column(c).max_def_level(), num, txt)
            })
            .collect();
        for ok in done {
            if !ok? {
                return Ok(None);
            }
        }
    }
    let short = (0..n_top).any(|c| read[c] && if text[c] { texts[c].len() != rows } else { nums[c].len() != rows });
    if short {
        return Err(parquet::errors::ParquetError::General("a column has fewer values than the file has rows".into()));
    }
    let mut flags = Vec::new();
    let cols = names
        .iter()
        .zip(nums.into_iter().zip(texts).zip(text))
        .zip(&read)
        .filter(|(_, r)| **r)
        .map(|((name, ((v, s), t)), _)| {
            let col = if t {
                let (col, flag) = text_column(s.finish());
                if flag {
                    flags.push(name.clone());
                }
                col
            } else {
                Column::Num(v)
            };
            (name.clone(), col)
        })
        .collect();
    let mut table = Table::from_read_columns(names, cols, rows);
    for name in &flags {
        table.mark_flags(name);
    }
    Ok(Some(table))
}

/// One column of a row group of `n` rows appended to `num` (numbers) or `txt` (strings): false
/// if it is of a type the column reader does not take.
fn read_parquet_column(
    column: parquet::column::reader::ColumnReader,
    n: usize,
    max_def: i16,
    num: &mut Vec<f64>,
    txt: &mut TextsBuilder,
) -> parquet::errors::Result<bool> {
    use parquet::column::reader::ColumnReader;
    let mut defs: Vec<i16> = Vec::new();
    /// The values appended to `out` after `start`, spread over the rows their definition levels
    /// describe (a null: `missing`), in place from the last row back. A file whose levels count
    /// more values than it holds is an error.
    fn spread<T: Clone>(
        out: &mut Vec<T>,
        start: usize,
        defs: &[i16],
        max_def: i16,
        missing: T,
    ) -> parquet::errors::Result<()> {
        let values = out.len() - start;
        if max_def == 0 {
            return Ok(());
        }
        if defs.iter().filter(|&&d| d == max_def).count() != values {
            return Err(parquet::errors::ParquetError::General(
                "a column's definition levels and values disagree".into(),
            ));
        }
        if values == defs.len() {
            return Ok(()); // no nulls
        }
        out.resize(start + defs.len(), missing.clone());
        // rows at and after `row` are final; values still to place lie before `v`
        let mut v = start + values;
        for (i, &d) in defs.iter().enumerate().rev() {
            let row = start + i;
            if d == max_def {
                v -= 1;
                out.swap(row, v);
            } else {
                out[row] = missing.clone();
            }
        }
        Ok(())
    }
    // every record of the row group appended to `$vals` (and the definition levels to `defs`)
    macro_rules! read_all {
        ($r:expr, $vals:expr) => {{
            let d = (max_def > 0).then_some(&mut defs);
            let mut d = d;
            let mut done = 0;
            while done < n {
                let (recs, _, _) = $r.read_records(n - done, d.as_deref_mut(), None, $vals)?;
                if recs == 0 {
                    break;
                }
                done += recs;
            }
        }};
    }
    macro_rules! numbers {
        ($r:expr, $conv:expr) => {{
            let mut r = $r;
            let mut vals = Vec::with_capacity(n.min(1 << 22));
            read_all!(r, &mut vals);
            let start = num.len();
            num.extend(vals.into_iter().map($conv));
            spread(num, start, &defs, max_def, f64::NAN)?;
        }};
    }
    match column {
        // doubles: decoded straight onto the column (and spread over the nulls there)
        ColumnReader::DoubleColumnReader(mut r) => {
            let start = num.len();
            read_all!(r, num);
            spread(num, start, &defs, max_def, f64::NAN)?;
        }
        ColumnReader::FloatColumnReader(r) => numbers!(r, |x: f32| x as f64),
        ColumnReader::Int32ColumnReader(r) => numbers!(r, |x: i32| x as f64),
        // whole numbers from 2^53 on (identifiers) are text: the row reader makes the column so
        ColumnReader::Int64ColumnReader(mut r) => {
            let mut vals = Vec::with_capacity(n.min(1 << 22));
            read_all!(r, &mut vals);
            if vals.iter().any(|x: &i64| x.unsigned_abs() >= EXACT_INTEGERS) {
                return Ok(false);
            }
            let start = num.len();
            // The doubles take the whole numbers' own memory (a vector's own iterator collected
            // into elements of the same size reuses its allocation), so a row group's first
            // column of whole numbers touches one buffer of fresh pages, not two. On this
            // virtual machine the kernel's zeroing of fresh pages was half of the CPU time of a
            // 1,000,000-row Parquet TWFE run (`perf`); without the second buffers of its unit and
            // period columns the run took 0.100 s of CPU instead of 0.107 (medians of 11).
            let doubles: Vec<f64> = vals.into_iter().map(|x| x as f64).collect();
            if start == 0 {
                *num = doubles;
            } else {
                num.extend_from_slice(&doubles);
            }
            spread(num, start, &defs, max_def, f64::NAN)?;
        }
        ColumnReader::BoolColumnReader(r) => numbers!(r, |x: bool| if x { 1.0 } else { 0.0 }),
        ColumnReader::ByteArrayColumnReader(mut r) => {
            // read 65,536 records at a time, each value looked up among the column's and none
            // copied a row: the row group's values held at once (a handle of 32 bytes each) put
            // a 1,000,000-row panel's named units and dated periods 18 MiB over its CSV's peak;
            // a null is an empty cell
            const CHUNK: usize = 1 << 16;
            let mut vals = Vec::with_capacity(n.min(CHUNK));
            let mut done = 0;
            while done < n {
                vals.clear();
                defs.clear();
                let d = (max_def > 0).then_some(&mut defs);
                let (recs, _, _) = r.read_records((n - done).min(CHUNK), d, None, &mut vals)?;
                if recs == 0 {
                    break;
                }
                done += recs;
                if max_def > 0 && defs.iter().filter(|&&d| d == max_def).count() != vals.len() {
                    return Err(parquet::errors::ParquetError::General(
                        "a column's definition levels and values disagree".into(),
                    ));
                }
                if max_def == 0 || vals.len() == defs.len() {
                    for b in &vals {
                        txt.push(b.as_utf8()?);
                    }
                } else {
                    let mut v = vals.iter();
                    for &d in &defs {
                        match (d == max_def).then(|| v.next()).flatten() {
                            Some(b) => txt.push(b.as_utf8()?),
                            None => txt.push(""),
                        }
                    }
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Days since 1970-01-01: the `time` of record panels.
pub fn day_number(t: DateTime<Utc>) -> i64 {
    (crate::ingestion::local_day(t) - NaiveDate::default()).num_days()
}

/// One row per campaign and day (records of the same campaign and day are summed): `unit`
/// (campaign), `platform`, `date`, `time` (days since 1970-01-01), the metrics (`spend`,
/// `impressions`, `clicks`, `conversions`, `revenue` and any extra metric), and from the
/// detected treatment `treated` (the unit is in its treated group), `post` (on or after it
/// started) and `treatment` (both).
pub async fn table_from_records(
    store: &dyn RecordStore,
    org: &OrgId,
    spec: &RecordsRef,
) -> Result<Loaded, ServiceError> {
    let platforms: Vec<Platform> = match &spec.platform {
        Some(p) => {
            vec![p.parse().map_err(|e: ValidationError| ValidationError::new("records.platform", e.to_string()))?]
        }
        None if !spec.campaigns.is_empty() => {
            return Err(ValidationError::new("records.platform", "is required with records.campaigns").into())
        }
        None => Platform::ALL.to_vec(),
    };
    let range = DateRange::from_optional(spec.start.as_deref(), spec.end.as_deref())
        .map_err(|e| ValidationError::new("records", e.to_string()))?;
    let mut queries = Vec::new();
    for &platform in &platforms {
        if spec.campaigns.is_empty() {
            queries.push(RecordQuery::Platform { platform, range });
        } else {
            for c in &spec.campaigns {
                queries.push(RecordQuery::Campaign { platform, campaign_id: c.clone(), range });
            }
        }
    }
    let mut all = Vec::new();
    for q in &queries {
        let mut page = PageRequest::first(1000);
        loop {
            let got = store.query_records(org, q, &page).await?;
            all.extend(got.items);
            if all.len() > MAX_RECORDS {
                return Err(ValidationError::new(
                    "records",
                    format!("match more than {MAX_RECORDS} records: narrow the platform, campaigns or dates"),
                )
                .into());
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    if all.is_empty() {
        return Err(ValidationError::new("records", "no stored records match the platform, campaigns and dates").into());
    }

    // The treatment: every distinct (intervention, start day, experiment) on the records,
    // narrowed by the request; it must come down to one. The start is compared by local day:
    // accounts in different time zones start the same day at different UTC instants.
    // (intervention, start day, experiment) -> (treated units, control units, earliest start)
    type Arms = (BTreeSet<String>, BTreeSet<String>, Option<DateTime<Utc>>);
    let mut treatments: BTreeMap<(String, i64, Option<String>), Arms> = BTreeMap::new();
    for r in &all {
        if let Some(a) = &r.treatment_assignment {
            if spec.intervention.as_ref().is_some_and(|i| i != &a.intervention)
                || spec.experiment_id.as_ref().is_some_and(|e| a.experiment_id.as_ref() != Some(e))
            {
                continue;
            }
            let e = treatments
                .entry((a.intervention.clone(), day_number(a.assigned_at), a.experiment_id.clone()))
                .or_default();
            e.2 = Some(e.2.map_or(a.assigned_at, |t| t.min(a.assigned_at)));
            match a.group {
                TreatmentGroup::Treated => e.0.insert(r.campaign_id.clone()),
                TreatmentGroup::Control => e.1.insert(r.campaign_id.clone()),
            };
        }
    }
    if treatments.len() > 1 {
        let names: Vec<String> = treatments
            .keys()
            .map(|(i, day, _)| format!("{i} from {}", NaiveDate::default() + chrono::Days::new(*day as u64)))
            .collect();
        return Err(ValidationError::new(
            "records.intervention",
            format!(
                "the records carry several treatments ({}); name one (intervention, experiment_id)",
                names.join(", ")
            ),
        )
        .into());
    }
    if treatments.is_empty() && (spec.intervention.is_some() || spec.experiment_id.is_some()) {
        return Err(ValidationError::new("records.intervention", "no record carries that treatment").into());
    }
    let treatment =
        treatments.into_iter().next().map(|((intervention, day, experiment_id), (t, c, at))| DetectedTreatment {
            intervention,
            experiment_id,
            assigned_at: at.unwrap_or_default(),
            time: day,
            treated_units: t.into_iter().collect(),
            control_units: c.into_iter().collect(),
        });

    // One row per (campaign, day).
    #[derive(Default)]
    struct Acc {
        platform: String,
        spend: f64,
        impressions: f64,
        clicks: f64,
        conversions: f64,
        revenue: f64,
        extra: BTreeMap<String, f64>,
    }
    let mut rows: BTreeMap<(String, i64), Acc> = BTreeMap::new();
    let mut extras = BTreeSet::new();
    for r in &all {
        let a = rows.entry((r.campaign_id.clone(), day_number(r.timestamp))).or_default();
        a.platform = r.platform.to_string();
        a.spend += r.metrics.spend;
        a.impressions += r.metrics.impressions as f64;
        a.clicks += r.metrics.clicks as f64;
        a.conversions += r.metrics.conversions;
        a.revenue += r.metrics.revenue;
        for (k, v) in &r.metrics.extra {
            *a.extra.entry(k.clone()).or_default() += v;
            extras.insert(k.clone());
        }
    }
    const FIXED: [&str; 12] = [
        "unit",
        "platform",
        "date",
        "time",
        "spend",
        "impressions",
        "clicks",
        "conversions",
        "revenue",
        "treated",
        "post",
        "treatment",
    ];
    let extras: Vec<String> = extras.into_iter().filter(|k| !FIXED.contains(&k.as_str())).collect();
    let n = rows.len();
    let (mut unit, mut platform, mut date, mut time) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut metrics: Vec<Vec<f64>> = vec![Vec::with_capacity(n); 5 + extras.len()];
    let (mut treated, mut post, mut treat) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut units = BTreeSet::new();
    for ((campaign, day), a) in &rows {
        units.insert(campaign.clone());
        unit.push(campaign.clone());
        platform.push(a.platform.clone());
        date.push((NaiveDate::default() + chrono::Days::new(*day as u64)).to_string());
        time.push(*day as f64);
        for (k, v) in [a.spend, a.impressions, a.clicks, a.conversions, a.revenue].into_iter().enumerate() {
            metrics[k].push(v);
        }
        for (k, name) in extras.iter().enumerate() {
            metrics[5 + k].push(a.extra.get(name).copied().unwrap_or(f64::NAN));
        }
        let (d, p) = match &treatment {
            Some(t) => (t.treated_units.contains(campaign), *day >= t.time),
            None => (false, false),
        };
        treated.push(f64::from(u8::from(d)));
        post.push(f64::from(u8::from(p)));
        treat.push(f64::from(u8::from(d && p)));
    }
    let mut cols = vec![
        ("unit", Column::Text(unit.into())),
        ("platform", Column::Text(platform.into())),
        ("date", Column::Text(date.into())),
        ("time", Column::Num(time)),
    ];
    let mut metrics = metrics.into_iter();
    for name in ["spend", "impressions", "clicks", "conversions", "revenue"] {
        cols.push((name, Column::Num(metrics.next().unwrap_or_default())));
    }
    for name in &extras {
        cols.push((name.as_str(), Column::Num(metrics.next().unwrap_or_default())));
    }
    cols.push(("treated", Column::Num(treated)));
    cols.push(("post", Column::Num(post)));
    cols.push(("treatment", Column::Num(treat)));
    let mut loaded = Loaded::new("records", Table::from_columns(cols));
    loaded.info.units = Some(units.len());
    loaded.info.treatment = treatment;
    Ok(loaded)
}

/// With records as the source, a method's unnamed roles default to the record panel's columns
/// and its detected treatment: `unit`, `time`, `treatment` (DiD, effects), and the treated
/// units and start (synthetic control).
pub fn fill_record_defaults(method: &mut serde_json::Value, info: &DataInfo) {
    if info.source != "records" {
        return;
    }
    let Some(m) = method.as_object_mut() else { return };
    let kind = m.get("method").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let mut set = |k: &str, v: serde_json::Value| {
        m.entry(k.to_string()).or_insert(v);
    };
    match kind.as_str() {
        "did" | "synth" => {
            set("unit", "unit".into());
            set("time", "time".into());
        }
        _ => {}
    }
    match kind.as_str() {
        "did" if !m.contains_key("cohort") => {
            m.entry("treatment".to_string()).or_insert("treatment".into());
        }
        "synth" => {
            if let Some(t) = &info.treatment {
                m.entry("treated_unit".to_string()).or_insert(t.treated_units.join(",").into());
                m.entry("treatment_time".to_string()).or_insert(t.time.into());
            }
        }
        _ => {}
    }
}

/// A Parquet writer onto `out` for the schema `message` (tests that write their own files).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn parquet_writer<'a>(
    out: &'a mut Vec<u8>,
    message: &str,
) -> parquet::file::writer::SerializedFileWriter<&'a mut Vec<u8>> {
    let schema = std::sync::Arc::new(parquet::schema::parser::parse_message_type(message).unwrap());
    parquet::file::writer::SerializedFileWriter::new(out, schema, Default::default()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::SerializedFileReader;

    fn fixture(name: &str) -> bytes::Bytes {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
        bytes::Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    fn same(a: &Table, b: &Table) {
        assert_eq!((&a.names, a.rows), (&b.names, b.rows));
        for n in &a.names {
            match (a.column(n).unwrap(), b.column(n).unwrap()) {
                (Column::Num(x), Column::Num(y)) => {
                    let bits = |v: &Vec<f64>| {
                        v.iter().map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() }).collect::<Vec<_>>()
                    };
                    assert_eq!(bits(x), bits(y), "{n}");
                }
                (x, y) => assert_eq!(x, y, "{n}"),
            }
        }
    }

    /// The column reader gives what the row reader gives, value for value, on every type it
    /// takes (strings, doubles, floats, 8/32/64-bit integers, booleans, dates) with nulls, over
    /// six row groups (pyarrow 26.0.1, tests/fixtures/make_parquet_types.py).
    #[test]
    fn parquet_columns_read_what_the_row_reader_reads() {
        let reader = SerializedFileReader::new(fixture("parquet_types.parquet")).unwrap();
        let fast = parquet_columns(&reader, None).unwrap().expect("every column is one the column reader takes");
        let rows = parquet_rows(&reader).unwrap();
        same(&fast, &rows);
        assert_eq!(fast.rows, 53);
        assert!(matches!(fast.column("label").unwrap(), Column::Text(_)));
        assert_eq!(fast.labels("label").unwrap()[3], "");
        assert!(fast.numeric_or_missing("y").unwrap()[3].is_nan());
        assert_eq!(fast.numeric("day").unwrap()[0], 20_454.0); // 2026-01-01 as its day number
        assert_eq!(fast.numeric("i64").unwrap_err().to_string(), "i64: row 4: missing or not a finite number");
        // a timestamp column takes the row reader, and the file reads the same through either door
        let reader = SerializedFileReader::new(fixture("parquet_timestamps.parquet")).unwrap();
        assert!(parquet_columns(&reader, None).unwrap().is_none());
        let with_ts = parse_panel(&fixture("parquet_timestamps.parquet"), PanelFormat::Parquet).unwrap();
        assert_eq!(with_ts.labels("at").unwrap()[0], "2026-01-01T12:00:00Z");
        let typed = parse_panel(&fixture("parquet_types.parquet"), PanelFormat::Parquet).unwrap();
        same(&typed, &rows);
        // a BOOLEAN column is flags (an export's breakdown), a DATE column days, a DOUBLE neither
        assert!(typed.holds_flags("flag") && !typed.holds_flags("y") && !typed.holds_flags("day"));
        assert!(typed.holds_days("day") && !typed.holds_days("flag"));
        // only the columns asked for are read; the others are named as not read
        let wanted = ["y".to_string(), "label".to_string()];
        let some = parse_panel_columns(&fixture("parquet_types.parquet"), PanelFormat::Parquet, Some(&wanted)).unwrap();
        assert_eq!((some.rows, &some.names), (rows.rows, &rows.names));
        let bits = |t: &Table| t.numeric_or_missing("y").unwrap().mapv(f64::to_bits);
        assert_eq!(bits(&some), bits(&rows));
        assert_eq!(some.labels("label").unwrap(), rows.labels("label").unwrap());
        let e = some.numeric("day").unwrap_err().to_string();
        assert!(e.contains("day") && e.contains("was not read"), "{e}");
    }

    /// A string column longer than the column reader's batch of 65,536 records, with nulls, in
    /// two row groups of different lengths (one not a multiple of the batch, one past two
    /// batches), and a required one beside it: the column reader gives what the row reader gives,
    /// row for row, the nulls as empty cells, each distinct value kept once.
    #[test]
    fn long_string_columns_with_nulls_read_as_the_row_reader_reads_them() {
        use parquet::data_type::{ByteArray, ByteArrayType};
        let mut out = Vec::new();
        let mut w = parquet_writer(&mut out, "message m { optional binary geo (UTF8); required binary day (UTF8); }");
        let mut row = 0usize;
        for len in [70_001usize, 140_000] {
            let mut rg = w.next_row_group().unwrap();
            let defs: Vec<i16> = (row..row + len).map(|i| i16::from(i % 7 != 3)).collect();
            let geos: Vec<ByteArray> = (row..row + len)
                .filter(|i| i % 7 != 3)
                .map(|i| ByteArray::from(format!("geo_{:03}", i % 211).as_str()))
                .collect();
            let days: Vec<ByteArray> =
                (row..row + len).map(|i| ByteArray::from(format!("2026-01-{:02}", 1 + i % 28).as_str())).collect();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<ByteArrayType>().write_batch(&geos, Some(&defs), None).unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<ByteArrayType>().write_batch(&days, None, None).unwrap();
            col.close().unwrap();
            rg.close().unwrap();
            row += len;
        }
        w.close().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(out)).unwrap();
        let fast = parquet_columns(&reader, None).unwrap().expect("string columns are the column reader's");
        same(&fast, &parquet_rows(&reader).unwrap());
        assert_eq!(fast.rows, 210_001);
        let Column::Text(geo) = fast.column("geo").unwrap() else { panic!("geo is text") };
        assert_eq!((&geo[3], &geo[4], &geo[70_004]), ("", "geo_004", "geo_163"));
        assert_eq!(geo.levels().len(), 212, "211 names and the empty cell");
        let Column::Text(day) = fast.column("day").unwrap() else { panic!("day is text") };
        assert_eq!((&day[0], &day[210_000], day.levels().len()), ("2026-01-01", "2026-01-01", 28));
    }

    /// A Parquet file of two row groups: `campaign` (INT64; Meta-sized ids only in the second
    /// group when `big`), `small` (INT64 below 2^53) and `y` (DOUBLE).
    fn parquet_with_ids(big: bool) -> Vec<u8> {
        use parquet::data_type::{DoubleType, Int64Type};
        let mut out = Vec::new();
        let mut w =
            parquet_writer(&mut out, "message m { required int64 campaign; required int64 small; required double y; }");
        for g in 0..2i64 {
            let ids: Vec<i64> =
                (0..3).map(|i| if big && g == 1 { 120_210_000_000_000_001 + i } else { 1_000 + i }).collect();
            let mut rg = w.next_row_group().unwrap();
            for c in 0..3 {
                let mut col = rg.next_column().unwrap().unwrap();
                match c {
                    0 => col.typed::<Int64Type>().write_batch(&ids, None, None).unwrap(),
                    1 => col.typed::<Int64Type>().write_batch(&[(1 << 53) - 1, -5, 7], None, None).unwrap(),
                    _ => col.typed::<DoubleType>().write_batch(&[0.5, 1.5, 2.5], None, None).unwrap(),
                };
                col.close().unwrap();
            }
            rg.close().unwrap();
        }
        w.close().unwrap();
        out
    }

    /// Whole numbers a double cannot hold (Meta's 18-digit campaign ids) make their column text,
    /// in Parquet (an INT64 column, the ids in the second row group only) and in JSON rows, as
    /// they do in a CSV file: the ids stay apart instead of falling together.
    #[test]
    fn ids_beyond_2_53_are_text_in_parquet_and_json_rows() {
        let plain = parse_panel(&parquet_with_ids(false), PanelFormat::Parquet).unwrap();
        assert!(matches!(plain.column("campaign").unwrap(), Column::Num(_)));
        let t = parse_panel(&parquet_with_ids(true), PanelFormat::Parquet).unwrap();
        assert_eq!(
            t.labels("campaign").unwrap(),
            ["1000", "1001", "1002", "120210000000000001", "120210000000000002", "120210000000000003"]
        );
        assert!(matches!(t.column("campaign").unwrap(), Column::Text(_)));
        assert_eq!(t.numeric("small").unwrap()[0], 9_007_199_254_740_991.0);
        assert_eq!(t.numeric("y").unwrap().to_vec(), [0.5, 1.5, 2.5, 0.5, 1.5, 2.5]);
        let rows: Vec<Row> = serde_json::from_str(
            r#"[{"campaign": 120210000000000001, "y": 1}, {"campaign": 120210000000000002, "y": 2},
                {"campaign": -9007199254740993, "y": 3}]"#,
        )
        .unwrap();
        let t = table_from_rows(&rows).unwrap();
        assert_eq!(t.labels("campaign").unwrap(), ["120210000000000001", "120210000000000002", "-9007199254740993"]);
        assert!(matches!(t.column("y").unwrap(), Column::Num(_)));
        // JSON's booleans are a flag's 1 and 0
        let rows: Vec<Row> = serde_json::from_str(r#"[{"d": true}, {"d": false}, {"d": null}]"#).unwrap();
        let d = table_from_rows(&rows).unwrap().numeric_or_missing("d").unwrap();
        assert_eq!((d[0], d[1], d[2].is_nan()), (1.0, 0.0, true));
        // numbers as a spreadsheet shows them (the Google Sheets API's default) are numbers, as
        // a CSV's are; identifiers written as strings stay labels
        let rows: Vec<Row> = serde_json::from_str(
            r#"[{"spend": "$1,234.50", "ctr": "2.20%", "net": "(12)", "id": "001"},
                {"spend": 958.98, "ctr": "0.5%", "net": "7", "id": "002"},
                {"spend": null, "ctr": "", "net": "-3", "id": "003"}]"#,
        )
        .unwrap();
        let t = table_from_rows(&rows).unwrap();
        let spend = t.numeric_or_missing("spend").unwrap();
        assert_eq!((spend[0], spend[1], spend[2].is_nan()), (1234.5, 958.98, true));
        let ctr = t.numeric_or_missing("ctr").unwrap();
        assert_eq!((ctr[0], ctr[1], ctr[2].is_nan()), (0.022, 0.005, true));
        assert_eq!(t.numeric("net").unwrap().to_vec(), [-12.0, 7.0, -3.0]);
        assert_eq!(t.labels("id").unwrap(), ["001", "002", "003"]);
        let rows: Vec<Row> = serde_json::from_str(
            r#"[{"treated": "Yes", "y": 1}, {"treated": "no", "y": 2}, {"treated": null, "y": 3}]"#,
        )
        .unwrap();
        let t = table_from_rows(&rows).unwrap();
        let d = t.numeric_or_missing("treated").unwrap();
        assert_eq!((d[0], d[1], d[2].is_nan(), t.holds_flags("treated")), (1.0, 0.0, true, true));
    }

    /// A Parquet file's text columns read as a CSV's: flags, numbers as a spreadsheet shows
    /// them, identifiers as labels.
    #[test]
    fn parquet_text_columns_read_as_a_csv_reads_them() {
        use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
        let text: [[&str; 3]; 4] =
            [["$1,234.50", "958.98", "(12)"], ["2.20%", "0.5%", "1%"], ["Yes", "no", "TRUE"], ["001", "002", "003"]];
        let mut out = Vec::new();
        let mut w = parquet_writer(
            &mut out,
            "message m { required binary spend (UTF8); required binary ctr (UTF8); required binary treated (UTF8);
                 required binary id (UTF8); required double y; }",
        );
        let mut rg = w.next_row_group().unwrap();
        for c in 0..5 {
            let mut col = rg.next_column().unwrap().unwrap();
            match text.get(c) {
                Some(v) => {
                    let v: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(*s)).collect();
                    col.typed::<ByteArrayType>().write_batch(&v, None, None).unwrap()
                }
                None => col.typed::<DoubleType>().write_batch(&[1.0, 2.0, 3.0], None, None).unwrap(),
            };
            col.close().unwrap();
        }
        rg.close().unwrap();
        w.close().unwrap();
        let t = parse_panel(&out, PanelFormat::Parquet).unwrap();
        let csv = "spend,ctr,treated,id,y\n\"$1,234.50\",2.20%,Yes,001,1\n958.98,0.5%,no,002,2\n(12),1%,TRUE,003,3\n";
        let c = Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
        assert_eq!(t.numeric("spend").unwrap().to_vec(), [1234.5, 958.98, -12.0]);
        assert_eq!(t.numeric("ctr").unwrap().to_vec(), [0.022, 0.005, 0.01]);
        assert_eq!(t.numeric("treated").unwrap().to_vec(), [1.0, 0.0, 1.0]);
        assert!(t.holds_flags("treated") && c.holds_flags("treated"));
        assert_eq!(t.labels("id").unwrap(), ["001", "002", "003"]);
        for n in ["spend", "ctr", "treated", "y"] {
            assert_eq!(t.numeric(n).unwrap(), c.numeric(n).unwrap(), "{n}");
        }
    }

    fn fixture_file(name: &str) -> std::fs::File {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
        std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A file on disk, its columns read at their offsets on several threads, reads what its
    /// bytes read: every type with nulls over six row groups, the row reader's fallback
    /// (timestamps), and a subset of the columns.
    #[test]
    fn a_parquet_file_reads_what_its_bytes_read() {
        for name in ["parquet_types.parquet", "parquet_timestamps.parquet"] {
            let from_file = parse_parquet_file(fixture_file(name), None).unwrap();
            same(&from_file, &parse_panel(&fixture(name), PanelFormat::Parquet).unwrap());
        }
        let wanted = ["y".to_string(), "label".to_string()];
        let some = parse_parquet_file(fixture_file("parquet_types.parquet"), Some(&wanted)).unwrap();
        let bytes =
            parse_panel_columns(&fixture("parquet_types.parquet"), PanelFormat::Parquet, Some(&wanted)).unwrap();
        assert_eq!(some.names, bytes.names);
        assert_eq!(some.labels("label").unwrap(), bytes.labels("label").unwrap());
        let bits = |t: &Table| t.numeric_or_missing("y").unwrap().mapv(f64::to_bits);
        assert_eq!(bits(&some), bits(&bytes));
        assert!(some.numeric("day").unwrap_err().to_string().contains("was not read"));
    }

    /// A cut-off file is an error naming the panel, not a shorter table; a range past the end
    /// is refused before it is allocated.
    #[test]
    fn a_cut_off_parquet_file_is_an_error() {
        use parquet::file::reader::ChunkReader;
        let whole = fixture("parquet_types.parquet");
        let dir = std::env::temp_dir().join(format!("liftos-parquet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for cut in [0, 4, whole.len() / 2, whole.len() - 9] {
            let path = dir.join(format!("cut{cut}.parquet"));
            std::fs::write(&path, &whole[..cut]).unwrap();
            let e = parse_parquet_file(std::fs::File::open(&path).unwrap(), None).unwrap_err();
            assert_eq!(e.field(), "panel", "{e:?}");
            assert!(e.summary().contains("not a readable Parquet file"), "{}", e.summary());
        }
        // the footer intact, the column data zeroed: an error, not a panic or a table of zeros
        let mut zeroed = whole.to_vec();
        zeroed[4..whole.len() / 2].fill(0);
        let path = dir.join("zeroed.parquet");
        std::fs::write(&path, &zeroed).unwrap();
        let e = parse_parquet_file(std::fs::File::open(&path).unwrap(), None).unwrap_err();
        assert_eq!(e.field(), "panel", "{e:?}");
        let at = FileAt::new(fixture_file("parquet_types.parquet")).unwrap();
        assert_eq!(at.get_bytes(0, 4).unwrap().as_ref(), b"PAR1");
        assert_eq!(at.get_bytes(at.len - 4, 4).unwrap().as_ref(), b"PAR1");
        assert!(at.get_bytes(at.len - 3, 4).is_err());
        assert!(at.get_bytes(u64::MAX, usize::MAX).is_err());
        let mut r = at.get_read(at.len - 4).unwrap();
        let mut tail = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut tail).unwrap();
        assert_eq!(tail, b"PAR1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
