//! `POST /api/v1/surfacing/experiments/design`: power analysis, randomised assignment and geo
//! market selection, any of them in one request.

use serde::{Deserialize, Serialize};

use super::{require, ServiceError};
use crate::domain::error::from_json_value;
use crate::domain::{permissions, UserContext, ValidationError};
use crate::surfacing::geo::{self, GeoDesign, GeoPanel, GeoSettings};
use crate::surfacing::power::{self, PowerQuery, PowerResult, PowerSettings};
use crate::surfacing::randomize::{self, RandomizeResult, RandomizeSettings, Unit};

/// At most this many candidate (market set, duration) pairs per request: enough for 50 markets,
/// sets of 3 and three durations (62,625), and a bound on the Lambda's time.
pub const MAX_GEO_CANDIDATES: usize = 200_000;

#[derive(Debug, Deserialize)]
pub struct PowerSection {
    #[serde(flatten)]
    pub settings: PowerSettings,
    #[serde(default)]
    pub n_control: Option<f64>,
    #[serde(default)]
    pub effect: Option<f64>,
    #[serde(default)]
    pub power: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub struct RandomizationSection {
    pub units: Vec<Unit>,
    #[serde(flatten)]
    pub settings: RandomizeSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelRow {
    pub market: String,
    pub period: i64,
    pub outcome: f64,
}

#[derive(Debug, Deserialize)]
pub struct GeoSection {
    pub panel: Vec<PanelRow>,
    #[serde(flatten)]
    pub settings: GeoSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignRequest {
    #[serde(default)]
    pub power: Option<PowerSection>,
    #[serde(default)]
    pub randomization: Option<RandomizationSection>,
    #[serde(default)]
    pub geo: Option<GeoSection>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub randomization: Option<RandomizeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoDesign>,
}

fn choose(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

pub fn design_experiment(user: &UserContext, body: &[u8]) -> Result<DesignResponse, ServiceError> {
    require(user, permissions::ANALYSIS_RUN)?;
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ValidationError::new("body", format!("is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ValidationError::new("body", "must be a JSON object with power, randomization and/or geo").into());
    }
    let req: DesignRequest = from_json_value(value)?;
    if req.power.is_none() && req.randomization.is_none() && req.geo.is_none() {
        return Err(ValidationError::new("body", "give at least one of power, randomization, geo").into());
    }
    let power = req
        .power
        .map(|p| {
            power::solve(&p.settings, &PowerQuery { n_control: p.n_control, effect: p.effect, power: p.power })
                .map_err(|e| ValidationError::new(&format!("power.{}", e.field), e.message))
        })
        .transpose()?;
    let randomization = req
        .randomization
        .map(|r| {
            randomize::randomize(&r.units, &r.settings)
                .map_err(|e| ValidationError::new(&format!("randomization.{}", e.field), e.message))
        })
        .transpose()?;
    let geo = match req.geo {
        None => None,
        Some(g) => {
            let markets = g.panel.iter().map(|r| r.market.as_str()).collect::<std::collections::BTreeSet<_>>().len();
            let k = g.settings.max_markets.min(markets);
            let sets: f64 = (1..=k).map(|i| choose(markets, i)).sum();
            if sets * g.settings.durations.len() as f64 > MAX_GEO_CANDIDATES as f64 {
                return Err(ValidationError::new(
                    "geo.max_markets",
                    format!("{markets} markets in sets of up to {k} over {} durations is more than {MAX_GEO_CANDIDATES} candidates; lower max_markets or fix markets with include", g.settings.durations.len()),
                )
                .into());
            }
            let panel = GeoPanel {
                market: g.panel.iter().map(|r| r.market.clone()).collect(),
                time: g.panel.iter().map(|r| r.period).collect(),
                outcome: g.panel.iter().map(|r| r.outcome).collect(),
            };
            Some(
                geo::design(&panel, &g.settings)
                    .map_err(|e| ValidationError::new(&format!("geo.{}", e.field), e.message))?,
            )
        }
    };
    Ok(DesignResponse { power, randomization, geo })
}
