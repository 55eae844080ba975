//! One order's saga as a timeline: the `POST /orders` request (its request id is the events'
//! correlation id), then every delivery of a record carrying that correlation id or the order
//! id, in time order, then the order's current status (read by [`api`](super::api) from the
//! orders table).

use serde::{Deserialize, Serialize};

use super::{Delivery, RecordOutcome, RequestEntry, SourceKind};

/// `GET /console/api/saga`'s query: one of the two (both: either matches).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SagaQuery {
    /// An order id.
    #[serde(default)]
    pub order_id: Option<String>,
    /// A correlation id (the request id of the request that placed the order).
    #[serde(default)]
    pub correlation_id: Option<String>,
}

/// What a hop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HopKind {
    /// A request through the gateway.
    Request,
    /// A record delivered to a function by an event source mapping.
    Delivery,
    /// The order's current status.
    Status,
}

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    /// When, ms since the epoch (`None` for the status, read now).
    pub time_ms: Option<i64>,
    /// What it is.
    pub kind: HopKind,
    /// A one-line summary: `POST /orders`, `OrderPlaced → reserve-stock`, `CONFIRMED`.
    pub label: String,
    /// The function (binary name), when one ran.
    pub function: Option<String>,
    /// The event type of a delivered record.
    pub event_type: Option<String>,
    /// The queue or table logical id of a delivery.
    pub source: Option<String>,
    /// `ok` or `failed` (a delivery), the status code (a request), the status (the order).
    pub outcome: String,
    /// How long it took, ms.
    pub duration_ms: Option<u64>,
    /// The SQS message id, the stream sequence number, or the request id.
    pub id: Option<String>,
}

/// `GET /console/api/saga`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The order id (given, or read from a record of the correlation id).
    pub order_id: Option<String>,
    /// The correlation id (given, or read from a record of the order).
    pub correlation_id: Option<String>,
    /// The hops, oldest first; the status last when known.
    pub hops: Vec<Hop>,
    /// The order's status in the orders table, when read.
    pub status: Option<String>,
    /// The distinct X-Ray trace roots (`1-…-…`) its delivered events carried, in order of
    /// appearance: one when the trace followed the order through the saga.
    pub trace_roots: Vec<String>,
}

/// The `Root=` value of an X-Ray trace header (`Root=1-…;Parent=…;Sampled=1`).
fn trace_root(header: &str) -> Option<&str> {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .filter(|root| !root.is_empty())
}

impl Timeline {
    /// Appends the order's current `status` as the last hop.
    pub fn with_status(mut self, status: Option<String>) -> Self {
        if let Some(s) = &status {
            self.hops.push(Hop {
                time_ms: None,
                kind: HopKind::Status,
                label: s.clone(),
                function: None,
                event_type: None,
                source: None,
                outcome: s.clone(),
                duration_ms: None,
                id: self.order_id.clone(),
            });
        }
        self.status = status;
        self
    }
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The timeline of `query` from the kept `requests` and `deliveries` (without the status).
pub fn assemble(query: &SagaQuery, requests: &[RequestEntry], deliveries: &[Delivery]) -> Timeline {
    let mut order_id = non_empty(query.order_id.as_ref());
    let mut correlation_id = non_empty(query.correlation_id.as_ref());
    let records = || deliveries.iter().flat_map(|d| d.records.iter());
    if correlation_id.is_none()
        && let Some(oid) = &order_id
    {
        correlation_id = records()
            .find(|r| r.order_id.as_ref() == Some(oid) && r.correlation_id.is_some())
            .and_then(|r| r.correlation_id.clone());
    }
    if order_id.is_none()
        && let Some(cid) = &correlation_id
    {
        order_id = records()
            .find(|r| r.correlation_id.as_ref() == Some(cid) && r.order_id.is_some())
            .and_then(|r| r.order_id.clone());
    }
    let mut hops: Vec<(i64, usize, Hop)> = Vec::new();
    let mut trace_roots: Vec<String> = Vec::new();
    if let Some(cid) = &correlation_id {
        for r in requests.iter().filter(|r| &r.request_id == cid) {
            hops.push((
                r.time_ms,
                hops.len(),
                Hop {
                    time_ms: Some(r.time_ms),
                    kind: HopKind::Request,
                    label: r.route.clone(),
                    function: Some(r.function.clone()).filter(|f| !f.is_empty()),
                    event_type: None,
                    source: None,
                    outcome: r.status.to_string(),
                    duration_ms: Some(r.latency_ms),
                    id: Some(r.request_id.clone()),
                },
            ));
        }
    }
    for d in deliveries {
        for r in &d.records {
            let by_order = order_id.is_some() && r.order_id == order_id;
            let by_correlation = correlation_id.is_some() && r.correlation_id == correlation_id;
            if !(by_order || by_correlation) {
                continue;
            }
            if let Some(root) = r.trace_header.as_deref().and_then(trace_root)
                && !trace_roots.iter().any(|t| t == root)
            {
                trace_roots.push(root.to_owned());
            }
            let event = r.event_type.clone().unwrap_or_else(|| "record".to_owned());
            hops.push((
                d.time_ms,
                hops.len(),
                Hop {
                    time_ms: Some(d.time_ms),
                    kind: HopKind::Delivery,
                    label: format!("{event} → {}", d.function),
                    function: Some(d.function.clone()),
                    event_type: r.event_type.clone(),
                    source: Some(match d.kind {
                        SourceKind::Sqs => d.source.clone(),
                        SourceKind::Stream => format!("{} stream", d.source),
                    }),
                    outcome: match r.outcome {
                        RecordOutcome::Ok => "ok",
                        RecordOutcome::Failed => "failed",
                    }
                    .to_owned(),
                    duration_ms: Some(d.duration_ms),
                    id: Some(r.id.clone()),
                },
            ));
        }
    }
    hops.sort_by_key(|(t, i, _)| (*t, *i));
    Timeline {
        order_id,
        correlation_id,
        hops: hops.into_iter().map(|(_, _, h)| h).collect(),
        status: None,
        trace_roots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::DeliveredRecord;

    fn record(
        id: &str,
        event: &str,
        order: &str,
        cid: &str,
        outcome: RecordOutcome,
    ) -> DeliveredRecord {
        DeliveredRecord {
            id: id.into(),
            event_type: Some(event.into()),
            event_id: Some(format!("e-{id}")),
            correlation_id: Some(cid.into()),
            order_id: Some(order.into()),
            trace_header: None,
            outcome,
        }
    }

    fn delivery(
        time_ms: i64,
        kind: SourceKind,
        source: &str,
        function: &str,
        records: Vec<DeliveredRecord>,
    ) -> Delivery {
        Delivery {
            time_ms,
            kind,
            source: source.into(),
            function: function.into(),
            records,
            duration_ms: 7,
            error: None,
        }
    }

    fn placed() -> RequestEntry {
        RequestEntry {
            time_ms: 100,
            method: "POST".into(),
            path: "/orders".into(),
            route: "POST /orders".into(),
            status: 201,
            latency_ms: 30,
            function: "create-order".into(),
            request_id: "req-1".into(),
        }
    }

    fn saga() -> (Vec<RequestEntry>, Vec<Delivery>) {
        let ok = RecordOutcome::Ok;
        let other = RequestEntry {
            request_id: "req-2".into(),
            ..placed()
        };
        let deliveries = vec![
            // Out of time order on purpose, and another order's record in the same batch.
            delivery(
                400,
                SourceKind::Sqs,
                "PaymentsQueue",
                "capture-payment",
                vec![record("m2", "StockReserved", "o-1", "req-1", ok)],
            ),
            delivery(
                200,
                SourceKind::Stream,
                "OutboxTable",
                "relay-outbox",
                vec![
                    record("s1", "OrderPlaced", "o-1", "req-1", ok),
                    record("s2", "OrderPlaced", "o-2", "req-2", ok),
                ],
            ),
            delivery(
                300,
                SourceKind::Sqs,
                "InventoryQueue",
                "reserve-stock",
                vec![record(
                    "m1",
                    "OrderPlaced",
                    "o-1",
                    "req-1",
                    RecordOutcome::Failed,
                )],
            ),
            delivery(
                350,
                SourceKind::Sqs,
                "InventoryQueue",
                "reserve-stock",
                vec![record("m1", "OrderPlaced", "o-1", "req-1", ok)],
            ),
            delivery(
                500,
                SourceKind::Sqs,
                "OrdersQueue",
                "process-orders",
                vec![record("m3", "PaymentCaptured", "o-1", "req-1", ok)],
            ),
        ];
        (vec![other, placed()], deliveries)
    }

    fn labels(t: &Timeline) -> Vec<(String, String)> {
        t.hops
            .iter()
            .map(|h| (h.label.clone(), h.outcome.clone()))
            .collect()
    }

    #[test]
    fn the_timeline_lists_each_trace_root_its_events_carried_once() {
        let traced = |id: &str, header: &str| DeliveredRecord {
            trace_header: Some(header.into()),
            ..record(id, "OrderPlaced", "o-1", "req-1", RecordOutcome::Ok)
        };
        let deliveries = vec![
            delivery(
                200,
                SourceKind::Stream,
                "OutboxTable",
                "relay-outbox",
                vec![traced(
                    "s1",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                )],
            ),
            delivery(
                300,
                SourceKind::Sqs,
                "InventoryQueue",
                "reserve-stock",
                vec![traced(
                    "m1",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000001;Sampled=1",
                )],
            ),
        ];
        let query = SagaQuery {
            order_id: Some("o-1".into()),
            correlation_id: None,
        };
        let t = assemble(&query, &[placed()], &deliveries);
        assert_eq!(t.trace_roots, ["1-5759e988-bd862e3fe1be46a994272793"]);
        let untraced = assemble(&query, &[placed()], &saga().1);
        assert!(untraced.trace_roots.is_empty());
    }

    #[test]
    fn an_order_id_finds_the_request_and_every_hop_in_time_order_then_the_status() {
        let (requests, deliveries) = saga();
        let query = SagaQuery {
            order_id: Some("o-1".into()),
            correlation_id: None,
        };
        let t = assemble(&query, &requests, &deliveries).with_status(Some("CONFIRMED".into()));
        assert_eq!(t.correlation_id.as_deref(), Some("req-1"));
        let expected = [
            ("POST /orders", "201"),
            ("OrderPlaced → relay-outbox", "ok"),
            ("OrderPlaced → reserve-stock", "failed"),
            ("OrderPlaced → reserve-stock", "ok"),
            ("StockReserved → capture-payment", "ok"),
            ("PaymentCaptured → process-orders", "ok"),
            ("CONFIRMED", "CONFIRMED"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        assert_eq!(labels(&t), expected);
        assert_eq!(t.hops[1].source.as_deref(), Some("OutboxTable stream"));
        assert_eq!(t.hops.last().map(|h| h.kind), Some(HopKind::Status));
    }

    #[test]
    fn a_correlation_id_finds_the_same_saga_and_its_order_id() {
        let (requests, deliveries) = saga();
        let by_cid = assemble(
            &SagaQuery {
                order_id: None,
                correlation_id: Some("req-1".into()),
            },
            &requests,
            &deliveries,
        );
        let by_oid = assemble(
            &SagaQuery {
                order_id: Some("o-1".into()),
                correlation_id: None,
            },
            &requests,
            &deliveries,
        );
        assert_eq!(by_cid.order_id.as_deref(), Some("o-1"));
        assert_eq!(labels(&by_cid), labels(&by_oid));
    }

    #[test]
    fn an_unknown_or_empty_id_gives_an_empty_timeline() {
        let (requests, deliveries) = saga();
        let none = assemble(
            &SagaQuery {
                order_id: Some("o-9".into()),
                correlation_id: None,
            },
            &requests,
            &deliveries,
        );
        assert!(none.hops.is_empty());
        assert_eq!(none.correlation_id, None);
        let blank = assemble(
            &SagaQuery {
                order_id: Some("  ".into()),
                correlation_id: None,
            },
            &requests,
            &deliveries,
        );
        assert!(blank.hops.is_empty());
        assert_eq!(blank.order_id, None);
    }
}
