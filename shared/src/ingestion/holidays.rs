//! Public holidays and retail peaks by country, computed (no table to go stale): fixed dates,
//! Easter-based holidays (Anonymous Gregorian computus), and nth-weekday rules.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Easter Sunday (Gregorian).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or_default()
}

fn nth_weekday(year: i32, month: u32, wd: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, wd, n)
}

fn last_weekday(year: i32, month: u32, wd: Weekday) -> Option<NaiveDate> {
    nth_weekday(year, month, wd, 5).or_else(|| nth_weekday(year, month, wd, 4))
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// The holidays of `country` (ISO 3166 alpha-2: US, GB, DE, FR, CA, AU; others get the
/// international set) in `year`, with names. Includes the retail peaks (Black Friday, Cyber
/// Monday) that move marketing outcomes as much as public holidays do.
pub fn holidays(country: &str, year: i32) -> Vec<(NaiveDate, &'static str)> {
    let e = easter(year);
    let thanksgiving_us = nth_weekday(year, 11, Weekday::Thu, 4);
    let mut out: Vec<(Option<NaiveDate>, &'static str)> = vec![
        (ymd(year, 1, 1), "New Year's Day"),
        (ymd(year, 12, 25), "Christmas Day"),
        (thanksgiving_us.map(|t| t + Duration::days(1)), "Black Friday"),
        (thanksgiving_us.map(|t| t + Duration::days(4)), "Cyber Monday"),
    ];
    match country.to_ascii_uppercase().as_str() {
        "US" => out.extend([
            (nth_weekday(year, 1, Weekday::Mon, 3), "Martin Luther King Jr. Day"),
            (nth_weekday(year, 2, Weekday::Mon, 3), "Presidents' Day"),
            (last_weekday(year, 5, Weekday::Mon), "Memorial Day"),
            (ymd(year, 6, 19), "Juneteenth"),
            (ymd(year, 7, 4), "Independence Day"),
            (nth_weekday(year, 9, Weekday::Mon, 1), "Labor Day"),
            (nth_weekday(year, 10, Weekday::Mon, 2), "Columbus Day"),
            (ymd(year, 11, 11), "Veterans Day"),
            (thanksgiving_us, "Thanksgiving"),
        ]),
        "GB" => out.extend([
            (Some(e - Duration::days(2)), "Good Friday"),
            (Some(e + Duration::days(1)), "Easter Monday"),
            (nth_weekday(year, 5, Weekday::Mon, 1), "Early May Bank Holiday"),
            (last_weekday(year, 5, Weekday::Mon), "Spring Bank Holiday"),
            (last_weekday(year, 8, Weekday::Mon), "Summer Bank Holiday"),
            (ymd(year, 12, 26), "Boxing Day"),
        ]),
        "DE" => out.extend([
            (Some(e - Duration::days(2)), "Karfreitag"),
            (Some(e + Duration::days(1)), "Ostermontag"),
            (ymd(year, 5, 1), "Tag der Arbeit"),
            (Some(e + Duration::days(39)), "Christi Himmelfahrt"),
            (Some(e + Duration::days(50)), "Pfingstmontag"),
            (ymd(year, 10, 3), "Tag der Deutschen Einheit"),
            (ymd(year, 12, 26), "Zweiter Weihnachtsfeiertag"),
        ]),
        "FR" => out.extend([
            (Some(e + Duration::days(1)), "Lundi de Pâques"),
            (ymd(year, 5, 1), "Fête du Travail"),
            (ymd(year, 5, 8), "Victoire 1945"),
            (Some(e + Duration::days(39)), "Ascension"),
            (Some(e + Duration::days(50)), "Lundi de Pentecôte"),
            (ymd(year, 7, 14), "Fête nationale"),
            (ymd(year, 8, 15), "Assomption"),
            (ymd(year, 11, 1), "Toussaint"),
            (ymd(year, 11, 11), "Armistice"),
        ]),
        "CA" => out.extend([
            (Some(e - Duration::days(2)), "Good Friday"),
            (ymd(year, 7, 1), "Canada Day"),
            (nth_weekday(year, 9, Weekday::Mon, 1), "Labour Day"),
            (nth_weekday(year, 10, Weekday::Mon, 2), "Thanksgiving"),
            (ymd(year, 12, 26), "Boxing Day"),
        ]),
        "AU" => out.extend([
            (ymd(year, 1, 26), "Australia Day"),
            (Some(e - Duration::days(2)), "Good Friday"),
            (Some(e + Duration::days(1)), "Easter Monday"),
            (ymd(year, 4, 25), "Anzac Day"),
            (ymd(year, 12, 26), "Boxing Day"),
        ]),
        _ => {}
    }
    let mut v: Vec<(NaiveDate, &'static str)> = out.into_iter().filter_map(|(d, n)| d.map(|d| (d, n))).collect();
    v.sort();
    v
}

/// Holidays of `country` between `start` and `end` (inclusive).
pub fn holidays_between(country: &str, start: NaiveDate, end: NaiveDate) -> Vec<(NaiveDate, &'static str)> {
    (start.year()..=end.year()).flat_map(|y| holidays(country, y)).filter(|(d, _)| *d >= start && *d <= end).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(easter(2024), NaiveDate::from_ymd_opt(2024, 3, 31).unwrap_or_default());
        assert_eq!(easter(2026), NaiveDate::from_ymd_opt(2026, 4, 5).unwrap_or_default());
        let us = holidays("US", 2026);
        let get = |n: &str| us.iter().find(|(_, m)| *m == n).map(|(d, _)| d.to_string());
        assert_eq!(get("Thanksgiving").as_deref(), Some("2026-11-26"));
        assert_eq!(get("Black Friday").as_deref(), Some("2026-11-27"));
        assert_eq!(get("Cyber Monday").as_deref(), Some("2026-11-30"));
        assert_eq!(get("Memorial Day").as_deref(), Some("2026-05-25"));
        let gb = holidays("GB", 2026);
        assert!(gb.iter().any(|(d, n)| *n == "Easter Monday" && d.to_string() == "2026-04-06"));
    }
}
