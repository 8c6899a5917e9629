//! Background jobs. Each runs once across every process sharing the database, by holding a
//! lease row; a process that dies lets its lease expire and another takes over.
use crate::state::AppState;
use onestop_store::{StoreError, leases, ratelimit, sessions};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Settings of the audit checkpoint job.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    /// Checkpoints are appended to this file (JSON lines), outside the database.
    pub file: Option<PathBuf>,
    pub interval: Duration,
}

/// Runs `job` every `interval` while this process holds lease `name`.
pub(crate) async fn leased_loop<F, Fut>(
    state: AppState,
    name: &'static str,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    job: F,
) where
    F: Fn(AppState) -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let holder = state.settings.instance_id.clone();
    loop {
        let now = state.clock.now();
        let ttl = jiff::SignedDuration::try_from(interval * 3).unwrap_or(jiff::SignedDuration::from_mins(5));
        let h = holder.clone();
        let got = state
            .store
            .write(move |tx| Box::pin(async move { leases::try_acquire(tx, name, &h, now, ttl).await }))
            .await;
        match got {
            Ok(true) => {
                if let Err(e) = job(state.clone()).await {
                    tracing::warn!(job = name, error = %e, "background job failed");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(job = name, error = %e, "could not take job lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// How often the no-show sweep runs.
pub const NO_SHOW_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Marks bookings that were never checked in as no-shows once their slot and the late grace
/// (`queue.policy` of the hall's region, `appointment_late_grace_min`: the last moment the kiosk
/// accepts them) are over. Returns how many were marked. This is what feeds the no-show rule that
/// blocks booking.
pub async fn sweep_no_shows(state: &AppState) -> Result<u64, StoreError> {
    let now = state.clock.now();
    // Every slot that ended before now is a candidate; each hall then applies its own grace.
    let halls = onestop_store::queue::halls_with_unswept_bookings(state.store.read(), now).await?;
    let mut n = 0;
    for (hall_id, region_id) in halls {
        let policy = crate::settings::effective::<onestop_domain::queue::QueuePolicySetting>(state, region_id)
            .await
            .map(|v| v.policy())
            .unwrap_or_default();
        let before = now - policy.appointment_late_grace;
        n += state
            .store
            .write(move |tx| {
                Box::pin(async move { onestop_store::queue::sweep_no_shows_of_hall(tx, hall_id, before, now).await })
            })
            .await?;
    }
    if n > 0 {
        tracing::info!(marked = n, "appointment no-shows marked");
    }
    Ok(n)
}

/// How often overdue follow-ups and default ratings are swept (ratings).
pub const RATINGS_SWEEP_INTERVAL: Duration = Duration::from_secs(300);

/// Starts the housekeeping jobs: audit checkpoints, expired sessions and rate-limit windows,
/// and the appointment no-show sweep.
pub fn spawn(state: AppState, checkpoints: CheckpointSettings, stop: watch::Receiver<bool>) {
    let s = state.clone();
    let cp = checkpoints.clone();
    tokio::spawn(leased_loop(
        s,
        "audit-checkpoint",
        cp.interval,
        stop.clone(),
        move |state| {
            let file = cp.file.clone();
            async move { write_checkpoint(&state, file.as_deref()).await }
        },
    ));
    tokio::spawn(leased_loop(
        state.clone(),
        "no-show-sweep",
        NO_SHOW_SWEEP_INTERVAL,
        stop.clone(),
        |state| async move { sweep_no_shows(&state).await.map(|_| ()) },
    ));
    // ratings: overdue follow-ups are warned, unrated events defaulted where a region says so
    tokio::spawn(leased_loop(
        state.clone(),
        "ratings-sweep",
        RATINGS_SWEEP_INTERVAL,
        stop.clone(),
        |state| async move {
            crate::ratings::sweep_overdue(&state).await?;
            crate::ratings::default_unrated(&state).await.map(|_| ())
        },
    ));
    // score: freeze last month's scorecards once (every region with halls; idempotent)
    tokio::spawn(leased_loop(
        state.clone(),
        "scorecard-freeze",
        crate::scorecards::FREEZE_INTERVAL,
        stop.clone(),
        |state| async move {
            crate::scorecards::freeze_last_month(&state)
                .await
                .map(|_| ())
                .map_err(|e| StoreError::Config(format!("scorecard freeze: {}", e.code)))
        },
    ));
    tokio::spawn(leased_loop(
        state,
        "housekeeping",
        Duration::from_secs(300),
        stop,
        |state| async move {
            let now = state.clock.now();
            state
                .store
                .write(move |tx| {
                    Box::pin(async move {
                        sessions::purge_expired(tx, now).await?;
                        ratelimit::purge(tx, now - jiff::SignedDuration::from_hours(2)).await?;
                        Ok::<_, StoreError>(())
                    })
                })
                .await
        },
    ));
}

/// Signs every chain's head and appends it to the checkpoint file (or the log).
pub async fn write_checkpoint(state: &AppState, file: Option<&std::path::Path>) -> Result<(), StoreError> {
    let cp = state.store.audit_checkpoint(state.clock.now()).await?;
    let line = serde_json::to_string(&cp).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    match file {
        Some(path) => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| StoreError::Config(format!("checkpoint file {}: {e}", path.display())))?;
            writeln!(f, "{line}")
                .and_then(|_| f.sync_all())
                .map_err(|e| StoreError::Config(e.to_string()))?;
        }
        None => tracing::info!(checkpoint = %line, "audit checkpoint"),
    }
    Ok(())
}
