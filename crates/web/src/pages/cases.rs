//! Case pages: the printable notices (收件凭证, 受理通知书, 不予受理决定书, 容缺受理通知书,
//! 一次性告知单, decisions), each with the hall's name, the case number and a QR code to the public
//! follow-up page.
use super::certs::{base_url, qr_svg};
use super::{Chrome, PageAuth, PageResult, render};
use crate::cases;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use onestop_domain::intake::NoticeKind;
use serde_json::Value;

pub fn router() -> Router<AppState> {
    Router::new().route("/cases/{id}/notices/{kind}", get(notice_page))
}

#[derive(Template)]
#[template(path = "cases/notice.html")]
pub(crate) struct NoticePage {
    pub c: Chrome,
    pub case_id: i64,
    pub case_no: String,
    pub title: String,
    pub hall: String,
    pub applicant: String,
    pub subject: String,
    pub received_on: String,
    pub lines: Vec<(String, String)>,
    pub materials_title: String,
    pub materials: Vec<String>,
    pub tracking_code: Option<String>,
    pub qr_svg: String,
    pub issued: String,
}

fn date_cn(iso: &str) -> String {
    match iso.parse::<jiff::civil::Date>() {
        Ok(d) => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
        Err(_) => iso.to_owned(),
    }
}

/// Builds a notice of `kind` of the case (the newest of that kind).
pub(crate) async fn notice_of(
    state: &AppState,
    headers: &HeaderMap,
    c: Chrome,
    view: &cases::CaseView,
    kind: NoticeKind,
    tracking_code: Option<String>,
) -> Result<NoticePage, ApiError> {
    let n = view
        .notices
        .iter()
        .rev()
        .find(|n| n.kind == kind.as_str())
        .ok_or_else(ApiError::not_found)?;
    let content: Value = serde_json::from_str(&n.content).unwrap_or(Value::Null);
    let t = c.t;
    let text = |k: &str| t.get(k).to_owned();
    let mut lines = Vec::new();
    let intro = match kind {
        NoticeKind::Receipt => text("cases.notice_receipt_text"),
        NoticeKind::Acceptance => text("cases.notice_acceptance_text"),
        NoticeKind::Refusal => text("cases.notice_refusal_text"),
        NoticeKind::PendingAcceptance => text("cases.notice_pending_text"),
        NoticeKind::MissingMaterials => text("cases.notice_missing_text"),
        _ => String::new(),
    };
    if !intro.is_empty() {
        lines.push((kind.title().to_owned(), intro));
    }
    if content["deemed"] == Value::Bool(true) {
        lines.push((text("cases.accepted_on"), text("cases.deemed")));
    }
    if let Some(r) = content["reasons"].as_str() {
        lines.push((text("cases.reasons"), r.to_owned()));
    }
    if let Some(d) = content["deadline"].as_str() {
        lines.push((text("cases.pending_deadline"), date_cn(d)));
    }
    if let Some(a) = view.accepted_on.as_deref().filter(|_| kind != NoticeKind::Receipt) {
        lines.push((text("cases.accepted_on"), date_cn(a)));
    }
    if matches!(kind, NoticeKind::Acceptance | NoticeKind::PendingAcceptance) {
        if let Some(p) = &view.promised_deadline {
            lines.push((text("cases.promised_deadline"), date_cn(p)));
        }
        if let Some(l) = &view.legal_deadline {
            lines.push((text("cases.legal_deadline"), date_cn(l)));
        }
    }
    if let Some(o) = content["opinion"].as_str() {
        lines.push((text("cases.opinion"), o.to_owned()));
    }
    if let Some(cn) = content["certificate_number"].as_str() {
        lines.push((text("cases.certificate"), cn.to_owned()));
    }
    let materials: Vec<String> = content["materials"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let materials_title = match kind {
        NoticeKind::PendingAcceptance => text("cases.pending_title"),
        _ => text("cases.missing_title"),
    };
    let base = base_url(state, headers);
    let link = match &tracking_code {
        Some(code) => format!("{base}/follow?code={}", code.replace('-', "")),
        None => format!("{base}/follow?no={}", view.case_no),
    };
    let hall = match content["hall"].as_str().filter(|h| !h.is_empty()) {
        Some(h) => h.to_owned(),
        None => match view.hall_id {
            Some(id) => onestop_store::org::hall(state.store.read(), id)
                .await
                .map(|h| h.name)
                .unwrap_or_default(),
            None => String::new(),
        },
    };
    Ok(NoticePage {
        case_id: view.id,
        case_no: view.case_no.clone(),
        title: kind.title().to_owned(),
        hall,
        applicant: view.applicant_name.clone(),
        subject: view.title.clone(),
        received_on: date_cn(&view.received_on),
        lines,
        materials_title,
        materials,
        tracking_code,
        qr_svg: qr_svg(&link).unwrap_or_default(),
        issued: super::show_time(n.issued_at),
        c,
    })
}

async fn notice_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    headers: HeaderMap,
    ApiPath((id, kind)): ApiPath<(i64, String)>,
) -> PageResult {
    let chrome = Chrome::for_principal(&p, "/inbox");
    let kind = NoticeKind::parse(&kind).map_err(|_| ApiError::not_found())?;
    let view = cases::get(&state, &p, id).await?;
    let page = notice_of(&state, &headers, chrome, &view, kind, None).await?;
    Ok(render(StatusCode::OK, &page))
}
