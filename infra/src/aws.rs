//! AWS SDK configuration for the local cloud (the emulator's endpoint, region and dummy
//! credentials through the SDK's standard variables): re-exported from the `sam-template` crate.

pub use sam_template::aws::{
    ACCOUNT_ID, DEFAULT_ENDPOINT, DEFAULT_REGION, endpoint, function_env, region, sdk_config,
};
