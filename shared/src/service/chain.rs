//! The embedded default's queues. In the cloud each stage hands its output to an SQS queue and
//! the next Lambda picks it up; without queues, a message sent to the next stage is processed at
//! once, in this process, by the same stage function that Lambda would run (chosen by the
//! message's `liftos_kind`). A stage and its handler therefore never ask whether they run
//! locally: they send to their next queue, and this queue runs the rest of the chain.
//!
//! As with SQS and its dead-letter queue, a message that can never succeed does not fail its
//! sender: it is kept, with its reason, in [`ChainOutcome::poison`]. A transient failure is an
//! error of the send, so the caller retries.

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use super::stage::StageError;
use crate::llm::provider::Provider;
use crate::storage::{Message, Queue, SendReport, StoreError, Stores};

/// What the in-process chain did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChainOutcome {
    pub batches: Vec<String>,
    pub quality_scores: Vec<f64>,
    pub rejected_rows: usize,
    pub quarantined_batches: usize,
    pub stored: usize,
    pub unchanged: usize,
    /// Messages that could never succeed (in the cloud: the dead-letter queue), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poison: Vec<PoisonMessage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PoisonMessage {
    pub kind: String,
    pub reason: String,
}

/// Runs the next stages in process as messages are sent to it; one per request or message, so
/// its outcome is that of one call.
pub struct InlineChain {
    stores: Stores,
    outcome: Mutex<ChainOutcome>,
    model: Option<&'static dyn Provider>,
}

impl InlineChain {
    pub fn new(stores: Stores) -> Self {
        Self { stores, outcome: Mutex::new(ChainOutcome::default()), model: None }
    }

    /// The language model the jobs it runs may use (the explanations'), as the batch function's.
    pub fn with_model(mut self, model: Option<&'static dyn Provider>) -> Self {
        self.model = model;
        self
    }

    /// What ran so far.
    pub fn outcome(&self) -> ChainOutcome {
        self.outcome.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, f: impl FnOnce(&mut ChainOutcome)) {
        f(&mut self.outcome.lock().unwrap_or_else(|p| p.into_inner()));
    }

    async fn run(&self, kind: &str, body: &str) -> Result<(), StageError> {
        let now = Utc::now();
        match kind {
            "raw_ready" => {
                let s = super::ingestion::transform_message(&self.stores, Some(self), body, now).await?;
                self.record(|o| o.rejected_rows += s.rejected.len());
            }
            "staged" => {
                let q = super::ingestion::quality_message(&self.stores, Some(self), body, now).await?;
                self.record(|o| {
                    o.batches.push(q.batch_id.clone());
                    o.quality_scores.push(q.score);
                    o.quarantined_batches += usize::from(q.quarantined_batch);
                });
            }
            "store_records" => {
                let r = super::stage::store_and_announce(&self.stores, Some(self), body).await?;
                self.record(|o| {
                    o.stored += r.stored;
                    o.unchanged += r.unchanged;
                });
            }
            "analysis_job" => super::causal::job_message(&self.stores, Some(self), body, self.model).await?,
            // New data or a finished analysis of stored records: in process, nothing rebuilds the
            // knowledge graph on it (`liftos kse build` does); in the cloud, the kse-build stage.
            "data_ready" => {}
            other => return Err(StageError::Poison(format!("no stage takes messages of kind {other:?}"))),
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for InlineChain {
    async fn send(&self, message: &Message) -> Result<(), StoreError> {
        let kind = message.attributes.get("liftos_kind").map(String::as_str).unwrap_or("");
        match self.run(kind, &message.body).await {
            Ok(()) => Ok(()),
            Err(StageError::Transient(reason)) => Err(StoreError::backend("the next stage", reason, true)),
            Err(poison) => {
                tracing::warn!(kind, reason = %poison, "poison message in the in-process chain");
                self.record(|o| o.poison.push(PoisonMessage { kind: kind.to_string(), reason: poison.to_string() }));
                Ok(())
            }
        }
    }

    async fn send_batch(&self, messages: &[Message]) -> Result<SendReport, StoreError> {
        let mut report = SendReport::default();
        for (i, m) in messages.iter().enumerate() {
            match self.send(m).await {
                Ok(()) => report.sent.push(i),
                Err(e) => report.failed.push((i, e.to_string())),
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As a dead-letter queue would, the chain keeps a message that can never succeed with its
    /// kind and reason, and its sender is not failed: a kind no stage takes, a body no stage can
    /// read; a batch reports each message sent. The announcement of new data is taken and does
    /// nothing in process.
    #[tokio::test]
    async fn messages_that_cannot_succeed_are_kept_with_their_reason() {
        let dir = tempfile::tempdir().expect("dir");
        let chain = InlineChain::new(Stores::embedded(dir.path()).expect("store"));
        let kind = |k: &str, body: &str| Message::new(body).with_attribute("liftos_kind", k);
        chain.send(&kind("data_ready", "{}")).await.expect("taken");
        chain.send(&Message::new("{}")).await.expect("kept, not failed");
        let report =
            chain.send_batch(&[kind("reindex", "{}"), kind("store_records", "{\"org_id\": 7}")]).await.expect("batch");
        assert_eq!((report.sent, report.failed.len()), (vec![0, 1], 0));
        let out = chain.outcome();
        let kinds: Vec<&str> = out.poison.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["", "reindex", "store_records"]);
        assert!(out.poison[0].reason.contains("no stage takes messages of kind \"\""), "{:?}", out.poison[0]);
        assert!(out.poison[1].reason.contains("no stage takes messages of kind \"reindex\""), "{:?}", out.poison[1]);
        assert!(out.poison[2].reason.starts_with("poison message: org_id"), "{:?}", out.poison[2]);
        assert_eq!((out.stored, out.batches.len()), (0, 0), "nothing ran");
    }
}
