//! Excel workbooks as exports: the "Excel" downloads of Google Ads, Meta Ads Manager and LinkedIn
//! Campaign Manager (`.xlsx`), and older `.xls` or OpenDocument `.ods` sheets, read with calamine
//! into the comma-separated text every other export becomes, so the same header search, column
//! map, quality checks and line numbers apply. What calamine would crash on (a reference past
//! the sheet's last cell, dimensions of billions of cells) is refused before it reads the file.

use std::io::Cursor;

use calamine::{Data, Reader};

/// The largest sheet read: what its cells hold uncompressed, as the workbook declares it (the
/// same cap as a panel's bytes), so a small file that expands to gigabytes is refused unread.
pub const MAX_UNCOMPRESSED_BYTES: u64 = 512 * 1024 * 1024;

/// A file named as a workbook (`report.xlsx`, `old.XLS`, `sheet.ods`).
pub fn is_workbook_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [".xlsx", ".xls", ".ods"].iter().any(|x| name.ends_with(x))
}

/// A workbook: a ZIP archive (`.xlsx`, `.ods`) or an OLE compound file (`.xls`).
pub fn is_workbook(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

/// The workbook's first sheet that holds anything, as UTF-8 comma-separated text: one line per
/// sheet row from the sheet's first row (so an error's line is the row Excel shows), fields
/// quoted where they hold a comma, a quote or a line break. Numbers are written as the shortest
/// text that reads back to the same double; a date cell as `2026-11-01` (with its time,
/// `2026-11-01 13:00:00`, where it has one); a formula's error as Excel shows it (`#DIV/0!`).
/// A reader that panics on a malformed workbook is an error naming it, never a crash of the
/// stage or a 500.
pub fn workbook_text(bytes: &[u8]) -> Result<String, String> {
    std::panic::catch_unwind(|| read_workbook(bytes))
        .unwrap_or_else(|_| Err("not a readable workbook: its reader failed on it".to_string()))
}

/// Excel's last column (XFD) and last row: a cell reference beyond them is not from a sheet any
/// spreadsheet wrote, and calamine's reading of it would overflow (a wrong cell in a release
/// build, a panic in a checked one), so it is refused before calamine sees it.
const LAST_COLUMN: u64 = 16_384;
const LAST_ROW: u64 = 1_048_576;

fn read_workbook(bytes: &[u8]) -> Result<String, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        let mut archive =
            zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable workbook: {e}"))?;
        let declared: u64 = archive.decompressed_size().map_or(u64::MAX, |n| u64::try_from(n).unwrap_or(u64::MAX));
        if declared > MAX_UNCOMPRESSED_BYTES {
            return Err(format!(
                "the workbook holds {declared} bytes uncompressed; at most {MAX_UNCOMPRESSED_BYTES} are read"
            ));
        }
        references_within_limits(&mut archive)?;
        ods_cells_within_limits(&mut archive)?;
    } else if is_workbook(bytes) {
        biff_within_limits(bytes)?;
    }
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("not a readable workbook (.xlsx, .xls or .ods): {e}"))?;
    let names = book.sheet_names();
    for name in &names {
        let sheet = match &mut book {
            // an .xlsx sheet is read cell by cell: calamine's dense range would allocate every
            // cell between A1 and the farthest one before the used range could be checked
            calamine::Sheets::Xlsx(xlsx) => xlsx_cells(xlsx, name)?,
            other => {
                let range = other.worksheet_range(name).map_err(|e| format!("sheet {name:?}: {e}"))?;
                let start = range.start().unwrap_or((0, 0));
                range.used_cells().map(|(r, c, v)| (start.0 + r as u32, start.1 + c as u32, v.clone())).collect()
            }
        };
        if !sheet.is_empty() {
            return sheet_text(name, sheet);
        }
    }
    Err(format!("the workbook's sheets ({}) are empty", names.join(", ")))
}

/// Every `r` and `ref` attribute (cells, rows, the dimension, merged cells, tables, formulas) of
/// the workbook's parts within Excel's last column and row, and the shared strings' declared count
/// within what their part could hold. Every part is scanned, whatever its
/// name: calamine finds a sheet through the workbook's relationships, matching names without
/// case and with either slash, and reads it as XML whatever its extension. An Excel binary
/// workbook (`.xlsb`, `xl/workbook.bin`) is refused: calamine would read its sheets as a dense
/// range of every cell up to the farthest one, and no check here reads its records.
fn references_within_limits<R: std::io::Read + std::io::Seek>(archive: &mut zip::ZipArchive<R>) -> Result<(), String> {
    use std::io::Read;
    for i in 0..archive.len() {
        let Some(Ok(name)) = archive.name_for_index(i).map(|n| n.map(|n| n.to_string())) else { continue };
        if name.replace('\\', "/").eq_ignore_ascii_case("xl/workbook.bin") {
            return Err(
                "an Excel binary workbook (.xlsb) is not read: save it as .xlsx or CSV from Excel (File > Save As)"
                    .to_string(),
            );
        }
        // a part the zip reader cannot open is calamine's to refuse if the sheet needs it (a
        // damaged theme does not stop the sheet being read); one that fails part way (a wrong
        // checksum at its end) is scanned as far as it reads, as calamine reads it as a stream
        let Ok(mut part) = archive.by_index(i) else { continue };
        let mut xml = Vec::new();
        let _ = part.read_to_end(&mut xml);
        if let Some(reference) = reference_beyond_limits(&xml) {
            return Err(format!(
                "not a readable workbook: {name} refers to cell {reference:?}, beyond a sheet's last column and row (XFD{LAST_ROW})"
            ));
        }
        if let Some(n) = strings_beyond_part(&xml) {
            return Err(format!("not a readable workbook: {name} declares {n} shared strings in {} bytes", xml.len()));
        }
    }
    Ok(())
}

/// The most cells of an `.ods` or `.xls` sheet read: calamine holds every cell of its sheets
/// (an `.ods`'s repeats expanded, an `.xls`'s range from its first to its last cell) as a value
/// and a formula, some 70 bytes a cell, before the range is built: 8 Mi cells is some 600 MB.
pub const MAX_DENSE_CELLS: u64 = 8 * 1024 * 1024;

/// An `.ods`'s `content.xml` expands to at most [`MAX_DENSE_CELLS`] cells, counted as calamine
/// expands them: in each row, the columns up to its last cell that holds anything (a cell's
/// `table:number-columns-repeated` copies, at most Excel's last column a row); over the rows from
/// the first to the last that hold anything, their `table:number-rows-repeated` copies times the
/// widest row. A 10 KB file can otherwise declare a million rows of 16,384 copies of a number,
/// which calamine would expand until the process is killed. A cell holds something when it has
/// an `office:` value or a formula, or content; the count errs towards more, never fewer.
fn ods_cells_within_limits<R: std::io::Read + std::io::Seek>(archive: &mut zip::ZipArchive<R>) -> Result<(), String> {
    use std::io::Read;
    let Ok(mut part) = archive.by_name("content.xml") else { return Ok(()) };
    let mut xml = Vec::new();
    let _ = part.read_to_end(&mut xml);
    let (held, rows, widest) = ods_extent(&xml);
    if held > MAX_DENSE_CELLS || rows.saturating_mul(widest) > MAX_DENSE_CELLS {
        return Err(format!(
            "the workbook's sheets expand to {} rows by {widest} columns ({held} cells written out); at most {MAX_DENSE_CELLS} cells of an .ods are read",
            rows
        ));
    }
    Ok(())
}

/// The cells calamine keeps of an `.ods` (each row up to its last held cell), the rows between
/// the first and the last held ones (repeats counted), and the widest row.
fn ods_extent(xml: &[u8]) -> (u64, u64, u64) {
    let (mut held, mut rows, mut widest) = (0u64, 0u64, 0u64);
    // depth: 1 in a sheet's row, more in a table nested in one of its cells (which calamine skips)
    let (mut row_repeats, mut column, mut extent, mut depth) = (1u64, 0u64, 0u64, 0u32);
    let (mut seen, mut pending) = (false, 0u64);
    let mut end_row = |row_repeats: u64, extent: u64| {
        if extent > 0 {
            held = held.saturating_add(extent);
            rows = rows.saturating_add(pending).saturating_add(row_repeats);
            (pending, seen, widest) = (0, true, widest.max(extent));
        } else if seen {
            pending = pending.saturating_add(row_repeats);
        }
    };
    let mut at = 0;
    while let Some(open) = xml[at..].iter().position(|&b| b == b'<').map(|p| at + p) {
        // comments, CDATA and processing instructions hold no tags calamine reads
        if let Some((_, close)) = [(&b"<!--"[..], &b"-->"[..]), (b"<![CDATA[", b"]]>"), (b"<?", b"?>")]
            .into_iter()
            .find(|(start, _)| xml[open..].starts_with(start))
        {
            let Some(end) = xml[open..].windows(close.len()).position(|w| w == close) else { break };
            at = open + end + close.len();
            continue;
        }
        let Some(tag) = xml_tag(xml, open) else { break };
        at = tag.end;
        match (tag.closing, tag.name) {
            (false, b"table:table-row") if depth == 0 => {
                row_repeats = tag.attribute(b"table:number-rows-repeated").unwrap_or(1).clamp(1, LAST_ROW);
                (column, extent) = (0, 0);
                if tag.self_closing {
                    end_row(row_repeats, 0);
                } else {
                    depth = 1;
                }
            }
            (false, b"table:table-row") if !tag.self_closing => depth += 1,
            (true, b"table:table-row") if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    end_row(row_repeats, extent);
                }
            }
            (false, b"table:table-cell" | b"table:covered-table-cell") if depth == 1 => {
                let repeats = tag.attribute(b"table:number-columns-repeated").unwrap_or(1).max(1);
                column = column.saturating_add(repeats).min(LAST_COLUMN);
                if !tag.self_closing || tag.holds_value {
                    extent = column;
                }
            }
            _ => {}
        }
    }
    (held, rows, widest)
}

/// One XML tag: its name, whether it closes (`</x>`) or is self-closing (`<x/>`), where it
/// ends, its attributes' raw values by name, and whether one is a value (`office:*`) or a
/// formula. Quoted values may hold `>`.
struct XmlTag<'a> {
    name: &'a [u8],
    closing: bool,
    self_closing: bool,
    holds_value: bool,
    attributes: Vec<(&'a [u8], &'a [u8])>,
    end: usize,
}

impl XmlTag<'_> {
    fn attribute(&self, name: &[u8]) -> Option<u64> {
        let (_, value) = self.attributes.iter().find(|(n, _)| *n == name)?;
        std::str::from_utf8(value).ok()?.trim().parse().ok()
    }
}

fn xml_tag(xml: &[u8], open: usize) -> Option<XmlTag<'_>> {
    let mut at = open + 1;
    let closing = xml.get(at) == Some(&b'/');
    at += usize::from(closing);
    let name_len = xml[at..].iter().position(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')?;
    let name = &xml[at..at + name_len];
    at += name_len;
    let mut tag = XmlTag { name, closing, self_closing: false, holds_value: false, attributes: Vec::new(), end: at };
    loop {
        while xml.get(at)?.is_ascii_whitespace() {
            at += 1;
        }
        match xml[at] {
            b'>' => break,
            b'/' => {
                tag.self_closing = true;
                at += 1;
                continue;
            }
            _ => {}
        }
        let eq = xml[at..].iter().position(|&b| b == b'=' || b == b'>')? + at;
        if xml[eq] == b'>' {
            at = eq;
            break;
        }
        let key = xml[at..eq].trim_ascii();
        let mut value_at = eq + 1;
        while xml.get(value_at)?.is_ascii_whitespace() {
            value_at += 1;
        }
        let quote = xml[value_at];
        if quote != b'"' && quote != b'\'' {
            at = value_at;
            continue;
        }
        let close = xml[value_at + 1..].iter().position(|&b| b == quote)? + value_at + 1;
        if key.starts_with(b"office:") || key == b"table:formula" {
            tag.holds_value = true;
        }
        tag.attributes.push((key, &xml[value_at + 1..close]));
        at = close + 1;
    }
    tag.end = at + 1;
    Some(tag)
}

/// Every `name="value"` (or `'value'`) of `xml` whose name follows white space, found by
/// scanning, not parsing: inside comments and other attributes' values too, so a check over them
/// misses none that calamine's XML reader sees (its attribute names matched in full: `x:r` is
/// not `r`).
fn attributes(xml: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || loop {
        let eq = at + xml[at..].iter().position(|&b| b == b'=')?;
        at = eq + 1;
        let name_end = xml[..eq].iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |p| p + 1);
        let name_start =
            xml[..name_end].iter().rposition(|b| !b.is_ascii_alphanumeric() && *b != b'_').map_or(0, |p| p + 1);
        if !name_start.checked_sub(1).is_some_and(|p| xml[p].is_ascii_whitespace()) {
            continue;
        }
        let open = at + xml[at..].iter().position(|b| !b.is_ascii_whitespace())?;
        let quote = xml[open];
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        let close = open + 1 + xml[open + 1..].iter().position(|&b| b == quote)?;
        return Some((&xml[name_start..name_end], &xml[open + 1..close]));
    })
}

/// The first value of an `r=` or `ref=` attribute with a part (split at `:`) whose leading
/// letters (the column) or digits after them (the row) pass Excel's last column or row.
fn reference_beyond_limits(xml: &[u8]) -> Option<String> {
    attributes(xml)
        .find(|&(name, value)| {
            (name == b"r" || name == b"ref") && value.split(|&b| b == b':').any(|part| !within_limits(part))
        })
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
}

/// A `uniqueCount=` (the shared strings' count, for which calamine reserves room before reading
/// one: 24 bytes each, so 2 billion aborted the process asking for 48 GB) larger than the part
/// could hold: a string takes at least 5 bytes (`<si/>`).
fn strings_beyond_part(xml: &[u8]) -> Option<u64> {
    attributes(xml).filter(|&(name, _)| name == b"uniqueCount").find_map(|(_, value)| {
        let n = value
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0u64, |n, &d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')));
        (n > xml.len() as u64 / 4).then_some(n)
    })
}

/// A reference's leading column letters and the row digits after them, read as calamine reads
/// them, stop at Excel's last column and row (whatever follows is calamine's to refuse).
fn within_limits(reference: &[u8]) -> bool {
    let letters = reference.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let mut column = 0u64;
    for &b in &reference[..letters] {
        column = column * 26 + u64::from(b.to_ascii_uppercase() - b'A') + 1;
        if column > LAST_COLUMN {
            return false;
        }
    }
    let mut row = 0u64;
    for &b in reference[letters..].iter().take_while(|b| b.is_ascii_digit()) {
        row = row * 10 + u64::from(b - b'0');
        if row > LAST_ROW {
            return false;
        }
    }
    true
}

/// An `.xls` (BIFF records in an OLE compound file), which calamine reads whole when it opens
/// it: its sheets' declared dimensions and the cells' positions span at most [`MAX_DENSE_CELLS`], and each sheet starts inside the stream. Otherwise calamine would reserve or fill a
/// range of billions of cells (a 1 KB file whose dimensions say 4 billion rows), which aborts
/// the process instead of failing. The records are scanned from the stream's start and from each
/// sheet's start to the end (more than calamine reads, never less), in the stream calamine will
/// read: the container is read as calamine reads it ([`super::ole`]), refusing what would make
/// it loop or read past the file.
fn biff_within_limits(bytes: &[u8]) -> Result<(), String> {
    let file = super::ole::Ole::read(bytes)?;
    // calamine reads the first stream named Workbook, any case, anywhere in the directory, and
    // the first named Book when that fails: both are checked
    let streams: Vec<Vec<u8>> = ["Workbook", "Book"].iter().filter_map(|n| file.stream(n)).collect::<Result<_, _>>()?;
    if streams.is_empty() {
        return Err(if file.has("EncryptedPackage") {
            "the workbook is password-protected: open it in Excel, remove the password and save it again".to_string()
        } else {
            "not a readable workbook: the file holds no Workbook stream (an Excel 97-2003 .xls)".to_string()
        });
    }
    for stream in streams {
        if stream.len() as u64 > MAX_UNCOMPRESSED_BYTES {
            return Err(format!(
                "the workbook holds {} bytes; at most {MAX_UNCOMPRESSED_BYTES} are read",
                stream.len()
            ));
        }
        biff_records_within_limits(&stream)?;
    }
    Ok(())
}

/// One BIFF stream's records (see [`biff_within_limits`]).
fn biff_records_within_limits(stream: &[u8]) -> Result<(), String> {
    let records = |from: usize| {
        let mut at = from;
        std::iter::from_fn(move || {
            let head = stream.get(at..at + 4)?;
            let (typ, len) =
                (u16::from_le_bytes([head[0], head[1]]), usize::from(u16::from_le_bytes([head[2], head[3]])));
            let data = stream.get(at + 4..at + 4 + len)?;
            at += 4 + len;
            Some((typ, data))
        })
    };
    let u16_at = |d: &[u8], i: usize| u64::from(u16::from_le_bytes([d[i], d[i + 1]]));
    let u32_at = |d: &[u8], i: usize| u64::from(u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]));
    let mut starts = vec![0usize];
    for (typ, data) in records(0) {
        // BoundSheet8: where a sheet's records start
        if typ == 0x0085 && data.len() >= 4 {
            let start = u32_at(data, 0);
            if start > stream.len() as u64 {
                return Err(format!(
                    "not a readable workbook: a sheet starts at byte {start} of a {}-byte stream",
                    stream.len()
                ));
            }
            starts.push(start as usize);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    if starts.len() > 257 {
        return Err(format!("the workbook has {} sheets; at most 256 are read", starts.len() - 1));
    }
    let too_large = |rows: u64, cols: u64| {
        Err(format!("a sheet of the workbook spans {rows} rows by {cols} columns; at most {MAX_DENSE_CELLS} cells of an .xls are read"))
    };
    let (mut last_row, mut last_col) = (0u64, 0u64);
    for start in starts {
        for (typ, d) in records(start) {
            match typ {
                // Dimensions, read as calamine reads them: first and last-plus-one row and column
                0x0200 if matches!(d.len(), 10 | 14 | 16) => {
                    let (rf, rl, cf, cl) = if d.len() == 10 {
                        (u16_at(d, 0), u16_at(d, 2), u16_at(d, 4), u16_at(d, 6))
                    } else {
                        (u32_at(d, 0), u32_at(d, 4), u16_at(d, 8), u16_at(d, 10))
                    };
                    let cf = if cf > 0xFF || cl < cf { 0 } else { cf };
                    if rl >= 1 && cl >= 1 {
                        if rf > rl - 1 || cf > cl - 1 {
                            return Err(format!(
                                "not a readable workbook: a sheet's dimensions start after they end (rows {rf} to {rl}, columns {cf} to {cl})"
                            ));
                        }
                        if (rl - rf).saturating_mul(cl - cf) > MAX_DENSE_CELLS {
                            return too_large(rl - rf, cl - cf);
                        }
                    }
                }
                // a cell: Number, Label, RString, BoolErr, RK, LabelSst, Formula
                0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 if d.len() >= 4 => {
                    (last_row, last_col) = (last_row.max(u16_at(d, 0)), last_col.max(u16_at(d, 2)));
                }
                // MulRk: a row's run of numbers from its first to its last column
                0x00BD if d.len() >= 6 => {
                    let (first, last) = (u16_at(d, 2), u16_at(d, d.len() - 2));
                    if last < first {
                        return Err(format!(
                            "not a readable workbook: a run of cells ends (column {last}) before it starts ({first})"
                        ));
                    }
                    (last_row, last_col) = (last_row.max(u16_at(d, 0)), last_col.max(last));
                }
                _ => {}
            }
        }
    }
    if (last_row + 1) * (last_col + 1) > MAX_DENSE_CELLS {
        return too_large(last_row + 1, last_col + 1);
    }
    Ok(())
}

fn xlsx_cells<R: std::io::Read + std::io::Seek>(
    book: &mut calamine::Xlsx<R>,
    name: &str,
) -> Result<Vec<(u32, u32, Data)>, String> {
    let mut reader = match book.worksheet_cells_reader(name) {
        Ok(reader) => reader,
        // a chart sheet: nothing to read, as calamine's range of it is empty
        Err(calamine::XlsxError::NotAWorksheet(_)) => return Ok(Vec::new()),
        Err(e) => return Err(format!("sheet {name:?}: {e}")),
    };
    let mut cells = Vec::new();
    while let Some(cell) = reader.next_cell().map_err(|e| format!("sheet {name:?}: {e}"))? {
        if *cell.get_value() != calamine::DataRef::Empty {
            let (row, column) = cell.get_position();
            cells.push((row, column, Data::from(cell.get_value().clone())));
        }
    }
    Ok(cells)
}

/// A sheet's cells as text: one line per sheet row from its first row (so an error's line is the
/// row Excel shows), each over the used range's columns; a cell given twice keeps its last value,
/// as calamine's range does. A used range whose empty cells alone (one separator each) would pass
/// the byte cap is refused before a line is written.
fn sheet_text(name: &str, mut cells: Vec<(u32, u32, Data)>) -> Result<String, String> {
    let (mut first_row, mut last_row, mut first_col, mut last_col) = (u32::MAX, 0, u32::MAX, 0);
    for &(r, c, _) in &cells {
        (first_row, last_row, first_col, last_col) =
            (first_row.min(r), last_row.max(r), first_col.min(c), last_col.max(c));
    }
    let lines = u64::from(last_row) + 1;
    let fields = u64::from(last_col) + 1;
    // a row is written as one record of that many fields: cells placed one after the other
    // (no reference) could otherwise put one past any sheet's last column
    if fields > LAST_COLUMN {
        return Err(format!("sheet {name:?} has a cell in column {fields}; a sheet has at most {LAST_COLUMN} (XFD)"));
    }
    if lines.saturating_mul(fields) > MAX_UNCOMPRESSED_BYTES {
        return Err(format!(
            "sheet {name:?} spans {lines} rows by {fields} columns; at most {MAX_UNCOMPRESSED_BYTES} cells are read"
        ));
    }
    cells.sort_by_key(|&(r, c, _)| (r, c));
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .flexible(true)
        .from_writer(Vec::with_capacity(((last_row - first_row + 1) as usize).saturating_mul(64)));
    let write_err = |e: csv::Error| e.to_string();
    // rows above the used range: empty lines, so the lines count as the sheet's rows
    for _ in 0..first_row {
        out.write_record([""]).map_err(write_err)?;
    }
    let mut cells = cells.into_iter().peekable();
    let mut record = Vec::with_capacity(fields as usize);
    for row in first_row..=last_row {
        record.clear();
        record.resize(fields as usize, String::new());
        while let Some((_, c, value)) = cells.next_if(|&(r, _, _)| r == row) {
            record[c as usize] = cell_text(&value);
        }
        out.write_record(&record).map_err(write_err)?;
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(x) => x.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::Error(e) => e.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if d.is_datetime() && t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) if d.is_datetime() => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            _ => d.as_f64().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{CellErrorType, ExcelDateTime, ExcelDateTimeType};

    #[test]
    fn cells_are_written_as_the_text_the_csv_export_has() {
        let day = |serial: f64| Data::DateTime(ExcelDateTime::new(serial, ExcelDateTimeType::DateTime, false));
        for (cell, text) in [
            (Data::Empty, ""),
            (Data::Int(14719), "14719"),
            (Data::Float(1346.13), "1346.13"),
            (Data::Float(14719.0), "14719"),
            (Data::Float(0.1 + 0.2), "0.30000000000000004"),
            (Data::String("Brand, Search".into()), "Brand, Search"),
            (Data::Bool(true), "TRUE"),
            (Data::Error(CellErrorType::Div0), "#DIV/0!"),
            // Excel's serial days: 46327 is 2026-11-01, and a half day past it 12:00
            (day(46327.0), "2026-11-01"),
            (day(46327.5), "2026-11-01 12:00:00"),
            (Data::DateTimeIso("2026-11-01T00:00:00".into()), "2026-11-01T00:00:00"),
        ] {
            assert_eq!(cell_text(&cell), text, "{cell:?}");
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// The Google Ads fixture workbook with its sheet's XML replaced.
    fn workbook_with_sheet(sheet_data: &str) -> Vec<u8> {
        workbook_with_part("xl/worksheets/sheet1.xml", sheet_data)
    }

    /// The same, with the sheet stored under another name (calamine finds it without case).
    fn workbook_with_part(part_name: &str, sheet_data: &str) -> Vec<u8> {
        use std::io::Write;
        let bytes = fixture("exports/google_ads_campaign_report.xlsx");
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..archive.len() {
            let part = archive.by_index_raw(i).unwrap();
            if part.name().unwrap() == "xl/worksheets/sheet1.xml" {
                drop(part);
                out.start_file(part_name, zip::write::SimpleFileOptions::default()).unwrap();
                let xml = format!(
                    r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{sheet_data}</sheetData></worksheet>"#
                );
                out.write_all(xml.as_bytes()).unwrap();
            } else {
                out.raw_copy_file(part).unwrap();
            }
        }
        out.finish().unwrap().into_inner()
    }

    fn inline(reference: &str, text: &str) -> String {
        format!(r#"<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>"#)
    }

    /// A cell reference past Excel's last row or column (which calamine 0.38 reads with an
    /// overflowing multiplication: a panic in a checked build, a wrapped row, another cell's, in a
    /// release one) is refused naming it, before calamine reads the sheet.
    #[test]
    fn a_reference_beyond_the_last_row_or_column_is_refused() {
        for reference in ["A99999999999", "AAAAAAAAAA1", "XFE1", "A1048577"] {
            let book = workbook_with_sheet(&format!("<row>{}{}</row>", inline("A1", "Day"), inline(reference, "x")));
            let e = workbook_text(&book).unwrap_err();
            assert!(e.contains(&format!("refers to cell \"{reference}\"")), "{reference}: {e}");
        }
        // the same as a row's number, a merged range and in single quotes
        for sheet in [
            format!(r#"<row r="4294967297">{}</row>"#, inline("A1", "Day")),
            format!(
                r#"<row>{}</row></sheetData><mergeCells><mergeCell ref='A1:B99999999999'/></mergeCells><sheetData>"#,
                inline("A1", "Day")
            ),
        ] {
            let e = workbook_text(&workbook_with_sheet(&sheet)).unwrap_err();
            assert!(e.contains("beyond a sheet's last column and row"), "{e}");
        }
        // the sheet stored as XL/Worksheets/SHEET1.XML, which calamine finds all the same
        let e = workbook_text(&workbook_with_part(
            "XL/Worksheets/SHEET1.XML",
            &format!("<row>{}{}</row>", inline("A1", "Day"), inline("A99999999999", "x")),
        ))
        .unwrap_err();
        assert!(e.contains("XL/Worksheets/SHEET1.XML refers to cell \"A99999999999\""), "{e}");
        // cells without a reference are placed one after the other: 20,000 empty ones then a
        // value put it past the last column, where a row would be a record of 20,001 fields
        let far = format!("<row>{}<c t=\"inlineStr\"><is><t>x</t></is></c></row>", "<c/>".repeat(20_000));
        let e = workbook_text(&workbook_with_sheet(&far)).unwrap_err();
        assert!(e.contains("has a cell in column 20001; a sheet has at most 16384 (XFD)"), "{e}");
        // an Excel binary workbook is refused before calamine reads its records
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        out.start_file("xl/workbook.bin", zip::write::SimpleFileOptions::default()).unwrap();
        let xlsb = out.finish().unwrap().into_inner();
        assert!(workbook_text(&xlsb).unwrap_err().starts_with("an Excel binary workbook (.xlsb) is not read"));
        // the last cell itself is a sheet's, and the fuzzer's input (calamine panicked on it) is
        // an error naming the reference, not the reader's failure
        let book =
            workbook_with_sheet(&format!("<row>{}</row><row>{}</row>", inline("A1", "Day"), inline("B1048576", "x")));
        let text = workbook_text(&book).unwrap();
        assert_eq!((text.lines().count(), text.lines().last()), (1_048_576, Some(",x")));
        let e = workbook_text(&fixture("fuzz/panels-xlsx-reference-overflow.bin")[1..]).unwrap_err();
        assert!(e.contains("beyond a sheet's last column and row"), "{e}");
    }

    /// The shared strings' declared count, for which calamine reserves room before reading one
    /// (2 billion: 48 GB, which aborted the process), is refused past what the part could hold;
    /// a part declaring as many as it holds is read.
    #[test]
    fn shared_strings_declaring_more_than_their_part_holds_are_refused() {
        use std::io::Write;
        let with_strings = |unique: &str| {
            let sheet = format!("<row r=\"1\">{}<c r=\"B1\" t=\"s\"><v>0</v></c></row>", inline("A1", "Day"));
            let mut book = zip::ZipWriter::new_append(Cursor::new(workbook_with_sheet(&sheet))).unwrap();
            book.start_file("xl/sharedStrings.xml", zip::write::SimpleFileOptions::default()).unwrap();
            write!(
                book,
                r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount={unique}><si><t>Cost</t></si></sst>"#
            )
            .unwrap();
            book.finish().unwrap().into_inner()
        };
        assert_eq!(workbook_text(&with_strings("\"1\"")).unwrap(), "Day,Cost\n");
        let e = refused(&with_strings("\"2000000000\""));
        assert!(e.contains("xl/sharedStrings.xml declares 2000000000 shared strings in"), "{e}");
        let e = refused(&with_strings(" '99999999999999999999999'"));
        assert!(e.contains("declares 18446744073709551615 shared strings"), "{e}");
    }

    /// Two cells far apart (A1 and XFD1048576: a 200-byte sheet) would make calamine allocate all
    /// 17 billion cells between them and abort the process; read cell by cell, the sheet is
    /// refused by its size. Cells are written in the sheet's order whatever their order in the
    /// XML, and a cell given twice keeps its last value, as calamine's range does.
    #[test]
    fn a_sheet_is_read_cell_by_cell_and_its_used_range_capped() {
        let book = workbook_with_sheet(&format!("<row>{}{}</row>", inline("A1", "Day"), inline("XFD1048576", "x")));
        let e = workbook_text(&book).unwrap_err();
        assert!(e.contains("spans 1048576 rows by 16384 columns"), "{e}");
        let book = workbook_with_sheet(&format!(
            "<row r=\"3\">{}{}</row><row r=\"2\">{}{}{}</row>",
            inline("C3", "z"),
            inline("B3", "y"),
            inline("B2", "first"),
            inline("C2", "w"),
            inline("B2", "last")
        ));
        assert_eq!(workbook_text(&book).unwrap(), "\"\"\n,last,w\n,y,z\n");
    }

    /// The Google Ads fixture as a legacy `.xls` (xlwt 1.3.0, make_xlsx.py) reads to the same text
    /// as its `.xlsx` twin; its BIFF stream patched (a record's bytes replaced at the offset of its
    /// first match) is refused before calamine, which would abort the process reserving or filling
    /// billions of cells, or panic on a sheet that starts past the stream's end.
    #[test]
    fn an_xls_reads_as_its_xlsx_twin_and_its_records_are_checked_first() {
        use std::io::{Read, Write};
        let xls = fixture("exports/google_ads_campaign_report.xls");
        assert!(is_workbook(&xls));
        assert_eq!(
            workbook_text(&xls).unwrap(),
            workbook_text(&fixture("exports/google_ads_campaign_report.xlsx")).unwrap()
        );
        let patched = |find: &[u8], replace: &[u8]| {
            let mut file = cfb::CompoundFile::open(Cursor::new(xls.clone())).unwrap();
            let mut stream = Vec::new();
            file.open_stream("/Workbook").unwrap().read_to_end(&mut stream).unwrap();
            let at = stream.windows(find.len()).position(|w| w == find).unwrap();
            stream[at..at + replace.len()].copy_from_slice(replace);
            file.create_stream("/Workbook").unwrap().write_all(&stream).unwrap();
            file.flush().unwrap();
            file.into_inner().into_inner()
        };
        // Dimensions (0x0200, 14 bytes): rows 0 to 175, columns 0 to 10 as written by xlwt
        let dims = [0x00, 0x02, 14, 0, 0, 0, 0, 0, 175, 0, 0, 0, 0, 0, 10, 0];
        assert!(xls.windows(dims.len()).any(|w| w == dims), "xlwt's dimensions record");
        let four_billion_rows = [0x00, 0x02, 14, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 10, 0];
        let e = workbook_text(&patched(&dims, &four_billion_rows)).unwrap_err();
        assert!(e.contains("spans 4294967295 rows by 10 columns"), "{e}");
        // 65,535 rows by 200 columns: 13 million cells, some 900 MB in calamine, past 8 Mi
        let tall = [0x00, 0x02, 14, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0, 200, 0];
        let e = workbook_text(&patched(&dims, &tall)).unwrap_err();
        assert!(e.contains("spans 65535 rows by 200 columns; at most 8388608 cells of an .xls are read"), "{e}");
        let backwards = [0x00, 0x02, 14, 0, 200, 0, 0, 0, 175, 0, 0, 0, 0, 0, 10, 0];
        let e = workbook_text(&patched(&dims, &backwards)).unwrap_err();
        assert!(e.contains("dimensions start after they end"), "{e}");
        // the header's first label (LabelSst 0x00FD at row 2, column 0) moved to row and column 65535
        let label = [0xFD, 0x00, 10, 0, 2, 0, 0, 0];
        let e = workbook_text(&patched(&label, &[0xFD, 0x00, 10, 0, 0xFF, 0xFF, 0xFF, 0xFF])).unwrap_err();
        assert!(e.contains("spans 65536 rows by 65536 columns"), "{e}");
        // BoundSheet8 (0x0085): the sheet's records start past the stream
        let mut file = cfb::CompoundFile::open(Cursor::new(xls.clone())).unwrap();
        let mut stream = Vec::new();
        file.open_stream("/Workbook").unwrap().read_to_end(&mut stream).unwrap();
        let at = stream.windows(2).position(|w| w == [0x85, 0x00]).unwrap();
        let start: [u8; 4] = stream[at + 4..at + 8].try_into().unwrap();
        let mut beyond = vec![0x85, 0x00];
        beyond.extend_from_slice(&stream[at + 2..at + 4]);
        beyond.extend_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        let mut find = vec![0x85, 0x00];
        find.extend_from_slice(&stream[at + 2..at + 4]);
        find.extend_from_slice(&start);
        let e = workbook_text(&patched(&find, &beyond)).unwrap_err();
        assert!(e.contains("a sheet starts at byte 2147483647"), "{e}");
        // the stream stored as /Sub/WORKBOOK, where calamine finds it too; a file without one,
        // and a password-protected .xlsx (an OLE file holding the encrypted package)
        let mut stream = Vec::new();
        cfb::CompoundFile::open(Cursor::new(patched(&dims, &four_billion_rows)))
            .unwrap()
            .open_stream("/Workbook")
            .unwrap()
            .read_to_end(&mut stream)
            .unwrap();
        let ole = |storage: Option<&str>, name: &str, bytes: &[u8]| {
            let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
            if let Some(storage) = storage {
                file.create_storage(storage).unwrap();
            }
            file.create_stream(name).unwrap().write_all(bytes).unwrap();
            // a small stream, so that the root holds a mini stream (calamine refuses a version 4
            // file without one: "Empty Root directory")
            file.create_stream("/Note").unwrap().write_all(b"x").unwrap();
            file.flush().unwrap();
            file.into_inner().into_inner()
        };
        let e = workbook_text(&ole(Some("/Sub"), "/Sub/WORKBOOK", &stream)).unwrap_err();
        assert!(e.contains("spans 4294967295 rows"), "{e}");
        let e = workbook_text(&ole(None, "/Other", b"x")).unwrap_err();
        assert!(e.contains("holds no Workbook stream"), "{e}");
        let e = workbook_text(&ole(None, "/EncryptedPackage", b"x")).unwrap_err();
        assert!(e.starts_with("the workbook is password-protected"), "{e}");
        // what passes the checks and still panics calamine (its CodePage record, two bytes, read
        // as a defined name, which calamine indexes past) is the workbook's error, not a crash
        let e = workbook_text(&patched(&[0x42, 0x00, 0x02, 0x00], &[0x18, 0x00, 0x02, 0x00])).unwrap_err();
        assert_eq!(e, "not a readable workbook: its reader failed on it");
    }

    /// The fixture's Workbook stream.
    fn fixture_workbook_stream() -> Vec<u8> {
        use std::io::Read;
        let mut stream = Vec::new();
        cfb::CompoundFile::open(Cursor::new(fixture("exports/google_ads_campaign_report.xls")))
            .unwrap()
            .open_stream("/Workbook")
            .unwrap()
            .read_to_end(&mut stream)
            .unwrap();
        stream
    }

    /// A compound file (version 3: 512-byte sectors) holding `streams` in that order, then a
    /// small one (the root's mini stream).
    fn container(streams: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new())).unwrap();
        for (name, bytes) in streams {
            file.create_stream(name).unwrap().write_all(bytes).unwrap();
        }
        file.create_stream("/Note").unwrap().write_all(b"x").unwrap();
        file.flush().unwrap();
        file.into_inner().into_inner()
    }

    /// Directory entry `i` of a version 3 file whose directory fits its first sector.
    fn entry(file: &[u8], i: usize) -> std::ops::Range<usize> {
        let dir = 512 * (u32::from_le_bytes(file[48..52].try_into().unwrap()) as usize + 1);
        dir + 128 * i..dir + 128 * (i + 1)
    }

    /// calamine finds a stream by name among all the directory's entries, including one the
    /// directory's tree does not reach: such an orphan named Workbook, ahead of the tree's, is
    /// the stream calamine reads (here with a campaign renamed), so it is the one checked; a
    /// hostile one is refused before calamine reserves its 4 billion rows. A reader walking the
    /// tree (the cfb crate) does not see it.
    #[test]
    fn the_xls_stream_checked_is_the_one_calamine_reads() {
        let stream = fixture_workbook_stream();
        let orphaned = |first: &[u8]| {
            let mut file = container(&[("/Evil", first), ("/Workbook", &stream)]);
            let evil = entry(&file, 1);
            assert_eq!(
                &file[evil.start..evil.start + 8],
                "Evil".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<_>>()
            );
            let link = |file: &[u8], at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
            let (left, right) = (link(&file, evil.start + 68), link(&file, evil.start + 72));
            let instead = if left == u32::MAX {
                right
            } else {
                assert_eq!(right, u32::MAX);
                left
            };
            // whatever pointed at entry 1 (the root's child, or a sibling) points past it
            for i in 0..4 {
                for field in [68, 72, 76] {
                    let at = entry(&file, i).start + field;
                    if link(&file, at) == 1 {
                        file[at..at + 4].copy_from_slice(&instead.to_le_bytes());
                    }
                }
            }
            let name: Vec<u8> = "Workbook".encode_utf16().flat_map(u16::to_le_bytes).collect();
            file[evil.start..evil.start + 64].fill(0);
            file[evil.start..evil.start + name.len()].copy_from_slice(&name);
            file[evil.start + 64..evil.start + 66].copy_from_slice(&18u16.to_le_bytes());
            let tree = cfb::CompoundFile::open(Cursor::new(file.clone())).unwrap();
            let workbooks = tree.walk().filter(|e| e.name().eq_ignore_ascii_case("Workbook")).count();
            assert_eq!(workbooks, 1, "the orphan is out of the tree");
            file
        };
        let renamed = {
            let mut s = stream.clone();
            let at = s.windows(14).position(|w| w == b"Generic Search").unwrap();
            s[at..at + 14].copy_from_slice(b"Generic Saerch");
            s
        };
        let text = workbook_text(&orphaned(&renamed)).unwrap();
        assert!(text.contains("Generic Saerch") && !text.contains("Generic Search"), "{text}");
        let dims = [0x00, 0x02, 14, 0, 0, 0, 0, 0, 175, 0, 0, 0, 0, 0, 10, 0];
        let mut hostile = stream.clone();
        let at = hostile.windows(dims.len()).position(|w| w == dims).unwrap();
        hostile[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = workbook_text(&orphaned(&hostile)).unwrap_err();
        assert!(e.contains("spans 4294967295 rows by 10 columns"), "{e}");
    }

    /// Where calamine would follow a chain of sectors round a loop (a Workbook stream declaring
    /// 4 GiB whose last sector leads back to its first: calamine would fill 4 GiB with copies),
    /// or hold a FAT sector for every one listed (109 listings of one sector), the file is
    /// refused naming the fault.
    #[test]
    fn an_xls_container_that_would_loop_or_multiply_is_refused() {
        let stream = fixture_workbook_stream();
        let file = container(&[("/Workbook", &stream)]);
        assert!(workbook_text(&file).is_ok());
        let u32_at = |file: &[u8], at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
        let mut looped = file.clone();
        let workbook = entry(&file, 1);
        let first = u32_at(&file, workbook.start + 116);
        let fat = 512 * (u32_at(&file, 76) as usize + 1);
        let mut last = first;
        while u32_at(&file, fat + 4 * last as usize) != 0xFFFF_FFFE {
            last = u32_at(&file, fat + 4 * last as usize);
        }
        looped[fat + 4 * last as usize..fat + 4 * last as usize + 4].copy_from_slice(&first.to_le_bytes());
        looped[workbook.start + 120..workbook.start + 124].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
        assert_eq!(refused(&looped), "not a readable workbook: a chain of its sectors loops");
        let mut listed = file.clone();
        for i in 0..109 {
            let at = 76 + 4 * i;
            listed[at..at + 4].copy_from_slice(&file[76..80]);
        }
        let e = refused(&listed);
        assert!(e.contains("it lists 109 FAT sectors in a file of"), "{e}");
        // a sector past the end of the file, and a file cut inside its header
        let mut past = file.clone();
        past[workbook.start + 116..workbook.start + 120].copy_from_slice(&100_000u32.to_le_bytes());
        assert_eq!(refused(&past), "not a readable workbook: sector 100000 lies past the end of the file");
        assert!(refused(&file[..300]).starts_with("not a readable workbook"));
    }

    fn ods(rows: &str) -> Vec<u8> {
        use std::io::Write;
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        out.start_file("mimetype", stored).unwrap();
        out.write_all(b"application/vnd.oasis.opendocument.spreadsheet").unwrap();
        out.start_file("META-INF/manifest.xml", zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#).unwrap();
        out.start_file("content.xml", zip::write::SimpleFileOptions::default()).unwrap();
        write!(
            out,
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Report">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
        )
        .unwrap();
        out.finish().unwrap().into_inner()
    }

    /// The error of a workbook expected to be refused (not its text, which may be megabytes).
    fn refused(book: &[u8]) -> String {
        match workbook_text(book) {
            Ok(text) => panic!("read as {} bytes of text", text.len()),
            Err(e) => e,
        }
    }

    /// An `.ods` is read as LibreOffice writes it (each row padded with empty copies to 1,024
    /// columns and the sheet with a million empty rows), but one whose repeats expand to more
    /// than 8 Mi cells is refused before calamine expands them: 600 rows of 16,384 copies of a
    /// number (a 20 KB file calamine would hold as 9.8 million cells; 300 such rows took it
    /// 1.26 GB), or one such row repeated a thousand times. A table nested in a cell or a comment does not hide a row's copies.
    #[test]
    fn an_ods_whose_repeats_expand_past_the_cap_is_refused() {
        let text = |t: &str| {
            format!(r#"<table:table-cell office:value-type="string"><text:p>{t}</text:p></table:table-cell>"#)
        };
        let number = |x: &str, copies: u32| {
            format!(
                r#"<table:table-cell office:value-type="float" office:value="{x}" table:number-columns-repeated="{copies}"/>"#
            )
        };
        let pad = |n: u32| format!(r#"<table:table-cell table:number-columns-repeated="{n}"/>"#);
        let row = |cells: String| format!("<table:table-row>{cells}</table:table-row>");
        let sheet = [
            row(format!("{}{}{}", text("Day"), text("Cost"), pad(1022))),
            row(format!("{}{}{}", text("2026-11-01"), number("12.5", 1), pad(1022))),
            format!(r#"<table:table-row table:number-rows-repeated="1048574">{}</table:table-row>"#, pad(1024)),
        ]
        .concat();
        assert_eq!(workbook_text(&ods(&sheet)).unwrap(), "Day,Cost\n2026-11-01,12.5\n");
        let wide = row(number("1", 16_384)).repeat(600);
        let e = refused(&ods(&wide));
        assert!(e.contains("expand to 600 rows by 16384 columns (9830400 cells written out)"), "{e}");
        let repeated =
            format!(r#"<table:table-row table:number-rows-repeated="1000">{}</table:table-row>"#, number("1", 16_384));
        let e = refused(&ods(&repeated));
        assert!(e.contains("expand to 1000 rows by 16384 columns"), "{e}");
        let nested = format!(
            "{}<table:table-cell><table:table><table:table-row>{}</table:table-row></table:table></table:table-cell>",
            number("1", 16_384),
            text("x")
        );
        let hidden = format!("<!-- a=\" -->{}", row(nested).repeat(600));
        let e = refused(&ods(&hidden));
        assert!(e.contains("expand to 600 rows by 16384 columns"), "{e}");
    }

    #[test]
    fn what_is_not_a_workbook_says_so() {
        assert!(!is_workbook(b"Day,Cost\n"));
        assert!(is_workbook_name("Campaign report.XLSX") && is_workbook_name("a.ods") && !is_workbook_name("a.csv"));
        let e = workbook_text(b"PK\x03\x04 truncated").unwrap_err();
        assert!(e.starts_with("not a readable workbook"), "{e}");
        let e = workbook_text(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0]).unwrap_err();
        assert!(e.starts_with("not a readable workbook"), "{e}");
    }
}
