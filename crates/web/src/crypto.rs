//! Personal data at rest: AES-256-GCM with the data key from configuration (never from the
//! database), and keyed hashes (HMAC-SHA256) for look-ups without decrypting.
//!
//! Sealed text is `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`: a random 96-bit nonce per
//! value, and the id of the key that sealed it, so that keys can rotate (the old key stays in
//! `crypto.old_data_keys` until every value is sealed anew). Each value is bound to its purpose
//! by the associated data (`id_number`, `phone`, `outbox.recipient`, `signing_key:<id>`), so a
//! ciphertext copied into another column does not open.
//!
//! Look-up hashes are `<key id>.<hex>` with HMAC-SHA256 under a key derived from the data key
//! (`HMAC(data key, "onestop/lookup/v1")`), never the data key itself. After a rotation a
//! look-up computes the hash under every key in the ring (`lookup_hashes`).
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the data key must be 32 bytes, written as base64 (44 characters) or hex (64 characters)")]
    BadKey,
    #[error("sealed data is malformed")]
    Malformed,
    #[error("sealed with key {0}, which is not configured (crypto.data_key or crypto.old_data_keys)")]
    UnknownKey(String),
    #[error("sealed data does not open with its key: altered, moved, or a wrong key with the same id")]
    Tampered,
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
    lookup: [u8; 32],
}

/// The data keys: the current one seals, every one opens. `Debug` never shows key material.
pub struct DataKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("DataKeys").field("key_ids", &ids).finish()
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> HmacSha256 {
    panic!("HMAC takes keys of any length")
}

/// Reads a 32-byte key written as base64 (standard or url-safe) or hex.
pub fn parse_key(text: &str) -> Result<[u8; 32], CryptoError> {
    let t = text.trim();
    let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(t).map_err(|_| CryptoError::BadKey)?
    } else {
        STANDARD
            .decode(t)
            .or_else(|_| URL_SAFE.decode(t))
            .or_else(|_| URL_SAFE_NO_PAD.decode(t))
            .map_err(|_| CryptoError::BadKey)?
    };
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

/// A fresh random key in its configuration form (base64).
pub fn generate_key_text() -> String {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    STANDARD.encode(k)
}

impl DataKeys {
    /// `current` seals; `old` only open (kept during a rotation).
    pub fn new(current: [u8; 32], old: &[[u8; 32]]) -> Self {
        let keys = std::iter::once(&current)
            .chain(old.iter())
            .map(|raw| Key {
                // The id names the key without revealing it: 8 hex digits of a keyed digest.
                id: hex::encode(&mac(raw, &[b"onestop/key-id/v1"])[..4]),
                cipher: Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(raw)),
                lookup: mac(raw, &[b"onestop/lookup/v1"]),
            })
            .collect();
        Self { keys }
    }

    /// From configuration text (see `parse_key`).
    pub fn from_text(current: &str, old: &[&str]) -> Result<Self, CryptoError> {
        let cur = parse_key(current)?;
        let old = old.iter().map(|o| parse_key(o)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(cur, &old))
    }

    fn current(&self) -> &Key {
        // `new` always puts the current key first.
        &self.keys[0]
    }

    /// The id of the sealing key.
    pub fn current_id(&self) -> &str {
        &self.current().id
    }

    /// Seals `plain` for `purpose` under the current key with a fresh random nonce.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> String {
        let key = self.current();
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce only fails for absurd lengths (> 64 GiB).
        let ct = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: purpose.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("v1.{}.{}", key.id, URL_SAFE_NO_PAD.encode(out))
    }

    pub fn seal_str(&self, purpose: &str, plain: &str) -> String {
        self.seal(purpose, plain.as_bytes())
    }

    /// Opens what `seal` made for the same `purpose`, with whichever configured key sealed it.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| CryptoError::Malformed)?;
        if raw.len() < 12 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ct) = raw.split_at(12);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }

    pub fn open_str(&self, purpose: &str, sealed: &str) -> Result<String, CryptoError> {
        String::from_utf8(self.open(purpose, sealed)?).map_err(|_| CryptoError::Malformed)
    }

    /// Whether `sealed` is under an old key (to be sealed anew).
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) != Some(self.current_id())
    }

    fn hash_with(key: &Key, kind: &str, value: &str) -> String {
        let h = mac(&key.lookup, &[kind.as_bytes(), b"\0", value.as_bytes()]);
        format!("{}.{}", key.id, hex::encode(h))
    }

    /// The look-up hash of `value` of kind `kind` (e.g. `id_number`) under the current key.
    /// Normalise the value first (the parsed `IdNumber` / `Phone` forms).
    pub fn lookup_hash(&self, kind: &str, value: &str) -> String {
        Self::hash_with(self.current(), kind, value)
    }

    /// The look-up hash under every configured key: query with `IN (...)` during a rotation.
    pub fn lookup_hashes(&self, kind: &str, value: &str) -> Vec<String> {
        self.keys.iter().map(|k| Self::hash_with(k, kind, value)).collect()
    }

    /// The look-up for a public case query: the case number plus the phone's last four digits.
    pub fn phone_last4_hashes(&self, case_no: &str, last4: &str) -> Vec<String> {
        self.lookup_hashes("phone_last4", &format!("{case_no}\0{last4}"))
    }
}

/// What a sealed column is for (the associated data).
pub mod purpose {
    pub const ID_NUMBER: &str = "id_number";
    pub const PHONE: &str = "phone";
    pub const OUTBOX_RECIPIENT: &str = "outbox.recipient";
    pub fn signing_key(key_id: &str) -> String {
        format!("signing_key:{key_id}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const K1: [u8; 32] = [1; 32];
    const K2: [u8; 32] = [2; 32];

    #[test]
    fn round_trip_and_purpose_binding() {
        let keys = DataKeys::new(K1, &[]);
        let sealed = keys.seal_str(purpose::ID_NUMBER, "99012119900307123X");
        assert!(sealed.starts_with(&format!("v1.{}.", keys.current_id())));
        assert!(!sealed.contains("1990"));
        assert_eq!(
            keys.open_str(purpose::ID_NUMBER, &sealed).unwrap(),
            "99012119900307123X"
        );
        // The same ciphertext in the phone column does not open.
        assert_eq!(keys.open(purpose::PHONE, &sealed), Err(CryptoError::Tampered));
    }

    #[test]
    fn tampering_is_detected() {
        let keys = DataKeys::new(K1, &[]);
        let sealed = keys.seal_str(purpose::PHONE, "13800001234");
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        for i in [0, 12, raw.len() - 1] {
            raw[i] ^= 1;
            let bad = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&raw));
            assert_eq!(keys.open(purpose::PHONE, &bad), Err(CryptoError::Tampered), "byte {i}");
            raw[i] ^= 1;
        }
        assert_eq!(keys.open(purpose::PHONE, "v1.x"), Err(CryptoError::Malformed));
        assert_eq!(keys.open(purpose::PHONE, "garbage"), Err(CryptoError::Malformed));
    }

    #[test]
    fn a_wrong_key_does_not_open_and_rotation_keeps_old_data_readable() {
        let old = DataKeys::new(K1, &[]);
        let sealed = old.seal_str(purpose::PHONE, "13800001234");
        let other = DataKeys::new(K2, &[]);
        assert!(matches!(
            other.open(purpose::PHONE, &sealed),
            Err(CryptoError::UnknownKey(_))
        ));
        let rotated = DataKeys::new(K2, &[K1]);
        assert_eq!(rotated.open_str(purpose::PHONE, &sealed).unwrap(), "13800001234");
        assert!(rotated.is_stale(&sealed));
        assert!(!rotated.is_stale(&rotated.seal_str(purpose::PHONE, "13800001234")));
        // A look-up still finds values hashed under the old key.
        let h_old = old.lookup_hash("id_number", "X");
        assert!(rotated.lookup_hashes("id_number", "X").contains(&h_old));
        assert_ne!(rotated.lookup_hash("id_number", "X"), h_old);
    }

    #[test]
    fn nonces_are_unique() {
        let keys = DataKeys::new(K1, &[]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let s = keys.seal_str(purpose::PHONE, "13800001234");
            let body = URL_SAFE_NO_PAD.decode(s.rsplit('.').next().unwrap()).unwrap();
            assert!(seen.insert(body[..12].to_vec()), "nonce repeated");
        }
    }

    #[test]
    fn lookup_hashes_are_keyed_and_separated_by_kind() {
        let a = DataKeys::new(K1, &[]);
        let b = DataKeys::new(K2, &[]);
        assert_eq!(a.lookup_hash("id_number", "1"), a.lookup_hash("id_number", "1"));
        assert_ne!(a.lookup_hash("id_number", "1"), b.lookup_hash("id_number", "1"));
        assert_ne!(a.lookup_hash("id_number", "1"), a.lookup_hash("phone", "1"));
        // Not the plain SHA-256 of the value.
        assert!(!a.lookup_hash("id_number", "1").contains(&crate::auth::sha256_hex("1")));
    }

    #[test]
    fn keys_parse_from_base64_or_hex_and_debug_hides_them() {
        let b64 = STANDARD.encode(K1);
        let hexed = hex::encode(K1);
        assert_eq!(parse_key(&b64).unwrap(), K1);
        assert_eq!(parse_key(&hexed).unwrap(), K1);
        assert_eq!(parse_key("short"), Err(CryptoError::BadKey));
        assert_eq!(parse_key(&STANDARD.encode([0u8; 16])), Err(CryptoError::BadKey));
        let keys = DataKeys::from_text(&b64, &[]).unwrap();
        let shown = format!("{keys:?}");
        assert!(!shown.contains(&b64) && !shown.contains(&hexed));
        assert_eq!(parse_key(&generate_key_text()).map(|k| k.len()), Ok(32));
    }
}
