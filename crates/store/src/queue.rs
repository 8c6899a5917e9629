//! Storage of the hall floor: queue categories, window states and mappings, tickets with their
//! append-only events, daily number counters, counters and histograms per leaf and time bucket,
//! appointment slots and bookings. Only SQL lives here; the rules (which ticket is next, which
//! moves are legal) come from `onestop_domain::queue` and are applied by the caller.
use crate::{StoreError, Tx, ms, ts};
use onestop_domain::queue::{CategoryPrefix, PriorityGroup, Ticket, TicketNo, TicketSource, TicketState};
use serde::Serialize;
use sqlx::{Any, Executor};

/// Window states on the floor.
pub const WINDOW_CLOSED: &str = "closed";
pub const WINDOW_OPEN: &str = "open";
pub const WINDOW_PAUSED: &str = "paused";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Category {
    pub id: i64,
    pub hall_id: i64,
    pub prefix: String,
    pub name: String,
    pub closed_at: Option<i64>,
}

pub async fn categories<'e, E: Executor<'e, Database = Any>>(ex: E, hall_id: i64) -> Result<Vec<Category>, StoreError> {
    Ok(sqlx::query_as::<_, Category>(
        "SELECT id, hall_id, prefix, name, closed_at FROM queue_categories WHERE hall_id = $1 ORDER BY prefix",
    )
    .bind(hall_id)
    .fetch_all(ex)
    .await?)
}

pub async fn category<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Category, StoreError> {
    sqlx::query_as::<_, Category>("SELECT id, hall_id, prefix, name, closed_at FROM queue_categories WHERE id = $1")
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn category_by_prefix<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    prefix: &str,
) -> Result<Option<Category>, StoreError> {
    Ok(sqlx::query_as::<_, Category>(
        "SELECT id, hall_id, prefix, name, closed_at FROM queue_categories WHERE hall_id = $1 AND prefix = $2",
    )
    .bind(hall_id)
    .bind(prefix)
    .fetch_optional(ex)
    .await?)
}

pub async fn create_category(
    tx: &mut Tx,
    hall_id: i64,
    prefix: &CategoryPrefix,
    name: &str,
    at: jiff::Timestamp,
) -> Result<Category, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO queue_categories (hall_id, prefix, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(hall_id)
    .bind(prefix.as_str())
    .bind(name)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => {
            StoreError::conflict("category_prefix_taken", format!("本大厅已有前缀为 {prefix} 的队列"))
        }
        other => other,
    })?;
    category(tx.conn(), id).await
}

/// A window as the floor sees it: its state, who is on duty, its current ticket and categories.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WindowFloorRow {
    pub window_id: i64,
    pub hall_id: i64,
    pub number: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub clerk_id: Option<i64>,
    pub clerk_name: String,
    pub current_ticket_id: Option<i64>,
    pub updated_at: Option<i64>,
}

const FLOOR_SQL: &str = "SELECT w.id AS window_id, w.hall_id, w.number, w.name, w.kind,
        COALESCE(s.state, 'closed') AS state, s.clerk_id, COALESCE(s.clerk_name, '') AS clerk_name,
        s.current_ticket_id, s.updated_at
    FROM windows w LEFT JOIN window_status s ON s.window_id = w.id";

pub async fn floor<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
) -> Result<Vec<WindowFloorRow>, StoreError> {
    Ok(sqlx::query_as::<_, WindowFloorRow>(sqlx::AssertSqlSafe(format!(
        "{FLOOR_SQL} WHERE w.hall_id = $1 AND w.closed_at IS NULL ORDER BY LENGTH(w.number), w.number"
    )))
    .bind(hall_id)
    .fetch_all(ex)
    .await?)
}

pub async fn floor_window<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    window_id: i64,
) -> Result<WindowFloorRow, StoreError> {
    sqlx::query_as::<_, WindowFloorRow>(sqlx::AssertSqlSafe(format!("{FLOOR_SQL} WHERE w.id = $1")))
        .bind(window_id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

/// (window id, category id, prefix, rank) for every mapping in the hall.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Mapping {
    pub window_id: i64,
    pub category_id: i64,
    pub prefix: String,
    pub rank: i64,
}

pub async fn mappings<'e, E: Executor<'e, Database = Any>>(ex: E, hall_id: i64) -> Result<Vec<Mapping>, StoreError> {
    Ok(sqlx::query_as::<_, Mapping>(
        "SELECT wc.window_id, wc.category_id, c.prefix, wc.rank FROM window_categories wc
         JOIN queue_categories c ON c.id = wc.category_id
         WHERE c.hall_id = $1 AND c.closed_at IS NULL ORDER BY wc.window_id, wc.rank, c.prefix",
    )
    .bind(hall_id)
    .fetch_all(ex)
    .await?)
}

/// Replaces the categories a window serves.
pub async fn set_mappings(tx: &mut Tx, window_id: i64, cats: &[(i64, i64)]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM window_categories WHERE window_id = $1")
        .bind(window_id)
        .execute(tx.conn())
        .await?;
    for (category_id, rank) in cats {
        sqlx::query("INSERT INTO window_categories (window_id, category_id, rank) VALUES ($1, $2, $3)")
            .bind(window_id)
            .bind(category_id)
            .bind(rank)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// Takes the window's row lock for the rest of the transaction (creating its status row on first
/// use) and returns its floor state. Every action at a window starts here, so two clicks or two
/// processes acting on one window line up instead of interleaving.
pub async fn lock_window(
    tx: &mut Tx,
    window_id: i64,
    hall_id: i64,
    at: jiff::Timestamp,
) -> Result<WindowFloorRow, StoreError> {
    // One statement creates the status row if missing and touches it otherwise; on PostgreSQL
    // the update takes the row lock that lines up concurrent actions at this window.
    sqlx::query(
        "INSERT INTO window_status (window_id, hall_id, state, updated_at) VALUES ($1, $2, 'closed', $3)
         ON CONFLICT (window_id) DO UPDATE SET updated_at = excluded.updated_at",
    )
    .bind(window_id)
    .bind(hall_id)
    .bind(ms(at))
    .execute(tx.conn())
    .await?;
    floor_window(tx.conn(), window_id).await
}

pub async fn set_window_state(
    tx: &mut Tx,
    window_id: i64,
    state: &str,
    clerk: Option<(i64, &str)>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE window_status SET state = $1, clerk_id = $2, clerk_name = $3 WHERE window_id = $4")
        .bind(state)
        .bind(clerk.map(|c| c.0))
        .bind(clerk.map(|c| c.1).unwrap_or(""))
        .bind(window_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn set_current(tx: &mut Tx, window_id: i64, ticket_id: Option<i64>) -> Result<(), StoreError> {
    sqlx::query("UPDATE window_status SET current_ticket_id = $1 WHERE window_id = $2")
        .bind(ticket_id)
        .bind(window_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The next sequence number of `prefix` in the hall on `day`. The upsert is atomic on both
/// backends (a row lock on PostgreSQL, the single writer on SQLite), and the unique index on
/// (hall, day, number) backs it up.
pub async fn next_number(tx: &mut Tx, hall_id: i64, day: &str, prefix: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO ticket_counters (hall_id, day, prefix, seq) VALUES ($1, $2, $3, 1)
         ON CONFLICT (hall_id, day, prefix) DO UPDATE SET seq = ticket_counters.seq + 1
         RETURNING seq",
    )
    .bind(hall_id)
    .bind(day)
    .bind(prefix)
    .fetch_one(tx.conn())
    .await?)
}

/// A ticket as stored, with its current category's prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TicketRow {
    pub id: i64,
    pub hall_id: i64,
    pub day: String,
    pub ticket_no: String,
    pub code: String,
    pub category_id: i64,
    pub category_prefix: String,
    pub origin_category_id: i64,
    pub priority: String,
    pub source: String,
    pub slot_start: Option<i64>,
    pub slot_end: Option<i64>,
    pub appointment_id: Option<i64>,
    pub state: String,
    pub window_id: Option<i64>,
    pub target_window_id: Option<i64>,
    pub issued_at: i64,
    pub called_at: Option<i64>,
    pub recalls: i64,
    pub service_started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub returned_at: Option<i64>,
    pub served_by: Option<i64>,
}

const TICKET_SQL: &str =
    "SELECT t.id, t.hall_id, t.day, t.ticket_no, t.code, t.category_id, c.prefix AS category_prefix,
        t.origin_category_id, t.priority, t.source, t.slot_start, t.slot_end, t.appointment_id, t.state,
        t.window_id, t.target_window_id, t.issued_at, t.called_at, t.recalls, t.service_started_at,
        t.finished_at, t.returned_at, t.served_by
    FROM tickets t JOIN queue_categories c ON c.id = t.category_id";

pub fn priority_str(p: PriorityGroup) -> &'static str {
    match p {
        PriorityGroup::None => "none",
        PriorityGroup::Senior70 => "senior70",
        PriorityGroup::Disabled => "disabled",
        PriorityGroup::GreenChannel => "green_channel",
    }
}

pub fn parse_priority(s: &str) -> Option<PriorityGroup> {
    Some(match s {
        "none" => PriorityGroup::None,
        "senior70" => PriorityGroup::Senior70,
        "disabled" => PriorityGroup::Disabled,
        "green_channel" => PriorityGroup::GreenChannel,
        _ => return None,
    })
}

pub fn parse_state(s: &str) -> Option<TicketState> {
    Some(match s {
        "waiting" => TicketState::Waiting,
        "called" => TicketState::Called,
        "serving" => TicketState::Serving,
        "parked" => TicketState::Parked,
        "no_show" => TicketState::NoShow,
        "done" => TicketState::Done,
        "cancelled" => TicketState::Cancelled,
        _ => return None,
    })
}

impl TicketRow {
    /// The domain ticket (window ids are row ids).
    pub fn to_domain(&self) -> Result<Ticket<i64>, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("ticket {}: bad {what}", self.id));
        let source = match (self.source.as_str(), self.slot_start, self.slot_end) {
            ("appointment", Some(s), Some(e)) => TicketSource::Appointment {
                slot_start: ts(s),
                slot_end: ts(e),
            },
            _ => TicketSource::WalkIn,
        };
        Ok(Ticket {
            no: TicketNo::parse(&self.ticket_no).map_err(|_| corrupt("number"))?,
            category: CategoryPrefix::parse(&self.category_prefix).map_err(|_| corrupt("prefix"))?,
            priority: parse_priority(&self.priority).ok_or_else(|| corrupt("priority"))?,
            source,
            issued_at: ts(self.issued_at),
            state: parse_state(&self.state).ok_or_else(|| corrupt("state"))?,
            window: self.window_id,
            called_at: self.called_at.map(ts),
            recalls: u32::try_from(self.recalls).unwrap_or(0),
            service_started_at: self.service_started_at.map(ts),
            finished_at: self.finished_at.map(ts),
            returned_at: self.returned_at.map(ts),
            target_window: self.target_window_id,
        })
    }
}

pub async fn ticket<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<TicketRow, StoreError> {
    sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(format!("{TICKET_SQL} WHERE t.id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn ticket_by_code<'e, E: Executor<'e, Database = Any>>(ex: E, code: &str) -> Result<TicketRow, StoreError> {
    sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(format!("{TICKET_SQL} WHERE t.code = $1")))
        .bind(code)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Tickets in the queue (waiting or parked) of a hall, oldest first.
pub async fn queued<'e, E: Executor<'e, Database = Any>>(ex: E, hall_id: i64) -> Result<Vec<TicketRow>, StoreError> {
    Ok(sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(format!(
        "{TICKET_SQL} WHERE t.hall_id = $1 AND t.state IN ('waiting', 'parked') ORDER BY t.issued_at, t.id"
    )))
    .bind(hall_id)
    .fetch_all(ex)
    .await?)
}

/// Tickets at windows (called or serving) of a hall.
pub async fn at_windows<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
) -> Result<Vec<TicketRow>, StoreError> {
    Ok(sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(format!(
        "{TICKET_SQL} WHERE t.hall_id = $1 AND t.state IN ('called', 'serving') ORDER BY t.called_at DESC"
    )))
    .bind(hall_id)
    .fetch_all(ex)
    .await?)
}

/// The most recent calls of a hall (for the board's "last calls").
pub async fn recent_calls<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    limit: i64,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as::<_, (String, String, i64)>(
        "SELECT t.ticket_no, w.number, e.at FROM ticket_events e
         JOIN tickets t ON t.id = e.ticket_id JOIN windows w ON w.id = e.window_id
         WHERE e.hall_id = $1 AND e.action IN ('call', 'recall') ORDER BY e.at DESC, e.id DESC LIMIT $2",
    )
    .bind(hall_id)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

/// What a new ticket is made of.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub hall_id: i64,
    pub day: String,
    pub code: String,
    pub category_id: i64,
    pub appointment_id: Option<i64>,
    pub device_id: Option<i64>,
}

pub async fn insert_ticket(tx: &mut Tx, new: &NewTicket, t: &Ticket<i64>) -> Result<i64, StoreError> {
    let (source, slot_start, slot_end) = match t.source {
        TicketSource::WalkIn => ("walk_in", None, None),
        TicketSource::Appointment { slot_start, slot_end } => ("appointment", Some(ms(slot_start)), Some(ms(slot_end))),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (hall_id, day, ticket_no, code, category_id, origin_category_id, priority, source,
            slot_start, slot_end, appointment_id, state, issued_at, device_id)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(new.hall_id)
    .bind(&new.day)
    .bind(t.no.to_string())
    .bind(&new.code)
    .bind(new.category_id)
    .bind(priority_str(t.priority))
    .bind(source)
    .bind(slot_start)
    .bind(slot_end)
    .bind(new.appointment_id)
    .bind(t.state.as_str())
    .bind(ms(t.issued_at))
    .bind(new.device_id)
    .fetch_one(tx.conn())
    .await?;
    Ok(id)
}

/// Writes the ticket's new state if it is still in `expected` (optimistic check). Returns false
/// when another transaction moved it first: two windows calling one ticket, exactly one wins.
pub async fn save_ticket(
    tx: &mut Tx,
    id: i64,
    expected: TicketState,
    t: &Ticket<i64>,
    category_id: i64,
    served_by: Option<i64>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE tickets SET state = $1, category_id = $2, window_id = $3, target_window_id = $4, called_at = $5,
            recalls = $6, service_started_at = $7, finished_at = $8, returned_at = $9,
            served_by = COALESCE($10, served_by)
         WHERE id = $11 AND state = $12",
    )
    .bind(t.state.as_str())
    .bind(category_id)
    .bind(t.window)
    .bind(t.target_window)
    .bind(t.called_at.map(ms))
    .bind(i64::from(t.recalls))
    .bind(t.service_started_at.map(ms))
    .bind(t.finished_at.map(ms))
    .bind(t.returned_at.map(ms))
    .bind(served_by)
    .bind(id)
    .bind(expected.as_str())
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// One append-only event row.
pub struct TicketEvent<'a> {
    pub ticket_id: i64,
    pub hall_id: i64,
    pub at: jiff::Timestamp,
    pub action: &'a str,
    pub state: TicketState,
    pub window_id: Option<i64>,
    pub category_id: i64,
    pub actor: &'a str,
    pub detail: serde_json::Value,
}

pub async fn append_event(tx: &mut Tx, e: TicketEvent<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ticket_events (ticket_id, hall_id, at, action, state, window_id, category_id, actor, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.ticket_id)
    .bind(e.hall_id)
    .bind(ms(e.at))
    .bind(e.action)
    .bind(e.state.as_str())
    .bind(e.window_id)
    .bind(e.category_id)
    .bind(e.actor)
    .bind(e.detail.to_string())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Upper edges of the histogram buckets, in minutes; the last bucket is "more than 90".
pub const HIST_EDGES_MIN: [i64; 10] = [1, 2, 5, 10, 15, 20, 30, 45, 60, 90];
pub const HIST_BUCKETS: usize = 11;

pub fn hist_bucket(duration_ms: i64) -> usize {
    HIST_EDGES_MIN
        .iter()
        .position(|m| duration_ms <= m * 60_000)
        .unwrap_or(HIST_BUCKETS - 1)
}

/// The `p` quantile (0..1) from a histogram, as the upper edge of its bucket in minutes
/// (`None` for an empty histogram; the open last bucket reports the observed maximum).
pub fn hist_quantile(hist: &[i64; HIST_BUCKETS], p: f64, max_ms: i64) -> Option<f64> {
    let total: i64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let want = ((total as f64) * p).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want {
            let edge = HIST_EDGES_MIN
                .get(i)
                .map(|m| *m as f64)
                .unwrap_or(max_ms as f64 / 60_000.0);
            return Some(edge.min(max_ms as f64 / 60_000.0).max(0.0));
        }
    }
    None
}

/// What one event adds to its leaf's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct CounterDelta {
    pub taken: i64,
    pub called: i64,
    pub served: i64,
    pub no_show: i64,
    pub transferred: i64,
    pub wait_ms: Option<i64>,
    pub service_ms: Option<i64>,
}

/// Adds `d` to the hour and the day bucket of leaf (hall, window, category), in the caller's
/// transaction. `day_start` is the local midnight of the hall's day.
pub async fn count(
    tx: &mut Tx,
    hall_id: i64,
    window_id: Option<i64>,
    category_id: i64,
    at: jiff::Timestamp,
    day_start: jiff::Timestamp,
    d: CounterDelta,
) -> Result<(), StoreError> {
    let hour_start = ms(at) / 3_600_000 * 3_600_000;
    let mut wh = [0i64; HIST_BUCKETS];
    let mut sh = [0i64; HIST_BUCKETS];
    if let Some(w) = d.wait_ms {
        wh[hist_bucket(w)] = 1;
    }
    if let Some(s) = d.service_ms {
        sh[hist_bucket(s)] = 1;
    }
    let hist_cols: Vec<String> = (0..HIST_BUCKETS)
        .map(|i| format!("wh{i}"))
        .chain((0..HIST_BUCKETS).map(|i| format!("sh{i}")))
        .collect();
    let cols = [
        "taken",
        "called",
        "served",
        "no_show",
        "transferred",
        "wait_count",
        "wait_sum_ms",
        "service_count",
        "service_sum_ms",
    ];
    let all: Vec<&str> = cols
        .iter()
        .copied()
        .chain(hist_cols.iter().map(String::as_str))
        .collect();
    // Both buckets (hour and day) in one statement: one round trip instead of two.
    let per_row = 5 + all.len() + 2;
    let rows: Vec<String> = (0..2)
        .map(|r| {
            let ph: Vec<String> = (1..=per_row).map(|i| format!("${}", r * per_row + i)).collect();
            format!("({})", ph.join(", "))
        })
        .collect();
    let adds: Vec<String> = all
        .iter()
        .map(|c| format!("{c} = queue_counters.{c} + excluded.{c}"))
        .collect();
    let max = |c: &str| {
        format!("{c} = CASE WHEN excluded.{c} > queue_counters.{c} THEN excluded.{c} ELSE queue_counters.{c} END")
    };
    let sql = format!(
        "INSERT INTO queue_counters (hall_id, window_id, category_id, bucket, bucket_start, {}, wait_max_ms, service_max_ms)
         VALUES {}
         ON CONFLICT (hall_id, window_id, category_id, bucket, bucket_start) DO UPDATE SET {}, {}, {}",
        all.join(", "),
        rows.join(", "),
        adds.join(", "),
        max("wait_max_ms"),
        max("service_max_ms"),
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (bucket, start) in [("hour", hour_start), ("day", ms(day_start))] {
        q = q
            .bind(hall_id)
            .bind(window_id.unwrap_or(0))
            .bind(category_id)
            .bind(bucket)
            .bind(start)
            .bind(d.taken)
            .bind(d.called)
            .bind(d.served)
            .bind(d.no_show)
            .bind(d.transferred)
            .bind(i64::from(d.wait_ms.is_some()))
            .bind(d.wait_ms.unwrap_or(0))
            .bind(i64::from(d.service_ms.is_some()))
            .bind(d.service_ms.unwrap_or(0));
        for v in wh.iter().chain(sh.iter()) {
            q = q.bind(*v);
        }
        q = q.bind(d.wait_ms.unwrap_or(0)).bind(d.service_ms.unwrap_or(0));
    }
    q.execute(tx.conn()).await?;
    Ok(())
}

/// Summed counters of a set of leaves over a bucket range.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CounterSum {
    pub taken: i64,
    pub called: i64,
    pub served: i64,
    pub no_show: i64,
    pub transferred: i64,
    pub wait_count: i64,
    pub wait_sum_ms: i64,
    pub wait_max_ms: i64,
    pub service_count: i64,
    pub service_sum_ms: i64,
    pub service_max_ms: i64,
    pub wait_hist: [i64; HIST_BUCKETS],
    pub service_hist: [i64; HIST_BUCKETS],
}

/// Sums the counters of a hall per category for `bucket` rows starting in [from, to).
/// Returns (category id, sums). Reads only counter rows, never tickets or events.
pub async fn sums_by_category<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    bucket: &str,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<Vec<(i64, CounterSum)>, StoreError> {
    let hist: Vec<String> = (0..HIST_BUCKETS)
        .map(|i| format!("CAST(SUM(wh{i}) AS BIGINT)"))
        .chain((0..HIST_BUCKETS).map(|i| format!("CAST(SUM(sh{i}) AS BIGINT)")))
        .collect();
    let sql = format!(
        "SELECT category_id, CAST(SUM(taken) AS BIGINT), CAST(SUM(called) AS BIGINT), CAST(SUM(served) AS BIGINT),
            CAST(SUM(no_show) AS BIGINT), CAST(SUM(transferred) AS BIGINT), CAST(SUM(wait_count) AS BIGINT),
            CAST(SUM(wait_sum_ms) AS BIGINT), MAX(wait_max_ms), CAST(SUM(service_count) AS BIGINT),
            CAST(SUM(service_sum_ms) AS BIGINT), MAX(service_max_ms), {}
         FROM queue_counters WHERE hall_id = $1 AND bucket = $2 AND bucket_start >= $3 AND bucket_start < $4
         GROUP BY category_id ORDER BY category_id",
        hist.join(", ")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hall_id)
        .bind(bucket)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(ex)
        .await?;
    use sqlx::Row;
    let mut out = Vec::new();
    for r in rows {
        // SUM over BIGINT is NUMERIC on PostgreSQL, hence the casts in the query.
        let get = |i: usize| -> i64 { r.try_get::<i64, _>(i).unwrap_or(0) };
        let mut s = CounterSum {
            taken: get(1),
            called: get(2),
            served: get(3),
            no_show: get(4),
            transferred: get(5),
            wait_count: get(6),
            wait_sum_ms: get(7),
            wait_max_ms: get(8),
            service_count: get(9),
            service_sum_ms: get(10),
            service_max_ms: get(11),
            ..CounterSum::default()
        };
        for i in 0..HIST_BUCKETS {
            s.wait_hist[i] = get(12 + i);
            s.service_hist[i] = get(12 + HIST_BUCKETS + i);
        }
        out.push((get(0), s));
    }
    Ok(out)
}

/// Recent service samples of a category: (finished_at, service ms), newest first.
pub async fn service_samples<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    category_id: i64,
    limit: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as::<_, (i64, i64)>(
        "SELECT finished_at, finished_at - service_started_at FROM tickets
         WHERE category_id = $1 AND state = 'done' AND service_started_at IS NOT NULL AND finished_at IS NOT NULL
         ORDER BY finished_at DESC LIMIT $2",
    )
    .bind(category_id)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

// ---- appointments ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Slot {
    pub id: i64,
    pub hall_id: i64,
    pub category_id: i64,
    pub day: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub capacity: i64,
    pub booked: i64,
}

const SLOT_SQL: &str =
    "SELECT id, hall_id, category_id, day, starts_at, ends_at, capacity, booked FROM appointment_slots";

pub async fn slot<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Slot, StoreError> {
    sqlx::query_as::<_, Slot>(sqlx::AssertSqlSafe(format!("{SLOT_SQL} WHERE id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn slots<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    from_day: &str,
    to_day: &str,
) -> Result<Vec<Slot>, StoreError> {
    Ok(sqlx::query_as::<_, Slot>(sqlx::AssertSqlSafe(format!(
        "{SLOT_SQL} WHERE hall_id = $1 AND day >= $2 AND day <= $3 ORDER BY starts_at, category_id"
    )))
    .bind(hall_id)
    .bind(from_day)
    .bind(to_day)
    .fetch_all(ex)
    .await?)
}

/// Creates or resizes a slot (capacity never below what is already booked).
pub async fn upsert_slot(tx: &mut Tx, s: &Slot, at: jiff::Timestamp) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO appointment_slots (hall_id, category_id, day, starts_at, ends_at, capacity, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (category_id, starts_at) DO UPDATE SET capacity = CASE
            WHEN excluded.capacity < appointment_slots.booked THEN appointment_slots.booked ELSE excluded.capacity END,
            ends_at = excluded.ends_at
         RETURNING id",
    )
    .bind(s.hall_id)
    .bind(s.category_id)
    .bind(&s.day)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(s.capacity)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?)
}

/// Takes one place in the slot if it is not full and has not started. Atomic: the condition
/// and the increment are one statement, so concurrent bookings never overfill it.
pub async fn take_place(tx: &mut Tx, slot_id: i64, now: jiff::Timestamp) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE appointment_slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity AND starts_at > $2",
    )
    .bind(slot_id)
    .bind(ms(now))
    .execute(tx.conn())
    .await?
    .rows_affected()
        == 1)
}

pub async fn release_place(tx: &mut Tx, slot_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE appointment_slots SET booked = booked - 1 WHERE id = $1 AND booked > 0")
        .bind(slot_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Appointment {
    pub id: i64,
    pub slot_id: i64,
    pub hall_id: i64,
    pub category_id: i64,
    pub code: String,
    pub person_hash: String,
    pub name_masked: String,
    pub state: String,
    pub ticket_id: Option<i64>,
    pub starts_at: i64,
    pub ends_at: i64,
    /// The phone, sealed (open with the data keys, purpose `phone`); None on older bookings.
    pub phone_sealed: Option<String>,
}

const APPT_SQL: &str =
    "SELECT a.id, a.slot_id, a.hall_id, a.category_id, a.code, a.person_hash, a.name_masked, a.state,
        a.ticket_id, s.starts_at, s.ends_at, a.phone_sealed
    FROM appointments a JOIN appointment_slots s ON s.id = a.slot_id";

pub async fn appointment_by_code<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    code: &str,
) -> Result<Option<Appointment>, StoreError> {
    Ok(
        sqlx::query_as::<_, Appointment>(sqlx::AssertSqlSafe(format!("{APPT_SQL} WHERE a.code = $1")))
            .bind(code)
            .fetch_optional(ex)
            .await?,
    )
}

/// Booked (not yet checked-in) appointments of a person in a hall, for check-in by ID number.
/// `$from, $from+1, ...` for an `IN (...)` list of `n` values.
fn in_list(from: usize, n: usize) -> String {
    (from..from + n.max(1))
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A person's open bookings in a hall. `person_hashes`: the person's look-up hash in every form
/// it may be stored in (each data key of the ring, and the unkeyed form of older rows).
pub async fn appointments_of_person<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    person_hashes: &[String],
) -> Result<Vec<Appointment>, StoreError> {
    let mut q = sqlx::query_as::<_, Appointment>(sqlx::AssertSqlSafe(format!(
        "{APPT_SQL} WHERE a.hall_id = $1 AND a.person_hash IN ({}) AND a.state = 'booked' ORDER BY s.starts_at",
        in_list(2, person_hashes.len())
    )))
    .bind(hall_id);
    for h in person_hashes {
        q = q.bind(h.clone());
    }
    if person_hashes.is_empty() {
        q = q.bind(String::new());
    }
    Ok(q.fetch_all(ex).await?)
}

/// Days (as slot days) on which a person missed a booking.
pub async fn no_show_days<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    person_hashes: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT s.day FROM appointments a JOIN appointment_slots s ON s.id = a.slot_id
         WHERE a.person_hash IN ({}) AND a.state = 'no_show'",
        in_list(1, person_hashes.len())
    )));
    for h in person_hashes {
        q = q.bind(h.clone());
    }
    if person_hashes.is_empty() {
        q = q.bind(String::new());
    }
    Ok(q.fetch_all(ex).await?)
}

pub async fn insert_appointment(
    tx: &mut Tx,
    slot: &Slot,
    code: &str,
    person_hash: &str,
    name_masked: &str,
    phone_sealed: Option<&str>,
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO appointments (slot_id, hall_id, category_id, code, person_hash, name_masked, state, created_at, updated_at, phone_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, 'booked', $7, $7, $8) RETURNING id",
    )
    .bind(slot.id)
    .bind(slot.hall_id)
    .bind(slot.category_id)
    .bind(code)
    .bind(person_hash)
    .bind(name_masked)
    .bind(ms(at))
    .bind(phone_sealed)
    .fetch_one(tx.conn())
    .await?)
}

/// Moves a booking from `from` to `to` state; false if it was not in `from` any more.
pub async fn set_appointment_state(
    tx: &mut Tx,
    id: i64,
    from: &str,
    to: &str,
    ticket_id: Option<i64>,
    at: jiff::Timestamp,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE appointments SET state = $1, ticket_id = COALESCE($2, ticket_id), updated_at = $3 WHERE id = $4 AND state = $5",
    )
    .bind(to)
    .bind(ticket_id)
    .bind(ms(at))
    .bind(id)
    .bind(from)
    .execute(tx.conn())
    .await?
    .rows_affected()
        == 1)
}

/// Marks bookings whose slot ended before `before` and that never checked in as no-shows.
pub async fn sweep_no_shows(tx: &mut Tx, before: jiff::Timestamp, at: jiff::Timestamp) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE appointments SET state = 'no_show', updated_at = $1
         WHERE state = 'booked' AND slot_id IN (SELECT id FROM appointment_slots WHERE ends_at < $2)",
    )
    .bind(ms(at))
    .bind(ms(before))
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Halls with bookings never checked in whose slot ended before `before`: (hall id, region id).
/// The sweep asks each hall's region for its late grace (`queue.policy`).
pub async fn halls_with_unswept_bookings<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    before: jiff::Timestamp,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT s.hall_id, h.region_id FROM appointments a
         JOIN appointment_slots s ON s.id = a.slot_id JOIN halls h ON h.id = s.hall_id
         WHERE a.state = 'booked' AND s.ends_at < $1 ORDER BY s.hall_id",
    )
    .bind(ms(before))
    .fetch_all(ex)
    .await?)
}

/// `sweep_no_shows` for the bookings of one hall.
pub async fn sweep_no_shows_of_hall(
    tx: &mut Tx,
    hall_id: i64,
    before: jiff::Timestamp,
    at: jiff::Timestamp,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE appointments SET state = 'no_show', updated_at = $1
         WHERE state = 'booked' AND slot_id IN (SELECT id FROM appointment_slots WHERE ends_at < $2 AND hall_id = $3)",
    )
    .bind(ms(at))
    .bind(ms(before))
    .bind(hall_id)
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Waiting tickets per category of a hall: (category id, prefix, name, waiting, oldest issued_at).
/// Every open category is listed, with zero when none wait.
pub async fn waiting_counts<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
) -> Result<Vec<(i64, String, String, i64, Option<i64>)>, StoreError> {
    Ok(sqlx::query_as::<_, (i64, String, String, i64, Option<i64>)>(
        "SELECT c.id, c.prefix, c.name, COUNT(t.id), MIN(t.issued_at) FROM queue_categories c
         LEFT JOIN tickets t ON t.category_id = c.id AND t.state = 'waiting'
         WHERE c.hall_id = $1 AND c.closed_at IS NULL GROUP BY c.id, c.prefix, c.name ORDER BY c.prefix",
    )
    .bind(hall_id)
    .fetch_all(ex)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_quantiles() {
        assert_eq!(hist_bucket(0), 0);
        assert_eq!(hist_bucket(60_000), 0);
        assert_eq!(hist_bucket(60_001), 1);
        assert_eq!(hist_bucket(91 * 60_000), 10);
        let mut h = [0i64; HIST_BUCKETS];
        h[2] = 9; // ≤ 5 min
        h[6] = 1; // ≤ 30 min
        assert_eq!(hist_quantile(&h, 0.5, 29 * 60_000), Some(5.0));
        assert_eq!(hist_quantile(&h, 0.95, 29 * 60_000), Some(29.0));
        assert_eq!(hist_quantile(&[0; HIST_BUCKETS], 0.5, 0), None);
    }
}
