//! The local console in a real browser: places an order through the running stack's gateway,
//! then runs `infra/console/test/console.spec.mjs` (playwright-core driving Debian's headless
//! chromium) on the stack's console. The script finds the order's saga timeline up to
//! `CONFIRMED`, injects a message into a DLQ, lists it, redrives it with the button and sees
//! the DLQ's count change, and saves a screenshot: `<target dir>/console/console.png`.
//!
//! Needs `node`, `chromium` and `npm ci --prefix infra/console` (scripts/test.sh installs
//! them), and the running stack (`DEVSTACK_GATEWAY`, `DEVSTACK_STACK_NAME`; the control URL is
//! read from its ready file).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::path::PathBuf;

use local::{admin, order_of_a_new_customer, stack_name};

/// `CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| devstack::workspace_root().join("target"))
}

#[tokio::test]
#[ignore = "needs the running local cloud, node and chromium: run make test"]
async fn the_console_shows_an_orders_saga_up_to_confirmed_and_redrives_a_dead_letter_in_a_browser()
{
    let root = devstack::workspace_root();
    let control = devstack::control::Client::from_ready_file(&root, &stack_name()).unwrap();
    let c = admin();
    let (_, _, order) = order_of_a_new_customer(&c, "console", 3, 1, "tok_visa").await;
    let order_id = order["id"].as_str().unwrap();
    let screenshot = target_dir().join("console").join("console.png");
    let _ = std::fs::remove_file(&screenshot);

    let out = std::process::Command::new("node")
        .arg(root.join("infra/console/test/console.spec.mjs"))
        .env("CONSOLE_URL", format!("{}/console", control.base_url()))
        .env("ORDER_ID", order_id)
        .env("SCREENSHOT", &screenshot)
        .output()
        .expect("node runs (scripts/test.sh installs it with chromium and playwright-core)");

    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser test failed:\n{log}");
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{log}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "{} is not a PNG",
        screenshot.display()
    );
}
