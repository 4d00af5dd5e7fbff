//! Opaque, tamper-evident list cursors: the position, bound to the caller and to the list
//! (route + filters) it came from, signed with HMAC-SHA256. Altered, foreign or replayed
//! cursors are refused with 400.

use super::problem::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    /// The list, e.g. `view` or `site:ACME-1?status=active`.
    l: String,
    /// The caller's e-mail.
    c: String,
    /// Where the next page starts (after this value).
    a: String,
}

impl CursorKey {
    pub fn new(secret: &str) -> CursorKey {
        CursorKey(secret.as_bytes().to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }

    pub fn seal(&self, list: &str, caller: &str, after: &str) -> String {
        let payload = serde_json::to_vec(&Payload { l: list.into(), c: caller.into(), a: after.into() }).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The position a cursor holds, if this key sealed it for this caller and list.
    pub fn open(&self, cursor: &str, list: &str, caller: &str) -> Result<String, ApiError> {
        let bad = || ApiError::BadRequest("cursor is malformed or does not belong to this list".into());
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| bad())?;
        let p: Payload = serde_json::from_slice(&payload).map_err(|_| bad())?;
        if p.l != list || p.c != caller {
            return Err(bad());
        }
        Ok(p.a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_open_only_for_their_caller_and_list() {
        let key = CursorKey::new("k");
        let c = key.seal("view", "a@b.example", "ACME-1");
        assert_eq!(key.open(&c, "view", "a@b.example").unwrap(), "ACME-1");
        assert!(key.open(&c, "view", "x@b.example").is_err());
        assert!(key.open(&c, "site:ACME-1", "a@b.example").is_err());
        assert!(CursorKey::new("other").open(&c, "view", "a@b.example").is_err());
        let mut tampered = c.clone();
        tampered.replace_range(0..1, if c.starts_with('e') { "f" } else { "e" });
        assert!(key.open(&tampered, "view", "a@b.example").is_err());
        assert!(key.open("garbage", "view", "a@b.example").is_err());
    }
}
