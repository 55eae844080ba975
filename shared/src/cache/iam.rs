//! ElastiCache IAM authentication: the token is a SigV4-presigned `connect` request.
//!
//! From the ElastiCache user guide ("Authenticating with IAM"): sign
//! `GET http://<cache name>/?Action=connect&User=<user id>` for service `elasticache` in the
//! cache's region, in the query string, valid 900 s; the token is that URL without `http://`.
//! It is the password of `AUTH <user id> <token>` (the user id is the user name here). A
//! serverless cache would add `ResourceType=ServerlessCache`; ours is a replication group.
//! A token is checked only when a connection authenticates, so every (re)connect asks for a
//! fresh one ([`IamCredentials`]), and a long-lived connection re-authenticates every
//! [`REFRESH_EVERY`] (ElastiCache closes IAM connections after 12 h unless they do).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use futures::Stream;
use redis::auth::{BasicAuth, StreamingCredentialsProvider};

use crate::error::{BoxError, Error};

/// How long a token is valid: 900 s, the longest ElastiCache accepts.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// How often a live connection re-authenticates with a fresh token: 10 min, well inside
/// [`TOKEN_LIFETIME`].
pub const REFRESH_EVERY: Duration = Duration::from_secs(600);

/// The SigV4 service name of ElastiCache's IAM tokens.
const SERVICE: &str = "elasticache";

/// The IAM auth token for `user` of cache `cache_name` in `region`, signed with `credentials`
/// at `time`: `<cache_name>/?Action=connect&User=<user>&X-Amz-Algorithm=...&X-Amz-Expires=900&...&X-Amz-Signature=<hex>`
/// (no scheme).
///
/// # Errors
/// [`Error::Internal`] when signing fails (e.g. a cache name that is not a valid host).
pub fn auth_token(
    cache_name: &str,
    user: &str,
    region: &str,
    credentials: Credentials,
    time: SystemTime,
) -> Result<String, Error> {
    let failed = |e: BoxError| Error::internal("signing the ElastiCache IAM auth token", e);
    let user_param: String = form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let url = format!("http://{cache_name}/?Action=connect&User={user_param}");
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| failed(e.into()))?
        .into();
    let signable = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| failed(e.into()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| failed(e.into()))?
        .into_parts();
    let mut request = http::Request::builder()
        .method("GET")
        .uri(&url)
        .body(())
        .map_err(|e| failed(e.into()))?;
    instructions.apply_to_request_http1x(&mut request);
    let signed = request.uri().to_string();
    Ok(signed
        .strip_prefix("http://")
        .unwrap_or(signed.as_str())
        .to_owned())
}

/// Hands redis-rs a fresh IAM token for every connection it opens, then a new one every
/// [`REFRESH_EVERY`] to re-authenticate the live connection.
#[derive(Clone)]
pub struct IamCredentials {
    cache_name: Arc<str>,
    user: Arc<str>,
    region: Arc<str>,
    provider: SharedCredentialsProvider,
}

impl std::fmt::Debug for IamCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamCredentials")
            .field("cache_name", &self.cache_name)
            .field("user", &self.user)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl IamCredentials {
    /// Tokens for `user` of `cache_name`, signed with `sdk`'s region and credentials.
    ///
    /// # Errors
    /// [`Error::Internal`] when `sdk` has no region or no credentials provider.
    pub fn new(cache_name: &str, user: &str, sdk: &SdkConfig) -> Result<Self, Error> {
        let region = sdk.region().ok_or_else(|| {
            Error::internal("ElastiCache IAM auth", "the SDK config has no region")
        })?;
        let provider = sdk.credentials_provider().ok_or_else(|| {
            Error::internal("ElastiCache IAM auth", "the SDK config has no credentials")
        })?;
        Ok(Self {
            cache_name: cache_name.into(),
            user: user.into(),
            region: region.as_ref().into(),
            provider,
        })
    }

    /// A fresh token (fetches credentials, which the SDK caches).
    ///
    /// # Errors
    /// [`Error::Internal`] when no credentials can be had or signing fails.
    pub async fn token(&self) -> Result<String, Error> {
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| Error::internal("ElastiCache IAM auth: loading credentials", e))?;
        auth_token(
            &self.cache_name,
            &self.user,
            &self.region,
            credentials,
            SystemTime::now(),
        )
    }
}

impl StreamingCredentialsProvider for IamCredentials {
    fn subscribe(
        &self,
    ) -> Pin<Box<dyn Stream<Item = redis::RedisResult<BasicAuth>> + Send + 'static>> {
        let this = self.clone();
        Box::pin(futures::stream::unfold(true, move |first| {
            let this = this.clone();
            async move {
                if !first {
                    tokio::time::sleep(REFRESH_EVERY).await;
                }
                let item = this
                    .token()
                    .await
                    .map(|token| BasicAuth::new(this.user.to_string(), token))
                    .map_err(|e| {
                        tracing::warn!(error = %e.chain(), "cannot make an ElastiCache IAM token");
                        redis::RedisError::from((
                            redis::ErrorKind::AuthenticationFailed,
                            "cannot make an ElastiCache IAM token",
                            e.chain(),
                        ))
                    });
                Some((item, false))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> String {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        auth_token(
            "shop-cache",
            "shop-functions",
            "eu-west-1",
            credentials,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap()
    }

    fn params(token: &str) -> Vec<(String, String)> {
        let (_, query) = token.split_once("/?").unwrap();
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn the_token_is_the_presigned_connect_url_of_the_cache_without_a_scheme() {
        let token = token();

        assert!(token.starts_with("shop-cache/?"), "{token}");
        assert!(!token.contains("://"), "{token}");
        let params = params(&token);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("Action"), Some("connect"));
        assert_eq!(get("User"), Some("shop-functions"));
        assert_eq!(get("X-Amz-Expires"), Some("900"));
        assert_eq!(get("X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
        assert_eq!(
            get("X-Amz-Credential"),
            Some("AKIDEXAMPLE/20231114/eu-west-1/elasticache/aws4_request")
        );
        assert_eq!(get("X-Amz-Date"), Some("20231114T221320Z"));
        let signature = get("X-Amz-Signature").unwrap();
        assert_eq!(signature.len(), 64);
        assert!(signature.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            get("ResourceType"),
            None,
            "a replication group, not serverless"
        );
    }

    #[test]
    fn a_session_token_is_carried_in_the_token() {
        let credentials = Credentials::new("AKID", "secret", Some("session".into()), None, "test");

        let token = auth_token("c", "u", "us-east-1", credentials, SystemTime::now()).unwrap();

        assert!(
            params(&token)
                .iter()
                .any(|(k, v)| k == "X-Amz-Security-Token" && v == "session")
        );
    }

    #[test]
    fn the_token_changes_with_the_signing_time() {
        let credentials = Credentials::new("AKID", "secret", None, None, "test");
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);

        let one = auth_token("c", "u", "us-east-1", credentials.clone(), at(1_000)).unwrap();
        let two = auth_token("c", "u", "us-east-1", credentials, at(2_000)).unwrap();

        assert_ne!(one, two);
    }
}
