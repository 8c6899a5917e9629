//! Scorecards (月度排名) as supervisors meet them: ranks only above the minimum sample, each with
//! its figures; a frozen month that never changes and freezes once; two bottom months in a row
//! flag a talk (约谈); an appeal decided after the freeze lands in the next month; the exports;
//! the public page with no personal data.
use crate::both_backends;
use crate::common::*;
use crate::ratings::{anon_post, luoping, pair, serve_one};
use onestop_domain::rating::{Level, Series};
use onestop_store::ratings::{self as rs, Leaf, RatingDelta, ServiceDelta};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Counts `levels` (one real rating each) and as many served visitors waiting `wait_min` minutes
/// at window `w` of `hall`, at `at`, through the store's counter writes (the same ones the
/// queue's finish and the rating make), to build a month's figures quickly.
async fn month_of_work(app: &TestApp, region: i64, hall: i64, w: i64, at: &str, levels: &[i64], wait_min: i64) {
    let at: jiff::Timestamp = at.parse().unwrap();
    let levels = levels.to_vec();
    app.store
        .write(move |tx| {
            Box::pin(async move {
                let leaf = Leaf {
                    series: Series::Ticket,
                    region_id: region,
                    hall_id: hall,
                    window_id: w,
                    person_id: 0,
                    department_id: 0,
                };
                for l in levels {
                    let mut d = RatingDelta {
                        issued: 1,
                        rated: 1,
                        ..RatingDelta::default()
                    };
                    d.levels[(l - 1) as usize] = 1;
                    if Level::from_code(l)?.is_bad() {
                        d.followups = 1;
                    }
                    rs::count(tx, &leaf, at, d).await?;
                    let s = ServiceDelta {
                        wait_ms: Some(wait_min * 60_000),
                        service_ms: Some(300_000),
                    };
                    rs::count_service(tx, hall, w, 0, 0, at, s).await?;
                }
                Ok::<_, onestop_store::StoreError>(())
            })
        })
        .await
        .unwrap();
}

async fn set_rule(app: &TestApp, region: i64, rule: Value) {
    app.store
        .write(move |tx| {
            Box::pin(async move {
                onestop_store::region_settings::set(tx, region, "ratings.scorecard", &rule, test_now(), "test").await
            })
        })
        .await
        .unwrap();
}

fn table<'a>(s: &'a Value, kind: &str) -> &'a Vec<Value> {
    s["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == kind)
        .unwrap()["rows"]
        .as_array()
        .unwrap()
}

fn row<'a>(s: &'a Value, kind: &str, id: i64) -> &'a Value {
    table(s, kind)
        .iter()
        .find(|r| r["subject_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {s}"))
}

both_backends! {
    async fn ranks_need_the_sample_freeze_once_and_two_bottom_months_flag_a_talk(app: TestApp) {
        let region = app.region_id("990121").await;
        let (hall, ws) = hall_with_windows(&app, region, "测评大厅", 4).await;
        set_rule(&app, region, json!({"min_sample": 10, "bottom": "last", "bottom_percent": 10, "min_peers": 3, "talk_after_months": 2})).await;
        // Two months alike: w0 all 非常满意, w1 two bad, w2 six bad and long waits, w3 too few ratings.
        for at in ["2026-01-12T03:00:00Z", "2026-02-10T03:00:00Z"] {
            month_of_work(&app, region, hall, ws[0], at, &[1; 20], 5).await;
            month_of_work(&app, region, hall, ws[1], at, &[[1; 18].as_slice(), &[4, 5]].concat(), 10).await;
            month_of_work(&app, region, hall, ws[2], at, &[[2; 14].as_slice(), &[5; 6]].concat(), 40).await;
            month_of_work(&app, region, hall, ws[3], at, &[5; 5], 60).await;
        }
        let sup = app.token("jingjiang.supervisor").await;
        let manager = app.token("luoping.manager").await;

        // January is frozen by the job's use case, February through the API.
        let r = onestop_store::regions::get(app.store.read(), region).await.unwrap();
        let jan = onestop_domain::scorecard::Month::parse("2026-01").unwrap();
        let out = onestop_web::scorecards::freeze(&app.state, &r, jan, "test", &mut |_, _| {}).await.unwrap();
        assert!(out.frozen);
        let res = manager.post("/api/v1/supervision/scorecards/freeze", &json!({"region": region, "month": "2026-02"})).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "a hall manager reads but does not freeze");
        let res = sup.post("/api/v1/supervision/scorecards/freeze", &json!({"region": region, "month": "2026-03"})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "scorecard_month_open".into()));
        let res = sup.post("/api/v1/supervision/scorecards/freeze", &json!({"region": region, "month": "2026-2"})).await;
        assert_eq!(error_code(res).await.1, "month_invalid");
        let res = sup.post("/api/v1/supervision/scorecards/freeze", &json!({"region": region, "month": "2026-02"})).await;
        let out: Value = res.json().await.unwrap();
        assert_eq!(out["frozen"], true, "{out}");

        let url = format!("/api/v1/supervision/scorecards?region={region}&month=2026-02");
        let s: Value = manager.get(&url).await.json().await.unwrap();
        assert!(s["frozen"].is_object(), "{s}");
        let (w0, w1, w2, w3) = (row(&s, "window", ws[0]), row(&s, "window", ws[1]), row(&s, "window", ws[2]), row(&s, "window", ws[3]));
        assert_eq!(w0["rank"], 1);
        assert_eq!(w1["rank"], 2);
        assert_eq!(w2["rank"], 3);
        assert_eq!(w2["peers"], 3, "the demo hall's idle windows and w3 are not peers in the ranking");
        // Below the sample: not ranked, but its figures are shown.
        assert!(w3["rank"].is_null());
        assert_eq!(w3["card"]["sample"], 5);
        assert_eq!(w3["card"]["figures"]["ticket_ratings"]["bad"], 5);
        assert!(!w3["bottom"].as_bool().unwrap());
        // The figures behind the rank.
        assert_eq!(w0["card"]["figures"]["ticket_ratings"]["satisfaction"], 1.0);
        assert_eq!(w2["card"]["figures"]["service"]["share_wait_over_30"], 1.0);
        assert_eq!(w0["score_permille"], 1000);
        assert!(w1["score_permille"].as_i64().unwrap() > w2["score_permille"].as_i64().unwrap());
        // Last place in January and February: a talk, shown on the page.
        assert_eq!(w2["bottom"], true);
        assert_eq!(w2["talk"], true);
        assert_eq!(w1["talk"], false);
        let page = app.login("luoping.manager").await.get(&format!("/supervision/scorecards?region={region}&month=2026-02")).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("<li class=\"talk\"><strong>约谈</strong> 窗口 · 测评大厅 3号窗口"), "{html}");
        assert!(!html.contains("<strong>约谈</strong> 窗口 · 测评大厅 2号窗口"));
        assert!(html.contains("排名依据"));

        // Freezing again changes nothing, and late counts never reach the frozen month.
        let res = sup.post("/api/v1/supervision/scorecards/freeze", &json!({"region": region, "month": "2026-02"})).await;
        assert_eq!(res.json::<Value>().await.unwrap()["frozen"], false);
        month_of_work(&app, region, hall, ws[2], "2026-02-20T03:00:00Z", &[1; 40], 1).await;
        let again: Value = manager.get(&url).await.json().await.unwrap();
        assert_eq!(again["tables"], s["tables"], "a frozen month never changes");

        // Exports: the .xlsx is a zip holding the sheet; the CSV starts with a BOM.
        let x = manager.get(&format!("/api/v1/supervision/scorecards/export/xlsx?region={region}&month=2026-02")).await;
        assert_eq!(x.status(), StatusCode::OK);
        let bytes = x.bytes().await.unwrap();
        assert_eq!(&bytes[..2], b"PK");
        assert!(bytes.windows(24).any(|w| w == b"xl/worksheets/sheet1.xml"));
        let c = manager.get(&format!("/api/v1/supervision/scorecards/export/csv?region={region}&month=2026-02")).await;
        let text = c.bytes().await.unwrap();
        assert_eq!(&text[..3], b"\xEF\xBB\xBF");
        let text = String::from_utf8(text[3..].to_vec()).unwrap();
        let line = text.lines().find(|l| l.contains("测评大厅 3号窗口")).unwrap();
        assert!(line.starts_with("3/3,") && line.ends_with("末位,约谈"), "{line}");
        let line = text.lines().find(|l| l.contains("测评大厅 4号窗口")).unwrap();
        assert!(line.starts_with("样本不足,"), "{line}");
    }
}

both_backends! {
    async fn an_appeal_after_the_freeze_adjusts_the_next_month_and_the_public_page_is_anonymous(app: TestApp) {
        let (hall, w1) = luoping(&app).await;
        let region = app.region_id("990121").await;
        set_rule(&app, region, json!({"min_sample": 1, "bottom": "last", "bottom_percent": 10, "min_peers": 2, "talk_after_months": 2})).await;
        let kiosk = pair(&app, hall, "kiosk", None).await;
        let clerk = app.token("luoping.clerk").await;
        let manager = app.token("luoping.manager").await;
        assert_eq!(clerk.post(&format!("/api/v1/queue/windows/{w1}/open"), &json!({})).await.status(), StatusCode::OK);
        // Two bad reviews in March: one is put right, the other will be appealed.
        let mut followups = Vec::new();
        let mut codes = Vec::new();
        for text in ["等了很久没人理", "态度不好"] {
            let code = serve_one(&app, &kiosk, &clerk, w1).await;
            let res = anon_post(&app, &format!("/api/v1/ratings/tickets/{code}"), &json!({"level": 5, "text": text})).await;
            assert_eq!(res.status(), StatusCode::CREATED);
            followups.push(res.json::<Value>().await.unwrap()["followup_id"].as_i64().unwrap());
            codes.push(code);
        }
        let step = |s: &str| format!("/api/v1/ratings/followups/{}/steps/{s}", followups[0]);
        manager.post(&step("verify"), &json!({"note": "已核实"})).await;
        let res = manager.post(&step("rectify"), &json!({"note": "增开窗口，联系电话13912345678"})).await;
        assert_eq!(res.status(), StatusCode::OK);

        // April: March is frozen with both bad reviews.
        app.clock.advance(jiff::SignedDuration::from_hours(24 * 20));
        let sup = app.token("jingjiang.supervisor").await;
        let res = sup.post("/api/v1/supervision/scorecards/freeze", &json!({"region": region, "month": "2026-03"})).await;
        assert_eq!(res.json::<Value>().await.unwrap()["frozen"], true);
        let march = format!("/api/v1/supervision/scorecards?region={region}&month=2026-03");
        let before: Value = sup.get(&march).await.json().await.unwrap();
        assert_eq!(row(&before, "window", w1)["card"]["figures"]["ticket_ratings"]["bad"], 2, "{before}");

        // The appeal is decided in April: March stays, April carries the exclusion.
        let res = sup.post(&format!("/api/v1/ratings/followups/{}/appeal", followups[1]), &json!({"exclude": true, "reason": "经核查为恶意差评"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let after: Value = sup.get(&march).await.json().await.unwrap();
        assert_eq!(after["tables"], before["tables"]);
        let april: Value = sup.get(&format!("/api/v1/supervision/scorecards?region={region}&month=2026-04")).await.json().await.unwrap();
        assert!(april["frozen"].is_null());
        assert_eq!(row(&april, "window", w1)["card"]["figures"]["ticket_ratings"]["excluded"], 1, "{april}");

        // The public page: no login, the hall's figures and the rectification, nobody's data.
        let page = TestApp::client().get(app.url(&format!("/public/satisfaction/{hall}?month=2026-03"))).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("增开窗口") && html.contains("2026-03-18"), "{html}");
        assert!(!html.contains("13912345678"), "a phone number in a note is masked");
        let clerk_name = onestop_store::users::by_username(app.store.read(), "luoping.clerk").await.unwrap().unwrap().0.display_name;
        for secret in [clerk_name.as_str(), "等了很久没人理", "态度不好", codes[0].as_str(), codes[1].as_str()] {
            assert!(!html.contains(secret), "{secret} is on the public page");
        }
        let list: Value = TestApp::client().get(app.url("/api/v1/public/satisfaction?month=2026-03")).send().await.unwrap().json().await.unwrap();
        let h = list["halls"].as_array().unwrap().iter().find(|h| h["hall_id"] == hall).unwrap();
        assert_eq!(h["ticket_rated"], 2);
        assert_eq!(h["ticket_satisfaction"], 0.0);
        let page = TestApp::client().get(app.url("/public/satisfaction")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);

        // The big screen of the region answers with its figures.
        let b: Value = sup.get(&format!("/api/v1/supervision/bigscreen?region={region}")).await.json().await.unwrap();
        assert!(b["trend_days"].as_array().unwrap().len() == 30, "{b}");
        assert!(b["ranking"].as_array().unwrap().iter().any(|r| r["hall_id"] == hall));
        let page = app.login("jingjiang.supervisor").await.get(&format!("/supervision/bigscreen?region={region}")).await;
        assert_eq!(page.status(), StatusCode::OK);
    }
}
