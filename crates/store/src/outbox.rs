//! The notification outbox. A message is enqueued in the same transaction as the event that
//! causes it, so it is sent if and only if the event committed. A sender job claims due
//! messages, sends them, and records the outcome with retries and backoff.
//!
//! Claiming is the backend-specific part: on PostgreSQL several processes may claim at once,
//! so the claim takes rows with `FOR UPDATE SKIP LOCKED`; on SQLite the single writer
//! serialises claims, so a plain `UPDATE ... WHERE id IN (SELECT ...)` is safe.
use crate::{Backend, StoreError, Tx, ms};
use serde::Serialize;
use sqlx::{Any, Executor};

pub const CHANNELS: [&str; 3] = ["sms", "email", "dev"];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    /// Sealed (the web layer opens it just before sending).
    #[serde(skip)]
    pub recipient: String,
    pub recipient_masked: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub sent_via: Option<String>,
    pub last_error: Option<String>,
}

const ROW_COLS: &str = "id, channel, recipient, recipient_masked, subject, body, status, attempts, next_attempt_at, created_at, sent_at, sent_via, last_error";

pub struct NewMessage<'a> {
    pub channel: &'a str,
    /// Already sealed with the data key.
    pub recipient_sealed: &'a str,
    pub recipient_masked: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

impl Tx {
    /// Queues a message; it goes out only if this transaction commits.
    pub async fn enqueue_message(&mut self, m: NewMessage<'_>, at: jiff::Timestamp) -> Result<i64, StoreError> {
        if !CHANNELS.contains(&m.channel) {
            return Err(StoreError::Corrupt(format!("unknown outbox channel {}", m.channel)));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (channel, recipient, recipient_masked, subject, body, status, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6) RETURNING id",
        )
        .bind(m.channel)
        .bind(m.recipient_sealed)
        .bind(m.recipient_masked)
        .bind(m.subject)
        .bind(m.body)
        .bind(ms(at))
        .fetch_one(self.conn())
        .await?;
        Ok(id)
    }
}

/// Claims up to `limit` due messages for `lease` (a claim that outlives it, because its
/// process died, becomes due again). Each claim counts as an attempt.
pub async fn claim(
    tx: &mut Tx,
    at: jiff::Timestamp,
    limit: i64,
    lease: jiff::SignedDuration,
) -> Result<Vec<OutboxRow>, StoreError> {
    let now = ms(at);
    let until = now + lease.as_millis() as i64;
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_until = $1
         WHERE id IN (
             SELECT id FROM outbox
             WHERE (status = 'queued' AND next_attempt_at <= $2) OR (status = 'sending' AND claimed_until < $2)
             ORDER BY next_attempt_at, id LIMIT $3{lock})
         RETURNING {ROW_COLS}"
    );
    let mut rows = sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql))
        .bind(until)
        .bind(now)
        .bind(limit)
        .fetch_all(tx.conn())
        .await?;
    rows.sort_by_key(|r| (r.next_attempt_at, r.id));
    Ok(rows)
}

pub async fn mark_sent(tx: &mut Tx, id: i64, via: &str, at: jiff::Timestamp) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $1, sent_via = $2, claimed_until = NULL, last_error = NULL WHERE id = $3",
    )
    .bind(ms(at))
    .bind(via)
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or given up (`failed`) when `None`.
pub async fn mark_failed(
    tx: &mut Tx,
    id: i64,
    error: &str,
    retry_at: Option<jiff::Timestamp>,
) -> Result<(), StoreError> {
    let error: String = error.chars().take(500).collect();
    match retry_at {
        Some(t) => {
            sqlx::query(
                "UPDATE outbox SET status = 'queued', next_attempt_at = $1, claimed_until = NULL, last_error = $2 WHERE id = $3",
            )
            .bind(ms(t))
            .bind(error)
            .bind(id)
            .execute(tx.conn())
            .await?
        }
        None => {
            sqlx::query("UPDATE outbox SET status = 'failed', claimed_until = NULL, last_error = $1 WHERE id = $2")
                .bind(error)
                .bind(id)
                .execute(tx.conn())
                .await?
        }
    };
    Ok(())
}

/// The most recent messages, newest first; only those delivered through `via` when given.
pub async fn recent<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    via: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let sql = match via {
        Some(_) => format!("SELECT {ROW_COLS} FROM outbox WHERE sent_via = $2 ORDER BY id DESC LIMIT $1"),
        None => format!("SELECT {ROW_COLS} FROM outbox ORDER BY id DESC LIMIT $1"),
    };
    let mut q = sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql)).bind(limit);
    if let Some(v) = via {
        q = q.bind(v.to_owned());
    }
    Ok(q.fetch_all(ex).await?)
}

pub async fn get<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<OutboxRow, StoreError> {
    sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ROW_COLS} FROM outbox WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .ok_or(StoreError::NotFound)
}
