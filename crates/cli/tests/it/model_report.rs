//! The model report (推广调研报告) as the study group meets it: figures that match the events seeded
//! through the store, a county's months aligned against the pioneer city's first months, an
//! imported baseline before the adoption, the CLI writing .html and .xlsx, and the refusals
//! (unknown region, reversed period, a region outside the user's subtree, a bad workbook).
use crate::both_backends;
use crate::common::*;
use crate::process::cli;
use onestop_store::model_report::{self as mr, METRICS, metric_index};
use onestop_store::ratings::{self, Leaf, RatingDelta, ServiceDelta};
use onestop_store::{StoreError, cases};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

async fn served(app: &TestApp, hall: i64, at: &str, wait_min: i64) {
    let at = ts(at);
    app.store
        .write(move |tx| {
            Box::pin(async move {
                let d = ServiceDelta {
                    wait_ms: Some(wait_min * 60_000),
                    service_ms: Some(300_000),
                };
                ratings::count_service(tx, hall, 0, 0, 0, at, d).await
            })
        })
        .await
        .unwrap();
}

async fn rated(app: &TestApp, region: i64, hall: i64, at: &str, level: usize) {
    let at = ts(at);
    app.store
        .write(move |tx| {
            Box::pin(async move {
                let leaf = Leaf {
                    series: onestop_domain::rating::Series::Ticket,
                    region_id: region,
                    hall_id: hall,
                    window_id: 0,
                    person_id: 0,
                    department_id: 0,
                };
                let mut d = RatingDelta {
                    rated: 1,
                    ..RatingDelta::default()
                };
                d.levels[level - 1] = 1;
                ratings::count(tx, &leaf, at, d).await
            })
        })
        .await
        .unwrap();
}

/// A case received at `at` (online or at the window), accepted on `accepted`, concluded at
/// `concluded` against the promised deadline `deadline`, through the store's own writes.
#[allow(clippy::too_many_arguments)]
async fn case(
    app: &TestApp,
    region: (i64, String),
    hall: Option<i64>,
    channel: &'static str,
    case_type: i64,
    version: i64,
    at: &str,
    accepted: &str,
    concluded: (&str, Option<&str>),
) {
    let (at, done_at) = (ts(at), ts(concluded.0));
    let (accepted, deadline) = (accepted.to_owned(), concluded.1.map(str::to_owned));
    let n: u64 = rand::random();
    app.store
        .write(move |tx| {
            Box::pin(async move {
                let c = cases::NewCase {
                    case_no: format!("T{n:x}"),
                    tracking_hash: format!("h{n:x}"),
                    region_id: region.0,
                    region_path: region.1,
                    hall_id: hall,
                    subject: "service",
                    subject_id: 1,
                    title: "测试办件".into(),
                    catalogue_versions: format!("[{version}]"),
                    workflow_version_id: None,
                    workflow_definition: "{}".into(),
                    step_departments: "{}".into(),
                    applicant_name: "张三".into(),
                    applicant_id_sealed: String::new(),
                    applicant_id_hash: String::new(),
                    applicant_id_masked: String::new(),
                    applicant_phone_sealed: String::new(),
                    applicant_phone_masked: String::new(),
                    phone_last4_hash: String::new(),
                    form_sealed: String::new(),
                    form_masked: String::new(),
                    channel,
                    ticket_id: None,
                    status: "received".into(),
                    case_type,
                    intake_state: "{}".into(),
                    workflow_state: "{}".into(),
                    clock: "{}".into(),
                    received_on: accepted.clone(),
                    first_handler: None,
                    created_by: "test".into(),
                };
                let id = cases::submit(tx, &c, &[], at).await?;
                let u = cases::CaseUpdate {
                    status: "concluded".into(),
                    intake_state: "{}".into(),
                    workflow_state: "{}".into(),
                    clock: "{}".into(),
                    clock_state: "stopped",
                    accepted_on: Some(accepted),
                    promised_deadline: deadline,
                    legal_deadline: None,
                    concluded: true,
                    certificate_number: None,
                };
                cases::update(tx, id, "received", onestop_store::ms(at), &u, done_at).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
}

fn value(row: &mr::MonthRow, key: &str) -> Option<f64> {
    row.values[metric_index(key).unwrap()]
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(app.store.read())
        .await
        .unwrap()
}

both_backends! {
    async fn months_align_against_the_pioneer_with_baseline_files_and_refusals(app: TestApp) {
        let admin = app.token("jingjiang.admin").await;
        let city = app.region_id("990100").await;
        // A new county adopts the city's model in June.
        app.clock.set(ts("2026-06-10T02:00:00Z"));
        let res = admin.post("/api/v1/regions", &json!({"code": "990124", "name": "新安县", "parent_id": city})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let xinan = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let res = admin.post("/api/v1/rollout/runs", &json!({"from": "990100", "to": "990124"})).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{:?}", res.text().await);
        let run = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        for _ in 0..600 {
            let v: Value = admin.get(&format!("/api/v1/rollout/runs/{run}")).await.json().await.unwrap();
            if v["state"] == "done" { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let hall = scalar(&app, &format!("SELECT id FROM halls WHERE region_id = {xinan}")).await;
        let city_hall = scalar(&app, &format!("SELECT MIN(id) FROM halls WHERE region_id = {city}")).await;
        let opened = scalar(&app, &format!("SELECT created_at FROM halls WHERE id = {city_hall}")).await;
        let p1 = mr::month_of_ms(opened);
        let p2 = p1.checked_add(jiff::Span::new().months(1)).unwrap();
        let mid = |d: jiff::civil::Date| format!("{}T02:00:00Z", d.checked_add(jiff::Span::new().days(14)).unwrap());
        // The pioneer's first two months, and the county's first two (June, July).
        served(&app, city_hall, &mid(p1), 10).await;
        served(&app, city_hall, &mid(p1), 50).await;
        served(&app, city_hall, &mid(p2), 5).await;
        rated(&app, city, city_hall, &mid(p1), 5).await;
        rated(&app, city, city_hall, &mid(p1), 1).await;
        served(&app, hall, "2026-06-15T02:00:00Z", 20).await;
        served(&app, hall, "2026-06-16T02:00:00Z", 40).await;
        served(&app, hall, "2026-06-17T02:00:00Z", 0).await;
        served(&app, hall, "2026-07-15T02:00:00Z", 6).await;
        rated(&app, xinan, hall, "2026-06-15T03:00:00Z", 1).await;
        rated(&app, xinan, hall, "2026-06-16T03:00:00Z", 2).await;
        rated(&app, xinan, hall, "2026-06-17T03:00:00Z", 4).await;
        // Cases: one online instant case concluded at once; one at the window concluded late.
        let (version, visits): (i64, String) = sqlx::query_as("SELECT id, content FROM service_versions WHERE status = 'published' ORDER BY id LIMIT 1")
            .fetch_one(app.store.read()).await.unwrap();
        let visits = serde_json::from_str::<Value>(&visits).unwrap()["record"]["onsite_visits"].as_i64().unwrap();
        let path: String = sqlx::query_scalar("SELECT path FROM regions WHERE id = $1").bind(xinan).fetch_one(app.store.read()).await.unwrap();
        case(&app, (xinan, path.clone()), None, "online", 1, version, "2026-06-18T02:00:00Z", "2026-06-18", ("2026-06-18T03:00:00Z", None)).await;
        case(&app, (xinan, path.clone()), Some(hall), "window", 2, version, "2026-06-19T02:00:00Z", "2026-06-19", ("2026-07-20T03:00:00Z", Some("2026-07-10"))).await;

        let region = onestop_store::regions::get_by_code(app.store.read(), "990000").await.unwrap();
        let build = || async {
            let mut conn = app.store.read().acquire().await.unwrap();
            mr::build(&mut conn, &region, "2026-01-01".parse().unwrap(), "2026-07-31".parse().unwrap(), 1).await.unwrap()
        };
        let r = build().await;
        assert_eq!(r.pioneer.as_ref().map(|p| p.region_code.as_str()), Some("990100"));
        let x = r.halls.iter().find(|h| h.hall_id == hall).unwrap();
        assert_eq!((x.start.as_str(), x.start_kind), ("2026-06", "adopted"));
        assert_eq!(x.months.iter().map(|m| (m.index, m.month.as_str())).collect::<Vec<_>>(), vec![(1, "2026-06"), (2, "2026-07")]);
        let (june, july) = (&x.months[0], &x.months[1]);
        assert!(close(value(june, "served"), 3.0) && close(value(july, "served"), 1.0), "{june:?}");
        assert!(close(value(june, "avg_wait_min"), 20.0), "{june:?}");
        assert!(close(value(june, "wait_over_30_share"), 1.0 / 3.0), "{june:?}");
        assert!(close(value(june, "onsite_satisfaction"), 2.0 / 3.0) && close(value(june, "bad_reviews"), 1.0), "{june:?}");
        assert!(close(value(june, "applications"), 2.0) && close(value(june, "accepted"), 2.0), "{june:?}");
        assert!(close(value(june, "online_share"), 0.5) && close(value(june, "instant_share"), 0.5), "{june:?}");
        assert!(close(value(june, "visits_per_case"), visits as f64), "{june:?}");
        assert!(close(value(june, "one_visit_share"), if visits <= 1 { 1.0 } else { 0.0 }), "{june:?}");
        assert!(close(value(june, "on_time_share"), 1.0) && close(value(july, "on_time_share"), 0.0), "{july:?}");
        // Month 1 of the county against month 1 of the city, month 2 against month 2.
        assert_eq!(x.pioneer_months[0].month, mr::month_label(p1));
        assert_eq!(x.pioneer_months[1].month, mr::month_label(p2));
        assert!(close(value(&x.pioneer_months[0], "served"), 2.0) && close(value(&x.pioneer_months[0], "avg_wait_min"), 30.0));
        assert!(close(value(&x.pioneer_months[0], "onsite_satisfaction"), 0.5));
        assert!(close(value(&x.pioneer_months[1], "served"), 1.0));
        assert!(x.rank.is_some() && x.before_after.is_empty());
        // Halls without activity in the period sit below the minimum sample, unranked.
        assert!(r.halls.iter().any(|h| h.rank.is_none()));

        let dir = TempDir::new("model-report");
        // A bad baseline workbook is refused whole, with the rows at fault.
        let sheet = |rows: Vec<Vec<&str>>| onestop_workbook::Sheet { name: "基线".into(), rows: rows.into_iter().map(|r| r.into_iter().map(str::to_owned).collect()).collect() };
        let bad = dir.0.join("bad.xlsx");
        std::fs::write(&bad, onestop_workbook::write_xlsx(&[sheet(vec![
            vec!["区划代码", "大厅", "月份", "现场服务人次", "按时办结率"],
            vec!["990124", "", "2026-04", "10", "80%"],
            vec!["990999", "", "2026-13", "x", "120%"],
        ])]).unwrap()).unwrap();
        let ran = cli(&dir, &app.db.url, &["report", "import-baseline", bad.to_str().unwrap()], None);
        assert!(!ran.ok && ran.all().contains("第 3 行") && ran.all().contains("990999"), "{ran:?}");
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM model_baselines").await, 0);
        let not_xlsx = dir.0.join("not.xlsx");
        std::fs::write(&not_xlsx, b"hello").unwrap();
        let ran = cli(&dir, &app.db.url, &["report", "import-baseline", not_xlsx.to_str().unwrap()], None);
        assert!(!ran.ok && ran.all().contains("not_a_workbook"), "{ran:?}");
        // A good one: April and May before the adoption.
        let good = dir.0.join("good.xlsx");
        std::fs::write(&good, onestop_workbook::write_xlsx(&[sheet(vec![
            vec!["区划代码", "大厅", "月份", "现场服务人次", "按时办结率"],
            vec!["990124", "新安县政务服务中心", "2026-04", "1", "80%"],
            vec!["990124", "", "2026-05", "3", "0.6"],
        ])]).unwrap()).unwrap();
        let ran = cli(&dir, &app.db.url, &["report", "import-baseline", good.to_str().unwrap()], None);
        assert!(ran.ok, "{ran:?}");
        let r = build().await;
        let x = r.halls.iter().find(|h| h.hall_id == hall).unwrap();
        assert_eq!(x.baseline.iter().map(|b| (b.index, b.month.as_str())).collect::<Vec<_>>(), vec![(-1, "2026-04"), (0, "2026-05")]);
        let ba = |k: &str| x.before_after.iter().find(|c| c.key == k).unwrap().clone();
        assert!(close(ba("served").before, 2.0) && close(ba("served").after, 2.0), "{:?}", x.before_after);
        assert!(close(ba("on_time_share").before, 0.7) && close(ba("on_time_share").after, 0.5), "{:?}", x.before_after);

        // The CLI writes the printable report and the workbook.
        let html = dir.0.join("r.html");
        let ran = cli(&dir, &app.db.url, &["report", "model", "--region", "990000", "--from", "2026-01-01", "--to", "2026-07-31", "--min-sample", "1", "--out", html.to_str().unwrap()], None);
        assert!(ran.ok, "{ran:?}");
        let text = std::fs::read_to_string(&html).unwrap();
        assert!(text.contains("推广模式调研报告") && text.contains("新安县政务服务中心") && text.contains("echarts.init"), "html");
        let xlsx = dir.0.join("r.xlsx");
        let ran = cli(&dir, &app.db.url, &["report", "model", "--region", "990000", "--from", "2026-01-01", "--to", "2026-07-31", "--min-sample", "1", "--out", xlsx.to_str().unwrap()], None);
        assert!(ran.ok, "{ran:?}");
        let book = onestop_workbook::read_xlsx(&std::fs::read(&xlsx).unwrap(), &[("排名", true), ("逐月对比", true), ("推广前后", true), ("做法", true)], &Default::default()).unwrap();
        assert_eq!(book[1].rows[0].len(), 4 + 1 + 2 * METRICS.len());
        let county_rows: Vec<&Vec<String>> = book[1].rows.iter().filter(|r| r[0] == "990124").collect();
        assert_eq!((county_rows[0][2].as_str(), county_rows[0][3].as_str(), county_rows[0][4].as_str()), ("1", "2026-06", "3"));
        assert_eq!(county_rows[0][4 + METRICS.len()], mr::month_label(p1));

        // Refusals: a wrong output kind, an unknown region, a reversed period, out of scope.
        let ran = cli(&dir, &app.db.url, &["report", "model", "--region", "990000", "--from", "2026-01-01", "--to", "2026-07-31", "--out", "r.pdf"], None);
        assert!(!ran.ok && ran.all().contains(".html or .xlsx"), "{ran:?}");
        let ran = cli(&dir, &app.db.url, &["report", "model", "--region", "990999", "--from", "2026-07-01", "--to", "2026-01-31"], None);
        assert!(!ran.ok && ran.all().contains("region_unknown") && ran.all().contains("period_reversed"), "{ran:?}");
        let ran = cli(&dir, &app.db.url, &["report", "model", "--region", "990000", "--from", "2026-01-01", "--to", "2026-07-31", "--as", "luoping.supervisor"], None);
        assert!(!ran.ok && ran.all().contains("不在您的管辖范围内"), "{ran:?}");

        // The page: the report with its chart data, the workbook download, and readable refusals.
        let s = app.login("jingjiang.supervisor").await;
        let q = "region=990000&from=2026-01-01&to=2026-07-31&min_sample=1";
        let res = s.get(&format!("/supervision/model-report?{q}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        assert!(page.contains("id=\"ranking-chart\"") && page.contains("新安县政务服务中心") && page.contains("第1月"), "page");
        let res = s.get(&format!("/supervision/model-report/export.xlsx?{q}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.bytes().await.unwrap().starts_with(b"PK"));
        let res = s.get("/supervision/model-report?region=990000&from=2026-07-01&to=2026-01-01").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("晚于结束日期"));
        let county = app.login("luoping.supervisor").await;
        let res = county.get(&format!("/supervision/model-report?{q}")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}
