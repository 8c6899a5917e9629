//! `onestop backup` and `onestop restore`, run as the binary against a live, writing server:
//! every write acknowledged before the backup started is restored, row counts match the
//! manifest, the audit chains verify, and a damaged backup or a non-empty target is refused.
use crate::both_backends;
use crate::common::{AUDIT_KEY, TempDir, TestDb};
use onestop_domain::audit::AuditKey;
use onestop_store::{Store, StoreOptions};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A data key (hex of 32 bytes) the backup must name and never hold.
const DATA_KEY: &str = "8f3c2a9d4e5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f";

async fn onestop(db_url: &str, storage_dir: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_onestop"))
        .arg("--database")
        .arg(db_url)
        .args(args)
        .env("ONESTOP_AUDIT__HMAC_KEY", AUDIT_KEY)
        .env("ONESTOP_CRYPTO__DATA_KEY", DATA_KEY)
        .env("ONESTOP_STORAGE__DIR", storage_dir)
        .env("ONESTOP_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn all_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

both_backends! {
    async fn round_trip_while_writing(app: TestApp) {
        let region = app.region_id("990100").await;
        let sys = onestop_web::auth::system_principal("test:backup-load");

        // A client that keeps writing (departments, each with its audit entry) through the
        // one write path, and logs every write the store acknowledged.
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (state, acked, stop) = (app.state.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let name = format!("备份压测部门{i}");
                    onestop_web::ops::create_department(&state, &sys, region, &name).await.unwrap();
                    acked.lock().unwrap().push(name);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        while acked.lock().unwrap().len() < 20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let dir = TempDir::new("backup");
        let dest = dir.0.join("backup-1");
        // Uploaded files: one stored, one still being written (tmp/ is left out).
        let blobs = dir.0.join("blobs");
        std::fs::create_dir_all(blobs.join("ab/cd")).unwrap();
        std::fs::create_dir_all(blobs.join("tmp")).unwrap();
        std::fs::write(blobs.join("ab/cd/abcd0001"), b"uploaded material").unwrap();
        std::fs::write(blobs.join("tmp/partial"), b"half").unwrap();
        let before: Vec<String> = acked.lock().unwrap().clone();
        let out = onestop(&app.db.url, &blobs, &["backup", "--to", dest.to_str().unwrap()]).await;
        let during = acked.lock().unwrap().len() - before.len();
        stop.store(true, Ordering::Relaxed);
        writer.await.unwrap();
        assert!(out.status.success(), "backup failed: {}", text(&out));
        assert!(during > 0, "no write was acknowledged while the backup ran");
        assert!(!dir.0.join("backup-1.partial").exists());

        // The manifest lists every file with its checksum, and names the keys without holding them.
        let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["backend"], app.backend().name());
        assert_eq!(manifest["schema_version"], onestop_store::migrate::known_version());
        assert!(manifest["tables"]["departments"].as_i64().unwrap() >= before.len() as i64);
        let listed: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert!(listed.contains(&manifest["database"].as_str().unwrap()));
        assert!(listed.contains(&"KEYS-TO-KEEP.txt"));
        assert!(listed.contains(&"files/ab/cd/abcd0001"), "{listed:?}");
        assert!(!listed.iter().any(|p| p.contains("tmp/")), "{listed:?}");
        let keys = std::fs::read_to_string(dest.join("KEYS-TO-KEEP.txt")).unwrap();
        assert!(keys.contains("audit.hmac_key") && keys.contains("crypto.data_key"), "{keys}");
        let mut files = Vec::new();
        all_files(&dest, &mut files);
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            for secret in [AUDIT_KEY, DATA_KEY] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds a key",
                    f.display()
                );
            }
        }

        // A database with data in it is not overwritten without --force.
        let out = onestop(&app.db.url, &blobs, &["restore", "--from", dest.to_str().unwrap()]).await;
        assert!(!out.status.success(), "restore over a live database was not refused: {}", text(&out));
        assert!(text(&out).contains("not empty"), "{}", text(&out));

        // Restore into a fresh database.
        let fresh = TestDb::empty(app.kind).await;
        let restored_blobs = dir.0.join("restored-blobs");
        let out = onestop(&fresh.url, &restored_blobs, &["restore", "--from", dest.to_str().unwrap()]).await;
        assert!(out.status.success(), "restore failed: {}", text(&out));
        assert!(text(&out).contains("Audit trail OK"), "{}", text(&out));
        assert_eq!(
            std::fs::read(restored_blobs.join("ab/cd/abcd0001")).unwrap(),
            b"uploaded material"
        );

        let key = AuditKey::new(AUDIT_KEY.as_bytes().to_vec()).unwrap();
        let restored = Store::open(&StoreOptions::new(&fresh.url), key).await.unwrap();
        let names: std::collections::HashSet<String> = sqlx::query_scalar("SELECT name FROM departments")
            .fetch_all(restored.read())
            .await
            .unwrap()
            .into_iter()
            .collect();
        let missing: Vec<&String> = before.iter().filter(|n| !names.contains(*n)).collect();
        assert!(missing.is_empty(), "acknowledged before the backup but not restored: {missing:?}");
        let report = restored.audit_verify(None).await.unwrap();
        assert!(report.faults.is_empty(), "audit chains broken after restore: {:?}", report.faults);
        assert!(report.entries > before.len() as i64);
        restored.close().await;
        let snapshot = onestop_store::backup::snapshot_at(&fresh.url).await.unwrap();
        let counts: Value = serde_json::to_value(&snapshot.row_counts).unwrap();
        assert_eq!(counts, manifest["tables"], "row counts differ from the manifest");

        // A damaged backup is refused before anything is touched.
        let db_file = dest.join(manifest["database"].as_str().unwrap());
        let mut bytes = std::fs::read(&db_file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&db_file, bytes).unwrap();
        let again = TestDb::empty(app.kind).await;
        let out = onestop(&again.url, &dir.0.join("blobs-3"), &["restore", "--from", dest.to_str().unwrap()]).await;
        assert!(!out.status.success(), "a damaged backup was restored: {}", text(&out));
        assert!(text(&out).contains("checksum mismatch"), "{}", text(&out));
    }
}
