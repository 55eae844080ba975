//! The SAM template as this project reads it, and the provisioning of its tables and queues on
//! an AWS API emulator.
//!
//! - [`Template`]: `Resources` typed by `Type` (functions with their events, tables, queues, the
//!   HTTP API), `Parameters` defaults and `Globals.Function`, checked at load.
//! - [`Expr`]: the intrinsics (`!Ref`, `!GetAtt`, `!Sub`, `!Join`, `!Select`) in short or long
//!   form; [`Resolver`] resolves them against local names.
//! - [`provision`]: creates the tables and queues under a prefix; [`aws::sdk_config`] reaches
//!   the emulator.
//!
//! It depends on neither `devstack` nor `shared`, so both (and `shared`'s adapter tests) can use
//! it without a dependency cycle. Nothing here restates the template: every route, queue and
//! variable comes from the file.

pub mod aws;
mod de;
pub mod events;
pub mod expr;
pub mod function;
pub mod http_api;
pub mod provision;
pub mod resolve;
pub mod resources;
pub mod template;

pub use events::{DynamoDbEvent, HttpRoute, RouteAuth, SqsEvent, StartingPosition};
pub use expr::{Expr, ExprError};
pub use function::Function;
pub use http_api::{HttpApi, JwtAuthorizerConfig, Throttle};
pub use resolve::{Physical, Resolver};
pub use template::{
    FUNCTION_TYPE, HTTP_API_TYPE, Parameter, Properties, QUEUE_TYPE, Resource, TABLE_TYPE, Template,
};

#[cfg(test)]
mod tests;
