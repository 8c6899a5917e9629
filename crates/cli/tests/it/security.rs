//! Sessions, CSRF, API tokens, login limits, the login page, and the operational endpoints:
//! each bad credential or bad request gets its stable error and changes nothing.
use crate::both_backends;
use crate::common::*;
use onestop_web::WebSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The value of the hidden input `name` in a page's HTML.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in page")) + marker.len();
    let len = html[start..].find('"').unwrap();
    html[start..start + len].to_owned()
}

/// A client with no cookie jar that sends exactly the cookie it is given.
fn with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::RequestBuilder {
    TestApp::client().get(app.url(path)).header("cookie", cookie)
}

async fn user_id(app: &TestApp, username: &str) -> i64 {
    let root = app.token("jingjiang.sysadmin").await;
    let users: Vec<Value> = root.get("/api/v1/users").await.json().await.unwrap();
    users.into_iter().find(|u| u["username"] == username).unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// The page is the login form (what a stale session is shown instead of the page it asked for).
fn is_login_page(html: &str) -> bool {
    html.contains("action=\"/login\"") && html.contains("name=\"password\"")
}

both_backends! {
    async fn a_disabled_users_live_session_and_token_stop_at_once(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let clerk_token = app.token("luoping.clerk").await;
        let admin = app.login("luoping.admin").await;
        let id = user_id(&app, "luoping.clerk").await;
        assert_eq!(clerk.get("/api/v1/me").await.status(), StatusCode::OK);

        let res = admin.post(&format!("/api/v1/users/{id}/disable"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["disabled"], true);

        let (status, code) = error_code(clerk.get("/api/v1/me").await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(code == "account_disabled" || code == "session_invalid", "{code}");
        let page = clerk.get("/admin/regions").await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        assert!(is_login_page(&page.text().await.unwrap()));
        assert_eq!(error_code(clerk_token.get("/api/v1/me").await).await, (StatusCode::UNAUTHORIZED, "account_disabled".into()));
        let relogin = TestApp::client()
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": "luoping.clerk", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(relogin).await, (StatusCode::UNAUTHORIZED, "account_disabled".into()));

        // Enabling again does not bring the old session back; the token works again.
        let res = admin.post(&format!("/api/v1/users/{id}/enable"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(clerk.get("/api/v1/me").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(clerk_token.get("/api/v1/me").await.status(), StatusCode::OK);

        // A password reset ends the live sessions too.
        let fresh = app.login("luoping.clerk").await;
        let res = admin.post(&format!("/api/v1/users/{id}/reset-password"), &json!({"password": "a-new-password-1"})).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(error_code(fresh.get("/api/v1/me").await).await, (StatusCode::UNAUTHORIZED, "session_invalid".into()));

        // Nobody disables themselves.
        let me = user_id(&app, "luoping.admin").await;
        let res = admin.post(&format!("/api/v1/users/{me}/disable"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "cannot_disable_self".into()));
    }
}

both_backends! {
    async fn forged_and_expired_sessions_are_refused(app: TestApp) {
        // No cookie: the API asks for a login, a page sends the visitor to it.
        let res = TestApp::client().get(app.url("/api/v1/me")).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "unauthenticated".into()));
        let res = TestApp::client().get(app.url("/admin/regions")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/login?next=/admin/regions");

        // A forged cookie.
        let forged = "onestop_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let res = with_cookie(&app, "/api/v1/me", forged).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "session_invalid".into()));
        let res = with_cookie(&app, "/admin/users", forged).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let cleared = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("onestop_session=;") && c.to_str().unwrap().contains("Max-Age=0"));
        assert!(cleared, "the stale cookie is dropped");
        assert!(is_login_page(&res.text().await.unwrap()));

        // Expiry after 12 h idle; a session in use slides forward.
        let sleeper = app.login("luoping.reviewer").await;
        let busy = app.login("luoping.manager").await;
        app.clock.advance(jiff::SignedDuration::from_hours(11));
        assert_eq!(busy.get("/api/v1/me").await.status(), StatusCode::OK);
        app.clock.advance(jiff::SignedDuration::from_mins(61));
        assert_eq!(error_code(sleeper.get("/api/v1/me").await).await, (StatusCode::UNAUTHORIZED, "session_invalid".into()));
        let page = sleeper.get("/").await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        assert!(is_login_page(&page.text().await.unwrap()));
        assert_eq!(busy.get("/api/v1/me").await.status(), StatusCode::OK, "a session in use stays alive");
    }
}

both_backends! {
    async fn posts_without_their_csrf_token_change_nothing(app: TestApp) {
        let s = app.login("luoping.admin").await;
        let id = app.region_id("990121").await;
        let depts = || async { s.get("/api/v1/departments").await.json::<Vec<Value>>().await.unwrap().len() };
        let before = depts().await;

        // A page form without the token, and with a wrong one.
        let url = app.url(&format!("/admin/regions/{id}/rename"));
        for fields in [vec![("name", "被改名")], vec![("name", "被改名"), ("csrf", "not-the-token")]] {
            let res = s.client.post(&url).form(&fields).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            assert!(res.text().await.unwrap().contains("csrf_failed"));
        }
        let res = s.client.post(app.url("/admin/departments")).form(&[("region_id", id.to_string()), ("name", "偷建部门".into())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // JSON with the session cookie but without the X-CSRF-Token header, or a wrong one.
        let res = s.client.patch(app.url(&format!("/api/v1/regions/{id}"))).json(&json!({"name": "被改名"})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "csrf_failed".into()));
        let res = s
            .client
            .post(app.url("/api/v1/departments"))
            .header("x-csrf-token", "not-the-token")
            .json(&json!({"region_id": id, "name": "偷建部门"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "csrf_failed".into()));
        // Logging out is a state change too.
        let res = s.client.delete(app.url("/api/v1/session")).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "csrf_failed".into()));
        let res = s.client.post(app.url("/logout")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        let r: Value = s.get(&format!("/api/v1/regions/{id}")).await.json().await.unwrap();
        assert_eq!(r["name"], "罗平县");
        assert_eq!(depts().await, before);
        assert_eq!(s.get("/api/v1/me").await.status(), StatusCode::OK, "still logged in");

        // With the token the same form goes through.
        let res = s.form(&format!("/admin/regions/{id}/rename"), &[("name", "罗平县新")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn api_tokens_are_scoped_revocable_and_never_exceed_their_owner(app: TestApp) {
        let s = app.login("jiuan.admin").await;
        let luoping = app.region_id("990121").await;
        let qinghe = app.region_id("990122").await;
        let city = app.region_id("990100").await;
        let province = app.region_id("990000").await;

        // Beyond the owner's grants: a higher role, a region above, another role.
        for (role, region) in [("system_admin", luoping), ("region_admin", province), ("window_clerk", city), ("auditor", luoping)] {
            let res = s.post("/api/v1/tokens", &json!({"name": "t", "grants": [{"role": role, "region_id": region}]})).await;
            assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "grant_not_held".into()), "{role}@{region}");
        }
        let res = s.post("/api/v1/tokens", &json!({"name": "t", "grants": []})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "grants_required".into()));
        let res = s.post("/api/v1/tokens", &json!({"name": "t", "grants": [{"role": "root", "region_id": city}]})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "role_invalid".into()));
        let res = s.post("/api/v1/tokens", &json!({"name": "t", "grants": [{"role": "region_admin", "region_id": city}], "expires_in_days": 0})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "expires_invalid".into()));

        // A token narrowed to 罗平县 acts there only.
        let res = s
            .post("/api/v1/tokens", &json!({"name": "罗平脚本", "grants": [{"role": "region_admin", "region_id": luoping}], "expires_in_days": 1}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = res.json().await.unwrap();
        let secret = created["secret"].as_str().unwrap().to_owned();
        assert!(secret.len() >= 40, "high-entropy secret");
        let token_id = created["token"]["id"].as_i64().unwrap();
        let bearer = Bearer { token: secret, base: app.base.clone(), client: TestApp::client() };
        let regions: Vec<Value> = bearer.get("/api/v1/regions").await.json().await.unwrap();
        assert_eq!(regions.len(), 1);
        assert_eq!(regions[0]["code"], "990121");
        assert_eq!(bearer.patch(&format!("/api/v1/regions/{luoping}"), &json!({"name": "罗平县"})).await.status(), StatusCode::OK);
        assert_eq!(bearer.patch(&format!("/api/v1/regions/{qinghe}"), &json!({"name": "x"})).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(bearer.patch(&format!("/api/v1/regions/{city}"), &json!({"name": "x"})).await.status(), StatusCode::NOT_FOUND);
        // A token does not mint tokens.
        let res = bearer.post("/api/v1/tokens", &json!({"name": "t2", "grants": [{"role": "region_admin", "region_id": luoping}]})).await;
        assert_eq!(error_code(res).await.0, StatusCode::FORBIDDEN);
        // The secret is not stored in the clear.
        let raw = app.db.raw().await;
        let stored: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE id = $1").bind(token_id).fetch_one(&raw).await.unwrap();
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains(&bearer.token));

        // Someone else cannot revoke it; its owner can, and it stops at once.
        let other = app.login("qinghe.admin").await;
        let res = other.client.delete(app.url(&format!("/api/v1/tokens/{token_id}"))).header("x-csrf-token", &other.csrf).send().await.unwrap();
        assert_eq!(error_code(res).await.0, StatusCode::NOT_FOUND);
        assert_eq!(bearer.get("/api/v1/me").await.status(), StatusCode::OK);
        let res = s.client.delete(app.url(&format!("/api/v1/tokens/{token_id}"))).header("x-csrf-token", &s.csrf).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(error_code(bearer.get("/api/v1/me").await).await, (StatusCode::UNAUTHORIZED, "token_invalid".into()));
        let res = s.client.delete(app.url(&format!("/api/v1/tokens/{token_id}"))).header("x-csrf-token", &s.csrf).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "already_revoked".into()));

        // Expiry, and malformed credentials.
        let res = s.post("/api/v1/tokens", &json!({"name": "一天", "grants": [{"role": "region_admin", "region_id": city}], "expires_in_days": 1})).await;
        let day = Bearer { token: res.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned(), base: app.base.clone(), client: TestApp::client() };
        assert_eq!(day.get("/api/v1/me").await.status(), StatusCode::OK);
        app.clock.advance(jiff::SignedDuration::from_hours(25));
        assert_eq!(error_code(day.get("/api/v1/me").await).await, (StatusCode::UNAUTHORIZED, "token_invalid".into()));
        for header in ["Bearer ", "Bearer ost_forged", "Basic dXNlcjpwYXNz", "ost_no_scheme"] {
            let res = TestApp::client().get(app.url("/api/v1/me")).header("authorization", header).send().await.unwrap();
            assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "token_invalid".into()), "{header}");
        }
    }
}

both_backends! {
    async fn login_is_rate_limited_per_account(app: TestApp) {
        let attempt = |user: &'static str, password: &'static str| {
            let url = app.url("/api/v1/session");
            async move {
                TestApp::client().post(url).json(&json!({"username": user, "password": password})).send().await.unwrap()
            }
        };
        for i in 0..10 {
            let res = attempt("luoping.clerk", "wrong-password").await;
            assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "login_failed".into()), "attempt {}", i + 1);
        }
        // The 11th attempt within 15 minutes is refused even with the right password.
        let res = attempt("luoping.clerk", PASSWORD).await;
        assert_eq!(error_code(res).await, (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into()));
        // So is the login page.
        let client = TestApp::client();
        let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        let res = client
            .post(app.url("/login"))
            .form(&[("csrf", hidden(&html, "csrf").as_str()), ("username", "luoping.clerk"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        // Other accounts are not affected, and unknown users answer like wrong passwords.
        assert_eq!(attempt("qinghe.clerk", PASSWORD).await.status(), StatusCode::OK);
        let res = attempt("nobody.here", PASSWORD).await;
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "login_failed".into()));
        // The window passes.
        app.clock.advance(jiff::SignedDuration::from_mins(15));
        assert_eq!(attempt("luoping.clerk", PASSWORD).await.status(), StatusCode::OK);
    }
}

async fn login_from(app: &TestApp, forwarded: Option<&str>, password: &str) -> StatusCode {
    let mut req = TestApp::client()
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "luoping.clerk", "password": password}));
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap().status()
}

/// Per-address limits: behind a trusted proxy each forwarded client counts apart; from an
/// untrusted peer the header is ignored.
async fn per_address_limits(db: Db) {
    let localhost: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let behind_proxy = TestApp::spawn_with(
        db,
        WebSettings {
            login_limit_per_address: 3,
            trusted_proxies: vec![localhost],
            ..Default::default()
        },
    )
    .await;
    let app = &behind_proxy;
    // Successful logins do not count: a whole hall may sit behind one address.
    for _ in 0..5 {
        assert_eq!(login_from(app, Some("10.0.0.1"), PASSWORD).await, StatusCode::OK);
    }
    for _ in 0..3 {
        assert_eq!(
            login_from(app, Some("10.0.0.1"), "wrong-password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(app, Some("10.0.0.1"), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client cannot escape by prepending its own X-Forwarded-For: the proxy appends the real one.
    assert_eq!(
        login_from(app, Some("6.6.6.6, 10.0.0.1"), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(login_from(app, Some("10.0.0.2"), PASSWORD).await, StatusCode::OK);
    assert_eq!(
        login_from(app, Some("10.0.0.3, 127.0.0.1"), PASSWORD).await,
        StatusCode::OK,
        "own proxies are skipped"
    );

    let direct = TestApp::spawn_with(
        db,
        WebSettings {
            login_limit_per_address: 3,
            ..Default::default()
        },
    )
    .await;
    let app = &direct;
    for n in 1..=3 {
        let f = format!("10.0.1.{n}");
        assert_eq!(
            login_from(app, Some(&f), "wrong-password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(app, Some("10.0.1.4"), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
    assert_eq!(login_from(app, None, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
}

mod login_is_rate_limited_per_client_address {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        per_address_limits(Db::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if std::env::var("ONESTOP_TEST_PG").is_err() {
            eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL variant not run");
            return;
        }
        per_address_limits(Db::Postgres).await;
    }
}

both_backends! {
    async fn the_login_page_checks_its_csrf_cookie_and_never_redirects_away(app: TestApp) {
        let client = TestApp::client();
        let res = client.get(app.url("/login?next=/admin/regions")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = res.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_owned()).find(|c| c.starts_with("onestop_csrf=")).unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let html = res.text().await.unwrap();
        assert_eq!(hidden(&html, "next"), "/admin/regions");
        let csrf = hidden(&html, "csrf");

        // Wrong password: the form again, 401, with the message.
        let res = client
            .post(app.url("/login"))
            .form(&[("csrf", csrf.as_str()), ("username", "luoping.clerk"), ("password", "wrong-password"), ("next", "/admin/regions")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let html = res.text().await.unwrap();
        assert!(html.contains("用户名或密码错误"));
        assert!(html.contains("value=\"luoping.clerk\""), "the username is kept");
        let csrf = hidden(&html, "csrf");

        // Without the cookie (another browser) or without the field: refused.
        let res = TestApp::client()
            .post(app.url("/login"))
            .form(&[("csrf", csrf.as_str()), ("username", "luoping.clerk"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = client.post(app.url("/login")).form(&[("username", "luoping.clerk"), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let csrf = hidden(&res.text().await.unwrap(), "csrf");

        // An open-redirect attempt lands on the home page, logged in.
        let res = client
            .post(app.url("/login"))
            .form(&[("csrf", csrf.as_str()), ("username", "luoping.clerk"), ("password", PASSWORD), ("next", "//evil.example")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/");
        let session = res.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_owned()).find(|c| c.starts_with("onestop_session=")).unwrap();
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
        let home = client.get(app.url("/")).send().await.unwrap();
        assert_eq!(home.status(), StatusCode::OK);
        let html = home.text().await.unwrap();
        assert!(html.contains("罗平县"), "the header shows the region");

        // Other foreign targets, and a local one that is kept.
        for (next, lands) in [("https://evil.example/", "/"), ("/\\evil.example", "/"), ("/admin/regions", "/admin/regions")] {
            let c = TestApp::client();
            let html = c.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
            let res = c
                .post(app.url("/login"))
                .form(&[("csrf", hidden(&html, "csrf").as_str()), ("username", "luoping.clerk"), ("password", PASSWORD), ("next", next)])
                .send()
                .await
                .unwrap();
            assert_eq!(res.headers()["location"], lands, "next={next}");
        }

        // Logging out through the header's form ends the session.
        let csrf = hidden(&html, "csrf");
        let res = client.post(app.url("/logout")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/login");
        let res = client.get(app.url("/")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn health_metrics_and_unknown_routes(app: TestApp) {
        let c = TestApp::client();
        let res = c.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = c.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let text = c.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("onestop_http_requests_total{"), "{text}");
        assert!(text.contains("route=\"/readyz\""), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");

        let res = c.get(app.url("/api/v1/no-such-thing")).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "route_not_found".into()));
        for (method, path) in [("DELETE", "/api/v1/me"), ("PUT", "/api/v1/regions"), ("GET", "/api/v1/devices/pair"), ("POST", "/healthz")] {
            let res = c.request(method.parse().unwrap(), app.url(path)).send().await.unwrap();
            assert_eq!(error_code(res).await, (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into()), "{method} {path}");
        }
        let res = c.get(app.url("/no-such-page")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.text().await.unwrap().contains("route_not_found"));
        let res = c.get(app.url("/assets/css/onestop.css")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    }
}

/// Every route of `api::router()`, kept by hand. `/openapi.json` serves the document itself and
/// is not listed in it.
const API_ROUTES: &[(&str, &str)] = &[
    ("post", "/session"),
    ("delete", "/session"),
    ("get", "/me"),
    ("get", "/regions"),
    ("post", "/regions"),
    ("get", "/regions/{id}"),
    ("patch", "/regions/{id}"),
    ("post", "/regions/{id}/move"),
    ("post", "/regions/{id}/close"),
    ("get", "/halls"),
    ("post", "/halls"),
    ("get", "/halls/{id}"),
    ("patch", "/halls/{id}"),
    ("post", "/halls/{id}/move"),
    ("post", "/halls/{id}/close"),
    ("get", "/halls/{id}/windows"),
    ("get", "/departments"),
    ("post", "/departments"),
    ("get", "/departments/{id}"),
    ("patch", "/departments/{id}"),
    ("post", "/departments/{id}/move"),
    ("post", "/departments/{id}/close"),
    ("post", "/windows"),
    ("get", "/windows/{id}"),
    ("patch", "/windows/{id}"),
    ("post", "/windows/{id}/move"),
    ("post", "/windows/{id}/close"),
    ("get", "/users"),
    ("post", "/users"),
    ("get", "/users/{id}"),
    ("post", "/users/{id}/disable"),
    ("post", "/users/{id}/enable"),
    ("post", "/users/{id}/reset-password"),
    ("get", "/tokens"),
    ("post", "/tokens"),
    ("delete", "/tokens/{id}"),
    ("get", "/devices"),
    ("post", "/devices"),
    ("post", "/devices/{id}/pairing-code"),
    ("post", "/devices/{id}/revoke"),
    ("post", "/devices/pair"),
    ("get", "/device"),
    ("get", "/audit"),
    ("get", "/queue/halls/{id}/floor"),
    ("get", "/queue/halls/{id}/stats"),
    ("get", "/queue/halls/{id}/events"),
    ("get", "/queue/halls/{id}/categories"),
    ("post", "/queue/halls/{id}/categories"),
    ("post", "/queue/halls/{id}/tickets"),
    ("get", "/queue/halls/{id}/slots"),
    ("put", "/queue/halls/{id}/slots"),
    ("post", "/queue/windows/{id}/open"),
    ("post", "/queue/windows/{id}/pause"),
    ("post", "/queue/windows/{id}/resume"),
    ("post", "/queue/windows/{id}/close"),
    ("put", "/queue/windows/{id}/categories"),
    ("post", "/queue/windows/{id}/call-next"),
    ("post", "/queue/windows/{id}/walk-in"),
    ("post", "/queue/windows/{id}/tickets/{ticket_id}/{action}"),
    ("get", "/queue/kiosk/categories"),
    ("post", "/queue/kiosk/tickets"),
    ("post", "/queue/kiosk/check-in"),
    ("get", "/queue/board"),
    ("get", "/queue/board/events"),
    ("get", "/queue/tickets/{code}"),
    ("post", "/queue/appointments"),
    ("post", "/queue/appointments/{code}/cancel"),
    ("post", "/certificates/verify"),
    ("get", "/regions/{id}/keys"),
    ("post", "/regions/{id}/keys/rotate"),
    ("post", "/uploads"),
    // catalogue (issue 3)
    ("get", "/catalogue/services"),
    ("post", "/catalogue/services"),
    ("get", "/catalogue/services/{id}"),
    ("put", "/catalogue/services/{id}/draft"),
    ("get", "/catalogue/versions/{id}"),
    ("post", "/catalogue/versions/{id}/publish"),
    ("post", "/catalogue/versions/{id}/withdraw"),
    ("get", "/catalogue/regions/{id}/implementations"),
    ("get", "/catalogue/regions/{id}/implementations/{service_id}"),
    ("patch", "/catalogue/regions/{id}/implementations/{service_id}"),
    ("post", "/catalogue/regions/{id}/imports"),
    ("post", "/catalogue/imports/{id}/commit"),
    ("get", "/catalogue/regions/{id}/export.xlsx"),
    ("get", "/catalogue/regions/{id}/export/{sheet}"),
    ("get", "/catalogue/bundles"),
    ("post", "/catalogue/bundles"),
    ("get", "/guides"),
    ("get", "/guides/{region}/{base_code}"),
    ("post", "/guides/{region}/{base_code}/validate"),
    ("get", "/guides/{region}/bundles/{id}"),
    // region settings
    ("get", "/regions/{id}/settings"),
    ("get", "/regions/{id}/settings/{key}"),
    ("put", "/regions/{id}/settings/{key}"),
    ("delete", "/regions/{id}/settings/{key}"),
    // workflows and calendars (issue 4)
    ("get", "/workflows/regions/{id}"),
    ("post", "/workflows/regions/{id}/check"),
    ("get", "/workflows/regions/{id}/services/{service_id}"),
    ("put", "/workflows/regions/{id}/services/{service_id}"),
    ("delete", "/workflows/regions/{id}/services/{service_id}"),
    ("get", "/workflows/regions/{id}/bundles/{bundle_id}"),
    ("put", "/workflows/regions/{id}/bundles/{bundle_id}"),
    ("delete", "/workflows/regions/{id}/bundles/{bundle_id}"),
    ("get", "/workflows/versions/{id}"),
    ("get", "/regions/{id}/calendar"),
    ("get", "/regions/{id}/calendar/deadline"),
    ("post", "/regions/{id}/calendar/closures"),
    ("delete", "/regions/{id}/calendar/closures/{date}"),
    ("get", "/regions/{id}/calendar/years"),
    ("post", "/regions/{id}/calendar/years"),
    ("delete", "/regions/{id}/calendar/years/{year}"),
    ("get", "/calendar/years"),
    ("post", "/calendar/years"),
    ("delete", "/calendar/years/{year}"),
    // rollout
    ("post", "/rollout/preview"),
    ("post", "/rollout/runs"),
    ("get", "/rollout/runs/{id}"),
    ("post", "/rollout/runs/{id}/resume"),
    ("get", "/regions/{id}/rollout/runs"),
    ("get", "/regions/{id}/rollout/template"),
    ("put", "/regions/{id}/rollout/template"),
    ("delete", "/regions/{id}/rollout/template"),
    // ratings (issue 6)
    ("get", "/ratings/tokens/{token}"),
    ("post", "/ratings/tokens/{token}"),
    ("get", "/ratings/tickets/{code}"),
    ("post", "/ratings/tickets/{code}"),
    ("get", "/ratings/cases/{code}"),  // ratecase
    ("post", "/ratings/cases/{code}"), // ratecase
    ("get", "/ratings/pad"),
    ("get", "/ratings/pad/events"),
    ("post", "/ratings/pad/{token_id}"),
    ("get", "/ratings/halls/{id}/followups"),
    ("get", "/ratings/followups/{id}"),
    ("post", "/ratings/followups/{id}/appeal"),
    ("post", "/ratings/followups/{id}/steps/{step}"),
    ("get", "/ratings/dashboard"),
    ("get", "/ratings/dashboard/export/{format}"),
    // cases
    ("get", "/cases"),
    ("post", "/cases"),
    ("post", "/cases/phone-codes"),
    ("post", "/cases/follow"),
    ("get", "/cases/{id}"),
    ("post", "/cases/{id}/intake"),
    ("post", "/cases/{id}/act"),
    ("post", "/cases/{id}/clock"),
    ("post", "/cases/{id}/reveal"),
    ("get", "/inbox"),
    ("post", "/case-steps/{id}/claim"),
    ("post", "/case-steps/{id}/assign"),
    ("post", "/case-steps/reassign"),
    // casecore
    ("get", "/cases/{id}/materials"),
    ("post", "/cases/{id}/materials"),
    ("get", "/cases/{id}/visits"),
    ("post", "/cases/{id}/visits"),
    ("get", "/case-steps/warnings"),
    ("get", "/case-delegations"),
    ("post", "/case-delegations"),
    // score
    ("get", "/supervision/scorecards"),
    ("get", "/supervision/scorecards/export/{format}"),
    ("post", "/supervision/scorecards/freeze"),
    ("get", "/supervision/bigscreen"),
    ("get", "/public/satisfaction"),
    ("get", "/public/satisfaction/{id}"),
];

/// Public reads that answer an anonymous request with data, by design.
const PUBLIC_READS: &[(&str, &str)] = &[
    ("get", "/queue/halls/{id}/slots"),
    ("get", "/guides"),
    // score
    ("get", "/public/satisfaction"),
    ("get", "/public/satisfaction/{id}"),
];

both_backends! {
    async fn the_openapi_document_lists_every_route_the_server_has(app: TestApp) {
        let res = TestApp::client().get(app.url("/api/v1/openapi.json")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let doc: Value = res.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        let routed: BTreeSet<(String, String)> =
            API_ROUTES.iter().map(|(m, p)| ((*m).to_owned(), format!("/api/v1{p}"))).collect();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(missing.is_empty() && extra.is_empty(), "undocumented routes: {missing:?}; documented but not in the list: {extra:?}");

        // And every documented operation is really served (no route_not_found or 405), and
        // every error it gives has the documented shape.
        let c = TestApp::client();
        for (method, path) in &documented {
            let url = app.url(&path.replace("{id}", "1"));
            let res = c.request(method.to_uppercase().parse().unwrap(), url).json(&json!({})).send().await.unwrap();
            let status = res.status();
            if PUBLIC_READS.iter().any(|(m, p)| *m == method && format!("/api/v1{p}") == *path) {
                assert!(status.is_success(), "{method} {path} answered {status}");
                continue;
            }
            assert!(status.is_client_error(), "{method} {path} answered {status} to an anonymous empty request");
            let (_, code) = error_code(res).await;
            assert!(code != "route_not_found" && code != "method_not_allowed", "{method} {path}: {code}");
        }
    }
}

both_backends! {
    async fn bad_input_never_gives_a_server_error(app: TestApp) {
        let admin = app.token("jiuan.admin").await;
        let s = app.login("jiuan.admin").await;
        let city = app.region_id("990100").await;
        let cases: Vec<(reqwest::Response, StatusCode, &str)> = vec![
            (admin.get("/api/v1/regions/abc").await, StatusCode::NOT_FOUND, "not_found"),
            (admin.get("/api/v1/regions/99999999999999999999").await, StatusCode::NOT_FOUND, "not_found"),
            (admin.get("/api/v1/regions/999999").await, StatusCode::NOT_FOUND, "not_found"),
            (admin.get("/api/v1/audit?limit=abc").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_query"),
            (admin.get("/api/v1/audit?bogus=1").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_query"),
            (admin.patch(&format!("/api/v1/regions/{city}"), &json!({"name": "x".repeat(65)})).await, StatusCode::UNPROCESSABLE_ENTITY, "name_too_long"),
            (admin.patch(&format!("/api/v1/regions/{city}"), &json!({"name": "a\u{7}b"})).await, StatusCode::UNPROCESSABLE_ENTITY, "name_invalid"),
            (admin.post("/api/v1/users", &json!({"username": "x", "display_name": "x", "password": "x", "grants": []})).await, StatusCode::UNPROCESSABLE_ENTITY, ""),
            (admin.post("/api/v1/devices", &json!({"hall_id": 1, "kind": "toaster", "name": "x"})).await, StatusCode::UNPROCESSABLE_ENTITY, "device_kind_invalid"),
        ];
        for (i, (res, status, code)) in cases.into_iter().enumerate() {
            let (got, got_code) = error_code(res).await;
            assert_eq!(got, status, "case {i}: {got_code}");
            if !code.is_empty() {
                assert_eq!(got_code, code, "case {i}");
            }
        }
        let res = TestApp::client()
            .post(app.url("/api/v1/regions"))
            .bearer_auth(&admin.token)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type".into()));
        // Pages: a form that does not fit, and a path that is not a number.
        let res = s.form("/admin/departments", &[("region_id", "not-a-number"), ("name", "x")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("invalid_form"));
        let res = s.get("/admin/regions/abc").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

both_backends! {
    async fn a_region_admin_cannot_take_over_a_system_admin(app: TestApp) {
        let admin = app.login("luoping.admin").await;
        let sysadmin = user_id(&app, "luoping.sysadmin").await;
        let res = admin.post(&format!("/api/v1/users/{sysadmin}/reset-password"), &json!({"password": "taken-over-123"})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        let res = admin.post(&format!("/api/v1/users/{sysadmin}/disable"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        let res = admin.form(&format!("/admin/users/{sysadmin}/reset-password"), &[("password", "taken-over-123")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.login("luoping.sysadmin").await.get("/api/v1/me").await.status(), StatusCode::OK);
        // The admin still manages the rest of the county's staff; a system admin above manages this one.
        let clerk = user_id(&app, "luoping.clerk").await;
        let res = admin.post(&format!("/api/v1/users/{clerk}/reset-password"), &json!({"password": "a-new-password-1"})).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let root = app.login("jingjiang.sysadmin").await;
        let res = root.post(&format!("/api/v1/users/{sysadmin}/disable"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

both_backends! {
    /// Separation of duties: an administrator neither appoints nor silences who audits them.
    async fn a_region_admin_cannot_appoint_or_silence_an_auditor(app: TestApp) {
        let admin = app.login("luoping.admin").await;
        let county = app.region_id("990121").await;
        let new_auditor = json!({"username": "luoping.auditor2", "display_name": "新审计员", "password": "auditor-pass-1",
            "grants": [{"role": "auditor", "region_id": county}]});
        let res = admin.post("/api/v1/users", &new_auditor).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        let auditor = user_id(&app, "luoping.auditor").await;
        let res = admin.post(&format!("/api/v1/users/{auditor}/disable"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        let res = admin.post(&format!("/api/v1/users/{auditor}/reset-password"), &json!({"password": "taken-over-123"})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        // A system administrator may.
        let root = app.login("jingjiang.sysadmin").await;
        let res = root.post("/api/v1/users", &new_auditor).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
}
