//! Notifications: queue a message in the transaction of the event that causes it (recipient
//! sealed), and a sender job, run once across processes, that delivers due messages through
//! the sender configured for their channel: SMTP e-mail, a generic HTTP SMS gateway (a JSON
//! POST), or the development sink (the message stays in the outbox, shown at `/dev/outbox`).
use crate::crypto::{DataKeys, purpose};
use crate::state::AppState;
use onestop_domain::ids::Phone;
use onestop_store::outbox::{self, NewMessage, OutboxRow};
use onestop_store::{StoreError, Tx};
use std::time::Duration;
use tokio::sync::watch;

/// How `tls` is done with the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587); the upgrade is required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test sink.
    None,
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub from: String,
    pub tls: SmtpTls,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("from", &self.from)
            .field("tls", &self.tls)
            .finish()
    }
}

#[derive(Clone)]
pub struct HttpSmsSettings {
    pub url: String,
    /// `Name: value` pairs (an API key goes here; never logged).
    pub headers: Vec<(String, String)>,
    /// JSON with `{phone}` and `{text}` placeholders, each replaced by the JSON-escaped value.
    pub body_template: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpSmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpSmsSettings")
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_template", &self.body_template)
            .finish()
    }
}

impl HttpSmsSettings {
    /// The request body for one message.
    pub fn body(&self, phone: &str, text: &str) -> String {
        let esc = |s: &str| {
            let q = serde_json::Value::String(s.to_owned()).to_string();
            q[1..q.len() - 1].to_owned()
        };
        self.body_template
            .replace("{phone}", &esc(phone))
            .replace("{text}", &esc(text))
    }

    /// Checks the template yields JSON (at start-up, not at the first message).
    pub fn check(&self) -> Result<(), String> {
        serde_json::from_str::<serde_json::Value>(&self.body("13800000000", "测试 \"quoted\"\n"))
            .map(|_| ())
            .map_err(|e| format!("notify.sms.body_template does not give JSON: {e}"))?;
        reqwest::Url::parse(&self.url).map_err(|e| format!("notify.sms.url: {e}"))?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub enum EmailSender {
    Dev,
    Smtp(SmtpSettings),
}

#[derive(Debug, Clone)]
pub enum SmsSender {
    Dev,
    Http(HttpSmsSettings),
}

/// Settings of the outbox sender job.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub email: EmailSender,
    pub sms: SmsSender,
    /// How often the job looks for due messages.
    pub interval: Duration,
    /// Attempts before a message is marked `failed`.
    pub max_attempts: i64,
    /// Messages claimed per round.
    pub batch: i64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            email: EmailSender::Dev,
            sms: SmsSender::Dev,
            interval: Duration::from_secs(2),
            max_attempts: 8,
            batch: 50,
        }
    }
}

/// Queues an SMS to `phone` inside `tx`.
pub async fn queue_sms(
    tx: &mut Tx,
    keys: &DataKeys,
    phone: &Phone,
    text: &str,
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    let sealed = keys.seal_str(purpose::OUTBOX_RECIPIENT, phone.as_str());
    tx.enqueue_message(
        NewMessage {
            channel: "sms",
            recipient_sealed: &sealed,
            recipient_masked: &phone.masked(),
            subject: "",
            body: text,
        },
        at,
    )
    .await
}

/// Masks an e-mail address for lists and logs: `z***@example.cn`.
pub fn mask_email(addr: &str) -> String {
    match addr.split_once('@') {
        Some((user, domain)) => {
            let first: String = user.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// Queues an e-mail inside `tx`.
pub async fn queue_email(
    tx: &mut Tx,
    keys: &DataKeys,
    to: &str,
    subject: &str,
    body: &str,
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    let sealed = keys.seal_str(purpose::OUTBOX_RECIPIENT, to);
    tx.enqueue_message(
        NewMessage {
            channel: "email",
            recipient_sealed: &sealed,
            recipient_masked: &mask_email(to),
            subject,
            body,
        },
        at,
    )
    .await
}

/// Delivers messages: holds the transports, built once.
pub struct Notifier {
    settings: NotifySettings,
    smtp: Option<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("settings", &self.settings).finish()
    }
}

impl Notifier {
    pub fn new(settings: NotifySettings) -> Result<Self, String> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::{AsyncSmtpTransport, Tokio1Executor};
        let smtp = match &settings.email {
            EmailSender::Dev => None,
            EmailSender::Smtp(s) => {
                s.from
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|e| format!("notify.email.from {:?}: {e}", s.from))?;
                let builder = match s.tls {
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
                    SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                        .map_err(|e| format!("notify.email: {e}"))?,
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                        .map_err(|e| format!("notify.email: {e}"))?,
                };
                let mut builder = builder.port(s.port).timeout(Some(Duration::from_secs(20)));
                if !s.user.is_empty() {
                    builder = builder.credentials(Credentials::new(s.user.clone(), s.password.clone()));
                }
                Some(builder.build())
            }
        };
        let timeout = match &settings.sms {
            SmsSender::Http(h) => {
                h.check()?;
                h.timeout
            }
            SmsSender::Dev => Duration::from_secs(10),
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { settings, smtp, http })
    }

    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    /// Sends one message; returns the sender's name (`smtp`, `http_sms`, `dev`).
    async fn send(&self, m: &OutboxRow, recipient: &str) -> Result<&'static str, String> {
        match (m.channel.as_str(), &self.settings.email, &self.settings.sms) {
            ("email", EmailSender::Smtp(s), _) => {
                use lettre::AsyncTransport;
                use lettre::message::header::ContentType;
                let to = recipient
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|e| format!("bad address: {e}"))?;
                let from = s
                    .from
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|e| format!("bad sender address: {e}"))?;
                let email = lettre::Message::builder()
                    .from(from)
                    .to(to)
                    .subject(m.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(m.body.clone())
                    .map_err(|e| e.to_string())?;
                let transport = self.smtp.as_ref().ok_or("SMTP transport missing")?;
                transport.send(email).await.map_err(|e| format!("SMTP: {e}"))?;
                Ok("smtp")
            }
            ("sms", _, SmsSender::Http(h)) => {
                let mut req = self
                    .http
                    .post(&h.url)
                    .header("content-type", "application/json")
                    .body(h.body(recipient, &m.body));
                for (name, value) in &h.headers {
                    req = req.header(name.as_str(), value.as_str());
                }
                let res = req
                    .send()
                    .await
                    .map_err(|e| format!("SMS gateway: {}", e.without_url()))?;
                if res.status().is_success() {
                    Ok("http_sms")
                } else {
                    Err(format!("SMS gateway answered HTTP {}", res.status().as_u16()))
                }
            }
            _ => Ok("dev"),
        }
    }
}

/// Wait before attempt `attempts + 1`: 30 s, 1 min, 2 min, ... at most an hour.
pub fn backoff(attempts: i64) -> jiff::SignedDuration {
    let exp = attempts.clamp(1, 8) - 1;
    jiff::SignedDuration::from_secs((30i64 << exp).min(3600))
}

/// One round: claims due messages, sends them, records each outcome. Returns how many were
/// sent. Recipients are opened only here, in memory, and never logged.
pub async fn deliver_due(state: &AppState, notifier: &Notifier) -> Result<usize, StoreError> {
    let Some(keys) = state.infra.data_keys.clone() else {
        return Ok(0);
    };
    let now = state.clock.now();
    let batch = notifier.settings.batch;
    let claimed = state
        .store
        .write(move |tx| {
            Box::pin(async move { outbox::claim(tx, now, batch, jiff::SignedDuration::from_mins(5)).await })
        })
        .await?;
    let mut sent = 0;
    for m in claimed {
        let outcome = match keys.open_str(purpose::OUTBOX_RECIPIENT, &m.recipient) {
            Ok(to) => notifier.send(&m, &to).await,
            Err(e) => Err(format!("recipient cannot be opened: {e}")),
        };
        let at = state.clock.now();
        let (id, attempts) = (m.id, m.attempts);
        let max = notifier.settings.max_attempts;
        match outcome {
            Ok(via) => {
                sent += 1;
                state
                    .store
                    .write(move |tx| Box::pin(async move { outbox::mark_sent(tx, id, via, at).await }))
                    .await?;
            }
            Err(error) => {
                tracing::warn!(message_id = id, channel = %m.channel, attempts, error = %error, "notification not sent");
                let retry = (attempts < max).then(|| at + backoff(attempts));
                state
                    .store
                    .write(move |tx| Box::pin(async move { outbox::mark_failed(tx, id, &error, retry).await }))
                    .await?;
            }
        }
    }
    Ok(sent)
}

/// Starts the sender job (one process at a time holds its lease).
pub fn spawn(state: AppState, notifier: Notifier, stop: watch::Receiver<bool>) {
    let notifier = std::sync::Arc::new(notifier);
    let interval = notifier.settings.interval;
    tokio::spawn(crate::jobs::leased_loop(
        state,
        "outbox-sender",
        interval,
        stop,
        move |state| {
            let n = notifier.clone();
            async move { deliver_due(&state, &n).await.map(|_| ()) }
        },
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_bodies_escape_what_they_carry() {
        let h = HttpSmsSettings {
            url: "http://127.0.0.1:9/sms".into(),
            headers: vec![],
            body_template: r#"{"to":"{phone}","content":"{text}","sign":"OneStop"}"#.into(),
            timeout: Duration::from_secs(1),
        };
        assert!(h.check().is_ok());
        let v: serde_json::Value =
            serde_json::from_str(&h.body("13800001234", "验证码 \"1234\"\n")).unwrap_or_default();
        assert_eq!(v["content"], "验证码 \"1234\"\n");
        assert_eq!(v["to"], "13800001234");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1).as_secs(), 30);
        assert_eq!(backoff(2).as_secs(), 60);
        assert_eq!(backoff(20).as_secs(), 3600);
    }

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask_email("zhang@example.cn"), "z***@example.cn");
    }
}
