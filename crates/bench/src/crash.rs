//! Crash tests: under load, kill -9 the server (both backends) or stop PostgreSQL with
//! `pg_ctl -m immediate` (a private cluster), start it again, and prove from the database itself
//! that every write the client saw acknowledged is there, nothing is duplicated, ticket numbers
//! stay unique per hall and day, and `onestop audit verify` passes; also that the app carries on
//! (acknowledged writes after the restart).
use crate::load::{self, Ack, LoadSpec, Recorder, Schedule};
use crate::pg::Cluster;
use crate::server::{Server, ServerSpec};
use crate::world::World;
use anyhow::{Context, Result, bail};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the onestop process, start a new one on the same database.
    KillServer,
    /// `pg_ctl stop -m immediate` and start the cluster again; the app keeps running.
    PgImmediate,
}

impl Fault {
    pub fn label(self) -> &'static str {
        match self {
            Fault::KillServer => "kill -9 onestop, restart",
            Fault::PgImmediate => "pg_ctl stop -m immediate, start",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct CrashSummary {
    pub repeats: u32,
    pub acked_tickets: u64,
    pub acked_actions: u64,
    pub acked_bookings: u64,
    pub acked_after_restart: u64,
    /// Seconds from the fault to the first acknowledged write after it, worst of the repeats.
    pub worst_recovery_s: f64,
    pub audit: String,
}

/// What the database holds, read directly (not through the app).
async fn verify(url: &str, acks: &[Ack]) -> Result<(u64, u64, u64)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await?;
    let rows = sqlx::query("SELECT id, hall_id, ticket_no, state FROM tickets")
        .fetch_all(&pool)
        .await?;
    let mut stored: HashMap<i64, (i64, String, String)> = HashMap::new();
    for r in rows {
        stored.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }
    let dups = sqlx::query(
        "SELECT hall_id, day, ticket_no, COUNT(*) FROM tickets GROUP BY hall_id, day, ticket_no HAVING COUNT(*) > 1",
    )
    .fetch_all(&pool)
    .await?;
    if !dups.is_empty() {
        bail!(
            "{} ticket numbers are stored more than once in a hall's day",
            dups.len()
        );
    }
    let codes: HashSet<String> = sqlx::query_scalar("SELECT code FROM appointments")
        .fetch_all(&pool)
        .await?
        .into_iter()
        .collect();
    // casecore: acknowledged cases are stored, once, and acknowledged conclusions concluded.
    let cases: HashMap<i64, String> = sqlx::query("SELECT id, status FROM cases")
        .fetch_all(&pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let mut seen_cases = HashSet::new();
    pool.close().await;
    let (mut tickets, mut actions, mut bookings) = (0u64, 0u64, 0u64);
    let mut seen_ids = HashSet::new();
    let mut seen_numbers = HashSet::new();
    for a in acks {
        match a {
            Ack::Taken { id, hall, no, .. } => {
                tickets += 1;
                let (h, n, _) = stored
                    .get(id)
                    .with_context(|| format!("acknowledged ticket {id} ({no}) is missing"))?;
                if h != hall || n != no {
                    bail!("acknowledged ticket {id} was {hall}/{no}, stored as {h}/{n}");
                }
                if !seen_ids.insert(*id) {
                    bail!("ticket id {id} was acknowledged twice");
                }
                // Numbers restart each day; the bench runs within one day, so within a run the
                // hall and number identify a ticket (the stored check above covers the day).
                if !seen_numbers.insert((*hall, no.clone())) {
                    bail!("ticket number {no} of hall {hall} was acknowledged twice");
                }
            }
            Ack::Called { id } | Ack::Started { id } | Ack::Finished { id } => {
                actions += 1;
                let (_, no, state) = stored
                    .get(id)
                    .with_context(|| format!("ticket {id} of an acknowledged action is missing"))?;
                let ok = match a {
                    Ack::Finished { .. } => state == "done",
                    Ack::Started { .. } => state == "serving" || state == "done",
                    _ => state != "waiting",
                };
                if !ok {
                    bail!("ticket {no} ({id}): an acknowledged action is lost (stored state {state})");
                }
            }
            Ack::Booked { code } => {
                bookings += 1;
                if !codes.contains(code) {
                    bail!("acknowledged booking {code} is missing");
                }
            }
            Ack::CaseSubmitted { id } => {
                if !cases.contains_key(id) {
                    bail!("acknowledged case {id} is missing");
                }
                if !seen_cases.insert(*id) {
                    bail!("case id {id} was acknowledged twice");
                }
            }
            Ack::CaseConcluded { id } => {
                actions += 1;
                if !cases.get(id).is_some_and(|st| st.starts_with("concluded")) {
                    bail!("case {id}: an acknowledged conclusion is lost");
                }
            }
        }
    }
    Ok((tickets, actions, bookings))
}

fn acked_writes_since(acks: &[Ack], t: Instant) -> (u64, Option<Instant>) {
    let mut n = 0;
    let mut first = None;
    for a in acks {
        if let Ack::Taken { at, .. } = a
            && *at > t
        {
            n += 1;
            first = Some(first.map_or(*at, |f: Instant| f.min(*at)));
        }
    }
    (n, first)
}

/// Runs `repeats` faults of one kind against one server, each in the middle of `seconds` of
/// load, verifying after each. `multiple` is the offered load (× the province's peak hour).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    spec: &ServerSpec,
    server: &mut Option<Server>,
    cluster: Option<&Cluster>,
    world: &World,
    fault: Fault,
    repeats: u32,
    seconds: f64,
    multiple: f64,
) -> Result<CrashSummary> {
    let mut sum = CrashSummary::default();
    let rec = Arc::new(Recorder::default());
    for rep in 0..repeats {
        let load_spec = LoadSpec {
            base: spec.base_url(),
            multiple,
            duration: Duration::from_secs_f64(seconds),
            schedule: Schedule::Peak,
            seed: 1000 + u64::from(rep) * 7 + (fault as u64),
            drain: Duration::from_secs(3),
            max_in_flight: 256,
        };
        let w = world.clone();
        let r = rec.clone();
        let load = tokio::spawn(async move { load::run(&load_spec, &w, r, || None, || (0, 0)).await });
        // The fault lands between 30 % and 60 % of the run.
        let at = seconds * (0.3 + 0.3 * ((rep * 37 % 10) as f64 / 10.0));
        tokio::time::sleep(Duration::from_secs_f64(at)).await;
        let fault_at = Instant::now();
        match fault {
            Fault::KillServer => {
                if let Some(s) = server.take() {
                    s.kill9()?;
                }
                *server = Some(
                    spec.start(Duration::from_secs(120))
                        .await
                        .context("restart after kill -9")?,
                );
            }
            Fault::PgImmediate => {
                let c = cluster.context("no private cluster")?;
                c.stop_immediate()?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                c.start()?;
            }
        }
        load.await?;
        // Carries on: keep offering load until a write is acknowledged after the fault (bounded).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (n, _) = acked_writes_since(&rec.acks.lock().unwrap_or_else(|e| e.into_inner()), fault_at);
            if n > 0 {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "repeat {rep}: no write acknowledged within 60 s after {}",
                    fault.label()
                );
            }
            let extra = LoadSpec {
                base: spec.base_url(),
                multiple,
                duration: Duration::from_secs(1),
                schedule: Schedule::Peak,
                seed: 5000 + u64::from(rep),
                drain: Duration::from_secs(1),
                max_in_flight: 256,
            };
            load::run(&extra, world, rec.clone(), || None, || (0, 0)).await;
        }
        let acks = rec.acks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (n, first) = acked_writes_since(&acks, fault_at);
        sum.acked_after_restart += n;
        if let Some(f) = first {
            sum.worst_recovery_s = sum.worst_recovery_s.max((f - fault_at).as_secs_f64());
        }
        let (t, a, b) = verify(&spec.database_url, &acks)
            .await
            .with_context(|| format!("repeat {rep} of {}", fault.label()))?;
        sum.acked_tickets = t;
        sum.acked_actions = a;
        sum.acked_bookings = b;
        sum.audit = spec.audit_verify()?;
        sum.repeats = rep + 1;
        eprintln!(
            "  {} #{}: ok ({t} tickets, {a} window actions, {b} bookings acknowledged so far, all stored; {})",
            fault.label(),
            rep + 1,
            sum.audit
        );
    }
    Ok(sum)
}
