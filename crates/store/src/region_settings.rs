//! Region settings in the database: a row is one region's override of one setting. The value in
//! force is resolved live over the region's chain to the root (`onestop_domain::settings`), so a
//! change at the city reaches every county that has not overridden it, and nothing is copied.
//!
//! Reads take a connection (`&mut AnyConnection`), so the same function serves a request (a pooled
//! read connection) and a write job (`tx.conn()`, seeing its own writes).
use crate::regions::{self, Region};
use crate::{StoreError, Tx, ms};
use onestop_domain::settings::{Setting, resolve};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// Where the value in force came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum SettingOrigin {
    /// Nobody on the chain overrides it: the built-in default.
    Default,
    /// The override of this region.
    Region { id: i64, code: String, name: String },
}

/// A setting's value in force at a region, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective<T> {
    pub value: T,
    pub origin: SettingOrigin,
}

/// One stored override.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSetting {
    pub region_id: i64,
    pub key: String,
    pub value: serde_json::Value,
    pub updated_at: i64,
    pub updated_by: String,
}

fn origin_of(chain: &[Region], index: Option<usize>) -> SettingOrigin {
    match index.and_then(|i| chain.get(i)) {
        Some(r) => SettingOrigin::Region {
            id: r.id,
            code: r.code.clone(),
            name: r.name.clone(),
        },
        None => SettingOrigin::Default,
    }
}

/// The stored overrides of `key` along `chain` (root first), `None` where a region says nothing.
/// A row whose text is not JSON at all counts as saying nothing.
async fn chain_values(
    conn: &mut AnyConnection,
    chain: &[Region],
    key: &str,
) -> Result<Vec<Option<serde_json::Value>>, StoreError> {
    let Some(leaf) = chain.last() else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query(
        "SELECT s.region_id, s.value FROM region_settings s JOIN regions r ON r.id = s.region_id \
         WHERE s.key = $1 AND $2 LIKE r.path || '%'",
    )
    .bind(key)
    .bind(&leaf.path)
    .fetch_all(conn)
    .await?;
    let mut out = vec![None; chain.len()];
    for row in rows {
        let region_id: i64 = row.try_get("region_id")?;
        let text: String = row.try_get("value")?;
        if let (Some(i), Ok(v)) = (
            chain.iter().position(|r| r.id == region_id),
            serde_json::from_str::<serde_json::Value>(&text),
        ) {
            out[i] = Some(v);
        }
    }
    Ok(out)
}

/// The value of `S` in force at `region_id`, and its origin.
pub async fn effective<S: Setting>(
    conn: &mut AnyConnection,
    region_id: i64,
) -> Result<Effective<S::Value>, StoreError> {
    let chain = regions::chain(&mut *conn, region_id).await?;
    let stored = chain_values(conn, &chain, S::KEY).await?;
    let refs: Vec<Option<&serde_json::Value>> = stored.iter().map(Option::as_ref).collect();
    let (value, index) = resolve::<S>(&refs);
    Ok(Effective {
        value,
        origin: origin_of(&chain, index),
    })
}

/// Resolves a setting known only by its key (the generic admin views): `check` turns a stored
/// JSON value into the normalised value, or refuses it. Returns the value in force (`None` for the
/// default) with its origin, and this region's own stored value.
pub async fn effective_json(
    conn: &mut AnyConnection,
    region_id: i64,
    key: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> Result<(Option<serde_json::Value>, SettingOrigin, Option<serde_json::Value>), StoreError> {
    let chain = regions::chain(&mut *conn, region_id).await?;
    let stored = chain_values(conn, &chain, key).await?;
    let own = stored.last().cloned().flatten();
    for (i, v) in stored.iter().enumerate().rev() {
        if let Some(v) = v
            && check(v)
        {
            return Ok((Some(v.clone()), origin_of(&chain, Some(i)), own));
        }
    }
    Ok((None, SettingOrigin::Default, own))
}

/// Every override stored at `region_id` itself.
pub async fn own(conn: &mut AnyConnection, region_id: i64) -> Result<Vec<StoredSetting>, StoreError> {
    let rows = sqlx::query(
        "SELECT region_id, key, value, updated_at, updated_by FROM region_settings WHERE region_id = $1 ORDER BY key",
    )
    .bind(region_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("value")?;
            Ok(StoredSetting {
                region_id: row.try_get("region_id")?,
                key: row.try_get("key")?,
                value: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
                updated_at: row.try_get("updated_at")?,
                updated_by: row.try_get("updated_by")?,
            })
        })
        .collect()
}

/// Stores `region_id`'s override of `key` (already validated by the caller).
pub async fn set(
    tx: &mut Tx,
    region_id: i64,
    key: &str,
    value: &serde_json::Value,
    at: jiff::Timestamp,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO region_settings (region_id, key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (region_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(region_id)
    .bind(key)
    .bind(value.to_string())
    .bind(ms(at))
    .bind(actor)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Removes `region_id`'s override of `key`, so it inherits again. Returns whether there was one.
pub async fn reset(tx: &mut Tx, region_id: i64, key: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM region_settings WHERE region_id = $1 AND key = $2")
        .bind(region_id)
        .bind(key)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}
