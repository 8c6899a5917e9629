//! The audit chain's arithmetic: each entry's MAC covers its content and the previous MAC,
//! keyed with a secret that never enters the database. Verification names the first bad entry.
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The secret that keys the chain. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl AuditKey {
    /// Accepts any secret of at least 16 bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<Self> {
        let bytes = bytes.into();
        (bytes.len() >= 16).then_some(Self(bytes))
    }
    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        match <HmacSha256 as Mac>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable_mac(),
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_mac() -> HmacSha256 {
    panic!("HMAC-SHA256 accepts keys of every length")
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(***)")
    }
}

/// The fields of one audit entry that the MAC covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryContent {
    pub region_id: i64,
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub digest: String,
}

/// SHA-256 of a change's canonical JSON, hex-encoded.
pub fn digest_of(detail: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(detail.to_string().as_bytes()))
}

/// MAC of an entry chained on `prev_mac` (empty for the first entry of a chain).
pub fn entry_mac(key: &AuditKey, prev_mac: &str, e: &EntryContent) -> String {
    let mut m = key.mac();
    // Length-prefix every field so that no two different entries serialise alike.
    for field in [
        prev_mac,
        &e.region_id.to_string(),
        &e.seq.to_string(),
        &e.at_ms.to_string(),
        &e.actor,
        &e.action,
        &e.entity,
        &e.entity_id,
        &e.digest,
    ] {
        m.update(&(field.len() as u64).to_be_bytes());
        m.update(field.as_bytes());
    }
    hex::encode(m.finalize().into_bytes())
}

/// A checkpoint of every chain's head, MAC'd so that it cannot be forged without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub at_ms: i64,
    pub chains: Vec<ChainHead>,
    pub mac: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub region_id: i64,
    pub seq: i64,
    pub head: String,
}

impl Checkpoint {
    pub fn sign(key: &AuditKey, at_ms: i64, mut chains: Vec<ChainHead>) -> Self {
        chains.sort_by_key(|c| c.region_id);
        let mac = checkpoint_mac(key, at_ms, &chains);
        Self { at_ms, chains, mac }
    }
    pub fn is_authentic(&self, key: &AuditKey) -> bool {
        checkpoint_mac(key, self.at_ms, &self.chains) == self.mac
    }
}

fn checkpoint_mac(key: &AuditKey, at_ms: i64, chains: &[ChainHead]) -> String {
    let mut m = key.mac();
    m.update(b"onestop-checkpoint-v1");
    m.update(&at_ms.to_be_bytes());
    for c in chains {
        m.update(&c.region_id.to_be_bytes());
        m.update(&c.seq.to_be_bytes());
        m.update(&(c.head.len() as u64).to_be_bytes());
        m.update(c.head.as_bytes());
    }
    hex::encode(m.finalize().into_bytes())
}

/// Why a chain failed verification, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// The entry's MAC does not match its content (edited, or rewritten without the key).
    BadMac { region_id: i64, seq: i64 },
    /// A sequence number is missing (deleted entry).
    Gap {
        region_id: i64,
        expected_seq: i64,
        found_seq: i64,
    },
    /// The chain is shorter than the checkpoint says (truncated).
    Truncated {
        region_id: i64,
        checkpoint_seq: i64,
        found_seq: i64,
    },
    /// The entry at the checkpoint's position differs from the checkpoint's head (rewritten).
    HeadMismatch { region_id: i64, seq: i64 },
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadMac { region_id, seq } => {
                write!(
                    f,
                    "chain {region_id}: entry {seq} does not match its MAC (edited or forged)"
                )
            }
            Self::Gap {
                region_id,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "chain {region_id}: entry {expected_seq} is missing (next found is {found_seq}; deleted)"
            ),
            Self::Truncated {
                region_id,
                checkpoint_seq,
                found_seq,
            } => write!(
                f,
                "chain {region_id}: ends at entry {found_seq} but the checkpoint saw {checkpoint_seq} (truncated)"
            ),
            Self::HeadMismatch { region_id, seq } => write!(
                f,
                "chain {region_id}: entry {seq} differs from the signed checkpoint (chain rewritten)"
            ),
        }
    }
}

/// Incremental verifier of one chain, fed entries in `seq` order.
#[derive(Debug)]
pub struct ChainVerifier<'k> {
    key: &'k AuditKey,
    region_id: i64,
    prev_mac: String,
    next_seq: i64,
}

impl<'k> ChainVerifier<'k> {
    pub fn new(key: &'k AuditKey, region_id: i64) -> Self {
        Self {
            key,
            region_id,
            prev_mac: String::new(),
            next_seq: 1,
        }
    }
    /// Checks the next entry; `stored_mac` is the MAC the database holds for it.
    pub fn feed(&mut self, e: &EntryContent, stored_mac: &str) -> Result<(), ChainFault> {
        if e.seq != self.next_seq {
            return Err(ChainFault::Gap {
                region_id: self.region_id,
                expected_seq: self.next_seq,
                found_seq: e.seq,
            });
        }
        let mac = entry_mac(self.key, &self.prev_mac, e);
        if mac != stored_mac || e.region_id != self.region_id {
            return Err(ChainFault::BadMac {
                region_id: self.region_id,
                seq: e.seq,
            });
        }
        self.prev_mac = mac;
        self.next_seq += 1;
        Ok(())
    }
    /// The MAC of the last entry fed (the chain head so far).
    pub fn head(&self) -> &str {
        &self.prev_mac
    }
    pub fn count(&self) -> i64 {
        self.next_seq - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::new(b"0123456789abcdef0123".to_vec()).unwrap_or_else(|| AuditKey(vec![1; 32]))
    }

    fn entry(seq: i64, action: &str) -> EntryContent {
        EntryContent {
            region_id: 7,
            seq,
            at_ms: 1_000 + seq,
            actor: "admin".into(),
            action: action.into(),
            entity: "region".into(),
            entity_id: "3".into(),
            digest: digest_of(&serde_json::json!({"seq": seq})),
        }
    }

    fn chain(n: i64) -> Vec<(EntryContent, String)> {
        let k = key();
        let mut prev = String::new();
        (1..=n)
            .map(|seq| {
                let e = entry(seq, "region.rename");
                let mac = entry_mac(&k, &prev, &e);
                prev = mac.clone();
                (e, mac)
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let k = key();
        let mut v = ChainVerifier::new(&k, 7);
        for (e, mac) in chain(5) {
            assert_eq!(v.feed(&e, &mac), Ok(()));
        }
        assert_eq!(v.count(), 5);
    }

    #[test]
    fn an_edit_is_caught_at_the_edited_entry() {
        let k = key();
        let mut entries = chain(5);
        entries[2].0.action = "region.close".into();
        let mut v = ChainVerifier::new(&k, 7);
        let fault = entries.iter().find_map(|(e, m)| v.feed(e, m).err());
        assert_eq!(fault, Some(ChainFault::BadMac { region_id: 7, seq: 3 }));
    }

    #[test]
    fn a_deletion_is_caught_as_a_gap() {
        let k = key();
        let mut entries = chain(5);
        entries.remove(1);
        let mut v = ChainVerifier::new(&k, 7);
        let fault = entries.iter().find_map(|(e, m)| v.feed(e, m).err());
        assert_eq!(
            fault,
            Some(ChainFault::Gap {
                region_id: 7,
                expected_seq: 2,
                found_seq: 3
            })
        );
    }

    #[test]
    fn a_rewrite_with_another_key_fails() {
        let other = AuditKey::new(vec![9u8; 32]);
        let k = key();
        let forged: Vec<(EntryContent, String)> = {
            let ok = other.unwrap_or_else(key);
            let mut prev = String::new();
            (1..=3)
                .map(|s| {
                    let e = entry(s, "x");
                    let m = entry_mac(&ok, &prev, &e);
                    prev = m.clone();
                    (e, m)
                })
                .collect()
        };
        let mut v = ChainVerifier::new(&k, 7);
        assert!(forged.iter().any(|(e, m)| v.feed(e, m).is_err()));
    }

    #[test]
    fn checkpoints_are_authenticated() {
        let k = key();
        let mut cp = Checkpoint::sign(
            &k,
            5,
            vec![ChainHead {
                region_id: 1,
                seq: 3,
                head: "ab".into(),
            }],
        );
        assert!(cp.is_authentic(&k));
        cp.chains[0].seq = 2;
        assert!(!cp.is_authentic(&k));
    }

    #[test]
    fn key_debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "AuditKey(***)");
    }
}
