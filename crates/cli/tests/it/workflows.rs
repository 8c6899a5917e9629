//! Workflows and working-day calendars as their users meet them, over HTTP, the pages and the CLI:
//! definitions inherited live down the region tree with a generated default, immutable versions and
//! a reset; every bad definition refused with each issue at its step and nothing written; closures
//! that reach every region below, year files, and deadlines flagged beyond the loaded calendar.
use crate::both_backends;
use crate::common::*;
use crate::process::cli;
use onestop_domain::workflow::{DepartmentRef, WorkflowDefinition, simple_approval};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FOOD: &str = "000172007000"; // 食品经营许可证核发: seeded by 静江省, overridden by 罗平县
const MARRIAGE: &str = "000127001000"; // 内地居民结婚登记: nobody defines one (民政局)

async fn service_id(app: &TestApp, base_code: &str) -> i64 {
    let mut c = app.store.read().acquire().await.unwrap();
    onestop_store::catalogue::service_by_code(&mut c, base_code)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn bundle_id(app: &TestApp, code: &str) -> i64 {
    let mut c = app.store.read().acquire().await.unwrap();
    onestop_store::catalogue::bundles(&mut c)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.code == code)
        .unwrap()
        .id
}

async fn json_of(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// 审核 → 审批 at `dept`, with `extra` steps spliced between them when given.
fn two_level(dept: &str, review_name: &str) -> Value {
    json!({
        "start": "review",
        "steps": [
            {"key": "review", "name": review_name, "department": dept, "role": "reviewer", "time_limit_days": 3,
             "kind": {"type": "task"}, "actions": [{"action": "approve", "to": "approve"}, {"action": "refuse", "to": "refused"}]},
            {"key": "approve", "name": "审批", "department": dept, "role": "reviewer", "time_limit_days": 2,
             "kind": {"type": "task"}, "actions": [{"action": "approve", "to": "done"}, {"action": "return", "to": "review"},
                                                    {"action": "refuse", "to": "refused"}]},
            {"key": "done", "name": "办结", "kind": {"type": "end", "outcome": "approved"}},
            {"key": "refused", "name": "不予许可", "kind": {"type": "end", "outcome": "refused"}}
        ]
    })
}

fn field_codes(body: &Value) -> Vec<(String, String)> {
    body["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| {
                    (
                        x["field"].as_str().unwrap().to_owned(),
                        x["code"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

both_backends! {
    async fn workflows_inherit_down_the_tree_keep_their_versions_and_reset(app: TestApp) {
        let (province, city, luoping, qinghe) = (
            app.region_id("990000").await,
            app.region_id("990100").await,
            app.region_id("990121").await,
            app.region_id("990122").await,
        );
        let (prov_admin, city_admin, county_admin) =
            (app.token("jingjiang.admin").await, app.token("jiuan.admin").await, app.token("luoping.admin").await);
        let marriage = service_id(&app, MARRIAGE).await;
        let path = |r: i64| format!("/api/v1/workflows/regions/{r}/services/{marriage}");

        // Nobody defines one: the default, simple_approval of the implementation's effective
        // department (久安市 implements it for its counties), resolved to the city's department.
        let w = json_of(county_admin.get(&path(luoping)).await).await;
        assert_eq!((w["origin"]["from"].as_str(), w["origin_label"].as_str()), (Some("default"), Some("默认流程")));
        assert!(w["version_id"].is_null());
        let keys: Vec<&str> = w["definition"]["steps"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["accept", "review", "decide", "done", "refused"]);
        assert_eq!(w["departments"][0]["department"], "久安市民政局");
        assert_eq!(w["departments"][0]["resolved"]["region"]["code"], "990100");
        assert!(w["graph"]["nodes"].as_array().unwrap().len() == 5);
        // The function the case flow calls says the same.
        {
            let mut c = app.store.read().acquire().await.unwrap();
            let e = onestop_store::workflows::effective(&mut c, luoping, marriage).await.unwrap();
            assert_eq!(e.version_id, None);
            assert_eq!(e.definition, simple_approval(&DepartmentRef::new("久安市民政局")));
        }

        // The province defines it: every region below inherits it, each resolving 民政局 at home.
        let v1 = json_of(prov_admin.put(&path(province), &json!({"definition": two_level("民政局", "审核"), "note": "省级两级审批"})).await).await;
        assert_eq!((v1["origin"]["from"].as_str(), v1["version_number"].as_i64()), (Some("own"), Some(1)));
        let v1_id = v1["version_id"].as_i64().unwrap();
        let w = json_of(city_admin.get(&path(city)).await).await;
        assert_eq!((w["origin_label"].as_str(), w["version_id"].as_i64()), (Some("继承自 静江省"), Some(v1_id)));
        assert_eq!(w["departments"][0]["resolved"]["region"]["code"], "990100");
        let w = json_of(city_admin.get(&path(qinghe)).await).await;
        assert_eq!(w["departments"][0]["resolved"]["region"]["code"], "990122");

        // 罗平县 defines its own; the province's next version reaches the city, not 罗平县.
        let own = json_of(county_admin.put(&path(luoping), &json!({"definition": two_level("民政局", "县级审核")})).await).await;
        assert_eq!((own["origin_label"].as_str(), own["version_number"].as_i64()), (Some("本级设置"), Some(1)));
        let v2 = json_of(prov_admin.put(&path(province), &json!({"definition": two_level("民政局", "审核（第二版）")})).await).await;
        assert_eq!(v2["version_number"], 2);
        let w = json_of(city_admin.get(&path(city)).await).await;
        assert_eq!(w["definition"]["steps"][0]["name"], "审核（第二版）");
        let w = json_of(county_admin.get(&path(luoping)).await).await;
        assert_eq!(w["definition"]["steps"][0]["name"], "县级审核");
        // The county sees the versions above it and its own, and which is in force where.
        let versions = w["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 3);
        let flags: Vec<(i64, &str, bool, bool)> = versions
            .iter()
            .map(|v| (v["number"].as_i64().unwrap(), v["region"]["code"].as_str().unwrap(), v["in_force"].as_bool().unwrap(), v["in_force_at_its_region"].as_bool().unwrap()))
            .collect();
        assert!(flags.contains(&(1, "990121", true, true)) && flags.contains(&(2, "990000", false, true)) && flags.contains(&(1, "990000", false, false)), "{flags:?}");

        // Versions never change: the province's first still reads as it was saved.
        let v = json_of(county_admin.get(&format!("/api/v1/workflows/versions/{v1_id}")).await).await;
        assert_eq!(v["definition"]["steps"][0]["name"], "审核");
        {
            let mut c = app.store.read().acquire().await.unwrap();
            let def: WorkflowDefinition = onestop_store::workflows::version(&mut c, v1_id).await.unwrap();
            assert_eq!(def.steps[0].name, "审核");
        }

        // Reset: 罗平县 inherits the province's current version again; its own stays in the history.
        let w = json_of(county_admin.delete(&path(luoping)).await).await;
        assert_eq!((w["origin_label"].as_str(), w["version_number"].as_i64()), (Some("继承自 静江省"), Some(2)));
        assert_eq!(w["versions"].as_array().unwrap().len(), 3);

        // Bundles: the default fans out to every member's department; a city definition reaches its counties.
        let birth = bundle_id(&app, "YJS-002").await;
        let bpath = |r: i64| format!("/api/v1/workflows/regions/{r}/bundles/{birth}");
        let b = json_of(county_admin.get(&bpath(luoping)).await).await;
        assert_eq!(b["origin"]["from"], "default");
        assert_eq!(b["definition"]["steps"][0]["kind"]["type"], "fork");
        let depts: Vec<&str> = b["departments"].as_array().unwrap().iter().map(|d| d["department"].as_str().unwrap()).collect();
        assert_eq!(depts, ["久安市卫生健康委员会", "罗平县公安局户政管理", "久安市医疗保障局"]);
        {
            let mut c = app.store.read().acquire().await.unwrap();
            let e = onestop_store::workflows::effective_for_bundle(&mut c, luoping, birth).await.unwrap();
            assert_eq!((e.version_id, e.definition.steps.len()), (None, 7));
        }
        let fan_out = json!({"start": "f", "steps": [
            {"key": "f", "name": "分送", "kind": {"type": "fork", "branches": ["a", "b"]}},
            {"key": "a", "name": "出生医学证明", "department": "卫生健康委员会", "role": "reviewer", "time_limit_days": 1,
             "kind": {"type": "task"}, "actions": [{"action": "approve", "to": "j"}, {"action": "refuse", "to": "j"}]},
            {"key": "b", "name": "户口登记", "department": "公安局户政管理", "role": "reviewer", "time_limit_days": 1,
             "kind": {"type": "task"}, "actions": [{"action": "approve", "to": "j"}, {"action": "refuse", "to": "j"}]},
            {"key": "j", "name": "汇总", "kind": {"type": "join", "fork": "f", "next": "out", "refused_next": "no"}},
            {"key": "out", "name": "统一出件", "department": "卫生健康委员会", "role": "window_clerk", "time_limit_days": 1,
             "kind": {"type": "task"}, "actions": [{"action": "approve", "to": "ok"}]},
            {"key": "ok", "name": "办结", "kind": {"type": "end", "outcome": "approved"}},
            {"key": "no", "name": "不予许可", "kind": {"type": "end", "outcome": "refused"}}
        ]});
        json_of(city_admin.put(&bpath(city), &json!({"definition": fan_out})).await).await;
        let b = json_of(county_admin.get(&bpath(luoping)).await).await;
        assert_eq!(b["origin_label"], "继承自 久安市");
        assert_eq!(b["departments"][0]["resolved"]["region"]["code"], "990121");

        // The list says where each comes from; every change is in the audit trail.
        let list: Vec<Value> = json_of(county_admin.get(&format!("/api/v1/workflows/regions/{luoping}")).await).await.as_array().unwrap().clone();
        let food = service_id(&app, FOOD).await;
        let origin_of = |kind: &str, id: i64| list.iter().find(|x| x["subject"]["kind"] == kind && x["subject"]["id"] == id).map(|x| x["origin_label"].as_str().unwrap().to_owned());
        assert_eq!(origin_of("service", food).as_deref(), Some("本级设置"));
        assert_eq!(origin_of("service", marriage).as_deref(), Some("继承自 静江省"));
        assert_eq!(origin_of("bundle", birth).as_deref(), Some("继承自 久安市"));
        let trail: Value = app.token("jingjiang.auditor").await.get("/api/v1/audit?action=workflow.save").await.json().await.unwrap();
        assert!(trail.as_array().unwrap().len() >= 4, "{trail}");
        let trail: Value = app.token("luoping.auditor").await.get("/api/v1/audit?action=workflow.reset").await.json().await.unwrap();
        assert_eq!(trail.as_array().unwrap().len(), 1, "{trail}");
    }
}

both_backends! {
    async fn bad_definitions_and_the_wrong_people_are_refused_and_nothing_is_written(app: TestApp) {
        let (city, luoping, qinghe) = (app.region_id("990100").await, app.region_id("990121").await, app.region_id("990122").await);
        let admin = app.token("luoping.admin").await;
        let marriage = service_id(&app, MARRIAGE).await;
        let path = format!("/api/v1/workflows/regions/{luoping}/services/{marriage}");
        let good = two_level("民政局", "审核");
        let with = |f: &dyn Fn(&mut Value)| {
            let mut d = good.clone();
            f(&mut d);
            json!({"definition": d})
        };
        // (what, body, the issues expected: field and code)
        type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            ("unreachable step", with(&|d| d["steps"].as_array_mut().unwrap().push(json!(
                {"key": "lonely", "name": "孤立", "department": "民政局", "role": "reviewer", "time_limit_days": 1,
                 "kind": {"type": "task"}, "actions": [{"action": "approve", "to": "done"}]}))),
                vec![("steps.lonely", "step_unreachable")]),
            ("dead end", with(&|d| {
                d["steps"][0]["actions"] = json!([{"action": "approve", "to": "approve"}]);
                d["steps"][1]["actions"] = json!([{"action": "return", "to": "review"}]);
            }),
                vec![("steps.review", "step_no_conclusion"), ("steps.approve", "step_no_conclusion"), ("steps.done", "step_unreachable")]),
            ("unknown step", with(&|d| d["steps"][0]["actions"][0]["to"] = json!("nowhere")),
                vec![("steps.review", "step_ref_unknown")]),
            ("end inside a branch", json!({"definition": {"start": "f", "steps": [
                {"key": "f", "name": "分送", "kind": {"type": "fork", "branches": ["a", "b"]}},
                {"key": "a", "name": "甲", "department": "民政局", "role": "reviewer", "time_limit_days": 1, "kind": {"type": "task"}, "actions": [{"action": "approve", "to": "done"}]},
                {"key": "b", "name": "乙", "department": "民政局", "role": "reviewer", "time_limit_days": 1, "kind": {"type": "task"}, "actions": [{"action": "approve", "to": "done"}]},
                {"key": "done", "name": "办结", "kind": {"type": "end", "outcome": "approved"}}]}}),
                vec![("steps.f", "fork_without_join"), ("steps.done", "end_inside_branch")]),
            ("undeclared action", with(&|d| d["steps"][0]["actions"][0]["action"] = json!("approve_fast")),
                vec![("steps.review", "action_unknown")]),
            ("a role without an inbox", with(&|d| d["steps"][0]["role"] = json!("supervisor")),
                vec![("steps.review", "step_role_cannot_work")]),
            ("an unknown role", with(&|d| d["steps"][1]["role"] = json!("root")),
                vec![("steps.approve", "step_role_unknown")]),
            ("an unknown department", with(&|d| d["steps"][1]["department"] = json!("不存在的局")),
                vec![("steps.approve", "department_unknown")]),
            ("two problems at once", with(&|d| { d["steps"][0]["time_limit_days"] = json!(0); d["steps"][1]["department"] = json!(""); }),
                vec![("steps.review", "step_time_limit_zero"), ("steps.approve", "step_department_missing")]),
        ];
        for (what, body, expected) in cases {
            let res = admin.put(&path, &body).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["code"], "workflow_invalid", "{what}: {body}");
            let got = field_codes(&body);
            for (field, code) in expected {
                assert!(got.contains(&(field.to_owned(), code.to_owned())), "{what}: no {code} at {field} in {got:?}");
            }
            assert!(body["fields"].as_array().unwrap().iter().all(|f| !f["message"].as_str().unwrap().is_empty()));
        }
        // Shape errors: not JSON, a misspelt field, a note too long.
        let res = admin.client.put(app.url(&path)).bearer_auth(&admin.token).header("content-type", "application/json").body("{").send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::BAD_REQUEST, "malformed_json".into()));
        let (status, code) = error_code(admin.put(&path, &json!({"definition": {"start": "a", "stepz": []}})).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
        let (status, code) = error_code(admin.put(&path, &json!({"definition": good, "note": "长".repeat(201)})).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "workflow_note_invalid"));

        // Nothing was written by any of them.
        let w = json_of(admin.get(&path).await).await;
        assert_eq!((w["origin"]["from"].as_str(), w["versions"].as_array().unwrap().len()), (Some("default"), 0));
        let trail: Value = app.token("luoping.auditor").await.get("/api/v1/audit?action=workflow.save").await.json().await.unwrap();
        assert_eq!(trail.as_array().unwrap().len(), 0, "{trail}");

        // The check answers without saving: every issue, and the diagram with the step marked.
        let c = json_of(admin.post(&format!("/api/v1/workflows/regions/{luoping}/check"), &with(&|d| d["steps"][1]["role"] = json!("auditor"))).await).await;
        assert_eq!(c["valid"], false);
        assert_eq!((c["issues"][0]["code"].as_str(), c["issues"][0]["step"].as_str()), (Some("step_role_cannot_work"), Some("approve")));
        assert!(c["graph"]["nodes"].as_array().unwrap().iter().any(|n| n["id"] == "approve" && n["issue"] == true));
        let c = json_of(admin.post(&format!("/api/v1/workflows/regions/{luoping}/check"), &json!({"definition": good})).await).await;
        assert_eq!((c["valid"].as_bool(), c["issues"].as_array().unwrap().len()), (Some(true), 0));

        // The wrong people: a clerk may read, not write (403); a sibling county or the city above
        // do not exist for a county admin (404); an unknown service or bundle is 404.
        let clerk = app.token("luoping.clerk").await;
        assert_eq!(clerk.get(&path).await.status(), StatusCode::OK);
        assert_eq!(error_code(clerk.put(&path, &json!({"definition": good})).await).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        assert_eq!(error_code(clerk.delete(&path).await).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        for p in [format!("/api/v1/workflows/regions/{qinghe}/services/{marriage}"), format!("/api/v1/workflows/regions/{city}/services/{marriage}")] {
            assert_eq!(error_code(admin.get(&p).await).await.0, StatusCode::NOT_FOUND, "{p}");
            assert_eq!(error_code(admin.put(&p, &json!({"definition": good})).await).await.0, StatusCode::NOT_FOUND, "{p}");
        }
        for p in [format!("/api/v1/workflows/regions/{luoping}/services/999999"), format!("/api/v1/workflows/regions/{luoping}/bundles/999999"), "/api/v1/workflows/versions/999999".to_owned()] {
            assert_eq!(error_code(admin.get(&p).await).await.0, StatusCode::NOT_FOUND, "{p}");
        }
        assert_eq!(error_code(admin.put(&format!("/api/v1/workflows/regions/{luoping}/services/999999"), &json!({"definition": good})).await).await.0, StatusCode::NOT_FOUND);
        // A version saved by a sibling county is not readable from here.
        let qinghe_admin = app.token("qinghe.admin").await;
        let theirs = json_of(qinghe_admin.put(&format!("/api/v1/workflows/regions/{qinghe}/services/{marriage}"), &json!({"definition": good})).await).await;
        let vid = theirs["version_id"].as_i64().unwrap();
        assert_eq!(error_code(admin.get(&format!("/api/v1/workflows/versions/{vid}")).await).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.token("jiuan.admin").await.get(&format!("/api/v1/workflows/versions/{vid}")).await.status(), StatusCode::OK);
    }
}

both_backends! {
    async fn the_editor_page_checks_every_step_saves_versions_and_resets(app: TestApp) {
        let luoping = app.region_id("990121").await;
        let food = service_id(&app, FOOD).await;
        let page = format!("/admin/workflows/regions/{luoping}/services/{food}");
        let s = app.login("luoping.admin").await;

        // The list and the page: the seeded county version, its diagram data and the editor.
        let html = s.get(&format!("/admin/workflows/regions/{luoping}")).await.text().await.unwrap();
        assert!(html.contains("食品经营许可证核发") && html.contains("本级设置") && html.contains("继承自 静江省") && html.contains("默认流程"), "{html}");
        let res = s.get(&page).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("本级设置") && html.contains("第 2 版") && html.contains("现场核查") && html.contains("id=\"wf-form\""));
        let graph: Value = {
            let start = html.find("id=\"wf-graph\">").unwrap() + "id=\"wf-graph\">".len();
            let end = start + html[start..].find("</script>").unwrap();
            serde_json::from_str(&html[start..end]).unwrap()
        };
        assert_eq!(graph["nodes"].as_array().unwrap().len(), 5);
        assert!(graph["links"].as_array().unwrap().iter().any(|l| l["source"] == "inspect" && l["target"] == "review" && l["kind"] == "return"));

        // The form, as a browser without JavaScript sends it.
        let form = |review_dept: &str, review_name: &str| -> Vec<(String, String)> {
            let mut f: Vec<(String, String)> = vec![("start".into(), "review".into())];
            let mut step = |i: usize, pairs: &[(&str, &str)]| {
                for (k, v) in pairs {
                    f.push((format!("{k}_{i}"), (*v).to_owned()));
                }
            };
            // Rows in the order the admin arranged them; their numbers need not follow.
            step(7, &[("key", "review"), ("name", review_name), ("kind", "task"), ("department", review_dept), ("role", "reviewer"), ("days", "2"), ("approve", "approve"), ("refuse", "refused"), ("branches", "ignored for a task")]);
            step(3, &[("key", "approve"), ("name", "审批"), ("kind", "task"), ("department", "市场监督管理局"), ("role", "reviewer"), ("days", "2"), ("approve", "done"), ("return", "review"), ("refuse", "refused")]);
            step(5, &[("key", "done"), ("name", "办结"), ("kind", "end"), ("outcome", "approved"), ("approve", "ignored for an end")]);
            step(1, &[("key", "refused"), ("name", "不予许可"), ("kind", "end"), ("outcome", "refused")]);
            step(9, &[("key", ""), ("name", ""), ("kind", "task"), ("role", "reviewer")]);
            f
        };
        let post = |fields: Vec<(String, String)>, intent: &str| {
            let mut fields = fields;
            fields.push(("intent".into(), intent.into()));
            fields.push(("note".into(), "页面修改".into()));
            fields.push(("csrf".into(), s.csrf.clone()));
            let url = app.url(&page);
            let c = s.client.clone();
            async move { c.post(url).form(&fields).send().await.unwrap() }
        };
        // 检查 with an unknown department: 422, the message at that step's row.
        let res = post(form("没有这个局", "审核"), "check").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        let row = &html[html.find("name=\"key_0\" value=\"review\"").expect("the review row comes first")..];
        let row = &row[..row.find("</li>").unwrap()];
        assert!(row.contains("办理部门“没有这个局”在本区划、上级及下级区划中都不存在"), "{row}");
        // 保存 with the same problem saves nothing.
        assert_eq!(post(form("没有这个局", "审核"), "save").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // A clean check, then the save: version 3, in the order of the form.
        let res = post(form("市场监督管理局", "页面审核"), "check").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("检查通过"));
        let res = post(form("市场监督管理局", "页面审核"), "save").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(res.headers()["location"].to_str().unwrap().ends_with("?saved=3"));
        let html = s.get(&format!("{page}?saved=3")).await.text().await.unwrap();
        assert!(html.contains("已保存为第 3 版"));
        let w = json_of(app.token("luoping.admin").await.get(&format!("/api/v1/workflows/regions/{luoping}/services/{food}")).await).await;
        assert_eq!(w["version_number"], 3);
        let keys: Vec<&str> = w["definition"]["steps"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["review", "approve", "done", "refused"]);
        assert_eq!(w["definition"]["steps"][0]["name"], "页面审核");
        assert!(w["definition"]["steps"][2].get("actions").is_none(), "fields of another kind are ignored");

        // The live check answers the same form with JSON.
        let mut fields = form("市场监督管理局", "x");
        fields.retain(|(k, _)| k != "role_3");
        fields.push(("role_3".into(), "auditor".into()));
        fields.push(("csrf".into(), s.csrf.clone()));
        let c: Value = s.client.post(app.url(&format!("{page}/check"))).form(&fields).send().await.unwrap().json().await.unwrap();
        assert_eq!((c["valid"].as_bool(), c["issues"][0]["code"].as_str()), (Some(false), Some("step_role_cannot_work")));

        // JSON paste: not JSON is shown where it was pasted; a good text is a new version.
        let res = s.form(&format!("{page}/json"), &[("json", "{\"start\": "), ("note", "")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("流程定义 JSON 格式错误"));
        // (A name that tries to end the diagram's script block stays text.)
        let hostile = "粘贴的审核</script><b>注入</b>";
        let text = two_level("市场监督管理局", hostile).to_string();
        let res = s.form(&format!("{page}/json"), &[("json", &text), ("note", "粘贴")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = s.get(&page).await.text().await.unwrap();
        // Escaped in the page (askama writes &#60;), and \u003c in the diagram's JSON.
        assert!(html.contains("粘贴的审核&#60;/script&#62;") && !html.contains("<b>注入</b>") && !html.contains("粘贴的审核</script>"));
        let graph: Value = {
            let start = html.find("id=\"wf-graph\">").unwrap() + "id=\"wf-graph\">".len();
            let end = start + html[start..].find("</script>").unwrap();
            serde_json::from_str(&html[start..end]).unwrap()
        };
        assert!(graph["nodes"].as_array().unwrap().iter().any(|n| n["name"] == hostile));

        // A version from the history opens in the editor.
        let first = w["versions"].as_array().unwrap().iter().find(|v| v["region"]["code"] == "990121" && v["number"] == 1).unwrap()["id"].as_i64().unwrap();
        let html = s.get(&format!("{page}?from={first}")).await.text().await.unwrap();
        assert!(html.contains("编辑器中载入的是历史版本") && html.contains("第 1 版"));

        // Reset: the county inherits the province's again.
        let res = s.form(&format!("{page}/reset"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = s.get(&format!("{page}?reset=1")).await.text().await.unwrap();
        assert!(html.contains("已恢复继承") && html.contains("继承自 静江省"));

        // A clerk reads the workflow but gets no editor, and cannot post one; a sibling's admin sees nothing.
        let clerk = app.login("luoping.clerk").await;
        let html = clerk.get(&page).await.text().await.unwrap();
        assert!(html.contains("流程图") && !html.contains("id=\"wf-form\""));
        let mut fields = form("市场监督管理局", "x");
        fields.push(("intent".into(), "save".into()));
        fields.push(("csrf".into(), clerk.csrf.clone()));
        assert_eq!(clerk.client.post(app.url(&page)).form(&fields).send().await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(app.login("qinghe.admin").await.get(&page).await.status(), StatusCode::NOT_FOUND);
    }
}

async fn days(b: &Bearer, r: i64, from: &str, to: &str) -> Value {
    json_of(
        b.get(&format!("/api/v1/regions/{r}/calendar?from={from}&to={to}"))
            .await,
    )
    .await
}

async fn deadline(b: &Bearer, r: i64, from: &str, n: u32) -> Value {
    json_of(
        b.get(&format!("/api/v1/regions/{r}/calendar/deadline?from={from}&days={n}"))
            .await,
    )
    .await
}

async fn add(b: &Bearer, r: i64, body: Value) -> (StatusCode, String) {
    error_code(b.post(&format!("/api/v1/regions/{r}/calendar/closures"), &body).await).await
}

/// A year file for the tests (an example, not an official notice).
const YEAR_2027: &str = "year = 2027\nsource = \"测试用 2027 年安排\"\n\n[[holidays]]\nname = \"元旦\"\nstart = 2027-01-01\nend = 2027-01-03\nmakeup_workdays = []\n";

both_backends! {
    async fn calendars_inherit_closures_load_years_and_flag_deadlines_beyond_them(app: TestApp) {
        let (province, city, luoping, qinghe) = (
            app.region_id("990000").await,
            app.region_id("990100").await,
            app.region_id("990121").await,
            app.region_id("990122").await,
        );
        let (city_admin, county_admin) = (app.token("jiuan.admin").await, app.token("luoping.admin").await);
        let kind = |cal: &Value, date: &str| -> (String, Option<String>) {
            let d = cal["days"].as_array().unwrap().iter().find(|d| d["date"] == date).unwrap();
            (d["kind"].as_str().unwrap().to_owned(), d["closure_region"]["code"].as_str().map(str::to_owned))
        };

        // Seeded: 罗平县 closed for a typhoon (its own), 久安市 for an upgrade (every county's).
        let lp = days(&county_admin, luoping, "2026-08-10", "2026-08-16").await;
        assert_eq!(kind(&lp, "2026-08-12"), ("closed".into(), Some("990121".into())));
        assert_eq!(kind(&lp, "2026-08-15"), ("weekend".into(), None));
        let qh = days(&city_admin, qinghe, "2026-08-10", "2026-08-16").await;
        assert_eq!(kind(&qh, "2026-08-12"), ("workday".into(), None));
        let qh = days(&city_admin, qinghe, "2026-12-14", "2026-12-20").await;
        assert_eq!(kind(&qh, "2026-12-18"), ("closed".into(), Some("990100".into())));
        let prov = days(&app.token("jingjiang.admin").await, province, "2026-12-14", "2026-12-20").await;
        assert_eq!(kind(&prov, "2026-12-18").0, "workday", "a city's closure does not reach above it");
        let spring = days(&county_admin, luoping, "2026-02-13", "2026-02-15").await;
        assert_eq!((kind(&spring, "2026-02-14").0.as_str(), kind(&spring, "2026-02-15").0.as_str()), ("makeup", "holiday"));
        // Deadlines count on it: the day after the typhoon in 罗平县, the typhoon day in 清河县.
        assert_eq!(deadline(&county_admin, luoping, "2026-08-11", 1).await["deadline"], "2026-08-13");
        assert_eq!(deadline(&city_admin, qinghe, "2026-08-11", 1).await["deadline"], "2026-08-12");
        {
            let mut c = app.store.read().acquire().await.unwrap();
            let cal = onestop_store::calendars::calendar_for(&mut c, luoping).await.unwrap();
            assert!(!cal.is_working_day(jiff::civil::date(2026, 8, 12)).unwrap());
            assert!(!cal.is_working_day(jiff::civil::date(2026, 12, 18)).unwrap());
        }

        // The city closes a day: every county sees it at once, with its origin; only the city reopens it.
        let res = city_admin.post(&format!("/api/v1/regions/{city}/calendar/closures"), &json!({"date": "2026-09-09", "reason": "暴雨红色预警"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let lp = days(&county_admin, luoping, "2026-09-09", "2026-09-09").await;
        assert_eq!(kind(&lp, "2026-09-09"), ("closed".into(), Some("990100".into())));
        let (status, code) = error_code(county_admin.delete(&format!("/api/v1/regions/{luoping}/calendar/closures/2026-09-09")).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "calendar_closure_inherited"));
        assert_eq!(city_admin.delete(&format!("/api/v1/regions/{city}/calendar/closures/2026-09-09")).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(kind(&days(&county_admin, luoping, "2026-09-09", "2026-09-09").await, "2026-09-09").0, "workday");
        let (status, code) = error_code(city_admin.delete(&format!("/api/v1/regions/{city}/calendar/closures/2026-09-09")).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "calendar_closure_unknown"));

        // Bad closures, and the wrong people.
        assert_eq!(add(&county_admin, luoping, json!({"date": "2027-01-05", "reason": "台风"})).await, (StatusCode::UNPROCESSABLE_ENTITY, "calendar_date_not_covered".into()));
        assert_eq!(add(&county_admin, luoping, json!({"date": "2026-08-12", "reason": "again"})).await, (StatusCode::CONFLICT, "calendar_closure_exists".into()));
        assert_eq!(add(&county_admin, luoping, json!({"date": "2026-08-13", "reason": "  "})).await, (StatusCode::UNPROCESSABLE_ENTITY, "calendar_closure_reason".into()));
        assert_eq!(add(&county_admin, luoping, json!({"date": "2026-13-01", "reason": "x"})).await, (StatusCode::UNPROCESSABLE_ENTITY, "date_invalid".into()));
        assert_eq!(add(&app.token("luoping.clerk").await, luoping, json!({"date": "2026-08-13", "reason": "x"})).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        assert_eq!(add(&app.token("qinghe.admin").await, luoping, json!({"date": "2026-08-13", "reason": "x"})).await.0, StatusCode::NOT_FOUND);
        assert_eq!(add(&county_admin, city, json!({"date": "2026-08-13", "reason": "x"})).await.0, StatusCode::NOT_FOUND);
        let (status, code) = error_code(county_admin.get(&format!("/api/v1/regions/{luoping}/calendar?from=2026-01-01&to=2027-06-01")).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "calendar_range_invalid"));

        // Beyond the loaded calendar: flagged with its stable code, never counted as weekdays.
        let d = deadline(&county_admin, luoping, "2026-12-10", 20).await;
        assert_eq!((d["beyond_calendar"].as_bool(), d["code"].as_str()), (Some(true), Some("calendar_date_not_covered")));
        assert!(d["deadline"].is_null());
        let dec = days(&county_admin, luoping, "2026-12-31", "2027-01-01").await;
        assert_eq!(kind(&dec, "2027-01-01").0, "not_covered");

        // Year files that do not parse, contradict themselves or leave a gap are refused; nothing changes.
        let national = app.token("jingjiang.admin").await;
        for (text, code) in [
            ("year = 2027\n[[holidays]]\nname = \"元旦\"\nstart = \"2027-01-01\"\n", "calendar_file_invalid"),
            ("year = 2027\n[[holidays]]\nname = \"元旦\"\nstart = 2027-01-01\nmakeup_workdays = [2027-01-04]\n", "calendar_makeup_not_weekend"),
            ("year = 2027\n[[holidays]]\nname = \"a\"\nstart = 2027-01-01\nend = 2027-01-03\n[[holidays]]\nname = \"b\"\nstart = 2027-01-02\n", "calendar_date_conflict"),
            ("year = 2028\n", "calendar_years_not_contiguous"),
        ] {
            let (status, got) = error_code(national.post("/api/v1/calendar/years", &json!({"toml": text})).await).await;
            assert_eq!((status, got.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{text}");
        }
        let years: Vec<Value> = json_of(national.get("/api/v1/calendar/years").await).await.as_array().unwrap().clone();
        assert_eq!(years.len(), 1);
        assert_eq!(years[0]["origin"]["from"], "builtin");
        // Only the keepers of the national calendar load it.
        assert_eq!(error_code(county_admin.post("/api/v1/calendar/years", &json!({"toml": YEAR_2027})).await).await.0, StatusCode::FORBIDDEN);

        // The CLI loads next year's notice; every region counts into 2027 at once.
        let dir = TempDir::new("calendar");
        let file = dir.0.join("2027.toml");
        std::fs::write(&file, "year = 2027\n[[holidays]]\nname = \"元旦\"\nstart = \"bad\"\n").unwrap();
        let bad = cli(&dir, &app.db.url, &["calendar", "import", file.to_str().unwrap()], None);
        assert!(!bad.ok && bad.all().contains("calendar_file_invalid") && bad.all().contains("第 4 行"), "{bad:?}");
        std::fs::write(&file, YEAR_2027).unwrap();
        let ran = cli(&dir, &app.db.url, &["calendar", "import", file.to_str().unwrap()], None);
        assert!(ran.ok && ran.stdout.contains("已载入 2027 年工作日历（全国）"), "{ran:?}");
        let d = deadline(&county_admin, luoping, "2026-12-10", 20).await;
        // 20 working days from 10 December: 14 left in 2026 (the city's closure on the 18th does
        // not count), then 2027 from Monday 4 January (元旦 1–3 January): the 6th is the 11th.
        assert_eq!((d["beyond_calendar"].as_bool(), d["deadline"].as_str()), (Some(false), Some("2027-01-11")));
        let cal = days(&city_admin, qinghe, "2027-01-01", "2027-01-04").await;
        assert_eq!(cal["covered_to"], "2027-12-31");
        assert_eq!((kind(&cal, "2027-01-01").0.as_str(), kind(&cal, "2027-01-04").0.as_str()), ("holiday", "workday"));

        // A county variant of 2027 (a local holiday) reaches it and its townships, not its sibling.
        let local = format!("{YEAR_2027}\n[[holidays]]\nname = \"地方节日\"\nstart = 2027-01-04\n");
        let res = county_admin.post(&format!("/api/v1/regions/{luoping}/calendar/years"), &json!({"toml": local})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(kind(&days(&county_admin, luoping, "2027-01-04", "2027-01-04").await, "2027-01-04").0, "holiday");
        assert_eq!(kind(&days(&city_admin, qinghe, "2027-01-04", "2027-01-04").await, "2027-01-04").0, "workday");
        let listed = cli(&dir, &app.db.url, &["calendar", "list", "--region", "990121"], None);
        assert!(listed.ok && listed.stdout.contains("region 990121") && listed.stdout.contains("台风过境"), "{listed:?}");
        assert_eq!(county_admin.delete(&format!("/api/v1/regions/{luoping}/calendar/years/2027")).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(error_code(county_admin.delete(&format!("/api/v1/regions/{luoping}/calendar/years/2027")).await).await, (StatusCode::NOT_FOUND, "calendar_year_unknown".into()));
        assert_eq!(kind(&days(&county_admin, luoping, "2027-01-04", "2027-01-04").await, "2027-01-04").0, "workday");
        // Removing the national 2026 is refused for the built-in year; 2027 can go.
        assert_eq!(error_code(national.delete("/api/v1/calendar/years/2026").await).await, (StatusCode::NOT_FOUND, "calendar_year_unknown".into()));
        assert_eq!(national.delete("/api/v1/calendar/years/2027").await.status(), StatusCode::NO_CONTENT);
        assert_eq!(deadline(&county_admin, luoping, "2026-12-10", 20).await["beyond_calendar"], true);

        let trail: Value = app.token("jiuan.auditor").await.get("/api/v1/audit?action=calendar.closure.add").await.json().await.unwrap();
        assert!(trail.to_string().contains("暴雨红色预警"), "{trail}");
    }
}

both_backends! {
    async fn the_calendar_page_shows_the_month_takes_closures_and_flags_deadlines(app: TestApp) {
        let luoping = app.region_id("990121").await;
        let page = format!("/admin/calendars/regions/{luoping}");
        let s = app.login("luoping.admin").await;
        let html = s.get(&format!("{page}?month=2026-08")).await.text().await.unwrap();
        assert!(html.contains("2026年8月") && html.contains("cal-closed") && html.contains("台风过境"), "{html}");
        let html = s.get(&format!("{page}?month=2026-12")).await.text().await.unwrap();
        assert!(html.contains("继承自 久安市") && html.contains("本级设置"));
        let html = s.get(&format!("{page}?month=2026-10")).await.text().await.unwrap();
        assert!(html.contains("cal-holiday") && html.contains("国庆节") && html.contains("cal-makeup") && html.contains("调休上班（国庆节）"));

        // A closure through the form; a date outside the loaded years is the page again with the reason.
        let res = s.form(&format!("{page}/closures"), &[("date", "2026-08-13"), ("reason", "停电检修")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(s.get(&format!("{page}?month=2026-08")).await.text().await.unwrap().contains("停电检修"));
        let res = s.form(&format!("{page}/closures"), &[("date", "2027-02-01"), ("reason", "台风")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(html.contains("不在已载入的工作日历范围") && html.contains("value=\"台风\""));
        let res = s.form(&format!("{page}/closures/2026-08-13/remove"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(!s.get(&format!("{page}?month=2026-08")).await.text().await.unwrap().contains("停电检修"));

        // The deadline calculator flags a count beyond the calendar, with its code.
        let html = s.get(&format!("{page}?month=2026-12&from=2026-12-10&days=20")).await.text().await.unwrap();
        assert!(html.contains("计算日期超出已加载的工作日历") && html.contains("calendar_date_not_covered"));
        let html = s.get(&format!("{page}?from=2026-08-11&days=1")).await.text().await.unwrap();
        assert!(html.contains("2026年8月13日"));
        let res = s.get(&format!("{page}?month=2026-99")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // An uploaded year file that does not parse: the page with the line at fault.
        let upload = |bytes: &'static str, scope: &'static str| {
            let form = reqwest::multipart::Form::new()
                .text("csrf", s.csrf.clone())
                .text("scope", scope)
                .part("file", reqwest::multipart::Part::bytes(bytes.as_bytes().to_vec()).file_name("2027.toml"));
            let url = app.url(&format!("{page}/years"));
            let c = s.client.clone();
            async move { c.post(url).multipart(form).send().await.unwrap() }
        };
        let res = upload("year = 2027\n\n[[holidays]]\nname = 1\n", "region").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("第 4 行"));
        // A county admin cannot load the national calendar.
        assert_eq!(upload(YEAR_2027, "national").await.status(), StatusCode::FORBIDDEN);
        let res = upload(YEAR_2027, "region").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = s.get(&format!("{page}?month=2027-01")).await.text().await.unwrap();
        assert!(html.contains("测试用 2027 年安排") && html.contains("本级专用") && html.contains("2027年1月"));

        // A clerk reads the calendar, without forms, and cannot post one.
        let clerk = app.login("luoping.clerk").await;
        let html = clerk.get(&format!("{page}?month=2026-08")).await.text().await.unwrap();
        assert!(html.contains("台风过境") && !html.contains("/closures\""));
        assert_eq!(clerk.form(&format!("{page}/closures"), &[("date", "2026-08-14"), ("reason", "x")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.login("qinghe.admin").await.get(&page).await.status(), StatusCode::NOT_FOUND);
    }
}

/// The cost of the resolvers the case flow calls on every case (issue 4): the workflow in force
/// (own, inherited, generated default, a bundle's default) and the layered calendar at a county,
/// per call on one pooled read connection, beside `SELECT 1` on the same connection (the round
/// trip every query pays) measured in the same run. Ignored in the normal suite; run it with
/// `cargo test --release -p onestop --test it workflows_bench -- --ignored --nocapture --test-threads=1`
/// (PostgreSQL too when ONESTOP_TEST_PG is set). `ONESTOP_BENCH_CALLS` sets calls per resolver.
mod workflows_bench {
    use super::*;
    use std::time::{Duration, Instant};

    fn us(sorted: &[Duration], p: f64) -> f64 {
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i].as_secs_f64() * 1e6
    }

    async fn measure<F, Fut>(n: usize, mut f: F) -> (f64, f64, f64)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        for _ in 0..n / 20 {
            f().await;
        }
        let mut lat = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            f().await;
            lat.push(t.elapsed());
        }
        let mean = lat.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1e6;
        lat.sort();
        (mean, us(&lat, 0.5), us(&lat, 0.99))
    }

    async fn run(kind: Db) {
        let n: usize = std::env::var("ONESTOP_BENCH_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        let app = TestApp::spawn(kind).await;
        let (city, luoping) = (app.region_id("990100").await, app.region_id("990121").await);
        let (food, marriage, building) = (
            service_id(&app, FOOD).await,
            service_id(&app, MARRIAGE).await,
            service_id(&app, "000138001000").await,
        );
        let birth = bundle_id(&app, "YJS-002").await;
        let conn = std::sync::Arc::new(tokio::sync::Mutex::new(app.store.read().acquire().await.unwrap()));
        macro_rules! call {
            ($c:ident => $body:expr) => {{
                let conn = conn.clone();
                measure(n, move || {
                    let conn = conn.clone();
                    async move {
                        let mut guard = conn.lock().await;
                        let $c: &mut sqlx::AnyConnection = &mut guard;
                        $body;
                    }
                })
                .await
            }};
        }
        let mut rows: Vec<(&str, (f64, f64, f64))> = Vec::new();
        rows.push((
            "baseline: SELECT 1",
            call!(c => {
                let _: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *c).await.unwrap();
            }),
        ));
        rows.push((
            "regions::chain (罗平县)",
            call!(c => {
                onestop_store::regions::chain(c, luoping).await.unwrap();
            }),
        ));
        rows.push((
            "workflows::effective, own (罗平县 食品经营)",
            call!(c => {
                onestop_store::workflows::effective(c, luoping, food).await.unwrap();
            }),
        ));
        rows.push((
            "workflows::effective, inherited (久安市 施工许可)",
            call!(c => {
                onestop_store::workflows::effective(c, city, building).await.unwrap();
            }),
        ));
        rows.push((
            "workflows::effective, default (罗平县 结婚登记)",
            call!(c => {
                onestop_store::workflows::effective(c, luoping, marriage).await.unwrap();
            }),
        ));
        rows.push((
            "workflows::effective_for_bundle, default (3 members)",
            call!(c => {
                onestop_store::workflows::effective_for_bundle(c, luoping, birth).await.unwrap();
            }),
        ));
        rows.push((
            "calendars::calendar_for (罗平县, 2 closures)",
            call!(c => {
                onestop_store::calendars::calendar_for(c, luoping).await.unwrap();
            }),
        ));
        let cal = {
            let mut c = conn.lock().await;
            onestop_store::calendars::calendar_for(&mut c, luoping).await.unwrap()
        };
        let from = jiff::civil::date(2026, 3, 18);
        let pure = {
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                std::hint::black_box(cal.add_working_days(std::hint::black_box(from), 20).unwrap());
                lat.push(t.elapsed());
            }
            let mean = lat.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1e6;
            lat.sort();
            (mean, us(&lat, 0.5), us(&lat, 0.99))
        };
        rows.push(("add_working_days(20) on it (pure)", pure));
        // The median is the figure to compare: on a shared machine the mean and p99 carry other
        // people's builds.
        let base = rows[0].1.1;
        println!("\n{kind:?}: {n} calls each on one read connection");
        println!("| call | p50 µs | p50 / SELECT 1 | mean µs | p99 µs |");
        println!("|---|---|---|---|---|");
        for (name, (mean, p50, p99)) in &rows {
            println!("| {name} | {p50:.1} | {:.2}× | {mean:.1} | {p99:.0} |", p50 / base);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark: run with --ignored --nocapture"]
    async fn workflows_bench() {
        run(Db::Sqlite).await;
        if std::env::var("ONESTOP_TEST_PG").is_ok() {
            run(Db::Postgres).await;
        }
    }
}
