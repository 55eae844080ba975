//! `devstack seed`: sample users, products and orders for trying the API by hand, written
//! through the same adapters the functions use (so guard items, versions and the outbox are
//! exactly as the services write them). Every id is fixed, so seeding twice changes nothing.
//!
//! - users: Ada Lovelace and Grace Hopper;
//! - products: five items in the categories `machines`, `supplies` and `books`;
//! - orders: Ada's order of two punched-card packs, placed through the outbox like `POST
//!   /orders` (so the saga reserves its stock and confirms it), and Grace's historical
//!   `DELIVERED` order, stored as is (no events: it happened before the shop opened).

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use shared::Error;
use shared::aws::{DynamoOrders, DynamoProducts, DynamoUsers};
use shared::domain::{
    NewProduct, NewUser, Order, OrderId, OrderItem, OrderStatus, PaymentMethod, Product, ProductId,
    Quantity, UserId, now,
};
use shared::events::{Envelope, OrderPlaced};
use shared::ports::{OrderPlacer, Placement, ProductWriter, UserWriter};

use crate::provision::table_plans;
use crate::template::Template;

/// Ada Lovelace's user id.
pub const ADA: &str = "0193a000-0000-7000-8000-00000000ada1";
/// Grace Hopper's user id.
pub const GRACE: &str = "0193a000-0000-7000-8000-000000006ace";
/// Ada's seeded order (confirmed by the saga).
pub const ADA_ORDER: &str = "0193a000-0000-7000-8000-0000000000a1";
/// Grace's seeded order (delivered).
pub const GRACE_ORDER: &str = "0193a000-0000-7000-8000-0000000000b1";

/// `(id, name, description, category, price_cents, stock)` of the seeded products.
pub const PRODUCTS: [(&str, &str, &str, &str, i64, i64); 5] = [
    (
        "sku-analytical-engine",
        "Analytical Engine",
        "General-purpose mechanical computer. Steam not included.",
        "machines",
        12_500_000,
        3,
    ),
    (
        "sku-difference-engine",
        "Difference Engine No. 2",
        "Tabulates polynomial functions to 31 digits.",
        "machines",
        4_999_900,
        5,
    ),
    (
        "sku-punched-cards",
        "Punched cards, pack of 500",
        "Jacquard-compatible.",
        "supplies",
        1_299,
        100,
    ),
    (
        "sku-brass-gears",
        "Brass gears, assorted",
        "Forty gears, 10 to 120 teeth.",
        "supplies",
        2_450,
        40,
    ),
    (
        "sku-sketch-of-the-engine",
        "Sketch of the Analytical Engine",
        "Menabrea's paper, with Notes by A.A.L.",
        "books",
        1_800,
        25,
    ),
];

/// What [`seed`] did: per item, `created` or `already there`.
#[derive(Debug, Default)]
pub struct SeedReport {
    /// One line per seeded item: `user Ada Lovelace (<id>): created`.
    pub lines: Vec<String>,
}

impl SeedReport {
    fn note(&mut self, what: String, created: bool) {
        let outcome = if created { "created" } else { "already there" };
        self.lines.push(format!("{what}: {outcome}"));
    }
}

/// Whether a write failed only because the item exists (idempotent re-seed).
fn created(result: Result<(), Error>) -> Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(Error::Conflict(_)) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("{}", e.chain())),
    }
}

fn table(template: &Template, stack: &str, logical_id: &str) -> Result<String> {
    table_plans(template, stack)?
        .into_iter()
        .find(|t| t.logical_id == logical_id)
        .map(|t| t.name)
        .with_context(|| format!("template.yaml has no table {logical_id}"))
}

fn invalid(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("seed data is invalid: {e}")
}

/// Seeds stack `stack` (tables named `<stack>-<LogicalId>`, already provisioned).
///
/// # Errors
/// When a table is missing or the emulator fails; an item that already exists is not an error.
pub async fn seed(template: &Template, sdk: &SdkConfig, stack: &str) -> Result<SeedReport> {
    let users = DynamoUsers::new(sdk, table(template, stack, "UsersTable")?);
    let products = DynamoProducts::new(sdk, table(template, stack, "ProductsTable")?);
    let orders = DynamoOrders::new(sdk, table(template, stack, "OrdersTable")?).with_event_store(
        table(template, stack, "OutboxTable")?,
        table(template, stack, "IdempotencyTable")?,
    );
    let at = now();
    let mut report = SeedReport::default();

    for (id, name, email) in [
        (ADA, "Ada Lovelace", "ada@example.com"),
        (GRACE, "Grace Hopper", "grace@example.com"),
    ] {
        let user = NewUser::parse(name, email)
            .map_err(invalid)?
            .into_user(UserId::parse(id).map_err(|e| invalid(e.0))?, at);
        let made = created(users.insert(&user).await)?;
        report.note(format!("user {name} ({id})"), made);
    }

    let mut catalog: Vec<Product> = Vec::new();
    for (id, name, description, category, price, stock) in PRODUCTS {
        let product = NewProduct::parse(name, description, category, price, stock)
            .map_err(invalid)?
            .into_product(ProductId::parse(id).map_err(|e| invalid(e.0))?, at);
        let made = created(products.insert(&product).await)?;
        report.note(format!("product {name} ({id})"), made);
        catalog.push(product);
    }

    let line = |sku: &str, quantity: i64| -> Result<OrderItem> {
        let product = catalog
            .iter()
            .find(|p| p.id.as_str() == sku)
            .with_context(|| format!("no seeded product {sku}"))?;
        let quantity = Quantity::parse(quantity).map_err(|e| invalid(e.0))?;
        OrderItem::new(product.id.clone(), quantity, product.price).map_err(|e| invalid(e.0))
    };

    let ada_order = Order::place(
        OrderId::parse(ADA_ORDER).map_err(|e| invalid(e.0))?,
        UserId::parse(ADA).map_err(|e| invalid(e.0))?,
        vec![line("sku-punched-cards", 2)?],
        at,
    )
    .map_err(invalid)?
    .with_payment_method(PaymentMethod::parse("tok_visa").map_err(|e| invalid(e.0))?);
    let event =
        Envelope::wrap(&OrderPlaced::from(&ada_order), "devstack-seed", at).map_err(invalid)?;
    let placed = match orders.place(&ada_order, &event, None).await {
        Ok(Placement::Placed) => true,
        Ok(Placement::KeyAlreadyUsed) | Err(Error::Conflict(_)) => false,
        Err(e) => return Err(anyhow::anyhow!("{}", e.chain())),
    };
    report.note(
        format!("order {ADA_ORDER} (Ada, 2 punched-card packs)"),
        placed,
    );

    let mut grace_order = Order::place(
        OrderId::parse(GRACE_ORDER).map_err(|e| invalid(e.0))?,
        UserId::parse(GRACE).map_err(|e| invalid(e.0))?,
        vec![
            line("sku-sketch-of-the-engine", 1)?,
            line("sku-brass-gears", 2)?,
        ],
        at,
    )
    .map_err(invalid)?;
    for status in [
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ] {
        grace_order.transition(status, at).map_err(invalid)?;
    }
    let made = put_historical(sdk, &table(template, stack, "OrdersTable")?, &grace_order).await?;
    report.note(format!("order {GRACE_ORDER} (Grace, delivered)"), made);
    Ok(report)
}

/// Stores an order as it is, without events (`attribute_not_exists(id)`).
async fn put_historical(sdk: &SdkConfig, table: &str, order: &Order) -> Result<bool> {
    let item = serde_dynamo::to_item(order).context("serialising the seeded order")?;
    let result = aws_sdk_dynamodb::Client::new(sdk)
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(id)")
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("PutItem on {table}"))),
    }
}
