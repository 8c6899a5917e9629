//! The citizen's booking pages (预约): public, no login, mobile-first, and complete without
//! JavaScript. Pick a hall, then a category and a day (plain GET forms), then a slot and enter
//! name, ID number and phone; the confirmation page shows the booking code and prints. A booking
//! is cancelled with its code and the ID number. Anonymous forms carry a double-submit CSRF token
//! (a cookie set with the form and the same value in a hidden field), as `/login` does.
use super::{Chrome, PageError, append_cookie, csrf_cookie, render};
use crate::auth::{CSRF_COOKIE, client_ip, double_submit_ok, random_token};
use crate::error::ApiError;
use crate::queue::{self as ops, Booking};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use onestop_store::queue as q;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/book", get(halls_page))
        .route("/book/hall/{hall_id}", get(slots_page).post(book_submit))
        .route("/book/cancel", get(cancel_page).post(cancel_submit))
}

fn hhmm(ms: i64) -> String {
    let z = onestop_store::ts(ms).to_zoned(ops::hall_tz());
    format!("{:02}:{:02}", z.hour(), z.minute())
}

fn day_label(day: &str) -> String {
    match day.parse::<jiff::civil::Date>() {
        Ok(d) => {
            let wd = ["一", "二", "三", "四", "五", "六", "日"]
                [usize::from(d.weekday().to_monday_zero_offset().unsigned_abs())];
            format!("{}月{}日 周{wd}", d.month(), d.day())
        }
        Err(_) => day.to_owned(),
    }
}

/// A fresh CSRF token for an anonymous form, with the cookie that goes with it.
fn with_csrf<T: Template>(state: &AppState, status: StatusCode, make: impl FnOnce(Chrome) -> T) -> Response {
    let csrf = random_token();
    let page = make(portal_chrome(csrf.clone()));
    let mut res = render(status, &page);
    append_cookie(&mut res, &csrf_cookie(state, &csrf));
    res
}

/// Anonymous chrome; the templates set `body.portal` (the mobile-first portal look).
fn portal_chrome(csrf: String) -> Chrome {
    Chrome::anonymous(csrf)
}

async fn read_form<T: serde::de::DeserializeOwned>(state: &AppState, body: axum::body::Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, state.settings.body_limit)
        .await
        .map_err(|_| crate::extract::body_rejection(StatusCode::PAYLOAD_TOO_LARGE))?;
    serde_urlencoded::from_bytes::<T>(&bytes)
        .map_err(|_| ApiError::validation("invalid_form", "表单内容不完整，请重新填写"))
}

fn error_page(e: ApiError) -> Response {
    PageError::from(e).into_response()
}

// ---- halls -----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "book_halls.html")]
struct HallsPage {
    c: Chrome,
    halls: Vec<(i64, String, String)>,
}

async fn halls_page(State(state): State<AppState>) -> Response {
    match onestop_store::org::halls_in(state.store.read(), "/").await {
        Ok(hs) => {
            let halls = hs
                .into_iter()
                .filter(|h| h.closed_at.is_none())
                .map(|h| (h.id, h.name, h.address))
                .collect();
            render(
                StatusCode::OK,
                &HallsPage {
                    c: portal_chrome(String::new()),
                    halls,
                },
            )
        }
        Err(e) => error_page(e.into()),
    }
}

// ---- slots and the booking form --------------------------------------------------------------

pub struct SlotChoice {
    pub id: i64,
    pub time: String,
    pub left: i64,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "book_form.html")]
struct FormPage {
    c: Chrome,
    hall_id: i64,
    hall_name: String,
    /// (prefix, name)
    categories: Vec<(String, String)>,
    /// (day, label)
    days: Vec<(String, String)>,
    category: String,
    day: String,
    slots: Vec<SlotChoice>,
    error: Option<String>,
    name: String,
    phone: String,
}

#[derive(Deserialize, Default)]
struct Filter {
    category: Option<String>,
    day: Option<String>,
}

#[derive(Deserialize)]
struct BookForm {
    csrf: Option<String>,
    category: Option<String>,
    day: Option<String>,
    slot_id: Option<i64>,
    name: Option<String>,
    id_number: Option<String>,
    phone: Option<String>,
}

struct Entered {
    error: Option<String>,
    name: String,
    phone: String,
    chosen: Option<i64>,
}

async fn form_page(state: &AppState, hall_id: i64, filter: Filter, entered: Entered) -> Result<FormPage, ApiError> {
    let hall = onestop_store::org::hall(state.store.read(), hall_id)
        .await
        .ok()
        .filter(|h| h.closed_at.is_none())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "hall_not_found", "没有这个办事大厅"))?;
    let cats = q::categories(state.store.read(), hall_id).await?;
    let open = ops::open_slots(state, hall_id, 14).await?;
    let open: Vec<q::Slot> = open.into_iter().filter(|s| s.booked < s.capacity).collect();
    // Only categories and days that have a free place are offered.
    let categories: Vec<(String, String)> = cats
        .iter()
        .filter(|c| open.iter().any(|s| s.category_id == c.id))
        .map(|c| (c.prefix.clone(), c.name.clone()))
        .collect();
    let category = filter
        .category
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| categories.iter().any(|(p, _)| p == c))
        .or_else(|| categories.first().map(|(p, _)| p.clone()))
        .unwrap_or_default();
    let cat_id = cats.iter().find(|c| c.prefix == category).map(|c| c.id);
    let mut days: Vec<(String, String)> = Vec::new();
    for s in open.iter().filter(|s| Some(s.category_id) == cat_id) {
        if !days.iter().any(|(d, _)| d == &s.day) {
            days.push((s.day.clone(), day_label(&s.day)));
        }
    }
    days.sort();
    let day = filter
        .day
        .filter(|d| days.iter().any(|(x, _)| x == d))
        .or_else(|| days.first().map(|(d, _)| d.clone()))
        .unwrap_or_default();
    let slots = open
        .iter()
        .filter(|s| Some(s.category_id) == cat_id && s.day == day)
        .map(|s| SlotChoice {
            id: s.id,
            time: format!("{}–{}", hhmm(s.starts_at), hhmm(s.ends_at)),
            left: s.capacity - s.booked,
            checked: entered.chosen == Some(s.id),
        })
        .collect();
    Ok(FormPage {
        c: portal_chrome(String::new()),
        hall_id,
        hall_name: hall.name,
        categories,
        days,
        category,
        day,
        slots,
        error: entered.error,
        name: entered.name,
        phone: entered.phone,
    })
}

async fn slots_page(State(state): State<AppState>, Path(hall_id): Path<i64>, Query(f): Query<Filter>) -> Response {
    let entered = Entered {
        error: None,
        name: String::new(),
        phone: String::new(),
        chosen: None,
    };
    match form_page(&state, hall_id, f, entered).await {
        Ok(page) => with_csrf(&state, StatusCode::OK, |c| FormPage { c, ..page }),
        Err(e) => error_page(e),
    }
}

#[derive(Template)]
#[template(path = "book_done.html")]
struct DonePage {
    c: Chrome,
    b: Booking,
    hall_name: String,
    category_name: String,
    day: String,
    time: String,
    phone_masked: String,
    cancelled: bool,
}

async fn done_page(state: &AppState, b: Booking, phone_masked: String, status: StatusCode) -> Response {
    let hall_name = onestop_store::org::hall(state.store.read(), b.hall_id)
        .await
        .map(|h| h.name)
        .unwrap_or_default();
    let category_name = q::category_by_prefix(state.store.read(), b.hall_id, &b.category)
        .await
        .ok()
        .flatten()
        .map(|c| c.name)
        .unwrap_or_default();
    let z = onestop_store::ts(b.starts_at).to_zoned(ops::hall_tz());
    let day = day_label(&z.date().to_string());
    let time = format!("{}–{}", hhmm(b.starts_at), hhmm(b.ends_at));
    let cancelled = b.state == "cancelled";
    render(
        status,
        &DonePage {
            c: portal_chrome(String::new()),
            b,
            hall_name,
            category_name,
            day,
            time,
            phone_masked,
            cancelled,
        },
    )
}

async fn book_submit(State(state): State<AppState>, Path(hall_id): Path<i64>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = client_ip(&state, &parts).map(|c| c.to_string()).unwrap_or_default();
    let form: BookForm = match read_form(&state, body).await {
        Ok(f) => f,
        Err(e) => return error_page(e),
    };
    let name = form.name.clone().unwrap_or_default();
    let phone_raw = form.phone.clone().unwrap_or_default();
    let again = |status: StatusCode, message: String| {
        let state = state.clone();
        let filter = Filter {
            category: form.category.clone(),
            day: form.day.clone(),
        };
        let entered = Entered {
            error: Some(message),
            name: name.clone(),
            phone: phone_raw.clone(),
            chosen: form.slot_id,
        };
        async move {
            match form_page(&state, hall_id, filter, entered).await {
                Ok(page) => with_csrf(&state, status, |c| FormPage { c, ..page }),
                Err(e) => error_page(e),
            }
        }
    };
    if !double_submit_ok(&parts.headers, form.csrf.as_deref()) {
        return again(StatusCode::FORBIDDEN, "页面已过期，请重新提交".into()).await;
    }
    let Some(slot_id) = form.slot_id else {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "请选择一个时段".into()).await;
    };
    let phone = match onestop_domain::ids::Phone::parse(&phone_raw) {
        Ok(p) => p,
        Err(e) => {
            let e = ApiError::from(e);
            return again(e.status, e.message).await;
        }
    };
    // The slot must belong to this hall (the form could be edited).
    match q::slot(state.store.read(), slot_id).await {
        Ok(s) if s.hall_id == hall_id => {}
        _ => return again(StatusCode::NOT_FOUND, "没有这个预约时段".into()).await,
    }
    let id_number = form.id_number.clone().unwrap_or_default();
    match ops::book(&state, slot_id, &id_number, &name, Some(&phone), &client).await {
        Ok(b) => {
            let mut res = done_page(&state, b, phone.masked(), StatusCode::CREATED).await;
            append_cookie(&mut res, &super::clear_cookie(&state, CSRF_COOKIE));
            res
        }
        Err(e) => again(e.status, e.message).await,
    }
}

// ---- cancel ----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "book_cancel.html")]
struct CancelPage {
    c: Chrome,
    error: Option<String>,
    code: String,
}

#[derive(Deserialize, Default)]
struct CancelQuery {
    code: Option<String>,
}

async fn cancel_page(State(state): State<AppState>, Query(q): Query<CancelQuery>) -> Response {
    let code = q.code.unwrap_or_default();
    with_csrf(&state, StatusCode::OK, |c| CancelPage { c, error: None, code })
}

#[derive(Deserialize)]
struct CancelForm {
    csrf: Option<String>,
    code: Option<String>,
    id_number: Option<String>,
}

async fn cancel_submit(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = client_ip(&state, &parts).map(|c| c.to_string()).unwrap_or_default();
    let form: CancelForm = match read_form(&state, body).await {
        Ok(f) => f,
        Err(e) => return error_page(e),
    };
    let code = form.code.clone().unwrap_or_default().trim().to_ascii_uppercase();
    let again = |status: StatusCode, message: String| {
        let code = code.clone();
        with_csrf(&state, status, |c| CancelPage {
            c,
            error: Some(message),
            code,
        })
    };
    if !double_submit_ok(&parts.headers, form.csrf.as_deref()) {
        return again(StatusCode::FORBIDDEN, "页面已过期，请重新提交".into());
    }
    match ops::cancel_booking(&state, &code, form.id_number.as_deref().unwrap_or_default(), &client).await {
        Ok(b) => {
            let mut res = done_page(&state, b, String::new(), StatusCode::OK).await;
            append_cookie(&mut res, &super::clear_cookie(&state, CSRF_COOKIE));
            res
        }
        Err(e) => again(e.status, e.message),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn day_labels_are_chinese() {
        assert_eq!(super::day_label("2026-03-18"), "3月18日 周三");
        assert_eq!(super::day_label("x"), "x");
    }
}
