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

/// The most detailed level ever logged, whatever `LogLevel`, `AWS_LAMBDA_LOG_LEVEL` or
/// `RUST_LOG` say: at TRACE the Lambda runtime logs every raw event (bearer tokens and bodies
/// included) and the AWS SDK logs requests and responses. Never below DEBUG.
pub const MAX_LOG_LEVEL: tracing_subscriber::filter::LevelFilter = tracing_subscriber::filter::LevelFilter::DEBUG;

/// JSON logs when `AWS_LAMBDA_LOG_FORMAT=JSON`; level from `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG`
/// (default INFO), capped at [`MAX_LOG_LEVEL`].
pub fn init_tracing() {
    use tracing_subscriber::util::SubscriberInitExt;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = subscriber(level.as_deref(), json, std::io::stdout).try_init();
}

/// The subscriber [`init_tracing`] installs, writing to `writer`.
pub fn subscriber<W>(level: Option<&str>, json: bool, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{filter::LevelFilter, EnvFilter, Layer};
    let default: LevelFilter = level.and_then(|l| l.trim().parse().ok()).unwrap_or(LevelFilter::INFO);
    let env = EnvFilter::builder().with_default_directive(default.into()).from_env_lossy();
    let fmt = tracing_subscriber::fmt::layer().with_target(false).without_time().with_writer(writer);
    let fmt = if json { fmt.json().boxed() } else { fmt.boxed() };
    tracing_subscriber::registry().with(fmt.with_filter(env).with_filter(MAX_LOG_LEVEL))
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
#[allow(clippy::large_enum_variant)] // one per request or message
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

    /// In process, the jobs it runs may use `model` (the explanations').
    pub fn with_model(self, model: Option<&'static dyn crate::llm::provider::Provider>) -> Self {
        match self {
            NextStage::InProcess(c) => NextStage::InProcess(c.with_model(model)),
            other => other,
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
    /// The embedded default on `data_dir` (no queues: the stages chain in process).
    pub fn embedded(data_dir: &std::path::Path, auth: crate::config::AuthSettings) -> Result<Self, StoreError> {
        let config = Config::new(Backend::Embedded { data_dir: data_dir.to_path_buf() }, auth);
        Ok(Self { config: Arc::new(config), stores: Stores::embedded(data_dir)?, next_queue: None, dlq: None })
    }

    pub async fn from_config(config: Config) -> Result<Self, StoreError> {
        if let Some(k) = &config.cursor_key {
            crate::storage::cursor::install_key(k.0.as_bytes())
                .map_err(|e| StoreError::backend("configuration", format!("LIFTOS_CURSOR_KEY: {e}"), false))?;
        }
        let (stores, next_queue, dlq) = match &config.backend {
            Backend::Embedded { data_dir } => (Stores::embedded(data_dir)?, None, None),
            #[cfg(not(feature = "aws"))]
            Backend::Aws { .. } => {
                return Err(StoreError::backend(
                    "configuration",
                    "LIFTOS_BACKEND=aws: this build has no AWS adapters (cargo feature `aws`)".to_string(),
                    false,
                ))
            }
            #[cfg(feature = "aws")]
            Backend::Aws { table, bucket } => {
                let sdk = crate::storage::aws::sdk_config().await;
                let queue = |url: &Option<String>| -> Option<Arc<dyn Queue>> {
                    url.as_ref().map(|u| {
                        Arc::new(crate::storage::aws::SqsQueue::new(crate::storage::aws::sqs_client(&sdk), u.clone()))
                            as Arc<dyn Queue>
                    })
                };
                let mut stores = Stores::aws(&sdk, table, bucket);
                if let Some(audit) = &config.audit_table {
                    stores.audit = Arc::new(crate::storage::aws::DynamoStore::new(
                        crate::storage::aws::dynamodb_client(&sdk),
                        audit.clone(),
                    ));
                }
                (stores, queue(&config.next_queue_url), queue(&config.dlq_url))
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

#[cfg(test)]
mod tests {
    /// Defect 14.10: with `LogLevel: TRACE` the runtime logged each raw event, bearer token
    /// included. Whatever the level, nothing below DEBUG is written.
    #[test]
    fn trace_level_never_logs_tokens_or_bodies() {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for (level, json) in [("TRACE", true), ("trace", false), ("debug", true)] {
            let buf = Buf::default();
            let writer = buf.clone();
            let sub = super::subscriber(Some(level), json, move || writer.clone());
            tracing::subscriber::with_default(sub, || {
                // What lambda_runtime's api_response layer does with every event.
                tracing::trace!(target: "lambda_runtime::layers::api_response", body = r#"{"headers":{"authorization":"Bearer eyJ.secret"}}"#, "raw JSON event received from Lambda");
                tracing::debug!(target: "liftos", "debug is still written");
            });
            let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            assert!(!out.contains("eyJ.secret") && !out.contains("raw JSON event"), "{level}: {out}");
            assert!(out.contains("debug is still written"), "{level}: {out}");
        }
    }
}
