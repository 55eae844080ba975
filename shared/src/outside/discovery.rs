//! [`CloudMapDiscovery`]: the healthy instances of an AWS Cloud Map service
//! (`DiscoverInstances`), cached for a TTL.
//!
//! Each instance's base URL is its attribute `URL` (set in the template's
//! `AWS::ServiceDiscovery::Instance`); an instance without one is skipped with a warning. Cloud
//! Map answers only the instances whose (custom) health status is `HEALTHY` (`HealthStatus =
//! HEALTHY`), so an instance marked unhealthy (`UpdateInstanceCustomHealthStatus`) or a new one
//! is seen at the next lookup, without a redeploy.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_servicediscovery::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_servicediscovery::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_servicediscovery::types::HealthStatusFilter;

use super::{Discovery, Endpoint};
use crate::error::Error;

/// The instance attribute that holds an instance's base URL.
pub const URL_ATTRIBUTE: &str = "URL";

/// The healthy instances of service `service` in the HTTP namespace `namespace`, looked up with
/// `DiscoverInstances` and cached for a TTL.
///
/// - a fresh cache is served without a call;
/// - [`Discovery::invalidate`] marks it stale: the next [`Discovery::endpoints`] looks up again;
/// - when a lookup fails, the last list (stale) is served, and trusted for another TTL, so an
///   unreachable Cloud Map costs one slow lookup per TTL, not one per call; with nothing cached
///   the failure is returned ([`Error::ServiceUnavailable`] for an outage or throttling).
///
/// Concurrent callers of a stale cache share one lookup.
#[derive(Debug)]
pub struct CloudMapDiscovery {
    client: aws_sdk_servicediscovery::Client,
    namespace: String,
    service: String,
    ttl: Duration,
    cache: Mutex<Cache>,
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Cache {
    endpoints: Option<Vec<Endpoint>>,
    fresh_until: Option<Instant>,
}

impl CloudMapDiscovery {
    /// How long a lookup is trusted by default: 5 s. An instance marked unhealthy stops getting
    /// calls within that (sooner when a call to it fails: the cache is then invalidated).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

    /// Discovery of `service` in `namespace` (names, not ids), with a client built from `sdk`.
    ///
    /// When an endpoint override is configured (`AWS_ENDPOINT_URL` or
    /// `AWS_ENDPOINT_URL_SERVICEDISCOVERY`: the local emulator), `DiscoverInstances` is sent to
    /// that host as it is: the SDK would prefix its host with `data-` (the operation's endpoint
    /// `hostPrefix`, which real Cloud Map needs: `data-servicediscovery.<region>.amazonaws.com`)
    /// and `data-127.0.0.1` resolves nowhere. Without an override nothing changes.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        namespace: impl Into<String>,
        service: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        let mut config = aws_sdk_servicediscovery::config::Builder::from(sdk);
        if let Some(authority) = endpoint_override(sdk) {
            config = config.interceptor(NoHostPrefix { authority });
        }
        Self {
            client: aws_sdk_servicediscovery::Client::from_conf(config.build()),
            namespace: namespace.into(),
            service: service.into(),
            ttl,
            cache: Mutex::new(Cache::default()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached list while fresh.
    fn fresh(&self) -> Option<Vec<Endpoint>> {
        let cache = self.cache.lock().ok()?;
        match (&cache.endpoints, cache.fresh_until) {
            (Some(endpoints), Some(until)) if Instant::now() < until => Some(endpoints.clone()),
            _ => None,
        }
    }

    async fn lookup(&self) -> Result<Vec<Endpoint>, Error> {
        let context = format!(
            "cloud map DiscoverInstances of service {} in namespace {}",
            self.service, self.namespace
        );
        let output = self
            .client
            .discover_instances()
            .namespace_name(&self.namespace)
            .service_name(&self.service)
            .health_status(HealthStatusFilter::Healthy)
            .send()
            .await
            .map_err(|error| crate::aws::sdk_error(context, error))?;
        let mut endpoints = Vec::new();
        for instance in output.instances() {
            let id = instance.instance_id().unwrap_or_default();
            match instance.attributes().and_then(|a| a.get(URL_ATTRIBUTE)) {
                Some(url) => endpoints.push(Endpoint::new(id, url.clone())),
                None => tracing::warn!(
                    namespace = %self.namespace,
                    service = %self.service,
                    instance_id = id,
                    "cloud map instance has no {URL_ATTRIBUTE} attribute: skipped"
                ),
            }
        }
        // A stable order, so round robin spreads evenly whatever order Cloud Map answers in.
        endpoints.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        Ok(endpoints)
    }

    fn store(&self, endpoints: Option<Vec<Endpoint>>) {
        if let Ok(mut cache) = self.cache.lock() {
            if endpoints.is_some() {
                cache.endpoints = endpoints;
            }
            cache.fresh_until = Some(Instant::now() + self.ttl);
        }
    }

    fn stale(&self) -> Option<Vec<Endpoint>> {
        self.cache.lock().ok()?.endpoints.clone()
    }
}

#[async_trait]
impl Discovery for CloudMapDiscovery {
    async fn endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        if let Some(endpoints) = self.fresh() {
            return Ok(endpoints);
        }
        let _single_flight = self.refresh.lock().await;
        // Another caller may have refreshed while this one waited.
        if let Some(endpoints) = self.fresh() {
            return Ok(endpoints);
        }
        match self.lookup().await {
            Ok(endpoints) => {
                tracing::debug!(namespace = %self.namespace, service = %self.service, count = endpoints.len(), "cloud map instances discovered");
                self.store(Some(endpoints.clone()));
                Ok(endpoints)
            }
            Err(error) => match self.stale() {
                Some(endpoints) => {
                    tracing::warn!(namespace = %self.namespace, service = %self.service, error = %error.chain(), "cloud map lookup failed: serving the last instances");
                    self.store(None);
                    Ok(endpoints)
                }
                None => Err(error),
            },
        }
    }

    fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.fresh_until = None;
        }
    }
}

/// The host and port of the endpoint override for Cloud Map (a local emulator), if any:
/// `AWS_ENDPOINT_URL_SERVICEDISCOVERY`, else the SDK config's endpoint (`AWS_ENDPOINT_URL`).
fn endpoint_override(sdk: &aws_config::SdkConfig) -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let url = var("AWS_ENDPOINT_URL_SERVICEDISCOVERY")
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
        .or_else(|| var("AWS_ENDPOINT_URL"))?;
    let uri = url.parse::<http::Uri>().ok()?;
    Some(uri.authority()?.as_str().to_owned())
}

/// Removes the `data-` host prefix the SDK puts on `DiscoverInstances` when the host is the
/// endpoint override's (installed only then, see [`CloudMapDiscovery::new`]). Runs after the
/// endpoint is applied and before signing, so the signature covers the host actually called.
#[derive(Debug)]
struct NoHostPrefix {
    /// The override's `host:port`, e.g. `127.0.0.1:4570`.
    authority: String,
}

const HOST_PREFIX: &str = "data-";

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_servicediscovery::error::BoxError> {
        let request = context.request_mut();
        if let Some(uri) = without_host_prefix(request.uri(), &self.authority) {
            request.set_uri(uri)?;
        }
        Ok(())
    }
}

/// `http://data-127.0.0.1:4570/` -> `http://127.0.0.1:4570/` when `authority` is
/// `127.0.0.1:4570`; `None` when the host is not `data-` + `authority`.
fn without_host_prefix(uri: &str, authority: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let host = rest.strip_prefix(HOST_PREFIX)?;
    let after = host.strip_prefix(authority)?;
    if !(after.is_empty() || after.starts_with(['/', '?'])) {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_prefix_is_removed_from_the_override_host_only() {
        assert_eq!(
            without_host_prefix("http://data-127.0.0.1:4570/", "127.0.0.1:4570").as_deref(),
            Some("http://127.0.0.1:4570/")
        );
        assert_eq!(
            without_host_prefix("https://data-localhost:4566/x?data-y", "localhost:4566")
                .as_deref(),
            Some("https://localhost:4566/x?data-y")
        );
        assert_eq!(
            without_host_prefix("http://127.0.0.1:4570/data-x", "127.0.0.1:4570"),
            None
        );
        assert_eq!(
            without_host_prefix("http://data-127.0.0.1:45701/", "127.0.0.1:4570"),
            None,
            "another port"
        );
        assert_eq!(
            without_host_prefix(
                "https://data-servicediscovery.us-east-1.amazonaws.com/",
                "127.0.0.1:4570"
            ),
            None,
            "real Cloud Map keeps its prefix"
        );
    }
}
