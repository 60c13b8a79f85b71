//! `DateRange`: inclusive calendar dates, UTC.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawRange")]
pub struct DateRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RawRange {
    start: NaiveDate,
    end: NaiveDate,
}

impl TryFrom<RawRange> for DateRange {
    type Error = ValidationError;
    fn try_from(r: RawRange) -> Result<Self, Self::Error> {
        DateRange::new(r.start, r.end)
    }
}

impl DateRange {
    /// Start after end, or a date outside 1970-01-01..=9999-12-31 (stored keys hold four-digit
    /// years), is an error.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Self, ValidationError> {
        in_bounds("start", start)?;
        in_bounds("end", end)?;
        if start > end {
            return Err(ValidationError::new("start", format!("{start} is after end {end}")));
        }
        Ok(Self { start, end })
    }

    /// Parse `YYYY-MM-DD` strings; errors name `start` or `end`.
    pub fn parse(start: &str, end: &str) -> Result<Self, ValidationError> {
        let s = parse_date("start", start)?;
        let e = parse_date("end", end)?;
        Self::new(s, e)
    }

    /// From optional `YYYY-MM-DD` bounds (query parameters): a missing start is the earliest
    /// date, a missing end the latest.
    pub fn from_optional(start: Option<&str>, end: Option<&str>) -> Result<Self, ValidationError> {
        let s = start.map(|v| parse_date("start", v)).transpose()?.unwrap_or_else(earliest);
        let e = end.map(|v| parse_date("end", v)).transpose()?.unwrap_or_else(latest);
        Self::new(s, e)
    }

    /// The whole range: from the first microsecond of the first day to the last of the last day.
    pub fn all() -> Self {
        Self { start: earliest(), end: latest() }
    }

    /// First instant included.
    pub fn start_instant(&self) -> DateTime<Utc> {
        self.start.and_time(NaiveTime::MIN).and_utc()
    }

    /// Last instant included (23:59:59.999999 of the end day).
    pub fn end_instant(&self) -> DateTime<Utc> {
        let t = NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap_or(NaiveTime::MIN);
        self.end.and_time(t).and_utc()
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start_instant() && t <= self.end_instant()
    }
}

/// The first date a record may carry (stored keys are fixed-width four-digit years).
pub fn earliest() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The last date a record may carry.
pub fn latest() -> NaiveDate {
    NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX)
}

/// A `YYYY-MM-DD` date between [`earliest`] and [`latest`]: chrono's `%Y` also reads signed and
/// five-digit years (`+10000-01-01`), which would make an inverted range of stored keys.
pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate, ValidationError> {
    let bad = || ValidationError::new(field, format!("{value:?} is not a date (expected YYYY-MM-DD)"));
    if value.len() != 10 || !value.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let d = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad())?;
    in_bounds(field, d)?;
    Ok(d)
}

fn in_bounds(field: &str, d: NaiveDate) -> Result<(), ValidationError> {
    if d < earliest() || d > latest() {
        return Err(ValidationError::new(field, format!("{d} is outside {}..={}", earliest(), latest())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive_and_ordered() {
        let r = DateRange::parse("2026-10-01", "2026-10-31").unwrap();
        assert!(r.contains("2026-10-31T23:59:59Z".parse().unwrap()));
        assert!(r.contains("2026-10-01T00:00:00Z".parse().unwrap()));
        assert!(!r.contains("2026-11-01T00:00:00Z".parse().unwrap()));
        assert_eq!(DateRange::parse("2026-10-02", "2026-10-01").unwrap_err().field(), "start");
        assert_eq!(DateRange::parse("2026-13-01", "2026-10-01").unwrap_err().field(), "start");
        assert_eq!(DateRange::parse("2026-10-01", "nope").unwrap_err().field(), "end");
        assert!(serde_json::from_str::<DateRange>(r#"{"start":"2026-10-02","end":"2026-10-01"}"#).is_err());
        let one = DateRange::parse("2026-10-01", "2026-10-01").unwrap();
        assert!(one.contains("2026-10-01T12:00:00Z".parse().unwrap()));
        assert!(DateRange::all().contains(Utc::now()));
    }

    /// Defect 14.10: `end=+10000-01-01` reached DynamoDB as an inverted key range (a 500).
    #[test]
    fn five_digit_and_signed_years_are_refused() {
        for v in ["+10000-01-01", "10000-01-01", "-0001-01-01", "+2026-01-01", "1969-12-31", " 2026-01-01"] {
            let e = DateRange::from_optional(None, Some(v)).unwrap_err();
            assert_eq!(e.field(), "end", "{v}");
        }
        assert_eq!(DateRange::from_optional(Some("0999-01-01"), None).unwrap_err().field(), "start");
        let far = NaiveDate::from_ymd_opt(10000, 1, 1).unwrap();
        assert!(serde_json::from_str::<DateRange>(r#"{"start":"2026-10-01","end":"+10000-01-01"}"#).is_err());
        assert_eq!(DateRange::new(earliest(), far).unwrap_err().field(), "end");
        assert!(DateRange::from_optional(Some("1970-01-01"), Some("9999-12-31")).is_ok());
    }
}
