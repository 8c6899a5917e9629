//! Region settings over HTTP: values inherit live down the tree, overrides show their origin and
//! reset, bad values and the wrong people are refused, and a rule applies the setting in force.
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "queue.no_show";

both_backends! {
    async fn a_city_value_reaches_counties_until_they_override_it(app: TestApp) {
        let city = app.region_id("990100").await;
        let county = app.region_id("990121").await;
        let city_admin = app.token("jiuan.admin").await;
        let county_admin = app.token("luoping.admin").await;
        let path = |r: i64| format!("/api/v1/regions/{r}/settings/{KEY}");

        // Nobody overrides it: the default, everywhere.
        let v: Value = county_admin.get(&path(county)).await.json().await.unwrap();
        assert_eq!(v["origin"]["from"], "default");
        assert_eq!(v["value"], json!({"max_no_shows": 3, "within_days": 30, "block_days": 7}));

        // The city changes it: the county sees the city's value at once, marked as inherited.
        let res = city_admin.put(&path(city), &json!({"max_no_shows": 2, "within_days": 60, "block_days": 14})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = county_admin.get(&path(county)).await.json().await.unwrap();
        assert_eq!(v["value"]["max_no_shows"], 2);
        assert_eq!((v["origin"]["from"].as_str(), v["origin"]["code"].as_str()), (Some("region"), Some("990100")));
        assert_eq!(v["overridden_here"], false);

        // The county overrides it; the city's next change no longer reaches the county.
        let res = county_admin.put(&path(county), &json!({"max_no_shows": 5, "within_days": 30, "block_days": 3})).await;
        assert_eq!(res.status(), StatusCode::OK);
        city_admin.put(&path(city), &json!({"max_no_shows": 1, "within_days": 60, "block_days": 14})).await;
        let v: Value = county_admin.get(&path(county)).await.json().await.unwrap();
        assert_eq!((v["value"]["max_no_shows"].as_i64(), v["overridden_here"].as_bool()), (Some(5), Some(true)));
        // A sibling county still inherits from the city.
        let qinghe = app.region_id("990122").await;
        let v: Value = city_admin.get(&path(qinghe)).await.json().await.unwrap();
        assert_eq!(v["value"]["max_no_shows"], 1);

        // Reset: the county inherits the city's current value again.
        let v: Value = county_admin.delete(&path(county)).await.json().await.unwrap();
        assert_eq!((v["value"]["max_no_shows"].as_i64(), v["origin"]["code"].as_str()), (Some(1), Some("990100")));
        let all: Vec<Value> = county_admin.get(&format!("/api/v1/regions/{county}/settings")).await.json().await.unwrap();
        assert!(all.iter().any(|s| s["key"] == KEY && s["title"] == "预约爽约规则"));

        // Every change is in the audit trail of its region.
        let auditor = app.token("jiuan.auditor").await;
        let trail: Value = auditor.get("/api/v1/audit?action=setting.set").await.json().await.unwrap();
        assert!(trail.to_string().contains("setting.set"), "{trail}");
    }
}

both_backends! {
    async fn bad_values_unknown_keys_and_the_wrong_people_are_refused(app: TestApp) {
        let county = app.region_id("990121").await;
        let qinghe = app.region_id("990122").await;
        let admin = app.token("luoping.admin").await;
        let path = format!("/api/v1/regions/{county}/settings/{KEY}");
        for (body, code) in [
            (json!({"max_no_shows": 3, "within_days": 30}), "setting_invalid"),
            (json!({"max_no_shows": 3, "within_days": 30, "block_days": 7, "typo": 1}), "setting_invalid"),
            (json!({"max_no_shows": -1, "within_days": 30, "block_days": 7}), "setting_invalid"),
            (json!({"max_no_shows": "3", "within_days": 30, "block_days": 7}), "setting_invalid"),
            (json!({"max_no_shows": 3, "within_days": 9999, "block_days": 7}), "no_show_rule_out_of_range"),
            (json!([1, 2, 3]), "setting_invalid"),
        ] {
            let res = admin.put(&path, &body).await;
            assert_ne!(res.status(), StatusCode::OK, "{body}");
            let (status, got) = error_code(res).await;
            assert_eq!((status, got.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{body}");
        }
        // Nothing was stored by the refused attempts.
        let v: Value = admin.get(&path).await.json().await.unwrap();
        assert_eq!(v["origin"]["from"], "default");

        let (status, code) = error_code(admin.get(&format!("/api/v1/regions/{county}/settings/queue.nothing")).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "setting_unknown"));
        // A sibling county's settings do not exist for this admin; a clerk may read, not write.
        let (status, _) = error_code(admin.get(&format!("/api/v1/regions/{qinghe}/settings/{KEY}")).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let clerk = app.token("luoping.clerk").await;
        assert_eq!(clerk.get(&path).await.status(), StatusCode::OK);
        let (status, code) = error_code(clerk.put(&path, &json!({"max_no_shows": 0, "within_days": 30, "block_days": 7})).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));
        // A county admin cannot change the city above it.
        let city = app.region_id("990100").await;
        let (status, _) = error_code(admin.put(&format!("/api/v1/regions/{city}/settings/{KEY}"), &json!({"max_no_shows": 0, "within_days": 30, "block_days": 7})).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

both_backends! {
    async fn the_settings_page_shows_origins_saves_and_resets(app: TestApp) {
        let county = app.region_id("990121").await;
        let city = app.region_id("990100").await;
        app.token("jiuan.admin").await
            .put(&format!("/api/v1/regions/{city}/settings/{KEY}"), &json!({"max_no_shows": 4, "within_days": 30, "block_days": 7}))
            .await;
        let s = app.login("luoping.admin").await;
        let page = format!("/admin/regions/{county}/settings");
        let html = s.get(&page).await.text().await.unwrap();
        assert!(html.contains("预约爽约规则") && html.contains("继承自 久安市"), "{html}");
        assert!(html.contains("name=\"max_no_shows\" value=\"4\""));

        // A number that is not one: the page again, 422, with the message at the setting.
        let res = s.form(&format!("{page}/{KEY}"), &[("max_no_shows", "three"), ("within_days", "30"), ("block_days", "7")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("不是有效的数字"));
        // A value that breaks the rule: 422 with the rule's message.
        let res = s.form(&format!("{page}/{KEY}"), &[("max_no_shows", "3"), ("within_days", "999"), ("block_days", "7")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("366"));

        let res = s.form(&format!("{page}/{KEY}"), &[("max_no_shows", "2"), ("within_days", "10"), ("block_days", "5")]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        let html = s.get(&page).await.text().await.unwrap();
        assert!(html.contains("本级设置") && html.contains("name=\"within_days\" value=\"10\"") && html.contains(&format!("{KEY}/reset")));

        let res = s.form(&format!("{page}/{KEY}/reset"), &[]).await;
        assert!(res.status().is_success() || res.status().is_redirection());
        let html = s.get(&page).await.text().await.unwrap();
        assert!(html.contains("继承自 久安市") && !html.contains(&format!("{KEY}/reset")));

        // A clerk cannot open the admin page.
        let clerk = app.login("luoping.clerk").await;
        assert_eq!(clerk.get(&page).await.status(), StatusCode::FORBIDDEN);
    }
}

both_backends! {
    async fn booking_applies_the_no_show_rule_in_force_at_the_hall(app: TestApp) {
        // The county switches the rule off: one missed booking then never blocks; with the rule at
        // one miss, the same history blocks. The history is one no-show recorded for the person.
        let county = app.region_id("990121").await;
        let admin = app.token("luoping.admin").await;
        let path = format!("/api/v1/regions/{county}/settings/{KEY}");
        let hall: i64 = {
            let halls: Vec<Value> = admin.get("/api/v1/halls").await.json().await.unwrap();
            halls.iter().find(|h| h["region_id"] == county).unwrap()["id"].as_i64().unwrap()
        };
        let client = TestApp::client();
        let slots: Vec<Value> = client.get(app.url(&format!("/api/v1/queue/halls/{hall}/slots"))).send().await.unwrap().json().await.unwrap();
        let today = test_now().to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()).date().to_string();
        let first_today = slots.iter().find(|s| s["day"] == today.as_str()).unwrap().clone();
        let later: Vec<Value> = slots.iter().filter(|s| s["day"] != today.as_str()).take(2).cloned().collect();
        let who = "11010519491231002X";
        let book = |slot: &Value| {
            let body = json!({"slot_id": slot["id"], "id_number": who, "name": "张三"});
            let c = client.clone();
            let url = app.url("/api/v1/queue/appointments");
            async move { c.post(url).json(&body).send().await.unwrap() }
        };
        assert_eq!(book(&first_today).await.status(), StatusCode::CREATED);
        app.clock.advance(jiff::SignedDuration::from_hours(9));
        assert_eq!(onestop_web::jobs::sweep_no_shows(&app.state).await.unwrap(), 1);

        admin.put(&path, &json!({"max_no_shows": 1, "within_days": 30, "block_days": 7})).await;
        let (status, code) = error_code(book(&later[0]).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "booking_blocked"));

        admin.put(&path, &json!({"max_no_shows": 0, "within_days": 30, "block_days": 7})).await;
        assert_eq!(book(&later[0]).await.status(), StatusCode::CREATED);
    }
}
