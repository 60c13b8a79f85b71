//! Excel workbooks as exports: the "Excel" downloads of Google Ads, Meta Ads Manager and LinkedIn
//! Campaign Manager (`.xlsx`), and older `.xls` or OpenDocument `.ods` sheets, read with calamine
//! into the comma-separated text every other export becomes, so the same header search, column
//! map, quality checks and line numbers apply.

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

fn read_workbook(bytes: &[u8]) -> Result<String, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable workbook: {e}"))?;
        let declared: u64 = archive.decompressed_size().map_or(u64::MAX, |n| u64::try_from(n).unwrap_or(u64::MAX));
        if declared > MAX_UNCOMPRESSED_BYTES {
            return Err(format!(
                "the workbook holds {declared} bytes uncompressed; at most {MAX_UNCOMPRESSED_BYTES} are read"
            ));
        }
    }
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("not a readable workbook (.xlsx, .xls or .ods): {e}"))?;
    let names = book.sheet_names();
    let mut sheet = None;
    for name in &names {
        let range = book.worksheet_range(name).map_err(|e| format!("sheet {name:?}: {e}"))?;
        if !range.is_empty() {
            sheet = Some(range);
            break;
        }
    }
    let Some(range) = sheet else {
        return Err(format!("the workbook's sheets ({}) are empty", names.join(", ")));
    };
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .flexible(true)
        .from_writer(Vec::with_capacity(range.get_size().0 * 64));
    let write_err = |e: csv::Error| e.to_string();
    // rows above the used range: empty lines, so the lines count as the sheet's rows
    for _ in 0..first_row {
        out.write_record([""]).map_err(write_err)?;
    }
    for row in range.rows() {
        let lead = (0..first_col).map(|_| String::new());
        let cells: Vec<String> = lead.chain(row.iter().map(cell_text)).collect();
        out.write_record(&cells).map_err(write_err)?;
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
