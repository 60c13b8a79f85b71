//! The ingestion pipeline's functions: the HTTP sync, the scheduled and export-drop sync, and
//! the transform, quality and store stages (SQS). Each stage hands its output to its next stage
//! ([`Deps::next_stage`]); on the embedded default that stage runs in the same call.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};

use super::super::http::{serve_body, ApiError};
use super::super::{sqs::process_batch, Deps};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;

use crate::api::ingestion::SYNC_NOW;
use crate::api::ingestion::{ScheduledSync, SyncRequest, SyncResponse};
use crate::ingestion::connectors::{self, Credentials};
use crate::service::ingestion;
use crate::service::stage::{self, StageError};

/// Credentials for the connectors: Secrets Manager with the AWS backend, the local file or
/// environment otherwise. The Secrets Manager client is built once per container.
pub async fn credentials(deps: &Deps) -> &'static dyn Credentials {
    match deps.config.backend {
        #[cfg(feature = "aws")]
        crate::config::Backend::Aws { .. } => {
            static SECRETS: tokio::sync::OnceCell<connectors::SecretsManagerCredentials> =
                tokio::sync::OnceCell::const_new();
            SECRETS
                .get_or_init(|| async {
                    connectors::SecretsManagerCredentials::new(&crate::storage::aws::sdk_config().await)
                })
                .await
        }
        // Without the AWS adapters `Deps::from_config` refuses the aws backend.
        _ => &connectors::LocalCredentials,
    }
}

/// The queue of the per-org sync messages: SQS, which only the aws backend has.
async fn sync_queue(deps: &Deps, url: &str) -> Result<std::sync::Arc<dyn crate::storage::Queue>, String> {
    match &deps.config.backend {
        #[cfg(feature = "aws")]
        crate::config::Backend::Aws { .. } => Ok(std::sync::Arc::new(crate::storage::aws::SqsQueue::new(
            crate::storage::aws::sqs_client(&crate::storage::aws::sdk_config().await),
            url.to_string(),
        ))),
        _ => Err(format!("LIFTOS_SYNC_QUEUE_URL ({url}) needs the aws backend")),
    }
}

/// The connectors' HTTP client, built once per container (it loads the system's TLS roots):
/// the platforms' hosts only, and loopback where `LIFTOS_CONNECTORS_ALLOW_LOCAL=1`.
fn http_client(deps: &Deps) -> Result<&'static connectors::http::Http, String> {
    use connectors::http::{Egress, Http};
    static PLATFORMS: std::sync::OnceLock<Result<Http, String>> = std::sync::OnceLock::new();
    static LOCAL: std::sync::OnceLock<Result<Http, String>> = std::sync::OnceLock::new();
    let (cell, egress) = if deps.config.connectors_allow_local {
        (&LOCAL, Egress::AlsoLoopback)
    } else {
        (&PLATFORMS, Egress::PlatformsOnly)
    };
    cell.get_or_init(|| Http::with_egress(egress).map_err(|e| e.to_string())).as_ref().map_err(Clone::clone)
}

/// A stage's failure as an HTTP answer: the caller's mistake (400 naming the field), a
/// configuration that cannot be used (409), or a transient failure (503, retry).
fn stage_error(e: StageError) -> ApiError {
    match e {
        StageError::Invalid(v) => v.into(),
        StageError::Poison(m) => ApiError::new(409, crate::api::error::ErrorCode::Conflict, m),
        StageError::Transient(m) => {
            tracing::error!(error = %m, "sync");
            ApiError::unavailable("the sync could not be completed; retry")
        }
    }
}

/// `POST /api/v1/ingestion/sync`: sync the caller's org now (one connection or all), for a
/// period (default: the last two full days). 200 with what each connection landed.
pub async fn sync_now_http(deps: &Deps, req: Request) -> Response<Body> {
    serve_body(deps, &req, &SYNC_NOW, |user, body| async move {
        let b: SyncRequest = crate::domain::error::from_json_value(crate::service::json_object(body)?)?;
        let period = b.period(ingestion::default_period(chrono::Utc::now()))?;
        let creds = credentials(deps).await;
        let client = http_client(deps).map_err(|e| {
            tracing::error!(error = %e, "HTTP client");
            ApiError::internal()
        })?;
        let next = deps.next_stage();
        let connections = ingestion::sync_org(
            &deps.stores,
            next.queue(),
            creds,
            client,
            &user.org_id,
            b.connection_id.as_deref(),
            period,
        )
        .await
        .map_err(stage_error)?;
        Ok((200, SyncResponse { period, connections, pipeline: next.ran_in_process() }))
    })
    .await
}

/// What starts the sync stage: the schedule, an export dropped in the bucket, or the
/// schedule's fanned-out messages (one per org and connection) from the sync queue.
#[derive(Debug)]
pub enum SyncTrigger {
    /// The EventBridge schedule's input.
    Schedule(ScheduledSync),
    /// Exports dropped under `orgs/{org}/drop/{connection}/`: the objects' keys.
    Dropped(Vec<String>),
    /// Messages of the sync queue.
    Queued(SqsEvent),
}

/// EventBridge's "Object Created" detail (the part the stage reads).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct ObjectCreated {
    object: CreatedObject,
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct CreatedObject {
    key: String,
}

impl SyncTrigger {
    /// An S3 notification (records with URL-encoded keys), EventBridge's "Object Created" from
    /// S3, or the schedule's `{"orgs": [...]}`; anything else is refused with the reason.
    pub fn parse(event: serde_json::Value) -> Result<Self, String> {
        let from_sqs = event["Records"][0]["eventSource"].as_str() == Some("aws:sqs");
        if from_sqs {
            let e: SqsEvent = serde_json::from_value(event).map_err(|e| format!("not an SQS event: {e}"))?;
            return Ok(SyncTrigger::Queued(e));
        }
        if event.get("Records").is_some() {
            let e: S3Event = serde_json::from_value(event).map_err(|e| format!("not an S3 notification: {e}"))?;
            let keys =
                e.records.iter().filter_map(|r| r.s3.object.key.as_deref()).map(connectors::url_decode).collect();
            return Ok(SyncTrigger::Dropped(keys));
        }
        if event.get("source").and_then(|s| s.as_str()) == Some("aws.s3") {
            let e: EventBridgeEvent<ObjectCreated> =
                serde_json::from_value(event).map_err(|e| format!("not an S3 Object Created event: {e}"))?;
            return Ok(SyncTrigger::Dropped(vec![e.detail.object.key]));
        }
        serde_json::from_value(event)
            .map(SyncTrigger::Schedule)
            .map_err(|e| format!("orgs: expected a list of org ids: {e}"))
    }
}

/// The scheduled sync (EventBridge: `{"orgs": ["acme"]}`, optionally `start`/`end`) and
/// exports dropped in the bucket (S3 `ObjectCreated` under `orgs/{org}/drop/{connection}/`).
pub async fn sync_event(deps: &Deps, event: serde_json::Value) -> Result<serde_json::Value, lambda_runtime::Error> {
    let schedule = match SyncTrigger::parse(event)? {
        SyncTrigger::Dropped(keys) => {
            let mut queued = Vec::new();
            for key in keys {
                let Some(msg) = ingestion::dropped_file(&key) else {
                    tracing::info!(%key, "not an export drop; ignored");
                    continue;
                };
                let body = serde_json::to_string(&msg)?;
                let next = deps.next_stage();
                let q = next.queue().ok_or("no next queue is configured")?;
                q.send(&crate::storage::Message::new(body).with_attribute("liftos_kind", "raw_ready")).await?;
                if let Some(chain) = next.ran_in_process() {
                    tracing::info!(?chain, "export ingested");
                }
                queued.push(key);
            }
            return Ok(serde_json::json!({ "queued": queued }));
        }
        SyncTrigger::Queued(event) => {
            let creds = credentials(deps).await;
            let client = http_client(deps)?;
            let response = process_batch(event, deps.dlq.as_deref(), |msg| async move {
                let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
                let next = deps.next_stage();
                ingestion::sync_connection_message(&deps.stores, next.queue(), creds, client, body).await.map(|_| ())
            })
            .await;
            return Ok(serde_json::to_value(response)?);
        }
        SyncTrigger::Schedule(s) => s,
    };
    if schedule.orgs.len() > crate::api::ingestion::MAX_SCHEDULED_ORGS {
        return Err(format!("orgs: at most {} per schedule", crate::api::ingestion::MAX_SCHEDULED_ORGS).into());
    }
    let period = SyncRequest { connection_id: None, start: schedule.start, end: schedule.end }
        .period(ingestion::default_period(chrono::Utc::now()))
        .map_err(|e| e.summary())?;
    // With a sync queue: one message per org and connection, each synced (and retried, or sent
    // to the DLQ) on its own. Without one (the embedded default): each org in turn, a failing
    // org reported and the others synced.
    if let Some(url) = &deps.config.sync_queue_url {
        let queue = sync_queue(deps, url).await?;
        let fanned = ingestion::fan_out(&deps.stores, queue.as_ref(), &schedule.orgs, period).await;
        let out: serde_json::Map<String, serde_json::Value> = fanned
            .into_iter()
            .map(|(org, r)| {
                let v = match r {
                    Ok(queued) => serde_json::json!({ "queued": queued }),
                    Err(e) => serde_json::json!({ "error": e }),
                };
                (org, v)
            })
            .collect();
        return Ok(serde_json::Value::Object(out));
    }
    let creds = credentials(deps).await;
    let client = http_client(deps)?;
    let mut out = serde_json::Map::new();
    for o in schedule.orgs {
        let result = async {
            let org = crate::domain::OrgId::new(&o).map_err(|e| e.summary())?;
            let next = deps.next_stage();
            ingestion::sync_org(&deps.stores, next.queue(), creds, client, &org, None, period)
                .await
                .map_err(|e| e.reason())
        }
        .await;
        let v = match result {
            Ok(synced) => serde_json::to_value(synced)?,
            Err(e) => {
                tracing::warn!(org = %o, error = %e, "scheduled sync: this org is skipped");
                serde_json::json!({ "error": e })
            }
        };
        out.insert(o, v);
    }
    Ok(serde_json::Value::Object(out))
}

/// The transform stage (SQS).
pub async fn transform_records_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        let next = deps.next_stage();
        ingestion::transform_message(&deps.stores, next.queue(), body, chrono::Utc::now()).await.map(|_| ())
    })
    .await
}

/// The quality stage (SQS).
pub async fn score_quality_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        let next = deps.next_stage();
        ingestion::quality_message(&deps.stores, next.queue(), body, chrono::Utc::now()).await.map(|_| ())
    })
    .await
}

/// The store stage (SQS): store, then announce the new data on the next queue.
pub async fn store_records_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, deps.dlq.as_deref(), |msg| async move {
        let body = msg.body.as_deref().ok_or_else(|| StageError::Poison("the message has no body".into()))?;
        let next = deps.next_stage();
        stage::store_and_announce(&deps.stores, next.queue(), body).await.map(|_| ())
    })
    .await
}

/// This area's HTTP handler of the Lambda `function`, or the request back.
pub(super) async fn dispatch(deps: &Deps, function: &str, req: Request) -> Result<Response<Body>, Request> {
    Ok(match function {
        "sync-now" => sync_now_http(deps, req).await,
        _ => return Err(req),
    })
}
