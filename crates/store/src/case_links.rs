//! Cases, continued: delegations of an absent person's work (委托), the queue tickets (visits)
//! linked to a case, materials handed in after submission (补正, 容缺 delivery), and the filtered
//! warning lists. Writes take the caller's transaction, like `cases`.
use crate::cases::{CASE_COLS, CaseRow, NewMaterial, STEP_COLS, StepRow};
use crate::{StoreError, Tx, ms};
use serde::Serialize;
use sqlx::AnyConnection;

// ---- delegations -------------------------------------------------------------------------------

/// A delegation: `from_user`'s steps go to `to_user` from `starts_on` to `ends_on` (local dates).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DelegationRow {
    pub id: i64,
    pub region_path: String,
    pub from_user: String,
    pub to_user: String,
    pub starts_on: String,
    pub ends_on: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const DELEGATION_COLS: &str =
    "id, region_path, from_user, to_user, starts_on, ends_on, reason, created_by, created_at, revoked_at";

#[derive(Debug, Clone)]
pub struct NewDelegation {
    pub region_path: String,
    pub from_user: String,
    pub to_user: String,
    pub starts_on: String,
    pub ends_on: String,
    pub reason: String,
    pub created_by: String,
}

pub async fn add_delegation(tx: &mut Tx, d: &NewDelegation, at: jiff::Timestamp) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO case_delegations (region_path, from_user, to_user, starts_on, ends_on, reason, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&d.region_path)
    .bind(&d.from_user)
    .bind(&d.to_user)
    .bind(&d.starts_on)
    .bind(&d.ends_on)
    .bind(&d.reason)
    .bind(&d.created_by)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?)
}

/// Unrevoked delegations of or to `user` overlapping `from..=to` (ISO dates compare as text).
pub async fn delegations_overlapping(
    conn: &mut AnyConnection,
    user: &str,
    from: &str,
    to: &str,
) -> Result<Vec<DelegationRow>, StoreError> {
    Ok(sqlx::query_as::<_, DelegationRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {DELEGATION_COLS} FROM case_delegations WHERE (from_user = $1 OR to_user = $1) \
         AND revoked_at IS NULL AND starts_on <= $3 AND ends_on >= $2 ORDER BY id"
    )))
    .bind(user)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?)
}

/// The delegation in force for `user` on `day`, if any.
pub async fn delegation_on(
    conn: &mut AnyConnection,
    user: &str,
    day: &str,
) -> Result<Option<DelegationRow>, StoreError> {
    Ok(sqlx::query_as::<_, DelegationRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {DELEGATION_COLS} FROM case_delegations WHERE from_user = $1 AND revoked_at IS NULL \
         AND starts_on <= $2 AND ends_on >= $2 ORDER BY id DESC LIMIT 1"
    )))
    .bind(user)
    .bind(day)
    .fetch_optional(conn)
    .await?)
}

/// Delegations of a subtree, newest first.
pub async fn delegations(conn: &mut AnyConnection, scope: &str) -> Result<Vec<DelegationRow>, StoreError> {
    Ok(sqlx::query_as::<_, DelegationRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {DELEGATION_COLS} FROM case_delegations WHERE region_path LIKE $1 ORDER BY id DESC LIMIT 200"
    )))
    .bind(format!("{scope}%"))
    .fetch_all(conn)
    .await?)
}

/// Puts an open step in the delegate's hands, naming whom it was meant for. `expected_handler`
/// guards against a concurrent change, as in `cases::set_handler`.
pub async fn set_delegated_handler(
    tx: &mut Tx,
    step_id: i64,
    expected_handler: Option<&str>,
    delegate: &str,
    delegated_from: &str,
    assigned_by: Option<&str>,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE case_steps SET handler = $1, delegated_from = $2, assigned_by = $3, claimed_at = $4 \
         WHERE id = $5 AND ended_at IS NULL AND COALESCE(handler, '') = $6",
    )
    .bind(delegate)
    .bind(delegated_from)
    .bind(assigned_by)
    .bind(ms(at))
    .bind(step_id)
    .bind(expected_handler.unwrap_or(""))
    .execute(tx.conn())
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::conflict(
            "step_changed",
            "该办理环节刚被他人认领或已结束，请刷新",
        ));
    }
    Ok(())
}

/// Open steps held by `handler` in a subtree.
pub async fn open_steps_of(conn: &mut AnyConnection, handler: &str, scope: &str) -> Result<Vec<StepRow>, StoreError> {
    Ok(sqlx::query_as::<_, StepRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {STEP_COLS} FROM case_steps WHERE handler = $1 AND ended_at IS NULL AND region_path LIKE $2 \
         ORDER BY id LIMIT 500"
    )))
    .bind(handler)
    .bind(format!("{scope}%"))
    .fetch_all(conn)
    .await?)
}

// ---- visits (queue tickets) --------------------------------------------------------------------

/// Links a served ticket to a case (one row per visit; linking the same ticket twice is a no-op).
pub async fn link_ticket(
    tx: &mut Tx,
    case_id: i64,
    ticket_id: i64,
    purpose: &str,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO case_tickets (case_id, ticket_id, purpose, linked_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (case_id, ticket_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(ticket_id)
    .bind(purpose)
    .bind(ms(at))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A visit linked to a case.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CaseTicket {
    pub ticket_id: i64,
    pub purpose: String,
    pub linked_at: i64,
}

pub async fn tickets(conn: &mut AnyConnection, case_id: i64) -> Result<Vec<CaseTicket>, StoreError> {
    Ok(sqlx::query_as::<_, CaseTicket>(
        "SELECT ticket_id, purpose, linked_at FROM case_tickets WHERE case_id = $1 ORDER BY linked_at, ticket_id",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

// ---- materials after submission ----------------------------------------------------------------

/// Hands in a material: a row of that name still pending or missing becomes provided (with its
/// source); otherwise a provided row is added. Returns the previous status (`None`: added).
pub async fn provide_material(
    tx: &mut Tx,
    case_id: i64,
    m: &NewMaterial,
    at: jiff::Timestamp,
) -> Result<Option<String>, StoreError> {
    let prev: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, status FROM case_materials WHERE case_id = $1 AND name = $2 AND status IN ('pending', 'missing') \
         ORDER BY id LIMIT 1",
    )
    .bind(case_id)
    .bind(&m.name)
    .fetch_optional(tx.conn())
    .await?;
    match prev {
        Some((id, status)) => {
            sqlx::query(
                "UPDATE case_materials SET status = 'provided', upload_id = $1, sha256 = $2, certificate_number = $3 \
                 WHERE id = $4",
            )
            .bind(m.upload_id)
            .bind(&m.sha256)
            .bind(&m.certificate_number)
            .bind(id)
            .execute(tx.conn())
            .await?;
            Ok(Some(status))
        }
        None => {
            crate::cases::add_material(tx, case_id, m, at).await?;
            Ok(None)
        }
    }
}

// ---- warning lists -----------------------------------------------------------------------------

/// Filters of the case lists (hall managers and supervisors): a case matches a department or a
/// person when one of its open steps is that department's or in that person's hands.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub warning: Option<String>,
    pub hall_id: Option<i64>,
    pub department_id: Option<i64>,
    pub handler: Option<String>,
}

pub async fn list_cases(
    conn: &mut AnyConnection,
    scopes: &[String],
    f: &CaseFilter,
    limit: i64,
) -> Result<Vec<CaseRow>, StoreError> {
    let limit = limit.clamp(1, 500);
    let mut out: Vec<CaseRow> = Vec::new();
    for scope in scopes {
        let rows = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLS} FROM cases WHERE region_path LIKE $1 AND ($2 = '' OR status = $2) \
             AND ($3 = '' OR warning = $3) AND ($4 = 0 OR hall_id = $4) \
             AND ($5 = 0 OR EXISTS (SELECT 1 FROM case_steps s WHERE s.case_id = cases.id AND s.ended_at IS NULL \
                  AND s.department_id = $5)) \
             AND ($6 = '' OR EXISTS (SELECT 1 FROM case_steps s WHERE s.case_id = cases.id AND s.ended_at IS NULL \
                  AND s.handler = $6)) \
             ORDER BY id DESC LIMIT $7"
        )))
        .bind(format!("{scope}%"))
        .bind(f.status.clone().unwrap_or_default())
        .bind(f.warning.clone().unwrap_or_default())
        .bind(f.hall_id.unwrap_or(0))
        .bind(f.department_id.unwrap_or(0))
        .bind(f.handler.clone().unwrap_or_default())
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            if !out.iter().any(|c| c.id == r.id) {
                out.push(r);
            }
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.id));
    out.truncate(usize::try_from(limit).unwrap_or(500));
    Ok(out)
}

/// Open steps of a subtree with a step warning (yellow or red, or one level), by hall,
/// department and person.
pub async fn step_warnings(
    conn: &mut AnyConnection,
    scope: &str,
    level: Option<&str>,
    hall_id: Option<i64>,
    department_id: Option<i64>,
    handler: Option<&str>,
) -> Result<Vec<StepRow>, StoreError> {
    Ok(sqlx::query_as::<_, StepRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {STEP_COLS} FROM case_steps WHERE ended_at IS NULL AND region_path LIKE $1 \
         AND (($2 = '' AND warning <> 'none') OR warning = $2) AND ($3 = 0 OR hall_id = $3) \
         AND ($4 = 0 OR department_id = $4) AND ($5 = '' OR handler = $5) ORDER BY id LIMIT 500"
    )))
    .bind(format!("{scope}%"))
    .bind(level.unwrap_or(""))
    .bind(hall_id.unwrap_or(0))
    .bind(department_id.unwrap_or(0))
    .bind(handler.unwrap_or(""))
    .fetch_all(conn)
    .await?)
}
