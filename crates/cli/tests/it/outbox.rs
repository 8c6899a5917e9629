//! The notification outbox against local sinks: an SMTP server and an HTTP SMS gateway written
//! here, and the development sink shown at /dev/outbox. Messages go out only if their
//! transaction commits, are retried with backoff, and are claimed once across processes.
use crate::both_backends;
use crate::common::*;
use onestop_domain::ids::Phone;
use onestop_store::StoreError;
use onestop_web::notify::{
    self, EmailSender, HttpSmsSettings, Notifier, NotifySettings, SmsSender, SmtpSettings, SmtpTls,
};
use reqwest::StatusCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn keys(app: &TestApp) -> Arc<onestop_web::crypto::DataKeys> {
    app.state.infra.data_keys.clone().unwrap()
}

async fn queue_sms(app: &TestApp, phone: &str, text: &str) -> i64 {
    let (k, phone, text, at) = (
        keys(app),
        Phone::parse(phone).unwrap(),
        text.to_owned(),
        app.clock_now(),
    );
    app.store
        .write(move |tx| Box::pin(async move { notify::queue_sms(tx, &k, &phone, &text, at).await }))
        .await
        .unwrap()
}

trait Now {
    fn clock_now(&self) -> jiff::Timestamp;
}
impl Now for TestApp {
    fn clock_now(&self) -> jiff::Timestamp {
        use onestop_domain::clock::Clock;
        self.clock.now()
    }
}

async fn row(app: &TestApp, id: i64) -> onestop_store::outbox::OutboxRow {
    onestop_store::outbox::get(app.store.read(), id).await.unwrap()
}

/// A one-connection-at-a-time SMTP server that records each message's envelope and data.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let record = got.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (read, mut write) = sock.into_split();
            let mut lines = BufReader::new(read).lines();
            let mut transcript = String::new();
            let _ = write.write_all(b"220 sink ESMTP\r\n").await;
            while let Ok(Some(line)) = lines.next_line().await {
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") {
                    b"250-sink\r\n250 8BITMIME\r\n"
                } else if upper.starts_with("DATA") {
                    let _ = write.write_all(b"354 go on\r\n").await;
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                        transcript.push_str(&l);
                        transcript.push('\n');
                    }
                    record.lock().unwrap().push(std::mem::take(&mut transcript));
                    b"250 queued\r\n"
                } else if upper.starts_with("QUIT") {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    break;
                } else {
                    transcript.push_str(&line);
                    transcript.push('\n');
                    b"250 ok\r\n"
                };
                let _ = write.write_all(reply).await;
            }
        }
    });
    (port, got)
}

#[derive(Default)]
struct HttpSink {
    requests: Mutex<Vec<(Option<String>, serde_json::Value)>>,
    fail: std::sync::atomic::AtomicBool,
}

/// An HTTP SMS gateway that records each JSON POST (and can be told to fail).
async fn http_sink() -> (String, Arc<HttpSink>) {
    use axum::routing::post;
    let sink = Arc::new(HttpSink::default());
    let s = sink.clone();
    let app = axum::Router::new().route(
        "/sms",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let s = s.clone();
            async move {
                if s.fail.load(std::sync::atomic::Ordering::SeqCst) {
                    return axum::http::StatusCode::BAD_GATEWAY;
                }
                let key = headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                s.requests
                    .lock()
                    .unwrap()
                    .push((key, serde_json::from_str(&body).unwrap_or_default()));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, sink)
}

both_backends! {
    async fn dev_sink_shows_messages_to_system_admins(app: TestApp) {
        let id = queue_sms(&app, "13800001234", "【一站通】您的验证码是 482913，5 分钟内有效。").await;
        assert_eq!(row(&app, id).await.status, "queued");
        // The phone is sealed in the database.
        let raw = app.db.raw().await;
        let stored: String = sqlx::query_scalar("SELECT recipient FROM outbox WHERE id = $1").bind(id).fetch_one(&raw).await.unwrap();
        assert!(stored.starts_with("v1.") && !stored.contains("13800001234"));
        raw.close().await;

        let notifier = Notifier::new(NotifySettings::default()).unwrap();
        assert_eq!(notify::deliver_due(&app.state, &notifier).await.unwrap(), 1);
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.sent_via.as_deref(), r.attempts), ("sent", Some("dev"), 1));
        assert_eq!(notify::deliver_due(&app.state, &notifier).await.unwrap(), 0, "sent once");

        let admin = app.login("jingjiang.sysadmin").await;
        let res = admin.get("/dev/outbox").await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("482913") && html.contains("13800001234"), "{html}");
        let clerk = app.login("luoping.clerk").await;
        assert_eq!(clerk.get("/dev/outbox").await.status(), StatusCode::FORBIDDEN);
        let anon = TestApp::client().get(app.url("/dev/outbox")).send().await.unwrap();
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);

        // A message queued by a transaction that fails is never sent.
        let (k, at) = (keys(&app), app.clock_now());
        let r: Result<i64, StoreError> = app.store.write(move |tx| Box::pin(async move {
            notify::queue_sms(tx, &k, &Phone::parse("13900002222").unwrap(), "never", at).await?;
            Err(StoreError::conflict("test", "rolled back"))
        })).await;
        assert!(r.is_err());
        let all = onestop_store::outbox::recent(app.store.read(), None, 10).await.unwrap();
        assert!(all.iter().all(|m| m.body != "never"));
    }
}

both_backends! {
    async fn smtp_sender_delivers_to_a_local_server(app: TestApp) {
        let (port, got) = smtp_sink().await;
        let notifier = Notifier::new(NotifySettings {
            email: EmailSender::Smtp(SmtpSettings {
                host: "127.0.0.1".into(),
                port,
                user: String::new(),
                password: String::new(),
                from: "OneStop <noreply@onestop.test>".into(),
                tls: SmtpTls::None,
            }),
            ..NotifySettings::default()
        }).unwrap();
        let (k, at) = (keys(&app), app.clock_now());
        let id = app.store.write(move |tx| Box::pin(async move {
            notify::queue_email(tx, &k, "zhang.san@example.test", "Case accepted", "Your case 990121-20260318-00001 was accepted.", at).await
        })).await.unwrap();
        assert_eq!(row(&app, id).await.recipient_masked, "z***@example.test");
        assert_eq!(notify::deliver_due(&app.state, &notifier).await.unwrap(), 1);
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.sent_via.as_deref()), ("sent", Some("smtp")), "{:?}", r.last_error);
        let mails = got.lock().unwrap().clone();
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("Subject: Case accepted"), "{}", mails[0]);
        assert!(mails[0].contains("990121-20260318-00001"));
        assert!(mails[0].contains("To: zhang.san@example.test"));
    }
}

both_backends! {
    async fn http_sms_sender_posts_json_and_retries_with_backoff(app: TestApp) {
        let (url, sink) = http_sink().await;
        let notifier = Notifier::new(NotifySettings {
            sms: SmsSender::Http(HttpSmsSettings {
                url,
                headers: vec![("X-Api-Key".into(), "gateway-secret".into())],
                body_template: r#"{"mobile":"{phone}","content":"{text}","sign":"一站通"}"#.into(),
                timeout: Duration::from_secs(5),
            }),
            max_attempts: 3,
            ..NotifySettings::default()
        }).unwrap();
        sink.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let id = queue_sms(&app, "13800001234", "您的办件已受理 \"990121\"").await;
        assert_eq!(notify::deliver_due(&app.state, &notifier).await.unwrap(), 0);
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.attempts), ("queued", 1));
        assert!(r.last_error.unwrap().contains("502"));
        assert_eq!(r.next_attempt_at, app.clock_now().as_millisecond() + 30_000, "retried after 30 s");
        // Not yet due.
        assert_eq!(notify::deliver_due(&app.state, &notifier).await.unwrap(), 0);
        assert_eq!(row(&app, id).await.attempts, 1);

        sink.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        app.clock.advance(jiff::SignedDuration::from_secs(31));
        assert_eq!(notify::deliver_due(&app.state, &notifier).await.unwrap(), 1);
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.sent_via.as_deref(), r.attempts), ("sent", Some("http_sms"), 2));
        let reqs = sink.requests.lock().unwrap().clone();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].0.as_deref(), Some("gateway-secret"));
        assert_eq!(reqs[0].1["mobile"], "13800001234");
        assert_eq!(reqs[0].1["content"], "您的办件已受理 \"990121\"");

        // A gateway that keeps failing: given up after max_attempts.
        sink.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let id = queue_sms(&app, "13800005678", "x").await;
        for _ in 0..3 {
            notify::deliver_due(&app.state, &notifier).await.unwrap();
            app.clock.advance(jiff::SignedDuration::from_hours(1));
        }
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.attempts), ("failed", 3));
    }
}

both_backends! {
    async fn concurrent_claims_never_take_the_same_message(app: TestApp) {
        for i in 0..20 {
            queue_sms(&app, "13800001234", &format!("m{i}")).await;
        }
        let claim = |store: onestop_store::Store, now: jiff::Timestamp| async move {
            store.write(move |tx| Box::pin(async move {
                onestop_store::outbox::claim(tx, now, 20, jiff::SignedDuration::from_mins(5)).await
            })).await.unwrap()
        };
        let (a, b) = tokio::join!(claim(app.store.clone(), app.clock_now()), claim(app.store.clone(), app.clock_now()));
        let mut ids: Vec<i64> = a.iter().chain(b.iter()).map(|m| m.id).collect();
        assert_eq!(ids.len(), 20, "every message claimed once");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20, "no message claimed twice");
        // A claim whose holder died comes back after its lease.
        app.clock.advance(jiff::SignedDuration::from_mins(6));
        let again = claim(app.store.clone(), app.clock_now()).await;
        assert_eq!(again.len(), 20);
        assert!(again.iter().all(|m| m.attempts == 2));
    }
}
