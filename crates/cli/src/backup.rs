//! `onestop backup` and `onestop restore`: the backup directory, its manifest and checksums, the
//! uploaded files and the note naming the keys to keep. The database snapshot itself is the
//! store's (`onestop_store::backup`: SQLite `VACUUM INTO`, PostgreSQL `pg_dump -Fc`).
//!
//! A backup is a directory:
//! - `manifest.json`: versions, backend, creation time, row counts, and every file with its
//!   size and SHA-256;
//! - `database.sqlite` or `database.pgdump`;
//! - `audit-checkpoints.jsonl`: the signed audit checkpoints, copied before the snapshot, so
//!   `audit verify` can check the restored chains against them;
//! - `files/`: the uploaded files (`storage.dir`), when configured;
//! - `KEYS-TO-KEEP.txt`: the names (never the values) of the secrets the backup cannot hold.
//!
//! It is written under `<dir>.partial` and renamed when complete, so a directory with the final
//! name is always a whole backup.
use anyhow::{Context, Result, bail};
use onestop_store::Backend;
use onestop_store::backup::Snapshot;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.json";
pub const KEYS_FILE: &str = "KEYS-TO-KEEP.txt";
pub const CHECKPOINTS: &str = "audit-checkpoints.jsonl";
pub const FILES_DIR: &str = "files";
/// Bumped when the layout changes incompatibly.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub onestop_version: String,
    pub schema_version: i64,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The database dump, one of `files`.
    pub database: String,
    /// Rows per table in the dump.
    pub tables: BTreeMap<String, i64>,
    /// Configuration keys whose values must be kept apart from this backup.
    pub keys_to_keep: Vec<String>,
    pub files: Vec<FileEntry>,
}

/// What `backup` needs from the configuration.
pub struct BackupSources<'a> {
    pub checkpoint_file: Option<&'a Path>,
    pub storage_dir: Option<&'a Path>,
    /// Names of the configured secrets (`audit.hmac_key`, `crypto.data_key`, ...).
    pub keys_to_keep: Vec<String>,
}

pub fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((n, hex::encode(h.finalize())))
}

/// Every regular file under `dir`, as `/`-separated paths relative to `base`, sorted.
fn files_under(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let path = entry.path();
        if ty.is_dir() {
            files_under(base, &path, out)?;
        } else if ty.is_file() {
            let rel = path.strip_prefix(base).unwrap_or(&path);
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
        // Symlinks and other special files are not followed: uploads are plain files.
    }
    out.sort();
    Ok(())
}

/// Copies the regular files under `from` into `to`, leaving out the top-level `skip` directory.
fn copy_tree(from: &Path, to: &Path, skip: Option<&str>) -> Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let entry = entry?;
        let ty = entry.file_type()?;
        if skip.is_some_and(|s| entry.file_name() == s) {
            continue;
        }
        let target = to.join(entry.file_name());
        if ty.is_dir() {
            n += copy_tree(&entry.path(), &target, None)?;
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &target).with_context(|| format!("cannot copy {}", entry.path().display()))?;
            n += 1;
        }
    }
    Ok(n)
}

fn keys_note(keys: &[String], manifest_time: &str) -> String {
    let mut s = String::from(
        "OneStop backup: keys to keep\n\
         ============================\n\n\
         This backup does NOT contain the secrets below, on purpose: anyone holding the backup would\n\
         otherwise hold them too. Keep each one safe, apart from the backup, for as long as you keep\n\
         the backup. Restoring without them loses what they protect.\n\n",
    );
    for k in keys {
        let why = match k.as_str() {
            "audit.hmac_key" => {
                "signs every audit entry and checkpoint. Without the same key, `onestop audit verify`\n  \
                 cannot tell a genuine trail from a forged one. Set as ONESTOP_AUDIT__HMAC_KEY_FILE\n  \
                 (or ONESTOP_AUDIT__HMAC_KEY, or audit.hmac_key in the configuration file)."
            }
            "crypto.data_key" => {
                "seals applicants' ID numbers and phones, notification recipients and every region's\n  \
                 private signing key. Without it, that data is lost for good: the backup cannot bring it\n  \
                 back. Set as ONESTOP_CRYPTO__DATA_KEY_FILE (or crypto.data_key)."
            }
            "crypto.old_data_keys" => "earlier data keys, still needed to open values sealed before the last rotation.",
            _ => "a secret of this deployment.",
        };
        s.push_str(&format!("- {k}: {why}\n"));
    }
    s.push_str(&format!(
        "\nThe database URL (with its password) and TLS or SMTP credentials are configuration, not data:\n\
         keep the deployment's configuration as well.\n\nBackup taken {manifest_time}.\n"
    ));
    s
}

/// Writes a backup of `store` (and the configured files) to `dest`.
pub async fn backup(store: &onestop_store::Store, dest: &Path, src: &BackupSources<'_>) -> Result<Manifest> {
    if dest.exists() && std::fs::read_dir(dest).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not an empty directory", dest.display());
    }
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let created_at = jiff::Timestamp::now().to_string();

    // Checkpoints first: every one of them then predates the snapshot, so the restored chains
    // extend them and `audit verify` accepts them.
    if let Some(cp) = src.checkpoint_file
        && cp.exists()
    {
        std::fs::copy(cp, partial.join(CHECKPOINTS)).with_context(|| format!("cannot copy {}", cp.display()))?;
    }

    let db_name = onestop_store::backup::dump_file_name(store.backend());
    let snapshot: Snapshot = store.backup_to(&partial.join(db_name)).await?;

    if let Some(dir) = src.storage_dir {
        // After the snapshot: uploads are written before the rows that name them, so every file
        // the snapshot refers to is already there. `tmp/` holds uploads still being written.
        if dir.is_dir() {
            copy_tree(dir, &partial.join(FILES_DIR), Some("tmp"))?;
        } else {
            tracing::warn!(dir = %dir.display(), "storage.dir is configured but does not exist: no files backed up");
        }
    }

    let keys = src.keys_to_keep.clone();
    std::fs::write(partial.join(KEYS_FILE), keys_note(&keys, &created_at))?;

    let mut paths = Vec::new();
    files_under(&partial, &partial, &mut paths)?;
    let mut files = Vec::new();
    for p in paths {
        let (bytes, sha256) = sha256_file(&partial.join(&p))?;
        files.push(FileEntry { path: p, bytes, sha256 });
    }
    let manifest = Manifest {
        format: FORMAT,
        onestop_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version: snapshot.schema_version,
        backend: snapshot.backend.name().to_owned(),
        created_at,
        database: db_name.to_owned(),
        tables: snapshot.row_counts,
        keys_to_keep: keys,
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(partial.join(MANIFEST), format!("{text}\n"))?;
    for entry in std::fs::read_dir(&partial)? {
        let p = entry?.path();
        if p.is_file() {
            std::fs::File::open(&p).and_then(|f| f.sync_all())?;
        }
    }
    if dest.exists() {
        std::fs::remove_dir(dest)?;
    }
    std::fs::rename(&partial, dest)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), dest.display()))?;
    if let Some(parent) = dest.parent()
        && let Ok(d) = std::fs::File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
    {
        let _ = d.sync_all();
    }
    Ok(manifest)
}

/// Reads the manifest of the backup at `dir` and checks every file against it.
pub fn read_and_verify(dir: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST))
        .with_context(|| format!("{} is not a OneStop backup (no {MANIFEST})", dir.display()))?;
    let m: Manifest = serde_json::from_str(&text).with_context(|| format!("{MANIFEST} is unreadable"))?;
    if m.format != FORMAT {
        bail!(
            "backup format {} is not supported by this onestop (format {FORMAT})",
            m.format
        );
    }
    if !m.files.iter().any(|f| f.path == m.database) {
        bail!("the manifest does not list the database file {}", m.database);
    }
    let mut bad = Vec::new();
    for f in &m.files {
        if f.path.split('/').any(|c| c == ".." || c.is_empty()) || f.path.starts_with('/') {
            bail!("the manifest names an unsafe path: {}", f.path);
        }
        match sha256_file(&dir.join(&f.path)) {
            Ok((bytes, sha)) if bytes == f.bytes && sha == f.sha256 => {}
            Ok(_) => bad.push(format!("{}: checksum mismatch", f.path)),
            Err(_) => bad.push(format!("{}: missing", f.path)),
        }
    }
    if !bad.is_empty() {
        bail!("the backup is damaged or was altered:\n  {}", bad.join("\n  "));
    }
    Ok(m)
}

/// The backend a manifest names.
pub fn manifest_backend(m: &Manifest) -> Result<Backend> {
    match m.backend.as_str() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" => Ok(Backend::Postgres),
        other => bail!("unknown backend {other:?} in the manifest"),
    }
}

/// Copies the backup's uploaded files into `storage_dir` (refusing to mix them into a non-empty
/// directory unless `force`). Returns how many files were copied.
pub fn restore_files(dir: &Path, storage_dir: &Path, force: bool) -> Result<u64> {
    let from = dir.join(FILES_DIR);
    if !from.is_dir() {
        return Ok(0);
    }
    let non_empty = storage_dir.is_dir() && std::fs::read_dir(storage_dir)?.next().is_some();
    if non_empty && !force {
        bail!(
            "storage.dir {} is not empty; pass --force to copy the backup's files over it",
            storage_dir.display()
        );
    }
    copy_tree(&from, storage_dir, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_note_names_keys_and_holds_no_value() {
        let note = keys_note(
            &["audit.hmac_key".into(), "crypto.data_key".into()],
            "2026-03-18T01:30:00Z",
        );
        assert!(note.contains("- audit.hmac_key:"));
        assert!(note.contains("- crypto.data_key:"));
    }
}
