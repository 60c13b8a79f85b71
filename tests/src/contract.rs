//! The storage contract. Every adapter runs exactly these checks.

use bytes::Bytes;
use chrono::{Duration, Utc};
use liftos::domain::{DateRange, Platform};
use liftos::storage::{
    AuditStore, ConfounderStore, ExperimentStore, JobStore, PageRequest, PanelStore, PutOutcome, RecordQuery,
    RecordStore, StoreError,
};

use crate::fixtures::{confounder, day, experiment, org, record};

fn range(a: i64, b: i64) -> DateRange {
    DateRange::new(day(a).date_naive(), day(b).date_naive()).expect("range")
}

async fn all_pages(
    store: &dyn RecordStore,
    org: &liftos::domain::OrgId,
    q: &RecordQuery,
    limit: usize,
) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut page = PageRequest::first(limit);
    loop {
        let got = store.query_records(org, q, &page).await.expect("query");
        pages += 1;
        assert!(got.items.len() <= limit);
        ids.extend(got.items.iter().map(|r| r.id.clone()));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
        assert!(pages < 1000, "pagination does not end");
    }
    (ids, pages)
}

/// Put, duplicate delivery, conflicting and newer writes, created_at kept.
pub async fn record_writes(store: &dyn RecordStore) {
    let o = org("writes");
    let t0 = Utc::now();
    let r = record(&o, Platform::Meta, "cmp-a", 0, 100.0, None, t0);
    assert_eq!(store.put_record(&r).await.expect("put"), PutOutcome::Inserted);
    // A duplicate delivery (same content, later arrival) writes nothing.
    let again = record(&o, Platform::Meta, "cmp-a", 0, 100.0, None, t0 + Duration::seconds(5));
    assert_eq!(store.put_record(&again).await.expect("put again"), PutOutcome::Unchanged);
    let got = store.get_record(&o, &r.id).await.expect("get").expect("present");
    assert_eq!(got, r, "the first write is what is stored");

    // A stale write with other content is a conflict, reported and not applied.
    let stale = record(&o, Platform::Meta, "cmp-a", 0, 999.0, None, t0 - Duration::seconds(60));
    match store.put_record(&stale).await {
        Err(StoreError::Conflict { key, .. }) => assert_eq!(key, r.id),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Same updated_at, other content: also a conflict (not newer).
    let same_time = record(&o, Platform::Meta, "cmp-a", 0, 555.0, None, t0);
    assert!(matches!(store.put_record(&same_time).await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.get_record(&o, &r.id).await.expect("get").expect("present").metrics.spend, 100.0);

    // A newer version replaces it and keeps the original created_at.
    let newer = record(&o, Platform::Meta, "cmp-a", 0, 150.0, None, t0 + Duration::seconds(60));
    assert_eq!(store.put_record(&newer).await.expect("update"), PutOutcome::Updated);
    let got = store.get_record(&o, &r.id).await.expect("get").expect("present");
    assert_eq!(got.metrics.spend, 150.0);
    assert_eq!(got.created_at, r.created_at);
    assert_eq!(got.updated_at, newer.updated_at);

    // Batch: duplicates are unchanged, a stale one is listed as a conflict, the rest are written once.
    let t1 = t0 + Duration::seconds(120);
    let mut batch: Vec<_> =
        (1..=30).map(|d| record(&o, Platform::Meta, "cmp-a", d, 10.0 * d as f64, None, t1)).collect();
    batch.push(record(&o, Platform::Meta, "cmp-a", 0, 1.0, None, t0 - Duration::seconds(600)));
    let report = store.put_records(&batch).await.expect("batch");
    assert_eq!(report.inserted.len(), 30);
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.conflicts[0].id, r.id);
    let redelivered = store.put_records(&batch[..30]).await.expect("redelivery");
    assert_eq!(redelivered.unchanged.len(), 30, "a duplicate delivery writes nothing");
    assert_eq!(redelivered.written(), 0);
    let (ids, _) =
        all_pages(store, &o, &RecordQuery::Platform { platform: Platform::Meta, range: DateRange::all() }, 1000).await;
    assert_eq!(ids.len(), 31, "each record stored exactly once");
}

/// Queries by platform, campaign and experiment; inclusive date bounds; pagination; cursors.
pub async fn record_queries(store: &dyn RecordStore) {
    let o = org("queries");
    let now = Utc::now();
    let mut rs = Vec::new();
    for d in 0..20 {
        rs.push(record(&o, Platform::Meta, "cmp-a", d, 100.0 + d as f64, Some("exp-1"), now));
        rs.push(record(&o, Platform::Meta, "cmp-b", d, 50.0, None, now));
        rs.push(record(&o, Platform::GoogleAds, "cmp-a", d, 70.0, Some("exp-2"), now));
    }
    let report = store.put_records(&rs).await.expect("batch");
    assert_eq!(report.inserted.len(), 60);

    // Platform + inclusive date range, ordered by time.
    let q = RecordQuery::Platform { platform: Platform::Meta, range: range(5, 9) };
    let page = store.query_records(&o, &q, &PageRequest::first(100)).await.expect("query");
    assert_eq!(page.items.len(), 10, "days 5..=9, two campaigns");
    assert!(page.next_cursor.is_none());
    assert!(page.items.windows(2).all(|w| (w[0].timestamp, &w[0].id) <= (w[1].timestamp, &w[1].id)));
    assert!(page.items.iter().all(|r| r.platform == Platform::Meta && r.org_id == o));

    // Campaign.
    let q = RecordQuery::Campaign { platform: Platform::Meta, campaign_id: "cmp-a".into(), range: range(0, 19) };
    let (ids, pages) = all_pages(store, &o, &q, 7).await;
    assert_eq!(ids.len(), 20);
    assert_eq!(pages, 3);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20, "pages do not overlap");

    // Experiment.
    let (ids, _) = all_pages(store, &o, &RecordQuery::Experiment { experiment_id: "exp-1".into() }, 6).await;
    assert_eq!(ids.len(), 20);
    let (ids, _) = all_pages(store, &o, &RecordQuery::Experiment { experiment_id: "exp-2".into() }, 100).await;
    assert_eq!(ids.len(), 20);
    let none = store
        .query_records(&o, &RecordQuery::Experiment { experiment_id: "exp-x".into() }, &PageRequest::first(10))
        .await;
    assert!(none.expect("query").items.is_empty());

    // An exact page boundary gives no empty trailing page.
    let q = RecordQuery::Campaign { platform: Platform::GoogleAds, campaign_id: "cmp-a".into(), range: range(0, 19) };
    let (ids, pages) = all_pages(store, &o, &q, 10).await;
    assert_eq!((ids.len(), pages), (20, 2));

    // Cursors are bound to their query: another query, garbage, or another org is refused.
    let q1 = RecordQuery::Platform { platform: Platform::Meta, range: range(0, 19) };
    let first = store.query_records(&o, &q1, &PageRequest::first(5)).await.expect("query");
    let cursor = first.next_cursor.expect("more pages");
    let q2 = RecordQuery::Platform { platform: Platform::GoogleAds, range: range(0, 19) };
    let wrong_query = store.query_records(&o, &q2, &PageRequest { limit: 5, cursor: Some(cursor.clone()) }).await;
    assert!(matches!(wrong_query, Err(StoreError::InvalidCursor(_))), "{wrong_query:?}");
    let garbage =
        store.query_records(&o, &q1, &PageRequest { limit: 5, cursor: Some("bm90LWEtY3Vyc29y".into()) }).await;
    assert!(matches!(garbage, Err(StoreError::InvalidCursor(_))));
    let other = org("other");
    let foreign = store.query_records(&other, &q1, &PageRequest { limit: 5, cursor: Some(cursor) }).await;
    assert!(matches!(foreign, Err(StoreError::InvalidCursor(_))));
}

/// No query or read returns another org's records, even for the same campaign names and ids.
pub async fn record_isolation(store: &dyn RecordStore) {
    let (a, b) = (org("iso-a"), org("iso-b"));
    let now = Utc::now();
    let ra: Vec<_> =
        (0..5).map(|d| record(&a, Platform::Tiktok, "cmp-shared", d, 10.0, Some("exp-shared"), now)).collect();
    let rb: Vec<_> =
        (0..3).map(|d| record(&b, Platform::Tiktok, "cmp-shared", d, 20.0, Some("exp-shared"), now)).collect();
    store.put_records(&ra).await.expect("a");
    store.put_records(&rb).await.expect("b");
    assert_ne!(ra[0].id, rb[0].id, "ids include the org");
    assert!(store.get_record(&b, &ra[0].id).await.expect("get").is_none(), "org b cannot read org a's record by id");
    for (o, n, spend) in [(&a, 5, 10.0), (&b, 3, 20.0)] {
        for q in [
            RecordQuery::Platform { platform: Platform::Tiktok, range: DateRange::all() },
            RecordQuery::Campaign {
                platform: Platform::Tiktok,
                campaign_id: "cmp-shared".into(),
                range: DateRange::all(),
            },
            RecordQuery::Experiment { experiment_id: "exp-shared".into() },
        ] {
            let got = store.query_records(o, &q, &PageRequest::first(100)).await.expect("query");
            assert_eq!(got.items.len(), n, "{q:?}");
            assert!(got.items.iter().all(|r| &r.org_id == o && r.metrics.spend == spend));
        }
    }
}

pub async fn experiments(store: &dyn ExperimentStore) {
    let (o, other) = (org("exp"), org("exp-other"));
    let t0 = Utc::now();
    let e = experiment(&o, "exp-1", t0);
    assert_eq!(store.create_experiment(&e).await.expect("create"), PutOutcome::Inserted);
    // A retried create (same content, later server time) is not an error.
    let retry = experiment(&o, "exp-1", t0 + Duration::seconds(3));
    assert_eq!(store.create_experiment(&retry).await.expect("retry"), PutOutcome::Unchanged);
    // A different experiment under the same id is a conflict.
    let mut clash = experiment(&o, "exp-1", t0);
    clash.name = "something else".into();
    assert!(matches!(store.create_experiment(&clash).await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.get_experiment(&o, "exp-1").await.expect("get").expect("present"), e);
    assert!(store.get_experiment(&other, "exp-1").await.expect("get").is_none(), "another org sees nothing");

    // Optimistic update.
    let mut running = e.clone();
    running.status = liftos::domain::ExperimentStatus::Running;
    running.updated_at = t0 + Duration::seconds(10);
    store.update_experiment(&running, e.updated_at).await.expect("update");
    let mut late = e.clone();
    late.status = liftos::domain::ExperimentStatus::Cancelled;
    late.updated_at = t0 + Duration::seconds(20);
    assert!(matches!(store.update_experiment(&late, e.updated_at).await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.get_experiment(&o, "exp-1").await.expect("get").expect("present").status, running.status);
    let mut ghost = experiment(&o, "exp-ghost", t0);
    ghost.updated_at = t0 + Duration::seconds(1);
    assert!(matches!(store.update_experiment(&ghost, t0).await, Err(StoreError::NotFound(_))));
    // Another org cannot update it either: the key includes the org.
    let mut foreign = running.clone();
    foreign.org_id = other.clone();
    foreign.updated_at = t0 + Duration::seconds(30);
    assert!(matches!(store.update_experiment(&foreign, running.updated_at).await, Err(StoreError::NotFound(_))));

    // Listing: newest first, paginated, only this org.
    for i in 2..=6 {
        store.create_experiment(&experiment(&o, &format!("exp-{i}"), t0 + Duration::seconds(i))).await.expect("create");
    }
    store.create_experiment(&experiment(&other, "exp-9", t0)).await.expect("create other");
    let mut page = PageRequest::first(4);
    let mut ids = Vec::new();
    loop {
        let got = store.list_experiments(&o, &page).await.expect("list");
        ids.extend(got.items.iter().map(|e| e.id.clone()));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(ids, vec!["exp-6", "exp-5", "exp-4", "exp-3", "exp-2", "exp-1"]);
}

pub async fn confounders(store: &dyn ConfounderStore) {
    let (o, other) = (org("conf"), org("conf-other"));
    let v = confounder(&o, Platform::Meta, "weekend", 10, 4);
    store.put_confounder(&v).await.expect("put");
    store.put_confounder(&v).await.expect("put again");
    let got = store.list_confounders(&o, Some(Platform::Meta)).await.expect("list");
    assert_eq!(got, vec![v.clone()], "a redelivered detection changes nothing");
    let later = confounder(&o, Platform::Meta, "weekend", 20, 9);
    store.put_confounder(&later).await.expect("merge");
    store.put_confounder(&confounder(&o, Platform::GoogleAds, "holiday", 5, 1)).await.expect("put");
    store.put_confounder(&confounder(&other, Platform::Meta, "weekend", 1, 1)).await.expect("put other");
    let meta = store.list_confounders(&o, Some(Platform::Meta)).await.expect("list");
    assert_eq!(meta.len(), 1);
    assert_eq!((meta[0].occurrences, meta[0].last_seen, meta[0].first_seen), (9, day(20), day(0)));
    let all = store.list_confounders(&o, None).await.expect("list");
    let names: Vec<_> = all.iter().map(|c| (c.platform.as_str(), c.variable_name.as_str())).collect();
    assert_eq!(names, vec![("google_ads", "holiday"), ("meta", "weekend")]);
    assert!(all.iter().all(|c| c.org_id == o));
}

/// Panels: put/get/list, missing is None, keys cannot escape the org, another org sees nothing.
/// `large` bytes exercise multipart uploads where the adapter has them.
pub async fn panels(store: &dyn PanelStore, large: usize) {
    let (o, other) = (org("pan"), org("pan-other"));
    let small = Bytes::from_static(b"unit,time,y\na,1,2.5\n");
    store.put_panel(&o, "panels/2026/a.csv", small.clone()).await.expect("put");
    assert_eq!(store.get_panel(&o, "panels/2026/a.csv").await.expect("get"), Some(small.clone()));
    assert_eq!(store.get_panel(&o, "panels/missing.csv").await.expect("get"), None);
    assert_eq!(store.get_panel(&other, "panels/2026/a.csv").await.expect("get other"), None);
    for bad in ["../x.csv", "/etc/passwd", "a/../../b", "a//b"] {
        assert!(matches!(store.put_panel(&o, bad, small.clone()).await, Err(StoreError::InvalidKey { .. })), "{bad}");
        assert!(matches!(store.get_panel(&o, bad).await, Err(StoreError::InvalidKey { .. })), "{bad}");
    }
    let big: Vec<u8> = (0..large).map(|i| (i % 251) as u8).collect();
    let big = Bytes::from(big);
    store.put_panel(&o, "panels/big.bin", big.clone()).await.expect("put large");
    let back = store.get_panel(&o, "panels/big.bin").await.expect("get large").expect("present");
    assert_eq!(back.len(), big.len());
    assert!(back == big, "large panel round-trips byte for byte");
    assert_eq!(store.list_panels(&o, "panels/").await.expect("list"), vec!["panels/2026/a.csv", "panels/big.bin"]);
    assert!(store.list_panels(&other, "").await.expect("list other").is_empty());
    // A link reads the object (S3: presigned, under the org's prefix; local: the file).
    let link = store.link(&o, "panels/2026/a.csv", std::time::Duration::from_secs(600)).await.expect("link");
    assert!(
        (link.starts_with("http") && link.contains("X-Amz-Signature") && link.contains("orgs/pan"))
            || (link.starts_with("file://")
                && std::fs::read(&link["file://".len()..]).expect("file") == small.to_vec()),
        "{link}"
    );
    assert!(matches!(
        store.link(&o, "../x", std::time::Duration::from_secs(60)).await,
        Err(StoreError::InvalidKey { .. })
    ));
}

/// The audit log: appends are idempotent, listing is newest first within the range, paginated
/// with cursors bound to the query, and an org sees only its own entries.
pub async fn audit(store: &dyn AuditStore) {
    use liftos::domain::{AuditEntry, AuditOutcome};
    let (a, b) = (org("audit-a"), org("audit-b"));
    let entry = |o: &liftos::domain::OrgId, n: i64, status: u16| AuditEntry {
        id: format!("{:08}-{}", n, uuid::Uuid::new_v4().simple()),
        org_id: o.clone(),
        user_id: "u1".into(),
        action: "records.query".into(),
        method: "GET".into(),
        resource: "/api/v1/marketing/records".into(),
        status,
        outcome: AuditOutcome::from_status(status),
        at: day(n) + Duration::minutes(n),
        request_id: Some(format!("req-{n}")),
        query: None,
        detail: None,
    };
    let mut written = Vec::new();
    for n in 0..7 {
        let e = entry(&a, n, if n % 3 == 0 { 403 } else { 200 });
        store.append_audit(&e).await.expect("append");
        written.push(e);
    }
    // A retried append changes nothing.
    store.append_audit(&written[2]).await.expect("append again");
    store.append_audit(&entry(&b, 3, 200)).await.expect("append b");
    let all = range(-1, 30);
    let mut got = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let p = store.list_audit(&a, &all, &page).await.expect("list");
        assert!(p.items.len() <= 3);
        got.extend(p.items);
        match p.next_cursor {
            Some(c) => page = PageRequest::new(3, Some(c)).expect("page"),
            None => break,
        }
    }
    let mut want = written.clone();
    want.reverse();
    assert_eq!(got, want, "newest first, each once, only org a");
    assert_eq!(got[6].outcome, AuditOutcome::Denied);
    // A range.
    let some = store.list_audit(&a, &range(2, 4), &PageRequest::first(100)).await.expect("range");
    assert_eq!(some.items.iter().map(|e| e.at).collect::<Vec<_>>(), vec![written[4].at, written[3].at, written[2].at]);
    // A cursor from org a's listing is refused for org b, and for another range.
    let first = store.list_audit(&a, &all, &PageRequest::first(2)).await.expect("list");
    let c = first.next_cursor.expect("more");
    let bad = store.list_audit(&b, &all, &PageRequest::new(2, Some(c.clone())).expect("page")).await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor(_))), "{bad:?}");
    let bad = store.list_audit(&a, &range(0, 3), &PageRequest::new(2, Some(c)).expect("page")).await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor(_))), "{bad:?}");
    let only_b = store.list_audit(&b, &all, &PageRequest::first(100)).await.expect("list b");
    assert_eq!(only_b.items.len(), 1);
}

/// Analysis jobs: create is idempotent for the same job and refuses another with the id;
/// updates are optimistic (a stale writer is refused); an org sees only its own jobs.
pub async fn jobs(store: &dyn JobStore) {
    use liftos::domain::{AnalysisJob, JobError, JobStatus};
    // Its own org each run (a listing sees every job of the org, and moto outlives a test run).
    let (a, b) = (org(&format!("job-a-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])), org("job-b"));
    let job = AnalysisJob::queued(
        uuid::Uuid::new_v4().to_string(),
        a.clone(),
        "u1".into(),
        vec!["causal:analysis:run".into()],
        "analyze_advanced".into(),
        "jobs/x/request.json".into(),
        day(1),
    );
    assert_eq!(store.create_job(&job).await.expect("create"), PutOutcome::Inserted);
    assert_eq!(store.create_job(&job).await.expect("retry"), PutOutcome::Unchanged);
    let mut other = job.clone();
    other.kind = "discover".into();
    assert!(matches!(store.create_job(&other).await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.get_job(&a, &job.id).await.expect("get"), Some(job.clone()));
    assert_eq!(store.get_job(&b, &job.id).await.expect("get other org"), None);
    let mut running = job.clone();
    running.status = JobStatus::Running;
    running.attempts = 1;
    running.updated_at = day(1) + Duration::seconds(1);
    running.started_at = Some(running.updated_at);
    running.progress = Some(liftos::domain::job::JobProgress { done: 1, total: 3 });
    store.update_job(&running, job.updated_at).await.expect("start");
    // A second worker that read the queued version is refused.
    let mut late = job.clone();
    late.status = JobStatus::Running;
    late.updated_at = day(1) + Duration::seconds(2);
    assert!(matches!(store.update_job(&late, job.updated_at).await, Err(StoreError::Conflict { .. })));
    let mut done = running.clone();
    done.status = JobStatus::Failed;
    done.error = Some(JobError {
        status: 400,
        code: "invalid_request".into(),
        field: Some("methods[0].y".into()),
        message: "no such column".into(),
    });
    done.updated_at = day(1) + Duration::seconds(3);
    store.update_job(&done, running.updated_at).await.expect("finish");
    assert_eq!(store.get_job(&a, &job.id).await.expect("get"), Some(done));
    let mut ghost = job.clone();
    ghost.id = uuid::Uuid::new_v4().to_string();
    assert!(matches!(store.update_job(&ghost, job.updated_at).await, Err(StoreError::NotFound(_))));
    // Listed in id order, page by page, each org its own (the listing index is eventually
    // consistent on DynamoDB: retried until the writes show).
    let mut ids = vec![job.id.clone()];
    for _ in 0..4 {
        let mut more = job.clone();
        more.id = uuid::Uuid::new_v4().to_string();
        store.create_job(&more).await.expect("create");
        ids.push(more.id);
    }
    ids.sort();
    let mut listed = Vec::new();
    for _ in 0..20 {
        listed.clear();
        let mut page = PageRequest::first(2);
        loop {
            let got = store.list_jobs(&a, &page).await.expect("list");
            assert!(got.items.len() <= 2);
            listed.extend(got.items.into_iter().map(|j| j.id));
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        if listed.len() == ids.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(listed, ids);
    assert!(store.list_jobs(&b, &PageRequest::first(10)).await.expect("list other").items.is_empty());
}

/// The knowledge graph on a backend: a build of an org with a treated campaign and two
/// comparison campaigns; a second build (and two concurrent ones) write nothing new; another org
/// sees none of it (its own graph is empty, the first org's node ids are not found in it).
pub async fn knowledge_graph(stores: &liftos::storage::Stores) {
    use liftos::api::kse::GraphQuery;
    use liftos::domain::{TreatmentAssignment, TreatmentGroup, UserContext};
    use liftos::service::{kse, ServiceError};
    let (a, b) = (org("kse-a"), org("kse-b"));
    let now = Utc::now();
    let mut records = Vec::new();
    for (c, treated) in [("cmp-t", true), ("cmp-c1", false), ("cmp-c2", false)] {
        for d in 0..40 {
            let lift = if treated && d >= 20 { 1.4 } else { 1.0 };
            let wobble = 1.0 + 0.05 * ((d * 7 + c.len() as i64) % 5) as f64;
            let mut r = record(&a, Platform::Meta, c, d, 100.0 * lift * wobble, None, now);
            r.treatment_assignment = Some(TreatmentAssignment {
                intervention: "budget_increase".into(),
                group: if treated { TreatmentGroup::Treated } else { TreatmentGroup::Control },
                assigned_at: day(20),
                intensity: None,
                experiment_id: None,
            });
            records.push(r);
        }
    }
    stores.records.put_records(&records).await.expect("records");
    let user =
        |o: &liftos::domain::OrgId| UserContext::new(o.clone(), "contract".into(), vec!["causal_admin".into()], vec![]);
    let (ua, ub) = (user(&a), user(&b));
    let first = kse::build(stores, &ua, now).await.expect("build");
    assert!(
        first.written && first.nodes > 5 && first.evidence.get("estimated_effect").copied().unwrap_or(0) >= 2,
        "{first:?}"
    );
    // Every node and the head went into the single table.
    assert_eq!((first.items_written, first.items_deleted), (first.nodes + 1, 0), "{first:?}");
    let again = kse::build(stores, &ua, now).await.expect("rebuild");
    assert_eq!((again.written, &again.version), (false, &first.version));
    assert_eq!((again.items_written, again.items_deleted), (0, 0), "a rebuild on the same data writes nothing");
    let (x, y) = tokio::join!(kse::build(stores, &ua, now), kse::build(stores, &ua, now));
    assert_eq!(x.expect("concurrent").version, first.version);
    assert_eq!(y.expect("concurrent").version, first.version);
    let stored = kse::load(stores, &ua).await.expect("load").expect("snapshot");
    assert_eq!(stored.version, first.version);
    // The table's items make the same graph as the snapshot.
    let items = stores.graph.graph_items(&a).await.expect("items");
    assert_eq!(items.len(), first.nodes + 1);
    assert_eq!(kse::graph_from_items(&items).expect("items read").expect("a head"), stored);
    // The snapshot lost (overwritten with bytes that do not read): the graph comes back from the
    // items, and the snapshot is written again.
    stores.panels.put_panel(&a, kse::SNAPSHOT_KEY, bytes::Bytes::from_static(b"lost")).await.expect("overwrite");
    kse::forget_cached();
    let back = kse::load(stores, &ua).await.expect("load from items").expect("a graph");
    assert_eq!(back, stored);
    let snapshot = stores.panels.get_panel(&a, kse::SNAPSHOT_KEY).await.expect("get").expect("rewritten");
    assert_eq!(serde_json::from_slice::<liftos::kse::graph::KnowledgeGraph>(&snapshot).expect("reads"), stored);
    // A new campaign: only the items that changed are written.
    let mut more = Vec::new();
    for d in 0..40 {
        more.push(record(&a, Platform::Meta, "cmp-new", d, 90.0, None, now));
    }
    stores.records.put_records(&more).await.expect("records");
    let grown = kse::build(stores, &ua, now).await.expect("build with a new campaign");
    assert!(grown.nodes > first.nodes && grown.items_written < grown.nodes, "{grown:?}");
    let items = stores.graph.graph_items(&a).await.expect("items");
    assert_eq!(kse::graph_from_items(&items).expect("items read").expect("a head").version, grown.version);

    // Another org: its own (empty) graph; the first org's nodes and answers are not there.
    let other = kse::build(stores, &ub, now).await.expect("other build");
    assert_eq!((other.nodes, other.edges), (0, 0));
    assert_ne!(other.version, first.version);
    let q = GraphQuery { node: "meta:conversions".into(), depth: Some(2) };
    assert!(kse::neighbourhood(stores, &ua, &q).await.is_ok());
    assert!(matches!(kse::neighbourhood(stores, &ub, &q).await, Err(ServiceError::NotFound { .. })));
    let body = br#"{"query": "did the meta budget increase drive revenue?"}"#;
    let mine = kse::search(stores, &ua, body).await.expect("search");
    assert!(!mine.results.is_empty(), "{mine:?}");
    let theirs = kse::search(stores, &ub, body).await.expect("search");
    assert!(theirs.results.is_empty() && theirs.graph_version == other.version, "{theirs:?}");
    // A campaign-day's record context vector: the treated campaign after its change, and the
    // untreated campaign-days of the same platform and day as its neighbours.
    {
        use liftos::api::kse::SimilarQuery;
        use liftos::kse::profile::ProfileKind;
        let on = day(25).date_naive();
        let q = |node: &str, profile, date| SimilarQuery { node: node.into(), profile, limit: Some(5), date };
        let r = kse::similar(stores, &ua, &q("meta/cmp-t", ProfileKind::Record, Some(on))).await.expect("record");
        assert_eq!((r.vector.components[0].as_str(), r.vector.values[0]), ("treated", 1.0));
        let mut near: Vec<&str> = r.neighbours.iter().map(|n| n.node.as_str()).collect();
        near.sort();
        assert_eq!(near, ["meta/cmp-c1", "meta/cmp-c2", "meta/cmp-new"], "{r:?}");
        assert!(r.neighbours.iter().all(|n| n.date == Some(on) && n.distance.is_finite()));
        for (query, field) in [
            (q("meta/cmp-t", ProfileKind::Record, None), "date"),
            (q("meta/cmp-t", ProfileKind::Context, Some(on)), "date"),
            (q("meta:conversions", ProfileKind::Record, Some(on)), "profile"),
        ] {
            match kse::similar(stores, &ua, &query).await {
                Err(ServiceError::Validation(e)) => assert_eq!(e.field(), field, "{query:?}"),
                other => panic!("{query:?}: {other:?}"),
            }
        }
        let before = q("meta/cmp-t", ProfileKind::Record, Some(day(-400).date_naive()));
        assert!(matches!(kse::similar(stores, &ua, &before).await, Err(ServiceError::NotFound { .. })));
        let theirs = kse::similar(stores, &ub, &q("meta/cmp-t", ProfileKind::Record, Some(on))).await;
        assert!(matches!(theirs, Err(ServiceError::NotFound { .. })), "{theirs:?}");
    }
    // The org's own finished analysis (a succeeded job, stored as the batch stage stores one):
    // its effect enters as evidence on the intervention's edge, with the job's id. A failed job,
    // and a job of another org, add nothing.
    use liftos::service::causal::{self, AnalysisOutput, Answer, Kind};
    let request = serde_json::json!({
        "records": {"platform": "meta", "intervention": "budget_increase"},
        "mode": "sync",
        "methods": [{"method": "did", "outcome": "conversions"}]
    });
    let ctx = causal::Ctx { stores, jobs_queue: None, now };
    let out = match causal::run(&ctx, &ua, Kind::AnalyzeAdvanced, request.to_string().as_bytes()).await {
        Ok(Answer::Done(o @ AnalysisOutput::Advanced(_))) => o,
        other => panic!("a synchronous analysis: {other:?}"),
    };
    let att = match &out {
        AnalysisOutput::Advanced(x) => liftos_estimators::Estimate::inference(&x.result.results[0].result).estimate,
        _ => unreachable!(),
    };
    let job_of = |o: &liftos::domain::OrgId, status: liftos::domain::JobStatus| {
        let id = uuid::Uuid::new_v4().to_string();
        liftos::domain::AnalysisJob {
            status,
            result: (status == liftos::domain::JobStatus::Succeeded).then(|| serde_json::to_value(&out).expect("json")),
            attempts: 1,
            started_at: Some(now),
            ..liftos::domain::AnalysisJob::queued(
                id.clone(),
                o.clone(),
                "contract".into(),
                vec!["causal:analysis:run".into()],
                "analyze_advanced".into(),
                format!("jobs/{id}/request.json"),
                now,
            )
        }
    };
    let done = job_of(&a, liftos::domain::JobStatus::Succeeded);
    let failed = job_of(&a, liftos::domain::JobStatus::Failed);
    let theirs_job = job_of(&b, liftos::domain::JobStatus::Succeeded);
    for j in [&done, &failed, &theirs_job] {
        let body = Bytes::from(request.to_string());
        stores.panels.put_panel(&j.org_id, &j.request_key, body).await.expect("request");
        stores.jobs.create_job(j).await.expect("job");
    }
    let mut with_job = kse::build(stores, &ua, now).await.expect("build with the org's analysis");
    for _ in 0..20 {
        if with_job.inputs.org_analyses == 1 {
            break;
        }
        // The jobs' listing index is eventually consistent on DynamoDB.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        with_job = kse::build(stores, &ua, now).await.expect("build with the org's analysis");
    }
    assert_eq!(with_job.inputs.org_analyses, 1, "{with_job:?}");
    let g = kse::load(stores, &ua).await.expect("load").expect("graph");
    let e = g
        .edges
        .iter()
        .find(|e| e.from.starts_with("meta:budget_increase:") && e.to == "meta:conversions")
        .expect("the intervention's edge");
    let mine = e.evidence.iter().find(|c| c.analysis_id.as_deref() == Some(done.id.as_str())).expect("the job's claim");
    assert_eq!(mine.estimate, Some(att));
    assert!(e.evidence.iter().all(|c| c.analysis_id.as_deref() != Some(failed.id.as_str())));
    assert_eq!(kse::build(stores, &ub, now).await.expect("other build").inputs.org_analyses, 0);
    // The table's items are the org's own: the other org's make its own empty graph.
    let theirs =
        kse::graph_from_items(&stores.graph.graph_items(&b).await.expect("items")).expect("read").expect("head");
    assert_eq!((theirs.org_id.as_str(), theirs.nodes.len()), (b.as_str(), 0));
    // A removal reaches the store: the items named go, the others stay.
    let before = stores.graph.graph_hashes(&a).await.expect("hashes");
    let gone = before.keys().find(|k| k.starts_with("N#")).cloned().expect("a node item");
    stores.graph.write_graph(&a, &[], std::slice::from_ref(&gone)).await.expect("delete");
    let after = stores.graph.graph_hashes(&a).await.expect("hashes");
    assert_eq!(after.len() + 1, before.len());
    assert!(!after.contains_key(&gone));
    assert_eq!(stores.graph.graph_hashes(&b).await.expect("hashes").len(), 1, "the other org's items untouched");
    // The snapshot is under the org's own keys only.
    assert!(stores.panels.list_panels(&b, "kse/").await.expect("list").iter().all(|k| !k.contains(a.as_str())));
}
