//! Route selection: the template's `HttpApi` events as a routing table, and API Gateway's rule
//! for which route answers a method and path (most specific first: exact routes before greedy
//! `{proxy+}` routes before `$default`; a method beats `ANY`).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;

use crate::template::{Function, HttpApi};

/// One route: method + path pattern → function.
#[derive(Debug, Clone)]
pub struct Route {
    /// `GET /users/{id}`, or `$default`: what the event's `routeKey` carries.
    pub route_key: String,
    method: Option<String>,
    segments: Vec<Segment>,
    /// Logical id of the function (for logs).
    pub function_id: String,
    /// Binary name, which `cargo lambda watch` uses as the function name.
    pub function: String,
    /// The function's timeout.
    pub timeout: Duration,
    /// The JWT authorizer guarding the route (`None`: public).
    pub authorizer: Option<String>,
    /// Scopes the token needs one of (empty: none).
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    Greedy(String),
}

/// A matched route with its path parameters.
#[derive(Debug)]
pub struct Matched<'a> {
    /// The route.
    pub route: &'a Route,
    /// `pathParameters` (name → percent-decoded value).
    pub params: HashMap<String, String>,
}

impl Route {
    /// Builds a route from a template method and path (`ANY` and `$default` allowed).
    pub fn new(method: &str, path: &str, function: &Function) -> Self {
        let (route_key, method, segments) = if path == "$default" {
            ("$default".to_owned(), None, Vec::new())
        } else {
            let segments = path
                .trim_start_matches('/')
                .split('/')
                .filter(|s| !s.is_empty())
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(p) => match p.strip_suffix('+') {
                            Some(g) => Segment::Greedy(g.to_owned()),
                            None => Segment::Param(p.to_owned()),
                        },
                        None => Segment::Static(s.to_owned()),
                    },
                )
                .collect();
            let m = method.to_ascii_uppercase();
            (format!("{m} {path}"), (m != "ANY").then_some(m), segments)
        };
        Self {
            route_key,
            method,
            segments,
            function_id: function.logical_id.clone(),
            function: function.binary.clone(),
            timeout: Duration::from_secs(function.timeout_secs),
            authorizer: None,
            scopes: Vec::new(),
        }
    }

    fn is_default(&self) -> bool {
        self.route_key == "$default"
    }

    /// Lower sorts first: exact before greedy before `$default`, static segments before
    /// parameters from the left, a method before `ANY`.
    fn rank(&self) -> (u8, Vec<u8>, u8) {
        let class = if self.is_default() {
            2
        } else if self
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Greedy(_)))
        {
            1
        } else {
            0
        };
        let shape = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Static(_) => 0,
                Segment::Param(_) => 1,
                Segment::Greedy(_) => 2,
            })
            .collect();
        (class, shape, u8::from(self.method.is_none()))
    }

    fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return None;
        }
        let mut params = HashMap::new();
        if self.is_default() {
            return Some(params);
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let parts: Vec<&str> = if parts == [""] { Vec::new() } else { parts };
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Static(s) => {
                    if parts.get(i) != Some(&s.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let v = parts.get(i).filter(|v| !v.is_empty())?;
                    params.insert(name.clone(), percent_decode(v));
                }
                Segment::Greedy(name) => {
                    let rest = parts.get(i..).filter(|r| !r.is_empty())?.join("/");
                    params.insert(name.clone(), percent_decode(&rest));
                    return Some(params);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }
}

/// A path segment percent-decoded as API Gateway passes path parameters (RFC 3986 §2.1: `%XX`
/// only; `+` stays `+`, it means a space only in a query string). Invalid UTF-8 becomes U+FFFD.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The routing table, from the template's functions.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// Every `HttpApi` event of every function, most specific first.
    pub fn from_functions(functions: &[Function]) -> Self {
        let mut routes: Vec<Route> = functions
            .iter()
            .flat_map(|f| {
                f.http_routes
                    .iter()
                    .map(move |r| Route::new(&r.method, &r.path, f))
            })
            .collect();
        routes.sort_by_key(Route::rank);
        Self(routes)
    }

    /// Every `HttpApi` event of every function with its authorization from `api`: the
    /// authorizer the route names, else the API's default; scopes from the route, else from
    /// the authorizer.
    ///
    /// # Errors
    /// A route names an authorizer the API does not define.
    pub fn from_template(functions: &[Function], api: Option<&HttpApi>) -> Result<Self> {
        let mut routes = Vec::new();
        for f in functions {
            for r in &f.http_routes {
                let mut route = Route::new(&r.method, &r.path, f);
                if let Some(api) = api
                    && let Some(name) = api.authorizer_of(r)?
                {
                    route.scopes = if r.scopes.is_empty() {
                        api.authorizers
                            .get(name)
                            .map(|a| a.scopes.clone())
                            .unwrap_or_default()
                    } else {
                        r.scopes.clone()
                    };
                    route.authorizer = Some(name.to_owned());
                }
                routes.push(route);
            }
        }
        routes.sort_by_key(Route::rank);
        Ok(Self(routes))
    }

    /// The routes, most specific first.
    pub fn all(&self) -> &[Route] {
        &self.0
    }

    /// The route API Gateway would pick for this request.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        self.0.iter().find_map(|route| {
            route
                .matches(method, path)
                .map(|params| Matched { route, params })
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::template::{HttpRoute, Template};

    pub(in crate::gateway) fn function(binary: &str, routes: &[(&str, &str)]) -> Function {
        Function {
            logical_id: format!("{binary}Function"),
            binary: binary.into(),
            timeout_secs: 3,
            memory_size_mb: 128,
            environment: Default::default(),
            http_routes: routes.iter().map(|(m, p)| HttpRoute::new(m, p)).collect(),
            sqs_events: vec![],
            dynamodb_events: vec![],
            log_format: None,
            application_log_level: None,
        }
    }

    pub(in crate::gateway) fn routes() -> Routes {
        Routes::from_functions(&[
            function("list", &[("GET", "/users")]),
            function("get", &[("GET", "/users/{id}")]),
            function("me", &[("GET", "/users/me")]),
            function("proxy", &[("ANY", "/files/{proxy+}")]),
            function("fallback", &[("ANY", "$default")]),
        ])
    }

    #[test]
    fn a_static_route_beats_a_path_parameter() {
        let r = routes();
        assert_eq!(r.find("GET", "/users/me").unwrap().route.function, "me");
        let m = r.find("GET", "/users/42").unwrap();
        assert_eq!(m.route.function, "get");
        assert_eq!(m.params["id"], "42");
    }

    #[test]
    fn a_greedy_variable_takes_the_rest_of_the_path() {
        let m = routes()
            .find("DELETE", "/files/a/b%20c.txt")
            .unwrap()
            .params;
        assert_eq!(m["proxy"], "a/b c.txt");
    }

    #[test]
    fn a_path_parameter_is_percent_decoded_and_a_plus_stays_a_plus() {
        let m = routes()
            .find("DELETE", "/files/C%2B%2B+notes%E2%9C%93%ff")
            .unwrap()
            .params;
        assert_eq!(m["proxy"], "C+++notes\u{2713}\u{fffd}");
    }

    #[test]
    fn the_default_route_catches_what_nothing_else_matches() {
        assert_eq!(
            routes().find("POST", "/users").unwrap().route.function,
            "fallback"
        );
        let strict = Routes::from_functions(&[function("list", &[("GET", "/users")])]);
        assert!(strict.find("POST", "/users").is_none());
        assert!(strict.find("GET", "/users/1").is_none());
        assert!(strict.find("GET", "/").is_none());
    }

    #[test]
    fn the_project_template_routes_every_http_function() {
        let t = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();
        let r = Routes::from_functions(&t.functions().unwrap());
        assert_eq!(
            r.find("POST", "/users").unwrap().route.function,
            "create-user"
        );
        assert_eq!(
            r.find("GET", "/orders/x").unwrap().route.function,
            "get-order"
        );
        assert!(r.find("GET", "/nope").is_none());
    }
}
