//! The reference data sets (`tests/reference/data/`) as tables.

use liftos_estimators::data::Table;

pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/reference/data/");

/// A reference CSV.
pub fn table(name: &str) -> Table {
    Table::read_csv(std::path::Path::new(&format!("{DATA}{name}"))).expect("csv")
}

/// A CSV text as a table (the API's parser).
pub fn csv(text: &str) -> Table {
    liftos::service::source::parse_panel(text.as_bytes(), liftos::service::source::PanelFormat::Csv).expect("table")
}

/// mpdta with the post-treatment indicator `treat_post` and the cohort as `first_treat`,
/// without the 2004 cohort (one pre-period only).
pub fn mpdta_post() -> Table {
    let text = std::fs::read_to_string(format!("{DATA}mpdta.csv")).expect("csv");
    let mut out = String::from("year,countyreal,lpop,lemp,first_treat,treat_post\n");
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let (year, first): (f64, f64) = (c[0].parse().expect("y"), c[4].parse().expect("f"));
        if first == 2004.0 {
            continue;
        }
        let post = u8::from(first > 0.0 && year >= first);
        out.push_str(&format!("{},{},{},{},{},{post}\n", c[0], c[1], c[2], c[3], c[4]));
    }
    csv(&out)
}
