//! The `onestop` binary as an operator meets it: migrate, user management, start-up checks,
//! configuration layers, audit verification and graceful shutdown, over real processes and sockets.
use crate::both_dbs;
use crate::common::*;
use crate::process::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn login(base: &str, username: &str, password: &str) -> (reqwest::Client, StatusCode, Value) {
    let c = client();
    let res = c
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.json().await.unwrap_or(Value::Null);
    (c, status, body)
}

fn line_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.trim()))
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
}

async fn exec(db_url: &str, sql: &str) {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(db_url)
        .await
        .unwrap();
    pool.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.unwrap();
    pool.close().await;
}

both_dbs! {
    async fn migrate_from_empty_then_again_is_a_no_op(kind: Db) {
        let dir = TempDir::new("cli");
        let db = EmptyDb::new(kind).await;
        let first = cli(&dir, &db.url, &["migrate"], None);
        assert!(first.ok, "{first:?}");
        let known = onestop_store::migrate::known_version();
        assert!(first.stdout.contains(&format!("Migrated from version 0 to {known}")), "{first:?}");
        let again = cli(&dir, &db.url, &["migrate"], None);
        assert!(again.ok, "{again:?}");
        assert!(again.stdout.contains(&format!("Database is up to date (schema version {known})")), "{again:?}");
    }
}

both_dbs! {
    async fn user_add_list_disable_reset_over_a_running_server(kind: Db) {
        let dir = TempDir::new("cli");
        let db = seeded_db(kind).await;
        let server = serve(&dir, &db.url, &[]);

        // add: the printed password logs in over HTTP.
        let added = cli(&dir, &db.url, &["user", "add", "--username", "zhangsan", "--name", "张三", "--role", "region_admin", "--region", "990121"], None);
        assert!(added.ok, "{added:?}");
        let password = line_after(&added.stdout, "Initial password (shown once):").to_owned();
        assert!(password.len() >= 12, "{password}");
        let (x, status, body) = login(&server.base, "zhangsan", &password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let me: Value = x.get(server.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["display_name"], "张三");
        assert_eq!(me["grants"][0]["role"], "region_admin");
        assert_eq!(me["grants"][0]["region_code"], "990121");

        // list, scoped to a region's subtree.
        let listed = cli(&dir, &db.url, &["user", "list", "--region", "990121"], None);
        assert!(listed.ok, "{listed:?}");
        let names: Vec<&str> = listed.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
        assert!(names.contains(&"zhangsan") && names.contains(&"luoping.clerk"), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with("qinghe.") || n.starts_with("jiuan.")), "{names:?}");

        // disable ends a live session at once; enable lets the user log in again.
        let (clerk, status, _) = login(&server.base, "luoping.clerk", PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(clerk.get(server.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK);
        let disabled = cli(&dir, &db.url, &["user", "disable", "luoping.clerk"], None);
        assert!(disabled.ok, "{disabled:?}");
        assert_eq!(clerk.get(server.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let (_, status, body) = login(&server.base, "luoping.clerk", PASSWORD).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("account_disabled")));
        let listed = cli(&dir, &db.url, &["user", "list", "--region", "990121"], None);
        let row = listed.stdout.lines().find(|l| l.starts_with("luoping.clerk ")).unwrap().to_owned();
        assert!(row.contains("disabled"), "{row}");
        assert!(cli(&dir, &db.url, &["user", "enable", "luoping.clerk"], None).ok);
        assert_eq!(login(&server.base, "luoping.clerk", PASSWORD).await.1, StatusCode::OK);

        // reset-password from stdin: the new one works, the old one and old sessions do not.
        let reset = cli(&dir, &db.url, &["user", "reset-password", "zhangsan", "--password-stdin"], Some("a-new-password-42\n"));
        assert!(reset.ok, "{reset:?}");
        assert!(!reset.stdout.contains("a-new-password-42"), "the password is not echoed: {reset:?}");
        assert_eq!(x.get(server.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(login(&server.base, "zhangsan", &password).await.1, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&server.base, "zhangsan", "a-new-password-42").await.1, StatusCode::OK);

        // Bad input: non-zero exit, a message that says what is wrong, nothing created.
        let add = |user: &str, role: &str, region: &str| {
            cli(&dir, &db.url, &["user", "add", "--username", user, "--name", "李四", "--role", role, "--region", region], None)
        };
        let cases = [
            (add("lisi", "region_admin", "990999"), "no region with code 990999"),
            (add("lisi", "emperor", "990121"), "role_invalid"),
            (add("zhangsan", "region_admin", "990121"), "duplicate_username"),
            (add("lisi", "region_admin", "99012x"), "no region with code 99012x"),
        ];
        for (ran, expected) in cases {
            assert!(!ran.ok && ran.code == Some(1), "{ran:?}");
            assert!(ran.stderr.contains("error:") && ran.stderr.contains(expected), "{expected}: {ran:?}");
        }
        let unknown = cli(&dir, &db.url, &["user", "disable", "nobody"], None);
        assert!(!unknown.ok && unknown.stderr.contains("no such user: nobody"), "{unknown:?}");
        let listed = cli(&dir, &db.url, &["user", "list"], None);
        assert!(!listed.stdout.lines().any(|l| l.starts_with("lisi ")), "{listed:?}");
        drop(server);
    }
}

both_dbs! {
    async fn serve_refuses_a_newer_schema_and_an_unmigrated_database(kind: Db) {
        let dir = TempDir::new("cli");
        // A database migrated by a newer onestop.
        let db = TestDb::new(kind).await;
        assert!(cli(&dir, &db.url, &["migrate"], None).ok);
        exec(&db.url, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)").await;
        let mut cmd = onestop(&dir, &["serve", "--listen", "127.0.0.1:0", "--database", &db.url]);
        cmd.env("ONESTOP_AUDIT__HMAC_KEY", AUDIT_KEY);
        let ran = run(cmd, None);
        assert!(!ran.ok, "{ran:?}");
        assert!(ran.stderr.contains("version 999") && ran.stderr.contains("newer than this onestop knows"), "{ran:?}");
        assert!(!ran.stdout.contains("listening"), "{ran:?}");
        let migrate = cli(&dir, &db.url, &["migrate"], None);
        assert!(!migrate.ok && migrate.stderr.contains("newer than this onestop knows"), "{migrate:?}");

        // An empty database with migrate_on_start off.
        let empty = EmptyDb::new(kind).await;
        let mut cmd = onestop(&dir, &["serve", "--listen", "127.0.0.1:0", "--database", &empty.url]);
        cmd.env("ONESTOP_AUDIT__HMAC_KEY", AUDIT_KEY).env("ONESTOP_DATABASE__MIGRATE_ON_START", "false");
        let ran = run(cmd, None);
        assert!(!ran.ok, "{ran:?}");
        assert!(ran.stderr.contains("run `onestop migrate`"), "{ran:?}");
    }
}

#[test]
fn config_show_masks_secrets() {
    let dir = TempDir::new("cfg");
    let mut cmd = onestop(
        &dir,
        &[
            "config",
            "show",
            "--database",
            "postgres://onestop:hunter2-db-pass@db.example:5432/onestop",
        ],
    );
    cmd.env("ONESTOP_AUDIT__HMAC_KEY", "very-secret-hmac-key-0123456789")
        .env("ONESTOP_SERVER__BODY_LIMIT", "2048");
    let ran = run(cmd, None);
    assert!(ran.ok, "{ran:?}");
    assert!(!ran.all().contains("hunter2-db-pass"), "{ran:?}");
    assert!(!ran.all().contains("very-secret-hmac-key"), "{ran:?}");
    assert!(
        ran.stdout.contains("db.example"),
        "the rest of the URL is shown: {ran:?}"
    );
    assert!(ran.stdout.contains("hmac_key = \"***\""), "{ran:?}");
    assert!(ran.stdout.contains("body_limit = 2048"), "{ran:?}");
}

#[test]
fn unknown_keys_in_the_file_are_errors_and_in_the_environment_warnings() {
    let dir = TempDir::new("cfg");
    let file = dir.0.join("onestop.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:0\"\nlisen = \"oops\"\n[databse]\nurl = \"x\"\n",
    )
    .unwrap();
    let ran = run(
        onestop(&dir, &["--config", file.to_str().unwrap(), "config", "show"]),
        None,
    );
    assert!(!ran.ok, "{ran:?}");
    assert!(
        ran.stderr.contains("server.lisen") && ran.stderr.contains("databse"),
        "{ran:?}"
    );

    let mut cmd = onestop(&dir, &["config", "show"]);
    cmd.env("ONESTOP_SERVER__LISEN", "127.0.0.1:1");
    let ran = run(cmd, None);
    assert!(ran.ok, "a typo in the shared environment is not fatal: {ran:?}");
    assert!(ran.stderr.contains("ONESTOP_SERVER__LISEN"), "{ran:?}");
    assert!(ran.stdout.contains("listen = \"127.0.0.1:8080\""), "{ran:?}");

    // The file also arrives through ONESTOP_CONFIG, and flags beat it.
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:9001\"\nbody_limit = 4096\n").unwrap();
    let mut cmd = onestop(&dir, &["config", "show"]);
    cmd.env("ONESTOP_CONFIG", &file)
        .env("ONESTOP_SERVER__BODY_LIMIT", "8192");
    let ran = run(cmd, None);
    assert!(
        ran.stdout.contains("listen = \"127.0.0.1:9001\"") && ran.stdout.contains("body_limit = 8192"),
        "{ran:?}"
    );
}

both_dbs! {
    async fn serve_with_a_file_secret_stops_gracefully_on_sigterm(kind: Db) {
        let dir = TempDir::new("cli");
        let db = TestDb::new(kind).await;
        let key_file = dir.0.join("audit.key");
        std::fs::write(&key_file, format!("{AUDIT_KEY}\n")).unwrap();
        let mut cmd = onestop(&dir, &["serve", "--listen", "127.0.0.1:0", "--database", &db.url]);
        cmd.env("ONESTOP_AUDIT__HMAC_KEY_FILE", &key_file).env("ONESTOP_SERVER__SHUTDOWN_GRACE_SECS", "5");
        let mut server = Server::start(cmd);
        let c = client();
        assert_eq!(c.get(server.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
        // An idle keep-alive connection must not hold the shutdown up.
        assert_eq!(c.get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
        let code = server.signal_and_wait("TERM", Duration::from_secs(5));
        assert_eq!(code, Some(0), "stdout:\n{}\nstderr:\n{}", server.stdout(), server.stderr());
        assert!(!server.stderr().contains(AUDIT_KEY), "the key never reaches the log");
    }
}

both_dbs! {
    async fn demo_reuses_an_existing_database(kind: Db) {
        let dir = TempDir::new("demo");
        let db = TestDb::new(kind).await;
        let demo = |dir: &TempDir| {
            Server::start(onestop(dir, &["demo", "--listen", "127.0.0.1:0", "--database", &db.url, "--no-simulate"]))
        };
        let mut first = demo(&dir);
        assert!(first.stdout().contains("seeded now"), "{}", first.stdout());
        assert!(first.stdout().contains("luoping.clerk"), "the logins are printed: {}", first.stdout());
        let (_, status, _) = login(&first.base, "luoping.clerk", PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(first.signal_and_wait("TERM", Duration::from_secs(10)), Some(0));

        let second = demo(&dir);
        assert!(second.stdout().contains("existing demo world reused"), "{}", second.stdout());
        assert!(!second.stderr().contains("seeding"), "{}", second.stderr());
        let (c, status, _) = login(&second.base, "jiuan.admin", PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        let regions: Vec<Value> = c.get(second.url("/api/v1/regions")).send().await.unwrap().json().await.unwrap();
        let luoping = regions.iter().filter(|r| r["code"] == "990121").count();
        assert_eq!(luoping, 1, "not seeded twice");
    }
}

both_dbs! {
    async fn audit_verify_detects_edits_truncation_and_forged_checkpoints(kind: Db) {
        let dir = TempDir::new("audit");
        let db = seeded_db(kind).await;
        let cp_file = dir.0.join("checkpoints.jsonl");
        let audit = |args: &[&str]| {
            let mut all = vec!["--database", db.url.as_str(), "audit"];
            all.extend_from_slice(args);
            let mut cmd = onestop(&dir, &all);
            cmd.env("ONESTOP_AUDIT__HMAC_KEY", AUDIT_KEY).env("ONESTOP_AUDIT__CHECKPOINT_FILE", &cp_file);
            run(cmd, None)
        };
        // Some more writes through the CLI, then a checkpoint.
        assert!(cli(&dir, &db.url, &["user", "add", "--username", "wangyi", "--name", "王一", "--role", "auditor", "--region", "990121"], None).ok);
        assert!(cli(&dir, &db.url, &["user", "disable", "wangyi"], None).ok);
        let cp = audit(&["checkpoint"]);
        assert!(cp.ok, "{cp:?}");
        let ok = audit(&["verify"]);
        assert!(ok.ok && ok.stdout.contains("Audit trail OK"), "{ok:?}");

        // The chain of 罗平县 (990121) and its last entry.
        let pool = {
            sqlx::any::install_default_drivers();
            sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&db.url).await.unwrap()
        };
        let region: i64 = sqlx::query_scalar("SELECT id FROM regions WHERE code = '990121'").fetch_one(&pool).await.unwrap();
        let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE region_id = $1")
            .bind(region).fetch_one(&pool).await.unwrap();
        assert!(last >= 3, "the chain has a history");

        // An edited entry is named.
        let target = last - 1;
        let actor: String = sqlx::query_scalar("SELECT actor FROM audit_log WHERE region_id = $1 AND seq = $2")
            .bind(region).bind(target).fetch_one(&pool).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE region_id = $1 AND seq = $2")
            .bind(region).bind(target).execute(&pool).await.unwrap();
        let edited = audit(&["verify"]);
        assert!(!edited.ok, "{edited:?}");
        assert!(edited.stdout.contains(&format!("chain {region}: entry {target} does not match")), "{edited:?}");
        sqlx::query("UPDATE audit_log SET actor = $3 WHERE region_id = $1 AND seq = $2")
            .bind(region).bind(target).bind(actor).execute(&pool).await.unwrap();

        // Restore the entry exactly, and the trail verifies again.
        let restored = audit(&["verify"]);
        assert!(restored.ok, "restored: {restored:?}");

        // Truncation: drop the last two entries and make audit_heads agree with what is left.
        sqlx::query("DELETE FROM audit_log WHERE region_id = $1 AND seq > $2").bind(region).bind(last - 2).execute(&pool).await.unwrap();
        sqlx::query("UPDATE audit_heads SET seq = $2, head = (SELECT mac FROM audit_log WHERE region_id = $1 AND seq = $2) WHERE region_id = $1")
            .bind(region).bind(last - 2).execute(&pool).await.unwrap();
        pool.close().await;
        let truncated = audit(&["verify"]);
        assert!(!truncated.ok, "{truncated:?}");
        assert!(truncated.stdout.contains(&format!("chain {region}")) && truncated.all().contains("truncated"), "{truncated:?}");

        // A forged checkpoint (heads rewritten to match the truncated chains, MAC kept) is rejected.
        let text = std::fs::read_to_string(&cp_file).unwrap();
        let mut cp: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        for c in cp["chains"].as_array_mut().unwrap() {
            if c["region_id"] == json!(region) {
                c["seq"] = json!(last - 2);
            }
        }
        std::fs::write(&cp_file, format!("{text}{cp}\n")).unwrap();
        let forged = audit(&["verify"]);
        assert!(!forged.ok, "{forged:?}");
        assert!(forged.stderr.contains("not signed with this key"), "{forged:?}");
    }
}
