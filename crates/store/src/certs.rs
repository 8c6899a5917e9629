//! Region signing keys and issued e-certificates. The store holds private keys only sealed
//! (the web layer seals and opens them with the data key); it never sees them in clear.
use crate::{StoreError, Tx, ms};
use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub id: i64,
    pub region_id: i64,
    pub region_code: String,
    pub key_id: String,
    pub public_key: String,
    #[serde(skip)]
    pub encrypted_private_key: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

const KEY_SQL: &str = "SELECT k.id, k.region_id, r.code AS region_code, k.key_id, k.public_key, k.encrypted_private_key, k.created_at, k.retired_at
    FROM region_signing_keys k JOIN regions r ON r.id = k.region_id";

/// Every key of a region, current first, then retired ones newest first.
pub async fn region_keys<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    region_id: i64,
) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(sqlx::query_as::<_, SigningKeyRow>(sqlx::AssertSqlSafe(format!(
        "{KEY_SQL} WHERE k.region_id = $1 ORDER BY (k.retired_at IS NULL) DESC, k.created_at DESC, k.id DESC"
    )))
    .bind(region_id)
    .fetch_all(ex)
    .await?)
}

pub async fn key_by_id<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    key_id: &str,
) -> Result<Option<SigningKeyRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, SigningKeyRow>(sqlx::AssertSqlSafe(format!("{KEY_SQL} WHERE k.key_id = $1")))
            .bind(key_id)
            .fetch_optional(ex)
            .await?,
    )
}

pub async fn current_key(tx: &mut Tx, region_id: i64) -> Result<Option<SigningKeyRow>, StoreError> {
    Ok(sqlx::query_as::<_, SigningKeyRow>(sqlx::AssertSqlSafe(format!(
        "{KEY_SQL} WHERE k.region_id = $1 AND k.retired_at IS NULL"
    )))
    .bind(region_id)
    .fetch_optional(tx.conn())
    .await?)
}

/// A new key for a region: retires the current one (if any) at `at` and makes this current.
/// `make` gets the new key's id and returns (public key, sealed private key).
pub async fn add_key(
    tx: &mut Tx,
    region_id: i64,
    region_code: &str,
    at: jiff::Timestamp,
    make: impl FnOnce(&str) -> (String, String),
) -> Result<SigningKeyRow, StoreError> {
    sqlx::query("UPDATE region_signing_keys SET retired_at = $1 WHERE region_id = $2 AND retired_at IS NULL")
        .bind(ms(at))
        .bind(region_id)
        .execute(tx.conn())
        .await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM region_signing_keys WHERE region_id = $1")
        .bind(region_id)
        .fetch_one(tx.conn())
        .await?;
    // Readable and unique: the region's code and the key's ordinal.
    let key_id = format!("{region_code}.k{}", n + 1);
    let (public_key, sealed) = make(&key_id);
    sqlx::query(
        "INSERT INTO region_signing_keys (region_id, key_id, public_key, encrypted_private_key, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(region_id)
    .bind(&key_id)
    .bind(&public_key)
    .bind(&sealed)
    .bind(ms(at))
    .execute(tx.conn())
    .await?;
    key_by_id(tx.conn(), &key_id).await?.ok_or(StoreError::NotFound)
}

/// The next certificate number of a region for a year: `990121-2026-0000001`.
pub async fn next_number(tx: &mut Tx, region_id: i64, region_code: &str, year: i16) -> Result<String, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO certificate_counters (region_id, year, next_seq) VALUES ($1, $2, 2)
         ON CONFLICT (region_id, year) DO UPDATE SET next_seq = certificate_counters.next_seq + 1
         RETURNING next_seq - 1",
    )
    .bind(region_id)
    .bind(i64::from(year))
    .fetch_one(tx.conn())
    .await?;
    Ok(format!("{region_code}-{year:04}-{seq:07}"))
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CertificateRow {
    pub id: i64,
    pub number: String,
    pub region_id: i64,
    pub case_ref: String,
    pub document_type: String,
    #[serde(skip)]
    pub holder_hash: String,
    /// The signed payload as JSON text.
    pub payload: String,
    pub key_id: String,
    pub signature: String,
    pub issued_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

const CERT_SQL: &str = "SELECT id, number, region_id, case_ref, document_type, holder_hash, payload, key_id, signature, issued_at, revoked_at, revoked_reason FROM certificates";

pub struct NewCertificate<'a> {
    pub number: &'a str,
    pub region_id: i64,
    pub case_ref: &'a str,
    pub document_type: &'a str,
    pub holder_hash: &'a str,
    pub payload: &'a str,
    pub key_id: &'a str,
    pub signature: &'a str,
    pub issued_at: jiff::Timestamp,
}

pub async fn insert(tx: &mut Tx, c: NewCertificate<'_>) -> Result<CertificateRow, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO certificates (number, region_id, case_ref, document_type, holder_hash, payload, key_id, signature, issued_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(c.number)
    .bind(c.region_id)
    .bind(c.case_ref)
    .bind(c.document_type)
    .bind(c.holder_hash)
    .bind(c.payload)
    .bind(c.key_id)
    .bind(c.signature)
    .bind(ms(c.issued_at))
    .fetch_one(tx.conn())
    .await?;
    sqlx::query_as::<_, CertificateRow>(sqlx::AssertSqlSafe(format!("{CERT_SQL} WHERE id = $1")))
        .bind(id)
        .fetch_one(tx.conn())
        .await
        .map_err(Into::into)
}

pub async fn by_number<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    number: &str,
) -> Result<Option<CertificateRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, CertificateRow>(sqlx::AssertSqlSafe(format!("{CERT_SQL} WHERE number = $1")))
            .bind(number)
            .fetch_optional(ex)
            .await?,
    )
}

/// Live (unrevoked) certificates held by whoever has one of `holder_hashes` (the keyed hash
/// of an ID number under each configured key), optionally of one document type; newest first.
/// This is how a document the system already issued is reused instead of uploaded again.
pub async fn for_holder<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    holder_hashes: &[String],
    document_type: Option<&str>,
) -> Result<Vec<CertificateRow>, StoreError> {
    if holder_hashes.is_empty() {
        return Ok(Vec::new());
    }
    // Placeholders $1..$n for the hashes, then the optional type.
    let list: Vec<String> = (1..=holder_hashes.len()).map(|i| format!("${i}")).collect();
    let type_clause = if document_type.is_some() {
        format!(" AND document_type = ${}", holder_hashes.len() + 1)
    } else {
        String::new()
    };
    let sql = format!(
        "{CERT_SQL} WHERE holder_hash IN ({}) AND revoked_at IS NULL{type_clause} ORDER BY issued_at DESC, id DESC",
        list.join(", ")
    );
    let mut q = sqlx::query_as::<_, CertificateRow>(sqlx::AssertSqlSafe(sql));
    for h in holder_hashes {
        q = q.bind(h.clone());
    }
    if let Some(t) = document_type {
        q = q.bind(t.to_owned());
    }
    Ok(q.fetch_all(ex).await?)
}

/// Revokes a certificate (it then fails online verification with the reason).
pub async fn revoke(
    tx: &mut Tx,
    number: &str,
    reason: &str,
    at: jiff::Timestamp,
) -> Result<CertificateRow, StoreError> {
    let n = sqlx::query(
        "UPDATE certificates SET revoked_at = $1, revoked_reason = $2 WHERE number = $3 AND revoked_at IS NULL",
    )
    .bind(ms(at))
    .bind(reason)
    .bind(number)
    .execute(tx.conn())
    .await?
    .rows_affected();
    let row = by_number(tx.conn(), number).await?.ok_or(StoreError::NotFound)?;
    if n == 0 {
        return Err(StoreError::conflict("already_revoked", "该证照已撤销"));
    }
    Ok(row)
}
