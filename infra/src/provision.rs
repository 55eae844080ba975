//! Creates the template's DynamoDB tables, SQS queues, caches, Cloud Map resources and secrets
//! on the local emulator: re-exported
//! from the `sam-template` crate (where `shared`'s adapter tests use it too). The same plans
//! feed the LocalStack init script ([`crate::localstack`]), so the two paths cannot drift apart.

pub use sam_template::provision::{
    Discovered, DiscoveryPlans, InstanceInfo, InstancePlan, ProvisionOptions, Provisioned,
    QueueInfo, QueuePlan, SecretInfo, TablePlan, discovery_plans, find_queue, provision,
    provision_with, queue_arn, queue_plans, table_plans,
};
