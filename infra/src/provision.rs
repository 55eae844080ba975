//! Creates the template's DynamoDB tables and SQS queues on the local emulator: re-exported
//! from the `sam-template` crate (where `shared`'s adapter tests use it too). The same plans
//! feed the LocalStack init script ([`crate::localstack`]), so the two paths cannot drift apart.

pub use sam_template::provision::{
    ProvisionOptions, Provisioned, QueueInfo, QueuePlan, TablePlan, find_queue, provision,
    provision_with, queue_arn, queue_plans, table_plans,
};
