//! Cases (办件) in the database: the case row with its sealed applicant data and the JSON of its
//! domain states (intake, workflow, clock), materials, per-step records (the department inboxes),
//! events, printable notices, idempotency keys and phone verification codes.
//!
//! The rules live in the domain (`intake`, `workflow`, `case_clock`); the use cases that combine
//! them, with sealing and permissions, live in `onestop_web::cases`. Every function here that
//! writes takes the caller's transaction, so one action writes its state, step record, event and
//! audit entry together.
use crate::{StoreError, Tx, ms};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// One case as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CaseRow {
    pub id: i64,
    pub case_no: String,
    #[serde(skip)]
    pub tracking_hash: String,
    pub region_id: i64,
    pub region_path: String,
    pub hall_id: Option<i64>,
    pub subject: String,
    pub subject_id: i64,
    pub title: String,
    pub catalogue_versions: String,
    pub workflow_version_id: Option<i64>,
    pub workflow_definition: String,
    pub step_departments: String,
    pub applicant_name: String,
    #[serde(skip)]
    pub applicant_id_sealed: String,
    #[serde(skip)]
    pub applicant_id_hash: String,
    pub applicant_id_masked: String,
    #[serde(skip)]
    pub applicant_phone_sealed: String,
    pub applicant_phone_masked: String,
    #[serde(skip)]
    pub phone_last4_hash: String,
    #[serde(skip)]
    pub form_sealed: String,
    pub form_masked: String,
    pub channel: String,
    pub ticket_id: Option<i64>,
    pub status: String,
    pub case_type: i64,
    pub intake_state: String,
    pub workflow_state: String,
    pub clock: String,
    pub clock_state: String,
    pub received_on: String,
    pub accepted_on: Option<String>,
    pub promised_deadline: Option<String>,
    pub legal_deadline: Option<String>,
    pub warning: String,
    pub first_handler: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub concluded_at: Option<i64>,
    pub certificate_number: Option<String>,
}

pub(crate) const CASE_COLS: &str = "id, case_no, tracking_hash, region_id, region_path, hall_id, subject, subject_id, title, \
    catalogue_versions, workflow_version_id, workflow_definition, step_departments, applicant_name, \
    applicant_id_sealed, applicant_id_hash, applicant_id_masked, applicant_phone_sealed, applicant_phone_masked, \
    phone_last4_hash, form_sealed, form_masked, channel, ticket_id, status, case_type, intake_state, \
    workflow_state, clock, clock_state, received_on, accepted_on, promised_deadline, legal_deadline, warning, \
    first_handler, created_by, created_at, updated_at, concluded_at, certificate_number";

/// What a submission stores. Sealing and hashing are done by the caller (the web layer holds the
/// data key).
#[derive(Debug, Clone)]
pub struct NewCase {
    pub case_no: String,
    pub tracking_hash: String,
    pub region_id: i64,
    pub region_path: String,
    pub hall_id: Option<i64>,
    pub subject: &'static str,
    pub subject_id: i64,
    pub title: String,
    pub catalogue_versions: String,
    pub workflow_version_id: Option<i64>,
    pub workflow_definition: String,
    pub step_departments: String,
    pub applicant_name: String,
    pub applicant_id_sealed: String,
    pub applicant_id_hash: String,
    pub applicant_id_masked: String,
    pub applicant_phone_sealed: String,
    pub applicant_phone_masked: String,
    pub phone_last4_hash: String,
    pub form_sealed: String,
    pub form_masked: String,
    pub channel: &'static str,
    pub ticket_id: Option<i64>,
    pub status: String,
    pub case_type: i64,
    pub intake_state: String,
    pub workflow_state: String,
    pub clock: String,
    pub received_on: String,
    pub first_handler: Option<String>,
    pub created_by: String,
}

/// A material handed in with the application.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MaterialRow {
    pub id: i64,
    pub case_id: i64,
    pub name: String,
    pub upload_id: Option<i64>,
    pub sha256: Option<String>,
    pub certificate_number: Option<String>,
    pub status: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewMaterial {
    pub name: String,
    pub upload_id: Option<i64>,
    pub sha256: Option<String>,
    pub certificate_number: Option<String>,
    pub status: &'static str,
}

/// Allocates the next number of the day under a 6-digit region code (1, 2, ...).
pub async fn next_seq(tx: &mut Tx, region_code: &str, day: &str) -> Result<u32, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO case_counters (region_code, day, next_seq) VALUES ($1, $2, 2) \
         ON CONFLICT (region_code, day) DO UPDATE SET next_seq = case_counters.next_seq + 1 \
         RETURNING next_seq - 1",
    )
    .bind(region_code)
    .bind(day)
    .fetch_one(tx.conn())
    .await?;
    u32::try_from(seq).map_err(|_| StoreError::Corrupt(format!("case sequence {seq}")))
}

/// Stores a submitted case with its materials and its `submit` event; returns the case id.
pub async fn submit(
    tx: &mut Tx,
    c: &NewCase,
    materials: &[NewMaterial],
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    let now = ms(at);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cases (case_no, tracking_hash, region_id, region_path, hall_id, subject, subject_id, title, \
         catalogue_versions, workflow_version_id, workflow_definition, step_departments, applicant_name, \
         applicant_id_sealed, applicant_id_hash, applicant_id_masked, applicant_phone_sealed, applicant_phone_masked, \
         phone_last4_hash, form_sealed, form_masked, channel, ticket_id, status, case_type, intake_state, \
         workflow_state, clock, clock_state, received_on, first_handler, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
         $22, $23, $24, $25, $26, $27, $28, 'not_started', $29, $30, $31, $32, $32) RETURNING id",
    )
    .bind(&c.case_no)
    .bind(&c.tracking_hash)
    .bind(c.region_id)
    .bind(&c.region_path)
    .bind(c.hall_id)
    .bind(c.subject)
    .bind(c.subject_id)
    .bind(&c.title)
    .bind(&c.catalogue_versions)
    .bind(c.workflow_version_id)
    .bind(&c.workflow_definition)
    .bind(&c.step_departments)
    .bind(&c.applicant_name)
    .bind(&c.applicant_id_sealed)
    .bind(&c.applicant_id_hash)
    .bind(&c.applicant_id_masked)
    .bind(&c.applicant_phone_sealed)
    .bind(&c.applicant_phone_masked)
    .bind(&c.phone_last4_hash)
    .bind(&c.form_sealed)
    .bind(&c.form_masked)
    .bind(c.channel)
    .bind(c.ticket_id)
    .bind(&c.status)
    .bind(c.case_type)
    .bind(&c.intake_state)
    .bind(&c.workflow_state)
    .bind(&c.clock)
    .bind(&c.received_on)
    .bind(&c.first_handler)
    .bind(&c.created_by)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    for m in materials {
        add_material(tx, id, m, at).await?;
    }
    Ok(id)
}

pub async fn add_material(tx: &mut Tx, case_id: i64, m: &NewMaterial, at: jiff::Timestamp) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO case_materials (case_id, name, upload_id, sha256, certificate_number, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(case_id)
    .bind(&m.name)
    .bind(m.upload_id)
    .bind(&m.sha256)
    .bind(&m.certificate_number)
    .bind(m.status)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<CaseRow, StoreError> {
    Ok(sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLS} FROM cases WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(conn)
    .await?)
}

pub async fn by_no(conn: &mut AnyConnection, case_no: &str) -> Result<CaseRow, StoreError> {
    Ok(sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLS} FROM cases WHERE case_no = $1"
    )))
    .bind(case_no)
    .fetch_one(conn)
    .await?)
}

/// The case whose tracking code hashes to one of `hashes` (one per data key in the ring).
pub async fn by_tracking(conn: &mut AnyConnection, hashes: &[String]) -> Result<CaseRow, StoreError> {
    for h in hashes {
        let row = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLS} FROM cases WHERE tracking_hash = $1"
        )))
        .bind(h)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = row {
            return Ok(r);
        }
    }
    Err(StoreError::NotFound)
}

/// The new domain states of a case after an action.
#[derive(Debug, Clone)]
pub struct CaseUpdate {
    pub status: String,
    pub intake_state: String,
    pub workflow_state: String,
    pub clock: String,
    pub clock_state: &'static str,
    pub accepted_on: Option<String>,
    pub promised_deadline: Option<String>,
    pub legal_deadline: Option<String>,
    pub concluded: bool,
    pub certificate_number: Option<String>,
}

/// Writes the new states, guarded by the status the caller read: a concurrent action that moved
/// the case first makes this one fail with `case_changed` (409) instead of overwriting it.
pub async fn update(
    tx: &mut Tx,
    id: i64,
    expected_status: &str,
    expected_updated_at: i64,
    u: &CaseUpdate,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    let now = ms(at).max(expected_updated_at + 1);
    let done = sqlx::query(
        "UPDATE cases SET status = $1, intake_state = $2, workflow_state = $3, clock = $4, clock_state = $5, \
         accepted_on = $6, promised_deadline = $7, legal_deadline = $8, updated_at = $9, \
         concluded_at = CASE WHEN $10 = 1 THEN $9 ELSE concluded_at END, \
         certificate_number = COALESCE($11, certificate_number) \
         WHERE id = $12 AND status = $13 AND updated_at = $14",
    )
    .bind(&u.status)
    .bind(&u.intake_state)
    .bind(&u.workflow_state)
    .bind(&u.clock)
    .bind(u.clock_state)
    .bind(&u.accepted_on)
    .bind(&u.promised_deadline)
    .bind(&u.legal_deadline)
    .bind(now)
    .bind(i64::from(u.concluded))
    .bind(&u.certificate_number)
    .bind(id)
    .bind(expected_status)
    .bind(expected_updated_at)
    .execute(tx.conn())
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::conflict("case_changed", "该办件刚被他人办理，请刷新后重试"));
    }
    Ok(())
}

pub async fn set_warning(tx: &mut Tx, id: i64, level: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE cases SET warning = $1 WHERE id = $2")
        .bind(level)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn materials(conn: &mut AnyConnection, case_id: i64) -> Result<Vec<MaterialRow>, StoreError> {
    Ok(sqlx::query_as::<_, MaterialRow>(
        "SELECT id, case_id, name, upload_id, sha256, certificate_number, status, created_at \
         FROM case_materials WHERE case_id = $1 ORDER BY id",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

pub async fn set_material_status(tx: &mut Tx, case_id: i64, from: &str, to: &str) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("UPDATE case_materials SET status = $1 WHERE case_id = $2 AND status = $3")
            .bind(to)
            .bind(case_id)
            .bind(from)
            .execute(tx.conn())
            .await?
            .rows_affected(),
    )
}

// ---- steps (the department inboxes) ------------------------------------------------------------

/// One per-step record (办理环节记录).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StepRow {
    pub id: i64,
    pub case_id: i64,
    pub step_key: String,
    pub step_name: String,
    pub department_id: Option<i64>,
    pub department_name: String,
    pub role: String,
    pub region_path: String,
    pub hall_id: Option<i64>,
    pub handler: Option<String>,
    pub assigned_by: Option<String>,
    pub claimed_at: Option<i64>,
    pub opinion: Option<String>,
    pub action: Option<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub due_on: Option<String>,
    pub warning: String,
    /// 委托: the absent person this step was meant for; `handler` is their delegate.
    pub delegated_from: Option<String>,
}

pub(crate) const STEP_COLS: &str = "id, case_id, step_key, step_name, department_id, department_name, role, region_path, hall_id, \
    handler, assigned_by, claimed_at, opinion, action, started_at, ended_at, due_on, warning, delegated_from";

#[derive(Debug, Clone)]
pub struct NewStep {
    pub case_id: i64,
    pub step_key: String,
    pub step_name: String,
    pub department_id: Option<i64>,
    pub department_name: String,
    pub role: String,
    pub region_path: String,
    pub hall_id: Option<i64>,
    pub due_on: Option<String>,
}

pub async fn open_step(tx: &mut Tx, s: &NewStep, at: jiff::Timestamp) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO case_steps (case_id, step_key, step_name, department_id, department_name, role, region_path, \
         hall_id, started_at, due_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(s.case_id)
    .bind(&s.step_key)
    .bind(&s.step_name)
    .bind(s.department_id)
    .bind(&s.department_name)
    .bind(&s.role)
    .bind(&s.region_path)
    .bind(s.hall_id)
    .bind(ms(at))
    .bind(&s.due_on)
    .fetch_one(tx.conn())
    .await?)
}

/// Closes an open step record with the action and opinion; `handler` is who acted.
pub async fn close_step(
    tx: &mut Tx,
    step_id: i64,
    handler: &str,
    action: &str,
    opinion: Option<&str>,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE case_steps SET handler = $1, action = $2, opinion = $3, ended_at = $4, \
         claimed_at = COALESCE(claimed_at, $4) WHERE id = $5 AND ended_at IS NULL",
    )
    .bind(handler)
    .bind(action)
    .bind(opinion)
    .bind(ms(at))
    .bind(step_id)
    .execute(tx.conn())
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::conflict("step_closed", "该办理环节已结束"));
    }
    Ok(())
}

/// Puts an open step in `handler`'s hands (claim, assignment, reassignment). `expected_handler`
/// guards against a concurrent claim: claiming needs it unclaimed (`None`).
pub async fn set_handler(
    tx: &mut Tx,
    step_id: i64,
    expected_handler: Option<&str>,
    handler: &str,
    assigned_by: Option<&str>,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE case_steps SET handler = $1, assigned_by = $2, claimed_at = $3 \
         WHERE id = $4 AND ended_at IS NULL AND COALESCE(handler, '') = $5",
    )
    .bind(handler)
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

pub async fn step(conn: &mut AnyConnection, step_id: i64) -> Result<StepRow, StoreError> {
    Ok(sqlx::query_as::<_, StepRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {STEP_COLS} FROM case_steps WHERE id = $1"
    )))
    .bind(step_id)
    .fetch_one(conn)
    .await?)
}

/// Every step record of a case, in order.
pub async fn steps(conn: &mut AnyConnection, case_id: i64) -> Result<Vec<StepRow>, StoreError> {
    Ok(sqlx::query_as::<_, StepRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {STEP_COLS} FROM case_steps WHERE case_id = $1 ORDER BY id"
    )))
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

/// What an inbox lists: open steps of the given departments (shared inbox) or of a handler.
#[derive(Debug, Clone, Default)]
pub struct InboxQuery {
    pub department_ids: Vec<i64>,
    pub handler: Option<String>,
    /// Only unclaimed steps (the shared inbox).
    pub unclaimed_only: bool,
    /// Region subtree prefixes the caller may see (empty: none).
    pub scopes: Vec<String>,
    pub limit: i64,
}

/// An inbox line: the open step with its case.
#[derive(Debug, Clone, Serialize)]
pub struct InboxItem {
    pub step: StepRow,
    pub case_no: String,
    pub title: String,
    pub applicant_name: String,
    pub status: String,
    pub promised_deadline: Option<String>,
    pub case_warning: String,
}

pub async fn inbox(conn: &mut AnyConnection, q: &InboxQuery) -> Result<Vec<InboxItem>, StoreError> {
    if q.scopes.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!(
        "SELECT {}, c.case_no, c.title, c.applicant_name, c.status AS case_status, c.promised_deadline, \
         c.warning AS case_warning FROM case_steps s JOIN cases c ON c.id = s.case_id WHERE s.ended_at IS NULL",
        STEP_COLS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    let scope_sql: Vec<String> = q
        .scopes
        .iter()
        .map(|_| format!("s.region_path LIKE {}", next()))
        .collect();
    sql.push_str(&format!(" AND ({})", scope_sql.join(" OR ")));
    match (&q.handler, q.department_ids.is_empty()) {
        (Some(_), true) => sql.push_str(&format!(" AND s.handler = {}", next())),
        (Some(_), false) => {
            let ids: Vec<String> = q.department_ids.iter().map(|_| next()).collect();
            sql.push_str(&format!(
                " AND (s.handler = {} OR (s.department_id IN ({}) {}))",
                next(),
                ids.join(", "),
                if q.unclaimed_only { "AND s.handler IS NULL" } else { "" }
            ));
        }
        (None, false) => {
            let ids: Vec<String> = q.department_ids.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND s.department_id IN ({})", ids.join(", ")));
            if q.unclaimed_only {
                sql.push_str(" AND s.handler IS NULL");
            }
        }
        (None, true) => {
            if q.unclaimed_only {
                sql.push_str(" AND s.handler IS NULL");
            }
        }
    }
    sql.push_str(&format!(" ORDER BY s.started_at, s.id LIMIT {}", q.limit.clamp(1, 500)));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for s in &q.scopes {
        query = query.bind(format!("{s}%"));
    }
    // Bind order follows placeholder order above.
    match (&q.handler, q.department_ids.is_empty()) {
        (Some(h), true) => query = query.bind(h.clone()),
        (Some(h), false) => {
            // handler placeholder was allocated after the department ids
            for d in &q.department_ids {
                query = query.bind(*d);
            }
            query = query.bind(h.clone());
        }
        (None, false) => {
            for d in &q.department_ids {
                query = query.bind(*d);
            }
        }
        (None, true) => {}
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(InboxItem {
                step: StepRow {
                    id: r.try_get("id")?,
                    case_id: r.try_get("case_id")?,
                    step_key: r.try_get("step_key")?,
                    step_name: r.try_get("step_name")?,
                    department_id: r.try_get("department_id")?,
                    department_name: r.try_get("department_name")?,
                    role: r.try_get("role")?,
                    region_path: r.try_get("region_path")?,
                    hall_id: r.try_get("hall_id")?,
                    handler: r.try_get("handler")?,
                    assigned_by: r.try_get("assigned_by")?,
                    claimed_at: r.try_get("claimed_at")?,
                    opinion: r.try_get("opinion")?,
                    action: r.try_get("action")?,
                    started_at: r.try_get("started_at")?,
                    ended_at: r.try_get("ended_at")?,
                    due_on: r.try_get("due_on")?,
                    warning: r.try_get("warning")?,
                    delegated_from: r.try_get("delegated_from")?,
                },
                case_no: r.try_get("case_no")?,
                title: r.try_get("title")?,
                applicant_name: r.try_get("applicant_name")?,
                status: r.try_get("case_status")?,
                promised_deadline: r.try_get("promised_deadline")?,
                case_warning: r.try_get("case_warning")?,
            })
        })
        .collect()
}

/// Moves every open step held by `from` to `to` (an absent person's cases); returns the step ids.
pub async fn reassign_all(
    tx: &mut Tx,
    from: &str,
    to: &str,
    by: &str,
    scopes: &[String],
    at: jiff::Timestamp,
) -> Result<Vec<i64>, StoreError> {
    let mut moved = Vec::new();
    for scope in scopes {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM case_steps WHERE handler = $1 AND ended_at IS NULL AND region_path LIKE $2 ORDER BY id",
        )
        .bind(from)
        .bind(format!("{scope}%"))
        .fetch_all(tx.conn())
        .await?;
        for id in ids {
            if !moved.contains(&id) {
                set_handler(tx, id, Some(from), to, Some(by), at).await?;
                moved.push(id);
            }
        }
    }
    Ok(moved)
}

// ---- events and notices ------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub case_id: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub detail: String,
}

pub async fn append_event(
    tx: &mut Tx,
    case_id: i64,
    at: jiff::Timestamp,
    actor: &str,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO case_events (case_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(case_id)
    .bind(ms(at))
    .bind(actor)
    .bind(kind)
    .bind(detail.to_string())
    .fetch_one(tx.conn())
    .await?)
}

pub async fn events(conn: &mut AnyConnection, case_id: i64) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as::<_, EventRow>(
        "SELECT id, case_id, at, actor, kind, detail FROM case_events WHERE case_id = $1 ORDER BY id",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct NoticeRow {
    pub id: i64,
    pub case_id: i64,
    pub kind: String,
    pub issued_at: i64,
    pub issued_by: String,
    /// JSON: what the printed notice says (reasons, materials, deadlines).
    pub content: String,
}

pub async fn add_notice(
    tx: &mut Tx,
    case_id: i64,
    kind: &str,
    issued_by: &str,
    content: &serde_json::Value,
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO case_notices (case_id, kind, issued_at, issued_by, content) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(case_id)
    .bind(kind)
    .bind(ms(at))
    .bind(issued_by)
    .bind(content.to_string())
    .fetch_one(tx.conn())
    .await?)
}

pub async fn notices(conn: &mut AnyConnection, case_id: i64) -> Result<Vec<NoticeRow>, StoreError> {
    Ok(sqlx::query_as::<_, NoticeRow>(
        "SELECT id, case_id, kind, issued_at, issued_by, content FROM case_notices WHERE case_id = $1 ORDER BY id",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

// ---- idempotency -------------------------------------------------------------------------------

/// A stored answer to an earlier submission with the same key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotentAnswer {
    pub request_hash: String,
    pub case_id: i64,
    pub response_sealed: String,
}

pub async fn idempotent_answer(
    conn: &mut AnyConnection,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotentAnswer>, StoreError> {
    Ok(sqlx::query_as::<_, IdempotentAnswer>(
        "SELECT request_hash, case_id, response_sealed FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(conn)
    .await?)
}

/// Records the answer under the key; a concurrent first use of the same key makes this fail with
/// `duplicate`, which rolls the whole submission back.
pub async fn remember(
    tx: &mut Tx,
    scope: &str,
    key: &str,
    request_hash: &str,
    case_id: i64,
    response_sealed: &str,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, idem_key, request_hash, case_id, response_sealed, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(scope)
    .bind(key)
    .bind(request_hash)
    .bind(case_id)
    .bind(response_sealed)
    .bind(ms(at))
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn purge_idempotency(tx: &mut Tx, before: jiff::Timestamp) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(ms(before))
        .execute(tx.conn())
        .await?
        .rows_affected())
}

// ---- phone verification codes ------------------------------------------------------------------

pub async fn add_phone_code(
    tx: &mut Tx,
    phone_hash: &str,
    code_hash: &str,
    at: jiff::Timestamp,
    expires_at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO phone_codes (phone_hash, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(phone_hash)
    .bind(code_hash)
    .bind(ms(at))
    .bind(ms(expires_at))
    .fetch_one(tx.conn())
    .await?)
}

/// Uses up the newest live code of the phone if it matches. Each try counts; after five wrong
/// tries the code is dead. Returns whether it matched.
pub async fn use_phone_code(
    tx: &mut Tx,
    phone_hashes: &[String],
    code_hash: &str,
    at: jiff::Timestamp,
) -> Result<bool, StoreError> {
    for ph in phone_hashes {
        let row = sqlx::query(
            "SELECT id, code_hash FROM phone_codes WHERE phone_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             AND attempts < 5 ORDER BY id DESC LIMIT 1",
        )
        .bind(ph)
        .bind(ms(at))
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else { continue };
        let id: i64 = row.try_get("id")?;
        let stored: String = row.try_get("code_hash")?;
        if stored == code_hash {
            sqlx::query("UPDATE phone_codes SET used_at = $1 WHERE id = $2")
                .bind(ms(at))
                .bind(id)
                .execute(tx.conn())
                .await?;
            return Ok(true);
        }
        sqlx::query("UPDATE phone_codes SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(tx.conn())
            .await?;
        return Ok(false);
    }
    Ok(false)
}

// ---- lists -------------------------------------------------------------------------------------

/// Cases of a subtree, newest first, optionally of one status or one warning level.
pub async fn list(
    conn: &mut AnyConnection,
    scopes: &[String],
    status: Option<&str>,
    warning: Option<&str>,
    hall_id: Option<i64>,
    limit: i64,
) -> Result<Vec<CaseRow>, StoreError> {
    let mut out = Vec::new();
    for scope in scopes {
        let rows = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLS} FROM cases WHERE region_path LIKE $1 AND ($2 = '' OR status = $2) \
             AND ($3 = '' OR warning = $3) AND ($4 = 0 OR hall_id = $4) ORDER BY id DESC LIMIT $5"
        )))
        .bind(format!("{scope}%"))
        .bind(status.unwrap_or(""))
        .bind(warning.unwrap_or(""))
        .bind(hall_id.unwrap_or(0))
        .bind(limit.clamp(1, 500))
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            if !out.iter().any(|c: &CaseRow| c.id == r.id) {
                out.push(r);
            }
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.id));
    out.truncate(usize::try_from(limit.clamp(1, 500)).unwrap_or(500));
    Ok(out)
}

/// Ids of cases still awaiting their intake decision received on or before `day` (ISO date): the
/// candidates for deemed acceptance.
pub async fn awaiting_intake_before(conn: &mut AnyConnection, day: &str, limit: i64) -> Result<Vec<i64>, StoreError> {
    Ok(
        sqlx::query_scalar(
            "SELECT id FROM cases WHERE status = 'submitted' AND received_on <= $1 ORDER BY id LIMIT $2",
        )
        .bind(day)
        .bind(limit)
        .fetch_all(conn)
        .await?,
    )
}

pub async fn set_step_warning(tx: &mut Tx, step_id: i64, level: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE case_steps SET warning = $1 WHERE id = $2")
        .bind(level)
        .bind(step_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
