//! The panel readers (CSV and Parquet: uploads, exports dropped in the bucket, read as exports
//! too: below title lines, UTF-16, tab-separated) and the file
//! connector's column mapping: any bytes give a table or an error naming the problem, never a
//! panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use liftos::service::source::{parse_panel, read_export, PanelFormat};

fuzz_target!(
    init: {
        // calamine's panics on a damaged workbook are caught by `workbook_text` and become the
        // workbook's error, as in the Lambdas (panic = unwind); libFuzzer's hook would abort on
        // them before the catch. Any other panic, and any that escapes, still aborts.
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|at| at.file().contains("/calamine-")) {
                abort(info);
            }
        }));
    },
    |data: &[u8]| {
        let Some((&which, bytes)) = data.split_first() else { return };
        let format = if which % 2 == 0 { PanelFormat::Csv } else { PanelFormat::Parquet };
        // as an export: title lines, UTF-16, tabs
        let _ = read_export(bytes, format, None);
        let Ok(table) = parse_panel(bytes, format) else { return };
        for name in table.names.clone() {
            let _ = table.numeric(&name);
            let _ = table.labels(&name);
            let _ = table.integers(&name);
        }
        // The same table as a dropped export, mapped by a column map over its first columns.
        let cols: Vec<&String> = table.names.iter().take(5).collect();
        if cols.len() >= 3 {
            let conn: Result<liftos::ingestion::connectors::Connection, _> = serde_json::from_value(serde_json::json!({
                "id": "export", "kind": "file", "platform": "meta",
                "column_map": {"date": cols[0], "campaign_id": cols[1], "spend": cols[2],
                               "conversions": cols.get(3), "revenue": cols.get(4)}
            }));
            if let Ok(conn) = conn {
                let _ = liftos::ingestion::connectors::file::parse(&conn, &table);
            }
        }
    }
);
