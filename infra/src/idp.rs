//! The local OpenID identity provider: one RS256 signing key, its public JWKS and discovery
//! document, and access tokens shaped like an Amazon Cognito user pool's.
//!
//! In the cloud the API's JWT authorizer trusts a Cognito user pool; locally it trusts this
//! provider instead (see [`crate::edge`]). The key pair lives in a directory the caller chooses
//! (`<workspace>/.devstack/idp`) as `private-key.pem` (PKCS#8 PEM, mode 0600): it is created on
//! first use and reused, so the key id ([`Idp::kid`], the RFC 7638 thumbprint of the public key)
//! and therefore every token already handed out stay valid across restarts of `devstack up`.
//! `devstack token` loads the same key to mint tokens for a running stack.
//!
//! The gateway serves [`Idp::discovery`] at [`DISCOVERY_PATH`] and [`Idp::jwks`] at
//! [`JWKS_PATH`] below the issuer, as a Cognito user pool does below its issuer URL.

use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};

/// Where the OpenID Provider Metadata is served, below the issuer URL (OpenID Connect
/// Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Where the JSON Web Key Set is served, below the issuer URL (the discovery document's
/// `jwks_uri`, at the same path as a Cognito user pool's).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// The private key's file name inside the key directory.
pub const KEY_FILE: &str = "private-key.pem";
/// Size of a generated RSA key, in bits (what `rcgen` generates for `PKCS_RSA_SHA256`); a
/// loaded key smaller than this is refused.
pub const KEY_BITS: usize = 2048;

/// The claims a minted token carries (for the discovery document's `claims_supported`).
const CLAIMS: [&str; 13] = [
    "sub",
    "cognito:groups",
    "iss",
    "client_id",
    "aud",
    "token_use",
    "scope",
    "auth_time",
    "iat",
    "nbf",
    "exp",
    "jti",
    "username",
];

/// The local identity provider: an RS256 signing key with its key id and public JWKS, the
/// issuer URL its tokens name in `iss`, and the app client id they name in `client_id`/`aud`.
#[derive(Debug, Clone)]
pub struct Idp {
    key: EncodingKey,
    kid: String,
    jwks: JwkSet,
    issuer: String,
    audience: String,
}

/// What [`Idp::mint`] puts in a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The caller: `sub` and `username`.
    pub subject: String,
    /// `cognito:groups` (left out when empty).
    pub groups: Vec<String>,
    /// Lifetime: `exp` = `iat` + `ttl`, in whole seconds (a fraction of a second is dropped).
    pub ttl: Duration,
    /// OAuth scopes, `scope` space-separated (left out when empty).
    pub scopes: Vec<String>,
}

/// The claims of an access token [`Idp::mint`] signs, shaped like an Amazon Cognito user pool
/// access token's ("Understanding the access token", Amazon Cognito Developer Guide); times in
/// seconds since the epoch.
#[derive(Debug, Serialize)]
struct AccessTokenClaims<'a> {
    sub: &'a str,
    username: &'a str,
    /// Left out when empty, as Cognito does for a user in no group.
    #[serde(
        rename = "cognito:groups",
        skip_serializing_if = "<[String]>::is_empty"
    )]
    groups: &'a [String],
    iss: &'a str,
    client_id: &'a str,
    aud: &'a str,
    token_use: &'static str,
    /// Space-separated OAuth scopes; left out when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    auth_time: u64,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: &'a str,
}

impl Idp {
    /// The identity provider whose key is `dir/private-key.pem`, issuing as `issuer` (a URL
    /// such as `http://127.0.0.1:3000`, put verbatim in `iss`) for the app client `audience`.
    ///
    /// When the key file is missing, `dir` is created (mode 0700 on unix) and a fresh 2048-bit
    /// RSA key is written there (mode 0600) atomically: a temporary file is hard-linked into
    /// place, so when two processes race, both end up with the key that won.
    ///
    /// # Errors
    /// The directory or key file cannot be created or read, the file is not a PKCS#1 or
    /// PKCS#8 RSA private key of at least 2048 bits (delete it to get a new one), key
    /// generation fails, or the system clock is before 1970.
    pub fn load_or_create(
        dir: &Path,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self> {
        let path = dir.join(KEY_FILE);
        let pem = match fs::read(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == ErrorKind::NotFound => create_key(dir, &path)?,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Self::from_pem(&pem, issuer.into(), audience.into()).with_context(|| {
            format!(
                "loading the identity provider's key {} (delete it to create a new one)",
                path.display()
            )
        })
    }

    fn from_pem(pem: &[u8], issuer: String, audience: String) -> Result<Self> {
        let key = EncodingKey::from_rsa_pem(pem).context("not an RSA private key in PEM")?;
        let mut jwk =
            Jwk::from_encoding_key(&key, Algorithm::RS256).context("deriving the public key")?;
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            bail!("not an RSA key");
        };
        let modulus = B64URL
            .decode(&rsa.n)
            .context("decoding the public key's modulus")?;
        let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
        if bits < KEY_BITS {
            bail!("the RSA key has about {bits} bits; at least {KEY_BITS} are required");
        }
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .context("computing the key's thumbprint")?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(Algorithm::RS256.into());
        Ok(Self {
            key,
            kid,
            jwks: JwkSet { keys: vec![jwk] },
            issuer,
            audience,
        })
    }

    /// The issuer URL: every token's `iss`, and the base of the discovery document's URLs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The app client id: every minted token's `client_id` and `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The signing key's id (`kid` in token headers and in the JWKS): the RFC 7638 SHA-256
    /// thumbprint of the public key, base64url without padding (43 characters).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JSON Web Key Set: one RSA key with `kid`, `alg: RS256` and `use: sig`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3) served at
    /// `{issuer}`[`DISCOVERY_PATH`]: `issuer`, `jwks_uri` (`{issuer}`[`JWKS_PATH`]), the
    /// supported response types, subject types, signing algorithm (`RS256`), claims and
    /// scopes. There is no authorization or token endpoint: tokens come from `devstack token`.
    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}{JWKS_PATH}", self.issuer.trim_end_matches('/')),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": CLAIMS,
            "scopes_supported": ["openid"],
        })
    }

    /// An RS256 JWT shaped like an Amazon Cognito user pool access token, valid from now for
    /// `request.ttl`. Header `{alg: RS256, typ: JWT, kid}`; claims `sub` and `username`
    /// (the subject), `cognito:groups` (an array, left out when empty), `iss`, `client_id` and
    /// `aud` (both the audience, so ID-token-style audience checks pass too),
    /// `token_use: "access"`, `scope` (space-separated, left out when empty), `auth_time`,
    /// `iat` and `nbf` (now), `exp` (now + ttl), all times in seconds since the epoch, and a
    /// random `jti` (UUID v4).
    ///
    /// # Errors
    /// The system clock is before 1970, `exp` overflows, or signing fails.
    pub fn mint(&self, request: &TokenRequest) -> Result<String> {
        let now = now_secs()?;
        let exp = now
            .checked_add(request.ttl.as_secs())
            .ok_or_else(|| anyhow!("the token lifetime {:?} is too long", request.ttl))?;
        let jti = uuid::Uuid::new_v4().to_string();
        let scope = request.scopes.join(" ");
        let claims = AccessTokenClaims {
            sub: &request.subject,
            username: &request.subject,
            groups: &request.groups,
            iss: &self.issuer,
            client_id: &self.audience,
            aud: &self.audience,
            token_use: "access",
            scope: Some(scope.as_str()).filter(|s| !s.is_empty()),
            auth_time: now,
            iat: now,
            nbf: now,
            exp,
            jti: &jti,
        };
        let claims = serde_json::to_value(&claims).context("serialising the token's claims")?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.mint_claims(header, &claims)
    }

    /// Signs arbitrary `claims` under `header` with this provider's key, with no check of
    /// either: tests use it to build hostile tokens (no `exp`, wrong `iss`, `nbf` in the
    /// future, another key's `kid`, no `kid`...). `header.alg` must be an RSA algorithm.
    ///
    /// # Errors
    /// `header.alg` is not an RSA algorithm, or `claims` cannot be serialised.
    pub fn mint_claims(&self, header: Header, claims: &Value) -> Result<String> {
        jsonwebtoken::encode(&header, claims, &self.key)
            .with_context(|| format!("signing a token with {:?}", header.alg))
    }
}

/// Seconds since the epoch.
fn now_secs() -> Result<u64> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .context("the system clock is before 1970")
}

/// Generates a key and puts it at `path` unless another process got there first; returns the
/// PEM that is at `path` afterwards.
fn create_key(dir: &Path, path: &Path) -> Result<Vec<u8>> {
    create_private_dir(dir)?;
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .context("generating the identity provider's RSA key")?;
    let pem = key_pair.serialize_pem();
    let tmp = dir.join(format!(".{KEY_FILE}.{}.tmp", uuid::Uuid::new_v4()));
    let published = write_new_private(&tmp, pem.as_bytes()).and_then(|()| publish(&tmp, path));
    // The temporary name is gone after a rename and redundant after a link; either way a
    // failure to remove it only leaves a stray file behind.
    let _ = fs::remove_file(&tmp);
    published?;
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Moves the complete file `tmp` to `path` unless `path` exists (then the other one wins).
fn publish(tmp: &Path, path: &Path) -> Result<()> {
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: a rename is still atomic, but when two processes
        // race here the last one wins and the first may have read a key that is then replaced.
        Err(_) if !path.exists() => fs::rename(tmp, path)
            .with_context(|| format!("moving {} to {}", tmp.display(), path.display())),
        Err(_) => Ok(()),
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes `bytes` to the new file `path` (mode 0600 on unix) and flushes it to disk.
pub(crate) fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Barrier};

    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::Map;

    use super::*;

    const ISSUER: &str = "http://127.0.0.1:3000";
    const AUDIENCE: &str = "shop-local";

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("idp-test-{}", uuid::Uuid::new_v4()))
    }

    /// One provider for the tests that only mint (key generation is the slow part).
    fn shared() -> &'static Idp {
        static IDP: std::sync::OnceLock<Idp> = std::sync::OnceLock::new();
        IDP.get_or_init(|| {
            let dir = temp_dir();
            let idp = Idp::load_or_create(&dir, ISSUER, AUDIENCE).unwrap();
            let _ = fs::remove_dir_all(dir);
            idp
        })
    }

    fn verify(idp: &Idp, token: &str) -> Map<String, Value> {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let jwk = idp.jwks().find(header.kid.as_deref().unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap()
        .claims
    }

    #[test]
    fn the_key_is_created_once_and_reused_with_the_same_kid() {
        let dir = temp_dir();

        let first = Idp::load_or_create(&dir, ISSUER, AUDIENCE).unwrap();
        let pem = fs::read(dir.join(KEY_FILE)).unwrap();
        let again = Idp::load_or_create(&dir, "http://localhost:4000", "other").unwrap();

        assert_eq!(first.kid(), again.kid());
        assert_eq!(fs::read(dir.join(KEY_FILE)).unwrap(), pem);
        assert!(
            String::from_utf8(pem)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert_eq!(again.issuer(), "http://localhost:4000");
        assert_eq!(again.audience(), "other");
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(
            leftovers.len(),
            1,
            "only the key file remains: {leftovers:?}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn two_threads_creating_the_key_at_once_end_up_with_the_same_kid() {
        let dir = temp_dir();
        let start = Arc::new(Barrier::new(2));

        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (dir, start) = (dir.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    Idp::load_or_create(&dir, ISSUER, AUDIENCE).unwrap()
                })
            })
            .collect();
        let idps: Vec<Idp> = threads.into_iter().map(|t| t.join().unwrap()).collect();

        assert_eq!(idps[0].kid(), idps[1].kid());
        assert_eq!(
            Idp::load_or_create(&dir, ISSUER, AUDIENCE).unwrap().kid(),
            idps[0].kid()
        );
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint_of_the_published_key() {
        let idp = shared();

        let jwks = serde_json::to_value(idp.jwks()).unwrap();

        let key = &jwks["keys"][0];
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], idp.kid());
        assert_eq!(key["e"], "AQAB");
        assert!(key.get("d").is_none(), "no private part is published");
        assert_eq!(idp.kid().len(), 43);
        let thumbprint = idp.jwks().keys[0]
            .thumbprint(ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(idp.kid(), thumbprint);
    }

    #[test]
    fn a_minted_token_verifies_against_the_jwks_and_looks_like_a_cognito_access_token() {
        let idp = shared();
        let request = TokenRequest {
            subject: "user-1".into(),
            groups: vec!["admin".into(), "customer".into()],
            ttl: Duration::from_secs(600),
            scopes: vec!["orders/read".into(), "orders/write".into()],
        };

        let token = idp.mint(&request).unwrap();

        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some(idp.kid()));
        let claims = verify(idp, &token);
        assert_eq!(claims["sub"], "user-1");
        assert_eq!(claims["username"], "user-1");
        assert_eq!(claims["cognito:groups"], json!(["admin", "customer"]));
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["client_id"], AUDIENCE);
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["token_use"], "access");
        assert_eq!(claims["scope"], "orders/read orders/write");
        let iat = claims["iat"].as_u64().unwrap();
        assert!(iat.abs_diff(now_secs().unwrap()) <= 5);
        assert_eq!(claims["nbf"].as_u64(), Some(iat));
        assert_eq!(claims["auth_time"].as_u64(), Some(iat));
        assert_eq!(claims["exp"].as_u64(), Some(iat + 600));
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn empty_groups_and_scopes_are_left_out() {
        let idp = shared();
        let request = TokenRequest {
            subject: "user-2".into(),
            groups: vec![],
            ttl: Duration::from_secs(60),
            scopes: vec![],
        };

        let claims = verify(idp, &idp.mint(&request).unwrap());

        assert!(!claims.contains_key("cognito:groups"));
        assert!(!claims.contains_key("scope"));
    }

    #[test]
    fn two_tokens_have_different_jtis() {
        let idp = shared();
        let request = TokenRequest {
            subject: "user-3".into(),
            groups: vec![],
            ttl: Duration::from_secs(60),
            scopes: vec![],
        };

        let (a, b) = (idp.mint(&request).unwrap(), idp.mint(&request).unwrap());

        assert_ne!(verify(idp, &a)["jti"], verify(idp, &b)["jti"]);
    }

    #[test]
    fn mint_claims_signs_whatever_it_is_given() {
        let idp = shared();

        let token = idp
            .mint_claims(Header::new(Algorithm::RS384), &json!({"anything": true}))
            .unwrap();

        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS384);
        assert_eq!(header.kid, None);
        assert!(
            idp.mint_claims(Header::new(Algorithm::HS256), &json!({}))
                .is_err(),
            "an RSA key cannot sign HS256"
        );
    }

    #[test]
    fn the_discovery_document_points_at_the_jwks() {
        let idp = shared();

        let doc = idp.discovery();

        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(
            doc["jwks_uri"],
            "http://127.0.0.1:3000/.well-known/jwks.json"
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
        assert_eq!(doc["response_types_supported"], json!(["token"]));
        assert_eq!(doc["subject_types_supported"], json!(["public"]));
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["none"])
        );
        assert!(
            doc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("cognito:groups"))
        );
        assert!(
            doc["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("openid"))
        );
    }

    #[test]
    fn an_issuer_with_a_trailing_slash_gives_no_double_slash_in_the_jwks_uri() {
        let idp = Idp {
            issuer: "https://127.0.0.1:3443/".into(),
            ..shared().clone()
        };

        assert_eq!(
            idp.discovery()["jwks_uri"],
            "https://127.0.0.1:3443/.well-known/jwks.json"
        );
        assert_eq!(idp.discovery()["issuer"], "https://127.0.0.1:3443/");
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_naming_the_file() {
        let dir = temp_dir();
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(KEY_FILE), "not a key").unwrap();

        let error = Idp::load_or_create(&dir, ISSUER, AUDIENCE).unwrap_err();

        assert!(format!("{error:#}").contains(KEY_FILE), "{error:#}");
        let _ = fs::remove_dir_all(dir);
    }
}
