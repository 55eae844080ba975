//! A short `devstack load` mix run through the running local cloud (`make test`'s stack, with
//! the template's throttling: 50 requests/s per route, so the rate stays below it): zero
//! errors, and every order accounted for (settled, none lost or doubled, stock, reservations
//! and charges add up). Driven through the library (`devstack::load::run`), not a subprocess.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::time::Duration;

use devstack::load::{Options, Scenario, Stack};
use devstack::template::Template;

#[tokio::test]
#[ignore = "needs the running local cloud (make test starts it)"]
async fn a_short_mix_run_has_no_errors_and_every_order_accounted_for() {
    let root = devstack::workspace_root();
    let stack = Stack {
        state_dir: root.join(".devstack"),
        name: local::stack_name(),
        template: Template::load(&root.join("template.yaml")).unwrap(),
    };
    // 20 req/s for 10 s: 200 requests, 20 of them orders (plus the 4 warm-up orders), well
    // below the 50 requests/s (burst 100) each route allows.
    let mut opts = Options::new(
        &local::gateway(),
        Scenario::Mix,
        20.0,
        Duration::from_secs(10),
    );
    opts.order_every = 10;
    opts.customers = 4;

    let report = devstack::load::run(&opts, &stack).await.unwrap();

    println!("{}", report.summary());
    assert!(report.errors.is_empty(), "errors: {:?}", report.errors);
    assert!(
        report.accounting_ok,
        "accounting: {:?}",
        report.accounting_issues
    );
    let orders = report.orders.unwrap();
    assert!(orders.placed >= 20, "only {} orders placed", orders.placed);
    assert_eq!(
        orders.confirmed + orders.rejected + orders.cancelled,
        orders.placed + orders.resent
    );
    assert!(orders.confirmed > 0 && orders.rejected > 0, "{orders:?}");
}
