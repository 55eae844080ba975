//! The model read from template text and from the project's `template.yaml`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::*;

/// The project's `template.yaml` (two folders up from this crate).
pub(crate) fn project_template() -> Template {
    Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")).unwrap()
}

const TEMPLATE: &str = r#"
Parameters:
  LogLevel: { Type: String, Default: DEBUG }
  Retention: { Type: Number, Default: 60 }
Globals:
  Function:
    Timeout: 7
    MemorySize: 256
    LoggingConfig: { LogFormat: JSON, ApplicationLogLevel: !Ref LogLevel }
    Environment: { Variables: { LEVEL: !Ref LogLevel, SHARED: global } }
Resources:
  Q:
    Type: AWS::SQS::Queue
  T:
    Type: AWS::DynamoDB::Table
    Properties: { KeySchema: [{ AttributeName: id, KeyType: HASH }] }
  Fn:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: my-fn } }
    Properties:
      Environment:
        Variables:
          SHARED: own
          URL: !Ref Q
          ARN: !GetAtt Q.Arn
          SUB: !Sub "${Q.QueueName}@${AWS::Region}/${LogLevel}"
          JOINED: !Join ["-", [a, !Ref LogLevel]]
          PICKED: { "Fn::Select": [1, [x, { Ref: Retention }]] }
          NUMBER: 5
      Events:
        Get: { Type: HttpApi, Properties: { Path: "/things/{id}", Method: get } }
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: { MaximumConcurrency: 3 }
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt T.StreamArn
            StartingPosition: LATEST
            BatchSize: 25
            MaximumBatchingWindowInSeconds: 2
            MaximumRetryAttempts: 4
            MaximumRecordAgeInSeconds: 3600
            BisectBatchOnFunctionError: true
            FunctionResponseTypes: [ReportBatchItemFailures]
            DestinationConfig: { OnFailure: { Type: SQS, Destination: !GetAtt Q.Arn } }
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT"]}'
                - Pattern: '{"dynamodb": {"NewImage": {"kind": {"S": ["urgent"]}}}}'
  Own:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: own } }
    Properties:
      LoggingConfig: { ApplicationLogLevel: WARN }
"#;

fn resolver(t: &Template) -> Resolver {
    let mut r = Resolver::new(t, "eu-west-1", "123456789012", "shop");
    let physical = |reference: &str, attributes: &[(&str, &str)]| Physical {
        reference: reference.into(),
        attributes: attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    r.resources.insert(
        "Q".into(),
        physical("http://q-url", &[("Arn", "arn:q"), ("QueueName", "shop-Q")]),
    );
    r.resources.insert(
        "T".into(),
        physical(
            "shop-T",
            &[
                ("Arn", "arn:t"),
                ("StreamArn", "arn:t/stream/2024-01-01T00:00:00.000"),
            ],
        ),
    );
    r
}

fn function(t: &Template, id: &str) -> Function {
    t.functions()
        .unwrap()
        .into_iter()
        .find(|f| f.logical_id == id)
        .unwrap()
}

/// The error of parsing `text`, with its whole chain.
fn parse_error(text: &str) -> String {
    format!("{:#}", Template::parse(text).unwrap_err())
}

/// A template with one function `F` whose `Events` are `events` (YAML flow mapping).
fn with_events(events: &str) -> String {
    format!(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {{ BuildProperties: {{ Binary: f }} }}\n    Properties:\n      Events: {events}\n"
    )
}

const API_TEMPLATE: &str = r#"
Parameters:
  Issuer: { Type: String }
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            AuthorizationScopes: [shop/read]
            JwtConfiguration: { issuer: !Ref Issuer, audience: [client-a, client-b] }
      DefaultRouteSettings: { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 }
      RouteSettings:
        "GET /health": { ThrottlingBurstLimit: 10 }
  Fn:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: my-fn } }
    Properties:
      Events:
        Private: { Type: HttpApi, Properties: { Path: /orders, Method: post } }
        Public: { Type: HttpApi, Properties: { Path: /health, Method: get, Auth: { Authorizer: NONE } } }
        Scoped:
          Type: HttpApi
          Properties: { Path: /admin, Method: get, Auth: { Authorizer: Jwt, AuthorizationScopes: [shop/admin] } }
        Broken: { Type: HttpApi, Properties: { Path: /x, Method: get, Auth: { Authorizer: Nope } } }
"#;

#[test]
fn the_http_api_gives_jwt_authorizers_and_route_authorization() {
    let t = Template::parse(API_TEMPLATE).unwrap();
    let api = t.http_api().unwrap().unwrap();
    let routes = &t.functions().unwrap()[0].http_routes;

    let jwt = &api.authorizers["Jwt"];
    assert_eq!(
        jwt.audience,
        [Expr::from("client-a"), Expr::from("client-b")]
    );
    assert_eq!(jwt.issuer, Expr::Ref("Issuer".into()));
    assert_eq!(jwt.scopes, ["shop/read"]);
    assert_eq!(api.authorizer_of(&routes[0]).unwrap(), Some("Jwt"));
    assert_eq!(api.authorizer_of(&routes[1]).unwrap(), None);
    assert_eq!(routes[1].auth, RouteAuth::Public);
    assert_eq!(routes[2].scopes, ["shop/admin"]);
    let error = api.authorizer_of(&routes[3]).unwrap_err().to_string();
    assert!(error.contains("Nope"), "{error}");
}

#[test]
fn route_settings_override_the_default_throttling_field_by_field() {
    let api = Template::parse(API_TEMPLATE)
        .unwrap()
        .http_api()
        .unwrap()
        .unwrap();

    assert_eq!(
        api.throttle("GET /health"),
        Throttle {
            rate_per_sec: Some(50.0),
            burst: Some(10)
        }
    );
    assert_eq!(
        api.throttle("POST /orders"),
        Throttle {
            rate_per_sec: Some(50.0),
            burst: Some(100)
        }
    );
}

#[test]
fn a_non_jwt_authorizer_is_refused_by_name() {
    let t = Template::parse(
        "Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      Auth:\n        Authorizers:\n          Lambda: { FunctionArn: arn }\n",
    )
    .unwrap();

    let error = t.http_api().unwrap_err().to_string();

    assert!(error.contains("Lambda") && error.contains("JWT"), "{error}");
}

#[test]
fn the_project_template_guards_every_route_but_health_and_catalog_reads() {
    let t = project_template();
    let api = t.http_api().unwrap().unwrap();
    let mut public = Vec::new();
    for f in t.functions().unwrap() {
        for r in &f.http_routes {
            match api.authorizer_of(r).unwrap() {
                None => public.push(r.route_key()),
                Some(name) => assert_eq!(name, "CognitoJwt", "{}", r.route_key()),
            }
        }
    }
    public.sort();
    assert_eq!(
        public,
        ["GET /health", "GET /products", "GET /products/{id}"]
    );
    assert!(api.throttle("GET /health").burst < api.throttle("POST /orders").burst);
}

#[test]
fn a_function_takes_globals_and_overrides_them_with_its_own_values() {
    let t = Template::parse(TEMPLATE).unwrap();
    let f = function(&t, "Fn");
    assert_eq!(f.binary, "my-fn");
    assert_eq!(f.timeout_secs, 7);
    assert_eq!(f.memory_size_mb, 256);
    assert_eq!(f.log_format.as_deref(), Some("JSON"));
    assert_eq!(f.environment["SHARED"], Expr::from("own"));
    assert!(f.environment.contains_key("LEVEL"));
}

#[test]
fn the_application_log_level_comes_from_the_function_else_from_globals() {
    let t = Template::parse(TEMPLATE).unwrap();
    let r = resolver(&t);
    let level = |id: &str| r.string(function(&t, id).application_log_level.as_ref().unwrap());

    assert_eq!(
        level("Fn").unwrap(),
        "DEBUG",
        "Globals, through !Ref LogLevel"
    );
    assert_eq!(level("Own").unwrap(), "WARN", "the function's own");
    assert_eq!(
        function(&t, "Own").log_format.as_deref(),
        Some("JSON"),
        "LoggingConfig merges key by key"
    );
}

#[test]
fn short_and_long_form_intrinsics_resolve_to_local_names() {
    let t = Template::parse(TEMPLATE).unwrap();
    let f = function(&t, "Fn");
    let r = resolver(&t);
    let env = |k: &str| r.string(&f.environment[k]).unwrap();
    assert_eq!(env("LEVEL"), "DEBUG");
    assert_eq!(env("URL"), "http://q-url");
    assert_eq!(env("ARN"), "arn:q");
    assert_eq!(env("SUB"), "shop-Q@eu-west-1/DEBUG");
    assert_eq!(env("JOINED"), "a-DEBUG");
    assert_eq!(
        env("PICKED"),
        "60",
        "a number parameter's default, stringified"
    );
    assert_eq!(env("NUMBER"), "5");
}

#[test]
fn events_become_routes_and_event_source_mappings() {
    let t = Template::parse(TEMPLATE).unwrap();
    let f = function(&t, "Fn");
    assert_eq!(f.http_routes, vec![HttpRoute::new("GET", "/things/{id}")]);
    let sqs = &f.sqs_events[0];
    assert_eq!((sqs.batch_size, sqs.report_batch_item_failures), (5, true));
    assert_eq!(sqs.on_failure, None);
    assert_eq!(resolver(&t).string(&sqs.queue).unwrap(), "arn:q");
}

#[test]
fn a_dynamodb_event_becomes_a_stream_mapping_with_its_properties() {
    let t = Template::parse(TEMPLATE).unwrap();
    let f = function(&t, "Fn");
    assert_eq!(f.sqs_events[0].maximum_concurrency, Some(3));
    let e = &f.dynamodb_events[0];
    assert_eq!(e.name, "Changes");
    assert_eq!(e.starting_position, StartingPosition::Latest);
    assert_eq!((e.batch_size, e.batching_window_secs), (25, 2));
    assert_eq!(e.maximum_retry_attempts, Some(4));
    assert_eq!(e.maximum_record_age_secs, Some(3600));
    assert!(e.bisect_batch_on_function_error && e.report_batch_item_failures && e.enabled);
    assert_eq!(
        e.filter_patterns,
        vec![
            serde_json::json!({"eventName": ["INSERT"]}),
            serde_json::json!({"dynamodb": {"NewImage": {"kind": {"S": ["urgent"]}}}}),
        ]
    );
    let r = resolver(&t);
    assert_eq!(
        r.string(&e.stream).unwrap(),
        "arn:t/stream/2024-01-01T00:00:00.000"
    );
    assert_eq!(r.string(e.on_failure.as_ref().unwrap()).unwrap(), "arn:q");
}

#[test]
fn minus_one_and_absent_limits_mean_no_limit_and_defaults_follow_aws() {
    let t = Template::parse(&with_events(
        "{ S: { Type: DynamoDB, Properties: { Stream: arn:s, StartingPosition: TRIM_HORIZON, MaximumRetryAttempts: -1 } } }",
    ))
    .unwrap();
    let e = &t.functions().unwrap()[0].dynamodb_events[0];
    assert_eq!(e.starting_position, StartingPosition::TrimHorizon);
    assert_eq!((e.batch_size, e.batching_window_secs), (100, 0));
    assert_eq!(
        (e.maximum_retry_attempts, e.maximum_record_age_secs),
        (None, None)
    );
    assert!(!e.bisect_batch_on_function_error && !e.report_batch_item_failures);
    assert!(e.filter_patterns.is_empty() && e.on_failure.is_none());
}

#[test]
fn the_project_template_relays_outbox_inserts_from_the_start_of_the_stream_forever() {
    let relay = function(&project_template(), "RelayOutboxFunction");
    let e = &relay.dynamodb_events[0];
    assert_eq!(e.starting_position, StartingPosition::TrimHorizon);
    assert_eq!(e.maximum_retry_attempts, None);
    assert!(e.report_batch_item_failures);
    assert_eq!(
        e.filter_patterns,
        vec![serde_json::json!({"eventName": ["INSERT"]})]
    );
}

#[test]
fn the_project_template_sets_every_functions_log_level_from_the_log_level_parameter() {
    let t = project_template();
    let r = Resolver::new(&t, "us-east-1", "123456789012", "shop");
    for f in t.functions().unwrap() {
        let level = f
            .application_log_level
            .as_ref()
            .map(|l| r.string(l).unwrap());
        assert_eq!(level.as_deref(), Some("INFO"), "{}", f.logical_id);
        assert_eq!(f.log_format.as_deref(), Some("JSON"), "{}", f.logical_id);
    }
}

#[test]
fn a_missing_required_property_is_an_error_naming_the_resource_and_the_property() {
    let err = parse_error(&with_events(
        "{ S: { Type: DynamoDB, Properties: { Stream: arn:s } } }",
    ));
    assert!(
        err.contains("resource F") && err.contains("StartingPosition"),
        "{err}"
    );

    let err = parse_error(&with_events(
        "{ J: { Type: SQS, Properties: { BatchSize: 1 } } }",
    ));
    assert!(
        err.contains("resource F") && err.contains("Events.J") && err.contains("Queue"),
        "{err}"
    );

    let err = parse_error("Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties: {}\n");
    assert!(
        err.contains("resource T") && err.contains("KeySchema"),
        "{err}"
    );

    let err =
        parse_error("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {}\n");
    assert!(
        err.contains("resource F") && err.contains("Binary"),
        "{err}"
    );
}

#[test]
fn an_unknown_intrinsic_is_an_error_naming_the_resource_the_property_and_the_intrinsic() {
    let text = TEMPLATE.replace("URL: !Ref Q", "URL: !FindInMap [M, a, b]");
    let err = parse_error(&text);
    assert!(
        err.contains("resource Fn")
            && err.contains("Environment.Variables.URL")
            && err.contains("FindInMap"),
        "{err}"
    );

    let text = TEMPLATE.replace("Queue: !GetAtt Q.Arn", "Queue: { \"Fn::ImportValue\": x }");
    let err = parse_error(&text);
    assert!(
        err.contains("Events.Jobs") && err.contains("Fn::ImportValue"),
        "{err}"
    );
}

#[test]
fn an_intrinsic_in_a_property_devstack_does_not_read_is_left_alone() {
    let text = TEMPLATE.replace(
        "    Metadata: { BuildProperties: { Binary: my-fn } }\n",
        "    Metadata: { BuildProperties: { Binary: my-fn } }\n    Condition: IsProd\n",
    ) + "  Alarm:\n    Type: AWS::CloudWatch::Alarm\n    Properties: { Namespace: !FindInMap [M, a, b] }\n";
    assert!(Template::parse(&text).is_ok());
}

#[test]
fn a_stream_event_with_a_bad_pattern_or_an_unsupported_starting_position_is_rejected() {
    let err = parse_error(&with_events(
        r#"{ S: { Type: DynamoDB, Properties: { Stream: arn:s, StartingPosition: LATEST, FilterCriteria: { Filters: [ { Pattern: "{eventName" } ] } } } }"#,
    ));
    assert!(
        err.contains("not JSON") && err.contains("Events.S"),
        "{err}"
    );
    let err = parse_error(&with_events(
        "{ S: { Type: DynamoDB, Properties: { Stream: arn:s, StartingPosition: AT_TIMESTAMP } } }",
    ));
    assert!(err.contains("AT_TIMESTAMP"), "{err}");
    let err = parse_error(&with_events(
        "{ S: { Type: DynamoDB, Properties: { Stream: arn:s, StartingPosition: LATEST, MaximumRetryAttempts: -2 } } }",
    ));
    assert!(
        err.contains("MaximumRetryAttempts") && err.contains("-1"),
        "{err}"
    );
}

#[test]
fn an_unknown_reference_is_an_error_naming_it() {
    let t = Template::parse(TEMPLATE).unwrap();
    let err = resolver(&t).string(&Expr::Ref("Nope".into()));
    assert!(err.unwrap_err().to_string().contains("Nope"));
}

#[test]
fn numbers_may_be_written_as_strings_as_cloudformation_allows() {
    let t = Template::parse(&with_events(
        r#"{ J: { Type: SQS, Properties: { Queue: arn:q, BatchSize: "7" } } }"#,
    ))
    .unwrap();
    assert_eq!(t.functions().unwrap()[0].sqs_events[0].batch_size, 7);
    let parameters: BTreeMap<_, _> = project_template().parameter_defaults;
    assert_eq!(parameters.get("LogLevel").map(String::as_str), Some("INFO"));
}

#[test]
fn a_parameter_value_must_name_a_parameter_and_be_one_of_its_allowed_values() {
    let t = project_template();
    assert!(t.check_parameter("LogLevel", "DEBUG").is_ok());
    let err = t
        .check_parameter("LogLevel", "debug")
        .unwrap_err()
        .to_string();
    assert!(err.contains("LogLevel") && err.contains("DEBUG"), "{err}");
    let err = t.check_parameter("Nope", "x").unwrap_err().to_string();
    assert!(err.contains("Nope") && err.contains("LogLevel"), "{err}");
}

/// serde_norway stops at 128 levels of nesting ("recursion limit exceeded"), so a hostile
/// template cannot overflow the stack of a test thread (2 MiB) in the parser or in the typed
/// walk over the `Value` after it (seeds of the `template` fuzz target: fuzz/seeds/template/).
#[test]
fn a_template_nested_too_deeply_is_an_error_not_a_stack_overflow() {
    let depth = 1000;
    let sequences = format!("Resources: {}{}", "[".repeat(depth), "]".repeat(depth));
    let mappings = format!("Resources: {}{}", "{a: ".repeat(depth), "}".repeat(depth));
    for text in [sequences, mappings, tags(depth / 2)] {
        let err = Template::parse(&text).unwrap_err().to_string();
        assert!(err.contains("recursion limit"), "{err}");
    }
}

/// A queue whose name nests `depth` `!Join`s (two flow sequences each).
fn tags(depth: usize) -> String {
    format!(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: {}x{}\n",
        "!Join [-, [".repeat(depth),
        "]]".repeat(depth)
    )
}

/// Regression (fuzz target `template`, a timeout): libyaml's time is quadratic in flow nesting,
/// so 20 000 nested `!Join`s took 47 s to be refused; now the opener count refuses them at once.
#[test]
fn a_template_with_too_many_flow_collections_is_refused_before_it_is_parsed() {
    let started = std::time::Instant::now();

    let err = Template::parse(&tags(20_000)).unwrap_err().to_string();

    assert!(err.contains("more than the 4096 accepted"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let project =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
            .unwrap();
    let openers = project.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    assert!(
        openers * 4 < crate::template::MAX_FLOW_COLLECTIONS,
        "template.yaml has {openers} openers"
    );
}

/// A queue consumed by a function whose `Timeout` is `timeout`, the queue's
/// `VisibilityTimeout` being `visibility` (`None`: not set, SQS's 30 s).
fn consumer_template(visibility: Option<u32>, timeout: u32) -> String {
    let visibility = visibility.map_or_else(String::new, |v| {
        format!("\n    Properties: {{ VisibilityTimeout: {v} }}")
    });
    format!(
        r"
Resources:
  Jobs:
    Type: AWS::SQS::Queue{visibility}
  Worker:
    Type: AWS::Serverless::Function
    Metadata: {{ BuildProperties: {{ Binary: worker }} }}
    Properties:
      Timeout: {timeout}
      Events:
        JobsQueue:
          Type: SQS
          Properties: {{ Queue: !GetAtt Jobs.Arn }}
"
    )
}

#[test]
fn a_queue_whose_visibility_timeout_is_below_its_consumers_timeout_is_refused() {
    let t = Template::parse(&consumer_template(Some(20), 25)).unwrap();
    let e = t.check_event_source_timeouts().unwrap_err().to_string();
    assert!(
        e.starts_with("WorkerJobsQueue (AWS::Lambda::EventSourceMapping) CREATE_FAILED"),
        "{e}"
    );
    assert!(
        e.contains(
            "Queue visibility timeout: 20 seconds is less than Function timeout: 25 seconds"
        ),
        "{e}"
    );
}

#[test]
fn an_unset_visibility_timeout_is_sqs_default_of_30_seconds() {
    let refused = Template::parse(&consumer_template(None, 31)).unwrap();
    let e = refused
        .check_event_source_timeouts()
        .unwrap_err()
        .to_string();
    assert!(e.contains("Queue visibility timeout: 30 seconds"), "{e}");
    let equal = Template::parse(&consumer_template(None, 30)).unwrap();
    equal.check_event_source_timeouts().unwrap();
}

#[test]
fn the_project_template_passes_the_visibility_timeout_rule() {
    project_template().check_event_source_timeouts().unwrap();
}
