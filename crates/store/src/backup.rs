//! Backup and restore of the database: the backend-specific half of `onestop backup` and
//! `onestop restore` (the backup directory, manifest and checksums are the CLI's).
//!
//! - SQLite: `VACUUM INTO` a new file, from a read transaction, so the copy is one consistent
//!   snapshot and the writer goes on committing while it is taken. Restore copies the file into
//!   place (the servers must be stopped).
//! - PostgreSQL: `pg_dump -Fc` of an exported snapshot, so the row counts taken here describe
//!   exactly what the dump holds; restore is `pg_restore` in one transaction.
//!
//! Both report the row count of every table as of the snapshot; restore checks them again.
use crate::{Backend, Store, StoreError};
use sqlx::{AssertSqlSafe, Connection, Executor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What a database snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub backend: Backend,
    /// Schema version (highest migration) of the copy.
    pub schema_version: i64,
    /// Rows per table, as of the snapshot.
    pub row_counts: BTreeMap<String, i64>,
}

/// The file a snapshot is written to, inside the backup directory.
pub fn dump_file_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "database.sqlite",
        Backend::Postgres => "database.pgdump",
    }
}

fn io_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backup(format!("{what}: {e}"))
}

impl Store {
    /// Writes a consistent copy of the whole database to `dest` (which must not exist) while the
    /// store keeps serving, and returns what the copy holds.
    pub async fn backup_to(&self, dest: &Path) -> Result<Snapshot, StoreError> {
        if dest.exists() {
            return Err(StoreError::Backup(format!("{} already exists", dest.display())));
        }
        match self.backend() {
            Backend::Sqlite => {
                // A connection of our own, detached from the read pool, whose connections are
                // query_only (VACUUM INTO writes the new file, which query_only would refuse).
                let mut conn = self.read().acquire().await?.detach();
                conn.execute("PRAGMA query_only = OFF").await?;
                let target = dest
                    .to_str()
                    .ok_or_else(|| StoreError::Backup(format!("{} is not valid UTF-8", dest.display())))?;
                // One statement, one read transaction: the copy is a snapshot of one moment.
                sqlx::query("VACUUM INTO $1").bind(target).execute(&mut conn).await?;
                conn.close().await?;
                sync_file(dest)?;
                let url = format!("sqlite://{target}?mode=ro");
                let mut copy = sqlx::AnyConnection::connect(&url).await?;
                let check: String = sqlx::query_scalar("PRAGMA quick_check").fetch_one(&mut copy).await?;
                if check != "ok" {
                    return Err(StoreError::Backup(format!(
                        "the copy fails its integrity check: {check}"
                    )));
                }
                let snapshot = snapshot_of(&mut copy, Backend::Sqlite).await?;
                copy.close().await?;
                Ok(snapshot)
            }
            Backend::Postgres => {
                // Export a snapshot, count inside it, and have pg_dump dump that same snapshot.
                let mut conn = self.read().acquire().await?.detach();
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
                let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                    .fetch_one(&mut conn)
                    .await?;
                let snapshot = snapshot_of(&mut conn, Backend::Postgres).await?;
                let out = tokio::process::Command::new("pg_dump")
                    .arg("--format=custom")
                    .arg(format!("--snapshot={id}"))
                    .arg("--file")
                    .arg(dest)
                    .arg("--dbname")
                    .arg(self.url())
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await
                    .map_err(|e| io_err("cannot run pg_dump (is the PostgreSQL client installed?)", e))?;
                conn.execute("COMMIT").await?;
                conn.close().await?;
                if !out.status.success() {
                    return Err(StoreError::Backup(format!(
                        "pg_dump failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
                sync_file(dest)?;
                Ok(snapshot)
            }
        }
    }
}

/// Whether the database at `url` holds any table (or, for SQLite, exists at all with content).
pub async fn database_is_empty(url: &str) -> Result<bool, StoreError> {
    let backend = Backend::from_url(url)?;
    if backend == Backend::Sqlite {
        let path = sqlite_path(url)?;
        if !path.exists() || std::fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(true) {
            return Ok(true);
        }
    }
    let mut conn = connect(url).await?;
    let tables = table_names(&mut conn, backend).await?;
    conn.close().await?;
    Ok(tables.is_empty())
}

/// Restores the dump `file` (written by [`Store::backup_to`]) into the database at `url`. No
/// server may be using that database. Refuses a database that holds tables unless `force`.
pub async fn restore(url: &str, file: &Path, force: bool) -> Result<(), StoreError> {
    let backend = Backend::from_url(url)?;
    if !force && !database_is_empty(url).await? {
        return Err(StoreError::conflict(
            "restore_target_not_empty",
            format!(
                "the database {} is not empty; restore into an empty database, or pass --force to replace it",
                crate::redact_url(url)
            ),
        ));
    }
    match backend {
        Backend::Sqlite => {
            let path = sqlite_path(url)?;
            let tmp = PathBuf::from(format!("{}.restoring", path.display()));
            std::fs::copy(file, &tmp).map_err(|e| io_err(format!("cannot write {}", tmp.display()), e))?;
            sync_file(&tmp)?;
            // A stale WAL beside the new file would be replayed into it: remove it first.
            for suffix in ["-wal", "-shm", "-journal"] {
                let side = PathBuf::from(format!("{}{suffix}", path.display()));
                match std::fs::remove_file(&side) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(format!("cannot remove {}", side.display()), e)),
                }
            }
            std::fs::rename(&tmp, &path).map_err(|e| io_err(format!("cannot move into {}", path.display()), e))?;
            if let Some(dir) = path.parent() {
                sync_dir(dir);
            }
            Ok(())
        }
        Backend::Postgres => {
            let mut cmd = tokio::process::Command::new("pg_restore");
            cmd.arg("--no-owner")
                .arg("--no-privileges")
                .arg("--exit-on-error")
                .arg("--single-transaction");
            if force {
                cmd.arg("--clean").arg("--if-exists");
            }
            let out = cmd
                .arg("--dbname")
                .arg(url)
                .arg(file)
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .map_err(|e| io_err("cannot run pg_restore (is the PostgreSQL client installed?)", e))?;
            if !out.status.success() {
                return Err(StoreError::Backup(format!(
                    "pg_restore failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(())
        }
    }
}

/// Schema version and row counts of the database at `url` (e.g. after a restore).
pub async fn snapshot_at(url: &str) -> Result<Snapshot, StoreError> {
    let backend = Backend::from_url(url)?;
    let mut conn = connect(url).await?;
    let s = snapshot_of(&mut conn, backend).await?;
    conn.close().await?;
    Ok(s)
}

async fn connect(url: &str) -> Result<sqlx::AnyConnection, StoreError> {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?;
    Ok(sqlx::AnyConnection::connect(url).await?)
}

async fn table_names(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<Vec<String>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    Ok(sqlx::query_scalar(sql).fetch_all(&mut *conn).await?)
}

async fn snapshot_of(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<Snapshot, StoreError> {
    let mut row_counts = BTreeMap::new();
    for t in table_names(conn, backend).await? {
        // Table names come from the catalogue, not from input; quote them anyway.
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", t.replace('"', "\"\""));
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&mut *conn).await?;
        row_counts.insert(t, n);
    }
    let schema_version = if row_counts.contains_key("schema_migrations") {
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *conn)
            .await?
            .unwrap_or(0)
    } else {
        0
    };
    Ok(Snapshot {
        backend,
        schema_version,
        row_counts,
    })
}

/// The file of a `sqlite://` URL.
pub fn sqlite_path(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Config("not a sqlite:// URL".into()))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "an in-memory SQLite database cannot be backed up or restored".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(format!("cannot sync {}", path.display()), e))
}

fn sync_dir(dir: &Path) {
    // Best effort: not every platform can open a directory to sync it.
    if let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_drop_scheme_and_options() {
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc").ok(),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_path("sqlite://rel.db").ok(), Some(PathBuf::from("rel.db")));
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("postgres://x/y").is_err());
    }
}
