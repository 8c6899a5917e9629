//! Job leases: a background job (sweeper, outbox sender, simulator, checkpoints) runs in one
//! process at a time across every process sharing the database.
use crate::{StoreError, Tx, ms};

/// Takes or renews lease `name` for `holder` until `at + ttl`. True if `holder` now holds it.
pub async fn try_acquire(
    tx: &mut Tx,
    name: &str,
    holder: &str,
    at: jiff::Timestamp,
    ttl: jiff::SignedDuration,
) -> Result<bool, StoreError> {
    let now = ms(at);
    let until = now + ttl.as_millis() as i64;
    let got: Option<String> = sqlx::query_scalar(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.expires_at < $4 OR leases.holder = excluded.holder
         RETURNING holder",
    )
    .bind(name)
    .bind(holder)
    .bind(until)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    Ok(got.as_deref() == Some(holder))
}

pub async fn release(tx: &mut Tx, name: &str, holder: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(tx.conn())
        .await?;
    Ok(())
}
