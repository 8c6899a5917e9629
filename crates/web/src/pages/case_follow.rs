//! The public follow-up page `/follow` (issue 4): the QR codes on receipts and notices point here
//! (`/follow?code=...` with the tracking code, `/follow?no=...` with the case number). A citizen
//! follows a case with the tracking code, or the case number plus the last four digits of the
//! applicant's phone, through the same rate-limited use case as `POST /api/v1/cases/follow`. It
//! shows the status and the milestones, never personal data; a concluded case links to its
//! e-certificate's public verification page.
use super::{Chrome, render, show_time};
use crate::auth::client_ip;
use crate::cases::{self as ops, PublicCase};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/follow", get(follow_page).post(follow_submit))
}

#[derive(Template)]
#[template(path = "cases/follow.html")]
struct FollowPage {
    c: Chrome,
    code: String,
    case_no: String,
    error: Option<String>,
    found: Option<PublicCase>,
    /// (time, label)
    milestones: Vec<(String, String)>,
    verify_url: Option<String>,
}

#[derive(Deserialize, Default)]
struct FollowQuery {
    code: Option<String>,
    no: Option<String>,
}

#[derive(Deserialize, Default)]
struct FollowForm {
    code: Option<String>,
    case_no: Option<String>,
    last4: Option<String>,
}

fn empty(code: String, case_no: String) -> FollowPage {
    FollowPage {
        c: Chrome::anonymous(String::new()),
        code,
        case_no,
        error: None,
        found: None,
        milestones: Vec::new(),
        verify_url: None,
    }
}

/// Looks the case up and renders the answer (the use case's status on a refusal: 404, 422, 429).
async fn lookup(
    state: &AppState,
    address: &str,
    code: Option<String>,
    case_no: Option<String>,
    last4: Option<String>,
) -> Response {
    let code = code.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let case_no = case_no.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let last4 = last4.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let mut page = empty(code.clone().unwrap_or_default(), case_no.clone().unwrap_or_default());
    let by_no = if code.is_none() { case_no.as_deref() } else { None };
    match ops::follow(state, address, code.as_deref(), by_no, last4.as_deref()).await {
        Ok(found) => {
            page.milestones = found
                .milestones
                .iter()
                .map(|(at, kind)| (show_time(*at), super::case_staff::event_label(kind)))
                .collect();
            if let Some(number) = &found.certificate_number
                && let Ok(Some(row)) = onestop_store::certs::by_number(state.store.read(), number).await
                && let Ok(cert) = crate::certs::from_row(&row)
            {
                page.verify_url = Some(format!("/verify?c={}", cert.to_link_param()));
            }
            page.found = Some(found);
            render(StatusCode::OK, &page)
        }
        Err(e) => {
            let status = e.status;
            page.error = Some(e.message);
            render(status, &page)
        }
    }
}

async fn follow_page(State(state): State<AppState>, Query(q): Query<FollowQuery>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let address = client_ip(&state, &parts).map(|i| i.to_string()).unwrap_or_default();
    match q.code.filter(|c| !c.trim().is_empty()) {
        // From the QR code: look up at once.
        Some(code) => lookup(&state, &address, Some(code), None, None).await,
        None => render(StatusCode::OK, &empty(String::new(), q.no.unwrap_or_default())),
    }
}

/// A read-only look-up: no CSRF token is needed (it changes nothing but the rate-limit counters),
/// and a POST keeps the phone digits out of addresses and logs.
async fn follow_submit(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let address = client_ip(&state, &parts).map(|i| i.to_string()).unwrap_or_default();
    let bytes = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let f: FollowForm = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    lookup(&state, &address, f.code, f.case_no, f.last4).await
}
