//! The platform connectors' response parsers (Meta insights and activities, Google Ads
//! searchStream and change events, TikTok's envelope): any JSON pages parse into rows or an
//! error naming the field, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use liftos::ingestion::connectors::{self, Connection, Period, RawPayload};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(pages) = serde_json::from_slice::<serde_json::Value>(rest) else { return };
    let (report, history) = match pages {
        serde_json::Value::Array(mut v) => {
            let cut = v.len() / 2;
            let history = v.split_off(cut);
            (v, history)
        }
        other => (vec![other], vec![]),
    };
    let (kind, tz) = match which % 3 {
        0 => ("meta", "America/New_York"),
        1 => ("google_ads", "America/Los_Angeles"),
        _ => ("tiktok", "Europe/Berlin"),
    };
    let Ok(connection) = serde_json::from_value::<Connection>(serde_json::json!({
        "id": "c1", "kind": kind, "platform": if kind == "google_ads" { "google" } else { kind },
        "account_id": "123", "timezone": tz, "fx_rate": 1.1
    })) else {
        return;
    };
    let period = Period {
        start: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default(),
        end: chrono::NaiveDate::from_ymd_opt(2026, 9, 30).unwrap_or_default(),
    };
    let raw = RawPayload { connection, period, fetched_at: chrono::Utc::now(), report, history };
    let _ = connectors::parse(&raw);
});
