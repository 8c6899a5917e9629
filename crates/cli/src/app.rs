//! Start-up and shutdown shared by `serve` and `demo`: open and check the database, build the
//! web application, bind, run the background jobs, and stop gracefully on SIGINT/SIGTERM.
use crate::config::Config;
use anyhow::{Context, Result, bail};
use onestop_domain::audit::AuditKey;
use onestop_domain::clock::Clock;
use onestop_store::{Store, StoreOptions};
use onestop_web::jobs::CheckpointSettings;
use onestop_web::{AppState, WebSettings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub fn audit_key(config: &Config) -> Result<AuditKey> {
    let raw = config.audit.hmac_key.expose();
    if raw.is_empty() {
        bail!(
            "audit.hmac_key is not set. Set ONESTOP_AUDIT__HMAC_KEY_FILE to a file holding a random secret \
             (e.g. `head -c 32 /dev/urandom | base64 > audit.key`). It must stay outside the database."
        );
    }
    AuditKey::new(raw.as_bytes().to_vec()).context("audit.hmac_key must be at least 16 bytes")
}

/// The data keys from `crypto.data_key` (and `crypto.old_data_keys`). Required: without them
/// personal data could not be stored at all.
pub fn data_keys(config: &Config) -> Result<onestop_web::crypto::DataKeys> {
    let raw = config.crypto.data_key.expose();
    if raw.is_empty() {
        bail!(
            "crypto.data_key is not set. Set ONESTOP_CRYPTO__DATA_KEY_FILE to a file holding 32 random bytes as \
             base64 (e.g. `head -c 32 /dev/urandom | base64 > data.key`). Keep it outside the database and back \
             it up: without it, applicants' ID numbers and phones and the signing keys cannot be read."
        );
    }
    let old: Vec<&str> = config.crypto.old_data_keys.iter().map(|k| k.expose()).collect();
    onestop_web::crypto::DataKeys::from_text(raw, &old).context("crypto.data_key")
}

/// The infrastructure settings of the web layer.
pub fn infra(config: &Config) -> Result<onestop_web::Infra> {
    Ok(onestop_web::Infra {
        data_keys: Some(Arc::new(data_keys(config)?)),
        blob_dir: config.storage.dir.clone().into(),
        max_upload_bytes: config.storage.max_upload_bytes,
        dev_outbox_public: config.notify.dev_outbox_public,
        public_url: config.server.public_url.clone(),
    })
}

/// The outbox senders as configured.
pub fn notify_settings(config: &Config) -> Result<onestop_web::notify::NotifySettings> {
    use onestop_web::notify::{EmailSender, HttpSmsSettings, NotifySettings, SmsSender, SmtpSettings, SmtpTls};
    let n = &config.notify;
    let email = match n.email.sender.as_str() {
        "smtp" => EmailSender::Smtp(SmtpSettings {
            host: n.email.smtp_host.clone(),
            port: n.email.smtp_port,
            user: n.email.smtp_user.clone(),
            password: n.email.smtp_password.expose().to_owned(),
            from: n.email.from.clone(),
            tls: match n.email.tls.as_str() {
                "tls" => SmtpTls::Tls,
                "none" => SmtpTls::None,
                _ => SmtpTls::StartTls,
            },
        }),
        _ => EmailSender::Dev,
    };
    let sms = match n.sms.sender.as_str() {
        "http" => SmsSender::Http(HttpSmsSettings {
            url: n.sms.url.clone(),
            headers: n
                .sms
                .headers
                .iter()
                .filter_map(|h| h.expose().split_once(':'))
                .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                .collect(),
            body_template: n.sms.body_template.clone(),
            timeout: Duration::from_secs(n.sms.timeout_secs.max(1)),
        }),
        _ => SmsSender::Dev,
    };
    Ok(NotifySettings {
        email,
        sms,
        interval: Duration::from_secs(n.interval_secs.max(1)),
        max_attempts: n.max_attempts.max(1),
        ..NotifySettings::default()
    })
}

/// Opens the store, refuses a schema newer than this binary, migrates if configured, and
/// checks that commits are durable.
pub async fn open_store(config: &Config, migrate: bool) -> Result<Store> {
    let key = audit_key(config)?;
    let mut opts = StoreOptions::new(config.database.url.expose());
    opts.max_connections = config.database.max_connections;
    let store = Store::open(&opts, key).await.with_context(|| {
        format!(
            "cannot open database {}",
            onestop_store::redact_url(config.database.url.expose())
        )
    })?;
    // Before anything is written (migrations included): kill -9 keeps the page cache, so only the
    // sync settings tell whether an acknowledged commit would survive a power loss.
    let durability = store.durability().await?;
    if !durability.durable {
        bail!(
            "the database is not configured for durable commits ({}); refusing to start",
            durability.description
        );
    }
    let version = store.schema_version().await?;
    let known = onestop_store::migrate::known_version();
    if version > known {
        bail!(
            "the database schema (version {version}) is newer than this onestop knows (version {known}). \
             Refusing to start: upgrade onestop, or restore a backup made for this version."
        );
    }
    if migrate {
        let report = store.migrate().await?;
        if !report.applied.is_empty() {
            tracing::info!(applied = ?report.applied, "database migrated");
        }
    } else {
        store.check_schema(false).await?;
    }
    tracing::info!(backend = store.backend().name(), durability = %durability.description, "database ready");
    Ok(store)
}

pub fn web_settings(config: &Config) -> Result<WebSettings> {
    let trusted = config
        .server
        .trusted_proxies
        .iter()
        .map(|p| p.parse().with_context(|| format!("bad trusted proxy {p}")))
        .collect::<Result<Vec<_>>>()?;
    let instance_id = if config.server.instance_id.is_empty() {
        format!("{}-{}", hostname(), std::process::id())
    } else {
        config.server.instance_id.clone()
    };
    Ok(WebSettings {
        session_ttl: jiff::SignedDuration::from_hours(config.security.session_ttl_hours),
        cookie_secure: config.server.public_url.starts_with("https://"),
        trusted_proxies: trusted,
        body_limit: config.server.body_limit,
        login_limit_per_account: config.security.login_limit_per_account,
        login_limit_per_address: config.security.login_limit_per_address,
        device_limit_per_minute: config.security.device_limit_per_minute,
        instance_id,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "onestop".into())
}

/// Serves until a shutdown signal, then lets in-flight requests finish within the grace period.
pub async fn serve(
    config: &Config,
    store: Store,
    clock: Arc<dyn Clock>,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    let settings = web_settings(config)?;
    let state = AppState::new(store.clone(), clock, settings).with_infra(infra(config)?);
    let notifier = onestop_web::notify::Notifier::new(notify_settings(config)?).map_err(anyhow::Error::msg)?;
    if config.notify.email.sender == "dev" || config.notify.sms.sender == "dev" {
        tracing::warn!(
            email = %config.notify.email.sender,
            sms = %config.notify.sms.sender,
            "some notifications go to the development sink (/dev/outbox), not to people"
        );
    }
    let router = onestop_web::router(state.clone());
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let checkpoint_file =
        (!config.audit.checkpoint_file.is_empty()).then(|| config.audit.checkpoint_file.clone().into());
    onestop_web::notify::spawn(state.clone(), notifier, stop_rx.clone());
    // cases: deemed acceptance and warnings, each under a lease
    onestop_web::cases::sweep::spawn(state.clone(), stop_rx.clone());
    onestop_web::jobs::spawn(
        state,
        CheckpointSettings {
            file: checkpoint_file,
            interval: Duration::from_secs(config.audit.checkpoint_interval_secs.max(5)),
        },
        stop_rx,
    );
    on_listening(addr);
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = stop_tx.send(true);
        });
    // Bound the drain: a stuck client must not hold the process forever.
    let drained = async {
        server.await?;
        Ok::<_, anyhow::Error>(())
    };
    tokio::select! {
        r = drained => r?,
        _ = async { shutdown_signal().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("grace period over; stopping with requests still open");
        }
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
