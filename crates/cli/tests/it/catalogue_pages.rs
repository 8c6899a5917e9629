//! The catalogue's admin pages as a region admin meets them, over HTTP with a browser-like client
//! (session cookie, CSRF field, multipart forms built from the page's own inputs): the base-record
//! editor (create, quality errors beside their inputs, files, rows, publish, withdraw, versions,
//! concurrent edits), structured overrides of an implementation with origins and reset, and the
//! public search's pages.
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FOOD: &str = "000172007000"; // 食品经营许可证核发
const NEW_CODE: &str = "000172099000";

// ---- a small HTML form reader (what a browser would send) ------------------------------------------

fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn has_attr(tag: &str, name: &str) -> bool {
    tag.contains(&format!(" {name}"))
        && (tag.contains(&format!(" {name}>"))
            || tag.contains(&format!(" {name} "))
            || tag.contains(&format!(" {name}=")))
}

/// The successful controls of the form with this id, in document order, as a browser submits them
/// (text, hidden, number and date inputs; ticked boxes and radios; selected options; text areas),
/// without any submit button or file input.
fn form_pairs(html: &str, form_id: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("id=\"{form_id}\""))
        .unwrap_or_else(|| panic!("no form #{form_id}"));
    let end = html[start..].find("</form>").unwrap() + start;
    let form = &html[start..end];
    let mut out = Vec::new();
    let mut rest = form;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        let tag_end = rest.find('>').unwrap();
        let tag = &rest[..=tag_end];
        if tag.starts_with("<input") {
            let kind = attr(tag, "type").unwrap_or_else(|| "text".into());
            if let Some(name) = attr(tag, "name") {
                let value = attr(tag, "value").unwrap_or_default();
                match kind.as_str() {
                    "checkbox" | "radio" => {
                        if has_attr(tag, "checked") {
                            out.push((name, if value.is_empty() { "on".into() } else { value }));
                        }
                    }
                    "file" | "submit" => {}
                    _ => out.push((name, value)),
                }
            }
            rest = &rest[tag_end + 1..];
        } else if tag.starts_with("<textarea") {
            let close = rest.find("</textarea>").unwrap();
            if let Some(name) = attr(tag, "name") {
                out.push((name, unescape(&rest[tag_end + 1..close])));
            }
            rest = &rest[close..];
        } else if tag.starts_with("<select") {
            let close = rest.find("</select>").unwrap();
            let body = &rest[tag_end + 1..close];
            if let Some(name) = attr(tag, "name") {
                let options: Vec<&str> = body.split("<option").skip(1).collect();
                let chosen = options
                    .iter()
                    .find(|o| o.split('>').next().unwrap().contains(" selected"))
                    .or(options.first());
                if let Some(o) = chosen {
                    let head = format!("<option{}", o.split('>').next().unwrap());
                    out.push((name, attr(&head, "value").unwrap_or_default()));
                }
            }
            rest = &rest[close..];
        } else {
            rest = &rest[tag_end + 1..];
        }
    }
    out
}

fn set(pairs: &mut Vec<(String, String)>, name: &str, value: &str) {
    match pairs.iter_mut().find(|(n, _)| n == name) {
        Some(p) => p.1 = value.to_owned(),
        None => pairs.push((name.to_owned(), value.to_owned())),
    }
}

fn unset(pairs: &mut Vec<(String, String)>, name: &str) {
    pairs.retain(|(n, _)| n != name);
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Posts the pairs as multipart (as the editor form does), with files for some inputs and the
/// button `op` that was pressed.
async fn post_editor(
    s: &Session,
    path: &str,
    pairs: &[(String, String)],
    files: &[(&str, &str, Vec<u8>)],
    op: &str,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (n, v) in pairs {
        form = form.text(n.clone(), v.clone());
    }
    for (n, file_name, bytes) in files {
        form = form.part(
            n.to_string(),
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(file_name.to_string()),
        );
    }
    form = form.text("op", op.to_owned());
    s.client
        .post(format!("{}{path}", s.base))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The text of the field error of an input, by the input's name.
fn error_of(html: &str, input: &str) -> Option<String> {
    let id: String = input
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
        .collect();
    let key = format!("id=\"f-{id}-e\">");
    let start = html.find(&key)? + key.len();
    let end = html[start..].find('<')? + start;
    Some(unescape(&html[start..end]))
}

fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {text}\n%%EOF\n").into_bytes()
}

async fn service_id(app: &TestApp, base_code: &str) -> i64 {
    let mut c = app.store.read().acquire().await.unwrap();
    onestop_store::catalogue::service_by_code(&mut c, base_code)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn public_guide(app: &TestApp, region: &str, code: &str) -> reqwest::Response {
    TestApp::client()
        .get(app.url(&format!("/api/v1/guides/{region}/{code}")))
        .send()
        .await
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

// ---- the editor ----------------------------------------------------------------------------------

both_backends! {
    async fn a_province_admin_creates_edits_publishes_and_withdraws_a_service_from_the_pages(app: TestApp) {
        let s = app.login("jingjiang.admin").await;
        let list = s.get("/admin/catalogue").await.text().await.unwrap();
        assert!(list.contains("href=\"/admin/catalogue/services/new\""), "no create link");

        // A new service, filled in the way the form offers it, with two mistakes of the rules and
        // a sample that is not a PDF or image.
        let html = s.get("/admin/catalogue/services/new").await.text().await.unwrap();
        let mut form = form_pairs(&html, "editor");
        assert_eq!(form.first().unwrap().0, "csrf", "the token must be the form's first input");
        let credit = onestop_web::catalogue::demo::demo_credit_code("990000", 3);
        for (k, v) in [
            ("name", "餐饮服务食品安全等级评定"), ("base_code", NEW_CODE), ("legal_basis", "《中华人民共和国食品安全法》第一百零九条"),
            ("implementing_body", "静江省市场监督管理局"), ("implementing_body_credit_code", credit.as_str()),
            ("department_name", "静江省市场监督管理局"), ("conditions", "已取得食品经营许可证的餐饮服务单位。"),
            ("process", "申请 → 现场评定 → 公示 → 授牌"), ("consult_phone", "0999-12345"), ("address", "静江省政务服务中心三楼"),
            ("themes", "开餐馆、食品安全"), ("online_depth", "4"), ("onsite_visits", "1"), ("fee.amount", "评定费 200 元"),
            ("materials[0].name", "等级评定申请表"), ("materials[0].acceptance_standard", "加盖单位公章"),
        ] {
            set(&mut form, k, v);
        }
        set(&mut form, "fee.charged", "1");
        let res = post_editor(&s, "/admin/catalogue/services", &form, &[
            ("materials[0].blank_form_file", "申请表.pdf", pdf("blank form")),
            ("materials[0].sample_file", "sample.exe", b"MZ\x90\x00 not a document".to_vec()),
        ], "save").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(error_of(&html, "fee.basis").unwrap().contains("收费依据"), "{html}");
        assert!(error_of(&html, "onsite_visits").unwrap().contains("全程网办"));
        assert!(error_of(&html, "materials[0].sample").unwrap().contains("文件类型不支持"));
        assert!(html.contains("id=\"error-summary\"") && html.contains("href=\"#f-fee-basis\""));
        // What was typed is kept, and the blank form that was accepted is kept too.
        let mut form = form_pairs(&html, "editor");
        assert_eq!(get(&form, "name"), Some("餐饮服务食品安全等级评定"));
        let blank = get(&form, "materials[0].blank_form").unwrap().to_owned();
        assert_eq!(blank.len(), 64, "{form:?}");
        assert!(html.contains("申请表.pdf"));
        let mut c = app.store.read().acquire().await.unwrap();
        assert!(onestop_store::catalogue::service_by_code(&mut c, NEW_CODE).await.unwrap().is_none(), "nothing is saved");
        drop(c);

        set(&mut form, "fee.basis", "《静江省餐饮服务食品安全等级评定收费标准》");
        set(&mut form, "onsite_visits", "0");
        let res = post_editor(&s, "/admin/catalogue/services", &form, &[], "save").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
        let id = service_id(&app, NEW_CODE).await;
        assert_eq!(location(&res), format!("/admin/catalogue/services/{id}?created=1"));

        // The same code again is refused beside the code.
        let res = post_editor(&s, "/admin/catalogue/services", &form, &[], "save").await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(error_of(&res.text().await.unwrap(), "base_code").unwrap().contains("已存在"));

        // A draft: listed, not public.
        let page = s.get(&format!("/admin/catalogue/services/{id}")).await.text().await.unwrap();
        assert!(page.contains("data-status=\"draft\""), "{page}");
        let admin = app.token("jingjiang.admin").await;
        let detail: Value = admin.get(&format!("/api/v1/catalogue/services/{id}")).await.json().await.unwrap();
        let v1 = detail["versions"][0]["id"].as_i64().unwrap();
        assert_eq!(detail["versions"][0]["content"]["materials"][0]["blank_form"], blank);
        assert_eq!(detail["versions"][0]["content"]["record"]["themes"], json!(["开餐馆", "食品安全"]));
        assert_eq!(detail["versions"][0]["content"]["record"]["fee"]["basis"], "《静江省餐饮服务食品安全等级评定收费标准》");

        // Publish with a wrong pair of dates: refused on the page, nothing published.
        let res = s.form(&format!("/admin/catalogue/versions/{v1}/publish"), &[("effective_from", "2026-03-18"), ("effective_until", "2026-03-01")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("失效日期应晚于生效日期"));
        let res = s.form(&format!("/admin/catalogue/versions/{v1}/publish"), &[("effective_from", "2026-03-18"), ("effective_until", "")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("/admin/catalogue/services/{id}?published=1"));

        // Published but offered nowhere yet; 久安市 switches it on from its page, and 罗平县 inherits.
        assert_eq!(public_guide(&app, "990121", NEW_CODE).await.status(), StatusCode::NOT_FOUND);
        let city_admin = app.login("jiuan.admin").await;
        let city = app.region_id("990100").await;
        let res = city_admin.form(&format!("/admin/catalogue/regions/{city}/services/{id}/set"), &[("field", "enabled"), ("value", "1")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let guide: Value = public_guide(&app, "990121", NEW_CODE).await.json().await.unwrap();
        assert_eq!(guide["record"]["name"], "餐饮服务食品安全等级评定");
        // The blank form opens from the public guide, as it was uploaded.
        let page = TestApp::client().get(app.url(&format!("/guide/990121/{NEW_CODE}"))).send().await.unwrap().text().await.unwrap();
        let link = format!("/guide/990121/{NEW_CODE}/files/{blank}");
        assert!(page.contains(&link), "{page}");
        let file = TestApp::client().get(app.url(&link)).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.headers()["content-type"], "application/pdf");
        assert_eq!(file.bytes().await.unwrap().to_vec(), pdf("blank form"));
        // Only files a guide names are served: not another upload, not a made-up digest.
        let other = reqwest::multipart::Part::bytes(pdf("an applicant's document")).file_name("id.pdf");
        let up: Value = admin.client.post(app.url("/api/v1/uploads")).bearer_auth(&admin.token)
            .multipart(reqwest::multipart::Form::new().part("file", other)).send().await.unwrap().json().await.unwrap();
        let res = TestApp::client().get(app.url(&format!("/guide/990121/{NEW_CODE}/files/{}", up["sha256"].as_str().unwrap()))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = s.get(&format!("/admin/catalogue/versions/{v1}/files/{}", up["sha256"].as_str().unwrap())).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = s.get(&format!("/admin/catalogue/versions/{v1}/files/{blank}")).await;
        assert_eq!(res.status(), StatusCode::OK);

        // A new draft from the published version: edit a field, save; the guide still shows v1.
        let html = s.get(&format!("/admin/catalogue/services/{id}/draft")).await.text().await.unwrap();
        let mut form = form_pairs(&html, "editor");
        assert_eq!(get(&form, "token"), Some("new"));
        let stale = form.clone();
        set(&mut form, "conditions", "已取得食品经营许可证满一年的餐饮服务单位。");
        let res = post_editor(&s, &format!("/admin/catalogue/services/{id}/draft"), &form, &[], "save").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
        assert_eq!(location(&res), format!("/admin/catalogue/services/{id}/draft?saved=1"));
        let guide: Value = public_guide(&app, "990121", NEW_CODE).await.json().await.unwrap();
        assert_eq!(guide["record"]["conditions"], "已取得食品经营许可证的餐饮服务单位。");
        // Someone else saving from the page they opened before is told, and nothing is overwritten.
        let mut theirs = stale.clone();
        set(&mut theirs, "conditions", "另一个人的修改");
        let res = post_editor(&s, &format!("/admin/catalogue/services/{id}/draft"), &theirs, &[], "save").await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let html = res.text().await.unwrap();
        assert!(html.contains("已被他人修改"));
        assert_eq!(get(&form_pairs(&html, "editor"), "conditions"), Some("另一个人的修改"), "their text is kept on the page");
        let detail: Value = admin.get(&format!("/api/v1/catalogue/services/{id}")).await.json().await.unwrap();
        assert_eq!(detail["versions"][0]["content"]["record"]["conditions"], "已取得食品经营许可证满一年的餐饮服务单位。");
        let v2 = detail["versions"][0]["id"].as_i64().unwrap();
        assert_eq!(detail["versions"][0]["number"], 2);
        // The draft page opens the draft; the API's token agrees with the page's.
        let html = s.get(&format!("/admin/catalogue/services/{id}/draft")).await.text().await.unwrap();
        assert_eq!(get(&form_pairs(&html, "editor"), "token"), detail["draft_token"].as_str());

        // Publish v2: the guide moves; v1 stays readable (as a case that pinned it reads it).
        let res = s.form(&format!("/admin/catalogue/versions/{v2}/publish"), &[("effective_from", "2026-03-18")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let guide: Value = public_guide(&app, "990121", NEW_CODE).await.json().await.unwrap();
        assert_eq!(guide["service_version_id"], v2);
        let page = s.get(&format!("/admin/catalogue/versions/{v1}")).await.text().await.unwrap();
        assert!(page.contains("已取得食品经营许可证的餐饮服务单位。"));
        let mut c = app.store.read().acquire().await.unwrap();
        let pinned = onestop_store::catalogue::version(&mut c, v1).await.unwrap();
        assert_eq!(pinned.content.record.conditions, "已取得食品经营许可证的餐饮服务单位。");
        drop(c);
        let page = s.get(&format!("/admin/catalogue/services/{id}")).await.text().await.unwrap();
        assert!(page.contains("当前生效"));

        // Withdraw v2 from the page: the guide falls back to v1; withdrawing again is refused.
        let res = s.form(&format!("/admin/catalogue/versions/{v2}/withdraw"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let guide: Value = public_guide(&app, "990121", NEW_CODE).await.json().await.unwrap();
        assert_eq!(guide["service_version_id"], v1);
        let res = s.form(&format!("/admin/catalogue/versions/{v2}/withdraw"), &[]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("只有已发布的版本可以撤回"));

        // Who may not: a county admin reads but cannot edit; a clerk cannot create; no CSRF, no save.
        let county = app.login("luoping.admin").await;
        assert_eq!(county.get(&format!("/admin/catalogue/services/{id}")).await.status(), StatusCode::OK);
        assert_eq!(county.get(&format!("/admin/catalogue/services/{id}/draft")).await.status(), StatusCode::FORBIDDEN);
        let mut theirs = form_pairs(&s.get(&format!("/admin/catalogue/services/{id}/draft")).await.text().await.unwrap(), "editor");
        set(&mut theirs, "csrf", &county.csrf);
        let res = post_editor(&county, &format!("/admin/catalogue/services/{id}/draft"), &theirs, &[], "save").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.login("luoping.clerk").await.get("/admin/catalogue/services/new").await.status(), StatusCode::FORBIDDEN);
        let mut forged = form.clone();
        unset(&mut forged, "csrf");
        let res = post_editor(&s, &format!("/admin/catalogue/services/{id}/draft"), &forged, &[("materials[0].sample_file", "x.pdf", pdf("forged"))], "save").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = s.client.post(app.url(&format!("/admin/catalogue/services/{id}/draft"))).form(&[("csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

both_backends! {
    async fn the_editor_adds_moves_and_removes_rows_and_edits_the_application_form(app: TestApp) {
        let s = app.login("jingjiang.admin").await;
        let id = service_id(&app, "000109001000").await; // 出生登记
        let path = format!("/admin/catalogue/services/{id}/draft");
        let html = s.get(&path).await.text().await.unwrap();
        let form = form_pairs(&html, "editor");
        let materials = form.iter().filter(|(n, _)| n.ends_with("].acceptance_standard") && n.starts_with("materials")).count();
        let fields = form.iter().filter(|(n, _)| n.starts_with("form[") && n.ends_with("].key")).count();
        assert!(materials >= 2 && fields >= 5, "{materials} {fields}");

        // Adding a material redraws the form with one more, keeps what was typed, saves nothing.
        let mut typed = form.clone();
        set(&mut typed, "conditions", "改过的条件，尚未保存");
        let res = post_editor(&s, &path, &typed, &[], "add_material").await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("尚未保存"));
        let mut form = form_pairs(&html, "editor");
        assert_eq!(get(&form, "conditions"), Some("改过的条件，尚未保存"));
        assert!(get(&form, &format!("materials[{materials}].name")).is_some());
        set(&mut form, &format!("materials[{materials}].name"), "出生医学证明复印件");
        set(&mut form, &format!("materials[{materials}].acceptance_standard"), "与原件一致");
        // Move it up one place.
        let html = post_editor(&s, &path, &form, &[], &format!("up_material.{materials}")).await.text().await.unwrap();
        let form = form_pairs(&html, "editor");
        assert_eq!(get(&form, &format!("materials[{}].name", materials - 1)), Some("出生医学证明复印件"));

        // Add a select field without options and with a key that is already used: both refused.
        let html = post_editor(&s, &path, &form, &[], "add_field").await.text().await.unwrap();
        let mut form = form_pairs(&html, "editor");
        set(&mut form, &format!("form[{fields}].label"), "与新生儿关系");
        set(&mut form, &format!("form[{fields}].key"), "child_name");
        set(&mut form, &format!("form[{fields}].kind"), "select");
        let res = post_editor(&s, &path, &form, &[], "save").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(error_of(&html, &format!("form[{fields}].key")).unwrap().contains("重复"), "{html}");
        // The select's options box appears once its kind is select.
        let mut form = form_pairs(&html, "editor");
        assert!(get(&form, &format!("form[{fields}].options")).is_some());
        set(&mut form, &format!("form[{fields}].key"), "relation");
        let res = post_editor(&s, &path, &form, &[], "save").await;
        assert!(error_of(&res.text().await.unwrap(), &format!("form[{fields}].options")).unwrap().contains("至少需要一个选项"));
        set(&mut form, &format!("form[{fields}].options"), "father=父亲\nmother=母亲");
        set(&mut form, &format!("form[{fields}].required"), "1");
        // And remove the applicant's address field (optional in the birth preset).
        let address = form.iter().find(|(n, v)| n.ends_with("].key") && v == "applicant_address").map(|(n, _)| n.clone());
        if let Some(n) = address {
            let i: usize = n.trim_start_matches("form[").split(']').next().unwrap().parse().unwrap();
            let html = post_editor(&s, &path, &form, &[], &format!("remove_field.{i}")).await.text().await.unwrap();
            form = form_pairs(&html, "editor");
        }
        let res = post_editor(&s, &path, &form, &[], "save").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());

        let admin = app.token("jingjiang.admin").await;
        let detail: Value = admin.get(&format!("/api/v1/catalogue/services/{id}")).await.json().await.unwrap();
        let draft = &detail["versions"][0];
        assert_eq!(draft["status"], "draft");
        let names: Vec<&str> = draft["content"]["materials"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
        assert_eq!(names[materials - 1], "出生医学证明复印件", "{names:?}");
        let relation = draft["content"]["form"]["fields"].as_array().unwrap().iter().find(|f| f["key"] == "relation").unwrap();
        assert_eq!(relation["kind"]["type"], "select");
        assert_eq!(relation["kind"]["options"][1], json!({"value": "mother", "label": "母亲"}));
        assert!(draft["content"]["form"]["fields"].as_array().unwrap().iter().all(|f| f["key"] != "applicant_address"));

        // Published, the application form renders the new field and validates it with the same rules.
        let res = s.form(&format!("/admin/catalogue/versions/{}/publish", draft["id"]), &[("effective_from", "2026-03-18")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let page = TestApp::client().get(app.url("/guide/990121/000109001000/apply")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("name=\"relation\"") && page.contains("母亲"));
        let res = TestApp::client().post(app.url("/api/v1/guides/990121/000109001000/validate")).json(&json!({"relation": "uncle"})).send().await.unwrap();
        let body: Value = res.json().await.unwrap();
        assert!(body["fields"].as_array().unwrap().iter().any(|f| f["field"] == "relation"), "{body}");

        // A preset replaces the fields (redrawn, not saved).
        let html = post_editor(&s, &path, &form_pairs(&s.get(&path).await.text().await.unwrap(), "editor"), &[], "preset.company").await.text().await.unwrap();
        let form = form_pairs(&html, "editor");
        assert!(form.iter().any(|(n, v)| n.ends_with("].key") && v == "org_credit_code"));
        // Too many rows or a made-up operation do no harm.
        let mut many = form.clone();
        for i in 0..70 {
            set(&mut many, &format!("faqs[{i}].question"), "问");
            set(&mut many, &format!("faqs[{i}].answer"), "答");
        }
        let res = post_editor(&s, &path, &many, &[], "save").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("最多 50 项"));
        let res = post_editor(&s, &path, &form, &[], "drop_table").await;
        assert!(res.status().is_success() || res.status() == StatusCode::SEE_OTHER || res.status() == StatusCode::UNPROCESSABLE_ENTITY);
    }
}

// ---- structured overrides ------------------------------------------------------------------------

both_backends! {
    async fn a_city_admin_overrides_structured_fields_and_counties_inherit_until_they_override(app: TestApp) {
        let city_admin = app.login("jiuan.admin").await;
        let bearer = app.token("jiuan.admin").await;
        let (city, qinghe, luoping) = (app.region_id("990100").await, app.region_id("990122").await, app.region_id("990121").await);
        let food = service_id(&app, FOOD).await;
        let page = |region: i64| format!("/admin/catalogue/regions/{region}/services/{food}");
        let set_path = |region: i64| format!("/admin/catalogue/regions/{region}/services/{food}/set");
        let effective = |region: i64| {
            let bearer = &bearer;
            async move {
                let v: Value = bearer.get(&format!("/api/v1/catalogue/regions/{region}/implementations/{food}")).await.json().await.unwrap();
                v
            }
        };

        // The promised limit with its unit, from the page's own form.
        let html = city_admin.get(&page(city)).await.text().await.unwrap();
        assert!(html.contains("name=\"limit_value\"") && html.contains("name=\"limit_unit\""));
        let res = city_admin.form(&set_path(city), &[("field", "promised_limit"), ("limit_value", "3"), ("limit_unit", "1")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let qh = effective(qinghe).await;
        assert_eq!(qh["record"]["promised_limit"], json!({"value": 3, "unit": "1"}));
        assert_eq!(qh["origins"]["promised_limit"]["origin"]["region"]["code"], "990100");
        let html = city_admin.get(&page(qinghe)).await.text().await.unwrap();
        let row = &html[html.find("id=\"f-promised_limit\"").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("3 个工作日") && row.contains("继承自久安市"), "{row}");

        // A value that breaks a rule is shown again beside the field, and nothing changes.
        let res = city_admin.form(&set_path(city), &[("field", "promised_limit"), ("limit_value", "99"), ("limit_unit", "1")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(html.contains("id=\"e-promised_limit\"") && html.contains("超过了法定时限"), "{html}");
        assert!(html.contains("value=\"99\""));
        let res = city_admin.form(&set_path(city), &[("field", "promised_limit"), ("limit_value", "三天"), ("limit_unit", "1")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("请填写天数"));
        let res = city_admin.form(&set_path(city), &[("field", "case_type"), ("value", "1")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("即办件的承诺时限应为 0"));
        assert_eq!(effective(qinghe).await["record"]["promised_limit"]["value"], 3);

        // A fee needs its basis; with one, every county shows it.
        let res = city_admin.form(&set_path(city), &[("field", "fee"), ("charged", "1"), ("amount", "工本费 10 元"), ("basis", "")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("收费事项须填写收费依据"));
        let res = city_admin.form(&set_path(city), &[("field", "fee"), ("charged", "1"), ("amount", "工本费 10 元"), ("basis", "静价费〔2026〕1号")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(effective(qinghe).await["record"]["fee"], json!({"amount": "工本费 10 元", "basis": "静价费〔2026〕1号"}));
        let guide = TestApp::client().get(app.url(&format!("/guide/990122/{FOOD}"))).send().await.unwrap().text().await.unwrap();
        assert!(guide.contains("工本费 10 元（依据：静价费〔2026〕1号）"));

        // Windows: boxes of the halls in the region; a county cannot pick the city hall's windows.
        let html = city_admin.get(&page(city)).await.text().await.unwrap();
        let windows: Vec<String> = html.split("name=\"windows\" value=\"").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect();
        assert!(windows.len() >= 10, "{windows:?}");
        let res = city_admin.form(&set_path(city), &[("field", "windows"), ("windows", &windows[0]), ("windows", &windows[2])]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let qh = effective(qinghe).await;
        assert_eq!(qh["origins"]["windows"]["value"], json!([windows[0], windows[2]]));
        assert_eq!(qh["origins"]["windows"]["origin"]["region"]["code"], "990100");
        let county = app.login("luoping.admin").await;
        let county_html = county.get(&page(luoping)).await.text().await.unwrap();
        let county_windows: Vec<String> = county_html.split("name=\"windows\" value=\"").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect();
        assert_eq!(county_windows.len(), 10, "only 罗平县's own hall");
        assert!(county_windows.iter().all(|w| !windows[..4].contains(w)));
        // Inherited windows are shown by name, with the hall.
        assert!(county_html.contains("久安市政务服务中心 · 1号"), "{county_html}");
        let res = county.form(&set_path(luoping), &[("field", "windows"), ("windows", &windows[0])]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("不属于本区划的大厅"));
        let res = county.form(&set_path(luoping), &[("field", "windows"), ("windows", &county_windows[1])]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(effective(luoping).await["origins"]["windows"]["value"], json!([county_windows[1]]));

        // The department: the county overrides it, sees 本级设置, resets it and inherits again.
        let res = city_admin.form(&set_path(city), &[("field", "department_name"), ("value", "久安市市场监督管理局食品经营许可科")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let qinghe_admin = app.login("qinghe.admin").await;
        let res = qinghe_admin.form(&set_path(qinghe), &[("field", "department_name"), ("value", "清河县市场监督管理局")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = qinghe_admin.get(&page(qinghe)).await.text().await.unwrap();
        let row = &html[html.find("id=\"f-department_name\"").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("本级设置") && row.contains("恢复继承"), "{row}");
        let res = qinghe_admin.form(&format!("/admin/catalogue/regions/{qinghe}/services/{food}/reset"), &[("field", "department_name")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let qh = effective(qinghe).await;
        assert_eq!(qh["record"]["department_name"], "久安市市场监督管理局食品经营许可科");
        assert_eq!(qh["origins"]["department_name"]["origin"]["region"]["code"], "990100");
        // A county cannot change the city's value or a sibling's.
        let res = county.form(&set_path(city), &[("field", "hours"), ("value", "x")]).await;
        assert!(matches!(res.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND));
        let res = county.form(&set_path(qinghe), &[("field", "hours"), ("value", "x")]).await;
        assert!(matches!(res.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND));
        // A field the base keeps cannot be overridden from a crafted form either.
        let res = city_admin.form(&set_path(city), &[("field", "legal_basis"), ("value", "x")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

// ---- search pages ----------------------------------------------------------------------------------

both_backends! {
    async fn guide_search_comes_in_pages_with_the_same_ranking(app: TestApp) {
        let anon = TestApp::client();
        let get = |q: &str| { let url = app.url(&format!("/api/v1/guides?region=990121{q}")); let anon = anon.clone(); async move { anon.get(url).send().await.unwrap() } };
        let all: Value = get("&q=dj&per_page=100").await.json().await.unwrap();
        let total = all["total"].as_u64().unwrap() as usize;
        assert!(total > 5, "{all}");
        let first: Value = get("&q=dj&per_page=5").await.json().await.unwrap();
        assert_eq!((first["page"].as_u64(), first["per_page"].as_u64(), first["total"].as_u64()), (Some(1), Some(5), Some(total as u64)));
        assert_eq!(first["pages"].as_u64().unwrap() as usize, total.div_ceil(5));
        // Pages laid end to end are the full ranking.
        let mut joined = Vec::new();
        for page in 1..=total.div_ceil(5) {
            let p: Value = get(&format!("&q=dj&per_page=5&page={page}")).await.json().await.unwrap();
            joined.extend(p["guides"].as_array().unwrap().iter().map(|g| g["base_code"].clone()));
        }
        let expected: Vec<Value> = all["guides"].as_array().unwrap().iter().map(|g| g["base_code"].clone()).collect();
        assert_eq!(joined, expected);
        // Default page size, a page past the end, and bad numbers.
        let d: Value = get("").await.json().await.unwrap();
        assert_eq!(d["per_page"], 20);
        assert_eq!(d["guides"].as_array().unwrap().len(), 20);
        let past: Value = get("&page=999").await.json().await.unwrap();
        assert_eq!(past["guides"], json!([]));
        assert!(past["total"].as_u64().unwrap() >= 40);
        for (q, code) in [("&page=0", "page_invalid"), ("&per_page=0", "per_page_invalid"), ("&per_page=101", "per_page_invalid"), ("&page=abc", "invalid_query"), ("&page=-1", "invalid_query")] {
            assert_eq!(error_code(get(q).await).await, (StatusCode::UNPROCESSABLE_ENTITY, code.into()), "{q}");
        }

        // The portal pages too, keeping the search in its links.
        let res = anon.get(app.url("/guide?region=990121&q=dj&per_page=5&page=2")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!("共找到 {total} 个事项")), "{html}");
        assert!(html.contains("aria-current=\"page\">2</a>"));
        assert!(html.contains("rel=\"prev\"") && html.contains("page=1"));
        assert!(html.contains("q=dj"));
        let res = anon.get(app.url("/guide?page=abc")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("invalid_query"));
        let long = "字".repeat(101);
        let res = anon.get(app.url(&format!("/guide?q={long}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
