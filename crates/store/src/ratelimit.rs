//! Fixed-window rate-limit counters in the database, shared by every process.
use crate::{StoreError, Tx, ms};

/// Counts one hit on `bucket` in the window containing `at`; returns the hits so far in it.
pub async fn hit(
    tx: &mut Tx,
    bucket: &str,
    window: jiff::SignedDuration,
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    let w = (window.as_millis() as i64).max(1);
    let start = ms(at) / w * w;
    let hits: i64 = sqlx::query_scalar(
        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1)
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
         RETURNING hits",
    )
    .bind(bucket)
    .bind(start)
    .fetch_one(tx.conn())
    .await?;
    Ok(hits)
}

/// Hits so far on `bucket` in the current window, without counting one.
pub async fn peek(
    pool: &sqlx::AnyPool,
    bucket: &str,
    window: jiff::SignedDuration,
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    let w = (window.as_millis() as i64).max(1);
    let start = ms(at) / w * w;
    let hits: Option<i64> = sqlx::query_scalar("SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2")
        .bind(bucket)
        .bind(start)
        .fetch_optional(pool)
        .await?;
    Ok(hits.unwrap_or(0))
}

/// Deletes windows that ended before `before`.
pub async fn purge(tx: &mut Tx, before: jiff::Timestamp) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(ms(before))
        .execute(tx.conn())
        .await?
        .rows_affected())
}
