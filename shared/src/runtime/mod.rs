//! What every Lambda shares: tracing set-up, wiring from [`Config`], the HTTP error format,
//! authentication, and SQS batch handling with partial failures.

pub mod auth;
pub mod handlers;
pub mod http;
pub mod sqs;

use std::sync::Arc;

use crate::config::{Backend, Config};
use crate::service::chain::{ChainOutcome, InlineChain};
use crate::storage::{Queue, StoreError, Stores};

/// JSON logs when `AWS_LAMBDA_LOG_FORMAT=JSON`; level from `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG`.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The dependencies a function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: Arc<Config>,
    pub stores: Stores,
    /// The next stage's SQS queue (`LIFTOS_NEXT_QUEUE_URL`), when configured.
    pub next_queue: Option<Arc<dyn Queue>>,
    /// Where poison messages go, with their reason.
    pub dlq: Option<Arc<dyn Queue>>,
}

/// Where a function hands its output, for one request or message.
pub enum NextStage {
    /// The next stage's SQS queue: its Lambda will pick the message up.
    Queue(Arc<dyn Queue>),
    /// The embedded default: the next stages run in this process as messages are sent.
    InProcess(InlineChain),
    /// The cloud without a next queue configured: sending fails (transient, so SQS retries).
    Unconfigured,
}

impl NextStage {
    pub fn queue(&self) -> Option<&dyn Queue> {
        match self {
            NextStage::Queue(q) => Some(q.as_ref()),
            NextStage::InProcess(c) => Some(c),
            NextStage::Unconfigured => None,
        }
    }

    /// What the next stages did, when they ran in this process.
    pub fn ran_in_process(&self) -> Option<ChainOutcome> {
        match self {
            NextStage::InProcess(c) => Some(c.outcome()),
            _ => None,
        }
    }
}

impl Deps {
    pub async fn from_config(config: Config) -> Result<Self, StoreError> {
        let (stores, next_queue, dlq) = match &config.backend {
            Backend::Embedded { data_dir } => (Stores::embedded(data_dir)?, None, None),
            Backend::Aws { table, bucket } => {
                let sdk = crate::storage::aws::sdk_config().await;
                let queue = |url: &Option<String>| -> Option<Arc<dyn Queue>> {
                    url.as_ref().map(|u| {
                        Arc::new(crate::storage::aws::SqsQueue::new(crate::storage::aws::sqs_client(&sdk), u.clone()))
                            as Arc<dyn Queue>
                    })
                };
                (Stores::aws(&sdk, table, bucket), queue(&config.next_queue_url), queue(&config.dlq_url))
            }
        };
        Ok(Self { config: Arc::new(config), stores, next_queue, dlq })
    }

    /// The next stage for one request or message: the configured queue; on the embedded default
    /// (no queues) the in-process chain.
    pub fn next_stage(&self) -> NextStage {
        match (&self.next_queue, &self.config.backend) {
            (Some(q), _) => NextStage::Queue(q.clone()),
            (None, Backend::Embedded { .. }) => NextStage::InProcess(InlineChain::new(self.stores.clone())),
            (None, Backend::Aws { .. }) => NextStage::Unconfigured,
        }
    }

    /// From the environment; errors name the variable and fail the cold start.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = Config::from_env()?;
        tracing::info!(backend = ?config.backend, auth = ?config.auth, "configuration loaded");
        Ok(Self::from_config(config).await?)
    }
}

/// The `main` of an HTTP function: `liftos::http_function!(liftos::runtime::handlers::x_http);`
/// builds the dependencies once per cold start (failing it with the variable at fault) and
/// serves every request with the handler.
#[macro_export]
macro_rules! http_function {
    ($handler:path) => {
        #[tokio::main]
        async fn main() -> Result<(), lambda_http::Error> {
            $crate::runtime::init_tracing();
            let deps = $crate::runtime::Deps::from_env().await?;
            lambda_http::run(lambda_http::service_fn(|req: lambda_http::Request| {
                let deps = &deps;
                async move { Ok::<_, lambda_http::Error>($handler(deps, req).await) }
            }))
            .await
        }
    };
}

/// The `main` of an SQS-triggered stage: `liftos::sqs_function!(liftos::runtime::handlers::x_sqs);`
/// (partial batch failures: only the failed messages are redelivered).
#[macro_export]
macro_rules! sqs_function {
    ($handler:path) => {
        #[tokio::main]
        async fn main() -> Result<(), lambda_runtime::Error> {
            $crate::runtime::init_tracing();
            let deps = $crate::runtime::Deps::from_env().await?;
            lambda_runtime::run(lambda_runtime::service_fn(
                |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
                    let deps = &deps;
                    async move { Ok::<_, lambda_runtime::Error>($handler(deps, event.payload).await) }
                },
            ))
            .await
        }
    };
}

/// The `main` of a function invoked with a JSON event (EventBridge, S3 notifications):
/// `liftos::event_function!(liftos::runtime::handlers::sync_event);`.
#[macro_export]
macro_rules! event_function {
    ($handler:path) => {
        #[tokio::main]
        async fn main() -> Result<(), lambda_runtime::Error> {
            $crate::runtime::init_tracing();
            let deps = $crate::runtime::Deps::from_env().await?;
            lambda_runtime::run(lambda_runtime::service_fn(|event: lambda_runtime::LambdaEvent<serde_json::Value>| {
                let deps = &deps;
                async move { $handler(deps, event.payload).await }
            }))
            .await
        }
    };
}
