//! Hall devices: a hall manager registers a kiosk, board or pad, the device pairs with a one-time
//! code and gets a credential of its own; revoking or re-pairing ends it; devices and staff never
//! stand in for each other; a flooding kiosk is limited on its own, not by its hall's address.
use crate::both_backends;
use crate::common::*;
use crate::security::hidden;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A hall device talking to the API with its credential.
struct Device {
    credential: String,
    base: String,
}

impl Device {
    async fn me(&self) -> reqwest::Response {
        TestApp::client()
            .get(format!("{}/api/v1/device", self.base))
            .header("authorization", format!("Device {}", self.credential))
            .send()
            .await
            .unwrap()
    }
}

async fn pair(app: &TestApp, code: &str) -> reqwest::Response {
    TestApp::client()
        .post(app.url("/api/v1/devices/pair"))
        .json(&json!({"pairing_code": code}))
        .send()
        .await
        .unwrap()
}

async fn paired(app: &TestApp, code: &str) -> Device {
    let res = pair(app, code).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    Device {
        credential: body["credential"].as_str().unwrap().to_owned(),
        base: app.base.clone(),
    }
}

/// The hall a manager runs (the only one they see).
async fn own_hall(s: &Session) -> i64 {
    let halls: Vec<Value> = s.get("/api/v1/halls").await.json().await.unwrap();
    assert_eq!(halls.len(), 1);
    halls[0]["id"].as_i64().unwrap()
}

/// Registers a device; returns its id and pairing code.
async fn register(s: &Session, hall: i64, kind: &str, name: &str) -> (i64, String) {
    let res = s
        .post("/api/v1/devices", &json!({"hall_id": hall, "kind": kind, "name": name}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["device"]["paired"], false);
    (
        body["device"]["id"].as_i64().unwrap(),
        body["pairing_code"].as_str().unwrap().to_owned(),
    )
}

both_backends! {
    async fn a_kiosk_pairs_is_repaired_and_revoked(app: TestApp) {
        let manager = app.login("luoping.manager").await;
        let hall = own_hall(&manager).await;
        let (id, code) = register(&manager, hall, "kiosk", "一号取号机").await;
        assert_eq!(code.len(), 8);

        // Codes are typed by hand: case and spaces do not matter. Each works once.
        let kiosk = paired(&app, &format!("  {}  ", code.to_lowercase())).await;
        let res = kiosk.me().await;
        assert_eq!(res.status(), StatusCode::OK);
        let me: Value = res.json().await.unwrap();
        assert_eq!((me["id"].as_i64(), me["hall_id"].as_i64(), &me["kind"], &me["paired"]), (Some(id), Some(hall), &json!("kiosk"), &json!(true)));
        assert_eq!(error_code(pair(&app, &code).await).await, (StatusCode::UNPROCESSABLE_ENTITY, "pairing_code_unknown".into()));
        // The credential is kept as a digest only.
        let raw = app.db.raw().await;
        let stored: String = sqlx::query_scalar("SELECT token_hash FROM devices WHERE id = $1").bind(id).fetch_one(&raw).await.unwrap();
        assert_eq!(stored.len(), 64);
        assert_ne!(stored, kiosk.credential);

        // Wrong, malformed and expired codes.
        assert_eq!(error_code(pair(&app, "ABCDEFGH").await).await, (StatusCode::UNPROCESSABLE_ENTITY, "pairing_code_unknown".into()));
        assert_eq!(error_code(pair(&app, "abc").await).await, (StatusCode::UNPROCESSABLE_ENTITY, "pairing_code_invalid".into()));
        let res = TestApp::client().post(app.url("/api/v1/devices/pair")).json(&json!({"pairing_code": code, "hall": 1})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body".into()));
        let (_, late) = register(&manager, hall, "board", "大厅显示屏").await;
        app.clock.advance(jiff::SignedDuration::from_mins(16));
        assert_eq!(error_code(pair(&app, &late).await).await, (StatusCode::UNPROCESSABLE_ENTITY, "pairing_code_unknown".into()));

        // A new pairing code ends the old credential.
        let res = manager.post(&format!("/api/v1/devices/{id}/pairing-code"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["device"]["paired"], false);
        assert_eq!(error_code(kiosk.me().await).await, (StatusCode::UNAUTHORIZED, "device_unpaired".into()));
        let kiosk = paired(&app, body["pairing_code"].as_str().unwrap()).await;
        assert_eq!(kiosk.me().await.status(), StatusCode::OK);

        // Only managers of this hall's region (or above) manage it.
        let sibling = app.login("qinghe.manager").await;
        assert_eq!(error_code(sibling.post(&format!("/api/v1/devices/{id}/revoke"), &json!({})).await).await.0, StatusCode::NOT_FOUND);
        let listed: Vec<Value> = sibling.get("/api/v1/devices").await.json().await.unwrap();
        assert!(listed.iter().all(|d| d["id"].as_i64() != Some(id)));
        let clerk = app.login("luoping.clerk").await;
        assert_eq!(error_code(clerk.post(&format!("/api/v1/devices/{id}/revoke"), &json!({})).await).await.0, StatusCode::FORBIDDEN);
        assert_eq!(clerk.get("/api/v1/devices").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(kiosk.me().await.status(), StatusCode::OK);

        // Revoked: the credential stops at once and the device cannot be re-paired.
        let res = manager.post(&format!("/api/v1/devices/{id}/revoke"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["revoked"], true);
        assert_eq!(error_code(kiosk.me().await).await, (StatusCode::UNAUTHORIZED, "device_revoked".into()));
        let res = manager.post(&format!("/api/v1/devices/{id}/revoke"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "already_revoked".into()));
        let res = manager.post(&format!("/api/v1/devices/{id}/pairing-code"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "device_revoked".into()));

        // Registering needs a real hall of one's own, a known kind and a window of that hall.
        let res = manager.post("/api/v1/devices", &json!({"hall_id": hall, "kind": "toaster", "name": "x"})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "device_kind_invalid".into()));
        let other_hall = {
            let halls: Vec<Value> = app.login("jiuan.manager").await.get("/api/v1/halls").await.json().await.unwrap();
            halls.into_iter().find(|h| h["id"].as_i64() != Some(hall)).unwrap()["id"].as_i64().unwrap()
        };
        let res = manager.post("/api/v1/devices", &json!({"hall_id": other_hall, "kind": "kiosk", "name": "x"})).await;
        assert_eq!(error_code(res).await.0, StatusCode::NOT_FOUND);
        let windows: Vec<Value> = manager.get(&format!("/api/v1/halls/{hall}/windows")).await.json().await.unwrap();
        let res = manager.post("/api/v1/devices", &json!({"hall_id": hall, "kind": "pad", "name": "评价器", "window_id": windows[0]["id"]})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let others: Vec<Value> = app.login("jiuan.manager").await.get(&format!("/api/v1/halls/{other_hall}/windows")).await.json().await.unwrap();
        let res = manager.post("/api/v1/devices", &json!({"hall_id": hall, "kind": "pad", "name": "评价器", "window_id": others[0]["id"]})).await;
        assert!(res.status() == StatusCode::NOT_FOUND || res.status() == StatusCode::UNPROCESSABLE_ENTITY, "{}", res.status());
    }
}

both_backends! {
    async fn devices_and_staff_never_stand_in_for_each_other(app: TestApp) {
        let manager = app.login("luoping.manager").await;
        let hall = own_hall(&manager).await;
        let (_, code) = register(&manager, hall, "kiosk", "取号机").await;
        let kiosk = paired(&app, &code).await;
        let cred = kiosk.credential.clone();

        // A device credential is no staff login, however it is presented.
        let c = TestApp::client();
        let res = c.get(app.url("/api/v1/me")).header("authorization", format!("Device {cred}")).send().await.unwrap();
        assert_eq!(error_code(res).await.0, StatusCode::UNAUTHORIZED);
        let res = c.get(app.url("/api/v1/me")).bearer_auth(&cred).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "token_invalid".into()));
        let res = c.get(app.url("/api/v1/regions")).header("cookie", format!("onestop_session={cred}")).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "session_invalid".into()));
        let res = c.get(app.url("/admin/regions")).header("cookie", format!("onestop_device={cred}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "a device cookie is no staff session");
        let res = c
            .post(app.url("/api/v1/devices"))
            .header("authorization", format!("Device {cred}"))
            .json(&json!({"hall_id": hall, "kind": "kiosk", "name": "自己再登记"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await.0, StatusCode::UNAUTHORIZED);

        // And staff credentials are no device.
        let token = app.token("luoping.manager").await;
        let res = c.get(app.url("/api/v1/device")).bearer_auth(&token.token).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "device_unpaired".into()));
        let res = c.get(app.url("/api/v1/device")).header("authorization", format!("Device {}", token.token)).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "device_unpaired".into()));
        let res = manager.get("/api/v1/device").await;
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "device_unpaired".into()));
        let res = manager.get("/device").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/device/pair");
        assert_eq!(kiosk.me().await.status(), StatusCode::OK);
    }
}

both_backends! {
    async fn a_flooding_kiosk_is_limited_on_its_own(app: TestApp) {
        let manager = app.login("luoping.manager").await;
        let hall = own_hall(&manager).await;
        let flooding = paired(&app, &register(&manager, hall, "kiosk", "坏取号机").await.1).await;
        let neighbour = paired(&app, &register(&manager, hall, "kiosk", "好取号机").await.1).await;
        let limit = app.state.settings.device_limit_per_minute;
        for i in 0..limit {
            assert_eq!(flooding.me().await.status(), StatusCode::OK, "request {}", i + 1);
        }
        assert_eq!(error_code(flooding.me().await).await, (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into()));
        // The other kiosk behind the same address is not held back.
        assert_eq!(neighbour.me().await.status(), StatusCode::OK);
        app.clock.advance(jiff::SignedDuration::from_mins(1));
        assert_eq!(flooding.me().await.status(), StatusCode::OK);
    }
}

both_backends! {
    async fn a_board_pairs_through_the_pages(app: TestApp) {
        let manager = app.login("luoping.manager").await;
        let hall = own_hall(&manager).await;
        let res = manager.form("/admin/devices", &[("hall_id", &hall.to_string()), ("kind", "board"), ("name", "候号显示屏")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        let start = html.find("id=\"pairing-code\">").unwrap() + "id=\"pairing-code\">".len();
        let code = html[start..start + 8].to_owned();
        assert!(html.contains("候号显示屏"));

        // The board's browser: not paired yet, so it is sent to the pairing form.
        let board = TestApp::client();
        let res = board.get(app.url("/device")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/device/pair");
        let res = board.get(app.url("/device/pair")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(!hidden(&res.text().await.unwrap(), "csrf").is_empty());

        // Without the CSRF field, and with a wrong code: the form again.
        let res = board.post(app.url("/device/pair")).form(&[("pairing_code", code.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let csrf2 = hidden(&res.text().await.unwrap(), "csrf");
        let res = board.post(app.url("/device/pair")).form(&[("csrf", csrf2.as_str()), ("pairing_code", "ABCDEFGH")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(html.contains("配对码不正确或已过期"));
        let csrf3 = hidden(&html, "csrf");

        let res = board.post(app.url("/device/pair")).form(&[("csrf", csrf3.as_str()), ("pairing_code", code.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/device");
        let cookie = res.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_owned()).find(|c| c.starts_with("onestop_device=")).unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let res = board.get(app.url("/device")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("罗平县政务服务中心"), "{html}");
        assert!(html.contains("候号显示屏"));
        // The device cookie opens no staff page.
        assert_eq!(board.get(app.url("/admin/devices")).send().await.unwrap().status(), StatusCode::SEE_OTHER);

        // Revoked from the manager's page: the board shows why and drops its cookie.
        let devices: Vec<Value> = manager.get("/api/v1/devices").await.json().await.unwrap();
        let id = devices.iter().find(|d| d["name"] == "候号显示屏").unwrap()["id"].as_i64().unwrap();
        let res = manager.form(&format!("/admin/devices/{id}/revoke"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = board.get(app.url("/device")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let cleared = res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("onestop_device=;"));
        assert!(cleared);
        assert!(res.text().await.unwrap().contains("device_revoked"));
    }
}
