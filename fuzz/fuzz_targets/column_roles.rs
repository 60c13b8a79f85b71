//! Column-role strings: synthetic control's `predictors` ("col:1980-1988,outcome:1975") and
//! `fit_window`, and the CLI's typed flags (`--se`, `--kernel`, ...): parsed or refused with the
//! field, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use liftos::service::estimate::{parse_flag, parse_predictors, parse_range};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((a, b)) = parse_range("fit_window", text) {
        let _ = (a, b);
    }
    if let Ok(ps) = parse_predictors(text, "sales") {
        assert!(ps.iter().all(|p| !p.column.is_empty()));
    }
    let _ = parse_flag::<liftos::api::estimate::SeSpec>("se", Some(text.to_string()));
    let _ = parse_flag::<liftos::api::estimate::KernelName>("kernel", Some(text.to_string()));
    let _ = parse_flag::<liftos::api::estimate::Control>("control", Some(text.to_string()));
    let _ = text.parse::<liftos::domain::Platform>();
});
