//! The local payment provider over HTTP: in-process instances on ephemeral ports (charges,
//! replays, per-instance faults, a lost answer after the work), its provisioning in the
//! emulator's Cloud Map and Secrets Manager from a template (`#[ignore]`: needs the emulator),
//! and the running stack's provider through the `devstack` CLI (`#[ignore]`: `make test`).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use devstack::fault::{Action, Faults, RuleSpec};
use devstack::payments::{HealthChange, Payments, Provider, Target};
use devstack::provision::{ProvisionOptions, provision_with};
use devstack::template::Template;
use serde_json::{Value, json};

const KEY: &str = "sk_test_00112233445566778899aabbccddeeff";

/// A provider serving `instances` on ephemeral ports: its rules, itself, the instances' base
/// URLs, and the sender whose drop stops the servers.
async fn start(
    instances: &[&str],
) -> (
    Arc<Faults>,
    Arc<Provider>,
    Vec<String>,
    tokio::sync::watch::Sender<bool>,
) {
    let faults = Arc::new(Faults::default());
    let provider = Arc::new(Provider::new(KEY, Arc::clone(&faults)));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut urls = Vec::new();
    for id in instances {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(Arc::clone(&provider).serve((*id).to_owned(), listener, stop_rx.clone()));
    }
    (faults, provider, urls, stop)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn charge_body(source: &str, order: &str) -> Value {
    json!({"amount": 1999, "currency": "usd", "source": source, "metadata": {"order_id": order}})
}

/// `POST <base>/v1/<what>` with the key; status, `Idempotent-Replayed`, body — or the
/// transport error.
async fn post(
    base: &str,
    api_key: &str,
    what: &str,
    idempotency: &str,
    body: &Value,
) -> Result<(u16, bool, Value), reqwest::Error> {
    let r = http()
        .post(format!("{base}/v1/{what}"))
        .bearer_auth(api_key)
        .header("Idempotency-Key", idempotency)
        .json(body)
        .send()
        .await?;
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    Ok((status, replayed, r.json().await.unwrap_or(Value::Null)))
}

fn rule(action: Action) -> RuleSpec {
    RuleSpec {
        service: "payments".into(),
        operation: None,
        body_contains: None,
        action,
        count: None,
        instance: None,
        rate: None,
        after: false,
    }
}

#[tokio::test]
async fn a_charge_is_answered_by_either_instance_and_replayed_by_the_other() {
    let (_, provider, urls, _stop) = start(&["provider-a", "provider-b"]).await;
    let order = unique("o");

    let (status, replayed, first) = post(
        &urls[0],
        KEY,
        "charges",
        &order,
        &charge_body("tok_visa", &order),
    )
    .await
    .unwrap();
    assert_eq!((status, replayed), (200, false));
    assert_eq!(first["status"], "succeeded");
    let (status, replayed, again) = post(
        &urls[1],
        KEY,
        "charges",
        &order,
        &charge_body("tok_visa", &order),
    )
    .await
    .unwrap();

    assert_eq!((status, replayed), (200, true));
    assert_eq!(again["id"], first["id"]);
    let ledger = provider.ledger(Some(&order));
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].instance, "provider-a");
    let log = provider.log(None, None);
    let at: Vec<_> = log
        .iter()
        .map(|e| (e.instance.as_str(), e.status))
        .collect();
    assert_eq!(at, [("provider-a", Some(200)), ("provider-b", Some(200))]);
}

#[tokio::test]
async fn a_down_rule_for_one_instance_drops_only_its_connections_and_logs_them() {
    let (faults, provider, urls, _stop) = start(&["provider-a", "provider-b"]).await;
    let mut down = rule(Action::Down);
    down.instance = Some("provider-b".into());
    let id = faults.rules.add(down).unwrap().id;
    let order = unique("o");

    let b = post(
        &urls[1],
        KEY,
        "charges",
        &order,
        &charge_body("tok_visa", &order),
    )
    .await;
    let a = post(
        &urls[0],
        KEY,
        "charges",
        &order,
        &charge_body("tok_visa", &order),
    )
    .await;

    assert!(b.is_err(), "provider-b answered: {b:?}");
    assert_eq!(a.unwrap().0, 200);
    let b_log = provider.log(None, Some("provider-b"));
    assert_eq!(b_log.len(), 1);
    assert_eq!((b_log[0].status, b_log[0].fault), (None, Some(id)));
    assert_eq!(provider.log(None, Some("provider-a"))[0].fault, None);
    assert_eq!(provider.ledger(Some(&order)).len(), 1);
}

#[tokio::test]
async fn an_answer_lost_after_the_work_is_replayed_on_retry_without_a_second_charge() {
    let (faults, provider, urls, _stop) = start(&["provider-a"]).await;
    let mut lost = rule(Action::Down);
    lost.after = true;
    lost.count = Some(1);
    faults.rules.add(lost).unwrap();
    let order = unique("o");

    let first = post(
        &urls[0],
        KEY,
        "charges",
        &order,
        &charge_body("tok_visa", &order),
    )
    .await;
    let retry = post(
        &urls[0],
        KEY,
        "charges",
        &order,
        &charge_body("tok_visa", &order),
    )
    .await
    .unwrap();

    assert!(first.is_err(), "the answer was not lost: {first:?}");
    assert_eq!((retry.0, retry.1), (200, true));
    let ledger = provider.ledger(Some(&order));
    assert_eq!(ledger.len(), 1);
    assert_eq!(retry.2["id"], ledger[0].id.as_str());
}

#[tokio::test]
async fn an_injected_503_stores_no_key_and_a_throttle_says_when_to_retry() {
    let (faults, provider, urls, _stop) = start(&["provider-a"]).await;
    let mut error = rule(Action::Error {
        status: 503,
        code: None,
    });
    error.count = Some(1);
    faults.rules.add(error).unwrap();
    let order = unique("o");

    let (status, _, body) = post(
        &urls[0],
        KEY,
        "charges",
        &order,
        &charge_body("tok_visa", &order),
    )
    .await
    .unwrap();
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "injected_fault");
    assert!(provider.ledger(Some(&order)).is_empty());
    let (status, replayed, _) = post(
        &urls[0],
        KEY,
        "charges",
        &order,
        &charge_body("tok_visa", &order),
    )
    .await
    .unwrap();
    assert_eq!((status, replayed), (200, false));

    let mut throttle = rule(Action::Throttle);
    throttle.operation = Some("Health".into());
    faults.rules.add(throttle).unwrap();
    let r = http()
        .get(format!("{}/health", urls[0]))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
}

#[tokio::test]
async fn a_wrong_api_key_is_refused_and_logged() {
    let (_, provider, urls, _stop) = start(&["provider-a"]).await;

    let (status, _, body) = post(
        &urls[0],
        "sk_test_wrong",
        "charges",
        "k",
        &charge_body("tok_visa", "o"),
    )
    .await
    .unwrap();

    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(provider.log(None, None)[0].status, Some(401));
    assert!(provider.ledger(None).is_empty());
}

const TEMPLATE: &str = r#"
Parameters:
  PaymentsNamespaceName: { Type: String, Default: shop-payments }
  PaymentProviderServiceName: { Type: String, Default: provider }
  PaymentProviderPrimaryUrl: { Type: String, Default: "https://api.payments.example.com" }
  PaymentProviderSecondaryUrl: { Type: String, Default: "https://api-eu.payments.example.com" }
Resources:
  PaymentsNamespace:
    Type: AWS::ServiceDiscovery::HttpNamespace
    Properties: { Name: !Ref PaymentsNamespaceName, Description: the payment provider }
  PaymentProviderService:
    Type: AWS::ServiceDiscovery::Service
    Properties:
      Name: !Ref PaymentProviderServiceName
      NamespaceId: !GetAtt PaymentsNamespace.Id
      Type: HTTP
      HealthCheckCustomConfig: { FailureThreshold: 1 }
  PaymentProviderInstanceA:
    Type: AWS::ServiceDiscovery::Instance
    Properties:
      ServiceId: !Ref PaymentProviderService
      InstanceId: provider-a
      InstanceAttributes: { URL: !Ref PaymentProviderPrimaryUrl, AWS_INIT_HEALTH_STATUS: HEALTHY }
  PaymentProviderInstanceB:
    Type: AWS::ServiceDiscovery::Instance
    Properties:
      ServiceId: !Ref PaymentProviderService
      InstanceId: provider-b
      InstanceAttributes: { URL: !Ref PaymentProviderSecondaryUrl, AWS_INIT_HEALTH_STATUS: HEALTHY }
  PaymentProviderApiKey:
    Type: AWS::SecretsManager::Secret
    Properties: { GenerateSecretString: { PasswordLength: 32, ExcludePunctuation: true } }
  CapturePaymentFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: capture-payment } }
    Properties:
      Environment:
        Variables:
          PAYMENTS_NAMESPACE: !Ref PaymentsNamespaceName
          PAYMENTS_SERVICE: !GetAtt PaymentProviderService.Name
          PAYMENTS_API_KEY_SECRET_ARN: !Ref PaymentProviderApiKey
"#;

#[tokio::test]
#[ignore = "needs the local emulator (AWS_ENDPOINT_URL): run make test"]
async fn provisioning_registers_the_local_instances_in_cloud_map_and_the_key_in_secrets_manager() {
    let template = Template::parse(TEMPLATE).unwrap();
    let prefix = unique("t");
    let sdk = devstack::aws::sdk_config().await;
    let options = ProvisionOptions {
        prefix: prefix.clone(),
        instance_urls: BTreeMap::from([
            (
                "PaymentProviderInstanceA".to_owned(),
                "http://127.0.0.1:4610".to_owned(),
            ),
            (
                "PaymentProviderInstanceB".to_owned(),
                "http://127.0.0.1:4611".to_owned(),
            ),
        ]),
        secret_value: Some(KEY.to_owned()),
        ..ProvisionOptions::default()
    };

    let p = provision_with(&template, &sdk, &options).await.unwrap();
    // A second run (devstack restarted on the same emulator) reuses what exists.
    let again = provision_with(&template, &sdk, &options).await.unwrap();

    let env = devstack::stack::function_environment(
        &template.functions().unwrap(),
        &again,
        "http://e",
        6379,
    )
    .unwrap();
    assert_eq!(env["PAYMENTS_NAMESPACE"], format!("{prefix}-shop-payments"));
    assert_eq!(env["PAYMENTS_SERVICE"], "provider");
    let arn = &env["PAYMENTS_API_KEY_SECRET_ARN"];
    assert_eq!(arn, &p.secrets["PaymentProviderApiKey"].arn);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let value = secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some(KEY));
    let service = &again.discovery.services["PaymentProviderService"];
    assert_eq!(
        service.id,
        p.discovery.services["PaymentProviderService"].id
    );

    let payments = Payments::new(
        Arc::new(Provider::new(KEY, Arc::new(Faults::default()))),
        Vec::new(),
        Some(Target {
            client: aws_sdk_servicediscovery::Client::new(&sdk),
            service_id: service.id.clone(),
            service: service.name.clone(),
            namespace: service.namespace_name.clone(),
        }),
    );
    let listed = payments.instances().await.unwrap();
    let shown: Vec<_> = listed
        .iter()
        .map(|i| (i.instance.as_str(), i.url.as_str(), i.health.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("provider-a", "http://127.0.0.1:4610", "HEALTHY"),
            ("provider-b", "http://127.0.0.1:4611", "HEALTHY"),
        ]
    );
    let change = |status: &str| HealthChange {
        instance: "provider-b".into(),
        status: status.into(),
    };
    payments.set_health(&change("unhealthy")).await.unwrap();
    let health: Vec<_> = payments
        .instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.health)
        .collect();
    assert_eq!(health, ["HEALTHY", "UNHEALTHY"]);
    assert!(payments.set_health(&change("sick")).await.is_err());
    let unknown = HealthChange {
        instance: "provider-z".into(),
        status: "healthy".into(),
    };
    let err = payments.set_health(&unknown).await.unwrap_err().to_string();
    assert!(
        err.contains("provider-z") && err.contains("provider-a"),
        "{err}"
    );
}

/// The running stack's provider instances (from its ready file) and its API key (from the
/// emulator's Secrets Manager, as the functions read it).
async fn running_provider() -> (Vec<(String, String)>, String) {
    let stack = local::stack_name();
    let ready: Value = serde_json::from_str(
        &std::fs::read_to_string(
            devstack::workspace_root().join(format!(".devstack/ready-{stack}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    let instances: Vec<(String, String)> = ready["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["instance"].as_str().unwrap().to_owned(),
                i["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        instances.len() >= 2,
        "the stack serves {instances:?}: the template should register two provider instances"
    );
    let template = Template::load(&devstack::workspace_root().join("template.yaml")).unwrap();
    let resolver = devstack::template::Resolver::for_planning(&template, &stack);
    let plan = sam_template::provision::secret_plans(&template, &resolver, &stack)
        .unwrap()
        .remove(0);
    let sdk = devstack::aws::sdk_config().await;
    let key = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(&plan.name)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned();
    (instances, key)
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn the_stacks_provider_charges_declines_replays_and_refunds_and_the_cli_shows_the_ledger() {
    let (instances, key) = running_provider().await;
    let base = &instances[0].1;
    let order = unique("pp");

    let (status, _, charge) = post(
        base,
        &key,
        "charges",
        &format!("{order}-c"),
        &charge_body("tok_visa", &order),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let (status, replayed, _) = post(
        &instances[1].1,
        &key,
        "charges",
        &format!("{order}-c"),
        &charge_body("tok_visa", &order),
    )
    .await
    .unwrap();
    assert_eq!((status, replayed), (200, true));
    let (status, _, reused) = post(
        base,
        &key,
        "charges",
        &format!("{order}-c"),
        &charge_body("tok_mastercard", &order),
    )
    .await
    .unwrap();
    assert_eq!(
        (status, reused["error"]["type"].as_str()),
        (400, Some("idempotency_error"))
    );
    let (status, _, declined) = post(
        base,
        &key,
        "charges",
        &format!("{order}-d"),
        &charge_body("tok_declined", &order),
    )
    .await
    .unwrap();
    assert_eq!(
        (status, declined["error"]["decline_code"].as_str()),
        (402, Some("generic_decline"))
    );
    let (status, _, refund) = post(
        base,
        &key,
        "refunds",
        &format!("{order}-r"),
        &json!({"charge": charge["id"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        (status, refund["status"].as_str()),
        (200, Some("succeeded"))
    );

    let ledger: Value = serde_json::from_str(&local::devstack(&[
        "payments", "ledger", "--json", "--order", &order,
    ]))
    .unwrap();
    let kinds: Vec<String> = ledger
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        ["charge succeeded", "charge failed", "refund succeeded"]
    );
    let text = local::devstack(&["payments", "ledger", "--order", &order]);
    assert!(text.contains("3 entries"), "{text}");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_down_fault_on_provider_b_drops_only_b_and_the_access_log_shows_it() {
    let (instances, key) = running_provider().await;
    let order = unique("pf");
    let seq: Value =
        serde_json::from_str(&local::devstack(&["payments", "log", "--json"])).unwrap();
    let after = seq
        .as_array()
        .unwrap()
        .last()
        .map_or(0, |e| e["seq"].as_u64().unwrap());
    // Only this test's requests: the rule matches its order id in the body.
    let id = local::add_fault(&[
        "payments",
        "--instance",
        "provider-b",
        "--down",
        "--match",
        &order,
    ]);

    let mut outcomes = Vec::new();
    for (instance, url) in &instances[..2] {
        let r = post(
            url,
            &key,
            "charges",
            &format!("{order}-{instance}"),
            &charge_body("tok_visa", &order),
        )
        .await;
        outcomes.push(r.map(|(s, _, _)| s).ok());
    }
    local::clear_fault(&id);

    assert_eq!(outcomes, [Some(200), None]);
    let log: Value = serde_json::from_str(&local::devstack(&[
        "payments",
        "log",
        "--json",
        "--after",
        &after.to_string(),
    ]))
    .unwrap();
    let mine: Vec<(String, Value)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["idempotency_key"]
                .as_str()
                .is_some_and(|k| k.starts_with(&order))
        })
        .map(|e| {
            (
                e["instance"].as_str().unwrap().to_owned(),
                e["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [
            ("provider-a".to_owned(), json!(200)),
            ("provider-b".to_owned(), Value::Null)
        ]
    );
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn marking_provider_b_unhealthy_shows_in_the_instances_and_healthy_brings_it_back() {
    let health_of_b = || {
        let out = local::devstack(&["payments", "instances"]);
        out.lines()
            .find(|l| l.starts_with("provider-b "))
            .map(|l| l.split_whitespace().last().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(health_of_b(), "HEALTHY");

    local::devstack(&["payments", "health", "provider-b", "unhealthy"]);
    let unhealthy = health_of_b();
    local::devstack(&["payments", "health", "provider-b", "healthy"]);

    assert_eq!(unhealthy, "UNHEALTHY");
    assert_eq!(health_of_b(), "HEALTHY");
}
