//! Fuzz target `jwt`: devstack's JWT authorizer (`devstack::authorizer`) with the local
//! identity provider's key, as the gateway runs it on every request to a protected route.
//!
//! Two kinds of input (the first byte picks):
//! - raw bytes as the `Authorization` header value (any bytes `HeaderValue` admits);
//! - a structured token (`arbitrary`): a JSON header (`alg` among the real and hostile ones,
//!   `kid` ours or not) and claims (by default valid: our `iss`, our audience, `exp` in the
//!   future, scopes), signed in one of several ways — random bytes, HMAC with our *public* key
//!   (key confusion), another provider's RSA key under our `kid`, or our own key.
//!
//! Properties: nothing panics; a token not signed with our key is never authorized; a token
//! signed with our key is authorized only when its claims pass API Gateway's rules (exact
//! `iss`, `aud`/`client_id` among the audiences, `exp` not past, `nbf`/`iat` not future, a
//! required scope present).

#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use devstack::authorizer::{JwtAuthorizer, LEEWAY_SECS};
use devstack::idp::{Idp, KEY_FILE};
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use rcgen::PublicKeyData as _;
use serde_json::{Map, Value, json};

const ISSUER: &str = "http://127.0.0.1:3000";
const AUDIENCE: &str = "shop-local";

/// Our provider, the authorizer trusting it, our public key (PEM and DER: the HMAC secrets of
/// a key-confusion attack) and another provider (an attacker's key).
struct World {
    ours: Idp,
    theirs: Idp,
    authorizer: JwtAuthorizer,
    public_pem: String,
    public_der: Vec<u8>,
}

fn provider(issuer: &str) -> (Idp, String) {
    let dir = std::env::temp_dir().join(format!("fuzz-jwt-{}", uuid::Uuid::new_v4()));
    let idp = Idp::load_or_create(&dir, issuer, AUDIENCE).expect("a fresh identity provider");
    let pem = std::fs::read_to_string(dir.join(KEY_FILE)).expect("its key file");
    let _ = std::fs::remove_dir_all(&dir);
    (idp, pem)
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let (ours, pem) = provider(ISSUER);
        let (theirs, _) = provider("https://evil.example.com");
        let pair = rcgen::KeyPair::from_pem(&pem).expect("our key pair");
        let authorizer = JwtAuthorizer::new(
            "CognitoJwt",
            ISSUER,
            vec![AUDIENCE.into()],
            ours.jwks().clone(),
        );
        World {
            ours,
            theirs,
            authorizer,
            public_pem: pair.public_key_pem(),
            public_der: pair.subject_public_key_info(),
        }
    })
}

#[derive(Debug, Arbitrary)]
enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Hs256,
    Hs384,
    Hs512,
    Es256,
    Ps256,
    None,
    Other(String),
}

impl Alg {
    fn name(&self) -> &str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Es256 => "ES256",
            Self::Ps256 => "PS256",
            Self::None => "none",
            Self::Other(name) => name,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Kid {
    Ours,
    Absent,
    Other(String),
    NotAString(i64),
}

/// A claim's value: valid by default, or something hostile.
#[derive(Debug, Arbitrary)]
enum Claim<T> {
    Valid,
    Absent,
    Given(T),
    Json(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Signature {
    /// Arbitrary bytes, base64url-encoded.
    Random(Vec<u8>),
    /// The raw third segment.
    Raw(String),
    /// HMAC (the header's `alg` if HS*, else HS256) with our public key's PEM as the secret.
    HmacPublicPem,
    /// Same with the DER of our public key.
    HmacPublicDer,
    /// Another provider's RSA key (header as given, `alg` forced to RS256).
    TheirKey,
    /// Our own key (header as given, `alg` forced to RS256): may be authorized.
    OurKey,
}

#[derive(Debug, Arbitrary)]
struct Token {
    alg: Alg,
    kid: Kid,
    typ: Option<String>,
    iss: Claim<String>,
    aud: Claim<Vec<String>>,
    client_id: Claim<String>,
    /// Offsets from now, in seconds.
    exp: Claim<i64>,
    nbf: Claim<i64>,
    iat: Claim<i64>,
    scope: Option<String>,
    scp: Option<Vec<String>>,
    extra: Vec<(String, String)>,
    required_scopes: Vec<String>,
    signature: Signature,
    /// Bearer scheme spelling and separator tweaks.
    scheme: Option<String>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn claim<T: serde::Serialize>(
    claims: &mut Map<String, Value>,
    name: &str,
    c: Claim<T>,
    valid: Value,
) {
    match c {
        Claim::Valid => {
            claims.insert(name.into(), valid);
        }
        Claim::Absent => {}
        Claim::Given(v) => {
            claims.insert(name.into(), json!(v));
        }
        Claim::Json(bytes) => {
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                claims.insert(name.into(), v);
            }
        }
    }
}

fn time(c: Claim<i64>, valid_offset: i64) -> Claim<i64> {
    let now = now();
    match c {
        Claim::Valid => Claim::Given(now.saturating_add(valid_offset)),
        Claim::Given(offset) => Claim::Given(now.saturating_add(offset)),
        other => other,
    }
}

/// What API Gateway's rules say of `claims` (signed with our key).
fn acceptable(claims: &Map<String, Value>, required: &[String]) -> bool {
    let now = now() as f64;
    // Two seconds more lenient than the rule: the authorizer read the clock a moment earlier.
    let leeway = LEEWAY_SECS as f64 + 2.0;
    let num = |name: &str| claims.get(name).map(Value::as_f64);
    let iss_ok = claims.get("iss").and_then(Value::as_str) == Some(ISSUER);
    let exp_ok = matches!(num("exp"), Some(Some(exp)) if exp + leeway >= now);
    let nbf_ok = !matches!(num("nbf"), Some(Some(nbf)) if nbf - leeway > now)
        && !matches!(num("nbf"), Some(None));
    let iat_ok = !matches!(num("iat"), Some(Some(iat)) if iat - leeway > now)
        && !matches!(num("iat"), Some(None));
    let ours = |v: &Value| v.as_str() == Some(AUDIENCE);
    let aud_ok = match claims.get("aud").or_else(|| claims.get("client_id")) {
        Some(Value::Array(items)) => items.iter().any(ours),
        Some(single) => ours(single),
        None => false,
    };
    let mut scopes: Vec<&str> = Vec::new();
    if let Some(Value::String(s)) = claims.get("scope") {
        scopes.extend(s.split_ascii_whitespace());
    }
    if let Some(Value::Array(items)) = claims.get("scope") {
        scopes.extend(items.iter().filter_map(Value::as_str));
    }
    match claims.get("scp") {
        Some(Value::String(s)) => scopes.extend(s.split_ascii_whitespace()),
        Some(Value::Array(items)) => scopes.extend(items.iter().filter_map(Value::as_str)),
        _ => {}
    }
    let scope_ok = required.is_empty() || required.iter().any(|r| scopes.contains(&r.as_str()));
    iss_ok && exp_ok && nbf_ok && iat_ok && aud_ok && scope_ok
}

fn check_token(world: &World, token: Token) {
    let mut header = Map::new();
    header.insert("alg".into(), json!(token.alg.name()));
    match token.kid {
        Kid::Ours => {
            header.insert("kid".into(), json!(world.ours.kid()));
        }
        Kid::Absent => {}
        Kid::Other(kid) => {
            header.insert("kid".into(), json!(kid));
        }
        Kid::NotAString(n) => {
            header.insert("kid".into(), json!(n));
        }
    }
    if let Some(typ) = token.typ {
        header.insert("typ".into(), json!(typ));
    }
    let mut claims = Map::new();
    claims.insert("sub".into(), json!("user-1"));
    claim(&mut claims, "iss", token.iss, json!(ISSUER));
    claim(&mut claims, "aud", token.aud, json!(AUDIENCE));
    claim(&mut claims, "client_id", token.client_id, json!(AUDIENCE));
    let exp = time(token.exp, 600);
    let nbf = time(token.nbf, 0);
    let iat = time(token.iat, 0);
    claim(&mut claims, "exp", exp, Value::Null);
    claim(&mut claims, "nbf", nbf, Value::Null);
    claim(&mut claims, "iat", iat, Value::Null);
    if let Some(scope) = token.scope {
        claims.insert("scope".into(), json!(scope));
    }
    if let Some(scp) = token.scp {
        claims.insert("scp".into(), json!(scp));
    }
    for (name, value) in token.extra {
        claims.entry(name).or_insert(json!(value));
    }

    let signing_input = format!(
        "{}.{}",
        B64URL.encode(Value::Object(header.clone()).to_string()),
        B64URL.encode(Value::Object(claims.clone()).to_string())
    );
    let rsa_header = || {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
        h.typ = header.get("typ").and_then(Value::as_str).map(str::to_owned);
        h
    };
    let hmac = |secret: &[u8]| {
        let alg = match token.alg {
            Alg::Hs384 => Algorithm::HS384,
            Alg::Hs512 => Algorithm::HS512,
            _ => Algorithm::HS256,
        };
        let mut h = Header::new(alg);
        h.kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
        jsonwebtoken::encode(
            &h,
            &Value::Object(claims.clone()),
            &EncodingKey::from_secret(secret),
        )
        .ok()
    };
    let (jwt, ours) = match token.signature {
        Signature::Random(bytes) => (
            Some(format!("{signing_input}.{}", B64URL.encode(bytes))),
            false,
        ),
        Signature::Raw(raw) => (Some(format!("{signing_input}.{raw}")), false),
        Signature::HmacPublicPem => (hmac(world.public_pem.as_bytes()), false),
        Signature::HmacPublicDer => (hmac(&world.public_der), false),
        Signature::TheirKey => (
            world
                .theirs
                .mint_claims(rsa_header(), &Value::Object(claims.clone()))
                .ok(),
            false,
        ),
        Signature::OurKey => (
            world
                .ours
                .mint_claims(rsa_header(), &Value::Object(claims.clone()))
                .ok(),
            true,
        ),
    };
    let Some(jwt) = jwt else { return };
    let scheme = token.scheme.unwrap_or_else(|| "Bearer ".to_owned());
    let Ok(value) = HeaderValue::from_str(&format!("{scheme}{jwt}")) else {
        return;
    };
    let result = world
        .authorizer
        .authorize(Some(&value), &token.required_scopes);
    if let Ok(authorized) = &result {
        assert!(
            ours,
            "a token not signed with our key was authorized: {jwt} -> {authorized:?}"
        );
        assert!(
            acceptable(&claims, &token.required_scopes),
            "a token breaking API Gateway's rules was authorized: {claims:?} -> {authorized:?}"
        );
        let _ = authorized.to_context();
    }
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    // First byte even: the rest is the raw header value (so seeds are plain `Bearer ...` text
    // behind one byte); odd: the rest drives a structured token.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        {
            let Ok(value) = HeaderValue::from_bytes(rest) else {
                return;
            };
            for scopes in [&[][..], &["orders/read".to_owned()][..]] {
                let result = world.authorizer.authorize(Some(&value), scopes);
                // Nothing the fuzzer writes is signed with our key (a fresh one per run).
                assert!(
                    result.is_err(),
                    "authorized raw header {value:?}: {result:?}"
                );
                if let Err(denied) = result {
                    let _ = (
                        denied.status(),
                        denied.message(),
                        denied.challenge(),
                        denied.to_string(),
                    );
                }
            }
        }
    } else if let Ok(token) = Token::arbitrary_take_rest(arbitrary::Unstructured::new(rest)) {
        check_token(world, token);
    }
});
