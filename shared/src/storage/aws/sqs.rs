use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use std::collections::HashMap;

use super::sdk_error;
use crate::storage::{Message, Queue, SendReport, StoreError};

const BACKEND: &str = "sqs";
/// SQS limits: 10 entries and 256 KiB per SendMessageBatch.
const MAX_BATCH_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// One SQS queue (standard or FIFO).
pub struct SqsQueue {
    client: Client,
    url: String,
}

fn attributes(m: &Message) -> Result<Option<HashMap<String, MessageAttributeValue>>, StoreError> {
    if m.attributes.is_empty() {
        return Ok(None);
    }
    let mut out = HashMap::new();
    for (k, v) in &m.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .map_err(|e| StoreError::backend(BACKEND, e, false))?;
        out.insert(k.clone(), value);
    }
    Ok(Some(out))
}

fn size_of(m: &Message) -> usize {
    m.body.len() + m.attributes.iter().map(|(k, v)| k.len() + v.len() + "String".len()).sum::<usize>()
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send_chunk(&self, messages: &[(usize, &Message)], report: &mut SendReport) -> Result<(), StoreError> {
        let mut entries = Vec::with_capacity(messages.len());
        for (i, m) in messages {
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .set_message_attributes(attributes(m)?)
                    .set_message_group_id(m.group_id.clone())
                    .set_message_deduplication_id(m.deduplication_id.clone())
                    .build()
                    .map_err(|e| StoreError::backend(BACKEND, e, false))?,
            );
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, e))?;
        for ok in out.successful {
            if let Ok(i) = ok.id.parse() {
                report.sent.push(i);
            }
        }
        for failed in out.failed {
            if let Ok(i) = failed.id.parse() {
                let why = format!("{}: {}", failed.code, failed.message.unwrap_or_default());
                report.failed.push((i, why));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, m: &Message) -> Result<(), StoreError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(&m.body)
            .set_message_attributes(attributes(m)?)
            .set_message_group_id(m.group_id.clone())
            .set_message_deduplication_id(m.deduplication_id.clone())
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, e))?;
        Ok(())
    }

    async fn send_batch(&self, messages: &[Message]) -> Result<SendReport, StoreError> {
        let mut report = SendReport::default();
        let mut chunk: Vec<(usize, &Message)> = Vec::new();
        let mut bytes = 0;
        for (i, m) in messages.iter().enumerate() {
            let size = size_of(m);
            if size > MAX_BATCH_BYTES {
                report.failed.push((i, format!("message is {size} bytes; SQS takes at most {MAX_BATCH_BYTES}")));
                continue;
            }
            if chunk.len() == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES {
                self.send_chunk(&chunk, &mut report).await?;
                chunk.clear();
                bytes = 0;
            }
            chunk.push((i, m));
            bytes += size;
        }
        if !chunk.is_empty() {
            self.send_chunk(&chunk, &mut report).await?;
        }
        // Entries that failed for a transient reason are tried once more, one by one.
        let mut still_failed = Vec::new();
        for (i, why) in std::mem::take(&mut report.failed) {
            if why.contains("bytes; SQS takes") {
                still_failed.push((i, why));
                continue;
            }
            match self.send(&messages[i]).await {
                Ok(()) => report.sent.push(i),
                Err(e) => still_failed.push((i, format!("{why}; retry: {e}"))),
            }
        }
        report.failed = still_failed;
        report.sent.sort_unstable();
        Ok(report)
    }
}
