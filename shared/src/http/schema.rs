//! OpenAPI schemas of the domain and store types that appear on the wire. Those types keep
//! their own serde (parse, never merely validate); this module only describes what they
//! put on the wire, with the same limits their parsers enforce.

use crate::domain::access::{EscalationReason, RequestKind, RequestStatus};
use crate::domain::entitlement::EntitlementStatus;
use crate::domain::{Access, Day, Email, Role, Serial, SupportId};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)).description(Some(description))
}

fn enumeration(description: &str, values: &[&str]) -> RefOr<Schema> {
    string(description).enum_values(Some(values.iter().copied())).into()
}

macro_rules! schema {
    ($ty:ty, $name:literal, $body:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $body
            }
        }
        impl ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}

schema!(
    Email,
    "Email",
    string("A contact's e-mail address: trimmed and lower-cased by the API, compared case-insensitively.")
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .min_length(Some(3))
        .max_length(Some(254))
        .examples(["mary@skynet.example"])
        .into()
);

schema!(
    SupportId,
    "SupportId",
    string("An account site's Support ID: 1-32 characters of A-Z, a-z, 0-9 and '-', compared case-insensitively, answered upper-case.")
        .pattern(Some("^[A-Za-z0-9-]{1,32}$"))
        .examples(["ACME-1"])
        .into()
);

schema!(
    Serial,
    "Serial",
    string("An entitlement's globally unique serial: 1-64 characters of letters, digits and -_.:/+.")
        .pattern(Some("^[A-Za-z0-9_.:/+-]{1,64}$"))
        .examples(["S1"])
        .into()
);

schema!(
    Day,
    "Day",
    string("A calendar date, YYYY-MM-DD.").format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))).examples(["2027-03-31"]).into()
);

schema!(Role, "Role", enumeration("A member's role at a site: `admin` is a Site Administrator.", &["admin", "user"]));

schema!(
    Access,
    "Access",
    enumeration(
        "A visibility rule through which the caller reaches an entitlement: `member` of its owning site (R1), \
         `ship_to` contact of its order (R2), `reseller`: member of the order's reseller site (R3).",
        &["member", "ship_to", "reseller"]
    )
);

schema!(
    EntitlementStatus,
    "EntitlementStatus",
    enumeration(
        "`expired`: ends_on is in the past; `upcoming`: starts_on is in the future; `active` otherwise (UTC days).",
        &["active", "expired", "upcoming"]
    )
);

schema!(
    RequestKind,
    "RequestKind",
    enumeration("`join`: the requester is not a member; `role_change`: a member asks for another role.", &["join", "role_change"])
);

schema!(
    RequestStatus,
    "RequestStatus",
    enumeration(
        "`pending_admin`: waiting for a site administrator (Care may decide too); `escalated`: only Customer Care decides; \
         `approved`, `rejected` and `expired` (nobody decided it within 90 days) are final.",
        &["pending_admin", "escalated", "approved", "rejected", "expired"]
    )
);

schema!(
    EscalationReason,
    "EscalationReason",
    enumeration(
        "Why a request went to Customer Care: the site has (or just lost) no administrator, or no administrator decided \
         within the admin SLA.",
        &["no_site_administrator", "admin_sla_expired"]
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every enumeration the document states is exactly what serde writes.
    #[test]
    fn enumerations_match_serde() {
        fn values<T: PartialSchema>() -> Vec<serde_json::Value> {
            let schema = serde_json::to_value(T::schema()).unwrap();
            schema["enum"].as_array().cloned().unwrap()
        }
        let json = |v: serde_json::Value| v;
        assert_eq!(values::<Role>(), [json(serde_json::to_value(Role::Admin).unwrap()), serde_json::to_value(Role::User).unwrap()]);
        assert_eq!(values::<Access>(), [Access::Member, Access::ShipTo, Access::Reseller].map(|a| serde_json::to_value(a).unwrap()));
        assert_eq!(
            values::<EntitlementStatus>(),
            [EntitlementStatus::Active, EntitlementStatus::Expired, EntitlementStatus::Upcoming].map(|a| serde_json::to_value(a).unwrap())
        );
        assert_eq!(values::<RequestKind>(), [RequestKind::Join, RequestKind::RoleChange].map(|a| serde_json::to_value(a).unwrap()));
        assert_eq!(
            values::<RequestStatus>(),
            [
                RequestStatus::PendingAdmin,
                RequestStatus::Escalated,
                RequestStatus::Approved,
                RequestStatus::Rejected,
                RequestStatus::Expired
            ]
            .map(|a| serde_json::to_value(a).unwrap())
        );
        assert_eq!(
            values::<EscalationReason>(),
            [EscalationReason::NoSiteAdministrator, EscalationReason::AdminSlaExpired].map(|a| serde_json::to_value(a).unwrap())
        );
    }
}
