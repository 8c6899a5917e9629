//! Shared state of the web layer: the store, the clock, settings and metrics.
use crate::crypto::DataKeys;
use crate::error::ApiError;
use crate::metrics::Metrics;
use onestop_domain::clock::Clock;
use onestop_store::Store;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Web settings, taken from the application configuration.
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub session_ttl: jiff::SignedDuration,
    /// Sets `Secure` on cookies; on when the public URL is https.
    pub cookie_secure: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Failed-login limits per 15 minutes.
    pub login_limit_per_account: i64,
    pub login_limit_per_address: i64,
    /// Requests a device may make per minute (kiosk floods).
    pub device_limit_per_minute: i64,
    /// A name for this process, used as the holder of job leases.
    pub instance_id: String,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            session_ttl: jiff::SignedDuration::from_hours(12),
            cookie_secure: false,
            trusted_proxies: Vec::new(),
            body_limit: 1024 * 1024,
            login_limit_per_account: 10,
            login_limit_per_address: 50,
            device_limit_per_minute: 120,
            instance_id: "onestop".into(),
        }
    }
}

/// Infrastructure the case flow builds on: the data keys, the blob directory, notification
/// display. Set with `AppState::with_infra`; the defaults suit unit tests only (no data key).
#[derive(Debug, Clone)]
pub struct Infra {
    /// Seals personal data and signing keys; `None` makes those operations fail with
    /// `data_key_missing` (503) rather than store anything in clear.
    pub data_keys: Option<Arc<DataKeys>>,
    /// Shared directory of uploaded files, named by SHA-256.
    pub blob_dir: PathBuf,
    /// Largest uploaded file, in bytes.
    pub max_upload_bytes: usize,
    /// Show `/dev/outbox` to everyone (the demo), not only to system administrators.
    pub dev_outbox_public: bool,
    /// The URL people use (for links in QR codes); empty: taken from the request's Host.
    pub public_url: String,
}

impl Default for Infra {
    fn default() -> Self {
        Self {
            data_keys: None,
            blob_dir: PathBuf::from("onestop-blobs"),
            max_upload_bytes: 10 * 1024 * 1024,
            dev_outbox_public: false,
            public_url: String::new(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<WebSettings>,
    pub metrics: Arc<Metrics>,
    pub infra: Arc<Infra>,
    /// Per-process cache of public guide search indexes (validated against the database).
    pub catalogue: Arc<crate::catalogue::search::SearchCache>,
}

impl AppState {
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: WebSettings) -> Self {
        Self {
            store,
            clock,
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
            infra: Arc::new(Infra::default()),
            catalogue: Arc::default(),
        }
    }

    pub fn with_infra(mut self, infra: Infra) -> Self {
        self.infra = Arc::new(infra);
        self
    }

    /// The data keys, or `data_key_missing` when this process has none configured.
    pub fn data_keys(&self) -> Result<Arc<DataKeys>, ApiError> {
        self.infra.data_keys.clone().ok_or_else(|| {
            tracing::error!("crypto.data_key is not configured: personal data cannot be sealed");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "data_key_missing",
                "系统未配置数据密钥，暂时无法处理个人信息，请联系管理员",
            )
        })
    }
}
