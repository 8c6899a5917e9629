//! Uploaded material files: the row names the content by its SHA-256; the bytes live in the
//! shared blob directory (see `onestop_web::uploads`), written before the row commits.
use crate::{StoreError, Tx, ms};
use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Upload {
    pub id: i64,
    pub sha256: String,
    pub size: i64,
    pub mime: String,
    pub original_name: String,
    pub uploaded_by: String,
    pub created_at: i64,
}

const SQL: &str = "SELECT id, sha256, size, mime, original_name, uploaded_by, created_at FROM uploads";

pub struct NewUpload<'a> {
    pub sha256: &'a str,
    pub size: i64,
    pub mime: &'a str,
    pub original_name: &'a str,
    pub uploaded_by: &'a str,
}

pub async fn insert(tx: &mut Tx, u: NewUpload<'_>, at: jiff::Timestamp) -> Result<Upload, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO uploads (sha256, size, mime, original_name, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(u.sha256)
    .bind(u.size)
    .bind(u.mime)
    .bind(u.original_name)
    .bind(u.uploaded_by)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    get(tx.conn(), id).await
}

pub async fn get<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Upload, StoreError> {
    sqlx::query_as::<_, Upload>(sqlx::AssertSqlSafe(format!("{SQL} WHERE id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}
