//! Harness for driving the real `onestop` binary: one-shot commands, and `serve`/`demo`
//! processes on port 0 that are killed when their guard drops.
use crate::common::{AUDIT_KEY, DATA_KEY, Db, TempDir, TestDb};
use onestop_domain::audit::AuditKey;
use onestop_domain::clock::ManualClock;
use onestop_store::{Store, StoreOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_onestop");

/// A command for the binary with a clean `ONESTOP_` environment, run in `dir`.
pub fn onestop(dir: &TempDir, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("ONESTOP_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .current_dir(&dir.0)
        .env("ONESTOP_LOG", "warn")
        // `serve` needs a data key as it needs an audit key; tests about the audit key set theirs.
        .env("ONESTOP_CRYPTO__DATA_KEY", DATA_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Ran {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Both streams, for assertions that do not care where a message went.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` to the end, feeding `stdin` when given.
pub fn run(mut cmd: Command, stdin: Option<&str>) -> Ran {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let out = tokio::task::block_in_place(|| {
        let mut child = cmd.spawn().expect("cannot start onestop");
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    });
    Ran {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `serve` or `demo`; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `cmd` and waits for its `listening on http://ADDR` line. Panics with the
    /// process's output when it exits or stays silent instead.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("cannot start onestop");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let out_pipe = child.stdout.take().unwrap();
        let out_buf = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                out_buf.lock().unwrap().push_str(&line);
                out_buf.lock().unwrap().push('\n');
                if let Some(i) = line.find("listening on http://") {
                    let _ = tx.send(line[i + "listening on ".len()..].trim().to_owned());
                }
            }
        });
        let mut err_pipe = child.stderr.take().unwrap();
        let err_buf = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                err_buf.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        let mut server = Server {
            child: Some(child),
            base: String::new(),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = tokio::task::block_in_place(|| {
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(base) => return Some(base),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let exited = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                        if exited.is_some() || Instant::now() > deadline {
                            return None;
                        }
                    }
                }
            }
        });
        match base {
            Some(b) => server.base = b,
            None => {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "onestop did not start.\nstdout:\n{}\nstderr:\n{}",
                    server.stdout(),
                    server.stderr()
                );
            }
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` (e.g. "TERM") and waits up to `within` for the exit; returns the exit code,
    /// or None if the process did not stop in time.
    pub fn signal_and_wait(&mut self, signal: &str, within: Duration) -> Option<i32> {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid} failed");
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + within;
        tokio::task::block_in_place(|| {
            loop {
                if let Some(st) = child.try_wait().unwrap() {
                    return Some(st.code().unwrap_or(-1));
                }
                if Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A test database with the demo world seeded (in-process, with the suite's audit key).
pub async fn seeded_db(kind: Db) -> TestDb {
    let db = TestDb::new(kind).await;
    let key = AuditKey::new(AUDIT_KEY.as_bytes().to_vec()).unwrap();
    let store = Store::open(&StoreOptions::new(&db.url), key).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let state = onestop_web::AppState::new(store.clone(), clock, onestop_web::WebSettings::default());
    onestop_web::demo::seed(&state, |_| {}).await.unwrap();
    store.close().await;
    db
}

/// `onestop serve` on port 0 over `db_url`, with the suite's audit key and extra `env`.
pub fn serve(dir: &TempDir, db_url: &str, env: &[(&str, &str)]) -> Server {
    let mut cmd = onestop(dir, &["serve", "--listen", "127.0.0.1:0", "--database", db_url]);
    cmd.env("ONESTOP_AUDIT__HMAC_KEY", AUDIT_KEY);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server::start(cmd)
}

/// A one-shot subcommand over `db_url` with the suite's audit key.
pub fn cli(dir: &TempDir, db_url: &str, args: &[&str], stdin: Option<&str>) -> Ran {
    let mut all = vec!["--database", db_url];
    all.extend_from_slice(args);
    let mut cmd = onestop(dir, &all);
    cmd.env("ONESTOP_AUDIT__HMAC_KEY", AUDIT_KEY);
    run(cmd, stdin)
}

/// A browser-like client (cookie jar, no redirects followed).
pub fn client() -> reqwest::Client {
    crate::common::TestApp::client()
}

/// Runs a test body on SQLite and, when ONESTOP_TEST_PG is set, on PostgreSQL.
#[macro_export]
macro_rules! both_dbs {
    ($(#[$meta:meta])* async fn $name:ident($kind:ident: Db) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn case($kind: $crate::common::Db) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                case($crate::common::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if std::env::var("ONESTOP_TEST_PG").is_err() {
                    eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL variant not run");
                    return;
                }
                case($crate::common::Db::Postgres).await;
            }
        }
    };
}

/// A database with nothing in it (not even the schema); dropped with the guard.
pub struct EmptyDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: TempDir,
}

impl EmptyDb {
    pub async fn new(kind: Db) -> Self {
        let dir = TempDir::new("empty");
        match kind {
            Db::Sqlite => EmptyDb {
                url: format!("sqlite://{}/empty.db", dir.0.display()),
                pg_name: None,
                _dir: dir,
            },
            Db::Postgres => {
                use sqlx::{Connection, Executor};
                let name = format!("onestop_e_{:x}", rand::random::<u64>());
                let mut admin = sqlx::PgConnection::connect(&std::env::var("ONESTOP_TEST_PG").unwrap())
                    .await
                    .unwrap();
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .unwrap();
                EmptyDb {
                    url: crate::common::pg_url_for(&name),
                    pg_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }
}

impl Drop for EmptyDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(async {
                        use sqlx::{Connection, Executor};
                        if let Ok(mut admin) =
                            sqlx::PgConnection::connect(&std::env::var("ONESTOP_TEST_PG").unwrap_or_default()).await
                        {
                            let _ = admin
                                .execute(sqlx::AssertSqlSafe(format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                )))
                                .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}
