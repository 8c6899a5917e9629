//! Case benchmark (issue 4, "Measured"): completed cases per second, each case submit → accept →
//! review → approve → conclude, every step one HTTP call to the in-process server (window clerk and
//! reviewer tokens), with the store's durable settings (SQLite WAL + synchronous=FULL, PostgreSQL
//! synchronous_commit=on); p50/p99 per call; beside it in the same run the raw durable commit rate of
//! the same database through the same writer (one INSERT per transaction, one at a time, then from
//! as many concurrent tasks as there are clients: the writer's batching ceiling).
//! Ignored in the normal suite; run it with
//! `cargo test --release -p onestop --test it case_bench -- --ignored --nocapture --test-threads=1`
//! (PostgreSQL too when ONESTOP_TEST_PG is set). `ONESTOP_BENCH_CASES` (default 2000) and
//! `ONESTOP_BENCH_CLIENTS` (default 32) change the load.
use crate::common::*;
use onestop_domain::role::Role;
use onestop_domain::workflow::{Action, Conclusion, DepartmentRef, StepDef, StepKey, StepKind, WorkflowDefinition};
use onestop_store::StoreError;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const FOOD: &str = "000172007000";
const CALLS: [&str; 5] = ["submit", "accept", "review", "approve", "conclude"];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn quantile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// 审核 → 审批 at 市场监督管理局, then 统一出件 at the window, which concludes.
fn bench_workflow() -> WorkflowDefinition {
    let market = DepartmentRef::new("市场监督管理局");
    WorkflowDefinition {
        start: StepKey::new("review"),
        instant: false,
        steps: vec![
            StepDef::task("review", "审核", &market, Role::Reviewer, 3)
                .on(Action::Approve, "approve")
                .on(Action::Refuse, "refused"),
            StepDef::task("approve", "审批", &market, Role::Reviewer, 2)
                .on(Action::Approve, "deliver")
                .on(Action::Refuse, "refused"),
            StepDef::task("deliver", "统一出件", &market, Role::WindowClerk, 1).on(Action::Approve, "done"),
            StepDef::auto(
                "done",
                "办结",
                StepKind::End {
                    outcome: Conclusion::Approved,
                },
            ),
            StepDef::auto(
                "refused",
                "不予许可",
                StepKind::End {
                    outcome: Conclusion::Refused,
                },
            ),
        ],
    }
}

struct Actors {
    clerk: Bearer,
    reviewer: Bearer,
    application: Value,
}

fn clone_bearer(b: &Bearer) -> Bearer {
    Bearer {
        token: b.token.clone(),
        base: b.base.clone(),
        client: b.client.clone(),
    }
}

/// One case through its five calls; the latency of each, or the failing call's name and answer.
async fn one_case(a: &Actors) -> Result<[Duration; 5], String> {
    let mut lat = [Duration::ZERO; 5];
    let expect = |i: usize, res: reqwest::Response, want: u16| async move {
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status == want {
            Ok(body)
        } else {
            Err(format!("{}: {status} {body}", CALLS[i]))
        }
    };
    let t = Instant::now();
    let res = a.clerk.post("/api/v1/cases", &a.application).await;
    let sub = expect(0, res, 201).await?;
    lat[0] = t.elapsed();
    let id = sub["id"].as_i64().ok_or("no id")?;
    let t = Instant::now();
    let res = a
        .clerk
        .post(&format!("/api/v1/cases/{id}/intake"), &json!({"decision": "accept"}))
        .await;
    let r = expect(1, res, 200).await?;
    lat[1] = t.elapsed();
    let mut step = r["open_steps"][0].as_i64().ok_or("no step")?;
    for (i, who) in [(2, &a.reviewer), (3, &a.reviewer), (4, &a.clerk)] {
        let t = Instant::now();
        let res = who
            .post(
                &format!("/api/v1/cases/{id}/act"),
                &json!({"step_id": step, "action": "approve", "opinion": "同意"}),
            )
            .await;
        let r = expect(i, res, 200).await?;
        lat[i] = t.elapsed();
        if i == 4 {
            if r["status"] != "concluded_approved" {
                return Err(format!("not concluded: {r}"));
            }
        } else {
            step = r["open_steps"][0].as_i64().ok_or("no next step")?;
        }
    }
    Ok(lat)
}

/// `cases` cases from `clients` concurrent clients (closed loop). Latencies per call, wall time,
/// errors (the first few printed).
async fn phase(actors: &Arc<Vec<Actors>>, clients: usize, cases: usize) -> ([Vec<Duration>; 5], f64, usize) {
    let left = Arc::new(AtomicUsize::new(cases));
    let started = Instant::now();
    let mut handles = Vec::new();
    for k in 0..clients {
        let actors = actors.clone();
        let left = left.clone();
        handles.push(tokio::spawn(async move {
            let a = &actors[k % actors.len()];
            let mut lat: [Vec<Duration>; 5] = Default::default();
            let mut errors = 0usize;
            while left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                match one_case(a).await {
                    Ok(l) => {
                        for (v, d) in lat.iter_mut().zip(l) {
                            v.push(d);
                        }
                    }
                    Err(e) => {
                        if errors < 3 {
                            eprintln!("case failed: {e}");
                        }
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all: [Vec<Duration>; 5] = Default::default();
    let mut errors = 0;
    for h in handles {
        let (lat, e) = h.await.unwrap();
        for (v, l) in all.iter_mut().zip(lat) {
            v.extend(l);
        }
        errors += e;
    }
    let wall = started.elapsed().as_secs_f64();
    for v in &mut all {
        v.sort();
    }
    (all, wall, errors)
}

/// Durable single-row commits through the app's writer: `tasks` tasks, `n` commits in all.
async fn raw_commits(app: &TestApp, tasks: usize, n: usize, table: &'static str) -> (f64, f64, f64) {
    app.store
        .write(move |tx| {
            Box::pin(async move {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TABLE {table} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)"
                )))
                .execute(tx.conn())
                .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = app.store.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                store
                    .write(move |tx| {
                        Box::pin(async move {
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "INSERT INTO {table} (id, v) VALUES ($1, $2)"
                            )))
                            .bind(i as i64)
                            .bind(i as i64 * 7)
                            .execute(tx.conn())
                            .await?;
                            Ok::<_, StoreError>(())
                        })
                    })
                    .await
                    .unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.unwrap());
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    (rate, quantile(&lat, 0.5), quantile(&lat, 0.99))
}

async fn run(kind: Db) {
    let cases = env("ONESTOP_BENCH_CASES", 2000);
    let clients = env("ONESTOP_BENCH_CLIENTS", 32);
    let app = TestApp::spawn(kind).await;
    let backend = format!("{:?}", app.backend());
    // The bench's workflow for 食品经营许可证核发 at 罗平县.
    let luoping = app.region_id("990121").await;
    let service = {
        let mut c = app.store.read().acquire().await.unwrap();
        onestop_store::catalogue::service_by_code(&mut c, FOOD)
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let admin = app.token("luoping.admin").await;
    let res = admin
        .put(
            &format!("/api/v1/workflows/regions/{luoping}/services/{service}"),
            &json!({"definition": bench_workflow(), "note": "压测流程"}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK, "{}", res.text().await.unwrap());
    // One upload stands for every material (content-addressed: stored once).
    let part = reqwest::multipart::Part::bytes(b"%PDF-1.7\nbench".to_vec()).file_name("材料.pdf");
    let up: Value = TestApp::client()
        .post(app.url("/api/v1/uploads"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let materials: Vec<Value> = [
        "食品经营许可申请书",
        "营业执照",
        "法定代表人、股东身份证件",
        "经营场所平面布局图及设备布局、工艺流程",
        "食品安全管理制度",
    ]
    .iter()
    .map(|n| json!({"name": n, "upload_id": up["id"]}))
    .collect();
    let application = json!({
        "region": "990121",
        "service": FOOD,
        "applicant": {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"},
        "form": {
            "org_name": "罗平县好味餐饮有限公司", "legal_rep_name": "张三", "contact_name": "张三",
            "contact_phone": "13900139000", "org_address": "罗平县人民路 8 号", "commitment": true
        },
        "materials": materials,
    });
    // A few clients share one pair of tokens each (one HTTP connection pool per pair).
    let (clerk, reviewer) = (app.token("luoping.clerk").await, app.token("luoping.reviewer").await);
    let actors: Arc<Vec<Actors>> = Arc::new(
        (0..4)
            .map(|_| {
                let client = TestApp::client();
                Actors {
                    clerk: Bearer {
                        client: client.clone(),
                        ..clone_bearer(&clerk)
                    },
                    reviewer: Bearer {
                        client,
                        ..clone_bearer(&reviewer)
                    },
                    application: application.clone(),
                }
            })
            .collect(),
    );
    // Warm-up, then one client alone (service time without queueing), then the load.
    let (_, _, e0) = phase(&actors, 1, 20).await;
    let (serial, wall1, e1) = phase(&actors, 1, 200.min(cases)).await;
    let (loaded, wall, e2) = phase(&actors, clients, cases).await;
    let (raw1, r50, r99) = raw_commits(&app, 1, 2000, "bench_commits_serial").await;
    let (rawn, rn50, rn99) = raw_commits(&app, clients, 20_000, "bench_commits_concurrent").await;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n=== case benchmark: {backend}, {cases} cases, {clients} clients; load average {} ===",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!("| backend | load | call | count | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for (label, st) in [("1 client", &serial), (&*format!("{clients} clients"), &loaded)] {
        for (name, l) in CALLS.iter().zip(st.iter()) {
            println!(
                "| {backend} | {label} | {name} | {} | {:.2} | {:.2} |",
                l.len(),
                quantile(l, 0.5),
                quantile(l, 0.99)
            );
        }
    }
    let done1 = serial[4].len() as f64;
    let done = loaded[4].len() as f64;
    println!(
        "{backend}: completed cases/s: 1 client {:.0} ({:.0} calls/s), {clients} clients {:.0} ({:.0} calls/s); errors {}",
        done1 / wall1,
        done1 * 5.0 / wall1,
        done / wall,
        done * 5.0 / wall,
        e0 + e1 + e2
    );
    println!(
        "{backend}: raw durable commits/s through the writer: 1 task {raw1:.0} (p50 {r50:.2} ms, p99 {r99:.2} ms), \
         {clients} tasks {rawn:.0} (p50 {rn50:.2} ms, p99 {rn99:.2} ms)"
    );
    println!(
        "{backend}: ratio case calls/s to raw commits/s: 1 client {:.2} (to 1 task), {clients} clients {:.2} (to {clients} tasks)",
        done1 * 5.0 / wall1 / raw1,
        done * 5.0 / wall / rawn
    );
    assert_eq!(e0 + e1 + e2, 0, "every case completes");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn case_bench() {
    run(Db::Sqlite).await;
    if std::env::var("ONESTOP_TEST_PG").is_ok() {
        run(Db::Postgres).await;
    } else {
        eprintln!("ONESTOP_TEST_PG is not set: PostgreSQL not measured");
    }
}
