//! The model report page (推广调研报告, /supervision/model-report): pick a region and a period, read
//! the report with its charts, print it or download it as .xlsx, and import a hall's earlier
//! monthly figures (the baseline workbook) for the before-and-after comparison.
use super::{Chrome, PageAuth, PageError, PageResult, page_err, render, see_other};
use crate::auth::check_csrf;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::i18n::{Messages, messages};
use crate::model_report::{self as mr, ReportRequest, ReportView};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use onestop_domain::role::Permission;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/supervision/model-report", get(page))
        .route("/supervision/model-report/export.xlsx", get(export))
        .route("/supervision/model-report/baseline", post(baseline))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Query {
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    min_sample: Option<String>,
    #[serde(default)]
    imported: Option<usize>,
}

#[derive(Template)]
#[template(path = "report/page.html")]
struct ReportPage {
    c: Chrome,
    t: &'static Messages,
    regions: Vec<(String, String)>,
    region: String,
    from: String,
    to: String,
    min_sample: String,
    query: String,
    has_report: bool,
    view: Option<ReportView>,
    error: Option<String>,
    error_lines: Vec<String>,
    imported: Option<usize>,
}

fn request(q: &Query) -> Result<ReportRequest, ApiError> {
    let min_sample = match q.min_sample.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiError::validation("min_sample_invalid", format!("最小样本量“{s}”不是整数")))?,
        ),
    };
    Ok(ReportRequest {
        region: q.region.clone().unwrap_or_default(),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
        min_sample,
    })
}

async fn render_page(state: &AppState, p: &crate::auth::Principal, q: Query, error: Option<ApiError>) -> PageResult {
    let err = page_err(p);
    let mut regions = Vec::new();
    for r in crate::ops::list_regions(state, p).await.map_err(&err)? {
        if p.can(Permission::SupervisionRead, &r.region_path()) && r.is_open() {
            regions.push((r.code, r.name));
        }
    }
    let mut status = StatusCode::OK;
    let (mut error_text, mut error_lines, mut view) = (None, Vec::new(), None);
    let mut show = |e: ApiError, status: &mut StatusCode| {
        *status = e.status;
        error_lines = e.fields.iter().map(|f| f.message.clone()).collect();
        error_text = Some(e.message);
    };
    if let Some(e) = error {
        show(e, &mut status);
    } else if q.region.as_deref().is_some_and(|r| !r.trim().is_empty()) {
        match request(&q) {
            Ok(req) => match mr::report(state, p, &req).await {
                Ok(r) => view = Some(mr::view(&r)),
                Err(e) if e.status == StatusCode::FORBIDDEN => return Err(err(e)),
                Err(e) => show(e, &mut status),
            },
            Err(e) => show(e, &mut status),
        }
    }
    let (region, from, to) = (
        q.region.clone().unwrap_or_default(),
        q.from.clone().unwrap_or_default(),
        q.to.clone().unwrap_or_default(),
    );
    let min_sample = q
        .min_sample
        .clone()
        .unwrap_or_else(|| mr::DEFAULT_MIN_SAMPLE.to_string());
    let query = serde_urlencoded::to_string([
        ("region", region.as_str()),
        ("from", from.as_str()),
        ("to", to.as_str()),
        ("min_sample", min_sample.as_str()),
    ])
    .unwrap_or_default();
    let page = ReportPage {
        c: Chrome::for_principal(p, "/supervision/model-report"),
        t: messages(None),
        regions,
        region,
        from,
        to,
        min_sample,
        query,
        has_report: view.is_some(),
        view,
        error: error_text,
        error_lines,
        imported: q.imported,
    };
    Ok(render(status, &page))
}

async fn page(State(state): State<AppState>, PageAuth(p): PageAuth, ApiQuery(q): ApiQuery<Query>) -> PageResult {
    p.require_any(Permission::SupervisionRead).map_err(page_err(&p))?;
    render_page(&state, &p, q, None).await
}

async fn export(State(state): State<AppState>, PageAuth(p): PageAuth, ApiQuery(q): ApiQuery<Query>) -> PageResult {
    let err = page_err(&p);
    let req = request(&q).map_err(&err)?;
    let r = mr::report(&state, &p, &req).await.map_err(&err)?;
    let bytes = mr::workbook(&r).map_err(&err)?;
    let name = format!("model-report-{}-{}-{}.xlsx", r.region_code, r.from, r.to);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// The baseline upload: the CSRF token first (no file is read for a forged request), then the
/// period fields and the file, bounded by the body limit.
async fn baseline(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let p = match PageAuth::from_request_parts(&mut parts, &state).await {
        Ok(PageAuth(p)) => p,
        Err(r) => return r,
    };
    let fail = |e: ApiError| {
        PageError {
            err: e,
            chrome: Some(Chrome::for_principal(&p, "/supervision/model-report")),
        }
        .into_response()
    };
    let Ok(mut form) =
        <Multipart as axum::extract::FromRequest<AppState>>::from_request(Request::from_parts(parts, body), &state)
            .await
    else {
        return fail(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "multipart_expected",
            "表单应以 multipart/form-data 提交",
        ));
    };
    let broken = || ApiError::bad_request("multipart_invalid", "表单内容格式不正确");
    let mut q = Query::default();
    let mut file: Option<Vec<u8>> = None;
    let mut csrf_ok = false;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return fail(crate::extract::body_rejection(StatusCode::PAYLOAD_TOO_LARGE));
            }
            Err(_) => return fail(broken()),
        };
        let name = field.name().unwrap_or("").to_owned();
        if !csrf_ok {
            let value = if name == "csrf" {
                field.text().await.unwrap_or_default()
            } else {
                String::new()
            };
            if let Err(e) = check_csrf(&p, &axum::http::Method::POST, Some(value.as_str())) {
                while let Ok(Some(mut rest)) = form.next_field().await {
                    while let Ok(Some(_)) = rest.chunk().await {}
                }
                return fail(e);
            }
            csrf_ok = true;
            continue;
        }
        match name.as_str() {
            "file" => match field.bytes().await {
                Ok(b) => file = Some(b.to_vec()),
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return fail(crate::extract::body_rejection(StatusCode::PAYLOAD_TOO_LARGE));
                }
                Err(_) => return fail(broken()),
            },
            "region" => q.region = field.text().await.ok(),
            "from" => q.from = field.text().await.ok(),
            "to" => q.to = field.text().await.ok(),
            _ => {}
        }
    }
    if let Err(e) = p.require_any(Permission::SettingsWrite) {
        return fail(e);
    }
    let outcome = match file.filter(|f| !f.is_empty()) {
        None => Err(ApiError::validation(
            "baseline_file_missing",
            "请选择要导入的 .xlsx 工作簿",
        )),
        Some(bytes) => mr::import_baseline(&state, &p, &bytes).await,
    };
    match outcome {
        Ok(o) => {
            let query = serde_urlencoded::to_string([
                ("region", q.region.clone().unwrap_or_default()),
                ("from", q.from.clone().unwrap_or_default()),
                ("to", q.to.clone().unwrap_or_default()),
                ("imported", o.figures.to_string()),
            ])
            .unwrap_or_default();
            see_other(&format!("/supervision/model-report?{query}"))
        }
        Err(e) if e.status == StatusCode::FORBIDDEN => fail(e),
        Err(e) => match render_page(&state, &p, q, Some(e)).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
    }
}
