//! Server-rendered staff pages (askama): login, role home pages, admin of the region tree,
//! staff and devices, the audit search, and device pairing. Forms carry a CSRF token; errors
//! render as a readable page with the same stable code the API would give.
use crate::auth::{
    CSRF_COOKIE, Credential, DEVICE_COOKIE, Principal, SESSION_COOKIE, authenticate, check_csrf, client_ip,
    double_submit_ok, random_token,
};
use crate::error::{ApiError, ApiResult, current_request_id};
use crate::extract::ApiPath;
use crate::i18n::{Messages, messages};
use crate::ops;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onestop_domain::region::RegionLevel;
use onestop_domain::role::{Permission, Role};
use onestop_store::org::Unit;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub mod booking;
pub mod catalogue;
pub mod certs;
pub mod queue;
pub mod settings;
// rollout
pub mod rollout;
pub mod workflows;
// ratings
pub mod ratings;
// score
pub mod scorecards;
// cases
pub mod cases;
// caseui
pub mod case_apply;
pub mod case_follow;
pub mod case_staff;
// report
pub mod model_report;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(certs::router())
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/admin/regions", get(regions_page).post(region_create))
        .route("/admin/regions/{id}", get(region_detail))
        .route("/admin/regions/{id}/rename", post(region_rename))
        .route("/admin/regions/{id}/move", post(region_move))
        .route("/admin/regions/{id}/close", post(region_close))
        .route("/admin/halls", post(hall_create))
        .route("/admin/departments", post(department_create))
        .route("/admin/windows", post(window_create))
        .route("/admin/{unit}/{id}/rename", post(unit_rename))
        .route("/admin/{unit}/{id}/close", post(unit_close))
        .route("/admin/{unit}/{id}/move", post(unit_move))
        .route("/admin/users", get(users_page).post(user_create))
        .route("/admin/users/{id}/disable", post(user_disable))
        .route("/admin/users/{id}/enable", post(user_enable))
        .route("/admin/users/{id}/reset-password", post(user_reset))
        .route("/admin/devices", get(devices_page).post(device_register))
        .route("/admin/devices/{id}/revoke", post(device_revoke))
        .route("/admin/devices/{id}/pairing-code", post(device_repair))
        .route("/audit", get(audit_page))
        .route("/device/pair", get(pair_page).post(pair_submit))
        .route("/device", get(device_home))
        .merge(catalogue::router())
        .merge(queue::router())
        .merge(booking::router())
        .merge(settings::router())
        // ratings
        .merge(ratings::router())
        // score
        .merge(scorecards::router())
        .merge(workflows::router())
        // rollout
        .merge(rollout::router())
        // cases
        .merge(cases::router())
        // caseui
        .merge(case_apply::router())
        .merge(case_staff::router())
        .merge(case_follow::router())
        // report
        .merge(model_report::router())
}

// ---- cookies ---------------------------------------------------------------------------------

pub fn session_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.settings.cookie_secure { "; Secure" } else { "" };
    let max_age = state.settings.session_ttl.as_secs();
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

pub fn clear_cookie(state: &AppState, name: &str) -> String {
    let secure = if state.settings.cookie_secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

fn device_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.settings.cookie_secure { "; Secure" } else { "" };
    // A paired device keeps its credential for a year; revocation ends it sooner.
    format!("{DEVICE_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000{secure}")
}

pub(crate) fn csrf_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.settings.cookie_secure { "; Secure" } else { "" };
    format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

// ---- chrome ----------------------------------------------------------------------------------

pub struct HeaderUser {
    pub display_name: String,
    pub region_name: String,
    pub role_label: &'static str,
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What every page's frame needs: messages, who is logged in, CSRF token, navigation.
pub struct Chrome {
    pub t: &'static Messages,
    pub user: Option<HeaderUser>,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    pub html_class: &'static str,
}

impl Chrome {
    pub fn anonymous(csrf: String) -> Self {
        Self {
            t: messages(None),
            user: None,
            csrf,
            nav: Vec::new(),
            html_class: "",
        }
    }

    pub fn for_principal(p: &Principal, current: &str) -> Self {
        let t = messages(None);
        let csrf = match &p.credential {
            Credential::Session { csrf, .. } => csrf.clone(),
            Credential::ApiToken { .. } => String::new(),
        };
        let user = p.primary_grant().map(|g| HeaderUser {
            display_name: p.user.display_name.clone(),
            region_name: g.region_name.clone(),
            role_label: g.role.label(),
        });
        let mut nav = vec![NavItem {
            href: "/",
            label: t.get("nav.home"),
            current: current == "/",
        }];
        let mut add = |href: &'static str, key: &'static str, perm: Permission| {
            if p.require_any(perm).is_ok() {
                nav.push(NavItem {
                    href,
                    label: t.get(key),
                    current: current.starts_with(href),
                });
            }
        };
        add("/queue", "nav.queue", Permission::WindowWork);
        add("/admin/regions", "nav.regions", Permission::StructureBrowse);
        add("/admin/catalogue", "nav.catalogue", Permission::RegionRead);
        add("/admin/workflows", "nav.workflows", Permission::StructureBrowse);
        add("/admin/users", "nav.users", Permission::StaffRead);
        add("/admin/devices", "nav.devices", Permission::DeviceManage);
        add("/audit", "nav.audit", Permission::AuditRead);
        // rollout
        add("/admin/rollout", "nav.rollout", Permission::CatalogueWrite);
        // score
        add("/supervision/scorecards", "nav.scorecards", Permission::SupervisionRead);
        // report
        add(
            "/supervision/model-report",
            "nav.model_report",
            Permission::SupervisionRead,
        );
        // caseui: the case inbox for window and back-office staff
        if p.require_any(Permission::BackOfficeWork).is_ok() || p.require_any(Permission::WindowWork).is_ok() {
            nav.push(NavItem {
                href: "/inbox",
                label: t.get("nav.inbox"),
                current: current.starts_with("/inbox"),
            });
        }
        Self {
            t,
            user,
            csrf,
            nav,
            html_class: "",
        }
    }
}

pub(crate) fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, request_id = %current_request_id(), "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "页面渲染失败").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    title: String,
    message: String,
    code: String,
    request_id: String,
}

/// An error shown as an HTML page (status and code as the API would give).
pub struct PageError {
    pub err: ApiError,
    pub chrome: Option<Chrome>,
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        Self { err, chrome: None }
    }
}

impl From<onestop_store::StoreError> for PageError {
    fn from(e: onestop_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let t = messages(None);
        let title = match self.err.status {
            StatusCode::FORBIDDEN => t.get("error.forbidden").to_owned(),
            StatusCode::NOT_FOUND => t.get("error.not_found").to_owned(),
            _ => t.get("error.title").to_owned(),
        };
        let page = ErrorPage {
            c: self.chrome.unwrap_or_else(|| Chrome::anonymous(String::new())),
            title,
            message: self.err.message.clone(),
            code: self.err.code.to_owned(),
            request_id: current_request_id(),
        };
        render(self.err.status, &page)
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// A logged-in staff member for a page; anonymous visitors are sent to the login page.
pub struct PageAuth(pub Principal);

impl FromRequestParts<AppState> for PageAuth {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match authenticate(state, parts).await {
            Ok(Some(p)) => {
                crate::auth::maybe_touch(state, &p).await;
                Ok(PageAuth(p))
            }
            Ok(None) => Err(to_login(parts)),
            // A stale or disabled session: drop the cookie and explain on the login page.
            Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                let csrf = random_token();
                let page = LoginPage {
                    c: Chrome::anonymous(csrf.clone()),
                    error: Some(e.message.clone()),
                    username: String::new(),
                    next: "/".into(),
                };
                let mut res = render(StatusCode::UNAUTHORIZED, &page);
                append_cookie(&mut res, &clear_cookie(state, SESSION_COOKIE));
                append_cookie(&mut res, &csrf_cookie(state, &csrf));
                Err(res)
            }
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

fn to_login(parts: &Parts) -> Response {
    let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let target = format!("/login?next={}", urlencode(next));
    Redirect::to(&target).into_response()
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn append_cookie(res: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A staff form post: the principal, and the form, checked against the session's CSRF token.
pub struct StaffForm<T> {
    pub p: Principal,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for StaffForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let PageAuth(p) = PageAuth::from_request_parts(&mut parts, state).await?;
        let chrome = || Some(Chrome::for_principal(&p, ""));
        let bytes = axum::body::to_bytes(body, state.settings.body_limit)
            .await
            .map_err(|_| {
                PageError {
                    err: crate::extract::body_rejection(StatusCode::PAYLOAD_TOO_LARGE),
                    chrome: chrome(),
                }
                .into_response()
            })?;
        #[derive(Deserialize)]
        struct CsrfOnly {
            csrf: Option<String>,
        }
        let token = serde_urlencoded::from_bytes::<CsrfOnly>(&bytes)
            .ok()
            .and_then(|c| c.csrf);
        check_csrf(&p, &parts.method, token.as_deref())
            .map_err(|err| PageError { err, chrome: chrome() }.into_response())?;
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| {
            PageError {
                err: ApiError::validation("invalid_form", format!("表单内容不符合要求：{e}")),
                chrome: chrome(),
            }
            .into_response()
        })?;
        Ok(StaffForm { p, form })
    }
}

pub(crate) fn page_err(p: &Principal) -> impl Fn(ApiError) -> PageError + '_ {
    move |err| PageError {
        err,
        chrome: Some(Chrome::for_principal(p, "")),
    }
}

pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

// ---- login / logout / home -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    error: Option<String>,
    username: String,
    next: String,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only local paths are followed after login (no open redirects).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

async fn login_page(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    let csrf = random_token();
    let page = LoginPage {
        c: Chrome::anonymous(csrf.clone()),
        error: None,
        username: String::new(),
        next: safe_next(q.next.as_deref()),
    };
    let mut res = render(StatusCode::OK, &page);
    append_cookie(&mut res, &csrf_cookie(&state, &csrf));
    res
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: Option<String>,
    username: String,
    password: String,
    next: Option<String>,
}

async fn login_submit(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = client_ip(&state, &parts);
    let form = match axum::body::to_bytes(body, state.settings.body_limit)
        .await
        .ok()
        .and_then(|b| serde_urlencoded::from_bytes::<LoginForm>(&b).ok())
    {
        Some(f) => f,
        None => return PageError::from(ApiError::validation("invalid_form", "请填写用户名和密码")).into_response(),
    };
    let next = safe_next(form.next.as_deref());
    let relogin = |status: StatusCode, message: String, username: String| {
        let csrf = random_token();
        let page = LoginPage {
            c: Chrome::anonymous(csrf.clone()),
            error: Some(message),
            username,
            next: next.clone(),
        };
        let mut res = render(status, &page);
        append_cookie(&mut res, &csrf_cookie(&state, &csrf));
        res
    };
    if !double_submit_ok(&parts.headers, form.csrf.as_deref()) {
        return relogin(StatusCode::FORBIDDEN, "页面已过期，请重新登录".into(), form.username);
    }
    match ops::login(&state, &form.username, &form.password, client).await {
        Ok(s) => {
            let mut res = see_other(&next);
            append_cookie(&mut res, &session_cookie(&state, &s.token));
            append_cookie(&mut res, &clear_cookie(&state, CSRF_COOKIE));
            res
        }
        Err(e) => relogin(e.status, e.message, form.username),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn logout(State(state): State<AppState>, f: StaffForm<Empty>) -> PageResult {
    ops::logout(&state, &f.p).await.map_err(page_err(&f.p))?;
    let mut res = see_other("/login");
    append_cookie(&mut res, &clear_cookie(&state, SESSION_COOKIE));
    Ok(res)
}

struct Tile {
    href: &'static str,
    title: &'static str,
    note: &'static str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    heading: &'static str,
    display_name: String,
    grants: Vec<(&'static str, String)>,
    tiles: Vec<Tile>,
}

fn home_key(role: Role) -> &'static str {
    match role {
        Role::WindowClerk => "home.clerk",
        Role::Reviewer => "home.reviewer",
        Role::HallManager => "home.manager",
        Role::RegionAdmin => "home.admin",
        Role::Supervisor => "home.supervisor",
        Role::Auditor => "home.auditor",
        Role::SystemAdmin => "home.sysadmin",
    }
}

async fn home(PageAuth(p): PageAuth) -> PageResult {
    let c = Chrome::for_principal(&p, "/");
    let t = c.t;
    let role = p.primary_grant().map(|g| g.role).unwrap_or(Role::WindowClerk);
    let mut tiles = Vec::new();
    if p.require_any(Permission::StructureBrowse).is_ok() {
        tiles.push(Tile {
            href: "/admin/regions",
            title: t.get("nav.regions"),
            note: "区划、大厅、部门与窗口",
        });
    }
    if p.require_any(Permission::StaffRead).is_ok() {
        tiles.push(Tile {
            href: "/admin/users",
            title: t.get("nav.users"),
            note: "工作人员账号与授权",
        });
    }
    if p.require_any(Permission::DeviceManage).is_ok() {
        tiles.push(Tile {
            href: "/admin/devices",
            title: t.get("nav.devices"),
            note: "取号机、显示屏、评价器的配对与吊销",
        });
    }
    if p.require_any(Permission::AuditRead).is_ok() {
        tiles.push(Tile {
            href: "/audit",
            title: t.get("nav.audit"),
            note: "按人员、操作、时间检索审计记录",
        });
    }
    let page = HomePage {
        heading: t.get(home_key(role)),
        display_name: p.user.display_name.clone(),
        grants: p
            .grants
            .iter()
            .map(|g| (g.role.label(), g.region_name.clone()))
            .collect(),
        tiles,
        c,
    };
    Ok(render(StatusCode::OK, &page))
}

// ---- regions ---------------------------------------------------------------------------------

struct RegionRow {
    id: i64,
    code: String,
    name: String,
    level_label: &'static str,
    indent: usize,
    closed: bool,
    writable: bool,
}

#[derive(Template)]
#[template(path = "regions.html")]
struct RegionsPage {
    c: Chrome,
    regions: Vec<RegionRow>,
    /// Regions the admin may create under or move into: (id, label).
    parents: Vec<(i64, String)>,
}

async fn regions_page(State(state): State<AppState>, PageAuth(p): PageAuth) -> PageResult {
    let err = page_err(&p);
    p.require_any(Permission::StructureBrowse).map_err(&err)?;
    let list = ops::list_regions(&state, &p).await.map_err(&err)?;
    let base = list.iter().map(|r| r.region_path().ids().len()).min().unwrap_or(1);
    let mut parents = Vec::new();
    let rows = list
        .into_iter()
        .map(|r| {
            let path = r.region_path();
            let writable = p.can(Permission::RegionWrite, &path);
            if writable && r.is_open() && r.level() != Some(RegionLevel::Community) {
                parents.push((r.id, format!("{} {}", r.code, r.name)));
            }
            RegionRow {
                level_label: r.level().map(|l| l.label()).unwrap_or(""),
                indent: (path.ids().len().saturating_sub(base)) * 2,
                closed: !r.is_open(),
                writable,
                id: r.id,
                code: r.code,
                name: r.name,
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &RegionsPage {
            c: Chrome::for_principal(&p, "/admin/regions"),
            regions: rows,
            parents,
        },
    ))
}

#[derive(Deserialize)]
struct RegionForm {
    code: String,
    name: String,
    parent_id: i64,
}

async fn region_create(State(state): State<AppState>, f: StaffForm<RegionForm>) -> PageResult {
    ops::create_region(&state, &f.p, &f.form.code, &f.form.name, Some(f.form.parent_id))
        .await
        .map_err(page_err(&f.p))?;
    Ok(see_other("/admin/regions"))
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
}

async fn region_rename(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, f: StaffForm<NameForm>) -> PageResult {
    ops::rename_region(&state, &f.p, id, &f.form.name)
        .await
        .map_err(page_err(&f.p))?;
    Ok(see_other("/admin/regions"))
}

#[derive(Deserialize)]
struct MoveForm {
    parent_id: i64,
}

async fn region_move(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, f: StaffForm<MoveForm>) -> PageResult {
    ops::move_region(&state, &f.p, id, f.form.parent_id)
        .await
        .map_err(page_err(&f.p))?;
    Ok(see_other("/admin/regions"))
}

async fn region_close(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, f: StaffForm<Empty>) -> PageResult {
    ops::close_region(&state, &f.p, id).await.map_err(page_err(&f.p))?;
    Ok(see_other("/admin/regions"))
}

struct WindowRow {
    id: i64,
    number: String,
    name: String,
    kind_label: &'static str,
    closed: bool,
}

struct HallBlock {
    id: i64,
    name: String,
    address: String,
    closed: bool,
    windows: Vec<WindowRow>,
}

struct DeptRow {
    id: i64,
    name: String,
    closed: bool,
}

#[derive(Template)]
#[template(path = "region_detail.html")]
struct RegionDetailPage {
    c: Chrome,
    region: onestop_store::regions::Region,
    region_closed: bool,
    writable: bool,
    halls: Vec<HallBlock>,
    departments: Vec<DeptRow>,
    /// Where a hall or department may move: (region id, label).
    region_targets: Vec<(i64, String)>,
    /// Where a window may move: (hall id, label).
    hall_targets: Vec<(i64, String)>,
}

async fn region_detail(State(state): State<AppState>, PageAuth(p): PageAuth, ApiPath(id): ApiPath<i64>) -> PageResult {
    let err = page_err(&p);
    p.require_any(Permission::StructureBrowse).map_err(&err)?;
    let region = ops::get_region(&state, &p, id).await.map_err(&err)?;
    let writable = p.can(Permission::RegionWrite, &region.region_path());
    let read = state.store.read();
    let mut halls = Vec::new();
    for h in onestop_store::org::halls_in(read, &region.path)
        .await?
        .into_iter()
        .filter(|h| h.region_id == id)
    {
        let windows = onestop_store::org::windows_of_hall(read, h.id)
            .await?
            .into_iter()
            .map(|w| WindowRow {
                kind_label: if w.kind == "general" {
                    "综合窗口"
                } else {
                    "专业窗口"
                },
                closed: w.closed_at.is_some(),
                id: w.id,
                number: w.number,
                name: w.name,
            })
            .collect();
        halls.push(HallBlock {
            closed: h.closed_at.is_some(),
            id: h.id,
            name: h.name,
            address: h.address,
            windows,
        });
    }
    let departments = onestop_store::org::departments_in(read, &region.path)
        .await?
        .into_iter()
        .filter(|d| d.region_id == id)
        .map(|d| DeptRow {
            closed: d.closed_at.is_some(),
            id: d.id,
            name: d.name,
        })
        .collect();
    let mut region_targets = Vec::new();
    let mut hall_targets = Vec::new();
    for scope in p.scopes(Permission::RegionWrite) {
        for r in onestop_store::regions::subtree(read, scope.as_str()).await? {
            if r.is_open() {
                region_targets.push((r.id, format!("{} {}", r.code, r.name)));
            }
        }
        for h in onestop_store::org::halls_in(read, scope.as_str()).await? {
            if h.closed_at.is_none() {
                hall_targets.push((h.id, h.name));
            }
        }
    }
    let page = RegionDetailPage {
        c: Chrome::for_principal(&p, "/admin/regions"),
        region_closed: region.closed_at.is_some(),
        region_targets,
        hall_targets,
        region,
        writable,
        halls,
        departments,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct HallForm {
    region_id: i64,
    name: String,
    #[serde(default)]
    address: String,
}

async fn hall_create(State(state): State<AppState>, f: StaffForm<HallForm>) -> PageResult {
    let h = ops::create_hall(&state, &f.p, f.form.region_id, &f.form.name, &f.form.address)
        .await
        .map_err(page_err(&f.p))?;
    Ok(see_other(&format!("/admin/regions/{}", h.region_id)))
}

#[derive(Deserialize)]
struct DeptForm {
    region_id: i64,
    name: String,
}

async fn department_create(State(state): State<AppState>, f: StaffForm<DeptForm>) -> PageResult {
    let d = ops::create_department(&state, &f.p, f.form.region_id, &f.form.name)
        .await
        .map_err(page_err(&f.p))?;
    Ok(see_other(&format!("/admin/regions/{}", d.region_id)))
}

#[derive(Deserialize)]
struct WindowForm {
    hall_id: i64,
    number: String,
    name: String,
    kind: String,
}

async fn window_create(State(state): State<AppState>, f: StaffForm<WindowForm>) -> PageResult {
    let input = ops::WindowInput {
        hall_id: f.form.hall_id,
        number: &f.form.number,
        name: &f.form.name,
        kind: &f.form.kind,
        department_id: None,
    };
    ops::create_window(&state, &f.p, input).await.map_err(page_err(&f.p))?;
    let h = onestop_store::org::hall(state.store.read(), f.form.hall_id).await?;
    Ok(see_other(&format!("/admin/regions/{}", h.region_id)))
}

fn parse_unit(raw: &str) -> Result<Unit, ApiError> {
    match raw {
        "halls" => Ok(Unit::Hall),
        "departments" => Ok(Unit::Department),
        "windows" => Ok(Unit::Window),
        _ => Err(ApiError::not_found()),
    }
}

async fn unit_region_id(state: &AppState, unit: Unit, id: i64) -> Result<i64, PageError> {
    let read = state.store.read();
    Ok(match unit {
        Unit::Hall => onestop_store::org::hall(read, id).await?.region_id,
        Unit::Department => onestop_store::org::department(read, id).await?.region_id,
        Unit::Window => {
            let w = onestop_store::org::window(read, id).await?;
            onestop_store::org::hall(read, w.hall_id).await?.region_id
        }
    })
}

async fn unit_rename(
    State(state): State<AppState>,
    ApiPath((unit, id)): ApiPath<(String, i64)>,
    f: StaffForm<NameForm>,
) -> PageResult {
    let err = page_err(&f.p);
    let unit = parse_unit(&unit).map_err(&err)?;
    ops::rename_unit(&state, &f.p, unit, id, &f.form.name)
        .await
        .map_err(&err)?;
    Ok(see_other(&format!(
        "/admin/regions/{}",
        unit_region_id(&state, unit, id).await?
    )))
}

#[derive(Deserialize)]
struct UnitMoveForm {
    to: i64,
}

async fn unit_move(
    State(state): State<AppState>,
    ApiPath((unit, id)): ApiPath<(String, i64)>,
    f: StaffForm<UnitMoveForm>,
) -> PageResult {
    let err = page_err(&f.p);
    let unit = parse_unit(&unit).map_err(&err)?;
    ops::move_unit(&state, &f.p, unit, id, f.form.to).await.map_err(&err)?;
    Ok(see_other(&format!(
        "/admin/regions/{}",
        unit_region_id(&state, unit, id).await?
    )))
}

async fn unit_close(
    State(state): State<AppState>,
    ApiPath((unit, id)): ApiPath<(String, i64)>,
    f: StaffForm<Empty>,
) -> PageResult {
    let err = page_err(&f.p);
    let unit = parse_unit(&unit).map_err(&err)?;
    ops::close_unit(&state, &f.p, unit, id).await.map_err(&err)?;
    Ok(see_other(&format!(
        "/admin/regions/{}",
        unit_region_id(&state, unit, id).await?
    )))
}

// ---- users -----------------------------------------------------------------------------------

struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    grants: Vec<String>,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<UserRow>,
    writable: bool,
    roles: Vec<(&'static str, &'static str)>,
    regions: Vec<(i64, String)>,
    notice: Option<String>,
}

async fn users_page(State(state): State<AppState>, PageAuth(p): PageAuth) -> PageResult {
    users_page_with(&state, p, None).await
}

async fn users_page_with(state: &AppState, p: Principal, notice: Option<String>) -> PageResult {
    let err = page_err(&p);
    let list = ops::list_users(state, &p).await.map_err(&err)?;
    let mut users = Vec::new();
    for u in list {
        let grants = onestop_store::users::grants(state.store.read(), u.id)
            .await?
            .into_iter()
            .map(|g| {
                format!(
                    "{} · {}",
                    Role::parse(&g.role).map(|r| r.label()).unwrap_or("?"),
                    g.region_name
                )
            })
            .collect();
        users.push(UserRow {
            disabled: u.is_disabled(),
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            grants,
        });
    }
    let writable = p.require_any(Permission::StaffWrite).is_ok();
    let mut regions = Vec::new();
    for scope in p.scopes(Permission::StaffWrite) {
        for r in onestop_store::regions::subtree(state.store.read(), scope.as_str()).await? {
            if r.is_open() {
                regions.push((r.id, format!("{} {}", r.code, r.name)));
            }
        }
    }
    let is_sysadmin = p.grants.iter().any(|g| g.role == Role::SystemAdmin);
    let roles = Role::ALL
        .into_iter()
        .filter(|r| *r != Role::SystemAdmin || is_sysadmin)
        .map(|r| (r.as_str(), r.label()))
        .collect();
    let page = UsersPage {
        c: Chrome::for_principal(&p, "/admin/users"),
        users,
        writable,
        roles,
        regions,
        notice,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct UserForm {
    username: String,
    display_name: String,
    password: String,
    role: String,
    region_id: i64,
}

async fn user_create(State(state): State<AppState>, f: StaffForm<UserForm>) -> PageResult {
    let input = ops::NewUserInput {
        username: f.form.username,
        display_name: f.form.display_name,
        password: f.form.password,
        password_hash: None,
        hall_id: None,
        department_id: None,
        grants: vec![(f.form.role, f.form.region_id)],
    };
    ops::create_user(&state, &f.p, input).await.map_err(page_err(&f.p))?;
    Ok(see_other("/admin/users"))
}

async fn user_disable(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, f: StaffForm<Empty>) -> PageResult {
    ops::set_user_disabled(&state, &f.p, id, true)
        .await
        .map_err(page_err(&f.p))?;
    Ok(see_other("/admin/users"))
}

async fn user_enable(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, f: StaffForm<Empty>) -> PageResult {
    ops::set_user_disabled(&state, &f.p, id, false)
        .await
        .map_err(page_err(&f.p))?;
    Ok(see_other("/admin/users"))
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

async fn user_reset(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    f: StaffForm<PasswordForm>,
) -> PageResult {
    ops::reset_password(&state, &f.p, id, &f.form.password)
        .await
        .map_err(page_err(&f.p))?;
    users_page_with(&state, f.p, Some("密码已重置，该人员需用新密码重新登录".into())).await
}

// ---- devices ---------------------------------------------------------------------------------

struct DeviceRow {
    id: i64,
    name: String,
    kind_label: &'static str,
    hall_name: String,
    paired: bool,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    c: Chrome,
    devices: Vec<DeviceRow>,
    halls: Vec<(i64, String)>,
    pairing_code: Option<String>,
}

async fn devices_page(State(state): State<AppState>, PageAuth(p): PageAuth) -> PageResult {
    devices_page_with(&state, p, None).await
}

async fn devices_page_with(state: &AppState, p: Principal, pairing_code: Option<String>) -> PageResult {
    let err = page_err(&p);
    let list = ops::list_devices(state, &p).await.map_err(&err)?;
    let mut halls = Vec::new();
    for scope in p.scopes(Permission::DeviceManage) {
        for h in onestop_store::org::halls_in(state.store.read(), scope.as_str()).await? {
            if h.closed_at.is_none() {
                halls.push((h.id, h.name));
            }
        }
    }
    let mut devices = Vec::new();
    for d in list {
        let hall_name = halls
            .iter()
            .find(|h| h.0 == d.hall_id)
            .map(|h| h.1.clone())
            .unwrap_or_default();
        devices.push(DeviceRow {
            kind_label: onestop_store::devices::kind_label(&d.kind),
            paired: d.paired_at.is_some(),
            revoked: d.revoked_at.is_some(),
            id: d.id,
            name: d.name,
            hall_name,
        });
    }
    let page = DevicesPage {
        c: Chrome::for_principal(&p, "/admin/devices"),
        devices,
        halls,
        pairing_code,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct DeviceForm {
    hall_id: i64,
    kind: String,
    name: String,
}

async fn device_register(State(state): State<AppState>, f: StaffForm<DeviceForm>) -> PageResult {
    let (_, code) = ops::register_device(&state, &f.p, f.form.hall_id, &f.form.kind, &f.form.name, None)
        .await
        .map_err(page_err(&f.p))?;
    devices_page_with(&state, f.p, Some(code)).await
}

async fn device_revoke(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, f: StaffForm<Empty>) -> PageResult {
    ops::revoke_device(&state, &f.p, id).await.map_err(page_err(&f.p))?;
    Ok(see_other("/admin/devices"))
}

async fn device_repair(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, f: StaffForm<Empty>) -> PageResult {
    let (_, code) = ops::new_pairing_code(&state, &f.p, id).await.map_err(page_err(&f.p))?;
    devices_page_with(&state, f.p, Some(code)).await
}

#[derive(Template)]
#[template(path = "device_pair.html")]
struct PairPage {
    c: Chrome,
    error: Option<String>,
}

async fn pair_page(State(state): State<AppState>) -> Response {
    let csrf = random_token();
    let mut res = render(
        StatusCode::OK,
        &PairPage {
            c: Chrome::anonymous(csrf.clone()),
            error: None,
        },
    );
    append_cookie(&mut res, &csrf_cookie(&state, &csrf));
    res
}

#[derive(Deserialize)]
struct PairForm {
    csrf: Option<String>,
    pairing_code: String,
}

async fn pair_submit(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = client_ip(&state, &parts).map(|c| c.to_string()).unwrap_or_default();
    let again = |status: StatusCode, msg: String| {
        let csrf = random_token();
        let mut res = render(
            status,
            &PairPage {
                c: Chrome::anonymous(csrf.clone()),
                error: Some(msg),
            },
        );
        append_cookie(&mut res, &csrf_cookie(&state, &csrf));
        res
    };
    let Some(form) = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| serde_urlencoded::from_bytes::<PairForm>(&b).ok())
    else {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "请输入配对码".into());
    };
    if !double_submit_ok(&parts.headers, form.csrf.as_deref()) {
        return again(StatusCode::FORBIDDEN, "页面已过期，请重试".into());
    }
    if let Err(e) = crate::auth::rate_limit(
        &state,
        format!("pair:addr:{client}"),
        30,
        jiff::SignedDuration::from_mins(15),
    )
    .await
    {
        return again(e.status, e.message);
    }
    match ops::pair_device(&state, &form.pairing_code).await {
        Ok((_, token)) => {
            let mut res = see_other("/device");
            append_cookie(&mut res, &device_cookie(&state, &token));
            append_cookie(&mut res, &clear_cookie(&state, CSRF_COOKIE));
            res
        }
        Err(e) => again(e.status, e.message),
    }
}

#[derive(Template)]
#[template(path = "device_home.html")]
struct DeviceHomePage {
    c: Chrome,
    kind_label: &'static str,
    name: String,
    hall_name: String,
    /// The device's own full-screen page (kiosk, board), opened after a moment.
    next: Option<&'static str>,
}

async fn device_home(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    match crate::auth::DeviceAuth::from_request_parts(&mut parts, &state).await {
        Ok(crate::auth::DeviceAuth(d)) => {
            let hall_name = onestop_store::org::hall(state.store.read(), d.hall_id)
                .await
                .map(|h| h.name)
                .unwrap_or_default();
            let page = DeviceHomePage {
                c: Chrome::anonymous(String::new()),
                kind_label: onestop_store::devices::kind_label(&d.kind),
                name: d.name,
                hall_name,
                next: match d.kind.as_str() {
                    "kiosk" => Some("/device/kiosk"),
                    "board" => Some("/device/board"),
                    _ => None,
                },
            };
            render(StatusCode::OK, &page)
        }
        Err(e) if e.code == "device_unpaired" => see_other("/device/pair"),
        Err(e) => {
            let mut res = PageError::from(e).into_response();
            append_cookie(&mut res, &clear_cookie(&state, DEVICE_COOKIE));
            res
        }
    }
}

// ---- audit -----------------------------------------------------------------------------------

/// Audit rows within the principal's audit scope (shared with the API).
pub async fn audit_rows(
    state: &AppState,
    p: &Principal,
    actor: Option<String>,
    action: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    limit: i64,
) -> ApiResult<Vec<onestop_store::audit::AuditRow>> {
    let scopes = p.scope_strings(Permission::AuditRead);
    if scopes.is_empty() {
        return Err(ApiError::forbidden());
    }
    // The system chain (changes tied to no region) is for auditors granted at a root.
    let include_system = p.scopes(Permission::AuditRead).iter().any(|s| s.ids().len() <= 1);
    let q = onestop_store::audit::AuditQuery {
        region_paths: scopes,
        include_system,
        actor: actor.filter(|a| !a.trim().is_empty()).map(|a| a.trim().to_owned()),
        action: action.filter(|a| !a.trim().is_empty()).map(|a| a.trim().to_owned()),
        from_ms: from,
        to_ms: to,
        limit,
    };
    Ok(state.store.audit_search(&q).await?)
}

struct AuditView {
    at: String,
    actor: String,
    action: String,
    entity: String,
    entity_id: String,
    detail: String,
    region: String,
    seq: i64,
    digest: String,
    digest_short: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    entries: Vec<AuditView>,
    actor: String,
    action: String,
    from: String,
    to: String,
}

#[derive(Deserialize)]
struct AuditForm {
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Shows a stored time as 2026年3月18日 09:05:03 (Asia/Shanghai).
pub fn show_time(ms: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
    let z = onestop_store::ts(ms).to_zoned(tz);
    format!(
        "{}年{}月{}日 {:02}:{:02}:{:02}",
        z.year(),
        z.month(),
        z.day(),
        z.hour(),
        z.minute(),
        z.second()
    )
}

fn day_start_ms(date: &str) -> Option<i64> {
    let d: jiff::civil::Date = date.parse().ok()?;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
    Some(d.to_zoned(tz).ok()?.timestamp().as_millisecond())
}

async fn audit_page(State(state): State<AppState>, PageAuth(p): PageAuth, Query(q): Query<AuditForm>) -> PageResult {
    let err = page_err(&p);
    let from = q.from.as_deref().filter(|s| !s.is_empty());
    let to = q.to.as_deref().filter(|s| !s.is_empty());
    let from_ms = match from {
        Some(f) => Some(day_start_ms(f).ok_or_else(|| err(ApiError::validation("date_invalid", "日期格式不正确")))?),
        None => None,
    };
    let to_ms = match to {
        Some(t) => Some(
            day_start_ms(t).ok_or_else(|| err(ApiError::validation("date_invalid", "日期格式不正确")))? + 86_400_000,
        ),
        None => None,
    };
    let rows = audit_rows(&state, &p, q.actor.clone(), q.action.clone(), from_ms, to_ms, 200)
        .await
        .map_err(&err)?;
    let mut names = std::collections::HashMap::new();
    let mut entries = Vec::new();
    for r in rows {
        let region = if r.region_id == 0 {
            "系统".to_owned()
        } else {
            match names.get(&r.region_id) {
                Some(n) => n,
                None => {
                    let n = onestop_store::regions::get(state.store.read(), r.region_id)
                        .await
                        .map(|x| x.name)
                        .unwrap_or_default();
                    names.entry(r.region_id).or_insert(n)
                }
            }
            .clone()
        };
        entries.push(AuditView {
            at: show_time(r.at),
            digest_short: r.digest.chars().take(12).collect(),
            actor: r.actor,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            detail: r.detail,
            region,
            seq: r.seq,
            digest: r.digest,
        });
    }
    let page = AuditPage {
        c: Chrome::for_principal(&p, "/audit"),
        entries,
        actor: q.actor.unwrap_or_default(),
        action: q.action.unwrap_or_default(),
        from: from.unwrap_or_default().to_owned(),
        to: to.unwrap_or_default().to_owned(),
    };
    Ok(render(StatusCode::OK, &page))
}
