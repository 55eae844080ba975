//! The document's shared parts: the error responses (components every operation refers to,
//! built by [`error_response`]) and the `Modify` impls that add the bearer scheme, make
//! parameters non-nullable and add the answers every operation shares.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{Modify, ToSchema};

use super::{BEARER, GatewayMessage};
use crate::api::ErrorBody;

fn schema_ref<T: ToSchema>() -> RefOr<utoipa::openapi::schema::Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// A JSON response whose body is the functions' [`ErrorBody`], API Gateway's
/// [`GatewayMessage`], or either (`oneOf`), with a `Retry-After` header when `retry`.
fn error_response(description: &str, function: bool, gateway: bool, retry: bool) -> Response {
    let schema: RefOr<utoipa::openapi::schema::Schema> = match (function, gateway) {
        (true, true) => OneOfBuilder::new()
            .item(schema_ref::<ErrorBody>())
            .item(schema_ref::<GatewayMessage>())
            .into(),
        (false, true) => schema_ref::<GatewayMessage>(),
        _ => schema_ref::<ErrorBody>(),
    };
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    );
    if retry {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some(
                    "Seconds to wait before retrying (RFC 9110 §10.2.3); sent by the functions",
                ))
                .build(),
        );
    }
    response.build()
}

macro_rules! error_responses {
    ($($name:ident = $description:literal, function: $function:literal, gateway: $gateway:literal, retry: $retry:literal;)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), error_response($description, $function, $gateway, $retry).into())
                }
            }
        )*
    };
}

error_responses! {
    BadRequest = "`VALIDATION_ERROR`: a bad path parameter, query, header or body; `details` names every rejected field", function: true, gateway: false, retry: false;
    Unauthorized = "No valid bearer token: the JWT authorizer refused the request (`WWW-Authenticate: Bearer`)", function: true, gateway: true, retry: false;
    Forbidden = "`FORBIDDEN`: the caller's role (`cognito:groups`) may not do this", function: true, gateway: true, retry: false;
    NotFound = "`NOT_FOUND`: no such resource (or, for a customer, not theirs)", function: true, gateway: false, retry: false;
    Conflict = "`CONFLICT`: the request contradicts the resource's state", function: true, gateway: false, retry: false;
    PreconditionFailed = "`PRECONDITION_FAILED`: `If-Match` names a version that is no longer current; GET it again", function: true, gateway: false, retry: false;
    PayloadTooLarge = "`PAYLOAD_TOO_LARGE`: the body is over 64 KiB (the function) or 10 MB (the gateway)", function: true, gateway: true, retry: false;
    IdempotencyKeyReused = "`IDEMPOTENCY_KEY_REUSED`: this `Idempotency-Key` was used with another body", function: true, gateway: false, retry: false;
    PreconditionRequired = "`PRECONDITION_REQUIRED`: an update needs `If-Match` (the `ETag` of a GET, or `*`)", function: true, gateway: false, retry: false;
    TooManyRequests = "Throttled by the route's rate limit (`{\"message\":\"Too Many Requests\"}`)", function: false, gateway: true, retry: false;
    InternalError = "`INTERNAL_ERROR`: opaque; the cause is in the log", function: true, gateway: false, retry: false;
    ServiceUnavailable = "`SERVICE_UNAVAILABLE`: a dependency is down or throttled; retry after `Retry-After` seconds", function: true, gateway: true, retry: true;
}

/// Adds the bearer scheme and the shared headers' descriptions.
pub(super) struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT from the Cognito user pool (locally: `devstack token --sub <id> \
                         --groups admin|customer`). Roles come from `cognito:groups`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Makes every optional parameter a plain (non-nullable) schema.
///
/// utoipa renders an `Option<String>` header parameter as `type: ["string","null"]`, but an
/// HTTP header or query value is always a string: an absent parameter is expressed by
/// `required: false`, never by a JSON `null` (OpenAPI 3.1 §4.8.12: parameters are serialized
/// strings; schemathesis would send the header `If-Match: null`).
pub(super) struct NonNullableParameters;

impl Modify for NonNullableParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let parameters = operations_mut(openapi)
            .filter_map(|operation| operation.parameters.as_mut())
            .flatten();
        for parameter in parameters {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut()
                && let SchemaType::Array(types) = &object.schema_type
            {
                let types: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                object.schema_type = match types.as_slice() {
                    [single] => SchemaType::Type(single.clone()),
                    _ => SchemaType::Array(types),
                };
            }
        }
    }
}

/// Every operation of the document (the methods this API uses).
fn operations_mut(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
    })
}

/// Adds the answers every operation shares, where the operation does not document its own:
/// `429` (the gateway's throttling) everywhere; `401` and `403` (the JWT authorizer and the
/// roles) on every secured operation; `400`, `500` and `503` on every operation that runs a
/// function touching a dependency (all but the `health` tag's).
pub(super) struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let shared = |name: &str| RefOr::Ref(Ref::from_response_name(name));
        for operation in operations_mut(openapi) {
            let secured = operation.security.iter().flatten().any(|requirement| {
                serde_json::to_value(requirement)
                    .is_ok_and(|v| v.as_object().is_some_and(|o| o.contains_key(BEARER)))
            });
            let health = operation
                .tags
                .iter()
                .flatten()
                .any(|tag| tag.as_str() == "health");
            let mut common = vec![("429", "TooManyRequests")];
            if secured {
                common.extend([("401", "Unauthorized"), ("403", "Forbidden")]);
            }
            if !health {
                common.extend([
                    ("400", "BadRequest"),
                    ("500", "InternalError"),
                    ("503", "ServiceUnavailable"),
                ]);
            }
            let responses = &mut operation.responses.responses;
            for (status, name) in common {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| shared(name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_name_their_schemas() {
        let (name, response) = <ServiceUnavailable as utoipa::ToResponse>::response();
        let json = serde_json::to_value(response).unwrap();

        assert_eq!(name, "ServiceUnavailable");
        assert!(json["headers"]["Retry-After"].is_object());
    }
}
