//! The service catalogue as its users meet it: inheritance down the region tree, versions, quality
//! rules, public guides and search without login, forms, workbook import/export, permissions.
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FOOD: &str = "000172007000"; // 食品经营许可证核发
const LICENCE: &str = "000172001000"; // 企业设立登记（营业执照核发）

async fn service_id(app: &TestApp, base_code: &str) -> i64 {
    let mut c = app.store.read().acquire().await.unwrap();
    onestop_store::catalogue::service_by_code(&mut c, base_code)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn implementation(b: &Bearer, region: i64, service: i64) -> Value {
    let res = b
        .get(&format!("/api/v1/catalogue/regions/{region}/implementations/{service}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn put(b: &Bearer, path: &str, body: &Value) -> reqwest::Response {
    b.client
        .put(format!("{}{path}", b.base))
        .bearer_auth(&b.token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn upload(b: &Bearer, region: i64, bytes: Vec<u8>) -> reqwest::Response {
    b.client
        .post(format!("{}/api/v1/catalogue/regions/{region}/imports", b.base))
        .bearer_auth(&b.token)
        .header(
            "content-type",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .body(bytes)
        .send()
        .await
        .unwrap()
}

both_backends! {
    async fn city_change_reaches_counties_override_is_kept_and_reset_falls_back(app: TestApp) {
        let city_admin = app.token("jiuan.admin").await;
        let (city, luoping, qinghe) = (app.region_id("990100").await, app.region_id("990121").await, app.region_id("990122").await);
        let food = service_id(&app, FOOD).await;

        // Seeded: 罗平县 overrides the hours of market-supervision services; 清河县 inherits.
        let lp = implementation(&city_admin, luoping, food).await;
        assert_eq!(lp["enabled"], true);
        assert_eq!(lp["origins"]["hours"]["origin"]["from"], "region");
        assert_eq!(lp["origins"]["hours"]["origin"]["region"]["code"], "990121");
        let qh = implementation(&city_admin, qinghe, food).await;
        assert_eq!(qh["origins"]["address"]["origin"]["region"]["code"], "990100");
        assert_eq!(qh["origins"]["supervise_phone"]["origin"]["from"], "base");
        assert_eq!(qh["enabled_origin"]["code"], "990100");

        // The city changes hours and address: 清河县 sees both at once; 罗平县 keeps its own hours.
        let res = city_admin.patch(&format!("/api/v1/catalogue/regions/{city}/implementations/{food}"),
            &json!({"set": {"hours": "周一至周日 8:00-20:00", "address": "久安市市民中心 A 座"}})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let qh = implementation(&city_admin, qinghe, food).await;
        assert_eq!(qh["record"]["hours"], "周一至周日 8:00-20:00");
        assert_eq!(qh["record"]["address"], "久安市市民中心 A 座");
        let lp = implementation(&city_admin, luoping, food).await;
        assert_eq!(lp["record"]["hours"], "周一至周六 8:30-12:00，14:00-17:30（法定节假日除外）");

        // The public guide shows the same at once (the search cache follows the generation).
        let guide: Value = TestApp::client().get(app.url(&format!("/api/v1/guides/990122/{FOOD}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(guide["record"]["hours"], "周一至周日 8:00-20:00");

        // 罗平县 resets its hours override: it falls back to the city's value.
        let county_admin = app.token("luoping.admin").await;
        let res = county_admin.patch(&format!("/api/v1/catalogue/regions/{luoping}/implementations/{food}"),
            &json!({"reset": ["hours"]})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let lp: Value = res.json().await.unwrap();
        assert_eq!(lp["record"]["hours"], "周一至周日 8:00-20:00");
        assert_eq!(lp["origins"]["hours"]["origin"]["region"]["code"], "990100");
        // Its implementing body is still its own: the 实施编码 follows it, with level 4 (县级).
        assert_eq!(lp["record"]["implementing_body"], "罗平县市场监督管理局");
        let code = lp["record"]["implementation_code"].as_str().unwrap();
        assert_eq!(&code[18..19], "4");
        assert!(code.ends_with(FOOD));

        // An override that breaks a quality rule is refused with the field named.
        let res = county_admin.patch(&format!("/api/v1/catalogue/regions/{luoping}/implementations/{food}"),
            &json!({"set": {"promised_limit": {"value": 30, "unit": "1"}}})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["fields"][0]["code"], "promised_exceeds_legal");
        let res = county_admin.patch(&format!("/api/v1/catalogue/regions/{luoping}/implementations/{food}"),
            &json!({"set": {"name": "改名"}})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "field_not_overridable".into()));

        // 清河县 does not offer 特种设备使用登记: not in its public list, 404 as a guide.
        let res = TestApp::client().get(app.url("/api/v1/guides/990122/000172011000")).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "guide_not_found".into()));
    }
}

both_backends! {
    async fn permissions_follow_the_region_tree(app: TestApp) {
        let county_admin = app.token("luoping.admin").await;
        let qinghe = app.region_id("990122").await;
        let province = app.region_id("990000").await;
        let food = service_id(&app, FOOD).await;
        // 罗平县 cannot touch 清河县's list …
        let res = county_admin.patch(&format!("/api/v1/catalogue/regions/{qinghe}/implementations/{food}"),
            &json!({"set": {"hours": "x"}})).await;
        assert!(matches!(res.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN));
        // … nor the base catalogue.
        let (_, v) = latest_version(&app, food).await;
        let res = put(&county_admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": v["content"]})).await;
        assert!(matches!(res.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN));
        let res = county_admin.patch(&format!("/api/v1/catalogue/regions/{province}/implementations/{food}"),
            &json!({"set": {"hours": "x"}})).await;
        assert!(matches!(res.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN));
        // A clerk cannot edit even their own region's list.
        let clerk = app.token("luoping.clerk").await;
        let luoping = app.region_id("990121").await;
        let res = clerk.patch(&format!("/api/v1/catalogue/regions/{luoping}/implementations/{food}"),
            &json!({"set": {"hours": "x"}})).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}

async fn latest_version(app: &TestApp, service: i64) -> (i64, Value) {
    let b = app.token("jingjiang.admin").await;
    let detail: Value = b
        .get(&format!("/api/v1/catalogue/services/{service}"))
        .await
        .json()
        .await
        .unwrap();
    let v = detail["versions"][0].clone();
    (v["id"].as_i64().unwrap(), v)
}

both_backends! {
    async fn versions_drafts_are_private_published_are_pinned(app: TestApp) {
        let admin = app.token("jingjiang.admin").await;
        let food = service_id(&app, FOOD).await;
        let (v1_id, v1) = latest_version(&app, food).await;
        assert_eq!(v1["status"], "published");

        // A draft with a quality error is refused with field codes.
        let mut content = v1["content"].clone();
        content["record"]["promised_limit"] = json!({"value": 99, "unit": "1"});
        content["record"]["fee"] = json!({"amount": "100 元", "basis": ""});
        content["record"]["implementing_body_credit_code"] = json!("91350100M000100Y44");
        let res = put(&admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": content})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        let codes: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
        for c in ["promised_exceeds_legal", "fee_basis_missing", "credit_code_invalid"] {
            assert!(codes.contains(&c), "{codes:?}");
        }

        // A valid draft is not public until published.
        let mut content = v1["content"].clone();
        content["record"]["conditions"] = json!("新版受理条件：须有符合要求的经营场所。");
        let res = put(&admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": content, "effective_from": "2026-03-18"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let draft: Value = res.json().await.unwrap();
        assert_eq!(draft["version"]["status"], "draft");
        assert_eq!(draft["version"]["number"], 2);
        let guide: Value = TestApp::client().get(app.url(&format!("/api/v1/guides/990100/{FOOD}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(guide["service_version_id"], v1_id);
        assert_ne!(guide["record"]["conditions"], "新版受理条件：须有符合要求的经营场所。");

        // Published: the guide moves to v2, while v1 stays readable as pinned by earlier cases.
        let v2_id = draft["version"]["id"].as_i64().unwrap();
        let res = admin.post(&format!("/api/v1/catalogue/versions/{v2_id}/publish"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let guide: Value = TestApp::client().get(app.url(&format!("/api/v1/guides/990121/{FOOD}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(guide["service_version_id"], v2_id);
        assert_eq!(guide["record"]["conditions"], "新版受理条件：须有符合要求的经营场所。");
        // The county's override survives the new base version.
        assert_eq!(guide["record"]["implementing_body"], "罗平县市场监督管理局");
        let pinned: Value = admin.get(&format!("/api/v1/catalogue/versions/{v1_id}")).await.json().await.unwrap();
        assert_eq!(pinned["content"], v1["content"]);
        // Publishing twice is a conflict; withdrawing v2 brings v1 back.
        let res = admin.post(&format!("/api/v1/catalogue/versions/{v2_id}/publish"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "version_not_draft".into()));
        let res = admin.post(&format!("/api/v1/catalogue/versions/{v2_id}/withdraw"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let guide: Value = TestApp::client().get(app.url(&format!("/api/v1/guides/990121/{FOOD}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(guide["service_version_id"], v1_id);

        // The store API a case uses: the effective guide on a date, with the version to pin.
        let mut c = app.store.read().acquire().await.unwrap();
        let eff = onestop_store::catalogue::effective(&mut c, app.region_id("990121").await, food, jiff::civil::date(2026, 3, 18)).await.unwrap();
        assert_eq!(eff.service_version_id, v1_id);
        assert!(eff.enabled);
    }
}

both_backends! {
    async fn public_guides_search_filters_and_bundles_without_login(app: TestApp) {
        let anon = TestApp::client();
        let get = |path: String| { let anon = anon.clone(); async move { anon.get(path).send().await.unwrap() } };
        let list: Value = get(app.url("/api/v1/guides?region=990121")).await.json().await.unwrap();
        assert!(list["total"].as_u64().unwrap() >= 40, "{}", list["total"]);
        assert!(list["departments"].as_array().unwrap().len() >= 8);

        // Pinyin initials: yyzz finds the 营业执照 services, names first.
        let res: Value = get(app.url("/api/v1/guides?region=990121&q=yyzz")).await.json().await.unwrap();
        let names: Vec<&str> = res["guides"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert!(names.len() >= 3, "{names:?}");
        assert!(names.iter().take(3).all(|n| n.contains("营业执照")), "{names:?}");

        // Substring: names rank above body text (营业执照 also appears in materials of other services).
        let res: Value = get(app.url(&format!("/api/v1/guides?region=990121&q={}", "营业执照"))).await.json().await.unwrap();
        let guides = res["guides"].as_array().unwrap();
        let first_body_only = guides.iter().position(|g| !g["name"].as_str().unwrap().contains("营业执照")).unwrap();
        assert!(guides[first_body_only..].iter().all(|g| !g["name"].as_str().unwrap().contains("营业执照")));
        assert!(first_body_only >= 3 && guides.len() > first_body_only);

        // Filters: theme, department, object.
        let res: Value = get(app.url(&format!("/api/v1/guides?region=990121&theme={}", "新生儿出生"))).await.json().await.unwrap();
        assert!(res["guides"].as_array().unwrap().iter().all(|g| g["themes"].as_array().unwrap().contains(&json!("新生儿出生"))));
        assert!(res["total"].as_u64().unwrap() >= 3);
        let res: Value = get(app.url(&format!("/api/v1/guides?region=990121&department={}", "民政局"))).await.json().await.unwrap();
        assert!(res["guides"].as_array().unwrap().iter().all(|g| g["department"].as_str().unwrap().contains("民政局")));
        let people: Value = get(app.url("/api/v1/guides?region=990121&object=person")).await.json().await.unwrap();
        let legal: Value = get(app.url("/api/v1/guides?region=990121&object=legal")).await.json().await.unwrap();
        assert!(people["guides"].as_array().unwrap().iter().all(|g| g["objects"].as_array().unwrap().contains(&json!("1"))));
        assert!(legal["guides"].as_array().unwrap().iter().all(|g| g["objects"].as_array().unwrap().iter().any(|o| o != "1")));

        // A guide, and a bundle with materials asked once.
        let guide: Value = get(app.url(&format!("/api/v1/guides/990121/{LICENCE}"))).await.json().await.unwrap();
        assert_eq!(guide["record"]["name"], "企业设立登记（营业执照核发）");
        let bundles: Vec<Value> = app.token("jiuan.admin").await.get("/api/v1/catalogue/bundles").await.json().await.unwrap();
        let restaurant = bundles.iter().find(|b| b["name"] == "我要开餐馆").unwrap();
        let merged: Value = get(app.url(&format!("/api/v1/guides/990121/bundles/{}", restaurant["id"]))).await.json().await.unwrap();
        let ids = merged["merged"]["materials"].as_array().unwrap();
        let id_cards = ids.iter().filter(|m| m["material"]["code"] == "sfz").count();
        assert_eq!(id_cards, 1, "the ID card is asked for once");

        // Public pages: the portal, a guide and the print view, without login; elderly mode cookie.
        let page = get(app.url(&format!("/guide?region=990121&q={}", "yyzz"))).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("营业执照"));
        let page = get(app.url(&format!("/guide/990121/{FOOD}"))).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("食品经营许可证核发") && html.contains("打印指南") && html.contains("受理条件"));
        let res = anon.post(app.url("/guide/elderly")).form(&[("on", "1"), ("back", "/guide")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(res.headers().get("set-cookie").unwrap().to_str().unwrap().contains("elderly=1"));
        let page = anon.get(app.url("/guide")).header("cookie", "elderly=1").send().await.unwrap();
        assert!(page.text().await.unwrap().contains("class=\"elderly\""));
    }
}

both_backends! {
    async fn application_forms_are_validated_on_the_server(app: TestApp) {
        let anon = TestApp::client();
        let url = app.url("/api/v1/guides/990121/000109001000/validate");
        let res = anon.post(&url).json(&json!({"child_name": "", "child_gender": "x", "child_birth_date": "2099-01-01",
            "applicant_id_number": "110101199003070000", "applicant_phone": "123", "hack": "1"})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        let fields: Vec<(&str, &str)> = body["fields"].as_array().unwrap().iter()
            .map(|f| (f["field"].as_str().unwrap(), f["code"].as_str().unwrap())).collect();
        for key in ["child_name", "child_gender", "child_birth_date", "applicant_id_number", "applicant_phone", "hack", "commitment"] {
            assert!(fields.iter().any(|(k, _)| *k == key), "{key} missing in {fields:?}");
        }
        let ok = anon.post(&url).json(&json!({"child_name": "王小明", "child_gender": "m", "child_birth_date": "2026-03-01",
            "applicant_name": "王芳", "applicant_id_number": "11010519491231002X", "applicant_phone": "13800138000", "commitment": true}))
            .send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK, "{}", ok.text().await.unwrap());
        // The HTML form renders the same fields and shows the same errors after a post.
        let page = anon.get(app.url("/guide/990121/000109001000/apply")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("name=\"child_birth_date\"") && page.contains("type=\"date\""));
        let res = anon.post(app.url("/guide/990121/000109001000/apply")).form(&[("child_name", ""), ("applicant_phone", "123")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("新生儿姓名不能为空"), "{page}");
    }
}

both_backends! {
    async fn workbook_round_trip_preview_errors_and_refusals(app: TestApp) {
        let admin = app.token("luoping.admin").await;
        let luoping = app.region_id("990121").await;
        let res = admin.get(&format!("/api/v1/catalogue/regions/{luoping}/export.xlsx")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let xlsx = res.bytes().await.unwrap().to_vec();

        // Export imports back unchanged.
        let res = upload(&admin, luoping, xlsx.clone()).await;
        assert_eq!(res.status(), StatusCode::OK);
        let report: Value = res.json().await.unwrap();
        assert_eq!(report["issues"], json!([]), "{report}");
        assert!(report["rows"].as_array().unwrap().len() >= 40);
        assert!(report["rows"].as_array().unwrap().iter().all(|r| r["action"] == "unchanged"), "{report}");
        let before: Value = admin.get(&format!("/api/v1/catalogue/regions/{luoping}/implementations")).await.json().await.unwrap();
        let res = admin.post(&format!("/api/v1/catalogue/imports/{}/commit", report["upload_id"]), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let after: Value = admin.get(&format!("/api/v1/catalogue/regions/{luoping}/implementations")).await.json().await.unwrap();
        assert_eq!(before, after);
        let again = admin.get(&format!("/api/v1/catalogue/regions/{luoping}/export.xlsx")).await.bytes().await.unwrap().to_vec();
        let sheets = |b: &[u8]| onestop_workbook::read_xlsx(b, &[("事项", true), ("材料", true)], &Default::default()).unwrap();
        assert_eq!(sheets(&xlsx), sheets(&again));

        // A county value that differs becomes an override; a base field is refused with its cell.
        let mut book = sheets(&xlsx);
        let head = book[0].rows[0].clone();
        let col = |h: &str| head.iter().position(|c| c == h).unwrap();
        book[0].rows[9][col("办理时间")] = "周日也办：8:00-18:00".into();
        book[0].rows[2][col("设定依据")] = "随便写".into();
        book[0].rows[3][col("承诺时限")] = "999".into();
        book[0].rows[4][col("事项名称")] = String::new();
        book[0].rows[5][col("基本编码")] = book[0].rows[6][col("基本编码")].clone();
        book[0].rows[7][col("服务对象")] = "外星人".into();
        book[1].rows[1][1] = "改过的材料名".into();
        let bad = onestop_workbook::write_xlsx(&book).unwrap();
        let report: Value = upload(&admin, luoping, bad.clone()).await.json().await.unwrap();
        let issues = report["issues"].as_array().unwrap();
        let find = |row: u64, header: &str| issues.iter().find(|i| i["row"] == row && i["header"] == header).cloned();
        assert_eq!(find(3, "设定依据").unwrap()["code"], "field_not_overridable");
        assert_eq!(find(3, "设定依据").unwrap()["sheet"], "事项");
        assert_eq!(find(4, "承诺时限").unwrap()["code"], "promised_exceeds_legal");
        assert_eq!(find(5, "事项名称").unwrap()["code"], "cell_required");
        assert_eq!(find(5, "事项名称").unwrap()["column"], "A");
        assert_eq!(find(7, "基本编码").unwrap()["code"], "base_code_duplicate");
        assert_eq!(find(8, "服务对象").unwrap()["code"], "cell_invalid");
        assert!(issues.iter().any(|i| i["sheet"] == "材料" && i["code"] == "field_not_overridable"));
        let changed = report["rows"].as_array().unwrap().iter().find(|r| r["row"] == 10).unwrap();
        assert_eq!(changed["action"], "change");
        assert_eq!(changed["changes"], json!(["办理时间"]));
        // Commit refuses and writes nothing.
        let res = admin.post(&format!("/api/v1/catalogue/imports/{}/commit", report["upload_id"]), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "import_has_errors".into()));
        let after2: Value = admin.get(&format!("/api/v1/catalogue/regions/{luoping}/implementations")).await.json().await.unwrap();
        assert_eq!(after, after2);

        // Wrong columns.
        let mut wrong = sheets(&xlsx);
        wrong[0].rows[0][col("咨询电话")] = "电话号码".into();
        let report: Value = upload(&admin, luoping, onestop_workbook::write_xlsx(&wrong).unwrap()).await.json().await.unwrap();
        let codes: Vec<&str> = report["issues"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&"column_unknown") && codes.contains(&"column_missing"), "{codes:?}");

        // Not a workbook, too large, a zip bomb.
        let res = upload(&admin, luoping, b"name,code\n".to_vec()).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "not_a_workbook".into()));
        let res = upload(&admin, luoping, vec![b'P'; 17 * 1024 * 1024]).await;
        assert_eq!(error_code(res).await, (StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large".into()));
        let bomb = zip_bomb();
        let res = upload(&admin, luoping, bomb).await;
        assert_eq!(error_code(res).await, (StatusCode::PAYLOAD_TOO_LARGE, "workbook_unpacks_too_large".into()));

        // CSV per sheet with a BOM.
        let res = admin.get(&format!("/api/v1/catalogue/regions/{luoping}/export/services.csv")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let csv = res.bytes().await.unwrap();
        assert_eq!(&csv[..3], &[0xEF, 0xBB, 0xBF]);
        assert!(String::from_utf8(csv[3..].to_vec()).unwrap().starts_with("事项名称,基本编码"));
        let res = admin.get(&format!("/api/v1/catalogue/regions/{luoping}/export/materials.csv")).await;
        assert_eq!(&res.bytes().await.unwrap()[..3], &[0xEF, 0xBB, 0xBF]);
    }
}

/// A real workbook with one extra entry of 200 MiB of zeros (compresses to ~200 KiB).
fn zip_bomb() -> Vec<u8> {
    use std::io::Write;
    let book = onestop_workbook::write_xlsx(&[onestop_workbook::Sheet {
        name: "事项".into(),
        rows: vec![vec!["事项名称".into()]],
    }])
    .unwrap();
    let mut reader = zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        for i in 0..reader.len() {
            let f = reader.by_index_raw(i).unwrap();
            w.raw_copy_file(f).unwrap();
        }
        w.start_file(
            "xl/media/zeros.bin",
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..200 {
            w.write_all(&chunk).unwrap();
        }
        w.finish().unwrap();
    }
    out.into_inner()
}

/// Benchmark (not run in CI): `cargo test --release -p onestop --test it catalogue_bench -- --ignored --nocapture`.
/// Imports 5,000 new services into the base catalogue from a workbook (timed: preview and commit), then
/// another 5,000, switches all on at 久安市, and with ~10,000 guides in the region measures the scoring
/// in process (the previous per-call way beside the prepared entries) and guide search over HTTP beside
/// a `/healthz` baseline, all in the same run (docs/BENCHMARKS.md).
mod catalogue_bench {
    use super::*;
    use std::time::Instant;

    const WORDS_A: &[&str] = &[
        "个体", "企业", "食品", "药品", "建筑", "道路", "水路", "林木", "矿产", "文物", "体育", "卫生", "教育", "档案",
        "气象", "人防", "烟草", "粮食", "殡葬", "宗教",
    ];
    const WORDS_B: &[&str] = &[
        "经营许可",
        "登记",
        "备案",
        "资格认定",
        "审批",
        "变更",
        "注销",
        "年度报告",
        "证明开具",
        "补贴申领",
        "奖励",
        "检查",
        "确认",
        "证书核发",
        "延续",
    ];

    fn workbook(template: &[onestop_workbook::Sheet], from: usize, n: usize) -> Vec<u8> {
        let head = template[0].rows[0].clone();
        let col = |h: &str| head.iter().position(|c| c == h).unwrap();
        let (name, code, imp) = (col("事项名称"), col("基本编码"), col("实施编码"));
        let mut services = vec![head.clone()];
        let mut materials = vec![template[1].rows[0].clone()];
        let rows = &template[0].rows[1..];
        for i in from..from + n {
            let mut row = rows[i % rows.len()].clone();
            let old = row[code].clone();
            row[name] = format!(
                "{}{}（{}）",
                WORDS_A[i % WORDS_A.len()],
                WORDS_B[(i / WORDS_A.len()) % WORDS_B.len()],
                i
            );
            row[code] = format!("9{i:011}");
            row[imp] = String::new();
            for m in template[1].rows[1..].iter().filter(|m| m[0] == old) {
                let mut m = m.clone();
                m[0] = row[code].clone();
                materials.push(m);
            }
            services.push(row);
        }
        onestop_workbook::write_xlsx(&[
            onestop_workbook::Sheet {
                name: "事项".into(),
                rows: services,
            },
            onestop_workbook::Sheet {
                name: "材料".into(),
                rows: materials,
            },
        ])
        .unwrap()
    }

    fn pct(sorted: &[f64], p: f64) -> f64 {
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }

    async fn run(kind: Db) {
        let app = TestApp::spawn(kind).await;
        let admin = app.token("jingjiang.admin").await;
        let province = app.region_id("990000").await;
        let xlsx = admin
            .get(&format!("/api/v1/catalogue/regions/{province}/export.xlsx"))
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let template =
            onestop_workbook::read_xlsx(&xlsx, &[("事项", true), ("材料", true)], &Default::default()).unwrap();
        for (batch, from) in [(1, 0usize), (2, 5_000usize)] {
            let book = workbook(&template, from, 5_000);
            let t = Instant::now();
            let report: Value = upload(&admin, province, book.clone()).await.json().await.unwrap();
            let preview = t.elapsed();
            assert_eq!(report["issues"], json!([]), "{}", report["issues"]);
            let t = Instant::now();
            let res = admin
                .post(
                    &format!("/api/v1/catalogue/imports/{}/commit", report["upload_id"]),
                    &json!({}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let commit = t.elapsed();
            println!(
                "[{kind:?}] import batch {batch}: 5,000 rows ({} KiB .xlsx): preview {:.2} s, commit {:.2} s, total {:.2} s",
                book.len() / 1024,
                preview.as_secs_f64(),
                commit.as_secs_f64(),
                (preview + commit).as_secs_f64()
            );
        }
        // Switch everything on at 久安市 (one statement; the counties inherit).
        let raw = app.db.raw().await;
        let city = app.region_id("990100").await;
        sqlx::query("INSERT INTO implementations (region_id, service_id, enabled, overrides, created_at, updated_at) SELECT $1, id, 1, '{}', 0, 0 FROM services WHERE id NOT IN (SELECT service_id FROM implementations WHERE region_id = $1)")
            .bind(city).execute(&raw).await.unwrap();
        sqlx::query("UPDATE catalogue_state SET generation = generation + 1")
            .execute(&raw)
            .await
            .unwrap();
        let client = TestApp::client();
        let t = Instant::now();
        let all: Value = client
            .get(app.url("/api/v1/guides?region=990121"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        println!(
            "[{kind:?}] guides in 罗平县: {}; cold index build + first query {:.0} ms",
            all["total"],
            t.elapsed().as_secs_f64() * 1000.0
        );
        let queries = [
            "营业执照",
            "yyzz",
            "食品经营",
            "spjy",
            "登记",
            "许可",
            "ddyszb",
            "不动产",
            "新生儿",
            "&theme=开办企业",
            "&object=legal",
            "经营许可&department=市场监督管理局",
        ];

        // In process, the same run: scoring every guide the previous way (name and body normalised
        // and the name's initials looked up again for every entry on every query) against the
        // prepared entries the cache now keeps. Both must find the same guides.
        let luoping = app.region_id("990121").await;
        let mut conn = app.store.read().acquire().await.unwrap();
        let date = onestop_web::catalogue::today(&app.state);
        let guides = onestop_store::catalogue::effective_all(&mut conn, luoping, date)
            .await
            .unwrap();
        drop(conn);
        let raw: Vec<(String, String)> = guides
            .iter()
            .filter(|g| g.enabled)
            .map(onestop_web::catalogue::search::entry_text)
            .collect();
        let prepared: Vec<onestop_domain::catalogue::SearchText> = raw
            .iter()
            .map(|(n, b)| onestop_domain::catalogue::SearchText::new(n, b))
            .collect();
        let (mut old_all, mut new_all) = (Vec::new(), Vec::new());
        for q in queries.iter().filter(|q| !q.starts_with('&')) {
            let q = q.split('&').next().unwrap();
            let (mut old_ms, mut new_ms) = (Vec::new(), Vec::new());
            for _ in 0..20 {
                let t = Instant::now();
                let old = raw
                    .iter()
                    .filter(|(n, b)| onestop_domain::catalogue::search_score(q, n, b).is_some())
                    .count();
                old_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                let parsed = onestop_domain::catalogue::SearchQuery::parse(q).unwrap();
                let new = prepared.iter().filter(|e| parsed.score(e).is_some()).count();
                new_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(old, new, "{q}");
            }
            old_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
            new_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "[{kind:?}]   scoring {} guides, q={q:<10} previous p50 {:.1} ms, prepared p50 {:.2} ms ({:.0}× faster)",
                raw.len(),
                pct(&old_ms, 0.5),
                pct(&new_ms, 0.5),
                pct(&old_ms, 0.5) / pct(&new_ms, 0.5)
            );
            old_all.extend(old_ms);
            new_all.extend(new_ms);
        }
        old_all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        new_all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "[{kind:?}] scoring in process, {} runs: previous p50 {:.1} / p99 {:.1} ms; prepared p50 {:.2} / p99 {:.2} ms; ratio {:.0}× (p50)",
            old_all.len(),
            pct(&old_all, 0.5),
            pct(&old_all, 0.99),
            pct(&new_all, 0.5),
            pct(&new_all, 0.99),
            pct(&old_all, 0.5) / pct(&new_all, 0.5)
        );

        // Over HTTP: the baseline is the same client's round trip to /healthz (no database, no
        // work), measured in the same run, so the ratio says what the search itself costs.
        let mut base_ms = Vec::new();
        for i in 0..610 {
            let t = Instant::now();
            let res = client.get(app.url("/healthz")).send().await.unwrap();
            let _ = res.bytes().await.unwrap();
            if i >= 10 {
                base_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        base_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut all_ms = Vec::new();
        for q in queries {
            let url = if q.starts_with('&') {
                app.url(&format!("/api/v1/guides?region=990121{q}"))
            } else {
                app.url(&format!("/api/v1/guides?region=990121&q={q}"))
            };
            let mut ms = Vec::new();
            let mut total = 0;
            for i in 0..60 {
                let t = Instant::now();
                let res = client.get(&url).send().await.unwrap();
                let body: Value = res.json().await.unwrap();
                if i >= 10 {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                total = body["total"].as_u64().unwrap();
            }
            ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "[{kind:?}]   q={q:<24} {total:>6} hits  p50 {:.1} ms  p99 {:.1} ms",
                pct(&ms, 0.5),
                pct(&ms, 0.99)
            );
            all_ms.extend(ms);
        }
        all_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "[{kind:?}] baseline GET /healthz, {} requests: p50 {:.2} ms, p99 {:.2} ms",
            base_ms.len(),
            pct(&base_ms, 0.5),
            pct(&base_ms, 0.99)
        );
        println!(
            "[{kind:?}] guide search over HTTP (20 a page), {} requests: p50 {:.1} ms, p99 {:.1} ms = {:.1}× / {:.1}× the baseline",
            all_ms.len(),
            pct(&all_ms, 0.5),
            pct(&all_ms, 0.99),
            pct(&all_ms, 0.5) / pct(&base_ms, 0.5),
            pct(&all_ms, 0.99) / pct(&base_ms, 0.99)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark: run by hand, see docs/BENCHMARKS.md"]
    async fn sqlite() {
        run(Db::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark: run by hand, see docs/BENCHMARKS.md"]
    async fn postgres() {
        if std::env::var("ONESTOP_TEST_PG").is_ok() {
            run(Db::Postgres).await;
        }
    }
}

both_backends! {
    async fn the_base_catalogue_round_trips_and_bad_workbooks_say_where_every_problem_is(app: TestApp) {
        let admin = app.token("jingjiang.admin").await;
        let province = app.region_id("990000").await;
        let versions = |app: &TestApp| {
            let store = app.store.clone();
            async move {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM service_versions").fetch_one(store.read()).await.unwrap();
                n
            }
        };
        let xlsx = admin.get(&format!("/api/v1/catalogue/regions/{province}/export.xlsx")).await.bytes().await.unwrap().to_vec();

        // The province's export imports back unchanged: no new versions.
        let before = versions(&app).await;
        let report: Value = upload(&admin, province, xlsx.clone()).await.json().await.unwrap();
        assert_eq!(report["issues"], json!([]), "{report}");
        assert_eq!(report["base_catalogue"], true);
        assert!(report["rows"].as_array().unwrap().iter().all(|r| r["action"] == "unchanged"), "{report}");
        let res = admin.post(&format!("/api/v1/catalogue/imports/{}/commit", report["upload_id"]), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(versions(&app).await, before);
        // Committing the same upload twice is a conflict.
        let res = admin.post(&format!("/api/v1/catalogue/imports/{}/commit", report["upload_id"]), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "upload_already_committed".into()));

        // A workbook with a problem in every kind of cell: all reported, each where it is written.
        let sheets = |b: &[u8]| onestop_workbook::read_xlsx(b, &[("事项", true), ("材料", true)], &Default::default()).unwrap();
        let mut book = sheets(&xlsx);
        let head = book[0].rows[0].clone();
        let col = |h: &str| head.iter().position(|c| c == h).unwrap();
        let mhead = book[1].rows[0].clone();
        let mcol = |h: &str| mhead.iter().position(|c| c == h).unwrap();
        book[0].rows[1][col("受理条件")] = "改过的受理条件".into(); // a real change, fine alone
        book[0].rows[2][col("基本编码")] = "12AB".into();
        book[0].rows[3][col("实施主体统一社会信用代码")] = "91990100MA0000001H".into();
        book[0].rows[4][col("网上办理深度")] = "Ⅳ级：全程网办".into();
        book[0].rows[4][col("到办事现场次数")] = "2".into();
        book[0].rows[5][col("是否收费")] = "是".into();
        book[0].rows[5][col("收费标准")] = "10 元".into();
        book[0].rows[5][col("收费依据")] = String::new();
        let mut dup = book[0].rows[6].clone();
        dup[col("事项名称")] = "重复的事项".into();
        book[0].rows.push(dup);
        let (m1, m2, m3) = (1usize, 2usize, 3usize);
        // Trailing blank cells are not stored: give the rows their full width first.
        for r in book[1].rows.iter_mut() {
            r.resize(mhead.len(), String::new());
        }
        book[1].rows[m1][mcol("原件数")] = "x".into();
        book[1].rows[m2][mcol("来源渠道")] = "政府部门核发".into();
        book[1].rows[m2][mcol("出具单位")] = String::new();
        book[1].rows[m3][mcol("空白表格")] = "f".repeat(64);
        book[1].rows[m3 + 1][mcol("示例样表")] = "sample.pdf".into();
        let bad = onestop_workbook::write_xlsx(&book).unwrap();
        let report: Value = upload(&admin, province, bad).await.json().await.unwrap();
        let issues = report["issues"].as_array().unwrap();
        let letter = |i: usize| ((b'A' + i as u8) as char).to_string();
        let find = |sheet: &str, row: u64, code: &str| {
            issues.iter().find(|i| i["sheet"] == sheet && i["row"] == row && i["code"] == code).cloned()
                .unwrap_or_else(|| panic!("no {code} at {sheet} row {row} in {issues:#?}"))
        };
        assert_eq!(find("事项", 3, "base_code_invalid")["column"], letter(col("基本编码")));
        assert_eq!(find("事项", 4, "credit_code_invalid")["column"], letter(col("实施主体统一社会信用代码")));
        assert_eq!(find("事项", 5, "fully_online_needs_no_visit")["column"], letter(col("到办事现场次数")));
        assert_eq!(find("事项", 6, "fee_basis_missing")["header"], "收费依据");
        let last = book[0].rows.len() as u64;
        assert!(find("事项", last, "base_code_duplicate")["message"].as_str().unwrap().contains("第 7 行"));
        assert_eq!(find("材料", 2, "cell_invalid")["column"], letter(mcol("原件数")));
        assert_eq!(find("材料", 3, "required")["header"], "出具单位");
        assert_eq!(find("材料", 4, "file_ref_unknown")["column"], letter(mcol("空白表格")));
        assert_eq!(find("材料", 5, "file_ref_invalid")["header"], "示例样表");
        // Nothing is written, not even the row that alone would be fine.
        let res = admin.post(&format!("/api/v1/catalogue/imports/{}/commit", report["upload_id"]), &json!({})).await;
        let (status, code) = error_code(res).await;
        assert_eq!((status, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "import_has_errors"));
        assert_eq!(versions(&app).await, before);

        // A county cannot bring in a service the base catalogue does not have.
        let county = app.token("luoping.admin").await;
        let luoping = app.region_id("990121").await;
        let mut book = sheets(&county.get(&format!("/api/v1/catalogue/regions/{luoping}/export.xlsx")).await.bytes().await.unwrap());
        book[0].rows[1][col("基本编码")] = "999999999999".into();
        book[0].rows[1][col("实施编码")] = String::new();
        let report: Value = upload(&county, luoping, onestop_workbook::write_xlsx(&book).unwrap()).await.json().await.unwrap();
        let issue = report["issues"].as_array().unwrap().iter().find(|i| i["code"] == "service_unknown").cloned().unwrap();
        assert_eq!((issue["sheet"].as_str(), issue["row"].as_u64(), issue["column"].as_str()), (Some("事项"), Some(2), Some(letter(col("基本编码")).as_str())));

        // A change the province makes by workbook is a new published version that keeps what the
        // sheet has no column for (the department's code).
        let food = service_id(&app, FOOD).await;
        let (_, v) = latest_version(&app, food).await;
        let mut content = v["content"].clone();
        content["record"]["department_code"] = json!("11990000MB0000001X");
        let res = put(&admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": content})).await;
        let draft: Value = res.json().await.unwrap();
        let res = admin.post(&format!("/api/v1/catalogue/versions/{}/publish", draft["version"]["id"]), &json!({"effective_from": "2026-03-18"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut book = sheets(&admin.get(&format!("/api/v1/catalogue/regions/{province}/export.xlsx")).await.bytes().await.unwrap());
        let row = book[0].rows.iter().position(|r| r[col("基本编码")] == FOOD).unwrap();
        book[0].rows[row][col("办理流程")] = "网上申请 → 审查 → 决定".into();
        let report: Value = upload(&admin, province, onestop_workbook::write_xlsx(&book).unwrap()).await.json().await.unwrap();
        assert_eq!(report["issues"], json!([]), "{report}");
        let planned = report["rows"].as_array().unwrap().iter().find(|r| r["base_code"] == FOOD).unwrap();
        assert_eq!((planned["action"].as_str(), planned["changes"].clone()), (Some("new_version"), json!(["办理流程"])));
        let res = admin.post(&format!("/api/v1/catalogue/imports/{}/commit", report["upload_id"]), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (_, v) = latest_version(&app, food).await;
        assert_eq!(v["status"], "published");
        assert_eq!(v["content"]["record"]["process"], "网上申请 → 审查 → 决定");
        assert_eq!(v["content"]["record"]["department_code"], "11990000MB0000001X");
    }
}

both_backends! {
    async fn drafts_refuse_stale_tokens_and_unknown_files_over_the_api(app: TestApp) {
        let admin = app.token("jingjiang.admin").await;
        let food = service_id(&app, FOOD).await;
        let detail: Value = admin.get(&format!("/api/v1/catalogue/services/{food}")).await.json().await.unwrap();
        assert_eq!(detail["draft_token"], "new");
        let content = detail["versions"][0]["content"].clone();
        let res = put(&admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": content, "expected_draft_token": "new"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        // Whoever read before that save is refused, and whoever reads again may save.
        let res = put(&admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": content, "expected_draft_token": "new"})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "draft_changed".into()));
        let detail: Value = admin.get(&format!("/api/v1/catalogue/services/{food}")).await.json().await.unwrap();
        let token = detail["draft_token"].as_str().unwrap().to_owned();
        assert_ne!(token, "new");
        let res = put(&admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": content, "expected_draft_token": token})).await;
        assert_eq!(res.status(), StatusCode::OK);

        // A blank form must be a stored file, named by its digest.
        let mut bad = content.clone();
        bad["materials"][0]["blank_form"] = json!("a".repeat(64));
        bad["materials"][1]["sample"] = json!("申请表.pdf");
        let res = put(&admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": bad})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        let fields: Vec<(&str, &str)> = body["fields"].as_array().unwrap().iter().map(|f| (f["field"].as_str().unwrap(), f["code"].as_str().unwrap())).collect();
        assert!(fields.contains(&("materials[0].blank_form", "file_ref_unknown")), "{fields:?}");
        assert!(fields.contains(&("materials[1].sample", "file_ref_invalid")), "{fields:?}");
        let part = reqwest::multipart::Part::bytes(b"%PDF-1.4 blank".to_vec()).file_name("blank.pdf");
        let up: Value = admin.client.post(app.url("/api/v1/uploads")).bearer_auth(&admin.token)
            .multipart(reqwest::multipart::Form::new().part("file", part)).send().await.unwrap().json().await.unwrap();
        let mut good = content.clone();
        good["materials"][0]["blank_form"] = up["sha256"].clone();
        let res = put(&admin, &format!("/api/v1/catalogue/services/{food}/draft"), &json!({"content": good})).await;
        assert_eq!(res.status(), StatusCode::OK);

        // The page import refuses what the API refuses, as a readable page.
        let s = app.login("luoping.admin").await;
        let luoping = app.region_id("990121").await;
        let form = reqwest::multipart::Form::new().text("csrf", s.csrf.clone())
            .part("file", reqwest::multipart::Part::bytes(b"name,code\n".to_vec()).file_name("list.xlsx"));
        let res = s.client.post(app.url(&format!("/admin/catalogue/regions/{luoping}/import"))).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("not_a_workbook"));
        let form = reqwest::multipart::Form::new().text("csrf", "forged")
            .part("file", reqwest::multipart::Part::bytes(b"PK".to_vec()).file_name("list.xlsx"));
        let res = s.client.post(app.url(&format!("/admin/catalogue/regions/{luoping}/import"))).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // The newborn bundle asks for the applicant once, and for every shared material once.
        let bundles: Vec<Value> = admin.get("/api/v1/catalogue/bundles").await.json().await.unwrap();
        let newborn = bundles.iter().find(|b| b["name"] == "新生儿出生一件事").unwrap();
        let merged: Value = TestApp::client().get(app.url(&format!("/api/v1/guides/990121/bundles/{}", newborn["id"]))).send().await.unwrap().json().await.unwrap();
        let keys: Vec<&str> = merged["merged"]["form"]["fields"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
        assert_eq!(keys.iter().filter(|k| **k == "applicant_id_number").count(), 1, "{keys:?}");
        let codes: Vec<&str> = merged["merged"]["materials"].as_array().unwrap().iter().filter_map(|m| m["material"]["code"].as_str()).collect();
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(codes.len(), unique.len(), "{codes:?}");
        assert!(merged["members"].as_array().unwrap().len() == 3);
    }
}
