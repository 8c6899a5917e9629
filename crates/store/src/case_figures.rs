//! Case figures of the supervision dashboards (issue 6, the case side): counters per leaf and
//! bucket written in the transactions of the case events, the on-site visits linked to a case
//! (最多跑一次), and [`dashboard_sums`], the one read every dashboard, scorecard and screen shares.
use crate::ratings::{RatingSums, Scope, ScopeValue, ServiceSums, buckets, rating_sums, service_sums};
use crate::{StoreError, Tx, ms};
use onestop_domain::rating::Series;
use serde::Serialize;
use sqlx::{Any, Executor, Row};

/// The leaf a case figure counts in. `hall_id` 0: a case without a hall (its own region counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaseLeaf {
    pub region_id: i64,
    pub hall_id: i64,
    /// The window of the ticket the case was taken in with (0: online, or no ticket).
    pub window_id: i64,
    /// The clerk who accepted, or the reviewer who concluded (0: the system, or nobody).
    pub person_id: i64,
    pub department_id: i64,
}

/// What one case event adds to its leaf's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CaseDelta {
    pub accepted: i64,
    pub accepted_online: i64,
    pub accepted_instant: i64,
    pub concluded: i64,
    pub concluded_on_time: i64,
    pub one_visit: i64,
    pub yellow: i64,
    pub red: i64,
}

const COLS: [&str; 8] = [
    "accepted",
    "accepted_online",
    "accepted_instant",
    "concluded",
    "concluded_on_time",
    "one_visit",
    "yellow",
    "red",
];

impl CaseDelta {
    fn values(&self) -> [i64; 8] {
        [
            self.accepted,
            self.accepted_online,
            self.accepted_instant,
            self.concluded,
            self.concluded_on_time,
            self.one_visit,
            self.yellow,
            self.red,
        ]
    }
}

/// Adds `d` to the day and the month bucket of `leaf`, in the caller's transaction (the one of
/// the case event).
pub async fn count(tx: &mut Tx, leaf: &CaseLeaf, at: jiff::Timestamp, d: CaseDelta) -> Result<(), StoreError> {
    if d == CaseDelta::default() {
        return Ok(());
    }
    let placeholders: Vec<String> = (0..COLS.len()).map(|i| format!("${}", i + 8)).collect();
    let adds: Vec<String> = COLS
        .iter()
        .map(|c| format!("{c} = case_figure_counters.{c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO case_figure_counters (region_id, hall_id, window_id, person_id, department_id, bucket, bucket_start, {})
         VALUES ($1, $2, $3, $4, $5, $6, $7, {})
         ON CONFLICT (region_id, hall_id, window_id, person_id, department_id, bucket, bucket_start)
         DO UPDATE SET {}",
        COLS.join(", "),
        placeholders.join(", "),
        adds.join(", ")
    );
    for (bucket, start) in buckets(at) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(leaf.region_id)
            .bind(leaf.hall_id)
            .bind(leaf.window_id)
            .bind(leaf.person_id)
            .bind(leaf.department_id)
            .bind(bucket)
            .bind(start);
        for v in d.values() {
            q = q.bind(v);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

/// The leaf of case `case_id` for `person_id` and `department_id`: its region, its hall and the
/// window of its intake ticket, read in the event's transaction.
pub async fn leaf_of_case(
    tx: &mut Tx,
    case_id: i64,
    person_id: i64,
    department_id: i64,
) -> Result<CaseLeaf, StoreError> {
    let r = sqlx::query(
        "SELECT c.region_id, COALESCE(c.hall_id, 0), COALESCE(t.window_id, 0) FROM cases c
         LEFT JOIN tickets t ON t.id = c.ticket_id WHERE c.id = $1",
    )
    .bind(case_id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(CaseLeaf {
        region_id: r.try_get(0)?,
        hall_id: r.try_get(1)?,
        window_id: r.try_get(2)?,
        person_id,
        department_id,
    })
}

/// How many on-site visits (served tickets in `case_tickets`, migration 0012) a case had.
pub async fn visits<'e, E: Executor<'e, Database = Any>>(ex: E, case_id: i64) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM case_tickets WHERE case_id = $1")
            .bind(case_id)
            .fetch_one(ex)
            .await?,
    )
}

/// Summed case counters of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CaseSums {
    pub bucket_start: i64,
    pub accepted: i64,
    pub accepted_online: i64,
    pub accepted_instant: i64,
    pub concluded: i64,
    pub concluded_on_time: i64,
    pub one_visit: i64,
    pub yellow: i64,
    pub red: i64,
}

impl CaseSums {
    pub fn add(&mut self, o: &CaseSums) {
        self.accepted += o.accepted;
        self.accepted_online += o.accepted_online;
        self.accepted_instant += o.accepted_instant;
        self.concluded += o.concluded;
        self.concluded_on_time += o.concluded_on_time;
        self.one_visit += o.one_visit;
        self.yellow += o.yellow;
        self.red += o.red;
    }
}

/// Case counters of `scope` per `bucket` ('day' or 'month') starting in [from, to). Reads counter
/// rows only; a region is its subtree, resolved at query time.
pub async fn case_sums<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    scope: &Scope,
    bucket: &str,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<Vec<CaseSums>, StoreError> {
    let (filter, value) = scope.filter(4, true);
    let sums: Vec<String> = COLS.iter().map(|c| format!("CAST(SUM(c.{c}) AS BIGINT)")).collect();
    let join = if matches!(scope, Scope::Region(_)) {
        "LEFT JOIN halls h ON h.id = c.hall_id"
    } else {
        ""
    };
    let sql = format!(
        "SELECT c.bucket_start, {} FROM case_figure_counters c {join}
         WHERE c.bucket = $1 AND c.bucket_start >= $2 AND c.bucket_start < $3 AND {filter}
         GROUP BY c.bucket_start ORDER BY c.bucket_start",
        sums.join(", ")
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(bucket)
        .bind(ms(from))
        .bind(ms(to));
    let q = match value {
        ScopeValue::Int(v) => q.bind(v),
        ScopeValue::Text(v) => q.bind(v),
    };
    let rows = q.fetch_all(ex).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        // SUM over BIGINT is NUMERIC on PostgreSQL, hence the casts.
        let g = |i: usize| -> i64 { r.try_get::<i64, _>(i).unwrap_or(0) };
        out.push(CaseSums {
            bucket_start: g(0),
            accepted: g(1),
            accepted_online: g(2),
            accepted_instant: g(3),
            concluded: g(4),
            concluded_on_time: g(5),
            one_visit: g(6),
            yellow: g(7),
            red: g(8),
        });
    }
    Ok(out)
}

/// Everything a dashboard reads, per bucket: service counters, the two rating series (never
/// merged) and the case counters. The one read shared by the dashboards, the exports, the
/// scorecards and the big screen; extend this rather than adding a parallel read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DashboardSums {
    pub service: Vec<ServiceSums>,
    pub ticket_ratings: Vec<RatingSums>,
    pub case_ratings: Vec<RatingSums>,
    pub cases: Vec<CaseSums>,
}

pub async fn dashboard_sums<'e, E: Executor<'e, Database = Any> + Copy>(
    ex: E,
    scope: &Scope,
    bucket: &str,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<DashboardSums, StoreError> {
    Ok(DashboardSums {
        service: service_sums(ex, scope, bucket, from, to).await?,
        ticket_ratings: rating_sums(ex, scope, Series::Ticket, bucket, from, to).await?,
        case_ratings: rating_sums(ex, scope, Series::Case, bucket, from, to).await?,
        cases: case_sums(ex, scope, bucket, from, to).await?,
    })
}
