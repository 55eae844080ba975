//! The saga with payments, end to end through the running local cloud (`make test`): a
//! declined card rejects the order (`PAYMENT_DECLINED`) and the reserved stock comes back
//! (compensation); cancelling a confirmed order refunds its charge in the provider's ledger and
//! restores the stock. These change nothing the other tests share (no fault, no health change),
//! so they run with the rest; the provider's outages are in `payments_outage.rs`.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::time::Duration;

use local::{admin, create_product, create_user, ledger, place_order, poll_orders, stock_becomes};
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(60);

fn settled(order: &Value) -> bool {
    order["status"] != "PENDING"
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_declined_card_rejects_the_order_with_payment_declined_and_the_stock_comes_back() {
    let c = admin();
    let user = create_user(&c).await;
    let product = create_product(&c, "payments", 5).await;
    let (user, product) = (
        user["id"].as_str().unwrap(),
        product["id"].as_str().unwrap(),
    );

    let declined = place_order(&c, user, product, 2, "tok_declined").await;
    let short = place_order(&c, user, product, 1, "tok_insufficient_funds").await;
    let ids = [
        declined["id"].as_str().unwrap().to_owned(),
        short["id"].as_str().unwrap().to_owned(),
    ];
    let orders = poll_orders(&c, &ids, SETTLE, settled).await;

    for (order, code) in orders.iter().zip(["generic_decline", "insufficient_funds"]) {
        assert_eq!(order["status"], "REJECTED", "{order}");
        assert_eq!(order["rejection_reason"], "PAYMENT_DECLINED", "{order}");
        assert_eq!(order["payment"]["status"], "DECLINED", "{order}");
        assert_eq!(order["payment"]["decline_code"], code, "{order}");
    }
    // The reservation took 3 units; the declines gave them back.
    assert_eq!(stock_becomes(&c, product, 5).await, 5);
    for id in &ids {
        let entries = ledger(Some(id));
        assert_eq!(entries.len(), 1, "one failed charge per order: {entries:?}");
        assert_eq!(entries[0]["status"], "failed");
    }
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn out_of_stock_is_rejected_with_its_reason_and_nothing_is_charged() {
    let c = admin();
    let user = create_user(&c).await;
    let product = create_product(&c, "payments", 1).await;
    let (user, product) = (
        user["id"].as_str().unwrap(),
        product["id"].as_str().unwrap(),
    );

    let order = place_order(&c, user, product, 2, "tok_visa").await;
    let id = order["id"].as_str().unwrap().to_owned();
    let order = poll_orders(&c, std::slice::from_ref(&id), SETTLE, settled)
        .await
        .remove(0);

    assert_eq!(order["status"], "REJECTED", "{order}");
    assert_eq!(order["rejection_reason"], "OUT_OF_STOCK", "{order}");
    assert!(order.get("payment").is_none(), "{order}");
    assert!(ledger(Some(&id)).is_empty());
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn cancelling_a_confirmed_order_refunds_it_in_the_ledger_and_restores_the_stock() {
    let c = admin();
    let user = create_user(&c).await;
    let product = create_product(&c, "payments", 4).await;
    let (user, product) = (
        user["id"].as_str().unwrap(),
        product["id"].as_str().unwrap(),
    );
    let order = place_order(&c, user, product, 3, "tok_visa").await;
    let id = order["id"].as_str().unwrap().to_owned();
    let order = poll_orders(&c, std::slice::from_ref(&id), SETTLE, settled)
        .await
        .remove(0);
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(order["payment"]["status"], "CAPTURED", "{order}");
    assert_eq!(
        order["payment"]["amount_cents"], order["total_cents"],
        "{order}"
    );
    let charge_id = order["payment"]["charge_id"].as_str().unwrap().to_owned();
    assert_eq!(stock_becomes(&c, product, 1).await, 1);

    let resp = c
        .delete(format!("{}/orders/{id}", local::gateway()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let order = poll_orders(&c, std::slice::from_ref(&id), SETTLE, |o| {
        o["payment"]["status"] == "REFUNDED"
    })
    .await
    .remove(0);

    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["payment"]["status"], "REFUNDED", "{order}");
    assert_eq!(order["payment"]["charge_id"], charge_id.as_str());
    let entries = ledger(Some(&id));
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("charge", "succeeded"), ("refund", "succeeded")],
        "{entries:?}"
    );
    assert_eq!(entries[1]["charge"], charge_id.as_str());
    assert_eq!(entries[1]["id"], order["payment"]["refund_id"]);
    assert_eq!(stock_becomes(&c, product, 4).await, 4);
}
