//! garde rules and serde helpers shared by the request types (bodies and query strings) of the
//! HTTP functions.
//!
//! The request types check shapes with garde, and every bound through the domain's own
//! definition of it: [`length`] and [`range`] run a domain [`LengthBound`] / [`RangeBound`]
//! (e.g. `UserName::LENGTH`, `Quantity::RANGE`) as a garde rule, and [`parses`] runs a whole
//! domain parser. So a bound is written once, in the domain value type, and reads the same from
//! the rules and from the domain's parse. The `trimmed*` helpers trim a value while it is
//! deserialised, as the domain does, so that the rules measure what will be stored.

use std::borrow::Cow;
use std::fmt::Display;
use std::str::FromStr;

use garde::i18n::{
    DefaultI18n, I18n, InvalidCreditCard, InvalidEmail, InvalidPhoneNumber, InvalidUrl, IpKind,
};
use serde::{Deserialize, Deserializer};

use crate::domain::{Invalid, LengthBound, RangeBound};

/// garde's messages in the domain's words, so that a rule checked by garde and the same rule
/// checked by a domain type read alike: `must not be empty`, `must be at most 100 long`,
/// `must be at least 1`, `must be a valid email address`, `is required`. Rules this API does
/// not use keep garde's English.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiMessages;

impl I18n for ApiMessages {
    fn length_lower_than(&self, min: usize) -> Cow<'static, str> {
        if min == 1 {
            Cow::Borrowed("must not be empty")
        } else {
            format!("must be at least {min} long").into()
        }
    }

    fn length_greater_than(&self, max: usize) -> Cow<'static, str> {
        format!("must be at most {max} long").into()
    }

    fn range_lower_than(&self, min: &dyn Display) -> Cow<'static, str> {
        format!("must be at least {min}").into()
    }

    fn range_greater_than(&self, max: &dyn Display) -> Cow<'static, str> {
        format!("must be at most {max}").into()
    }

    fn email_invalid(&self, _reason: InvalidEmail) -> Cow<'static, str> {
        Cow::Borrowed("must be a valid email address")
    }

    fn required_not_set(&self) -> Cow<'static, str> {
        Cow::Borrowed("is required")
    }

    fn credit_card_invalid(&self, reason: InvalidCreditCard) -> Cow<'static, str> {
        DefaultI18n.credit_card_invalid(reason)
    }

    fn pattern_no_match(&self, pattern: &dyn Display) -> Cow<'static, str> {
        DefaultI18n.pattern_no_match(pattern)
    }

    fn contains_missing(&self, pattern: &dyn Display) -> Cow<'static, str> {
        DefaultI18n.contains_missing(pattern)
    }

    fn url_invalid(&self, reason: InvalidUrl) -> Cow<'static, str> {
        DefaultI18n.url_invalid(reason)
    }

    fn prefix_missing(&self, pattern: &dyn Display) -> Cow<'static, str> {
        DefaultI18n.prefix_missing(pattern)
    }

    fn suffix_missing(&self, pattern: &dyn Display) -> Cow<'static, str> {
        DefaultI18n.suffix_missing(pattern)
    }

    fn phone_number_invalid(&self, reason: InvalidPhoneNumber) -> Cow<'static, str> {
        DefaultI18n.phone_number_invalid(reason)
    }

    fn ip_invalid(&self, kind: IpKind) -> Cow<'static, str> {
        DefaultI18n.ip_invalid(kind)
    }

    fn matches_field_mismatch(&self, field: &dyn Display) -> Cow<'static, str> {
        DefaultI18n.matches_field_mismatch(field)
    }

    fn ascii_invalid(&self) -> Cow<'static, str> {
        DefaultI18n.ascii_invalid()
    }

    fn alphanumeric_invalid(&self) -> Cow<'static, str> {
        DefaultI18n.alphanumeric_invalid()
    }
}

/// garde rule: `value` parses as the domain type `T` (e.g. `UserId`, `OrderStatus`); otherwise
/// the error carries the domain's message ([`Invalid`]'s text).
///
/// On a `String` field: `#[garde(custom(shared::validate::parses::<OrderStatus>))]`; on an
/// `Option<String>` field wrap it in `inner` so that it runs on the value when there is one:
/// `#[garde(inner(custom(shared::validate::parses::<UserId>)))]`.
///
/// # Errors
/// A [`garde::Error`] with the domain's message when `value` does not parse.
pub fn parses<T>(value: &str, _context: &()) -> garde::Result
where
    T: FromStr<Err = Invalid>,
{
    T::from_str(value)
        .map(|_| ())
        .map_err(|e| garde::Error::new(e.0))
}

/// garde rule: the text is within the domain's length `bound` (e.g. `UserName::LENGTH`), with
/// the domain's message.
///
/// On a `String` field: `#[garde(custom(shared::validate::length(UserName::LENGTH)))]`; on an
/// `Option<String>`, wrap it in `inner(...)`.
pub fn length(bound: LengthBound) -> impl FnOnce(&String, &()) -> garde::Result {
    move |value, _| bound.check(value).map_err(|e| garde::Error::new(e.0))
}

/// garde rule: garde's email address check (`must be a valid email address`), as a custom rule
/// so that it runs in the order written, before the length rule:
/// `#[garde(custom(shared::validate::email), custom(shared::validate::length(Email::LENGTH)))]`.
/// The domain's [`Email`](crate::domain::Email) parse is stricter and still refines it.
///
/// # Errors
/// A [`garde::Error`] when `value` is not an email address.
pub fn email(value: &String, _context: &()) -> garde::Result {
    garde::rules::email::apply(value, ())
}

/// garde rule: the list has a number of elements within the domain's `bound` (e.g.
/// `Order::ITEMS`), with the domain's message.
///
/// On a `Vec<T>` field: `#[garde(custom(shared::validate::count(Order::ITEMS)), dive)]`.
pub fn count<T>(bound: LengthBound) -> impl FnOnce(&Vec<T>, &()) -> garde::Result {
    move |value, _| {
        bound
            .check_len(value.len())
            .map_err(|e| garde::Error::new(e.0))
    }
}

/// garde rule: the integer is within the domain's range `bound` (e.g. `Quantity::RANGE`), with
/// the domain's message.
///
/// On an integer field: `#[garde(custom(shared::validate::range(Quantity::RANGE)))]`; on an
/// `Option<u16>`, wrap it in `inner(...)`.
pub fn range<N: Copy + Into<i64>>(bound: RangeBound) -> impl FnOnce(&N, &()) -> garde::Result {
    move |value, _| {
        bound
            .check((*value).into())
            .map(|_| ())
            .map_err(|e| garde::Error::new(e.0))
    }
}

/// serde `deserialize_with` for a `String`: the string without surrounding whitespace.
///
/// Use: `#[serde(deserialize_with = "shared::validate::trimmed")]` (add `default` for an
/// optional field that is an empty string when absent).
///
/// # Errors
/// The deserializer's error when the value is not a string.
pub fn trimmed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    String::deserialize(deserializer).map(|s| s.trim().to_owned())
}

/// serde `deserialize_with` for an `Option<String>`: the string without surrounding whitespace,
/// kept even when nothing is left (`" "` becomes `Some("")`, so that the rules can report an
/// empty value). Absent stays `None`.
///
/// Use: `#[serde(default, deserialize_with = "shared::validate::trimmed_opt")]` (`default`, so
/// that a missing field is `None`).
///
/// # Errors
/// The deserializer's error when the value is neither a string nor null.
pub fn trimmed_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(deserializer).map(|s| s.map(|s| s.trim().to_owned()))
}

/// serde `deserialize_with` for an `Option<String>`: the string without surrounding whitespace,
/// or `None` when nothing is left, so that an empty (or blank) parameter counts as absent.
///
/// Use: `#[serde(default, deserialize_with = "shared::validate::trimmed_non_empty")]`.
///
/// # Errors
/// The deserializer's error when the value is neither a string nor null.
pub fn trimmed_non_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    trimmed_opt(deserializer).map(|s| s.filter(|s| !s.is_empty()))
}

/// serde `deserialize_with` for an `i64`: a JSON integer, or a number with no fractional part
/// (`302.0`), which JSON Schema counts as an integer too ("a JSON number with a zero fractional
/// part", JSON Schema Validation 2020-12 §6.1.1), so a `type: integer` of the document takes it.
///
/// Use: `#[serde(deserialize_with = "shared::validate::whole")]`.
///
/// # Errors
/// The deserializer's error when the value is not a number, has a fractional part, or is
/// outside the `i64` range.
pub fn whole<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Whole;

    impl serde::de::Visitor<'_> for Whole {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(value), &self))
        }

        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            reason = "the value is whole and within the i64 range, checked first"
        )]
        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<i64, E> {
            if value.fract() == 0.0 && value >= i64::MIN as f64 && value < i64::MAX as f64 {
                Ok(value as i64)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(value), &self))
            }
        }
    }

    deserializer.deserialize_any(Whole)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{OrderStatus, UserId};

    #[derive(Debug, Deserialize, garde::Validate)]
    struct Request {
        #[garde(custom(parses::<OrderStatus>))]
        status: String,
        #[serde(default)]
        #[garde(inner(custom(parses::<UserId>)))]
        customer_id: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    struct Trimmed {
        #[serde(default, deserialize_with = "trimmed")]
        name: String,
        #[serde(default, deserialize_with = "trimmed_opt")]
        email: Option<String>,
        #[serde(default, deserialize_with = "trimmed_non_empty")]
        category: Option<String>,
    }

    fn trimmed_from(value: serde_json::Value) -> Trimmed {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn parses_accepts_a_value_the_domain_parses() {
        let id = UserId::new().to_string();

        assert!(parses::<OrderStatus>("SHIPPED", &()).is_ok());
        assert!(parses::<UserId>(&id, &()).is_ok());
    }

    #[test]
    fn parses_reports_the_domain_message_for_a_value_it_refuses() {
        let expected = "x".parse::<OrderStatus>().unwrap_err().0;

        let error = parses::<OrderStatus>("x", &()).unwrap_err();

        assert_eq!(error.message(), expected);
    }

    #[test]
    fn parses_as_a_garde_rule_names_each_bad_field_and_skips_an_absent_option() {
        let bad: Request =
            serde_json::from_value(json!({"status": "x", "customer_id": "y"})).unwrap();
        let absent: Request = serde_json::from_value(json!({"status": "PENDING"})).unwrap();

        let report = garde::Validate::validate(&bad).unwrap_err();
        let mut fields: Vec<String> = report.iter().map(|(path, _)| path.to_string()).collect();
        fields.sort();

        assert_eq!(fields, ["customer_id", "status"]);
        assert!(garde::Validate::validate(&absent).is_ok());
    }

    #[test]
    fn trimmed_removes_surrounding_whitespace_only() {
        let value = trimmed_from(json!({"name": "  Ada  Lovelace \n"}));

        assert_eq!(value.name, "Ada  Lovelace");
    }

    #[test]
    fn trimmed_opt_keeps_a_blank_value_as_an_empty_string() {
        assert_eq!(
            trimmed_from(json!({"email": " a@b.example "}))
                .email
                .as_deref(),
            Some("a@b.example")
        );
        assert_eq!(
            trimmed_from(json!({"email": "  "})).email.as_deref(),
            Some("")
        );
        assert_eq!(trimmed_from(json!({"email": null})).email, None);
        assert_eq!(trimmed_from(json!({})).email, None);
    }

    #[test]
    fn trimmed_non_empty_treats_a_blank_value_as_absent() {
        assert_eq!(
            trimmed_from(json!({"category": " books "}))
                .category
                .as_deref(),
            Some("books")
        );
        for value in [
            json!({"category": ""}),
            json!({"category": " \t"}),
            json!({}),
        ] {
            assert_eq!(trimmed_from(value.clone()).category, None, "{value}");
        }
    }

    #[test]
    fn the_trimming_helpers_refuse_a_value_that_is_not_a_string() {
        for value in [
            json!({"name": 1}),
            json!({"email": 1}),
            json!({"category": []}),
        ] {
            assert!(
                serde_json::from_value::<Trimmed>(value.clone()).is_err(),
                "{value}"
            );
        }
    }

    #[derive(Debug, Deserialize)]
    struct Whole {
        #[serde(deserialize_with = "whole")]
        n: i64,
    }

    #[test]
    fn whole_accepts_an_integer_and_a_number_with_no_fractional_part() {
        let n = |value| serde_json::from_value::<Whole>(json!({ "n": value })).map(|w| w.n);

        assert_eq!(n(json!(302)).unwrap(), 302);
        assert_eq!(n(json!(-5)).unwrap(), -5);
        assert_eq!(n(json!(302.0)).unwrap(), 302);
        assert!(n(json!(302.5)).is_err());
        assert!(n(json!("302")).is_err());
        assert!(n(json!(u64::MAX)).is_err());
        assert!(n(json!(1e300)).is_err());
    }
}
