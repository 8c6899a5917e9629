//! Uploading material files: stored once under their SHA-256 where every process sees them,
//! limited in size, and typed by their bytes.
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;

fn pdf(n: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend(std::iter::repeat_n(b'a', n));
    v
}

async fn upload(app: &TestApp, bytes: Vec<u8>, name: &str) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    TestApp::client()
        .post(app.url("/api/v1/uploads"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

both_backends! {
    async fn uploads_are_content_addressed_limited_and_typed(app: TestApp) {
        let bytes = pdf(1000);
        let res = upload(&app, bytes.clone(), "营业执照.pdf").await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        let sha = sha256_hex(&bytes);
        assert_eq!(body["sha256"], sha);
        assert_eq!(body["mime"], "application/pdf");
        assert_eq!(body["size"], bytes.len());
        assert_eq!(body["original_name"], "营业执照.pdf");
        let path = onestop_web::uploads::blob_path(&app.blobs.0, &sha);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        // The same bytes again: a new upload row, the same single file.
        let again: Value = upload(&app, bytes.clone(), "copy.pdf").await.json().await.unwrap();
        assert_eq!(again["sha256"], sha);
        assert_ne!(again["id"], body["id"]);

        // A PNG named .pdf is a PNG; an executable named .pdf is refused.
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        let res: Value = upload(&app, png, "photo.pdf").await.json().await.unwrap();
        assert_eq!(res["mime"], "image/png");
        let res = upload(&app, b"MZ\x90\0\x03\0\0\0\x04\0\0\0".to_vec(), "form.pdf").await;
        assert_eq!(error_code(res).await, (StatusCode::UNSUPPORTED_MEDIA_TYPE, "upload_type_invalid".into()));

        // Too large (the test app allows 256 KiB), and nothing is left behind.
        let res = upload(&app, pdf(300 * 1024), "big.pdf").await;
        assert_eq!(error_code(res).await, (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into()));
        let leftovers = std::fs::read_dir(app.blobs.0.join("tmp")).unwrap().count();
        assert_eq!(leftovers, 0, "partial files are removed");

        // No file, or not multipart.
        let res = TestApp::client().post(app.url("/api/v1/uploads"))
            .multipart(reqwest::multipart::Form::new().text("note", "x")).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNPROCESSABLE_ENTITY, "upload_missing".into()));
        let res = TestApp::client().post(app.url("/api/v1/uploads")).json(&serde_json::json!({})).send().await.unwrap();
        assert_eq!(error_code(res).await, (StatusCode::UNSUPPORTED_MEDIA_TYPE, "multipart_expected".into()));

        // A staff upload is recorded under the account.
        let clerk = app.token("luoping.clerk").await;
        let part = reqwest::multipart::Part::bytes(pdf(10)).file_name("a.pdf");
        let res = clerk.client.post(app.url("/api/v1/uploads")).bearer_auth(&clerk.token)
            .multipart(reqwest::multipart::Form::new().part("file", part)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let u = onestop_store::uploads::get(app.store.read(), id).await.unwrap();
        assert!(u.uploaded_by.starts_with("luoping.clerk"));
    }
}
