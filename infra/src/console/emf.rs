//! Reading CloudWatch Embedded Metric Format lines out of the functions' stdout.
//!
//! A line is EMF when it is one JSON object whose root member `_aws` is an object with a
//! `CloudWatchMetrics` array (the [EMF specification]). Each directive of that array names its
//! `Dimensions` (arrays of root member names) and `Metrics` (`{"Name","Unit"}`); a metric's
//! value is the root member of its name: a number, an array of numbers (a histogram of up to
//! 100 values, what `metrics_cloudwatch_embedded` writes), or `{"Values":[..],"Counts":[..]}`.
//! Anything else (plain logs, other JSON) is not EMF and is ignored.
//!
//! [EMF specification]: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The values of one metric from one EMF line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name (`Latency`).
    pub name: String,
    /// Its unit as declared (`Milliseconds`; empty when not declared).
    pub unit: String,
    /// Its dimensions: every name of the directive's dimension sets, with the root member's
    /// value as text (`Function` → `get-product`).
    pub dimensions: BTreeMap<String, String>,
    /// The values (one for a counter or a gauge, several for a histogram).
    pub values: Vec<f64>,
    /// `_aws.Timestamp`, ms since the Unix epoch (0 when absent).
    pub timestamp_ms: i64,
}

/// The metric samples of `line`, or `None` when it is not an EMF line. Leading text before
/// the JSON object (a prefix some log forwarders add) is skipped.
pub fn parse(line: &str) -> Option<Vec<Sample>> {
    let line = line.trim();
    let start = line.find('{')?;
    let root: Map<String, Value> = match serde_json::from_str(&line[start..]) {
        Ok(Value::Object(root)) => root,
        _ => return None,
    };
    let aws = root.get("_aws")?.as_object()?;
    let directives = aws.get("CloudWatchMetrics")?.as_array()?;
    let timestamp_ms = aws.get("Timestamp").and_then(Value::as_i64).unwrap_or(0);
    let mut samples = Vec::new();
    for directive in directives {
        let dimensions: BTreeMap<String, String> = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|name| Some((name.to_owned(), text(root.get(name)?)?)))
            .collect();
        for metric in directive
            .get("Metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = metric.get("Name").and_then(Value::as_str) else {
                continue;
            };
            let values = root.get(name).map(values).unwrap_or_default();
            if values.is_empty() {
                continue;
            }
            samples.push(Sample {
                name: name.to_owned(),
                unit: metric
                    .get("Unit")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                dimensions: dimensions.clone(),
                values,
                timestamp_ms,
            });
        }
    }
    Some(samples)
}

/// A dimension value as text (strings as they are, numbers and booleans printed).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A metric's values: a number, an array of numbers, or `{"Values":[..],"Counts":[..]}`
/// (each value repeated its count, at most 100 times).
fn values(v: &Value) -> Vec<f64> {
    match v {
        Value::Number(n) => n.as_f64().into_iter().collect(),
        Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
        Value::Object(o) => {
            let vals = o.get("Values").and_then(Value::as_array);
            let counts = o.get("Counts").and_then(Value::as_array);
            let mut out = Vec::new();
            for (i, v) in vals.into_iter().flatten().enumerate() {
                let Some(v) = v.as_f64() else { continue };
                let n = counts
                    .and_then(|c| c.get(i))
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0)
                    .clamp(1.0, 100.0) as usize;
                out.extend(std::iter::repeat_n(v, n));
            }
            out
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTOGRAM_AND_COUNTER: &str = r#"{"_aws":{"Timestamp":1700000000123,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["Service","Function","Route"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"},{"Name":"ColdStart","Unit":"Count"}]}]},"Service":"shop","Function":"get-product","Route":"GET /products/{id}","Latency":[3.2,4.1],"ColdStart":1,"RequestId":"8f5c"}"#;

    #[test]
    fn a_line_with_a_histogram_and_a_counter_gives_both_with_their_dimensions() {
        let samples = parse(HISTOGRAM_AND_COUNTER).unwrap();
        assert_eq!(samples.len(), 2);
        let latency = &samples[0];
        assert_eq!(latency.name, "Latency");
        assert_eq!(latency.unit, "Milliseconds");
        assert_eq!(latency.values, vec![3.2, 4.1]);
        assert_eq!(latency.timestamp_ms, 1_700_000_000_123);
        assert_eq!(
            latency.dimensions,
            BTreeMap::from([
                ("Function".to_owned(), "get-product".to_owned()),
                ("Route".to_owned(), "GET /products/{id}".to_owned()),
                ("Service".to_owned(), "shop".to_owned()),
            ])
        );
        assert_eq!(samples[1].name, "ColdStart");
        assert_eq!(samples[1].values, vec![1.0]);
        assert!(
            !latency.dimensions.contains_key("RequestId"),
            "a property is not a dimension"
        );
    }

    #[test]
    fn a_json_log_line_without_aws_metadata_is_not_emf() {
        let log = r#"{"level":"INFO","message":"record processed","_aws":"not an object"}"#;
        assert_eq!(parse(log), None);
        assert_eq!(parse(r#"{"level":"INFO","fields":{"message":"hi"}}"#), None);
        assert_eq!(parse(r#"{"_aws":{"Timestamp":1}}"#), None);
    }

    #[test]
    fn garbage_and_plain_text_are_ignored() {
        for line in [
            "",
            "garbage",
            "INFO building get-product",
            "{not json",
            "[1,2,3]",
            "{\"_aws\":",
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }

    #[test]
    fn a_prefixed_line_and_a_values_and_counts_histogram_are_read() {
        let line = r#"[get-product] {"_aws":{"Timestamp":5,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["Function"]],"Metrics":[{"Name":"BatchLatency"}]}]},"Function":"reserve-stock","BatchLatency":{"Values":[10,20],"Counts":[2,1]}}"#;
        let samples = parse(line).unwrap();
        assert_eq!(samples[0].values, vec![10.0, 10.0, 20.0]);
        assert_eq!(samples[0].unit, "");
        assert_eq!(samples[0].dimensions["Function"], "reserve-stock");
    }

    #[test]
    fn a_declared_metric_without_a_value_is_skipped() {
        let line = r#"{"_aws":{"Timestamp":5,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[[]],"Metrics":[{"Name":"Missing"},{"Name":"BreakerState","Unit":"None"}]}]},"BreakerState":2}"#;
        let samples = parse(line).unwrap();
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].name, "BreakerState");
        assert_eq!(samples[0].values, vec![2.0]);
    }
}
