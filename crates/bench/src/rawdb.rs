//! The database's own limit on this machine, measured in the same run as the load: durable
//! single-row commits per second in a tight loop (one INSERT, one commit, one at a time), with
//! the app's settings (SQLite: WAL, synchronous=FULL, as `onestop_store`'s pragmas; PostgreSQL:
//! synchronous_commit=on).
use anyhow::Result;
use sqlx::{Connection, Executor};
use std::time::{Duration, Instant};

pub struct CommitRate {
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub async fn commit_rate(url: &str, secs: f64) -> Result<CommitRate> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    if url.starts_with("sqlite:") {
        // The same pragmas as crates/store/src/lib.rs `sqlite_pragmas` (the writer connection).
        conn.execute("PRAGMA journal_mode = WAL").await?;
        conn.execute("PRAGMA synchronous = FULL").await?;
        conn.execute("PRAGMA foreign_keys = ON").await?;
        conn.execute("PRAGMA busy_timeout = 10000").await?;
    } else {
        conn.execute("SET synchronous_commit = on").await?;
    }
    conn.execute("DROP TABLE IF EXISTS bench_commits").await?;
    conn.execute("CREATE TABLE bench_commits (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    let mut lat = Vec::new();
    let start = Instant::now();
    let mut i = 0i64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        let t = Instant::now();
        // Autocommit: each statement is its own durable transaction.
        sqlx::query("INSERT INTO bench_commits (id, v) VALUES ($1, $2)")
            .bind(i)
            .bind(i * 7)
            .execute(&mut conn)
            .await?;
        lat.push(t.elapsed());
        i += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    conn.execute("DROP TABLE bench_commits").await?;
    conn.close().await?;
    lat.sort();
    let q = |p: f64| {
        let k = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len().max(1)) - 1;
        lat.get(k).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
    };
    Ok(CommitRate {
        per_s: lat.len() as f64 / elapsed,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
    })
}
