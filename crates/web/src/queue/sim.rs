//! The demo's hall floor: queue categories, window mappings and appointment slots for every demo
//! hall, and the traffic simulator that keeps visitors arriving (a morning peak, a lunch lull)
//! and simulated clerks calling and serving them, on the demo clock. The simulator runs in one
//! process at a time (a lease row), and leaves alone any window a real clerk has taken.
use crate::auth::{Credential, Grant, Principal};
use crate::error::ApiResult;
use crate::queue::{self as ops, Taker, TransferTo, WindowAction, WindowChange};
use crate::state::AppState;
use jiff::{SignedDuration, Timestamp};
use onestop_domain::queue::{PriorityGroup, SplitMix64};
use onestop_domain::region::RegionPath;
use onestop_domain::role::Role;
use onestop_store::users::User;
use onestop_store::{StoreError, leases, org};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

/// (prefix, name, share of arrivals in percent).
pub const DEMO_CATEGORIES: &[(&str, &str, u64)] = &[
    ("A", "综合受理", 40),
    ("B", "企业开办", 15),
    ("C", "不动产登记", 15),
    ("D", "社保医保", 15),
    ("E", "户籍证件", 15),
];

/// What each demo window serves: windows 1–4 are general (综合), 5–10 specialised.
fn demo_mapping(number: &str) -> Vec<(String, i64)> {
    let m: &[(&str, i64)] = match number {
        "1" | "2" | "3" | "4" => &[("A", 1), ("E", 2), ("D", 3)],
        "5" | "6" => &[("B", 1), ("A", 2)],
        "7" | "8" => &[("C", 1), ("A", 2)],
        "9" => &[("D", 1), ("A", 2)],
        _ => &[("E", 1), ("D", 2)],
    };
    m.iter().map(|(p, r)| ((*p).to_owned(), *r)).collect()
}

/// Hours (local) with bookable slots, and places per slot.
const SLOT_HOURS: [i8; 6] = [9, 10, 11, 14, 15, 16];
const SLOT_CAPACITY: i64 = 4;

/// Seeds a demo hall's categories, window mappings and a week of slots for B and C.
pub async fn seed_hall(state: &AppState, sys: &Principal, hall_id: i64) -> ApiResult<()> {
    for (prefix, name, _) in DEMO_CATEGORIES {
        ops::create_category(state, sys, hall_id, prefix, name).await?;
    }
    for w in org::windows_of_hall(state.store.read(), hall_id).await? {
        ops::set_window_categories(state, sys, w.id, &demo_mapping(&w.number)).await?;
    }
    ensure_slots(state, sys, hall_id, 7).await
}

/// Makes sure the next `days` days have slots (the demo database outlives its first day).
pub async fn ensure_slots(state: &AppState, sys: &Principal, hall_id: i64, days: i64) -> ApiResult<()> {
    let today = state.clock.now().to_zoned(ops::hall_tz()).date();
    for d in 0..days {
        let Ok(day) = today.checked_add(jiff::Span::new().days(d)) else {
            continue;
        };
        if day.weekday().to_monday_one_offset() > 5 {
            continue;
        }
        for cat in ["B", "C"] {
            ops::set_slots(state, sys, hall_id, cat, day, &SLOT_HOURS, SLOT_CAPACITY).await?;
        }
    }
    Ok(())
}

/// The simulated clerks: a hall manager over every region, so it may work any window.
pub fn sim_principal() -> Principal {
    Principal {
        user: User {
            id: 0,
            username: "demo-sim".into(),
            display_name: "演示值守".into(),
            disabled: 0,
            hall_id: None,
            department_id: None,
        },
        grants: vec![Grant {
            role: Role::HallManager,
            region_id: 0,
            region_path: RegionPath::from_stored("/".into()),
            region_code: String::new(),
            region_name: "全部".into(),
        }],
        credential: Credential::Session {
            token_hash: String::new(),
            csrf: String::new(),
            last_seen_ms: i64::MAX,
        },
    }
}

/// Visitors per minute in one hall at a local hour: a morning peak, a lunch lull, an afternoon.
pub fn arrivals_per_minute(hour: i8) -> f64 {
    match hour {
        8 => 0.6,
        9 | 10 => 2.0,
        11 => 1.3,
        12 | 13 => 0.5,
        14 | 15 => 1.3,
        16 => 0.8,
        _ => 0.15,
    }
}

/// Simulator state that lives only in the process holding the lease.
struct Sim {
    rng: SplitMix64,
    last: Option<Timestamp>,
    /// Planned end of the service under way at a window.
    service_ends: HashMap<i64, Timestamp>,
    opened: bool,
}

/// Windows the simulator opens in each hall; the rest are left for people to try.
const SIM_WINDOWS: usize = 7;

/// Runs the simulator every `tick` while this process holds its lease.
pub fn spawn(state: AppState, tick: Duration, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let holder = state.settings.instance_id.clone();
        let mut sim = Sim {
            rng: SplitMix64::new(state.clock.now().as_millisecond() as u64),
            last: None,
            service_ends: HashMap::new(),
            opened: false,
        };
        loop {
            let now = state.clock.now();
            let h = holder.clone();
            let ttl = SignedDuration::try_from(tick * 5).unwrap_or(SignedDuration::from_secs(10));
            let got = state
                .store
                .write(move |tx| {
                    Box::pin(async move { leases::try_acquire(tx, "queue-simulator", &h, now, ttl).await })
                })
                .await;
            match got {
                Ok(true) => {
                    if let Err(e) = step(&state, &mut sim).await {
                        tracing::warn!(error = %e, "queue simulator step failed");
                    }
                }
                Ok(false) => sim.opened = false,
                Err(e) => tracing::warn!(error = %e, "queue simulator could not take its lease"),
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => return,
            }
        }
    });
}

async fn step(state: &AppState, sim: &mut Sim) -> Result<(), StoreError> {
    let p = sim_principal();
    let now = state.clock.now();
    let elapsed_min = sim
        .last
        .map(|l| now.duration_since(l).as_secs_f64() / 60.0)
        .unwrap_or(0.0)
        .clamp(0.0, 1.0);
    sim.last = Some(now);
    let hour = now.to_zoned(ops::hall_tz()).hour();
    let halls = org::halls_in(state.store.read(), "/").await?;
    for hall in halls {
        let cats = onestop_store::queue::categories(state.store.read(), hall.id).await?;
        if cats.is_empty() {
            continue;
        }
        if !sim.opened {
            let _ = ensure_slots(state, &p, hall.id, 7).await;
            for w in org::windows_of_hall(state.store.read(), hall.id)
                .await?
                .iter()
                .take(SIM_WINDOWS)
            {
                let floor = onestop_store::queue::floor_window(state.store.read(), w.id).await?;
                if floor.state == onestop_store::queue::WINDOW_CLOSED {
                    let _ = ops::change_window(state, &p, w.id, WindowChange::Open).await;
                }
            }
        }
        // Arrivals: a Bernoulli draw per small slice approximates a Poisson process.
        let expected = arrivals_per_minute(hour) * elapsed_min;
        let mut arrivals = expected.floor() as u32;
        if sim.rng.unit() < expected.fract() {
            arrivals += 1;
        }
        for _ in 0..arrivals {
            let roll = sim.rng.next_u64() % 100;
            let mut acc = 0;
            let prefix = DEMO_CATEGORIES
                .iter()
                .find(|(_, _, share)| {
                    acc += share;
                    roll < acc
                })
                .map(|c| c.0)
                .unwrap_or("A");
            let priority = if sim.rng.unit() < 0.06 {
                PriorityGroup::Senior70
            } else {
                PriorityGroup::None
            };
            let _ = ops::take_ticket(
                state,
                hall.id,
                prefix,
                priority,
                Taker::Staff {
                    actor: "demo-sim".into(),
                },
            )
            .await;
        }
        // Simulated clerks work the windows they hold.
        let floor = onestop_store::queue::floor(state.store.read(), hall.id).await?;
        for w in floor
            .iter()
            .filter(|w| w.clerk_id == Some(0) && w.state == onestop_store::queue::WINDOW_OPEN)
        {
            let current = match w.current_ticket_id {
                Some(id) => Some(onestop_store::queue::ticket(state.store.read(), id).await?),
                None => None,
            };
            match current.as_ref().map(|t| (t.id, t.state.as_str(), t.called_at)) {
                Some((id, "called", called_at)) => {
                    let waited = now.as_millisecond() - called_at.unwrap_or(0);
                    if waited > 20_000 {
                        let action = if sim.rng.unit() < 0.06 {
                            WindowAction::NoShow
                        } else {
                            WindowAction::Start
                        };
                        let _ = ops::ticket_action(state, &p, w.window_id, id, action, TransferTo::default()).await;
                        if action == WindowAction::Start {
                            // Lognormal service times, median 4 minutes: most short, a few long cases.
                            let mins = sim.rng.lognormal(4.0, 0.6).clamp(0.5, 40.0);
                            let end = now + SignedDuration::from_secs_f64(mins * 60.0);
                            sim.service_ends.insert(w.window_id, end);
                        }
                    }
                }
                Some((id, "serving", _)) => {
                    let end = *sim
                        .service_ends
                        .entry(w.window_id)
                        .or_insert_with(|| now + SignedDuration::from_mins(2));
                    if now >= end {
                        sim.service_ends.remove(&w.window_id);
                        let _ =
                            ops::ticket_action(state, &p, w.window_id, id, WindowAction::Finish, TransferTo::default())
                                .await;
                    }
                }
                _ => {
                    let _ = ops::call_next(state, &p, w.window_id).await;
                }
            }
        }
    }
    sim.opened = true;
    Ok(())
}
