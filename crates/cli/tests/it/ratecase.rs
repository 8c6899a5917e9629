//! The case side of ratings (issue 6), over HTTP on both backends: a case taken in at a window
//! with its served ticket is accepted, warned yellow then red by the sweep, concluded late, rated
//! once through the receipt's QR (a second time, a forged code, a staff session and the SMS token
//! afterwards are refused), and its figures reach the hall's and the region's dashboards and the
//! export, kept apart from the ticket series.
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn pair_kiosk(app: &TestApp, hall: i64) -> String {
    let m = app.token("luoping.manager").await;
    let res = m
        .post(
            "/api/v1/devices",
            &json!({"hall_id": hall, "kind": "kiosk", "name": "测试取号机"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let code = res.json::<Value>().await.unwrap()["pairing_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = TestApp::client()
        .post(app.url("/api/v1/devices/pair"))
        .json(&json!({"pairing_code": code}))
        .send()
        .await
        .unwrap();
    res.json::<Value>().await.unwrap()["credential"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn anon_post(app: &TestApp, path: &str, body: Value) -> impl std::future::Future<Output = reqwest::Response> {
    let req = TestApp::client().post(app.url(path)).json(&body);
    async move { req.send().await.unwrap() }
}

both_backends! {
    async fn a_concluded_case_is_rated_once_and_counted_on_the_dashboards(app: TestApp) {
        let region = app.region_id("990121").await;
        let hall = onestop_store::org::halls_in(app.store.read(), "/").await.unwrap()
            .into_iter().find(|h| h.region_id == region).unwrap().id;
        let w1 = onestop_store::org::windows_of_hall(app.store.read(), hall).await.unwrap()
            .into_iter().find(|w| w.number == "1").unwrap().id;
        let clerk = app.token("luoping.clerk").await;
        let reviewer = app.token("luoping.reviewer").await;
        assert_eq!(clerk.post(&format!("/api/v1/queue/windows/{w1}/open"), &json!({})).await.status(), StatusCode::OK);

        // The applicant takes a ticket and is served at window 1; the clerk takes the case in.
        let kiosk = pair_kiosk(&app, hall).await;
        let res = TestApp::client().post(app.url("/api/v1/queue/kiosk/tickets"))
            .header("authorization", format!("Device {kiosk}")).json(&json!({"category": "A"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let out: Value = clerk.post(&format!("/api/v1/queue/windows/{w1}/call-next"), &json!({})).await.json().await.unwrap();
        let ticket = out["ticket"]["id"].as_i64().unwrap();
        for action in ["start", "finish"] {
            let res = clerk.post(&format!("/api/v1/queue/windows/{w1}/tickets/{ticket}/{action}"), &json!({})).await;
            assert_eq!(res.status(), StatusCode::OK, "{action}");
        }
        let body = json!({
            "region": "990121", "service": "000172007000", "ticket_id": ticket,
            "applicant": {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"},
            "form": {"org_name": "罗平县好味餐饮有限公司", "legal_rep_name": "张三", "contact_name": "张三",
                     "contact_phone": "13900139000", "org_address": "罗平县人民路 8 号", "commitment": true},
        });
        // Every required material handed in (intake refuses an acceptance while one is missing).
        let part = reqwest::multipart::Part::bytes(b"%PDF-1.7\nmaterial".to_vec()).file_name("材料.pdf");
        let up: Value = TestApp::client().post(app.url("/api/v1/uploads"))
            .multipart(reqwest::multipart::Form::new().part("file", part)).send().await.unwrap().json().await.unwrap();
        let mut body = body;
        body["materials"] = ["食品经营许可申请书", "营业执照", "法定代表人、股东身份证件", "经营场所平面布局图及设备布局、工艺流程", "食品安全管理制度"]
            .iter().map(|n| json!({"name": n, "upload_id": up["id"]})).collect();
        let res = clerk.post("/api/v1/cases", &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let sub: Value = res.json().await.unwrap();
        let id = sub["id"].as_i64().unwrap();
        let tracking = sub["tracking_code"].as_str().unwrap().to_owned();
        let rate_url = format!("/api/v1/ratings/cases/{tracking}");
        let res = clerk.post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        // Not concluded yet: nothing to rate.
        let res = anon_post(&app, &rate_url, json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "rating_event_unknown".into()));

        // Promised deadline Wed 25 March: yellow on Tue 24, red on Thu 26 (counted once each).
        app.clock.set("2026-03-24T02:00:00Z".parse().unwrap());
        onestop_web::cases::sweep::warnings(&app.state).await.unwrap();
        onestop_web::cases::sweep::warnings(&app.state).await.unwrap();
        app.clock.set("2026-03-26T02:00:00Z".parse().unwrap());
        onestop_web::cases::sweep::warnings(&app.state).await.unwrap();
        let v: Value = clerk.get(&format!("/api/v1/cases/{id}")).await.json().await.unwrap();
        assert_eq!(v["warning"], "red");

        // The reviewer concludes it, a day late.
        let mut step = v["steps"].as_array().unwrap().iter().find(|s| s["ended_at"].is_null()).unwrap()["id"].as_i64().unwrap();
        let last = loop {
            let res = reviewer.post(&format!("/api/v1/cases/{id}/act"), &json!({"step_id": step, "action": "approve", "opinion": "同意"})).await;
            assert_eq!(res.status(), StatusCode::OK);
            let r: Value = res.json().await.unwrap();
            match r["open_steps"][0].as_i64() {
                Some(next) => step = next,
                None => break r,
            }
        };
        assert_eq!(last["status"], "concluded_approved");

        // The SMS carries the single-use link; the receipt's QR rates the same token.
        let sent = onestop_store::outbox::recent(app.store.read(), None, 5).await.unwrap();
        let sms = sent.iter().find(|m| m.body.contains("/rate/")).expect("the rating SMS");
        let token = sms.body.rsplit("/rate/").next().unwrap().trim().to_owned();
        let target: Value = TestApp::client().get(app.url(&rate_url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(target["series"], "case");
        assert_eq!(target["subject_no"], sub["case_no"]);
        // Staff may not rate; a forged code finds nothing.
        let res = clerk.post(&rate_url, &json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "rating_staff_forbidden".into()));
        let res = anon_post(&app, "/api/v1/ratings/cases/ABCD-EFGH-JKLM-NPQR", json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "rating_event_unknown".into()));
        let res = anon_post(&app, &rate_url, json!({"level": 2, "dimensions": {"handling_efficiency": 2}})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let rated: Value = res.json().await.unwrap();
        assert_eq!(rated["series"], "case");
        // Once only, on any channel.
        let res = anon_post(&app, &rate_url, json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "rating_token_used".into()));
        let res = anon_post(&app, &format!("/api/v1/ratings/tokens/{token}"), json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "rating_token_used".into()));

        // The hall's and the region's dashboards read the counters; the two series stay apart.
        let sup = app.token("jingjiang.supervisor").await;
        let city = app.region_id("990100").await;
        for (scope, sid) in [("hall", hall), ("region", region), ("region", city)] {
            let d: Value = sup.get(&format!("/api/v1/ratings/dashboard?scope={scope}&id={sid}&from=2026-03-01&to=2026-03-31&trend=month")).await.json().await.unwrap();
            let c = &d["totals"]["cases"];
            assert_eq!((c["accepted"].as_i64(), c["concluded"].as_i64(), c["concluded_on_time"].as_i64()), (Some(1), Some(1), Some(0)), "{scope}: {c}");
            assert_eq!((c["yellow"].as_i64(), c["red"].as_i64(), c["one_visit"].as_i64()), (Some(1), Some(1), Some(1)), "{scope}: {c}");
            assert_eq!((c["accepted_online"].as_i64(), c["on_time_rate"].as_f64()), (Some(0), Some(0.0)), "{scope}: {c}");
            let (t, r) = (&d["totals"]["ticket_ratings"], &d["totals"]["case_ratings"]);
            assert_eq!((t["issued"].as_i64(), t["rated"].as_i64()), (Some(1), Some(0)), "{scope}: {t}");
            assert_eq!((r["issued"].as_i64(), r["rated"].as_i64(), r["levels"][1].as_i64()), (Some(1), Some(1), Some(1)), "{scope}: {r}");
        }
        // By day the acceptance is on the 18th and the conclusion on the 26th.
        let d: Value = sup.get(&format!("/api/v1/ratings/dashboard?scope=hall&id={hall}&from=2026-03-18&to=2026-03-26")).await.json().await.unwrap();
        let day = |date: &str| d["points"].as_array().unwrap().iter().find(|p| p["start"] == date).unwrap()["figures"]["cases"].clone();
        assert_eq!((day("2026-03-18")["accepted"].as_i64(), day("2026-03-18")["concluded"].as_i64()), (Some(1), Some(0)));
        assert_eq!((day("2026-03-26")["concluded"].as_i64(), day("2026-03-24")["yellow"].as_i64()), (Some(1), Some(1)));
        let csv = sup.get(&format!("/api/v1/ratings/dashboard/export/csv?scope=hall&id={hall}&from=2026-03-01&to=2026-03-31")).await.text().await.unwrap();
        assert!(csv.contains("按时办结率(承诺时限)") && csv.contains("最多跑一次占比"), "{csv}");
    }
}

both_backends! {
    async fn the_demo_rates_concluded_cases_with_a_bad_review_followed_up(app: TestApp) {
        onestop_web::demo::seed_ratings(&app.state).await.unwrap();
        let sup = app.token("jingjiang.supervisor").await;
        let yunling = app.region_id("990123").await;
        let d: Value = sup.get(&format!("/api/v1/ratings/dashboard?scope=region&id={yunling}&from=2026-03-18&to=2026-03-18")).await.json().await.unwrap();
        let (c, r) = (&d["totals"]["cases"], &d["totals"]["case_ratings"]);
        assert_eq!((c["accepted"].as_i64(), c["concluded"].as_i64()), (Some(2), Some(2)), "{c}");
        assert_eq!((r["rated"].as_i64(), r["bad"].as_i64(), r["followups"].as_i64()), (Some(2), Some(1), Some(1)), "{r}");
        assert_eq!(r["satisfaction"].as_f64(), Some(0.5), "{r}");
        let verified: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rating_followups WHERE state = 'verified'")
            .fetch_one(app.store.read()).await.unwrap();
        assert_eq!(verified, 1);
    }
}
