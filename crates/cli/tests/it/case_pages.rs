//! The case pages over HTTP on both backends: the online application page (phone code, field
//! errors beside the fields, CSRF), the receipt and `/follow`, the window intake from a ticket,
//! the case page's intake decision, the inbox and the warnings list, and the staff-only pages
//! refusing anonymous visitors.
use crate::both_backends;
use crate::common::TestApp;
use reqwest::StatusCode;
use reqwest::multipart::Form;

const ID: &str = "11010519491231002X";
const PHONE: &str = "13800138000";
const FOOD: &str = "000172007000";

/// The value of the first hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html.find(&key).unwrap_or_else(|| panic!("no {name} in page"));
    let rest = &html[at + key.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn food_form(csrf: &str, idem: &str) -> Form {
    Form::new()
        .text("csrf", csrf.to_owned())
        .text("idem", idem.to_owned())
        .text("applicant_name", "张三")
        .text("applicant_phone", PHONE)
        .text("form.org_name", "罗平县好味餐饮有限公司")
        .text("form.legal_rep_name", "张三")
        .text("form.contact_name", "张三")
        .text("form.contact_phone", "13900139000")
        .text("form.org_address", "罗平县人民路 8 号")
        .text("form.commitment", "true")
}

both_backends! {
    async fn a_citizen_applies_online_and_follows_the_case(app: TestApp) {
        let c = TestApp::client();
        let path = format!("/apply/990121/{FOOD}");
        let page = c.get(app.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("name=\"form.org_name\""), "the catalogue form's fields are rendered");
        let csrf = hidden(&html, "csrf");
        let idem = hidden(&html, "idem");

        // Without the page's CSRF token: refused, nothing stored.
        let res = c.post(app.url(&path)).multipart(food_form("forged", &idem).text("applicant_id_number", ID)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // The phone code goes through the outbox.
        let res = c.post(app.url("/apply/phone-code")).form(&[("csrf", csrf.as_str()), ("applicant_phone", PHONE)]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("验证码已发送"));
        let sent = onestop_store::outbox::recent(app.store.read(), None, 1).await.unwrap();
        let code: String = sent[0].body.chars().filter(char::is_ascii_digit).take(6).collect();

        // A bad ID number and an empty required field: 422, messages beside the fields, entries kept.
        let bad = food_form(&csrf, &idem)
            .text("applicant_id_number", "110105194912310021")
            .text("phone_code", code.clone());
        let res = c.post(app.url(&path)).multipart(bad).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(html.contains("class=\"field-error\""), "field errors shown");
        assert!(html.contains("罗平县好味餐饮有限公司"), "entries are kept");
        let csrf = hidden(&html, "csrf");

        let good = food_form(&csrf, &idem).text("applicant_id_number", ID).text("phone_code", code);
        let res = c.post(app.url(&path)).multipart(good).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let html = res.text().await.unwrap();
        assert!(html.contains("990121-"), "case number on the receipt");
        assert!(html.contains("<svg"), "QR code on the receipt");
        let case_no = {
            let at = html.find("id=\"case-no\">").unwrap() + "id=\"case-no\">".len();
            html[at..].split('<').next().unwrap().to_owned()
        };
        let tracking = {
            let at = html.find("id=\"tracking-code\">").unwrap() + "id=\"tracking-code\">".len();
            html[at..at + 19].to_owned()
        };

        // The QR's link follows the case; no personal data on the public page.
        let res = c.get(app.url(&format!("/follow?code={}", tracking.replace('-', "")))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("已收件"), "status shown");
        assert!(!html.contains(ID) && !html.contains(PHONE) && !html.contains("138****"), "no personal data");
        // Wrong last digits: a readable 404 page.
        let res = c.post(app.url("/follow")).form(&[("case_no", case_no.as_str()), ("last4", "0000")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.text().await.unwrap().contains("没有找到该办件"));
    }
}

both_backends! {
    async fn a_clerk_takes_in_a_case_and_decides_on_the_case_page(app: TestApp) {
        // Staff pages refuse anonymous visitors (to the login page).
        let anon = TestApp::client();
        for path in ["/inbox", "/cases/new", "/cases/1", "/cases/warnings"] {
            let res = anon.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        }
        let clerk = app.login("luoping.clerk").await;
        let res = clerk.get("/cases/new").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("食品经营许可证核发"), "the picker lists the region's services");
        let page = clerk.get(&format!("/cases/new?region=990121&service={FOOD}")).await.text().await.unwrap();
        let idem = hidden(&page, "idem");
        let form = food_form(&clerk.csrf, &idem).text("applicant_id_number", ID);
        let res = clerk
            .client
            .post(format!("{}/cases/new?region=990121&service={FOOD}&bundle=", clerk.base))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let html = res.text().await.unwrap();
        let id: i64 = {
            let at = html.find("href=\"/cases/").unwrap() + "href=\"/cases/".len();
            html[at..].split('"').next().unwrap().parse().unwrap()
        };

        let page = clerk.get(&format!("/cases/{id}")).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("1101**********002X") && !html.contains(ID), "ID number masked");
        assert!(html.contains("id=\"intake\""), "the intake decisions are offered");

        // A forged token is refused; a refusal without reasons is a readable 422; accept works.
        let res = clerk.client.post(format!("{}/cases/{id}/intake", clerk.base)).form(&[("csrf", "nope"), ("decision", "accept")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = clerk.form(&format!("/cases/{id}/intake"), &[("decision", "accept_pending"), ("materials", "营业执照"), ("deadline", "not-a-date")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("补交材料的期限"));
        // Nothing was handed in yet: accepting is a readable 422 listing what is missing.
        let res = clerk.form(&format!("/cases/{id}/intake"), &[("decision", "accept")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(html.contains("材料不齐") && html.contains("营业执照"), "the missing materials are listed");
        // The applicant hands them in at the window (补正), then the acceptance goes through.
        let check: serde_json::Value = clerk.get(&format!("/api/v1/cases/{id}/materials")).await.json().await.unwrap();
        let part = reqwest::multipart::Part::bytes(b"%PDF-1.7\nmaterial".to_vec()).file_name("材料.pdf");
        let up: serde_json::Value = TestApp::client()
            .post(app.url("/api/v1/uploads"))
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list: Vec<serde_json::Value> = check["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| serde_json::json!({"name": n, "upload_id": up["id"]}))
            .collect();
        assert!(!list.is_empty());
        let res = clerk.post(&format!("/api/v1/cases/{id}/materials"), &serde_json::json!({"materials": list})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = clerk.form(&format!("/cases/{id}/intake"), &[("decision", "accept")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = clerk.get(&format!("/cases/{id}")).await.text().await.unwrap();
        assert!(html.contains(&format!("/cases/{id}/notices/acceptance")), "the notice links from the case");
        assert!(html.contains("剩余"), "remaining working days shown");
        // A second decision: 409 on the page, not a 500.
        let res = clerk.form(&format!("/cases/{id}/intake"), &[("decision", "accept")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);

        // The reveal is audited.
        let res = clerk.form(&format!("/cases/{id}/reveal"), &[("field", "id_number")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains(ID));

        // The step is in the reviewers' shared inbox; claimed from the page.
        let reviewer = app.login("luoping.reviewer").await;
        let html = reviewer.get("/inbox").await.text().await.unwrap();
        let step: i64 = {
            let at = html.find("action=\"/inbox/steps/").unwrap() + "action=\"/inbox/steps/".len();
            html[at..].split('/').next().unwrap().parse().unwrap()
        };
        let res = reviewer.form(&format!("/inbox/steps/{step}/claim"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = reviewer.form(&format!("/inbox/steps/{step}/claim"), &[]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "a second claim is refused on the page");

        // Warnings: hall managers yes, clerks no; a bad filter is a readable 422.
        assert_eq!(clerk.get("/cases/warnings").await.status(), StatusCode::FORBIDDEN);
        let manager = app.login("luoping.manager").await;
        assert_eq!(manager.get("/cases/warnings").await.status(), StatusCode::OK);
        assert_eq!(manager.get("/cases/warnings?hall_id=x").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

both_backends! {
    async fn the_window_console_takes_in_a_case_for_the_served_ticket(app: TestApp) {
        let region = app.region_id("990121").await;
        let hall = onestop_store::org::halls_in(app.store.read(), "/").await.unwrap().into_iter().find(|h| h.region_id == region).unwrap();
        let w = onestop_store::org::windows_of_hall(app.store.read(), hall.id).await.unwrap().into_iter().find(|w| w.number == "1").unwrap().id;
        let clerk = app.login("luoping.clerk").await;
        assert_eq!(clerk.post(&format!("/api/v1/queue/windows/{w}/open"), &serde_json::json!({})).await.status(), StatusCode::OK);
        let out: serde_json::Value = clerk.post(&format!("/api/v1/queue/windows/{w}/walk-in"), &serde_json::json!({})).await.json().await.unwrap();
        let ticket = out["ticket"]["id"].as_i64().unwrap();
        let ticket_no = out["ticket"]["ticket_no"].as_str().unwrap().to_owned();

        // One click from the console: the intake page with the ticket prefilled.
        let console = clerk.get(&format!("/queue/window/{w}")).await.text().await.unwrap();
        assert!(console.contains("action=\"/cases/new\"") && console.contains(&format!("name=\"ticket_id\" value=\"{ticket}\"")));
        let pick = clerk.get(&format!("/cases/new?ticket_id={ticket}")).await.text().await.unwrap();
        assert!(pick.contains(&ticket_no), "the picker names the visit's ticket");
        let path = format!("/cases/new?region=990121&service={FOOD}&ticket_id={ticket}");
        let page = clerk.get(&path).await.text().await.unwrap();
        assert_eq!(hidden(&page, "ticket_id"), ticket.to_string());
        let form = food_form(&clerk.csrf, &hidden(&page, "idem"))
            .text("applicant_id_number", ID)
            .text("ticket_id", ticket.to_string());
        let res = clerk.client.post(format!("{}{path}", clerk.base)).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let row = onestop_store::cases::list(&mut app.store.read().acquire().await.unwrap(), &["/".to_owned()], None, None, None, 1).await.unwrap();
        assert_eq!(row[0].ticket_id, Some(ticket), "the case knows the visit it came from");
        // A ticket id that does not exist: a readable 422 page.
        let res = clerk.get("/cases/new?ticket_id=999999").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
