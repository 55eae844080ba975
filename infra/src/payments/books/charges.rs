//! A charge's request and answer: the parameters of `POST /v1/charges`, validated one by one
//! (the first missing or invalid one is the `400` answered), what its token does, and the
//! answer to a booked charge.

use http::StatusCode;
use serde_json::{Value, json};

use super::{Answer, MAX_AMOUNT, error, invalid};

/// Why a card is declined: its `decline_code` and the message.
pub(super) type Decline = (&'static str, &'static str);

/// The parameters of a `POST /v1/charges`, validated.
#[derive(Debug)]
pub(super) struct ChargeParams {
    /// Cents, 1 to [`MAX_AMOUNT`].
    pub(super) amount: i64,
    /// ISO currency code, lowercase (`usd`).
    pub(super) currency: String,
    /// The token charged.
    pub(super) source: String,
    /// `metadata`: an object of strings (`{}` when not given).
    pub(super) metadata: Value,
}

impl ChargeParams {
    /// Reads `amount`, `currency`, `source` and `metadata` from `body`, in that order; the
    /// first missing or invalid one is the `400` answered.
    pub(super) fn read(body: &Value) -> Result<Self, Answer> {
        let amount = charge_amount(body)?;
        let currency = charge_currency(body)?;
        let source = charge_source(body)?;
        let metadata = charge_metadata(body)?;
        Ok(Self {
            amount,
            currency,
            source,
            metadata,
        })
    }
}

/// `amount`: a whole number of cents, 1 to [`MAX_AMOUNT`].
fn charge_amount(body: &Value) -> Result<i64, Answer> {
    match body.get("amount") {
        None | Some(Value::Null) => Err(invalid(
            "parameter_missing",
            "amount",
            "Missing required param: amount.",
        )),
        Some(v) => match v.as_i64() {
            Some(a) if (1..=MAX_AMOUNT).contains(&a) => Ok(a),
            _ => Err(invalid(
                "parameter_invalid",
                "amount",
                &format!("amount must be a whole number of cents, 1 to {MAX_AMOUNT}"),
            )),
        },
    }
}

/// `currency`: three letters, returned lowercase.
fn charge_currency(body: &Value) -> Result<String, Answer> {
    match body.get("currency") {
        None | Some(Value::Null) => Err(invalid(
            "parameter_missing",
            "currency",
            "Missing required param: currency.",
        )),
        Some(Value::String(c)) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => {
            Ok(c.to_ascii_lowercase())
        }
        Some(_) => Err(invalid(
            "parameter_invalid",
            "currency",
            "currency must be a three-letter ISO code, e.g. usd",
        )),
    }
}

/// `source`: a non-empty token string.
fn charge_source(body: &Value) -> Result<String, Answer> {
    match body.get("source") {
        None | Some(Value::Null) => Err(invalid(
            "parameter_missing",
            "source",
            "Missing required param: source.",
        )),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(invalid(
            "parameter_invalid",
            "source",
            "source must be a token string",
        )),
    }
}

/// `metadata`: an object of strings, `{}` when not given.
fn charge_metadata(body: &Value) -> Result<Value, Answer> {
    match body.get("metadata") {
        None | Some(Value::Null) => Ok(json!({})),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(Value::Object(m.clone())),
        Some(_) => Err(invalid(
            "parameter_invalid",
            "metadata",
            "metadata must be an object of strings",
        )),
    }
}

/// What token `source` does: `None` charges, a [`Decline`] declines; an unknown token is a
/// `400 resource_missing`.
pub(super) fn token_decline(source: &str) -> Result<Option<Decline>, Answer> {
    match source {
        "tok_visa" | "tok_mastercard" => Ok(None),
        "tok_declined" => Ok(Some(("generic_decline", "Your card was declined."))),
        "tok_insufficient_funds" => Ok(Some((
            "insufficient_funds",
            "Your card has insufficient funds.",
        ))),
        other => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "resource_missing",
            &format!("No such token: '{other}'"),
            json!({ "param": "source" }),
        )),
    }
}

/// The answer to charge `id` of `params`: `200` with the charge, or `402 card_declined`.
pub(super) fn charge_answer(id: String, params: ChargeParams, decline: Option<Decline>) -> Answer {
    let ChargeParams {
        amount,
        currency,
        source,
        metadata,
    } = params;
    match decline {
        None => Answer::new(
            StatusCode::OK,
            json!({
                "id": id, "object": "charge", "amount": amount, "currency": currency,
                "status": "succeeded", "source": source, "metadata": metadata,
                "created": chrono::Utc::now().timestamp(),
            }),
        ),
        Some((decline_code, message)) => error(
            StatusCode::PAYMENT_REQUIRED,
            "card_error",
            "card_declined",
            message,
            json!({ "decline_code": decline_code, "charge": id }),
        ),
    }
}
