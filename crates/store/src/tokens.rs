//! API tokens for machine clients: high-entropy, stored as SHA-256, scoped to roles on regions,
//! revocable. A token's grants are a subset of its owner's, checked when it is created.
use crate::users::GrantRow;
use crate::{StoreError, Tx, ms};
use onestop_domain::role::Role;
use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn create(
    tx: &mut Tx,
    user_id: i64,
    name: &str,
    token_hash: &str,
    expires_at: Option<jiff::Timestamp>,
    grants: &[(Role, i64)],
    at: jiff::Timestamp,
) -> Result<ApiToken, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(ms(at))
    .bind(expires_at.map(ms))
    .fetch_one(tx.conn())
    .await?;
    for (role, region_id) in grants {
        sqlx::query("INSERT INTO api_token_grants (token_id, role, region_id) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(role.as_str())
            .bind(region_id)
            .execute(tx.conn())
            .await?;
    }
    get(tx.conn(), id).await
}

pub async fn get<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<ApiToken, StoreError> {
    sqlx::query_as::<_, ApiToken>(
        "SELECT id, user_id, name, created_at, expires_at, revoked_at FROM api_tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(ex)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn list_for_user<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    user_id: i64,
) -> Result<Vec<ApiToken>, StoreError> {
    Ok(sqlx::query_as::<_, ApiToken>(
        "SELECT id, user_id, name, created_at, expires_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(ex)
    .await?)
}

/// The live token for `token_hash` (not revoked, not expired) and its grants.
pub async fn lookup(
    pool: &sqlx::AnyPool,
    token_hash: &str,
    at: jiff::Timestamp,
) -> Result<Option<(ApiToken, Vec<GrantRow>)>, StoreError> {
    let token = sqlx::query_as::<_, ApiToken>(
        "SELECT id, user_id, name, created_at, expires_at, revoked_at FROM api_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(token_hash)
    .bind(ms(at))
    .fetch_optional(pool)
    .await?;
    let Some(token) = token else { return Ok(None) };
    let grants = sqlx::query_as::<_, GrantRow>(
        "SELECT g.role, g.region_id, r.path AS region_path, r.code AS region_code, r.name AS region_name
         FROM api_token_grants g JOIN regions r ON r.id = g.region_id WHERE g.token_id = $1",
    )
    .bind(token.id)
    .fetch_all(pool)
    .await?;
    Ok(Some((token, grants)))
}

pub async fn revoke(tx: &mut Tx, id: i64, at: jiff::Timestamp) -> Result<ApiToken, StoreError> {
    let t = get(tx.conn(), id).await?;
    if t.revoked_at.is_some() {
        return Err(StoreError::conflict("already_revoked", "该令牌已吊销"));
    }
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
        .bind(ms(at))
        .bind(id)
        .execute(tx.conn())
        .await?;
    get(tx.conn(), id).await
}
