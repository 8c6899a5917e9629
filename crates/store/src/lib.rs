//! Persistence for OneStop: one SQL code path for SQLite and PostgreSQL (through sqlx's `Any`
//! driver), migrations, the write path (one writer with group commit on SQLite), and the few
//! backend-specific pieces (pragmas, locking, notifications), all behind the `Store` seam.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod backup;
pub mod calendars;
pub mod catalogue;
pub mod certs;
pub mod devices;
pub mod error;
pub mod leases;
mod listen;
pub mod migrate;
pub mod org;
pub mod outbox;
pub mod queue;
pub mod ratelimit;
pub mod region_settings;
pub mod regions;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod uploads;
pub mod users;
pub mod workflows;
// ratings
pub mod ratings;
mod writer;
// rollout
pub mod rollout;
// cases
pub mod cases;
// casecore
pub mod case_links;
// ratecase
pub mod case_figures;
// score
pub mod scorecards;
// report
pub mod model_report;

pub use error::StoreError;
pub use sqlx::AnyConnection as Conn;
pub use sqlx::AnyPool as Pool;
pub use writer::Tx;

use futures::future::BoxFuture;
use onestop_domain::audit::AuditKey;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Which database sits behind the store. Backend-specific SQL is chosen by matching on this,
/// and only inside this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Config(
                "database URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    pub max_connections: u32,
    /// Most write jobs committed together in one SQLite transaction (group commit).
    pub max_batch: usize,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            max_batch: 256,
        }
    }
}

/// A committed change that live views care about (queue calls, board updates, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// The database handle shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    read: sqlx::AnyPool,
    writer: writer::Writer,
    audit_key: AuditKey,
    events: broadcast::Sender<Notification>,
    url: String,
    url_redacted: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .field("url", &self.inner.url_redacted)
            .finish()
    }
}

/// Hides a password in a database URL so that it can be logged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens (and for SQLite creates) the database. Does not migrate; see `migrate`.
    pub async fn open(opts: &StoreOptions, audit_key: AuditKey) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(&opts.url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_with_create(&opts.url),
            Backend::Postgres => opts.url.clone(),
        };
        // Validate the URL up front so a typo gets a clear message rather than a driver error.
        sqlx::any::AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?;
        let (read, write) = match backend {
            Backend::Sqlite => {
                // One writer connection: SQLite allows one writer at a time, and a single
                // connection that batches commits is both faster and free of SQLITE_BUSY.
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn, false).await }))
                    .connect(&url)
                    .await?;
                let read = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn, true).await }))
                    .connect(&url)
                    .await?;
                (read, write)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // Acknowledged writes must survive a crash: never run with async commit.
                            conn.execute("SET synchronous_commit = on").await?;
                            conn.execute("SET TIME ZONE 'UTC'").await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let (events, _) = broadcast::channel(4096);
        if backend == Backend::Postgres {
            listen::spawn(opts.url.clone(), events.clone());
        }
        let writer = writer::Writer::start(backend, write, opts.max_batch.max(1), Arc::new(audit_key.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                read,
                writer,
                audit_key,
                events,
                url: opts.url.clone(),
                url_redacted: redact_url(&opts.url),
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The pool for reads. On SQLite its connections are read-only (`query_only`).
    pub fn read(&self) -> &sqlx::AnyPool {
        &self.inner.read
    }

    /// The database URL (with any password: never log it; see `redact_url`).
    pub(crate) fn url(&self) -> &str {
        &self.inner.url
    }

    pub(crate) fn audit_key(&self) -> &AuditKey {
        &self.inner.audit_key
    }

    /// Runs `f` as one durable transaction and returns its result once committed.
    /// If `f` fails, nothing it wrote is kept. On SQLite, concurrent calls are committed in
    /// batches by one writer (each call isolated by a savepoint); on PostgreSQL each call is
    /// its own transaction.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let result = self.inner.writer.submit(f).await;
        // On PostgreSQL notifications reach every process, this one included, through
        // LISTEN/NOTIFY (see `listen`); on SQLite there is one process, so publish here.
        if let (Ok((_, notes)), Backend::Sqlite) = (&result, self.inner.backend) {
            for n in notes {
                // Nobody listening is fine: live views come and go.
                let _ = self.inner.events.send(n.clone());
            }
        }
        result.map(|(v, _)| v)
    }

    /// Live notifications committed by any process sharing this database.
    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.inner.events.subscribe()
    }

    /// Checks that the database answers; used by `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.read()).await?;
        Ok(())
    }

    /// The durability settings actually in force, for start-up checks and tests.
    pub async fn durability(&self) -> Result<Durability, StoreError> {
        let mut conn = self.inner.writer.pool().acquire().await?;
        match self.inner.backend {
            Backend::Sqlite => {
                let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await?;
                let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await?;
                Ok(Durability {
                    description: format!("journal_mode={journal}, synchronous={sync}"),
                    // synchronous: 2 = FULL, 3 = EXTRA.
                    durable: journal.eq_ignore_ascii_case("wal") && sync >= 2,
                })
            }
            Backend::Postgres => {
                let sc: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
                    .fetch_one(&mut *conn)
                    .await?;
                let fsync: String = sqlx::query_scalar("SELECT current_setting('fsync')")
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(Durability {
                    description: format!("synchronous_commit={sc}, fsync={fsync}"),
                    durable: sc != "off" && sc != "local" && fsync == "on",
                })
            }
        }
    }

    /// Closes every connection, waiting for the writer to finish what it holds.
    pub async fn close(&self) {
        self.inner.writer.pool().close().await;
        self.inner.read.close().await;
    }
}

/// What the store found about crash safety.
#[derive(Debug, Clone)]
pub struct Durability {
    pub description: String,
    pub durable: bool,
}

fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection, read_only: bool) -> Result<(), sqlx::Error> {
    // WAL with synchronous=FULL: an acknowledged commit survives power loss (DESIGN.md).
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = FULL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    if read_only {
        conn.execute("PRAGMA query_only = ON").await?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch, the stored form of every time.
pub fn ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

/// The stored form back as a timestamp (clamped into jiff's range).
pub fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}
