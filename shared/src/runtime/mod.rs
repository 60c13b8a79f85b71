//! What every Lambda shares: tracing set-up, wiring from [`Config`], the HTTP error format,
//! authentication, and SQS batch handling with partial failures.

pub mod auth;
pub mod handlers;
pub mod http;
pub mod sqs;

use std::sync::Arc;

use crate::config::{Backend, Config};
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
    /// The next stage's queue, when configured.
    pub next_queue: Option<Arc<dyn Queue>>,
    /// Where poison messages go, with their reason.
    pub dlq: Option<Arc<dyn Queue>>,
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

    /// From the environment; errors name the variable and fail the cold start.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = Config::from_env()?;
        tracing::info!(backend = ?config.backend, auth = ?config.auth, "configuration loaded");
        Ok(Self::from_config(config).await?)
    }
}
