//! Cases from intake to result, over HTTP on both backends: window and online application (phone
//! code, idempotency), the one intake decision with its printable notices, deemed acceptance, the
//! back-office inbox (claim, assign, reassign), step actions to the e-certificate, bundles fanning
//! out, the public follow-up, the audited reveal, and every bad input the issue lists; the case
//! clock (pause, resume, extension), warnings per case and step with their lists, materials checked
//! against the catalogue (一次性告知, 容缺 deadline), delegation (委托) and visits (linked tickets).
use crate::both_backends;
use crate::common::{TestApp, error_code};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ID: &str = "11010519491231002X";
const PHONE: &str = "13800138000";
const FOOD: &str = "000172007000";

fn company_form() -> Value {
    json!({
        "org_name": "罗平县好味餐饮有限公司",
        "legal_rep_name": "张三",
        "contact_name": "张三",
        "contact_phone": "13900139000",
        "org_address": "罗平县人民路 8 号",
        "commitment": true
    })
}

fn food_application() -> Value {
    json!({
        "region": "990121",
        "service": FOOD,
        "applicant": {"name": "张三", "id_number": ID, "phone": PHONE},
        "form": company_form(),
    })
}

/// The required materials of 食品经营许可证核发 in the demo catalogue.
const FOOD_MATERIALS: [&str; 5] = [
    "食品经营许可申请书",
    "营业执照",
    "法定代表人、股东身份证件",
    "经营场所平面布局图及设备布局、工艺流程",
    "食品安全管理制度",
];

async fn upload_pdf(app: &TestApp) -> i64 {
    let part = reqwest::multipart::Part::bytes(b"%PDF-1.7\nmaterial".to_vec()).file_name("材料.pdf");
    let res = TestApp::client()
        .post(app.url("/api/v1/uploads"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// The food application with every required material uploaded but those in `except`.
async fn food_with_materials(app: &TestApp, except: &[&str]) -> Value {
    let up = upload_pdf(app).await;
    let mut body = food_application();
    body["materials"] = FOOD_MATERIALS
        .iter()
        .filter(|n| !except.contains(n))
        .map(|n| json!({"name": n, "upload_id": up}))
        .collect();
    body
}

/// Hands in whatever the catalogue still requires of case `id` (补正).
async fn supply_missing(app: &TestApp, s: &crate::common::Session, id: i64) {
    let check: Value = s
        .get(&format!("/api/v1/cases/{id}/materials"))
        .await
        .json()
        .await
        .unwrap();
    let up = upload_pdf(app).await;
    let list: Vec<Value> = check["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| json!({"name": n, "upload_id": up}))
        .collect();
    if !list.is_empty() {
        let res = s
            .post(&format!("/api/v1/cases/{id}/materials"), &json!({"materials": list}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(app.store.read())
        .await
        .unwrap()
}

async fn case_view(s: &crate::common::Session, id: i64) -> Value {
    let res = s.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn open_steps(v: &Value) -> Vec<Value> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ended_at"].is_null())
        .cloned()
        .collect()
}

async fn act(s: &crate::common::Session, id: i64, step: i64, action: &str, opinion: &str) -> reqwest::Response {
    s.post(
        &format!("/api/v1/cases/{id}/act"),
        &json!({"step_id": step, "action": action, "opinion": opinion}),
    )
    .await
}

both_backends! {
    async fn a_window_case_runs_from_intake_to_a_verified_certificate(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let res = clerk.post("/api/v1/cases", &food_with_materials(&app, &[]).await).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let sub: Value = res.json().await.unwrap();
        let id = sub["id"].as_i64().unwrap();
        let no = sub["case_no"].as_str().unwrap();
        // Region and date are in the number; the tracking code is 16 characters in groups.
        assert!(no.starts_with("990121-20260318-"), "{no}");
        assert_eq!(sub["tracking_code"].as_str().unwrap().len(), 19);
        assert_eq!(sub["status"], "submitted");

        let v = case_view(&clerk, id).await;
        assert_eq!(v["applicant_id_masked"], "1101**********002X");
        assert!(!v.to_string().contains(ID), "full ID number shown to staff");
        assert!(v["workflow_version_id"].is_i64(), "the county's version is pinned");
        assert!(v["steps"].as_array().unwrap().is_empty(), "no steps before acceptance");

        // Accept: 受理通知书, the clock starts the working day after, the first step in the inbox.
        let res = clerk.post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let r: Value = res.json().await.unwrap();
        assert_eq!(r["status"], "in_progress");
        assert_eq!(r["notice"], "acceptance");
        let v = case_view(&clerk, id).await;
        assert_eq!(v["accepted_on"], "2026-03-18");
        // Promised 5 working days from Thu 19 March: Wed 25 March; legal 10: Wed 1 April.
        assert_eq!(v["promised_deadline"], "2026-03-25");
        assert_eq!(v["legal_deadline"], "2026-04-01");
        assert_eq!(v["clock_state"], "running");
        // A second intake decision is refused and changes nothing.
        let res = clerk.post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "intake_already_decided".into()));

        let steps = open_steps(&v);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0]["step_key"], "review");
        assert!(steps[0]["handler"].is_null(), "lands in the shared inbox");
        let step = steps[0]["id"].as_i64().unwrap();

        // The clerk may not act on a reviewer's step (role), nothing changes.
        let res = act(&clerk, id, step, "approve", "").await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "step_role_mismatch".into()));

        let reviewer = app.login("luoping.reviewer").await;
        let inbox: Vec<Value> = reviewer.get("/api/v1/inbox").await.json().await.unwrap();
        assert!(inbox.iter().any(|i| i["step"]["id"] == step), "the step is in the department's inbox");
        let res = reviewer.post(&format!("/api/v1/case-steps/{step}/claim"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = reviewer.post(&format!("/api/v1/case-steps/{step}/claim"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "step_already_claimed".into()));

        // An action the step does not allow: 材料审核 has no 退回.
        let res = act(&reviewer, id, step, "return", "补充材料").await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "action_not_allowed".into()));
        // 不予通过 needs an opinion.
        let res = act(&reviewer, id, step, "refuse", "  ").await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "opinion_required".into()));
        let res = act(&reviewer, id, step, "approve", "材料齐全").await;
        assert_eq!(res.status(), StatusCode::OK);
        let r: Value = res.json().await.unwrap();
        let inspect = r["open_steps"][0].as_i64().unwrap();
        // 退回 from 现场核查 goes back to 材料审核.
        let r: Value = act(&reviewer, id, inspect, "return", "平面图不清晰").await.json().await.unwrap();
        let review2 = r["open_steps"][0].as_i64().unwrap();
        let r: Value = act(&reviewer, id, review2, "approve", "").await.json().await.unwrap();
        let inspect2 = r["open_steps"][0].as_i64().unwrap();
        let r: Value = act(&reviewer, id, inspect2, "approve", "核查通过").await.json().await.unwrap();
        let approve = r["open_steps"][0].as_i64().unwrap();
        let res = act(&reviewer, id, approve, "approve", "准予许可").await;
        assert_eq!(res.status(), StatusCode::OK);
        let r: Value = res.json().await.unwrap();
        assert_eq!(r["status"], "concluded_approved");
        let cert_no = r["certificate_number"].as_str().unwrap().to_owned();
        assert!(cert_no.starts_with("990121-2026-"), "{cert_no}");

        // A second decision on a concluded case is refused; nothing changes.
        let steps_before = count(&app, "case_steps").await;
        let res = act(&reviewer, id, approve, "approve", "").await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "case_concluded".into()));
        assert_eq!(count(&app, "case_steps").await, steps_before);

        // Every step has its record; events and audit entries were written with them.
        let v = case_view(&reviewer, id).await;
        let records = v["steps"].as_array().unwrap();
        assert_eq!(records.len(), 5);
        assert!(records.iter().all(|s| !s["ended_at"].is_null() && s["handler"] == "luoping.reviewer"));
        assert_eq!(records[1]["action"], "return");
        assert_eq!(records[1]["opinion"], "平面图不清晰");
        let kinds: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.first(), Some(&"submit"));
        assert!(kinds.contains(&"intake.accept") && kinds.contains(&"conclude"));
        let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE entity = 'case' AND entity_id = $1")
            .bind(no)
            .fetch_one(app.store.read())
            .await
            .unwrap();
        assert_eq!(audited, 1 + 1 + 1 + 5);

        // The certificate verifies with the region's key.
        let row = onestop_store::certs::by_number(app.store.read(), &cert_no).await.unwrap().unwrap();
        let cert = onestop_web::certs::from_row(&row).unwrap();
        let text = serde_json::to_string(&cert).unwrap();
        let out: Value = TestApp::client()
            .post(app.url("/api/v1/certificates/verify"))
            .header("content-type", "application/json")
            .body(text)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(out["valid"], true, "{out}");
        assert_eq!(cert.payload.case_no, no);
        assert_eq!(cert.payload.holder.id_masked, "1101**********002X");
    }
}

both_backends! {
    async fn bad_applications_are_refused_and_change_nothing(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let before = count(&app, "cases").await;
        let with = |path: &[&str], v: Value| {
            let mut app = food_application();
            let mut target = &mut app;
            for p in &path[..path.len() - 1] {
                target = &mut target[*p];
            }
            target[path[path.len() - 1]] = v;
            app
        };
        let cases = [
            (with(&["applicant", "id_number"], json!("110105194912310021")), "id_number_checksum"),
            (with(&["applicant", "id_number"], json!("11010519491332002X")), "id_number_birth_date"),
            (with(&["applicant", "phone"], json!("1380013800")), "phone_invalid"),
            (with(&["form", "org_name"], json!("")), "form_invalid"),
            (with(&["form", "contact_phone"], json!("12345")), "form_invalid"),
            (with(&["form", "smuggled"], json!("x")), "form_invalid"),
            (with(&["service"], json!("999999999999")), "service_unknown"),
            (with(&["bundle"], json!("YJS-001")), "subject_required"),
            (with(&["region"], json!("990199")), "region_unknown"),
            (with(&["materials"], json!([{"name": "户口本", "upload_id": 1}])), "material_unknown"),
            (with(&["materials"], json!([{"name": "营业执照", "upload_id": 999999}])), "upload_unknown"),
            (with(&["materials"], json!([{"name": "营业执照"}])), "material_source_required"),
            (with(&["materials"], json!([{"name": "营业执照", "certificate_number": "990121-2026-0000999"}])), "certificate_not_reusable"),
        ];
        for (body, code) in cases {
            let res = clerk.post("/api/v1/cases", &body).await;
            let (status, got) = error_code(res).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {body}");
            assert!(got.starts_with(code.trim_end_matches("_checksum").trim_end_matches("_birth_date")), "want {code}, got {got}");
        }
        // Where the errors are: each field named.
        let res = clerk.post("/api/v1/cases", &with(&["form", "org_name"], json!(""))).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["fields"][0]["field"], "form.org_name", "{body}");
        // Not JSON, unknown top-level field.
        let res = clerk.client.post(app.url("/api/v1/cases")).header("x-csrf-token", &clerk.csrf)
            .header("content-type", "application/json").body("{").send().await.unwrap();
        assert_eq!(error_code(res).await.0, StatusCode::BAD_REQUEST);
        let res = clerk.post("/api/v1/cases", &with(&["extra"], json!(1))).await;
        assert_eq!(error_code(res).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        // Another county's clerk cannot take in for 罗平县.
        let other = app.login("qinghe.clerk").await;
        let res = other.post("/api/v1/cases", &food_application()).await;
        assert_eq!(error_code(res).await.0, StatusCode::NOT_FOUND);
        assert_eq!(count(&app, "cases").await, before, "nothing was written");
    }
}

both_backends! {
    async fn a_retried_submission_with_the_same_key_creates_one_case(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let send = |body: Value, key: &'static str| {
            clerk.client.post(app.url("/api/v1/cases")).header("x-csrf-token", &clerk.csrf)
                .header("idempotency-key", key).json(&body).send()
        };
        let before = count(&app, "cases").await;
        let a: Value = send(food_application(), "retry-1").await.unwrap().json().await.unwrap();
        let res = send(food_application(), "retry-1").await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let b: Value = res.json().await.unwrap();
        assert_eq!(a["case_no"], b["case_no"]);
        assert_eq!(a["tracking_code"], b["tracking_code"]);
        assert_eq!(count(&app, "cases").await, before + 1);
        // The same key with another body.
        let mut other = food_application();
        other["applicant"]["name"] = json!("李四");
        let res = send(other, "retry-1").await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "idempotency_key_reused".into()));
        let res = send(food_application(), "bad key with spaces").await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::BAD_REQUEST, "idempotency_key_invalid".into()));
        assert_eq!(count(&app, "cases").await, before + 1);
    }
}

both_backends! {
    async fn an_online_applicant_verifies_the_phone_and_follows_the_case(app: TestApp) {
        let c = TestApp::client();
        let res = c.post(app.url("/api/v1/cases/phone-codes")).json(&json!({"phone": "123"})).send().await.unwrap();
        assert_eq!(error_code(res).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let res = c.post(app.url("/api/v1/cases/phone-codes")).json(&json!({"phone": PHONE})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        // The code went through the outbox (the demo's development sink shows it).
        let sent = onestop_store::outbox::recent(app.store.read(), None, 1).await.unwrap();
        assert_eq!(sent[0].recipient_masked, "138****8000");
        let code: String = sent[0].body.chars().filter(char::is_ascii_digit).take(6).collect();
        assert_eq!(code.len(), 6);

        let mut body = food_application();
        let res = c.post(app.url("/api/v1/cases")).json(&body).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "phone_code_required".into()));
        body["phone_code"] = json!(if code == "000000" { "111111" } else { "000000" });
        let res = c.post(app.url("/api/v1/cases")).json(&body).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "phone_code_invalid".into()));
        body["phone_code"] = json!(code);
        let res = c.post(app.url("/api/v1/cases")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let sub: Value = res.json().await.unwrap();
        // A code works once.
        let res = c.post(app.url("/api/v1/cases")).json(&body).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "phone_code_invalid".into()));

        // Follow by tracking code, or by case number and the phone's last four digits.
        let follow = |b: Value| c.post(app.url("/api/v1/cases/follow")).json(&b).send();
        let res = follow(json!({"tracking_code": sub["tracking_code"]})).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["case_no"], sub["case_no"]);
        assert_eq!(p["applicant_masked"], "张*");
        assert!(!p.to_string().contains(ID) && !p.to_string().contains(PHONE));
        let res = follow(json!({"case_no": sub["case_no"], "last4": "8000"})).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        // A guessed tracking code or wrong digits: not found, the same answer for both.
        let res = follow(json!({"tracking_code": "ABCD-EFGH-JKMN-PQRS"})).await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "case_not_found".into()));
        let res = follow(json!({"case_no": sub["case_no"], "last4": "1234"})).await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "case_not_found".into()));
        let res = follow(json!({"tracking_code": "not a code"})).await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "tracking_code_invalid".into()));
        // Guessing the last four digits of one case is limited per case number.
        let mut limited = false;
        for _ in 0..12 {
            let res = follow(json!({"case_no": sub["case_no"], "last4": "0000"})).await.unwrap();
            if res.status() == StatusCode::TOO_MANY_REQUESTS {
                limited = true;
                break;
            }
        }
        assert!(limited, "guessing was not rate-limited");
    }
}

both_backends! {
    async fn intake_refuses_pends_and_notifies_once(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let body = food_with_materials(&app, &["食品安全管理制度"]).await;
        let new_case = || async {
            let v: Value = clerk.post("/api/v1/cases", &body).await.json().await.unwrap();
            v["id"].as_i64().unwrap()
        };
        // 不予受理 needs reasons.
        let a = new_case().await;
        let res = clerk.post(&format!("/api/v1/cases/{a}/intake"), &json!({"decision": "refuse", "reasons": " "})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "refusal_reason_required".into()));
        let res = clerk.post(&format!("/api/v1/cases/{a}/intake"), &json!({"decision": "refuse", "reasons": "不属于本机关职权范围"})).await;
        let r: Value = res.json().await.unwrap();
        assert_eq!(r["status"], "not_accepted");
        assert_eq!(r["notice"], "refusal");
        let res = clerk.post(&format!("/api/v1/cases/{a}/intake"), &json!({"decision": "accept"})).await;
        assert_eq!(error_code(res).await.0, StatusCode::CONFLICT);

        // 一次性告知: once; then the complete materials arrive and the case is accepted.
        let b = new_case().await;
        // An empty list is prefilled with what the catalogue still requires (食品安全管理制度).
        let res = clerk.post(&format!("/api/v1/cases/{b}/intake"), &json!({"decision": "notice_missing", "materials": []})).await;
        let r: Value = res.json().await.unwrap();
        assert_eq!(r["status"], "awaiting_correction");
        assert_eq!(r["notice"], "missing_materials");
        let res = clerk.post(&format!("/api/v1/cases/{b}/intake"), &json!({"decision": "notice_missing", "materials": ["营业执照"]})).await;
        assert_eq!(error_code(res).await.0, StatusCode::CONFLICT);
        supply_missing(&app, &clerk, b).await;
        let r: Value = clerk.post(&format!("/api/v1/cases/{b}/intake"), &json!({"decision": "accept"})).await.json().await.unwrap();
        assert_eq!(r["status"], "in_progress");

        // 容缺受理: a signed commitment, a deadline no later than the promised one.
        let c = new_case().await;
        let pending = |deadline: &str, signed: bool| json!({"decision": "accept_pending", "materials": ["食品安全管理制度"], "deadline": deadline, "commitment_signed": signed});
        let res = clerk.post(&format!("/api/v1/cases/{c}/intake"), &pending("2026-03-20", false)).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "commitment_required".into()));
        let res = clerk.post(&format!("/api/v1/cases/{c}/intake"), &pending("2026-04-30", true)).await;
        assert_eq!(error_code(res).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let res = clerk.post(&format!("/api/v1/cases/{c}/intake"), &pending("2026-03-20", true)).await;
        let r: Value = res.json().await.unwrap();
        assert_eq!(r["status"], "in_progress");
        assert_eq!(r["notice"], "pending_acceptance");
        let v = case_view(&clerk, c).await;
        assert!(v["materials"].as_array().unwrap().iter().any(|m| m["status"] == "pending"));
        // Every notice is printable with the hall, the case number and a QR code.
        for (id, kind) in [(a, "refusal"), (b, "missing_materials"), (c, "pending_acceptance"), (c, "receipt")] {
            let res = clerk.get(&format!("/cases/{id}/notices/{kind}")).await;
            assert_eq!(res.status(), StatusCode::OK, "{kind}");
            let html = res.text().await.unwrap();
            assert!(html.contains("罗平县政务服务中心") && html.contains("<svg"), "{kind}");
        }
        let res = clerk.get(&format!("/cases/{a}/notices/acceptance")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

both_backends! {
    async fn an_application_left_without_a_decision_is_deemed_accepted(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let v: Value = clerk.post("/api/v1/cases", &food_application()).await.json().await.unwrap();
        let id = v["id"].as_i64().unwrap();
        // Five working days later (Wed 25 March) it may still be answered...
        app.clock.set("2026-03-25T02:00:00Z".parse().unwrap());
        assert_eq!(onestop_web::cases::sweep::deemed_acceptances(&app.state).await.unwrap(), 0);
        // ...the sixth it counts as accepted on the day it was received.
        app.clock.set("2026-03-26T02:00:00Z".parse().unwrap());
        assert_eq!(onestop_web::cases::sweep::deemed_acceptances(&app.state).await.unwrap(), 1);
        // (A week later: log in again.)
        let clerk = app.login("luoping.clerk").await;
        let v = case_view(&clerk, id).await;
        assert_eq!(v["status"], "in_progress");
        assert_eq!(v["accepted_on"], "2026-03-18");
        assert_eq!(v["promised_deadline"], "2026-03-25");
        assert_eq!(open_steps(&v).len(), 1);
        // The warnings sweeper sees the promised deadline passed: red.
        assert!(onestop_web::cases::sweep::warnings(&app.state).await.unwrap() >= 1);
        let v = case_view(&clerk, id).await;
        assert_eq!(v["warning"], "red");
        let manager = app.login("luoping.manager").await;
        let red: Vec<Value> = manager.get("/api/v1/cases?warning=red").await.json().await.unwrap();
        assert!(red.iter().any(|c| c["id"] == id));
        assert_eq!(onestop_web::cases::sweep::deemed_acceptances(&app.state).await.unwrap(), 0);
    }
}

both_backends! {
    async fn a_bundle_fans_out_and_concludes_when_every_department_has_decided(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let mut body = food_application();
        body.as_object_mut().unwrap().remove("service");
        body["bundle"] = json!("YJS-001");
        let res = clerk.post("/api/v1/cases", &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        supply_missing(&app, &clerk, id).await;
        let r: Value = clerk.post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"})).await.json().await.unwrap();
        let branches: Vec<i64> = r["open_steps"].as_array().unwrap().iter().map(|s| s.as_i64().unwrap()).collect();
        assert_eq!(branches.len(), 2, "both branches open at once");
        let v = case_view(&clerk, id).await;
        // Joint handling: 45 working days.
        assert_eq!(v["legal_deadline"], "2026-05-25");
        let reviewer = app.login("luoping.reviewer").await;
        let r: Value = act(&reviewer, id, branches[0], "approve", "").await.json().await.unwrap();
        assert_eq!(r["status"], "in_progress", "waits for the other branch");
        assert!(r["open_steps"].as_array().unwrap().is_empty());
        let r: Value = act(&reviewer, id, branches[1], "approve", "").await.json().await.unwrap();
        let deliver = r["open_steps"][0].as_i64().unwrap();
        // 统一出件 is the window's: a manager assigns it to the clerk.
        let manager = app.login("luoping.manager").await;
        let res = manager.post(&format!("/api/v1/case-steps/{deliver}/assign"), &json!({"username": "luoping.reviewer"})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "assignee_unsuitable".into()));
        let res = manager.post(&format!("/api/v1/case-steps/{deliver}/assign"), &json!({"username": "luoping.clerk"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = reviewer.post(&format!("/api/v1/case-steps/{deliver}/assign"), &json!({"username": "luoping.clerk"})).await;
        assert_eq!(error_code(res).await.0, StatusCode::FORBIDDEN);
        let r: Value = act(&clerk, id, deliver, "approve", "").await.json().await.unwrap();
        assert_eq!(r["status"], "concluded_approved");
        assert!(r["certificate_number"].is_string());
    }
}

both_backends! {
    async fn an_absent_reviewers_steps_move_and_reveals_are_audited(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let v: Value = clerk.post("/api/v1/cases", &food_with_materials(&app, &[]).await).await.json().await.unwrap();
        let id = v["id"].as_i64().unwrap();
        let r: Value = clerk.post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"})).await.json().await.unwrap();
        let step = r["open_steps"][0].as_i64().unwrap();
        let reviewer = app.login("luoping.reviewer").await;
        reviewer.post(&format!("/api/v1/case-steps/{step}/claim"), &json!({})).await;
        // A second reviewer of the same department.
        let admin = app.login("luoping.admin").await;
        let me: Value = reviewer.get("/api/v1/me").await.json().await.unwrap();
        let region = app.region_id("990121").await;
        let res = admin.post("/api/v1/users", &json!({
            "username": "luoping.reviewer2", "display_name": "备岗审批", "password": crate::common::PASSWORD,
            "department_id": me["department_id"], "hall_id": me["hall_id"],
            "grants": [{"role": "reviewer", "region_id": region}]
        })).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
        let manager = app.login("luoping.manager").await;
        let res = manager.post("/api/v1/case-steps/reassign", &json!({"from": "luoping.reviewer", "to": "luoping.reviewer2"})).await;
        let moved: Value = res.json().await.unwrap();
        assert_eq!(moved["steps"], json!([step]));
        let res = act(&reviewer, id, step, "approve", "").await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "step_claimed_by_other".into()));
        let second = app.login("luoping.reviewer2").await;
        assert_eq!(act(&second, id, step, "approve", "").await.status(), StatusCode::OK);

        // Reveal: the clerk sees the full number once, and it is audited.
        let res = clerk.post(&format!("/api/v1/cases/{id}/reveal"), &json!({"field": "id_number"})).await;
        let r: Value = res.json().await.unwrap();
        assert_eq!(r["value"], ID);
        let res = clerk.post(&format!("/api/v1/cases/{id}/reveal"), &json!({"field": "password"})).await;
        assert_eq!(error_code(res).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let auditor = app.login("luoping.auditor").await;
        let res = auditor.post(&format!("/api/v1/cases/{id}/reveal"), &json!({"field": "id_number"})).await;
        assert_eq!(error_code(res).await.0, StatusCode::FORBIDDEN);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'case.reveal'")
            .fetch_one(app.store.read()).await.unwrap();
        assert_eq!(n, 1);

        // The concluded case's e-certificate is offered as a material of the next application.
        let v = case_view(&clerk, id).await;
        let open = open_steps(&v);
        let mut step = open[0]["id"].as_i64().unwrap();
        loop {
            let r: Value = act(&second, id, step, "approve", "").await.json().await.unwrap();
            match r["open_steps"][0].as_i64() {
                Some(s) => step = s,
                None => break,
            }
        }
        let v = case_view(&clerk, id).await;
        let cert = v["certificate_number"].as_str().unwrap();
        let mut body = food_application();
        body["materials"] = json!([{"name": "营业执照", "certificate_number": cert}]);
        let res = clerk.post("/api/v1/cases", &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        // Not for someone else.
        body["applicant"]["id_number"] = json!("110105198001010016");
        let res = clerk.post("/api/v1/cases", &body).await;
        let (status, code) = error_code(res).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(code == "certificate_not_reusable" || code.starts_with("id_number"), "{code}");
    }
}

/// Submits the complete food application at the window and accepts it; returns (case, open step).
async fn accepted_food_case(app: &TestApp, clerk: &crate::common::Session) -> (i64, i64) {
    let v: Value = clerk
        .post("/api/v1/cases", &food_with_materials(app, &[]).await)
        .await
        .json()
        .await
        .unwrap();
    let id = v["id"].as_i64().unwrap();
    let res = clerk
        .post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    (id, r["open_steps"][0].as_i64().unwrap())
}

fn at(t: &str) -> jiff::Timestamp {
    t.parse().unwrap()
}

both_backends! {
    async fn the_clock_pauses_for_a_special_procedure_resumes_and_is_extended(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        // Accepted Wed 18 March: promised 5 working days (25 March), legal 10 (1 April).
        let (id, _) = accepted_food_case(&app, &clerk).await;
        let path = format!("/api/v1/cases/{id}/clock");
        let path = path.as_str();
        async fn post(s: &crate::common::Session, path: &str, body: Value) -> reqwest::Response {
            s.post(path, &body).await
        }
        macro_rules! clock {
            ($s:expr, $body:expr) => {
                post(&$s, path, $body)
            };
        }
        // Thu 19 March counts; an inspection starts Fri 20 March: the clock stops.
        app.clock.set(at("2026-03-20T02:00:00Z"));
        let reviewer = app.login("luoping.reviewer").await;
        let res = clock!(reviewer, json!({"action": "start_special", "procedure": "séance"})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "procedure_invalid".into()));
        let res = clock!(reviewer, json!({"action": "start_special", "procedure": "inspection", "reason": "现场核查"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "suspended");
        let v = case_view(&reviewer, id).await;
        assert_eq!(v["clock_state"], "paused");
        assert!(v["promised_deadline"].is_null(), "no deadline while the clock stands");
        let res = clock!(reviewer, json!({"action": "start_special", "procedure": "testing"})).await;
        assert_eq!(error_code(res).await.0, StatusCode::CONFLICT);
        // It ends Thu 26 March (both ends uncounted): 4 promised days were left, counted from
        // Fri 27 March: 27, 30, 31 March, 1 April. Legal: 9 left, over 清明 (4–6 April).
        app.clock.set(at("2026-03-26T02:00:00Z"));
        let reviewer = app.login("luoping.reviewer").await;
        assert_eq!(clock!(reviewer, json!({"action": "end_special"})).await.status(), StatusCode::OK);
        let v = case_view(&reviewer, id).await;
        assert_eq!(v["clock_state"], "running");
        assert_eq!(v["status"], "in_progress");
        assert_eq!(v["promised_deadline"], "2026-04-01");
        assert_eq!(v["legal_deadline"], "2026-04-09");
        assert_eq!(error_code(clock!(reviewer, json!({"action": "end_special"})).await).await.0, StatusCode::CONFLICT);

        // An extension needs a manager's approval and a reason, at most 10 days here.
        let body = json!({"action": "extend", "days": 10, "reason": "需组织专家评审"});
        assert_eq!(error_code(clock!(reviewer, body.clone()).await).await.0, StatusCode::FORBIDDEN);
        let manager = app.login("luoping.manager").await;
        let res = clock!(manager, json!({"action": "extend", "days": 10, "reason": "  "})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "extension_reason_required".into()));
        let res = clock!(manager, json!({"action": "extend", "days": 11, "reason": "需组织专家评审"})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "case_extension_exceeds_limit".into()));
        let told = |app: &TestApp| {
            let store = app.store.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE body LIKE '%延长 10 个工作日%需组织专家评审%'")
                    .fetch_one(store.read()).await.unwrap()
            }
        };
        assert_eq!(told(&app).await, 0);
        assert_eq!(clock!(manager, body).await.status(), StatusCode::OK);
        let v = case_view(&manager, id).await;
        // 10 more working days on each limit: 16 and 23 April.
        assert_eq!(v["promised_deadline"], "2026-04-16");
        assert_eq!(v["legal_deadline"], "2026-04-23");
        assert_eq!(told(&app).await, 1, "the applicant is told the extension and its reason");
        let kinds: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"clock.pause") && kinds.contains(&"clock.resume") && kinds.contains(&"clock.extend"));
    }
}

both_backends! {
    async fn the_sweeper_warns_per_case_and_per_step_and_the_lists_filter(app: TestApp) {
        // The county's threshold: yellow at 3 working days left.
        let admin = app.token("luoping.admin").await;
        let county = app.region_id("990121").await;
        let res = admin.put(&format!("/api/v1/regions/{county}/settings/cases.rules"),
            &json!({"warning_threshold_days": 3, "notice_window_days": 5})).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let clerk = app.login("luoping.clerk").await;
        let (id, step) = accepted_food_case(&app, &clerk).await;
        let reviewer = app.login("luoping.reviewer").await;
        let claimed: Value = reviewer.post(&format!("/api/v1/case-steps/{step}/claim"), &json!({})).await.json().await.unwrap();
        // 材料审核 has 2 working days: due Fri 20 March.
        assert_eq!(claimed["due_on"], "2026-03-20");
        let dept = claimed["department_id"].as_i64().unwrap();
        let hall = claimed["hall_id"].as_i64().unwrap();
        let sweep = |t: &'static str| onestop_web::cases::sweep::warnings_at(&app.state, at(t));
        let levels = || async {
            let v = case_view(&reviewer, id).await;
            let s = v["steps"].as_array().unwrap().iter().find(|s| s["id"] == step).unwrap()["warning"].clone();
            (v["warning"].as_str().unwrap().to_owned(), s.as_str().unwrap().to_owned())
        };
        // Wed 18 March: the case has 5 days left (none), the step 2 (yellow).
        sweep("2026-03-18T03:00:00Z").await.unwrap();
        assert_eq!(levels().await, ("none".into(), "yellow".into()));
        assert_eq!(sweep("2026-03-18T04:00:00Z").await.unwrap(), 0, "only changes are written");
        // Fri 20 March: 3 days left on the case (yellow); Mon 23: the step is overdue (red).
        sweep("2026-03-20T03:00:00Z").await.unwrap();
        assert_eq!(levels().await, ("yellow".into(), "yellow".into()));
        sweep("2026-03-23T03:00:00Z").await.unwrap();
        assert_eq!(levels().await, ("yellow".into(), "red".into()));
        // Thu 26 March: the promised deadline (25 March) has passed.
        sweep("2026-03-26T03:00:00Z").await.unwrap();
        assert_eq!(levels().await, ("red".into(), "red".into()));

        // The lists, by hall, department and person.
        let manager = app.login("luoping.manager").await;
        let ids = |path: String| {
            let m = &manager;
            async move {
                let res = m.get(&path).await;
                assert_eq!(res.status(), StatusCode::OK, "{path}");
                res.json::<Vec<Value>>().await.unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect::<Vec<_>>()
            }
        };
        for q in [format!("hall_id={hall}"), format!("department_id={dept}"), "handler=luoping.reviewer".into()] {
            assert_eq!(ids(format!("/api/v1/cases?warning=red&{q}")).await, vec![id], "{q}");
            assert_eq!(ids(format!("/api/v1/case-steps/warnings?warning=red&{q}")).await, vec![step], "{q}");
        }
        for q in [format!("hall_id={}", hall + 1000), format!("department_id={}", dept + 1000), "handler=luoping.clerk".into()] {
            assert!(ids(format!("/api/v1/cases?warning=red&{q}")).await.is_empty(), "{q}");
            assert!(ids(format!("/api/v1/case-steps/warnings?{q}")).await.is_empty(), "{q}");
        }
        assert!(ids("/api/v1/cases?warning=yellow".into()).await.is_empty());
        let res = manager.get("/api/v1/case-steps/warnings?warning=purple").await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "warning_invalid".into()));
        // Another county's manager does not see them.
        let other = app.login("qinghe.manager").await;
        let res: Vec<Value> = other.get("/api/v1/case-steps/warnings").await.json().await.unwrap();
        assert!(res.is_empty());
    }
}

both_backends! {
    async fn intake_checks_the_materials_and_a_late_commitment_blocks_approval(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        // Two required materials missing: acceptance is refused with the list, nothing changes.
        let body = food_with_materials(&app, &["营业执照", "食品安全管理制度"]).await;
        let id = clerk.post("/api/v1/cases", &body).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let check: Value = clerk.get(&format!("/api/v1/cases/{id}/materials")).await.json().await.unwrap();
        assert_eq!(check["missing"], json!(["营业执照", "食品安全管理制度"]));
        let res = clerk.post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["code"], "materials_missing");
        let listed: Vec<&str> = e["fields"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
        assert_eq!(listed, ["营业执照", "食品安全管理制度"]);
        assert_eq!(case_view(&clerk, id).await["status"], "submitted");
        // 容缺 may cover only what it lists.
        let pending = |m: &[&str]| json!({"decision": "accept_pending", "materials": m, "deadline": "2026-03-20", "commitment_signed": true});
        let res = clerk.post(&format!("/api/v1/cases/{id}/intake"), &pending(&["食品安全管理制度"])).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "materials_missing".into()));
        // The one notice, prefilled with the list.
        let r: Value = clerk.post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "notice_missing"})).await.json().await.unwrap();
        assert_eq!(r["notice"], "missing_materials");
        let v = case_view(&clerk, id).await;
        let notice = v["notices"].as_array().unwrap().iter().find(|n| n["kind"] == "missing_materials").unwrap().clone();
        let content: Value = match &notice["content"] { Value::String(s) => serde_json::from_str(s).unwrap(), c => c.clone() };
        assert_eq!(content["materials"], json!(["营业执照", "食品安全管理制度"]));
        // Nothing missing: a notice would list nothing.
        let full = clerk.post("/api/v1/cases", &food_with_materials(&app, &[]).await).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let res = clerk.post(&format!("/api/v1/cases/{full}/intake"), &json!({"decision": "notice_missing"})).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "materials_empty".into()));
        // Bad hand-ins change nothing.
        let up = upload_pdf(&app).await;
        for (m, code) in [
            (json!([{"name": "户口本", "upload_id": up}]), "material_unknown"),
            (json!([{"name": "营业执照"}]), "material_source_required"),
            (json!([]), "materials_empty"),
        ] {
            let res = clerk.post(&format!("/api/v1/cases/{id}/materials"), &json!({"materials": m})).await;
            assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, code.into()));
        }
        supply_missing(&app, &clerk, id).await;
        let check: Value = clerk.get(&format!("/api/v1/cases/{id}/materials")).await.json().await.unwrap();
        assert_eq!(check["missing"], json!([]));
        assert_eq!(clerk.post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"})).await.status(), StatusCode::OK);

        // 容缺: 食品安全管理制度 promised by Fri 20 March.
        let body = food_with_materials(&app, &["食品安全管理制度"]).await;
        let c = clerk.post("/api/v1/cases", &body).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let r: Value = clerk.post(&format!("/api/v1/cases/{c}/intake"), &pending(&["食品安全管理制度"])).await.json().await.unwrap();
        assert_eq!(r["status"], "in_progress");
        let mut step = r["open_steps"][0].as_i64().unwrap();
        let sweep = |t: &'static str| onestop_web::cases::sweep::warnings_at(&app.state, at(t));
        sweep("2026-03-20T03:00:00Z").await.unwrap();
        assert_eq!(case_view(&clerk, c).await["warning"], "none", "not overdue on the deadline itself");
        // Mon 23 March: overdue. Flagged once (event, applicant told), the case red.
        sweep("2026-03-23T03:00:00Z").await.unwrap();
        sweep("2026-03-23T04:00:00Z").await.unwrap();
        let v = case_view(&clerk, c).await;
        assert_eq!(v["warning"], "red");
        let overdue = v["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "materials.overdue").count();
        assert_eq!(overdue, 1);
        let told: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE body LIKE '%容缺材料已超过补交期限%'")
            .fetch_one(app.store.read()).await.unwrap();
        assert_eq!(told, 1);
        // The back office works on, but the case cannot be approved until the materials arrive.
        let reviewer = app.login("luoping.reviewer").await;
        let res = loop {
            let res = act(&reviewer, c, step, "approve", "同意").await;
            if res.status() != StatusCode::OK {
                break res;
            }
            step = res.json::<Value>().await.unwrap()["open_steps"][0].as_i64().unwrap();
        };
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "pending_materials_outstanding".into()));
        let up = upload_pdf(&app).await;
        let res = clerk.post(&format!("/api/v1/cases/{c}/materials"), &json!({"materials": [{"name": "食品安全管理制度", "upload_id": up}]})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(case_view(&clerk, c).await["notices"].as_array().unwrap().iter().any(|n| n["kind"] == "correction_receipt"));
        let r: Value = act(&reviewer, c, step, "approve", "准予许可").await.json().await.unwrap();
        assert_eq!(r["status"], "concluded_approved");
        let res = clerk.post(&format!("/api/v1/cases/{c}/materials"), &json!({"materials": [{"name": "营业执照", "upload_id": up}]})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "case_concluded".into()));
    }
}

both_backends! {
    async fn an_absent_persons_work_is_delegated_for_a_period(app: TestApp) {
        let clerk = app.login("luoping.clerk").await;
        let (a, step_a) = accepted_food_case(&app, &clerk).await;
        let reviewer = app.login("luoping.reviewer").await;
        assert_eq!(reviewer.post(&format!("/api/v1/case-steps/{step_a}/claim"), &json!({})).await.status(), StatusCode::OK);
        let admin = app.login("luoping.admin").await;
        let me: Value = reviewer.get("/api/v1/me").await.json().await.unwrap();
        let region = app.region_id("990121").await;
        let res = admin.post("/api/v1/users", &json!({
            "username": "luoping.reviewer2", "display_name": "备岗审批", "password": crate::common::PASSWORD,
            "department_id": me["department_id"], "hall_id": me["hall_id"],
            "grants": [{"role": "reviewer", "region_id": region}]
        })).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let manager = app.login("luoping.manager").await;
        let delegation = |from: &str, to: &str, starts: &str, ends: &str, reason: &str| {
            json!({"from": from, "to": to, "starts_on": starts, "ends_on": ends, "reason": reason})
        };
        let ok = delegation("luoping.reviewer", "luoping.reviewer2", "2026-03-18", "2026-03-27", "休年假");
        // Bad input, each with its code; nothing is stored.
        for (body, status, code) in [
            (delegation("luoping.reviewer", "luoping.reviewer2", "2026-03-18", "2026-03-27", " "), 422, "delegation_reason_required"),
            (delegation("luoping.reviewer", "luoping.reviewer2", "2026-03-27", "2026-03-18", "休年假"), 422, "delegation_period_invalid"),
            (delegation("luoping.reviewer", "luoping.reviewer", "2026-03-18", "2026-03-27", "休年假"), 422, "delegation_self"),
            (delegation("luoping.reviewer", "luoping.clerk", "2026-03-18", "2026-03-27", "休年假"), 422, "delegate_unsuitable"),
            (delegation("luoping.reviewer", "nobody", "2026-03-18", "2026-03-27", "休年假"), 422, "user_unknown"),
        ] {
            let res = manager.post("/api/v1/case-delegations", &body).await;
            assert_eq!(error_code(res).await, (StatusCode::from_u16(status).unwrap(), code.into()), "{body}");
        }
        assert_eq!(error_code(reviewer.post("/api/v1/case-delegations", &ok).await).await.0, StatusCode::FORBIDDEN);
        assert_eq!(count(&app, "case_delegations").await, 0);

        // The delegation runs from today: the step the reviewer holds moves to the delegate.
        let res = manager.post("/api/v1/case-delegations", &ok).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let d: Value = res.json().await.unwrap();
        assert_eq!(d["steps"], json!([step_a]));
        let res = manager.post("/api/v1/case-delegations", &delegation("luoping.reviewer2", "luoping.reviewer", "2026-03-20", "2026-03-30", "出差")).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "delegation_overlaps".into()));
        // A step claimed by, or assigned to, the absent reviewer goes to the delegate too.
        let (b, step_b) = accepted_food_case(&app, &clerk).await;
        let (_, step_c) = accepted_food_case(&app, &clerk).await;
        let claimed: Value = reviewer.post(&format!("/api/v1/case-steps/{step_b}/claim"), &json!({})).await.json().await.unwrap();
        let assigned: Value = manager.post(&format!("/api/v1/case-steps/{step_c}/assign"), &json!({"username": "luoping.reviewer"})).await.json().await.unwrap();
        for s in [&claimed, &assigned] {
            assert_eq!((s["handler"].as_str(), s["delegated_from"].as_str()), (Some("luoping.reviewer2"), Some("luoping.reviewer")), "{s}");
        }
        let v = case_view(&manager, a).await;
        let rec = v["steps"].as_array().unwrap().iter().find(|s| s["id"] == step_a).unwrap().clone();
        assert_eq!(rec["delegated_from"], "luoping.reviewer");
        // Recorded as delegation in the audit trail, not as reassignment.
        let audited = |action: &'static str| {
            let store = app.store.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action = $1")
                    .bind(action).fetch_one(store.read()).await.unwrap()
            }
        };
        assert_eq!(audited("case.step.delegate").await, 3);
        assert_eq!(audited("case.step.reassign").await, 0);
        assert_eq!(audited("case.delegation").await, 1);
        let second = app.login("luoping.reviewer2").await;
        assert_eq!(act(&second, b, step_b, "approve", "").await.status(), StatusCode::OK);
        assert_eq!(error_code(act(&reviewer, a, step_a, "approve", "").await).await.1, "step_claimed_by_other");
        let list: Vec<Value> = manager.get("/api/v1/case-delegations").await.json().await.unwrap();
        assert_eq!(list.len(), 1);
        // After the period, the reviewer claims for themself again.
        app.clock.set(at("2026-03-30T02:00:00Z"));
        let reviewer = app.login("luoping.reviewer").await;
        let (_, step_d) = accepted_food_case(&app, &app.login("luoping.clerk").await).await;
        let s: Value = reviewer.post(&format!("/api/v1/case-steps/{step_d}/claim"), &json!({})).await.json().await.unwrap();
        assert_eq!((s["handler"].as_str(), s["delegated_from"].as_str()), (Some("luoping.reviewer"), None));
    }
}

both_backends! {
    async fn a_window_case_links_the_served_tickets_of_its_visits(app: TestApp) {
        use onestop_web::queue::{self as q, Taker, WindowChange};
        let region = app.region_id("990121").await;
        let hall = onestop_store::org::halls_in(app.store.read(), "/").await.unwrap()
            .into_iter().find(|h| h.region_id == region).unwrap().id;
        let window = onestop_store::org::windows_of_hall(app.store.read(), hall).await.unwrap()
            .into_iter().find(|w| w.number == "1").unwrap().id;
        let sys = onestop_web::queue::sim::sim_principal();
        q::change_window(&app.state, &sys, window, WindowChange::Open).await.unwrap();
        let take = || q::take_ticket(&app.state, hall, "A", onestop_domain::queue::PriorityGroup::None, Taker::Staff { actor: "test".into() });
        let first = take().await.unwrap().id;
        let waiting = take().await.unwrap().id;
        q::call_next(&app.state, &sys, window).await.unwrap();
        let clerk = app.login("luoping.clerk").await;
        let mut body = food_with_materials(&app, &[]).await;
        body["ticket_id"] = json!(waiting);
        let res = clerk.post("/api/v1/cases", &body).await;
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "ticket_not_served".into()));
        body["ticket_id"] = json!(first);
        let sub: Value = clerk.post("/api/v1/cases", &body).await.json().await.unwrap();
        let id = sub["id"].as_i64().unwrap();
        let v = case_view(&clerk, id).await;
        assert_eq!(v["ticket_id"], first);
        // A second visit, to collect the result: two rows, so not 最多跑一次.
        let path = format!("/api/v1/cases/{id}/visits");
        macro_rules! visit {
            ($t:expr, $purpose:expr) => {
                clerk.post(&path, &json!({"ticket_id": $t, "purpose": $purpose}))
            };
        }
        assert_eq!(error_code(visit!(waiting, "result").await).await.1, "ticket_not_served");
        assert_eq!(error_code(visit!(first, "lunch").await).await.1, "visit_purpose_invalid");
        for action in [q::WindowAction::Start, q::WindowAction::Finish] {
            q::ticket_action(&app.state, &sys, window, first, action, q::TransferTo::default()).await.unwrap();
        }
        q::call_next(&app.state, &sys, window).await.unwrap();
        assert_eq!(visit!(waiting, "result").await.status(), StatusCode::NO_CONTENT);
        let visits: Vec<Value> = clerk.get(&format!("/api/v1/cases/{id}/visits")).await.json().await.unwrap();
        let got: Vec<(i64, &str)> = visits.iter().map(|v| (v["ticket_id"].as_i64().unwrap(), v["purpose"].as_str().unwrap())).collect();
        assert_eq!(got, vec![(first, "submit"), (waiting, "result")]);
    }
}
