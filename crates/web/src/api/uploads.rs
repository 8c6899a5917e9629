//! Uploads of material files (multipart). Staff uploads are tied to the account; anonymous
//! uploads (online applicants) are rate-limited per client address.
use crate::auth::{authenticate, check_csrf, client_ip, rate_limit};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::uploads::{Incoming, too_large};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    // The upload limit (`storage.max_upload_bytes`) is enforced while streaming, so the general
    // body limit does not apply here.
    Router::new().route(
        "/uploads",
        post(upload).layer(axum::extract::DefaultBodyLimit::disable()),
    )
}

#[derive(OpenApi)]
#[openapi(paths(upload), components(schemas(UploadDto, UploadForm)))]
pub struct UploadsDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadDto {
    pub id: i64,
    /// Hex SHA-256 of the content: its name in the shared blob store.
    pub sha256: String,
    pub size: i64,
    /// `application/pdf`, `image/jpeg` or `image/png`, from the file's bytes.
    pub mime: String,
    pub original_name: String,
}

/// The multipart form.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the form; the handler streams it
pub struct UploadForm {
    /// The file (PDF, JPEG or PNG).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads one material file as the multipart field `file`. Too large: 413
/// `payload_too_large`; not a PDF, JPEG or PNG (judged by its bytes): 415 `upload_type_invalid`.
#[utoipa::path(post, path = "/api/v1/uploads", security((), ("bearer" = []), ("session" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = UploadDto), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn upload(State(state): State<AppState>, req: Request) -> ApiResult<impl IntoResponse> {
    let (parts, body) = req.into_parts();
    let uploaded_by = match authenticate(&state, &parts).await? {
        Some(p) => {
            let header = parts
                .headers
                .get(crate::auth::CSRF_HEADER)
                .and_then(|v| v.to_str().ok());
            check_csrf(&p, &parts.method, header)?;
            p.actor()
        }
        None => {
            let ip = client_ip(&state, &parts)
                .map(|i| i.to_string())
                .unwrap_or_else(|| "unknown".into());
            rate_limit(&state, format!("upload:{ip}"), 60, jiff::SignedDuration::from_mins(10)).await?;
            format!("anonymous:{ip}")
        }
    };
    let mut multipart = Multipart::from_request(Request::from_parts(parts, body), &state)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "multipart_expected",
                "请以 multipart/form-data 上传，文件字段名为 file",
            )
        })?;
    let max = state.infra.max_upload_bytes;
    // Everything else in the form counts too, so a flood of other fields is refused as well.
    let mut other_bytes = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(e, max))? {
        if field.name() != Some("file") {
            while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max))? {
                other_bytes += chunk.len();
                if other_bytes > 64 * 1024 {
                    return Err(too_large(max));
                }
            }
            continue;
        }
        let name = field.file_name().unwrap_or("file").to_owned();
        let mut incoming = Incoming::start(&state).await?;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => incoming.push(&chunk).await?,
                Ok(None) => break,
                Err(e) => {
                    incoming.discard().await;
                    return Err(multipart_error(e, max));
                }
            }
        }
        let u = incoming.finish(&state, &name, &uploaded_by).await?;
        return Ok((
            StatusCode::CREATED,
            Json(UploadDto {
                id: u.id,
                sha256: u.sha256,
                size: u.size,
                mime: u.mime,
                original_name: u.original_name,
            }),
        ));
    }
    Err(ApiError::validation(
        "upload_missing",
        "请选择要上传的文件（字段名 file）",
    ))
}

fn multipart_error(e: axum::extract::multipart::MultipartError, max: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        ApiError::bad_request("multipart_invalid", "上传内容格式不正确")
    }
}
