//! Rollout (推广) as its users meet it: the dry run per target, the run applying each target in one
//! transaction, an idempotent second run, overrides kept unless reset, refusals (outside the
//! subtree, a draft in the model, a conflicting code, bad input) and resume after interruption,
//! over the API, the admin page and the CLI.
use crate::both_backends;
use crate::common::*;
use crate::process::cli;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FOOD: &str = "000172007000"; // 食品经营许可证核发

async fn create_county(b: &Bearer, parent: i64, code: &str, name: &str) -> i64 {
    let res = b
        .post(
            "/api/v1/regions",
            &json!({"code": code, "name": name, "parent_id": parent}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn preview(b: &Bearer, body: Value) -> Value {
    let res = b.post("/api/v1/rollout/preview", &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn target<'a>(v: &'a Value, code: &str) -> &'a Value {
    v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["region"]["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in {v}"))
}

/// Starts a run over the API and waits until `expect_done` of its targets are no longer pending.
async fn run_rollout(b: &Bearer, body: Value, expect_done: usize) -> Value {
    let res = b.post("/api/v1/rollout/runs", &body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{:?}", res.text().await);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    wait(b, id, expect_done).await
}

async fn wait(b: &Bearer, id: i64, expect_done: usize) -> Value {
    for _ in 0..600 {
        let v: Value = b.get(&format!("/api/v1/rollout/runs/{id}")).await.json().await.unwrap();
        if v["done"].as_u64().unwrap() as usize >= expect_done {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {id} did not reach {expect_done} targets");
}

async fn count(app: &TestApp, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .fetch_one(app.store.read())
        .await
        .unwrap()
}

async fn implementation(b: &Bearer, region: i64, service: i64) -> Value {
    b.get(&format!("/api/v1/catalogue/regions/{region}/implementations/{service}"))
        .await
        .json()
        .await
        .unwrap()
}

async fn service_id(app: &TestApp, code: &str) -> i64 {
    let mut c = app.store.read().acquire().await.unwrap();
    onestop_store::catalogue::service_by_code(&mut c, code)
        .await
        .unwrap()
        .unwrap()
        .id
}

both_backends! {
    async fn dry_run_then_apply_then_nothing_more_with_overrides_kept_unless_reset(app: TestApp) {
        let admin = app.token("jiuan.admin").await;
        let city = app.region_id("990100").await;
        let xinan = create_county(&admin, city, "990124", "新安县").await;
        let (luoping, qinghe) = (app.region_id("990121").await, app.region_id("990122").await);
        let food = service_id(&app, FOOD).await;
        let body = json!({"from": "990100", "to": "990124,990121,990122"});

        // The dry run says what each target would get and writes nothing.
        let pv = preview(&admin, body.clone()).await;
        assert!(pv["model_problems"].as_array().unwrap().is_empty(), "{pv}");
        let model = pv["model_services"].as_u64().unwrap();
        assert!(model > 10, "{pv}");
        let x = target(&pv, "990124");
        assert_eq!(x["problems"], json!([]));
        assert_eq!(x["create"]["hall"], "新安县政务服务中心");
        assert_eq!(x["create"]["windows"].as_array().unwrap().len(), 10);
        assert!(x["create"]["categories"].as_array().unwrap().len() >= 2, "{x}");
        assert!(x["create"]["slots"].as_u64().unwrap() > 0, "{x}");
        assert_eq!(x["create"]["staff"], json!(["990124.manager", "990124.clerk", "990124.reviewer"]));
        // Services of the city reach the new county by inheritance: nothing to copy.
        assert_eq!(x["services_inherited"].as_u64().unwrap(), model);
        // 罗平县's own values and workflow, 清河县's switched-off service: shown, not changed.
        let lp = target(&pv, "990121");
        let kinds: Vec<&str> = lp["overrides"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"implementation") && kinds.contains(&"workflow"), "{lp}");
        let qh = target(&pv, "990122");
        assert!(qh["overrides"].as_array().unwrap().iter().any(|o| o["kind"] == "service_off"), "{qh}");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM halls WHERE region_id = $1", xinan).await, 0);

        // The run applies every target.
        let r = run_rollout(&admin, body.clone(), 3).await;
        assert_eq!(r["state"], "done", "{r}");
        for t in r["targets"].as_array().unwrap() {
            assert_eq!(t["state"], "applied", "{t}");
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM windows w JOIN halls h ON h.id = w.hall_id WHERE h.region_id = $1", xinan).await, 10);
        let clerk: Value = admin.get("/api/v1/users").await.json().await.unwrap();
        assert!(clerk.as_array().unwrap().iter().any(|u| u["username"] == "990124.clerk"), "{clerk}");
        // The new accounts cannot log in until an admin sets a password.
        let res = TestApp::client().post(app.url("/api/v1/session")).json(&json!({"username": "990124.clerk", "password": "!rollout"})).send().await.unwrap();
        assert!(res.status().is_client_error());
        let xinan_food = implementation(&admin, xinan, food).await;
        assert_eq!(xinan_food["enabled"], true, "{xinan_food}");
        // Overrides kept: 清河县 still does not offer its switched-off service, 罗平县 keeps its hours.
        let qh_off = qh["overrides"].as_array().unwrap().iter().find(|o| o["kind"] == "service_off").unwrap()["subject"].as_str().unwrap().to_owned();
        let qh_service = service_id(&app, &qh_off).await;
        assert_eq!(implementation(&admin, qinghe, qh_service).await["enabled"], false);
        let lp_food = implementation(&admin, luoping, food).await;
        assert!(lp_food.to_string().contains("周一至周六"), "{lp_food}");

        // A second run changes nothing.
        let pv2 = preview(&admin, body.clone()).await;
        assert_eq!(pv2["changes"], 0, "{pv2}");
        let rows_before = count(&app, "SELECT COUNT(*) FROM audit_log WHERE region_id = $1", xinan).await;
        let r2 = run_rollout(&admin, body.clone(), 3).await;
        for t in r2["targets"].as_array().unwrap() {
            assert_eq!((t["state"].as_str().unwrap(), t["summary"]["changes"].as_u64().unwrap()), ("applied", 0), "{t}");
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM windows w JOIN halls h ON h.id = w.hall_id WHERE h.region_id = $1", xinan).await, 10);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE region_id = $1", xinan).await, rows_before);

        // report: 罗平县's own variant of the 2026 calendar is a local override like the rest: shown, kept.
        let year = include_str!("../../../domain/data/calendar/cn-2026.toml");
        app.store
            .write(move |tx| Box::pin(async move { onestop_store::calendars::import_year(tx, Some(luoping), year, test_now(), "test").await }))
            .await
            .unwrap();
        let pv2 = preview(&admin, body.clone()).await;
        assert!(target(&pv2, "990121")["overrides"].as_array().unwrap().iter().any(|o| o["kind"] == "calendar" && o["subject"] == "2026"), "{pv2}");
        assert_eq!(pv2["changes"], 0, "{pv2}");

        // Asked to reset, the targets inherit again: 清河县 offers the service, 罗平县's workflow and calendar go.
        let reset = json!({"from": "990100", "to": "990121,990122", "reset_overrides": true});
        let pv3 = preview(&admin, reset.clone()).await;
        assert!(target(&pv3, "990121")["resets"].as_u64().unwrap() > 0, "{pv3}");
        run_rollout(&admin, reset.clone(), 2).await;
        assert_eq!(implementation(&admin, qinghe, qh_service).await["enabled"], true);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM workflow_in_force WHERE region_id = $1", luoping).await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM calendar_years WHERE region_id = $1", luoping).await, 0);
        assert!(!implementation(&admin, luoping, food).await.to_string().contains("周一至周六"));
        let pv4 = preview(&admin, reset).await;
        assert_eq!(pv4["changes"], 0, "{pv4}");
    }
}

both_backends! {
    async fn refusals_are_listed_and_nothing_is_applied_to_the_target(app: TestApp) {
        let admin = app.token("jiuan.admin").await;
        let province_admin = app.token("jingjiang.admin").await;
        let city = app.region_id("990100").await;
        let province = app.region_id("990000").await;
        let xinan = create_county(&admin, city, "990124", "新安县").await;
        let other_city = create_county(&province_admin, province, "990200", "长宁市").await;
        // 990125 has a hall whose window 1 is something else: a conflicting code.
        let pingan = create_county(&admin, city, "990125", "平安县").await;
        let res = admin.post("/api/v1/halls", &json!({"region_id": pingan, "name": "平安县政务服务中心", "address": ""})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
        let hall = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let res = admin.post("/api/v1/windows", &json!({"hall_id": hall, "number": "1", "name": "自助服务区", "kind": "general"})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);

        let body = json!({"from": "990100", "to": "990124,990125,990200,990000"});
        let pv = preview(&admin, body.clone()).await;
        let codes = |code: &str| -> Vec<String> {
            target(&pv, code)["problems"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(codes("990124"), Vec::<String>::new());
        assert_eq!(codes("990125"), vec!["code_conflict"]);
        assert!(target(&pv, "990125")["problems"][0]["message"].as_str().unwrap().contains("自助服务区"));
        assert_eq!(codes("990200"), vec!["target_outside_subtree"]);
        assert_eq!(codes("990000"), vec!["target_outside_subtree"]);
        assert_eq!(pv["refused"], 3);
        let r = run_rollout(&admin, body, 4).await;
        let states: Vec<(&str, &str)> = r["targets"].as_array().unwrap().iter().map(|t| (t["region"]["code"].as_str().unwrap(), t["state"].as_str().unwrap())).collect();
        assert_eq!(states, vec![("990124", "applied"), ("990125", "refused"), ("990200", "refused"), ("990000", "refused")]);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM windows WHERE hall_id = $1", hall).await, 1);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM halls WHERE region_id = $1", other_city).await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM role_grants WHERE region_id = $1", pingan).await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM halls WHERE region_id = $1", xinan).await, 1);

        // A draft in the model refuses every target.
        let food = service_id(&app, FOOD).await;
        let detail: Value = province_admin.get(&format!("/api/v1/catalogue/services/{food}")).await.json().await.unwrap();
        let mut content = detail["versions"][0]["content"].clone();
        content["record"]["conditions"] = json!("新版受理条件（草稿）");
        let res = province_admin.client.put(format!("{}/api/v1/catalogue/services/{food}/draft", province_admin.base))
            .bearer_auth(&province_admin.token).json(&json!({"content": content})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let pv = preview(&admin, json!({"from": "990100", "to": "990121"})).await;
        assert_eq!(pv["model_problems"][0]["code"], "model_item_draft", "{pv}");
        assert_eq!(target(&pv, "990121")["problems"][0]["code"], "model_item_draft");

        // Bad input: a 4xx with a stable code, nothing recorded.
        for (body, status, code) in [
            (json!({"from": "990100", "to": ""}), StatusCode::UNPROCESSABLE_ENTITY, "rollout_targets_empty"),
            (json!({"from": "990100", "to": "abc,990124"}), StatusCode::UNPROCESSABLE_ENTITY, "rollout_target_unknown"),
            (json!({"from": "999999", "to": "children"}), StatusCode::NOT_FOUND, "not_found"),
            (json!({"from": "990100", "to": "990124", "staff_csv": "region,username\n990124,张三"}), StatusCode::UNPROCESSABLE_ENTITY, "staff_csv_invalid"),
            (json!({"from": "990100", "to": "990124", "bogus": 1}), StatusCode::UNPROCESSABLE_ENTITY, ""),
        ] {
            let (got, got_code) = error_code(admin.post("/api/v1/rollout/runs", &body).await).await;
            assert_eq!(got, status, "{body}: {got_code}");
            if !code.is_empty() {
                assert_eq!(got_code, code, "{body}");
            }
        }
        // A county admin cannot roll the city's model out (it does not exist for them).
        let county = app.token("luoping.admin").await;
        let (got, _) = error_code(county.post("/api/v1/rollout/preview", &json!({"from": "990100", "to": "children"})).await).await;
        assert_eq!(got, StatusCode::NOT_FOUND);
        let res = admin.client.put(format!("{}/api/v1/regions/{city}/rollout/template", admin.base)).bearer_auth(&admin.token)
            .json(&json!({"windows": [{"number": "1", "name": "综合", "kind": "toaster"}], "categories": [{"prefix": "a", "name": "x"}]})).send().await.unwrap();
        let (got, code) = error_code(res).await;
        assert_eq!((got, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "rollout_template_invalid"));
    }
}

both_backends! {
    async fn the_cli_resumes_an_interrupted_run_and_the_page_previews_and_runs(app: TestApp) {
        let admin = app.token("jiuan.admin").await;
        let city = app.region_id("990100").await;
        create_county(&admin, city, "990124", "新安县").await;
        let dir = TempDir::new("rollout");
        // A staff list from CSV, and the dry run: nothing written.
        let csv = dir.0.join("staff.csv");
        std::fs::write(&csv, "\u{feff}region,username,display_name,role,department\n990124,xinan.wang,王芳,window_clerk,市场监督管理局\n").unwrap();
        let csv = csv.to_str().unwrap().to_owned();
        let dry = cli(&dir, &app.db.url, &["rollout", "--from", "990100", "--to", "children", "--dry-run", "--staff-csv", &csv], None);
        assert!(dry.ok, "{dry:?}");
        assert!(dry.stdout.contains("新安县") && dry.stdout.contains("推广预览"), "{dry:?}");
        // Interrupted after two targets (--limit stands for a run cut short): the rest stays pending.
        let first = cli(&dir, &app.db.url, &["rollout", "--from", "990100", "--to", "children", "--limit", "2", "--staff-csv", &csv], None);
        assert!(first.ok, "{first:?}");
        assert!(first.stderr.contains("2/7"), "{first:?}");
        let resume_line = first.stdout.lines().find(|l| l.contains("--resume")).unwrap_or_else(|| panic!("{first:?}"));
        let id = resume_line.rsplit(' ').next().unwrap().to_owned();
        let r: Value = admin.get(&format!("/api/v1/rollout/runs/{id}")).await.json().await.unwrap();
        assert_eq!((r["done"].as_u64(), r["state"].as_str()), (Some(2), Some("running")), "{r}");
        let again = cli(&dir, &app.db.url, &["rollout", "--resume", &id], None);
        assert!(again.ok, "{again:?}");
        assert!(again.stderr.contains("7/7"), "{again:?}");
        let r: Value = admin.get(&format!("/api/v1/rollout/runs/{id}")).await.json().await.unwrap();
        assert_eq!((r["done"].as_u64(), r["state"].as_str()), (Some(7), Some("done")), "{r}");
        let users: Value = admin.get("/api/v1/users").await.json().await.unwrap();
        assert!(users.as_array().unwrap().iter().any(|u| u["username"] == "xinan.wang"), "{users}");
        // Then the same rollout changes nothing.
        let dry = cli(&dir, &app.db.url, &["rollout", "--from", "990100", "--to", "children", "--dry-run", "--json"], None);
        assert!(dry.ok, "{dry:?}");
        let pv: Value = serde_json::from_str(&dry.stdout).unwrap();
        assert_eq!(pv["changes"], 0, "{pv}");
        // Acting as a county admin, the city's children are out of reach.
        let as_county = cli(&dir, &app.db.url, &["rollout", "--from", "990121", "--to", "990122", "--as", "luoping.admin"], None);
        assert!(!as_county.ok, "{as_county:?}");
        assert!(as_county.all().contains("不在您的管辖范围内"), "{as_county:?}");

        // The page: the preview, then the run and its progress.
        let s = app.login("jiuan.admin").await;
        let res = s.get("/admin/rollout?from=990100&to=990124,990121").await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("推广预览") && html.contains("新安县") && html.contains("罗平县"), "{html}");
        let res = s.form("/admin/rollout/runs", &[("from", "990100"), ("to", "990124,990121"), ("staff_csv", "")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let run_id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
        wait(&admin, run_id, 2).await;
        let html = s.get(&location).await.text().await.unwrap();
        assert!(html.contains("推广进度") && html.contains("已推广") && html.contains("2/2"), "{html}");
        // A bad target list comes back on the page with its reason.
        let res = s.form("/admin/rollout/runs", &[("from", "990100"), ("to", "abc"), ("staff_csv", "")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("没有代码为“abc”的区划"));
        let clerk = app.login("jiuan.clerk").await;
        assert_eq!(clerk.get("/admin/rollout").await.status(), StatusCode::FORBIDDEN);
    }
}

/// Rollout benchmark (issue 7, "Measured"): a 300-service model rolled out from 久安市 to 100 new
/// counties, each getting a hall from the city's template (10 windows, categories, a week of
/// slots, 3 accounts), through the same use cases as the API and the CLI; then the same rollout
/// again (nothing to change). Reports time per target and database growth in bytes, beside the
/// durable single-row commit of the same database in the same run. Ignored in the normal suite:
/// `cargo test --release -p onestop --test it rollout_bench -- --ignored --nocapture --test-threads=1`
/// (PostgreSQL too when ONESTOP_TEST_PG is set). `ONESTOP_BENCH_TARGETS` / `ONESTOP_BENCH_SERVICES`
/// change the sizes.
mod rollout_bench {
    use super::*;
    use onestop_domain::catalogue::{ImplementationOverrides, VersionStatus};
    use onestop_domain::clock::Clock;
    use onestop_store::StoreError;
    use std::time::Instant;

    fn env(name: &str, default: usize) -> usize {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    async fn db_bytes(app: &TestApp) -> i64 {
        match app.kind {
            Db::Sqlite => {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(app.store.read())
                    .await
                    .unwrap();
                let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(app.store.read())
                    .await
                    .unwrap();
                pages * size
            }
            Db::Postgres => sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(app.store.read())
                .await
                .unwrap(),
        }
    }

    async fn commit_ms(app: &TestApp, n: usize) -> f64 {
        app.store
            .write(|tx| {
                Box::pin(async move {
                    sqlx::query("CREATE TABLE bench_commits (id BIGINT PRIMARY KEY)")
                        .execute(tx.conn())
                        .await?;
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .unwrap();
        let t = Instant::now();
        for i in 0..n as i64 {
            app.store
                .write(move |tx| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO bench_commits (id) VALUES ($1)")
                            .bind(i)
                            .execute(tx.conn())
                            .await?;
                        Ok::<_, StoreError>(())
                    })
                })
                .await
                .unwrap();
        }
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    }

    async fn bench(app: TestApp) {
        let (targets, services) = (env("ONESTOP_BENCH_TARGETS", 100), env("ONESTOP_BENCH_SERVICES", 300));
        let sys = onestop_web::auth::system_principal("bench");
        let city = app.region_id("990100").await;
        let province = app.region_id("990000").await;
        // Grow the model to `services` published services, all offered by the city.
        let mut conn = app.store.read().acquire().await.unwrap();
        let have = onestop_store::catalogue::effective_all(&mut conn, city, jiff::civil::date(2026, 3, 18))
            .await
            .unwrap();
        let sample = onestop_store::catalogue::version(&mut conn, have[0].service_version_id)
            .await
            .unwrap()
            .content;
        drop(conn);
        let extra = services.saturating_sub(have.len());
        let now = app.clock.now();
        app.store
            .write(move |tx| {
                Box::pin(async move {
                    for i in 0..extra {
                        let mut c = sample.clone();
                        c.record.base_code = format!("99{:010}", i);
                        c.record.name = format!("基准事项{i}");
                        let (svc, _) = onestop_store::catalogue::create_service(
                            tx,
                            province,
                            &c,
                            VersionStatus::Published,
                            jiff::civil::date(2026, 1, 1),
                            now,
                        )
                        .await?;
                        onestop_store::catalogue::set_implementation(
                            tx,
                            city,
                            svc.id,
                            Some(true),
                            &ImplementationOverrides::default(),
                            now,
                        )
                        .await?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .unwrap();
        let mut codes = Vec::new();
        for i in 0..targets {
            let code = format!("99{:02}{:02}", 2 + i / 90, 10 + i % 90);
            onestop_web::ops::create_region(&app.state, &sys, &code, &format!("基准县{i}"), Some(city))
                .await
                .unwrap();
            codes.push(code);
        }
        let commit = commit_ms(&app, 200).await;
        let req = onestop_web::rollout::RolloutRequest {
            from: "990100".into(),
            to: codes.join(","),
            reset_overrides: false,
            staff_csv: None,
            limit: None,
        };
        let before = db_bytes(&app).await;
        let t = Instant::now();
        let pv = onestop_web::rollout::preview(&app.state, &sys, &req).await.unwrap();
        let preview_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(pv.refused, 0);
        let t = Instant::now();
        let run = onestop_web::rollout::start(&app.state, &sys, &req).await.unwrap();
        let run = onestop_web::rollout::drive(&app.state, &sys, run.id, None, |_, _, _| {})
            .await
            .unwrap();
        let apply_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(run.targets.iter().all(|t| t.state == "applied"));
        let after = db_bytes(&app).await;
        let t = Instant::now();
        let run2 = onestop_web::rollout::start(&app.state, &sys, &req).await.unwrap();
        let run2 = onestop_web::rollout::drive(&app.state, &sys, run2.id, None, |_, _, _| {})
            .await
            .unwrap();
        let again_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(run2.targets.iter().all(|t| t.summary["changes"] == 0));
        let n = targets as f64;
        println!(
            "rollout_bench {:?}: {services} services x {targets} targets, {} changes | durable commit {commit:.3} ms | \
             dry run {preview_ms:.0} ms ({:.1} ms/target) | apply {apply_ms:.0} ms ({:.1} ms/target = {:.0}x commit) | \
             second run {again_ms:.0} ms ({:.1} ms/target) | db {before} -> {after} bytes (+{} bytes, {:.0} bytes/target)",
            app.kind,
            pv.changes,
            preview_ms / n,
            apply_ms / n,
            apply_ms / n / commit,
            again_ms / n,
            after - before,
            (after - before) as f64 / n
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn sqlite() {
        bench(TestApp::spawn(Db::Sqlite).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn postgres() {
        if std::env::var("ONESTOP_TEST_PG").is_err() {
            eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL variant not run");
            return;
        }
        bench(TestApp::spawn(Db::Postgres).await).await;
    }
}
