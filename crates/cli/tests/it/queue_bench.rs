//! Queue benchmark (issue 5, "Measured"): take, call and finish per second with 200 windows
//! across 20 halls, in process through the use-case functions (`onestop_web::queue`), every
//! window a concurrent task; p50/p99 per operation; beside the raw durable commit rate of the same
//! database in the same run (a tight loop of single-row INSERT commits through `Store::write`).
//! Ignored in the normal suite; run it with
//! `cargo test -p onestop --test it queue_bench -- --ignored --nocapture`
//! (PostgreSQL too when ONESTOP_TEST_PG is set). `ONESTOP_BENCH_ROUNDS` sets rounds per window.
use crate::common::*;
use onestop_store::StoreError;
use onestop_web::queue::{self as ops, Taker, TransferTo, WindowAction, WindowChange};
use std::time::{Duration, Instant};

const HALLS: usize = 20;
const WINDOWS_PER_HALL: usize = 10;

fn quantile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct OpStats {
    name: &'static str,
    lat: Vec<Duration>,
}

async fn raw_commit_rate(app: &TestApp, n: usize) -> (f64, f64, f64) {
    app.store
        .write(|tx| {
            Box::pin(async move {
                sqlx::query("CREATE TABLE bench_commits (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
                    .execute(tx.conn())
                    .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let id = i as i64;
        app.store
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO bench_commits (id, v) VALUES ($1, $2)")
                        .bind(id)
                        .bind(id * 7)
                        .execute(tx.conn())
                        .await?;
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .unwrap();
        lat.push(t.elapsed());
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    (rate, quantile(&lat, 0.5), quantile(&lat, 0.99))
}

async fn run(kind: Db, rounds: usize) {
    let app = TestApp::spawn(kind).await;
    let sys = onestop_web::queue::sim::sim_principal();
    let state = app.state.clone();
    let region = app.region_id("990121").await;
    // 20 halls of 10 windows, one category "A" served by every window.
    let mut windows = Vec::new();
    for h in 0..HALLS {
        let hall = hall_with_windows(&app, region, &format!("压测大厅{h:02}"), WINDOWS_PER_HALL).await;
        ops::create_category(&state, &sys, hall.0, "A", "综合受理")
            .await
            .unwrap();
        for w in hall.1 {
            ops::set_window_categories(&state, &sys, w, &[("A".to_owned(), 1)])
                .await
                .unwrap();
            ops::change_window(&state, &sys, w, WindowChange::Open).await.unwrap();
            windows.push((hall.0, w));
        }
    }
    assert_eq!(windows.len(), HALLS * WINDOWS_PER_HALL);

    let backend = format!("{:?}", app.backend());
    // Unloaded: one task, one round at each window in turn (service time without queueing).
    let (stats1, wall1, err1) = phase(&state, &sys, &windows, 1, 1, None).await;
    // Loaded: every window a concurrent task, `rounds` rounds each (closed loop, 200 in flight).
    let (stats, wall, errors) = phase(&state, &sys, &windows, windows.len(), rounds, None).await;
    // Paced: every window a task that starts a round every `period` (open loop at a set rate,
    // staggered), the load a floor offers; far above a real one (10–20 operations a second).
    let mut paced = Vec::new();
    for rate in paced_rates() {
        let period = Duration::from_secs_f64(windows.len() as f64 / rate);
        let (st, w, e) = phase(&state, &sys, &windows, windows.len(), 2, Some(period)).await;
        paced.push((format!("paced {rate:.0} rounds/s"), st, w, e));
    }
    let (commit_rate, c50, c99) = raw_commit_rate(&app, 500).await;
    println!(
        "\n=== queue benchmark: {backend}, {} windows in {HALLS} halls ===",
        windows.len()
    );
    println!("| backend | load | operation | count | ops/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut loads = vec![
        ("1 task".to_owned(), &stats1, wall1),
        ("200 tasks".to_owned(), &stats, wall),
    ];
    for (label, st, w, _) in &paced {
        loads.push((label.clone(), st, *w));
    }
    for (label, st, w) in loads {
        for s in st {
            println!(
                "| {backend} | {label} | {} | {} | {:.0} | {:.1} | {:.1} |",
                s.name,
                s.lat.len(),
                s.lat.len() as f64 / w,
                quantile(&s.lat, 0.5),
                quantile(&s.lat, 0.99)
            );
        }
        let total: usize = st.iter().map(|s| s.lat.len()).sum();
        println!(
            "| {backend} | {label} | all (total) | {total} | {:.0} | | |",
            total as f64 / w
        );
    }
    println!("| {backend} | serial | raw INSERT commit | 500 | {commit_rate:.0} | {c50:.2} | {c99:.2} |");
    let total: usize = stats.iter().map(|s| s.lat.len()).sum();
    let total1: usize = stats1.iter().map(|s| s.lat.len()).sum();
    println!(
        "{backend}: ratio queue ops/s to raw commits/s: 1 task {:.2}, 200 tasks {:.2}; errors {}",
        total1 as f64 / wall1 / commit_rate,
        total as f64 / wall / commit_rate,
        errors + err1
    );
    let paced_errors: usize = paced.iter().map(|p| p.3).sum();
    assert_eq!(errors + err1 + paced_errors, 0, "every round completes");
}

/// Offered loads of the paced phase, in rounds (4 operations each) per second over all windows;
/// `ONESTOP_BENCH_RATES` (comma-separated) overrides them.
fn paced_rates() -> Vec<f64> {
    std::env::var("ONESTOP_BENCH_RATES")
        .ok()
        .map(|v| v.split(',').filter_map(|r| r.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![25.0, 100.0])
}

/// Runs `rounds` rounds at every window with `tasks` concurrent tasks (window i in task i % tasks).
/// With `period`, each task starts its rounds `period` apart (first one staggered by its index).
async fn phase(
    state: &onestop_web::state::AppState,
    sys: &onestop_web::auth::Principal,
    windows: &[(i64, i64)],
    tasks: usize,
    rounds: usize,
    period: Option<Duration>,
) -> (Vec<OpStats>, f64, usize) {
    let started = Instant::now();
    let mut handles = Vec::new();
    for k in 0..tasks {
        let mine: Vec<(i64, i64)> = windows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % tasks == k)
            .map(|(_, w)| *w)
            .collect();
        let state = state.clone();
        let sys = sys.clone();
        handles.push(tokio::spawn(async move {
            let mut lat: [Vec<Duration>; 4] = Default::default();
            let mut errors = 0usize;
            let offset = period.map(|p| p.mul_f64(k as f64 / tasks as f64));
            for round in 0..rounds {
                if let (Some(p), Some(o)) = (period, offset) {
                    tokio::time::sleep_until((started + o + p * round as u32).into()).await;
                }
                for &(hall_id, window_id) in &mine {
                    let t = Instant::now();
                    let taken = ops::take_ticket(
                        &state,
                        hall_id,
                        "A",
                        onestop_domain::queue::PriorityGroup::None,
                        Taker::Staff { actor: "bench".into() },
                    )
                    .await;
                    lat[0].push(t.elapsed());
                    if taken.is_err() {
                        errors += 1;
                        continue;
                    }
                    let t = Instant::now();
                    let called = ops::call_next(&state, &sys, window_id).await;
                    lat[1].push(t.elapsed());
                    let Some(ticket) = called.ok().and_then(|o| o.ticket) else {
                        errors += 1;
                        continue;
                    };
                    for (i, action) in [(2, WindowAction::Start), (3, WindowAction::Finish)] {
                        let t = Instant::now();
                        let r =
                            ops::ticket_action(&state, &sys, window_id, ticket.id, action, TransferTo::default()).await;
                        lat[i].push(t.elapsed());
                        if r.is_err() {
                            errors += 1;
                            break;
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut stats = vec![
        OpStats {
            name: "take",
            lat: Vec::new(),
        },
        OpStats {
            name: "call",
            lat: Vec::new(),
        },
        OpStats {
            name: "start",
            lat: Vec::new(),
        },
        OpStats {
            name: "finish",
            lat: Vec::new(),
        },
    ];
    let mut errors = 0;
    for h in handles {
        let (lat, e) = h.await.unwrap();
        for (s, l) in stats.iter_mut().zip(lat) {
            s.lat.extend(l);
        }
        errors += e;
    }
    let wall = started.elapsed().as_secs_f64();
    for s in &mut stats {
        s.lat.sort();
    }
    (stats, wall, errors)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn queue_bench() {
    let rounds = std::env::var("ONESTOP_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    run(Db::Sqlite, rounds).await;
    if std::env::var("ONESTOP_TEST_PG").is_ok() {
        run(Db::Postgres, rounds).await;
    } else {
        eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL not measured");
    }
}
