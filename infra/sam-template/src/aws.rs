//! AWS SDK configuration for the local emulator: the emulator's endpoint and dummy credentials,
//! through the SDK's standard variables so the same code also talks to LocalStack or AWS.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_sqs::config::Credentials;

/// Where the AWS API emulator listens unless `AWS_ENDPOINT_URL` says otherwise (LocalStack's
/// port, so both the moto path and the Docker path answer on it).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";
/// Region used locally unless `AWS_REGION` says otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Account id the emulators use for ARNs and queue URLs (moto's default).
pub const ACCOUNT_ID: &str = "123456789012";

/// The endpoint URL in force: `AWS_ENDPOINT_URL`, else [`DEFAULT_ENDPOINT`].
pub fn endpoint() -> String {
    non_empty_var("AWS_ENDPOINT_URL").unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
}

/// The region in force: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else [`DEFAULT_REGION`].
pub fn region() -> String {
    non_empty_var("AWS_REGION")
        .or_else(|| non_empty_var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned())
}

/// SDK config for the local emulator: [`endpoint`], [`region`], and the credentials from
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or `test`/`test` (emulators accept any).
pub async fn sdk_config() -> aws_config::SdkConfig {
    let key = non_empty_var("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "test".into());
    let secret = non_empty_var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "test".into());
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(region()))
        .credentials_provider(Credentials::new(key, secret, None, None, "devstack"))
        .load()
        .await
}

/// The variables a function process needs to reach the local emulator with the default SDK
/// chain (`aws_config::load_from_env`), as `(name, value)` pairs.
pub fn function_env() -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", region()),
        ("AWS_DEFAULT_REGION", region()),
        (
            "AWS_ACCESS_KEY_ID",
            non_empty_var("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "test".into()),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            non_empty_var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "test".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
