//! E-certificates as people meet them: issued on conclusion, verified by anyone (API, page, QR
//! link, CLI offline and online), refused when altered or forged, still valid after a key
//! rotation; private keys never in clear in the database.
use crate::both_backends;
use crate::common::*;
use onestop_domain::ecert::Field;
use onestop_domain::ids::IdNumber;
use onestop_web::certs::{self, IssueInput};
use reqwest::StatusCode;
use serde_json::Value;

pub const HOLDER_ID: &str = "11010519491231002X";

pub fn input(region_id: i64, case_no: &str) -> IssueInput {
    IssueInput {
        region_id,
        authority: "罗平县政务服务中心".into(),
        document_type: "food_licence".into(),
        title: "食品经营许可证".into(),
        holder_name: "张三".into(),
        holder_id: IdNumber::parse(HOLDER_ID).unwrap(),
        fields: vec![
            Field {
                label: "经营场所".into(),
                value: "罗平县人民路 1 号".into(),
            },
            Field {
                label: "有效期至".into(),
                value: "2031年3月17日".into(),
            },
        ],
        case_no: case_no.into(),
    }
}

async fn api_verify(app: &TestApp, text: &str) -> Value {
    let res = TestApp::client()
        .post(app.url("/api/v1/certificates/verify"))
        .header("content-type", "application/json")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    match res.status() {
        StatusCode::OK => res.json().await.unwrap(),
        _ => {
            let (status, code) = error_code(res).await;
            serde_json::json!({"valid": false, "status": status.as_u16(), "code": code})
        }
    }
}

fn onestop_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_onestop"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("ONESTOP_CONFIG");
    cmd.output().unwrap()
}

both_backends! {
    async fn issue_verify_tamper_and_rotate(app: TestApp) {
        let sys = onestop_web::auth::system_principal("test");
        let region = app.region_id("990121").await;
        let cert = certs::issue(&app.state, &sys, input(region, "990121-20260318-00001")).await.unwrap();
        assert_eq!(cert.payload.number, "990121-2026-0000001");
        assert_eq!(cert.payload.holder.id_masked, "1101**********002X");
        assert_eq!(cert.key_id, "990121.k1");
        let file = cert.to_file_text();
        assert!(!file.contains(HOLDER_ID), "the full ID number is not on the certificate");

        let ok = api_verify(&app, &file).await;
        assert_eq!(ok["valid"], true, "{ok}");
        assert_eq!(ok["certificate"]["payload"]["holder"]["name"], "张三");

        // Altered: another holder's name.
        let bad = api_verify(&app, &file.replace("张三", "李四")).await;
        assert_eq!((bad["valid"].as_bool(), bad["code"].as_str()), (Some(false), Some("signature_invalid")));
        // Forged: a genuine signature taken from another certificate.
        let other = certs::issue(&app.state, &sys, input(region, "990121-20260318-00002")).await.unwrap();
        assert_eq!(other.payload.number, "990121-2026-0000002");
        let forged = file.replace(&cert.signature, &other.signature);
        assert_eq!(api_verify(&app, &forged).await["code"], "signature_invalid");
        // Not a certificate at all, and a key nobody published.
        let not_a_certificate = api_verify(&app, "hello").await;
        assert_eq!((not_a_certificate["status"].as_u64(), not_a_certificate["code"].as_str()), (Some(422), Some("certificate_malformed")));
        assert_eq!(api_verify(&app, &file.replace("990121.k1", "990121.k9")).await["code"], "key_unknown");

        // The keys are public.
        let keys: Value = TestApp::client().get(app.url("/api/v1/regions/990121/keys")).send().await.unwrap().json().await.unwrap();
        assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
        assert_eq!(keys["keys"][0]["status"], "current");

        // The private key is sealed in the database.
        let raw = app.db.raw().await;
        let sealed: String = sqlx::query_scalar("SELECT encrypted_private_key FROM region_signing_keys WHERE key_id = '990121.k1'")
            .fetch_one(&raw).await.unwrap();
        assert!(sealed.starts_with("v1."), "{sealed}");
        let holder_hash: String = sqlx::query_scalar("SELECT holder_hash FROM certificates WHERE number = '990121-2026-0000001'")
            .fetch_one(&raw).await.unwrap();
        assert!(!holder_hash.contains(HOLDER_ID));
        raw.close().await;

        // Rotation: only a region admin may; the old key stays published and old certificates verify.
        let clerk = app.token("luoping.clerk").await;
        assert_eq!(clerk.post("/api/v1/regions/990121/keys/rotate", &serde_json::json!({})).await.status(), StatusCode::FORBIDDEN);
        let admin = app.token("luoping.admin").await;
        app.clock.advance(jiff::SignedDuration::from_hours(1));
        let res = admin.post("/api/v1/regions/990121/keys/rotate", &serde_json::json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let keys: Value = res.json().await.unwrap();
        let list = keys["keys"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0]["key_id"].as_str(), list[0]["status"].as_str()), (Some("990121.k2"), Some("current")));
        assert_eq!((list[1]["key_id"].as_str(), list[1]["status"].as_str()), (Some("990121.k1"), Some("retired")));
        assert_eq!(api_verify(&app, &file).await["valid"], true, "an old certificate verifies after rotation");
        app.clock.advance(jiff::SignedDuration::from_mins(1));
        let newer = certs::issue(&app.state, &sys, input(region, "990121-20260318-00003")).await.unwrap();
        assert_eq!(newer.key_id, "990121.k2");
        assert_eq!(api_verify(&app, &newer.to_file_text()).await["valid"], true);

        // A document already issued to the same person is found without the number in clear.
        let id = IdNumber::parse(HOLDER_ID).unwrap();
        let reuse = certs::reusable_for(&app.state, &id, Some("food_licence")).await.unwrap();
        assert_eq!(reuse.len(), 3);
        assert_eq!(reuse[0].number, "990121-2026-0000003");

        // Revoked: fails online with the reason.
        let number = other.payload.number.clone();
        app.store.write(move |tx| Box::pin(async move {
            onestop_store::certs::revoke(tx, &number, "许可已注销", test_now()).await
        })).await.unwrap();
        let revoked = api_verify(&app, &other.to_file_text()).await;
        assert_eq!((revoked["valid"].as_bool(), revoked["code"].as_str()), (Some(false), Some("revoked")));
        assert!(revoked["message"].as_str().unwrap().contains("许可已注销"));

        // The public page: through the QR link, and by pasting.
        let page = TestApp::client().get(app.url(&format!("/verify?c={}", cert.to_link_param()))).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("data-code=\"valid\"") && html.contains("食品经营许可证") && html.contains("1101**********002X"));
        let page = TestApp::client().post(app.url("/verify")).form(&[("text", file.replace("张三", "李四"))]).send().await.unwrap();
        let html = page.text().await.unwrap();
        assert!(html.contains("data-code=\"signature_invalid\"") && html.contains("无效"), "{html}");
        let part = reqwest::multipart::Part::bytes(file.clone().into_bytes()).file_name("cert.json");
        let form = reqwest::multipart::Form::new().text("text", "").part("file", part);
        let html = TestApp::client().post(app.url("/verify")).multipart(form).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("data-code=\"valid\""), "{html}");
        let html = TestApp::client().get(app.url("/verify?c=%%%")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("data-code=\"malformed\""));

        // The printable rendering, for staff of the region, with a QR code of the signed payload.
        let s = app.login("luoping.clerk").await;
        let res = s.get("/certificates/990121-2026-0000001/print").await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("<svg") && html.contains("罗平县政务服务中心") && html.contains(&cert.to_link_param()));
        let elsewhere = app.login("qinghe.clerk").await;
        assert_eq!(elsewhere.get("/certificates/990121-2026-0000001/print").await.status(), StatusCode::NOT_FOUND);
        let anon = TestApp::client().get(app.url("/certificates/990121-2026-0000001/print")).send().await.unwrap();
        assert_eq!(anon.status(), StatusCode::SEE_OTHER);

        // `onestop verify`: offline against the published keys file, and against the database.
        let dir = TempDir::new("verify");
        let cert_file = dir.0.join("cert.json");
        let bad_file = dir.0.join("bad.json");
        let keys_file = dir.0.join("keys.json");
        std::fs::write(&cert_file, &file).unwrap();
        std::fs::write(&bad_file, file.replace("张三", "李四")).unwrap();
        std::fs::write(&keys_file, serde_json::to_string(&keys).unwrap()).unwrap();
        let (c, b, k) = (cert_file.to_str().unwrap(), bad_file.to_str().unwrap(), keys_file.to_str().unwrap());
        let out = onestop_cli(&["verify", c, "--keys", k], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stdout).contains("有效"));
        let out = onestop_cli(&["verify", b, "--keys", k], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stdout).contains("signature_invalid"));
        let db_env = [("ONESTOP_DATABASE__URL", app.db.url.as_str()), ("ONESTOP_AUDIT__HMAC_KEY", AUDIT_KEY)];
        assert_eq!(onestop_cli(&["verify", c], &db_env).status.code(), Some(0));
        assert_eq!(onestop_cli(&["verify", b], &db_env).status.code(), Some(1));
        assert_eq!(onestop_cli(&["verify", "/nonexistent.json", "--keys", k], &[]).status.code(), Some(2));
    }
}

both_backends! {
    async fn unknown_regions_have_no_keys_and_the_api_is_documented(app: TestApp) {
        let res = TestApp::client().get(app.url("/api/v1/regions/999999/keys")).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "not_found".into()));
        let doc: Value = TestApp::client().get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        for path in ["/api/v1/certificates/verify", "/api/v1/regions/{id}/keys", "/api/v1/regions/{id}/keys/rotate", "/api/v1/uploads"] {
            assert!(doc["paths"][path].is_object(), "{path} is not documented");
        }
    }
}
