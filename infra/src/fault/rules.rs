//! What the fault proxy knows about a request (service, operation), the fault rules that match
//! requests, and the log of forwarded requests that `devstack requests` counts.
//!
//! The same rules fault the local payment provider ([`crate::payments`]): its requests are
//! calls of service `payments` made at one of its instances, so a rule may name the instance
//! (`instance`), apply to a fraction of its requests at random (`rate`) and fault the answer
//! after the work is done (`after`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Requests the log keeps (the oldest is dropped first).
pub const LOG_CAPACITY: usize = 10_000;

/// Bytes of each request body the log keeps.
pub const LOG_BODY_BYTES: usize = 4096;

/// Longest latency a rule may add (10 minutes).
pub const MAX_LATENCY: Duration = Duration::from_secs(600);

/// How a request is encoded, which decides the shape of an injected error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// awsJson1_0 / awsJson1_1: the operation is in `X-Amz-Target` (DynamoDB, SQS).
    Json,
    /// awsQuery: the operation is the `Action` parameter (ElastiCache, SQS's old protocol).
    Query,
    /// Neither (REST protocols, or not an AWS request at all).
    Other,
}

/// The service and operation of one request, as the fault proxy reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Lowercase service name: `dynamodb`, `dynamodbstreams`, `sqs`, or the signing name of
    /// the credential scope (`elasticache`, …); `unknown` when the request says nothing.
    pub service: String,
    /// Operation name as the API spells it (`GetItem`, `SendMessage`), when the request names it.
    pub operation: Option<String>,
    /// How the request is encoded.
    pub protocol: Protocol,
}

/// Reads the service and operation of a request.
///
/// - `X-Amz-Target: <prefix>.<Operation>` (awsJson protocols): the prefix names the service
///   (`DynamoDB_20120810` → `dynamodb`, `DynamoDBStreams_20120810` → `dynamodbstreams`,
///   `AmazonSQS` → `sqs`), else the credential scope does.
/// - Else the awsQuery `Action=` parameter, in the query string or the form-encoded body.
/// - The service otherwise comes from the SigV4 credential scope
///   (`Credential=<key>/<date>/<region>/<service>/aws4_request` in `Authorization`, or
///   `X-Amz-Credential` of a presigned URL; AWS Signature Version 4 reference).
pub fn identify(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Call {
    let scope = credential_service(headers, query);
    if let Some(target) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
    {
        let (prefix, operation) = target.split_once('.').unwrap_or((target, ""));
        let service = match prefix {
            p if p.starts_with("DynamoDBStreams_") => "dynamodbstreams".to_owned(),
            p if p.starts_with("DynamoDB_") => "dynamodb".to_owned(),
            "AmazonSQS" => "sqs".to_owned(),
            p => scope.clone().unwrap_or_else(|| p.to_ascii_lowercase()),
        };
        return Call {
            service,
            operation: (!operation.is_empty()).then(|| operation.to_owned()),
            protocol: Protocol::Json,
        };
    }
    let action = query
        .and_then(|q| form_value(q.as_bytes(), "Action"))
        .or_else(|| form_value(body, "Action"));
    Call {
        service: scope.unwrap_or_else(|| "unknown".to_owned()),
        protocol: if action.is_some() {
            Protocol::Query
        } else {
            Protocol::Other
        },
        operation: action,
    }
}

/// The signing name of the request's SigV4 credential scope, lowercase.
fn credential_service(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let credential = sigv4_credential(headers, query)?;
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [.., service, "aws4_request"] if !service.is_empty() => Some(service.to_ascii_lowercase()),
        _ => None,
    }
}

/// The SigV4 credential scope of a request, `<access key>/<date>/<region>/<service>/aws4_request`,
/// from the `Authorization` header's `Credential=` or a presigned URL's `X-Amz-Credential`
/// (AWS Signature Version 4, "Authorization header" and "Query parameters" forms).
pub(crate) fn sigv4_credential(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| {
            let start = auth.find("Credential=")? + "Credential=".len();
            let rest = &auth[start..];
            Some(rest.split([',', ' ']).next().unwrap_or(rest).to_owned())
        })
        .or_else(|| query.and_then(|q| form_value(q.as_bytes(), "X-Amz-Credential")))
}

/// The value of `name` in `application/x-www-form-urlencoded` data.
fn form_value(data: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(data)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// What a rule does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Wait `ms` milliseconds, then forward.
    Latency {
        /// Added latency, ms.
        ms: u64,
    },
    /// Never answer: hold the request until the client gives up, the rule is removed (the
    /// connection is then closed), or 5 minutes pass.
    Hang,
    /// Close the connection without an answer (the client sees a dispatch failure).
    Down,
    /// Answer the service's throttling error: DynamoDB `ProvisionedThroughputExceededException`,
    /// SQS `ThrottlingException` (see [`super::answer`]).
    Throttle,
    /// Answer `status` with the service-shaped error `code` (a default by status when absent).
    Error {
        /// HTTP status, 400–599.
        status: u16,
        /// Error code, e.g. `InternalServerError`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
}

/// A fault rule as the control API and the CLI give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Service to match (`dynamodb`, `sqs`, …; see [`Call::service`]), case-insensitive.
    pub service: String,
    /// Operation to match (`GetItem`), case-insensitive; every operation when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Substring the request body must contain (e.g. a key, `SKU-1`).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// What to do.
    pub action: Action,
    /// Apply to the next `count` matching requests only; then the rule is spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Only requests made at this instance of a local service (the payment provider's
    /// `provider-a`); a rule with an instance never matches an AWS call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Apply to this fraction of the matching requests (0 < rate <= 1), drawn at random per
    /// request; a request it is not applied to counts no hit, uses up none of `count`, and
    /// goes on to the next rule. Every matching request when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// The payment provider only: do the work first, then answer the fault (the charge
    /// exists but its answer is lost).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after: bool,
}

impl RuleSpec {
    /// Checks the values a rule cannot work with.
    ///
    /// # Errors
    /// An empty service, a status outside 400–599, a count of 0, a latency above
    /// [`MAX_LATENCY`], a rate outside (0, 1], or `after` on a service other than `payments`
    /// (the message says which).
    pub fn validate(&self) -> Result<(), String> {
        if self.service.trim().is_empty() {
            return Err("service is empty: give dynamodb, sqs or payments".into());
        }
        if let Some(rate) = self.rate
            && !(rate > 0.0 && rate <= 1.0)
        {
            return Err(format!(
                "rate {rate}: give a fraction above 0 and at most 1"
            ));
        }
        if self.after && !self.service.eq_ignore_ascii_case(crate::payments::SERVICE) {
            return Err(format!(
                "after: only the local payment provider (service {}) can fault an answer after the work",
                crate::payments::SERVICE
            ));
        }
        match &self.action {
            Action::Error { status, .. } if !(400..=599).contains(status) => {
                return Err(format!("status {status}: an injected error is 400-599"));
            }
            Action::Latency { ms } if u128::from(*ms) > MAX_LATENCY.as_millis() => {
                return Err(format!(
                    "latency {ms} ms: at most {} ms",
                    MAX_LATENCY.as_millis()
                ));
            }
            _ => {}
        }
        if self.count == Some(0) {
            return Err("count 0 would never apply: give 1 or more, or no count".into());
        }
        Ok(())
    }

    /// Whether the rule applies to the AWS call `call` with this `body` (never when the rule
    /// names an instance).
    pub fn matches(&self, call: &Call, body: &[u8]) -> bool {
        self.matches_at(call, body, None)
    }

    /// Whether the rule applies to `call` with this `body` made at `instance` (a local
    /// service's instance; `None` for an AWS call).
    pub fn matches_at(&self, call: &Call, body: &[u8], instance: Option<&str>) -> bool {
        self.instance
            .as_deref()
            .is_none_or(|want| instance == Some(want))
            && self.service.eq_ignore_ascii_case(&call.service)
            && self.operation.as_ref().is_none_or(|op| {
                call.operation
                    .as_ref()
                    .is_some_and(|o| o.eq_ignore_ascii_case(op))
            })
            && self
                .body_contains
                .as_ref()
                .is_none_or(|s| contains(body, s.as_bytes()))
    }
}

/// What [`Rules::apply_at`] found for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The rule's id.
    pub rule: u64,
    /// What to do.
    pub action: Action,
    /// Do the work first, then answer the fault ([`RuleSpec::after`]).
    pub after: bool,
}

/// An active (or spent) rule with its counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Id, unique for the life of the proxy (`devstack fault clear <id>`).
    pub id: u64,
    /// The rule as given.
    pub spec: RuleSpec,
    /// Requests it has applied to.
    pub hits: u64,
    /// Requests it will still apply to (`None`: no limit; `Some(0)`: spent).
    pub remaining: Option<u32>,
}

impl Rule {
    /// Whether it still applies to requests.
    pub fn active(&self) -> bool {
        self.remaining != Some(0)
    }
}

/// The rule set: the first active rule that matches a request (in the order added) applies.
#[derive(Debug)]
pub struct Rules {
    inner: Mutex<RulesInner>,
    /// Bumped whenever rules are removed: hanging requests wait on it.
    removed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct RulesInner {
    next_id: u64,
    rules: Vec<Rule>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            inner: Mutex::new(RulesInner {
                next_id: 1,
                rules: Vec::new(),
            }),
            removed: watch::channel(0).0,
        }
    }
}

impl Rules {
    fn lock(&self) -> std::sync::MutexGuard<'_, RulesInner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a rule and returns it with its id.
    ///
    /// # Errors
    /// [`RuleSpec::validate`] refuses it.
    pub fn add(&self, spec: RuleSpec) -> Result<Rule, String> {
        spec.validate()?;
        let mut inner = self.lock();
        let rule = Rule {
            id: inner.next_id,
            remaining: spec.count,
            spec,
            hits: 0,
        };
        inner.next_id += 1;
        inner.rules.push(rule.clone());
        Ok(rule)
    }

    /// Every rule, spent ones included, in the order added.
    pub fn list(&self) -> Vec<Rule> {
        self.lock().rules.clone()
    }

    /// Removes every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let n = std::mem::take(&mut self.lock().rules).len();
        self.removed.send_modify(|g| *g += 1);
        n
    }

    /// Removes rule `id`; false when there is none.
    pub fn remove(&self, id: u64) -> bool {
        let mut inner = self.lock();
        let before = inner.rules.len();
        inner.rules.retain(|r| r.id != id);
        let removed = inner.rules.len() != before;
        drop(inner);
        if removed {
            self.removed.send_modify(|g| *g += 1);
        }
        removed
    }

    /// The action of the first active rule matching the AWS call, counting the hit (and using
    /// up one of its `count`), with the rule's id.
    pub fn apply(&self, call: &Call, body: &[u8]) -> Option<(u64, Action)> {
        self.apply_at(call, body, None, random_fraction)
            .map(|a| (a.rule, a.action))
    }

    /// The first active rule matching `call` made at `instance` (`None`: an AWS call) that
    /// applies — a rule with a `rate` applies when `roll()` (a fraction in [0, 1), drawn once
    /// per rule tried) is below it — counting its hit and using up one of its `count`.
    pub fn apply_at(
        &self,
        call: &Call,
        body: &[u8],
        instance: Option<&str>,
        mut roll: impl FnMut() -> f64,
    ) -> Option<Applied> {
        let mut inner = self.lock();
        let rule = inner.rules.iter_mut().find(|r| {
            r.active()
                && r.spec.matches_at(call, body, instance)
                && r.spec.rate.is_none_or(|rate| roll() < rate)
        })?;
        rule.hits += 1;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        Some(Applied {
            rule: rule.id,
            action: rule.spec.action.clone(),
            after: rule.spec.after,
        })
    }

    /// Whether rule `id` is still there.
    pub fn contains(&self, id: u64) -> bool {
        self.lock().rules.iter().any(|r| r.id == id)
    }

    /// Changes whenever rules are removed.
    pub fn removals(&self) -> watch::Receiver<u64> {
        self.removed.subscribe()
    }

    /// A `hang` fault, for the fault proxy and the payment provider alike: returns once rule
    /// `id` is removed, or after [`HANG_LIMIT`] at the most.
    pub async fn hang_while_present(&self, id: u64) {
        let mut removals = self.removals();
        let _ = tokio::time::timeout(HANG_LIMIT, async {
            while removals.changed().await.is_ok() {
                if !self.contains(id) {
                    break;
                }
            }
        })
        .await;
    }
}

/// How long a `hang` rule holds a request at most.
pub const HANG_LIMIT: Duration = Duration::from_secs(300);

/// A uniform fraction in [0, 1) from `rand`'s thread-local generator: a rule's `rate` draw.
pub fn random_fraction() -> f64 {
    rand::random::<f64>()
}

/// Which logged requests to count (every field optional; all given ones must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFilter {
    /// Service (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Operation (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Substring of the first [`LOG_BODY_BYTES`] of the body.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}

#[derive(Debug)]
struct Logged {
    call: Call,
    body: Vec<u8>,
}

/// The last [`LOG_CAPACITY`] requests the proxy received (service, operation, first
/// [`LOG_BODY_BYTES`] of the body), faulted ones included.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<VecDeque<Logged>>,
}

impl RequestLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Logged>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one request.
    pub fn record(&self, call: &Call, body: &[u8]) {
        let mut entries = self.lock();
        if entries.len() >= LOG_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(Logged {
            call: call.clone(),
            body: body[..body.len().min(LOG_BODY_BYTES)].to_vec(),
        });
    }

    /// How many logged requests pass `filter`.
    pub fn count(&self, filter: &RequestFilter) -> usize {
        self.lock()
            .iter()
            .filter(|e| {
                filter
                    .service
                    .as_ref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(&e.call.service))
                    && filter.operation.as_ref().is_none_or(|op| {
                        e.call
                            .operation
                            .as_ref()
                            .is_some_and(|o| o.eq_ignore_ascii_case(op))
                    })
                    && filter
                        .body_contains
                        .as_ref()
                        .is_none_or(|s| contains(&e.body, s.as_bytes()))
            })
            .count()
    }
}

/// Whether `needle` occurs in `haystack` (an empty needle always does).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const DYNAMO_AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=abc";

    fn spec(service: &str, operation: Option<&str>, action: Action) -> RuleSpec {
        RuleSpec {
            service: service.into(),
            operation: operation.map(Into::into),
            body_contains: None,
            action,
            count: None,
            instance: None,
            rate: None,
            after: false,
        }
    }

    fn get_item() -> Call {
        Call {
            service: "dynamodb".into(),
            operation: Some("GetItem".into()),
            protocol: Protocol::Json,
        }
    }

    #[test]
    fn a_dynamodb_target_names_the_service_and_the_operation() {
        let h = headers(&[
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
            ("authorization", DYNAMO_AUTH),
        ]);
        assert_eq!(identify(&h, None, b"{}"), get_item());
    }

    #[test]
    fn an_sqs_json_target_names_sqs_and_the_operation() {
        let h = headers(&[("x-amz-target", "AmazonSQS.SendMessage")]);
        let call = identify(&h, None, b"{}");
        assert_eq!(call.service, "sqs");
        assert_eq!(call.operation.as_deref(), Some("SendMessage"));
        assert_eq!(call.protocol, Protocol::Json);
    }

    #[test]
    fn a_stream_target_is_not_taken_for_dynamodb() {
        let h = headers(&[
            ("x-amz-target", "DynamoDBStreams_20120810.GetRecords"),
            ("authorization", DYNAMO_AUTH),
        ]);
        assert_eq!(identify(&h, None, b"{}").service, "dynamodbstreams");
    }

    #[test]
    fn a_query_action_in_the_body_names_the_operation_and_the_scope_the_service() {
        let h = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/elasticache/aws4_request, SignedHeaders=host, Signature=abc",
        )]);
        let call = identify(
            &h,
            None,
            b"Action=DescribeReplicationGroups&Version=2015-02-02",
        );
        assert_eq!(call.service, "elasticache");
        assert_eq!(call.operation.as_deref(), Some("DescribeReplicationGroups"));
        assert_eq!(call.protocol, Protocol::Query);
    }

    #[test]
    fn a_query_action_in_the_url_counts_too() {
        let call = identify(
            &HeaderMap::new(),
            Some(
                "Action=ListQueues&X-Amz-Credential=k%2F20250101%2Fus-east-1%2Fsqs%2Faws4_request",
            ),
            b"",
        );
        assert_eq!(call.service, "sqs");
        assert_eq!(call.operation.as_deref(), Some("ListQueues"));
    }

    #[test]
    fn a_request_that_says_nothing_is_unknown() {
        let call = identify(&HeaderMap::new(), None, b"hello");
        assert_eq!(call.service, "unknown");
        assert_eq!(call.operation, None);
        assert_eq!(call.protocol, Protocol::Other);
    }

    #[test]
    fn a_rule_matches_service_operation_and_body_case_insensitively_on_names() {
        let mut rule = spec("DynamoDB", Some("getitem"), Action::Throttle);
        rule.body_contains = Some("SKU-1".into());
        assert!(rule.matches(&get_item(), br#"{"Key":{"pk":{"S":"SKU-1"}}}"#));
        assert!(!rule.matches(&get_item(), br#"{"Key":{"pk":{"S":"SKU-2"}}}"#));
        let put = Call {
            operation: Some("PutItem".into()),
            ..get_item()
        };
        assert!(!rule.matches(&put, b"SKU-1"));
        let sqs = Call {
            service: "sqs".into(),
            ..get_item()
        };
        assert!(!rule.matches(&sqs, b"SKU-1"));
    }

    #[test]
    fn a_rule_without_operation_matches_every_operation_of_its_service() {
        let rule = spec("dynamodb", None, Action::Down);
        let put = Call {
            operation: Some("PutItem".into()),
            ..get_item()
        };
        assert!(rule.matches(&get_item(), b""));
        assert!(rule.matches(&put, b""));
    }

    #[test]
    fn a_counted_rule_applies_that_many_times_then_is_spent() {
        let rules = Rules::default();
        let mut s = spec("dynamodb", Some("GetItem"), Action::Throttle);
        s.count = Some(2);
        let id = rules.add(s).unwrap().id;
        assert_eq!(rules.apply(&get_item(), b""), Some((id, Action::Throttle)));
        assert_eq!(rules.apply(&get_item(), b""), Some((id, Action::Throttle)));
        assert_eq!(rules.apply(&get_item(), b""), None);
        let listed = rules.list();
        assert_eq!(listed[0].hits, 2);
        assert!(!listed[0].active());
    }

    #[test]
    fn the_first_active_rule_added_wins_and_counts_the_hit() {
        let rules = Rules::default();
        let first = rules
            .add(spec("dynamodb", None, Action::Latency { ms: 5 }))
            .unwrap();
        rules
            .add(spec("dynamodb", Some("GetItem"), Action::Down))
            .unwrap();
        assert_eq!(
            rules.apply(&get_item(), b""),
            Some((first.id, Action::Latency { ms: 5 }))
        );
        let hits: Vec<u64> = rules.list().iter().map(|r| r.hits).collect();
        assert_eq!(hits, vec![1, 0]);
    }

    #[test]
    fn removing_rules_stops_them_and_wakes_hanging_requests() {
        let rules = Rules::default();
        let mut removals = rules.removals();
        let id = rules.add(spec("sqs", None, Action::Hang)).unwrap().id;
        assert!(rules.remove(id));
        assert!(removals.has_changed().unwrap());
        removals.mark_unchanged();
        assert!(!rules.remove(id));
        rules.add(spec("sqs", None, Action::Hang)).unwrap();
        assert_eq!(rules.clear(), 1);
        assert!(removals.has_changed().unwrap());
        let sqs = Call {
            service: "sqs".into(),
            ..get_item()
        };
        assert_eq!(rules.apply(&sqs, b""), None);
    }

    #[test]
    fn a_rule_that_cannot_work_is_refused() {
        let rules = Rules::default();
        let mut zero = spec("dynamodb", None, Action::Throttle);
        zero.count = Some(0);
        assert!(rules.add(zero).is_err());
        let status = spec(
            "dynamodb",
            None,
            Action::Error {
                status: 200,
                code: None,
            },
        );
        assert!(rules.add(status).is_err());
        assert!(rules.add(spec(" ", None, Action::Down)).is_err());
        assert!(rules.list().is_empty());
    }

    fn charge() -> Call {
        Call {
            service: "payments".into(),
            operation: Some("CreateCharge".into()),
            protocol: Protocol::Other,
        }
    }

    #[test]
    fn a_rule_with_an_instance_matches_only_that_instance_and_never_an_aws_call() {
        let rules = Rules::default();
        let mut s = spec("payments", None, Action::Down);
        s.instance = Some("provider-b".into());
        let id = rules.add(s).unwrap().id;
        assert_eq!(
            rules.apply_at(&charge(), b"", Some("provider-a"), || 0.0),
            None
        );
        let applied = rules
            .apply_at(&charge(), b"", Some("provider-b"), || 0.0)
            .unwrap();
        assert_eq!((applied.rule, applied.action), (id, Action::Down));
        assert!(!applied.after);
        let mut aws = spec("dynamodb", None, Action::Down);
        aws.instance = Some("provider-b".into());
        rules.add(aws).unwrap();
        assert_eq!(rules.apply(&get_item(), b""), None);
    }

    #[test]
    fn a_rate_applies_to_the_rolls_below_it_and_a_miss_counts_nothing_and_falls_through() {
        let rules = Rules::default();
        let mut half = spec(
            "payments",
            None,
            Action::Error {
                status: 503,
                code: None,
            },
        );
        half.rate = Some(0.5);
        half.count = Some(1);
        let half = rules.add(half).unwrap().id;
        let fallback = rules
            .add(spec("payments", None, Action::Throttle))
            .unwrap()
            .id;
        let missed = rules
            .apply_at(&charge(), b"", Some("provider-a"), || 0.7)
            .unwrap();
        assert_eq!(missed.rule, fallback);
        assert_eq!(rules.list()[0].hits, 0);
        assert_eq!(rules.list()[0].remaining, Some(1));
        let hit = rules
            .apply_at(&charge(), b"", Some("provider-a"), || 0.2)
            .unwrap();
        assert_eq!(hit.rule, half);
        assert_eq!(rules.list()[0].remaining, Some(0));
    }

    #[test]
    fn a_random_rate_applies_to_about_that_fraction_of_requests() {
        let rules = Rules::default();
        let mut s = spec("payments", None, Action::Down);
        s.rate = Some(0.5);
        rules.add(s).unwrap();
        let applied = (0..4000)
            .filter(|_| {
                rules
                    .apply_at(&charge(), b"", Some("provider-a"), random_fraction)
                    .is_some()
            })
            .count();
        // Binomial(4000, 0.5): 1800..2200 is more than 12 standard deviations wide.
        assert!((1800..=2200).contains(&applied), "{applied} of 4000");
    }

    #[test]
    fn a_rate_outside_zero_to_one_or_after_on_an_aws_service_is_refused() {
        let rules = Rules::default();
        for rate in [0.0, -0.5, 1.5, f64::NAN] {
            let mut s = spec("payments", None, Action::Down);
            s.rate = Some(rate);
            assert!(rules.add(s).is_err(), "rate {rate}");
        }
        let mut after = spec("dynamodb", None, Action::Down);
        after.after = true;
        assert!(rules.add(after).is_err());
        let mut after = spec("payments", None, Action::Down);
        after.after = true;
        assert!(rules.apply_at(&charge(), b"", None, || 0.0).is_none());
        rules.add(after).unwrap();
        assert!(rules.apply_at(&charge(), b"", None, || 0.0).unwrap().after);
    }

    #[test]
    fn a_rule_without_the_new_fields_reads_and_writes_as_before() {
        let json = r#"{"service":"sqs","action":{"kind":"down"},"count":2}"#;
        let s: RuleSpec = serde_json::from_str(json).unwrap();
        assert_eq!(
            (s.instance.as_deref(), s.rate, s.after),
            (None, None, false)
        );
        assert_eq!(serde_json::to_string(&s).unwrap(), json);
        let full: RuleSpec = serde_json::from_str(
            r#"{"service":"payments","action":{"kind":"down"},"instance":"provider-a","rate":0.25,"after":true}"#,
        )
        .unwrap();
        assert_eq!(full.instance.as_deref(), Some("provider-a"));
        assert_eq!(full.rate, Some(0.25));
        assert!(full.after);
    }

    #[test]
    fn the_log_counts_by_body_substring_and_operation_and_forgets_the_oldest() {
        let log = RequestLog::default();
        let put = Call {
            operation: Some("PutItem".into()),
            ..get_item()
        };
        log.record(&get_item(), b"SKU-1");
        log.record(&get_item(), b"SKU-2");
        log.record(&put, b"SKU-1");
        let by = |m: &str, op: Option<&str>| RequestFilter {
            service: None,
            operation: op.map(Into::into),
            body_contains: Some(m.into()),
        };
        assert_eq!(log.count(&by("SKU-1", None)), 2);
        assert_eq!(log.count(&by("SKU-1", Some("getitem"))), 1);
        assert_eq!(log.count(&by("SKU-3", None)), 0);
        for _ in 0..LOG_CAPACITY {
            log.record(&put, b"other");
        }
        assert_eq!(log.count(&by("SKU", None)), 0);
        assert_eq!(log.count(&RequestFilter::default()), LOG_CAPACITY);
    }

    #[test]
    fn the_log_keeps_only_the_start_of_a_body() {
        let log = RequestLog::default();
        let mut body = vec![b'x'; LOG_BODY_BYTES];
        body.extend_from_slice(b"TAIL");
        log.record(&get_item(), &body);
        let tail = RequestFilter {
            body_contains: Some("TAIL".into()),
            ..RequestFilter::default()
        };
        assert_eq!(log.count(&tail), 0);
    }
}
