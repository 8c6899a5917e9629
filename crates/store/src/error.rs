//! Errors of the persistence layer. Database text never leaves this layer as a user message.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A domain rule refused the change.
    #[error(transparent)]
    Domain(#[from] onestop_domain::DomainError),
    /// A uniqueness or state conflict; `code` is stable for the API.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("configuration: {0}")]
    Config(String),
    /// The database schema is newer than this binary knows.
    #[error("database schema version {found} is newer than this onestop knows ({known}); upgrade onestop")]
    SchemaTooNew { found: i64, known: i64 },
    /// The database schema is older than this binary and must be migrated first.
    #[error("database schema version {found} is older than this onestop needs ({known}); run `onestop migrate`")]
    SchemaTooOld { found: i64, known: i64 },
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The write path is gone (shutting down).
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A backup or restore step failed (a file, or pg_dump / pg_restore).
    #[error("backup: {0}")]
    Backup(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict {
                code: "duplicate",
                message: "已存在相同的记录".into(),
            },
            _ => Self::Database(e),
        }
    }
}

impl StoreError {
    /// A stable code for scripts and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Domain(_) => "domain",
            Self::Conflict { code, .. } => code,
            Self::Config(_) => "config",
            Self::SchemaTooNew { .. } => "schema_too_new",
            Self::SchemaTooOld { .. } => "schema_too_old",
            Self::Database(_) => "database",
            Self::WriterStopped => "writer_stopped",
            Self::Corrupt(_) => "corrupt",
            Self::Backup(_) => "backup_failed",
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}
