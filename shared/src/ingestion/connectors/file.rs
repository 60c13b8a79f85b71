//! Exports dropped as files: CSV or Parquet, mapped column by column. Each row is checked; a
//! row that cannot be read is reported with its line and column, and the rest still land.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use super::{Connection, ConnectorError};
use crate::ingestion::{DailyRow, PlatformBatch};
use liftos_estimators::data::{decimal_comma, windows_1252, Column, DecimalCommas, Table};

/// Which export column holds each field (absent metrics are 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    pub date: String,
    pub campaign_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_name: Option<String>,
    pub spend: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impressions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<String>,
    /// chrono format of the date column (`%d.%m.%Y`), or as a person writes one (`DD.MM.YYYY`);
    /// default: of the formats a detected map tries, the one that reads the column's dates;
    /// `%Y-%m-%d` where none does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
    /// Multiply the money columns by this first (1e-6 for a spend and revenue in micros whose
    /// names do not say so). A column named in micros (the Google Ads API's
    /// `metrics.cost_micros`) is divided by 1,000,000 without it, and money_scale leaves it be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money_scale: Option<f64>,
}

impl ColumnMap {
    /// The map with each column named as the export's header writes it, where a person wrote it
    /// otherwise (`cost` or `Campaign_ID` for `Cost` and `Campaign ID`: the same name without
    /// regard to case, spaces or underscores, and only one such column). A name the header holds
    /// as written, or matches twice or not at all, stays as it is (a missing one is then an error
    /// listing the export's columns).
    pub fn resolved(&self, names: &[String]) -> ColumnMap {
        let name = |wanted: &String| -> String {
            if names.iter().any(|n| n == wanted) {
                return wanted.clone();
            }
            match names.iter().filter(|n| same_name(n, wanted)).collect::<Vec<_>>()[..] {
                [one] => one.clone(),
                _ => wanted.clone(),
            }
        };
        let optional = |o: &Option<String>| o.as_ref().map(name);
        ColumnMap {
            date: name(&self.date),
            campaign_id: name(&self.campaign_id),
            campaign_name: optional(&self.campaign_name),
            spend: name(&self.spend),
            impressions: optional(&self.impressions),
            clicks: optional(&self.clicks),
            conversions: optional(&self.conversions),
            revenue: optional(&self.revenue),
            date_format: self.date_format.clone(),
            money_scale: self.money_scale,
        }
    }
}

/// A row of the export that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadRow {
    /// 1-based data row (after the header).
    pub row: usize,
    pub column: String,
    pub reason: String,
    /// Not an error: a row of another currency than the connection's, left for the connection
    /// of its own currency (reported, not counted against the batch's quality).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub left_out: bool,
}

fn column_cell(c: &Column, i: usize) -> Option<Cow<'_, str>> {
    match c {
        Column::Num(v) => v.get(i).filter(|x| x.is_finite()).map(|x| Cow::Owned(x.to_string())),
        Column::Text(v) => v.get(i).map(Cow::Borrowed),
    }
}

/// The columns [`read_rows`] reads on every row, found once: a cell by its column's name without
/// hashing the name again for each row (the names asked for are the very strings the columns
/// were found by, compared by address first), borrowed rather than copied, and a column of
/// numbers read as numbers instead of written out as text and read back (the same value: a
/// finite double's shortest text reads back to it). An export of 806,400 keyword rows took 9.6 s
/// to ingest before, most of it in hashing names, formatting numbers and copying strings.
struct Cells<'t> {
    table: &'t Table,
    found: Vec<(&'t str, &'t Column)>,
}

impl<'t> Cells<'t> {
    fn new(table: &'t Table, names: impl IntoIterator<Item = &'t str>) -> Self {
        let found = names.into_iter().filter_map(|n| table.column(n).ok().map(|c| (n, c))).collect();
        Cells { table, found }
    }

    fn column(&self, name: &str) -> Option<&'t Column> {
        let by_address = self.found.iter().find(|(n, _)| std::ptr::eq(*n, name));
        match by_address.or_else(|| self.found.iter().find(|(n, _)| *n == name)) {
            Some((_, c)) => Some(*c),
            None => self.table.column(name).ok(),
        }
    }

    fn get(&self, name: &str, i: usize) -> Option<Cow<'t, str>> {
        column_cell(self.column(name)?, i)
    }

    /// A numeric column's value (None inside when it is not finite: an empty cell); None when
    /// the column is text (or absent), whose cells are read as amounts.
    fn number(&self, name: &str, i: usize) -> Option<Option<f64>> {
        match self.column(name)? {
            Column::Num(v) => Some(v.get(i).copied().filter(|x| x.is_finite())),
            Column::Text(_) => None,
        }
    }
}

/// Days from 1970-01-01 to 9999-12-31: the last date a numeric date column may hold.
const MAX_DATE_DAYS: f64 = 2_932_896.0;

/// What [`parse`] read from an export.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The campaign-days.
    pub batch: PlatformBatch,
    /// The rows that could not be read.
    pub bad: Vec<BadRow>,
    /// For each of the batch's rows, the 1-based data row it was first read from (finer rows
    /// summed into it come later), so that a later stage's rejection can name its line.
    pub first_rows: Vec<usize>,
}

/// [`read_rows`] without the rows' places.
pub fn parse(conn: &Connection, table: &Table) -> Result<(PlatformBatch, Vec<BadRow>), ConnectorError> {
    read_rows(conn, table).map(|p| (p.batch, p.bad))
}

/// Map the table's rows; unreadable rows are returned beside the good ones. A missing column
/// fails the whole file (nothing in it can be read). Totals rows (`Total: Account`) are skipped;
/// money may carry a currency sign and thousands separators; `--`, `-` or `–` is no value (0).
pub fn read_rows(conn: &Connection, table: &Table) -> Result<Parsed, ConnectorError> {
    let given =
        conn.column_map.as_ref().ok_or_else(|| ConnectorError::malformed("file", "column_map", "is required"))?;
    let resolved = given.resolved(&table.names);
    let map = &resolved;
    let mut needed = vec![&map.date, &map.campaign_id, &map.spend];
    needed.extend(
        [&map.impressions, &map.clicks, &map.conversions, &map.revenue, &map.campaign_name].into_iter().flatten(),
    );
    for c in &needed {
        if table.column(c).is_err() {
            return Err(ConnectorError::malformed(
                "file",
                format!("column_map: {c}"),
                format!("the export has no such column (it has: {})", listed(&table.names)),
            ));
        }
    }
    // Ids that Excel wrote in scientific notation have lost their last digits: campaigns whose
    // first digits agree would fall together, and the others be stored under ids that are not
    // theirs (the same campaign twice, once an export read straight from the platform comes).
    if let Ok(Column::Text(ids)) = table.column(&map.campaign_id) {
        if let Some((i, id)) = ids.iter().enumerate().find(|(_, id)| scientific(id)) {
            return Err(ConnectorError::malformed(
                "file",
                format!("column_map: {}", map.campaign_id),
                format!(
                    "row {}: {id:?} is an id in scientific notation, as Excel saves a long number in a CSV: its last \
                     digits are lost, so campaigns cannot be told apart. Download the export again and do not save it \
                     from Excel (or format the column as text first), or map campaign_id to the campaign's name",
                    i + 1
                ),
            ));
        }
    }
    // A report by week or month holds a period's spend in each row: as a day's it would be
    // seven or thirty times what was spent that day.
    if is_period_name(&map.date) {
        return Err(ConnectorError::malformed(
            "file",
            format!("column_map: {}", map.date),
            "the export is by week or month; records are days: download it broken down by day",
        ));
    }
    // A map without a date format reads the dates in the format that reads them, as a detected
    // map does (`01.11.2026`, `11/01/2026`); where none does, each row is rejected naming ISO's.
    let detected;
    let fmt = match map.date_format.as_deref() {
        Some(f) => {
            detected = chrono_format(f);
            detected.as_str()
        }
        None => {
            detected = export_date_format(table, &map.date).unwrap_or_else(|_| "%Y-%m-%d".to_string());
            detected.as_str()
        }
    };
    if let Some(period) = periods_not_days(table, &map.date, fmt) {
        return Err(ConnectorError::malformed(
            "file",
            format!("column_map: {}", map.date),
            format!(
                "the export is by {period} (its {:?} holds only the first day of each {period}); records are \
                 days: download it with the time unit Day",
                map.date
            ),
        ));
    }
    // A column named in micros is read as micros; money_scale scales the other money columns
    // (Snapchat's API writes both spend and conversion values in micros without saying so).
    // A scale below one that is a whole divisor (1e-6: a million) divides, so that 37,020,000
    // micros are 37.02 exactly, as the Google Ads connector reads them (times 1e-6 they were
    // 37.019999999999996).
    let money = |c: &str| {
        let scale = if in_micros(c) { 1e-6 } else { map.money_scale.unwrap_or(1.0) };
        let divisor = (1.0 / scale).round();
        let divides = scale < 1.0 && divisor.is_finite() && (divisor * scale - 1.0).abs() < 1e-12;
        let fx = conn.fx_rate;
        move |x: f64| if divides { x / divisor * fx } else { x * scale * fx }
    };
    let spend_scale = money(&map.spend);
    let revenue_scale = money(map.revenue.as_deref().unwrap_or(&map.spend));
    let mut rows: Vec<DailyRow> = Vec::new();
    let mut first_rows: Vec<usize> = Vec::new();
    let mut bad = Vec::new();
    // The date column is the start of each row's reporting range, and the export has its end.
    let range_end = RANGE_COLUMNS
        .iter()
        .find(|(start, _)| same_name(&map.date, start))
        .map(|(_, end)| *end)
        .and_then(|end| table.names.iter().find(|n| same_name(n, end)))
        .map(String::as_str);
    // Finer rows than a campaign's day (ad groups, ad sets, ads, keywords, or a breakdown by
    // device, age or region, or the hours of a report by hour): told apart by the columns the
    // map does not use that hold text, ids, hours or true/false flags (and by the time in the
    // date column), and
    // summed into the campaign's day. The same campaign, day and breakdown twice is a
    // duplicate, left for the quality stage to reject.
    let mapped: Vec<&str> = needed.iter().map(|c| c.as_str()).chain(range_end).collect();
    let breakdown: Vec<&str> = table
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| !mapped.contains(n) && !n.to_ascii_lowercase().contains("status"))
        .filter(|n| {
            matches!(table.column(n), Ok(Column::Text(_))) || table.holds_flags(n) || is_id_name(n) || is_hour_name(n)
        })
        .collect();
    // Amounts in more than one currency (a manager account's export over accounts in dollars
    // and in euros) are neither summed nor scaled by the connection's one fx_rate: a connection
    // that names its currency keeps its rows and leaves out the others; one that does not
    // refuses the file. The export's totals rows are not days of a campaign.
    let currency_column = table.names.iter().find(|n| CURRENCY_COLUMNS.iter().any(|c| same_name(n, c)));
    let cells = Cells::new(
        table,
        needed
            .iter()
            .map(|c| c.as_str())
            .chain(range_end)
            .chain(currency_column.map(String::as_str))
            .chain(breakdown.iter().copied()),
    );
    let worded_total =
        |i: usize| [&map.date, &map.campaign_id].iter().any(|c| cells.get(c, i).is_some_and(|s| is_summary_cell(&s)));
    // A totals row without the word (an export's summary line: no day, no campaign, and the
    // spend of all the other rows, to the cent each row was rounded to) is one too; a row with
    // no day and no campaign whose spend is anything else stays a row that cannot be read.
    let keyless = |i: usize| [&map.date, &map.campaign_id].iter().all(|c| cells.get(c, i).is_none_or(|s| no_value(&s)));
    let spend_of = |i: usize| match cells.number(&map.spend, i) {
        Some(x) => x,
        None => cells.get(&map.spend, i).and_then(|s| amount(&s)).filter(|x| x.is_finite()),
    };
    let counted: Vec<usize> = (0..table.rows).filter(|&i| !worded_total(i) && !keyless(i)).collect();
    let others: f64 = counted.iter().filter_map(|&i| spend_of(i)).sum();
    let cents = 0.01f64.max(0.005 * counted.len() as f64);
    let unworded_total = |i: usize| keyless(i) && spend_of(i).is_some_and(|s| s > 0.0 && (s - others).abs() <= cents);
    let summary_row = |i: usize| worded_total(i) || unworded_total(i);
    let currency_of = |i: usize| {
        let code = currency_column.and_then(|c| cells.get(c, i)).map(|s| s.trim().to_uppercase());
        code.filter(|c| !no_value(c) && !is_summary_cell(c))
    };
    let own_currency = conn.currency.as_deref().map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty());
    if let (Some(column), None) = (currency_column, &own_currency) {
        let found: std::collections::BTreeSet<String> =
            (0..table.rows).filter(|i| !summary_row(*i)).filter_map(currency_of).collect();
        if found.len() > 1 {
            let list: Vec<&str> = found.iter().map(String::as_str).collect();
            return Err(ConnectorError::malformed(
                "file",
                "currency",
                format!(
                    "the export holds amounts in {} currencies ({}, column {column:?}), which one fx_rate cannot \
                     convert: export each currency's accounts on their own, each through a connection with its \
                     currency and fx_rate, or give this connection its currency to keep only that currency's rows",
                    list.len(),
                    list.join(", ")
                ),
            ));
        }
    }
    let mut days: std::collections::HashMap<(String, NaiveDate), (usize, std::collections::HashSet<String>)> =
        std::collections::HashMap::new();
    let mut summed = 0usize;
    // the metric columns in the order of `vals` below (the map's own strings, as `cells` has them)
    let metrics: [Option<&str>; 5] = [
        Some(map.spend.as_str()),
        map.impressions.as_deref(),
        map.clicks.as_deref(),
        map.conversions.as_deref(),
        map.revenue.as_deref(),
    ];
    'rows: for i in 0..table.rows {
        let get = |c: &str| cells.get(c, i);
        // A row with no value at all (a spreadsheet's blank row, or a line of another length
        // than the header's, which `even_rows` emptied and reports) is no day of a campaign.
        if needed.iter().all(|c| get(c).is_none_or(|s| s.trim().is_empty())) {
            continue;
        }
        if summary_row(i) {
            continue;
        }
        if let (Some(own), Some(code), Some(column)) = (&own_currency, currency_of(i), currency_column) {
            if code != *own {
                bad.push(BadRow {
                    row: i + 1,
                    left_out: true,
                    column: column.clone(),
                    reason: format!(
                        "in {code}, not the connection's {own}: left for the connection of its own currency, with its fx_rate"
                    ),
                });
                continue;
            }
        }
        let number = |c: Option<&str>| -> Result<f64, (String, String)> {
            let Some(c) = c else { return Ok(0.0) };
            match cells.number(c, i) {
                // a column of numbers: its value, or no value (0) in an empty cell
                Some(x) => Ok(x.unwrap_or(0.0)),
                None => match get(c) {
                    None => Ok(0.0),
                    // Empty, or a dash where the platform has no value for the day (Google Ads
                    // writes `--`, TikTok and Snapchat `-`).
                    Some(s) if no_value(&s) => Ok(0.0),
                    Some(s) => amount(&s).ok_or_else(|| {
                        let hint = if s.contains(',') {
                            " (commas are read as thousands separators, 1,024.50: a decimal comma is not taken)"
                        } else {
                            ""
                        };
                        (c.to_string(), format!("{s:?} is not a number{hint}"))
                    }),
                },
            }
        };
        // A Parquet DATE column arrives as days since 1970-01-01 (up to 9999-12-31); anything
        // else, a number like 20260901 included, is text parsed with the format.
        let as_days = match table.column(&map.date) {
            Ok(Column::Num(v)) => v
                .get(i)
                .filter(|x| x.is_finite() && x.fract() == 0.0 && (0.0..=MAX_DATE_DAYS).contains(*x))
                .and_then(|x| NaiveDate::default().checked_add_signed(chrono::Duration::days(*x as i64))),
            _ => None,
        };
        let date = match as_days.or_else(|| get(&map.date).and_then(|s| day_in(s.trim(), fmt))) {
            Some(d) => d,
            None => {
                bad.push(BadRow {
                    row: i + 1,
                    left_out: false,
                    column: map.date.clone(),
                    reason: format!("not a date in the format {fmt}"),
                });
                continue;
            }
        };
        // A row of an export not broken down by day covers its whole reporting range: as one
        // day's spend it would put a month on its first day.
        if let Some(end_col) = range_end {
            let end_text = get(end_col);
            let end = end_text.as_deref().and_then(|s| day_in(s.trim(), fmt));
            // a range written with its end excluded: from a midnight to the next one is a day
            let next_midnight = |e: &NaiveDate| {
                date.succ_opt() == Some(*e) && end_text.as_deref().is_some_and(|s| at_midnight(s.trim(), fmt))
            };
            if let Some(end) = end.filter(|e| *e != date && !next_midnight(e)) {
                bad.push(BadRow {
                    row: i + 1,
                    left_out: false,
                    column: end_col.to_string(),
                    reason: format!(
                        "the row covers {date} to {end}, not one day: download the export broken down by day"
                    ),
                });
                continue;
            }
        }
        let campaign = match get(&map.campaign_id).filter(|s| !s.trim().is_empty()) {
            Some(c) => campaign_key(c.trim().trim_end_matches(".0")),
            None => {
                bad.push(BadRow {
                    row: i + 1,
                    left_out: false,
                    column: map.campaign_id.clone(),
                    reason: "is empty".into(),
                });
                continue;
            }
        };
        let mut vals = [0.0; 5];
        for (k, &c) in metrics.iter().enumerate() {
            match number(c) {
                Ok(v) => vals[k] = v,
                Err((column, reason)) => {
                    bad.push(BadRow { row: i + 1, left_out: false, column, reason });
                    continue 'rows;
                }
            }
        }
        // the hour of a report by hour is part of what tells its rows apart
        let part: String = std::iter::once(map.date.as_str())
            .filter(|_| fmt.contains("%H"))
            .chain(breakdown.iter().copied())
            .map(|c| get(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\u{1f}");
        match days.get_mut(&(campaign.clone(), date)) {
            Some((at, parts)) if !parts.contains(&part) => {
                let r: &mut DailyRow = &mut rows[*at];
                r.spend += spend_scale(vals[0]);
                r.impressions += vals[1];
                r.clicks += vals[2];
                r.conversions += vals[3];
                r.revenue += revenue_scale(vals[4]);
                parts.insert(part);
                summed += 1;
                continue;
            }
            Some(_) => {}
            None => {
                days.insert((campaign.clone(), date), (rows.len(), std::collections::HashSet::from([part])));
            }
        }
        first_rows.push(i + 1);
        rows.push(DailyRow {
            platform: conn.platform,
            campaign_id: campaign,
            campaign_name: map.campaign_name.as_deref().and_then(get).map(Cow::into_owned).or_else(|| {
                // A campaign named, not numbered: the name is kept as it was written.
                get(&map.campaign_id).map(|c| c.trim().to_string()).filter(|c| campaign_key(c) != *c)
            }),
            date,
            timestamp: conn.day_start_utc(date)?,
            spend: spend_scale(vals[0]),
            impressions: vals[1],
            clicks: vals[2],
            conversions: vals[3],
            revenue: revenue_scale(vals[4]),
            extra: Default::default(),
        });
    }
    if summed > 0 {
        tracing::info!(rows = summed, by = %breakdown.join(", "), "summed finer rows into their campaign's day");
    }
    Ok(Parsed { batch: PlatformBatch { rows, changes: vec![] }, bad, first_rows })
}

/// A number as exports write amounts: maybe a currency sign before it and thousands separators
/// (`$1,024.50`).
pub fn amount(s: &str) -> Option<f64> {
    let t = s.trim().trim_start_matches(['$', '€', '£', '¥']);
    // Commas only as thousands separators: `1,024.50`, never `12,50` (a decimal comma, which
    // read as a separator would make 1250).
    let whole = t.split(['.', 'e', 'E']).next().unwrap_or("");
    let mut groups = whole.trim_start_matches(['-', '+']).split(',');
    let first_ok = groups.next().is_some_and(|g| !whole.contains(',') || (1..=3).contains(&g.len()));
    if !(first_ok && groups.all(|g| g.len() == 3)) || t[whole.len()..].contains(',') {
        return None;
    }
    t.replace(',', "").parse::<f64>().ok()
}

/// A number in scientific notation (`1.20210000000000E+17`, `2.01235E+11`): what Excel writes
/// in a CSV for a long number, such as an id, with its last digits lost.
pub(crate) fn scientific(s: &str) -> bool {
    let Some((mantissa, exponent)) = s.trim().split_once(['e', 'E']) else { return false };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    mantissa.bytes().any(|b| b.is_ascii_digit())
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

/// The id columns (`Campaign ID`, `ad_group_id`, and the map's `campaign_id`, whatever its name:
/// `Kampagnen-ID`) of an export's comma-separated `text` (a header and one record per row, as
/// [`even_rows`] leaves it) that hold a number in scientific notation, each with its fields as
/// written: the reader takes such a column for numbers, and as text [`read_rows`] can say why
/// its ids cannot be used.
pub fn scientific_id_columns(text: &[u8], map: Option<&ColumnMap>) -> Result<Vec<(String, Vec<String>)>, String> {
    // no exponent anywhere (an `e` or `E` before a digit or a `+`): no second pass over the file
    if !text.windows(2).any(|w| matches!(w[0], b'e' | b'E') && (w[1].is_ascii_digit() || w[1] == b'+')) {
        return Ok(Vec::new());
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text);
    let header = reader.byte_headers().map_err(|e| e.to_string())?.clone();
    let name = |c: usize| String::from_utf8_lossy(header.get(c).unwrap_or_default()).trim().to_string();
    let mapped = map.map(|m| m.campaign_id.trim());
    let ids: Vec<usize> = (0..header.len())
        .filter(|&c| is_id_name(&name(c)) || mapped.is_some_and(|m| m == name(c) || same_name(&name(c), m)))
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut fields: Vec<Vec<String>> = vec![Vec::new(); ids.len()];
    for record in reader.byte_records() {
        let record = record.map_err(|e| e.to_string())?;
        for (column, &c) in fields.iter_mut().zip(&ids) {
            column.push(String::from_utf8_lossy(record.get(c).unwrap_or_default()).trim().to_string());
        }
    }
    Ok(ids
        .iter()
        .zip(fields)
        .filter(|(_, column)| column.iter().any(|f| scientific(f)))
        .map(|(&c, column)| (name(c), column))
        .collect())
}

/// A column of identifiers (`Ad group ID`, `adset_id`, `Ad Id`), numbers that are not metrics.
fn is_id_name(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    n == "id" || n.ends_with(" id") || n.ends_with("_id") || n.ends_with("id)")
}

/// A date format as a person writes one (`DD.MM.YYYY`, `mm/dd/yyyy`, `YYYY-MM-DD`) in chrono's
/// terms (`%d.%m.%Y`); a format with a `%` is chrono's already and is kept as it is.
fn chrono_format(f: &str) -> String {
    if f.contains('%') {
        return f.to_string();
    }
    let lower = f.to_lowercase();
    let mut out = String::with_capacity(f.len() + 4);
    let mut rest = lower.as_str();
    while let Some(c) = rest.chars().next() {
        let token = ["yyyy", "yy", "mm", "dd"].into_iter().find(|t| rest.starts_with(t));
        match token {
            Some(t) => {
                out.push_str(match t {
                    "yyyy" => "%Y",
                    "yy" => "%y",
                    "mm" => "%m",
                    _ => "%d",
                });
                rest = &rest[t.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// A column of the hour of the day (Google Ads' `Hour of day`, 0 to 23): a breakdown of the day,
/// not a metric.
fn is_hour_name(name: &str) -> bool {
    let n = name.to_lowercase();
    n.split(|c: char| !c.is_alphanumeric())
        .any(|w| matches!(w, "hour" | "hourofday" | "stunde" | "heure" | "hora" | "ora" | "uur"))
}

/// An export as UTF-8, comma-separated text from its header on, and the lines above the header
/// (a title, a date range). Platforms write other encodings and separators than the comma:
/// LinkedIn Campaign Manager and the "Excel" downloads of Google Ads and Microsoft Advertising are
/// UTF-16 with tabs. UTF-16 (with its byte order mark, or without one where every other byte of
/// the first line is zero) is decoded; a header split by tabs has its rows rewritten with commas,
/// a field holding a comma or a quote quoted, so `1,024.50` stays one field. A UTF-8 comma file
/// is returned as it is, not copied; an Excel workbook (`.xlsx`, `.xls`, `.ods`) is its first
/// sheet's text ([`workbook_text`](super::xlsx::workbook_text)); text that is neither UTF-16 nor
/// UTF-8 is read as Windows-1252
/// (Excel's "CSV" on Windows: `Müller`, `€` as single bytes). A header split by semicolons (and holding no comma or tab)
/// is a spreadsheet's set to a language that writes decimal commas: its rows are rewritten with
/// commas too, and each field that is a number written with a decimal comma (`1.234,56`,
/// `250,00 €`) with a decimal point and no thousands separators (`1234.56`), so the money columns
/// read it as the same amount.
pub fn export_text<'a>(bytes: &'a [u8], date_column: Option<&str>) -> Result<(Cow<'a, [u8]>, usize), String> {
    let text: Cow<'a, [u8]> = match utf16(bytes) {
        _ if super::xlsx::is_workbook(bytes) => Cow::Owned(super::xlsx::workbook_text(bytes)?.into_bytes()),
        Some(big_endian) => Cow::Owned(decode_utf16(bytes, big_endian)?.into_bytes()),
        None => match windows_1252(bytes) {
            Some(text) => Cow::Owned(text.into_bytes()),
            None => Cow::Borrowed(bytes),
        },
    };
    let (start, skipped) = header_start(&text, date_column);
    let header = text[start..].split(|b| *b == b'\n').next().unwrap_or_default();
    let separator = if header.contains(&b'\t') {
        b'\t'
    } else if header.contains(&b';') && !header.contains(&b',') {
        b';'
    } else {
        // A comma file's decimal commas are quoted (`"1.234,56"`): only then is it rewritten.
        let decimal_columns =
            if text[start..].contains(&b'"') { comma_file_decimal_columns(&text[start..])? } else { Vec::new() };
        if !decimal_columns.contains(&true) {
            return Ok((slice_cow(text, start), skipped));
        }
        return rewrite_decimal_commas(&text, start, skipped, &decimal_columns);
    };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(separator).has_headers(false).flexible(true).from_reader(&text[start..]);
    let mut writer =
        csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let records =
        reader.byte_records().enumerate().map(|(i, r)| r.map_err(|e| format!("line {}: {e}", skipped + 1 + i)));
    // each record on its line of the file, blank lines kept, so rejected rows name their lines
    let mut lines = SameLines::new(&text[start..]);
    let blank = csv::ByteRecord::new();
    if separator == b';' {
        // each column's decimals as all its fields write them (the header's are not numbers)
        let records: Vec<csv::ByteRecord> = records.collect::<Result<_, _>>()?;
        let mut styles: Vec<DecimalCommas> = Vec::new();
        for record in records.iter().skip(1) {
            styles.resize(styles.len().max(record.len()), DecimalCommas::default());
            for (style, f) in styles.iter_mut().zip(record.iter()) {
                style.see(&String::from_utf8_lossy(f));
            }
        }
        for (i, record) in records.iter().enumerate() {
            let fields = record.iter().enumerate().map(|(c, f)| {
                let number =
                    std::str::from_utf8(f).ok().zip(styles.get(c)).filter(|_| i > 0).and_then(|(f, s)| s.read(f));
                match number {
                    Some(number) => Cow::Owned(number.into_bytes()),
                    None => Cow::Borrowed(f),
                }
            });
            lines.pad(&mut writer, record, &blank)?;
            writer.write_record(fields).map_err(|e| e.to_string())?;
        }
    } else {
        for record in records {
            let record = record?;
            lines.pad(&mut writer, &record, &blank)?;
            writer.write_byte_record(&record).map_err(|e| e.to_string())?;
        }
    }
    let out = writer.into_inner().map_err(|e| e.to_string())?;
    Ok((Cow::Owned(out), skipped))
}

/// How each column of a comma-separated export writes its amounts, from the fields that tell:
/// `"12,50"` and `"1.234,56"` (quoted, as a comma file must quote them) only with a decimal comma,
/// `12.5` and `"1,234.50"` only with a decimal point, while `"1,234"` and `1.500` read either way.
/// True for a column with a decimal comma somewhere and a decimal point nowhere (Google Ads and
/// Meta set to German or French write their downloads so), and for a column that does not tell
/// in a file whose columns that tell all write decimal commas (its `"1.000"` impressions are a
/// thousand). A column that has both is left as it is, and its decimal commas are refused with
/// the row as before.
fn comma_file_decimal_columns(text: &[u8]) -> Result<Vec<bool>, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text);
    let (mut comma, mut point) = (Vec::new(), Vec::new());
    for record in reader.byte_records() {
        let record = record.map_err(|e| e.to_string())?;
        comma.resize(comma.len().max(record.len()), false);
        point.resize(comma.len(), false);
        for (c, field) in record.iter().enumerate() {
            let Ok(field) = std::str::from_utf8(field) else { continue };
            let as_comma = decimal_comma(field).is_some();
            let as_point = amount(field).is_some() && field.contains(['.', ',']);
            match (as_comma, as_point) {
                (true, false) => comma[c] = true,
                (false, true) => point[c] = true,
                _ => {}
            }
        }
    }
    // a column whose fields read either way (`"1.000"` impressions) is written as the file's
    // others are, where they all agree
    let file_comma = comma.contains(&true) && !point.contains(&true);
    Ok(comma.iter().zip(&point).map(|(c, p)| (*c || file_comma) && !p).collect())
}

/// `text` from its header (at `start`) on, each field of the `decimal` columns that is a number
/// written with a decimal comma rewritten with a decimal point and no thousands separators
/// (`"1.234,56"`: `1234.56`), each record on its line of the file.
fn rewrite_decimal_commas<'a>(
    text: &[u8],
    start: usize,
    skipped: usize,
    decimal: &[bool],
) -> Result<(Cow<'a, [u8]>, usize), String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&text[start..]);
    let mut writer =
        csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let mut lines = SameLines::new(&text[start..]);
    let blank = csv::ByteRecord::new();
    for (i, record) in reader.byte_records().enumerate() {
        let record = record.map_err(|e| format!("line {}: {e}", skipped + 1 + i))?;
        let fields = record.iter().enumerate().map(|(c, f)| {
            let number = std::str::from_utf8(f)
                .ok()
                .filter(|_| i > 0 && decimal.get(c).copied().unwrap_or(false))
                .and_then(decimal_comma);
            match number {
                Some(number) => Cow::Owned(number.into_bytes()),
                None => Cow::Borrowed(f),
            }
        });
        lines.pad(&mut writer, &record, &blank)?;
        writer.write_record(fields).map_err(|e| e.to_string())?;
    }
    let out = writer.into_inner().map_err(|e| e.to_string())?;
    Ok((Cow::Owned(out), skipped))
}

/// `week` or `month` where the export's date column is named for any time unit (Microsoft
/// Advertising's `Time period`) and its dates are those of a report by week or month: at least
/// three of them, all on the same weekday a whole number of weeks apart, or all the first of
/// their months. None for any other column (a column named `Day` holds days, whichever they are:
/// a campaign that runs on Mondays alone is read) and for a report by day.
fn periods_not_days(table: &Table, date: &str, fmt: &str) -> Option<&'static str> {
    if squeezed(date) != "timeperiod" {
        return None;
    }
    let days: std::collections::BTreeSet<NaiveDate> =
        table.labels(date).ok()?.iter().filter_map(|d| day_in(d.trim(), fmt)).collect();
    let first = *days.first()?;
    if days.len() < 3 {
        return None;
    }
    if days.iter().all(|d| (*d - first).num_days() % 7 == 0) {
        Some("week")
    } else if days.iter().all(|d| chrono::Datelike::day(d) == 1) {
        Some("month")
    } else {
        None
    }
}

/// An export's column names for a message: each of at most 60 characters, the first 40 of them.
fn listed(names: &[String]) -> String {
    let mut out: Vec<String> = names
        .iter()
        .take(40)
        .map(|n| match n.char_indices().nth(60) {
            Some((at, _)) => format!("{}...", &n[..at]),
            None => n.clone(),
        })
        .collect();
    if names.len() > 40 {
        out.push(format!("and {} more", names.len() - 40));
    }
    out.join(", ")
}

/// A line of an export whose fields do not line up with its header's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaggedRow {
    /// 1-based data row (after the header), as [`BadRow::row`] counts them.
    pub row: usize,
    /// Its line in the file.
    pub line: usize,
    pub reason: String,
}

/// The export's rows (`text` from its header on, `skipped` lines below the file's top) each as
/// many fields as its header. A row with more fields whose extra ones are all empty (a comma at
/// the end of each row but not of the header) is cut to the header's; any other row of another
/// length (a note below the table, a value holding a comma outside quotes, a row cut short) is
/// returned with its line and replaced by an empty row, which [`parse`] passes over (as it
/// passes over a blank line, `,,` or `""`, whatever its length): the rows
/// around it keep their numbers, and nothing of it is stored. Text whose rows all line up is
/// returned as it is, not copied.
pub fn even_rows(text: Cow<'_, [u8]>, skipped: usize) -> Result<(Cow<'_, [u8]>, Vec<RaggedRow>), String> {
    let reader = |t| csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(t);
    let mut records = reader(&text[..]);
    let mut header = csv::ByteRecord::new();
    if !records.read_byte_record(&mut header).map_err(|e| e.to_string())? {
        return Ok((text, Vec::new()));
    }
    let width = header.len();
    let fits = |r: &csv::ByteRecord| r.len() == width;
    let mut record = csv::ByteRecord::new();
    // a blank line between rows is passed over by the readers, and the rows below it would be
    // numbered one line short
    let mut even = !text.trim_ascii_end().split(|b| *b == b'\n').any(|l| l.trim_ascii().is_empty());
    while even && records.read_byte_record(&mut record).map_err(|e| e.to_string())? {
        even = fits(&record);
    }
    if even {
        return Ok((text, Vec::new()));
    }
    let mut records = reader(&text[..]);
    records.read_byte_record(&mut header).map_err(|e| e.to_string())?;
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    out.write_byte_record(&header).map_err(|e| e.to_string())?;
    let empty = csv::ByteRecord::from(vec![""; width]);
    let mut ragged = Vec::new();
    let mut row = 0;
    let mut lines = SameLines::new(&text);
    while records.read_byte_record(&mut record).map_err(|e| e.to_string())? {
        let (line, blank) = lines.pad(&mut out, &record, &empty)?;
        row += blank + 1;
        let n = record.len();
        if fits(&record) {
            out.write_byte_record(&record)
        } else if record.iter().all(|f| f.trim_ascii().is_empty()) {
            // a blank line (`""`, `,,`)
            out.write_byte_record(&empty)
        } else if n > width && record.iter().skip(width).all(|f| f.trim_ascii().is_empty()) {
            out.write_record(record.iter().take(width))
        } else {
            let why = if n > width {
                "a value holding a comma outside quotes?"
            } else {
                "a row cut short, or a note below the table?"
            };
            ragged.push(RaggedRow {
                row,
                line: skipped + line,
                reason: format!("has {n} field{} where the header has {width} ({why})", if n == 1 { "" } else { "s" }),
            });
            out.write_byte_record(&empty)
        }
        .map_err(|e| e.to_string())?;
    }
    Ok((Cow::Owned(out.into_inner().map_err(|e| e.to_string())?), ragged))
}

/// The line a CSV record starts on, from its byte offset, asked in the order of the offsets
/// (csv's own line count, and the offset, start at the blank lines before the record).
struct Lines {
    counted: usize,
    lines: usize,
}

impl Default for Lines {
    fn default() -> Self {
        Self { counted: 0, lines: 1 }
    }
}

impl Lines {
    fn at(&mut self, text: &[u8], byte: usize) -> usize {
        let blank = text.get(byte..).unwrap_or_default().iter().take_while(|b| matches!(b, b'\n' | b'\r')).count();
        let byte = (byte + blank).min(text.len()).max(self.counted);
        self.lines += text[self.counted..byte].iter().filter(|b| **b == b'\n').count();
        self.counted = byte;
        self.lines
    }
}

/// Records written each on the line of the text they were read from: the blank lines before a
/// record, which csv's readers pass over, written as `blank` records, so the rows read back keep
/// the file's numbering.
struct SameLines<'t> {
    source: &'t [u8],
    read: Lines,
    written: Lines,
}

impl<'t> SameLines<'t> {
    fn new(source: &'t [u8]) -> Self {
        Self { source, read: Lines::default(), written: Lines::default() }
    }

    /// Before `r` is written: its line in the source, and the blank records written to reach it.
    fn pad(
        &mut self,
        w: &mut csv::Writer<Vec<u8>>,
        r: &csv::ByteRecord,
        blank: &csv::ByteRecord,
    ) -> Result<(usize, usize), String> {
        let Some(p) = r.position() else { return Ok((self.read.lines, 0)) };
        let line = self.read.at(self.source, usize::try_from(p.byte()).unwrap_or(usize::MAX));
        w.flush().map_err(|e| e.to_string())?;
        let at = self.written.at(w.get_ref(), w.get_ref().len());
        for _ in at..line {
            w.write_byte_record(blank).map_err(|e| e.to_string())?;
        }
        Ok((line, line.saturating_sub(at)))
    }
}

fn slice_cow(text: Cow<'_, [u8]>, start: usize) -> Cow<'_, [u8]> {
    match text {
        Cow::Borrowed(b) => Cow::Borrowed(&b[start..]),
        Cow::Owned(mut v) => {
            v.drain(..start);
            Cow::Owned(v)
        }
    }
}

/// Some(big endian) when `bytes` are UTF-16: a byte order mark, or a first line whose every
/// other byte is zero (text in the Latin alphabet without a mark).
fn utf16(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [0xFF, 0xFE, ..] => return Some(false),
        [0xFE, 0xFF, ..] => return Some(true),
        _ => {}
    }
    let head = &bytes[..bytes.len().min(64) & !1];
    if head.len() < 4 {
        return None;
    }
    let (even_zero, odd_zero) = head.chunks_exact(2).fold((true, true), |(e, o), p| (e && p[0] == 0, o && p[1] == 0));
    match (even_zero, odd_zero) {
        (false, true) => Some(false),
        (true, false) => Some(true),
        _ => None,
    }
}

fn decode_utf16(bytes: &[u8], big_endian: bool) -> Result<String, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err("the export is UTF-16 but has an odd number of bytes".into());
    }
    let units = bytes.chunks_exact(2).map(|p| {
        if big_endian {
            u16::from_be_bytes([p[0], p[1]])
        } else {
            u16::from_le_bytes([p[0], p[1]])
        }
    });
    let mut out = String::with_capacity(bytes.len() / 2);
    let mut at = 0;
    for c in char::decode_utf16(units) {
        match c {
            Ok('\u{feff}') if at == 0 => {}
            Ok(c) => out.push(c),
            Err(_) => return Err(format!("the export is UTF-16 with an invalid character at byte {}", 2 * at)),
        }
        at += c.map_or(1, char::len_utf16);
    }
    Ok(out)
}

/// Where the header is: platform exports often open with a title and a date range (Google Ads:
/// `Campaign report` then `November 1, 2026 - November 30, 2026`; LinkedIn: the report name and
/// its dates). The header is the first of the first 20 lines that names `date_column` (or, with
/// no map yet, any known date column); the byte offset and the number of lines skipped.
pub fn header_start(bytes: &[u8], date_column: Option<&str>) -> (usize, usize) {
    let mut offset = 0;
    // failing that, the first naming a period (a report by week or month, refused by its name)
    let mut by_period = None;
    for (skipped, line) in bytes.split(|b| *b == b'\n').take(20).enumerate() {
        let text = String::from_utf8_lossy(line);
        let cells: Vec<String> = text
            .trim_start_matches('\u{feff}')
            .split([',', '\t', ';'])
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect();
        let found = match date_column {
            Some(d) => cells.iter().any(|c| c == d || same_name(c, d)),
            None => cells.iter().any(|c| is_date_name(c)),
        };
        if found && cells.len() > 1 {
            return (offset, skipped);
        }
        if date_column.is_none() && by_period.is_none() && cells.len() > 1 && cells.iter().any(|c| is_period_name(c)) {
            by_period = Some((offset, skipped));
        }
        offset += line.len() + 1;
    }
    by_period.unwrap_or((0, 0))
}

/// Export column names, most specific first, as the platforms name them in their exports
/// (Meta Ads Manager, Google Ads, TikTok Ads Manager, LinkedIn Campaign Manager, Snapchat, Amazon
/// Ads, Microsoft Advertising, Pinterest Ads) and as a hand-made sheet would, in English and as the platforms' German, French, Spanish,
/// Italian, Portuguese and Dutch interfaces write them (`Kosten`, `Coût`, `Importe gastado`).
/// Compared without regard to case.
const DATE_COLUMNS: &[&str] = &[
    "Day",
    "Date",
    "Start Date (in UTC)",
    "Reporting starts",
    "By Day",
    "Stat time day",
    "Stat time hour",
    "Gregorian date",
    // de, fr, es, it, pt, nl
    "Tag",
    "Datum",
    "Berichtsbeginn",
    "Jour",
    "Début des rapports",
    "Día",
    "Dia",
    "Fecha",
    "Inicio del informe",
    "Giorno",
    "Data",
    "Inizio report",
    "Início dos relatórios",
    "Dag",
    "Begin rapportage",
    // Snapchat's report by day: each row's Start Time, with its End Time (the next midnight)
    "Start Time",
    // the Meta Marketing API's insights (with `date_stop`)
    "date_start",
    // Microsoft Advertising's reports (the API's `TimePeriod`): days in a report by day, each
    // week's or month's first day in a report by week or month, which is refused
    // ([`periods_not_days`])
    "Time period",
];
const CAMPAIGN_ID_COLUMNS: &[&str] = &[
    "Campaign ID",
    "Kampagnen-ID",
    "ID de la campagne",
    "ID de campagne",
    "ID de campaña",
    "ID de la campaña",
    "ID campagna",
    "ID da campanha",
    "Campagne-ID",
];
const CAMPAIGN_NAME_COLUMNS: &[&str] = &[
    "Campaign name",
    "Campaign",
    "Kampagnenname",
    "Kampagne",
    "Nom de la campagne",
    "Campagne",
    "Nombre de la campaña",
    "Campaña",
    "Nome della campagna",
    "Campagna",
    "Nome da campanha",
    "Campanha",
    "Campagnenaam",
];
const SPEND_COLUMNS: &[&str] = &[
    "Cost",
    // the Google Ads API's (`metrics.cost_micros`), read as micros
    "cost_micros",
    "Amount spent",
    "Total Spent",
    "Spend",
    "Total cost",
    "Cost (local currency)",
    // Pinterest Ads'
    "Spend in account currency",
    "Kosten",
    "Ausgegebener Betrag",
    "Coût",
    "Montant dépensé",
    "Coste",
    "Costo",
    "Importe gastado",
    "Importo speso",
    "Custo",
    "Valor usado",
    "Valor gasto",
    "Besteed bedrag",
];
const IMPRESSION_COLUMNS: &[&str] = &[
    "Impressions",
    "Impr.",
    "Paid Impressions",
    "Impressionen",
    "Impresiones",
    "Impressioni",
    "Impressões",
    "Vertoningen",
    "Vert.",
    "Weergaven",
];
const CLICK_COLUMNS: &[&str] = &[
    "Clicks",
    "Link clicks",
    // Pinterest Ads': to the advertiser's site, then on the Pin
    "Outbound clicks",
    "Pin clicks",
    "Clicks (all)",
    "Swipe Ups",
    "Klicks",
    "Link-Klicks",
    "Clics",
    "Clics sur un lien",
    "Clics en el enlace",
    "Clic",
    "Clic sul link",
    "Cliques",
    "Cliques no link",
    "Klikken",
    "Linkklikken",
];
const CONVERSION_COLUMNS: &[&str] = &[
    "Conversions",
    // TikTok's API
    "Conversion",
    "Purchases",
    "Website purchases",
    // Pinterest Ads' purchases (its `Total conversions` count sign-ups and add-to-carts too)
    "Total checkouts",
    "Checkouts",
    "Results",
    "Total Conversions",
    // TikTok's purchases (Ads Manager's `Complete Payment`, the API's `complete_payment`)
    "Complete payment",
    "7 Day Total Orders",
    "Ergebnisse",
    "Käufe",
    "Résultats",
    "Achats",
    "Conversiones",
    "Resultados",
    "Compras",
    "Conversioni",
    "Risultati",
    "Acquisti",
    "Conversões",
    "Conversies",
    "Resultaten",
    "Aankopen",
];
const REVENUE_COLUMNS: &[&str] = &[
    "Conv. value",
    "Conversion value",
    // the Google Ads API's `metrics.conversions_value`
    "Conversions value",
    "Total Conversion Value",
    "Purchases conversion value",
    "Website purchases conversion value",
    "Total purchase value",
    "Purchase value",
    // Snapchat Ads Manager's
    "Purchases value",
    // TikTok's purchases' value: Ads Manager's `Total Complete Payment`, the API's
    // `total_complete_payment_rate` (a value despite its name; `Complete payment rate` is a rate)
    "Total complete payment",
    "total_complete_payment_rate",
    "7 Day Total Sales",
    // Pinterest Ads' `Total order value (Checkout)`
    "Total order value",
    "Revenue",
    "Conv.-Wert",
    "Conversion-Wert",
    "Umsatz",
    "Valeur de conv.",
    "Valeur de conversion",
    "Valor de conv.",
    "Valor de conversión",
    "Valore conv.",
    "Valore di conversione",
    "Valor da conv.",
    "Valor da conversão",
    "Conv.waarde",
    "Conversiewaarde",
];

/// The columns naming the currency of a row's amounts (Google Ads `Currency code`, Meta
/// `Currency`, Microsoft Advertising `CurrencyCode`, Amazon Ads and TikTok `Currency`, as the
/// platforms' German, French, Spanish, Italian, Portuguese and Dutch interfaces write them).
const CURRENCY_COLUMNS: &[&str] = &[
    "Currency code",
    "Currency",
    "Account currency",
    "customer.currency_code",
    "Währungscode",
    "Währung",
    "Code de la devise",
    "Devise",
    "Código de moneda",
    "Moneda",
    "Codice valuta",
    "Valuta",
    "Código da moeda",
    "Moeda",
    "Valutacode",
];

/// The columns of a row's reporting range (start, end) where the start may serve as the date:
/// daily rows have both the same day, or end at the next day's midnight (Snapchat's `End Time`).
const RANGE_COLUMNS: &[(&str, &str)] = &[
    ("Reporting starts", "Reporting ends"),
    ("Start Date (in UTC)", "End Date (in UTC)"),
    ("Start Date", "End Date"),
    ("Berichtsbeginn", "Berichtsende"),
    ("Début des rapports", "Fin des rapports"),
    ("Inicio del informe", "Fin del informe"),
    ("Inizio report", "Fine report"),
    ("Início dos relatórios", "Término dos relatórios"),
    ("Begin rapportage", "Einde rapportage"),
    ("Start Time", "End Time"),
    ("date_start", "date_stop"),
];

/// Words naming a period longer than a day (`Week`, `Month (Mo - So)`, `Woche`, `Mois`): a
/// column so named holds periods, not days.
const PERIOD_WORDS: &[&str] = &[
    "week",
    "month",
    "quarter",
    "year",
    "woche",
    "monat",
    "quartal",
    "jahr",
    "semaine",
    "mois",
    "trimestre",
    "année",
    "semana",
    "mes",
    "año",
    "settimana",
    "mese",
    "anno",
    "ano",
    "maand",
    "kwartaal",
    "jaar",
];

/// A column name without case, spaces, underscores or points: `stat_time_day`, `Stat time day`
/// and `StatTimeDay` (Microsoft Advertising's `CampaignName`) are one name; so are the Google
/// Ads API's field names as a report or BigQuery's transfer writes them (`segments.date` or
/// `segments_date` is `Date`, `campaign.id` is `Campaign ID`, `metrics.clicks` is `Clicks`).
fn squeezed(name: &str) -> String {
    let lower = name.to_lowercase();
    let bare =
        ["metrics.", "segments.", "metrics_", "segments_"].iter().find_map(|p| lower.strip_prefix(p)).unwrap_or(&lower);
    bare.chars().filter(|c| !c.is_whitespace() && *c != '_' && *c != '.').collect()
}

/// A money column written in millionths of the currency (the Google Ads API's
/// `metrics.cost_micros`): divided by 1,000,000 as it is read.
fn in_micros(name: &str) -> bool {
    squeezed(name).contains("micros")
}

/// `header` is the column name `known` ([`squeezed`]).
fn same_name(header: &str, known: &str) -> bool {
    squeezed(header) == squeezed(known)
}

/// A column named as a period longer than a day (a report by week or month).
pub fn is_period_name(name: &str) -> bool {
    name.to_lowercase().split(|c: char| !c.is_alphanumeric()).any(|w| PERIOD_WORDS.contains(&w))
}

/// A column named only as a period (`Week`, `Woche`, `Mois`: a sheet's dates of weeks or months),
/// unlike `Orders per week`.
pub fn is_period_word(name: &str) -> bool {
    PERIOD_WORDS.contains(&squeezed(name).as_str())
}

/// A column named as the dates of an export or of a sheet (`Day`, `Date`, `Datum`, `Jour`).
pub fn is_date_name(name: &str) -> bool {
    DATE_COLUMNS.iter().any(|k| same_name(name, k))
}

/// Date formats tried on an export's date column, the unambiguous first. The last ones are
/// days written as their midnight (`2026-11-01 00:00:00`: TikTok's `stat_time_day`, Snapchat's
/// start times).
const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%a, %b %d, %Y",
    "%Y%m%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    // a UTC timestamp (a Parquet TIMESTAMP column read as text, JSON exports)
    "%Y-%m-%dT%H:%M:%SZ",
    // with milliseconds, or with the account's offset (its day is the day written)
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
];

/// Formats of months without a day (`2022-01`, `Jan 2022`, `January 2022`, `01/2022`, Excel's
/// `Jan-22`), of ISO weeks (`2024-W01`, as BI tools write a week) and of quarters (`2024-Q1`),
/// as a monthly, weekly or quarterly KPI sheet or panel writes them: tried on a panel's or a
/// KPI's dates, never on an export's (its rows are days). A month reads as its first day, a week
/// as its Monday, a quarter as its first day.
/// Quarters (`2024-Q1`, `2024 Q1`, `2024Q1`, `Q1 2024`, `Q1-2024`, `Q1/2024`) read as their
/// first day; `%q` is the quarter's digit (ours: chrono has none). A space in a format also
/// reads none (`%Y Q%q` reads `2024Q1`).
const PERIOD_FORMATS: &[&str] = &[
    "%Y-%m", "%Y/%m", "%m/%Y", "%m-%Y", "%b %Y", "%B %Y", "%b-%y", "%b-%Y", "%G-W%V", "%GW%V", "%G-w%V", "%Y-Q%q",
    "%Y Q%q", "Q%q %Y", "Q%q-%Y", "Q%q/%Y",
];

/// `f` names months or ISO weeks, not days: no day in it (nor a day of the year or a time).
fn is_period_format(f: &str) -> bool {
    !["%d", "%e", "%j", "%H", "%u"].iter().any(|d| f.contains(d))
}

/// The first day of the month (the Monday of the ISO week) `s` names in the format `f`.
fn period_start(s: &str, f: &str) -> Option<NaiveDate> {
    use chrono::Datelike;
    // chrono reads no date without its day: the first (Monday) is appended to both. A year of
    // two digits read by `%Y` (`Nov-25`, `11/25`) is no period of ours.
    let in_range = |d: &NaiveDate| (1900..=2200).contains(&d.year());
    if f.contains("%q") {
        // the quarter's digit written into the format: only the quarter `s` names reads
        return (1..=4u32)
            .find_map(|q| {
                let month = 3 * q - 2;
                let f = f.replace("%q", &q.to_string());
                NaiveDate::parse_from_str(&format!("{s} {month} 1"), &format!("{f} %m %d")).ok()
            })
            .filter(in_range);
    }
    let day = if f.contains("%V") { "%u" } else { "%d" };
    NaiveDate::parse_from_str(&format!("{s} 1"), &format!("{f} {day}")).ok().filter(in_range)
}

/// The day `s` names in the format `f` (a format with a time: the day of that time; a month's:
/// its first day; an ISO week's: its Monday).
pub fn day_in(s: &str, f: &str) -> Option<NaiveDate> {
    if f.contains("%H") {
        chrono::NaiveDateTime::parse_from_str(s, f).ok().map(|t| t.date())
    } else if is_period_format(f) {
        period_start(s, f)
    } else {
        NaiveDate::parse_from_str(s, f).ok()
    }
}

/// The first of [`DATE_FORMATS`], then of [`PERIOD_FORMATS`], that reads `s` as a day.
pub fn format_of(s: &str) -> Option<&'static str> {
    DATE_FORMATS.iter().chain(PERIOD_FORMATS).copied().find(|f| reads_day(s.trim(), f))
}

/// The day `s` names in the format `f`. A format with a time reads only midnights (a panel by
/// hour is not a panel by day) unless `hours`, where any time reads as its day (an export by
/// hour, whose rows are summed into their days).
fn day_read(s: &str, f: &str, hours: bool) -> Option<NaiveDate> {
    if f.contains("%H") {
        chrono::NaiveDateTime::parse_from_str(s, f)
            .ok()
            .filter(|t| hours || t.time() == chrono::NaiveTime::MIN)
            .map(|t| t.date())
    } else {
        day_in(s, f)
    }
}

/// `s`, in the format `f`, is a midnight: a format with a time whose time is 00:00.
fn at_midnight(s: &str, f: &str) -> bool {
    f.contains("%H") && chrono::NaiveDateTime::parse_from_str(s, f).is_ok_and(|t| t.time() == chrono::NaiveTime::MIN)
}

fn reads_day(s: &str, f: &str) -> bool {
    day_read(s, f, false).is_some()
}

/// `s` is a time of day other than midnight in one of the formats with a time.
fn at_an_hour(s: &str) -> bool {
    DATE_FORMATS
        .iter()
        .filter(|f| f.contains("%H"))
        .any(|f| chrono::NaiveDateTime::parse_from_str(s, f).is_ok_and(|t| t.time() != chrono::NaiveTime::MIN))
}

/// The format of the dates in `column`: of [`DATE_FORMATS`], the one that reads the most of
/// them, all but a tenth at most, or all but one in a short file (a malformed row is the reader's
/// to report, not a reason to refuse the file); `%Y%m%d` for a numeric column (20261101). Where several read them all (`01/11/2026`,
/// `02/11/2026`: the 1st and 2nd of November, or January 11th and February 11th), the one whose
/// days fill their own spacing best (24 months dated `01/01/2025` to `12/01/2026` are every
/// month's first, not January's first twelve days of two years), then, in a panel or a KPI, the
/// one reading every date as a month's first (`01/01/2026` to `12/01/2026`: a year of months),
/// then the one whose days lie closest together: a report's days follow each other, so
/// `%d/%m/%Y` for a French or British file even in the first twelve days of a month. A column of
/// times of day is refused as a panel by hour.
pub fn date_format(table: &Table, column: &str) -> Result<String, String> {
    dates_format(table, column, false)
}

/// [`date_format`] for an export's date column, where times of day are allowed: a report by
/// hour (TikTok's `stat_time_hour`, `2026-11-01 13:00:00`) is read as the day of each hour, and
/// the transform sums a campaign's hours into its day.
pub fn export_date_format(table: &Table, column: &str) -> Result<String, String> {
    dates_format(table, column, true)
}

fn dates_format(table: &Table, column: &str, hours: bool) -> Result<String, String> {
    let Ok(Column::Text(v)) = table.column(column) else { return Ok("%Y%m%d".to_string()) };
    let sample: Vec<&str> =
        v.iter().map(|s| s.trim()).filter(|s| !no_value(s) && !is_summary_cell(s)).take(500).collect();
    let mut best: (Reading, &str) = (Reading::default(), "");
    let months: &[&str] = if hours { &[] } else { PERIOD_FORMATS };
    for f in DATE_FORMATS.iter().chain(months) {
        let days: Vec<NaiveDate> = sample.iter().filter_map(|s| day_read(s, f, hours)).collect();
        let r = Reading::of(&days, !hours);
        if r.better_than(&best.0) {
            best = (r, f);
        }
    }
    let best = (best.0.read, best.0.span, best.1);
    if let Some(hour) = sample.iter().find(|s| at_an_hour(s)).filter(|_| !hours && best.0 < sample.len()) {
        return Err(format!(
            "{column:?} holds times of day (e.g. {hour:?}): the export is by hour; download it by day"
        ));
    }
    if sample.is_empty() {
        return Err(format!("{column:?} holds no dates (only empty cells or totals rows)"));
    }
    // A format that reads all but one date of a short export (and most of them), or all but a
    // tenth of a longer one: the unreadable rows are rejected with their line and reason, the
    // others stored.
    let unread = sample.len() - best.0;
    if best.0 <= unread || unread > (sample.len() / 10).max(1) {
        // the example is a value the closest format does not read (the first value may be a date)
        let unread = sample.iter().find(|s| best.2.is_empty() || day_read(s, best.2, hours).is_none());
        return Err(format!(
            "the dates in {column:?} (e.g. {:?}) are in none of the formats {}",
            unread.or(sample.first()).copied().unwrap_or(""),
            DATE_FORMATS.iter().chain(months).copied().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(best.2.to_string())
}

/// Months since year 0 (consecutive months are 1 apart).
pub(crate) fn month_index(d: NaiveDate) -> i64 {
    use chrono::Datelike;
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// The greatest common divisor, never negative (`gcd(0, x)` is `|x|`).
pub(crate) fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// How a format reads a date column, to choose between formats that read it.
#[derive(Debug, Default, Clone, Copy)]
struct Reading {
    /// Dates read.
    read: usize,
    /// Distinct dates over the periods from the first to the last at their spacing (whole months
    /// where every date is the same day of its month, else the days' common divisor).
    fill: f64,
    /// Every date a month's first, where that counts (a panel or a KPI; an export's are days).
    firsts: bool,
    /// Days from the first date to the last.
    span: i64,
}

impl Reading {
    fn of(days: &[NaiveDate], firsts_count: bool) -> Reading {
        use chrono::Datelike;
        let distinct: std::collections::BTreeSet<NaiveDate> = days.iter().copied().collect();
        let (Some(first), Some(last)) = (distinct.first().copied(), distinct.last().copied()) else {
            return Reading::default();
        };
        let span = last.signed_duration_since(first).num_days();
        let monthly = distinct.len() > 1 && distinct.iter().all(|d| d.day() == first.day());
        let periods = if monthly {
            let step = distinct.iter().fold(0, |g, d| gcd(g, month_index(*d) - month_index(first))).max(1);
            (month_index(last) - month_index(first)) / step + 1
        } else {
            let step = distinct.iter().fold(0, |g, d| gcd(g, d.signed_duration_since(first).num_days())).max(1);
            span / step + 1
        };
        Reading {
            read: days.len(),
            fill: distinct.len() as f64 / periods.max(1) as f64,
            firsts: firsts_count && distinct.len() > 1 && distinct.iter().all(|d| d.day() == 1),
            span,
        }
    }

    fn better_than(&self, other: &Reading) -> bool {
        if self.read != other.read {
            return self.read > other.read;
        }
        if self.read == 0 {
            return false;
        }
        if (self.fill - other.fill).abs() > 1e-9 {
            return self.fill > other.fill;
        }
        if self.firsts != other.firsts {
            return self.firsts;
        }
        self.span < other.span
    }
}

/// The column map of an export whose columns carry a platform's usual names: each field is the
/// first known name the header has (a column `Amount spent (USD)` matches `Amount spent`; with no
/// campaign id the campaign name serves as the id), the date format the first that reads every
/// date. An error names what is missing and lists the header.
pub fn detect_map(table: &Table) -> Result<ColumnMap, String> {
    let find = |known: &[&str]| -> Option<String> {
        for k in known {
            if let Some(n) = table.names.iter().find(|n| same_name(n, k)) {
                return Some(n.clone());
            }
        }
        // `Amount spent (USD)`, `Cost (EUR)`, `Conv. value (by conv. time)`: the name and a unit.
        for k in known {
            if let Some(n) = table
                .names
                .iter()
                .find(|n| squeezed(n).strip_prefix(&squeezed(k)).is_some_and(|rest| rest.starts_with('(')))
            {
                return Some(n.clone());
            }
        }
        None
    };
    let missing = |what: &str, known: &[&str]| {
        if table.names.iter().any(|n| n.chars().any(|c| (c.is_control() && c != '\t') || c == '\u{fffd}')) {
            return "the file is not an export written as text (CSV or TSV), Parquet or an Excel workbook: its \
                    first line holds control characters"
                .to_string();
        }
        format!(
            "no {what} column among the export's ({}); known names: {}; pass --column-map",
            listed(&table.names),
            known.join(", ")
        )
    };
    let date = find(DATE_COLUMNS).ok_or_else(|| match table.names.iter().find(|n| is_period_name(n)) {
        Some(period) => format!(
            "the export is by week or month (its column {period:?}), and records are days (a week's spend on \
             one day would be seven times that day's): download the report broken down by day"
        ),
        None => missing("date", DATE_COLUMNS),
    })?;
    let campaign_name = find(CAMPAIGN_NAME_COLUMNS);
    let campaign_id = find(CAMPAIGN_ID_COLUMNS)
        .or_else(|| campaign_name.clone())
        .ok_or_else(|| missing("campaign", CAMPAIGN_ID_COLUMNS))?;
    let spend = find(SPEND_COLUMNS).ok_or_else(|| missing("spend", SPEND_COLUMNS))?;
    let date_format =
        Some(export_date_format(table, &date).map_err(|e| format!("{e}; pass --column-map with date_format"))?);
    Ok(ColumnMap {
        campaign_name: campaign_name.filter(|n| *n != campaign_id),
        date,
        campaign_id,
        spend,
        impressions: find(IMPRESSION_COLUMNS),
        clicks: find(CLICK_COLUMNS),
        conversions: find(CONVERSION_COLUMNS),
        revenue: find(REVENUE_COLUMNS),
        date_format,
        money_scale: None,
    })
}

/// A campaign's id in the store: the export's id, or, where the export names its campaigns
/// instead (`Prospecting - Broad`), the name lower-cased with every run of other characters as
/// one `-` (`prospecting-broad`).
pub fn campaign_key(raw: &str) -> String {
    if raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')) {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// A totals row at the foot of an export (`Total: Account`, `Total: Campaigns`, `Totals`, and
/// as the platforms' other languages write it: `Gesamt: Konto`, `Total : compte`, `Totale`), or
/// of a Google Analytics or spreadsheet report (`Grand total`, `Gesamtsumme`, `Total général`).
/// A campaign whose name starts with the word (`Totally new`, `Total reach`) is not one.
/// Empty, or a dash where the platform has no value (Google Ads writes `--`, TikTok and
/// Snapchat `-`).
fn no_value(s: &str) -> bool {
    matches!(s.trim(), "" | "--" | "-" | "–" | "—")
}

pub(crate) fn is_summary_cell(s: &str) -> bool {
    // Every word below starts with g, i, s or t: any other cell (a date, most campaigns) is
    // told at its first letter, without the copies below.
    let first = s.trim_start().chars().next().and_then(|c| c.to_lowercase().next());
    if !first.is_some_and(|c| matches!(c, 'g' | 'i' | 's' | 't')) {
        return false;
    }
    let s = s.trim().to_lowercase();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    [
        "grand total",
        "total général",
        "total general",
        "totale complessivo",
        "gesamtergebnis",
        "totals",
        "totale",
        "totaal",
        "total",
        "insgesamt",
        "gesamtsumme",
        "gesamt",
        "summe",
    ]
    .iter()
    .find_map(|w| s.strip_prefix(w))
    .is_some_and(|rest| {
        let rest = rest.trim_start();
        // TikTok's last row: "Total of 12 results" (a campaign named "Total of savings" is not)
        let counted = rest
            .strip_prefix("of ")
            .and_then(|r| r.split(' ').next())
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.'));
        rest.is_empty() || rest.starts_with(':') || counted
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Excel's long numbers (`1.20210000000000E+17`, `2.01235E+11`, `1E+15`) are scientific; ids
    /// and amounts written otherwise are not. Only id columns holding one are returned, with
    /// every field as written.
    #[test]
    fn ids_in_scientific_notation_are_found_in_id_columns_only() {
        for s in ["1.20210000000000E+17", "2.01235E+11", "1E+15", " 3.5e12 ", "1.2E17"] {
            assert!(scientific(s), "{s}");
        }
        for s in ["120210000000000000", "12.5", "E+17", "1.2E", "1.2E+", "abcE+5", "-", "", "1.2E+1.5", "Total"] {
            assert!(!scientific(s), "{s}");
        }
        let text = b"Day,Campaign ID,Ad group ID,Cost,Notes\n\
            2026-10-01,120210000000000001,1.2E+11,1E+3,1E+3\n\
            2026-10-02,120210000000000002,\"2.5E+11\",10,x\n";
        let found = scientific_id_columns(text, None).unwrap();
        assert_eq!(found, vec![("Ad group ID".to_string(), vec!["1.2E+11".to_string(), "2.5E+11".to_string()])]);
        assert_eq!(scientific_id_columns(b"Day,Cost\n2026-10-01,1E+3\n", None).unwrap(), vec![]);
        // an id column of another name is one when the map says it holds the campaign ids
        let german = b"Tag,Kampagnen-ID,Kosten\n2026-10-01,1.20210000000000E+17,12\n";
        assert_eq!(scientific_id_columns(german, None).unwrap(), vec![]);
        let map = ColumnMap {
            date: "Tag".into(),
            campaign_id: "Kampagnen-ID".into(),
            campaign_name: None,
            spend: "Kosten".into(),
            impressions: None,
            clicks: None,
            conversions: None,
            revenue: None,
            date_format: None,
            money_scale: None,
        };
        let found = scientific_id_columns(german, Some(&map)).unwrap();
        assert_eq!(found, vec![("Kampagnen-ID".to_string(), vec!["1.20210000000000E+17".to_string()])]);
        // nothing with an exponent: not read a second time, nothing found
        assert_eq!(scientific_id_columns(b"Date,Campaign ID\n2026-10-01,120210000000000001\n", None).unwrap(), vec![]);
    }

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
        units.flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
    }

    const TSV: &str = "Campaign Performance Report (in UTC)\nReport Start: 10/1/2026, 12:00 AM\n\
        Start Date (in UTC)\tCampaign Name\tCampaign ID\tTotal Spent\n\
        10/1/2026\tLead Gen, \"US\"\t528001\t1,024.50\n10/2/2026\tBrand\t528002\t99\n";
    const CSV: &str = "Start Date (in UTC),Campaign Name,Campaign ID,Total Spent\n\
        10/1/2026,\"Lead Gen, \"\"US\"\"\",528001,\"1,024.50\"\n10/2/2026,Brand,528002,99\n";

    /// `csv` read as a file connection of `platform` with the column map recognised from it.
    fn read_detected(platform: &str, csv: &str) -> (PlatformBatch, Vec<BadRow>) {
        let table = Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
        let conn: Connection = serde_json::from_value(serde_json::json!({
            "id": "c", "kind": "file", "platform": platform, "column_map": detect_map(&table).unwrap(),
        }))
        .unwrap();
        parse(&conn, &table).unwrap()
    }

    fn date_format_of(dates: &[&str]) -> Result<Option<String>, String> {
        let mut csv = String::from("Stat time day,Campaign ID,Cost\n");
        for (i, d) in dates.iter().enumerate() {
            csv.push_str(&format!("{d},{},1.5\n", 1 + i % 2));
        }
        let table = Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
        detect_map(&table).map(|m| m.date_format)
    }

    /// Days written as their midnight (TikTok's `stat_time_day`, ISO with a `T`) are detected,
    /// and the transform reads their day; a column of hours is refused by name where rows are
    /// not summed (a panel, a KPI) and read as its days in an export.
    #[test]
    fn days_written_as_midnights_are_dates_and_hours_are_days_only_in_exports() {
        let f = date_format_of(&["2026-11-01 00:00:00", "2026-11-01 00:00:00", "2026-11-02 00:00:00"]).unwrap();
        assert_eq!(f.as_deref(), Some("%Y-%m-%d %H:%M:%S"));
        assert_eq!(day_in("2026-11-02 00:00:00", "%Y-%m-%d %H:%M:%S"), NaiveDate::from_ymd_opt(2026, 11, 2));
        let f = date_format_of(&["2026-11-01T00:00:00", "2026-11-02T00:00:00"]).unwrap();
        assert_eq!(f.as_deref(), Some("%Y-%m-%dT%H:%M:%S"));
        assert!(date_format_of(&["2026-11-01", "11/02/2026"]).unwrap_err().contains("none of the formats"));
        assert!(date_format_of(&["Total: Account"]).unwrap_err().contains("holds no dates"));
        // a panel's or a KPI's column of hours is refused (their rows are not summed) ...
        let hours = "Stat time day,Campaign ID,Cost\n2026-11-01 00:00:00,7,1\n2026-11-01 01:00:00,7,1\n";
        let e = date_format(&Table::from_csv_bytes(hours.as_bytes(), None).unwrap(), "Stat time day").unwrap_err();
        assert!(e.contains("by hour") && e.contains("2026-11-01 01:00:00"), "{e}");
        // ... an export's is read as the days of its hours
        let f = date_format_of(&["2026-11-01 00:00:00", "2026-11-01 01:00:00", "2026-11-01 02:00:00"]).unwrap();
        assert_eq!(f.as_deref(), Some("%Y-%m-%d %H:%M:%S"));
        assert_eq!(date_format_of(&["2026-11-01", "2026-11-02"]).unwrap().as_deref(), Some("%Y-%m-%d"));
        // timestamps with milliseconds or an offset: the day written
        for (dates, format) in [
            (["2026-11-01T00:00:00.000Z", "2026-11-02T00:00:00.000Z"], "%Y-%m-%dT%H:%M:%S%.fZ"),
            (["2026-11-01T00:00:00+01:00", "2026-11-02T00:00:00+01:00"], "%Y-%m-%dT%H:%M:%S%.f%:z"),
            (["2026-11-01 00:00:00.0", "2026-11-02 00:00:00.0"], "%Y-%m-%d %H:%M:%S%.f"),
        ] {
            assert_eq!(date_format_of(&dates).unwrap().as_deref(), Some(format), "{dates:?}");
            assert_eq!(day_in(dates[1], format), NaiveDate::from_ymd_opt(2026, 11, 2), "{dates:?}");
        }
        // read with the detected format, the rows' days are the dates written
        let csv = "Stat time day,Campaign ID,Cost\n2026-11-01 00:00:00,7,1.5\n2026-11-02 00:00:00,7,2.5\n";
        let (batch, bad) = read_detected("tiktok", csv);
        assert!(bad.is_empty(), "{bad:?}");
        let days: Vec<String> = batch.rows.iter().map(|r| r.date.to_string()).collect();
        assert_eq!(days, ["2026-11-01", "2026-11-02"]);
    }

    /// A TikTok Ads Manager export of purchases: `Complete Payment` is the conversions and `Total
    /// Complete Payment` their value (the API's `complete_payment` and
    /// `total_complete_payment_rate`); the rate and the ROAS beside them are neither.
    #[test]
    fn tiktok_purchases_and_their_value_are_recognised() {
        for header in [
            "Campaign name,Campaign ID,By Day,Cost,Impressions,Clicks (Destination),Complete Payment Rate,Complete Payment,Complete Payment ROAS,Total Complete Payment",
            "campaign_name,campaign_id,stat_time_day,spend,impressions,clicks,complete_payment_rate,complete_payment,complete_payment_roas,total_complete_payment_rate",
        ] {
            let csv = format!("{header}\nSpring Sale,1790000000000001,2026-10-01,120.50,10234,320,3.75%,12,3.73,450.00\n");
            let table = Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
            let map = detect_map(&table).unwrap();
            let name = |i: usize| Some(header.split(',').nth(i).unwrap().to_string());
            assert_eq!((map.conversions, map.revenue), (name(7), name(9)), "{header}");
            let (batch, bad) = read_detected("tiktok", &csv);
            assert!(bad.is_empty(), "{bad:?}");
            let r = &batch.rows[0];
            assert_eq!((r.campaign_id.as_str(), r.spend, r.conversions, r.revenue), ("1790000000000001", 120.5, 12.0, 450.0));
        }
        // Ads Manager's last row totals the report ("Total of 2 results", dashes for the
        // campaign); before: the dates were refused as in no format, the example a good date
        let days = "By Day,Campaign name,Campaign ID,Cost,Conversions\n\
                    2026-11-01,Spring Sale,1789012345678901,\"1,234.56\",56\n\
                    2026-11-02,Spring Sale,1789012345678901,987.65,41\n";
        let (plain, bad) = read_detected("tiktok", days);
        assert!(bad.is_empty() && plain.rows.len() == 2, "{bad:?}");
        let totalled = format!("{days}Total of 2 results,-,-,\"2,222.21\",97\n");
        let (batch, bad) = read_detected("tiktok", &totalled);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(batch.rows, plain.rows);
        // a date column the formats do not read names a value it does not read
        let e = date_format_of(&["2026-11-01", "2026-11-02", "soon", "later"]).unwrap_err();
        assert!(e.contains("(e.g. \"soon\")"), "{e}");
        // one unreadable date in a short export is that row's fault, not the file's: the row is
        // rejected with its line, the others stored
        let one_bad = "By Day,Campaign name,Campaign ID,Cost\n2026-11-01,A,1,1.5\n2026-11-3x,A,1,2\n2026-11-04,A,1,3\n";
        let (batch, bad) = read_detected("tiktok", one_bad);
        assert_eq!(batch.rows.len(), 2);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!((bad[0].row, bad[0].column.as_str()), (2, "By Day"), "{bad:?}");
    }

    /// A report by hour, as TikTok writes it (`stat_time_hour`) or as Google Ads does (a `Day`
    /// and an `Hour of day` from 0 to 23): a campaign's hours are summed into its day; the same
    /// hour twice is a duplicate, left for the quality stage.
    #[test]
    fn a_report_by_hour_is_summed_into_days() {
        let mut tiktok = String::from("stat_time_hour,campaign_id,spend,clicks\n");
        let mut google = String::from("Day,Hour of day,Campaign ID,Cost,Clicks\n");
        for day in 1..=2 {
            for hour in 0..24 {
                tiktok.push_str(&format!("2026-11-0{day} {hour:02}:00:00,7,0.5,{hour}\n"));
                google.push_str(&format!("2026-11-0{day},{hour},7,0.5,{hour}\n"));
            }
        }
        for csv in [tiktok, google] {
            let (batch, bad) = read_detected("tiktok", &csv);
            assert!(bad.is_empty(), "{bad:?}");
            let days: Vec<(String, f64, f64)> =
                batch.rows.iter().map(|r| (r.date.to_string(), r.spend, r.clicks)).collect();
            assert_eq!(days, [("2026-11-01".to_string(), 12.0, 276.0), ("2026-11-02".to_string(), 12.0, 276.0)]);
        }
        // a breakdown by a true/false flag (read as 1 and 0) is a breakdown, not a duplicate
        let (batch, bad) =
            read_detected("meta", "Day,Campaign ID,Mobile,Spend\n2026-11-01,7,TRUE,1.5\n2026-11-01,7,FALSE,2\n");
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(batch.rows.iter().map(|r| r.spend).collect::<Vec<_>>(), [3.5]);
        let (batch, _) = read_detected(
            "tiktok",
            "stat_time_hour,campaign_id,spend\n2026-11-01 05:00:00,7,1\n2026-11-01 05:00:00,7,1\n2026-11-01 06:00:00,7,2\n",
        );
        let rows: Vec<(String, f64)> = batch.rows.iter().map(|r| (r.date.to_string(), r.spend)).collect();
        assert_eq!(
            rows,
            [("2026-11-01".to_string(), 3.0), ("2026-11-01".to_string(), 1.0)],
            "the duplicate kept apart"
        );
    }

    /// Exports as the platforms' other languages write them: the columns are recognised by
    /// their localised names whatever their case, the totals rows are skipped, and day-first
    /// dates are read as days of the month even where every day is 12 or less (`01/11/2026`
    /// to `03/11/2026` are three days of November, not three months apart).
    #[test]
    fn exports_in_other_languages_are_recognised() {
        let read = |text: &str| {
            let (bytes, _) = export_text(text.as_bytes(), None).unwrap();
            let table = Table::from_csv_bytes(&bytes, None).unwrap();
            let map = detect_map(&table).unwrap();
            let conn: Connection = serde_json::from_value(serde_json::json!({
                "id": "c", "kind": "file", "platform": "meta", "column_map": map,
            }))
            .unwrap();
            let (batch, bad) = parse(&conn, &table).unwrap();
            assert!(bad.is_empty(), "{bad:?}");
            let rows: Vec<(String, String, f64, f64, f64, f64, f64)> = batch
                .rows
                .iter()
                .map(|r| {
                    (
                        r.date.to_string(),
                        r.campaign_id.clone(),
                        r.spend,
                        r.impressions,
                        r.clicks,
                        r.conversions,
                        r.revenue,
                    )
                })
                .collect();
            (conn.column_map.unwrap(), rows)
        };
        let expected = |id: &str| {
            vec![
                ("2026-11-01".to_string(), id.to_string(), 1234.5, 1000.0, 10.0, 2.0, 99.5),
                ("2026-11-02".to_string(), id.to_string(), 20.0, 2000.0, 20.0, 3.0, 0.0),
            ]
        };
        // Google Ads set to German, saved by Excel: semicolons, decimal commas, a totals row
        let (map, rows) = read(
            "Kampagnenbericht\n\
             Tag;Kampagne;Kampagnen-ID;Kosten;Impr.;Klicks;Conversions;Conv.-Wert\n\
             01.11.2026;Marke;42;1.234,50;1.000;10;2,00;99,50\n\
             02.11.2026;Marke;42;20,00;2.000;20;3,00;0,00\n\
             Gesamt: Konto;--;--;1.254,50;3.000;30;5,00;99,50\n",
        );
        assert_eq!((map.date.as_str(), map.date_format.as_deref()), ("Tag", Some("%d.%m.%Y")));
        assert_eq!((map.campaign_id.as_str(), map.campaign_name.as_deref()), ("Kampagnen-ID", Some("Kampagne")));
        assert_eq!(map.revenue.as_deref(), Some("Conv.-Wert"));
        assert_eq!(rows, expected("42"));
        // Google Ads set to German, downloaded as CSV: commas between fields, its numbers quoted
        // with decimal commas and thousands points (the impressions tell only with the others)
        let (map, rows) = read(
            "Kampagnenbericht\n\
             Tag,Kampagne,Kampagnen-ID,Kosten,Impr.,Klicks,Conversions,Conv.-Wert\n\
             01.11.2026,Marke,42,\"1.234,50\",\"1.000\",10,\"2,00\",\"99,50\"\n\
             02.11.2026,Marke,42,\"20,00\",\"2.000\",20,\"3,00\",\"0,00\"\n\
             Gesamt: Konto,--,--,\"1.254,50\",\"3.000\",30,\"5,00\",\"99,50\"\n",
        );
        assert_eq!((map.date.as_str(), map.spend.as_str()), ("Tag", "Kosten"));
        assert_eq!(rows, expected("42"));
        // a column with decimal points beside one with decimal commas: those rows are refused
        let mixed = "Day,Campaign ID,Cost,Conv. value\n2026-11-01,42,\"12,50\",\"1,234.50\"\n";
        let (text, _) = export_text(mixed.as_bytes(), None).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&text),
            "Day,Campaign ID,Cost,Conv. value\n2026-11-01,42,12.50,\"1,234.50\"\n"
        );
        // an American file's quoted thousands are left as they are
        let us = "Day,Campaign ID,Cost,Impr.\n2026-11-01,42,\"1,234\",\"1,000\"\n2026-11-02,42,12.5,\"2,000\"\n";
        assert_eq!(export_text(us.as_bytes(), None).unwrap().0, Cow::Borrowed(us.as_bytes()));
        // Meta set to French: day-first dates all within the first twelve days of the month
        let (map, rows) = read(
            "Nom de la campagne,Jour,Montant dépensé (EUR),Impressions,Clics sur un lien,Résultats,Valeur de conversion\n\
             Promo Noël,01/11/2026,\"1,234.50\",1000,10,2,99.5\n\
             Promo Noël,02/11/2026,20,2000,20,3,0\n",
        );
        assert_eq!((map.date_format.as_deref(), map.spend.as_str()), (Some("%d/%m/%Y"), "Montant dépensé (EUR)"));
        assert_eq!(rows, expected("promo-no-l"));
        // a panel's (or a KPI's) months dated by their first day, either way round
        let panel = |dates: &[String]| {
            let csv: String = std::iter::once("date,y".to_string())
                .chain(dates.iter().map(|d| format!("{d},1")))
                .collect::<Vec<_>>()
                .join("\n");
            date_format(&Table::from_csv_bytes(csv.as_bytes(), None).unwrap(), "date").unwrap()
        };
        let us_months: Vec<String> = (1..=12).map(|m| format!("{m:02}/01/2026")).collect();
        assert_eq!(panel(&us_months), "%m/%d/%Y", "a year of months, not January's first twelve days");
        let two_years: Vec<String> =
            (1..=24).map(|m| format!("{:02}/01/{}", (m - 1) % 12 + 1, 2025 + (m - 1) / 12)).collect();
        assert_eq!(panel(&two_years), "%m/%d/%Y");
        let eu_months: Vec<String> = (1..=12).map(|m| format!("01/{m:02}/2026")).collect();
        assert_eq!(panel(&eu_months), "%d/%m/%Y");
        let eu_days: Vec<String> = (1..=12).map(|d| format!("{d:02}/11/2026")).collect();
        assert_eq!(panel(&eu_days), "%d/%m/%Y", "November's first twelve days, not the 11th of twelve months");
        let us_days: Vec<String> = (1..=12).map(|d| format!("11/{d:02}/2026")).collect();
        assert_eq!(panel(&us_days), "%m/%d/%Y");
        // a panel's (or a KPI's) months without a day, each read as its first day
        for (months, format) in [
            (["2025-11", "2025-12", "2026-01"], "%Y-%m"),
            (["2025/11", "2025/12", "2026/01"], "%Y/%m"),
            (["11/2025", "12/2025", "01/2026"], "%m/%Y"),
            (["Nov 2025", "Dec 2025", "Jan 2026"], "%b %Y"),
            (["November 2025", "December 2025", "January 2026"], "%B %Y"),
            (["Nov-25", "Dec-25", "Jan-26"], "%b-%y"),
        ] {
            let months: Vec<String> = months.iter().map(|m| m.to_string()).collect();
            assert_eq!(panel(&months), format, "{months:?}");
            let firsts: Vec<Option<NaiveDate>> = months.iter().map(|m| day_in(m, format)).collect();
            let expected = [(2025, 11), (2025, 12), (2026, 1)].map(|(y, m)| NaiveDate::from_ymd_opt(y, m, 1));
            assert_eq!(firsts, expected, "{months:?}");
        }
        // ISO weeks, each its Monday (2026's week 1 starts on 2025-12-29)
        let weeks: Vec<String> = ["2025-W52", "2026-W01", "2026-W02"].map(String::from).to_vec();
        assert_eq!(panel(&weeks), "%G-W%V");
        let mondays: Vec<Option<NaiveDate>> = weeks.iter().map(|w| day_in(w, "%G-W%V")).collect();
        let monday = [(2025, 12, 22), (2025, 12, 29), (2026, 1, 5)].map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d));
        assert_eq!(mondays, monday);
        assert_eq!(day_in("2026-W54", "%G-W%V"), None);
        // quarters, each its first day
        for (quarters, format) in [
            (["2025-Q4", "2026-Q1", "2026-Q2"], "%Y-Q%q"),
            (["2025 Q4", "2026 Q1", "2026 Q2"], "%Y Q%q"),
            (["2025Q4", "2026Q1", "2026Q2"], "%Y Q%q"),
            (["Q4 2025", "Q1 2026", "Q2 2026"], "Q%q %Y"),
            (["Q4-2025", "Q1-2026", "Q2-2026"], "Q%q-%Y"),
            (["Q4/2025", "Q1/2026", "Q2/2026"], "Q%q/%Y"),
        ] {
            let quarters: Vec<String> = quarters.iter().map(|q| q.to_string()).collect();
            assert_eq!(panel(&quarters), format, "{quarters:?}");
            let firsts: Vec<Option<NaiveDate>> = quarters.iter().map(|q| day_in(q, format)).collect();
            let expected = [(2025, 10), (2026, 1), (2026, 4)].map(|(y, m)| NaiveDate::from_ymd_opt(y, m, 1));
            assert_eq!(firsts, expected, "{quarters:?}");
        }
        assert_eq!((day_in("2026-Q5", "%Y-Q%q"), day_in("2026-Q0", "%Y-Q%q")), (None, None));
        assert_eq!(day_in("Q1 25", "Q%q %Y"), None, "the year 25");
        assert_eq!(day_in("2026-13", "%Y-%m"), None);
        assert_eq!((day_in("11/25", "%m/%Y"), day_in("Nov-25", "%b-%Y")), (None, None), "the year 25");
        assert_eq!(day_in("2026-01-15", "%Y-%m"), None, "a day is not a month");
        // an export's rows are days: a month is not read as one
        let e = date_format_of(&["2025-11", "2025-12"]).unwrap_err();
        assert!(e.contains("none of the formats") && !e.contains("%Y-%m,"), "{e}");
        // French Excel's: semicolons, thousands after a (no-break) space, a decimal comma
        let (map, rows) = read(
            "Nom de la campagne;Jour;Montant dépensé (EUR);Impressions;Clics sur un lien;Résultats;Valeur de conversion\n\
             Promo Noël;01/11/2026;1\u{a0}234,50\u{a0}€;1\u{202f}000;10;2;99,50\n\
             Promo Noël;02/11/2026;20,00 €;2 000;20;3;0\n",
        );
        assert_eq!(map.date_format.as_deref(), Some("%d/%m/%Y"));
        assert_eq!(rows, expected("promo-no-l"));
        // the same dates month-first are read month-first (US)
        let (map, _) = read("Day,Campaign,Cost\n11/01/2026,A,1\n11/02/2026,A,1\n11/03/2026,A,1\n");
        assert_eq!(map.date_format.as_deref(), Some("%m/%d/%Y"));
        // Spanish, in capitals as a hand-made sheet may be
        let (map, rows) = read(
            "FECHA,NOMBRE DE LA CAMPAÑA,IMPORTE GASTADO,IMPRESIONES,CLICS,CONVERSIONES,INGRESOS\n\
             2026-11-01,X,1234.5,1000,10,2,99.5\n2026-11-02,X,20,2000,20,3,0\nTotal,,1254.5,3000,30,5,99.5\n",
        );
        assert_eq!(map.campaign_id, "NOMBRE DE LA CAMPAÑA");
        assert_eq!(map.revenue, None, "Ingresos is not a known name");
        assert_eq!(rows.len(), 2);
        // Microsoft Advertising's report columns (one word each), by hour of day
        let (map, rows) = read(
            "GregorianDate,HourOfDay,CampaignName,CampaignId,Spend,Impressions,Clicks,Conversions,Revenue\n\
             2026-11-01,0,X,42,1000,500,5,1,50\n2026-11-01,1,X,42,234.5,500,5,1,49.5\n\
             2026-11-02,0,X,42,20,2000,20,3,0\n",
        );
        assert_eq!((map.date.as_str(), map.campaign_id.as_str()), ("GregorianDate", "CampaignId"));
        assert_eq!(map.campaign_name.as_deref(), Some("CampaignName"));
        assert_eq!(rows, expected("42"));
        // totals rows in other languages, and campaigns whose names start with the word
        for total in [
            "Total: Account",
            "Totals",
            "Gesamt: Konto",
            "Total : compte",
            "Totale: account",
            "GESAMT",
            "Grand total",
            "Grand  Total",
            "Total général",
            "Summe",
            "Total of 12 results",
            "Total of 1,204 campaigns",
        ] {
            assert!(is_summary_cell(total), "{total}");
        }
        for campaign in
            ["Totally new", "Total reach Q4", "Gesamtpaket", "Grand totality sale", "Summer sale", "Total of savings"]
        {
            assert!(!is_summary_cell(campaign), "{campaign}");
        }
        // a German report by week is refused as a report by week
        assert!(is_period_name("Woche") && is_period_name("Mois (lun. - dim.)") && !is_period_name("Tag"));
    }

    /// A totals row without the word "Total" (no day, no campaign, the other rows' spend) is
    /// skipped as a worded one is; a row with no day and no campaign and another spend is still
    /// rejected with its line.
    #[test]
    fn a_summary_line_with_the_rows_total_spend_is_skipped() {
        let head = "Campaign name,Day,Amount spent (USD),Impressions,Results\n";
        let rows = "A,2026-11-01,100.25,1000,2\nB,2026-11-01,50.10,500,1\nA,2026-11-02,20.00,200,0\n";
        for at_top in [true, false] {
            let total = ",,170.35,1700,3\n";
            let csv = if at_top { format!("{head}{total}{rows}") } else { format!("{head}{rows}{total}") };
            let (batch, bad) = read_detected("meta", &csv);
            assert_eq!((batch.rows.len(), bad.len()), (3, 0), "{bad:?}");
        }
        let (batch, bad) = read_detected("meta", &format!("{head}{rows},,99.00,10,1\n"));
        assert_eq!((batch.rows.len(), bad.len(), bad[0].row), (3, 1, 4), "{bad:?}");
    }

    /// A map given without a date format (German column names need a map) reads the dates in
    /// the format that reads them, as a detected map does; a format given is used as it is.
    #[test]
    fn a_given_map_without_a_date_format_reads_the_dates_in_theirs() {
        let t = Table::from_csv_bytes("Tag;Kampagnen-ID;Kosten\n1.11.2026;7;1,5\n02.11.2026;7;2,5\n".as_bytes(), None)
            .unwrap();
        let read = |map: serde_json::Value| {
            let conn: Connection = serde_json::from_value(
                serde_json::json!({"id": "c", "kind": "file", "platform": "google_ads", "column_map": map}),
            )
            .unwrap();
            parse(&conn, &t).unwrap()
        };
        let (batch, bad) = read(serde_json::json!({"date": "Tag", "campaign_id": "Kampagnen-ID", "spend": "Kosten"}));
        assert!(bad.is_empty(), "{bad:?}");
        let days: Vec<(String, f64)> = batch.rows.iter().map(|r| (r.date.to_string(), r.spend)).collect();
        assert_eq!(days, [("2026-11-01".to_string(), 1.5), ("2026-11-02".to_string(), 2.5)]);
        // a format as a person writes it
        for human in ["DD.MM.YYYY", "dd.mm.yyyy"] {
            let (batch, bad) = read(
                serde_json::json!({"date": "Tag", "campaign_id": "Kampagnen-ID", "spend": "Kosten", "date_format": human}),
            );
            assert_eq!((batch.rows.len(), bad.len()), (2, 0), "{human}: {bad:?}");
        }
        assert_eq!(chrono_format("MM/DD/YY"), "%m/%d/%y");
        assert_eq!(chrono_format("%d.%m.%Y"), "%d.%m.%Y");
        let (batch, bad) = read(
            serde_json::json!({"date": "Tag", "campaign_id": "Kampagnen-ID", "spend": "Kosten", "date_format": "%Y-%m-%d"}),
        );
        assert_eq!((batch.rows.len(), bad.len()), (0, 2));
        assert!(bad[0].reason.contains("%Y-%m-%d"), "{:?}", bad[0]);
    }

    /// A day with no value for a metric: empty, or a dash as the platforms write it (`--`
    /// Google Ads, `-` TikTok and Snapchat): 0, the row kept; anything else is not a number.
    #[test]
    fn dashes_are_no_value() {
        let csv = "By Day,Campaign ID,Cost,Clicks
2026-11-01,7,-,--
2026-11-02,7,2.5,
2026-11-03,7,–,3
                   2026-11-04,7,-1,-
2026-11-05,7,n/a,1
";
        let (batch, bad) = read_detected("tiktok", csv);
        let kept: Vec<(String, f64, f64)> =
            batch.rows.iter().map(|r| (r.date.to_string(), r.spend, r.clicks)).collect();
        assert_eq!(
            kept,
            [
                ("2026-11-01".to_string(), 0.0, 0.0),
                ("2026-11-02".to_string(), 2.5, 0.0),
                ("2026-11-03".to_string(), 0.0, 3.0),
                ("2026-11-04".to_string(), -1.0, 0.0)
            ]
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!((bad[0].row, bad[0].column.as_str()), (5, "Cost"));
    }

    /// A report by week or month, mapped by hand, is refused as a whole: its rows are not days.
    #[test]
    fn a_weekly_report_is_refused() {
        for date in ["Week", "Week (Mon - Sun)", "Month"] {
            let csv = format!("{date},Campaign ID,Cost\n2026-11-02,7,70\n");
            let t = Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
            let conn: Connection = serde_json::from_value(serde_json::json!({
                "id": "c", "kind": "file", "platform": "google_ads",
                "column_map": {"date": date, "campaign_id": "Campaign ID", "spend": "Cost"},
            }))
            .unwrap();
            let e = parse(&conn, &t).unwrap_err().to_string();
            assert!(e.contains("by week or month") && e.contains(date), "{e}");
        }
        let (batch, bad) = read_detected("google_ads", "Day,Campaign ID,Cost\n2026-11-02,7,10\n");
        assert_eq!((batch.rows.len(), bad.len()), (1, 0), "a Day column is days");
        // detected: Google Ads' report by week, its title and date range above the header, is
        // refused naming its week column (before, the title was taken for the header)
        let export = "Campaign report\nNovember 1, 2026 - November 30, 2026\n\
                      Week,Campaign,Campaign ID,Cost\n2026-11-02,Brand,7,\"1,234.56\"\n";
        let (text, skipped) = export_text(export.as_bytes(), None).unwrap();
        assert_eq!(skipped, 2);
        let table = Table::from_csv_bytes(&text, None).unwrap();
        let e = detect_map(&table).unwrap_err();
        assert!(e.contains("by week or month (its column \"Week\")") && e.contains("by day"), "{e}");
        // a title line naming a week does not hide the header with a date below it
        let (_, skipped) = export_text(b"Report, week 45\nDay,Campaign ID,Cost\n2026-11-02,7,10\n", None).unwrap();
        assert_eq!(skipped, 1);
    }

    /// A short export's totals row writes a dash for its date (TikTok's `Total of 2 results`): the
    /// dash is no date to read a format from, so two days and a total are read as two days.
    #[test]
    fn a_dash_in_the_date_column_is_no_date() {
        let (batch, bad) = read_detected(
            "tiktok",
            "Campaign name,Campaign ID,By Day,Cost,Impressions\n\
             Spring,17,2026-10-01,120.50,10000\n\
             Spring,17,2026-10-02,-,-\n\
             Total of 2 results,-,-,120.50,10000\n",
        );
        assert!(bad.is_empty(), "{bad:?}");
        let got: Vec<(String, f64)> = batch.rows.iter().map(|r| (r.date.to_string(), r.spend)).collect();
        assert_eq!(got, [("2026-10-01".to_string(), 120.5), ("2026-10-02".to_string(), 0.0)]);
    }

    /// A file that is not text is named so, and a header's columns are listed within bounds.
    #[test]
    fn a_binary_file_or_a_long_header_is_named_in_a_short_message() {
        let mut junk = b"\x00\x01PK-not,a\x02 table".to_vec();
        junk.extend((0..2000u32).map(|i| (i * 7 % 251) as u8).filter(|b| !b"\n\r,\"".contains(b)));
        let (text, _) = export_text(&junk, None).unwrap();
        let table = Table::from_csv_bytes(&text, None).unwrap();
        let e = detect_map(&table).unwrap_err();
        assert!(e.contains("not an export written as text") && e.len() < 200, "{e}");
        let wide: Vec<String> = (0..100).map(|i| format!("metric {i} {}", "x".repeat(100))).collect();
        let table = Table::from_csv_bytes(format!("{}\n", wide.join(",")).as_bytes(), None).unwrap();
        let e = detect_map(&table).unwrap_err();
        assert!(e.contains("metric 0 xxx") && e.contains("..., ") && e.contains("and 60 more"), "{e}");
        assert!(e.len() < 4000, "{}", e.len());
    }

    /// Microsoft Advertising's campaign report (its header below six lines of report settings, as
    /// its download writes them): read by day from its `Time period`; the same report by week or
    /// by month is refused.
    #[test]
    fn a_microsoft_advertising_report_is_read_by_day_only() {
        let report = |rows: &str| {
            format!(
                "\"Report Name: Campaign performance\"\n\"Report Time: 11/1/2026 - 11/30/2026\"\n\
                 \"Time Zone: (GMT-08:00) Pacific Time (US & Canada); Tijuana\"\n\"Rows: 3\"\n\n\
                 \"Time period\",\"Campaign name\",\"Campaign ID\",\"Currency code\",\"Impressions\",\
                 \"Clicks\",\"Spend\",\"Conversions\",\"Revenue\"\n{rows}"
            )
        };
        let read = |rows: &str| {
            let file = report(rows);
            let (text, skipped) = export_text(file.as_bytes(), None).unwrap();
            assert_eq!(skipped, 5);
            let table = Table::from_csv_bytes(&text, None).unwrap();
            let conn: Connection = serde_json::from_value(serde_json::json!({
                "id": "c", "kind": "file", "platform": "other", "column_map": detect_map(&table).unwrap(),
            }))
            .unwrap();
            parse(&conn, &table).map_err(|e| e.to_string())
        };
        let days = "\"11/1/2026\",\"Brand\",\"41\",\"USD\",\"1,204\",\"87\",\"123.45\",\"4\",\"480.00\"\n\
                    \"11/2/2026\",\"Brand\",\"41\",\"USD\",\"1,100\",\"80\",\"110.00\",\"3\",\"360.00\"\n\
                    \"11/8/2026\",\"Brand\",\"41\",\"USD\",\"1,050\",\"75\",\"100.00\",\"\",\"0.00\"\n";
        let (batch, bad) = read(days).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        let got: Vec<(String, f64, f64, f64)> =
            batch.rows.iter().map(|r| (r.date.to_string(), r.spend, r.impressions, r.revenue)).collect();
        assert_eq!(
            got,
            [
                ("2026-11-01".into(), 123.45, 1204.0, 480.0),
                ("2026-11-02".into(), 110.0, 1100.0, 360.0),
                ("2026-11-08".into(), 100.0, 1050.0, 0.0)
            ]
        );
        let weeks = days.replace("11/2/2026", "11/15/2026");
        let e = read(&weeks).unwrap_err();
        assert!(e.contains("by week") && e.contains("Time period"), "{e}");
        let months = days.replace("11/2/2026", "12/1/2026").replace("11/8/2026", "1/1/2027");
        let e = read(&months).unwrap_err();
        assert!(e.contains("by month"), "{e}");
    }

    /// Meta's export without a day breakdown has one row per campaign over the whole reporting
    /// range: each such row is rejected naming its range (a month's spend is not one day's); a
    /// daily export whose rows start and end on their day is read; a `Day` column beside the
    /// reporting range (Meta's daily breakdown) is the date, whatever the range.
    #[test]
    fn rows_covering_more_than_a_day_are_rejected() {
        let read = |csv: &str| read_detected("meta", csv);
        let head = "Reporting starts,Reporting ends,Campaign name,Amount spent (USD)\n";
        let (batch, bad) =
            read(&format!("{head}2026-10-01,2026-10-31,Prospecting,12000.50\n2026-10-01,2026-10-01,Retargeting,40\n"));
        assert_eq!(batch.rows.len(), 1);
        assert_eq!(batch.rows[0].spend, 40.0);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!((bad[0].row, bad[0].column.as_str()), (1, "Reporting ends"));
        assert!(bad[0].reason.contains("covers 2026-10-01 to 2026-10-31"), "{}", bad[0].reason);
        let (batch, bad) =
            read("Reporting starts,Reporting ends,Day,Campaign name,Amount spent (USD)\n2026-10-01,2026-10-31,2026-10-05,P,3\n");
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(batch.rows[0].date.to_string(), "2026-10-05");
    }

    /// Reports written from the platforms' APIs, as a data team exports them: the Google Ads
    /// API's field names (a GAQL report, and BigQuery's transfer with its device breakdown),
    /// cost in micros read as the currency and the conversion value as written; the Meta
    /// Marketing API's insights by day (`date_start` to `date_stop`); TikTok's `conversion`.
    #[test]
    fn reports_from_the_platforms_apis_are_recognised_and_micros_read_as_the_currency() {
        let (batch, bad) = read_detected(
            "google_ads",
            "campaign.id,campaign.name,segments.date,metrics.cost_micros,metrics.impressions,metrics.clicks,metrics.conversions,metrics.conversions_value\n\
             111,Brand,2026-10-01,12500000,1000,50,2.5,180.75\n",
        );
        assert!(bad.is_empty(), "{bad:?}");
        let r = &batch.rows[0];
        assert_eq!(
            (r.campaign_id.as_str(), r.campaign_name.as_deref(), r.date.to_string()),
            ("111", Some("Brand"), "2026-10-01".into())
        );
        assert_eq!((r.spend, r.impressions, r.clicks, r.conversions, r.revenue), (12.5, 1000.0, 50.0, 2.5, 180.75));

        let (batch, bad) = read_detected(
            "google_ads",
            "_DATA_DATE,campaign_id,segments_date,segments_device,metrics_cost_micros,metrics_clicks,metrics_conversions_value\n\
             2026-10-01,111,2026-10-01,MOBILE,2000000,5,10\n\
             2026-10-01,111,2026-10-01,DESKTOP,3000000,7,20\n",
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(batch.rows.len(), 1, "the devices summed into the campaign's day");
        assert_eq!((batch.rows[0].spend, batch.rows[0].clicks, batch.rows[0].revenue), (5.0, 12.0, 30.0));

        // money_scale scales the columns not named in micros
        let table = Table::from_csv_bytes(
            b"Day,Campaign ID,cost_micros,revenue_thousandths\n2026-10-01,7,4000000,2500\n",
            None,
        )
        .unwrap();
        let conn: Connection = serde_json::from_value(serde_json::json!({
            "id": "c", "kind": "file", "platform": "other",
            "column_map": {"date": "Day", "campaign_id": "Campaign ID", "spend": "cost_micros", "revenue": "revenue_thousandths", "money_scale": 0.001},
        }))
        .unwrap();
        let (batch, _) = parse(&conn, &table).unwrap();
        assert_eq!((batch.rows[0].spend, batch.rows[0].revenue), (4.0, 2.5));
        // micros are divided, so an amount in cents reads as the amount (times 1e-6, 37,020,000
        // was 37.019999999999996); a scale that divides nothing whole multiplies
        let table = Table::from_csv_bytes(
            b"Day,Campaign ID,cost_micros,revenue_thousandths\n2026-10-01,7,37020000,1234567\n",
            None,
        )
        .unwrap();
        let (batch, _) = parse(&conn, &table).unwrap();
        assert_eq!((batch.rows[0].spend, batch.rows[0].revenue), (37.02, 1234.567));
        let mut halves = conn.clone();
        halves.column_map.as_mut().unwrap().money_scale = Some(0.5);
        let (batch, _) = parse(&halves, &table).unwrap();
        assert_eq!(batch.rows[0].revenue, 617_283.5);

        let (batch, bad) = read_detected(
            "meta",
            "date_start,date_stop,campaign_id,campaign_name,spend,impressions,clicks\n\
             2026-10-01,2026-10-01,238,Prospecting,40.5,900,12\n\
             2026-10-01,2026-10-31,238,Prospecting,900,9000,120\n",
        );
        assert_eq!((batch.rows.len(), batch.rows[0].spend), (1, 40.5));
        assert_eq!(bad.iter().map(|b| (b.row, b.column.as_str())).collect::<Vec<_>>(), [(2, "date_stop")]);

        let (batch, bad) = read_detected(
            "tiktok",
            "stat_time_day,campaign_id,spend,impressions,clicks,conversion\n2026-10-01 00:00:00,17,9.5,100,3,2\n",
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!((batch.rows[0].spend, batch.rows[0].conversions), (9.5, 2.0));
    }

    /// Snapchat's report by day: each row from its Start Time to its End Time, the next day's
    /// midnight (with or without the account's offset), is a day; a row over a week, or one
    /// ending at the next day's noon, is rejected naming its range.
    #[test]
    fn a_snapchat_day_runs_from_a_midnight_to_the_next() {
        let head = "Start Time,End Time,Campaign Name,Campaign ID,Amount Spent,Paid Impressions,Swipe Ups,Purchases,Purchase Value\n";
        for (start, end) in [
            ("2026-10-01 00:00:00", "2026-10-02 00:00:00"),
            ("2026-10-01T00:00:00.000-07:00", "2026-10-02T00:00:00.000-07:00"),
        ] {
            let week = start.replace("10-01", "10-08");
            let noon = end.replace("T00", "T12").replace(" 00", " 12");
            let csv = format!(
                "{head}{start},{end},Holiday Promo,a1b2-c3,\"$1,007.12\",13547,209,19,$711.08\n\
                 {start},{week},Always On,f1e2-d3,$40,1,1,1,$1\n\
                 {start},{noon},Always On,f1e2-d3,$40,1,1,1,$1\n"
            );
            let (batch, bad) = read_detected("snapchat", &csv);
            assert_eq!(batch.rows.len(), 1, "{start}: {bad:?}");
            let r = &batch.rows[0];
            assert_eq!((r.date.to_string(), r.campaign_id.as_str()), ("2026-10-01".to_string(), "a1b2-c3"));
            assert_eq!(
                (r.spend, r.impressions, r.clicks, r.conversions, r.revenue),
                (1007.12, 13547.0, 209.0, 19.0, 711.08)
            );
            let rows: Vec<(usize, &str)> = bad.iter().map(|b| (b.row, b.column.as_str())).collect();
            assert_eq!(rows, [(2, "End Time"), (3, "End Time")], "{start}: {bad:?}");
            assert!(bad[0].reason.contains("covers 2026-10-01 to 2026-10-08"), "{}", bad[0].reason);
        }
        // the value of the purchases under the name Ads Manager's download gives it
        let csv = "Start Time,End Time,Campaign Name,Campaign ID,Amount Spent,Purchases,Purchases Value\n\
                   2026-10-01 00:00:00,2026-10-02 00:00:00,Fall Sale,a1b2,$50.00,3,$150.00\n";
        let (batch, bad) = read_detected("snapchat", csv);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!((batch.rows[0].conversions, batch.rows[0].revenue), (3.0, 150.0));
    }

    /// Pinterest Ads' download (as `other`: no connector of its own): its spend, outbound clicks,
    /// checkouts and their order value are recognised; its `Total conversions`, which count
    /// sign-ups and add-to-carts too, are not taken for purchases.
    #[test]
    fn a_pinterest_export_is_read_by_its_column_names() {
        let csv = "Date,Campaign name,Campaign ID,Spend in account currency,Paid impressions,Pin clicks,\
                   Outbound clicks,Total conversions,Total checkouts,Total order value (Checkout)\n\
                   2026-11-01,Holiday Gifts,626745123456,\"$1,204.33\",120345,2400,1203,95,45,\"$4,321.10\"\n";
        let (batch, bad) = read_detected("other", csv);
        assert!(bad.is_empty(), "{bad:?}");
        let r = &batch.rows[0];
        assert_eq!((r.date.to_string(), r.campaign_id.as_str()), ("2026-11-01".to_string(), "626745123456"));
        assert_eq!(
            (r.spend, r.impressions, r.clicks, r.conversions, r.revenue),
            (1204.33, 120345.0, 1203.0, 45.0, 4321.1)
        );
    }

    /// Amounts as exports write them; a decimal comma (`12,50`) is refused rather than read as
    /// a thousands separator (1250).
    #[test]
    fn amounts_take_commas_only_as_thousands_separators() {
        for (s, x) in [
            ("1,024.50", 1024.5),
            ("$1,234,567", 1234567.0),
            ("12.5", 12.5),
            ("-1,000", -1000.0),
            ("€0.99", 0.99),
            ("1e3", 1000.0),
            ("999", 999.0),
        ] {
            assert_eq!(amount(s), Some(x), "{s}");
        }
        for s in ["12,50", "1,5", "1,0245", "12,345,67", "1.234,56", "1,2,3", ",500", "abc", ""] {
            assert_eq!(amount(s), None, "{s}");
        }
    }

    /// An export by ad group (or ad set, ad, age, device) has several rows per campaign and day:
    /// they are summed into the campaign's day instead of all but the first being rejected as
    /// duplicates. The same ad group twice on a day stays two rows (the quality stage rejects the
    /// second); rows differing only in a status column are not a breakdown.
    #[test]
    fn finer_rows_are_summed_into_their_campaigns_day() {
        let read = |csv: &str| read_detected("google_ads", csv);
        let csv = "Day,Campaign ID,Ad group,Ad group ID,Cost,Clicks\n\
            2026-11-01,7,Shoes,71,10.5,3\n2026-11-01,7,Boots,72,4.5,1\n2026-11-01,8,Hats,81,2,1\n\
            2026-11-02,7,Shoes,71,1,1\n2026-11-02,7,Shoes,71,1,1\n";
        let (batch, bad) = read(csv);
        assert!(bad.is_empty(), "{bad:?}");
        let got: Vec<(String, String, f64, f64)> =
            batch.rows.iter().map(|r| (r.campaign_id.clone(), r.date.to_string(), r.spend, r.clicks)).collect();
        assert_eq!(
            got,
            [
                ("7".into(), "2026-11-01".into(), 15.0, 4.0),
                ("8".into(), "2026-11-01".into(), 2.0, 1.0),
                ("7".into(), "2026-11-02".into(), 1.0, 1.0),
                ("7".into(), "2026-11-02".into(), 1.0, 1.0),
            ]
        );
        // ids alone tell the ad sets apart; a status column does not
        let (batch, _) = read("Day,Campaign ID,adset_id,Cost\n2026-11-01,7,1,2\n2026-11-01,7,2,3\n");
        assert_eq!(batch.rows.len(), 1);
        assert_eq!(batch.rows[0].spend, 5.0);
        let (batch, _) = read("Day,Campaign ID,Campaign status,Cost\n2026-11-01,7,Enabled,2\n2026-11-01,7,Paused,3\n");
        assert_eq!(batch.rows.len(), 2, "a status is not a breakdown: two rows for the quality stage");
    }

    #[test]
    fn a_utf16_tab_separated_export_becomes_utf8_with_commas_below_its_title_lines() {
        for (big_endian, bom) in [(false, true), (true, true), (false, false), (true, false)] {
            let bytes = utf16(TSV, big_endian, bom);
            let (text, skipped) = export_text(&bytes, None).unwrap();
            assert_eq!((std::str::from_utf8(&text).unwrap(), skipped), (CSV, 2), "{big_endian} {bom}");
        }
        // UTF-8 with tabs, the header found by the column map's date column
        let (text, skipped) = export_text(TSV.as_bytes(), Some("Start Date (in UTC)")).unwrap();
        assert_eq!((std::str::from_utf8(&text).unwrap(), skipped), (CSV, 2));
        // and read as a table: the comma inside the name and the amount stays in its field
        let t = Table::from_csv_bytes(&text, None).unwrap();
        assert_eq!(t.labels("Campaign Name").unwrap(), vec!["Lead Gen, \"US\"", "Brand"]);
        // (read as the number it shows)
        assert_eq!(t.numeric("Total Spent").unwrap().to_vec(), vec![1024.5, 99.0]);
    }

    #[test]
    fn a_column_of_numbers_reads_as_its_cells_written_out_would() {
        let csv = "spend,name\n1.5,a\n,b\n-0,c\n1e21,d\n123456789.123,e\n0.1,f\n-2.5e-7,g\n";
        let table = Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
        let names = table.names.clone();
        let cells = Cells::new(&table, names.iter().map(String::as_str));
        assert!(matches!(table.column("spend"), Ok(Column::Num(_))));
        for i in 0..table.rows {
            let written = column_cell(table.column("spend").unwrap(), i).and_then(|s| amount(&s));
            let read = cells.number("spend", i).unwrap();
            assert_eq!(read.map(f64::to_bits), written.map(f64::to_bits), "row {i}");
        }
        // a text column is read as text, found by another string of the same name too
        assert_eq!(cells.number("name", 0), None);
        assert_eq!(cells.get(&String::from("name"), 1).as_deref(), Some("b"));
        assert_eq!(cells.get("spend", 1), None);
        // the first letter settles most cells; the words still count in any case
        for (cell, summary) in [("2026-03-01", false), ("Brand", false), ("Total: Account", true), ("  GESAMT", true)] {
            assert_eq!(is_summary_cell(cell), summary, "{cell}");
        }
    }

    #[test]
    fn a_map_names_columns_as_a_person_writes_them() {
        let names: Vec<String> = ["Day", "Campaign ID", "Cost", "Impr.", "cost", "Clicks", "Conv. value"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let map: ColumnMap = serde_json::from_str(
            r#"{"date": "day", "campaign_id": "campaign_id", "spend": "Cost", "impressions": "IMPR.",
                "clicks": "Clicks", "revenue": "conv value", "conversions": "Conversions", "date_format": "%Y-%m-%d"}"#,
        )
        .unwrap();
        let r = map.resolved(&names);
        assert_eq!((r.date.as_str(), r.campaign_id.as_str()), ("Day", "Campaign ID"));
        // the name as written wins over another spelling of it
        assert_eq!(r.spend, "Cost");
        assert_eq!((r.impressions.as_deref(), r.clicks.as_deref()), (Some("Impr."), Some("Clicks")));
        assert_eq!(r.revenue.as_deref(), Some("Conv. value"));
        // not in the export: left as written, for the error to list the export's columns
        assert_eq!(r.conversions.as_deref(), Some("Conversions"));
        assert_eq!(r.date_format.as_deref(), Some("%Y-%m-%d"));
        // two columns of the same name but for case: neither is chosen
        let twice = ColumnMap { spend: "COST".into(), ..map };
        assert_eq!(twice.resolved(&names).spend, "COST");
        // the header is found below title lines by the map's date column as written
        let text = b"Campaign report\n\"Oct 1 - Oct 2\"\nDay,Cost\n2026-10-01,5\n";
        assert_eq!(header_start(text, Some("day")), (32, 2));
        assert_eq!(header_start(text, Some("Day")), (32, 2));
    }

    #[test]
    fn a_utf8_comma_export_is_its_own_bytes_from_the_header_on() {
        let file = format!("Campaign report\n{CSV}");
        let (text, skipped) = export_text(file.as_bytes(), None).unwrap();
        assert!(matches!(text, Cow::Borrowed(_)));
        assert_eq!((&*text, skipped), (CSV.as_bytes(), 1));
        // no header found: the whole file, for the column map's check to name
        let (text, skipped) = export_text(b"a,b\n1,2\n", None).unwrap();
        assert_eq!((&*text, skipped), (&b"a,b\n1,2\n"[..], 0));
    }

    /// An export saved by a spreadsheet set to German: semicolons between fields, decimal commas
    /// and points between thousands, a title line above the header.
    #[test]
    fn a_semicolon_export_becomes_commas_with_decimal_points() {
        let file = "Kampagnenbericht\nDay;Campaign ID;Campaign;Cost;Impr.;Clicks;Conv. value\n\
                    01.11.2026;7;Marke, DE;1.234,56;12.345;321;2.500,00 €\n02.11.2026;7;Marke, DE;99,5;987;12;0\n";
        let (text, skipped) = export_text(file.as_bytes(), None).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            "Day,Campaign ID,Campaign,Cost,Impr.,Clicks,Conv. value\n\
             01.11.2026,7,\"Marke, DE\",1234.56,12345,321,2500.00\n02.11.2026,7,\"Marke, DE\",99.5,987,12,0\n"
        );
        let (batch, bad) = read_detected("google_ads", std::str::from_utf8(&text).unwrap());
        assert!(bad.is_empty(), "{bad:?}");
        let day = &batch.rows[0];
        assert_eq!(
            (day.date.to_string(), day.spend, day.impressions, day.revenue),
            ("2026-11-01".to_string(), 1234.56, 12345.0, 2500.0)
        );
        // the same export as Excel saves it on Windows: Windows-1252, `ü` and `€` one byte each
        let german = file.replace("Marke", "München");
        let cp1252: Vec<u8> = german.chars().map(|c| if c == '€' { 0x80 } else { u8::try_from(c).unwrap() }).collect();
        assert!(std::str::from_utf8(&cp1252).is_err());
        let (text, skipped) = export_text(&cp1252, None).unwrap();
        assert_eq!(skipped, 1);
        let (again, _) = export_text(german.as_bytes(), None).unwrap();
        assert_eq!(std::str::from_utf8(&text).unwrap(), std::str::from_utf8(&again).unwrap());
        assert!(std::str::from_utf8(&text).unwrap().contains("\"München, DE\",1234.56"));
        // semicolons with decimal points: a column whose points cannot all separate thousands
        // keeps them as decimal points (its 1.500 is 1.5), column by column
        let file = "Day;Campaign ID;Cost;Impr.\n2026-11-01;7;1.500;1.000\n2026-11-02;7;12.25;2.000\n";
        let (text, _) = export_text(file.as_bytes(), None).unwrap();
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            "Day,Campaign ID,Cost,Impr.\n2026-11-01,7,1.500,1000\n2026-11-02,7,12.25,2000\n"
        );
    }

    /// Rows of another length than the header's: the ones holding something are returned with
    /// their lines and emptied; a trailing comma, blank lines and `,,` are read as what they are.
    #[test]
    fn rows_of_another_length_are_set_apart_with_their_lines() {
        let file = "Day,Campaign ID,Cost\r\n2026-11-01,7,10\r\n2026-11-02,7,11,\r\n\r\n,,\r\n\
                    2026-11-03,Brand, EU,12\r\n2026-11-04,7\r\n2026-11-05,7,13\r\nExported on 2026-11-06\r\n";
        let (text, ragged) = even_rows(Cow::Borrowed(file.as_bytes()), 2).unwrap();
        let why = |r: &RaggedRow| (r.row, r.line, r.reason.split(" (").next().unwrap_or_default().to_string());
        assert_eq!(
            ragged.iter().map(why).collect::<Vec<_>>(),
            vec![
                (5, 8, "has 4 fields where the header has 3".to_string()),
                (6, 9, "has 2 fields where the header has 3".to_string()),
                (8, 11, "has 1 field where the header has 3".to_string()),
            ]
        );
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            "Day,Campaign ID,Cost\n2026-11-01,7,10\n2026-11-02,7,11\n,,\n,,\n,,\n,,\n2026-11-05,7,13\n,,\n"
        );
        // the emptied rows are no rows; the others are days, numbered as in the file (a blank
        // line is a row, so row r is line skipped + 1 + r)
        let (batch, bad) = read_detected("google_ads", std::str::from_utf8(&text).unwrap());
        assert!(bad.is_empty(), "{bad:?}");
        let days: Vec<String> = batch.rows.iter().map(|r| r.date.to_string()).collect();
        assert_eq!(days, ["2026-11-01", "2026-11-02", "2026-11-05"]);
        // rows that all line up are the text as it was, not a copy
        let (text, ragged) = even_rows(Cow::Borrowed(CSV.as_bytes()), 0).unwrap();
        assert!(matches!(text, Cow::Borrowed(_)) && ragged.is_empty());
        // a tab-separated export keeps its blank lines, so the lines are the file's
        let tsv = "Report\nDay\tCampaign ID\tCost\n2026-11-01\t7\t10\n\n\n2026-11-02\t7\n";
        let (text, skipped) = export_text(tsv.as_bytes(), None).unwrap();
        let (_, ragged) = even_rows(text, skipped).unwrap();
        assert_eq!(ragged.iter().map(|r| (r.row, r.line)).collect::<Vec<_>>(), vec![(4, 6)]);
    }

    /// A manager account's export over accounts in two currencies: refused without the
    /// connection's currency (one fx_rate cannot convert both); with it, the other currency's
    /// rows are left out, not rejected; the totals rows' currency is not counted.
    #[test]
    fn amounts_in_another_currency_are_left_out_or_the_file_refused() {
        let csv = "Day,Campaign ID,Currency code,Cost\n2026-11-01,1,USD,10\n2026-11-01,2,EUR,20\n\
                   2026-11-02,1,usd,11\n2026-11-02,2,EUR,21\nTotal: Account,--,--,62\n";
        let table = Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
        let conn = |currency: Option<&str>| -> Connection {
            serde_json::from_value(serde_json::json!({
                "id": "c", "kind": "file", "platform": "google_ads", "currency": currency,
                "column_map": detect_map(&table).unwrap(),
            }))
            .unwrap()
        };
        match parse(&conn(None), &table) {
            Err(ConnectorError::Malformed { field, message, .. }) => {
                assert_eq!(field, "currency");
                assert!(message.contains("2 currencies (EUR, USD, column \"Currency code\")"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let (batch, bad) = parse(&conn(Some("usd")), &table).unwrap();
        let kept: Vec<(String, f64)> = batch.rows.iter().map(|r| (r.campaign_id.clone(), r.spend)).collect();
        assert_eq!(kept, [("1".to_string(), 10.0), ("1".to_string(), 11.0)]);
        assert_eq!(bad.iter().map(|b| (b.row, b.left_out)).collect::<Vec<_>>(), [(2, true), (4, true)]);
        assert!(bad[0].reason.starts_with("in EUR, not the connection's USD"), "{}", bad[0].reason);
        let (batch, bad) = parse(&conn(Some("EUR")), &table).unwrap();
        assert_eq!((batch.rows.len(), bad.len()), (2, 2));
        // one currency throughout: read as before, with or without the connection's
        let one = Table::from_csv_bytes(csv.replace("EUR", "USD").as_bytes(), None).unwrap();
        assert_eq!(parse(&conn(None), &one).unwrap().0.rows.len(), 4);
    }

    #[test]
    fn broken_utf16_is_an_error_naming_where() {
        let mut bytes = utf16("Day\tCost\n2026-10-01\t1\n", false, true);
        bytes.push(b'\n');
        assert!(export_text(&bytes, None).unwrap_err().contains("odd number of bytes"));
        let mut bytes = utf16("Day\tCost\n", false, true);
        bytes.extend(0xD800u16.to_le_bytes()); // a lone high surrogate
        bytes.extend(u16::from(b'x').to_le_bytes());
        let e = export_text(&bytes, None).unwrap_err();
        assert!(e.contains("invalid character at byte 20"), "{e}");
    }
}
