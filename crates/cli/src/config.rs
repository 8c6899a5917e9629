//! Configuration: defaults, then a TOML file (`--config`), then `ONESTOP_` environment variables
//! (`__` nests: `ONESTOP_DATABASE__URL`), then `*_FILE` variants that read a secret from a file
//! (`ONESTOP_AUDIT__HMAC_KEY_FILE=/run/secrets/audit`), then command-line flags.
//! Unknown keys are reported; secrets never appear in logs or `Debug` output.
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// A secret string: `Debug` shows `***`, never the value. (It serialises as itself so that
/// configuration layers merge; `redacted_toml` masks it for display.)
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub audit: AuditConfig,
    pub security: SecurityConfig,
    pub crypto: CryptoConfig,
    pub storage: StorageConfig,
    pub notify: NotifyConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CryptoConfig {
    /// The data key: 32 random bytes as base64 or hex. It seals applicants' ID numbers and
    /// phones, outbox recipients and the regions' signing keys. Keep it outside the database
    /// and back it up: losing it loses that data.
    pub data_key: Secret,
    /// Previous data keys, still accepted for opening during a rotation.
    pub old_data_keys: Vec<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory of uploaded files (content-addressed); shared storage when several processes run.
    pub dir: String,
    /// Largest uploaded file, in bytes.
    pub max_upload_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Seconds between rounds of the outbox sender.
    pub interval_secs: u64,
    /// Attempts before a message is given up (`failed`).
    pub max_attempts: i64,
    /// Show `/dev/outbox` to everyone, not only system administrators (the demo does).
    pub dev_outbox_public: bool,
    pub email: EmailConfig,
    pub sms: SmsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `dev` (the development sink) or `smtp`.
    pub sender: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_user: String,
    pub smtp_password: Secret,
    /// e.g. `一站式政务服务 <noreply@example.gov.cn>`.
    pub from: String,
    /// `starttls` (required upgrade, port 587), `tls` (port 465), or `none` (local relay only).
    pub tls: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `dev` (the development sink) or `http` (a JSON POST to a gateway).
    pub sender: String,
    pub url: String,
    /// `Name: value` headers sent with each request (e.g. an API key).
    pub headers: Vec<Secret>,
    /// JSON body with `{phone}` and `{text}` placeholders.
    pub body_template: String,
    pub timeout_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            dir: "onestop-blobs".into(),
            max_upload_bytes: 10 * 1024 * 1024,
        }
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            interval_secs: 2,
            max_attempts: 8,
            dev_outbox_public: false,
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
        }
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            sender: "dev".into(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_user: String::new(),
            smtp_password: Secret::default(),
            from: String::new(),
            tls: "starttls".into(),
        }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            sender: "dev".into(),
            url: String::new(),
            headers: Vec::new(),
            body_template: r#"{"phone":"{phone}","text":"{text}"}"#.into(),
            timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// The URL people use; an https URL turns on Secure cookies.
    pub public_url: String,
    /// Proxies whose X-Forwarded-For is trusted (IP addresses).
    pub trusted_proxies: Vec<String>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Name of this process for job leases (defaults to host name + pid).
    pub instance_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/onestop.db` or `postgres://user:password@host/db`.
    pub url: Secret,
    pub max_connections: u32,
    /// Apply pending migrations at start-up (serialised across processes).
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The HMAC key of the audit chains (at least 16 bytes). Never stored in the database.
    pub hmac_key: Secret,
    /// Where signed checkpoints are appended; empty logs them instead.
    pub checkpoint_file: String,
    pub checkpoint_interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    pub session_ttl_hours: i64,
    pub login_limit_per_account: i64,
    pub login_limit_per_address: i64,
    pub device_limit_per_minute: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `onestop_web=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            trusted_proxies: Vec::new(),
            body_limit: 1024 * 1024,
            shutdown_grace_secs: 20,
            instance_id: String::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret("sqlite://onestop.db".into()),
            max_connections: 16,
            migrate_on_start: true,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            hmac_key: Secret::default(),
            checkpoint_file: String::new(),
            checkpoint_interval_secs: 300,
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            session_ttl_hours: 12,
            login_limit_per_account: 10,
            login_limit_per_address: 50,
            device_limit_per_minute: 120,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// The configuration and what was noticed while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Unknown keys found in the environment (reported, not fatal: the environment is shared).
    pub warnings: Vec<String>,
}

const ENV_PREFIX: &str = "ONESTOP_";
/// Environment variables of ours that are not configuration.
const ENV_NOT_CONFIG: &[&str] = &["ONESTOP_TEST_PG", "ONESTOP_LOG"];

/// Loads configuration from every layer. `flags` are already-parsed overrides (dotted keys).
pub fn load(file: Option<&Path>, env: &[(String, String)], flags: &[(&str, Value)]) -> Result<Loaded> {
    let defaults = serde_json::to_value(Config::default())?;
    let mut merged = defaults.clone();
    let mut warnings = Vec::new();

    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        let table: toml::Value =
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
        let value = serde_json::to_value(table)?;
        let unknown = unknown_keys(&defaults, &value, "");
        if !unknown.is_empty() {
            bail!("unknown keys in {}: {}", path.display(), unknown.join(", "));
        }
        merge(&mut merged, value);
    }

    let mut file_secrets = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_NOT_CONFIG.contains(&name.as_str()) {
            continue;
        }
        let key_path = |rest: &str| -> Vec<String> { rest.split("__").map(|s| s.to_ascii_lowercase()).collect() };
        // A key that itself ends in `_file` (audit.checkpoint_file) is a plain variable, not a
        // `*_FILE` secret variant of a key that does not exist.
        let (path, from_file) = match rest.strip_suffix("_FILE") {
            Some(r) if lookup(&defaults, &key_path(rest)).is_none() => (key_path(r), true),
            _ => (key_path(rest), false),
        };
        let Some(expected) = lookup(&defaults, &path) else {
            warnings.push(format!("unknown configuration variable {name} (ignored)"));
            continue;
        };
        let value = if from_file {
            let text = std::fs::read_to_string(raw).with_context(|| format!("{name}: cannot read {raw}"))?;
            Value::String(text.trim_end_matches(['\n', '\r']).to_owned())
        } else {
            coerce(raw, expected).with_context(|| format!("{name}: cannot read {raw:?} as {}", kind(expected)))?
        };
        if from_file {
            file_secrets.push((path, value));
        } else {
            set(&mut merged, &path, value);
        }
    }
    // *_FILE variants come after plain variables, so a mounted secret wins.
    for (path, value) in file_secrets {
        set(&mut merged, &path, value);
    }
    for (key, value) in flags {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        set(&mut merged, &path, value.clone());
    }
    let config: Config = serde_json::from_value(merged).context("invalid configuration")?;
    validate(&config)?;
    Ok(Loaded { config, warnings })
}

fn validate(c: &Config) -> Result<()> {
    c.server
        .listen
        .parse::<std::net::SocketAddr>()
        .with_context(|| format!("server.listen {:?} is not an address", c.server.listen))?;
    for p in &c.server.trusted_proxies {
        p.parse::<std::net::IpAddr>()
            .with_context(|| format!("server.trusted_proxies: {p:?} is not an IP address"))?;
    }
    if !["text", "json"].contains(&c.log.format.as_str()) {
        bail!("log.format must be text or json");
    }
    if c.security.session_ttl_hours < 1 {
        bail!("security.session_ttl_hours must be at least 1");
    }
    if !["dev", "smtp"].contains(&c.notify.email.sender.as_str()) {
        bail!("notify.email.sender must be dev or smtp");
    }
    if !["starttls", "tls", "none"].contains(&c.notify.email.tls.as_str()) {
        bail!("notify.email.tls must be starttls, tls or none");
    }
    if c.notify.email.sender == "smtp" && (c.notify.email.smtp_host.is_empty() || c.notify.email.from.is_empty()) {
        bail!("notify.email.sender = smtp needs notify.email.smtp_host and notify.email.from");
    }
    if !["dev", "http"].contains(&c.notify.sms.sender.as_str()) {
        bail!("notify.sms.sender must be dev or http");
    }
    if c.notify.sms.sender == "http" && c.notify.sms.url.is_empty() {
        bail!("notify.sms.sender = http needs notify.sms.url");
    }
    for h in &c.notify.sms.headers {
        if !h.expose().contains(':') {
            bail!("notify.sms.headers: each entry must look like `Name: value`");
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::Array(_) => "a comma-separated list",
        _ => "text",
    }
}

/// Reads an environment string as the type the default has at that key.
fn coerce(raw: &str, expected: &Value) -> Result<Value> {
    Ok(match expected {
        Value::Bool(_) => Value::Bool(match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => bail!("expected true or false"),
        }),
        Value::Number(_) => {
            let n: i64 = raw.trim().parse()?;
            Value::from(n)
        }
        Value::Array(_) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        _ => Value::String(raw.to_owned()),
    })
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn set(v: &mut Value, path: &[String], value: Value) {
    let mut cur = v;
    for (i, p) in path.iter().enumerate() {
        let Some(obj) = cur.as_object_mut() else { return };
        if i + 1 == path.len() {
            obj.insert(p.clone(), value);
            return;
        }
        cur = obj.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn unknown_keys(known: &Value, given: &Value, prefix: &str) -> Vec<String> {
    let (Some(k), Some(g)) = (known.as_object(), given.as_object()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in g {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match k.get(key) {
            None => out.push(name),
            Some(sub) if sub.is_object() => out.extend(unknown_keys(sub, value, &name)),
            Some(_) => {}
        }
    }
    out
}

/// The config with secrets masked, for `onestop config show`.
pub fn redacted_toml(c: &Config) -> Result<String> {
    let mut v = serde_json::to_value(c)?;
    set(
        &mut v,
        &["database".into(), "url".into()],
        Value::String(onestop_store::redact_url(c.database.url.expose())),
    );
    let mask = |s: &Secret| Value::String(if s.is_empty() { "" } else { "***" }.into());
    set(&mut v, &["audit".into(), "hmac_key".into()], mask(&c.audit.hmac_key));
    set(&mut v, &["crypto".into(), "data_key".into()], mask(&c.crypto.data_key));
    set(
        &mut v,
        &["crypto".into(), "old_data_keys".into()],
        Value::Array(c.crypto.old_data_keys.iter().map(mask).collect()),
    );
    set(
        &mut v,
        &["notify".into(), "email".into(), "smtp_password".into()],
        mask(&c.notify.email.smtp_password),
    );
    // Header names stay visible; their values (API keys) do not.
    let headers = c
        .notify
        .sms
        .headers
        .iter()
        .map(|h| Value::String(format!("{}: ***", h.expose().split(':').next().unwrap_or("").trim())))
        .collect();
    set(
        &mut v,
        &["notify".into(), "sms".into(), "headers".into()],
        Value::Array(headers),
    );
    Ok(toml::to_string_pretty(&v)?)
}

pub fn config_path_from_env() -> Option<PathBuf> {
    std::env::var_os("ONESTOP_CONFIG").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn layers_apply_in_order() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("onestop-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\nbody_limit = 10\n[database]\nurl = \"sqlite://a.db\"\n",
        )?;
        let secret = dir.join("key");
        std::fs::write(&secret, "file-secret-0123456789\n")?;
        let loaded = load(
            Some(&file),
            &env(&[
                ("ONESTOP_SERVER__BODY_LIMIT", "20"),
                ("ONESTOP_AUDIT__HMAC_KEY", "env-secret-0123456789"),
                ("ONESTOP_AUDIT__HMAC_KEY_FILE", secret.to_str().unwrap_or_default()),
                ("ONESTOP_SERVER__TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2"),
                ("ONESTOP_TEST_PG", "ignored"),
            ]),
            &[("server.listen", Value::String("127.0.0.1:9100".into()))],
        )?;
        let c = loaded.config;
        assert_eq!(c.server.listen, "127.0.0.1:9100", "flags beat the file");
        assert_eq!(c.server.body_limit, 20, "env beats the file");
        assert_eq!(c.database.url.expose(), "sqlite://a.db");
        assert_eq!(
            c.audit.hmac_key.expose(),
            "file-secret-0123456789",
            "*_FILE beats the plain variable"
        );
        assert_eq!(c.server.trusted_proxies, vec!["10.0.0.1", "10.0.0.2"]);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        Ok(())
    }

    #[test]
    fn unknown_keys_are_reported() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("onestop-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("c.toml");
        std::fs::write(&file, "[server]\nlisen = \"x\"\n")?;
        let err = load(Some(&file), &[], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("server.lisen"), "{err}");
        let loaded = load(None, &env(&[("ONESTOP_SERVER__LISEN", "x")]), &[])?;
        assert_eq!(loaded.warnings.len(), 1);
        Ok(())
    }

    #[test]
    fn secrets_never_show_in_debug() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("onestop-cfg3-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let key_file = dir.join("data.key");
        std::fs::write(&key_file, "c2VjcmV0LWRhdGEta2V5LXZhbHVlLTAxMjM0NTY3ODk=\n")?;
        let loaded = load(
            None,
            &env(&[
                ("ONESTOP_AUDIT__HMAC_KEY", "super-secret-value-123"),
                ("ONESTOP_CRYPTO__DATA_KEY_FILE", key_file.to_str().unwrap_or_default()),
                ("ONESTOP_NOTIFY__EMAIL__SMTP_PASSWORD", "smtp-secret-pw"),
                ("ONESTOP_NOTIFY__SMS__HEADERS", "X-Api-Key: sms-secret-key"),
            ]),
            &[],
        )?;
        assert_eq!(
            loaded.config.crypto.data_key.expose(),
            "c2VjcmV0LWRhdGEta2V5LXZhbHVlLTAxMjM0NTY3ODk="
        );
        let shown = format!("{:?}", loaded.config);
        let toml = redacted_toml(&loaded.config)?;
        for secret in ["super-secret-value-123", "c2VjcmV0", "smtp-secret-pw", "sms-secret-key"] {
            assert!(!shown.contains(secret), "{secret} in Debug");
            assert!(!toml.contains(secret), "{secret} in config show");
        }
        assert!(toml.contains("X-Api-Key: ***"));
        Ok(())
    }

    #[test]
    fn bad_values_are_explained() {
        let err = load(None, &env(&[("ONESTOP_SERVER__BODY_LIMIT", "lots")]), &[])
            .err()
            .map(|e| format!("{e:#}"));
        assert!(err.unwrap_or_default().contains("ONESTOP_SERVER__BODY_LIMIT"));
    }

    #[test]
    fn a_key_ending_in_file_is_a_plain_variable() -> Result<()> {
        let loaded = load(
            None,
            &env(&[("ONESTOP_AUDIT__CHECKPOINT_FILE", "/var/lib/onestop/checkpoints")]),
            &[],
        )?;
        assert_eq!(loaded.config.audit.checkpoint_file, "/var/lib/onestop/checkpoints");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        Ok(())
    }
}
