//! Fuzz target `cursor`: the pagination cursor a client sends back (`?cursor=`), decoded as
//! every lister does (`shared::ports::Cursor::from_client` then `after_id` for user, order and
//! product ids, and an email as the users table's guard keys hold it).
//!
//! Input: first byte even, the rest is the cursor text as received; odd, the rest is an id,
//! turned into a cursor with `Cursor::after`.
//!
//! Properties: nothing panics; a cursor made from an id that parses gives that id back
//! (`after_id(after(id)) == id`) and survives the trip through a client (`from_client` of its
//! text); a cursor longer than `Cursor::MAX_LEN` is never one we issued from a valid id.

#![no_main]

use std::fmt::{Debug, Display};
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use shared::domain::{Email, OrderId, ProductId, UserId};
use shared::ports::{Cursor, page_request};

/// Where the users table's scan starts: a user id, or an `EMAIL#<address>` guard key (a
/// mirror of the private `ScanStart` of `shared/src/aws/users.rs`, which the users lister
/// decodes its cursors into).
#[derive(Debug, PartialEq)]
struct ScanStart(String);

impl FromStr for ScanStart {
    type Err = shared::domain::Invalid;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.strip_prefix("EMAIL#") {
            Some(email) => Email::parse(email).map(|email| Self(format!("EMAIL#{email}"))),
            None => UserId::parse(raw).map(|id| Self(id.to_string())),
        }
    }
}

impl Display for ScanStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `id` parsed as a `T`; when it parses, its cursor must decode to it.
fn round_trip<T>(id: &str)
where
    T: FromStr + Display + PartialEq + Debug,
{
    let Ok(parsed) = id.parse::<T>() else {
        return;
    };
    let cursor = Cursor::after(&parsed);
    let back = Cursor::from_client(cursor.as_str()).after_id::<T>();
    assert_eq!(
        back.as_ref().ok(),
        Some(&parsed),
        "cursor {cursor} lost id {parsed}"
    );
}

fn decode(raw: &str) {
    let cursor = Cursor::from_client(raw);
    let _ = cursor.after_id::<UserId>();
    let _ = cursor.after_id::<OrderId>();
    let _ = cursor.after_id::<ProductId>();
    let _ = cursor.after_id::<ScanStart>();
    let _ = cursor.after_id::<String>();
    let _ = page_request(Some(20), Some(raw.to_owned()));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        decode(&text);
    } else {
        round_trip::<UserId>(&text);
        round_trip::<OrderId>(&text);
        round_trip::<ProductId>(&text);
        round_trip::<ScanStart>(&text);
        round_trip::<String>(&text);
        // Every cursor we issue from a valid id fits the bound a client may send back.
        if let Ok(id) = text.parse::<ProductId>() {
            assert!(Cursor::after(id).as_str().len() <= Cursor::MAX_LEN);
        }
        if let Ok(email) = Email::parse(&text) {
            let guard = Cursor::after(format!("EMAIL#{email}"));
            assert!(
                guard.as_str().len() <= Cursor::MAX_LEN,
                "users guard cursor over the bound"
            );
        }
    }
});
