//! Opaque, tamper-evident list cursors: the position, bound to the caller and to the list
//! (route + filters) it came from, signed with HMAC-SHA256. Altered, foreign or replayed
//! cursors are refused with 400.
//!
//! Keys rotate without breaking live cursors: a [`CursorKey`] is a key ring. It signs with
//! its current key and names that key in the cursor (`{kid}.{payload}.{tag}`); it opens a
//! cursor with whichever of its keys the id names. A key id is derived from the key itself
//! (a truncated SHA-256), so every instance that holds the same secrets agrees on the ids
//! without any coordination. Cursors sealed before key ids existed (`{payload}.{tag}`) are
//! still opened, with any key of the ring.

use super::problem::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Characters of a key id: 48 bits of the key's SHA-256, base64url.
const KID_LEN: usize = 8;

/// A key ring for cursors: the first key signs, every key verifies (by key id).
#[derive(Clone)]
pub struct CursorKey {
    /// (key id, key material); `keys[0]` is the current key. Never empty.
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids are not secret (they are in every cursor); the keys are.
        let kids: Vec<&str> = self.keys.iter().map(|(kid, _)| kid.as_str()).collect();
        write!(f, "CursorKey({kids:?})")
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    /// The list, e.g. `view` or `site:ACME-1?status=active`.
    l: String,
    /// Who the cursor belongs to: an HMAC of the caller's e-mail under the sealing key
    /// (cursors sealed before that change held the e-mail itself; still accepted).
    c: String,
    /// Where the next page starts (after this value).
    a: String,
}

/// The id of a key: the first 48 bits of SHA-256 over a domain tag and the key, base64url.
pub fn key_id(secret: &[u8]) -> String {
    let digest = Sha256::new().chain_update(b"abev-cursor-kid\0").chain_update(secret).finalize();
    let mut kid = URL_SAFE_NO_PAD.encode(digest);
    kid.truncate(KID_LEN);
    kid
}

impl CursorKey {
    /// A ring from its text form: one secret, or several separated by newlines, the first
    /// one current (it signs) and the others still accepted. That is the form
    /// `ABEV_CURSOR_SECRET` takes; `config::load_cursor_secret` builds it from Secrets Manager.
    /// Blank lines and surrounding whitespace are ignored; a blank text is one empty key.
    pub fn new(secret: &str) -> CursorKey {
        let mut lines = secret.lines().map(str::trim).filter(|l| !l.is_empty());
        match lines.next() {
            Some(current) => CursorKey::ring(current, lines),
            None => CursorKey::ring(secret, []),
        }
    }

    /// A ring that signs with `current` and also opens cursors of the `previous` keys.
    pub fn ring<'a>(current: &str, previous: impl IntoIterator<Item = &'a str>) -> CursorKey {
        let mut keys: Vec<(String, Vec<u8>)> = vec![(key_id(current.as_bytes()), current.as_bytes().to_vec())];
        for secret in previous {
            let kid = key_id(secret.as_bytes());
            if !keys.iter().any(|(k, _)| *k == kid) {
                keys.push((kid, secret.as_bytes().to_vec()));
            }
        }
        CursorKey { keys }
    }

    /// The id of the key that signs.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].0
    }

    /// The ids of every key the ring accepts, current first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|(kid, _)| kid.as_str()).collect()
    }

    fn mac(key: &[u8]) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
    }

    fn verifies(key: &[u8], payload: &[u8], tag: &[u8]) -> bool {
        let mut mac = Self::mac(key);
        mac.update(payload);
        mac.verify_slice(tag).is_ok()
    }

    /// Binds a cursor to its caller without revealing who that is: 128 bits of an HMAC of
    /// the e-mail, under a tag of its own so it can never pass for a cursor's signature.
    fn caller_tag(key: &[u8], caller: &str) -> String {
        let mut mac = Self::mac(key);
        mac.update(b"abev-cursor-caller\0");
        mac.update(caller.as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
    }

    pub fn seal(&self, list: &str, caller: &str, after: &str) -> String {
        let (kid, key) = &self.keys[0];
        let payload =
            serde_json::to_vec(&Payload { l: list.into(), c: Self::caller_tag(key, caller), a: after.into() }).unwrap_or_default();
        let mut mac = Self::mac(key);
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{kid}.{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The position a cursor holds, if a key of this ring sealed it for this caller and list.
    pub fn open(&self, cursor: &str, list: &str, caller: &str) -> Result<String, ApiError> {
        let bad = || ApiError::BadRequest("cursor is malformed or does not belong to this list".into());
        let parts: Vec<&str> = cursor.split('.').collect();
        let (kid, payload, tag) = match parts[..] {
            [kid, payload, tag] => (Some(kid), payload, tag),
            [payload, tag] => (None, payload, tag),
            _ => return Err(bad()),
        };
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        let sealer = match kid {
            Some(kid) => self.keys.iter().find(|(k, _)| k == kid).filter(|(_, key)| Self::verifies(key, &payload, &tag)),
            None => self.keys.iter().find(|(_, key)| Self::verifies(key, &payload, &tag)),
        };
        let Some((_, key)) = sealer else {
            return Err(bad());
        };
        let p: Payload = serde_json::from_slice(&payload).map_err(|_| bad())?;
        let owned = p.c == Self::caller_tag(key, caller) || p.c == caller;
        if p.l != list || !owned {
            return Err(bad());
        }
        Ok(p.a)
    }
}

/// Issue 20 part 2: the unsubscribe links are signed with the same ring (a domain tag of their
/// own keeps the two apart: `notices::token`).
impl CursorKey {
    pub fn unsubscribe_key(&self) -> crate::notices::token::UnsubscribeKey {
        crate::notices::token::UnsubscribeKey::from_ring(self.keys.clone())
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

    #[test]
    fn a_cursor_does_not_carry_the_callers_email() {
        let key = CursorKey::new("k");
        let c = key.seal("view", "alice@acme.example", "ACME-1");
        let decoded: Vec<String> =
            c.split('.').filter_map(|p| URL_SAFE_NO_PAD.decode(p).ok()).map(|b| String::from_utf8_lossy(&b).into_owned()).collect();
        assert!(decoded.iter().all(|d| !d.contains("alice") && !d.contains("acme.example")), "{decoded:?}");
        assert_eq!(key.open(&c, "view", "alice@acme.example").unwrap(), "ACME-1");
        assert!(key.open(&c, "view", "bob@acme.example").is_err());
    }

    #[test]
    fn a_cursor_names_the_key_that_sealed_it() {
        let key = CursorKey::new("current-secret");
        let c = key.seal("view", "a@b.example", "ACME-1");
        let kid = c.split('.').next().unwrap();
        assert_eq!(kid, key.current_kid());
        assert_eq!(kid, key_id(b"current-secret"));
        assert_eq!(kid.len(), KID_LEN);
        assert_ne!(key_id(b"current-secret"), key_id(b"other-secret"));
    }

    #[test]
    fn every_part_of_the_cursor_is_authenticated() {
        let key = CursorKey::new("k");
        let c = key.seal("view", "a@b.example", "ACME-1");
        let parts: Vec<&str> = c.split('.').collect();
        for i in 0..3 {
            let mut altered = parts.clone();
            let flipped = if parts[i].starts_with('A') { format!("B{}", &parts[i][1..]) } else { format!("A{}", &parts[i][1..]) };
            altered[i] = &flipped;
            assert!(key.open(&altered.join("."), "view", "a@b.example").is_err(), "part {i} altered");
        }
        assert!(key.open(&format!("{c}.extra"), "view", "a@b.example").is_err());
        assert!(key.open("", "view", "a@b.example").is_err());
    }

    #[test]
    fn rotation_keeps_live_cursors_open() {
        // Before: every instance holds [old]. Phase 1 (new key staged): instances hold
        // [old, new]: they still sign with old, and open cursors of either key.
        let before = CursorKey::new("old-key");
        let staged = CursorKey::new("old-key\nnew-key");
        // Phase 2 (new key current): instances hold [new, old].
        let after = CursorKey::new("new-key\nold-key");
        let from_before = before.seal("view", "a@b.example", "ACME-1");
        let from_staged = staged.seal("view", "a@b.example", "FARM-1");
        let from_after = after.seal("view", "a@b.example", "SKY-1");
        assert_eq!(staged.current_kid(), before.current_kid(), "staging a key does not change who signs");
        assert_eq!(after.current_kid(), key_id(b"new-key"));
        // Any two neighbouring phases run side by side while warm instances drain: each
        // opens what the other sealed.
        for (a, b) in [(&before, &staged), (&staged, &after)] {
            for ring in [a, b] {
                for c in [a.seal("view", "a@b.example", "X"), b.seal("view", "a@b.example", "X")] {
                    assert_eq!(ring.open(&c, "view", "a@b.example").unwrap(), "X");
                }
            }
        }
        assert_eq!(after.open(&from_before, "view", "a@b.example").unwrap(), "ACME-1");
        assert_eq!(after.open(&from_staged, "view", "a@b.example").unwrap(), "FARM-1");
        assert_eq!(after.open(&from_after, "view", "a@b.example").unwrap(), "SKY-1");
        // Once the old key is retired, its cursors are refused; the new key's stay valid.
        let retired = CursorKey::new("new-key");
        assert!(retired.open(&from_before, "view", "a@b.example").is_err());
        assert_eq!(retired.open(&from_after, "view", "a@b.example").unwrap(), "SKY-1");
        // A ring that never held the new key refuses its cursors.
        assert!(before.open(&from_after, "view", "a@b.example").is_err());
    }

    #[test]
    fn a_key_id_selects_its_key_only() {
        // A cursor sealed by key B but relabelled with key A's id does not open, even though
        // the ring holds both keys.
        let ring = CursorKey::ring("key-a", ["key-b"]);
        let b_only = CursorKey::new("key-b");
        let c = b_only.seal("view", "a@b.example", "ACME-1");
        let relabelled = format!("{}.{}", ring.current_kid(), c.split_once('.').unwrap().1);
        assert!(ring.open(&relabelled, "view", "a@b.example").is_err());
        assert_eq!(ring.open(&c, "view", "a@b.example").unwrap(), "ACME-1");
        let unknown = format!("zzzzzzzz.{}", c.split_once('.').unwrap().1);
        assert!(ring.open(&unknown, "view", "a@b.example").is_err());
    }

    #[test]
    fn cursors_without_a_key_id_still_open_with_any_ring_key() {
        // The format before key ids: payload.tag, signed with the then only key.
        let payload = serde_json::to_vec(&Payload { l: "view".into(), c: "a@b.example".into(), a: "ACME-1".into() }).unwrap();
        let mut mac = CursorKey::mac(b"old-key");
        mac.update(&payload);
        let legacy = format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(CursorKey::new("new-key\nold-key").open(&legacy, "view", "a@b.example").unwrap(), "ACME-1");
        assert!(CursorKey::new("new-key").open(&legacy, "view", "a@b.example").is_err());
    }

    #[test]
    fn the_text_form_lists_current_then_previous_keys() {
        let ring = CursorKey::new("  current \n\nprevious\ncurrent\n");
        assert_eq!(ring.kids(), vec![key_id(b"current").as_str(), key_id(b"previous").as_str()]);
        assert_eq!(CursorKey::new("single").kids(), vec![key_id(b"single").as_str()]);
        assert!(!format!("{ring:?}").contains("current"), "Debug shows key ids, never keys");
    }
}
