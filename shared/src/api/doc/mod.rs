//! The OpenAPI 3.1 document of the public API (feature `openapi`), generated with utoipa from
//! the request and response types of [`crate::api`] and the domain.
//!
//! One `#[utoipa::path]` per route of template.yaml's `HttpApi` events: method, path, auth
//! (the `CognitoJwt` bearer scheme, or none for the public routes), parameters, body, and
//! every status the handler documents (the answers all operations share are added by one
//! modifier, [`CommonResponses`]). Error answers are shared response components: the
//! functions' own `{"error":{...}}` ([`ErrorBody`]), and API Gateway's `{"message":"..."}`
//! ([`GatewayMessage`]) for what the gateway answers before a function runs (401 from the JWT
//! authorizer, 429 from throttling, 413 over 10 MB, 503 on a function timeout).

mod modifiers;
mod paths;
mod schemas;

use utoipa::{OpenApi, ToSchema};

use super::ErrorBody;
use crate::domain::{Order, Product, User};
use crate::ports::Page;
use modifiers::{
    BadRequest, CommonResponses, Conflict, Forbidden, IdempotencyKeyReused, InternalError,
    NonNullableParameters, NotFound, PayloadTooLarge, PreconditionFailed, PreconditionRequired,
    Security, ServiceUnavailable, TooManyRequests, Unauthorized,
};
pub use schemas::{category, email, product_description, product_name, stock_delta, user_name};

/// The name of the security scheme: the template's JWT authorizer (`CognitoJwt`, a bearer
/// token from the Cognito user pool; the `cognito:groups` claim carries the roles `admin` and
/// `customer`).
pub const BEARER: &str = "CognitoJwt";

/// The document: [`ApiDoc::openapi`] with its security scheme.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// API Gateway's own error body, `{"message":"Unauthorized"}`: what the gateway answers before
/// (or instead of) the function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayMessage {
    /// e.g. `Unauthorized`, `Forbidden`, `Too Many Requests`, `Service Unavailable`.
    pub message: String,
}

/// The derive that gathers the paths and components; use [`openapi()`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "shop",
        description = "The shop's public HTTP API (API Gateway HTTP API → Lambda). Every error \
            from a function is `{\"error\":{\"code\",\"message\",\"details\"?}}`; the gateway's \
            own are `{\"message\"}`. Updates use optimistic locking: send the `ETag` of a GET \
            back as `If-Match`. Lists are pages `{\"items\":[...],\"next\":<cursor>|null}`: \
            pass `next` back as `cursor`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        paths::health, paths::readiness,
        paths::create_user, paths::get_user, paths::list_users, paths::update_user,
        paths::delete_user,
        paths::create_product, paths::get_product, paths::list_products, paths::update_product,
        paths::delete_product, paths::adjust_stock,
        paths::create_order, paths::get_order, paths::list_orders, paths::update_order_status,
        paths::cancel_order,
    ),
    components(
        schemas(ErrorBody, GatewayMessage, Page<User>, Page<Product>, Page<Order>),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
            PayloadTooLarge, IdempotencyKeyReused, PreconditionRequired, TooManyRequests,
            InternalError, ServiceUnavailable,
        ),
    ),
    modifiers(&Security, &NonNullableParameters, &CommonResponses),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "users", description = "Users (customers and admins)"),
        (name = "products", description = "The catalog (public reads) and its stock"),
        (name = "orders", description = "Orders and their saga"),
    ),
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_bearer_scheme() {
        let doc = serde_json::to_value(openapi()).unwrap();

        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, 18);
    }

    #[test]
    fn every_operation_has_the_shared_answers_and_its_own_503_wins() {
        let doc = serde_json::to_value(openapi()).unwrap();

        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let secured = operation["security"][0].get(BEARER).is_some();
                let mut expected = vec!["429"];
                if secured {
                    expected.extend(["401", "403"]);
                }
                if !path.starts_with("/health") {
                    expected.extend(["400", "500", "503"]);
                }
                for status in expected {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
                assert_eq!(secured, responses.contains_key("401"), "{method} {path}");
            }
        }
        // /health/ready documents its own 503 (the report), which the shared one must not replace.
        let ready = &doc["paths"]["/health/ready"]["get"]["responses"]["503"];
        assert!(ready.get("$ref").is_none(), "{ready}");
        assert!(
            doc["paths"]["/health"]["get"]["responses"]
                .get("500")
                .is_none()
        );
    }

    #[test]
    fn no_parameter_is_nullable() {
        let doc = serde_json::to_value(openapi()).unwrap();

        let mut seen = 0;
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    seen += 1;
                    assert!(
                        !parameter["schema"]["type"].is_array(),
                        "{parameter} has a nullable schema"
                    );
                }
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn every_cursor_parameter_is_bounded_like_the_domain_cursor() {
        let doc = serde_json::to_value(openapi()).unwrap();

        for path in ["/users", "/products", "/orders"] {
            let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let cursor = parameters.iter().find(|p| p["name"] == "cursor").unwrap();
            assert_eq!(
                cursor["schema"]["maxLength"],
                crate::ports::Cursor::MAX_LEN,
                "{path}"
            );
            assert_eq!(cursor["schema"]["pattern"], "^[A-Za-z0-9_-]*$", "{path}");
        }
    }
}
