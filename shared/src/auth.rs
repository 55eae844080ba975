//! Who is calling: the [`Principal`] read from the JWT authorizer's claims, and the access rules
//! (role-based, then object-level) every HTTP handler applies.
//!
//! API Gateway's JWT authorizer has already checked the token's signature, issuer, audience
//! and lifetime before a function runs; it passes the claims in
//! `requestContext.authorizer.jwt.claims`, every value flattened to a string (an array claim
//! such as `cognito:groups` arrives as `"[admin customer]"`). See
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html>.
//!
//! The rules (README, "Access rules"):
//! - a caller in the `admin` group manages products and any user or order;
//! - a caller in the `customer` group reads the catalog, reads and edits their own user record
//!   (whose id is the token's `sub`), and creates, lists, reads and cancels their own orders;
//! - a caller in neither group may only use the public routes.
//!
//! Denials: a role that may not use a route at all gets `403 FORBIDDEN`; a customer naming
//! someone else's resource by id gets `404 NOT_FOUND`, the same answer as for an id that does
//! not exist, so ids cannot be probed (OWASP API1:2023, Broken Object Level Authorization).

use std::collections::BTreeSet;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::domain::UserId;
use crate::error::Error;

/// The claim carrying the caller's groups in an Amazon Cognito user pool token.
pub const GROUPS_CLAIM: &str = "cognito:groups";
/// The group of administrators.
pub const ADMIN_GROUP: &str = "admin";
/// The group of customers.
pub const CUSTOMER_GROUP: &str = "customer";

/// What a caller may do, from their groups. An admin who is also a customer is an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Group `admin`: manages the catalog, every user and every order.
    Admin,
    /// Group `customer`: their own user record and orders, and the catalog.
    Customer,
}

/// The authenticated caller: the token's subject and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    subject: String,
    groups: BTreeSet<String>,
}

impl Principal {
    /// A principal with subject `subject` (the token's `sub`) in `groups`.
    pub fn new(
        subject: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            subject: subject.into(),
            groups: groups.into_iter().map(Into::into).collect(),
        }
    }

    /// The caller of `req`, from `requestContext.authorizer.jwt.claims`: `sub` and
    /// `cognito:groups` (`"[admin customer]"` as API Gateway flattens it; a JSON array, a
    /// comma-separated list or one group name are read too).
    ///
    /// # Errors
    /// [`Error::Unauthorized`] when the request carries no JWT claims or no `sub`: the route is
    /// not behind the authorizer, or the function was invoked directly.
    pub fn from_request(req: &Request) -> Result<Self, Error> {
        let unauthorized = || Error::Unauthorized("a valid bearer token is required".to_owned());
        let Some(RequestContext::ApiGatewayV2(context)) = req.request_context_ref() else {
            return Err(unauthorized());
        };
        let claims = context
            .authorizer
            .as_ref()
            .and_then(|authorizer| authorizer.jwt.as_ref())
            .map(|jwt| &jwt.claims)
            .ok_or_else(unauthorized)?;
        let subject = claims
            .get("sub")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .ok_or_else(unauthorized)?;
        let groups = claims
            .get(GROUPS_CLAIM)
            .map(|raw| parse_groups(raw))
            .unwrap_or_default();
        Ok(Self::new(subject, groups))
    }

    /// The token's `sub`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The caller's groups.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(String::as_str)
    }

    /// The caller's role, if they have one (`admin` wins over `customer`).
    pub fn role(&self) -> Option<Role> {
        if self.groups.contains(ADMIN_GROUP) {
            Some(Role::Admin)
        } else if self.groups.contains(CUSTOMER_GROUP) {
            Some(Role::Customer)
        } else {
            None
        }
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// Allows admins only.
    ///
    /// # Errors
    /// [`Error::Forbidden`] (403) for anyone else.
    pub fn require_admin(&self) -> Result<(), Error> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// Allows admins and customers; returns which one the caller is.
    ///
    /// # Errors
    /// [`Error::Forbidden`] (403) for a caller in neither group.
    pub fn require_role(&self) -> Result<Role, Error> {
        self.role().ok_or_else(forbidden)
    }

    /// The caller's own user id: the token's `sub` parsed as a [`UserId`].
    ///
    /// # Errors
    /// [`Error::Forbidden`] (403) when `sub` is not a user id (e.g. a machine client).
    pub fn user_id(&self) -> Result<UserId, Error> {
        UserId::parse(&self.subject).map_err(|_| {
            Error::Forbidden("this token's subject is not a user of this service".to_owned())
        })
    }

    /// Whether the caller may act on something owned by `owner`: an admin, or the owner.
    pub fn owns_or_admin(&self, owner: &UserId) -> bool {
        self.is_admin()
            || (self.role() == Some(Role::Customer)
                && UserId::parse(&self.subject).is_ok_and(|me| me == *owner))
    }

    /// Object-level check: passes when the caller [owns or administers](Self::owns_or_admin)
    /// `resource` `id`, owned by `owner`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (404) otherwise — the answer for an id that does not exist, so that
    /// a customer cannot tell another customer's resource from a missing one.
    pub fn check_owner(
        &self,
        owner: &UserId,
        resource: &'static str,
        id: impl std::fmt::Display,
    ) -> Result<(), Error> {
        if self.owns_or_admin(owner) {
            Ok(())
        } else {
            Err(Error::not_found(resource, id))
        }
    }
}

fn forbidden() -> Error {
    Error::Forbidden("your role does not allow this".to_owned())
}

/// Group names from a flattened claim: `[a b]`, `["a","b"]`, `a,b` or `a`.
fn parse_groups(raw: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list;
    }
    let inner = raw.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(inner);
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|g| g.trim_matches('"'))
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ErrorResponse;
    use crate::testing::ApiRequest;

    #[test]
    fn groups_are_read_in_every_flattened_form() {
        for raw in [
            "[admin customer]",
            r#"["admin","customer"]"#,
            "admin,customer",
            "admin customer",
        ] {
            assert_eq!(parse_groups(raw), ["admin", "customer"], "{raw}");
        }
        assert_eq!(parse_groups("customer"), ["customer"]);
        assert!(parse_groups("[]").is_empty());
    }

    #[test]
    fn the_principal_comes_from_the_authorizer_claims() {
        let id = UserId::new();
        let req = ApiRequest::new("GET", "/orders")
            .principal(&id.to_string(), &["customer"])
            .build();

        let principal = Principal::from_request(&req).unwrap();

        assert_eq!(principal.subject(), id.to_string());
        assert_eq!(principal.role(), Some(Role::Customer));
        assert_eq!(principal.user_id().unwrap(), id);
    }

    #[test]
    fn a_request_without_claims_is_unauthorized() {
        let req = ApiRequest::new("GET", "/orders").build();

        let error = Principal::from_request(&req).unwrap_err();

        assert_eq!(error.status(), 401);
    }

    #[test]
    fn admin_wins_over_customer_and_no_group_has_no_role() {
        assert_eq!(
            Principal::new("x", ["customer", "admin"]).role(),
            Some(Role::Admin)
        );
        let nobody = Principal::new("x", ["guests"]);
        assert_eq!(nobody.role(), None);
        assert_eq!(nobody.require_role().unwrap_err().status(), 403);
        assert_eq!(nobody.require_admin().unwrap_err().status(), 403);
    }

    #[test]
    fn a_customer_owns_only_their_own_resources_and_others_look_missing() {
        let (me, other) = (UserId::new(), UserId::new());
        let customer = Principal::new(me.to_string(), ["customer"]);
        let admin = Principal::new("ops", ["admin"]);

        assert!(customer.check_owner(&me, "order", "o1").is_ok());
        let denied = customer.check_owner(&other, "order", "o1").unwrap_err();
        assert_eq!(denied.status(), 404);
        assert_eq!(denied.to_string(), "order o1 not found");
        assert!(admin.check_owner(&other, "order", "o1").is_ok());
        // No role: owns nothing, even with a matching subject.
        assert!(!Principal::new(me.to_string(), ["guests"]).owns_or_admin(&me));
    }
}
