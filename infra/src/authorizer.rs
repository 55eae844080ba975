//! API Gateway HTTP API JWT authorizer, emulated: the bearer token of the `Authorization`
//! header is checked the way API Gateway documents it, and the verified claims are shaped as
//! API Gateway passes them to the function (`requestContext.authorizer.jwt`, payload v2.0).
//! See <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html>.
//!
//! A request is let through when:
//! - the `Authorization` header is `Bearer <token>` (scheme case-insensitive, one space), the
//!   token at most [`MAX_TOKEN_BYTES`] long;
//! - the token is a JWS signed with RS256, RS384 or RS512 (never `none`, never HMAC: a public
//!   key is no secret) by the key its `kid` names in the issuer's JWKS;
//! - `iss` is the configured issuer, exactly;
//! - `aud`, or when the token has no `aud` its `client_id`, is one of the configured audiences;
//! - `exp` is present and after now, `nbf` (when present) and `iat` (when present) before now,
//!   each with [`LEEWAY_SECS`] of clock skew allowed;
//! - when the route has authorization scopes, the token's `scope` (space-separated) or `scp`
//!   includes at least one of them.
//!
//! Any failure is a [`Denied`]: the client gets 401 `{"message":"Unauthorized"}`, or 403
//! `{"message":"Forbidden"}` for a valid token without a required scope; the reason is for the
//! log only.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use http::{HeaderValue, StatusCode};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Clock skew allowed, in seconds, when checking `exp` (a token expired less than this long
/// ago is still accepted), `nbf` and `iat` (a token valid or issued less than this far in the
/// future is accepted). API Gateway does not document its own allowance; 60 s is the common
/// default (and `jsonwebtoken`'s).
pub const LEEWAY_SECS: u64 = 60;

/// Longest token accepted, in bytes. API Gateway limits the size of request headers; a longer
/// token is refused before it is parsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The signing algorithms a token may use: RSA PKCS#1 v1.5 only, as API Gateway.
pub const SUPPORTED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

/// Longest excerpt of client-supplied text (a `kid`, an `alg`, a parse error) kept in a
/// [`Denied`] reason, in characters.
const EXCERPT_CHARS: usize = 80;

/// One JWT authorizer of an HTTP API: an issuer, the audiences it accepts, and the issuer's
/// public keys by `kid`.
#[derive(Debug, Clone)]
pub struct JwtAuthorizer {
    name: String,
    issuer: String,
    audiences: Vec<String>,
    keys: BTreeMap<String, VerificationKey>,
}

#[derive(Debug, Clone)]
struct VerificationKey {
    key: DecodingKey,
    /// The key's `alg` in the JWKS, when it names one: tokens must then use that algorithm.
    alg: Option<Algorithm>,
}

/// A request the authorizer let through: what the function receives in
/// `requestContext.authorizer.jwt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The token's claims, every value flattened to a string the way API Gateway does it:
    /// strings as they are, numbers and booleans as their JSON text (`"exp": "1700000000"`),
    /// arrays as their items between brackets, separated by spaces
    /// (`"cognito:groups": "[admin customer]"`), objects and `null` as their JSON text.
    pub claims: Map<String, Value>,
    /// The token's scopes (`scope` split on spaces, and `scp`), in order, without duplicates;
    /// empty when the token has none.
    pub scopes: Vec<String>,
}

/// Why a request was not let through. [`Display`](fmt::Display) gives the reason for the log;
/// the client only ever sees [`Denied::status`] and [`Denied::message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization` header, or an empty one.
    MissingToken,
    /// The header is not `Bearer <token>` (another scheme, a raw token, extra spaces or
    /// parts, characters that are not visible ASCII).
    NotBearer,
    /// `Bearer` with no token after it.
    EmptyToken,
    /// The token (or the whole header) is longer than [`MAX_TOKEN_BYTES`]; its size in bytes.
    TooLarge(usize),
    /// Not a JWS in compact form: not three segments, not base64url, not JSON, a time claim
    /// that is not a number. The detail is an excerpt for the log.
    Malformed(String),
    /// The header's `alg` is not one of [`SUPPORTED_ALGORITHMS`] (`none`, `HS256`...), or not
    /// the one the key is for.
    UnsupportedAlgorithm(String),
    /// The header has no `kid`.
    MissingKeyId,
    /// The `kid` names no signing key of the issuer's JWKS (an excerpt of it).
    UnknownKey(String),
    /// The signature does not verify with the key the `kid` names.
    BadSignature,
    /// A claim that must be present is not (`exp`, `iss`).
    MissingClaim(String),
    /// `exp` is more than [`LEEWAY_SECS`] in the past.
    Expired,
    /// `nbf` is more than [`LEEWAY_SECS`] in the future.
    NotYetValid,
    /// `iat` is more than [`LEEWAY_SECS`] in the future.
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` (or, without `aud`, `client_id`) is missing or none of the configured audiences.
    WrongAudience,
    /// A valid token without any of the route's authorization scopes (403, not 401).
    MissingScope,
}

impl Denied {
    /// The status API Gateway answers with: 403 for [`Denied::MissingScope`], else 401.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingScope => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `message` of API Gateway's answer body (`{"message":"Unauthorized"}`,
    /// `{"message":"Forbidden"}`).
    pub fn message(&self) -> &'static str {
        match self {
            Self::MissingScope => "Forbidden",
            _ => "Unauthorized",
        }
    }

    /// The `WWW-Authenticate` challenge of the answer (RFC 6750 §3): no error code when the
    /// request had no credentials, `invalid_token` for a bad one, `insufficient_scope` for a
    /// missing scope. The reason itself stays in the log.
    pub fn challenge(&self) -> &'static str {
        match self {
            Self::MissingToken | Self::NotBearer => "Bearer",
            Self::MissingScope => r#"Bearer error="insufficient_scope""#,
            _ => r#"Bearer error="invalid_token""#,
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingToken => f.write_str("no bearer token: the Authorization header is missing"),
            Self::NotBearer => f.write_str("the Authorization header is not `Bearer <token>`"),
            Self::EmptyToken => f.write_str("the bearer token is empty"),
            Self::TooLarge(bytes) => {
                write!(f, "the token is {bytes} bytes, over the {MAX_TOKEN_BYTES}-byte limit")
            }
            Self::Malformed(detail) => write!(f, "malformed token: {detail}"),
            Self::UnsupportedAlgorithm(alg) => {
                write!(f, "unsupported signing algorithm {alg} (RS256, RS384 or RS512 only)")
            }
            Self::MissingKeyId => f.write_str("the token header has no kid"),
            Self::UnknownKey(kid) => write!(f, "kid {kid} is not a signing key of the issuer"),
            Self::BadSignature => f.write_str("the signature does not verify"),
            Self::MissingClaim(claim) => write!(f, "the token has no {claim} claim"),
            Self::Expired => f.write_str("the token has expired (exp)"),
            Self::NotYetValid => f.write_str("the token is not valid yet (nbf)"),
            Self::IssuedInFuture => f.write_str("the token was issued in the future (iat)"),
            Self::WrongIssuer => f.write_str("the token's iss is not the authorizer's issuer"),
            Self::WrongAudience => f.write_str(
                "the token's aud (or, without aud, client_id) is not one of the authorizer's audiences",
            ),
            Self::MissingScope => f.write_str("the token has none of the route's scopes"),
        }
    }
}

impl std::error::Error for Denied {}

impl Authorized {
    /// `requestContext.authorizer` of a payload v2.0 event:
    /// `{"jwt":{"claims":{...},"scopes":[...]}}`, without `scopes` when the token has none.
    pub fn to_context(&self) -> ApiGatewayRequestAuthorizer {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = self
            .claims
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect();
        jwt.scopes = (!self.scopes.is_empty()).then(|| self.scopes.clone());
        let mut context = ApiGatewayRequestAuthorizer::default();
        context.jwt = Some(jwt);
        context
    }
}

impl JwtAuthorizer {
    /// The authorizer `name` trusting tokens of `issuer` (compared with `iss` exactly) for any
    /// of `audiences`, signed by a key of `jwks`.
    ///
    /// Only usable keys of `jwks` are kept: RSA keys with a `kid`, not marked for another use
    /// than signatures, whose `alg` (when given) is one of [`SUPPORTED_ALGORITHMS`]; the first
    /// key wins when two share a `kid`. An authorizer without audiences denies every token.
    pub fn new(
        name: impl Into<String>,
        issuer: impl Into<String>,
        audiences: Vec<String>,
        jwks: JwkSet,
    ) -> Self {
        let mut keys = BTreeMap::new();
        for jwk in &jwks.keys {
            let Some(kid) = &jwk.common.key_id else {
                continue;
            };
            if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
                || jwk
                    .common
                    .public_key_use
                    .as_ref()
                    .is_some_and(|u| *u != PublicKeyUse::Signature)
            {
                continue;
            }
            let alg = match jwk.common.key_algorithm.map(Algorithm::try_from) {
                None => None,
                Some(Ok(alg)) if SUPPORTED_ALGORITHMS.contains(&alg) => Some(alg),
                Some(_) => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            keys.entry(kid.clone())
                .or_insert(VerificationKey { key, alg });
        }
        Self {
            name: name.into(),
            issuer: issuer.into(),
            audiences,
            keys,
        }
    }

    /// The authorizer's name in the template.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The issuer tokens must name in `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences a token's `aud` (or `client_id`) may name.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The `kid`s of the usable keys, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Checks the `Authorization` header of a request to a route requiring one of
    /// `required_scopes` (none: any valid token), at the current time.
    ///
    /// # Errors
    /// [`Denied`] naming the first check that failed (see the module documentation for the
    /// order and the rules).
    pub fn authorize(
        &self,
        authorization: Option<&HeaderValue>,
        required_scopes: &[String],
    ) -> Result<Authorized, Denied> {
        let token = bearer_token(authorization)?;
        let claims = self.verify(token)?;
        let scopes = token_scopes(&claims);
        if !required_scopes.is_empty() && !required_scopes.iter().any(|s| scopes.contains(s)) {
            return Err(Denied::MissingScope);
        }
        Ok(Authorized {
            claims: claims
                .iter()
                .map(|(name, value)| (name.clone(), Value::String(flatten(value))))
                .collect(),
            scopes,
        })
    }

    /// The claims of `token` once its signature, issuer, audience and lifetime are checked.
    fn verify(&self, token: &str) -> Result<Map<String, Value>, Denied> {
        if token.split('.').count() != 3 {
            return Err(Denied::Malformed(
                "a JWS has three dot-separated segments".into(),
            ));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            // `alg: none` and other algorithms jsonwebtoken has no name for fail to parse:
            // name them in the reason.
            match declared_alg(token) {
                Some(alg) if alg.parse::<Algorithm>().is_err() => {
                    Denied::UnsupportedAlgorithm(excerpt(&alg))
                }
                _ => Denied::Malformed(excerpt(&e.to_string())),
            }
        })?;
        if !SUPPORTED_ALGORITHMS.contains(&header.alg) {
            return Err(Denied::UnsupportedAlgorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.as_deref().ok_or(Denied::MissingKeyId)?;
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| Denied::UnknownKey(excerpt(kid)))?;
        if let Some(alg) = key.alg.filter(|alg| *alg != header.alg) {
            return Err(Denied::UnsupportedAlgorithm(format!(
                "{:?} for a key of {alg:?}",
                header.alg
            )));
        }

        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        // jsonwebtoken checks `aud` only when present; API Gateway's rule (`aud`, else
        // `client_id`, one of them required) is applied below instead.
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| denied_by(&e))?
            .claims;

        // jsonwebtoken accepts an `iss` array containing the issuer; API Gateway wants it.
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Denied::WrongIssuer);
        }
        if let Some(iat) = claims.get("iat") {
            let iat = iat
                .as_f64()
                .ok_or_else(|| Denied::Malformed("iat is not a number".into()))?;
            let latest = now_secs().saturating_add(LEEWAY_SECS);
            if iat > latest as f64 {
                return Err(Denied::IssuedInFuture);
            }
        }
        let audience = match claims.get("aud") {
            Some(aud) => aud,
            None => claims.get("client_id").ok_or(Denied::WrongAudience)?,
        };
        let accepted = |a: &Value| {
            a.as_str()
                .is_some_and(|a| self.audiences.iter().any(|x| x == a))
        };
        let audience_ok = match audience {
            Value::Array(items) => items.iter().any(accepted),
            single => accepted(single),
        };
        if !audience_ok {
            return Err(Denied::WrongAudience);
        }
        Ok(claims)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(authorization: Option<&HeaderValue>) -> Result<&str, Denied> {
    const SCHEME: &str = "Bearer";
    let value = authorization
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
        .ok_or(Denied::MissingToken)?;
    if value.len() > SCHEME.len() + 1 + MAX_TOKEN_BYTES {
        return Err(Denied::TooLarge(value.len()));
    }
    let text = value.to_str().map_err(|_| Denied::NotBearer)?;
    let mut parts = text.split(' ');
    let scheme = parts.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(Denied::NotBearer);
    }
    let token = parts.next().unwrap_or_default();
    if parts.next().is_some() {
        return Err(Denied::NotBearer);
    }
    if token.is_empty() {
        return Err(Denied::EmptyToken);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Denied::TooLarge(token.len()));
    }
    Ok(token)
}

/// The `alg` a token's header declares, read without jsonwebtoken (which cannot represent
/// `none`), for the log.
fn declared_alg(token: &str) -> Option<String> {
    let header = B64URL.decode(token.split('.').next()?).ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

fn denied_by(error: &jsonwebtoken::errors::Error) -> Denied {
    match error.kind() {
        ErrorKind::InvalidSignature => Denied::BadSignature,
        ErrorKind::ExpiredSignature => Denied::Expired,
        ErrorKind::ImmatureSignature => Denied::NotYetValid,
        ErrorKind::InvalidIssuer => Denied::WrongIssuer,
        ErrorKind::InvalidAudience => Denied::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => Denied::MissingClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm => Denied::UnsupportedAlgorithm(excerpt(&error.to_string())),
        _ => Denied::Malformed(excerpt(&error.to_string())),
    }
}

/// The token's scopes: `scope` (space-separated; an array is read too), then `scp` (an array
/// or a space-separated string), without duplicates.
fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for claim in ["scope", "scp"] {
        let found: Vec<&str> = match claims.get(claim) {
            Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for scope in found {
            if !scope.is_empty() && !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
    }
    scopes
}

/// A claim's value as API Gateway passes it: see [`Authorized::claims`].
fn flatten(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flatten).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

/// `text` shortened to [`EXCERPT_CHARS`] and escaped, safe to log.
fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(EXCERPT_CHARS).collect();
    let ellipsis = if text.chars().nth(EXCERPT_CHARS).is_some() {
        "…"
    } else {
        ""
    };
    format!("{:?}{ellipsis}", short)
}

/// Seconds since the epoch (0 if the clock is before 1970, which fails every `exp` check).
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Duration;

    use jsonwebtoken::{EncodingKey, Header};
    use rcgen::PublicKeyData as _;

    use super::*;
    use crate::idp::{Idp, KEY_FILE, TokenRequest};
    use serde_json::json;

    const ISSUER: &str = "http://127.0.0.1:3000";
    const AUDIENCE: &str = "shop-local";

    /// A provider with its public key in PEM and DER (the HMAC secrets of key confusion).
    struct Fixture {
        idp: Idp,
        public_pem: String,
        public_der: Vec<u8>,
    }

    fn fixture(issuer: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("idp-test-{}", uuid::Uuid::new_v4()));
        let idp = Idp::load_or_create(&dir, issuer, AUDIENCE).unwrap();
        let pem = std::fs::read_to_string(dir.join(KEY_FILE)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let pair = rcgen::KeyPair::from_pem(&pem).unwrap();
        Fixture {
            idp,
            public_pem: pair.public_key_pem(),
            public_der: pair.subject_public_key_info(),
        }
    }

    /// Ours: one key per test binary.
    fn ours() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| fixture(ISSUER))
    }

    /// Another issuer's provider, with a key of its own.
    fn theirs() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| fixture("https://evil.example.com"))
    }

    fn authorizer() -> JwtAuthorizer {
        let idp = &ours().idp;
        JwtAuthorizer::new(
            "CognitoJwt",
            ISSUER,
            vec![AUDIENCE.into()],
            idp.jwks().clone(),
        )
    }

    fn now() -> i64 {
        i64::try_from(now_secs()).unwrap()
    }

    fn leeway() -> i64 {
        i64::try_from(LEEWAY_SECS).unwrap()
    }

    fn claims() -> Value {
        let now = now();
        json!({
            "sub": "user-1",
            "cognito:groups": ["admin", "customer"],
            "iss": ISSUER,
            "client_id": AUDIENCE,
            "token_use": "access",
            "scope": "orders/read",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        })
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims[name] = value;
        claims
    }

    fn without(mut claims: Value, name: &str) -> Value {
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    fn header(kid: &str) -> Header {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(kid.to_owned());
        h
    }

    fn sign(claims: &Value) -> String {
        let idp = &ours().idp;
        idp.mint_claims(header(idp.kid()), claims).unwrap()
    }

    fn bearer(token: &str) -> Option<HeaderValue> {
        Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap())
    }

    fn check(authorization: Option<HeaderValue>) -> Result<Authorized, Denied> {
        authorizer().authorize(authorization.as_ref(), &[])
    }

    fn hs256(secret: &[u8]) -> String {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(ours().idp.kid().to_owned());
        jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(secret)).unwrap()
    }

    type Expect = fn(&Denied) -> bool;

    #[test]
    fn hostile_tokens_are_denied_with_401() {
        let (us, them) = (&ours().idp, &theirs().idp);
        let valid = sign(&claims());
        let parts: Vec<&str> = valid.split('.').collect();
        let (head, payload, signature) = (parts[0], parts[1], parts[2]);
        let tampered_payload =
            B64URL.encode(with(claims(), "cognito:groups", json!(["admin"])).to_string());
        let mut flipped = B64URL.decode(signature).unwrap();
        flipped[10] ^= 0x01;
        let oversized = sign(&with(
            claims(),
            "padding",
            json!("x".repeat(MAX_TOKEN_BYTES)),
        ));
        let jwks_json = serde_json::to_string(us.jwks()).unwrap();

        let cases: Vec<(&str, Option<HeaderValue>, Expect)> = vec![
            ("no Authorization header", None, |d| {
                *d == Denied::MissingToken
            }),
            (
                "empty Authorization header",
                Some(HeaderValue::from_static("")),
                |d| *d == Denied::MissingToken,
            ),
            (
                "alg none",
                bearer(&format!("eyJhbGciOiJub25lIn0.{payload}.")),
                |d| matches!(d, Denied::UnsupportedAlgorithm(a) if a.contains("none")),
            ),
            (
                "alg none with our kid and a signature",
                bearer(&format!(
                    "{}.{payload}.{signature}",
                    B64URL.encode(json!({"alg": "none", "kid": us.kid()}).to_string())
                )),
                |d| matches!(d, Denied::UnsupportedAlgorithm(_)),
            ),
            (
                "HS256 signed with the public key PEM",
                bearer(&hs256(ours().public_pem.as_bytes())),
                |d| matches!(d, Denied::UnsupportedAlgorithm(a) if a.contains("HS256")),
            ),
            (
                "HS256 signed with the public key DER",
                bearer(&hs256(&ours().public_der)),
                |d| matches!(d, Denied::UnsupportedAlgorithm(_)),
            ),
            (
                "HS256 signed with the JWKS document",
                bearer(&hs256(jwks_json.as_bytes())),
                |d| matches!(d, Denied::UnsupportedAlgorithm(_)),
            ),
            (
                "RS384 with a key published for RS256",
                bearer(
                    &us.mint_claims(
                        Header {
                            alg: Algorithm::RS384,
                            ..header(us.kid())
                        },
                        &claims(),
                    )
                    .unwrap(),
                ),
                |d| matches!(d, Denied::UnsupportedAlgorithm(_)),
            ),
            (
                "unknown kid",
                bearer(&us.mint_claims(header("not-our-key"), &claims()).unwrap()),
                |d| matches!(d, Denied::UnknownKey(k) if k.contains("not-our-key")),
            ),
            (
                "no kid",
                bearer(
                    &us.mint_claims(Header::new(Algorithm::RS256), &claims())
                        .unwrap(),
                ),
                |d| *d == Denied::MissingKeyId,
            ),
            (
                "expired beyond the leeway",
                bearer(&sign(&with(claims(), "exp", json!(now() - leeway() - 600)))),
                |d| *d == Denied::Expired,
            ),
            (
                "nbf in the future beyond the leeway",
                bearer(&sign(&with(claims(), "nbf", json!(now() + leeway() + 600)))),
                |d| *d == Denied::NotYetValid,
            ),
            (
                "iat in the future beyond the leeway",
                bearer(&sign(&with(claims(), "iat", json!(now() + leeway() + 600)))),
                |d| *d == Denied::IssuedInFuture,
            ),
            (
                "iat not a number",
                bearer(&sign(&with(claims(), "iat", json!("yesterday")))),
                |d| matches!(d, Denied::Malformed(_)),
            ),
            (
                "exp not a number",
                bearer(&sign(&with(claims(), "exp", json!("tomorrow")))),
                // jsonwebtoken counts an `exp` that is not a number as missing.
                |d| matches!(d, Denied::MissingClaim(_) | Denied::Malformed(_)),
            ),
            (
                "missing exp",
                bearer(&sign(&without(claims(), "exp"))),
                |d| *d == Denied::MissingClaim("exp".into()),
            ),
            (
                "wrong iss",
                bearer(&sign(&with(
                    claims(),
                    "iss",
                    json!("https://evil.example.com"),
                ))),
                |d| *d == Denied::WrongIssuer,
            ),
            (
                "iss an array containing ours",
                bearer(&sign(&with(
                    claims(),
                    "iss",
                    json!([ISSUER, "https://evil.example.com"]),
                ))),
                |d| *d == Denied::WrongIssuer,
            ),
            (
                "missing iss",
                bearer(&sign(&without(claims(), "iss"))),
                |d| matches!(d, Denied::MissingClaim(_)),
            ),
            (
                "wrong aud",
                bearer(&sign(&with(claims(), "aud", json!("someone-else")))),
                |d| *d == Denied::WrongAudience,
            ),
            (
                "wrong aud with the right client_id (aud wins)",
                bearer(&sign(&with(claims(), "aud", json!(["someone-else"])))),
                |d| *d == Denied::WrongAudience,
            ),
            (
                "no aud and a wrong client_id",
                bearer(&sign(&with(claims(), "client_id", json!("someone-else")))),
                |d| *d == Denied::WrongAudience,
            ),
            (
                "no aud and no client_id",
                bearer(&sign(&without(claims(), "client_id"))),
                |d| *d == Denied::WrongAudience,
            ),
            (
                "tampered payload (groups changed after signing)",
                bearer(&format!("{head}.{tampered_payload}.{signature}")),
                |d| *d == Denied::BadSignature,
            ),
            (
                "flipped signature bit",
                bearer(&format!("{head}.{payload}.{}", B64URL.encode(flipped))),
                |d| *d == Denied::BadSignature,
            ),
            ("no signature", bearer(&format!("{head}.{payload}.")), |d| {
                *d == Denied::BadSignature
            }),
            ("malformed: two segments", bearer("a.b"), |d| {
                matches!(d, Denied::Malformed(_))
            }),
            ("malformed: four segments", bearer("a.b.c.d"), |d| {
                matches!(d, Denied::Malformed(_))
            }),
            (
                "malformed: a valid token with a fourth segment",
                bearer(&format!("{valid}.{signature}")),
                |d| matches!(d, Denied::Malformed(_)),
            ),
            ("malformed: not base64", bearer("!!!.???.***"), |d| {
                matches!(d, Denied::Malformed(_))
            }),
            (
                "malformed: claims not a JSON object",
                bearer(
                    &us.mint_claims(header(us.kid()), &json!("not an object"))
                        .unwrap(),
                ),
                |d| matches!(d, Denied::Malformed(_)),
            ),
            (
                "oversized token",
                bearer(&oversized),
                |d| matches!(d, Denied::TooLarge(n) if *n > MAX_TOKEN_BYTES),
            ),
            (
                "no Bearer scheme (raw token)",
                Some(HeaderValue::from_str(&valid).unwrap()),
                |d| *d == Denied::NotBearer,
            ),
            (
                "Basic scheme",
                Some(HeaderValue::from_static("Basic YWRtaW46YWRtaW4=")),
                |d| *d == Denied::NotBearer,
            ),
            (
                "two spaces after Bearer",
                Some(HeaderValue::from_str(&format!("Bearer  {valid}")).unwrap()),
                |d| *d == Denied::NotBearer,
            ),
            (
                "a second token",
                Some(HeaderValue::from_str(&format!("Bearer {valid} {valid}")).unwrap()),
                |d| *d == Denied::NotBearer,
            ),
            (
                "not visible ASCII",
                Some(HeaderValue::from_bytes(b"Bearer \xe2\x82\xac").unwrap()),
                |d| *d == Denied::NotBearer,
            ),
            (
                "empty token (`Bearer `)",
                Some(HeaderValue::from_static("Bearer ")),
                |d| *d == Denied::EmptyToken,
            ),
            (
                "scheme only (`Bearer`)",
                Some(HeaderValue::from_static("Bearer")),
                |d| *d == Denied::EmptyToken,
            ),
            (
                "another issuer's key under our kid",
                bearer(&them.mint_claims(header(us.kid()), &claims()).unwrap()),
                |d| *d == Denied::BadSignature,
            ),
            (
                "another issuer's token with its own kid",
                bearer(
                    &them
                        .mint(&TokenRequest {
                            subject: "user-1".into(),
                            groups: vec!["admin".into()],
                            ttl: Duration::from_secs(600),
                            scopes: vec![],
                        })
                        .unwrap(),
                ),
                |d| matches!(d, Denied::UnknownKey(_)),
            ),
        ];

        for (case, authorization, expected) in cases {
            let denied = match check(authorization) {
                Ok(authorized) => panic!("{case}: let through with {:?}", authorized.claims),
                Err(denied) => denied,
            };
            assert!(
                expected(&denied),
                "{case}: denied for the wrong reason: {denied:?}"
            );
            assert_eq!(denied.status(), StatusCode::UNAUTHORIZED, "{case}");
            assert_eq!(denied.message(), "Unauthorized", "{case}");
        }
    }

    #[test]
    fn a_valid_token_is_let_through_with_flattened_claims() {
        let token = ours()
            .idp
            .mint(&TokenRequest {
                subject: "user-1".into(),
                groups: vec!["admin".into(), "customer".into()],
                ttl: Duration::from_secs(600),
                scopes: vec!["orders/read".into(), "orders/write".into()],
            })
            .unwrap();

        let authorized = check(bearer(&token)).unwrap();

        let claims = &authorized.claims;
        assert_eq!(claims["sub"], "user-1");
        assert_eq!(claims["cognito:groups"], "[admin customer]");
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["token_use"], "access");
        assert_eq!(claims["scope"], "orders/read orders/write");
        let exp: u64 = claims["exp"].as_str().unwrap().parse().unwrap();
        assert!(exp > now_secs());
        assert!(claims.values().all(Value::is_string), "{claims:?}");
        assert_eq!(authorized.scopes, ["orders/read", "orders/write"]);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let token = sign(&claims());

        for scheme in ["bearer", "BEARER", "bEaReR"] {
            let header = HeaderValue::from_str(&format!("{scheme} {token}")).unwrap();
            assert!(check(Some(header)).is_ok(), "{scheme}");
        }
    }

    #[test]
    fn an_expiry_within_the_leeway_is_accepted() {
        let token = sign(&with(claims(), "exp", json!(now() - leeway() / 2)));

        assert!(check(bearer(&token)).is_ok());
    }

    #[test]
    fn nbf_and_iat_within_the_leeway_are_accepted() {
        let soon = json!(now() + leeway() / 2);
        let token = sign(&with(with(claims(), "nbf", soon.clone()), "iat", soon));

        assert!(check(bearer(&token)).is_ok());
    }

    #[test]
    fn without_aud_the_client_id_is_the_audience() {
        let token = sign(&claims());

        let authorized = check(bearer(&token)).unwrap();

        assert_eq!(authorized.claims["client_id"], AUDIENCE);
        assert!(!authorized.claims.contains_key("aud"));
    }

    #[test]
    fn an_aud_naming_a_configured_audience_is_accepted_even_with_another_client_id() {
        let plain = sign(&with(
            with(claims(), "aud", json!(AUDIENCE)),
            "client_id",
            json!("someone-else"),
        ));
        let listed = sign(&with(claims(), "aud", json!(["someone-else", AUDIENCE])));

        assert!(check(bearer(&plain)).is_ok(), "aud a string");
        assert!(check(bearer(&listed)).is_ok(), "aud an array");
    }

    #[test]
    fn any_of_several_audiences_is_accepted() {
        let authorizer = JwtAuthorizer::new(
            "A",
            ISSUER,
            vec!["web".into(), AUDIENCE.into()],
            ours().idp.jwks().clone(),
        );
        let token = sign(&claims());

        assert!(authorizer.authorize(bearer(&token).as_ref(), &[]).is_ok());
    }

    #[test]
    fn a_token_without_a_required_scope_is_forbidden() {
        let token = sign(&claims());
        let required = ["orders/write".to_owned(), "admin/all".to_owned()];

        let denied = authorizer()
            .authorize(bearer(&token).as_ref(), &required)
            .unwrap_err();

        assert_eq!(denied, Denied::MissingScope);
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert_eq!(denied.message(), "Forbidden");
    }

    #[test]
    fn a_token_without_any_scope_is_forbidden_on_a_scoped_route() {
        let token = sign(&without(claims(), "scope"));

        let denied = authorizer()
            .authorize(bearer(&token).as_ref(), &["orders/read".to_owned()])
            .unwrap_err();

        assert_eq!(denied, Denied::MissingScope);
    }

    #[test]
    fn one_of_the_required_scopes_is_enough_from_scope_or_scp() {
        let required = ["orders/write".to_owned(), "orders/read".to_owned()];
        let from_scope = sign(&claims());
        let from_scp = sign(&with(
            without(claims(), "scope"),
            "scp",
            json!(["profile", "orders/write"]),
        ));

        let a = authorizer()
            .authorize(bearer(&from_scope).as_ref(), &required)
            .unwrap();
        let b = authorizer()
            .authorize(bearer(&from_scp).as_ref(), &required)
            .unwrap();

        assert_eq!(a.scopes, ["orders/read"]);
        assert_eq!(b.scopes, ["profile", "orders/write"]);
        assert_eq!(b.claims["scp"], "[profile orders/write]");
    }

    #[test]
    fn an_invalid_token_is_401_even_on_a_scoped_route() {
        let token = sign(&with(claims(), "exp", json!(now() - leeway() - 600)));

        let denied = authorizer()
            .authorize(bearer(&token).as_ref(), &["orders/read".to_owned()])
            .unwrap_err();

        assert_eq!(denied, Denied::Expired);
        assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn an_authorizer_without_audiences_denies_every_token() {
        let authorizer = JwtAuthorizer::new("A", ISSUER, vec![], ours().idp.jwks().clone());

        let denied = authorizer
            .authorize(bearer(&sign(&claims())).as_ref(), &[])
            .unwrap_err();

        assert_eq!(denied, Denied::WrongAudience);
    }

    #[test]
    fn keys_for_other_uses_or_algorithms_are_not_trusted() {
        let mut jwks = ours().idp.jwks().clone();
        jwks.keys[0].common.public_key_use = Some(PublicKeyUse::Encryption);
        let encryption = JwtAuthorizer::new("A", ISSUER, vec![AUDIENCE.into()], jwks);
        let mut jwks = ours().idp.jwks().clone();
        jwks.keys[0].common.key_algorithm = Some(Algorithm::HS256.into());
        let hmac = JwtAuthorizer::new("A", ISSUER, vec![AUDIENCE.into()], jwks);
        let token = sign(&claims());

        for authorizer in [encryption, hmac] {
            assert_eq!(authorizer.key_ids().count(), 0);
            assert!(matches!(
                authorizer.authorize(bearer(&token).as_ref(), &[]),
                Err(Denied::UnknownKey(_))
            ));
        }
        assert_eq!(
            authorizer().key_ids().collect::<Vec<_>>(),
            [ours().idp.kid()]
        );
    }

    #[test]
    fn claims_are_flattened_like_api_gateway() {
        let cases = [
            (json!("text"), "text"),
            (json!(1_700_000_000), "1700000000"),
            (json!(1.5), "1.5"),
            (json!(true), "true"),
            (json!(null), "null"),
            (json!(["admin", "customer"]), "[admin customer]"),
            (json!([]), "[]"),
            (json!([1, ["a", "b"]]), "[1 [a b]]"),
            (json!({"k": "v"}), r#"{"k":"v"}"#),
        ];

        for (value, expected) in cases {
            assert_eq!(flatten(&value), expected, "{value}");
        }
    }

    #[test]
    fn a_reason_quotes_and_shortens_what_the_client_sent() {
        let kid = format!("line\nbreak{}", "k".repeat(200));

        let denied = authorizer()
            .authorize(
                bearer(&ours().idp.mint_claims(header(&kid), &claims()).unwrap()).as_ref(),
                &[],
            )
            .unwrap_err();

        let reason = denied.to_string();
        assert!(!reason.contains('\n'), "{reason}");
        assert!(reason.contains(r"line\nbreak"), "{reason}");
        assert!(reason.len() < 200, "{reason}");
    }

    #[test]
    fn the_context_deserialises_as_an_api_gateway_v2_event() {
        let token = sign(&with(claims(), "scope", json!("orders/read orders/write")));
        let authorized = check(bearer(&token)).unwrap();
        let no_scopes = check(bearer(&sign(&without(claims(), "scope")))).unwrap();
        let event = |authorizer: Value| {
            json!({
                "version": "2.0",
                "routeKey": "GET /orders",
                "rawPath": "/orders",
                "rawQueryString": "",
                "headers": {"authorization": "Bearer x"},
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "local",
                    "authorizer": authorizer,
                    "domainName": "localhost",
                    "domainPrefix": "localhost",
                    "http": {
                        "method": "GET",
                        "path": "/orders",
                        "protocol": "HTTP/1.1",
                        "sourceIp": "127.0.0.1",
                        "userAgent": "test"
                    },
                    "requestId": "rid",
                    "routeKey": "GET /orders",
                    "stage": "$default",
                    "time": "01/Jan/2025:00:00:00 +0000",
                    "timeEpoch": 1_735_689_600_000_i64
                },
                "isBase64Encoded": false
            })
        };

        let parsed: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(
            event(serde_json::to_value(authorized.to_context()).unwrap()),
        )
        .unwrap();
        let bare: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(event(serde_json::to_value(no_scopes.to_context()).unwrap()))
                .unwrap();

        let jwt = parsed.request_context.authorizer.unwrap().jwt.unwrap();
        assert_eq!(jwt.claims["cognito:groups"], "[admin customer]");
        assert_eq!(jwt.claims["sub"], "user-1");
        assert_eq!(
            jwt.scopes,
            Some(vec!["orders/read".to_owned(), "orders/write".to_owned()])
        );
        let jwt = bare.request_context.authorizer.unwrap().jwt.unwrap();
        assert_eq!(jwt.scopes, None);
        assert_eq!(
            serde_json::to_value(no_scopes.to_context()).unwrap(),
            json!({"jwt": {"claims": serde_json::to_value(&no_scopes.claims).unwrap()}})
        );
    }
}
