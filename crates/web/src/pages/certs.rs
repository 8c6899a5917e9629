//! Public verification of e-certificates (`/verify`: paste, upload, or the QR link), the
//! printable rendering of a certificate for staff, and the development outbox (`/dev/outbox`).
use super::{Chrome, PageAuth, PageError, PageResult, render};
use crate::auth::{Principal, authenticate};
use crate::certs::{self, Outcome};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use onestop_domain::ecert::{self, Certificate};
use onestop_domain::role::{Permission, Role};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/verify",
            get(verify_page)
                .post(verify_submit)
                .layer(axum::extract::DefaultBodyLimit::max(256 * 1024)),
        )
        .route("/certificates/{number}/print", get(print_page))
        .route("/dev/outbox", get(dev_outbox))
}

pub struct FieldView {
    pub label: String,
    pub value: String,
}

pub struct CertView {
    pub number: String,
    pub title: String,
    pub document_type: String,
    pub region: String,
    pub authority: String,
    pub holder_name: String,
    pub holder_id: String,
    pub issued: String,
    pub case_no: String,
    pub key_id: String,
    pub fields: Vec<FieldView>,
}

fn issued_display(rfc3339: &str) -> String {
    rfc3339
        .parse::<jiff::Timestamp>()
        .map(|t| super::show_time(t.as_millisecond()))
        .unwrap_or_else(|_| rfc3339.to_owned())
}

fn date_display(rfc3339: &str) -> String {
    let full = issued_display(rfc3339);
    full.split(' ').next().unwrap_or(&full).to_owned()
}

impl CertView {
    fn from(c: &Certificate) -> Self {
        let p = &c.payload;
        Self {
            number: p.number.clone(),
            title: p.title.clone(),
            document_type: p.document_type.clone(),
            region: format!("{}（{}）", p.issuer.region_name, p.issuer.region_code),
            authority: p.issuer.authority.clone(),
            holder_name: p.holder.name.clone(),
            holder_id: p.holder.id_masked.clone(),
            issued: date_display(&p.issued_at),
            case_no: p.case_no.clone(),
            key_id: c.key_id.clone(),
            fields: p
                .fields
                .iter()
                .map(|f| FieldView {
                    label: f.label.clone(),
                    value: f.value.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    c: Chrome,
    result: Option<VerifyResult>,
    text: String,
}

struct VerifyResult {
    valid: bool,
    message: String,
    code: String,
    cert: Option<CertView>,
}

#[derive(Deserialize)]
struct VerifyQuery {
    c: Option<String>,
}

async fn chrome_for(state: &AppState, headers: &HeaderMap) -> Chrome {
    // Public page: show the staff header if someone is logged in, else plain.
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers.clone();
    match authenticate(state, &parts).await {
        Ok(Some(p)) => Chrome::for_principal(&p, "/verify"),
        _ => Chrome::anonymous(String::new()),
    }
}

fn result_of(out: Outcome) -> VerifyResult {
    VerifyResult {
        valid: out.valid,
        message: out.message,
        code: out.code,
        cert: out.certificate.as_ref().map(CertView::from),
    }
}

async fn verify_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<VerifyQuery>) -> PageResult {
    let c = chrome_for(&state, &headers).await;
    let result = match q.c.as_deref().filter(|s| !s.is_empty()) {
        Some(param) => Some(match ecert::from_link_param(param) {
            Ok(text) => result_of(certs::verify(&state, &text).await?),
            Err(e) => result_of(Outcome::invalid(e)),
        }),
        None => None,
    };
    Ok(render(
        StatusCode::OK,
        &VerifyPage {
            c,
            result,
            text: String::new(),
        },
    ))
}

/// The form posts `text` (pasted) and/or `file` (uploaded) as multipart; the file wins.
async fn verify_submit(State(state): State<AppState>, req: Request) -> PageResult {
    let headers = req.headers().clone();
    let c = chrome_for(&state, &headers).await;
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bad = || PageError::from(ApiError::bad_request("form_invalid", "无法读取提交的内容"));
    let mut text = String::new();
    if is_multipart {
        let mut mp = Multipart::from_request(req, &state).await.map_err(|_| bad())?;
        let mut file_text = None;
        while let Some(field) = mp.next_field().await.map_err(|_| bad())? {
            let name = field.name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|_| bad())?;
            let value = String::from_utf8_lossy(&bytes).into_owned();
            match name.as_str() {
                "file" if !value.trim().is_empty() => file_text = Some(value),
                "text" => text = value,
                _ => {}
            }
        }
        if let Some(f) = file_text {
            text = f;
        }
    } else {
        #[derive(Deserialize)]
        struct Pasted {
            text: Option<String>,
        }
        let axum::Form(p) = axum::Form::<Pasted>::from_request(req, &state)
            .await
            .map_err(|_| bad())?;
        text = p.text.unwrap_or_default();
    }
    if text.trim().is_empty() {
        let result = Some(VerifyResult {
            valid: false,
            message: "请粘贴证照内容或选择证照文件".into(),
            code: "empty".into(),
            cert: None,
        });
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &VerifyPage { c, result, text },
        ));
    }
    let result = Some(result_of(certs::verify(&state, &text).await?));
    Ok(render(StatusCode::OK, &VerifyPage { c, result, text }))
}

#[derive(Template)]
#[template(path = "cert_print.html")]
struct PrintPage {
    c: Chrome,
    cert: CertView,
    qr_svg: String,
    link: String,
    revoked: Option<String>,
}

/// The base of links printed in QR codes: `server.public_url`, or this request's host.
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if !state.infra.public_url.is_empty() {
        return state.infra.public_url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// An inline SVG QR code of `data` (escaped by construction: only our own markup).
pub fn qr_svg(data: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::L).ok()?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    // Drop the XML declaration so the SVG can sit inside HTML.
    Some(match svg.find("<svg") {
        Some(i) => svg[i..].to_owned(),
        None => svg,
    })
}

fn can_print(p: &Principal, path: &onestop_domain::region::RegionPath) -> bool {
    [
        Permission::WindowWork,
        Permission::BackOfficeWork,
        Permission::HallManage,
    ]
    .into_iter()
    .any(|perm| p.can(perm, path))
}

async fn print_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    headers: HeaderMap,
    ApiPath(number): ApiPath<String>,
) -> PageResult {
    let err = super::page_err(&p);
    let row = onestop_store::certs::by_number(state.store.read(), &number)
        .await
        .map_err(|e| err(e.into()))?
        .ok_or_else(|| err(ApiError::not_found()))?;
    let region = onestop_store::regions::get(state.store.read(), row.region_id)
        .await
        .map_err(|e| err(e.into()))?;
    if !can_print(&p, &region.region_path()) {
        // Outside one's subtree the certificate does not exist for you (as everywhere).
        return Err(err(if p.can(Permission::RegionRead, &region.region_path()) {
            ApiError::forbidden()
        } else {
            ApiError::not_found()
        }));
    }
    let cert = certs::from_row(&row).map_err(&err)?;
    let link = format!("{}/verify?c={}", base_url(&state, &headers), cert.to_link_param());
    let qr = qr_svg(&link).unwrap_or_default();
    let page = PrintPage {
        c: Chrome::for_principal(&p, ""),
        cert: CertView::from(&cert),
        qr_svg: qr,
        link,
        revoked: row.revoked_at.map(|_| row.revoked_reason.unwrap_or_default()),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "dev_outbox.html")]
struct DevOutboxPage {
    c: Chrome,
    messages: Vec<MessageView>,
}

struct MessageView {
    at: String,
    channel: &'static str,
    recipient: String,
    subject: String,
    body: String,
    status: &'static str,
    via: String,
    error: String,
}

/// The development sink: recent messages, for system administrators and in the demo (where the
/// applicant's phone verification code is read from here).
async fn dev_outbox(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers;
    let principal = authenticate(&state, &parts).await.ok().flatten();
    let allowed = state.infra.dev_outbox_public
        || principal
            .as_ref()
            .is_some_and(|p| p.grants.iter().any(|g| g.role == Role::SystemAdmin));
    let chrome = || match &principal {
        Some(p) => Chrome::for_principal(p, "/dev/outbox"),
        None => Chrome::anonymous(String::new()),
    };
    if !allowed {
        let err = if principal.is_some() {
            ApiError::forbidden()
        } else {
            ApiError::unauthenticated()
        };
        return PageError {
            err,
            chrome: Some(chrome()),
        }
        .into_response();
    }
    let rows = match onestop_store::outbox::recent(state.store.read(), None, 100).await {
        Ok(r) => r,
        Err(e) => return PageError::from(e).into_response(),
    };
    let keys = state.infra.data_keys.clone();
    let messages = rows
        .into_iter()
        .map(|m| {
            // In the dev sink the full recipient is shown (it is where the demo reads codes);
            // messages that went out through a real sender keep it masked.
            let recipient = match (&keys, m.sent_via.as_deref()) {
                (Some(k), Some("dev")) => k
                    .open_str(crate::crypto::purpose::OUTBOX_RECIPIENT, &m.recipient)
                    .unwrap_or(m.recipient_masked.clone()),
                _ => m.recipient_masked.clone(),
            };
            MessageView {
                at: super::show_time(m.created_at),
                channel: match m.channel.as_str() {
                    "sms" => "短信",
                    "email" => "邮件",
                    _ => "开发",
                },
                recipient,
                subject: m.subject,
                body: m.body,
                status: match m.status.as_str() {
                    "queued" => "待发送",
                    "sending" => "发送中",
                    "sent" => "已发送",
                    _ => "发送失败",
                },
                via: m.sent_via.unwrap_or_default(),
                error: m.last_error.unwrap_or_default(),
            }
        })
        .collect();
    render(StatusCode::OK, &DevOutboxPage { c: chrome(), messages })
}
