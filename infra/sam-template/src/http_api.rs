//! `AWS::Serverless::HttpApi` as serde types, and the view the gateway needs: JWT authorizers,
//! the default authorizer and route throttling.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_norway::Value;

use crate::de::opt;
use crate::events::{HttpRoute, RouteAuth};
use crate::expr::Expr;

/// The `Properties` of an HTTP API as written (what devstack reads of them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpApiProperties {
    /// `Auth`.
    pub auth: Option<ApiAuth>,
    /// `DefaultRouteSettings`.
    pub default_route_settings: Option<Throttle>,
    /// `RouteSettings` by route key (`GET /health`).
    #[serde(default)]
    pub route_settings: IndexMap<String, Throttle>,
}

/// `Auth` of an HTTP API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiAuth {
    /// `DefaultAuthorizer`.
    pub default_authorizer: Option<String>,
    /// `Authorizers` by name.
    #[serde(default)]
    pub authorizers: IndexMap<String, AuthorizerProperties>,
}

/// One of `Auth.Authorizers`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthorizerProperties {
    /// `IdentitySource`.
    pub identity_source: Option<String>,
    /// `AuthorizationScopes`.
    #[serde(default)]
    pub authorization_scopes: Vec<String>,
    /// `JwtConfiguration` (absent for a Lambda authorizer).
    pub jwt_configuration: Option<JwtConfiguration>,
}

/// `JwtConfiguration` of an authorizer (lower-case keys, as SAM spells them).
#[derive(Debug, Clone, Deserialize)]
pub struct JwtConfiguration {
    /// `issuer` (required).
    pub issuer: Expr,
    /// `audience`: one expression or a list of them.
    #[serde(default, deserialize_with = "one_or_many")]
    pub audience: Vec<Expr>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Expr>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .into_iter()
            .map(|v| Expr::try_from(v).map_err(serde::de::Error::custom))
            .collect(),
        one => Ok(vec![Expr::try_from(one).map_err(serde::de::Error::custom)?]),
    }
}

/// The template's `AWS::Serverless::HttpApi`: authorizers and throttling.
#[derive(Debug, Clone, Default)]
pub struct HttpApi {
    /// Logical id, e.g. `HttpApi`.
    pub logical_id: String,
    /// `Auth.Authorizers` by name (JWT authorizers only).
    pub authorizers: BTreeMap<String, JwtAuthorizerConfig>,
    /// `Auth.DefaultAuthorizer`: guards every route that does not say otherwise.
    pub default_authorizer: Option<String>,
    /// `DefaultRouteSettings` throttling: every route's own token bucket.
    pub default_throttle: Throttle,
    /// `RouteSettings` throttling by route key (`GET /health`), over the defaults.
    pub route_throttles: BTreeMap<String, Throttle>,
}

/// A JWT authorizer of the API (`Auth.Authorizers.<name>` with a `JwtConfiguration`).
#[derive(Debug, Clone, PartialEq)]
pub struct JwtAuthorizerConfig {
    /// `IdentitySource`, e.g. `$request.header.Authorization`.
    pub identity_source: String,
    /// `JwtConfiguration.issuer` (an expression, unresolved).
    pub issuer: Expr,
    /// `JwtConfiguration.audience` entries (expressions, unresolved).
    pub audience: Vec<Expr>,
    /// `AuthorizationScopes`: scopes every route of this authorizer needs unless the route
    /// gives its own.
    pub scopes: Vec<String>,
}

/// A route's throttling (`ThrottlingRateLimit`, `ThrottlingBurstLimit` of route settings): a
/// token bucket refilled at `rate_per_sec` holding at most `burst` requests. `None` is
/// unlimited (locally; in AWS the account's quota applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
pub struct Throttle {
    /// `ThrottlingRateLimit`: steady-state requests per second.
    #[serde(rename = "ThrottlingRateLimit", default, deserialize_with = "opt")]
    pub rate_per_sec: Option<f64>,
    /// `ThrottlingBurstLimit`: requests allowed at once.
    #[serde(rename = "ThrottlingBurstLimit", default, deserialize_with = "opt")]
    pub burst: Option<u32>,
}

impl Throttle {
    /// `self`'s values where set, else `fallback`'s.
    pub fn or(self, fallback: Throttle) -> Throttle {
        Throttle {
            rate_per_sec: self.rate_per_sec.or(fallback.rate_per_sec),
            burst: self.burst.or(fallback.burst),
        }
    }
}

impl HttpApi {
    /// The API `logical_id` with `props`.
    ///
    /// # Errors
    /// An authorizer that is not a JWT authorizer (devstack emulates JWT authorizers only).
    pub fn new(logical_id: &str, props: &HttpApiProperties) -> Result<Self> {
        let auth = props.auth.clone().unwrap_or_default();
        let mut authorizers = BTreeMap::new();
        for (name, a) in auth.authorizers {
            let jwt = a.jwt_configuration.ok_or_else(|| {
                anyhow!("authorizer {name}: devstack emulates JWT authorizers only (no JwtConfiguration)")
            })?;
            authorizers.insert(
                name,
                JwtAuthorizerConfig {
                    identity_source: a
                        .identity_source
                        .unwrap_or_else(|| "$request.header.Authorization".to_owned()),
                    issuer: jwt.issuer,
                    audience: jwt.audience,
                    scopes: a.authorization_scopes,
                },
            );
        }
        Ok(HttpApi {
            logical_id: logical_id.to_owned(),
            authorizers,
            default_authorizer: auth.default_authorizer,
            default_throttle: props.default_route_settings.unwrap_or_default(),
            route_throttles: props
                .route_settings
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        })
    }

    /// The name of the authorizer guarding `route`, or `None` for a public route.
    ///
    /// # Errors
    /// The route or the API names an authorizer the API does not define.
    pub fn authorizer_of<'a>(&'a self, route: &'a HttpRoute) -> Result<Option<&'a str>> {
        let name = match &route.auth {
            RouteAuth::Public => return Ok(None),
            RouteAuth::Named(name) => Some(name.as_str()),
            RouteAuth::ApiDefault => self.default_authorizer.as_deref(),
        };
        match name {
            Some(n) if !self.authorizers.contains_key(n) => bail!(
                "route {} uses authorizer {n}, which {} does not define",
                route.route_key(),
                self.logical_id
            ),
            other => Ok(other),
        }
    }

    /// The throttling of the route with key `route_key`: its `RouteSettings` over the
    /// `DefaultRouteSettings`.
    pub fn throttle(&self, route_key: &str) -> Throttle {
        self.route_throttles
            .get(route_key)
            .copied()
            .unwrap_or_default()
            .or(self.default_throttle)
    }
}
