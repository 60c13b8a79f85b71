//! A panel's time column of dates (2026-09-01, 09/01/2026, Sep 1, 2026: the formats exports
//! write) or of hours (2026-11-01 13:00:00) as the whole-number periods the panel estimators
//! count in. The axis runs from the
//! first date in steps of the dates' spacing (hours, days, weeks, every n days, months), so period 1 is
//! the first date and a date missing from the data is a missing period, not a shorter gap; event
//! times and cohorts are counted in these periods. Dates given on the command line (a treatment
//! time, a cohort column of first treated dates) are read on the same axis, and the answer says
//! which date each period is.

use std::collections::HashMap;

pub use crate::api::estimate::AxisSummary;
use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use liftos_estimators::data::{Column, Table, Texts};

use super::estimate::EstimateError;
use super::ServiceError;
use crate::domain::ValidationError;
use crate::ingestion::connectors::file::{self, gcd, month_index};

/// A refusal counted in periods with each period's date (see [`AxisSummary::dated`]).
pub fn dated_error(e: ServiceError, axis: Option<&AxisSummary>) -> ServiceError {
    match (e, axis) {
        (ServiceError::Validation(mut v), Some(axis)) => {
            for f in &mut v.errors {
                f.message = axis.dated(&f.message);
            }
            ServiceError::Validation(v)
        }
        (e, _) => e,
    }
}

/// The most periods an axis may span (a daily panel of 270 years is not a marketing panel; the
/// answer lists every period's date).
pub const MAX_PERIODS: i64 = 100_000;

/// The longest range of dates read (`September 30, 2026 to December 31, 2026` is 38 characters).
const MAX_RANGE_CHARS: usize = 80;

/// What a cohort column of dates holds for a unit never treated (as R, pandas and spreadsheets
/// write a missing date).
pub const NEVER: &[&str] = &["", "0", "NA", "N/A", "NaN", "NaT", "null", "None", "never", "-"];

/// The spacing of the dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hours(u32),
    Days(u32),
    Months(u32),
}

impl Step {
    /// The step in a sentence: an hour, a day, a week, 3 days, a month, a quarter, 2 months.
    pub fn phrase(self) -> String {
        match self {
            Step::Hours(1) => "an hour".into(),
            Step::Hours(n) => format!("{n} hours"),
            Step::Days(n) if n > 1 && n != 7 => format!("{n} days"),
            Step::Months(n) if n > 1 && n != 3 => format!("{n} months"),
            _ => format!("a {self}"),
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Hours(1) => write!(f, "hour"),
            Step::Hours(n) => write!(f, "{n} hours"),
            Step::Days(1) => write!(f, "day"),
            Step::Days(7) => write!(f, "week"),
            Step::Days(n) => write!(f, "{n} days"),
            Step::Months(1) => write!(f, "month"),
            Step::Months(3) => write!(f, "quarter"),
            Step::Months(n) => write!(f, "{n} months"),
        }
    }
}

/// The dates of a time column numbered as periods.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeAxis {
    /// The time column.
    pub column: String,
    /// Period 1 (a midnight unless the axis is by hour).
    first: NaiveDateTime,
    pub step: Step,
    /// The last date's period.
    pub periods: i64,
    /// The column's date format (dates given beside it are read in it too, or as YYYY-MM-DD).
    format: String,
}

impl TimeAxis {
    /// When the column `column` holds dates: replaced in `table` by each row's period and the
    /// axis returned. A numeric column (already periods) is left as it is: None. An empty cell
    /// is refused naming its row, or with `leave_empty` (a method that leaves incomplete rows
    /// out) numbered NaN, an empty period.
    pub fn number(table: &mut Table, column: &str, leave_empty: bool) -> Result<Option<TimeAxis>, EstimateError> {
        // each row's day of the common era, or with `hourly` its hour since the era's first
        // midnight; EMPTY for an empty cell left
        let (days, format, hourly) = match table.column(column)? {
            Column::Num(v) if table.holds_days(column) => {
                (calendar_days(column, v, leave_empty)?, "%Y-%m-%d".to_string(), false)
            }
            // dates written as the numbers 20261101 (Google Analytics' and BigQuery's `date`)
            Column::Num(v) => match compact_days(v, leave_empty) {
                Some(days) => (days, COMPACT.to_string(), false),
                None => return Ok(None),
            },
            Column::Text(values) => match text_days(table, column, values, leave_empty)? {
                Some(read) => read,
                None => return Ok(None),
            },
        };
        // the distinct days in order, and each row's among them (a presence map over the range
        // of days, where collecting a million rows into a set took a twentieth of a TWFE run)
        let (codes, distinct) =
            liftos_estimators::panel::factorize_ints(days.iter().copied().filter(|&d| d != EMPTY), days.len());
        let (Some(&lo), Some(&hi)) = (distinct.first(), distinct.last()) else {
            let why = if days.is_empty() { "the table has no rows" } else { "every cell is empty" };
            return Err(EstimateError::new(column, format!("{column}: {why}")));
        };
        let date = |d: i64| {
            let (day, hour) = if hourly { (d.div_euclid(24), d.rem_euclid(24)) } else { (d, 0) };
            NaiveDate::from_num_days_from_ce_opt(i32::try_from(day).ok()?)?.and_hms_opt(hour as u32, 0, 0)
        };
        let (Some(first), Some(last)) = (date(lo), date(hi)) else {
            return Err(EstimateError::new(column, format!("{column}: dates out of range")));
        };
        let step = if hourly {
            Step::Hours(u32::try_from(distinct.windows(2).map(|w| w[1] - w[0]).fold(0, gcd).max(1)).unwrap_or(1))
        } else {
            step_of(&distinct, &|d| date(d).map(|t| t.date()))
        };
        let mut axis = TimeAxis { column: column.to_string(), first, step, periods: 1, format };
        axis.periods = axis.offset(last).unwrap_or(0) + 1;
        if axis.periods > MAX_PERIODS {
            return Err(EstimateError::new(
                column,
                format!(
                    "{column}: the dates run from {} to {} in steps of {}: {} periods, more than {MAX_PERIODS}",
                    axis.shown(first),
                    axis.shown(last),
                    step.phrase(),
                    axis.periods
                ),
            ));
        }
        // Every distinct date is on the axis (the step divides every spacing): its period.
        let by_level: Vec<f64> = distinct
            .iter()
            .map(|&d| date(d).and_then(|x| axis.offset(x)).map_or(f64::NAN, |o| (o + 1) as f64))
            .collect();
        let mut codes = codes.into_iter();
        let periods = days
            .iter()
            .map(|&d| match d {
                EMPTY => f64::NAN,
                _ => codes.next().map_or(f64::NAN, |c| by_level[c as usize]),
            })
            .collect();
        table.set_numeric(column, periods)?;
        Ok(Some(axis))
    }

    /// The date `value` (in the column's format, or YYYY-MM-DD) as its period, for the flag
    /// `field`; a number is refused (the column holds dates, so the flag takes one too).
    pub fn period(&self, field: &str, value: &str) -> Result<i64, EstimateError> {
        let v = value.trim();
        let Some(d) = self.read(v) else {
            return Err(EstimateError::new(
                field,
                format!(
                    "{field}: {v:?} is not a date; the time column {:?} holds {}, so give one such as {}",
                    self.column,
                    if self.hourly() { "hours" } else { "dates" },
                    self.shown(self.first)
                ),
            ));
        };
        self.period_of(d).ok_or_else(|| {
            EstimateError::new(
                field,
                format!(
                    "{field}: {} is not one of the periods of {:?}, which run from {} in steps of {}",
                    self.shown(d),
                    self.column,
                    self.shown(self.first),
                    self.step.phrase()
                ),
            )
        })
    }

    /// `v` as a time on this axis: in the column's format or as YYYY-MM-DD (its midnight), and
    /// on an axis by hour also as YYYY-MM-DD HH:MM(:SS).
    fn read(&self, v: &str) -> Option<NaiveDateTime> {
        let day = || file::day_in(v, &self.format).or_else(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
        if !self.hourly() {
            return day().map(|d| d.and_time(NaiveTime::MIN));
        }
        ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
            .iter()
            .chain(std::iter::once(&self.format.as_str()))
            .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
            .or_else(|| day().map(|d| d.and_time(NaiveTime::MIN)))
    }

    fn hourly(&self) -> bool {
        matches!(self.step, Step::Hours(_))
    }

    /// A time of this axis as the answer writes it: `2026-09-01`, or by hour `2026-09-01 13:00`.
    pub fn shown(&self, t: NaiveDateTime) -> String {
        t.format(if self.hourly() { "%Y-%m-%d %H:%M" } else { "%Y-%m-%d" }).to_string()
    }

    /// Period 1's time, as the answer writes it.
    pub fn first_shown(&self) -> String {
        self.shown(self.first)
    }

    /// The period of the time `d`: 1 for the first, 0 and below before it; None when it falls
    /// between two periods.
    pub fn period_of(&self, d: NaiveDateTime) -> Option<i64> {
        self.offset(d).map(|o| o + 1)
    }

    /// Steps from the first time to `d`, when `d` is on the axis.
    fn offset(&self, d: NaiveDateTime) -> Option<i64> {
        match self.step {
            Step::Hours(n) => {
                let minutes = (d - self.first).num_minutes();
                let per = 60 * i64::from(n);
                (d.second() == 0 && minutes % per == 0).then_some(minutes.div_euclid(per))
            }
            _ if d.time() != self.first.time() => None,
            Step::Days(n) => {
                let days = (d.date() - self.first.date()).num_days();
                (days % i64::from(n) == 0).then_some(days.div_euclid(i64::from(n)))
            }
            Step::Months(n) => {
                let months = month_index(d.date()) - month_index(self.first.date());
                (d.day() == self.first.day() && months % i64::from(n) == 0).then_some(months.div_euclid(i64::from(n)))
            }
        }
    }

    /// Period `p`'s time (None outside the calendar).
    pub fn date(&self, p: i64) -> Option<NaiveDateTime> {
        let k = p.checked_sub(1)?;
        match self.step {
            Step::Hours(n) => self.first.checked_add_signed(chrono::Duration::try_hours(k.checked_mul(i64::from(n))?)?),
            Step::Days(n) => {
                let days = k.checked_mul(i64::from(n))?;
                self.first.checked_add_signed(chrono::Duration::try_days(days)?)
            }
            Step::Months(n) => {
                let months = k.checked_mul(i64::from(n))?;
                if months >= 0 {
                    self.first.checked_add_months(Months::new(u32::try_from(months).ok()?))
                } else {
                    self.first.checked_sub_months(Months::new(u32::try_from(-months).ok()?))
                }
            }
        }
    }

    /// The column `column` of first treated dates (a cohort: empty, 0, NA, never for never treated) as
    /// periods on this axis (never treated: NaN, as an empty cell of a numeric column). A date
    /// before the first of the time column is refused: that unit has no untreated period.
    pub fn number_dates(&self, table: &mut Table, column: &str) -> Result<(), EstimateError> {
        let periods = match table.column(column)? {
            Column::Num(v) if table.holds_days(column) => {
                let mut out = Vec::with_capacity(v.len());
                for (i, &x) in v.iter().enumerate() {
                    if x.is_nan() {
                        out.push(f64::NAN);
                        continue;
                    }
                    let d = calendar_days(column, &[x], false)?
                        .first()
                        .and_then(|&d| NaiveDate::from_num_days_from_ce_opt(d as i32))
                        .map(|d| d.and_time(NaiveTime::MIN));
                    let p = d.and_then(|d| self.period_of(d)).ok_or_else(|| {
                        EstimateError::new(
                            column,
                            format!(
                                "{column}: row {}: not one of the periods of {:?}, which run from {} in steps of {}",
                                i + 1,
                                self.column,
                                self.shown(self.first),
                                self.step.phrase()
                            ),
                        )
                    })?;
                    if p < 1 {
                        return Err(self.before_first(column, i, &d.map(|d| self.shown(d)).unwrap_or_default()));
                    }
                    out.push(p as f64);
                }
                out
            }
            // first treated dates written as numbers (20261105) beside a time column of them
            Column::Num(v) if self.format == COMPACT => {
                let mut out = Vec::with_capacity(v.len());
                for (i, &x) in v.iter().enumerate() {
                    if x.is_nan() || x == 0.0 {
                        out.push(f64::NAN);
                        continue;
                    }
                    let s = format!("{x:.0}");
                    let p = self.period(column, &s).map_err(|e| {
                        EstimateError::new(column, format!("{column}: row {}: {}", i + 1, strip(&e, column)))
                    })?;
                    if p < 1 {
                        return Err(self.before_first(column, i, &s));
                    }
                    out.push(p as f64);
                }
                out
            }
            Column::Num(v) => {
                if let Some(i) = v.iter().position(|&x| !(x.is_nan() || x == 0.0)) {
                    return Err(EstimateError::new(
                        column,
                        format!(
                            "{column}: row {}: {} is a number, but the time column {:?} holds dates: give each unit's \
                             first treated date (empty or 0 for never treated)",
                            i + 1,
                            v[i],
                            self.column
                        ),
                    ));
                }
                return Ok(());
            }
            Column::Text(v) => {
                let mut out = Vec::with_capacity(v.len());
                let mut seen: HashMap<&str, f64> = HashMap::new();
                for (i, s) in v.iter().enumerate() {
                    let s = s.trim();
                    if let Some(&p) = seen.get(s) {
                        out.push(p);
                        continue;
                    }
                    let p = if NEVER.iter().any(|n| s.eq_ignore_ascii_case(n)) {
                        f64::NAN
                    } else {
                        let p = self.period(column, s).map_err(|e| {
                            EstimateError::new(column, format!("{column}: row {}: {}", i + 1, strip(&e, column)))
                        })?;
                        if p < 1 {
                            return Err(self.before_first(column, i, s));
                        }
                        p as f64
                    };
                    seen.insert(s, p);
                    out.push(p);
                }
                out
            }
        };
        table.set_numeric(column, periods)?;
        Ok(())
    }

    /// A period or a range of periods given as dates (`2026-09-01`, `2026-09-01-2026-10-10`,
    /// `2026-09-01..2026-10-10`, `2026-09-01 to 2026-10-10`) as the periods `START-END` that
    /// [`super::estimate::parse_range`] reads.
    pub fn range(&self, field: &str, s: &str) -> Result<String, EstimateError> {
        let s = s.trim();
        // two dates and a separator are far shorter: a longer text is not split at every '-'
        if s.len() > MAX_RANGE_CHARS {
            return Err(EstimateError::new(
                field,
                format!(
                    "{field}: {} characters is not a date or a range of dates like 2026-09-01..2026-10-10",
                    s.len()
                ),
            ));
        }
        if let Ok(p) = self.period(field, s) {
            return Ok(p.to_string());
        }
        let splits = [" to ", ".."]
            .iter()
            .filter_map(|sep| s.split_once(sep))
            .chain(s.char_indices().filter(|&(_, c)| c == '-').map(|(i, _)| (&s[..i], &s[i + 1..])));
        for (a, b) in splits {
            if let (Ok(a), Ok(b)) = (self.period(field, a.trim()), self.period(field, b.trim())) {
                return Ok(format!("{a}-{b}"));
            }
        }
        // The reason the start (or the whole) is not a date on the axis.
        let first = s.split(" to ").next().unwrap_or(s).split("..").next().unwrap_or(s);
        let first = if first.len() > 10 && first.is_char_boundary(10) { &first[..10] } else { first };
        Err(self.period(field, first).err().unwrap_or_else(|| {
            EstimateError::new(
                field,
                format!("{field}: {s:?} is not a date or a range of dates like 2026-09-01..2026-10-10"),
            )
        }))
    }

    /// Synthetic control's `predictors` (`COLUMN:PERIODS` items) with each item's dates as
    /// periods; an item without a `:` is left for the estimator to refuse.
    pub fn predictors(&self, spec: &str) -> Result<String, EstimateError> {
        spec.split(',')
            .map(|item| match item.split_once(':') {
                Some((col, range)) => Ok(format!("{col}:{}", self.range("predictors", range)?)),
                None => Ok(item.to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(","))
    }

    /// A cohort's first treated date (row `i` of `column`) before the axis's first date.
    fn before_first(&self, column: &str, i: usize, date: &str) -> EstimateError {
        EstimateError::new(
            column,
            format!(
                "{column}: row {}: {date} is before the first date of {:?} ({}): a unit treated before the panel \
                 starts has no untreated period; leave it out",
                i + 1,
                self.column,
                self.shown(self.first)
            ),
        )
    }

    /// What the answer says: the step, the ends, and each period's date.
    pub fn summary(&self) -> AxisSummary {
        let iso = |d: NaiveDateTime| self.shown(d);
        AxisSummary {
            column: self.column.clone(),
            step: self.step.to_string(),
            first: iso(self.first),
            last: self.date(self.periods).map(iso).unwrap_or_default(),
            periods: self.periods,
            dates: (1..=self.periods).filter_map(|p| self.date(p)).map(iso).collect(),
        }
    }
}

/// The day (or hour) of an empty time cell that a method leaves out: no period.
const EMPTY: i64 = i64::MIN;

/// Dates written as numbers: 20261101.
const COMPACT: &str = "%Y%m%d";

/// A numeric column whose every value is a date written as YYYYMMDD (20261101, from 1900 to
/// 2100) as days of the common era; None when any is not (periods numbered 1, 2, ...: a column
/// of periods stays one). With `leave_empty` an empty cell is [`EMPTY`]; without, a column with
/// one is left to be refused as numbers are.
fn compact_days(v: &[f64], leave_empty: bool) -> Option<Vec<i64>> {
    let mut any = false;
    let days = v
        .iter()
        .map(|&x| {
            if x.is_nan() {
                return leave_empty.then_some(EMPTY);
            }
            if !(19_000_101.0..=21_001_231.0).contains(&x) || x.fract() != 0.0 {
                return None;
            }
            let n = x as i64;
            let d = NaiveDate::from_ymd_opt(i32::try_from(n / 10_000).ok()?, (n / 100 % 100) as u32, (n % 100) as u32)?;
            any = true;
            Some(i64::from(d.num_days_from_ce()))
        })
        .collect::<Option<Vec<i64>>>()?;
    any.then_some(days)
}

/// Days since 1970-01-01 (a Parquet DATE column) as days of the common era, row by row; with
/// `leave_empty` an empty cell as [`EMPTY`].
fn calendar_days(column: &str, v: &[f64], leave_empty: bool) -> Result<Vec<i64>, EstimateError> {
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            if x.is_finite() && x.fract() == 0.0 && x.abs() < 3.0e6 {
                Ok(x as i64 + i64::from(NaiveDate::default().num_days_from_ce()))
            } else if x.is_nan() && leave_empty {
                Ok(EMPTY)
            } else {
                Err(EstimateError::new(
                    column,
                    format!("{column}: row {}: is empty; the column holds dates, one on every row", i + 1),
                ))
            }
        })
        .collect()
}

/// A text column of dates as days of the common era, row by row, and their format; None when
/// the column does not hold dates. Times of day (`2026-11-01 13:00:00`, a panel by hour) as
/// hours since the era's first midnight (`true`).
type Read = (Vec<i64>, String, bool);

fn text_days(table: &Table, column: &str, values: &Texts, leave_empty: bool) -> Result<Option<Read>, EstimateError> {
    let format = match file::date_format(table, column) {
        Ok(f) => f,
        Err(m) if m.contains("times of day") => return text_hours(table, column, values, leave_empty).map(Some),
        // Fewer than nine in ten are dates: when any is one, the first row that is not is named
        // below; otherwise the estimator says what the column holds.
        Err(_) => match values.iter().take(1000).find_map(|v| file::format_of(v)) {
            Some(f) => f.to_string(),
            None => return Ok(None),
        },
    };
    let days = read_rows(column, values, &format, "dates", leave_empty, |v| {
        file::day_in(v, &format).map(|d| i64::from(d.num_days_from_ce())).ok_or_else(|| format!("{v:?} is not a date"))
    })?;
    Ok(Some((days, format, false)))
}

/// A text column of times on the hour (a panel by hour) as hours since the common era's first
/// midnight, row by row, and their format. A time off the hour is refused: the axis counts
/// whole hours.
fn text_hours(table: &Table, column: &str, values: &Texts, leave_empty: bool) -> Result<Read, EstimateError> {
    let format =
        file::export_date_format(table, column).map_err(|m| EstimateError::new(column, format!("{column}: {m}")))?;
    let hours = read_rows(column, values, &format, "hours", leave_empty, |v| {
        let t = NaiveDateTime::parse_from_str(v, &format).map_err(|_| format!("{v:?} is not a time"))?;
        if t.minute() != 0 || t.second() != 0 || t.nanosecond() != 0 {
            return Err(format!("{v:?} is not on the hour (the axis counts whole hours)"));
        }
        Ok(i64::from(t.date().num_days_from_ce()) * 24 + i64::from(t.hour()))
    })?;
    Ok((hours, format, true))
}

/// Each row of a text time column read by `read` (a panel repeats each time once per unit: each
/// distinct text is read once); the first row it refuses is named with why, and an example of
/// the column's `format`, which holds `holds` (dates, hours). With `leave_empty` an empty cell
/// (empty, `NA`, `NaN`) is [`EMPTY`].
fn read_rows(
    column: &str,
    values: &Texts,
    format: &str,
    holds: &str,
    leave_empty: bool,
    read: impl Fn(&str) -> Result<i64, String>,
) -> Result<Vec<i64>, EstimateError> {
    let per_level: Vec<Result<i64, String>> = values
        .levels()
        .iter()
        .map(|v| {
            let v = v.trim();
            if leave_empty && liftos_estimators::data::empty_cell(v) {
                Ok(EMPTY)
            } else {
                read(v)
            }
        })
        .collect();
    if per_level.iter().any(Result::is_err) {
        // the first row whose value was refused
        if let Some((i, Err(why))) =
            values.codes().iter().enumerate().map(|(i, &c)| (i, &per_level[c as usize])).find(|(_, r)| r.is_err())
        {
            let v = values[i].trim();
            let what = if v.is_empty() {
                "is empty".to_string()
            } else if file::is_summary_cell(v) {
                format!("{v:?} is a totals row, not a date: leave it out of the file")
            } else {
                why.clone()
            };
            return Err(EstimateError::new(
                column,
                format!(
                    "{column}: row {}: {what}; the column holds {holds} ({}), one on every row",
                    i + 1,
                    example(format)
                ),
            ));
        }
    }
    Ok(values.codes().iter().map(|&c| per_level[c as usize].as_ref().map_or(EMPTY, |&x| x)).collect())
}

/// analyze/advanced's methods (their JSON, before it is parsed) on a table whose time column
/// holds dates: the column numbered as periods, each method's time fields given as dates
/// (`treatment_time`, `placebo_time`, the ranges of `predictors` and `fit_window`) and its
/// `cohort` column of first treated dates read as periods. The methods must share one time
/// column of dates. Errors name `methods[i].field`.
pub fn date_methods(table: &mut Table, methods: &mut [serde_json::Value]) -> Result<Option<TimeAxis>, ServiceError> {
    let mut axis: Option<TimeAxis> = None;
    let mut cohorts: Vec<String> = Vec::new();
    // A row with an empty date is left out where every method on its time column is the DiD
    // (which leaves incomplete rows out); the others need every row's period.
    let time_of = |m: &serde_json::Value| m.get("time").and_then(|t| t.as_str()).map(str::to_string);
    let is_did = |m: &serde_json::Value| m.get("method").and_then(|t| t.as_str()) == Some("did");
    let strict: Vec<String> = methods.iter().filter(|m| !is_did(m)).filter_map(time_of).collect();
    for (i, m) in methods.iter_mut().enumerate() {
        let prefix = format!("methods[{i}].");
        let at = |e: EstimateError| super::causal::field_error(&prefix, e);
        let Some(obj) = m.as_object_mut() else { continue };
        let Some(time) = obj.get("time").and_then(|t| t.as_str()).map(str::to_string) else { continue };
        let this = match &axis {
            Some(a) if a.column == time => a.clone(),
            _ => match TimeAxis::number(table, &time, !strict.contains(&time)).map_err(at)? {
                None => continue,
                Some(a) if axis.is_some() => {
                    return Err(ValidationError::new(
                        format!("{prefix}time"),
                        format!("{time:?} holds dates as well as {:?}: the methods of one request share one time column of dates", a.column),
                    )
                    .into())
                }
                Some(a) => a,
            },
        };
        for field in ["treatment_time", "placebo_time"] {
            if let Some(v) = obj.get(field).filter(|v| !v.is_null()) {
                let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                obj.insert(field.into(), this.period(field, &text).map_err(at)?.into());
            }
        }
        if let Some(w) = obj.get("fit_window").and_then(|v| v.as_str()).map(str::to_string) {
            obj.insert("fit_window".into(), this.range("fit_window", &w).map_err(at)?.into());
        }
        if let Some(p) = obj.get("predictors").and_then(|v| v.as_str()).map(str::to_string) {
            obj.insert("predictors".into(), this.predictors(&p).map_err(at)?.into());
        }
        if let Some(g) = obj.get("cohort").and_then(|v| v.as_str()).map(str::to_string) {
            // a second method naming the same cohort column finds it numbered already
            if !cohorts.contains(&g) {
                this.number_dates(table, &g).map_err(at)?;
                cohorts.push(g);
            }
        }
        axis = Some(this);
    }
    Ok(axis)
}

/// The message of `e` without its leading "field: ".
fn strip(e: &EstimateError, field: &str) -> String {
    let m = e.to_string();
    m.strip_prefix(&format!("{field}: ")).map(str::to_string).unwrap_or(m)
}

/// 2026-09-01 written in `format`.
fn example(format: &str) -> String {
    use std::fmt::Write;
    // as a UTC time, so that a format with an offset (`%:z`) writes one
    let mut out = String::new();
    match NaiveDate::from_ymd_opt(2026, 9, 1) {
        Some(d) if write!(out, "{}", d.and_time(chrono::NaiveTime::MIN).and_utc().format(format)).is_ok() => out,
        _ => "2026-09-01".to_string(),
    }
}

/// The spacing of the sorted distinct days: months when every date falls on the same day of
/// the month (at most the 28th) at least 28 days apart, otherwise the greatest common divisor
/// of the gaps in days (one date: a day).
fn step_of(distinct: &[i64], date: &impl Fn(i64) -> Option<NaiveDate>) -> Step {
    let dates: Vec<NaiveDate> = distinct.iter().filter_map(|&d| date(d)).collect();
    let gaps = distinct.windows(2).map(|w| w[1] - w[0]);
    let monthly = dates.len() > 1
        && dates.iter().all(|d| d.day() == dates[0].day())
        && dates[0].day() <= 28
        && gaps.clone().all(|g| g >= 28);
    if monthly {
        let g = dates.windows(2).map(|w| month_index(w[1]) - month_index(w[0])).fold(0, gcd);
        return Step::Months(u32::try_from(g.max(1)).unwrap_or(1));
    }
    let g = gaps.fold(0, gcd);
    Step::Days(u32::try_from(g.max(1)).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use liftos_estimators::data::Column;

    fn table(dates: &[&str]) -> Table {
        Table::from_columns(vec![
            ("date", Column::Text(dates.iter().map(|s| s.to_string()).collect())),
            ("y", Column::Num(vec![1.0; dates.len()])),
        ])
    }

    fn numbered(t: &Table) -> Vec<f64> {
        match t.column("date").or_else(|_| t.column("day")).unwrap() {
            Column::Num(v) => v.clone(),
            Column::Text(_) => panic!("still text"),
        }
    }

    /// Dates written as numbers (Google Analytics' and BigQuery's `20261101`) are dates: an axis
    /// by day, given dates in either form; a first treated date written so is read on it. Whole
    /// numbers that are not all such dates stay periods; a totals row is named as one.
    #[test]
    fn dates_written_as_numbers_are_dates() {
        let days = vec![20261030.0, 20261031.0, 20261101.0, 20261103.0];
        let mut t = Table::from_columns(vec![
            ("date", Column::Num(days.clone())),
            ("first", Column::Num(vec![0.0, 20261101.0, f64::NAN, 20261031.0])),
        ]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().expect("dates");
        assert_eq!((axis.step, axis.periods), (Step::Days(1), 5));
        assert_eq!(numbered(&t), vec![1.0, 2.0, 3.0, 5.0]);
        assert_eq!(axis.first_shown(), "2026-10-30");
        assert_eq!(axis.period("treatment_time", "20261101").unwrap(), 3);
        assert_eq!(axis.period("treatment_time", "2026-11-01").unwrap(), 3);
        axis.number_dates(&mut t, "first").unwrap();
        match t.column("first").unwrap() {
            Column::Num(v) => assert!(v[0].is_nan() && v[1] == 3.0 && v[2].is_nan() && v[3] == 2.0, "{v:?}"),
            Column::Text(_) => panic!("text"),
        }
        // periods 1, 2, 3 and a month's number that is no day stay numbers
        for v in [vec![1.0, 2.0, 3.0], vec![20261101.0, 20261132.0], vec![20261101.5]] {
            let mut t = Table::from_columns(vec![("date", Column::Num(v.clone()))]);
            assert!(TimeAxis::number(&mut t, "date", false).unwrap().is_none(), "{v:?}");
        }
        // an empty day: left out where the method allows, otherwise the numbers stay numbers
        let mut t = Table::from_columns(vec![("date", Column::Num(vec![20261101.0, f64::NAN]))]);
        assert!(TimeAxis::number(&mut t, "date", true).unwrap().is_some());
        let e = TimeAxis::number(&mut table(&["2026-11-01", "2026-11-02", "Grand total"]), "date", false).unwrap_err();
        assert!(e.to_string().contains("row 3: \"Grand total\" is a totals row, not a date"), "{e}");
    }

    #[test]
    fn days_weeks_months_and_gaps() {
        // Two units of daily dates with a day missing: the missing day is a period of its own.
        let mut t = table(&["2026-09-01", "2026-09-02", "2026-09-04", "2026-09-01", "2026-09-02", "2026-09-04"]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        assert_eq!((axis.step, axis.periods), (Step::Days(1), 4));
        assert_eq!(numbered(&t), vec![1.0, 2.0, 4.0, 1.0, 2.0, 4.0]);
        assert_eq!(axis.summary().dates, vec!["2026-09-01", "2026-09-02", "2026-09-03", "2026-09-04"]);
        // Weeks (a week missing), in the US format.
        let mut t = table(&["09/07/2026", "09/14/2026", "09/28/2026"]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        assert_eq!((axis.step, axis.periods), (Step::Days(7), 4));
        assert_eq!(numbered(&t), vec![1.0, 2.0, 4.0]);
        assert_eq!(axis.period("start", "2026-09-21").unwrap(), 3);
        assert_eq!(axis.period("start", "09/21/2026").unwrap(), 3);
        let e = axis.period("start", "2026-09-22").unwrap_err();
        assert!(e.to_string().contains("not one of the periods") && e.field() == "start", "{e}");
        let e = axis.period("start", "3").unwrap_err();
        assert!(e.to_string().contains("holds dates, so give one such as 2026-09-07"), "{e}");
        // Ranges of dates, in the forms the flags take.
        for r in ["2026-09-07-2026-09-21", "2026-09-07..2026-09-21", "09/07/2026 to 09/21/2026"] {
            assert_eq!(axis.range("fit_window", r).unwrap(), "1-3", "{r}");
        }
        assert_eq!(axis.range("fit_window", "2026-09-14").unwrap(), "2");
        assert_eq!(axis.predictors("spend:2026-09-07..2026-09-14,outcome:2026-09-21").unwrap(), "spend:1-2,outcome:3");
        let long = "-".repeat(100_000);
        assert!(axis.range("fit_window", &long).unwrap_err().to_string().contains("100000 characters"));
        let e = axis.range("fit_window", "2026-09-08..2026-09-21").unwrap_err();
        assert!(e.to_string().contains("2026-09-08 is not one of the periods"), "{e}");
        // Months across a year's end (31, 30 and 28 days apart), and quarters.
        let mut t = table(&["2025-11-01", "2025-12-01", "2026-01-01", "2026-03-01"]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        assert_eq!((axis.step, axis.periods), (Step::Months(1), 5));
        assert_eq!(numbered(&t), vec![1.0, 2.0, 3.0, 5.0]);
        assert_eq!(axis.summary().last, "2026-03-01");
        let mut t = table(&["2026-01-01", "2026-04-01", "2026-10-01"]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        assert_eq!((axis.step.to_string(), axis.periods), ("quarter".to_string(), 4));
        let phrases: Vec<String> =
            [Step::Days(1), Step::Days(7), Step::Days(3), Step::Months(1), Step::Months(3), Step::Months(6)]
                .iter()
                .map(|s| s.phrase())
                .collect();
        assert_eq!(phrases, ["a day", "a week", "3 days", "a month", "a quarter", "6 months"]);
        // Days written as their midnight (TikTok's stat_time_day; a Parquet TIMESTAMP read as
        // text, UTC).
        let mut t = table(&["2026-11-01 00:00:00", "2026-11-02 00:00:00"]);
        assert_eq!(TimeAxis::number(&mut t, "date", false).unwrap().unwrap().step, Step::Days(1));
        let mut t = table(&["2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"]);
        assert_eq!(TimeAxis::number(&mut t, "date", false).unwrap().unwrap().step, Step::Days(7));
        // with an offset: the day written; a bad row's message shows the format with one
        let mut t = table(&["2026-11-01T00:00:00+01:00", "2026-11-02T00:00:00+01:00", "2026-11-03T00:00:00+01:00"]);
        assert_eq!(TimeAxis::number(&mut t, "date", false).unwrap().unwrap().first_shown(), "2026-11-01");
        assert_eq!(example("%Y-%m-%dT%H:%M:%S%.f%:z"), "2026-09-01T00:00:00+00:00");
        let mut dates = vec!["2026-11-01T00:00:00+01:00"; 12];
        dates.push("soon");
        let e = TimeAxis::number(&mut table(&dates), "date", false).unwrap_err();
        assert!(e.to_string().contains("2026-09-01T00:00:00+00:00"), "{e}");
    }

    /// A Parquet file whose time column and cohort are DATE columns (days since 1970-01-01):
    /// read as dates, as a CSV's text dates are.
    #[test]
    fn parquet_date_columns_are_dates() {
        use crate::api::causal::PanelFormat;
        use parquet::data_type::{DoubleType, Int32Type};
        let mut out = Vec::new();
        let mut w = crate::service::source::parquet_writer(
            &mut out,
            "message m { required int32 day (DATE); optional int32 first (DATE); required double y; }",
        );
        let mut rg = w.next_row_group().unwrap();
        // 2026-09-01 is day 20,697: weeks 1, 2 and 4 (week 3 missing); the cohort week 2 or none
        let days = [20_697, 20_704, 20_718, 20_697, 20_704, 20_718];
        let first = [20_704, 20_704, 20_704];
        let defs = [1, 1, 1, 0, 0, 0];
        for c in 0..3 {
            let mut col = rg.next_column().unwrap().unwrap();
            match c {
                0 => col.typed::<Int32Type>().write_batch(&days, None, None).unwrap(),
                1 => col.typed::<Int32Type>().write_batch(&first, Some(&defs), None).unwrap(),
                _ => col.typed::<DoubleType>().write_batch(&[1.0; 6], None, None).unwrap(),
            };
            col.close().unwrap();
        }
        rg.close().unwrap();
        w.close().unwrap();
        let mut t = crate::service::source::parse_panel(&out, PanelFormat::Parquet).unwrap();
        assert!(t.holds_days("day") && t.holds_days("first") && !t.holds_days("y"));
        let axis = TimeAxis::number(&mut t, "day", false).unwrap().expect("dates");
        assert_eq!((axis.step, axis.periods, axis.first_shown()), (Step::Days(7), 4, "2026-09-01".to_string()));
        assert_eq!(numbered(&t), vec![1.0, 2.0, 4.0, 1.0, 2.0, 4.0]);
        assert!(!t.holds_days("day"), "periods now, not days");
        axis.number_dates(&mut t, "first").unwrap();
        match t.column("first").unwrap() {
            Column::Num(v) => assert!(v[..3] == [2.0; 3] && v[3..].iter().all(|x| x.is_nan()), "{v:?}"),
            Column::Text(_) => panic!("text"),
        }
    }

    #[test]
    fn numbers_are_left_alone_and_bad_dates_named() {
        let mut t = Table::from_columns(vec![("t", Column::Num(vec![1.0, 2.0]))]);
        assert_eq!(TimeAxis::number(&mut t, "t", false).unwrap(), None);
        // A row that is not a date among dates: its row.
        let mut t = table(&["2026-09-01", "2026-09-02", "soon", "2026-09-03", "2026-09-04", "2026-09-05"]);
        let e = TimeAxis::number(&mut t, "date", false).unwrap_err();
        assert_eq!(e.field(), "date");
        assert!(e.to_string().starts_with("date: row 3: \"soon\" is not a date"), "{e}");
        let mut t = table(&["2026-09-01", "", "2026-09-03"]);
        assert!(TimeAxis::number(&mut t, "date", false).unwrap_err().to_string().contains("row 2: is empty"));
        // Text that is not dates: left to the estimator to refuse.
        let mut t = table(&["a", "b"]);
        assert_eq!(TimeAxis::number(&mut t, "date", false).unwrap(), None);
        // Mostly not dates, but some are: the first row that is not is named.
        let mut t = table(&["x", "y", "2026-09-01"]);
        assert!(TimeAxis::number(&mut t, "date", false)
            .unwrap_err()
            .to_string()
            .starts_with("date: row 1: \"x\" is not a date"));
        // Times off the hour among hours: named.
        let mut t = table(&["2026-09-01 10:00:00", "2026-09-01 11:00:00", "2026-09-01 11:30:00"]);
        let e = TimeAxis::number(&mut t, "date", false).unwrap_err().to_string();
        assert!(e.contains("row 3: \"2026-09-01 11:30:00\" is not on the hour"), "{e}");
        // Centuries of days.
        let mut t = table(&["1700-01-01", "1700-01-02", "2026-01-02"]);
        assert!(TimeAxis::number(&mut t, "date", false).unwrap_err().to_string().contains("more than 100000"));
    }

    /// A panel by hour (a geo test read out hour by hour): periods of an hour across midnight,
    /// an hour missing from the data a period of its own; times given on the axis as hours or as
    /// a day's midnight; cohorts of first treated hours.
    #[test]
    fn hours() {
        let hours = ["2026-11-01 22:00:00", "2026-11-01 23:00:00", "2026-11-02 01:00:00"];
        let mut t = table(&[hours, hours].concat());
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        assert_eq!((axis.step, axis.periods, axis.step.to_string()), (Step::Hours(1), 4, "hour".to_string()));
        assert_eq!(numbered(&t), vec![1.0, 2.0, 4.0, 1.0, 2.0, 4.0]);
        let s = axis.summary();
        assert_eq!(s.dates, ["2026-11-01 22:00", "2026-11-01 23:00", "2026-11-02 00:00", "2026-11-02 01:00"]);
        assert_eq!((s.first.as_str(), s.last.as_str()), ("2026-11-01 22:00", "2026-11-02 01:00"));
        for v in ["2026-11-02 00:00", "2026-11-02 00:00:00", "2026-11-02T00:00:00", "2026-11-02"] {
            assert_eq!(axis.period("treatment_time", v).unwrap(), 3, "{v}");
        }
        assert_eq!(axis.range("fit_window", "2026-11-01 22:00..2026-11-01 23:00").unwrap(), "1-2");
        let e = axis.period("treatment_time", "2026-11-02 00:30").unwrap_err().to_string();
        assert!(e.contains("2026-11-02 00:30 is not one of the periods") && e.contains("steps of an hour"), "{e}");
        let e = axis.period("treatment_time", "soon").unwrap_err().to_string();
        assert!(e.contains("holds hours, so give one such as 2026-11-01 22:00"), "{e}");
        // every three hours
        let mut t = table(&["2026-11-01 00:00:00", "2026-11-01 03:00:00", "2026-11-01 09:00:00"]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        assert_eq!((axis.step.phrase(), axis.periods), ("3 hours".to_string(), 4));
        assert_eq!(Step::Hours(1).phrase(), "an hour");
        // first treated hours
        let mut t = Table::from_columns(vec![
            ("date", Column::Text(hours.iter().map(|s| s.to_string()).collect())),
            ("first", Column::Text(["2026-11-01 23:00", "never", "2026-11-01 23:00:00"].iter().collect())),
        ]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        axis.number_dates(&mut t, "first").unwrap();
        match t.column("first").unwrap() {
            Column::Num(v) => assert!(v[0] == 2.0 && v[1].is_nan() && v[2] == 2.0, "{v:?}"),
            Column::Text(_) => panic!("still text"),
        }
    }

    /// An empty date is refused naming its row, unless the method leaves incomplete rows out
    /// (the DiD): then its period is empty (NaN) and the axis is the other rows'.
    #[test]
    fn an_empty_date_is_refused_or_left_for_the_did_to_leave_out() {
        let dates = ["2026-09-01", "", "2026-09-15", "NA", "2026-09-01", "2026-09-08"];
        let e = TimeAxis::number(&mut table(&dates), "date", false).unwrap_err().to_string();
        assert!(e.starts_with("date: row 2: is empty; the column holds dates (2026-09-01), one on every row"), "{e}");
        let mut t = table(&dates);
        let axis = TimeAxis::number(&mut t, "date", true).unwrap().unwrap();
        assert_eq!((axis.step, axis.periods, axis.first_shown()), (Step::Days(7), 3, "2026-09-01".to_string()));
        let v = numbered(&t);
        assert_eq!((v[0], v[2], v[4], v[5]), (1.0, 3.0, 1.0, 2.0));
        assert!(v[1].is_nan() && v[3].is_nan(), "{v:?}");
        // a date that does not read is still refused, and a column of nothing but empty cells
        let e = TimeAxis::number(&mut table(&["2026-09-01", "", "soon"]), "date", true).unwrap_err().to_string();
        assert!(e.contains("row 3"), "{e}");
        // a Parquet DATE column's empty cell
        let mut t = Table::from_columns(vec![("date", Column::Num(vec![20697.0, f64::NAN, 20704.0]))]);
        t.mark_days("date");
        let e = TimeAxis::number(&mut t.clone(), "date", false).unwrap_err().to_string();
        assert!(e.starts_with("date: row 2: is empty"), "{e}");
        TimeAxis::number(&mut t, "date", true).unwrap().unwrap();
        let v = numbered(&t);
        assert!(v[0] == 1.0 && v[1].is_nan() && v[2] == 2.0, "{v:?}");
        // analyze/advanced: lenient where every method on the column is the DiD
        let did = serde_json::json!({"method": "did", "unit": "u", "time": "date", "outcome": "y", "treatment": "d"});
        let synth = serde_json::json!({"method": "synth", "unit": "u", "time": "date", "outcome": "y",
            "treated_unit": "a", "treatment_time": "2026-09-08"});
        let mut t = table(&dates);
        date_methods(&mut t, &mut [did.clone()]).unwrap().unwrap();
        assert!(numbered(&t)[1].is_nan());
        let e = date_methods(&mut table(&dates), &mut [did, synth]).unwrap_err().to_string();
        assert!(e.contains("row 2: is empty"), "{e}");
    }

    #[test]
    fn cohorts_of_dates() {
        let mut t = Table::from_columns(vec![
            ("date", Column::Text(["2026-09-01", "2026-09-08", "2026-09-15"].iter().collect())),
            ("first", Column::Text(["2026-09-08", "", "NA"].iter().collect())),
        ]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        axis.number_dates(&mut t, "first").unwrap();
        match t.column("first").unwrap() {
            Column::Num(v) => assert!(v[0] == 2.0 && v[1].is_nan() && v[2].is_nan(), "{v:?}"),
            Column::Text(_) => panic!("still text"),
        }
        let mut bad = Table::from_columns(vec![
            ("date", Column::Text(["2026-09-01", "2026-09-08"].iter().collect())),
            ("first", Column::Text(["2026-08-25", "2026-09-09"].iter().collect())),
        ]);
        let axis = TimeAxis::number(&mut bad, "date", false).unwrap().unwrap();
        let e = axis.number_dates(&mut bad, "first").unwrap_err();
        assert!(e.to_string().starts_with("first: row 1: 2026-08-25 is before the first date"), "{e}");
        // Numbers beside dates: refused unless all say never treated.
        let mut t = Table::from_columns(vec![
            ("date", Column::Text(["2026-09-01", "2026-09-02"].iter().collect())),
            ("first", Column::Num(vec![0.0, 2.0])),
        ]);
        let axis = TimeAxis::number(&mut t, "date", false).unwrap().unwrap();
        assert!(axis.number_dates(&mut t, "first").unwrap_err().to_string().contains("row 2: 2 is a number"));
    }

    /// A message counted in periods names each period's date once, and leaves other numbers,
    /// "periods" and periods off the axis alone.
    #[test]
    fn messages_name_the_dates_of_their_periods() {
        let axis = AxisSummary {
            column: "week".into(),
            step: "week".into(),
            first: "2025-01-06".into(),
            last: "2025-01-20".into(),
            periods: 3,
            dates: vec!["2025-01-06".into(), "2025-01-13".into(), "2025-01-20".into()],
        };
        assert_eq!(
            axis.dated("market m3 has no value for period 2"),
            "market m3 has no value for period 2 (2025-01-13)"
        );
        assert_eq!(
            axis.dated("a 4-period test from period 3 needs 4 periods from it, but the panel has 1 (it ends at period 3)"),
            "a 4-period test from period 3 (2025-01-20) needs 4 periods from it, but the panel has 1 (it ends at period 3 (2025-01-20))"
        );
        let once = axis.dated("period 1 and period 9 and period 0 and period -1");
        assert_eq!(once, "period 1 (2025-01-06) and period 9 and period 0 and period -1");
        assert_eq!(axis.dated(&once), once, "dated once");
        let e = dated_error(ValidationError::new("panel", "no value for period 3").into(), Some(&axis));
        assert_eq!(e.to_string(), "panel: no value for period 3 (2025-01-20)");
    }
}
