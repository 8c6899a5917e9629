//! Staff accounts and their role grants (a role on a region subtree).
use crate::{StoreError, Tx, ms};
use onestop_domain::names::{Name, Username};
use onestop_domain::role::Role;
use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub disabled: i64,
    pub hall_id: Option<i64>,
    pub department_id: Option<i64>,
}

impl User {
    pub fn is_disabled(&self) -> bool {
        self.disabled != 0
    }
}

/// A role granted on a region, with the region's path for scope checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct GrantRow {
    pub role: String,
    pub region_id: i64,
    pub region_path: String,
    pub region_code: String,
    pub region_name: String,
}

const USER_COLS: &str = "id, username, display_name, disabled, hall_id, department_id";

pub async fn get<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<User, StoreError> {
    sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The user and their password hash, for logging in.
pub async fn by_username<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    username: &str,
) -> Result<Option<(User, String)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: String,
    }
    let row = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLS}, password_hash FROM users WHERE username = $1"
    )))
    .bind(username)
    .fetch_optional(ex)
    .await?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

pub async fn grants<'e, E: Executor<'e, Database = Any>>(ex: E, user_id: i64) -> Result<Vec<GrantRow>, StoreError> {
    Ok(sqlx::query_as::<_, GrantRow>(
        "SELECT g.role, g.region_id, r.path AS region_path, r.code AS region_code, r.name AS region_name
         FROM role_grants g JOIN regions r ON r.id = g.region_id WHERE g.user_id = $1 ORDER BY g.id",
    )
    .bind(user_id)
    .fetch_all(ex)
    .await?)
}

/// Users with at least one grant inside any of the subtrees `paths`.
pub async fn list_in<'e, E: Executor<'e, Database = Any>>(ex: E, paths: &[String]) -> Result<Vec<User>, StoreError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let cond: Vec<String> = (1..=paths.len()).map(|i| format!("r.path LIKE ${i}")).collect();
    let sql = format!(
        "SELECT {cols} FROM users u WHERE EXISTS (SELECT 1 FROM role_grants g JOIN regions r ON r.id = g.region_id
         WHERE g.user_id = u.id AND ({cond})) ORDER BY u.username",
        cols = USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        cond = cond.join(" OR ")
    );
    let mut q = sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql));
    for p in paths {
        q = q.bind(format!("{p}%"));
    }
    Ok(q.fetch_all(ex).await?)
}

pub async fn list_all<'e, E: Executor<'e, Database = Any>>(ex: E) -> Result<Vec<User>, StoreError> {
    Ok(sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLS} FROM users ORDER BY username"
    )))
    .fetch_all(ex)
    .await?)
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub display_name: Name,
    pub password_hash: String,
    pub hall_id: Option<i64>,
    pub department_id: Option<i64>,
    pub grants: Vec<(Role, i64)>,
}

pub async fn create(tx: &mut Tx, new: NewUser, at: jiff::Timestamp) -> Result<User, StoreError> {
    let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = $1")
        .bind(new.username.as_str())
        .fetch_one(tx.conn())
        .await?;
    if taken > 0 {
        return Err(StoreError::conflict(
            "duplicate_username",
            format!("用户名 {} 已被使用", new.username),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, password_hash, hall_id, department_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(new.username.as_str())
    .bind(new.display_name.as_str())
    .bind(&new.password_hash)
    .bind(new.hall_id)
    .bind(new.department_id)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    for (role, region_id) in &new.grants {
        add_grant(tx, id, *role, *region_id, at).await?;
    }
    get(tx.conn(), id).await
}

pub async fn add_grant(
    tx: &mut Tx,
    user_id: i64,
    role: Role,
    region_id: i64,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    crate::regions::get(tx.conn(), region_id).await?;
    sqlx::query(
        "INSERT INTO role_grants (user_id, role, region_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, role, region_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(role.as_str())
    .bind(region_id)
    .bind(ms(at))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Disables or re-enables an account. Disabling ends every live session and API token use.
pub async fn set_disabled(tx: &mut Tx, user_id: i64, disabled: bool, at: jiff::Timestamp) -> Result<User, StoreError> {
    get(tx.conn(), user_id).await?;
    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(disabled))
        .bind(ms(at))
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(tx.conn())
            .await?;
    }
    get(tx.conn(), user_id).await
}

/// Sets a new password hash and ends the user's sessions.
pub async fn set_password(
    tx: &mut Tx,
    user_id: i64,
    password_hash: &str,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    get(tx.conn(), user_id).await?;
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(ms(at))
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
