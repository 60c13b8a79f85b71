//! The store contract on the embedded default (SQLite file, local folder, in-process queue).

use liftos::storage::embedded::{InProcessQueue, SqliteStore};
use liftos::storage::{Message, PageRequest, Queue, RecordQuery, RecordStore, Stores};
use liftos_tests::{contract, fixtures};

fn stores() -> (tempfile::TempDir, Stores) {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = Stores::embedded(dir.path()).expect("open");
    (dir, stores)
}

#[tokio::test]
async fn record_writes() {
    let (_d, s) = stores();
    contract::record_writes(s.records.as_ref()).await;
}

#[tokio::test]
async fn record_queries() {
    let (_d, s) = stores();
    contract::record_queries(s.records.as_ref()).await;
}

#[tokio::test]
async fn record_isolation() {
    let (_d, s) = stores();
    contract::record_isolation(s.records.as_ref()).await;
}

#[tokio::test]
async fn experiments() {
    let (_d, s) = stores();
    contract::experiments(s.experiments.as_ref()).await;
}

#[tokio::test]
async fn confounders() {
    let (_d, s) = stores();
    contract::confounders(s.confounders.as_ref()).await;
}

#[tokio::test]
async fn audit() {
    let (_d, s) = stores();
    contract::audit(s.audit.as_ref()).await;
}

#[tokio::test]
async fn jobs() {
    let (_d, s) = stores();
    contract::jobs(s.jobs.as_ref()).await;
}

#[tokio::test]
async fn panels() {
    let (_d, s) = stores();
    contract::panels(s.panels.as_ref(), 3 * 1024 * 1024 + 17).await;
}

/// Data written by one run is there for the next, and two handles (two processes, e.g. two
/// functions under `cargo lambda watch`) share the file.
#[tokio::test]
async fn data_survives_reopen_and_is_shared_between_handles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("liftos.db");
    let org = fixtures::org("persist");
    let r = fixtures::record(&org, liftos::domain::Platform::Meta, "cmp-a", 0, 10.0, None, chrono::Utc::now());
    {
        let a = SqliteStore::open(&path).expect("open a");
        let b = SqliteStore::open(&path).expect("open b");
        a.put_record(&r).await.expect("put via a");
        assert_eq!(b.get_record(&org, &r.id).await.expect("get via b"), Some(r.clone()));
    }
    let reopened = SqliteStore::open(&path).expect("reopen");
    assert_eq!(reopened.get_record(&org, &r.id).await.expect("get"), Some(r.clone()));
    let page = reopened
        .query_records(&org, &RecordQuery::Experiment { experiment_id: "none".into() }, &PageRequest::first(5))
        .await
        .expect("query");
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn in_process_queue_keeps_order_and_attributes() {
    let q = InProcessQueue::new();
    q.send(&Message::new("one").with_attribute("kind", "a")).await.expect("send");
    let report = q.send_batch(&[Message::new("two"), Message::new("three")]).await.expect("batch");
    assert_eq!(report.sent, vec![0, 1]);
    assert!(report.failed.is_empty());
    let got = q.receive(10);
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["one", "two", "three"]);
    assert_eq!(got[0].attributes.get("kind").map(String::as_str), Some("a"));
    assert!(q.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_graph() {
    let (_d, s) = stores();
    contract::knowledge_graph(&s).await;
}
