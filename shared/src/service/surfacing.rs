//! `POST /api/v1/surfacing/experiments/design`: power analysis, randomised assignment and geo
//! market selection, any of them in one request.

use super::{require, ServiceError};
use crate::domain::{permissions, UserContext, ValidationError};
use liftos_estimators::design::geo::{self, GeoPanel};
use liftos_estimators::design::power::{self, PowerQuery};
use liftos_estimators::design::randomize::{self};
use liftos_estimators::mmm::HistoryStart;

/// At most this many candidate (market set, duration) pairs per request: enough for 50 markets,
/// sets of 3 and three durations (62,625), and a bound on the Lambda's time.
pub const MAX_GEO_CANDIDATES: usize = 200_000;
/// At most this many historical windows replayed per candidate, and periods fitted per replay.
pub const MAX_GEO_WINDOWS: usize = 52;
pub const MAX_GEO_PRE_PERIODS: usize = 520;
/// At most this many test lengths, each at most this many periods.
pub const MAX_GEO_DURATIONS: usize = 12;
pub const MAX_GEO_DURATION: usize = 520;
/// At most this many replays (candidates times windows) per request.
pub const MAX_GEO_REPLAYS: usize = 2_000_000;

fn choose(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// The keys of a readout body besides its data (`rows`, `panel` or `records`).
const READOUT_KEYS: &[&str] = &[
    "market",
    "time",
    "outcome",
    "treated_markets",
    "start",
    "duration",
    "pre_periods",
    "windows",
    "alpha",
    "design_rmse",
    "design_windows",
    "exclude_markets",
];

/// Data that `what` (a readout, a design) takes in one call: within the analyses' synchronous
/// limits, or a 400 naming its source `field`.
fn answered_in_the_call(info: &crate::api::causal::DataInfo, field: &str, what: &str) -> Result<(), ServiceError> {
    if !super::causal::needs_job(info, 0) {
        return Ok(());
    }
    Err(ValidationError::new(
        field,
        format!(
            "{} rows: more than {what} takes in one call ({} rows, {} MiB)",
            info.rows,
            super::causal::SYNC_MAX_ROWS,
            super::causal::SYNC_MAX_PANEL_BYTES / (1024 * 1024)
        ),
    )
    .into())
}

/// `POST /api/v1/surfacing/experiments/readout`: a geo test read out on the markets' panel (inline
/// `rows`, a `panel` under the org, or stored `records`): the lift with its standard error (the
/// design's noise when given, else replays of the history), t interval, p-value and conformal
/// inference, as `liftos estimate geo-readout`. Answered in the call: a panel above the
/// analyses' synchronous limits is a 400 naming its source.
pub async fn readout_experiment(
    stores: &crate::storage::Stores,
    user: &UserContext,
    body: &[u8],
) -> Result<crate::api::surfacing::ReadoutAnswer, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let serde_json::Value::Object(mut obj) = super::json_object(body)? else {
        return Err(ValidationError::new("body", "must be a JSON object").into());
    };
    let common = super::causal::take_common(&mut obj)?;
    if common.mode != super::causal::Mode::Auto || common.report {
        let key = if common.report { "report" } else { "mode" };
        return Err(ValidationError::new(key, "a readout is answered in the call, without a report").into());
    }
    if let Some(k) = obj.keys().find(|k| !READOUT_KEYS.contains(&k.as_str())) {
        return Err(ValidationError::new(
            k.as_str(),
            format!("unknown key; expected rows, panel or records and {}", READOUT_KEYS.join(", ")),
        )
        .into());
    }
    // `start` may be a date (a time column of dates): read on the column's axis once it is loaded
    let start = obj.get("start").cloned();
    if let Some(serde_json::Value::String(_)) = &start {
        obj.insert("start".into(), 0.into());
    }
    let mut req: crate::api::estimate::GeoReadoutRequest =
        crate::domain::error::from_json_value(serde_json::Value::Object(obj))?;
    let source = common.data.kind()?;
    let mut loaded =
        super::source::load(stores.records.as_ref(), stores.panels.as_ref(), &user.org_id, &common.data).await?;
    let at = |e| super::causal::field_error("", e);
    let axis = super::time_axis::TimeAxis::number(&mut loaded.table, &req.time, false).map_err(at)?;
    match (&axis, start) {
        (Some(axis), Some(v)) => {
            let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            req.start = axis.period("start", &text).map_err(at)?;
        }
        (None, Some(serde_json::Value::String(s))) => {
            return Err(ValidationError::new(
                "start",
                format!("{s:?}: the time column {:?} holds numbers, so start is a whole-number period", req.time),
            )
            .into())
        }
        _ => {}
    }
    answered_in_the_call(&loaded.info, source, "a readout")?;
    let table = loaded.table;
    let out = tokio::task::spawn_blocking(move || super::estimate::geo_readout(&table, &req))
        .await
        .map_err(|e| ServiceError::Internal(format!("the readout failed unexpectedly: {e}")))?;
    let time_axis = axis.map(|a| a.summary());
    let readout = out
        .map_err(|e| super::causal::field_error("", e))
        .map_err(|e| super::time_axis::dated_error(e, time_axis.as_ref()))?;
    Ok(crate::api::surfacing::ReadoutAnswer { readout, time_axis })
}

/// A geo design's caps (the request's and `liftos design geo`'s): the replays it asks for on a
/// panel of `markets` markets. The error names the setting (`max_markets`, `windows`, ...).
pub fn check_geo_design(markets: usize, st: &geo::GeoSettings) -> Result<(), (String, String)> {
    let cap = |field: &str, value: usize, max: usize| {
        if value > max {
            Err((field.to_string(), format!("{value} is more than {max}")))
        } else {
            Ok(())
        }
    };
    cap("windows", st.windows, MAX_GEO_WINDOWS)?;
    cap("pre_periods", st.pre_periods, MAX_GEO_PRE_PERIODS)?;
    cap("durations", st.durations.len(), MAX_GEO_DURATIONS)?;
    for (i, d) in st.durations.iter().enumerate() {
        cap(&format!("durations[{i}]"), *d, MAX_GEO_DURATION)?;
    }
    cap("top", st.top, 1000)?;
    let k = st.max_markets.min(markets);
    let sets: f64 = (1..=k).map(|i| choose(markets, i)).sum();
    let durations = st.durations.len();
    if sets * durations as f64 > MAX_GEO_CANDIDATES as f64 {
        return Err((
            "max_markets".into(),
            format!("{markets} markets in sets of up to {k} over {durations} durations is more than {MAX_GEO_CANDIDATES} candidates; lower max_markets or fix markets with include"),
        ));
    }
    if sets * durations as f64 * st.windows as f64 > MAX_GEO_REPLAYS as f64 {
        return Err((
            "windows".into(),
            format!("{} windows for each of the candidates is more than {MAX_GEO_REPLAYS} replays; lower windows or max_markets", st.windows),
        ));
    }
    // A multi-cell search re-runs the candidates' replays per duration, arm and beam.
    let cells = st.cells.clamp(1, geo::MAX_CELLS);
    let multi = (durations * geo::CELL_BEAM * (cells - 1)) as f64;
    if sets * st.windows as f64 * (1.0 + multi) > MAX_GEO_REPLAYS as f64 {
        return Err((
            "cells".into(),
            format!("{cells} arms over {durations} durations is more than {MAX_GEO_REPLAYS} replays; lower cells, durations or max_markets"),
        ));
    }
    Ok(())
}

pub async fn design_experiment(
    stores: &crate::storage::Stores,
    user: &UserContext,
    body: &[u8],
) -> Result<DesignResponse, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let req: DesignRequest = super::parse_object(body)?;
    if req.power.is_none() && req.randomization.is_none() && req.geo.is_none() {
        return Err(ValidationError::new("body", "give at least one of power, randomization, geo").into());
    }
    let power = req
        .power
        .map(|p| {
            power::solve(&p.settings, &PowerQuery { n_control: p.n_control, effect: p.effect, power: p.power })
                .map_err(|e| ValidationError::new(format!("power.{}", e.field), e.message))
        })
        .transpose()?;
    let randomization = req
        .randomization
        .map(|r| {
            randomize::randomize(&r.units, &r.settings)
                .map_err(|e| ValidationError::new(format!("randomization.{}", e.field), e.message))
        })
        .transpose()?;
    let (geo, time_axis) = match req.geo {
        None => (None, None),
        Some(mut g) => {
            let within = |e: ValidationError| ServiceError::from(e.prefixed("geo"));
            match g.source().map_err(within)? {
                GeoSource::Rows(rows) => {
                    let markets =
                        rows.iter().map(|r| r.market.as_str()).collect::<std::collections::BTreeSet<_>>().len();
                    check_geo_design(markets, &g.settings)
                        .map_err(|(field, message)| ValidationError::new(format!("geo.{field}"), message))?;
                    let panel = GeoPanel {
                        market: rows.iter().map(|r| r.market.clone()).collect(),
                        time: rows.iter().map(|r| r.period).collect(),
                        outcome: rows.iter().map(|r| r.outcome).collect(),
                    };
                    let design = geo::design(&panel, &g.settings)
                        .map_err(|e| ValidationError::new(format!("geo.{}", e.field), e.message))?;
                    (Some(design), None)
                }
                GeoSource::Data { data, market, time, outcome } => {
                    let loaded =
                        super::source::load(stores.records.as_ref(), stores.panels.as_ref(), &user.org_id, &data)
                            .await
                            .map_err(|e| match e {
                                ServiceError::Validation(v) => within(v),
                                e => e,
                            })?;
                    let source = data.kind().map_err(within)?;
                    answered_in_the_call(&loaded.info, &format!("geo.{source}"), "a design")?;
                    let mut table = loaded.table;
                    let at = |e| super::causal::field_error("geo.", e);
                    let axis = super::time_axis::TimeAxis::number(&mut table, &time, false).map_err(at)?;
                    let req = crate::api::estimate::GeoDesignRequest { market, time, outcome, settings: g.settings };
                    let time_axis = axis.map(|a| a.summary());
                    let design = tokio::task::spawn_blocking(move || super::estimate::geo_design(&table, &req))
                        .await
                        .map_err(|e| ServiceError::Internal(format!("the design failed unexpectedly: {e}")))?
                        .map_err(|e| super::time_axis::dated_error(at(e), time_axis.as_ref()))?;
                    (Some(design), time_axis)
                }
            }
        }
    };
    Ok(DesignResponse { power, randomization, geo, time_axis })
}

pub use crate::api::surfacing::{
    DesignRequest, DesignResponse, GeoSection, GeoSource, History, KpiHistory, KpiRecommendations, MmmAnswer,
    OptimizeAnswer, OptimizeRequest, OptimizeResponse, OutcomeMetric, PanelRow, PlanRequest, PowerSection,
    RandomizationSection, RecommendAnswer, RecordsSource,
};
use crate::domain::{DateRange, Platform};
use crate::storage::{PageRequest, RecordQuery, RecordStore};
use liftos_estimators::budget::recommend::{self};
use liftos_estimators::budget::{self, ChannelBounds, ChannelSpend, Lift, Plan};

/// At most this many stored records are read to build a history (a bound on every GET of
/// recommendations and every plan from records); beyond it the caller narrows by platform or
/// range.
pub const MAX_HISTORY_RECORDS: usize = 200_000;

/// Daily history from the org's stored records: channels are platforms (or, for one platform,
/// its campaigns); the outcome is the day's total conversions or revenue across them.
pub async fn history_from_records(
    store: &dyn RecordStore,
    user: &UserContext,
    platform: Option<Platform>,
    range: &DateRange,
    metric: OutcomeMetric,
) -> Result<History, ServiceError> {
    use std::collections::BTreeMap;
    let platforms: Vec<Platform> = match platform {
        Some(p) => vec![p],
        None => Platform::ALL.to_vec(),
    };
    let mut spend: BTreeMap<String, BTreeMap<chrono::NaiveDate, f64>> = BTreeMap::new();
    let mut outcome: BTreeMap<chrono::NaiveDate, f64> = BTreeMap::new();
    let (mut revenue, mut conversions) = (0.0, 0.0);
    let mut read = 0usize;
    for p in platforms {
        let mut page = PageRequest::first(1000);
        loop {
            let got =
                store.query_records(&user.org_id, &RecordQuery::Platform { platform: p, range: *range }, &page).await?;
            read += got.items.len();
            if read > MAX_HISTORY_RECORDS {
                return Err(ValidationError::new(
                    "platform",
                    format!(
                        "more than {MAX_HISTORY_RECORDS} stored records to learn from: narrow by platform{}",
                        if platform.is_some() { " and date range" } else { "" }
                    ),
                )
                .into());
            }
            for r in &got.items {
                let day = r.timestamp.date_naive();
                let channel = if platform.is_some() { r.campaign_id.clone() } else { p.to_string() };
                *spend.entry(channel).or_default().entry(day).or_insert(0.0) += r.metrics.spend;
                revenue += r.metrics.revenue;
                conversions += r.metrics.conversions;
                *outcome.entry(day).or_insert(0.0) += match metric {
                    OutcomeMetric::Conversions => r.metrics.conversions,
                    OutcomeMetric::Revenue => r.metrics.revenue,
                };
            }
            match got.next_cursor {
                Some(c) => page = PageRequest { limit: 1000, cursor: Some(c) },
                None => break,
            }
        }
    }
    let days: Vec<chrono::NaiveDate> = outcome.keys().copied().collect();
    // A platform with no record on a day the others have is missing that day (NaN), not at zero
    // spend: its attributed outcome is missing from the day's total too. A campaign without a
    // record is at zero (exports leave out campaigns that did not run).
    let absent = if platform.is_some() { 0.0 } else { f64::NAN };
    Ok(History {
        dates: days.clone(),
        outcome: days.iter().map(|d| outcome[d]).collect(),
        channels: spend
            .into_iter()
            .map(|(channel, by_day)| ChannelSpend {
                channel,
                spend: days.iter().map(|d| by_day.get(d).copied().unwrap_or(absent)).collect(),
            })
            .collect(),
        notes: Vec::new(),
        value_per_outcome: match metric {
            OutcomeMetric::Revenue => Some(1.0),
            OutcomeMetric::Conversions => (conversions > 0.0 && revenue > 0.0).then(|| revenue / conversions),
        },
    })
}

/// The days on which every channel has spend: a day with a missing channel (NaN) is left out,
/// and `notes` says how many and whose.
pub fn complete_days(mut h: History) -> History {
    let keep: Vec<bool> = (0..h.outcome.len()).map(|t| h.channels.iter().all(|c| c.spend[t].is_finite())).collect();
    let dropped = keep.iter().filter(|k| !**k).count();
    if dropped == 0 {
        return h;
    }
    let missing: Vec<String> = h
        .channels
        .iter()
        .filter_map(|c| {
            let n = c.spend.iter().filter(|s| !s.is_finite()).count();
            (n > 0).then(|| format!("{} on {n}", c.channel))
        })
        .collect();
    let total = h.outcome.len();
    let pick = |v: &[f64]| -> Vec<f64> { v.iter().zip(&keep).filter(|(_, k)| **k).map(|(x, _)| *x).collect() };
    h.outcome = pick(&h.outcome);
    for c in &mut h.channels {
        c.spend = pick(&c.spend);
    }
    if h.dates.len() == keep.len() {
        h.dates = h.dates.iter().zip(&keep).filter(|(_, k)| **k).map(|(d, _)| *d).collect();
    }
    h.notes.push(format!(
        "{dropped} of {total} days left out because a platform had no records on them ({}): a missing day is \
         not zero spend",
        missing.join(", ")
    ));
    h
}

fn history_error(e: liftos_estimators::FieldError, prefix: &str) -> ServiceError {
    // Lift estimates are a field of the request, not of the history.
    let prefix = if e.field.starts_with("lifts") { "" } else { prefix };
    ValidationError::new(format!("{prefix}{}", e.field), e.message).into()
}

/// Recent average spend (last quarter of the history, at least 7 periods).
fn recent_average(spend: &[f64]) -> f64 {
    let k = (spend.len() / 4).max(7).min(spend.len()).max(1);
    spend[spend.len() - k..].iter().sum::<f64>() / k as f64
}

pub fn plan_for(history: &History, req: &PlanRequest) -> Plan {
    let channels = if req.channels.is_empty() {
        history
            .channels
            .iter()
            .map(|c| ChannelBounds {
                channel: c.channel.clone(),
                current: recent_average(&c.spend),
                min: None,
                max: None,
            })
            .collect()
    } else {
        req.channels.clone()
    };
    Plan {
        objective: req.objective,
        budget: req.budget,
        channels,
        value_per_outcome: req.value_per_outcome.or(history.value_per_outcome).unwrap_or(1.0),
        max_change: req.max_change,
        target_roas: req.target_roas,
        target_cpa: req.target_cpa,
        periods: req.periods.unwrap_or(1.0),
        seed: req.seed.unwrap_or(20261127),
    }
}

/// What a history's outcome is: the caller's own series, or the platforms' attribution read
/// from the stored records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeSource {
    Inline,
    Attributed(OutcomeMetric),
}

/// Fit (with calibration), optimise and recommend, saying what limits the answer.
pub fn optimize_history(
    history: &History,
    lifts: &[Lift],
    req: &PlanRequest,
    source: OutcomeSource,
) -> Result<OptimizeResponse, ServiceError> {
    let model = budget::fit(&history.outcome, &history.channels, lifts).map_err(|e| history_error(e, "history."))?;
    let plan = plan_for(history, req);
    let result = budget::optimize(&model, &plan).map_err(|e| history_error(e, "plan."))?;
    let recommendations = recommend::recommend(&model, &plan).map_err(|e| history_error(e, "plan."))?;
    let mut warnings = history.notes.clone();
    let incremental = match source {
        OutcomeSource::Inline => None,
        OutcomeSource::Attributed(metric) => {
            let what = match metric {
                OutcomeMetric::Conversions => "conversions",
                OutcomeMetric::Revenue => "revenue",
            };
            warnings.push(format!(
                "the outcome is the platforms' attributed {what}, not the business's own KPI: these effects are not \
                 incremental (spend paced to demand, and attribution that grows with spend, both inflate them; a \
                 channel with no effect can look profitable); send kpi, the org's first-party series, for the media \
                 mix model"
            ));
            Some(false)
        }
    };
    warnings.push(
        "the response curves are fitted with an intercept only (no trend, seasonality or controls) and their \
         intervals are conditional on the chosen carry-over and saturation: test a move before making it"
            .into(),
    );
    Ok(OptimizeResponse { model, plan: result, recommendations, incremental, warnings })
}

/// `POST /api/v1/surfacing/optimize/causal`.
pub async fn optimize_budget(
    stores: &crate::storage::Stores,
    user: &UserContext,
    body: &[u8],
) -> Result<OptimizeAnswer, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let req: OptimizeRequest = super::parse_object(body)?;
    if let Some(kpi) = &req.kpi {
        if req.history.is_some() || req.records.is_some() || !req.lifts.is_empty() {
            return Err(ValidationError::new(
                "kpi",
                "give kpi alone (its lift tests under kpi.lift_tests), not with history, records or lifts",
            )
            .into());
        }
        let model = media_mix(kpi, &req.plan)?;
        let report = match req.report {
            true => {
                let html = crate::report::budget_plan("KPI", None, &model);
                Some(super::causal::store_report(stores.panels.as_ref(), user, "optimize", html).await?)
            }
            false => None,
        };
        return Ok(OptimizeAnswer::Mmm(Box::new(MmmAnswer { model, report })));
    }
    if req.report {
        return Err(ValidationError::new("report", "the report is the media mix model's: give kpi").into());
    }
    let store = stores.records.as_ref();
    let history = history_of(store, user, &req, "").await?;
    let source = match &req.records {
        Some(src) => OutcomeSource::Attributed(src.metric),
        None => OutcomeSource::Inline,
    };
    Ok(OptimizeAnswer::Curves(Box::new(optimize_history(&history, &req.lifts, &req.plan, source)?)))
}

/// At most this many re-fits per request, and at most [`MAX_MMM_WORK`] units of work.
pub const MAX_MMM_DRAWS: usize = 1000;

/// The work of one media-mix request, in units measured on this project's 2-core machine at
/// about 2 µs each: periods x fits (the point fit, two where `auto` fits both history starts, the
/// re-fits and the folds) x channels² (the shape search's cost grows about with the square of the
/// channels: 1, 2, 5 and 10 channels took 1, 1.9, 10 and 69 times the time of one) x (1 +
/// controls / 16) (ten controls added 62% to five channels' time). The tests of no effect count as half a re-fit per draw (each draw searches one
/// channel's shape, for every channel: five channels over two years of days, 200 re-fits, took
/// 2.82 s with the tests against 1.88 s without, release build). The cap keeps a request to about
/// 15 s on the function's 3,538 MB (two vCPUs): two years of daily data with five channels allow
/// about 300 re-fits.
pub const MAX_MMM_WORK: u64 = 7_500_000;

pub fn mmm_work(
    periods: usize,
    draws: usize,
    folds: usize,
    channels: usize,
    controls: usize,
    start: HistoryStart,
) -> u64 {
    let tests = draws.min(liftos_estimators::mmm::NULL_DRAWS) as u64 / 2;
    let fits =
        (draws as u64).saturating_add(tests).saturating_add(folds as u64).saturating_add(start.point_fits() as u64);
    let k = channels as u64;
    (periods as u64).saturating_mul(fits).saturating_mul(k * k).saturating_mul(16 + controls as u64) / 16
}

/// The most re-fits, up to `draws`, whose work stays within `MAX_MMM_WORK`, and never fewer than
/// the model's least (a longer history then takes longer).
pub fn draws_within_work(
    draws: usize,
    periods: usize,
    folds: usize,
    channels: usize,
    controls: usize,
    start: HistoryStart,
) -> usize {
    let mut d = draws;
    while d > liftos_estimators::mmm::MIN_DRAWS && mmm_work(periods, d, folds, channels, controls, start) > MAX_MMM_WORK
    {
        d = (d * 4 / 5).max(liftos_estimators::mmm::MIN_DRAWS);
    }
    d
}

/// The periods of the regular grid the dates lie on (the model's smallest step between dates,
/// from the first to the last), gaps included.
pub fn grid_periods(days: &[i64]) -> usize {
    let step = date_step(days).max(1);
    match (days.iter().min(), days.iter().max()) {
        (Some(a), Some(b)) => usize::try_from((b - a) / step).unwrap_or(usize::MAX).saturating_add(1),
        _ => 0,
    }
}

/// The smallest step between distinct dates (1 for fewer than two).
fn date_step(days: &[i64]) -> i64 {
    let mut d = days.to_vec();
    d.sort_unstable();
    d.dedup();
    d.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(1)
}

/// The media mix model on the request's KPI history.
pub fn media_mix(kpi: &KpiHistory, plan: &PlanRequest) -> Result<liftos_estimators::mmm::MmmResult, ServiceError> {
    use crate::service::estimate::day_number;
    use liftos_estimators::mmm::{self, LiftTest, MmmInput, MmmSettings, Series};
    let err = |e: crate::service::estimate::EstimateError, at: &str| -> ServiceError {
        ValidationError::new(format!("{at}{}", e.field()), e.to_string()).into()
    };
    if !matches!(plan.objective, budget::Objective::MaxOutcome) {
        return Err(ValidationError::new(
            "plan.objective",
            "the KPI model plans max_outcome: the most KPI for the budget",
        )
        .into());
    }
    if plan.target_roas.is_some() || plan.target_cpa.is_some() || !plan.channels.is_empty() {
        return Err(ValidationError::new(
            "plan",
            "with kpi the plan takes budget, max_change, periods and seed (channels are kpi.spend)",
        )
        .into());
    }
    let n = kpi.dates.len();
    let d = MmmSettings::default();
    let draws = kpi.draws.unwrap_or(d.draws);
    if draws > MAX_MMM_DRAWS {
        return Err(ValidationError::new("kpi.draws", format!("{draws} is more than {MAX_MMM_DRAWS}")).into());
    }
    if draws < 20 {
        return Err(ValidationError::new("kpi.draws", "at least 20 re-fits for an interval").into());
    }
    let days: Vec<i64> = kpi
        .dates
        .iter()
        .enumerate()
        .map(|(i, s)| day_number("dates", i, s))
        .collect::<Result<_, _>>()
        .map_err(|e| err(e, "kpi."))?;
    let folds = kpi.folds.unwrap_or(d.folds);
    // The model runs on the regular grid the dates lie on, gaps included: its length is the work.
    let grid = grid_periods(&days);
    // The counts the work depends on, each named on its own before their product is.
    for (field, count, what, max) in [
        ("kpi.spend", kpi.spend.len(), "channels", mmm::MAX_CHANNELS),
        ("kpi.controls", kpi.controls.len(), "controls", mmm::MAX_CONTROLS),
        ("kpi.folds", folds, "folds", mmm::MAX_FOLDS),
        ("kpi.dates", grid, "periods from the first date to the last, gaps included", mmm::MAX_PERIODS),
    ] {
        if count > max {
            return Err(ValidationError::new(field, format!("{count} {what} is more than {max}")).into());
        }
    }
    // Holidays add at most two controls.
    let controls = kpi.controls.len() + 2 * usize::from(kpi.holidays.is_some());
    let start = kpi.history_start.unwrap_or_default();
    let work = mmm_work(grid, draws, folds, kpi.spend.len(), controls, start);
    if work > MAX_MMM_WORK {
        let fits = match start.point_fits() {
            1 => "1 fit".to_string(),
            n => format!("{n} fits (history_start auto fits both starts)"),
        };
        return Err(ValidationError::new(
            "kpi.draws",
            format!(
                "{grid} periods x ({fits} + {draws} re-fits + {folds} folds) x {} channels squared x (1 + {} controls / 16) \
                 is {work} units of work, more than {MAX_MMM_WORK}: fewer re-fits, channels or controls, or weekly data",
                kpi.spend.len(),
                controls
            ),
        )
        .into());
    }
    let values = |v: &[Option<f64>]| v.iter().map(|x| x.unwrap_or(f64::NAN)).collect::<Vec<f64>>();
    let series = |list: &[crate::api::surfacing::NamedSeries], field: &str| -> Result<Vec<Series>, ServiceError> {
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                if s.values.len() != n {
                    return Err(ValidationError::new(
                        format!("kpi.{field}[{i}].values"),
                        format!("has {} values for {n} dates", s.values.len()),
                    )
                    .into());
                }
                Ok(Series { name: s.name.clone(), values: values(&s.values) })
            })
            .collect()
    };
    let lifts = kpi
        .lift_tests
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(LiftTest {
                channel: l.channel.clone(),
                start: day_number("start", 0, &l.start).map_err(|e| err(e, &format!("kpi.lift_tests[{i}].")))?,
                end: day_number("end", 0, &l.end).map_err(|e| err(e, &format!("kpi.lift_tests[{i}].")))?,
                spend_from: l.spend_from,
                spend_to: l.spend_to,
                incremental: l.incremental,
                std_error: l.std_error,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    if kpi.kpi.len() != n {
        return Err(ValidationError::new("kpi.kpi", format!("has {} values for {n} dates", kpi.kpi.len())).into());
    }
    let mut controls = series(&kpi.controls, "controls")?;
    if let Some(country) = &kpi.holidays {
        // The error already names kpi.holidays.
        controls.extend(super::estimate::holiday_controls(country, &days, "kpi.holidays").map_err(|e| err(e, ""))?);
    }
    let input = MmmInput { days, kpi: values(&kpi.kpi), channels: series(&kpi.spend, "spend")?, controls, lifts };
    let periods = plan.periods.unwrap_or(1.0);
    if !(periods >= 1.0 && periods <= mmm::MAX_PERIODS as f64 && periods.fract() == 0.0) {
        return Err(ValidationError::new(
            "plan.periods",
            format!("a whole number of periods, 1 to {}", mmm::MAX_PERIODS),
        )
        .into());
    }
    let settings = MmmSettings {
        trend: kpi.trend.unwrap_or(true),
        yearly: kpi.yearly,
        weekly: kpi.weekly,
        draws,
        level: kpi.level.unwrap_or(d.level),
        seed: plan.seed.unwrap_or(d.seed),
        folds,
        budget: plan.budget,
        max_change: plan.max_change,
        block_length: None,
        periods: periods as usize,
        history_start: kpi.history_start.unwrap_or_default(),
    };
    let mut result = mmm::fit(&input, &settings).map_err(|e| {
        let field = match e.field.as_str() {
            f if f.starts_with("spend") || f.starts_with("controls") || f.starts_with("lifts") || f == "kpi" => {
                format!("kpi.{}", f.replacen("lifts", "lift_tests", 1))
            }
            "date" => "kpi.dates".to_string(),
            "budget" | "max_change" | "periods" => format!("plan.{}", e.field),
            other => format!("kpi.{other}"),
        };
        ServiceError::from(ValidationError::new(field, e.message))
    })?;
    if kpi.attributed {
        result.mark_attributed();
    }
    Ok(result)
}

/// The request's history: inline, or read from the org's records. `at` prefixes the field
/// named in an error (`budget.` within a counterfactual request).
pub async fn history_of(
    store: &dyn RecordStore,
    user: &UserContext,
    req: &OptimizeRequest,
    at: &str,
) -> Result<History, ServiceError> {
    if req.kpi.is_some() {
        return Err(ValidationError::new(
            format!("{at}kpi"),
            "this needs a history or records; the KPI model answers POST /api/v1/surfacing/optimize/causal",
        )
        .into());
    }
    match (&req.history, &req.records) {
        (Some(h), None) => Ok(h.clone()),
        (None, Some(src)) => {
            let range = DateRange::from_optional(src.start.as_deref(), src.end.as_deref())?;
            Ok(complete_days(history_from_records(store, user, src.platform, &range, src.metric).await?))
        }
        _ => Err(ValidationError::new(
            format!("{at}history"),
            "give either history (inline) or records (from the store)",
        )
        .into()),
    }
}

/// The budget recommendation: the media mix model on the org's first-party KPI.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BudgetRecommendation {
    /// Where the KPI came from (the org's `config/kpi.csv`) and its column.
    pub kpi_source: String,
    pub kpi: String,
    /// Spend per day planned: the last week's average.
    pub daily_budget: f64,
    /// The reporting currency the spend is in (ISO code): the currency of the connections that
    /// convert at 1.0, when they name one and agree; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Channels with ROI and marginal ROI intervals, the plan within the supported spend and
    /// ±30% a channel, its gain per day with an interval, the fit and its cross-validation.
    pub model: liftos_estimators::mmm::MmmResult,
}

/// The next test: a switchback on the channel with the weakest evidence, sized by simulation
/// under the model's carry-over and residual autocorrelation.
pub type ProposedTest = Option<liftos_estimators::mmm::NextTest>;

/// The org's first-party KPI, by date (`date` and one KPI column); the sample org's is bundled.
pub const KPI_KEY: &str = "config/kpi.csv";

/// A user's KPI file as the org's `config/kpi.csv`: `date` (YYYY-MM-DD) and the KPI column under
/// its own name. The file may be as an order system or a spreadsheet writes it: a `date`, `Date`,
/// `Day`, `Week` or `Month` column (or the exports' names for it in their languages: `Datum`,
/// `Jour`, `Woche`) in any of the exports' date formats (`11/01/2026`, `Nov 1, 2026`,
/// `01.11.2026`, ...), title lines above the header, UTF-16 or tabs, semicolons with decimal
/// commas, amounts with a currency sign and thousands separators; an empty cell is a missing day. It must hold one KPI column beside
/// the date, or `column` names the one to plan on (a shop's export of orders, gross, net and
/// total sales): with several, which one is the user's choice, not a guess. `field`: the name
/// errors carry (`kpi`, or the stored file's key).
pub fn kpi_csv(bytes: &[u8], field: &str, column: Option<&str>) -> Result<Vec<u8>, ServiceError> {
    use crate::domain::ValidationError;
    use crate::ingestion::connectors::file;
    let bad = |m: String| ServiceError::from(ValidationError::new(field, m));
    let super::source::Export { table, skipped, ragged } =
        super::source::read_export(bytes, super::source::PanelFormat::Csv, None)
            .map_err(|e| bad(e.summary().to_string()))?;
    // a KPI file is a whole series: a line that cannot be read is an error, not a gap
    if let Some(r) = ragged.first() {
        return Err(bad(format!("line {}: {}", r.line, r.reason)));
    }
    let date = table.names.iter().find(|n| file::is_date_name(n) || file::is_period_word(n)).ok_or_else(|| {
        bad(format!(
            "needs a date column (date, day, week or month) and a KPI column (it has: {})",
            table.names.join(", ")
        ))
    })?;
    let others: Vec<&String> = table.names.iter().filter(|n| *n != date).collect();
    let named = |list: &[&String]| list.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let kpi = match (others.as_slice(), column) {
        (_, Some(c)) => others
            .iter()
            .copied()
            .find(|n| n.trim() == c.trim())
            .or_else(|| {
                // the name as a person types it: another case, when that names one column
                let like: Vec<&String> =
                    others.iter().copied().filter(|n| n.trim().eq_ignore_ascii_case(c.trim())).collect();
                (like.len() == 1).then(|| like[0])
            })
            .ok_or_else(|| {
                ServiceError::from(ValidationError::new(
                    "kpi_column",
                    format!("{c:?} is not a column of the KPI file beside {date:?} (it has: {})", named(&others)),
                ))
            })?,
        ([one], None) => *one,
        ([], None) => return Err(bad(format!("needs a KPI column beside {date:?}"))),
        (many, None) => {
            let how = if field == "kpi" {
                " with --kpi-column, or keep that column alone"
            } else {
                ": keep that column alone"
            };
            return Err(bad(format!(
                "holds {} columns beside {date:?} ({}): name the one KPI to plan on (orders, revenue, sign-ups){how}",
                many.len(),
                named(many)
            )));
        }
    };
    let format = file::date_format(&table, date).map_err(bad)?;
    // the line of a data row in the file: the title lines, the header, then the rows
    let line = |i: usize| skipped + i + 2;
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let write_err = |e: csv::Error| bad(e.to_string());
    out.write_record(["date", kpi.trim()]).map_err(write_err)?;
    let days = table.labels(date).map_err(|e| bad(e.to_string()))?;
    let values = table.labels(kpi).map_err(|e| bad(e.to_string()))?;
    let mut seen: std::collections::HashMap<chrono::NaiveDate, usize> = std::collections::HashMap::new();
    for (i, (d, v)) in days.iter().zip(&values).enumerate() {
        let blank = |s: &str| matches!(s.trim(), "" | "NaN");
        // a blank line, or a report's totals row (Google Analytics' `Grand total`)
        if (blank(d) && blank(v)) || file::is_summary_cell(d) {
            continue;
        }
        let day = match table.column(date) {
            Ok(liftos_estimators::data::Column::Num(_)) => chrono::NaiveDate::parse_from_str(d.trim(), "%Y%m%d").ok(),
            _ => file::day_in(d.trim(), &format),
        }
        .ok_or_else(|| bad(format!("line {}: {d:?} in {date:?} is not a date in the format {format}", line(i))))?;
        // A KPI is one figure a day or week: two rows of a day (an export by order or by hour)
        // are not summed, since a rate or an average does not add up.
        if let Some(first) = seen.insert(day, line(i)) {
            return Err(bad(format!(
                "line {}: {day} is on line {first} too: give the KPI as one row per day or week (for orders or revenue listed one by one, their total of each day)",
                line(i)
            )));
        }
        let value = match v.trim() {
            // empty, or a numeric column's missing value
            "" | "NaN" => String::new(),
            t => file::amount(t)
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(format!("line {}: {v:?} in {kpi:?} is not a number", line(i))))?
                .to_string(),
        };
        out.write_record([day.to_string(), value]).map_err(write_err)?;
    }
    out.into_inner().map_err(|e| bad(e.to_string()))
}

/// The media mix model on the org's own KPI (`config/kpi.csv`, none: `None`) and the platforms'
/// stored daily spend: today's budget (the last week's) re-allocated within ±30% and the spend
/// the history supports, and the test that would settle the weakest channel. The main job's
/// budget recommendation, and the recommendations' answer for an org with a KPI.
pub async fn kpi_plan(
    stores: &crate::storage::Stores,
    user: &UserContext,
) -> Result<Option<(BudgetRecommendation, ProposedTest)>, ServiceError> {
    use liftos_estimators::mmm::{self, MmmInput, MmmSettings, Series};
    let Some(bytes) = stores.panels.get_panel(&user.org_id, KPI_KEY).await? else { return Ok(None) };
    // as the user saved it (put in the panel store directly): `date,<kpi>` with ISO dates
    let bytes = kpi_csv(&bytes, KPI_KEY, None)?;
    let bad = |m: String| ServiceError::from(ValidationError::new(KPI_KEY, m));
    let table = liftos_estimators::data::Table::from_reader(bytes.as_slice()).map_err(|e| bad(e.to_string()))?;
    let kpi = table
        .names
        .iter()
        .find(|n| n.as_str() != "date")
        .cloned()
        .ok_or_else(|| bad("needs a date column and a KPI column".into()))?;
    let dates = table.labels("date").map_err(|e| bad(e.to_string()))?;
    let days: Vec<i64> = dates
        .iter()
        .enumerate()
        .map(|(i, d)| super::estimate::day_number("date", i, d))
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let values = table.numeric_or_missing(&kpi).map_err(|e| bad(e.to_string()))?.to_vec();
    let history =
        history_from_records(stores.records.as_ref(), user, None, &DateRange::all(), OutcomeMetric::Revenue).await?;
    let epoch = chrono::NaiveDate::default();
    // A daily KPI, or a weekly one (dated by each week's first day, 7 days apart): the spend of
    // a period is its days' sum. Other spacings are refused rather than paired with one day.
    let step = date_step(&days);
    if step != 1 && step != 7 {
        return Err(bad(format!(
            "its dates are {step} days apart at the least: give the KPI by day or by week (dated by each week's first day)"
        )));
    }
    let channels: Vec<Series> = history
        .channels
        .iter()
        .map(|c| {
            let by_day: std::collections::HashMap<i64, f64> = history
                .dates
                .iter()
                .zip(&c.spend)
                .map(|(d, s)| (d.signed_duration_since(epoch).num_days(), *s))
                .collect();
            Series { name: c.channel.clone(), values: period_spend(&by_day, &days, step) }
        })
        .collect();
    if channels.is_empty() {
        // A KPI but no platform records yet: nothing to plan (as the response curves say).
        return Err(ServiceError::NotFound { what: "causal records to learn from".into() });
    }
    let budget: f64 = history
        .channels
        .iter()
        .map(|c| {
            // The mean of the platform's last 7 days with records (a missing day is not zero).
            let recent: Vec<f64> = c.spend.iter().rev().filter(|s| s.is_finite()).take(7).copied().collect();
            recent.iter().sum::<f64>() / recent.len().max(1) as f64
        })
        .sum();
    let (controls, mut notes) = automatic_controls(stores, user, &days, &values).await?;
    // The plan's budget per period of the model and its length (a week: 7 days, or 1 week).
    let mut settings = MmmSettings {
        budget: Some(budget * step as f64),
        max_change: Some(0.3),
        periods: if step == 7 { 1 } else { 7 },
        ..MmmSettings::default()
    };
    // The work capped as a request's (about 15 s on the function's two vCPUs): fewer re-fits for
    // a long history, never fewer than the model's least.
    let grid = grid_periods(&days);
    let full = settings.draws;
    settings.draws =
        draws_within_work(full, grid, settings.folds, channels.len(), controls.len(), settings.history_start);
    if settings.draws < full {
        notes.push(format!(
            "{} re-fits (not {full}) keep the model's work within a request's: {grid} periods and {} channels",
            settings.draws,
            channels.len()
        ));
    }
    let mut input = MmmInput { days, kpi: values, channels, controls, lifts: vec![] };
    let mut model = match mmm::fit(&input, &settings) {
        Err(e) if !input.controls.is_empty() && (e.field.starts_with("controls") || e.field == "kpi") => {
            // The data cannot carry the automatic controls: the model without them, and why.
            notes.push(format!(
                "the automatic controls ({}) were left out: {}: {}",
                input.controls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                e.field,
                e.message
            ));
            input.controls.clear();
            mmm::fit(&input, &settings)
        }
        other => other,
    }
    .map_err(|e| {
        // Too few days with the KPI and every channel's spend, or none with a channel's: where
        // each series has its days.
        let coverage = if e.field == "kpi" || e.field.starts_with("spend") { coverage(&input) } else { String::new() };
        bad(format!("{}: {}{coverage}", e.field, e.message))
    })?;
    model.warnings.extend(notes);
    let test = model.next_test.take();
    Ok(Some((
        BudgetRecommendation { kpi_source: KPI_KEY.into(), kpi, daily_budget: budget, currency: None, model },
        test,
    )))
}

/// A channel's spend for each KPI date `days` (days since 1970-01-01) from its spend by day: the
/// sum of the `step` days from each date on (1: daily, 7: a week dated by its first day). A day
/// the platform has no record for is missing, not zero spend, and so is a period with such a day.
fn period_spend(by_day: &std::collections::HashMap<i64, f64>, days: &[i64], step: i64) -> Vec<f64> {
    days.iter().map(|&d| (d..d + step).map(|x| *by_day.get(&x).unwrap_or(&f64::NAN)).sum()).collect()
}

/// Which of the KPI's days each channel has spend on (a day with no record is missing, not zero):
/// `" (the KPI: 60 days, 2026-10-01 to 2026-11-29; spend on them: google_ads 28 days, 2026-11-01
/// to 2026-11-28, ...)"`.
fn coverage(input: &liftos_estimators::mmm::MmmInput) -> String {
    let day = |d: i64| (chrono::NaiveDate::default() + chrono::Duration::days(d)).to_string();
    // the KPI's periods as its dates are spaced: days, weeks (each dated by its first day), months
    let step = input.days.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).min().unwrap_or(1);
    let (one, many, within) = match step {
        1 => ("day", "days", ""),
        7 => ("week", "weeks", " (and so is a week with such a day)"),
        28..=31 => ("month", "months", " (and so is a month with such a day)"),
        _ => ("period", "periods", " (and so is a period with such a day)"),
    };
    let span = |ok: &dyn Fn(usize) -> bool| {
        let on: Vec<i64> = (0..input.days.len()).filter(|&i| ok(i)).map(|i| input.days[i]).collect();
        match (on.iter().min(), on.iter().max()) {
            (Some(a), Some(b)) => {
                format!("{} {}, {} to {}", on.len(), if on.len() == 1 { one } else { many }, day(*a), day(*b))
            }
            _ => format!("no {many}"),
        }
    };
    let channels: Vec<String> = input
        .channels
        .iter()
        .map(|c| format!("{} {}", c.name, span(&|i| c.values.get(i).is_some_and(|v| v.is_finite()))))
        .collect();
    format!(
        " (the KPI: {}; spend on them: {}; a day a platform has no record for is missing, not zero spend{within})",
        span(&|i| input.kpi.get(i).is_some_and(|v| v.is_finite())),
        channels.join(", ")
    )
}

/// The most countries whose holidays the main job's model takes, and the least share of the KPI's
/// dates an org's series must cover to enter it.
const MAX_CONTROL_COUNTRIES: usize = 5;
const MIN_SERIES_COVERAGE: f64 = 0.9;

/// The main job's model controls for what the ingestion detects as confounders of the KPI:
/// the public holidays and retail peaks of the countries the org's connections name (the
/// calendars the confounder detection uses), and the org's own series (`config/external_series.csv`:
/// promotions, prices) on the KPI's dates. Trend and seasonality are the model's own terms, other
/// channels' changes are its channels, and the platforms' measurement periods (tracking loss,
/// learning phases) move attributed conversions, not the KPI. A series that misses more than a
/// tenth of the KPI's dates is left out, and a control that repeats another, with a note for each.
async fn automatic_controls(
    stores: &crate::storage::Stores,
    user: &UserContext,
    days: &[i64],
    kpi: &[f64],
) -> Result<(Vec<liftos_estimators::mmm::Series>, Vec<String>), ServiceError> {
    use liftos_estimators::mmm::{Series, MAX_CONTROLS};
    let mut candidates: Vec<Series> = Vec::new();
    let mut notes = Vec::new();
    let connections = super::ingestion::connections(stores, &user.org_id).await.map_err(config_error)?;
    let countries: std::collections::BTreeSet<String> =
        connections.iter().filter_map(|c| c.country.as_deref()).map(|c| c.trim().to_ascii_uppercase()).collect();
    if countries.len() > MAX_CONTROL_COUNTRIES {
        notes.push(format!(
            "holidays of the first {MAX_CONTROL_COUNTRIES} of the connections' {} countries only",
            countries.len()
        ));
    }
    for country in countries.iter().take(MAX_CONTROL_COUNTRIES) {
        match super::estimate::holiday_controls(country, days, "country") {
            Ok(found) => candidates.extend(found),
            Err(e) => notes.push(format!("no holiday controls for {country:?}: {e}")),
        }
    }
    let epoch = chrono::NaiveDate::default();
    let dated: Vec<usize> = (0..days.len()).filter(|&i| kpi[i].is_finite()).collect();
    for series in super::ingestion::external_series(stores, &user.org_id).await.map_err(config_error)? {
        let values: Vec<f64> = days
            .iter()
            .map(|&d| *series.values.get(&(epoch + chrono::Duration::days(d))).unwrap_or(&f64::NAN))
            .collect();
        let covered = dated.iter().filter(|&&i| values[i].is_finite()).count();
        if (covered as f64) < MIN_SERIES_COVERAGE * dated.len() as f64 {
            notes.push(format!(
                "{:?} ({}) is not a control: it has values on {covered} of the KPI's {} dates (give every date, \
                 0 where nothing happened)",
                series.name,
                super::ingestion::EXTERNAL_SERIES_KEY,
                dated.len()
            ));
        } else {
            candidates.push(Series { name: series.name, values });
        }
    }
    let mut controls: Vec<Series> = Vec::new();
    for c in candidates {
        let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()));
        let mut seen = dated.iter().map(|&i| c.values[i]).filter(|v| v.is_finite());
        let first = seen.next();
        if seen.all(|v| Some(v) == first) {
            notes.push(format!("{:?} is not a control: it does not vary over the KPI's dates", c.name));
        } else if let Some(kept) = controls.iter().find(|k| same(&k.values, &c.values)) {
            notes.push(format!("{:?} is the same series as {:?}: one control for both", c.name, kept.name));
        } else if controls.len() == MAX_CONTROLS {
            notes.push(format!("{:?} is not a control: the model takes at most {MAX_CONTROLS}", c.name));
        } else {
            controls.push(c);
        }
    }
    Ok((controls, notes))
}

fn config_error(e: super::stage::StageError) -> ServiceError {
    ServiceError::from(ValidationError::new("config", e.to_string()))
}

/// `GET /api/v1/surfacing/recommendations/treatments?platform=&objective=`: for an org with its
/// own KPI and the platforms as channels, the media mix model's moves (the main job's model);
/// otherwise from the stored records' attribution, `objective` conversions (default), revenue or
/// profit (revenue minus spend).
pub async fn treatment_recommendations(
    stores: &crate::storage::Stores,
    user: &UserContext,
    platform: Option<&str>,
    objective: Option<&str>,
) -> Result<RecommendAnswer, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let platform: Option<Platform> = platform.map(str::parse).transpose()?;
    let metric = match objective.unwrap_or("conversions") {
        "conversions" => OutcomeMetric::Conversions,
        "revenue" | "profit" => OutcomeMetric::Revenue,
        other => {
            return Err(ValidationError::new(
                "objective",
                format!("{other:?}: expected conversions, revenue or profit"),
            )
            .into())
        }
    };
    if platform.is_none() {
        if let Some((plan, test)) = kpi_plan(stores, user).await? {
            let mut warnings = Vec::new();
            if let Some(o) = objective {
                warnings.push(format!(
                    "objective {o:?}: the model plans the org's own KPI ({}, from {}) within today's budget, whichever \
                     objective is asked",
                    plan.kpi, plan.kpi_source
                ));
            }
            let mut model = plan.model;
            model.next_test = test;
            return Ok(RecommendAnswer::Kpi(Box::new(KpiRecommendations {
                kpi_source: plan.kpi_source,
                kpi: plan.kpi,
                recommendations: kpi_recommendations(&model),
                model,
                incremental: true,
                warnings,
            })));
        }
    }
    Ok(RecommendAnswer::Curves(Box::new(
        attributed_recommendations(stores.records.as_ref(), user, platform, metric).await?,
    )))
}

/// The media mix model's plan as recommendations, largest move first, then the tests, then the
/// channels held.
/// Why a channel without evidence is short of it: positive in fewer than 99% of the re-fits, or
/// positive in them but no effect not rejected by the test calibrated without it.
fn short_of(c: &liftos_estimators::mmm::MmmChannel) -> String {
    match c.no_effect_p_value {
        Some(q) if c.positive_share >= 0.99 => format!(
            "positive in the re-fits, but the test of no effect (calibrated on histories simulated without the channel) does not reject it (p = {q:.3}), short of the 5% that moves budget"
        ),
        None if c.positive_share >= 0.99 => "the test of no effect could not be run, and without it no budget moves".into(),
        _ => "short of the 99% that moves budget".into(),
    }
}

pub fn kpi_recommendations(model: &liftos_estimators::mmm::MmmResult) -> Vec<recommend::Recommendation> {
    use recommend::{Action, Recommendation};
    let pct = |v: f64| format!("{:.0}%", 100.0 * v);
    let mut out: Vec<Recommendation> = model
        .channels
        .iter()
        .map(|c| {
            let moved = (c.spend_to - c.spend_from).abs() > 1e-3 * c.spend_from.abs().max(1.0);
            let roi = format!(
                "ROI {:.2} ({:.2} to {:.2} at {}), positive in {} of {} re-fits",
                c.roi,
                c.roi_ci_low,
                c.roi_ci_high,
                pct(model.level),
                pct(c.positive_share),
                model.draws
            );
            let plan = format!("the plan gains in {} of the re-fits", pct(model.gain_positive_share));
            let (action, confidence, evidence) = if c.bound.as_deref() == Some("no_evidence") {
                (
                    Action::Cut,
                    model.gain_positive_share,
                    format!(
                        "{roi}: {}, and even the top of its marginal ROI interval ({:.2}) is below what the plan pays at the margin ({:.2}); {plan}",
                        short_of(c), c.marginal_roi_ci_high, model.margin
                    ),
                )
            } else if !c.evidence {
                let test = model
                    .next_test
                    .as_ref()
                    .filter(|t| t.channel == c.channel)
                    .map(|t| format!(": {}", t.design))
                    .unwrap_or_default();
                (Action::RunTest, c.positive_share, format!("{roi}: {}; test before moving it{test}", short_of(c)))
            } else if moved {
                let action = if c.spend_to > c.spend_from { Action::Scale } else { Action::Cut };
                (action, model.gain_positive_share, format!("{roi}; {plan}"))
            } else {
                (Action::Hold, c.positive_share, format!("{roi}; the plan keeps today's spend ({})", c.bound.as_deref().unwrap_or("at its optimum")))
            };
            Recommendation {
                rank: 0,
                action,
                channel: c.channel.clone(),
                to_channel: None,
                current_spend: c.spend_from,
                proposed_spend: c.spend_to,
                expected_gain: c.gain,
                expected_gain_interval: (c.gain_ci_low, c.gain_ci_high),
                confidence,
                marginal_roi: c.marginal_roi,
                marginal_roi_interval: (c.marginal_roi_ci_low, c.marginal_roi_ci_high),
                evidence,
            }
        })
        .collect();
    let order = |r: &Recommendation| match r.action {
        Action::Scale | Action::Cut | Action::ShiftBudget => 0,
        Action::RunTest => 1,
        Action::Hold => 2,
    };
    out.sort_by(|a, b| order(a).cmp(&order(b)).then(b.expected_gain.abs().total_cmp(&a.expected_gain.abs())));
    for (i, r) in out.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    out
}

/// The response curves' recommendations on the stored records' attribution.
async fn attributed_recommendations(
    store: &dyn RecordStore,
    user: &UserContext,
    platform: Option<Platform>,
    metric: OutcomeMetric,
) -> Result<OptimizeResponse, ServiceError> {
    let history = complete_days(history_from_records(store, user, platform, &DateRange::all(), metric).await?);
    if history.outcome.is_empty() {
        return Err(ServiceError::NotFound { what: "causal records to learn from".into() });
    }
    let req = PlanRequest {
        objective: budget::Objective::MaxProfit,
        budget: Some(history.channels.iter().map(|c| recent_average(&c.spend)).sum()),
        channels: vec![],
        // Revenue is money already; a conversion is worth the history's revenue per conversion.
        value_per_outcome: None,
        max_change: Some(0.3),
        target_roas: None,
        target_cpa: None,
        periods: Some(7.0),
        seed: None,
    };
    optimize_history(&history, &[], &req, OutcomeSource::Attributed(metric))
}

#[cfg(test)]
mod tests {
    use super::period_spend;

    /// A weekly KPI pairs each week with its seven days of spend, not with its first day's; a
    /// week with a day the platform has no record for is missing.
    #[test]
    fn a_weekly_kpi_takes_each_weeks_spend() {
        let by_day: std::collections::HashMap<i64, f64> =
            (100..121).filter(|&d| d != 116).map(|d| (d, (d - 99) as f64)).collect();
        assert_eq!(period_spend(&by_day, &[100, 101], 1), [1.0, 2.0]);
        let weeks = period_spend(&by_day, &[100, 107, 114], 7);
        assert_eq!(weeks[0], (1..=7).sum::<i64>() as f64);
        assert_eq!(weeks[1], (8..=14).sum::<i64>() as f64);
        assert!(weeks[2].is_nan(), "day 116 has no record");
        assert!(period_spend(&by_day, &[200], 1)[0].is_nan());
    }

    /// The design endpoint's answer to `body`, for an admin of a fresh embedded store.
    fn design(body: serde_json::Value) -> Result<super::DesignResponse, super::ServiceError> {
        use crate::domain::{OrgId, UserContext};
        let user = UserContext::new(OrgId::new("o").unwrap(), "u".into(), vec!["causal_admin".into()], vec![]);
        let dir = tempfile::tempdir().unwrap();
        let stores = crate::storage::Stores::embedded(dir.path()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(super::design_experiment(&stores, &user, body.to_string().as_bytes()))
    }

    /// `liftos design geo` (a table read from a file) answers as the design endpoint does on the
    /// same panel as inline rows, and both refuse the same oversized search naming the setting.
    #[test]
    fn a_geo_design_from_a_file_is_the_endpoints() {
        use std::fmt::Write;
        let mut csv = "week,market,sales\n".to_string();
        let mut rows = Vec::new();
        for m in 0..8 {
            for t in 1..=40i64 {
                let y = 100.0 + 10.0 * m as f64 + ((t * 7 + m * 13) % 11) as f64 + 3.0 * (t as f64 / 5.0).sin();
                writeln!(csv, "{t},g{m},{y}").unwrap();
                rows.push(serde_json::json!({"market": format!("g{m}"), "period": t, "outcome": y}));
            }
        }
        let table = liftos_estimators::data::Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
        let settings = serde_json::json!({"durations": [3, 5], "max_markets": 2, "top": 4, "effect": 0.05});
        let req = crate::api::estimate::GeoDesignRequest {
            market: "market".into(),
            time: "week".into(),
            outcome: "sales".into(),
            settings: serde_json::from_value(settings.clone()).unwrap(),
        };
        let from_file = super::super::estimate::geo_design(&table, &req).unwrap();
        let mut section = settings.clone();
        section["panel"] = serde_json::json!(rows);
        let answer = design(serde_json::json!({ "geo": section })).unwrap();
        assert_eq!(answer.geo.as_ref(), Some(&from_file));
        assert_eq!(from_file.by_duration.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4]);
        let too_many = crate::api::estimate::GeoDesignRequest {
            settings: serde_json::from_value(serde_json::json!({"durations": [3], "windows": 60})).unwrap(),
            ..req
        };
        let e = super::super::estimate::geo_design(&table, &too_many).unwrap_err();
        assert_eq!((e.field(), e.to_string().as_str()), ("windows", "windows: 60 is more than 52"));
        let mut section = serde_json::json!({"durations": [3], "windows": 60});
        section["panel"] = serde_json::json!(rows);
        match design(serde_json::json!({ "geo": section })) {
            Err(super::ServiceError::Validation(v)) => assert_eq!(v.field(), "geo.windows"),
            other => panic!("{other:?}"),
        }
    }

    /// `liftos design randomize` (units from a table) assigns as the design endpoint's
    /// `randomization` section does with the same units.
    #[test]
    fn a_randomization_from_a_file_is_the_endpoints() {
        use std::fmt::Write;
        let mut csv = "store,region,sqft\n".to_string();
        let mut units = Vec::new();
        for i in 0..30 {
            let region = ["N", "S", "E"][i % 3];
            let sqft = 1000.0 + (i * 37 % 11) as f64 * 100.0;
            writeln!(csv, "s{i},{region},{sqft}").unwrap();
            units.push(serde_json::json!({"id": format!("s{i}"), "stratum": region, "covariates": {"sqft": sqft}}));
        }
        let table = liftos_estimators::data::Table::from_csv_bytes(csv.as_bytes(), None).unwrap();
        let settings = serde_json::json!({"arms": [{"name": "c", "weight": 1}, {"name": "t", "weight": 2}], "method": "stratified", "seed": 11});
        let req = crate::api::estimate::RandomizeRequest {
            id: "store".into(),
            stratum: Some("region".into()),
            covariates: vec!["sqft".into()],
            settings: serde_json::from_value(settings.clone()).unwrap(),
        };
        let from_file = super::super::estimate::randomize_units(&table, &req).unwrap();
        let mut section = settings;
        section["units"] = serde_json::json!(units);
        let answer = design(serde_json::json!({ "randomization": section })).unwrap();
        assert_eq!(answer.randomization.as_ref(), Some(&from_file));
        // each region's 10 stores split 1:2 (3 or 4 in the first arm, the remainder at random)
        assert_eq!(from_file.strata.len(), 3);
        for arms in from_file.strata.values() {
            assert!(matches!(arms["c"], 3 | 4) && arms["c"] + arms["t"] == 10, "{arms:?}");
        }
    }
}
