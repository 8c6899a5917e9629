//! Test harness: spawns the application in-process on port 0 over a fresh database (SQLite
//! file, or a PostgreSQL database cloned from a migrated template), seeded with the demo world.
#![allow(dead_code)] // a toolbox: not every test module uses every helper
use onestop_domain::audit::AuditKey;
use onestop_domain::clock::ManualClock;
use onestop_store::{Backend, Store, StoreOptions};
use onestop_web::{AppState, WebSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

pub const PASSWORD: &str = onestop_web::demo::DEMO_PASSWORD;
pub const AUDIT_KEY: &str = "integration-test-audit-key-0123456789";
/// The data key of every test app (32 bytes, hex).
pub const DATA_KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";

/// Runs a test body on SQLite (`sqlite`) and on PostgreSQL (`postgres`).
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: $crate::common::TestApp) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::common::TestApp::spawn($crate::common::Db::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if std::env::var("ONESTOP_TEST_PG").is_err() {
                    eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL variant not run");
                    return;
                }
                run($crate::common::TestApp::spawn($crate::common::Db::Postgres).await).await;
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n: u64 = rand::random();
        let p = std::env::temp_dir().join(format!("onestop-{tag}-{}-{n:x}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<TempDir>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside the test's runtime: use a small one of our own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(async {
                        use sqlx::Executor;
                        let mut admin = pg_admin().await;
                        let _ = admin
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .await;
                    });
                }
            })
            .join();
        }
    }
}

static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

fn pg_base() -> String {
    std::env::var("ONESTOP_TEST_PG").expect("ONESTOP_TEST_PG")
}

pub fn pg_url_for(db: &str) -> String {
    let base = pg_base();
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    match base[scheme_end..].find('/') {
        Some(i) => format!("{}/{db}", &base[..scheme_end + i]),
        None => format!("{base}/{db}"),
    }
}

async fn pg_admin() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&pg_base())
        .await
        .expect("ONESTOP_TEST_PG is set but PostgreSQL cannot be reached")
}

/// Migrates one template database per test run; each test clones it.
async fn pg_template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            use sqlx::Executor;
            let name = format!("onestop_tpl_{}_{:x}", std::process::id(), rand::random::<u32>());
            let mut admin = pg_admin().await;
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            let key = AuditKey::new(AUDIT_KEY.as_bytes().to_vec()).unwrap();
            let store = Store::open(&StoreOptions::new(pg_url_for(&name)), key).await.unwrap();
            store.migrate().await.unwrap();
            store.close().await;
            name
        })
        .await
        .clone()
}

impl TestDb {
    pub async fn new(db: Db) -> Self {
        match db {
            Db::Sqlite => {
                let dir = TempDir::new("db");
                let url = format!("sqlite://{}/test.db", dir.0.display());
                TestDb {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Db::Postgres => {
                use sqlx::Executor;
                let template = pg_template().await;
                let name = format!("onestop_t_{:x}", rand::random::<u64>());
                let mut admin = pg_admin().await;
                let mut tries = 0;
                loop {
                    let r = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "CREATE DATABASE {name} TEMPLATE {template}"
                        )))
                        .await;
                    match r {
                        Ok(_) => break,
                        // Another clone of the template may be starting at the same moment.
                        Err(e) if tries < 100 && e.to_string().contains("being accessed") => {
                            tries += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                        Err(e) => panic!("cannot create test database: {e}"),
                    }
                }
                TestDb {
                    url: pg_url_for(&name),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// A database with nothing in it, not even the schema (a restore target).
    pub async fn empty(db: Db) -> Self {
        match db {
            Db::Sqlite => {
                let dir = TempDir::new("empty");
                TestDb {
                    url: format!("sqlite://{}/restored.db", dir.0.display()),
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Db::Postgres => {
                use sqlx::Executor;
                let name = format!("onestop_e_{:x}", rand::random::<u64>());
                let mut admin = pg_admin().await;
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .unwrap();
                TestDb {
                    url: pg_url_for(&name),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// A plain connection pool that can write anything (to play someone with database access).
    pub async fn raw(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .unwrap()
    }
}

/// The application under test, served on 127.0.0.1 with a random port.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub db: TestDb,
    pub kind: Db,
    /// The app's blob directory (uploads), removed with the app.
    pub blobs: TempDir,
}

/// 2026-03-18 09:30 Asia/Shanghai: a Wednesday morning.
pub fn test_now() -> jiff::Timestamp {
    "2026-03-18T01:30:00Z".parse().unwrap()
}

impl TestApp {
    /// A migrated database with the demo world seeded.
    pub async fn spawn(db: Db) -> Self {
        Self::spawn_with(db, WebSettings::default()).await
    }

    pub async fn spawn_with(db: Db, settings: WebSettings) -> Self {
        let tdb = TestDb::new(db).await;
        let key = AuditKey::new(AUDIT_KEY.as_bytes().to_vec()).unwrap();
        let store = Store::open(&StoreOptions::new(&tdb.url), key).await.unwrap();
        store.migrate().await.unwrap();
        let clock = Arc::new(ManualClock::new(test_now()));
        let blobs = TempDir::new("blobs");
        let infra = onestop_web::Infra {
            data_keys: Some(Arc::new(
                onestop_web::crypto::DataKeys::from_text(DATA_KEY, &[]).unwrap(),
            )),
            blob_dir: blobs.0.clone(),
            max_upload_bytes: 256 * 1024,
            ..Default::default()
        };
        let state = AppState::new(store.clone(), clock.clone(), settings).with_infra(infra);
        onestop_web::demo::seed(&state, |_| {}).await.unwrap();
        let router = onestop_web::router(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        TestApp {
            base: format!("http://{addr}"),
            state,
            store: store.clone(),
            clock,
            db: tdb,
            kind: db,
            blobs,
        }
    }

    /// A second application instance on an existing (already seeded) database: another
    /// `serve` process sharing it.
    pub async fn spawn_on(url: &str) -> SecondApp {
        let key = AuditKey::new(AUDIT_KEY.as_bytes().to_vec()).unwrap();
        let store = Store::open(&StoreOptions::new(url), key).await.unwrap();
        let state = AppState::new(
            store.clone(),
            Arc::new(ManualClock::new(test_now())),
            WebSettings::default(),
        );
        let router = onestop_web::router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        SecondApp {
            base: format!("http://{addr}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// A browser-like client (cookie jar, no redirects followed).
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Logs in over the JSON API; returns a session carrying its CSRF token.
    pub async fn login(&self, username: &str) -> Session {
        let client = Self::client();
        let res = client
            .post(self.url("/api/v1/session"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login of {username} failed");
        let body: Value = res.json().await.unwrap();
        Session {
            client,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            base: self.base.clone(),
        }
    }

    /// An API token holding all of `username`'s grants.
    pub async fn token(&self, username: &str) -> Bearer {
        let s = self.login(username).await;
        let me: Value = s.get("/api/v1/me").await.json().await.unwrap();
        let grants: Vec<Value> = me["grants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| json!({"role": g["role"], "region_id": g["region_id"]}))
            .collect();
        let res = s
            .post("/api/v1/tokens", &json!({"name": "test", "grants": grants}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        Bearer {
            token: body["secret"].as_str().unwrap().to_owned(),
            base: self.base.clone(),
            client: Self::client(),
        }
    }

    pub async fn region_id(&self, code: &str) -> i64 {
        onestop_store::regions::get_by_code(self.store.read(), code)
            .await
            .unwrap()
            .id
    }
}

/// Another app instance on the same database.
pub struct SecondApp {
    pub base: String,
}

impl SecondApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A logged-in browser session.
pub struct Session {
    pub client: reqwest::Client,
    pub csrf: String,
    pub base: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .await
            .unwrap()
    }
    pub async fn patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .await
            .unwrap()
    }
    /// Posts an HTML form, adding the session's CSRF token.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &self.csrf));
        self.client
            .post(format!("{}{path}", self.base))
            .form(&all)
            .send()
            .await
            .unwrap()
    }
}

/// A machine client with an API token.
pub struct Bearer {
    pub token: String,
    pub base: String,
    pub client: reqwest::Client,
}

impl Bearer {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
    pub async fn patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// Reads an error body and checks its shape: `{code, message, request_id}`.
pub async fn error_code(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(
        body["message"].is_string() && body["request_id"].is_string(),
        "not an error body: {body}"
    );
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// A hall named `name` in `region` with `windows` general windows numbered from 1 (窗口1 …),
/// written directly through the store (the benchmarks' fixture).
pub async fn hall_with_windows(app: &TestApp, region: i64, name: &str, windows: usize) -> (i64, Vec<i64>) {
    use onestop_domain::names::Name;
    use onestop_store::{StoreError, org};
    let now = onestop_domain::clock::Clock::now(&*app.clock);
    let name = name.to_owned();
    app.store
        .write(move |tx| {
            Box::pin(async move {
                let hall = org::create_hall(tx, region, &Name::parse(&name)?, "", now).await?;
                let mut ws = Vec::new();
                for w in 0..windows {
                    let new = org::NewWindow {
                        hall_id: hall.id,
                        number: format!("{}", w + 1),
                        name: Name::parse(&format!("窗口{}", w + 1))?,
                        kind: "general",
                        department_id: None,
                    };
                    ws.push(org::create_window(tx, new, now).await?.id);
                }
                Ok::<_, StoreError>((hall.id, ws))
            })
        })
        .await
        .unwrap()
}
