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

/// A simulated panel with more leads than clusters: 10 markets (`treated` of them from period 12,
/// a true effect of 1) over 14 periods, market and period effects, AR(1) noise, and the treated markets
/// on a linear trend of `slope` per period relative to the others (zero at period 11). An event
/// study has 11 leads, so the joint test of the leads cannot run with 10 clusters.
pub fn few_clusters_panel(treated: usize, slope: f64, seed: u64) -> Table {
    let mut rng = liftos_estimators::rng::Rng::new(seed);
    let mut out = String::from("market,period,sales,promo\n");
    let time_fx: Vec<f64> = (0..14).map(|_| rng.normal()).collect();
    for u in 0..10 {
        let a = 2.0 * rng.normal();
        let mut e = rng.normal();
        for t in 0..14i64 {
            e = 0.5 * e + rng.normal();
            let is_treated = u < treated;
            let d = u8::from(is_treated && t >= 12);
            let trend = if is_treated { slope * (t - 11) as f64 } else { 0.0 };
            let y = 100.0 + a + time_fx[t as usize] + f64::from(d) + trend + e;
            out.push_str(&format!("m{u},{t},{y},{d}\n"));
        }
    }
    csv(&out)
}
