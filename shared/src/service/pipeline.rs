//! The main job on the embedded default: ingest the bundled sample data through the same use
//! cases the API calls, then query it back. Later stages (detection, analysis, surfacing) grow
//! from here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::experiments::experiment_causal_data;
use super::ingest::{ingest_causal, IngestResponse};
use super::ServiceError;
use crate::domain::error::from_json_str;
use crate::domain::{DateRange, NewExperiment, Platform, UserContext};
use crate::storage::{PageRequest, PutOutcome, RecordQuery, Stores};

pub const SAMPLE_RECORDS: &str = include_str!("../../samples/causal_records.json");
pub const SAMPLE_EXPERIMENT: &str = include_str!("../../samples/experiment.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatformSummary {
    pub records: usize,
    pub campaigns: usize,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub spend: f64,
    pub conversions: f64,
    pub revenue: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineSummary {
    pub org_id: String,
    pub experiment_id: String,
    pub experiment_outcome: PutOutcome,
    pub ingest: IngestResponse,
    /// Queried back from the store, per platform, over the whole sample range.
    pub stored_by_platform: BTreeMap<String, PlatformSummary>,
    pub experiment_records: usize,
    pub experiment_pages: usize,
    pub record_read_back: bool,
}

/// Run the main job for `user`'s org against `stores`.
pub async fn run_sample_pipeline(
    stores: &Stores,
    user: &UserContext,
    now: DateTime<Utc>,
) -> Result<PipelineSummary, ServiceError> {
    let experiment = from_json_str::<NewExperiment>(SAMPLE_EXPERIMENT)?.into_experiment(&user.org_id, now)?;
    let experiment_outcome = stores.experiments.create_experiment(&experiment).await?;
    tracing::info!(experiment_id = %experiment.id, outcome = ?experiment_outcome, "experiment");

    let ingest = ingest_causal(stores.records.as_ref(), user, SAMPLE_RECORDS.as_bytes(), now).await?;
    tracing::info!(
        received = ingest.received,
        inserted = ingest.inserted,
        unchanged = ingest.unchanged,
        "records ingested"
    );

    let range = DateRange::all();
    let mut stored_by_platform = BTreeMap::new();
    for platform in Platform::ALL {
        let mut s = PlatformSummary {
            records: 0,
            campaigns: 0,
            first: None,
            last: None,
            spend: 0.0,
            conversions: 0.0,
            revenue: 0.0,
        };
        let mut campaigns = std::collections::BTreeSet::new();
        let mut page = PageRequest::first(500);
        loop {
            let got =
                stores.records.query_records(&user.org_id, &RecordQuery::Platform { platform, range }, &page).await?;
            for r in &got.items {
                s.records += 1;
                campaigns.insert(r.campaign_id.clone());
                s.first = Some(s.first.map_or(r.timestamp, |f| f.min(r.timestamp)));
                s.last = Some(s.last.map_or(r.timestamp, |l| l.max(r.timestamp)));
                s.spend += r.metrics.spend;
                s.conversions += r.metrics.conversions;
                s.revenue += r.metrics.revenue;
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        if s.records > 0 {
            s.campaigns = campaigns.len();
            s.spend = (s.spend * 100.0).round() / 100.0;
            s.conversions = (s.conversions * 100.0).round() / 100.0;
            s.revenue = (s.revenue * 100.0).round() / 100.0;
            stored_by_platform.insert(platform.to_string(), s);
        }
    }

    let (mut experiment_records, mut experiment_pages) = (0, 0);
    let mut page = PageRequest::first(50);
    loop {
        let got =
            experiment_causal_data(stores.experiments.as_ref(), stores.records.as_ref(), user, &experiment.id, &page)
                .await?;
        experiment_records += got.records.len();
        experiment_pages += 1;
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }

    let record_read_back = match ingest.record_ids.first() {
        Some(id) => stores.records.get_record(&user.org_id, id).await?.is_some(),
        None => false,
    };
    let mut ingest = ingest;
    // The summary shows counts; the ids are in the store.
    ingest.record_ids.clear();
    Ok(PipelineSummary {
        org_id: user.org_id.to_string(),
        experiment_id: experiment.id,
        experiment_outcome,
        ingest,
        stored_by_platform,
        experiment_records,
        experiment_pages,
        record_read_back,
    })
}
