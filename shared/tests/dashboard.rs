//! The template's dashboard and alarms name only metrics that exist: every custom metric
//! (namespace `Shop`) is one the code emits — `shared::metrics`' catalogue, with exactly its
//! dimensions, from a function that emits it — and every AWS metric is one the service
//! documents, with dimensions it publishes. A misspelt name or a missing dimension would leave
//! a graph empty and an alarm forever in `INSUFFICIENT_DATA`: CloudWatch accepts both silently.
//!
//! AWS metric lists: "Monitoring HTTP APIs with CloudWatch" (API Gateway), "Types of metrics for
//! Lambda functions", "Available CloudWatch metrics for Amazon SQS".

// The template readers live outside `#[test]` functions, where `allow-expect-in-tests` does not
// reach; a template that does not read as expected should fail the test loudly.
#![expect(clippy::expect_used, reason = "a test's template readers")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use shared::metrics::Metric;

const TEMPLATE: &str = include_str!("../../template.yaml");

/// One metric a dashboard widget or an alarm names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Named {
    /// Where: `Dashboard widget "<title>"` or `<AlarmLogicalId>`.
    place: String,
    namespace: String,
    name: String,
    /// Dimension name → value (`None` inside a SEARCH schema, where only the names are given).
    dimensions: BTreeMap<String, Option<String>>,
}

/// Documented metrics and the dimension sets each AWS namespace publishes.
fn aws_metrics(
    namespace: &str,
) -> Option<(&'static [&'static str], &'static [&'static [&'static str]])> {
    match namespace {
        "AWS/ApiGateway" => Some((
            &[
                "Count",
                "4xx",
                "5xx",
                "Latency",
                "IntegrationLatency",
                "DataProcessed",
            ],
            &[
                &["ApiId"],
                &["ApiId", "Stage"],
                &["ApiId", "Stage", "Route"],
            ],
        )),
        "AWS/Lambda" => Some((
            &[
                "Invocations",
                "Errors",
                "Throttles",
                "Duration",
                "ConcurrentExecutions",
                "IteratorAge",
                "DeadLetterErrors",
                "UnreservedConcurrentExecutions",
                "ClaimedAccountConcurrency",
            ],
            &[&[], &["FunctionName"], &["FunctionName", "Resource"]],
        )),
        "AWS/SQS" => Some((
            &[
                "ApproximateNumberOfMessagesVisible",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
                "ApproximateAgeOfOldestMessage",
                "NumberOfMessagesSent",
                "NumberOfMessagesReceived",
                "NumberOfMessagesDeleted",
                "NumberOfEmptyReceives",
                "SentMessageSize",
            ],
            &[&["QueueName"]],
        )),
        _ => None,
    }
}

/// The binaries of the functions with an `HttpApi` event (the rest consume events).
fn http_functions() -> BTreeSet<String> {
    resources(&template())
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter(|(_, r)| {
            r["Properties"]["Events"]
                .as_mapping()
                .is_some_and(|events| {
                    events
                        .values()
                        .any(|e| e["Type"].as_str() == Some("HttpApi"))
                })
        })
        .map(|(id, r)| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .map_or_else(|| id.clone(), str::to_owned)
        })
        .collect()
}

fn template() -> Yaml {
    serde_norway::from_str(TEMPLATE).expect("template.yaml parses")
}

/// A tagged value's inner value (`!Sub "..."` → `"..."`); anything else unchanged.
fn untag(v: &Yaml) -> &Yaml {
    match v {
        Yaml::Tagged(t) => &t.value,
        other => other,
    }
}

/// A dimension value as written: a plain string, or `!Ref X` / `!GetAtt X.Y` as `${X}` /
/// `${X.Y}` (the dashboard's `!Sub` spelling), so both read alike.
fn dimension_value(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Tagged(t) => match &t.value {
            Yaml::String(s) => format!("${{{s}}}"),
            other => format!("{other:?}"),
        },
        other => format!("{other:?}"),
    }
}

fn resources(template: &Yaml) -> Vec<(String, &Yaml)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().expect("logical id").to_owned(), v))
        .collect()
}

fn alarm_metric(place: &str, metric: &Yaml) -> Named {
    let dimensions = metric["Dimensions"]
        .as_sequence()
        .map(|ds| {
            ds.iter()
                .map(|d| {
                    (
                        d["Name"].as_str().expect("dimension Name").to_owned(),
                        Some(dimension_value(&d["Value"])),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Named {
        place: place.to_owned(),
        namespace: metric["Namespace"].as_str().expect("Namespace").to_owned(),
        name: metric["MetricName"]
            .as_str()
            .expect("MetricName")
            .to_owned(),
        dimensions,
    }
}

/// Every metric the alarms name (a single metric, or the `MetricStat`s of a metric math alarm).
fn alarm_metrics(template: &Yaml) -> Vec<Named> {
    let mut out = Vec::new();
    for (id, r) in resources(template) {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let p = &r["Properties"];
        if p.get("MetricName").is_some() {
            out.push(alarm_metric(&id, p));
        }
        for m in p["Metrics"].as_sequence().into_iter().flatten() {
            if let Some(stat) = m.get("MetricStat") {
                out.push(alarm_metric(&id, &stat["Metric"]));
            } else {
                assert!(
                    m.get("Expression").is_some(),
                    "{id}: a Metrics entry is a MetricStat or an Expression"
                );
            }
        }
    }
    out
}

/// The dashboard's body: the `!Sub` string, parsed as JSON (substitutions stay as written).
fn dashboard_body(template: &Yaml) -> Json {
    let (_, dashboard) = resources(template)
        .into_iter()
        .find(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Dashboard"))
        .expect("a dashboard in the template");
    let body = untag(&dashboard["Properties"]["DashboardBody"])
        .as_str()
        .expect("DashboardBody is a (Sub) string");
    serde_json::from_str(body).expect("DashboardBody is JSON")
}

/// `SEARCH('{Namespace,Dim1,Dim2} MetricName="X" ...', 'Stat', period)` → the metric it finds.
fn search_metric(place: &str, expression: &str) -> Option<Named> {
    let inner = expression.strip_prefix("SEARCH('")?;
    let schema = inner.strip_prefix('{')?.split_once('}')?.0;
    let mut parts = schema.split(',').map(str::trim);
    let namespace = parts.next()?.to_owned();
    let dimensions = parts.map(|d| (d.to_owned(), None)).collect();
    let name = inner
        .split_once("MetricName=\"")?
        .1
        .split_once('"')?
        .0
        .to_owned();
    Some(Named {
        place: place.to_owned(),
        namespace,
        name,
        dimensions,
    })
}

/// Every metric the dashboard's widgets name: rows `[ns, name, dim, value, ..., {opts}]`
/// (`"."` repeats the row above) and `SEARCH` expressions.
fn dashboard_metrics(template: &Yaml) -> Vec<Named> {
    let body = dashboard_body(template);
    let mut out = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        if widget["type"] != "metric" {
            continue;
        }
        let place = format!("dashboard widget {}", widget["properties"]["title"]);
        let mut previous: Vec<String> = Vec::new();
        for row in widget["properties"]["metrics"].as_array().expect("metrics") {
            let row = row.as_array().expect("a metrics row is an array");
            let strings: Vec<String> = row
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            if strings.is_empty() {
                let expression = row[0]["expression"].as_str().expect("an expression row");
                if expression.starts_with("SEARCH(") {
                    out.push(search_metric(&place, expression).unwrap_or_else(|| {
                        panic!("{place}: unreadable SEARCH expression {expression}")
                    }));
                }
                continue;
            }
            let strings: Vec<String> = strings
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if s == "." {
                        previous.get(i).cloned().expect("'.' repeats the row above")
                    } else {
                        s.clone()
                    }
                })
                .collect();
            assert!(
                strings.len() >= 2 && strings.len().is_multiple_of(2),
                "{place}: a row is namespace, name, then dimension name/value pairs: {strings:?}"
            );
            out.push(Named {
                place: place.clone(),
                namespace: strings[0].clone(),
                name: strings[1].clone(),
                dimensions: strings[2..]
                    .chunks(2)
                    .map(|p| (p[0].clone(), Some(p[1].clone())))
                    .collect(),
            });
            previous = strings;
        }
    }
    out
}

/// Why `named` is not a metric that exists, or `None` when it is.
fn problem(named: &Named) -> Option<String> {
    let keys: BTreeSet<&str> = named.dimensions.keys().map(String::as_str).collect();
    if named.namespace == shared::metrics::DEFAULT_NAMESPACE {
        let Some(metric) = Metric::ALL.iter().find(|m| m.name() == named.name) else {
            return Some(format!(
                "{} is not in shared::metrics' catalogue",
                named.name
            ));
        };
        let expected: BTreeSet<&str> = metric.dimensions().into_iter().collect();
        if keys != expected {
            return Some(format!(
                "{} is emitted with dimensions {expected:?}, not {keys:?}",
                named.name
            ));
        }
        if let Some(Some(function)) = named.dimensions.get("Function") {
            if !Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../functions")
                .join(function)
                .is_dir()
            {
                return Some(format!("Function {function} is not a function binary"));
            }
            if !metric
                .emitted_by()
                .includes(function, http_functions().contains(function))
            {
                return Some(format!("{function} does not emit {}", named.name));
            }
        }
        if let Some(Some(service)) = named.dimensions.get("Service")
            && service != "${AWS::StackName}"
        {
            return Some(format!("Service is the stack name, not {service}"));
        }
        return None;
    }
    let Some((names, sets)) = aws_metrics(&named.namespace) else {
        return Some(format!("unexpected namespace {}", named.namespace));
    };
    if !names.contains(&named.name.as_str()) {
        return Some(format!("{} publishes no {}", named.namespace, named.name));
    }
    if !sets
        .iter()
        .any(|set| set.iter().copied().collect::<BTreeSet<_>>() == keys)
    {
        return Some(format!(
            "{} publishes {} with dimensions {sets:?}, not {keys:?}",
            named.namespace, named.name
        ));
    }
    None
}

fn problems(named: &[Named]) -> Vec<String> {
    named
        .iter()
        .filter_map(|n| problem(n).map(|p| format!("{}: {p}", n.place)))
        .collect()
}

#[test]
fn every_metric_the_dashboard_names_exists() {
    let named = dashboard_metrics(&template());
    assert!(named.len() > 20, "the dashboard was read: {named:#?}");
    assert_eq!(problems(&named), Vec::<String>::new());
}

#[test]
fn every_metric_an_alarm_names_exists() {
    let named = alarm_metrics(&template());
    assert!(named.len() >= 8, "the alarms were read: {named:#?}");
    assert_eq!(problems(&named), Vec::<String>::new());
}

#[test]
fn the_dashboard_covers_what_the_issue_asks_for() {
    let names: BTreeSet<(String, String)> = dashboard_metrics(&template())
        .into_iter()
        .map(|n| (n.namespace, n.name))
        .collect();
    for (namespace, name) in [
        ("AWS/ApiGateway", "Latency"),
        ("AWS/ApiGateway", "4xx"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("Shop", "Latency"),
        ("Shop", "ColdStart"),
        ("Shop", "OrdersPlaced"),
        ("Shop", "OrdersConfirmed"),
        ("Shop", "OrdersRejected"),
        ("Shop", "CacheHits"),
        ("Shop", "CacheMisses"),
        ("Shop", "BreakerState"),
    ] {
        assert!(
            names.contains(&(namespace.to_owned(), name.to_owned())),
            "the dashboard shows {namespace} {name}"
        );
    }
}

#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let template = template();
    let alarms: Vec<_> = resources(&template)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .collect();
    assert!(alarms.len() >= 9, "{} alarms", alarms.len());
    for (id, alarm) in alarms {
        let actions: Vec<String> = alarm["Properties"]["AlarmActions"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(dimension_value)
            .collect();
        assert_eq!(actions, ["${AlarmTopic}"], "{id}'s AlarmActions");
    }
}

#[test]
fn a_misspelt_or_misdimensioned_metric_is_reported() {
    let named = |namespace: &str, name: &str, dims: &[(&str, &str)]| Named {
        place: "test".into(),
        namespace: namespace.into(),
        name: name.into(),
        dimensions: dims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
            .collect(),
    };
    let service = ("Service", "${AWS::StackName}");
    assert!(
        problem(&named(
            "Shop",
            "OrdersPlaced",
            &[service, ("Function", "create-order")]
        ))
        .is_none()
    );
    assert!(
        problem(&named(
            "Shop",
            "OrderPlaced",
            &[service, ("Function", "create-order")]
        ))
        .is_some()
    );
    assert!(problem(&named("Shop", "OrdersPlaced", &[service])).is_some());
    assert!(
        problem(&named(
            "Shop",
            "OrdersPlaced",
            &[service, ("Function", "get-order")]
        ))
        .is_some()
    );
    assert!(
        problem(&named(
            "Shop",
            "OrdersPlaced",
            &[service, ("Function", "no-such")]
        ))
        .is_some()
    );
    assert!(
        problem(&named(
            "AWS/SQS",
            "ApproximateNumberOfMessages",
            &[("QueueName", "q")]
        ))
        .is_some()
    );
    assert!(problem(&named("AWS/Lambda", "Errors", &[("Function", "f")])).is_some());
    assert!(
        search_metric(
            "t",
            "SEARCH('{Shop,Service,Function} MetricName=\"ColdStart\" x', 'Sum', 60)"
        )
        .is_some_and(|n| n.name == "ColdStart" && n.dimensions.len() == 2)
    );
}
