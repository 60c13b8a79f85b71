//! Dates and ranges from query strings and bodies (`start`, `end`, sync periods): a range inside
//! 1970-01-01..=9999-12-31 with start <= end, or an error naming the field; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use liftos::domain::{date_range, DateRange};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_once('|').unwrap_or((text, ""));
    for r in [
        DateRange::parse(a, b),
        DateRange::from_optional(Some(a), Some(b)),
        DateRange::from_optional(None, Some(a)),
        DateRange::from_optional(Some(b), None),
    ] {
        match r {
            Ok(r) => {
                assert!(r.start <= r.end);
                assert!(r.start >= date_range::earliest() && r.end <= date_range::latest());
                assert!(r.start_instant() <= r.end_instant());
            }
            Err(e) => assert!(e.field() == "start" || e.field() == "end"),
        }
    }
    let json = format!(r#"{{"connection_id": null, "start": {a:?}, "end": {b:?}}}"#);
    if let Ok(req) = serde_json::from_str::<liftos::api::ingestion::SyncRequest>(&json) {
        let _ = req.period(liftos::service::ingestion::default_period(chrono::Utc::now()));
    }
});
