//! The write rule, checked the way it can fail: any order of puts of versions of one record,
//! redeliveries included, ends with the newest version stored; concurrent writers racing on the
//! same records end with the newest of each. Run against every backend (`tests/write_rule.rs`).

use chrono::{DateTime, Duration, Utc};
use liftos::domain::{CausalMarketingData, OrgId, Platform};
use liftos::storage::{PutOutcome, RecordStore, StoreError};
use std::sync::Arc;

use crate::fixtures::new_record;

/// Version `v` of record `k` of `org`: a different spend and a later `updated_at` for every `v`.
pub fn version(org: &OrgId, k: usize, v: usize) -> CausalMarketingData {
    let at: DateTime<Utc> =
        "2026-10-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap_or_default() + Duration::seconds(v as i64);
    new_record(Platform::Meta, &format!("cmp-{k}"), k as i64 % 28, 100.0 + v as f64, None)
        .into_record(org, at)
        .unwrap_or_else(|e| panic!("valid version: {e:?}"))
}

/// Apply `order` (version numbers, repeats allowed) one put at a time, or in batches of `batch`;
/// then the stored record must be the newest version put, and no put may have replaced a newer
/// version.
pub async fn any_order_ends_with_the_newest(store: &dyn RecordStore, org: &OrgId, order: &[usize], batch: usize) {
    let mut newest: Option<usize> = None;
    if batch <= 1 {
        for &v in order {
            let r = version(org, 0, v);
            let out = store.put_record(&r).await;
            match (newest, &out) {
                (Some(n), Ok(PutOutcome::Updated | PutOutcome::Inserted)) => {
                    assert!(v > n, "version {v} replaced the newer {n} ({order:?})")
                }
                (_, Ok(_)) => {}
                (Some(n), Err(StoreError::Conflict { .. })) => assert!(v <= n, "{v} refused over older {n}"),
                (_, Err(e)) => panic!("put of version {v}: {e}"),
            }
            newest = newest.max(Some(v));
        }
    } else {
        for chunk in order.chunks(batch) {
            let recs: Vec<CausalMarketingData> = chunk.iter().map(|&v| version(org, 0, v)).collect();
            let report = store.put_records(&recs).await.unwrap_or_else(|e| panic!("batch {chunk:?}: {e}"));
            assert_eq!(
                report.inserted.len() + report.updated.len() + report.unchanged.len() + report.conflicts.len(),
                chunk.len(),
                "every put reported"
            );
            newest = newest.max(chunk.iter().copied().max());
        }
    }
    let Some(n) = newest else { return };
    let stored = store.get_record(org, &version(org, 0, 0).id).await.expect("get").expect("stored");
    let want = version(org, 0, n);
    assert_eq!((stored.metrics.spend, stored.updated_at), (want.metrics.spend, want.updated_at), "order {order:?}");
}

/// `writers` tasks each put version `w` of the same `records` records at once (in their own
/// shuffled order); every record ends at the newest version, nothing else fails.
pub async fn concurrent_writers_end_with_the_newest(
    store: Arc<dyn RecordStore>,
    org: &OrgId,
    writers: usize,
    records: usize,
) {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            let mut recs: Vec<CausalMarketingData> = (0..records).map(|k| version(&org, k, w)).collect();
            // A different order per writer.
            recs.rotate_left((w * 7) % records.max(1));
            if w % 2 == 1 {
                recs.reverse();
            }
            store.put_records(&recs).await
        }));
    }
    for t in tasks {
        let report = t.await.expect("task").expect("no error but conflicts");
        assert!(report.conflicts.iter().all(|c| !c.reason.is_empty()));
    }
    for k in 0..records {
        let want = version(org, k, writers - 1);
        let got = store.get_record(org, &want.id).await.expect("get").expect("stored");
        assert_eq!((got.metrics.spend, got.updated_at), (want.metrics.spend, want.updated_at), "record {k}");
    }
}
