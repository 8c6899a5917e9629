//! The audit trail: one HMAC chain per region (region 0 is the system chain), appended in the
//! same transaction as the change it records, verified against signed checkpoints.
use crate::{Store, StoreError, Tx};
use onestop_domain::audit::{ChainFault, ChainHead, ChainVerifier, Checkpoint, EntryContent, entry_mac};
use serde::Serialize;

/// The system chain, for changes that belong to no region (e.g. a user with no grants yet).
pub const SYSTEM_CHAIN: i64 = 0;

/// One change to record. `detail` must not hold personal data or secrets.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub region_id: i64,
    pub at: jiff::Timestamp,
    pub actor: String,
    pub action: &'static str,
    pub entity: &'static str,
    pub entity_id: String,
    pub detail: serde_json::Value,
}

impl Tx {
    /// Records `entry` for this transaction's region chain. The entry is appended when the
    /// transaction commits (see `flush_audit`): on SQLite, once for the whole group-commit batch,
    /// so a batch of jobs costs one head read and one head write per region instead of three
    /// statements per entry; on PostgreSQL, just before COMMIT, so the chain head's row lock is
    /// held for as short a time as possible. A job that fails leaves no entry.
    pub async fn audit(&mut self, entry: AuditEntry) -> Result<(), StoreError> {
        self.audit_pending.push(entry);
        Ok(())
    }
}

/// Rows per multi-row audit INSERT (10 parameters each, well under SQLite's limit).
const AUDIT_CHUNK: usize = 50;

/// Appends every pending entry of `tx` to its region's chain, in the order they were recorded.
/// Regions are taken in ascending id order so that concurrent PostgreSQL transactions lock
/// chain heads in one order (no deadlock).
pub(crate) async fn flush_audit(tx: &mut Tx) -> Result<(), StoreError> {
    let pending = std::mem::take(&mut tx.audit_pending);
    if pending.is_empty() {
        return Ok(());
    }
    let mut regions: Vec<i64> = pending.iter().map(|e| e.region_id).collect();
    regions.sort_unstable();
    regions.dedup();
    for region_id in regions {
        let entries: Vec<&AuditEntry> = pending.iter().filter(|e| e.region_id == region_id).collect();
        let n = entries.len() as i64;
        sqlx::query(
            "INSERT INTO audit_heads (region_id, seq, head) VALUES ($1, 0, '') ON CONFLICT (region_id) DO NOTHING",
        )
        .bind(region_id)
        .execute(tx.conn())
        .await?;
        // The UPDATE takes the row lock on PostgreSQL, so concurrent writers of one region
        // line up here and the chain stays linear. RETURNING gives the new last seq.
        let (last, mut prev): (i64, String) =
            sqlx::query_as("UPDATE audit_heads SET seq = seq + $1 WHERE region_id = $2 RETURNING seq, head")
                .bind(n)
                .bind(region_id)
                .fetch_one(tx.conn())
                .await?;
        let mut rows: Vec<(EntryContent, String, String)> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let content = EntryContent {
                region_id,
                seq: last - n + 1 + i as i64,
                at_ms: entry.at.as_millisecond(),
                actor: entry.actor.clone(),
                action: entry.action.to_owned(),
                entity: entry.entity.to_owned(),
                entity_id: entry.entity_id.clone(),
                digest: onestop_domain::audit::digest_of(&entry.detail),
            };
            let mac = entry_mac(&tx.audit_key, &prev, &content);
            prev = mac.clone();
            rows.push((content, entry.detail.to_string(), mac));
        }
        sqlx::query("UPDATE audit_heads SET head = $1 WHERE region_id = $2")
            .bind(&prev)
            .bind(region_id)
            .execute(tx.conn())
            .await?;
        for chunk in rows.chunks(AUDIT_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let b = r * 10;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9,
                        b + 10
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_log (region_id, seq, at, actor, action, entity, entity_id, detail, digest, mac) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (content, detail, mac) in chunk {
                q = q
                    .bind(content.region_id)
                    .bind(content.seq)
                    .bind(content.at_ms)
                    .bind(content.actor.clone())
                    .bind(content.action.clone())
                    .bind(content.entity.clone())
                    .bind(content.entity_id.clone())
                    .bind(detail.clone())
                    .bind(content.digest.clone())
                    .bind(mac.clone());
            }
            q.execute(tx.conn()).await?;
        }
    }
    Ok(())
}

/// An audit entry as stored, for search pages.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub region_id: i64,
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub detail: String,
    pub digest: String,
}

/// Filters for searching the trail; the region scope is a list of path prefixes.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub region_paths: Vec<String>,
    pub include_system: bool,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: i64,
}

/// One stored entry of a chain: seq, at, id, actor, action, entity, entity_id, digest, mac.
type ChainRow = (i64, i64, i64, String, String, String, String, String, String);

/// Result of verifying every chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub chains: usize,
    pub entries: i64,
    pub faults: Vec<ChainFault>,
}

impl Store {
    /// Searches the trail within the caller's scope, newest first.
    pub async fn audit_search(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let mut sql = String::from(
            "SELECT a.id, a.region_id, a.seq, a.at, a.actor, a.action, a.entity, a.entity_id, a.detail, a.digest
             FROM audit_log a LEFT JOIN regions r ON r.id = a.region_id WHERE (",
        );
        let mut args: Vec<String> = Vec::new();
        let mut scope: Vec<String> = Vec::new();
        for p in &q.region_paths {
            args.push(format!("{p}%"));
            scope.push(format!("r.path LIKE ${}", args.len()));
        }
        if q.include_system {
            scope.push(format!("a.region_id = {SYSTEM_CHAIN}"));
        }
        if scope.is_empty() {
            return Ok(Vec::new());
        }
        sql.push_str(&scope.join(" OR "));
        sql.push(')');
        if let Some(actor) = &q.actor {
            args.push(actor.clone());
            sql.push_str(&format!(" AND a.actor = ${}", args.len()));
        }
        if let Some(action) = &q.action {
            args.push(format!("{action}%"));
            sql.push_str(&format!(" AND a.action LIKE ${}", args.len()));
        }
        let mut ints: Vec<i64> = Vec::new();
        let base = args.len();
        if let Some(from) = q.from_ms {
            ints.push(from);
            sql.push_str(&format!(" AND a.at >= ${}", base + ints.len()));
        }
        if let Some(to) = q.to_ms {
            ints.push(to);
            sql.push_str(&format!(" AND a.at < ${}", base + ints.len()));
        }
        sql.push_str(&format!(
            " ORDER BY a.at DESC, a.id DESC LIMIT {}",
            q.limit.clamp(1, 1000)
        ));
        let mut query = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql));
        for a in args {
            query = query.bind(a);
        }
        for i in ints {
            query = query.bind(i);
        }
        Ok(query.fetch_all(self.read()).await?)
    }

    /// Every chain's current head, signed, for writing outside the database.
    pub async fn audit_checkpoint(&self, at: jiff::Timestamp) -> Result<Checkpoint, StoreError> {
        let heads: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT region_id, seq, head FROM audit_heads ORDER BY region_id")
                .fetch_all(self.read())
                .await?;
        let chains = heads
            .into_iter()
            .map(|(region_id, seq, head)| ChainHead { region_id, seq, head })
            .collect();
        Ok(Checkpoint::sign(self.audit_key(), at.as_millisecond(), chains))
    }

    /// Verifies every chain from its first entry, and against `checkpoint` when given.
    /// Reports the first fault of each broken chain.
    pub async fn audit_verify(&self, checkpoint: Option<&Checkpoint>) -> Result<VerifyReport, StoreError> {
        let mut faults = Vec::new();
        let mut entries = 0;
        let mut regions: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT region_id FROM audit_log")
            .fetch_all(self.read())
            .await?;
        let heads: Vec<(i64, i64, String)> = sqlx::query_as("SELECT region_id, seq, head FROM audit_heads")
            .fetch_all(self.read())
            .await?;
        for (r, _, _) in &heads {
            if !regions.contains(r) {
                regions.push(*r);
            }
        }
        if let Some(cp) = checkpoint {
            for c in &cp.chains {
                if !regions.contains(&c.region_id) {
                    regions.push(c.region_id);
                }
            }
        }
        regions.sort_unstable();
        for region_id in &regions {
            let region_id = *region_id;
            let mut v = ChainVerifier::new(self.audit_key(), region_id);
            let cp_head = checkpoint.and_then(|cp| cp.chains.iter().find(|c| c.region_id == region_id));
            let mut fault = None;
            let mut last_id = 0i64;
            // Page through the chain so that memory stays flat on long histories.
            'pages: loop {
                let rows: Vec<ChainRow> = sqlx::query_as(
                    "SELECT seq, at, id, actor, action, entity, entity_id, digest, mac FROM audit_log
                     WHERE region_id = $1 AND seq > $2 ORDER BY seq LIMIT 5000",
                )
                .bind(region_id)
                .bind(last_id)
                .fetch_all(self.read())
                .await?;
                if rows.is_empty() {
                    break;
                }
                for (seq, at, _id, actor, action, entity, entity_id, digest, mac) in rows {
                    last_id = seq;
                    let e = EntryContent {
                        region_id,
                        seq,
                        at_ms: at,
                        actor,
                        action,
                        entity,
                        entity_id,
                        digest,
                    };
                    if let Err(f) = v.feed(&e, &mac) {
                        fault = Some(f);
                        break 'pages;
                    }
                    entries += 1;
                    if let Some(c) = cp_head
                        && c.seq == seq
                        && c.head != v.head()
                    {
                        fault = Some(ChainFault::HeadMismatch { region_id, seq });
                        break 'pages;
                    }
                }
            }
            if fault.is_none() {
                let found = v.count();
                let head_seq = heads.iter().find(|h| h.0 == region_id).map(|h| h.1).unwrap_or(0);
                if let Some(c) = cp_head
                    && found < c.seq
                {
                    fault = Some(ChainFault::Truncated {
                        region_id,
                        checkpoint_seq: c.seq,
                        found_seq: found,
                    });
                }
                if fault.is_none() && found < head_seq {
                    fault = Some(ChainFault::Truncated {
                        region_id,
                        checkpoint_seq: head_seq,
                        found_seq: found,
                    });
                }
            }
            if let Some(f) = fault {
                faults.push(f);
            }
        }
        Ok(VerifyReport {
            chains: regions.len(),
            entries,
            faults,
        })
    }
}
