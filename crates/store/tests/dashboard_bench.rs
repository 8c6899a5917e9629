//! Dashboard benchmark (issue 6; not for CI): a province of 1,000 halls holding 10 million ticket,
//! case and rating events over a year, counted through the store's own counter functions, then
//! the dashboard read (`case_figures::dashboard_sums`, what every dashboard runs) of the whole
//! province timed after one month of history and again after twelve. Run in release:
//!
//! `cargo test --release -p onestop-store --test dashboard_bench -- --ignored --nocapture`
//!
//! (`ONESTOP_BENCH_EVENTS`, `ONESTOP_BENCH_HALLS` change the size; SQLite in a temporary folder.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use onestop_domain::audit::AuditKey;
use onestop_domain::rating::Series;
use onestop_store::case_figures::{self, CaseDelta, CaseLeaf};
use onestop_store::ratings::{self, Leaf, RatingDelta, Scope, ServiceSums};
use onestop_store::{Store, StoreError, StoreOptions, ms};
use std::collections::HashMap;
use std::time::Instant;

/// Leaves per hall: two windows, each with its clerk and department.
const WINDOWS: i64 = 2;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, so two runs generate the same history.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

#[derive(Default)]
struct Agg {
    service: ServiceSums,
    tickets: RatingDelta,
    case_ratings: RatingDelta,
    cases: CaseDelta,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn day_at(d: jiff::civil::Date, hour: i8) -> jiff::Timestamp {
    d.at(hour, 0, 0, 0).to_zoned(ratings::zone()).unwrap().timestamp()
}

/// One event of a hall's day, folded into its leaf's deltas exactly as the live path counts it
/// (the finish counts the visitor and issues the ticket's token; a rating counts its level and a
/// bad one opens a follow-up; a case counts at acceptance, conclusion and warning).
fn event(r: &mut Rng, a: &mut Agg) -> u64 {
    let k = r.below(100);
    match k {
        0..55 => {
            let wait = r.below(40 * 60_000);
            let service = 60_000 + r.below(14 * 60_000);
            let s = &mut a.service;
            s.served += 1;
            s.wait_sum_ms += wait;
            s.wait_max_ms = s.wait_max_ms.max(wait);
            s.wait_over_20 += i64::from(wait > 20 * 60_000);
            s.wait_over_30 += i64::from(wait > 30 * 60_000);
            s.service_sum_ms += service;
            s.service_max_ms = s.service_max_ms.max(service);
            a.tickets.issued += 1;
        }
        55..80 | 95..100 => {
            let level = [1, 1, 1, 1, 1, 2, 2, 2, 3, 4, 5][r.below(11) as usize];
            let d = if k < 80 { &mut a.tickets } else { &mut a.case_ratings };
            d.rated += 1;
            d.levels[level - 1] += 1;
            if level >= 4 {
                d.followups += 1;
            }
        }
        _ => match r.below(5) {
            0 | 1 => {
                a.cases.accepted += 1;
                a.cases.accepted_online += i64::from(r.below(10) < 6);
                a.cases.accepted_instant += i64::from(r.below(10) < 3);
            }
            2 | 3 => {
                a.cases.concluded += 1;
                a.cases.concluded_on_time += i64::from(r.below(100) < 95);
                a.cases.one_visit += i64::from(r.below(100) < 90);
                a.case_ratings.issued += 1;
            }
            _ => {
                if r.below(3) == 0 {
                    a.cases.red += 1;
                } else {
                    a.cases.yellow += 1;
                }
            }
        },
    }
    1
}

async fn region(
    tx: &mut onestop_store::Tx,
    code: String,
    level: &str,
    parent: Option<(i64, String)>,
) -> Result<(i64, String), StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO regions (code, name, level, parent_id, path, created_at, updated_at)
         VALUES ($1, $1, $2, $3, '', 0, 0) RETURNING id",
    )
    .bind(&code)
    .bind(level)
    .bind(parent.as_ref().map(|p| p.0))
    .fetch_one(tx.conn())
    .await?;
    let path = format!("{}{id}/", parent.map(|p| p.1).unwrap_or_else(|| "/".into()));
    sqlx::query("UPDATE regions SET path = $1 WHERE id = $2")
        .bind(&path)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok((id, path))
}

struct World {
    /// (hall id, county region id) per hall.
    halls: Vec<(i64, i64)>,
    province_path: String,
    some_hall: i64,
}

async fn build_world(store: &Store, halls: i64) -> World {
    store
        .write(move |tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                let province = region(tx, "990000".into(), "province", None).await?;
                let cities = 20;
                let per_city = (halls + cities - 1) / cities;
                let mut n = 0;
                'outer: for c in 1..=cities {
                    let city = region(tx, format!("99{c:02}00"), "city", Some(province.clone())).await?;
                    for k in 1..=per_city {
                        if n == halls {
                            break 'outer;
                        }
                        let county = region(tx, format!("99{c:02}{k:02}"), "county", Some(city.clone())).await?;
                        let hall: i64 = sqlx::query_scalar(
                            "INSERT INTO halls (region_id, name, created_at, updated_at) VALUES ($1, $2, 0, 0) RETURNING id",
                        )
                        .bind(county.0)
                        .bind(format!("大厅{n}"))
                        .fetch_one(tx.conn())
                        .await?;
                        out.push((hall, county.0));
                        n += 1;
                    }
                }
                Ok::<_, StoreError>(World {
                    some_hall: out[out.len() / 2].0,
                    halls: out,
                    province_path: province.1,
                })
            })
        })
        .await
        .unwrap()
}

/// Counts `per_day` events spread over the halls on each day of [from, to), one transaction per
/// day. Returns the events counted.
async fn history(
    store: &Store,
    w: &World,
    rng: &mut Rng,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    per_day: u64,
) -> u64 {
    let mut total = 0;
    let mut d = from;
    while d < to {
        let mut aggs: HashMap<(usize, i64), Agg> = HashMap::new();
        let halls = w.halls.len() as u64;
        for i in 0..per_day {
            let h = (i % halls) as usize;
            let k = rng.below(WINDOWS as u64);
            total += event(rng, aggs.entry((h, k)).or_default());
        }
        let rows: Vec<((i64, i64), i64, Agg)> = aggs.into_iter().map(|((h, k), a)| (w.halls[h], k, a)).collect();
        let at = day_at(d, 11);
        store
            .write(move |tx| {
                Box::pin(async move {
                    for ((hall, county), k, a) in &rows {
                        let leaf_id = hall * 10 + k;
                        ratings::add_service(tx, *hall, leaf_id, leaf_id, leaf_id, at, &a.service).await?;
                        for (series, delta) in [(Series::Ticket, &a.tickets), (Series::Case, &a.case_ratings)] {
                            if *delta != RatingDelta::default() {
                                let leaf = Leaf {
                                    series,
                                    region_id: *county,
                                    hall_id: *hall,
                                    window_id: leaf_id,
                                    person_id: leaf_id,
                                    department_id: leaf_id,
                                };
                                ratings::count(tx, &leaf, at, *delta).await?;
                            }
                        }
                        let leaf = CaseLeaf {
                            region_id: *county,
                            hall_id: *hall,
                            window_id: leaf_id,
                            person_id: leaf_id,
                            department_id: leaf_id,
                        };
                        case_figures::count(tx, &leaf, at, a.cases).await?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .unwrap();
        d = d.tomorrow().unwrap();
    }
    total
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// p50 and p99 in milliseconds of `n` runs of the dashboard read, after two warm-up runs; also
/// returns the rows read in the last run.
async fn time_dashboard(
    store: &Store,
    scope: &Scope,
    bucket: &str,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
    n: usize,
) -> (f64, f64, usize) {
    let mut v = Vec::with_capacity(n);
    let mut rows = 0;
    for i in 0..n + 2 {
        let t = Instant::now();
        let s = case_figures::dashboard_sums(store.read(), scope, bucket, from, to)
            .await
            .unwrap();
        let e = t.elapsed().as_secs_f64() * 1e3;
        rows = s.service.len() + s.ticket_ratings.len() + s.case_ratings.len() + s.cases.len();
        assert!(rows > 0, "the dashboard read nothing");
        if i >= 2 {
            v.push(e);
        }
    }
    (pct(&mut v, 0.5), pct(&mut v, 0.99), rows)
}

/// The baseline: the same store reading the same counter rows with the plainest range query
/// (each table's period, summed, no region join and no grouping).
async fn time_raw(store: &Store, bucket: &str, from: jiff::Timestamp, to: jiff::Timestamp, n: usize) -> (f64, f64) {
    let mut v = Vec::with_capacity(n);
    for i in 0..n + 2 {
        let t = Instant::now();
        for (table, col) in [
            ("service_counters", "served"),
            ("rating_counters", "rated"),
            ("case_figure_counters", "accepted"),
        ] {
            let _: (i64, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*), CAST(SUM({col}) AS BIGINT) FROM {table} WHERE bucket = $1 AND bucket_start >= $2 AND bucket_start < $3"
            )))
            .bind(bucket)
            .bind(ms(from))
            .bind(ms(to))
            .fetch_one(store.read())
            .await
            .unwrap();
        }
        let e = t.elapsed().as_secs_f64() * 1e3;
        if i >= 2 {
            v.push(e);
        }
    }
    (pct(&mut v, 0.5), pct(&mut v, 0.99))
}

async fn counter_rows(store: &Store) -> i64 {
    let mut n = 0;
    for t in ["service_counters", "rating_counters", "case_figure_counters"] {
        let c: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
            .fetch_one(store.read())
            .await
            .unwrap();
        n += c;
    }
    n
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release by hand, see the module comment"]
async fn dashboard_latency_does_not_grow_with_history() {
    let events = env("ONESTOP_BENCH_EVENTS", 10_000_000);
    let halls = env("ONESTOP_BENCH_HALLS", 1_000) as i64;
    let n = env("ONESTOP_BENCH_RUNS", 50) as usize;
    let dir = std::env::temp_dir().join(format!("onestop-dash-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = Store::open(&StoreOptions::new(&url), AuditKey::new(vec![7u8; 32]).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let w = build_world(&store, halls).await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let year = jiff::civil::date(2026, 1, 1);
    let feb = jiff::civil::date(2026, 2, 1);
    // ONESTOP_BENCH_MONTHS shortens the history (same daily rate: a 10-million-event year).
    let months = env("ONESTOP_BENCH_MONTHS", 12).clamp(2, 12) as i8;
    let next_year = if months == 12 {
        jiff::civil::date(2027, 1, 1)
    } else {
        jiff::civil::date(2026, months + 1, 1)
    };
    let per_day = events / 365;
    let province = Scope::Region(w.province_path.clone());
    let hall = Scope::Hall(w.some_hall);
    let (jan_a, jan_b) = (day_at(year, 0), day_at(feb, 0));
    let (year_a, year_b) = (day_at(year, 0), day_at(next_year, 0));

    println!("load average before: {}", loadavg());
    let t = Instant::now();
    let mut counted = history(&store, &w, &mut rng, year, feb, per_day).await;
    println!(
        "history 1 month: {counted} events, {} counter rows, {:.1} s; load {}",
        counter_rows(&store).await,
        t.elapsed().as_secs_f64(),
        loadavg()
    );
    let report = |label: &str, (p50, p99, rows): (f64, f64, usize)| {
        println!("  {label}: p50 {p50:.2} ms, p99 {p99:.2} ms ({rows} bucket rows returned)");
    };
    let raw = |label: &str, (p50, p99): (f64, f64)| println!("  {label}: p50 {p50:.2} ms, p99 {p99:.2} ms");
    println!("after 1 month of history:");
    report(
        "province, January by month",
        time_dashboard(&store, &province, "month", jan_a, jan_b, n).await,
    );
    report(
        "province, January by day",
        time_dashboard(&store, &province, "day", jan_a, jan_b, n).await,
    );
    report(
        "one hall, January by day",
        time_dashboard(&store, &hall, "day", jan_a, jan_b, n).await,
    );
    raw(
        "baseline raw range sums, January days",
        time_raw(&store, "day", jan_a, jan_b, n).await,
    );

    let t = Instant::now();
    counted += history(&store, &w, &mut rng, feb, next_year, per_day).await;
    println!(
        "history {months} months: {counted} events, {} counter rows, {:.1} s; load {}",
        counter_rows(&store).await,
        t.elapsed().as_secs_f64(),
        loadavg()
    );
    println!("after {months} months of history:");
    report(
        "province, January by month",
        time_dashboard(&store, &province, "month", jan_a, jan_b, n).await,
    );
    report(
        "province, January by day",
        time_dashboard(&store, &province, "day", jan_a, jan_b, n).await,
    );
    report(
        "one hall, January by day",
        time_dashboard(&store, &hall, "day", jan_a, jan_b, n).await,
    );
    raw(
        "baseline raw range sums, January days",
        time_raw(&store, "day", jan_a, jan_b, n).await,
    );
    report(
        "province, the whole history by month",
        time_dashboard(&store, &province, "month", year_a, year_b, n).await,
    );
    raw(
        "baseline raw range sums, the history's months",
        time_raw(&store, "month", year_a, year_b, n).await,
    );
    println!("load average after: {}", loadavg());
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
