//! The web layer: the JSON API under `/api/v1`, the server-rendered pages, embedded assets,
//! health and metrics endpoints, and the background jobs that run once across processes.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod api;
pub mod auth;
pub mod catalogue;
pub mod certs;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod extract;
pub mod i18n;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod pages;
pub mod queue;
pub mod settings;
pub mod state;
pub mod uploads;
pub mod workflows;
// rollout
pub mod rollout;
// ratings
pub mod ratings;
// cases
pub mod cases;
// score
pub mod scorecards;
// report
pub mod model_report;

pub use state::{AppState, Infra, WebSettings};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use error::{ApiError, REQUEST_ID};
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

// report
/// An embedded asset's bytes (the standalone report file inlines its styles and charts).
pub(crate) fn embedded_asset(path: &str) -> Option<Vec<u8>> {
    Assets::get(path).map(|f| f.data.into_owned())
}

/// The whole application as one router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.body_limit;
    Router::new()
        .nest("/api/v1", api::router())
        .merge(pages::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/assets/{*path}", get(asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal().into_response()))
        .with_state(state)
}

/// Gives every request an id (or keeps the one a trusted proxy sent), logs it, counts it.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_owned)
        .unwrap_or_else(|| auth::random_token()[..16].to_owned());
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut res = REQUEST_ID
        .scope(id.clone(), tracing::Instrument::instrument(next.run(req), span.clone()))
        .await;
    let elapsed = started.elapsed();
    state
        .metrics
        .observe(method.as_str(), &route, res.status().as_u16(), elapsed);
    let status = res.status().as_u16();
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, path = %path, elapsed_ms = elapsed.as_millis() as u64, "request failed");
        } else {
            tracing::info!(status, elapsed_ms = elapsed.as_millis() as u64, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    let headers = res.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    res
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn asset(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match Assets::get(&path) {
        Some(file) => {
            let mime = match path.rsplit('.').next() {
                Some("css") => "text/css; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("mp3") => "audio/mpeg",
                Some("woff2") => "font/woff2",
                _ => "application/octet-stream",
            };
            Response::builder()
                .header(header::CONTENT_TYPE, mime)
                .header(header::CACHE_CONTROL, "public, max-age=3600")
                .body(Body::from(file.data.into_owned()))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "没有这个接口").into_response()
    } else {
        pages::PageError::from(ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "您要找的页面不存在",
        ))
        .into_response()
    }
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "该接口不支持此请求方法",
    )
    .into_response()
}
