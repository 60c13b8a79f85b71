//! SQS-triggered stages: each record in its own span; poison messages go to the DLQ with their
//! reason (and are then acknowledged); transient failures are reported in
//! `batchItemFailures` so SQS redelivers only those (and, after `maxReceiveCount`, moves them to
//! the DLQ itself). Nothing is dropped silently.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::future::Future;
use tracing::Instrument;

use crate::service::stage::StageError;
use crate::storage::{Message, Queue};

pub async fn process_batch<F, Fut>(event: SqsEvent, dlq: Option<&dyn Queue>, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), StageError>>,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sqs_record", message_id = %id);
        let body = record.body.clone().unwrap_or_default();
        let receive_count = record.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
        let outcome = handle(record).instrument(span.clone()).await;
        let _enter = span.enter();
        let failed = match outcome {
            Ok(()) => false,
            Err(e @ (StageError::Poison(_) | StageError::Invalid(_))) => {
                let reason = e.reason();
                tracing::warn!(%reason, "poison message");
                match dlq {
                    Some(q) => {
                        let m = Message::new(body)
                            .with_attribute("liftos_error", truncate(&reason, 1024))
                            .with_attribute("liftos_source_message_id", id.clone())
                            .with_attribute("liftos_failed_at", chrono::Utc::now().to_rfc3339());
                        match q.send(&m).await {
                            Ok(()) => false,
                            Err(e) => {
                                tracing::error!(error = %e, "could not move the poison message to the DLQ; leaving it for redelivery");
                                true
                            }
                        }
                    }
                    // Without a DLQ of our own, SQS's redrive policy moves it after maxReceiveCount.
                    None => true,
                }
            }
            Err(StageError::Transient(reason)) => {
                tracing::warn!(%reason, receive_count = %receive_count, "transient failure; will be redelivered");
                true
            }
        };
        if failed {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            response.batch_item_failures.push(f);
        }
    }
    response
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
