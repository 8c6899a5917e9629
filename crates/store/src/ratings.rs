//! Storage of ratings (好差评): single-use tokens issued with the event they rate, the ratings,
//! bad-review follow-ups, and counters per leaf and bucket written in the caller's transaction.
//! A rated subject is a served ticket or a concluded case ([`Subject`]); the case side calls
//! [`issue_token`] from the transaction that concludes the case, exactly as the queue's finish does.
use crate::{StoreError, Tx, calendars, ms, region_settings};
use onestop_domain::rating::{
    CallbackView, Channel, FollowUpSetting, FollowUpState, FollowUpStep, Level, RatingInput, Series, TOKEN_VALID_DAYS,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, Executor, Row};

/// The local time zone of the buckets (the halls' zone, as the queue's days).
pub fn zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC)
}

/// Local midnight of `at`'s day and of its month's first day.
pub fn buckets(at: jiff::Timestamp) -> [(&'static str, i64); 2] {
    let z = at.to_zoned(zone());
    let day = z.start_of_day().map(|s| s.timestamp()).unwrap_or(at);
    let month = z
        .first_of_month()
        .and_then(|m| m.start_of_day())
        .map(|s| s.timestamp())
        .unwrap_or(day);
    [("day", ms(day)), ("month", ms(month))]
}

/// The local date of `at`.
pub fn local_date(at: jiff::Timestamp) -> jiff::civil::Date {
    at.to_zoned(zone()).date()
}

pub fn hash_token(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.trim().as_bytes()))
}

/// Where a rated event belongs: its series and subject, and the leaf its figures count in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub series: Series,
    /// The ticket's or the case's row id.
    pub subject_id: i64,
    /// The ticket number or the case number, as the rater knows it.
    pub subject_no: String,
    pub region_id: i64,
    /// 0 when the event has no hall (a case decided in the back office only).
    pub hall_id: i64,
    pub window_id: i64,
    /// The clerk or reviewer whose work is rated (0: nobody in particular).
    pub person_id: i64,
    pub department_id: i64,
}

/// A freshly issued token: the raw value exists only here (the database keeps its hash).
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub id: i64,
    pub token: String,
    pub expires_at: i64,
}

/// Issues the single-use rating token of `subject`, in the caller's transaction (the one that
/// finishes the service or concludes the case), and counts it as issued. One token per subject:
/// a second call for the same subject is a conflict.
pub async fn issue_token(tx: &mut Tx, subject: &Subject, at: jiff::Timestamp) -> Result<IssuedToken, StoreError> {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let expires_at = ms(at) + TOKEN_VALID_DAYS * 86_400_000;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO rating_tokens (token_hash, series, subject_id, subject_no, region_id, hall_id, window_id,
            person_id, department_id, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(hash_token(&token))
    .bind(subject.series.as_str())
    .bind(subject.subject_id)
    .bind(&subject.subject_no)
    .bind(subject.region_id)
    .bind(subject.hall_id)
    .bind(subject.window_id)
    .bind(subject.person_id)
    .bind(subject.department_id)
    .bind(ms(at))
    .bind(expires_at)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::conflict("rating_token_exists", "该事项已发放评价码"),
        other => other,
    })?;
    count(
        tx,
        &Leaf::of(subject),
        at,
        RatingDelta {
            issued: 1,
            ..RatingDelta::default()
        },
    )
    .await?;
    Ok(IssuedToken { id, token, expires_at })
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub series: String,
    pub subject_id: i64,
    pub subject_no: String,
    pub region_id: i64,
    pub hall_id: i64,
    pub window_id: i64,
    pub person_id: i64,
    pub department_id: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub rating_id: Option<i64>,
}

const TOKEN_SQL: &str = "SELECT id, series, subject_id, subject_no, region_id, hall_id, window_id, person_id,
    department_id, issued_at, expires_at, used_at, rating_id FROM rating_tokens";

impl TokenRow {
    pub fn series(&self) -> Result<Series, StoreError> {
        Series::parse(&self.series).map_err(|_| StoreError::Corrupt(format!("rating token {}: series", self.id)))
    }
    fn subject(&self) -> Result<Subject, StoreError> {
        Ok(Subject {
            series: self.series()?,
            subject_id: self.subject_id,
            subject_no: self.subject_no.clone(),
            region_id: self.region_id,
            hall_id: self.hall_id,
            window_id: self.window_id,
            person_id: self.person_id,
            department_id: self.department_id,
        })
    }
}

/// The token a raw value stands for; `None` for a forged or mistyped one.
pub async fn token<'e, E: Executor<'e, Database = Any>>(ex: E, raw: &str) -> Result<Option<TokenRow>, StoreError> {
    if raw.len() > 128 {
        return Ok(None);
    }
    Ok(
        sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(format!("{TOKEN_SQL} WHERE token_hash = $1")))
            .bind(hash_token(raw))
            .fetch_optional(ex)
            .await?,
    )
}

pub async fn token_by_id<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Option<TokenRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(format!("{TOKEN_SQL} WHERE id = $1")))
            .bind(id)
            .fetch_optional(ex)
            .await?,
    )
}

/// The token of a subject (the pad shows the newest unused token of its window).
pub async fn token_of_subject<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    series: Series,
    subject_id: i64,
) -> Result<Option<TokenRow>, StoreError> {
    Ok(sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(format!(
        "{TOKEN_SQL} WHERE series = $1 AND subject_id = $2"
    )))
    .bind(series.as_str())
    .bind(subject_id)
    .fetch_optional(ex)
    .await?)
}

/// The newest token issued at a window, if still unused and issued after `since`.
pub async fn pending_at_window<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    window_id: i64,
    since: jiff::Timestamp,
) -> Result<Option<TokenRow>, StoreError> {
    Ok(sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(format!(
        "{TOKEN_SQL} WHERE window_id = $1 AND series = 'ticket' AND issued_at >= $2 ORDER BY issued_at DESC, id DESC LIMIT 1"
    )))
    .bind(window_id)
    .bind(ms(since))
    .fetch_optional(ex)
    .await?
    .filter(|t| t.used_at.is_none()))
}

/// The leaf a figure counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub series: Series,
    pub region_id: i64,
    pub hall_id: i64,
    pub window_id: i64,
    pub person_id: i64,
    pub department_id: i64,
}

impl Leaf {
    pub fn of(s: &Subject) -> Self {
        Self {
            series: s.series,
            region_id: s.region_id,
            hall_id: s.hall_id,
            window_id: s.window_id,
            person_id: s.person_id,
            department_id: s.department_id,
        }
    }
}

/// What one event adds to its leaf's rating counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RatingDelta {
    pub issued: i64,
    pub rated: i64,
    pub levels: [i64; 5],
    pub defaulted: i64,
    pub excluded: i64,
    pub followups: i64,
    pub rectified: i64,
    pub rectified_on_time: i64,
    pub called_back: i64,
    pub callback_satisfied: i64,
    pub overdue: i64,
}

const DELTA_COLS: [&str; 16] = [
    "issued",
    "rated",
    "l1",
    "l2",
    "l3",
    "l4",
    "l5",
    "defaulted",
    "excluded",
    "followups",
    "rectified",
    "rectified_on_time",
    "called_back",
    "callback_satisfied",
    "overdue",
    // placeholder kept out of the insert list (see `count`)
    "",
];

impl RatingDelta {
    fn values(&self) -> [i64; 15] {
        let l = self.levels;
        [
            self.issued,
            self.rated,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            self.defaulted,
            self.excluded,
            self.followups,
            self.rectified,
            self.rectified_on_time,
            self.called_back,
            self.callback_satisfied,
            self.overdue,
        ]
    }
}

/// Adds `d` to the day and the month bucket of `leaf`, in the caller's transaction.
pub async fn count(tx: &mut Tx, leaf: &Leaf, at: jiff::Timestamp, d: RatingDelta) -> Result<(), StoreError> {
    let cols: Vec<&str> = DELTA_COLS.iter().copied().filter(|c| !c.is_empty()).collect();
    let placeholders: Vec<String> = (0..cols.len()).map(|i| format!("${}", i + 9)).collect();
    let adds: Vec<String> = cols
        .iter()
        .map(|c| format!("{c} = rating_counters.{c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO rating_counters (series, region_id, hall_id, window_id, person_id, department_id, bucket, bucket_start, {})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {})
         ON CONFLICT (series, region_id, hall_id, window_id, person_id, department_id, bucket, bucket_start)
         DO UPDATE SET {}",
        cols.join(", "),
        placeholders.join(", "),
        adds.join(", ")
    );
    for (bucket, start) in buckets(at) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(leaf.series.as_str())
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

/// What a finished service adds to the service counters of its leaf.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceDelta {
    pub wait_ms: Option<i64>,
    pub service_ms: Option<i64>,
}

/// Counts one served visitor at (hall, window, person, department), day and month buckets.
pub async fn count_service(
    tx: &mut Tx,
    hall_id: i64,
    window_id: i64,
    person_id: i64,
    department_id: i64,
    at: jiff::Timestamp,
    d: ServiceDelta,
) -> Result<(), StoreError> {
    let wait = d.wait_ms.unwrap_or(0).max(0);
    let service = d.service_ms.unwrap_or(0).max(0);
    for (bucket, start) in buckets(at) {
        sqlx::query(
            "INSERT INTO service_counters (hall_id, window_id, person_id, department_id, bucket, bucket_start,
                served, wait_sum_ms, wait_max_ms, wait_over_20, wait_over_30, service_sum_ms, service_max_ms)
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8, $9, $10, $10)
             ON CONFLICT (hall_id, window_id, person_id, department_id, bucket, bucket_start) DO UPDATE SET
                served = service_counters.served + 1,
                wait_sum_ms = service_counters.wait_sum_ms + excluded.wait_sum_ms,
                wait_max_ms = CASE WHEN excluded.wait_max_ms > service_counters.wait_max_ms
                    THEN excluded.wait_max_ms ELSE service_counters.wait_max_ms END,
                wait_over_20 = service_counters.wait_over_20 + excluded.wait_over_20,
                wait_over_30 = service_counters.wait_over_30 + excluded.wait_over_30,
                service_sum_ms = service_counters.service_sum_ms + excluded.service_sum_ms,
                service_max_ms = CASE WHEN excluded.service_max_ms > service_counters.service_max_ms
                    THEN excluded.service_max_ms ELSE service_counters.service_max_ms END",
        )
        .bind(hall_id)
        .bind(window_id)
        .bind(person_id)
        .bind(department_id)
        .bind(bucket)
        .bind(start)
        .bind(wait)
        .bind(i64::from(wait > 20 * 60_000))
        .bind(i64::from(wait > 30 * 60_000))
        .bind(service)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

// ratecase: the same upsert as `count_service`, for many visitors of one leaf and day at once
/// Adds already summed service figures (`s.served` visitors) to a leaf's day and month buckets:
/// the bulk form of [`count_service`], for imports and the dashboard benchmark. The resulting
/// rows are the ones counting each visitor alone would give.
#[allow(clippy::too_many_arguments)]
pub async fn add_service(
    tx: &mut Tx,
    hall_id: i64,
    window_id: i64,
    person_id: i64,
    department_id: i64,
    at: jiff::Timestamp,
    s: &ServiceSums,
) -> Result<(), StoreError> {
    if s.served == 0 {
        return Ok(());
    }
    for (bucket, start) in buckets(at) {
        sqlx::query(
            "INSERT INTO service_counters (hall_id, window_id, person_id, department_id, bucket, bucket_start,
                served, wait_sum_ms, wait_max_ms, wait_over_20, wait_over_30, service_sum_ms, service_max_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (hall_id, window_id, person_id, department_id, bucket, bucket_start) DO UPDATE SET
                served = service_counters.served + excluded.served,
                wait_sum_ms = service_counters.wait_sum_ms + excluded.wait_sum_ms,
                wait_max_ms = CASE WHEN excluded.wait_max_ms > service_counters.wait_max_ms
                    THEN excluded.wait_max_ms ELSE service_counters.wait_max_ms END,
                wait_over_20 = service_counters.wait_over_20 + excluded.wait_over_20,
                wait_over_30 = service_counters.wait_over_30 + excluded.wait_over_30,
                service_sum_ms = service_counters.service_sum_ms + excluded.service_sum_ms,
                service_max_ms = CASE WHEN excluded.service_max_ms > service_counters.service_max_ms
                    THEN excluded.service_max_ms ELSE service_counters.service_max_ms END",
        )
        .bind(hall_id)
        .bind(window_id)
        .bind(person_id)
        .bind(department_id)
        .bind(bucket)
        .bind(start)
        .bind(s.served)
        .bind(s.wait_sum_ms)
        .bind(s.wait_max_ms)
        .bind(s.wait_over_20)
        .bind(s.wait_over_30)
        .bind(s.service_sum_ms)
        .bind(s.service_max_ms)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

// ---- ratings ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RatingRow {
    pub id: i64,
    pub token_id: i64,
    pub series: String,
    pub subject_id: i64,
    pub subject_no: String,
    pub channel: String,
    pub rater: String,
    pub rated_at: i64,
    pub rate_count: i64,
    pub level: i64,
    pub dimensions: String,
    pub text: String,
    pub region_id: i64,
    pub region_code: String,
    pub hall_id: i64,
    pub window_id: i64,
    pub person_id: i64,
    pub department_id: i64,
    pub defaulted: i64,
    pub excluded_at: Option<i64>,
    pub excluded_reason: Option<String>,
}

const RATING_SQL: &str = "SELECT id, token_id, series, subject_id, subject_no, channel, rater, rated_at, rate_count,
    level, dimensions, text, region_id, region_code, hall_id, window_id, person_id, department_id, defaulted,
    excluded_at, excluded_reason FROM ratings";

pub async fn rating<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<RatingRow, StoreError> {
    sqlx::query_as::<_, RatingRow>(sqlx::AssertSqlSafe(format!("{RATING_SQL} WHERE id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Ratings of a hall (0: hall-less) in [from, to), newest first.
pub async fn ratings_of_hall<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
    limit: i64,
) -> Result<Vec<RatingRow>, StoreError> {
    Ok(sqlx::query_as::<_, RatingRow>(sqlx::AssertSqlSafe(format!(
        "{RATING_SQL} WHERE hall_id = $1 AND rated_at >= $2 AND rated_at < $3 ORDER BY rated_at DESC, id DESC LIMIT $4"
    )))
    .bind(hall_id)
    .bind(ms(from))
    .bind(ms(to))
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

fn token_invalid() -> StoreError {
    StoreError::NotFound
}

/// How a rating is submitted: by the citizen through a channel, or by the default-rating job.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    pub input: &'a RatingInput,
    pub channel: Channel,
    /// Who rated, as recorded (masked; never an ID number).
    pub rater: &'a str,
    pub defaulted: bool,
}

/// Uses the token and records its rating, counts it, and opens the follow-up of a bad review
/// (deadline: the region's working days on its calendar). Refuses a used or expired token with a
/// stable conflict; the one-shot `UPDATE .. WHERE used_at IS NULL` and the unique index on the
/// subject make sure a double submit never counts twice.
pub async fn submit(
    tx: &mut Tx,
    token: &TokenRow,
    s: Submission<'_>,
    at: jiff::Timestamp,
) -> Result<RatingRow, StoreError> {
    if token.used_at.is_some() {
        return Err(StoreError::conflict(
            "rating_token_used",
            "该评价码已使用，每次服务只能评价一次",
        ));
    }
    if ms(at) > token.expires_at {
        return Err(StoreError::conflict("rating_token_expired", "该评价码已过期"));
    }
    let taken = sqlx::query("UPDATE rating_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
        .bind(ms(at))
        .bind(token.id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if taken != 1 {
        return Err(StoreError::conflict(
            "rating_token_used",
            "该评价码已使用，每次服务只能评价一次",
        ));
    }
    let subject = token.subject()?;
    let region_code: String = sqlx::query_scalar("SELECT code FROM regions WHERE id = $1")
        .bind(token.region_id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(token_invalid)?;
    let dims: serde_json::Map<String, serde_json::Value> = s
        .input
        .dimensions
        .iter()
        .map(|(d, l)| (d.as_str().to_owned(), serde_json::Value::from(l.code())))
        .collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ratings (token_id, series, subject_id, subject_no, channel, rater, rated_at, rate_count, level,
            dimensions, text, region_id, region_code, hall_id, window_id, person_id, department_id, defaulted)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
    )
    .bind(token.id)
    .bind(subject.series.as_str())
    .bind(subject.subject_id)
    .bind(&subject.subject_no)
    .bind(s.channel.as_str())
    .bind(s.rater)
    .bind(ms(at))
    .bind(s.input.level.code())
    .bind(serde_json::Value::Object(dims).to_string())
    .bind(&s.input.text)
    .bind(subject.region_id)
    .bind(&region_code)
    .bind(subject.hall_id)
    .bind(subject.window_id)
    .bind(subject.person_id)
    .bind(subject.department_id)
    .bind(i64::from(s.defaulted))
    .fetch_one(tx.conn())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::conflict("rating_exists", "该事项已评价过"),
        other => other,
    })?;
    sqlx::query("UPDATE rating_tokens SET rating_id = $1 WHERE id = $2")
        .bind(id)
        .bind(token.id)
        .execute(tx.conn())
        .await?;
    let leaf = Leaf::of(&subject);
    let mut d = RatingDelta::default();
    if s.defaulted {
        d.defaulted = 1;
    } else {
        d.rated = 1;
        d.levels[(s.input.level.code() - 1) as usize] = 1;
    }
    if s.input.level.is_bad() && !s.defaulted {
        d.followups = 1;
        let rule = region_settings::effective::<FollowUpSetting>(tx.conn(), subject.region_id)
            .await?
            .value;
        let cal = calendars::calendar_for(tx.conn(), subject.region_id).await?;
        let today = local_date(at);
        // A calendar that does not cover the coming weeks (next year not loaded yet) must not
        // lose a citizen's rating: fall back to counting weekdays only, which the admin page's
        // "calendar not covered" warning asks to fix.
        let due = cal
            .add_working_days(today, rule.rectify_working_days)
            .unwrap_or_else(|_| weekdays_after(today, rule.rectify_working_days));
        sqlx::query(
            "INSERT INTO rating_followups (rating_id, series, region_id, hall_id, window_id, person_id, department_id,
                state, opened_at, rectify_due, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $8)",
        )
        .bind(id)
        .bind(subject.series.as_str())
        .bind(subject.region_id)
        .bind(subject.hall_id)
        .bind(subject.window_id)
        .bind(subject.person_id)
        .bind(subject.department_id)
        .bind(ms(at))
        .bind(due.to_string())
        .execute(tx.conn())
        .await?;
    }
    count(tx, &leaf, at, d).await?;
    rating(tx.conn(), id).await
}

fn weekdays_after(mut d: jiff::civil::Date, mut n: u32) -> jiff::civil::Date {
    use jiff::civil::Weekday;
    while n > 0 {
        d = d.tomorrow().unwrap_or(d);
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            n -= 1;
        }
    }
    d
}

/// Unused tokens issued before `before`, oldest first (for the default-rating job).
pub async fn unused_before<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    before: jiff::Timestamp,
    limit: i64,
) -> Result<Vec<TokenRow>, StoreError> {
    Ok(sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(format!(
        "{TOKEN_SQL} WHERE used_at IS NULL AND issued_at < $1 ORDER BY issued_at, id LIMIT $2"
    )))
    .bind(ms(before))
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

// ---- follow-ups ------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FollowUpRow {
    pub id: i64,
    pub rating_id: i64,
    pub series: String,
    pub region_id: i64,
    pub hall_id: i64,
    pub window_id: i64,
    pub person_id: i64,
    pub department_id: i64,
    pub state: String,
    pub opened_at: i64,
    pub rectify_due: String,
    pub verified_at: Option<i64>,
    pub verify_note: Option<String>,
    pub rectified_at: Option<i64>,
    pub rectify_note: Option<String>,
    pub fed_back_at: Option<i64>,
    pub feedback_note: Option<String>,
    pub called_back_at: Option<i64>,
    pub callback_view: Option<String>,
    pub callback_note: Option<String>,
    pub appeal_decided_at: Option<i64>,
    pub appeal_reason: Option<String>,
    pub appeal_outcome: Option<String>,
    pub warned_at: Option<i64>,
    pub updated_at: i64,
}

const FOLLOWUP_SQL: &str = "SELECT id, rating_id, series, region_id, hall_id, window_id, person_id, department_id,
    state, opened_at, rectify_due, verified_at, verify_note, rectified_at, rectify_note, fed_back_at, feedback_note,
    called_back_at, callback_view, callback_note, appeal_decided_at, appeal_reason, appeal_outcome, warned_at,
    updated_at FROM rating_followups";

impl FollowUpRow {
    pub fn state(&self) -> Result<FollowUpState, StoreError> {
        FollowUpState::parse(&self.state).ok_or_else(|| StoreError::Corrupt(format!("follow-up {}: state", self.id)))
    }
    fn leaf(&self) -> Result<Leaf, StoreError> {
        Ok(Leaf {
            series: Series::parse(&self.series)?,
            region_id: self.region_id,
            hall_id: self.hall_id,
            window_id: self.window_id,
            person_id: self.person_id,
            department_id: self.department_id,
        })
    }
}

pub async fn followup<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<FollowUpRow, StoreError> {
    sqlx::query_as::<_, FollowUpRow>(sqlx::AssertSqlSafe(format!("{FOLLOWUP_SQL} WHERE id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Follow-ups of a hall, unfinished first, then newest.
pub async fn followups_of_hall<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    limit: i64,
) -> Result<Vec<FollowUpRow>, StoreError> {
    Ok(sqlx::query_as::<_, FollowUpRow>(sqlx::AssertSqlSafe(format!(
        "{FOLLOWUP_SQL} WHERE hall_id = $1
         ORDER BY CASE WHEN state IN ('closed', 'excluded') THEN 1 ELSE 0 END, opened_at DESC, id DESC LIMIT $2"
    )))
    .bind(hall_id)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

/// Rectifications published for a hall: closed follow-ups with their notes, newest first.
pub async fn rectifications_of_hall<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
    limit: i64,
) -> Result<Vec<FollowUpRow>, StoreError> {
    Ok(sqlx::query_as::<_, FollowUpRow>(sqlx::AssertSqlSafe(format!(
        "{FOLLOWUP_SQL} WHERE hall_id = $1 AND state = 'closed' ORDER BY called_back_at DESC, id DESC LIMIT $2"
    )))
    .bind(hall_id)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

/// Moves a follow-up one step on (the caller checked the order with the domain rule) and counts
/// it: a rectification on or before its due date counts as on time; a call back records the
/// rater's view.
pub async fn advance(
    tx: &mut Tx,
    f: &FollowUpRow,
    step: FollowUpStep,
    next: FollowUpState,
    note: &str,
    view: Option<CallbackView>,
    at: jiff::Timestamp,
) -> Result<FollowUpRow, StoreError> {
    let (at_col, note_col) = match step {
        FollowUpStep::Verify => ("verified_at", "verify_note"),
        FollowUpStep::Rectify => ("rectified_at", "rectify_note"),
        FollowUpStep::Feedback => ("fed_back_at", "feedback_note"),
        FollowUpStep::Callback => ("called_back_at", "callback_note"),
    };
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE rating_followups SET state = $1, {at_col} = $2, {note_col} = $3, callback_view = COALESCE($4, callback_view),
            updated_at = $2 WHERE id = $5 AND state = $6"
    )))
    .bind(next.as_str())
    .bind(ms(at))
    .bind(note)
    .bind(view.map(CallbackView::as_str))
    .bind(f.id)
    .bind(&f.state)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if done != 1 {
        return Err(StoreError::conflict(
            "followup_changed",
            "该整改记录刚刚发生变化，请刷新后再试",
        ));
    }
    let mut d = RatingDelta::default();
    match step {
        FollowUpStep::Rectify => {
            d.rectified = 1;
            if local_date(at).to_string() <= f.rectify_due {
                d.rectified_on_time = 1;
            }
        }
        FollowUpStep::Callback => {
            d.called_back = 1;
            d.callback_satisfied = i64::from(view == Some(CallbackView::Satisfied));
        }
        _ => {}
    }
    if d != RatingDelta::default() {
        count(tx, &f.leaf()?, at, d).await?;
    }
    followup(tx.conn(), f.id).await
}

/// Records the appeal's decision (申诉复核). An exclusion marks the rating excluded with its
/// reason and counts `excluded` in the bucket of the decision; the bucket of the review is never
/// edited, so a frozen month stays as it was and the next one carries the adjustment.
pub async fn decide_appeal(
    tx: &mut Tx,
    f: &FollowUpRow,
    next: FollowUpState,
    exclude: bool,
    reason: &str,
    at: jiff::Timestamp,
) -> Result<FollowUpRow, StoreError> {
    let done = sqlx::query(
        "UPDATE rating_followups SET state = $1, appeal_decided_at = $2, appeal_reason = $3, appeal_outcome = $4,
            updated_at = $2 WHERE id = $5 AND state = $6",
    )
    .bind(next.as_str())
    .bind(ms(at))
    .bind(reason)
    .bind(if exclude { "excluded" } else { "upheld" })
    .bind(f.id)
    .bind(&f.state)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if done != 1 {
        return Err(StoreError::conflict(
            "followup_changed",
            "该整改记录刚刚发生变化，请刷新后再试",
        ));
    }
    if exclude {
        sqlx::query("UPDATE ratings SET excluded_at = $1, excluded_reason = $2 WHERE id = $3")
            .bind(ms(at))
            .bind(reason)
            .bind(f.rating_id)
            .execute(tx.conn())
            .await?;
        let level = rating(tx.conn(), f.rating_id).await?.level;
        let _ = Level::from_code(level)?;
        count(
            tx,
            &f.leaf()?,
            at,
            RatingDelta {
                excluded: 1,
                ..RatingDelta::default()
            },
        )
        .await?;
    }
    followup(tx.conn(), f.id).await
}

/// Follow-ups still awaiting rectification whose due date is before `today` and that have not
/// been warned yet.
pub async fn overdue_unwarned<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    today: jiff::civil::Date,
    limit: i64,
) -> Result<Vec<FollowUpRow>, StoreError> {
    Ok(sqlx::query_as::<_, FollowUpRow>(sqlx::AssertSqlSafe(format!(
        "{FOLLOWUP_SQL} WHERE state IN ('open', 'verified') AND rectify_due < $1 AND warned_at IS NULL
         ORDER BY rectify_due, id LIMIT $2"
    )))
    .bind(today.to_string())
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

/// Marks a follow-up as overdue (warned once) and counts the warning.
pub async fn mark_overdue(tx: &mut Tx, f: &FollowUpRow, at: jiff::Timestamp) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE rating_followups SET warned_at = $1 WHERE id = $2 AND warned_at IS NULL")
        .bind(ms(at))
        .bind(f.id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if done == 1 {
        count(
            tx,
            &f.leaf()?,
            at,
            RatingDelta {
                overdue: 1,
                ..RatingDelta::default()
            },
        )
        .await?;
    }
    Ok(done == 1)
}

// ---- aggregates ------------------------------------------------------------------------------

/// Which leaves a figure sums over. A region is its whole subtree, resolved at query time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A region subtree by its stored path (`/1/4/`).
    Region(String),
    Hall(i64),
    Window(i64),
    Person(i64),
    Department(i64),
}

impl Scope {
    /// The WHERE fragment on alias `c` (a counter table with hall_id, window_id, person_id and
    /// department_id) and the bound value. Regions join `halls` and `regions` at query time.
    pub(crate) fn filter(&self, param: usize, region_fallback: bool) -> (String, ScopeValue) {
        match self {
            Scope::Region(path) => {
                let region = if region_fallback {
                    "COALESCE(h.region_id, c.region_id)"
                } else {
                    "h.region_id"
                };
                (
                    format!("{region} IN (SELECT id FROM regions WHERE path LIKE ${param})"),
                    ScopeValue::Text(format!("{path}%")),
                )
            }
            Scope::Hall(id) => (format!("c.hall_id = ${param}"), ScopeValue::Int(*id)),
            Scope::Window(id) => (format!("c.window_id = ${param}"), ScopeValue::Int(*id)),
            Scope::Person(id) => (format!("c.person_id = ${param}"), ScopeValue::Int(*id)),
            Scope::Department(id) => (format!("c.department_id = ${param}"), ScopeValue::Int(*id)),
        }
    }
}

pub(crate) enum ScopeValue {
    Int(i64),
    Text(String),
}

/// Summed rating counters of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RatingSums {
    pub bucket_start: i64,
    pub issued: i64,
    pub rated: i64,
    pub levels: [i64; 5],
    pub defaulted: i64,
    pub excluded: i64,
    pub followups: i64,
    pub rectified: i64,
    pub rectified_on_time: i64,
    pub called_back: i64,
    pub callback_satisfied: i64,
    pub overdue: i64,
}

impl RatingSums {
    pub fn add(&mut self, o: &RatingSums) {
        self.issued += o.issued;
        self.rated += o.rated;
        for i in 0..5 {
            self.levels[i] += o.levels[i];
        }
        self.defaulted += o.defaulted;
        self.excluded += o.excluded;
        self.followups += o.followups;
        self.rectified += o.rectified;
        self.rectified_on_time += o.rectified_on_time;
        self.called_back += o.called_back;
        self.callback_satisfied += o.callback_satisfied;
        self.overdue += o.overdue;
    }
}

/// Rating counters of `scope` and `series`, per `bucket` ('day' or 'month') starting in
/// [from, to). Reads counter rows only.
pub async fn rating_sums<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    scope: &Scope,
    series: Series,
    bucket: &str,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<Vec<RatingSums>, StoreError> {
    let (filter, value) = scope.filter(5, true);
    let sums: Vec<String> = DELTA_COLS
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| format!("CAST(SUM(c.{c}) AS BIGINT)"))
        .collect();
    let join = if matches!(scope, Scope::Region(_)) {
        "LEFT JOIN halls h ON h.id = c.hall_id"
    } else {
        ""
    };
    let sql = format!(
        "SELECT c.bucket_start, {} FROM rating_counters c {join}
         WHERE c.series = $1 AND c.bucket = $2 AND c.bucket_start >= $3 AND c.bucket_start < $4 AND {filter}
         GROUP BY c.bucket_start ORDER BY c.bucket_start",
        sums.join(", ")
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(series.as_str())
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
        out.push(RatingSums {
            bucket_start: g(0),
            issued: g(1),
            rated: g(2),
            levels: [g(3), g(4), g(5), g(6), g(7)],
            defaulted: g(8),
            excluded: g(9),
            followups: g(10),
            rectified: g(11),
            rectified_on_time: g(12),
            called_back: g(13),
            callback_satisfied: g(14),
            overdue: g(15),
        });
    }
    Ok(out)
}

/// Summed service counters of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ServiceSums {
    pub bucket_start: i64,
    pub served: i64,
    pub wait_sum_ms: i64,
    pub wait_max_ms: i64,
    pub wait_over_20: i64,
    pub wait_over_30: i64,
    pub service_sum_ms: i64,
    pub service_max_ms: i64,
}

impl ServiceSums {
    pub fn add(&mut self, o: &ServiceSums) {
        self.served += o.served;
        self.wait_sum_ms += o.wait_sum_ms;
        self.wait_max_ms = self.wait_max_ms.max(o.wait_max_ms);
        self.wait_over_20 += o.wait_over_20;
        self.wait_over_30 += o.wait_over_30;
        self.service_sum_ms += o.service_sum_ms;
        self.service_max_ms = self.service_max_ms.max(o.service_max_ms);
    }
}

/// Service counters of `scope` per `bucket` starting in [from, to).
pub async fn service_sums<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    scope: &Scope,
    bucket: &str,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<Vec<ServiceSums>, StoreError> {
    let (filter, value) = scope.filter(4, false);
    let join = if matches!(scope, Scope::Region(_)) {
        "JOIN halls h ON h.id = c.hall_id"
    } else {
        ""
    };
    let sql = format!(
        "SELECT c.bucket_start, CAST(SUM(c.served) AS BIGINT), CAST(SUM(c.wait_sum_ms) AS BIGINT), MAX(c.wait_max_ms),
            CAST(SUM(c.wait_over_20) AS BIGINT), CAST(SUM(c.wait_over_30) AS BIGINT),
            CAST(SUM(c.service_sum_ms) AS BIGINT), MAX(c.service_max_ms)
         FROM service_counters c {join}
         WHERE c.bucket = $1 AND c.bucket_start >= $2 AND c.bucket_start < $3 AND {filter}
         GROUP BY c.bucket_start ORDER BY c.bucket_start"
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
        let g = |i: usize| -> i64 { r.try_get::<i64, _>(i).unwrap_or(0) };
        out.push(ServiceSums {
            bucket_start: g(0),
            served: g(1),
            wait_sum_ms: g(2),
            wait_max_ms: g(3),
            wait_over_20: g(4),
            wait_over_30: g(5),
            service_sum_ms: g(6),
            service_max_ms: g(7),
        });
    }
    Ok(out)
}

/// Per-subject rating and service sums of one month for the scorecards: (subject id, ratings,
/// services) for every window, person or department (`kind`) with counters in the region subtree.
pub async fn month_by_subject<'e, E: Executor<'e, Database = Any> + Copy>(
    ex: E,
    region_path: &str,
    kind: &str,
    month_start: jiff::Timestamp,
) -> Result<Vec<(i64, RatingSums, ServiceSums)>, StoreError> {
    let col = match kind {
        "window" => "window_id",
        "person" => "person_id",
        "department" => "department_id",
        _ => return Err(StoreError::Config(format!("scorecard kind {kind}"))),
    };
    let like = format!("{region_path}%");
    let rating_rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT c.{col}, CAST(SUM(c.rated) AS BIGINT), CAST(SUM(c.l1 + c.l2 + c.l3) AS BIGINT),
            CAST(SUM(c.l4 + c.l5) AS BIGINT), CAST(SUM(c.excluded) AS BIGINT), CAST(SUM(c.followups) AS BIGINT),
            CAST(SUM(c.rectified_on_time) AS BIGINT), CAST(SUM(c.overdue) AS BIGINT)
         FROM rating_counters c JOIN halls h ON h.id = c.hall_id
         WHERE c.series = 'ticket' AND c.bucket = 'month' AND c.bucket_start = $1 AND c.{col} <> 0
           AND h.region_id IN (SELECT id FROM regions WHERE path LIKE $2)
         GROUP BY c.{col}"
    )))
    .bind(ms(month_start))
    .bind(&like)
    .fetch_all(ex)
    .await?;
    let service_rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT c.{col}, CAST(SUM(c.served) AS BIGINT), CAST(SUM(c.wait_sum_ms) AS BIGINT),
            CAST(SUM(c.wait_over_30) AS BIGINT), CAST(SUM(c.service_sum_ms) AS BIGINT)
         FROM service_counters c JOIN halls h ON h.id = c.hall_id
         WHERE c.bucket = 'month' AND c.bucket_start = $1 AND c.{col} <> 0
           AND h.region_id IN (SELECT id FROM regions WHERE path LIKE $2)
         GROUP BY c.{col}"
    )))
    .bind(ms(month_start))
    .bind(&like)
    .fetch_all(ex)
    .await?;
    let mut out: std::collections::BTreeMap<i64, (RatingSums, ServiceSums)> = Default::default();
    for r in rating_rows {
        let g = |i: usize| -> i64 { r.try_get::<i64, _>(i).unwrap_or(0) };
        let e = out.entry(g(0)).or_default();
        e.0.rated = g(1);
        // Satisfied levels summed into the first slot, bad ones into the fourth.
        e.0.levels = [g(2), 0, 0, g(3), 0];
        e.0.excluded = g(4);
        e.0.followups = g(5);
        e.0.rectified_on_time = g(6);
        e.0.overdue = g(7);
    }
    for r in service_rows {
        let g = |i: usize| -> i64 { r.try_get::<i64, _>(i).unwrap_or(0) };
        let e = out.entry(g(0)).or_default();
        e.1.served = g(1);
        e.1.wait_sum_ms = g(2);
        e.1.wait_over_30 = g(3);
        e.1.service_sum_ms = g(4);
    }
    Ok(out.into_iter().map(|(k, (a, b))| (k, a, b)).collect())
}
