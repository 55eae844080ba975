//! The SAM template as devstack reads it: the typed model, the intrinsics ([`Expr`]) and their
//! resolution ([`Resolver`]) live in the `sam-template` crate (so `shared`'s tests can use them
//! without depending on devstack) and are re-exported here under their old paths.
//!
//! What devstack adds on top is checked where it builds its emulations: e.g. whether a stream
//! filter pattern uses operators devstack supports ([`crate::stack::stream_mappings`]).

pub use sam_template::events::{
    DestinationConfig, Event, Filter, FilterCriteria, OnFailure, ScalingConfig,
};
pub use sam_template::function::{Environment, FunctionProperties, LoggingConfig};
pub use sam_template::http_api::HttpApiProperties;
pub use sam_template::resources::{QueueProperties, TableProperties};
pub use sam_template::{
    DynamoDbEvent, Expr, ExprError, FUNCTION_TYPE, Function, HTTP_API_TYPE, HttpApi, HttpRoute,
    JwtAuthorizerConfig, Parameter, Physical, Properties, QUEUE_TYPE, Resolver, Resource,
    RouteAuth, SqsEvent, StartingPosition, TABLE_TYPE, Template, Throttle,
};
