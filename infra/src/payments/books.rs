//! The provider's books and its HTTP API without the network: [`Books::process`] answers one
//! request (authentication, routing, validation, idempotency, charges and refunds) and keeps the
//! ledger; [`AccessLog`] keeps every request an instance received. Both are shared by all
//! instances: one provider, several endpoints.
//!
//! Idempotency follows Stripe's rules ("Idempotent requests", Stripe API reference): the first
//! answer (2xx or 4xx) to a key is stored with the request's method, path and body; the same
//! key with the same request (JSON compared as values, so whitespace and key order do not
//! matter) replays that answer, marked `Idempotent-Replayed: true`; the same key with another
//! request is `400 idempotency_error`. Keys are not scoped by instance.

mod charges;

use std::collections::{BTreeMap, HashMap, VecDeque};

use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use charges::{ChargeParams, Decline, charge_answer, token_decline};

/// Requests the access log keeps (the oldest is dropped first).
pub const ACCESS_LOG_CAPACITY: usize = 100_000;

/// Largest amount of one charge, in cents (Stripe's limit for USD: $999,999.99).
pub const MAX_AMOUNT: i64 = 99_999_999;

/// The operation a request is, as fault rules name it: `CreateCharge`, `CreateRefund`,
/// `Health`; `None` for anything else.
pub fn operation(method: &Method, path: &str) -> Option<&'static str> {
    match (method, path.trim_end_matches('/')) {
        (&Method::POST, "/v1/charges") => Some("CreateCharge"),
        (&Method::POST, "/v1/refunds") => Some("CreateRefund"),
        (&Method::GET, "/health") => Some("Health"),
        _ => None,
    }
}

/// One answer of the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Value,
    /// A replay of the first answer to the request's `Idempotency-Key`.
    pub replayed: bool,
}

impl Answer {
    fn new(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            replayed: false,
        }
    }
}

/// A Stripe-shaped error answer: `{"error":{"type","code","message",...extra}}`.
pub fn error(status: StatusCode, kind: &str, code: &str, message: &str, extra: Value) -> Answer {
    let mut body = json!({ "type": kind, "code": code, "message": message });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    Answer::new(status, json!({ "error": body }))
}

/// A charge or a refund as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Position in the ledger, from 1.
    pub seq: u64,
    /// `charge` or `refund`.
    pub kind: String,
    /// `ch_…` or `re_…`.
    pub id: String,
    /// `succeeded` or `failed` (a declined charge).
    pub status: String,
    /// Cents.
    pub amount: i64,
    /// ISO currency code, lowercase (`usd`).
    pub currency: String,
    /// The token charged (charges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The charge refunded (refunds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<String>,
    /// `metadata.order_id` of the charge, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Why a charge failed (`generic_decline`, `insufficient_funds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: String,
    /// The instance that took the request.
    pub instance: String,
    /// When, RFC 3339.
    pub at: String,
}

/// One request an instance received, faulted and refused ones included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// Position in the log, from 1, increasing.
    pub seq: u64,
    /// When it arrived, RFC 3339.
    pub at: String,
    /// The instance it reached.
    pub instance: String,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// The status answered; `null` when the connection was closed without an answer.
    pub status: Option<u16>,
    /// Its `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// The fault rule applied to it, if any.
    pub fault: Option<u64>,
}

/// The last [`ACCESS_LOG_CAPACITY`] requests of every instance.
#[derive(Debug, Default)]
pub struct AccessLog {
    next: u64,
    entries: VecDeque<AccessEntry>,
}

impl AccessLog {
    /// Records one request (its `seq` is assigned here) and returns its seq.
    pub fn record(&mut self, mut entry: AccessEntry) -> u64 {
        self.next += 1;
        entry.seq = self.next;
        if self.entries.len() >= ACCESS_LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        self.next
    }

    /// The entries with a seq above `after` (all when `None`), of `instance` only when given.
    pub fn entries(&self, after: Option<u64>, instance: Option<&str>) -> Vec<AccessEntry> {
        self.entries
            .iter()
            .filter(|e| after.is_none_or(|a| e.seq > a))
            .filter(|e| instance.is_none_or(|i| e.instance == i))
            .cloned()
            .collect()
    }
}

/// What a key was first used for, and the answer then.
#[derive(Debug, Clone)]
struct Stored {
    method: Method,
    path: String,
    body: Value,
    answer: Answer,
}

#[derive(Debug, Clone)]
struct Charge {
    amount: i64,
    currency: String,
    succeeded: bool,
    order_id: Option<String>,
    refund: Option<String>,
}

/// Charges, refunds, idempotency keys and the ledger of one provider.
#[derive(Debug)]
pub struct Books {
    api_key: String,
    keys: HashMap<String, Stored>,
    charges: HashMap<String, Charge>,
    ledger: Vec<LedgerEntry>,
}

/// A request as [`Books::process`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The instance that received it.
    pub instance: &'a str,
    /// HTTP method.
    pub method: &'a Method,
    /// Path (no query).
    pub path: &'a str,
    /// Headers (`Authorization`, `Idempotency-Key`).
    pub headers: &'a HeaderMap,
    /// Body bytes (JSON).
    pub body: &'a [u8],
}

/// The `Idempotency-Key` of a request, if it has a non-empty one.
pub fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(ToOwned::to_owned)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    )
}

fn invalid(code: &str, param: &str, message: &str) -> Answer {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        code,
        message,
        json!({ "param": param }),
    )
}

impl Books {
    /// Empty books accepting `Authorization: Bearer <api_key>`.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            keys: HashMap::new(),
            charges: HashMap::new(),
            ledger: Vec::new(),
        }
    }

    /// The ledger, of one order when `order` is given.
    pub fn ledger(&self, order: Option<&str>) -> Vec<LedgerEntry> {
        self.ledger
            .iter()
            .filter(|e| order.is_none_or(|o| e.order_id.as_deref() == Some(o)))
            .cloned()
            .collect()
    }

    /// Answers one request (see the module docs and [`crate::payments`] for the API).
    pub fn process(&mut self, req: Request<'_>) -> Answer {
        let authorised = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|k| k.trim() == self.api_key);
        if !authorised {
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "authentication_error",
                "Invalid API Key provided: give Authorization: Bearer <the key in the secret>",
                json!({}),
            );
        }
        match operation(req.method, req.path) {
            Some("Health") => Answer::new(
                StatusCode::OK,
                json!({ "status": "ok", "instance": req.instance }),
            ),
            Some(op) => self.idempotent(req, op),
            _ => error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "resource_missing",
                &format!("Unrecognized request URL ({} {})", req.method, req.path),
                json!({}),
            ),
        }
    }

    fn idempotent(&mut self, req: Request<'_>, op: &str) -> Answer {
        let Some(key) = idempotency_key(req.headers) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "idempotency_key_missing",
                "Give every POST an Idempotency-Key header",
                json!({}),
            );
        };
        let Ok(body) = serde_json::from_slice::<Value>(req.body) else {
            return invalid(
                "parameter_invalid",
                "body",
                "The body is not JSON: send application/json",
            );
        };
        let path = req.path.trim_end_matches('/').to_owned();
        if let Some(stored) = self.keys.get(&key) {
            if stored.method == *req.method && stored.path == path && stored.body == body {
                return Answer {
                    replayed: true,
                    ..stored.answer.clone()
                };
            }
            return error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "idempotency_error",
                &format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with ({} {}); try a new key",
                    stored.method, stored.path
                ),
                json!({}),
            );
        }
        let answer = match op {
            "CreateCharge" => self.charge(req.instance, &key, &body),
            _ => self.refund(req.instance, &key, &body),
        };
        self.keys.insert(
            key,
            Stored {
                method: req.method.clone(),
                path,
                body,
                answer: answer.clone(),
            },
        );
        answer
    }

    fn charge(&mut self, instance: &str, key: &str, body: &Value) -> Answer {
        let params = match ChargeParams::read(body) {
            Ok(params) => params,
            Err(answer) => return answer,
        };
        let decline = match token_decline(&params.source) {
            Ok(decline) => decline,
            Err(answer) => return answer,
        };
        let id = self.book_charge(instance, key, &params, decline);
        charge_answer(id, params, decline)
    }

    /// Books charge `params` (declined when `decline` is given) under a new id, in the charges
    /// and in the ledger; returns the id.
    fn book_charge(
        &mut self,
        instance: &str,
        key: &str,
        params: &ChargeParams,
        decline: Option<Decline>,
    ) -> String {
        let amount = params.amount;
        let id = new_id("ch");
        let order_id = params
            .metadata
            .get("order_id")
            .and_then(Value::as_str)
            .map(ToOwned::to_owned);
        self.charges.insert(
            id.clone(),
            Charge {
                amount,
                currency: params.currency.clone(),
                succeeded: decline.is_none(),
                order_id: order_id.clone(),
                refund: None,
            },
        );
        self.ledger.push(LedgerEntry {
            seq: self.ledger.len() as u64 + 1,
            kind: "charge".into(),
            id: id.clone(),
            status: if decline.is_none() {
                "succeeded"
            } else {
                "failed"
            }
            .into(),
            amount,
            currency: params.currency.clone(),
            source: Some(params.source.clone()),
            charge: None,
            order_id,
            decline_code: decline.map(|(code, _)| code.to_owned()),
            idempotency_key: key.to_owned(),
            instance: instance.to_owned(),
            at: now(),
        });
        id
    }

    fn refund(&mut self, instance: &str, key: &str, body: &Value) -> Answer {
        let id = match body.get("charge") {
            None | Some(Value::Null) => {
                return invalid(
                    "parameter_missing",
                    "charge",
                    "Missing required param: charge.",
                );
            }
            Some(Value::String(c)) => c.clone(),
            Some(_) => return invalid("parameter_invalid", "charge", "charge must be a charge id"),
        };
        let Some(charge) = self.charges.get_mut(&id) else {
            return error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "resource_missing",
                &format!("No such charge: '{id}'"),
                json!({ "param": "charge" }),
            );
        };
        if !charge.succeeded {
            return invalid(
                "charge_not_refundable",
                "charge",
                &format!("Charge {id} failed: there is nothing to refund"),
            );
        }
        if let Some(refund) = &charge.refund {
            return invalid(
                "charge_already_refunded",
                "charge",
                &format!("Charge {id} has already been refunded ({refund})"),
            );
        }
        let refund = new_id("re");
        charge.refund = Some(refund.clone());
        let (amount, currency, order_id) = (
            charge.amount,
            charge.currency.clone(),
            charge.order_id.clone(),
        );
        self.ledger.push(LedgerEntry {
            seq: self.ledger.len() as u64 + 1,
            kind: "refund".into(),
            id: refund.clone(),
            status: "succeeded".into(),
            amount,
            currency: currency.clone(),
            source: None,
            charge: Some(id.clone()),
            order_id,
            decline_code: None,
            idempotency_key: key.to_owned(),
            instance: instance.to_owned(),
            at: now(),
        });
        Answer::new(
            StatusCode::OK,
            json!({
                "id": refund, "object": "refund", "charge": id, "amount": amount,
                "currency": currency, "status": "succeeded",
            }),
        )
    }
}

/// Counts of the ledger by kind and status, for a one-line summary.
pub fn summary(ledger: &[LedgerEntry]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in ledger {
        *counts
            .entry(format!("{} {}", e.kind, e.status))
            .or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_test_0123456789abcdef0123456789abcdef";

    fn headers(idempotency: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Bearer {KEY}").parse().unwrap());
        if let Some(k) = idempotency {
            h.insert("idempotency-key", k.parse().unwrap());
        }
        h
    }

    fn post(books: &mut Books, path: &str, key: Option<&str>, body: &Value) -> Answer {
        let h = headers(key);
        let body = body.to_string();
        books.process(Request {
            instance: "provider-a",
            method: &Method::POST,
            path,
            headers: &h,
            body: body.as_bytes(),
        })
    }

    fn charge(source: &str) -> Value {
        json!({"amount": 2500, "currency": "usd", "source": source, "metadata": {"order_id": "o-1"}})
    }

    #[test]
    fn a_visa_charge_succeeds_and_is_in_the_ledger_with_its_order() {
        let mut b = Books::new(KEY);
        let a = post(&mut b, "/v1/charges", Some("k1"), &charge("tok_visa"));
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body["status"], "succeeded");
        assert_eq!(a.body["object"], "charge");
        let id = a.body["id"].as_str().unwrap();
        assert!(id.starts_with("ch_") && id.len() == 27, "{id}");
        let ledger = b.ledger(Some("o-1"));
        assert_eq!(ledger.len(), 1);
        assert_eq!(ledger[0].id, id);
        assert_eq!(ledger[0].amount, 2500);
        assert_eq!(ledger[0].idempotency_key, "k1");
        assert!(b.ledger(Some("o-2")).is_empty());
    }

    #[test]
    fn a_declined_token_answers_402_with_its_decline_code_and_a_failed_charge() {
        let mut b = Books::new(KEY);
        let a = post(
            &mut b,
            "/v1/charges",
            Some("k1"),
            &charge("tok_insufficient_funds"),
        );
        assert_eq!(a.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(a.body["error"]["type"], "card_error");
        assert_eq!(a.body["error"]["code"], "card_declined");
        assert_eq!(a.body["error"]["decline_code"], "insufficient_funds");
        let ledger = b.ledger(None);
        assert_eq!(ledger[0].status, "failed");
        assert_eq!(
            ledger[0].decline_code.as_deref(),
            Some("insufficient_funds")
        );
        assert_eq!(a.body["error"]["charge"], ledger[0].id.as_str());
    }

    #[test]
    fn the_same_key_and_body_replays_the_first_answer_without_a_second_charge() {
        let mut b = Books::new(KEY);
        let first = post(&mut b, "/v1/charges", Some("k1"), &charge("tok_visa"));
        let again = post(&mut b, "/v1/charges", Some("k1"), &charge("tok_visa"));
        assert!(again.replayed && !first.replayed);
        assert_eq!(again.body, first.body);
        assert_eq!(b.ledger(None).len(), 1);
    }

    #[test]
    fn the_same_key_with_another_body_is_an_idempotency_error() {
        let mut b = Books::new(KEY);
        post(&mut b, "/v1/charges", Some("k1"), &charge("tok_visa"));
        let mut other = charge("tok_visa");
        other["amount"] = json!(2600);
        let a = post(&mut b, "/v1/charges", Some("k1"), &other);
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.body["error"]["type"], "idempotency_error");
        assert_eq!(b.ledger(None).len(), 1);
    }

    #[test]
    fn a_request_without_the_key_or_with_a_wrong_api_key_is_refused() {
        let mut b = Books::new(KEY);
        let a = post(&mut b, "/v1/charges", None, &charge("tok_visa"));
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.body["error"]["code"], "idempotency_key_missing");
        let mut h = headers(Some("k"));
        h.insert("authorization", "Bearer sk_test_wrong".parse().unwrap());
        let a = b.process(Request {
            instance: "provider-a",
            method: &Method::GET,
            path: "/health",
            headers: &h,
            body: b"",
        });
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.body["error"]["type"], "authentication_error");
        assert!(b.ledger(None).is_empty());
    }

    #[test]
    fn bad_or_missing_fields_name_the_parameter_and_an_unknown_token_is_a_missing_resource() {
        let mut b = Books::new(KEY);
        let a = post(
            &mut b,
            "/v1/charges",
            Some("k1"),
            &json!({"currency": "usd", "source": "tok_visa"}),
        );
        assert_eq!(a.body["error"]["code"], "parameter_missing");
        assert_eq!(a.body["error"]["param"], "amount");
        let a = post(
            &mut b,
            "/v1/charges",
            Some("k2"),
            &json!({"amount": 0, "currency": "usd", "source": "tok_visa"}),
        );
        assert_eq!(a.body["error"]["code"], "parameter_invalid");
        let a = post(
            &mut b,
            "/v1/charges",
            Some("k3"),
            &json!({"amount": 1.5, "currency": "usd", "source": "tok_visa"}),
        );
        assert_eq!(a.body["error"]["param"], "amount");
        let a = post(&mut b, "/v1/charges", Some("k4"), &charge("tok_unknown"));
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.body["error"]["code"], "resource_missing");
        assert_eq!(a.body["error"]["param"], "source");
        assert!(b.ledger(None).is_empty());
    }

    #[test]
    fn a_charge_is_refunded_once_and_a_failed_or_unknown_one_never() {
        let mut b = Books::new(KEY);
        let ch = post(&mut b, "/v1/charges", Some("c1"), &charge("tok_visa")).body["id"].clone();
        let r = post(&mut b, "/v1/refunds", Some("r1"), &json!({"charge": ch}));
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["object"], "refund");
        assert_eq!(r.body["amount"], 2500);
        assert!(r.body["id"].as_str().unwrap().starts_with("re_"));
        let replay = post(&mut b, "/v1/refunds", Some("r1"), &json!({"charge": ch}));
        assert!(replay.replayed);
        let twice = post(&mut b, "/v1/refunds", Some("r2"), &json!({"charge": ch}));
        assert_eq!(twice.body["error"]["code"], "charge_already_refunded");
        let unknown = post(
            &mut b,
            "/v1/refunds",
            Some("r3"),
            &json!({"charge": "ch_nope"}),
        );
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let failed = post(&mut b, "/v1/charges", Some("c2"), &charge("tok_declined")).body["error"]
            ["charge"]
            .clone();
        let r = post(
            &mut b,
            "/v1/refunds",
            Some("r4"),
            &json!({"charge": failed}),
        );
        assert_eq!(r.body["error"]["code"], "charge_not_refundable");
        let ledger = b.ledger(Some("o-1"));
        let kinds: Vec<_> = ledger
            .iter()
            .map(|e| format!("{} {}", e.kind, e.status))
            .collect();
        assert_eq!(
            kinds,
            ["charge succeeded", "refund succeeded", "charge failed"]
        );
        assert_eq!(
            ledger[1].charge.as_ref(),
            ch.as_str().map(ToOwned::to_owned).as_ref()
        );
    }

    #[test]
    fn health_names_the_instance() {
        let mut b = Books::new(KEY);
        let h = headers(None);
        let a = b.process(Request {
            instance: "provider-b",
            method: &Method::GET,
            path: "/health",
            headers: &h,
            body: b"",
        });
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body, json!({"status": "ok", "instance": "provider-b"}));
    }

    #[test]
    fn the_access_log_filters_by_instance_and_seq() {
        let mut log = AccessLog::default();
        let entry = |instance: &str| AccessEntry {
            seq: 0,
            at: now(),
            instance: instance.into(),
            method: "POST".into(),
            path: "/v1/charges".into(),
            status: Some(200),
            idempotency_key: None,
            fault: None,
        };
        log.record(entry("provider-a"));
        let second = log.record(entry("provider-b"));
        log.record(entry("provider-a"));
        assert_eq!(log.entries(None, Some("provider-a")).len(), 2);
        let after: Vec<u64> = log
            .entries(Some(second), None)
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(after, [3]);
    }
}
