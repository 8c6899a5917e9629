//! The case sweepers, run once across processes under job leases (see `jobs::leased_loop`):
//! - deemed acceptance: an application with no decision or notice within the region's notice
//!   window (5 working days) counts as accepted on the day it was received, and its workflow starts;
//! - warnings: yellow when a running case's (or an open step's) remaining working days fall to the
//!   region's threshold, red once a deadline has passed. The level is stored on the case and the
//!   step so that warning lists are plain indexed queries.
use super::{Loaded, load_row, today_at, update_of, write_begin};
use crate::state::AppState;
use onestop_domain::case_clock::{
    CaseRulesSetting, DeemedAcceptance, WarningLevel, WarningThreshold, deemed_acceptance,
};
use onestop_domain::intake::{CaseEvent, IntakeRules};
use onestop_store::audit::AuditEntry;
use onestop_store::cases as store;
use onestop_store::{StoreError, calendars, region_settings};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How often the sweepers run.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

const ACTOR: &str = "system:deemed-acceptance";

/// Accepts every application whose notice window has passed without a decision or notice.
/// Returns how many were accepted.
pub async fn deemed_acceptances(state: &AppState) -> Result<u64, StoreError> {
    let now = state.clock.now();
    let today = today_at(now);
    let ids = {
        let mut c = state.store.read().acquire().await?;
        store::awaiting_intake_before(&mut c, &today.to_string(), 500).await?
    };
    let mut n = 0;
    for id in ids {
        let (mut l, cal, window) = {
            let mut c = state.store.read().acquire().await?;
            let l = load_row(store::get(&mut c, id).await?)?;
            let cal = calendars::calendar_for(&mut c, l.row.region_id).await?;
            let rules = region_settings::effective::<CaseRulesSetting>(&mut c, l.row.region_id)
                .await?
                .value;
            (l, cal, rules.notice_window_days)
        };
        let received = l.intake.received_on;
        let Ok(DeemedAcceptance::Deemed { accepted_on, .. }) = deemed_acceptance(&cal, received, None, today, window)
        else {
            continue;
        };
        let Ok(since) = cal.working_days_between(received, today) else {
            continue;
        };
        let rules = IntakeRules {
            notice_window_working_days: window,
        };
        let event = CaseEvent::DeemedAcceptance {
            working_days_since_receipt: u32::try_from(since.max(0)).unwrap_or(u32::MAX),
        };
        if l.intake.apply(&rules, &event).is_err() {
            continue;
        }
        l.status = l.intake.status;
        let Ok((auto_close, opened)) = l.begin(accepted_on) else {
            continue;
        };
        let update = update_of(&l, &cal, l.status.is_final(), None);
        let expected = (l.row.status.clone(), l.row.updated_at);
        let l: Arc<Loaded> = Arc::new(l);
        let cal = Arc::new(cal);
        let (st, keys) = (state.clone(), state.infra.data_keys.clone()); // ratecase
        let done = state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let row = &l.row;
                    store::update(tx, row.id, &expected.0, expected.1, &update, now).await?;
                    write_begin(tx, &l, &auto_close, &opened, ACTOR, &cal, today, now).await?;
                    // ratecase: counted as accepted (by nobody in particular) in this transaction
                    if let Some(keys) = &keys {
                        let first = auto_close.iter().chain(&opened).next();
                        crate::ratings::cases::after_begin(tx, &st, keys, &l, first, 0, &update, today, now).await?;
                    }
                    let detail = json!({"accepted_on": accepted_on.to_string(), "deemed": true});
                    store::append_event(tx, row.id, now, ACTOR, "intake.deemed", &detail).await?;
                    store::add_notice(tx, row.id, "acceptance", ACTOR, &detail, now).await?;
                    tx.audit(AuditEntry {
                        region_id: row.region_id,
                        at: now,
                        actor: ACTOR.into(),
                        action: "case.intake",
                        entity: "case",
                        entity_id: row.case_no.clone(),
                        detail: json!({"decision": "deemed"}),
                    })
                    .await?;
                    Ok::<_, StoreError>(())
                })
            })
            .await;
        match done {
            Ok(()) => n += 1,
            // Someone decided it meanwhile: nothing to do.
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn level_str(l: WarningLevel) -> &'static str {
    match l {
        WarningLevel::None => "none",
        WarningLevel::Yellow => "yellow",
        WarningLevel::Red => "red",
    }
}

/// Recomputes the warning level of every running case and open step; writes only the changes.
/// Returns how many levels changed.
pub async fn warnings(state: &AppState) -> Result<u64, StoreError> {
    warnings_at(state, state.clock.now()).await
}

/// [`warnings`] as of `now` (time is a parameter). A 容缺 commitment whose deadline passed
/// without the materials is flagged once and keeps the case red until they arrive.
pub async fn warnings_at(state: &AppState, now: jiff::Timestamp) -> Result<u64, StoreError> {
    let today = today_at(now);
    let rows = {
        let mut c = state.store.read().acquire().await?;
        let mut rows = Vec::new();
        for status in ["in_progress", "suspended"] {
            rows.extend(store::list(&mut c, &["/".to_owned()], Some(status), None, None, 500).await?);
        }
        rows
    };
    let mut changes: Vec<(Option<i64>, i64, &'static str)> = Vec::new();
    for row in rows {
        let mut c = state.store.read().acquire().await?;
        let l = load_row(row)?;
        let cal = calendars::calendar_for(&mut c, l.row.region_id).await?;
        let rules = region_settings::effective::<CaseRulesSetting>(&mut c, l.row.region_id)
            .await?
            .value;
        let threshold = WarningThreshold(rules.warning_threshold_days);
        super::links::flag_pending_overdue(state, &l, today, now).await?;
        let overdue = l
            .intake
            .pending
            .as_ref()
            .is_some_and(|p| p.outstanding() && today > p.deadline);
        if let Ok(level) = l.clock.warning_level(&cal, today, threshold) {
            let level = if overdue { WarningLevel::Red } else { level };
            let s = level_str(level);
            if s != l.row.warning {
                changes.push((None, l.row.id, s));
            }
        }
        for step in store::steps(&mut c, l.row.id).await? {
            if step.ended_at.is_some() {
                continue;
            }
            let Some(due) = step.due_on.as_deref().and_then(|d| d.parse::<jiff::civil::Date>().ok()) else {
                continue;
            };
            let level = if today > due {
                WarningLevel::Red
            } else {
                match cal.working_days_between(today, due) {
                    Ok(left) if left <= i64::from(threshold.0) => WarningLevel::Yellow,
                    _ => WarningLevel::None,
                }
            };
            let s = level_str(level);
            if s != step.warning {
                changes.push((Some(step.id), l.row.id, s));
            }
        }
    }
    let n = changes.len() as u64;
    if n > 0 {
        state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    for (step, case, level) in &changes {
                        match step {
                            Some(s) => store::set_step_warning(tx, *s, level).await?,
                            None => {
                                crate::ratings::cases::on_warning(tx, *case, level, now).await?; // ratecase
                                store::set_warning(tx, *case, level).await?
                            }
                        }
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await?;
    }
    Ok(n)
}

/// Starts both sweepers, each under its own lease.
pub fn spawn(state: AppState, stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(crate::jobs::leased_loop(
        state.clone(),
        "case-deemed-acceptance",
        SWEEP_INTERVAL,
        stop.clone(),
        |state| async move { deemed_acceptances(&state).await.map(|_| ()) },
    ));
    tokio::spawn(crate::jobs::leased_loop(
        state,
        "case-warnings",
        SWEEP_INTERVAL,
        stop,
        |state| async move { warnings(&state).await.map(|_| ()) },
    ));
}
