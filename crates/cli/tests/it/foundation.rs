//! Foundation behaviour as users meet it: logging in, the region tree, bad input.
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends! {
    async fn login_logout_and_wrong_password(app: TestApp) {
        let s = app.login("luoping.clerk").await;
        let me: Value = s.get("/api/v1/me").await.json().await.unwrap();
        assert_eq!(me["username"], "luoping.clerk");
        assert_eq!(me["grants"][0]["region_code"], "990121");

        let bad = TestApp::client()
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": "luoping.clerk", "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(bad).await, (StatusCode::UNAUTHORIZED, "login_failed".into()));

        let res = s.client.delete(app.url("/api/v1/session")).header("x-csrf-token", &s.csrf).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let after = s.get("/api/v1/me").await;
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    }
}

both_backends! {
    async fn region_admin_creates_renames_moves_and_closes(app: TestApp) {
        let admin = app.token("jiuan.admin").await;
        let city = app.region_id("990100").await;
        let res = admin.post("/api/v1/regions", &json!({"code": "990124", "name": "新区", "parent_id": city})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = res.json().await.unwrap();
        let id = created["id"].as_i64().unwrap();
        assert_eq!(created["level"], "county");

        let res = admin.patch(&format!("/api/v1/regions/{id}"), &json!({"name": "新城区"})).await;
        assert_eq!(res.status(), StatusCode::OK);

        // A township under the new district, then the district cannot move under its own child.
        let res = admin.post("/api/v1/regions", &json!({"code": "990124001", "name": "一街道", "parent_id": id})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let town: Value = res.json().await.unwrap();
        let res = admin.post(&format!("/api/v1/regions/{id}/move"), &json!({"parent_id": town["id"]})).await;
        assert_eq!(error_code(res).await.1, "move_into_own_subtree");

        // Closing with an open child is refused; close the child first.
        let res = admin.post(&format!("/api/v1/regions/{id}/close"), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::CONFLICT, "region_has_open_children".into()));
        let res = admin.post(&format!("/api/v1/regions/{}/close", town["id"]), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = admin.post(&format!("/api/v1/regions/{id}/close"), &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let closed: Value = res.json().await.unwrap();
        assert_eq!(closed["closed"], true);
    }
}

both_backends! {
    async fn bad_input_gets_stable_codes_and_changes_nothing(app: TestApp) {
        let admin = app.token("jiuan.admin").await;
        let city = app.region_id("990100").await;
        let before: Vec<Value> = admin.get("/api/v1/regions").await.json().await.unwrap();

        let cases: Vec<(Value, StatusCode, &str)> = vec![
            (json!({"code": "99012", "name": "x", "parent_id": city}), StatusCode::UNPROCESSABLE_ENTITY, "region_code_invalid"),
            (json!({"code": "990121", "name": "重复", "parent_id": city}), StatusCode::CONFLICT, "duplicate_code"),
            (json!({"code": "990125", "name": "罗平县", "parent_id": city}), StatusCode::CONFLICT, "duplicate_name"),
            (json!({"code": "990125", "name": "  ", "parent_id": city}), StatusCode::UNPROCESSABLE_ENTITY, "name_required"),
            (json!({"code": "990125", "name": "x", "parent_id": city, "extra": 1}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            (json!({"code": 990125, "name": "x", "parent_id": city}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            (json!({"code": "990125", "name": "x", "parent_id": 999_999}), StatusCode::NOT_FOUND, "not_found"),
            (json!({"code": "990200", "name": "市", "parent_id": city}), StatusCode::UNPROCESSABLE_ENTITY, "region_level_invalid"),
        ];
        for (body, status, code) in cases {
            let res = admin.post("/api/v1/regions", &body).await;
            assert_eq!(error_code(res).await, (status, code.to_owned()), "for {body}");
        }
        let malformed = admin
            .client
            .post(app.url("/api/v1/regions"))
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body("{\"code\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(malformed).await, (StatusCode::BAD_REQUEST, "malformed_json".into()));
        let huge = admin
            .client
            .post(app.url("/api/v1/regions"))
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body(format!("{{\"code\":\"{}\"}}", "9".repeat(2 * 1024 * 1024)))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(huge).await, (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into()));

        let after: Vec<Value> = admin.get("/api/v1/regions").await.json().await.unwrap();
        assert_eq!(before, after, "nothing changed");
    }
}

both_backends! {
    async fn audit_chain_verifies_and_detects_tampering(app: TestApp) {
        let admin = app.token("jiuan.admin").await;
        let id = app.region_id("990121").await;
        let res = admin.patch(&format!("/api/v1/regions/{id}"), &json!({"name": "罗平县（改）"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let checkpoint = app.store.audit_checkpoint(test_now()).await.unwrap();
        let ok = app.store.audit_verify(Some(&checkpoint)).await.unwrap();
        assert!(ok.faults.is_empty(), "{:?}", ok.faults);
        assert!(ok.entries > 50);

        // Someone with database access edits an entry: verification names that entry.
        let raw = app.db.raw().await;
        sqlx::query("UPDATE audit_log SET actor = 'nobody' WHERE region_id = $1 AND seq = 2")
            .bind(id)
            .execute(&raw)
            .await
            .unwrap();
        let report = app.store.audit_verify(Some(&checkpoint)).await.unwrap();
        assert_eq!(report.faults, vec![onestop_domain::audit::ChainFault::BadMac { region_id: id, seq: 2 }]);

        // Deleting the newest entry (and winding back the head) is caught by the checkpoint.
        sqlx::query("UPDATE audit_log SET actor = (SELECT actor FROM audit_log WHERE region_id = $1 AND seq = 1) WHERE region_id = $1 AND seq = 2")
            .bind(id)
            .execute(&raw)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE region_id = $1").bind(id).fetch_one(&raw).await.unwrap();
        sqlx::query("DELETE FROM audit_log WHERE region_id = $1 AND seq = $2").bind(id).bind(n).execute(&raw).await.unwrap();
        sqlx::query("UPDATE audit_heads SET seq = seq - 1 WHERE region_id = $1").bind(id).execute(&raw).await.unwrap();
        let report = app.store.audit_verify(Some(&checkpoint)).await.unwrap();
        assert!(!report.faults.is_empty(), "a truncated chain must not verify");
    }
}

/// A PostgreSQL server that requires TLS is reached with `sslmode=require` in the URL: the
/// store's connections are then encrypted (the local test server has `ssl = on`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_with_sslmode_require() {
    if std::env::var("ONESTOP_TEST_PG").is_err() {
        eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL variant not run");
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let key = onestop_domain::audit::AuditKey::new(AUDIT_KEY.as_bytes().to_vec()).unwrap();
    let url = format!("{}?sslmode=require", db.url);
    let store = onestop_store::Store::open(&onestop_store::StoreOptions::new(url), key)
        .await
        .unwrap();
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.read())
        .await
        .unwrap();
    assert!(ssl, "the connection is not encrypted");
    store.close().await;
}
