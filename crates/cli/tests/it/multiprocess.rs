//! Several `onestop serve` processes on one PostgreSQL database: either answers any request,
//! because sessions, rate-limit counters and job leases live in the database.
use crate::common::*;
use crate::process::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_sessions_rate_limits_and_leases() {
    if std::env::var("ONESTOP_TEST_PG").is_err() {
        eprintln!("ONESTOP_TEST_PG is not set: the multi-process test needs PostgreSQL and was not run");
        return;
    }
    let dir = TempDir::new("multi");
    let db = seeded_db(Db::Postgres).await;
    let cp_a = dir.0.join("a.checkpoints");
    let cp_b = dir.0.join("b.checkpoints");
    let common = [("ONESTOP_SECURITY__LOGIN_LIMIT_PER_ACCOUNT", "4")];
    let env = |id: &'static str, cp: &std::path::Path| {
        let mut e: Vec<(&str, String)> = common.iter().map(|(k, v)| (*k, v.to_string())).collect();
        e.push(("ONESTOP_SERVER__INSTANCE_ID", id.into()));
        e.push(("ONESTOP_AUDIT__CHECKPOINT_FILE", cp.display().to_string()));
        e
    };
    let start = |id: &'static str, cp: &std::path::Path| {
        let e = env(id, cp);
        let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        serve(&dir, &db.url, &pairs)
    };
    let a = start("server-a", &cp_a);
    let b = start("server-b", &cp_b);
    assert_ne!(a.base, b.base);

    // A session made on A works on B (the cookie jar sends it to both: cookies ignore ports).
    let browser = client();
    let res = browser
        .post(a.url("/api/v1/session"))
        .json(&json!({"username": "jiuan.admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let session_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("onestop_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a session cookie");
    let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = browser.get(b.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "jiuan.admin");

    // A write on B with A's CSRF token, seen on A.
    let regions: Vec<Value> = browser
        .get(a.url("/api/v1/regions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let city = regions.iter().find(|r| r["code"] == "990100").unwrap()["id"].clone();
    let res = browser
        .post(b.url("/api/v1/regions"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"code": "990124", "name": "新区", "parent_id": city}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].clone();
    let seen = browser
        .get(a.url(&format!("/api/v1/regions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.status(), StatusCode::OK);
    assert_eq!(seen.json::<Value>().await.unwrap()["name"], "新区");

    // Logging out on B ends the session on A.
    let replay = |base: String| {
        let cookie = session_cookie.clone();
        async move {
            let res = reqwest::Client::new()
                .get(format!("{base}/api/v1/me"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            res.status()
        }
    };
    assert_eq!(replay(a.base.clone()).await, StatusCode::OK);
    let res = browser
        .delete(b.url("/api/v1/session"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The old cookie value, replayed on A, is refused: the session is gone from the database.
    assert_eq!(replay(a.base.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.get(a.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // Failed logins on A and B add up to one account limit (4).
    let attempt = |base: String, password: &'static str| {
        let c = client();
        async move {
            c.post(format!("{base}/api/v1/session"))
                .json(&json!({"username": "luoping.clerk", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for server in [&a, &b, &a, &b] {
        assert_eq!(
            attempt(server.base.clone(), "wrong-password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    for server in [&a, &b] {
        assert_eq!(
            attempt(server.base.clone(), PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
            "the limit is shared, even for the right password"
        );
    }
    // Another account is not affected.
    let other = client()
        .post(b.url("/api/v1/session"))
        .json(&json!({"username": "qinghe.clerk", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);

    // One lease for the checkpoint job, held by one of the two; only the holder wrote checkpoints.
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let holders: Vec<String> = loop {
        let h: Vec<String> = sqlx::query_scalar("SELECT holder FROM leases WHERE name = 'audit-checkpoint'")
            .fetch_all(&pool)
            .await
            .unwrap();
        if !h.is_empty() && (cp_a.exists() || cp_b.exists()) || Instant::now() > deadline {
            break h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(holders.len(), 1, "{holders:?}");
    let (holder_file, other_file) = match holders[0].as_str() {
        "server-a" => (&cp_a, &cp_b),
        "server-b" => (&cp_b, &cp_a),
        h => panic!("unexpected holder {h}"),
    };
    assert!(holder_file.exists(), "the holder writes checkpoints");
    assert!(!other_file.exists(), "the other process does not");
    pool.close().await;
    drop((a, b));
}
