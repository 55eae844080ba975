//! The schemas the derives cannot state (`schema_with`): the domain's bounds on a stock change
//! and on trimmed text (names, descriptions, categories) and emails, as the server checks them.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

/// The schema of [`AdjustStockRequest::delta`](crate::api::AdjustStockRequest): an integer in
/// -1 000 000..=1 000 000 other than 0 (`StockDelta::MAX_ABS`; the domain refuses a zero
/// change), written as `oneOf` the two ranges (utoipa has no `not`).
#[must_use]
#[expect(
    clippy::cast_precision_loss,
    reason = "MAX_ABS (10^6) is exact in an f64"
)]
pub fn stock_delta() -> Schema {
    let max = crate::domain::StockDelta::MAX_ABS as f64;
    let range = |min: f64, max: f64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(min))
            .maximum(Some(max))
    };
    OneOfBuilder::new()
        .item(range(-max, -1.0))
        .item(range(1.0, max))
        .description(Some("Units to add (positive) or remove (negative), not 0."))
        .build()
        .into()
}

/// Control characters the domain refuses in one-line text (C0, DEL, C1), as a regex class body.
const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";
/// The same for multi-line text: tab, line feed and carriage return are allowed.
const CONTROL_BUT_LINE_BREAKS: &str = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F";

/// A string schema whose pattern holds the domain's bounds on the *trimmed* value, as the
/// server checks them: `min_chars` (0 or 1) ..= `max_chars` characters of which none is in
/// `control`, with any padding of white space around them. A raw `maxLength` would refuse what
/// the server accepts (padding is trimmed before the bound is checked).
fn trimmed_text(
    description: &str,
    min_chars: usize,
    max_chars: usize,
    control: &str,
    example: Option<&str>,
) -> Schema {
    let edge = format!("[^\\s{control}]");
    let inner = format!(
        "(?:[^{control}]{{0,{}}}{edge})?",
        max_chars.saturating_sub(2)
    );
    let text = if min_chars == 0 {
        format!("(?:{edge}{inner})?")
    } else {
        format!("{edge}{inner}")
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(format!("^\\s*{text}\\s*$")))
        .examples(example)
        .build()
        .into()
}

/// A user's display name ([`UserName`](crate::domain::UserName)): 1..=100 characters once
/// trimmed, no control characters.
#[must_use]
pub fn user_name() -> Schema {
    let max = crate::domain::UserName::MAX_CHARS;
    trimmed_text(
        &format!("Display name, trimmed: 1..={max} characters, no control characters."),
        1,
        max,
        CONTROL,
        Some("Ada"),
    )
}

/// An email address ([`Email`](crate::domain::Email)), trimmed (the domain lowercases it): at
/// most 254 bytes (RFC 5321 §4.5.3.1.3).
#[must_use]
pub fn email() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Email,
        )))
        .description(Some(
            "Email address, trimmed (the domain lowercases it): at most 254 bytes.",
        ))
        .max_length(Some(crate::domain::Email::MAX_LEN))
        .examples(["ada@example.com"])
        .build()
        .into()
}

/// A product's name ([`ProductName`](crate::domain::ProductName)): 1..=200 characters once
/// trimmed, no control characters.
#[must_use]
pub fn product_name() -> Schema {
    let max = crate::domain::ProductName::MAX_CHARS;
    trimmed_text(
        &format!("Display name, trimmed: 1..={max} characters, no control characters."),
        1,
        max,
        CONTROL,
        Some("Teapot"),
    )
}

/// A product's description ([`Description`](crate::domain::Description)): at most 2000
/// characters once trimmed, may be empty; line breaks and tabs allowed.
#[must_use]
pub fn product_description() -> Schema {
    let max = crate::domain::Description::MAX_CHARS;
    trimmed_text(
        &format!(
            "Free text, trimmed; may be empty (the default): at most {max} characters, line \
             breaks and tabs allowed."
        ),
        0,
        max,
        CONTROL_BUT_LINE_BREAKS,
        None,
    )
}

/// A catalog category ([`Category`](crate::domain::Category)): 1..=50 of `A-Z a-z 0-9 -`
/// once trimmed (the domain lowercases it).
#[must_use]
pub fn category() -> Schema {
    let max = crate::domain::Category::MAX_LEN;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "Where it is listed, trimmed and lowercased: 1..={max} of `a-z 0-9 -`."
        )))
        .pattern(Some(format!("^\\s*[A-Za-z0-9-]{{1,{max}}}\\s*$")))
        .examples(["kitchen"])
        .build()
        .into()
}
