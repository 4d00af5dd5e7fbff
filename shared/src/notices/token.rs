//! The signed unsubscribe link's token: `{kid}.{email}.{tag}` (base64url), the tag an
//! HMAC-SHA256 of the e-mail under a key of the cursor key ring (the same secret, the same
//! rotation: `CursorKeySecret`), with a domain tag of its own so it can never pass for a
//! cursor's signature or a cursor's caller tag. Needs no sign-in; proves only that the link
//! was made for that address, which is all turning notices off needs.

use crate::domain::Email;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const DOMAIN: &[u8] = b"abev-unsubscribe-v1\0";

/// Why a token is refused (all answered alike: a link that is not valid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the unsubscribe link has no token")]
    Missing,
    #[error("the unsubscribe link is malformed")]
    Malformed,
    #[error("the unsubscribe link's signature does not verify")]
    Forged,
}

/// The signing ring: the first key signs, every key verifies (by key id).
#[derive(Clone)]
pub struct UnsubscribeKey {
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "UnsubscribeKey({kids:?})")
    }
}

impl UnsubscribeKey {
    /// From the cursor ring's text form (`ABEV_CURSOR_SECRET`: one key a line, current first),
    /// read exactly as the cursor ring reads it.
    pub fn new(ring: &str) -> UnsubscribeKey {
        crate::http::cursor::CursorKey::new(ring).unsubscribe_key()
    }

    /// From the cursor ring's (key id, key) pairs, current first.
    pub(crate) fn from_ring(keys: Vec<(String, Vec<u8>)>) -> UnsubscribeKey {
        UnsubscribeKey { keys }
    }

    fn tag(key: &[u8], email: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(DOMAIN);
        mac.update(email.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The token of the unsubscribe link for `email`.
    pub fn sign(&self, email: &Email) -> String {
        let (kid, key) = &self.keys[0];
        format!("{kid}.{}.{}", URL_SAFE_NO_PAD.encode(email.as_str()), URL_SAFE_NO_PAD.encode(Self::tag(key, email.as_str())))
    }

    /// The address a token was made for, if a key of the ring made it.
    pub fn verify(&self, token: Option<&str>) -> Result<Email, TokenError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
        let [kid, email, tag] = token.split('.').collect::<Vec<_>>()[..] else { return Err(TokenError::Malformed) };
        let email = URL_SAFE_NO_PAD.decode(email).ok().and_then(|e| String::from_utf8(e).ok()).ok_or(TokenError::Malformed)?;
        let email = Email::parse(&email).map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == kid).ok_or(TokenError::Forged)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(DOMAIN);
        mac.update(email.as_str().as_bytes());
        mac.verify_slice(&tag).map_err(|_| TokenError::Forged)?;
        Ok(email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_for_its_address_only_and_survives_one_rotation() {
        let old = UnsubscribeKey::new("k1");
        let e = Email::parse("Bill@Acme.example").unwrap();
        let token = old.sign(&e);
        assert_eq!(old.verify(Some(&token)).unwrap(), e);
        // Rotated: the new key signs, the old one still verifies.
        let rotated = UnsubscribeKey::new("k2\nk1");
        assert_eq!(rotated.verify(Some(&token)).unwrap(), e);
        assert_ne!(rotated.sign(&e), token);
        assert_eq!(UnsubscribeKey::new("k3").verify(Some(&token)), Err(TokenError::Forged));
    }

    #[test]
    fn unsigned_altered_and_forged_tokens_are_refused() {
        let key = UnsubscribeKey::new("k1");
        let token = key.sign(&Email::parse("bill@acme.example").unwrap());
        assert_eq!(key.verify(None), Err(TokenError::Missing));
        assert_eq!(key.verify(Some("")), Err(TokenError::Missing));
        let parts: Vec<&str> = token.split('.').collect();
        let unsigned = format!("{}.{}", parts[0], parts[1]);
        assert_eq!(key.verify(Some(&unsigned)), Err(TokenError::Malformed));
        let other = URL_SAFE_NO_PAD.encode("mary@skynet.example");
        assert_eq!(key.verify(Some(&format!("{}.{other}.{}", parts[0], parts[2]))), Err(TokenError::Forged), "another address");
        let forged = UnsubscribeKey::new("guess").sign(&Email::parse("bill@acme.example").unwrap());
        let with_real_kid = format!("{}.{}", parts[0], forged.split_once('.').unwrap().1);
        assert_eq!(key.verify(Some(&with_real_kid)), Err(TokenError::Forged), "signed with another key");
        // A cursor's signature is not an unsubscribe tag.
        let cursor = crate::http::cursor::CursorKey::new("k1").seal("view", "bill@acme.example", "x");
        assert!(key.verify(Some(&cursor)).is_err());
    }
}
