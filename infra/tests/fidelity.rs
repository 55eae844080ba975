//! Cloud fidelity: the local cloud refuses what AWS would refuse.
//!
//! - `devstack iam simulate` on the running test stack (`make test`), for triples drawn from
//!   `template.yaml`: allowed and denied, by action, by resource and by condition.
//! - A second stack started from a modified copy of the template (`devstack up -t`, beside the
//!   test stack, on its own ports, reusing its emulator): GetProductFunction loses its read of
//!   ProductsTable (a missing statement) and GetUserFunction's read points at ProductsTable
//!   instead of UsersTable (right action, wrong resource); both routes answer the function's
//!   dependency-failure status and devstack's log names the function, `dynamodb:GetItem` and the
//!   table ARN, while the other routes still work. ListProductsFunction's Timeout is lowered to
//!   1 s: with 3 s of DynamoDB latency its route is answered as API Gateway answers a function
//!   that timed out (502) within 1.5 s. The fixture function `limits-probe`
//!   (infra/tests/fixtures/limits-probe, in no product template) reads its deadline and memory
//!   size, is killed past its `MemorySize: 128` when it allocates 200 MB, and a 7 MB request or
//!   response is refused as Lambda refuses it.
//!
//! `make test` runs this binary in its serial phase (with the outage tests): the timing checks
//! need the machine to themselves.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

fn table_arn(stack: &str, table: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{stack}-{table}")
}

fn queue_arn(stack: &str, queue: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{stack}-{queue}")
}

/// `devstack iam simulate` on the running stack `stack`: (exit code, stdout).
fn simulate(stack: &str, function: &str, action: &str, resource: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .current_dir(devstack::workspace_root())
        .args(["--stack-name", stack, "iam", "simulate"])
        .args(["--function", function, "--action", action])
        .args(["--resource", resource])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

#[test]
#[ignore = "needs the running local cloud: run make test"]
fn iam_simulate_answers_for_the_templates_functions_actions_and_resources() {
    let s = local::stack_name();
    let products = table_arn(&s, "ProductsTable");
    let users = table_arn(&s, "UsersTable");
    let orders = table_arn(&s, "OrdersTable");
    let logs = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{s}-GetProduct:*");
    let cases: Vec<(&str, &str, String, bool)> = vec![
        (
            "GetProductFunction",
            "dynamodb:GetItem",
            products.clone(),
            true,
        ),
        (
            "GetProductFunction",
            "dynamodb:PutItem",
            products.clone(),
            false,
        ),
        (
            "GetProductFunction",
            "dynamodb:GetItem",
            users.clone(),
            false,
        ),
        // Managed policy SAM attaches to every function (AWSLambdaBasicExecutionRole).
        ("GetProductFunction", "logs:PutLogEvents", logs, true),
        (
            "ListProductsFunction",
            "dynamodb:Query",
            format!("{products}/index/by-category"),
            true,
        ),
        (
            "ListProductsFunction",
            "dynamodb:Query",
            users.clone(),
            false,
        ),
        (
            "CreateOrderFunction",
            "dynamodb:BatchGetItem",
            products.clone(),
            true,
        ),
        (
            "CreateOrderFunction",
            "dynamodb:DeleteItem",
            orders.clone(),
            false,
        ),
        ("ProcessOrdersFunction", "dynamodb:UpdateItem", orders, true),
        (
            "ProcessOrdersFunction",
            "dynamodb:UpdateItem",
            products,
            false,
        ),
        (
            "CapturePaymentFunction",
            "sqs:ChangeMessageVisibility",
            queue_arn(&s, "PaymentsQueue"),
            true,
        ),
        (
            "CapturePaymentFunction",
            "sqs:SendMessage",
            queue_arn(&s, "PaymentsQueue"),
            false,
        ),
        (
            "CheckReadinessFunction",
            "sqs:GetQueueAttributes",
            queue_arn(&s, "PaymentsQueue"),
            true,
        ),
        (
            "CheckReadinessFunction",
            "dynamodb:DescribeTable",
            users,
            true,
        ),
        // Allowed only under its Condition (namespace and service name), which a bare
        // simulation does not carry.
        (
            "CapturePaymentFunction",
            "servicediscovery:DiscoverInstances",
            "*".to_owned(),
            false,
        ),
    ];
    let mut wrong = Vec::new();
    for (function, action, resource, allowed) in &cases {
        let (code, out) = simulate(&s, function, action, resource);
        let expected = if *allowed {
            (0, "allowed")
        } else {
            (1, "denied")
        };
        if (code, out.as_str()) != expected {
            wrong.push(format!(
                "{function} {action} {resource}: exit {code} {out:?}, expected {expected:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let (code, _) = simulate(&s, "NoSuchFunction", "dynamodb:GetItem", "*");
    assert_ne!(code, 0, "an unknown function is not allowed anything");
}

/// The second stack: its process, gateway and log.
struct Stack {
    name: String,
    child: Child,
    gateway: String,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Stack {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (30 s at most) for a log line containing every one of `needles`; that line.
    fn log_line(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self
                .log_text()
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?} in {}:\n{}",
                self.log.display(),
                tail(&self.log_text(), 60)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Replaces `from` (which must occur exactly once) by `to` in `text`.
fn edit(text: &mut String, from: &str, to: &str) {
    assert_eq!(
        text.matches(from).count(),
        1,
        "template snippet not found once: {from}"
    );
    *text = text.replacen(from, to, 1);
}

/// template.yaml with the changes this test is about.
fn modified_template() -> String {
    let mut t = std::fs::read_to_string(devstack::workspace_root().join("template.yaml")).unwrap();
    // GetProductFunction loses its one statement: only the cache policy is left.
    edit(
        &mut t,
        "      Policies:
        - !Ref CacheConnectPolicy
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem]
              Resource:
                - !GetAtt ProductsTable.Arn
      Events:
        Api:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /products/{id}
            Method: get",
        "      Policies:
        - !Ref CacheConnectPolicy
      Events:
        Api:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /products/{id}
            Method: get",
    );
    // GetUserFunction: the right action on the wrong table.
    edit(
        &mut t,
        "              Action: [dynamodb:GetItem]
              Resource:
                - !GetAtt UsersTable.Arn
      Events:
        Api:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /users/{id}",
        "              Action: [dynamodb:GetItem]
              Resource:
                - !GetAtt ProductsTable.Arn
      Events:
        Api:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /users/{id}",
    );
    // ListProductsFunction: Timeout 1 s.
    edit(
        &mut t,
        "      Description: GET /products (?category= through the category index; cursor pagination)
",
        "      Description: GET /products (?category= through the category index; cursor pagination)
      Timeout: 1
",
    );
    // The fixture function, with Lambda's smallest memory.
    edit(
        &mut t,
        "  # ---------------------------------------------------------------- Products
",
        "  # ---------------------------------------------------------------- Products
  LimitsProbeFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: limits-probe
    Properties:
      Description: test fixture (infra/tests/fixtures/limits-probe)
      MemorySize: 128
      Timeout: 2
      Events:
        Get:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /probe
            Method: get
            Auth:
              Authorizer: NONE
        Post:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /probe
            Method: post
            Auth:
              Authorizer: NONE
",
    );
    t
}

/// Starts `devstack up -t <copy>` on ports of its own and waits for it (300 s at most).
fn start(template: &str) -> Stack {
    let name = format!("fid-{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("devstack-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(&path, template).unwrap();
    let root = devstack::workspace_root();
    let log = root.join(format!(".devstack/logs/{name}.log"));
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let ready = root.join(format!(".devstack/ready-{name}.json"));
    let port = |var: &str, default: u16| -> String {
        std::env::var(var).unwrap_or_else(|_| default.to_string())
    };
    let gateway_port = port("FIDELITY_GATEWAY_PORT", 3300);
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .current_dir(&root)
        .args(["-t", path.to_str().unwrap(), "--stack-name", &name, "up"])
        .args(["--gateway-port", &gateway_port])
        .args(["--lambda-port", &port("FIDELITY_LAMBDA_PORT", 9300)])
        .args(["--proxy-port", &port("FIDELITY_PROXY_PORT", 4579)])
        .args(["--control-port", &port("FIDELITY_CONTROL_PORT", 4596)])
        .args(["--payments-port", &port("FIDELITY_PAYMENTS_PORT", 4620)])
        .args(["--redis-port", &port("FIDELITY_REDIS_PORT", 6394)])
        .arg("--no-reload")
        // One open file for both (a shared offset: neither overwrites the other's lines).
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let mut stack = Stack {
        name,
        child,
        gateway: format!("http://127.0.0.1:{gateway_port}"),
        log,
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready.exists() {
        if let Some(status) = stack.child.try_wait().unwrap() {
            panic!(
                "devstack up -t exited ({status}) before it was ready:\n{}",
                tail(&stack.log_text(), 60)
            );
        }
        assert!(
            Instant::now() < deadline,
            "devstack up -t not ready after 300 s:\n{}",
            tail(&stack.log_text(), 60)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    stack
}

fn client(stack: &Stack) -> reqwest::Client {
    local::client_on(
        &stack.name,
        "fidelity-admin",
        &["admin"],
        Duration::from_secs(60),
    )
}

/// `method path` with `body` on the stack's gateway: status, body as JSON (or null), time.
async fn call(
    c: &reqwest::Client,
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, Value, Duration) {
    let started = Instant::now();
    let mut request = c.request(method, format!("{}{path}", stack.gateway));
    if let Some(b) = body {
        request = request.header("content-type", "application/json").body(b);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value, started.elapsed())
}

async fn get(c: &reqwest::Client, stack: &Stack, path: &str) -> (u16, Value, Duration) {
    call(c, stack, reqwest::Method::GET, path, None).await
}

async fn post(c: &reqwest::Client, stack: &Stack, path: &str, body: &Value) -> (u16, Value) {
    let (status, value, _) = call(
        c,
        stack,
        reqwest::Method::POST,
        path,
        Some(body.to_string().into_bytes()),
    )
    .await;
    (status, value)
}

/// The devstack CLI on the second stack; panics when it fails.
fn devstack_cli(stack: &Stack, args: &[&str]) -> String {
    local::devstack_on(&stack.dir.join("template.yaml"), &stack.name, args)
}

#[tokio::test]
#[ignore = "needs the emulator of the running local cloud: run make test (serial phase)"]
async fn a_modified_template_is_denied_timed_out_and_limited_as_aws_would() {
    let stack = start(&modified_template());
    let c = client(&stack);
    let s = stack.name.clone();

    // The routes the changes do not touch still work.
    let (status, _, _) = get(&c, &stack, "/health").await;
    assert_eq!(status, 200, "GET /health");
    let category = format!("fid-{}", uuid::Uuid::new_v4().simple());
    let product = json!({"name": "Loom", "description": "Punched cards.", "category": category,
        "price_cents": 1200, "stock": 3});
    let (status, created) = post(&c, &stack, "/products", &product).await;
    assert_eq!(status, 201, "POST /products: {created}");
    let user = json!({"email": format!("fid-{}@example.com", uuid::Uuid::new_v4().simple()),
        "name": "Fidelity"});
    let (status, created_user) = post(&c, &stack, "/users", &user).await;
    assert_eq!(status, 201, "POST /users: {created_user}");
    let (status, listed, _) = get(&c, &stack, &format!("/products?category={category}")).await;
    assert_eq!(status, 200, "GET /products?category=: {listed}");

    // A missing statement: GetProductFunction may not read ProductsTable (an id no cache
    // holds, so the read reaches DynamoDB).
    let missing = uuid::Uuid::new_v4();
    let (status, body, took) = get(&c, &stack, &format!("/products/{missing}")).await;
    assert!(
        status >= 500 && took < Duration::from_secs(10),
        "GET /products/{{id}} without the read statement: {status} after {took:?}: {body}"
    );
    let line = stack.log_line(&[
        "IAM denied: GetProductFunction",
        "dynamodb:GetItem",
        &table_arn(&s, "ProductsTable"),
    ]);
    assert!(
        line.contains("GetProductFunctionRole"),
        "names the role checked: {line}"
    );

    // A narrowed resource: GetUserFunction may read ProductsTable, not UsersTable.
    let id = created_user["id"].as_str().unwrap();
    let (status, body, took) = get(&c, &stack, &format!("/users/{id}")).await;
    assert!(
        status >= 500 && took < Duration::from_secs(10),
        "GET /users/{{id}} with the read on the wrong table: {status} after {took:?}: {body}"
    );
    stack.log_line(&[
        "IAM denied: GetUserFunction",
        "dynamodb:GetItem",
        &table_arn(&s, "UsersTable"),
    ]);

    // Timeout 1 s and 3 s of DynamoDB latency (the list above made the function warm; another
    // category, so no cached list answers): API Gateway's answer to a function error, 502,
    // within 1.5 s.
    let slow = format!("fid-slow-{}", uuid::Uuid::new_v4().simple());
    devstack_cli(
        &stack,
        &[
            "fault",
            "add",
            "dynamodb",
            "--match",
            &slow,
            "--latency",
            "3s",
        ],
    );
    let (status, body, took) = get(&c, &stack, &format!("/products?category={slow}")).await;
    assert_eq!(status, 502, "a timed-out function: {body}");
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
    stack.log_line(&["Task timed out after 1.00 seconds"]);
    devstack_cli(&stack, &["fault", "clear"]);

    // The fixture sees its own deadline (Timeout 2 s) and memory size (128 MB).
    let (status, seen, _) = get(&c, &stack, "/probe").await;
    assert_eq!(status, 200, "GET /probe: {seen}");
    let (status, seen, _) = get(&c, &stack, "/probe").await;
    assert_eq!(status, 200, "GET /probe: {seen}");
    let remaining = seen["remaining_ms"].as_i64().unwrap();
    assert!(
        (1900..=2000).contains(&remaining),
        "remaining time at the start of an invocation: {remaining} ms of a 2 s Timeout"
    );
    assert_eq!(seen["memory_size_mb"], 128, "{seen}");
    let first_pid = seen["pid"].clone();

    // 200 MB under MemorySize 128: killed, reported as Lambda reports it, started again.
    let (status, body, _) = get(&c, &stack, "/probe?allocate_mb=200").await;
    assert_eq!(status, 502, "an out-of-memory function: {body}");
    stack.log_line(&["Error: Runtime exited with error: signal: killed"]);
    stack.log_line(&[
        "REPORT RequestId:",
        "Memory Size: 128 MB",
        "Max Memory Used: 128 MB",
    ]);
    let (status, seen, _) = get(&c, &stack, "/probe").await;
    assert_eq!(
        status, 200,
        "the next invocation, in a new environment: {seen}"
    );
    assert_ne!(
        seen["pid"], first_pid,
        "a new execution environment after the kill"
    );

    // Over Lambda's 6 MB invoke limit: a 7 MB request is refused by Lambda (API Gateway: 500),
    // a 7 MB response is a function error (502).
    let big = vec![b'a'; 7 * 1024 * 1024];
    let (status, body, _) = call(&c, &stack, reqwest::Method::POST, "/probe", Some(big)).await;
    assert_eq!(status, 500, "a 7 MB request: {body}");
    stack.log_line(&["RequestEntityTooLargeException"]);
    let (status, body, _) = get(&c, &stack, "/probe?response_bytes=7340032").await;
    assert_eq!(status, 502, "a 7 MB response: {body}");
    stack.log_line(&["exceeded maximum allowed payload size (6291556 bytes)"]);
    let (status, _, _) = get(&c, &stack, "/probe").await;
    assert_eq!(status, 200, "the probe still answers");
}
