//! Storage of the monthly scorecards: who is a peer in a region (windows, people, departments),
//! the frozen snapshots (written once per region and month, never updated), and the public and
//! big-screen read models that need more than the counters.
use crate::{StoreError, Tx, ms};
use serde::Serialize;
use sqlx::{Any, Executor, Row};

/// A subject that can be ranked: its id and the name shown beside its rank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    pub id: i64,
    pub name: String,
    /// The hall it works in (0: a department, which spans halls).
    pub hall_id: i64,
}

/// The windows, people (staff bound to a hall) or departments of a region subtree. Closed ones
/// are listed too: their month still has figures.
pub async fn peers<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    region_path: &str,
    kind: &str,
) -> Result<Vec<Peer>, StoreError> {
    let sql = match kind {
        "window" => {
            "SELECT w.id, h.name || ' ' || w.number || '号窗口', h.id FROM windows w JOIN halls h ON h.id = w.hall_id
             JOIN regions r ON r.id = h.region_id WHERE r.path LIKE $1 ORDER BY w.id"
        }
        "person" => {
            "SELECT u.id, u.display_name, h.id FROM users u JOIN halls h ON h.id = u.hall_id
             JOIN regions r ON r.id = h.region_id WHERE r.path LIKE $1 ORDER BY u.id"
        }
        "department" => {
            "SELECT d.id, d.name, 0 FROM departments d JOIN regions r ON r.id = d.region_id
             WHERE r.path LIKE $1 ORDER BY d.id"
        }
        _ => return Err(StoreError::Config(format!("scorecard kind {kind}"))),
    };
    let rows = sqlx::query(sql).bind(format!("{region_path}%")).fetch_all(ex).await?;
    rows.iter()
        .map(|r| {
            Ok(Peer {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                hall_id: r.try_get(2)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Regions whose subtree holds at least one hall: the ones a scorecard is frozen for.
pub async fn regions_with_halls<'e, E: Executor<'e, Database = Any>>(ex: E) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT r.id, r.path FROM regions r WHERE r.closed_at IS NULL AND EXISTS (
            SELECT 1 FROM halls h JOIN regions hr ON hr.id = h.region_id WHERE hr.path LIKE r.path || '%')
         ORDER BY r.path",
    )
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// One ranked (or unranked) subject of a frozen month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SnapshotRow {
    pub region_id: i64,
    pub month: String,
    pub kind: String,
    pub subject_id: i64,
    pub subject_name: String,
    pub rank: Option<i64>,
    pub peers: i64,
    pub score_permille: Option<i64>,
    /// The JSON of the figures and indicators behind the rank.
    pub figures: String,
    pub bottom: i64,
    pub talk: i64,
    pub frozen_at: i64,
}

/// When and by whom a region's month was frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Freeze {
    pub region_id: i64,
    pub month: String,
    pub subjects: i64,
    pub frozen_at: i64,
    pub frozen_by: String,
}

pub async fn freeze_of<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    region_id: i64,
    month: &str,
) -> Result<Option<Freeze>, StoreError> {
    Ok(sqlx::query_as::<_, Freeze>(
        "SELECT region_id, month, subjects, frozen_at, frozen_by FROM scorecard_freezes WHERE region_id = $1 AND month = $2",
    )
    .bind(region_id)
    .bind(month)
    .fetch_optional(ex)
    .await?)
}

/// Writes a month's snapshot once. Returns `false` (and writes nothing) when the month is
/// already frozen for the region: the freeze row's primary key decides, so a concurrent second
/// freeze is a no-op rather than a mix of two computations.
pub async fn freeze(
    tx: &mut Tx,
    region_id: i64,
    month: &str,
    rows: &[SnapshotRow],
    by: &str,
    at: jiff::Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO scorecard_freezes (region_id, month, subjects, frozen_at, frozen_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (region_id, month) DO NOTHING",
    )
    .bind(region_id)
    .bind(month)
    .bind(rows.len() as i64)
    .bind(ms(at))
    .bind(by)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if done != 1 {
        return Ok(false);
    }
    for r in rows {
        sqlx::query(
            "INSERT INTO scorecard_snapshots (region_id, month, kind, subject_id, subject_name, rank, peers,
                score_permille, figures, bottom, talk, frozen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(region_id)
        .bind(month)
        .bind(&r.kind)
        .bind(r.subject_id)
        .bind(&r.subject_name)
        .bind(r.rank)
        .bind(r.peers)
        .bind(r.score_permille)
        .bind(&r.figures)
        .bind(r.bottom)
        .bind(r.talk)
        .bind(ms(at))
        .execute(tx.conn())
        .await?;
    }
    Ok(true)
}

/// The frozen rows of a region's month and kind, best rank first, unranked last.
pub async fn snapshot<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    region_id: i64,
    month: &str,
    kind: &str,
) -> Result<Vec<SnapshotRow>, StoreError> {
    Ok(sqlx::query_as::<_, SnapshotRow>(
        "SELECT region_id, month, kind, subject_id, subject_name, rank, peers, score_permille, figures, bottom, talk,
            frozen_at FROM scorecard_snapshots WHERE region_id = $1 AND month = $2 AND kind = $3
         ORDER BY CASE WHEN rank IS NULL THEN 1 ELSE 0 END, rank, subject_id",
    )
    .bind(region_id)
    .bind(month)
    .bind(kind)
    .fetch_all(ex)
    .await?)
}

/// The subjects of `kind` that were in the bottom group of a region's frozen `month`.
pub async fn bottom_of<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    region_id: i64,
    month: &str,
    kind: &str,
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT subject_id FROM scorecard_snapshots WHERE region_id = $1 AND month = $2 AND kind = $3 AND bottom = 1",
    )
    .bind(region_id)
    .bind(month)
    .bind(kind)
    .fetch_all(ex)
    .await?;
    Ok(ids.into_iter().collect())
}

// ---- public page and big screen ----------------------------------------------------------------

/// A closed rectification as the public sees it: no rater, no staff, no ticket or case number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicRectification {
    pub hall_id: i64,
    pub series: String,
    pub rated_on: i64,
    pub rectified_at: Option<i64>,
    pub rectify_note: String,
    pub callback_view: Option<String>,
}

/// The newest closed or rectified follow-ups of a hall (整改), without any personal field.
pub async fn public_rectifications<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    limit: i64,
) -> Result<Vec<PublicRectification>, StoreError> {
    let rows = sqlx::query(
        "SELECT f.hall_id, f.series, f.opened_at, f.rectified_at, COALESCE(f.rectify_note, ''), f.callback_view
         FROM rating_followups f WHERE f.hall_id = $1 AND f.rectified_at IS NOT NULL
         ORDER BY f.rectified_at DESC, f.id DESC LIMIT $2",
    )
    .bind(hall_id)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PublicRectification {
                hall_id: r.try_get(0)?,
                series: r.try_get(1)?,
                rated_on: r.try_get(2)?,
                rectified_at: r.try_get(3)?,
                rectify_note: r.try_get(4)?,
                callback_view: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Tickets waiting now (issued, not yet called) in the halls of a region subtree.
pub async fn waiting_now<'e, E: Executor<'e, Database = Any>>(ex: E, region_path: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets t JOIN halls h ON h.id = t.hall_id JOIN regions r ON r.id = h.region_id
         WHERE r.path LIKE $1 AND t.state = 'waiting'",
    )
    .bind(format!("{region_path}%"))
    .fetch_one(ex)
    .await?)
}

/// Follow-ups of a region subtree still awaiting rectification past their due date (red) and
/// those open but not yet due (yellow, to watch).
pub async fn followup_warnings<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    region_path: &str,
    today: jiff::civil::Date,
) -> Result<(i64, i64), StoreError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN f.rectify_due < $2 THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN f.rectify_due >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM rating_followups f JOIN regions r ON r.id = f.region_id
         WHERE r.path LIKE $1 AND f.state IN ('open', 'verified')",
    )
    .bind(format!("{region_path}%"))
    .bind(today.to_string())
    .fetch_one(ex)
    .await?;
    Ok((row.try_get(0).unwrap_or(0), row.try_get(1).unwrap_or(0)))
}
