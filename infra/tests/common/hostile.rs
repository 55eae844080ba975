//! Hostile bearer tokens: every way a token must fail API Gateway's JWT authorizer, built
//! against one identity provider. Shared by the gateway tests (stand-in Lambda: nothing may be
//! invoked) and the end-to-end security tests (the real stack).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use devstack::authorizer::{LEEWAY_SECS, MAX_TOKEN_BYTES};
use devstack::idp::{Idp, TokenRequest};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The claims a valid token of `idp` for `subject` in `groups` has.
pub fn valid_claims(idp: &Idp, subject: &str, groups: &[&str]) -> Value {
    let now = now();
    json!({
        "sub": subject,
        "cognito:groups": groups,
        "iss": idp.issuer(),
        "client_id": idp.audience(),
        "token_use": "access",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    })
}

fn header(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_owned());
    h
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    if let Some(map) = claims.as_object_mut() {
        map.remove(key);
    }
    claims
}

/// `(case, Authorization header value or None for no header)`: at least 15 ways to fail, for a
/// caller `subject` in `groups`. `other` is a second identity provider with a key of its own
/// (another issuer's key).
pub fn cases(
    idp: &Idp,
    other: &Idp,
    subject: &str,
    groups: &[&str],
) -> Vec<(&'static str, Option<String>)> {
    let claims = valid_claims(idp, subject, groups);
    let sign = |h: Header, c: &Value| idp.mint_claims(h, c).expect("signing a test token");
    let kid = idp.kid().to_owned();
    let valid = sign(header(&kid), &claims);
    let parts: Vec<&str> = valid.split('.').collect();
    let (head, payload, signature) = (parts[0], parts[1], parts[2]);

    // alg: none, no signature.
    let none_header = B64URL.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    let alg_none = format!("{none_header}.{payload}.");
    // HS256 with the RSA public key (the JWKS document and the modulus) as the HMAC secret.
    let jwks_text = serde_json::to_string(idp.jwks()).expect("JWKS");
    let modulus = serde_json::to_value(idp.jwks()).expect("JWKS")["keys"][0]["n"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let hs256 = |secret: &[u8]| {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(secret)).expect("HS256")
    };
    // The payload changed after signing: the caller makes themselves an admin.
    let tampered_payload =
        B64URL.encode(with(claims.clone(), "cognito:groups", json!(["admin"])).to_string());
    let tampered = format!("{head}.{tampered_payload}.{signature}");
    // One bit of the signature flipped.
    let mut sig = B64URL.decode(signature).expect("signature");
    sig[0] ^= 0x01;
    let flipped = format!("{head}.{payload}.{}", B64URL.encode(sig));
    let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(60);
    let oversized = sign(
        header(&kid),
        &with(
            claims.clone(),
            "padding",
            json!("x".repeat(MAX_TOKEN_BYTES)),
        ),
    );
    let other_kid = other.kid().to_owned();

    let bearer = |t: &str| Some(format!("Bearer {t}"));
    vec![
        ("no Authorization header", None),
        ("alg none", bearer(&alg_none)),
        (
            "HS256 signed with the RSA public key (JWKS)",
            bearer(&hs256(jwks_text.as_bytes())),
        ),
        (
            "HS256 signed with the RSA modulus",
            bearer(&hs256(modulus.as_bytes())),
        ),
        ("unknown kid", bearer(&sign(header("not-our-key"), &claims))),
        (
            "no kid",
            bearer(&sign(Header::new(Algorithm::RS256), &claims)),
        ),
        (
            "expired beyond the leeway",
            bearer(&sign(
                header(&kid),
                &with(claims.clone(), "exp", json!(now() - leeway - 600)),
            )),
        ),
        (
            "nbf in the future",
            bearer(&sign(
                header(&kid),
                &with(claims.clone(), "nbf", json!(now() + leeway + 600)),
            )),
        ),
        (
            "wrong issuer",
            bearer(&sign(
                header(&kid),
                &with(claims.clone(), "iss", json!("https://evil.example.com")),
            )),
        ),
        (
            "wrong audience (client_id)",
            bearer(&sign(
                header(&kid),
                &with(claims.clone(), "client_id", json!("someone-else")),
            )),
        ),
        (
            "wrong audience (aud)",
            bearer(&sign(
                header(&kid),
                &with(
                    without(claims.clone(), "client_id"),
                    "aud",
                    json!("someone-else"),
                ),
            )),
        ),
        ("tampered payload", bearer(&tampered)),
        ("flipped signature bit", bearer(&flipped)),
        (
            "missing exp",
            bearer(&sign(header(&kid), &without(claims.clone(), "exp"))),
        ),
        (
            "malformed: two segments",
            bearer(&format!("{head}.{payload}")),
        ),
        (
            "malformed: four segments",
            bearer(&format!("{valid}.{signature}")),
        ),
        ("malformed: not base64", bearer("!!!.???.***")),
        ("oversized token", bearer(&oversized)),
        ("no Bearer scheme", Some(valid.clone())),
        (
            "Basic scheme",
            Some(format!("Basic {}", B64URL.encode("admin:admin"))),
        ),
        (
            "another issuer's key under our kid",
            bearer(&other.mint_claims(header(&kid), &claims).expect("signing")),
        ),
        (
            "another issuer's token",
            bearer(
                &other
                    .mint_claims(header(&other_kid), &valid_claims(other, subject, groups))
                    .expect("signing"),
            ),
        ),
        ("empty token", Some("Bearer ".to_owned())),
        ("scheme only", Some("Bearer".to_owned())),
    ]
}

/// A valid token of `idp` (for the contrast case of a suite).
pub fn valid(idp: &Idp, subject: &str, groups: &[&str]) -> String {
    idp.mint(&TokenRequest {
        subject: subject.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ttl: Duration::from_secs(600),
        scopes: vec![],
    })
    .expect("minting a token")
}
