//! Reading a panel, alone: the CSV reader (parallel blocks, every column) against the Parquet
//! reader (column by column, each column chunk read from the file at its offset) on the same
//! data, as `liftos estimate` reads a file; median of 3 in one process (release build).
//! `anchors.sh` runs it on the benchmark files beside their Parquet copies:
//!
//!   cargo bench -p liftos --bench read -- DATA_DIR twfe iv ...

use std::path::PathBuf;
use std::time::Instant;

use liftos::service::source::parse_parquet_file;
use liftos_estimators::data::Table;

fn median3(mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut ts = Vec::new();
    let mut rows = 0;
    for _ in 0..3 {
        let t = Instant::now();
        rows = f();
        ts.push(t.elapsed().as_secs_f64());
    }
    ts.sort_by(f64::total_cmp);
    (ts[1], rows)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let Some((dir, names)) = args.split_first() else {
        eprintln!("usage: read DATA_DIR NAME...  (reads NAME.csv and NAME.parquet)");
        std::process::exit(2);
    };
    for name in names {
        let csv = PathBuf::from(dir).join(format!("{name}.csv"));
        let pq = PathBuf::from(dir).join(format!("{name}.parquet"));
        let (csv_s, rows) = median3(|| Table::read_csv(&csv).unwrap_or_else(|e| panic!("{e}")).rows);
        let (pq_s, pq_rows) = median3(|| {
            let file = std::fs::File::open(&pq).unwrap_or_else(|e| panic!("{}: {e}", pq.display()));
            parse_parquet_file(file, None).unwrap_or_else(|e| panic!("{}", e.summary())).rows
        });
        assert_eq!(rows, pq_rows, "{name}: the same rows");
        let mb = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len() as f64 / 1048576.0).unwrap_or(f64::NAN);
        println!(
            "{}",
            serde_json::json!({
                "benchmark": name, "rows": rows, "csv_mb": mb(&csv), "parquet_mb": mb(&pq),
                "csv_read_s": csv_s, "parquet_read_s": pq_s, "csv_over_parquet": csv_s / pq_s,
            })
        );
    }
}
