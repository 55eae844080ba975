//! The local payment provider: a Stripe-test-mode-like HTTP API for charges and refunds, served
//! as one listener per Cloud Map instance of the template (in template order, on
//! `--payments-port` and the ports after it, 127.0.0.1 only), all sharing one set of books
//! ([`books::Books`]: charges, refunds, idempotency keys, the ledger) and one access log.
//! devstack registers these listeners' URLs as the instances' `URL` attribute in the emulator's
//! Cloud Map, and the template's secret holds the one API key they accept.
//!
//! A template without `AWS::ServiceDiscovery::Instance` resources gets a provider with no
//! instances: nothing listens, the ledger and the access log stay empty.
//!
//! API (JSON; errors are `{"error":{"type","code","message",...}}`):
//!
//! | request | answer |
//! |---|---|
//! | any, without `Authorization: Bearer <key>` | `401` `authentication_error` |
//! | `POST /v1/charges` `{"amount":<cents>,"currency":"usd","source":"<token>","metadata":{"order_id":"…"}}` | `200` charge `{"id":"ch_…","object":"charge","status":"succeeded",…}` for `tok_visa`/`tok_mastercard`; `402` `card_error`/`card_declined` with `decline_code` `generic_decline` (`tok_declined`) or `insufficient_funds` (`tok_insufficient_funds`) and the failed `charge`; `400` `resource_missing` (`param: source`) for another token; `400` `parameter_missing`/`parameter_invalid` with `param` |
//! | `POST /v1/refunds` `{"charge":"ch_…"}` (full refund) | `200` refund `{"id":"re_…","object":"refund","charge","amount","status":"succeeded"}`; `404` `resource_missing`; `400` `charge_already_refunded` / `charge_not_refundable` |
//! | a `POST` without `Idempotency-Key` | `400` `idempotency_key_missing` |
//! | `GET /health` | `200` `{"status":"ok","instance":"provider-a"}` |
//!
//! Idempotency: see [`books`]. Faults: the fault rules of service [`SERVICE`] (operations
//! `CreateCharge`, `CreateRefund`, `Health`; optionally one `instance`, a `rate`, `after`):
//! `down` closes the connection, `hang` holds it, `latency` waits then serves, `error` answers
//! the status with `{"error":{"type":"api_error","code":"injected_fault"}}`, `throttle` answers
//! `429` with `Retry-After: 1`. An injected answer stores no idempotency key unless the work
//! was done first (`after`).

pub mod books;
pub mod server;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::fault::Faults;
use books::{AccessEntry, AccessLog, Answer, Books, LedgerEntry};
pub use sam_template::provision::discovery::InstanceHealth;

/// The service name of the provider's requests in fault rules (`devstack fault add payments`).
pub const SERVICE: &str = "payments";

/// The first instance's port when `--payments-port` is not given.
pub const DEFAULT_PORT: u16 = 4610;

/// The provider: books and access log shared by all its instances, faulted by `faults`.
#[derive(Debug)]
pub struct Provider {
    books: Mutex<Books>,
    log: Mutex<AccessLog>,
    faults: Arc<Faults>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: keep using it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Provider {
    /// A provider accepting `Authorization: Bearer <api_key>`, applying `faults`' rules.
    pub fn new(api_key: impl Into<String>, faults: Arc<Faults>) -> Self {
        Self {
            books: Mutex::new(Books::new(api_key)),
            log: Mutex::new(AccessLog::default()),
            faults,
        }
    }

    /// Answers one request from the books, without faults or logging.
    pub fn process(&self, req: books::Request<'_>) -> Answer {
        lock(&self.books).process(req)
    }

    /// Every charge and refund, of one order when `order` is given.
    pub fn ledger(&self, order: Option<&str>) -> Vec<LedgerEntry> {
        lock(&self.books).ledger(order)
    }

    /// The access log after seq `after`, of one instance when given.
    pub fn log(&self, after: Option<u64>, instance: Option<&str>) -> Vec<AccessEntry> {
        lock(&self.log).entries(after, instance)
    }

    fn record(&self, entry: AccessEntry) {
        lock(&self.log).record(entry);
    }
}

/// One served instance, as the ready file lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Its Cloud Map instance id (`provider-a`).
    pub instance: String,
    /// Its base URL (`http://127.0.0.1:4610`).
    pub url: String,
}

/// The Cloud Map service the instances are registered in (changes when the emulator restarts).
#[derive(Debug, Clone)]
pub struct Target {
    /// Client of the emulator's Cloud Map (devstack's own: not through the fault proxy).
    pub client: aws_sdk_servicediscovery::Client,
    /// The service's id.
    pub service_id: String,
    /// The service's name.
    pub service: String,
    /// Its namespace's name.
    pub namespace: String,
}

/// What the control API needs of the payments: the provider, its instances and where they are
/// registered.
#[derive(Debug)]
pub struct Payments {
    /// The provider.
    pub provider: Arc<Provider>,
    /// The instances served, in template order.
    pub instances: Vec<Instance>,
    target: RwLock<Option<Target>>,
}

/// `POST /payments/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthChange {
    /// The instance id (`provider-b`).
    pub instance: String,
    /// `healthy` or `unhealthy` (case-insensitive).
    pub status: String,
}

impl Payments {
    /// The payments of a stack: `provider` serving `instances`, registered in `target`.
    pub fn new(provider: Arc<Provider>, instances: Vec<Instance>, target: Option<Target>) -> Self {
        Self {
            provider,
            instances,
            target: RwLock::new(target),
        }
    }

    /// Points at the service of a re-provisioned emulator.
    pub fn set_target(&self, target: Option<Target>) {
        *self.target.write().unwrap_or_else(PoisonError::into_inner) = target;
    }

    fn target(&self) -> Result<Target> {
        self.target
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                anyhow!(
                    "the template registers no Cloud Map instance (or the emulator did not create its service): there is nothing to show or mark"
                )
            })
    }

    /// Every instance of the service with its URL and health.
    ///
    /// # Errors
    /// No service (the template has none), or the emulator refuses the calls.
    pub async fn instances(&self) -> Result<Vec<InstanceHealth>> {
        let t = self.target()?;
        sam_template::provision::discovery::instances(&t.client, &t.service_id).await
    }

    /// Marks an instance healthy or unhealthy (`UpdateInstanceCustomHealthStatus`).
    ///
    /// # Errors
    /// A status other than healthy/unhealthy, an instance the service does not have, no
    /// service, or the emulator refuses the call. The message says which.
    pub async fn set_health(&self, change: &HealthChange) -> Result<String> {
        let healthy = match change.status.to_ascii_lowercase().as_str() {
            "healthy" => true,
            "unhealthy" => false,
            other => bail!("status {other:?}: give healthy or unhealthy"),
        };
        let t = self.target()?;
        let known = sam_template::provision::discovery::instances(&t.client, &t.service_id).await?;
        if !known.iter().any(|i| i.instance == change.instance) {
            let ids: Vec<_> = known.iter().map(|i| i.instance.as_str()).collect();
            bail!(
                "service {} has no instance {} (instances: {})",
                t.service,
                change.instance,
                ids.join(", ")
            );
        }
        sam_template::provision::discovery::set_health(
            &t.client,
            &t.service_id,
            &change.instance,
            healthy,
        )
        .await?;
        Ok(format!(
            "instance {} of {}/{} is now {}",
            change.instance,
            t.namespace,
            t.service,
            if healthy { "HEALTHY" } else { "UNHEALTHY" }
        ))
    }
}
