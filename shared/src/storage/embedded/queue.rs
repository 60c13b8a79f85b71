use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;

use crate::storage::{Message, Queue, SendReport, StoreError};

/// An in-process FIFO queue for the embedded pipeline: stages send, the local runner receives.
#[derive(Default)]
pub struct InProcessQueue {
    messages: Mutex<VecDeque<Message>>,
}

impl InProcessQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Take up to `max` messages (oldest first).
    pub fn receive(&self, max: usize) -> Vec<Message> {
        let mut q = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        let n = max.min(q.len());
        q.drain(..n).collect()
    }

    pub fn len(&self) -> usize {
        self.messages.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for InProcessQueue {
    async fn send(&self, message: &Message) -> Result<(), StoreError> {
        self.messages.lock().unwrap_or_else(|p| p.into_inner()).push_back(message.clone());
        Ok(())
    }

    async fn send_batch(&self, messages: &[Message]) -> Result<SendReport, StoreError> {
        let mut q = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        q.extend(messages.iter().cloned());
        Ok(SendReport { sent: (0..messages.len()).collect(), failed: vec![] })
    }
}
