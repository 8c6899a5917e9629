//! PostgreSQL LISTEN/NOTIFY: the bridge that carries live notifications between processes.
//! `Tx::notify` sends `pg_notify('onestop_events', {"channel", "payload"})` inside the write
//! transaction; here every process LISTENs on that one channel and re-broadcasts what arrives
//! into its own `Store::subscribe` sender, its own commits included. On SQLite (one process)
//! the writer publishes locally after commit instead.
use crate::Notification;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::broadcast;

/// The one PostgreSQL channel every logical channel travels on.
pub(crate) const PG_CHANNEL: &str = "onestop_events";

#[derive(Deserialize)]
struct Wire {
    channel: String,
    payload: String,
}

/// Starts the listener task. It reconnects with a capped back-off and stops when every
/// receiver and the store (which holds the sender) are gone.
pub(crate) fn spawn(url: String, events: broadcast::Sender<Notification>) {
    let weak = events.downgrade();
    drop(events);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match listen_once(&url, &weak).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                    // Views that missed events while disconnected are told to resynchronise.
                    if let Some(tx) = weak.upgrade() {
                        let _ = tx.send(Notification {
                            channel: "resync".into(),
                            payload: String::new(),
                        });
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            if weak.upgrade().is_none() {
                return;
            }
        }
    });
}

async fn listen_once(url: &str, weak: &broadcast::WeakSender<Notification>) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    // Reconnection is ours to do (with the resync above), not the driver's silent one.
    listener.ignore_pool_close_event(false);
    listener.listen(PG_CHANNEL).await?;
    loop {
        // Wake up now and then so that a dropped store ends the task.
        let next = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await;
        let Some(tx) = weak.upgrade() else { return Ok(()) };
        match next {
            Err(_) => continue,
            Ok(Ok(Some(n))) => match serde_json::from_str::<Wire>(n.payload()) {
                Ok(w) => {
                    let _ = tx.send(Notification {
                        channel: w.channel,
                        payload: w.payload,
                    });
                }
                Err(e) => tracing::warn!(error = %e, "unreadable notification ignored"),
            },
            Ok(Ok(None)) => return Err(sqlx::Error::Protocol("LISTEN connection closed".into())),
            Ok(Err(e)) => return Err(e),
        }
    }
}
