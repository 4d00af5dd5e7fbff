//! The order message of spec §3, parsed into a typed [`Order`] with every rule enforced.

use super::ids::{Email, OrderId, Serial, SupportId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

pub const ORDER_SCHEMA: &str = "abev.order.v1";
/// The SQS message size limit; a larger body cannot have come from the ERP intact.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub const MAX_LINES: usize = 1_000;
/// Contacts per party. Provisioning for a version is written in one transaction with the
/// version switch (so it happens exactly once), and a transaction holds 100 items.
pub const MAX_CONTACTS_PER_PARTY: usize = 40;

/// Everything that makes an order message unusable. All of these are permanent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("message body is {0} bytes, over the 262144-byte limit")]
    TooLarge(usize),
    #[error("message body is not valid JSON: {0}")]
    Json(String),
    #[error("message body is not a JSON object")]
    NotAnObject,
    #[error("unknown schema {0:?}, expected \"abev.order.v1\"")]
    Schema(String),
    #[error("{0} is required")]
    Missing(String),
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("lines: an order needs at least one line")]
    NoLines,
    #[error("lines: {0} lines, more than the 1000 allowed")]
    TooManyLines(usize),
    #[error("{path}: ends_on {ends_on} is before starts_on {starts_on}")]
    EndsBeforeStarts { path: String, starts_on: Day, ends_on: Day },
    #[error("serial {0} appears more than once in the order")]
    DuplicateSerial(String),
    #[error("{path}: {count} contacts, more than the {max} allowed per party")]
    TooManyContacts { path: String, count: usize, max: usize },
}

/// A calendar date (`YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub time::Date);

const DAY_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day]");

impl Day {
    pub fn parse(raw: &str) -> Option<Day> {
        if raw.len() != 10 {
            return None;
        }
        time::Date::parse(raw, DAY_FORMAT).ok().map(Day)
    }
    pub fn today() -> Day {
        Day(time::OffsetDateTime::now_utc().date())
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(f, "{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }
}

impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Day::parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("{raw:?} is not a YYYY-MM-DD date")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Active,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub support_id: SupportId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub email: Email,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub site: Site,
    pub contacts: Vec<Contact>,
}

impl Party {
    pub fn emails(&self) -> impl Iterator<Item = &Email> {
        self.contacts.iter().map(|c| &c.email)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub serial: Serial,
    pub sku: String,
    pub product: String,
    pub quantity: u64,
    pub starts_on: Day,
    pub ends_on: Day,
    pub license_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub download_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub version: u64,
    pub status: OrderStatus,
    pub ordered_at: String,
    pub end_customer: Party,
    pub ship_to: Option<Party>,
    pub reseller: Option<Party>,
    pub lines: Vec<Line>,
}

impl Order {
    /// Parses and validates one SQS message body.
    pub fn parse(body: &[u8]) -> Result<Order, OrderError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(OrderError::TooLarge(body.len()));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| OrderError::Json(e.to_string()))?;
        let obj = value.as_object().ok_or(OrderError::NotAnObject)?;
        let schema = obj.get("schema").ok_or_else(|| OrderError::Missing("schema".into()))?;
        if schema.as_str() != Some(ORDER_SCHEMA) {
            return Err(OrderError::Schema(match schema {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        let order_id = OrderId::parse(&req_str(obj, "order_id", "order_id")?).map_err(|e| invalid("order_id", e))?;
        let version = match obj.get("version") {
            None | Some(Value::Null) => return Err(OrderError::Missing("version".into())),
            Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| invalid("version", "must be an integer >= 1"))?,
        };
        let status = match req_str(obj, "status", "status")?.as_str() {
            "active" => OrderStatus::Active,
            "cancelled" => OrderStatus::Cancelled,
            other => return Err(invalid("status", format!("{other:?} is not \"active\" or \"cancelled\""))),
        };
        let ordered_at = req_str(obj, "ordered_at", "ordered_at")?;
        time::OffsetDateTime::parse(&ordered_at, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid("ordered_at", format!("{ordered_at:?} is not an RFC 3339 timestamp")))?;
        let end_customer = match obj.get("end_customer") {
            None | Some(Value::Null) => return Err(OrderError::Missing("end_customer".into())),
            Some(v) => parse_party(v, "end_customer")?,
        };
        let ship_to = opt_party(obj, "ship_to")?;
        let reseller = opt_party(obj, "reseller")?;
        let raw_lines = match obj.get("lines") {
            None | Some(Value::Null) => return Err(OrderError::Missing("lines".into())),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(invalid("lines", "must be an array")),
        };
        if raw_lines.is_empty() {
            return Err(OrderError::NoLines);
        }
        if raw_lines.len() > MAX_LINES {
            return Err(OrderError::TooManyLines(raw_lines.len()));
        }
        let mut seen = BTreeSet::new();
        let mut lines = Vec::with_capacity(raw_lines.len());
        for (i, raw) in raw_lines.iter().enumerate() {
            let line = parse_line(raw, &format!("lines[{i}]"))?;
            if !seen.insert(line.serial.clone()) {
                return Err(OrderError::DuplicateSerial(line.serial.to_string()));
            }
            lines.push(line);
        }
        Ok(Order { order_id, version, status, ordered_at, end_customer, ship_to, reseller, lines })
    }

    /// A digest of the order's content (not its bytes, not this struct's serialization):
    /// two deliveries of one version with the same digest are the same message. It hashes
    /// [`Order::canonical`], a form written out field by field, and is prefixed with
    /// [`DIGEST_VERSION`], so adding a field to `Order` cannot change a stored digest.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let canonical = self.canonical().to_string();
        let hash = Sha256::digest(canonical.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("{DIGEST_VERSION}{hex}")
    }

    /// The content of the message as the ERP meant it: every field of `abev.order.v1`,
    /// normalised as parsed (e-mails lower-case, Support IDs upper-case), keys sorted,
    /// absent optional parts as `null`. Changing this is a new [`DIGEST_VERSION`].
    pub fn canonical(&self) -> Value {
        let party = |p: &Party| {
            serde_json::json!({
                "site": {"support_id": p.site.support_id.as_str(), "name": p.site.name},
                "contacts": p.contacts.iter().map(|c| serde_json::json!({"email": c.email.as_str(), "name": c.name})).collect::<Vec<_>>(),
            })
        };
        let line = |l: &Line| {
            serde_json::json!({
                "serial": l.serial.as_str(), "sku": l.sku, "product": l.product, "quantity": l.quantity,
                "starts_on": l.starts_on.to_string(), "ends_on": l.ends_on.to_string(),
                "license_keys": l.license_keys, "download_url": l.download_url,
            })
        };
        serde_json::json!({
            "schema": ORDER_SCHEMA,
            "order_id": self.order_id.as_str(),
            "version": self.version,
            "status": match self.status { OrderStatus::Active => "active", OrderStatus::Cancelled => "cancelled" },
            "ordered_at": self.ordered_at,
            "end_customer": party(&self.end_customer),
            "ship_to": self.ship_to.as_ref().map(party),
            "reseller": self.reseller.as_ref().map(party),
            "lines": self.lines.iter().map(line).collect::<Vec<_>>(),
        })
    }

    pub fn is_active(&self) -> bool {
        self.status == OrderStatus::Active
    }
}

/// The format of [`Order::digest`], its prefix.
pub const DIGEST_VERSION: &str = "v1:";

/// Whether a stored digest and a new one say "the same content". A digest of another
/// format (written before the current one existed) cannot be compared and is trusted, so
/// a redelivery after a deploy is never turned into a conflicting duplicate.
pub fn same_content(stored: &str, digest: &str) -> bool {
    stored == digest || !stored.starts_with(DIGEST_VERSION)
}

/// The longest `download_url` accepted.
pub const MAX_URL_LEN: usize = 2048;

/// A download link shown to customers: an absolute `https` URL with a host, exactly as
/// sent (no whitespace to be silently encoded, nothing a browser would run).
fn https_url(raw: &str) -> Result<String, &'static str> {
    const RULE: &str = "must be an absolute https URL (at most 2048 characters, no spaces)";
    if raw.is_empty() || raw.len() > MAX_URL_LEN || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RULE);
    }
    // The authority must be spelled out: the URL parser would read `https:///p` as host `p`.
    let spelled = raw.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://")) && !raw[8..].starts_with(['/', '\\']);
    if !spelled {
        return Err(RULE);
    }
    let url = url::Url::parse(raw).map_err(|_| RULE)?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) || url.cannot_be_a_base() {
        return Err(RULE);
    }
    Ok(raw.to_string())
}

fn invalid(path: &str, reason: impl fmt::Display) -> OrderError {
    OrderError::Invalid { path: path.to_string(), reason: reason.to_string() }
}

fn req_str(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, OrderError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(OrderError::Missing(path.to_string())),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(invalid(path, "must not be empty")),
        Some(_) => Err(invalid(path, "must be a string")),
    }
}

fn opt_party(obj: &Map<String, Value>, key: &str) -> Result<Option<Party>, OrderError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_party(v, key).map(Some),
    }
}

fn parse_party(value: &Value, path: &str) -> Result<Party, OrderError> {
    let obj = value.as_object().ok_or_else(|| invalid(path, "must be an object"))?;
    let site_path = format!("{path}.site");
    let site_obj = match obj.get("site") {
        None | Some(Value::Null) => return Err(OrderError::Missing(site_path)),
        Some(v) => v.as_object().ok_or_else(|| invalid(&site_path, "must be an object"))?,
    };
    let sid_path = format!("{site_path}.support_id");
    let support_id = SupportId::parse(&req_str(site_obj, "support_id", &sid_path)?).map_err(|e| invalid(&sid_path, e))?;
    let name = req_str(site_obj, "name", &format!("{site_path}.name"))?.trim().to_string();
    let contacts_path = format!("{path}.contacts");
    let raw_contacts = match obj.get("contacts") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid(&contacts_path, "must be an array")),
    };
    let mut contacts: Vec<Contact> = Vec::new();
    for (i, raw) in raw_contacts.iter().enumerate() {
        let cpath = format!("{contacts_path}[{i}]");
        let cobj = raw.as_object().ok_or_else(|| invalid(&cpath, "must be an object"))?;
        let epath = format!("{cpath}.email");
        let email = Email::parse(&req_str(cobj, "email", &epath)?).map_err(|e| invalid(&epath, e))?;
        let name = match cobj.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(_) => return Err(invalid(&format!("{cpath}.name"), "must be a string")),
        };
        // The same person listed twice is one contact, not an error.
        if !contacts.iter().any(|c| c.email == email) {
            contacts.push(Contact { email, name });
        }
    }
    if contacts.len() > MAX_CONTACTS_PER_PARTY {
        return Err(OrderError::TooManyContacts { path: contacts_path, count: contacts.len(), max: MAX_CONTACTS_PER_PARTY });
    }
    Ok(Party { site: Site { support_id, name }, contacts })
}

fn parse_day(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Day, OrderError> {
    let p = format!("{path}.{key}");
    let raw = req_str(obj, key, &p)?;
    Day::parse(&raw).ok_or_else(|| invalid(&p, format!("{raw:?} is not a YYYY-MM-DD date")))
}

fn parse_line(value: &Value, path: &str) -> Result<Line, OrderError> {
    let obj = value.as_object().ok_or_else(|| invalid(path, "must be an object"))?;
    let spath = format!("{path}.serial");
    let serial = Serial::parse(&req_str(obj, "serial", &spath)?).map_err(|e| invalid(&spath, e))?;
    let sku = req_str(obj, "sku", &format!("{path}.sku"))?;
    let product = req_str(obj, "product", &format!("{path}.product"))?;
    let qpath = format!("{path}.quantity");
    let quantity = match obj.get("quantity") {
        None | Some(Value::Null) => return Err(OrderError::Missing(qpath)),
        Some(v) => v.as_u64().filter(|q| *q >= 1).ok_or_else(|| invalid(&qpath, "must be an integer >= 1"))?,
    };
    let starts_on = parse_day(obj, "starts_on", path)?;
    let ends_on = parse_day(obj, "ends_on", path)?;
    if ends_on < starts_on {
        return Err(OrderError::EndsBeforeStarts { path: path.to_string(), starts_on, ends_on });
    }
    let kpath = format!("{path}.license_keys");
    let license_keys = match obj.get("license_keys") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(keys)) => keys
            .iter()
            .enumerate()
            .map(|(i, k)| k.as_str().map(str::to_string).ok_or_else(|| invalid(&format!("{kpath}[{i}]"), "must be a string")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(&kpath, "must be an array of strings")),
    };
    let download_url = match obj.get("download_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(https_url(s).map_err(|reason| invalid(&format!("{path}.download_url"), reason))?),
        Some(_) => return Err(invalid(&format!("{path}.download_url"), "must be a string")),
    };
    Ok(Line { serial, sku, product, quantity, starts_on, ends_on, license_keys, download_url })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "schema": "abev.order.v1", "order_id": "O-1", "version": 1, "status": "active",
            "ordered_at": "2026-04-01T10:00:00Z",
            "end_customer": {"site": {"support_id": "acme-1", "name": "Acme Inc"},
                             "contacts": [{"email": " Bill@Acme.example ", "name": "Bill"}]},
            "ship_to": null,
            "lines": [{"serial": "S1", "sku": "SKU", "product": "P", "quantity": 5,
                       "starts_on": "2026-04-01", "ends_on": "2027-03-31",
                       "license_keys": ["K"], "download_url": "https://d.example/p"}]
        })
    }

    fn parse(v: &Value) -> Result<Order, OrderError> {
        Order::parse(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn download_url_must_be_an_https_url() {
        for bad in [
            "javascript:alert(1)",
            "http://d.example/p",
            "ftp://d.example/p",
            "//d.example/p",
            "d.example/p",
            "https://",
            "https:///p",
            "https://d.example/p q",
            "",
        ] {
            let mut v = sample();
            v["lines"][0]["download_url"] = json!(bad);
            let err = parse(&v).expect_err(bad);
            assert!(err.to_string().contains("lines[0].download_url"), "{bad:?}: {err}");
        }
        let mut v = sample();
        v["lines"][0]["download_url"] = json!("https://downloads.example/sep14?lang=en");
        assert_eq!(parse(&v).unwrap().lines[0].download_url.as_deref(), Some("https://downloads.example/sep14?lang=en"));
        v["lines"][0]["download_url"] = Value::Null;
        assert_eq!(parse(&v).unwrap().lines[0].download_url, None);
    }

    #[test]
    fn parses_and_normalises_a_valid_order() {
        let o = parse(&sample()).unwrap();
        assert_eq!(o.end_customer.site.support_id.as_str(), "ACME-1");
        assert_eq!(o.end_customer.contacts[0].email.as_str(), "bill@acme.example");
        assert!(o.ship_to.is_none() && o.reseller.is_none());
        assert_eq!(o.lines[0].ends_on.to_string(), "2027-03-31");
    }

    #[test]
    fn each_violation_has_its_own_error() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, OrderError)> = vec![
            (Box::new(|v| v["schema"] = json!("abev.order.v2")), OrderError::Schema("abev.order.v2".into())),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("end_customer");
                }),
                OrderError::Missing("end_customer".into()),
            ),
            (Box::new(|v| v["lines"] = json!([])), OrderError::NoLines),
            (
                Box::new(|v| v["lines"][0]["ends_on"] = json!("2026-03-01")),
                OrderError::EndsBeforeStarts {
                    path: "lines[0]".into(),
                    starts_on: Day::parse("2026-04-01").unwrap(),
                    ends_on: Day::parse("2026-03-01").unwrap(),
                },
            ),
            (Box::new(|v| v["version"] = json!(0)), invalid("version", "must be an integer >= 1")),
            (Box::new(|v| v["status"] = json!("paused")), invalid("status", "\"paused\" is not \"active\" or \"cancelled\"")),
        ];
        for (mutate, expected) in cases {
            let mut v = sample();
            mutate(&mut v);
            assert_eq!(parse(&v).unwrap_err(), expected);
        }
    }

    #[test]
    fn rejects_bad_dates_emails_and_duplicate_serials() {
        let mut v = sample();
        v["lines"][0]["starts_on"] = json!("2026-02-30");
        assert!(matches!(parse(&v), Err(OrderError::Invalid { path, .. }) if path == "lines[0].starts_on"));
        let mut v = sample();
        v["end_customer"]["contacts"][0]["email"] = json!("not-an-email");
        assert!(matches!(parse(&v), Err(OrderError::Invalid { path, .. }) if path == "end_customer.contacts[0].email"));
        let mut v = sample();
        let line = v["lines"][0].clone();
        v["lines"] = json!([line.clone(), line]);
        assert_eq!(parse(&v).unwrap_err(), OrderError::DuplicateSerial("S1".into()));
    }

    #[test]
    fn rejects_too_many_lines_and_oversized_bodies() {
        let mut v = sample();
        let lines: Vec<Value> = (0..1001)
            .map(|i| {
                let mut l = v["lines"][0].clone();
                l["serial"] = json!(format!("S{i}"));
                l
            })
            .collect();
        v["lines"] = Value::Array(lines);
        assert_eq!(parse(&v).unwrap_err(), OrderError::TooManyLines(1001));
        assert!(matches!(Order::parse(&vec![b' '; MAX_BODY_BYTES + 1]), Err(OrderError::TooLarge(_))));
        assert!(matches!(Order::parse(b"{not json"), Err(OrderError::Json(_))));
    }

    #[test]
    fn digest_ignores_formatting_but_not_content() {
        let a = parse(&sample()).unwrap();
        let pretty = serde_json::to_vec_pretty(&sample()).unwrap();
        assert_eq!(a.digest(), Order::parse(&pretty).unwrap().digest());
        let mut v = sample();
        v["lines"][0]["quantity"] = json!(6);
        assert_ne!(a.digest(), parse(&v).unwrap().digest());
    }

    #[test]
    fn digest_is_versioned_and_pinned_to_the_canonical_content() {
        let order = parse(&sample()).unwrap();
        // Pinned: a change of this value means every stored digest changed (a new DIGEST_VERSION).
        assert_eq!(order.digest(), "v1:bc522945e3e4c8f7c6698eacdee242cc51aa4dfe8678ded66d8f0acc58ca91c2");
        assert_eq!(
            order.canonical()["lines"][0].as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
            ["download_url", "ends_on", "license_keys", "product", "quantity", "serial", "sku", "starts_on"]
        );
        assert!(same_content(&order.digest(), &order.digest()));
        assert!(!same_content("v1:00", &order.digest()));
        // A digest of the old format (the serialized struct) is not a conflict.
        assert!(same_content("3f2a", &order.digest()));
    }
}
