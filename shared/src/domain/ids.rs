//! Identifiers that can only hold valid values: parse once at the edge, then trust the type.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0:?} is not a valid e-mail address")]
    Email(String),
    #[error("{0:?} is not a valid Support ID (1-32 characters of A-Z, a-z, 0-9 and '-')")]
    SupportId(String),
    #[error("{0:?} is not a valid serial (1-64 characters of letters, digits and -_.:/+)")]
    Serial(String),
    #[error("{0:?} is not a valid order id (1-64 characters of letters, digits and -_.:/+)")]
    OrderId(String),
    #[error("{0:?} is not a role (admin or user)")]
    Role(String),
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $name::parse(s)
            }
        }
    };
}

/// A contact's e-mail: trimmed, lower-cased, and shaped like `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let bad = || IdError::Email(raw.to_string());
        // ASCII first: Unicode lower-casing folds some letters into ASCII ones (the Kelvin
        // sign becomes `k`), which would let two different addresses meet as one.
        if !raw.is_ascii() {
            return Err(bad());
        }
        let value = raw.trim().to_ascii_lowercase();
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = value.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') || local.contains("..") {
            return Err(bad());
        }
        let local_ok = local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok || local.starts_with('.') || local.ends_with('.') {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let labels_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !labels_ok {
            return Err(bad());
        }
        Ok(Email(value))
    }
}

/// An account site's Support ID: 1–32 of `[A-Za-z0-9-]`, compared case-insensitively, stored upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SupportId(String);
string_newtype!(SupportId);

impl SupportId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = (1..=32).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(SupportId(raw.to_ascii_uppercase()))
        } else {
            Err(IdError::SupportId(raw.to_string()))
        }
    }
}

/// Key-safe text for serials and order ids: letters, digits and `-_.:/+`. Every allowed
/// character sorts after the key separator `#`, so "S1#…" < "S10#…" in every index, the
/// same order as the bare serials.
fn key_safe(raw: &str) -> bool {
    (1..=64).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/+".contains(c))
}

/// A globally unique entitlement serial number (case-sensitive, as the ERP issued it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(String);
string_newtype!(Serial);

impl Serial {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if key_safe(raw) {
            Ok(Serial(raw.to_string()))
        } else {
            Err(IdError::Serial(raw.to_string()))
        }
    }
}

/// The ERP's order id (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(String);
string_newtype!(OrderId);

impl OrderId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if key_safe(raw) {
            Ok(OrderId(raw.to_string()))
        } else {
            Err(IdError::OrderId(raw.to_string()))
        }
    }
}

/// A member's role at a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        match raw {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(IdError::Role(other.to_string())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Bill@ACME.example ").unwrap().as_str(), "bill@acme.example");
    }

    #[test]
    fn email_refuses_non_ascii_before_lower_casing() {
        // U+212A KELVIN SIGN lower-cases to an ASCII `k`; U+0130 to `i` + a combining dot.
        for sneaky in ["\u{212A}en@acme.example", "bill@\u{212A}.example", "b\u{130}ll@acme.example", "ted@dat\u{212A}a.example"] {
            assert!(Email::parse(sneaky).is_err(), "{sneaky:?} must be refused, not folded into ASCII");
        }
    }

    #[test]
    fn email_rejects_non_addresses() {
        for bad in [
            "",
            "bill",
            "@acme.example",
            "bill@",
            "bill@acme",
            "a b@acme.example",
            "bill@@acme.example",
            "bill@acme..example",
            ".bill@acme.example",
            "bill@-acme.example",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn support_id_is_upper_cased_and_checked() {
        assert_eq!(SupportId::parse("acme-1").unwrap().as_str(), "ACME-1");
        for bad in ["", "ACME 1", "ACME#1", "ÄCME", &"X".repeat(33)] {
            assert!(SupportId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(SupportId::parse(&"X".repeat(32)).is_ok());
    }

    #[test]
    fn serial_and_order_id_refuse_key_separators() {
        assert!(Serial::parse("S#1").is_err());
        assert!(Serial::parse("S 1").is_err());
        assert!(Serial::parse("").is_err());
        assert_eq!(Serial::parse("Ab-1").unwrap().as_str(), "Ab-1");
        assert!(OrderId::parse("O#1").is_err());
    }
}
