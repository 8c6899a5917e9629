//! Shared state of the web layer: the store, the clock, settings and metrics.
use crate::metrics::Metrics;
use onestop_domain::clock::Clock;
use onestop_store::Store;
use std::net::IpAddr;
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

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<WebSettings>,
    pub metrics: Arc<Metrics>,
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
            catalogue: Arc::default(),
        }
    }
}
