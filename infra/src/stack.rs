//! What `devstack up` derives from the template and the created resources: each function's
//! environment (merged into the one `cargo lambda watch` passes to all functions), the SQS
//! event source mappings and the DynamoDB stream event source mappings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::esm::Mapping;
use crate::filter::Pattern;
use crate::provision::Provisioned;
use crate::streams::StreamMapping;
use crate::template::Function;

/// Every function's resolved environment (`Globals` + its own, intrinsics resolved, and what
/// Lambda adds from `LoggingConfig`: `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`), merged
/// into the one set `cargo lambda watch` passes to all functions, plus the local endpoint
/// variables (`AWS_ENDPOINT_URL`, region, dummy credentials).
///
/// The template's caches resolve to the local redis-server: `!GetAtt <Cache>.PrimaryEndPoint.Address`
/// is `127.0.0.1` and `.Port` is `redis_port`. Locally the cache has neither TLS nor IAM
/// authentication, so when the template has a cache, `CACHE_TLS=false` and `CACHE_AUTH=none`
/// replace the template's values (the variables `shared::cache::CacheConfig` reads).
///
/// # Errors
/// Two functions give one variable different values (the local cloud could not honour both;
/// the message names the variable and both functions), or a value does not resolve.
pub fn function_environment(
    functions: &[Function],
    provisioned: &Provisioned,
    endpoint: &str,
    redis_port: u16,
) -> Result<BTreeMap<String, String>> {
    let mut resolver = provisioned.resolver.clone();
    for id in provisioned.caches.keys() {
        if let Some(cache) = resolver.resources.get_mut(id) {
            for attribute in ["PrimaryEndPoint.Port", "ReaderEndPoint.Port"] {
                cache
                    .attributes
                    .insert(attribute.to_owned(), redis_port.to_string());
            }
        }
    }
    let mut env: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in functions {
        let mut own = BTreeMap::new();
        for (k, v) in &f.environment {
            let v = resolver
                .string(v)
                .with_context(|| format!("function {}: variable {k}", f.logical_id))?;
            own.insert(k.clone(), v);
        }
        if let Some(fmt) = &f.log_format {
            own.insert("AWS_LAMBDA_LOG_FORMAT".into(), fmt.clone());
        }
        // What Lambda passes for `LoggingConfig.ApplicationLogLevel`.
        if let Some(level) = &f.application_log_level {
            let level = resolver
                .string(level)
                .with_context(|| format!("function {}: ApplicationLogLevel", f.logical_id))?;
            own.insert("AWS_LAMBDA_LOG_LEVEL".into(), level);
        }
        for (k, v) in own {
            match env.get(&k) {
                Some((other, old)) if *old != v => bail!(
                    "variable {k} is {old:?} for {other} but {v:?} for {}: cargo lambda watch gives all functions one environment; rename one",
                    f.logical_id
                ),
                _ => {
                    env.insert(k, (f.logical_id.clone(), v));
                }
            }
        }
    }
    let mut out: BTreeMap<String, String> = env.into_iter().map(|(k, (_, v))| (k, v)).collect();
    for (k, v) in crate::aws::function_env() {
        out.insert(k, v);
    }
    out.insert("AWS_ENDPOINT_URL".into(), endpoint.to_owned());
    if !provisioned.caches.is_empty() {
        out.insert("CACHE_TLS".into(), "false".into());
        out.insert("CACHE_AUTH".into(), "none".into());
    }
    Ok(out)
}

/// One event source mapping per `SQS` event, its queue found by the resolved ARN, with up to
/// `concurrency` batches in flight (fewer when the event's `ScalingConfig.MaximumConcurrency`
/// says so).
///
/// # Errors
/// An event names a queue the template does not create.
pub fn mappings(
    functions: &[Function],
    provisioned: &Provisioned,
    concurrency: u32,
) -> Result<Vec<Mapping>> {
    let mut out = Vec::new();
    for f in functions {
        for e in &f.sqs_events {
            let arn = provisioned.resolver.string(&e.queue)?;
            let (queue_id, q) = provisioned.queue_by_arn(&arn).ok_or_else(|| {
                anyhow!(
                    "function {}: event {} names queue {arn}, which the template does not create",
                    f.logical_id,
                    e.name
                )
            })?;
            out.push(Mapping {
                function_id: f.logical_id.clone(),
                function: f.binary.clone(),
                timeout: Duration::from_secs(f.timeout_secs),
                queue_id: queue_id.to_owned(),
                queue_url: q.url.clone(),
                queue_arn: q.arn.clone(),
                batch_size: e.batch_size,
                batching_window: Duration::from_secs(e.batching_window_secs),
                report_batch_item_failures: e.report_batch_item_failures,
                region: provisioned.resolver.region.clone(),
                max_concurrency: e
                    .maximum_concurrency
                    .map_or(concurrency, |cap| cap.min(concurrency))
                    .max(1),
            });
        }
    }
    Ok(out)
}

/// One stream event source mapping per enabled `DynamoDB` event, its table found by the
/// resolved stream ARN. Checkpoints go to `<checkpoint_dir>/<stack>-<FunctionId>-<Event>.json`.
///
/// # Errors
/// An event names a stream that is not one of a table the template creates, or has a filter
/// pattern devstack does not support.
pub fn stream_mappings(
    functions: &[Function],
    provisioned: &Provisioned,
    checkpoint_dir: &Path,
) -> Result<Vec<StreamMapping>> {
    let mut out = Vec::new();
    for f in functions {
        for e in f.dynamodb_events.iter().filter(|e| e.enabled) {
            let context = || format!("function {}, event {}", f.logical_id, e.name);
            let arn = provisioned
                .resolver
                .string(&e.stream)
                .with_context(context)?;
            let table_id = provisioned.table_by_stream_arn(&arn).ok_or_else(|| {
                anyhow!(
                    "{}: stream {arn} is not the stream of a table the template creates",
                    context()
                )
            })?;
            let filters = e
                .filter_patterns
                .iter()
                .map(Pattern::parse)
                .collect::<Result<Vec<_>>>()
                .with_context(context)?;
            out.push(StreamMapping {
                function_id: f.logical_id.clone(),
                function: f.binary.clone(),
                timeout: Duration::from_secs(f.timeout_secs),
                event_name: e.name.clone(),
                table_id: table_id.to_owned(),
                stream_arn: arn,
                starting_position: e.starting_position,
                batch_size: e.batch_size,
                batching_window: Duration::from_secs(e.batching_window_secs),
                maximum_retry_attempts: e.maximum_retry_attempts,
                maximum_record_age: e.maximum_record_age_secs.map(Duration::from_secs),
                bisect_batch_on_function_error: e.bisect_batch_on_function_error,
                report_batch_item_failures: e.report_batch_item_failures,
                filters,
                region: provisioned.resolver.region.clone(),
                checkpoint_file: Some(checkpoint_dir.join(format!(
                    "{}-{}-{}.json",
                    provisioned.resolver.stack_name, f.logical_id, e.name
                ))),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::{Discovered, QueueInfo};
    use crate::template::{Physical, Resolver, Template};

    const TEMPLATE: &str = r#"
Parameters:
  LogLevel: { Type: String, Default: DEBUG }
Globals:
  Function:
    LoggingConfig: { LogFormat: JSON, ApplicationLogLevel: !Ref LogLevel }
    Environment: { Variables: { SHARED: same } }
Resources:
  Q: { Type: AWS::SQS::Queue }
  T: { Type: AWS::DynamoDB::Table, Properties: { KeySchema: [{ AttributeName: id, KeyType: HASH }] } }
  A:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: a } }
    Properties:
      Timeout: 9
      Environment: { Variables: { QUEUE_URL: !Ref Q, ONLY_A: x } }
      Events:
        Jobs: { Type: SQS, Properties: { Queue: !GetAtt Q.Arn, BatchSize: 4 } }
        Capped: { Type: SQS, Properties: { Queue: !GetAtt Q.Arn, ScalingConfig: { MaximumConcurrency: 2 } } }
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt T.StreamArn
            StartingPosition: TRIM_HORIZON
            MaximumRetryAttempts: 3
            FilterCriteria: { Filters: [ { Pattern: '{"eventName": ["INSERT"]}' } ] }
        Off:
          Type: DynamoDB
          Properties: { Stream: !GetAtt T.StreamArn, StartingPosition: LATEST, Enabled: false }
  B:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: b } }
    Properties:
      Environment: { Variables: { QUEUE_URL: !Ref Q } }
"#;

    fn provisioned(template: &Template) -> Provisioned {
        let mut resolver = Resolver::new(template, "us-east-1", "123456789012", "s");
        resolver.resources.insert(
            "Q".into(),
            Physical {
                reference: "http://q".into(),
                attributes: BTreeMap::from([("Arn".to_owned(), "arn:q".to_owned())]),
            },
        );
        resolver.resources.insert(
            "T".into(),
            Physical {
                reference: "s-T".into(),
                attributes: BTreeMap::from([
                    ("Arn".to_owned(), "arn:t".to_owned()),
                    ("StreamArn".to_owned(), "arn:t/stream/1".to_owned()),
                ]),
            },
        );
        Provisioned {
            tables: BTreeMap::from([("T".to_owned(), "s-T".to_owned())]),
            streams: BTreeMap::from([("T".to_owned(), "arn:t/stream/1".to_owned())]),
            queues: BTreeMap::from([(
                "Q".to_owned(),
                QueueInfo {
                    name: "s-Q".into(),
                    url: "http://q".into(),
                    arn: "arn:q".into(),
                },
            )]),
            caches: BTreeMap::new(),
            discovery: Discovered::default(),
            secrets: BTreeMap::new(),
            resolver,
        }
    }

    #[test]
    fn the_functions_variables_are_merged_with_the_local_endpoint() {
        let t = Template::parse(TEMPLATE).unwrap();
        let env = function_environment(&t.functions().unwrap(), &provisioned(&t), "http://e", 6380)
            .unwrap();
        assert_eq!(env["QUEUE_URL"], "http://q");
        assert_eq!(env["ONLY_A"], "x");
        assert_eq!(env["SHARED"], "same");
        assert_eq!(env["AWS_ENDPOINT_URL"], "http://e");
        assert!(
            !env.contains_key("CACHE_TLS"),
            "no cache in the template: {env:?}"
        );
    }

    #[test]
    fn a_cache_endpoint_resolves_to_the_local_redis_without_tls_or_iam() {
        let t = Template::parse(
            r#"
Resources:
  C:
    Type: AWS::ElastiCache::ReplicationGroup
    Properties: { ReplicationGroupDescription: c }
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Environment:
        Variables:
          CACHE_ENDPOINT: !GetAtt C.PrimaryEndPoint.Address
          CACHE_PORT: !GetAtt C.PrimaryEndPoint.Port
          CACHE_NAME: !Ref C
          CACHE_TLS: "true"
          CACHE_AUTH: iam
"#,
        )
        .unwrap();
        let mut resolver = Resolver::new(&t, "us-east-1", "123456789012", "s");
        resolver.resources.insert(
            "C".into(),
            Physical {
                reference: "s-c".into(),
                attributes: BTreeMap::from([
                    ("PrimaryEndPoint.Address".to_owned(), "127.0.0.1".to_owned()),
                    ("PrimaryEndPoint.Port".to_owned(), "6379".to_owned()),
                ]),
            },
        );
        let p = Provisioned {
            tables: BTreeMap::new(),
            streams: BTreeMap::new(),
            queues: BTreeMap::new(),
            caches: BTreeMap::from([("C".to_owned(), "s-c".to_owned())]),
            discovery: Discovered::default(),
            secrets: BTreeMap::new(),
            resolver,
        };

        let env = function_environment(&t.functions().unwrap(), &p, "http://e", 6390).unwrap();

        assert_eq!(env["CACHE_ENDPOINT"], "127.0.0.1");
        assert_eq!(env["CACHE_PORT"], "6390");
        assert_eq!(env["CACHE_NAME"], "s-c");
        assert_eq!(env["CACHE_TLS"], "false");
        assert_eq!(env["CACHE_AUTH"], "none");
    }

    #[test]
    fn the_application_log_level_reaches_the_functions_as_aws_lambda_log_level() {
        let t = Template::parse(TEMPLATE).unwrap();
        let env =
            function_environment(&t.functions().unwrap(), &provisioned(&t), "http://e", 1).unwrap();
        assert_eq!(env["AWS_LAMBDA_LOG_LEVEL"], "DEBUG");
        assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");

        let mut p = provisioned(&t);
        p.resolver
            .parameters
            .insert("LogLevel".into(), "WARN".into());
        let env = function_environment(&t.functions().unwrap(), &p, "http://e", 1).unwrap();
        assert_eq!(
            env["AWS_LAMBDA_LOG_LEVEL"], "WARN",
            "an overridden parameter"
        );
    }

    #[test]
    fn the_project_template_runs_every_function_at_its_log_level_parameter() {
        let t = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();
        let mut functions = t.functions().unwrap();
        // Only what LoggingConfig adds: the variables name resources this fake has not created.
        functions.iter_mut().for_each(|f| f.environment.clear());
        let env = function_environment(&functions, &provisioned(&t), "http://e", 1).unwrap();
        assert_eq!(
            env["AWS_LAMBDA_LOG_LEVEL"],
            t.parameter_defaults["LogLevel"]
        );
        assert!(
            !env.contains_key("RUST_LOG"),
            "AWS_LAMBDA_LOG_LEVEL would win over it"
        );
    }

    #[test]
    fn a_filter_pattern_devstack_does_not_support_is_an_error_naming_the_function_and_event() {
        let t = Template::parse(&TEMPLATE.replace(
            r#"'{"eventName": ["INSERT"]}'"#,
            r#"'{"eventName": [{"cidr": "10.0.0.0/24"}]}'"#,
        ))
        .unwrap();
        let err = stream_mappings(&t.functions().unwrap(), &provisioned(&t), Path::new("/s"))
            .unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("function A, event Changes") && err.contains("cidr"),
            "{err}"
        );
    }

    #[test]
    fn two_functions_giving_one_variable_different_values_is_an_error_naming_both() {
        let t = Template::parse(&TEMPLATE.replace("QUEUE_URL: !Ref Q }", "QUEUE_URL: other }"))
            .unwrap();
        let err = function_environment(&t.functions().unwrap(), &provisioned(&t), "http://e", 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("QUEUE_URL") && err.contains("for A") && err.contains("for B"),
            "{err}"
        );
    }

    #[test]
    fn an_sqs_event_becomes_a_mapping_on_the_created_queue() {
        let t = Template::parse(TEMPLATE).unwrap();
        let m = mappings(&t.functions().unwrap(), &provisioned(&t), 4).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].function.as_str(), m[0].queue_url.as_str()),
            ("a", "http://q")
        );
        assert_eq!((m[0].batch_size, m[0].timeout), (4, Duration::from_secs(9)));
        assert_eq!(m[0].max_concurrency, 4, "--concurrency");
        assert_eq!(
            m[1].max_concurrency, 2,
            "ScalingConfig.MaximumConcurrency caps it"
        );
    }

    #[test]
    fn an_enabled_dynamodb_event_becomes_a_stream_mapping_with_a_checkpoint_per_stack_and_event() {
        let t = Template::parse(TEMPLATE).unwrap();
        let m = stream_mappings(
            &t.functions().unwrap(),
            &provisioned(&t),
            Path::new("/state"),
        )
        .unwrap();
        assert_eq!(m.len(), 1, "the disabled one is left out");
        assert_eq!(
            (m[0].table_id.as_str(), m[0].stream_arn.as_str()),
            ("T", "arn:t/stream/1")
        );
        assert_eq!(m[0].maximum_retry_attempts, Some(3));
        assert_eq!(m[0].filters.len(), 1);
        assert_eq!(
            m[0].checkpoint_file.as_deref(),
            Some(Path::new("/state/s-A-Changes.json"))
        );
    }

    #[test]
    fn a_stream_event_on_a_stream_the_template_does_not_create_is_an_error() {
        let t = Template::parse(
            &TEMPLATE.replace("Stream: !GetAtt T.StreamArn\n", "Stream: arn:elsewhere\n"),
        )
        .unwrap();
        let err = stream_mappings(&t.functions().unwrap(), &provisioned(&t), Path::new("/s"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("arn:elsewhere"), "{err}");
    }

    #[test]
    fn an_sqs_event_on_a_queue_the_template_does_not_create_is_an_error() {
        let t = Template::parse(&TEMPLATE.replace("Queue: !GetAtt Q.Arn", "Queue: arn:elsewhere"))
            .unwrap();
        assert!(mappings(&t.functions().unwrap(), &provisioned(&t), 1).is_err());
    }
}
