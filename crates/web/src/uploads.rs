//! Uploaded material files, stored content-addressed in the shared blob directory
//! (`storage.dir`): `<dir>/<aa>/<bb>/<sha256>`. Every process writes the same name for the same
//! bytes, so a file is written once however often it is uploaded, and a half-written file is
//! never visible (written under `tmp/`, synced, then renamed). The type is decided by the
//! file's first bytes, never by its name: PDF, JPEG and PNG are accepted.
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use onestop_store::StoreError;
use onestop_store::uploads::{self, NewUpload, Upload};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The accepted types, by magic number.
pub fn detect_mime(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

pub fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("文件过大：单个文件不得超过 {} MB", max.div_ceil(1024 * 1024)),
    )
}

pub fn type_invalid() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "upload_type_invalid",
        "文件类型不支持：请上传 PDF、JPG 或 PNG 文件",
    )
}

/// Where the blob with this digest lives.
pub fn blob_path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(&sha256[..2]).join(&sha256[2..4]).join(sha256)
}

fn io_err(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "blob storage failed");
    ApiError::internal()
}

/// A file being received: bytes go to a temporary file while they are hashed and counted.
pub struct Incoming {
    tmp: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    size: usize,
    head: Vec<u8>,
    max: usize,
}

impl Incoming {
    pub async fn start(state: &AppState) -> ApiResult<Self> {
        let dir = state.infra.blob_dir.join("tmp");
        tokio::fs::create_dir_all(&dir).await.map_err(io_err)?;
        let tmp = dir.join(format!("{}.part", crate::auth::random_token()));
        let file = tokio::fs::File::create(&tmp).await.map_err(io_err)?;
        Ok(Self {
            tmp,
            file,
            hasher: Sha256::new(),
            size: 0,
            head: Vec::with_capacity(16),
            max: state.infra.max_upload_bytes,
        })
    }

    /// Adds a chunk; fails with 413 as soon as the limit is passed (and removes the file).
    pub async fn push(&mut self, chunk: &[u8]) -> ApiResult<()> {
        self.size += chunk.len();
        if self.size > self.max {
            self.discard().await;
            return Err(too_large(self.max));
        }
        if self.head.len() < 16 {
            let take = (16 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            // Refuse a wrong type at once rather than after the whole file arrived.
            if self.head.len() >= 8 && detect_mime(&self.head).is_none() {
                self.discard().await;
                return Err(type_invalid());
            }
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await.map_err(io_err)
    }

    pub async fn discard(&self) {
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }

    /// Checks the type, moves the file to its content address (durably) and records it.
    pub async fn finish(mut self, state: &AppState, original_name: &str, uploaded_by: &str) -> ApiResult<Upload> {
        let Some(mime) = detect_mime(&self.head) else {
            self.discard().await;
            return Err(type_invalid());
        };
        if let Err(e) = self.file.sync_all().await {
            self.discard().await;
            return Err(io_err(e));
        }
        let sha256 = hex::encode(self.hasher.finalize_reset());
        let target = blob_path(&state.infra.blob_dir, &sha256);
        if tokio::fs::try_exists(&target).await.unwrap_or(false) {
            // The same bytes are already stored (by this or another process).
            self.discard().await;
        } else {
            let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
            tokio::fs::create_dir_all(&parent).await.map_err(io_err)?;
            tokio::fs::rename(&self.tmp, &target).await.map_err(io_err)?;
            // The rename is durable only once the directory is synced.
            if let Ok(d) = tokio::fs::File::open(&parent).await {
                let _ = d.sync_all().await;
            }
        }
        let name = clean_name(original_name);
        let by = uploaded_by.to_owned();
        let size = self.size as i64;
        let at = state.clock.now();
        state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    uploads::insert(
                        tx,
                        NewUpload {
                            sha256: &sha256,
                            size,
                            mime,
                            original_name: &name,
                            uploaded_by: &by,
                        },
                        at,
                    )
                    .await
                })
            })
            .await
            .map_err(|e: StoreError| ApiError::from(e))
    }
}

/// Keeps only the last path segment of a client-given name, without control characters.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
    if cleaned.trim().is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// Reads a stored file's bytes (for the case flow's viewers).
pub async fn read_blob(state: &AppState, sha256: &str) -> ApiResult<Vec<u8>> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found());
    }
    tokio::fs::read(blob_path(&state.infra.blob_dir, sha256))
        .await
        .map_err(|_| ApiError::not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(detect_mime(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(detect_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(detect_mime(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(detect_mime(b"MZ\x90\x00 exe"), None);
        assert_eq!(detect_mime(b"<html>"), None);
    }

    #[test]
    fn names_lose_their_paths() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\a\\身份证.pdf"), "身份证.pdf");
        assert_eq!(clean_name("a\u{0}b.pdf"), "ab.pdf");
        assert_eq!(clean_name(""), "file");
    }
}
