//! `onestop-bench`: the province-day benchmark and the crash tests (issue 8, parts 1–3). It
//! starts `onestop demo --no-simulate` itself on fresh SQLite and PostgreSQL databases (a private
//! PostgreSQL cluster it initialises), drives it over HTTP and reads /proc for the server's CPU
//! and memory. See docs/BENCHMARKS.md ("Province day") and docs/RELIABILITY.md ("Crash tests").
mod crash;
mod load;
mod pg;
mod rawdb;
mod server;
mod world;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use load::{LoadSpec, PhaseReport, Recorder, Schedule};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "onestop-bench",
    version,
    about = "OneStop's province-day benchmark and crash tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum BackendArg {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Subcommand)]
enum Cmd {
    /// The whole benchmark: raw database limits, a replayed day, the step search for the
    /// headline figure, and the crash tests, on each backend; prints (and writes) the tables.
    Run {
        #[arg(long, value_enum, default_value = "both")]
        backend: BackendArg,
        /// Bench halls on the server (each with 8 windows, a kiosk and slots).
        #[arg(long, default_value_t = 20)]
        halls: usize,
        /// Seconds of the replayed day (its 8 opening hours at their own rates, in turn).
        #[arg(long, default_value_t = 40.0)]
        day_seconds: f64,
        /// Seconds of each step of the search.
        #[arg(long, default_value_t = 15.0)]
        step_seconds: f64,
        /// The p99 bound of the headline figure, in milliseconds.
        #[arg(long, default_value_t = 50.0)]
        p99_ms: f64,
        #[arg(long, default_value_t = 512.0)]
        max_multiple: f64,
        /// Repeats of each crash test.
        #[arg(long, default_value_t = 20)]
        crash_repeats: u32,
        #[arg(long, default_value_t = 4.0)]
        crash_seconds: f64,
        /// Offered load during the crash tests (× the province's peak hour).
        #[arg(long, default_value_t = 4.0)]
        crash_multiple: f64,
        /// Insert the report into docs/BENCHMARKS.md and docs/RELIABILITY.md.
        #[arg(long)]
        write_docs: bool,
        /// The onestop binary (default: $ONESTOP_BIN, else beside this one).
        #[arg(long)]
        bin: Option<PathBuf>,
    },
    /// Only the crash tests, short: what CI runs (scripts/test).
    Crash {
        #[arg(long, value_enum, default_value = "both")]
        backend: BackendArg,
        #[arg(long, default_value_t = 2)]
        repeats: u32,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        #[arg(long, default_value_t = 2)]
        halls: usize,
        #[arg(long, default_value_t = 2.0)]
        multiple: f64,
        #[arg(long)]
        bin: Option<PathBuf>,
    },
}

fn main() {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(Cli::parse())) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn backends(b: BackendArg) -> Vec<&'static str> {
    match b {
        BackendArg::Sqlite => vec!["SQLite"],
        BackendArg::Postgres => vec!["PostgreSQL"],
        BackendArg::Both => vec!["SQLite", "PostgreSQL"],
    }
}

/// A fresh working directory (world-readable parent: a private cluster runs as `postgres`).
fn workdir(tag: &str) -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("onestop-bench-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// One backend's database: a SQLite file, or a database on a private cluster.
struct Db {
    url: String,
    cluster: Option<pg::Cluster>,
    work: PathBuf,
}

async fn open_db(backend: &str) -> Result<Db> {
    let work = workdir(&backend.to_lowercase())?;
    if backend == "SQLite" {
        return Ok(Db {
            url: format!("sqlite://{}/onestop.db", work.display()),
            cluster: None,
            work,
        });
    }
    let port = server::free_port()?;
    let dir = std::env::temp_dir().join(format!("onestop-bench-pg-{}-{port}", std::process::id()));
    let c = pg::Cluster::init(&dir, port, &[])?;
    c.start()?;
    c.createdb("onestop")?;
    Ok(Db {
        url: c.url("onestop"),
        cluster: Some(c),
        work,
    })
}

/// The start-up check refuses a database that would lose acknowledged commits: PostgreSQL
/// started with fsync=off must make `onestop demo` exit before serving.
async fn refusal_check(c: &pg::Cluster, bin: &Path, work: &Path) -> Result<String> {
    c.stop_fast();
    c.start_with(&["fsync=off"])?;
    let _ = c.createdb("refusal");
    let spec = server::ServerSpec {
        bin: bin.to_owned(),
        database_url: c.url("refusal"),
        workdir: work.join("refusal"),
        port: server::free_port()?,
    };
    std::fs::create_dir_all(&spec.workdir)?;
    let r = spec.start(Duration::from_secs(120)).await;
    c.stop_fast();
    c.start()?;
    match r {
        Ok(_) => bail!("onestop started on a PostgreSQL with fsync=off"),
        Err(e) => {
            let text = format!("{e:#}");
            let line = text
                .lines()
                .find(|l| l.contains("not configured for durable commits"))
                .map(|l| l.trim().to_owned());
            line.with_context(|| format!("onestop failed on fsync=off, but not with the durability refusal: {text}"))
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Crash {
            backend,
            repeats,
            seconds,
            halls,
            multiple,
            bin,
        } => {
            let bin = server::find_bin(bin)?;
            for b in backends(backend) {
                let t = std::time::Instant::now();
                let (summaries, refusal) = crash_suite(b, &bin, halls, repeats, seconds, multiple).await?;
                for (f, s) in &summaries {
                    println!(
                        "{b}: {} ×{}: every acknowledged write stored ({} tickets, {} window actions, {} bookings), \
                         no duplicate, numbers unique; {} acknowledged after the faults (worst first ack {:.1} s after); {}",
                        f.label(),
                        s.repeats,
                        s.acked_tickets,
                        s.acked_actions,
                        s.acked_bookings,
                        s.acked_after_restart,
                        s.worst_recovery_s,
                        s.audit
                    );
                }
                if let Some(r) = refusal {
                    println!("{b}: fsync=off refused at start-up: {r}");
                }
                println!("{b}: crash tests passed in {:.0} s", t.elapsed().as_secs_f64());
            }
            Ok(())
        }
        Cmd::Run {
            backend,
            halls,
            day_seconds,
            step_seconds,
            p99_ms,
            max_multiple,
            crash_repeats,
            crash_seconds,
            crash_multiple,
            write_docs,
            bin,
        } => {
            let bin = server::find_bin(bin)?;
            let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            let mut bench_md = String::new();
            let mut crash_md = String::new();
            for b in backends(backend) {
                let r = bench_backend(b, &bin, halls, day_seconds, step_seconds, p99_ms, max_multiple).await?;
                bench_md.push_str(&r);
                let t = std::time::Instant::now();
                let (summaries, refusal) =
                    crash_suite(b, &bin, 2, crash_repeats, crash_seconds, crash_multiple).await?;
                crash_md.push_str(&crash_table(b, &summaries, refusal.as_deref(), t.elapsed()));
            }
            let header = run_header(&bin, halls, &load_before, crash_repeats);
            let bench = format!("{header}\n{bench_md}\n**Crash tests in the same run**\n\n{crash_md}");
            println!("{bench}");
            if write_docs {
                let docs = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs"));
                insert_run(&docs.join("BENCHMARKS.md"), BENCH_HEADING, &bench)?;
                insert_run(
                    &docs.join("RELIABILITY.md"),
                    CRASH_HEADING,
                    &format!("{header}\n{crash_md}"),
                )?;
                eprintln!("written to docs/BENCHMARKS.md and docs/RELIABILITY.md");
            }
            Ok(())
        }
    }
}

const BENCH_HEADING: &str = "### Province-day runs (newest first)\n";
const CRASH_HEADING: &str = "### Crash-test runs (newest first)\n";

fn insert_run(doc: &Path, heading: &str, report: &str) -> Result<()> {
    let mut text = std::fs::read_to_string(doc).with_context(|| format!("{}", doc.display()))?;
    if !text.contains(heading) {
        text.push('\n');
        text.push_str(heading);
    }
    let i = text.find(heading).map(|i| i + heading.len()).unwrap_or(text.len());
    text.insert_str(i, &format!("\n{report}\n"));
    std::fs::write(doc, text)?;
    Ok(())
}

fn run_header(bin: &Path, halls: usize, load_before: &str, repeats: u32) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(": ").nth(1))
        .unwrap_or("?");
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let load_now = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let la = |s: &str| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    format!(
        "#### Run of {}\n\n- Command: `scripts/bench-province` (= `onestop-bench run --backend both --halls {halls} \
         --crash-repeats {repeats} --write-docs`, release build of {}, commit {commit})\n- Machine: {cpus} CPU ({model}); \
         load average at start {}, at end {} (shared machine: the bench client runs on the same cores as the server)\n",
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%MZ"),
        bin.display(),
        la(load_before),
        la(&load_now)
    )
}

fn phase_table(out: &mut String, backend: &str, label: &str, r: &PhaseReport) {
    let _ = writeln!(
        out,
        "\n{backend}, {label}: offered {:.0} arrivals/s over {:.0} s; server CPU {}; RSS {:.1} MiB (peak {:.1} MiB){}\n",
        r.offered_per_s,
        r.seconds,
        r.server_cpu_pct
            .map(|c| format!("{c:.0} % of one core"))
            .unwrap_or_else(|| "n/a".into()),
        r.rss_mib,
        r.hwm_mib,
        if r.shed > 0 {
            format!("; {} arrivals shed by the client (too many in flight)", r.shed)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "| operation | done | per s | p50 ms | p95 ms | p99 ms | max ms | errors |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for o in r.ops.iter().chain(std::iter::once(&r.all)) {
        let errors = match (o.errors, o.empty) {
            (0, 0) => "0".to_owned(),
            (0, e) => format!("0 ({e} empty queue)"),
            (n, 0) => format!("{n} ({})", o.error_codes),
            (n, e) => format!("{n} ({}); {e} empty queue", o.error_codes),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {errors} |",
            o.op, o.count, o.per_s, o.p50, o.p95, o.p99, o.max
        );
    }
}

async fn bench_backend(
    backend: &str,
    bin: &Path,
    halls: usize,
    day_seconds: f64,
    step_seconds: f64,
    p99_ms: f64,
    max_multiple: f64,
) -> Result<String> {
    eprintln!("{backend}: raw database limit");
    let db = open_db(backend).await?;
    let mut out = format!("\n##### {backend}\n\n");
    // The raw limit, on the same disk / cluster as the app's database.
    let raw_url = match &db.cluster {
        None => format!("sqlite://{}/raw.db?mode=rwc", db.work.display()),
        Some(c) => {
            c.createdb("raw")?;
            c.url("raw")
        }
    };
    let raw = rawdb::commit_rate(&raw_url, 5.0).await?;
    let _ = writeln!(
        out,
        "- Raw limit: {:.0} durable single-row commits/s in a tight loop (one connection; commit p50 {:.2} ms, p99 {:.2} ms){}",
        raw.per_s,
        raw.p50_ms,
        raw.p99_ms,
        if db.cluster.is_some() {
            " through sqlx, synchronous_commit=on"
        } else {
            ", WAL + synchronous=FULL as the app"
        }
    );
    let mut raw_pg = None;
    if let Some(c) = &db.cluster {
        let _ = writeln!(
            out,
            "- Server: {} (private cluster, default settings, fsync on)",
            c.version()
        );
        match (c.pgbench_simple_update(1, 10)?, c.pgbench_simple_update(8, 10)?) {
            (Some(one), Some(eight)) => {
                raw_pg = Some(one);
                let _ = writeln!(
                    out,
                    "- `pgbench -N` (simple update, scale 1, 10 s): {one:.0} tps with 1 client, {eight:.0} tps with 8 clients"
                );
            }
            _ => {
                let _ = writeln!(out, "- pgbench is not installed: no simple-update rate");
            }
        }
    }
    eprintln!("{backend}: starting the server and setting up {halls} halls");
    let spec = server::ServerSpec {
        bin: bin.to_owned(),
        database_url: db.url.clone(),
        workdir: db.work.clone(),
        port: server::free_port()?,
    };
    let srv = spec.start(Duration::from_secs(300)).await?;
    let world = world::setup(&srv.base, halls).await?;
    let _ = writeln!(
        out,
        "- Optional parts of the mix (probed in /api/v1/openapi.json): cases {}, ratings {}",
        if world.features.cases {
            "present but not yet driven by the bench"
        } else {
            "absent (not in this build)"
        },
        if world.features.ratings {
            "present but not yet driven by the bench"
        } else {
            "absent (not in this build)"
        },
    );
    let phase = |multiple: f64, secs: f64, schedule: Schedule, seed: u64| LoadSpec {
        base: srv.base.clone(),
        multiple,
        duration: Duration::from_secs_f64(secs),
        schedule,
        seed,
        drain: Duration::from_secs(10),
        max_in_flight: 4096,
    };
    let rec = Arc::new(Recorder::default());
    eprintln!("{backend}: the replayed day at 1×");
    let day = load::run(
        &phase(1.0, day_seconds, Schedule::Day, 1),
        &world,
        rec.clone(),
        || srv.cpu(),
        || srv.rss_kib(),
    )
    .await;
    phase_table(
        &mut out,
        backend,
        "the day replayed at 1× (each opening hour at its own rate)",
        &day,
    );
    // The step search: double until p99 or errors fail, then bisect between the last good and
    // the first bad multiple.
    let ok = |r: &PhaseReport| r.all.p99 < p99_ms && r.error_rate() < 0.001;
    let mut steps: Vec<PhaseReport> = Vec::new();
    let (mut good, mut bad) = (0.0f64, None::<f64>);
    let mut m = 1.0f64;
    let mut seed = 100;
    loop {
        eprintln!("{backend}: step {m}× the peak hour");
        seed += 1;
        let r = load::run(
            &phase(m, step_seconds, Schedule::Peak, seed),
            &world,
            rec.clone(),
            || srv.cpu(),
            || srv.rss_kib(),
        )
        .await;
        let passed = ok(&r);
        eprintln!(
            "  {m}×: {:.0} done/s, p99 {:.1} ms, errors {:.2} % -> {}",
            r.all.per_s,
            r.all.p99,
            r.error_rate() * 100.0,
            if passed { "ok" } else { "over" }
        );
        steps.push(r);
        if passed {
            good = m;
        } else {
            bad = Some(m);
        }
        match bad {
            None if m * 2.0 <= max_multiple => m *= 2.0,
            None => break,
            Some(b) => {
                // Stop when the bracket is within 12.5 % of the good multiple.
                if b - good <= (good / 8.0).max(0.25) {
                    break;
                }
                m = ((good + b) / 2.0 * 4.0).round() / 4.0;
                if m <= good || m >= b {
                    break;
                }
            }
        }
    }
    let (peak_hour, share) = load::province_peak();
    let rates = load::peak_rates();
    let one: f64 = rates.iter().map(|r| r.1).sum();
    let _ = writeln!(
        out,
        "\n**Step search** (each step {step_seconds:.0} s at a steady multiple of the province's peak hour, {}:00–{}:00, \
         {:.1} % of the day's tickets; 1× = {one:.1} arrivals/s, each ticket then 3 window actions, each case then accepted and approved step by step in the back office)\n",
        load::HOURS[peak_hour],
        load::HOURS[peak_hour] + 1,
        share * 100.0
    );
    let _ = writeln!(
        out,
        "| multiple | requests/s done | writes/s | p50 ms | p95 ms | p99 ms | max ms | errors | server CPU | RSS MiB | within {p99_ms:.0} ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut sorted: Vec<&PhaseReport> = steps.iter().collect();
    sorted.sort_by(|a, b| a.multiple.total_cmp(&b.multiple));
    for r in &sorted {
        let writes: f64 = r
            .ops
            .iter()
            .filter(|o| {
                [
                    load::Op::Take,
                    load::Op::CallNext,
                    load::Op::Start,
                    load::Op::Finish,
                    load::Op::Book,
                    // casecore
                    load::Op::CaseSubmit,
                    load::Op::CaseAccept,
                    load::Op::CaseAct,
                ]
                .iter()
                .any(|op| op.label() == o.op && op.is_write())
            })
            .map(|o| o.per_s)
            .sum();
        let _ = writeln!(
            out,
            "| {}× | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} ({:.2} %) | {} | {:.0} | {} |",
            r.multiple,
            r.all.per_s,
            writes,
            r.all.p50,
            r.all.p95,
            r.all.p99,
            r.all.max,
            r.all.errors + r.shed,
            r.error_rate() * 100.0,
            r.server_cpu_pct.map(|c| format!("{c:.0} %")).unwrap_or_default(),
            r.rss_mib,
            if ok(r) { "yes" } else { "no" }
        );
    }
    let best = steps
        .iter()
        .filter(|r| ok(r))
        .max_by(|a, b| a.multiple.total_cmp(&b.multiple));
    if let Some(b) = best {
        let writes_per_s: f64 = b
            .ops
            .iter()
            .filter(|o| ["ticket:", "appointment:"].iter().any(|p| o.op.starts_with(p)))
            .map(|o| o.per_s)
            .sum();
        let _ = writeln!(
            out,
            "\n**Headline ({backend}): {}× — one machine absorbs {} province-days at the peak hour's rate with p99 {:.1} ms \
             < {p99_ms:.0} ms across the mix** ({:.0} requests/s, {:.0} of them writes; {:.2} of the raw commit rate{}).",
            b.multiple,
            b.multiple,
            b.all.p99,
            b.all.per_s,
            writes_per_s,
            writes_per_s / raw.per_s,
            raw_pg
                .map(|t| format!(", {:.2} of pgbench -N with 1 client", writes_per_s / t))
                .unwrap_or_default()
        );
        phase_table(
            &mut out,
            backend,
            &format!("the best step, {}×, per operation", b.multiple),
            b,
        );
    } else {
        let _ = writeln!(
            out,
            "\n**Headline ({backend}): not even 1× stays under {p99_ms:.0} ms p99 on this run.**"
        );
    }
    drop(srv);
    drop(db);
    Ok(out)
}

async fn crash_suite(
    backend: &str,
    bin: &Path,
    halls: usize,
    repeats: u32,
    seconds: f64,
    multiple: f64,
) -> Result<(Vec<(crash::Fault, crash::CrashSummary)>, Option<String>)> {
    eprintln!("{backend}: crash tests ({repeats} of each)");
    let db = open_db(backend).await?;
    let refusal = match &db.cluster {
        Some(c) => Some(refusal_check(c, bin, &db.work).await?),
        None => None,
    };
    let spec = server::ServerSpec {
        bin: bin.to_owned(),
        database_url: db.url.clone(),
        workdir: db.work.clone(),
        port: server::free_port()?,
    };
    let mut srv = Some(spec.start(Duration::from_secs(300)).await?);
    let base = spec.base_url();
    let world = world::setup(&base, halls).await?;
    let mut out = Vec::new();
    let mut faults = vec![crash::Fault::KillServer];
    if db.cluster.is_some() {
        faults.push(crash::Fault::PgImmediate);
    }
    for f in faults {
        let s = crash::run(
            &spec,
            &mut srv,
            db.cluster.as_ref(),
            &world,
            f,
            repeats,
            seconds,
            multiple,
        )
        .await?;
        out.push((f, s));
    }
    if let Some(s) = srv.as_mut()
        && !s.is_running()
    {
        bail!("the server died during the crash tests; log:\n{}", server::tail(&s.log));
    }
    drop(srv);
    drop(db);
    Ok((out, refusal))
}

fn crash_table(
    backend: &str,
    s: &[(crash::Fault, crash::CrashSummary)],
    refusal: Option<&str>,
    took: Duration,
) -> String {
    let mut out = format!("\n{backend} ({:.0} s):\n\n", took.as_secs_f64());
    out.push_str("| fault | repeats | acknowledged tickets / window actions / bookings, all stored | acknowledged after the faults | worst first ack after a fault | duplicates | audit verify |\n|---|---|---|---|---|---|---|\n");
    for (f, c) in s {
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} / {} | {} | {:.1} s | none | {} |",
            f.label(),
            c.repeats,
            c.acked_tickets,
            c.acked_actions,
            c.acked_bookings,
            c.acked_after_restart,
            c.worst_recovery_s,
            c.audit
        );
    }
    if let Some(r) = refusal {
        let _ = writeln!(out, "\nStart-up on a cluster with fsync=off is refused: `{r}`");
    }
    out
}
