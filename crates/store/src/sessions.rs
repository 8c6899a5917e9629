//! Staff sessions, kept in the database so that any process can answer any request.
//! Only the SHA-256 of the cookie's token is stored.
use crate::users::User;
use crate::{StoreError, Tx, ms};
use sqlx::{Any, Executor};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: i64,
    pub last_seen_at: i64,
}

pub async fn create(
    tx: &mut Tx,
    token_hash: &str,
    user_id: i64,
    csrf_token: &str,
    at: jiff::Timestamp,
    ttl: jiff::SignedDuration,
) -> Result<(), StoreError> {
    let now = ms(at);
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(csrf_token)
    .bind(now)
    .bind(now + ttl.as_millis() as i64)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The live session for `token_hash` and its user, if any and not expired.
pub async fn lookup<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    token_hash: &str,
    at: jiff::Timestamp,
) -> Result<Option<(SessionRow, User)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        session: SessionRow,
        id: i64,
        username: String,
        display_name: String,
        disabled: i64,
        hall_id: Option<i64>,
        department_id: Option<i64>,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT s.user_id, s.csrf_token, s.expires_at, s.last_seen_at,
                u.id, u.username, u.display_name, u.disabled, u.hall_id, u.department_id
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(ms(at))
    .fetch_optional(ex)
    .await?;
    Ok(row.map(|r| {
        (
            r.session,
            User {
                id: r.id,
                username: r.username,
                display_name: r.display_name,
                disabled: r.disabled,
                hall_id: r.hall_id,
                department_id: r.department_id,
            },
        )
    }))
}

/// Slides the expiry forward (called at most every few minutes per session).
pub async fn touch(
    tx: &mut Tx,
    token_hash: &str,
    at: jiff::Timestamp,
    ttl: jiff::SignedDuration,
) -> Result<(), StoreError> {
    let now = ms(at);
    sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE token_hash = $3")
        .bind(now)
        .bind(now + ttl.as_millis() as i64)
        .bind(token_hash)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn purge_expired(tx: &mut Tx, at: jiff::Timestamp) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(ms(at))
        .execute(tx.conn())
        .await?
        .rows_affected())
}
