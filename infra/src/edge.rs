//! The API's edge as `devstack up` runs it: the template's JWT authorizers pointed at the local
//! identity provider, the route throttling, the identity provider's documents, the self-signed
//! TLS certificate, and tokens for a running stack (`devstack token`).
//!
//! Locally the identity provider replaces the Amazon Cognito user pool the way the emulator
//! replaces DynamoDB: every JWT authorizer of the template trusts the local issuer
//! (`http(s)://127.0.0.1:<gateway port>`) instead of its configured one. An audience that is a
//! template parameter without a value (`JwtAudience`, the app client id in the cloud) becomes
//! [`LOCAL_CLIENT_ID`]; a literal audience is kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use crate::authorizer::JwtAuthorizer;
use crate::gateway::Routes;
use crate::idp::{DISCOVERY_PATH, Idp, JWKS_PATH, TokenRequest};
use crate::template::{HttpApi, Resolver, Template};
use crate::throttle::Throttles;

/// The app client id local tokens carry (`client_id`, `aud`) when the template's audience is
/// a parameter without a value.
pub const LOCAL_CLIENT_ID: &str = "shop-local";

/// What the gateway needs to guard the API.
#[derive(Debug)]
pub struct Edge {
    /// The local identity provider.
    pub idp: Idp,
    /// The template's JWT authorizers, trusting `idp`.
    pub authorizers: BTreeMap<String, JwtAuthorizer>,
    /// One token bucket per route.
    pub throttles: Throttles,
    /// The documents the gateway serves: discovery document and JWKS, by path.
    pub documents: BTreeMap<String, Value>,
}

/// Where the identity provider keeps its key: `<state dir>/idp`.
pub fn idp_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("idp")
}

/// The edge for `routes` of `template`'s HTTP API, with the identity provider of `state_dir`
/// (its key is created on first use) issuing as `issuer`.
///
/// # Errors
/// An audience does not resolve, or the identity provider's key cannot be read or created.
pub fn build(
    template: &Template,
    api: Option<&HttpApi>,
    routes: &Routes,
    state_dir: &Path,
    issuer: &str,
) -> Result<Edge> {
    let audiences = local_audiences(template, api)?;
    let client_id = api
        .and_then(|a| a.default_authorizer.as_ref())
        .and_then(|name| audiences.get(name))
        .or_else(|| audiences.values().next())
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| LOCAL_CLIENT_ID.to_owned());
    let idp = Idp::load_or_create(&idp_dir(state_dir), issuer, client_id)?;
    let authorizers = audiences
        .into_iter()
        .map(|(name, audience)| {
            let authorizer = JwtAuthorizer::new(name.clone(), issuer, audience, idp.jwks().clone());
            (name, authorizer)
        })
        .collect();
    let mut throttles = Throttles::none();
    if let Some(api) = api {
        for route in routes.all() {
            throttles.insert(&route.route_key, api.throttle(&route.route_key));
        }
    }
    let documents = BTreeMap::from([
        (DISCOVERY_PATH.to_owned(), idp.discovery()),
        (
            JWKS_PATH.to_owned(),
            serde_json::to_value(idp.jwks()).context("serialising the JWKS")?,
        ),
    ]);
    Ok(Edge {
        idp,
        authorizers,
        throttles,
        documents,
    })
}

/// Each JWT authorizer's audiences as they apply locally.
///
/// # Errors
/// An audience expression that is neither a literal, a resolvable expression, nor a `Ref` to
/// a parameter.
pub fn local_audiences(
    template: &Template,
    api: Option<&HttpApi>,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut resolver = Resolver::new(template, "us-east-1", crate::aws::ACCOUNT_ID, "local");
    let mut out = BTreeMap::new();
    for (name, config) in api.map(|a| &a.authorizers).into_iter().flatten() {
        let mut audience = Vec::new();
        for expression in &config.audience {
            let value = match resolver.string(expression) {
                Ok(v) => v,
                Err(e) => {
                    let parameter = expression
                        .as_ref_name()
                        .filter(|p| template.resource(p).is_none())
                        .ok_or_else(|| {
                            anyhow!("authorizer {name}: audience {expression:?}: {e}")
                        })?;
                    resolver
                        .parameters
                        .insert(parameter.to_owned(), LOCAL_CLIENT_ID.to_owned());
                    LOCAL_CLIENT_ID.to_owned()
                }
            };
            audience.push(value);
        }
        out.insert(name.clone(), audience);
    }
    Ok(out)
}

/// The gateway's self-signed certificate and its key (PEM), for `localhost` and `127.0.0.1`:
/// created once under `<state dir>/tls/` (`cert.pem`, `key.pem`) and reused, so a client can
/// trust it once (`curl --cacert .devstack/tls/cert.pem`).
///
/// The pair is written to a fresh folder that is then renamed to `tls/` in one step: two
/// stacks starting at once both end up with the same certificate and its own key.
///
/// # Errors
/// The files cannot be read or written, or the certificate cannot be generated.
pub fn tls_certificate(state_dir: &Path) -> Result<(PathBuf, Vec<u8>, Vec<u8>)> {
    let dir = state_dir.join("tls");
    if let Some(pair) = read_certificate(&dir) {
        return Ok(pair);
    }
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .context("generating the self-signed certificate")?;
    let staging = state_dir.join(format!(".tls-{}.tmp", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let written = crate::idp::write_new_private(
        &staging.join("key.pem"),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .and_then(|()| {
        std::fs::write(staging.join("cert.pem"), certified.cert.pem())
            .with_context(|| format!("writing {}", staging.display()))
    });
    let published = written.and_then(|()| match std::fs::rename(&staging, &dir) {
        Ok(()) => Ok(()),
        // Another stack published its pair first: use that one.
        Err(_) if read_certificate(&dir).is_some() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("moving the certificate to {}", dir.display())),
    });
    // Gone after a successful rename; a failure to remove it leaves a stray folder only.
    let _ = std::fs::remove_dir_all(&staging);
    published?;
    read_certificate(&dir).ok_or_else(|| anyhow!("{} has no cert.pem and key.pem", dir.display()))
}

/// `(cert path, cert, key)` from `dir`, when both files are there.
fn read_certificate(dir: &Path) -> Option<(PathBuf, Vec<u8>, Vec<u8>)> {
    let cert_path = dir.join("cert.pem");
    let cert = std::fs::read(&cert_path).ok()?;
    let key = std::fs::read(dir.join("key.pem")).ok()?;
    Some((cert_path, cert, key))
}

/// A token from the identity provider of the running stack `stack` (see [`stack_idp`]).
///
/// # Errors
/// The stack is not running (no ready file), or the key cannot be read.
pub fn token(state_dir: &Path, stack: &str, request: &TokenRequest) -> Result<String> {
    stack_idp(state_dir, stack)?.mint(request)
}

/// The identity provider of the running stack `stack`: its issuer and client id are in
/// `<state dir>/ready-<stack>.json`, its key in `<state dir>/idp`.
///
/// # Errors
/// The stack is not running (no ready file), or the key cannot be read.
pub fn stack_idp(state_dir: &Path, stack: &str) -> Result<Idp> {
    let ready_file = state_dir.join(format!("ready-{stack}.json"));
    let ready: Value = std::fs::read(&ready_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            anyhow!(
                "stack {stack} is not running ({} is missing): start it with `make dev`",
                ready_file.display()
            )
        })?;
    let field = |name: &str| {
        ready[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{} has no {name}", ready_file.display()))
    };
    Idp::load_or_create(&idp_dir(state_dir), field("issuer")?, field("client_id")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_template_audience_becomes_the_local_client_id() {
        let t = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();
        let api = t.http_api().unwrap();

        let audiences = local_audiences(&t, api.as_ref()).unwrap();

        assert_eq!(audiences["CognitoJwt"], [LOCAL_CLIENT_ID]);
    }

    #[test]
    fn a_literal_audience_is_kept() {
        let t = Template::parse(
            "Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      Auth:\n        Authorizers:\n          A: { JwtConfiguration: { issuer: https://x, audience: [app-1] } }\n",
        )
        .unwrap();

        let audiences = local_audiences(&t, t.http_api().unwrap().as_ref()).unwrap();

        assert_eq!(audiences["A"], ["app-1"]);
    }

    #[test]
    fn two_stacks_creating_the_certificate_at_once_get_the_same_pair() {
        let dir = std::env::temp_dir().join(format!("edge-race-{}", uuid::Uuid::new_v4()));

        let pairs: Vec<_> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| tls_certificate(&dir).unwrap()))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });

        assert!(pairs.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "only tls/ is left"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_certificate_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("edge-test-{}", uuid::Uuid::new_v4()));

        let (_, first, _) = tls_certificate(&dir).unwrap();
        let (path, again, key) = tls_certificate(&dir).unwrap();

        assert_eq!(first, again);
        assert!(String::from_utf8(key).unwrap().contains("PRIVATE KEY"));
        assert!(path.ends_with("tls/cert.pem"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
