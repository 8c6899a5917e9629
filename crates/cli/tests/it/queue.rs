//! The hall floor as its users meet it: kiosks take tickets, windows call and serve them, boards
//! hear the calls live (across processes on PostgreSQL), citizens book slots; and the bad input
//! the issue lists (closed windows, other people's tickets, double calls, full or past slots,
//! forged codes, kiosk floods, unpaired devices).
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;

/// The 罗平县 hall and its windows by number.
async fn luoping(app: &TestApp) -> (i64, Vec<(String, i64)>) {
    let region = app.region_id("990121").await;
    let halls = onestop_store::org::halls_in(app.store.read(), "/").await.unwrap();
    let hall = halls.into_iter().find(|h| h.region_id == region).unwrap();
    let windows = onestop_store::org::windows_of_hall(app.store.read(), hall.id)
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.number, w.id))
        .collect();
    (hall.id, windows)
}

fn window(ws: &[(String, i64)], n: &str) -> i64 {
    ws.iter().find(|(num, _)| num == n).unwrap().1
}

/// Registers and pairs a device of `kind` in the hall; returns its credential.
async fn paired(app: &TestApp, hall_id: i64, kind: &str) -> (i64, String) {
    let m = app.token("luoping.manager").await;
    let res = m
        .post(
            "/api/v1/devices",
            &json!({"hall_id": hall_id, "kind": kind, "name": format!("测试{kind}")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let code = body["pairing_code"].as_str().unwrap().to_owned();
    let res = TestApp::client()
        .post(app.url("/api/v1/devices/pair"))
        .json(&json!({"pairing_code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    (
        body["device"]["id"].as_i64().unwrap(),
        body["credential"].as_str().unwrap().to_owned(),
    )
}

async fn kiosk_take(app: &TestApp, cred: &str, category: &str) -> reqwest::Response {
    TestApp::client()
        .post(app.url("/api/v1/queue/kiosk/tickets"))
        .header("authorization", format!("Device {cred}"))
        .json(&json!({"category": category}))
        .send()
        .await
        .unwrap()
}

both_backends! {
    async fn ticket_life_at_a_window(app: TestApp) {
        let (hall, ws) = luoping(&app).await;
        let (_, kiosk) = paired(&app, hall, "kiosk").await;
        let clerk = app.token("luoping.clerk").await;
        let w1 = window(&ws, "1");

        let res = kiosk_take(&app, &kiosk, "A").await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let t1: Value = res.json().await.unwrap();
        assert_eq!(t1["ticket_no"], "A001");
        assert_eq!(t1["ahead"], 0);
        let t2: Value = kiosk_take(&app, &kiosk, "A").await.json().await.unwrap();
        assert_eq!(t2["ticket_no"], "A002");
        assert_eq!(t2["ahead"], 1);

        // Calling on a closed window is refused with a stable code; nothing is lost.
        let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/call-next"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "window_closed".into()));

        assert_eq!(clerk.post(&format!("/api/v1/queue/windows/{w1}/open"), &json!({})).await.status(), StatusCode::OK);
        let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/call-next"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let out: Value = res.json().await.unwrap();
        assert_eq!(out["ticket"]["ticket_no"], "A001");
        let id1 = out["ticket"]["id"].as_i64().unwrap();

        // The window holds A001: calling again is refused until it is dealt with.
        let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/call-next"), &json!({})).await;
        assert_eq!(error_code(res).await.1, "window_busy");

        for action in ["recall", "start", "finish"] {
            let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/tickets/{id1}/{action}"), &json!({})).await;
            assert_eq!(res.status(), StatusCode::OK, "{action}");
        }
        // Finishing twice: not serving any more.
        let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/tickets/{id1}/finish"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "ticket_not_serving".into()));

        // A002: called, then transferred to B; it returns ahead of other B tickets.
        let out: Value = clerk.post(&format!("/api/v1/queue/windows/{w1}/call-next"), &json!({})).await.json().await.unwrap();
        let id2 = out["ticket"]["id"].as_i64().unwrap();
        let b1: Value = kiosk_take(&app, &kiosk, "B").await.json().await.unwrap();
        assert_eq!(b1["ticket_no"], "B001");
        let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/tickets/{id2}/transfer"), &json!({"to_category": "B"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let w5 = window(&ws, "5");
        clerk.post(&format!("/api/v1/queue/windows/{w5}/open"), &json!({})).await;
        let out: Value = clerk.post(&format!("/api/v1/queue/windows/{w5}/call-next"), &json!({})).await.json().await.unwrap();
        assert_eq!(out["ticket"]["ticket_no"], "A002", "a transferred ticket goes first");
        assert_eq!(out["reason"], "returned");

        // Finishing a ticket held by another window: not yours.
        let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/tickets/{id2}/no-show"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "ticket_not_yours".into()));
        let res = clerk.post(&format!("/api/v1/queue/windows/{w5}/tickets/{id2}/no-show"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);

        // Pause: no calls; resume.
        clerk.post(&format!("/api/v1/queue/windows/{w5}/pause"), &json!({})).await;
        let res = clerk.post(&format!("/api/v1/queue/windows/{w5}/call-next"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "window_paused".into()));
        clerk.post(&format!("/api/v1/queue/windows/{w5}/resume"), &json!({})).await;

        // Walk-in without a ticket: served at once under a fresh number.
        let res = clerk.post(&format!("/api/v1/queue/windows/{w5}/walk-in"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let out: Value = res.json().await.unwrap();
        assert_eq!(out["ticket"]["state"], "serving");
        assert_eq!(out["ticket"]["ticket_no"], "B002");

        // Counters: the day's figures come from the counter rows.
        let m = app.token("luoping.manager").await;
        let stats: Value = m.get(&format!("/api/v1/queue/halls/{hall}/stats")).await.json().await.unwrap();
        let a = stats.as_array().unwrap().iter().find(|s| s["category"] == "A").unwrap().clone();
        assert_eq!(a["taken"], 2);
        assert_eq!(a["served"], 1);
        assert_eq!(a["called"], 2);
        let b = stats.as_array().unwrap().iter().find(|s| s["category"] == "B").unwrap().clone();
        assert_eq!(b["no_show"], 1);
        assert_eq!(b["transferred"], 1);

        // A clerk of another county cannot touch this hall's windows.
        let other = app.token("qinghe.clerk").await;
        let res = other.post(&format!("/api/v1/queue/windows/{w1}/call-next"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        // The audit trail holds the ticket actions.
        let n: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'ticket.%'")
            .fetch_one(app.store.read()).await.unwrap();
        assert!(n >= 10, "{n}");
    }
}

both_backends! {
    async fn numbers_never_repeat_under_concurrency(app: TestApp) {
        let (hall, _) = luoping(&app).await;
        let clerk = std::sync::Arc::new(app.token("luoping.clerk").await);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let c = clerk.clone();
            tasks.push(tokio::spawn(async move {
                let res = c.post(&format!("/api/v1/queue/halls/{hall}/tickets"), &json!({"category": "C"})).await;
                assert_eq!(res.status(), StatusCode::CREATED);
                let v: Value = res.json().await.unwrap();
                v["ticket_no"].as_str().unwrap().to_owned()
            }));
        }
        let mut seen = HashSet::new();
        for t in tasks {
            assert!(seen.insert(t.await.unwrap()), "a number was issued twice");
        }
        assert_eq!(seen.len(), 50);
        assert!(seen.contains("C001") && seen.contains("C050"));
    }
}

both_backends! {
    async fn two_windows_calling_at_once_exactly_one_wins(app: TestApp) {
        let (hall, ws) = luoping(&app).await;
        let m = app.token("luoping.manager").await;
        // Only one ticket, and eight windows that may call it.
        let res = m.post(&format!("/api/v1/queue/halls/{hall}/tickets"), &json!({"category": "A"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let windows: Vec<i64> = ["1", "2", "3", "4", "5", "6", "7", "8"].iter().map(|n| window(&ws, n)).collect();
        for w in &windows {
            assert_eq!(m.post(&format!("/api/v1/queue/windows/{w}/open"), &json!({})).await.status(), StatusCode::OK);
        }
        let m = std::sync::Arc::new(m);
        let mut tasks = Vec::new();
        for w in windows {
            let m = m.clone();
            tasks.push(tokio::spawn(async move {
                let res = m.post(&format!("/api/v1/queue/windows/{w}/call-next"), &json!({})).await;
                (res.status(), res.json::<Value>().await.unwrap())
            }));
        }
        let mut won = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::OK => won += 1,
                StatusCode::CONFLICT => assert_eq!(body["code"], "queue_empty"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(won, 1);
        let called: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM ticket_events WHERE action = 'call'")
            .fetch_one(app.store.read()).await.unwrap();
        assert_eq!(called, 1);
    }
}

both_backends! {
    async fn clerk_cannot_work_another_clerks_window(app: TestApp) {
        let (_, ws) = luoping(&app).await;
        let w = window(&ws, "2");
        let clerk = app.token("luoping.clerk").await;
        assert_eq!(clerk.post(&format!("/api/v1/queue/windows/{w}/open"), &json!({})).await.status(), StatusCode::OK);
        // A second clerk of the same hall.
        let admin = app.token("luoping.admin").await;
        let region = app.region_id("990121").await;
        let res = admin.post("/api/v1/users", &json!({
            "username": "luoping.clerk2", "display_name": "第二窗口员", "password": PASSWORD,
            "grants": [{"role": "window_clerk", "region_id": region}]
        })).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
        let clerk2 = app.token("luoping.clerk2").await;
        let res = clerk2.post(&format!("/api/v1/queue/windows/{w}/call-next"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "window_not_yours".into()));
    }
}

both_backends! {
    async fn devices_unpaired_revoked_wrong_kind_and_flooding(app: TestApp) {
        let (hall, _) = luoping(&app).await;
        let res = kiosk_take(&app, "not-a-credential", "A").await;
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "device_unpaired".into()));
        let res = TestApp::client().post(app.url("/api/v1/queue/kiosk/tickets")).json(&json!({"category": "A"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        let (board_id, board) = paired(&app, hall, "board").await;
        let res = kiosk_take(&app, &board, "A").await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "device_wrong_kind".into()));
        let m = app.token("luoping.manager").await;
        assert_eq!(m.post(&format!("/api/v1/devices/{board_id}/revoke"), &json!({})).await.status(), StatusCode::OK);
        let res = TestApp::client().get(app.url("/api/v1/queue/board/events")).header("authorization", format!("Device {board}")).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNAUTHORIZED, "device_revoked".into()));

        // A kiosk flood is cut off by the per-device limit (120 a minute by default).
        let (_, kiosk) = paired(&app, hall, "kiosk").await;
        let mut limited = false;
        for _ in 0..130 {
            let res = kiosk_take(&app, &kiosk, "E").await;
            if res.status() == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(error_code(res).await.1, "rate_limited");
                limited = true;
                break;
            }
            assert_eq!(res.status(), StatusCode::CREATED);
        }
        assert!(limited);
        // Unknown category: a clear 422.
        let (_, kiosk2) = paired(&app, hall, "kiosk").await;
        let res = kiosk_take(&app, &kiosk2, "Z").await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "category_unknown".into()));
    }
}

/// Reads SSE frames until one of `kind` arrives (or the deadline passes).
async fn next_event(res: &mut reqwest::Response, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut buf = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("no event in time")
            .unwrap()
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf[..end].to_owned();
            buf.drain(..end + 2);
            let event = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: ").or_else(|| l.strip_prefix("event:")))
                .unwrap_or("");
            let data = frame
                .lines()
                .find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")));
            if event == kind {
                return serde_json::from_str(data.unwrap_or("{}")).unwrap();
            }
        }
    }
}

both_backends! {
    async fn board_hears_a_call_live(app: TestApp) {
        let (hall, ws) = luoping(&app).await;
        let (_, board) = paired(&app, hall, "board").await;
        let mut stream = TestApp::client()
            .get(app.url("/api/v1/queue/board/events"))
            .header("authorization", format!("Device {board}"))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        // Give the PostgreSQL listener a moment to be in place.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let clerk = app.token("luoping.clerk").await;
        clerk.post(&format!("/api/v1/queue/halls/{hall}/tickets"), &json!({"category": "D"})).await;
        let w = window(&ws, "9");
        clerk.post(&format!("/api/v1/queue/windows/{w}/open"), &json!({})).await;
        let res = clerk.post(&format!("/api/v1/queue/windows/{w}/call-next"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let ev = next_event(&mut stream, "call").await;
        assert_eq!(ev["ticket_no"], "D001");
        assert_eq!(ev["window_no"], "9");
        assert_eq!(ev["hall_id"], hall);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_board_on_a_second_process_hears_a_call() {
    if std::env::var("ONESTOP_TEST_PG").is_err() {
        eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL variant not run");
        return;
    }
    let app = TestApp::spawn(Db::Postgres).await;
    // A second app instance on the same database stands in for a second `serve` process.
    let second = TestApp::spawn_on(&app.db.url).await;
    let (hall, ws) = luoping(&app).await;
    let (_, board) = paired(&app, hall, "board").await;
    let mut stream = TestApp::client()
        .get(second.url("/api/v1/queue/board/events"))
        .header("authorization", format!("Device {board}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let clerk = app.token("luoping.clerk").await;
    clerk
        .post(
            &format!("/api/v1/queue/halls/{hall}/tickets"),
            &json!({"category": "A"}),
        )
        .await;
    let w = window(&ws, "3");
    clerk.post(&format!("/api/v1/queue/windows/{w}/open"), &json!({})).await;
    assert_eq!(
        clerk
            .post(&format!("/api/v1/queue/windows/{w}/call-next"), &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    let ev = next_event(&mut stream, "call").await;
    assert_eq!(ev["ticket_no"], "A001");
    assert_eq!(ev["window_no"], "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notification_reaches_a_second_store() {
    if std::env::var("ONESTOP_TEST_PG").is_err() {
        eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL variant not run");
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let key = || onestop_domain::audit::AuditKey::new(AUDIT_KEY.as_bytes().to_vec()).unwrap();
    let a = onestop_store::Store::open(&onestop_store::StoreOptions::new(&db.url), key())
        .await
        .unwrap();
    let b = onestop_store::Store::open(&onestop_store::StoreOptions::new(&db.url), key())
        .await
        .unwrap();
    let mut rx = b.subscribe();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    a.write(|tx| Box::pin(async move { tx.notify("queue", "hello from a".into()).await }))
        .await
        .unwrap();
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let n = rx.recv().await.unwrap();
            if n.channel == "queue" {
                return n;
            }
        }
    })
    .await
    .expect("the second store heard nothing");
    assert_eq!(n.payload, "hello from a");
}

both_backends! {
    async fn booking_full_past_forged_and_check_in(app: TestApp) {
        let (hall, ws) = luoping(&app).await;
        let slots: Vec<Value> = TestApp::client().get(app.url(&format!("/api/v1/queue/halls/{hall}/slots"))).send().await.unwrap().json().await.unwrap();
        // The test clock is 09:30: today's 10:00 slot of B is the first open one.
        let slot = slots.iter().find(|s| s["capacity"] == 4).unwrap().clone();
        let slot_id = slot["id"].as_i64().unwrap();
        let ids = ["11010519491231002X", "110105194912310038", "110105194912310046", "110105194912310054", "110105194912310062"];
        let client = TestApp::client();
        let mut codes = Vec::new();
        for id in &ids[..4] {
            let res = client.post(app.url("/api/v1/queue/appointments")).json(&json!({"slot_id": slot_id, "id_number": id, "name": "张三"})).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
            let b: Value = res.json().await.unwrap();
            assert_eq!(b["name_masked"], "张*");
            codes.push(b["code"].as_str().unwrap().to_owned());
        }
        let res = client.post(app.url("/api/v1/queue/appointments")).json(&json!({"slot_id": slot_id, "id_number": ids[4], "name": "李四"})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "slot_full".into()));
        // Cancel frees a place.
        let res = client.post(app.url(&format!("/api/v1/queue/appointments/{}/cancel", codes[3]))).json(&json!({"id_number": ids[3]})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = client.post(app.url("/api/v1/queue/appointments")).json(&json!({"slot_id": slot_id, "id_number": ids[4], "name": "李四"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        // A bad ID number is a 422 with its own code.
        let res = client.post(app.url("/api/v1/queue/appointments")).json(&json!({"slot_id": slot_id, "id_number": "110105194912310039", "name": "王五"})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "id_number_checksum".into()));

        // Past slot: move the clock beyond it.
        app.clock.advance(jiff::SignedDuration::from_hours(2));
        let res = client.post(app.url("/api/v1/queue/appointments")).json(&json!({"slot_id": slot_id, "id_number": ids[4], "name": "李四"})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "slot_past".into()));
        app.clock.advance(jiff::SignedDuration::from_hours(-2) + jiff::SignedDuration::from_mins(25));

        // Check-in at the kiosk: a forged code is 404; the real one gives a ticket.
        let (_, kiosk) = paired(&app, hall, "kiosk").await;
        let check_in = |code: String| {
            let k = kiosk.clone();
            let url = app.url("/api/v1/queue/kiosk/check-in");
            async move {
                TestApp::client().post(url).header("authorization", format!("Device {k}")).json(&json!({"code": code})).send().await.unwrap()
            }
        };
        let res = check_in("ZZZZ2222".into()).await;
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "booking_not_found".into()));
        // A walk-in B ticket first, then the appointment: the appointment is called first.
        let m = app.token("luoping.manager").await;
        m.post(&format!("/api/v1/queue/halls/{hall}/tickets"), &json!({"category": "B"})).await;
        let res = check_in(codes[0].clone()).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let t: Value = res.json().await.unwrap();
        assert_eq!(t["ticket_no"], "B002");
        let res = check_in(codes[0].clone()).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "booking_not_open".into()));
        let w = window(&ws, "5");
        m.post(&format!("/api/v1/queue/windows/{w}/open"), &json!({})).await;
        let out: Value = m.post(&format!("/api/v1/queue/windows/{w}/call-next"), &json!({})).await.json().await.unwrap();
        assert_eq!(out["ticket"]["ticket_no"], "B002");
        assert_eq!(out["reason"], "appointment");

        // The public follow page knows the ticket by its code only.
        let res = client.get(app.url(&format!("/api/v1/queue/tickets/{}", t["code"].as_str().unwrap()))).send().await.unwrap();
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["state"], "called");
        assert_eq!(p["window_no"], "5");
        let res = client.get(app.url("/api/v1/queue/tickets/B002")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

both_backends! {
    async fn openapi_documents_the_queue_routes(app: TestApp) {
        let doc: Value = TestApp::client().get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        for path in ["/api/v1/queue/windows/{id}/call-next", "/api/v1/queue/kiosk/tickets", "/api/v1/queue/board/events", "/api/v1/queue/appointments"] {
            assert!(doc["paths"][path].is_object(), "{path} is not documented");
        }
    }
}

both_backends! {
    async fn pages_of_the_floor_render(app: TestApp) {
        let (hall, ws) = luoping(&app).await;
        let clerk = app.login("luoping.clerk").await;
        let w = window(&ws, "1");
        let res = clerk.get(&format!("/queue/window/{w}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("呼叫下一位"));
        // A refused action comes back to the console with the reason shown.
        let res = clerk.form(&format!("/queue/window/{w}/call-next"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = clerk.form(&format!("/queue/window/{w}/open"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let manager = app.login("luoping.manager").await;
        let page = manager.get(&format!("/queue/floor/{hall}")).await.text().await.unwrap();
        assert!(page.contains("综合受理") && page.contains("服务中"));
        assert_eq!(clerk.get("/queue").await.status(), StatusCode::OK);

        // Kiosk: the device cookie opens the kiosk page; taking prints a slip with a QR code.
        let (_, kiosk) = paired(&app, hall, "kiosk").await;
        let k = TestApp::client();
        let page = k.get(app.url("/device/kiosk")).header("cookie", format!("onestop_device={kiosk}")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("企业开办"));
        let slip = k.post(app.url("/device/kiosk/take")).header("cookie", format!("onestop_device={kiosk}"))
            .form(&[("category", "A"), ("priority", "senior70")]).send().await.unwrap();
        assert_eq!(slip.status(), StatusCode::OK);
        let html = slip.text().await.unwrap();
        assert!(html.contains("A001") && html.contains("<svg"));
        let code = html.split("/t/").nth(1).unwrap().split('<').next().unwrap().trim().to_owned();
        let follow = k.get(app.url(&format!("/t/{code}"))).send().await.unwrap();
        assert_eq!(follow.status(), StatusCode::OK);
        assert!(follow.text().await.unwrap().contains("等候中"));

        // Board: a board page for a board device; a kiosk cannot open it.
        let (_, board) = paired(&app, hall, "board").await;
        let page = k.get(app.url("/device/board")).header("cookie", format!("onestop_device={board}")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("EventSource"));
        let page = k.get(app.url("/device/board")).header("cookie", format!("onestop_device={kiosk}")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
    }
}

both_backends! {
    async fn missed_bookings_are_swept_and_block_the_fourth(app: TestApp) {
        let (hall, _) = luoping(&app).await;
        let client = TestApp::client();
        let slots: Vec<Value> = client.get(app.url(&format!("/api/v1/queue/halls/{hall}/slots"))).send().await.unwrap().json().await.unwrap();
        let today = test_now().to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()).date().to_string();
        let todays: Vec<&Value> = slots.iter().filter(|s| s["day"] == today.as_str()).collect();
        assert!(todays.len() >= 3, "three of today's slots to miss");
        let later = slots.iter().find(|s| s["day"] != today.as_str()).unwrap();
        let book = |slot: &Value, id: &str| {
            let body = json!({"slot_id": slot["id"], "id_number": id, "name": "张三"});
            let c = client.clone();
            let url = app.url("/api/v1/queue/appointments");
            async move { c.post(url).json(&body).send().await.unwrap() }
        };
        let who = "11010519491231002X";
        let mut codes = Vec::new();
        for s in &todays[..3] {
            let res = book(s, who).await;
            assert_eq!(res.status(), StatusCode::CREATED);
            let b: Value = res.json().await.unwrap();
            codes.push(b["code"].as_str().unwrap().to_owned());
        }
        // Nothing is marked while the slots (and the late grace) have not passed.
        assert_eq!(onestop_web::jobs::sweep_no_shows(&app.state).await.unwrap(), 0);
        // The day ends without the visitor: the background job marks all three as missed.
        app.clock.advance(jiff::SignedDuration::from_hours(9));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        onestop_web::jobs::spawn(
            app.state.clone(),
            onestop_web::jobs::CheckpointSettings { file: None, interval: std::time::Duration::from_secs(60) },
            stop_rx,
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut states = Vec::new();
            for c in &codes {
                let a = onestop_store::queue::appointment_by_code(app.store.read(), c).await.unwrap().unwrap();
                states.push(a.state);
            }
            if states.iter().all(|s| s == "no_show") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the sweep job never ran: {states:?}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = stop_tx.send(true);
        // The fourth booking is refused by the no-show rule; another person still books.
        let res = book(later, who).await;
        let (status, code) = error_code(res).await;
        assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "booking_blocked"));
        let res = book(later, "110105194912310038").await;
        assert_eq!(res.status(), StatusCode::CREATED);
        // A second sweep finds nothing more to mark.
        assert_eq!(onestop_web::jobs::sweep_no_shows(&app.state).await.unwrap(), 0);
    }
}

/// The value of the first `name="{field}" value="…"` in a page.
fn field_value(html: &str, field: &str) -> String {
    let marker = format!("name=\"{field}\" value=\"");
    html.split(&marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {field} in page"))
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

both_backends! {
    async fn citizen_books_and_cancels_on_the_pages(app: TestApp) {
        let (hall, _) = luoping(&app).await;
        let client = TestApp::client();
        // Halls, then a hall's form; the C category on its first day, chosen with a plain GET form.
        let page = client.get(app.url("/book")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains(&format!("/book/hall/{hall}")));
        let page = client.get(app.url(&format!("/book/hall/{hall}?category=C"))).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("onestop_csrf=")));
        let html = page.text().await.unwrap();
        assert!(html.contains("method=\"post\" action=\"/book/hall/") && html.contains("name=\"slot_id\""));
        let csrf = field_value(&html, "csrf");
        assert!(csrf.len() >= 16, "a real token: {csrf}");
        let slot = field_value(&html, "slot_id");
        let post = |fields: Vec<(&'static str, String)>| {
            let c = client.clone();
            let url = app.url(&format!("/book/hall/{hall}"));
            async move { c.post(url).form(&fields).send().await.unwrap() }
        };
        let good = |csrf: &str, phone: &str| vec![
            ("csrf", csrf.to_owned()), ("category", "C".into()), ("slot_id", slot.clone()),
            ("name", "王小明".into()), ("id_number", "11010519491231002X".into()), ("phone", phone.to_owned()),
        ];
        // A form without the matching token is refused and nothing is booked.
        let res = post(good("forged", "13912345678")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let html = res.text().await.unwrap();
        // A bad phone number comes back to the form, with the entries kept and a fresh token.
        let csrf = field_value(&html, "csrf");
        let res = post(good(&csrf, "1391234")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(html.contains("王小明") && html.contains("role=\"alert\""));
        let csrf = field_value(&html, "csrf");
        let res = post(good(&csrf, "139 1234 5678")).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let html = res.text().await.unwrap();
        assert!(html.contains("预约成功") && html.contains("139****5678") && html.contains("王**"));
        let code = html.split("class=\"booking-code\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
        let a = onestop_store::queue::appointment_by_code(app.store.read(), &code).await.unwrap().unwrap();
        assert_eq!((a.state.as_str(), a.slot_id.to_string()), ("booked", slot.clone()));
        // The same form sent again (double submit) has no token any more.
        let res = post(good(&csrf, "13912345678")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // Cancel with the code: a wrong ID number is refused; the right one cancels.
        let page = client.get(app.url(&format!("/book/cancel?code={code}"))).send().await.unwrap().text().await.unwrap();
        assert_eq!(field_value(&page, "code"), code);
        let csrf = field_value(&page, "csrf");
        let cancel = |csrf: String, id: &'static str| {
            let c = client.clone();
            let url = app.url("/book/cancel");
            let code = code.to_lowercase();
            async move { c.post(url).form(&[("csrf", csrf), ("code", code), ("id_number", id.into())]).send().await.unwrap() }
        };
        let res = cancel(csrf, "110105194912310038").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let csrf = field_value(&res.text().await.unwrap(), "csrf");
        let res = cancel(csrf, "11010519491231002X").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("预约已取消"));
        let a = onestop_store::queue::appointment_by_code(app.store.read(), &code).await.unwrap().unwrap();
        assert_eq!(a.state, "cancelled");
    }
}

both_backends! {
    /// The write path under concurrency (group commit on SQLite): jobs that fail after recording an
    /// audit entry leave nothing, the ones beside them in the same batch all commit, and the region's
    /// chain stays whole (every entry, no gap, every MAC).
    async fn concurrent_writes_keep_the_chain_and_a_failing_job_rolls_back_alone(app: TestApp) {
        use onestop_store::{StoreError, audit::AuditEntry};
        let region = app.region_id("990121").await;
        let before: i64 = sqlx::query_scalar("SELECT seq FROM audit_heads WHERE region_id = $1")
            .bind(region).fetch_optional(app.store.read()).await.unwrap().unwrap_or(0);
        let mut jobs = Vec::new();
        for i in 0..40i64 {
            let store = app.store.clone();
            jobs.push(tokio::spawn(async move {
                store.write(move |tx| Box::pin(async move {
                    let fail = i % 3 == 0;
                    tx.audit(AuditEntry {
                        region_id: region,
                        at: test_now(),
                        actor: "test".into(),
                        action: if fail { "test.fail" } else { "test.ok" },
                        entity: "test",
                        entity_id: i.to_string(),
                        detail: json!({"i": i}),
                    }).await?;
                    sqlx::query("UPDATE regions SET name = name WHERE id = $1").bind(region).execute(tx.conn()).await?;
                    if fail {
                        return Err(StoreError::conflict("test_fail", "fails on purpose"));
                    }
                    Ok::<_, StoreError>(i)
                })).await
            }));
        }
        let mut ok = 0;
        for (i, j) in jobs.into_iter().enumerate() {
            match j.await.unwrap() {
                Ok(v) => { assert_eq!(v, i as i64); assert!(i % 3 != 0); ok += 1; }
                Err(e) => { assert!(i % 3 == 0, "job {i} failed: {e:?}"); assert!(matches!(e, StoreError::Conflict { code: "test_fail", .. })); }
            }
        }
        assert_eq!(ok, 26);
        let count = |action: &'static str| {
            let read = app.store.read().clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action = $1")
                    .bind(action).fetch_one(&read).await.unwrap()
            }
        };
        assert_eq!(count("test.ok").await, 26);
        assert_eq!(count("test.fail").await, 0, "a failed job leaves no audit entry");
        let after: i64 = sqlx::query_scalar("SELECT seq FROM audit_heads WHERE region_id = $1")
            .bind(region).fetch_one(app.store.read()).await.unwrap();
        assert_eq!(after - before, 26, "one seq per kept entry, no gap");
        let report = app.store.audit_verify(None).await.unwrap();
        assert!(report.faults.is_empty(), "{:?}", report.faults);
    }
}

both_backends! {
    /// The call policy and the estimator follow the region settings in force at the hall
    /// (`queue.policy`, `queue.estimator`), and values that would break them are refused.
    async fn policy_and_estimator_follow_the_region_settings(app: TestApp) {
        let (hall, ws) = luoping(&app).await;
        let (_, kiosk) = paired(&app, hall, "kiosk").await;
        let clerk = app.token("luoping.clerk").await;
        let admin = app.token("jiuan.admin").await;
        let city = app.region_id("990100").await;
        let w1 = window(&ws, "1");
        assert_eq!(clerk.post(&format!("/api/v1/queue/windows/{w1}/open"), &json!({})).await.status(), StatusCode::OK);

        // The estimator's default service time (no samples yet) set at the city: 20 minutes.
        let admin = &admin;
        let put = |key: &'static str, v: Value| async move {
            admin.put(&format!("/api/v1/regions/{city}/settings/{key}"), &v).await
        };
        let res = put("queue.estimator", json!({"max_samples": 40, "ewma_alpha_pct": 10, "clip_medians": 3, "default_service_min": 20, "in_progress_pct": 50})).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let t1: Value = kiosk_take(&app, &kiosk, "A").await.json().await.unwrap();
        let follow = |code: String| {
            let url = app.url(&format!("/api/v1/queue/tickets/{code}"));
            async move {
                let v: Value = TestApp::client().get(url).send().await.unwrap().json().await.unwrap();
                v["estimated_wait_min"].as_i64().unwrap()
            }
        };
        let code = t1["code"].as_str().unwrap().to_owned();
        let long = follow(code.clone()).await;
        assert_eq!(Some(long), t1["estimated_wait_min"].as_i64());
        // The same ticket, the same line, with the default back at 8 minutes: a shorter estimate.
        let res = put("queue.estimator", json!({"max_samples": 40, "ewma_alpha_pct": 10, "clip_medians": 3, "default_service_min": 8, "in_progress_pct": 50})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let short = follow(code).await;
        assert!(long > short && long >= 2 * short, "20-minute default {long} min, 8-minute default {short} min");

        // No recalls allowed at the city: the clerk must mark a no-show instead.
        let res = put("queue.policy", json!({"max_wait_min": 30, "appointment_early_grace_min": 15, "appointment_late_grace_min": 10, "max_recalls": 0})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let called: Value = clerk.post(&format!("/api/v1/queue/windows/{w1}/call-next"), &json!({})).await.json().await.unwrap();
        let tid = called["ticket"]["id"].as_i64().unwrap();
        let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/tickets/{tid}/recall"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let body: Value = res.json().await.unwrap();
        assert!(body["code"].as_str().unwrap().contains("recall"), "{body}");

        // Bad values: aging off (fairness), zero samples, a fraction above 100 %, unknown fields.
        for (key, bad, code) in [
            ("queue.policy", json!({"max_wait_min": 0, "appointment_early_grace_min": 15, "appointment_late_grace_min": 10, "max_recalls": 2}), "queue_policy_out_of_range"),
            ("queue.policy", json!({"max_wait_min": 100000, "appointment_early_grace_min": 15, "appointment_late_grace_min": 10, "max_recalls": 2}), "queue_policy_out_of_range"),
            ("queue.estimator", json!({"max_samples": 0, "ewma_alpha_pct": 10, "clip_medians": 3, "default_service_min": 8, "in_progress_pct": 50}), "estimator_out_of_range"),
            ("queue.estimator", json!({"max_samples": 40, "ewma_alpha_pct": 10, "clip_medians": 3, "default_service_min": 8, "in_progress_pct": 150}), "estimator_out_of_range"),
            ("queue.policy", json!({"max_wait_min": 30, "oops": 1}), "setting_invalid"),
        ] {
            let res = put(key, bad.clone()).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["code"], code, "{bad}");
        }
        // Still in force: the last good value (recall still refused).
        let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/tickets/{tid}/recall"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
    }
}

both_backends! {
    /// A booking's phone is stored sealed (AES-GCM under the data key, purpose `phone`), and the
    /// person's look-up hash is keyed from the data key; bookings written before (unkeyed SHA-256)
    /// are still found for cancelling, checking in and the no-show rule. A bad phone changes nothing.
    async fn booking_phone_is_sealed_and_id_lookups_are_keyed(app: TestApp) {
        use sha2::Digest;
        let (hall, _) = luoping(&app).await;
        let slots: Vec<Value> = TestApp::client().get(app.url(&format!("/api/v1/queue/halls/{hall}/slots"))).send().await.unwrap().json().await.unwrap();
        let slot = slots.iter().find(|s| s["capacity"] == 4).unwrap().clone();
        let slot_id = slot["id"].as_i64().unwrap();
        let client = TestApp::client();
        let book = |body: Value| {
            let c = client.clone();
            let url = app.url("/api/v1/queue/appointments");
            async move { c.post(url).json(&body).send().await.unwrap() }
        };
        let booked = |id: i64| {
            let read = app.store.read().clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT booked FROM appointment_slots WHERE id = $1").bind(id).fetch_one(&read).await.unwrap()
            }
        };

        // Bad phones: 422 phone_invalid, no place taken.
        for bad in ["12345", "2381234567x", "138123456789"] {
            let res = book(json!({"slot_id": slot_id, "id_number": "11010519491231002X", "name": "张三", "phone": bad})).await;
            assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "phone_invalid".into()), "{bad}");
        }
        assert_eq!(booked(slot_id).await, 0);

        let res = book(json!({"slot_id": slot_id, "id_number": "11010519491231002X", "name": "张三", "phone": "138 1234 5678"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["phone_masked"], "138****5678");
        let code = b["code"].as_str().unwrap().to_owned();
        let (sealed, hash): (Option<String>, String) = sqlx::query_as("SELECT phone_sealed, person_hash FROM appointments WHERE code = $1")
            .bind(&code).fetch_one(app.store.read()).await.unwrap();
        let sealed = sealed.unwrap();
        let keys = app.state.infra.data_keys.clone().unwrap();
        assert!(sealed.starts_with(&format!("v1.{}.", keys.current_id())) && !sealed.contains("5678"));
        assert_eq!(keys.open_str(onestop_web::crypto::purpose::PHONE, &sealed).unwrap(), "13812345678");
        // The look-up hash is keyed: not the plain SHA-256 of anything guessable from the number.
        let unkeyed = hex::encode(sha2::Sha256::digest("onestop-person:11010519491231002X".as_bytes()));
        assert!(hash.starts_with(&format!("{}.", keys.current_id())) && !hash.contains(&unkeyed) && !hash.contains("1101051949"));

        // An older booking, written with the unkeyed hash: cancel and check-in still find it.
        let old_hash = hex::encode(sha2::Sha256::digest("onestop-person:110105194912310038".as_bytes()));
        let now = onestop_domain::clock::Clock::now(&*app.clock).as_millisecond();
        let cat: i64 = slot["category_id"].as_i64().unwrap();
        let blocked_hash = hex::encode(sha2::Sha256::digest("onestop-person:110105194912310046".as_bytes()));
        for (c, state, who) in [("OLDBOOK1", "booked", &old_hash), ("OLDBOOK2", "booked", &old_hash), ("OLDMISS1", "no_show", &blocked_hash), ("OLDMISS2", "no_show", &blocked_hash), ("OLDMISS3", "no_show", &blocked_hash)] {
            sqlx::query("INSERT INTO appointments (slot_id, hall_id, category_id, code, person_hash, name_masked, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, '李*', $6, $7, $7)")
                .bind(slot_id).bind(hall).bind(cat).bind(c).bind(who).bind(state).bind(now)
                .execute(&app.db.raw().await).await.unwrap();
        }
        // Three older misses still count for the no-show rule.
        let res = book(json!({"slot_id": slot_id, "id_number": "110105194912310046", "name": "王五"})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "booking_blocked".into()));
        let res = client.post(app.url("/api/v1/queue/appointments/OLDBOOK1/cancel")).json(&json!({"id_number": "110105194912310038"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "an unkeyed booking is still found");
        let res = client.post(app.url("/api/v1/queue/appointments/OLDBOOK2/cancel")).json(&json!({"id_number": "11010519491231002X"})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "booking_not_found".into()), "someone else's number");
        // Check-in by ID number finds the older booking too (slot at 10:00, clock at 09:55).
        app.clock.advance(jiff::SignedDuration::from_mins(25));
        let (_, kiosk) = paired(&app, hall, "kiosk").await;
        let res = TestApp::client().post(app.url("/api/v1/queue/kiosk/check-in")).header("authorization", format!("Device {kiosk}"))
            .json(&json!({"id_number": "110105194912310038"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
        let state: String = sqlx::query_scalar("SELECT state FROM appointments WHERE code = 'OLDBOOK2'").fetch_one(app.store.read()).await.unwrap();
        assert_eq!(state, "checked_in");
    }
}

both_backends! {
    /// The hall manager's floor page, used as a manager uses it: the staff on duty, opening and
    /// closing windows, mapping windows to categories with ranks (bad mappings get a readable
    /// message and change nothing), and the way to register and pair a device.
    async fn the_manager_runs_the_floor_from_the_page(app: TestApp) {
        let (hall, ws) = luoping(&app).await;
        let (w1, w2) = (window(&ws, "1"), window(&ws, "2"));
        let manager = app.login("luoping.manager").await;
        let clerk = app.login("luoping.clerk").await;
        let floor_page = || async { manager.get(&format!("/queue/floor/{hall}")).await.text().await.unwrap() };
        let page = floor_page().await;
        assert!(page.contains("在岗人员") && page.contains("href=\"/admin/devices\""), "floor has the duty list and the device link");

        // A clerk opens window 1 at the console: the floor lists them on duty.
        assert_eq!(clerk.form(&format!("/queue/window/{w1}/open"), &[]).await.status(), StatusCode::SEE_OTHER);
        let api = app.token("luoping.manager").await;
        let floor: Value = api.get(&format!("/api/v1/queue/halls/{hall}/floor")).await.json().await.unwrap();
        let clerk_name = floor["windows"].as_array().unwrap().iter().find(|w| w["id"] == w1).unwrap()["clerk_name"].as_str().unwrap().to_owned();
        assert!(!clerk_name.is_empty());
        assert!(floor_page().await.contains(&format!("<li>{clerk_name} · 1 号窗口 · 服务中</li>")));

        // The manager closes it from the floor: nobody on duty any more.
        assert_eq!(manager.form(&format!("/queue/window/{w1}/close"), &[]).await.status(), StatusCode::SEE_OTHER);
        let page = floor_page().await;
        assert!(page.contains("目前没有人员在窗口值守"), "{page}");
        // ... and opens window 2.
        assert_eq!(manager.form(&format!("/queue/window/{w2}/open"), &[]).await.status(), StatusCode::SEE_OTHER);

        // Mapping window 2 to B first and A second, from the floor form.
        let hall_s = hall.to_string();
        let res = manager.form(&format!("/queue/floor/window/{w2}/categories"), &[("hall_id", &hall_s), ("mapping", "b:1， A：2")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let served = |floor: &Value| -> Vec<(String, i64)> {
            floor["windows"].as_array().unwrap().iter().find(|w| w["id"] == w2).unwrap()["categories"].as_array().unwrap()
                .iter().map(|c| (c["category"].as_str().unwrap().to_owned(), c["rank"].as_i64().unwrap())).collect()
        };
        let floor: Value = api.get(&format!("/api/v1/queue/halls/{hall}/floor")).await.json().await.unwrap();
        let mut got = served(&floor);
        got.sort();
        assert_eq!(got, vec![("A".to_owned(), 2), ("B".to_owned(), 1)]);
        // Bad mappings: a readable page with the reason, the mapping unchanged.
        for (bad, shown) in [("A:x", "格式应为"), ("ZZ:1", "本大厅没有这个业务类别")] {
            let res = manager.form(&format!("/queue/floor/window/{w2}/categories"), &[("hall_id", &hall_s), ("mapping", bad)]).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(res.text().await.unwrap().contains(shown), "{bad}");
        }
        let floor: Value = api.get(&format!("/api/v1/queue/halls/{hall}/floor")).await.json().await.unwrap();
        let mut again = served(&floor);
        again.sort();
        assert_eq!(again, got);
        // A clerk may not remap windows.
        let res = clerk.form(&format!("/queue/floor/window/{w2}/categories"), &[("hall_id", &hall_s), ("mapping", "A:1")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // Pairing a device from the page the floor links to: register a board, pair it with the code.
        assert_eq!(manager.get("/admin/devices").await.status(), StatusCode::OK);
        let res = manager.form("/admin/devices", &[("hall_id", &hall_s), ("kind", "board"), ("name", "大厅显示屏")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        let code = html.split("id=\"pairing-code\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
        let res = TestApp::client().post(app.url("/api/v1/devices/pair")).json(&json!({"pairing_code": code})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cred: Value = res.json().await.unwrap();
        let board = TestApp::client().get(app.url("/device/board")).header("cookie", format!("onestop_device={}", cred["credential"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(board.status(), StatusCode::OK);
    }
}
