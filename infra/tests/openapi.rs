//! The OpenAPI document against the template: its operations are exactly the template's
//! `HttpApi` routes (method and path), each secured iff its route has the JWT authorizer (with
//! the route's scopes, if it names any), and the document is well-formed OpenAPI 3.1 as far as
//! cheaply checked (version, unique operation ids, path parameters declared, every `$ref`
//! resolves, every operation documents a 2xx and its error statuses).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::{BTreeMap, BTreeSet};

use devstack::gateway::Routes;
use devstack::template::Template;
use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `(METHOD, path)` -> `None` for a public operation, else its security scheme and scopes.
type Operations = BTreeMap<(String, String), Option<(String, Vec<String>)>>;

fn document() -> Value {
    devstack::openapi::document("http://127.0.0.1:3000")
}

/// `(METHOD, path)` -> the security requirement: `None` for a public route, else the scheme
/// name and its scopes.
fn template_routes() -> Operations {
    let template = Template::load(&devstack::workspace_root().join("template.yaml")).unwrap();
    let api = template.http_api().unwrap();
    let routes = Routes::from_template(&template.functions().unwrap(), api.as_ref()).unwrap();
    routes
        .all()
        .iter()
        .map(|route| {
            let (method, path) = route.route_key.split_once(' ').unwrap();
            let auth = route
                .authorizer
                .clone()
                .map(|name| (name, route.scopes.clone()));
            ((method.to_owned(), path.to_owned()), auth)
        })
        .collect()
}

fn document_operations(doc: &Value) -> Operations {
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let security = op.get("security").or_else(|| doc.get("security"));
            let requirement = security
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .find(|req| !req.is_empty())
                .map(|req| {
                    let (name, scopes) = req.iter().next().unwrap();
                    let scopes = scopes
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_owned())
                        .collect();
                    (name.clone(), scopes)
                });
            operations.insert((method.to_uppercase(), path.clone()), requirement);
        }
    }
    operations
}

#[test]
fn the_document_has_exactly_the_templates_routes_with_their_auth() {
    let routes = template_routes();
    let doc = document();

    let operations = document_operations(&doc);

    let route_keys: BTreeSet<_> = routes.keys().collect();
    let operation_keys: BTreeSet<_> = operations.keys().collect();
    assert_eq!(
        operation_keys, route_keys,
        "operations (left) vs template routes (right)"
    );
    assert_eq!(
        operations, routes,
        "auth per operation (left) vs template (right)"
    );
}

#[test]
fn every_secured_operation_names_a_declared_bearer_scheme() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();

    for ((method, path), auth) in document_operations(&doc) {
        if let Some((name, _)) = auth {
            let scheme = &schemes[&name];
            assert_eq!(scheme["type"], "http", "{method} {path}");
            assert_eq!(scheme["scheme"], "bearer", "{method} {path}");
        }
    }
}

/// Every `{"$ref": "#/..."}` in `value`, with where it was found.
fn refs<'a>(value: &'a Value, at: &str, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push((at.to_owned(), target));
            }
            for (key, child) in map {
                refs(child, &format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_and_every_ref_resolves() {
    let doc = document();
    let mut found = Vec::new();

    refs(&doc, "#", &mut found);

    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert!(!found.is_empty());
    for (at, target) in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: external $ref {target}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: $ref {target} does not resolve"
        );
    }
}

#[test]
fn every_operation_has_a_unique_id_its_path_parameters_and_its_statuses() {
    let doc = document();
    let mut ids = BTreeSet::new();

    for (path, item) in doc["paths"].as_object().unwrap() {
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "{method} {path}: duplicate {id}");
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{method} {path}"))
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, templated, "{method} {path}: path parameters");
            let statuses: BTreeSet<&str> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert!(
                statuses.iter().any(|s| s.starts_with('2')),
                "{method} {path}: no 2xx"
            );
            assert!(statuses.contains("429"), "{method} {path}: throttling");
            let secured = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
            });
            if secured {
                for status in ["401", "403"] {
                    assert!(statuses.contains(status), "{method} {path}: {status}");
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413"] {
                    assert!(statuses.contains(status), "{method} {path}: {status}");
                }
            }
        }
    }
}

#[test]
fn updates_take_if_match_and_orders_take_an_idempotency_key() {
    let doc = document();
    let header = |path: &str, method: &str, name: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["in"] == "header" && p["name"] == name)
            .cloned()
    };

    for path in ["/users/{id}", "/products/{id}"] {
        assert_eq!(
            header(path, "put", "If-Match").unwrap()["required"],
            true,
            "{path}"
        );
        assert!(doc["paths"][path]["put"]["responses"]["412"].is_object());
        assert!(doc["paths"][path]["put"]["responses"]["428"].is_object());
        assert!(doc["paths"][path]["get"]["responses"]["200"]["headers"]["ETag"].is_object());
    }
    assert_eq!(
        header("/orders", "post", "Idempotency-Key").unwrap()["required"],
        false
    );
    assert!(doc["paths"]["/orders"]["post"]["responses"]["422"].is_object());
}
