//! What the emulator-backed adapter tests share: the template's tables and queues, freshly
//! provisioned under a unique prefix per test (so tests run in parallel and never see each
//! other's data), and the SDK config that reaches the emulator (`AWS_ENDPOINT_URL`, default
//! `http://127.0.0.1:4566`). Each test file adds its own `impl Stack` helpers.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::path::Path;

use aws_config::SdkConfig;
use sam_template::Template;
use sam_template::provision::{Provisioned, provision};

/// The template's resources under a unique prefix, and the SDK config to reach them.
pub struct Stack {
    /// SDK config for the emulator.
    pub sdk: SdkConfig,
    /// Physical names of the provisioned tables and queues, by logical id.
    pub resources: Provisioned,
}

impl Stack {
    /// Provisions every table and queue of `template.yaml` under a fresh prefix.
    ///
    /// # Panics
    /// When the template does not load or the emulator does not answer.
    pub async fn new() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let template = match Template::load(Path::new(path)) {
            Ok(template) => template,
            Err(e) => panic!("template.yaml does not load: {e:#}"),
        };
        let sdk = sam_template::aws::sdk_config().await;
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let resources = provision(&template, &sdk, &prefix)
            .await
            .unwrap_or_else(|e| panic!("provisioning failed; is the emulator running? {e:#}"));
        Self { sdk, resources }
    }

    /// The physical name of table `logical_id`, e.g. `OrdersTable`.
    pub fn table(&self, logical_id: &str) -> String {
        self.resources.tables[logical_id].clone()
    }

    /// A DynamoDB client on the emulator, for raw reads.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }
}
