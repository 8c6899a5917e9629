//! Ratings (好差评) as their users meet them: the clerk finishes, the pad wakes and the citizen
//! rates; the QR on the ticket and the SMS token; the bad input the issue lists (twice, used or
//! forged token, an event that never happened, staff posting, a bad review without a reason);
//! the hall manager's follow-up, the appeal, and the dashboards read from the counters.
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) async fn luoping(app: &TestApp) -> (i64, i64) {
    let region = app.region_id("990121").await;
    let halls = onestop_store::org::halls_in(app.store.read(), "/").await.unwrap();
    let hall = halls.into_iter().find(|h| h.region_id == region).unwrap();
    let w1 = onestop_store::org::windows_of_hall(app.store.read(), hall.id)
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.number == "1")
        .unwrap()
        .id;
    (hall.id, w1)
}

pub(crate) async fn pair(app: &TestApp, hall: i64, kind: &str, window: Option<i64>) -> String {
    let m = app.token("luoping.manager").await;
    let res = m
        .post(
            "/api/v1/devices",
            &json!({"hall_id": hall, "kind": kind, "name": format!("测试{kind}"), "window_id": window}),
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

pub(crate) fn device(app: &TestApp, method: reqwest::Method, path: &str, cred: &str) -> reqwest::RequestBuilder {
    TestApp::client()
        .request(method, app.url(path))
        .header("authorization", format!("Device {cred}"))
}

pub(crate) async fn anon_post(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    TestApp::client().post(app.url(path)).json(body).send().await.unwrap()
}

/// Takes a ticket at the kiosk and serves it to the end at window `w`; returns its follow code.
pub(crate) async fn serve_one(app: &TestApp, kiosk: &str, clerk: &Bearer, w: i64) -> String {
    let t: Value = device(app, reqwest::Method::POST, "/api/v1/queue/kiosk/tickets", kiosk)
        .json(&json!({"category": "A"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = t["code"].as_str().unwrap().to_owned();
    let out: Value = clerk
        .post(&format!("/api/v1/queue/windows/{w}/call-next"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let id = out["ticket"]["id"].as_i64().unwrap();
    app.clock.advance(jiff::SignedDuration::from_mins(2));
    for action in ["start", "finish"] {
        let res = clerk
            .post(&format!("/api/v1/queue/windows/{w}/tickets/{id}/{action}"), &json!({}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{action}");
        app.clock.advance(jiff::SignedDuration::from_mins(3));
    }
    code
}

both_backends! {
    async fn a_served_ticket_is_rated_once_and_a_bad_review_is_put_right(app: TestApp) {
        let (hall, w1) = luoping(&app).await;
        let kiosk = pair(&app, hall, "kiosk", None).await;
        let pad = pair(&app, hall, "pad", Some(w1)).await;
        let clerk = app.token("luoping.clerk").await;
        let manager = app.token("luoping.manager").await;
        assert_eq!(clerk.post(&format!("/api/v1/queue/windows/{w1}/open"), &json!({})).await.status(), StatusCode::OK);

        // Nothing to rate before a service finishes.
        let cur: Value = device(&app, reqwest::Method::GET, "/api/v1/ratings/pad", &pad).send().await.unwrap().json().await.unwrap();
        assert!(cur["pending"].is_null(), "{cur}");
        // A ticket that was taken but never served: an event that never happened.
        let waiting: Value = device(&app, reqwest::Method::POST, "/api/v1/queue/kiosk/tickets", &kiosk)
            .json(&json!({"category": "B"})).send().await.unwrap().json().await.unwrap();
        let res = anon_post(&app, &format!("/api/v1/ratings/tickets/{}", waiting["code"].as_str().unwrap()), &json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "rating_event_unknown".into()));
        let res = anon_post(&app, "/api/v1/ratings/tickets/no-such-code", &json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "rating_event_unknown".into()));
        let res = anon_post(&app, "/api/v1/ratings/tokens/0123456789abcdef", &json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "rating_token_invalid".into()));

        // The clerk finishes: the pad now offers the service.
        let code = serve_one(&app, &kiosk, &clerk, w1).await;
        let cur: Value = device(&app, reqwest::Method::GET, "/api/v1/ratings/pad", &pad).send().await.unwrap().json().await.unwrap();
        let pending = &cur["pending"];
        assert_eq!(pending["series"], "ticket");
        assert_eq!(pending["window_no"], "1");
        assert_eq!(pending["dimensions"].as_array().unwrap().len(), 3);
        let token_id = pending["token_id"].as_i64().unwrap();

        // Staff cannot rate, neither by session nor by token.
        let res = clerk.post(&format!("/api/v1/ratings/tickets/{code}"), &json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "rating_staff_forbidden".into()));
        let s = app.login("luoping.clerk").await;
        let res = s.post(&format!("/api/v1/ratings/tickets/{code}"), &json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "rating_staff_forbidden".into()));

        // A bad review needs a reason; dimensions must be the on-site ones.
        let path = format!("/api/v1/ratings/pad/{token_id}");
        let res = device(&app, reqwest::Method::POST, &path, &pad).json(&json!({"level": 4})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "rating_reason_required".into()));
        let res = device(&app, reqwest::Method::POST, &path, &pad)
            .json(&json!({"level": 2, "dimensions": {"usability": 1}})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "rating_dimension_invalid".into()));
        let res = device(&app, reqwest::Method::POST, &path, &pad)
            .json(&json!({"level": 4, "text": "窗口人员态度生硬", "dimensions": {"service_attitude": 5, "service_efficiency": 3}}))
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let rated: Value = res.json().await.unwrap();
        assert_eq!(rated["channel"], "pad");
        assert_eq!(rated["level_label"], "不满意");
        let followup = rated["followup_id"].as_i64().expect("a bad review opens a follow-up");

        // Twice: on the pad, by the QR, nothing counts twice.
        let res = device(&app, reqwest::Method::POST, &path, &pad).json(&json!({"level": 1})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "rating_token_used".into()));
        let res = anon_post(&app, &format!("/api/v1/ratings/tickets/{code}"), &json!({"level": 1})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "rating_token_used".into()));

        // A second service, rated through the QR on its ticket.
        let code2 = serve_one(&app, &kiosk, &clerk, w1).await;
        let target: Value = TestApp::client().get(app.url(&format!("/api/v1/ratings/tickets/{code2}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(target["used"], false);
        let res = anon_post(&app, &format!("/api/v1/ratings/tickets/{code2}"), &json!({"level": 1, "channel": "pad"})).await;
        assert_eq!(error_code(res).await.1, "rating_channel_invalid");
        let res = anon_post(&app, &format!("/api/v1/ratings/tickets/{code2}"), &json!({"level": 1})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.json::<Value>().await.unwrap()["channel"], "qr_code");

        // The hall's dashboard: two visitors, two ratings, one bad, 50 % satisfied.
        let today = "2026-03-18";
        let dash = |scope: &'static str, id: i64| format!("/api/v1/ratings/dashboard?scope={scope}&id={id}&from={today}&to={today}");
        let d: Value = manager.get(&dash("hall", hall)).await.json().await.unwrap();
        let t = &d["totals"]["ticket_ratings"];
        assert_eq!(d["totals"]["service"]["visitors"], 2, "{d}");
        assert_eq!(t["issued"], 2);
        assert_eq!(t["rated"], 2);
        assert_eq!(t["bad"], 1);
        assert_eq!(t["satisfaction"], 0.5);
        assert_eq!(t["followups"], 1);
        assert_eq!(d["totals"]["case_ratings"]["rated"], 0, "the case series is apart");

        // The follow-up: steps in order, then the call back with the rater's view.
        let step = |s: &str| format!("/api/v1/ratings/followups/{followup}/steps/{s}");
        let res = manager.post(&step("rectify"), &json!({"note": "先整改"})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "followup_step_out_of_order".into()));
        let res = clerk.post(&step("verify"), &json!({"note": "核实"})).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "a clerk does not see follow-ups");
        let res = manager.post(&step("verify"), &json!({"note": ""})).await;
        assert_eq!(error_code(res).await.1, "followup_note_invalid");
        let res = manager.post(&step("verify"), &json!({"note": "已电话联系办事人，情况属实"})).await;
        let f: Value = res.json().await.unwrap();
        assert_eq!(f["state"], "verified");
        assert_eq!(f["rectify_due"], "2026-03-25", "5 working days on the calendar");
        manager.post(&step("rectify"), &json!({"note": "窗口人员服务规范培训"})).await;
        manager.post(&step("feedback"), &json!({"note": "已向办事人反馈整改情况"})).await;
        let res = manager.post(&step("callback"), &json!({"note": "回访"})).await;
        assert_eq!(error_code(res).await.1, "callback_view_required");
        let res = manager.post(&step("callback"), &json!({"note": "办事人认可整改", "view": "satisfied"})).await;
        assert_eq!(res.json::<Value>().await.unwrap()["state"], "closed");
        let d: Value = manager.get(&dash("hall", hall)).await.json().await.unwrap();
        let t = &d["totals"]["ticket_ratings"];
        assert_eq!(t["followup_rate"], 1.0);
        assert_eq!(t["callback_rate"], 1.0);
        assert_eq!(t["rectified_on_time"], 1);
        // A finished follow-up can no longer be appealed.
        let sup = app.token("jingjiang.supervisor").await;
        let res = sup.post(&format!("/api/v1/ratings/followups/{followup}/appeal"), &json!({"exclude": true, "reason": "恶意差评"})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "followup_finished".into()));

        // A third, malicious review: the appeal excludes it, the reason is kept, and the
        // figures of the day drop it without any history rewritten.
        let code3 = serve_one(&app, &kiosk, &clerk, w1).await;
        let rated: Value = anon_post(&app, &format!("/api/v1/ratings/tickets/{code3}"), &json!({"level": 5, "text": "无理由"})).await.json().await.unwrap();
        let f3 = rated["followup_id"].as_i64().unwrap();
        let res = manager.post(&format!("/api/v1/ratings/followups/{f3}/appeal"), &json!({"exclude": true, "reason": "自己的差评"})).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "the rated hall does not decide its own appeal");
        let res = sup.post(&format!("/api/v1/ratings/followups/{f3}/appeal"), &json!({"exclude": true, "reason": "经核查为恶意差评"})).await;
        let f: Value = res.json().await.unwrap();
        assert_eq!(f["state"], "excluded");
        assert_eq!(f["rating"]["excluded_reason"], "经核查为恶意差评");
        let d: Value = sup.get(&dash("hall", hall)).await.json().await.unwrap();
        let t = &d["totals"]["ticket_ratings"];
        assert_eq!(t["rated"], 3);
        assert_eq!(t["excluded"], 1);
        assert_eq!(t["bad"], 1);
        assert_eq!(t["satisfaction"], 0.5);

        // The region subtree sums its halls at query time; the window and person agree.
        let county = app.region_id("990121").await;
        let province = app.region_id("990000").await;
        for (scope, id) in [("region", county), ("region", province), ("window", w1)] {
            let r: Value = sup.get(&dash(scope, id)).await.json().await.unwrap();
            assert_eq!(r["totals"]["ticket_ratings"]["rated"], 3, "{scope} {id}: {r}");
            assert_eq!(r["totals"]["service"]["visitors"], 3, "{scope} {id}");
        }
        // Out of scope is not found; bad periods are refused.
        let other = app.token("qinghe.manager").await;
        let res = other.get(&dash("hall", hall)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = sup.get(&format!("/api/v1/ratings/dashboard?scope=hall&id={hall}&from=2026-03-18&to=2026-03-01")).await;
        assert_eq!(error_code(res).await.1, "period_invalid");
        let res = sup.get(&format!("/api/v1/ratings/dashboard?scope=galaxy&id={hall}")).await;
        assert_eq!(error_code(res).await.1, "dashboard_scope_invalid");

        // Exports: CSV with a BOM, and a workbook.
        let res = sup.get(&format!("/api/v1/ratings/dashboard/export/csv?scope=hall&id={hall}&from={today}&to={today}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = res.bytes().await.unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        assert!(String::from_utf8_lossy(&bytes).contains("一次一评 满意率"));
        let res = sup.get(&format!("/api/v1/ratings/dashboard/export/xlsx?scope=hall&id={hall}&from={today}&to={today}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.bytes().await.unwrap().starts_with(b"PK"));
    }
}

both_backends! {
    async fn overdue_follow_ups_warn_and_default_ratings_count_apart(app: TestApp) {
        let (hall, w1) = luoping(&app).await;
        let kiosk = pair(&app, hall, "kiosk", None).await;
        let clerk = app.token("luoping.clerk").await;
        clerk.post(&format!("/api/v1/queue/windows/{w1}/open"), &json!({})).await;
        let bad = serve_one(&app, &kiosk, &clerk, w1).await;
        let _unrated = serve_one(&app, &kiosk, &clerk, w1).await;
        anon_post(&app, &format!("/api/v1/ratings/tickets/{bad}"), &json!({"level": 5, "text": "排队太久"})).await;

        // Default ratings are off by default: nothing happens after a week.
        app.clock.advance(jiff::SignedDuration::from_hours(24 * 8));
        assert_eq!(onestop_web::ratings::default_unrated(&app.state).await.unwrap(), 0);
        // The city turns them on (7 days): the unrated one defaults, reported apart.
        let admin = app.token("jingjiang.admin").await;
        let city = app.region_id("990100").await;
        let res = admin.put(&format!("/api/v1/regions/{city}/settings/ratings.default"), &json!({"enabled": true, "after_days": 7})).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(onestop_web::ratings::default_unrated(&app.state).await.unwrap(), 1);
        assert_eq!(onestop_web::ratings::default_unrated(&app.state).await.unwrap(), 0, "once only");

        // The follow-up's 5 working days have passed: one warning, once.
        assert_eq!(onestop_web::ratings::sweep_overdue(&app.state).await.unwrap(), 1);
        assert_eq!(onestop_web::ratings::sweep_overdue(&app.state).await.unwrap(), 0);

        let sup = app.token("jingjiang.supervisor").await;
        let d: Value = sup.get(&format!("/api/v1/ratings/dashboard?scope=hall&id={hall}&from=2026-03-01&to=2026-03-31&trend=month")).await.json().await.unwrap();
        let t = &d["totals"]["ticket_ratings"];
        assert_eq!(t["rated"], 1, "{d}");
        assert_eq!(t["defaulted"], 1);
        assert_eq!(t["overdue"], 1);
        assert_eq!(t["satisfaction"], 0.0);
        assert_eq!(t["satisfaction_with_default"], 0.5);
        assert_eq!(d["points"].as_array().unwrap().len(), 1);
        let f: Value = sup.get(&format!("/api/v1/ratings/halls/{hall}/followups")).await.json().await.unwrap();
        assert_eq!(f[0]["overdue"], true);
    }
}

both_backends! {
    async fn the_pad_page_the_public_form_and_the_dashboard_page(app: TestApp) {
        let (hall, w1) = luoping(&app).await;
        let kiosk = pair(&app, hall, "kiosk", None).await;
        let pad = pair(&app, hall, "pad", Some(w1)).await;
        let clerk = app.token("luoping.clerk").await;
        clerk.post(&format!("/api/v1/queue/windows/{w1}/open"), &json!({})).await;

        // The pad's full-screen page, and it is for pads only.
        let res = device(&app, reqwest::Method::GET, "/device/pad", &pad).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("/api/v1/ratings/pad/events") && html.contains("非常不满意"), "{html}");
        let res = device(&app, reqwest::Method::GET, "/device/pad", &kiosk).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // The public form from the ticket's QR works without JavaScript.
        let code = serve_one(&app, &kiosk, &clerk, w1).await;
        let res = TestApp::client().get(app.url(&format!("/rate/t/{code}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("服务态度"));
        let form = |fields: &[(&str, &str)]| {
            let fields: Vec<(String, String)> = fields.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
            TestApp::client().post(app.url(&format!("/rate/t/{code}"))).form(&fields)
        };
        let res = form(&[("level", "5"), ("text", "")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("请写明原因"));
        let s = app.login("luoping.manager").await;
        let res = s.form(&format!("/rate/t/{code}"), &[("level", "1")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "a staff session cannot rate on the page either");
        let res = form(&[("level", "2"), ("dim_service_attitude", "1"), ("text", "很好")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert!(res.text().await.unwrap().contains("感谢您的评价"));
        let res = form(&[("level", "1")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT, "twice: refused, and the page says it was rated");
        assert!(res.text().await.unwrap().contains("本次服务已评价"));
        let res = TestApp::client().get(app.url("/rate/t/nothing-here")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        // The supervision page with its chart data.
        let sup = app.login("jingjiang.supervisor").await;
        let res = sup.get(&format!("/supervision/dashboard?scope=hall&id={hall}&from=2026-03-16&to=2026-03-18")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("echarts-5.6.0.min.js") && html.contains("\"visitors\":[0,0,1]"), "{html}");
        assert!(html.contains("100.0%"), "satisfaction of the day: {html}");
    }
}
