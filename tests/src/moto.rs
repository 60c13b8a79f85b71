//! Reaching the moto server that `tests/run.sh` starts (`LIFTOS_MOTO_ENDPOINT`).

use aws_sdk_dynamodb::config::{Credentials, Region};

pub const ENDPOINT_VAR: &str = "LIFTOS_MOTO_ENDPOINT";

/// The endpoint, or a panic that says how to get one: these tests are `#[ignore]`d in a plain
/// `cargo test` and run by `tests/run.sh`, which starts moto.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{ENDPOINT_VAR} is not set: run the suite with tests/run.sh, which installs and starts moto_server")
    })
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    liftos::storage::aws::config_loader()
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A unique resource name, so tests share one server without interfering.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
