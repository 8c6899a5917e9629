//! E-certificates: per-region Ed25519 keys (private keys sealed with the data key), issuing a
//! certificate (inside the concluding transaction of a case, or on its own), publishing the
//! keys, and verifying a certificate against them.
use crate::auth::Principal;
use crate::crypto::{DataKeys, purpose};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use ed25519_dalek::SigningKey;
use onestop_domain::ecert::{self, Certificate, Field, Holder, Issuer, Payload, PublishedKey};
use onestop_domain::ids::IdNumber;
use onestop_domain::role::Permission;
use onestop_store::audit::AuditEntry;
use onestop_store::certs::{self, CertificateRow, NewCertificate, SigningKeyRow};
use onestop_store::{StoreError, Tx, regions};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// The look-up kind of an applicant's ID number (see `DataKeys::lookup_hash`).
pub const HOLDER_KIND: &str = "id_number";

/// What the case flow hands over on conclusion.
#[derive(Debug, Clone)]
pub struct IssueInput {
    pub region_id: i64,
    /// The issuing hall or department, printed on the certificate.
    pub authority: String,
    pub document_type: String,
    pub title: String,
    pub holder_name: String,
    pub holder_id: IdNumber,
    pub fields: Vec<Field>,
    pub case_no: String,
}

fn fresh_signing_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

/// Makes a new key for a region, retiring its current one.
async fn add_region_key(
    tx: &mut Tx,
    keys: &DataKeys,
    region_id: i64,
    region_code: &str,
    at: jiff::Timestamp,
) -> Result<SigningKeyRow, StoreError> {
    let signing = fresh_signing_key();
    certs::add_key(tx, region_id, region_code, at, |key_id| {
        let public = ecert::encode_public_key(&signing.verifying_key());
        let sealed = keys.seal(&purpose::signing_key(key_id), signing.as_bytes());
        (public, sealed)
    })
    .await
}

fn open_signing_key(keys: &DataKeys, row: &SigningKeyRow) -> Result<SigningKey, StoreError> {
    let raw = keys
        .open(&purpose::signing_key(&row.key_id), &row.encrypted_private_key)
        .map_err(|e| StoreError::Corrupt(format!("signing key {}: {e}", row.key_id)))?;
    let seed: [u8; 32] = raw
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("signing key {} has the wrong length", row.key_id)))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn rfc3339(at: jiff::Timestamp) -> String {
    // Whole seconds, UTC: the same instant always prints the same way.
    jiff::Timestamp::from_second(at.as_second())
        .unwrap_or(at)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Issues a certificate inside `tx`: the case flow calls this in the transaction that concludes
/// the case, so the certificate exists if and only if the conclusion committed. Creates the
/// region's first key on demand. The audit entry carries no personal data.
pub async fn issue_in_tx(
    tx: &mut Tx,
    keys: &DataKeys,
    input: &IssueInput,
    actor: &str,
    at: jiff::Timestamp,
) -> Result<Certificate, StoreError> {
    let region = regions::get(tx.conn(), input.region_id).await?;
    let key_row = match certs::current_key(tx, region.id).await? {
        Some(k) => k,
        None => add_region_key(tx, keys, region.id, &region.code, at).await?,
    };
    let signing = open_signing_key(keys, &key_row)?;
    let year = at
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC))
        .year();
    let number = certs::next_number(tx, region.id, &region.code, year).await?;
    let payload = Payload {
        number: number.clone(),
        document_type: input.document_type.clone(),
        title: input.title.clone(),
        issuer: Issuer {
            region_code: region.code.clone(),
            region_name: region.name.clone(),
            authority: input.authority.clone(),
        },
        holder: Holder {
            name: input.holder_name.clone(),
            id_masked: input.holder_id.masked(),
        },
        fields: input.fields.clone(),
        issued_at: rfc3339(at),
        case_no: input.case_no.clone(),
    };
    let cert = ecert::sign(payload, &key_row.key_id, &signing)
        .map_err(|e| StoreError::Corrupt(format!("cannot sign: {e}")))?;
    let payload_text = serde_json::to_value(&cert.payload)
        .ok()
        .and_then(|v| ecert::canonical_json(&v).ok())
        .unwrap_or_default();
    let holder_hash = keys.lookup_hash(HOLDER_KIND, input.holder_id.as_str());
    certs::insert(
        tx,
        NewCertificate {
            number: &number,
            region_id: region.id,
            case_ref: &input.case_no,
            document_type: &input.document_type,
            holder_hash: &holder_hash,
            payload: &payload_text,
            key_id: &cert.key_id,
            signature: &cert.signature,
            issued_at: at,
        },
    )
    .await?;
    tx.audit(AuditEntry {
        region_id: region.id,
        at,
        actor: actor.to_owned(),
        action: "certificate.issue",
        entity: "certificate",
        entity_id: number.clone(),
        detail: json!({"number": number, "document_type": input.document_type, "case_no": input.case_no, "key_id": cert.key_id}),
    })
    .await?;
    Ok(cert)
}

/// Issues a certificate in a transaction of its own (for callers outside a case transaction).
pub async fn issue(state: &AppState, p: &Principal, input: IssueInput) -> ApiResult<Certificate> {
    let region = regions::get(state.store.read(), input.region_id).await?;
    let path = region.region_path();
    if ![
        Permission::WindowWork,
        Permission::BackOfficeWork,
        Permission::RegionWrite,
    ]
    .into_iter()
    .any(|perm| p.can(perm, &path))
    {
        return Err(ApiError::forbidden());
    }
    let keys = state.data_keys()?;
    let actor = p.actor();
    let input = Arc::new(input);
    // Two first issues in a new region may both try to create its key; the unique index lets
    // one win, and the other simply tries again with the winner's key.
    for attempt in 0..2 {
        let (keys, input, actor) = (keys.clone(), input.clone(), actor.clone());
        let at = state.clock.now();
        let r = state
            .store
            .write(move |tx| Box::pin(async move { issue_in_tx(tx, &keys, &input, &actor, at).await }))
            .await;
        match r {
            Err(StoreError::Conflict { .. }) if attempt == 0 => continue,
            other => return Ok(other?),
        }
    }
    Err(ApiError::conflict("busy", "请稍后重试"))
}

/// A new key for the region; the current one is retired and stays published.
pub async fn rotate_key(state: &AppState, p: &Principal, region_code: &str) -> ApiResult<SigningKeyRow> {
    let region = regions::get_by_code(state.store.read(), region_code).await?;
    p.require(Permission::RegionWrite, &region.region_path())?;
    let keys = state.data_keys()?;
    let at = state.clock.now();
    let actor = p.actor();
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let row = add_region_key(tx, &keys, region.id, &region.code, at).await?;
                tx.audit(AuditEntry {
                    region_id: region.id,
                    at,
                    actor,
                    action: "signing_key.rotate",
                    entity: "signing_key",
                    entity_id: row.key_id.clone(),
                    detail: json!({"key_id": row.key_id}),
                })
                .await?;
                Ok::<_, StoreError>(row)
            })
        })
        .await?)
}

/// A region's published keys: the document `GET /api/v1/regions/{code}/keys` serves, and the
/// file `onestop verify --keys` reads offline.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeysDocument {
    /// Always `onestop-keys-v1`.
    pub format: String,
    pub region_code: String,
    pub region_name: String,
    pub keys: Vec<KeyDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyDto {
    pub key_id: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, base64url without padding.
    pub public_key: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; certificates issued from then on are not accepted under this key.
    pub retired_at: Option<String>,
    /// `current` or `retired`.
    pub status: String,
}

impl KeysDocument {
    /// The keys in the form the verifier takes.
    pub fn published(&self) -> Vec<PublishedKey> {
        self.keys
            .iter()
            .map(|k| PublishedKey {
                key_id: k.key_id.clone(),
                region_code: self.region_code.clone(),
                public_key: k.public_key.clone(),
                retired_at: k.retired_at.clone(),
            })
            .collect()
    }
}

fn key_dto(k: &SigningKeyRow) -> KeyDto {
    KeyDto {
        key_id: k.key_id.clone(),
        algorithm: "Ed25519".into(),
        public_key: k.public_key.clone(),
        created_at: rfc3339(onestop_store::ts(k.created_at)),
        retired_at: k.retired_at.map(|t| rfc3339(onestop_store::ts(t))),
        status: if k.retired_at.is_some() { "retired" } else { "current" }.into(),
    }
}

fn published_key(k: &SigningKeyRow) -> PublishedKey {
    let dto = key_dto(k);
    PublishedKey {
        key_id: dto.key_id,
        region_code: k.region_code.clone(),
        public_key: dto.public_key,
        retired_at: dto.retired_at,
    }
}

/// Public: anyone may fetch a region's keys.
pub async fn keys_document(state: &AppState, region_code: &str) -> ApiResult<KeysDocument> {
    let region = regions::get_by_code(state.store.read(), region_code).await?;
    let rows = certs::region_keys(state.store.read(), region.id).await?;
    Ok(KeysDocument {
        format: "onestop-keys-v1".into(),
        region_code: region.code,
        region_name: region.name,
        keys: rows.iter().map(key_dto).collect(),
    })
}

/// The outcome of a verification, for the page, the API and the CLI.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub valid: bool,
    /// `valid`, or why not: `malformed`, `format_unknown`, `key_unknown`, `key_region_mismatch`,
    /// `key_retired`, `key_invalid`, `signature_invalid`, `revoked`.
    pub code: String,
    /// 有效, or the reason it is not (简体).
    pub message: String,
    /// The certificate's content when valid.
    #[schema(value_type = Option<Object>)]
    pub certificate: Option<Certificate>,
}

impl Outcome {
    pub fn invalid(e: ecert::Invalid) -> Self {
        Self {
            valid: false,
            code: e.code.into(),
            message: e.message,
            certificate: None,
        }
    }
}

/// The `key_id` a certificate file names (before anything is trusted).
pub fn claimed_key_id(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}').trim()).ok()?;
    v.get("key_id")?.as_str().map(str::to_owned)
}

/// Verifies against a set of published keys (offline).
pub fn verify_with(text: &str, keys: &[PublishedKey]) -> Outcome {
    match ecert::verify(text, |id| keys.iter().find(|k| k.key_id == id).cloned()) {
        Ok(v) => Outcome {
            valid: true,
            code: "valid".into(),
            message: "有效".into(),
            certificate: Some(v.certificate),
        },
        Err(e) => Outcome::invalid(e),
    }
}

/// Verifies against the keys this system publishes, and checks that it was not revoked.
pub async fn verify(state: &AppState, text: &str) -> ApiResult<Outcome> {
    let key = match claimed_key_id(text) {
        Some(id) => certs::key_by_id(state.store.read(), &id).await?,
        None => None,
    };
    let keys: Vec<PublishedKey> = key.iter().map(published_key).collect();
    let mut out = verify_with(text, &keys);
    if let Some(c) = &out.certificate
        && let Some(row) = certs::by_number(state.store.read(), &c.payload.number).await?
        && row.revoked_at.is_some()
    {
        out = Outcome {
            valid: false,
            code: "revoked".into(),
            message: format!(
                "该证照已被撤销：{}",
                row.revoked_reason.unwrap_or_else(|| "未说明原因".into())
            ),
            certificate: out.certificate,
        };
    }
    Ok(out)
}

/// Certificates already issued to the holder of `id` (any key in the ring), newest first:
/// what the case flow offers instead of an upload.
pub async fn reusable_for(
    state: &AppState,
    id: &IdNumber,
    document_type: Option<&str>,
) -> ApiResult<Vec<CertificateRow>> {
    let keys = state.data_keys()?;
    let hashes = keys.lookup_hashes(HOLDER_KIND, id.as_str());
    Ok(certs::for_holder(state.store.read(), &hashes, document_type).await?)
}

/// A stored certificate as the signed document (for printing).
pub fn from_row(row: &CertificateRow) -> Result<Certificate, ApiError> {
    let payload: Payload = serde_json::from_str(&row.payload).map_err(|e| {
        tracing::error!(number = %row.number, error = %e, "stored certificate payload unreadable");
        ApiError::internal()
    })?;
    Ok(Certificate {
        format: ecert::FORMAT.into(),
        payload,
        key_id: row.key_id.clone(),
        signature: row.signature.clone(),
    })
}
