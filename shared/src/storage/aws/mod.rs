//! AWS adapters: DynamoDB for records, experiments and confounders; S3 for panels; SQS for the
//! queue between stages. Clients are built once per cold start from [`sdk_config`].
//!
//! `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_DYNAMODB`, ...) are honoured by the
//! SDK, so any AWS-compatible endpoint (moto, LocalStack) works; with a custom endpoint S3 uses
//! path-style addressing.

mod dynamo;
mod s3;
mod sqs;

pub use dynamo::{create_table, DynamoStore};
pub use s3::S3PanelStore;
pub use sqs::SqsQueue;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};

/// Shared SDK configuration. Checksums only when an operation requires them: they cost CPU on
/// every request and S3-compatible servers differ in support.
pub async fn sdk_config() -> aws_config::SdkConfig {
    config_loader().load().await
}

/// The loader behind [`sdk_config`], for callers that set an endpoint or credentials explicitly.
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
}

pub fn dynamodb_client(cfg: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(cfg)
}

pub fn s3_client(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(cfg);
    if cfg.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

pub fn sqs_client(cfg: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(cfg)
}

/// Classify an SDK error: throttling, timeouts, connection failures and 5xx may succeed on retry.
pub(crate) fn sdk_error<E, R>(backend: &'static str, err: aws_sdk_dynamodb::error::SdkError<E, R>) -> super::StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => {
            let text = format!("{:?}", e.err());
            text.contains("Throttl")
                || text.contains("ProvisionedThroughputExceeded")
                || text.contains("RequestLimitExceeded")
                || text.contains("InternalServerError")
                || text.contains("ServiceUnavailable")
        }
        _ => false,
    };
    let message = aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string();
    super::StoreError::Backend { backend, message, retryable }
}
