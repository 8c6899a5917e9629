//! E-certificate API: verify a certificate, read a region's published keys, rotate a key.
use crate::auth::Auth;
use crate::certs::{self, KeysDocument, Outcome};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/certificates/verify", post(verify))
        // `{id}` is the region's code here (the segment name is shared with `/regions/{id}`).
        .route("/regions/{id}/keys", get(region_keys))
        .route("/regions/{id}/keys/rotate", post(rotate_key))
}

#[derive(OpenApi)]
#[openapi(
    paths(verify, region_keys, rotate_key),
    components(schemas(Outcome, KeysDocument, certs::KeyDto))
)]
pub struct CertsDoc;

/// Verifies an e-certificate. The body is the certificate file itself (JSON). A certificate
/// gets 200 whether it is valid or not: `valid`, and `code`/`message` say why not (forged,
/// altered, unknown or retired key, revoked). A body that is not a certificate file at all is
/// 422 `certificate_malformed`.
#[utoipa::path(post, path = "/api/v1/certificates/verify", security(()),
    request_body(content = String, content_type = "application/json", description = "The certificate file"),
    responses((status = 200, body = Outcome), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn verify(
    State(state): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<Outcome>> {
    // Read the bytes ourselves: axum's `String` extractor answers a body that is not UTF-8 with
    // a plain-text 400, outside our error format (found by scripts/api-fuzz).
    let body = body.map_err(|e| crate::extract::body_rejection(e.status()))?;
    let body = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::validation("certificate_malformed", "证照文件不是有效的 UTF-8 文本"))?;
    let out = certs::verify(&state, &body).await?;
    if out.code == "malformed" || out.code == "format_unknown" {
        return Err(ApiError::validation("certificate_malformed", out.message));
    }
    Ok(Json(out))
}

/// A region's published Ed25519 keys, current and retired. Public: anyone may verify offline
/// with this document (`onestop verify --keys FILE`).
#[utoipa::path(get, path = "/api/v1/regions/{id}/keys", security(()), params(("id" = String, Path, description = "Region code, e.g. 990121")),
    responses((status = 200, body = KeysDocument), (status = 404, body = ErrorBody)))]
async fn region_keys(State(state): State<AppState>, ApiPath(code): ApiPath<String>) -> ApiResult<Json<KeysDocument>> {
    Ok(Json(certs::keys_document(&state, &code).await?))
}

/// Makes a new signing key for the region; the current one is retired and stays published,
/// so certificates it signed still verify. Region administrators only.
#[utoipa::path(post, path = "/api/v1/regions/{id}/keys/rotate", params(("id" = String, Path, description = "Region code")),
    responses((status = 200, body = KeysDocument), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn rotate_key(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<KeysDocument>> {
    certs::rotate_key(&state, &p, &code).await?;
    Ok(Json(certs::keys_document(&state, &code).await?))
}
