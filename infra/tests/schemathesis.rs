//! schemathesis (pinned in the project venv by scripts/bootstrap.sh) against the running local
//! gateway: every operation of `/openapi.json`, with valid tokens (an admin's for the admin
//! routes, a customer's for the order routes: infra/schemathesis/hooks.py), every check the
//! config enables (all but `unsupported_method`; no `--checks all`, which would override it), a
//! bounded number of examples and a fixed seed (infra/schemathesis/schemathesis.toml). The
//! run must find nothing.
//!
//! Needs the stack (`make test` runs it in its stack phase; by hand: `devstack up`, then
//! `cargo nextest run -p devstack --test schemathesis --run-ignored all`).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::process::Command;

/// A token for `subject` in `group` from the running stack's identity provider.
fn token(subject: &str, group: &str) -> String {
    let request = devstack::idp::TokenRequest {
        subject: subject.into(),
        groups: vec![group.to_owned()],
        ttl: std::time::Duration::from_secs(3600),
        scopes: vec![],
    };
    devstack::edge::token(
        &devstack::workspace_root().join(".devstack"),
        &local::stack_name(),
        &request,
    )
    .unwrap()
}

#[test]
#[ignore = "needs the running stack (make test's stack phase)"]
fn schemathesis_finds_no_failure_in_any_operation() {
    let root = devstack::workspace_root();
    let schemathesis = root.join(".venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run scripts/bootstrap.sh",
        schemathesis.display()
    );
    let customer = uuid::Uuid::now_v7().to_string();

    let output = Command::new(&schemathesis)
        .current_dir(&root)
        .env("ADMIN_TOKEN", token("schemathesis-admin", "admin"))
        .env("CUSTOMER_TOKEN", token(&customer, "customer"))
        .env("NO_COLOR", "1")
        .env("DEVSTACK_GATEWAY", local::gateway())
        .args([
            "--config-file",
            "infra/schemathesis/schemathesis.toml",
            "run",
        ])
        .arg(format!("{}/openapi.json", local::gateway()))
        .output()
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "schemathesis failed ({}): see its output above",
        output.status
    );
}
