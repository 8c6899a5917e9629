//! The province day and its load: the day model (volumes per operation, each hall's arrival
//! curve with a morning peak), an open-loop generator that offers a multiple of those rates over
//! HTTP, window consoles that call, start and finish what the kiosks issued, and the figures
//! (latency from the intended start, so a slow server cannot hide queueing behind the client).
use crate::world::{self, JsonBody, World};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// What a province-day carries (issue 8: 70k cases plus the queues of 1,000 halls).
pub struct DayModel {
    pub halls: usize,
    pub tickets_per_hall: f64,
    pub bookings_per_ticket: f64,
    pub floor_reads_per_hall: f64,
    pub stats_reads_per_hall: f64,
    pub guide_searches: f64,
    pub guide_pages: f64,
    /// Cases applied for at windows; each then goes through the back office (accept, 审核, 审批).
    pub cases: f64,
}

pub const PROVINCE_DAY: DayModel = DayModel {
    halls: 1000,
    tickets_per_hall: 250.0,
    bookings_per_ticket: 0.15,
    // A hall manager's floor view and day figures (the live view itself is SSE; these are reloads).
    floor_reads_per_hall: 240.0,
    stats_reads_per_hall: 60.0,
    guide_searches: 150_000.0,
    guide_pages: 150_000.0,
    // casecore: 70,000 cases a day (Zhejiang's weekday, DESIGN.md), when the server has the case API.
    cases: 70_000.0,
};

/// Opening hours of a hall (9:00–17:00 with a lunch dip) and the typical share of a day's
/// tickets in each: the morning peak is the first two hours.
pub const HOURS: [u8; 8] = [9, 10, 11, 12, 13, 14, 15, 16];
const BASE_SHAPE: [f64; 8] = [0.17, 0.18, 0.14, 0.04, 0.06, 0.15, 0.14, 0.12];

/// splitmix64: small, deterministic, good enough for arrival times and picks.
#[derive(Clone)]
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Hall `i`'s own curve: the peak in the first or second hour, ±25 % per hour, summing to 1.
pub fn hall_curve(i: u64) -> [f64; 8] {
    let mut r = Rng::new(i.wrapping_mul(7919) + 17);
    let mut c = BASE_SHAPE;
    if r.f64() < 0.4 {
        c.swap(0, 1);
    }
    for v in &mut c {
        *v *= 0.75 + 0.5 * r.f64();
    }
    let s: f64 = c.iter().sum();
    c.map(|v| v / s)
}

/// The province's hour with the most tickets (over 1,000 hall curves) and its share of the day.
pub fn province_peak() -> (usize, f64) {
    let mut agg = [0.0; 8];
    for i in 0..PROVINCE_DAY.halls as u64 {
        for (a, v) in agg.iter_mut().zip(hall_curve(i)) {
            *a += v;
        }
    }
    let n = PROVINCE_DAY.halls as f64;
    agg.iter()
        .enumerate()
        .map(|(h, v)| (h, v / n))
        .fold((0, 0.0), |best, x| if x.1 > best.1 { x } else { best })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Take,
    CallNext,
    Start,
    Finish,
    Book,
    Floor,
    Stats,
    GuideSearch,
    GuidePage,
    // casecore
    CaseSubmit,
    CaseAccept,
    CaseAct,
}

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::Take => "ticket: take at kiosk",
            Op::CallNext => "ticket: call next",
            Op::Start => "ticket: start service",
            Op::Finish => "ticket: finish",
            Op::Book => "appointment: book",
            Op::Floor => "dashboard: hall floor",
            Op::Stats => "dashboard: day figures",
            Op::GuideSearch => "public: guide search",
            Op::GuidePage => "public: guide page",
            Op::CaseSubmit => "case: submit at window",
            Op::CaseAccept => "case: accept (受理)",
            Op::CaseAct => "case: back-office action",
        }
    }
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Op::Take | Op::CallNext | Op::Start | Op::Finish | Op::Book | Op::CaseSubmit | Op::CaseAccept | Op::CaseAct
        )
    }
}

/// Offered arrivals per second of each open-loop operation at 1× the province's peak hour
/// (window actions follow the tickets, so they are not offered separately).
pub fn peak_rates() -> Vec<(Op, f64)> {
    let (_, share) = province_peak();
    let d = &PROVINCE_DAY;
    let per_s = |daily: f64| daily * share / 3600.0;
    let tickets = d.halls as f64 * d.tickets_per_hall;
    vec![
        (Op::Take, per_s(tickets)),
        (Op::Book, per_s(tickets * d.bookings_per_ticket)),
        (Op::Floor, per_s(d.halls as f64 * d.floor_reads_per_hall)),
        (Op::Stats, per_s(d.halls as f64 * d.stats_reads_per_hall)),
        (Op::GuideSearch, per_s(d.guide_searches)),
        (Op::GuidePage, per_s(d.guide_pages)),
        (Op::CaseSubmit, per_s(d.cases)),
    ]
}

/// One acknowledged write, as the client saw it (the crash tests check each is stored).
#[derive(Clone, Debug)]
pub enum Ack {
    Taken {
        id: i64,
        hall: i64,
        no: String,
        at: Instant,
    },
    Called {
        id: i64,
    },
    Started {
        id: i64,
    },
    Finished {
        id: i64,
    },
    Booked {
        code: String,
    },
    /// casecore: a case applied for, and one that the back office concluded.
    CaseSubmitted {
        id: i64,
    },
    CaseConcluded {
        id: i64,
    },
}

#[derive(Default)]
struct OpRec {
    lat_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
    empty: u64,
}

#[derive(Default)]
pub struct Recorder {
    ops: Mutex<BTreeMap<Op, OpRec>>,
    pub acks: Mutex<Vec<Ack>>,
    pub shed: AtomicU64,
}

impl Recorder {
    fn ok(&self, op: Op, lat: Duration) {
        let mut m = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(op).or_default().lat_us.push(lat.as_micros() as u64);
    }
    fn err(&self, op: Op, code: String) {
        let mut m = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(op).or_default().errors.entry(code).or_default() += 1;
    }
    fn empty(&self, op: Op, lat: Duration) {
        let mut m = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        let r = m.entry(op).or_default();
        r.empty += 1;
        r.lat_us.push(lat.as_micros() as u64);
    }
    fn ack(&self, a: Ack) {
        self.acks.lock().unwrap_or_else(|e| e.into_inner()).push(a);
    }
}

#[derive(Clone, Debug)]
pub struct OpFigures {
    pub op: String,
    pub count: u64,
    pub errors: u64,
    pub empty: u64,
    pub error_codes: String,
    pub per_s: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug)]
pub struct PhaseReport {
    pub multiple: f64,
    pub seconds: f64,
    pub offered_per_s: f64,
    pub ops: Vec<OpFigures>,
    pub all: OpFigures,
    pub shed: u64,
    pub server_cpu_pct: Option<f64>,
    pub rss_mib: f64,
    pub hwm_mib: f64,
}

impl PhaseReport {
    pub fn error_rate(&self) -> f64 {
        let total = self.all.count + self.all.errors + self.shed;
        if total == 0 {
            return 0.0;
        }
        (self.all.errors + self.shed) as f64 / total as f64
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn figures(op: String, mut lat: Vec<u64>, errors: &BTreeMap<String, u64>, empty: u64, secs: f64) -> OpFigures {
    lat.sort_unstable();
    let errs: u64 = errors.values().sum();
    OpFigures {
        op,
        count: lat.len() as u64,
        errors: errs,
        empty,
        error_codes: errors
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect::<Vec<_>>()
            .join(", "),
        per_s: lat.len() as f64 / secs,
        p50: pct(&lat, 0.50),
        p95: pct(&lat, 0.95),
        p99: pct(&lat, 0.99),
        max: lat.last().map(|v| *v as f64 / 1000.0).unwrap_or(0.0),
    }
}

/// When rates apply: the whole day replayed hour by hour, or the province's peak hour steadily.
#[derive(Clone, Copy, Debug)]
pub enum Schedule {
    Day,
    Peak,
}

pub struct LoadSpec {
    pub base: String,
    pub multiple: f64,
    pub duration: Duration,
    pub schedule: Schedule,
    pub seed: u64,
    /// How long windows may keep serving what is left once arrivals stop.
    pub drain: Duration,
    pub max_in_flight: usize,
}

struct Shared {
    base: String,
    client: reqwest::Client,
    world: World,
    rec: Arc<Recorder>,
    /// Tickets issued and not yet handed to a window, per bench hall.
    waiting: Vec<Semaphore>,
    stop: AtomicBool,
    citizen: AtomicU64,
    /// Cases submitted and not yet taken by a back-office worker, per bench hall.
    cases_waiting: Vec<(Semaphore, Mutex<std::collections::VecDeque<i64>>)>,
}

/// Response of one request: the JSON body on success; the error code (or transport error)
/// otherwise. The latency counts from `from` (the intended start).
async fn send(s: &Shared, op: Op, req: reqwest::RequestBuilder, from: Instant) -> Result<Value, String> {
    let res = async {
        let r = req.send().await.map_err(|e| transport(&e))?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| transport(&e))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            Ok(v)
        } else {
            Err(v["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| status.as_u16().to_string()))
        }
    }
    .await;
    match &res {
        Ok(_) => s.rec.ok(op, from.elapsed()),
        Err(code) if code == "queue_empty" => s.rec.empty(op, from.elapsed()),
        Err(code) => s.rec.err(op, code.clone()),
    }
    res
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

async fn arrival(s: Arc<Shared>, op: Op, hall: usize, pick: u64, from: Instant) {
    let base = &s.base;
    let h = &s.world.halls[hall];
    let auth = world::bearer(&s.world.token);
    match op {
        Op::Take => {
            let cat = if pick.is_multiple_of(5) { "B" } else { "A" };
            let req = s
                .client
                .post(format!("{base}/api/v1/queue/kiosk/tickets"))
                .header("authorization", format!("Device {}", h.kiosk))
                .json_body(&json!({ "category": cat }));
            if let Ok(v) = send(&s, op, req, from).await
                && let Some(id) = v["id"].as_i64()
            {
                s.rec.ack(Ack::Taken {
                    id,
                    hall: h.id,
                    no: v["ticket_no"].as_str().unwrap_or_default().to_owned(),
                    at: Instant::now(),
                });
                s.waiting[hall].add_permits(1);
            }
        }
        Op::Book => {
            if h.slots.is_empty() {
                return;
            }
            let n = s.citizen.fetch_add(1, Ordering::Relaxed);
            let slot = h.slots[(pick as usize) % h.slots.len()];
            let req = s
                .client
                .post(format!("{base}/api/v1/queue/appointments"))
                .header("x-forwarded-for", world::citizen_addr(n))
                .json_body(&json!({"slot_id": slot, "id_number": world::id_number(n), "name": "张三"}));
            if let Ok(v) = send(&s, op, req, from).await
                && let Some(code) = v["code"].as_str()
            {
                s.rec.ack(Ack::Booked { code: code.to_owned() });
            }
        }
        Op::Floor => {
            let req = s
                .client
                .get(format!("{base}/api/v1/queue/halls/{}/floor", h.id))
                .header("authorization", auth);
            let _ = send(&s, op, req, from).await;
        }
        Op::Stats => {
            let req = s
                .client
                .get(format!("{base}/api/v1/queue/halls/{}/stats", h.id))
                .header("authorization", auth);
            let _ = send(&s, op, req, from).await;
        }
        Op::GuideSearch => {
            const Q: [&str; 8] = ["营业执照", "yyzz", "户口", "社保", "不动产", "结婚", "医保", "证明"];
            let q = Q[(pick as usize) % Q.len()];
            let req = s
                .client
                .get(format!("{base}/api/v1/guides"))
                .query(&[("region", h.region_code.as_str()), ("q", q)]);
            let _ = send(&s, op, req, from).await;
        }
        Op::GuidePage => {
            if s.world.guides.is_empty() {
                return;
            }
            let (region, code) = &s.world.guides[(pick as usize) % s.world.guides.len()];
            let req = s.client.get(format!("{base}/api/v1/guides/{region}/{code}"));
            let _ = send(&s, op, req, from).await;
        }
        Op::CaseSubmit => {
            let Some(kit) = s.world.cases.as_ref().filter(|_| h.cases) else {
                return;
            };
            let n = s.citizen.fetch_add(1, Ordering::Relaxed);
            let req = s
                .client
                .post(format!("{base}/api/v1/cases"))
                .header("authorization", auth)
                .json_body(&kit.application(h, n));
            if let Ok(v) = send(&s, op, req, from).await
                && let Some(id) = v["id"].as_i64()
            {
                s.rec.ack(Ack::CaseSubmitted { id });
                let (sem, q) = &s.cases_waiting[hall];
                q.lock().unwrap_or_else(|e| e.into_inner()).push_back(id);
                sem.add_permits(1);
            }
        }
        Op::CallNext | Op::Start | Op::Finish | Op::CaseAccept | Op::CaseAct => {}
    }
}

/// One back-office desk of a hall: takes the next submitted case, accepts it (受理) and approves
/// each open step (审核, 审批, …) until it concludes. A transient failure is retried; any other
/// answer drops the case (the server's state machine decides, the bench only counts).
async fn case_desk(s: Arc<Shared>, hall: usize) {
    let base = s.base.clone();
    let auth = world::bearer(&s.world.token);
    loop {
        let (sem, q) = &s.cases_waiting[hall];
        let Ok(p) = sem.acquire().await else {
            return;
        };
        p.forget();
        let Some(id) = q.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
            continue;
        };
        let call = |op: Op, path: String, body: Value| {
            let req = s
                .client
                .post(format!("{base}{path}"))
                .header("authorization", &auth)
                .json_body(&body);
            (op, req)
        };
        let mut next = Some(call(
            Op::CaseAccept,
            format!("/api/v1/cases/{id}/intake"),
            json!({"decision": "accept"}),
        ));
        let mut retries = 0;
        while let Some((op, req)) = next.take() {
            let retry = req.try_clone();
            match send(&s, op, req, Instant::now()).await {
                Ok(v) => {
                    retries = 0;
                    if v["status"].as_str().is_some_and(|st| st.starts_with("concluded")) {
                        s.rec.ack(Ack::CaseConcluded { id });
                    } else if let Some(step) = v["open_steps"][0].as_i64() {
                        next = Some(call(
                            Op::CaseAct,
                            format!("/api/v1/cases/{id}/act"),
                            json!({"step_id": step, "action": "approve", "opinion": "同意"}),
                        ));
                    }
                }
                Err(code) if is_transient(&code) && retries < 20 => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    next = retry.map(|r| (op, r));
                }
                Err(_) => {}
            }
        }
    }
}

/// One window console: takes the next issued ticket of its hall, calls, starts and finishes it
/// (service time compressed to nothing: the load is the requests, not the minutes). A ticket in
/// hand is finished before the next call: after a failed request (a crash) the console retries
/// it, and when the server says the window is busy it reads its current ticket from the floor.
async fn window(s: Arc<Shared>, hall: usize, window_id: i64) {
    let base = s.base.clone();
    let auth = world::bearer(&s.world.token);
    // (ticket id, next step: 0 start, 1 finish)
    let mut in_hand: Option<(i64, usize)> = None;
    let mut failures = 0u32;
    loop {
        if s.stop.load(Ordering::Relaxed) && in_hand.is_none() {
            return;
        }
        if let Some((id, step)) = in_hand {
            let (op, action) = [(Op::Start, "start"), (Op::Finish, "finish")][step];
            let t = Instant::now();
            let req = s
                .client
                .post(format!("{base}/api/v1/queue/windows/{window_id}/tickets/{id}/{action}"))
                .header("authorization", &auth);
            match send(&s, op, req, t).await {
                Ok(_) => {
                    s.rec.ack(if op == Op::Start {
                        Ack::Started { id }
                    } else {
                        Ack::Finished { id }
                    });
                    in_hand = (step == 0).then_some((id, 1));
                    failures = 0;
                }
                Err(code) if is_transient(&code) => {
                    failures += 1;
                    if s.stop.load(Ordering::Relaxed) && failures > 50 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // The server moved on (the step was applied before a crash cut the answer off,
                // or the ticket changed): read what the window holds now.
                Err(_) => {
                    failures += 1;
                    in_hand = current_ticket(&s, hall, window_id).await;
                }
            }
            // A ticket that cannot be moved on is left to the floor (never loop on it).
            if failures > 20 {
                in_hand = None;
                failures = 0;
            }
            continue;
        }
        let Ok(p) = s.waiting[hall].acquire().await else {
            return;
        };
        p.forget();
        let t0 = Instant::now();
        let req = s
            .client
            .post(format!("{base}/api/v1/queue/windows/{window_id}/call-next"))
            .header("authorization", &auth);
        match send(&s, Op::CallNext, req, t0).await {
            Ok(v) => {
                if let Some(id) = v["ticket"]["id"].as_i64() {
                    s.rec.ack(Ack::Called { id });
                    in_hand = Some((id, 0));
                }
            }
            Err(code) if code == "window_busy" || is_transient(&code) => {
                // Give the ticket back to the hall and find out what this window holds.
                s.waiting[hall].add_permits(1);
                tokio::time::sleep(Duration::from_millis(100)).await;
                in_hand = current_ticket(&s, hall, window_id).await;
            }
            Err(_) => {}
        }
    }
}

fn is_transient(code: &str) -> bool {
    matches!(code, "connect" | "timeout" | "transport")
        || code.starts_with('5')
        || code == "unavailable"
        || code == "internal"
}

/// The ticket this window holds according to the server, and its next step.
async fn current_ticket(s: &Shared, hall: usize, window_id: i64) -> Option<(i64, usize)> {
    let h = &s.world.halls[hall];
    let r = s
        .client
        .get(format!("{}/api/v1/queue/halls/{}/floor", s.base, h.id))
        .header("authorization", world::bearer(&s.world.token))
        .send()
        .await
        .ok()?;
    let v = world::json_of(r).await;
    let w = v["windows"]
        .as_array()?
        .iter()
        .find(|w| w["id"].as_i64() == Some(window_id))?;
    let t = &w["current"];
    let id = t["id"].as_i64()?;
    match t["state"].as_str()? {
        "called" => Some((id, 0)),
        "serving" => Some((id, 1)),
        _ => None,
    }
}

/// Runs one phase and returns its figures. `cpu` reads the server's CPU time when the bench
/// started the server; `rss` its (VmRSS, VmHWM) in KiB.
pub async fn run(
    spec: &LoadSpec,
    world: &World,
    rec: Arc<Recorder>,
    cpu: impl Fn() -> Option<Duration>,
    rss: impl Fn() -> (u64, u64),
) -> PhaseReport {
    let client = world::client().unwrap_or_default();
    let shared = Arc::new(Shared {
        base: spec.base.clone(),
        client,
        world: world.clone(),
        rec: rec.clone(),
        waiting: world.halls.iter().map(|_| Semaphore::new(0)).collect(),
        stop: AtomicBool::new(false),
        citizen: AtomicU64::new(spec.seed.wrapping_mul(1_000_003) % 1_000_000_000),
        cases_waiting: world
            .halls
            .iter()
            .map(|_| (Semaphore::new(0), Mutex::new(Default::default())))
            .collect(),
    });
    let mut workers = Vec::new();
    for (hi, h) in world.halls.iter().enumerate() {
        for w in &h.windows {
            workers.push(tokio::spawn(window(shared.clone(), hi, *w)));
        }
    }
    // Cases join the mix when the server has them (and the world could set them up).
    let with_cases = world.cases.is_some() && world.halls.iter().any(|h| h.cases);
    let rates: Vec<(Op, f64)> = peak_rates()
        .into_iter()
        .filter(|(op, _)| *op != Op::CaseSubmit || with_cases)
        .collect();
    if with_cases {
        for (hi, _) in world.halls.iter().enumerate().filter(|(_, h)| h.cases) {
            for _ in 0..2 {
                workers.push(tokio::spawn(case_desk(shared.clone(), hi)));
            }
        }
    }
    let (peak_hour, peak_share) = province_peak();
    let curves: Vec<[f64; 8]> = (0..world.halls.len() as u64).map(hall_curve).collect();
    let province_shape: Vec<f64> = (0..8)
        .map(|h| (0..PROVINCE_DAY.halls as u64).map(|i| hall_curve(i)[h]).sum::<f64>() / PROVINCE_DAY.halls as f64)
        .collect();
    let mut rng = Rng::new(spec.seed);
    let in_flight = Arc::new(Semaphore::new(spec.max_in_flight));
    let cpu0 = cpu();
    let start = Instant::now();
    let end = start + spec.duration;
    let mut next = start;
    let mut offered = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while next < end {
        let hour = match spec.schedule {
            Schedule::Peak => peak_hour,
            Schedule::Day => {
                let f = (next - start).as_secs_f64() / spec.duration.as_secs_f64();
                ((f * 8.0) as usize).min(7)
            }
        };
        let scale = spec.multiple * province_shape[hour] / peak_share;
        let total: f64 = rates.iter().map(|r| r.1).sum::<f64>() * scale;
        // Exponential gaps: a Poisson process of all arrivals together.
        let gap = -(1.0 - rng.f64()).ln() / total;
        next += Duration::from_secs_f64(gap);
        let mut x = rng.f64() * total;
        let mut op = rates[0].0;
        for (o, r) in &rates {
            x -= r * scale;
            if x <= 0.0 {
                op = *o;
                break;
            }
        }
        // The hall: weighted by each bench hall's own curve at this hour.
        let wsum: f64 = curves.iter().map(|c| c[hour]).sum();
        let mut y = rng.f64() * wsum;
        let mut hall = 0;
        for (i, c) in curves.iter().enumerate() {
            y -= c[hour];
            if y <= 0.0 {
                hall = i;
                break;
            }
        }
        let now = Instant::now();
        if next > now {
            tokio::time::sleep_until(next.into()).await;
        }
        offered += 1;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            rec.shed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let s = shared.clone();
        let pick = rng.next_u64();
        let from = next;
        tasks.spawn(async move {
            arrival(s, op, hall, pick, from).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    // Let the windows serve what is left, then stop them.
    let drain_end = Instant::now() + spec.drain;
    while Instant::now() < drain_end
        && (shared.waiting.iter().any(|w| w.available_permits() > 0)
            || shared.cases_waiting.iter().any(|(w, _)| w.available_permits() > 0))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shared.stop.store(true, Ordering::Relaxed);
    for w in &shared.waiting {
        w.close();
    }
    for (w, _) in &shared.cases_waiting {
        w.close();
    }
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(60), w).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_pct = match (cpu0, cpu()) {
        (Some(a), Some(b)) => Some((b.saturating_sub(a)).as_secs_f64() / secs * 100.0),
        _ => None,
    };
    let (rss_k, hwm_k) = rss();
    let m = std::mem::take(&mut *rec.ops.lock().unwrap_or_else(|e| e.into_inner()));
    let mut ops = Vec::new();
    let mut all = Vec::new();
    let mut all_err = BTreeMap::new();
    let mut all_empty = 0;
    for (op, r) in m {
        all.extend_from_slice(&r.lat_us);
        for (k, v) in &r.errors {
            *all_err.entry(k.clone()).or_default() += v;
        }
        all_empty += r.empty;
        ops.push(figures(op.label().to_owned(), r.lat_us, &r.errors, r.empty, secs));
    }
    PhaseReport {
        multiple: spec.multiple,
        seconds: secs,
        offered_per_s: offered as f64 / spec.duration.as_secs_f64(),
        ops,
        all: figures("all operations".into(), all, &all_err, all_empty, secs),
        shed: rec.shed.swap(0, Ordering::Relaxed),
        server_cpu_pct: cpu_pct,
        rss_mib: rss_k as f64 / 1024.0,
        hwm_mib: hwm_k as f64 / 1024.0,
    }
}
