//! Hall devices: kiosks, display boards and evaluator pads. A hall manager registers one and
//! gets a short-lived pairing code; the device exchanges it for a long-lived credential
//! (stored as SHA-256). Devices never hold staff sessions and can be revoked.
use crate::{StoreError, Tx, ms};
use onestop_domain::DomainError;
use serde::Serialize;
use sqlx::{Any, Executor};

/// Kinds of hall device.
pub const DEVICE_KINDS: [&str; 3] = ["kiosk", "board", "pad"];

pub fn parse_kind(raw: &str) -> Result<&'static str, StoreError> {
    DEVICE_KINDS.into_iter().find(|k| *k == raw).ok_or_else(|| {
        DomainError::invalid(
            "device_kind_invalid",
            "kind",
            "设备类型须为 kiosk（取号机）、board（显示屏）或 pad（评价器）",
        )
        .into()
    })
}

pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "kiosk" => "取号机",
        "board" => "显示屏",
        "pad" => "评价器",
        _ => "设备",
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Device {
    pub id: i64,
    pub hall_id: i64,
    pub window_id: Option<i64>,
    pub kind: String,
    pub name: String,
    pub pairing_expires_at: Option<i64>,
    pub paired_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub region_path: String,
}

const DEVICE_SQL: &str = "SELECT d.id, d.hall_id, d.window_id, d.kind, d.name, d.pairing_expires_at, d.paired_at, d.revoked_at, d.last_seen_at, r.path AS region_path
    FROM devices d JOIN halls h ON h.id = d.hall_id JOIN regions r ON r.id = h.region_id";

pub async fn get<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Device, StoreError> {
    sqlx::query_as::<_, Device>(sqlx::AssertSqlSafe(format!("{DEVICE_SQL} WHERE d.id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn list_in<'e, E: Executor<'e, Database = Any>>(ex: E, path: &str) -> Result<Vec<Device>, StoreError> {
    Ok(sqlx::query_as::<_, Device>(sqlx::AssertSqlSafe(format!(
        "{DEVICE_SQL} WHERE r.path LIKE $1 ORDER BY d.hall_id, d.id"
    )))
    .bind(format!("{path}%"))
    .fetch_all(ex)
    .await?)
}

/// Registers a device with a pairing code (already hashed) valid until `pairing_expires`.
#[allow(clippy::too_many_arguments)]
pub async fn register(
    tx: &mut Tx,
    hall_id: i64,
    window_id: Option<i64>,
    kind: &'static str,
    name: &str,
    pairing_code_hash: &str,
    pairing_expires: jiff::Timestamp,
    at: jiff::Timestamp,
) -> Result<Device, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO devices (hall_id, window_id, kind, name, pairing_code_hash, pairing_expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(hall_id)
    .bind(window_id)
    .bind(kind)
    .bind(name)
    .bind(pairing_code_hash)
    .bind(ms(pairing_expires))
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    get(tx.conn(), id).await
}

/// Issues a fresh pairing code for an existing device; its old credential stops working.
pub async fn new_pairing_code(
    tx: &mut Tx,
    id: i64,
    pairing_code_hash: &str,
    pairing_expires: jiff::Timestamp,
) -> Result<Device, StoreError> {
    let d = get(tx.conn(), id).await?;
    if d.revoked_at.is_some() {
        return Err(StoreError::conflict("device_revoked", "该设备已吊销，请重新登记"));
    }
    sqlx::query("UPDATE devices SET pairing_code_hash = $1, pairing_expires_at = $2, token_hash = NULL, paired_at = NULL WHERE id = $3")
        .bind(pairing_code_hash)
        .bind(ms(pairing_expires))
        .bind(id)
        .execute(tx.conn())
        .await?;
    get(tx.conn(), id).await
}

/// Exchanges a pairing code for a credential. Returns `None` for an unknown or expired code.
pub async fn pair(
    tx: &mut Tx,
    pairing_code_hash: &str,
    token_hash: &str,
    at: jiff::Timestamp,
) -> Result<Option<Device>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM devices WHERE pairing_code_hash = $1 AND pairing_expires_at > $2 AND revoked_at IS NULL",
    )
    .bind(pairing_code_hash)
    .bind(ms(at))
    .fetch_optional(tx.conn())
    .await?;
    let Some(id) = id else { return Ok(None) };
    sqlx::query(
        "UPDATE devices SET token_hash = $1, paired_at = $2, pairing_code_hash = NULL, pairing_expires_at = NULL WHERE id = $3",
    )
    .bind(token_hash)
    .bind(ms(at))
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(Some(get(tx.conn(), id).await?))
}

/// The device holding credential `token_hash`, revoked or not (the caller tells which).
pub async fn by_token<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    token_hash: &str,
) -> Result<Option<Device>, StoreError> {
    Ok(
        sqlx::query_as::<_, Device>(sqlx::AssertSqlSafe(format!("{DEVICE_SQL} WHERE d.token_hash = $1")))
            .bind(token_hash)
            .fetch_optional(ex)
            .await?,
    )
}

pub async fn revoke(tx: &mut Tx, id: i64, at: jiff::Timestamp) -> Result<Device, StoreError> {
    let d = get(tx.conn(), id).await?;
    if d.revoked_at.is_some() {
        return Err(StoreError::conflict("already_revoked", "该设备已吊销"));
    }
    sqlx::query("UPDATE devices SET revoked_at = $1, pairing_code_hash = NULL WHERE id = $2")
        .bind(ms(at))
        .bind(id)
        .execute(tx.conn())
        .await?;
    get(tx.conn(), id).await
}
