//! Halls, departments and windows: the concrete places and agencies of a region.
use crate::regions::{self, Region};
use crate::{StoreError, Tx, ms};
use onestop_domain::names::Name;
use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Hall {
    pub id: i64,
    pub region_id: i64,
    pub name: String,
    pub address: String,
    pub closed_at: Option<i64>,
    /// Path of the hall's region, for scope checks.
    pub region_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Department {
    pub id: i64,
    pub region_id: i64,
    pub name: String,
    pub closed_at: Option<i64>,
    pub region_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Window {
    pub id: i64,
    pub hall_id: i64,
    pub number: String,
    pub name: String,
    pub kind: String,
    pub department_id: Option<i64>,
    pub closed_at: Option<i64>,
    pub region_path: String,
}

/// General (综合) or specialised (专业) window.
pub fn parse_window_kind(raw: &str) -> Result<&'static str, StoreError> {
    match raw {
        "general" => Ok("general"),
        "specialised" => Ok("specialised"),
        _ => Err(onestop_domain::DomainError::invalid(
            "window_kind_invalid",
            "kind",
            "窗口类型须为 general（综合）或 specialised（专业）",
        )
        .into()),
    }
}

const HALL_SQL: &str = "SELECT h.id, h.region_id, h.name, h.address, h.closed_at, r.path AS region_path FROM halls h JOIN regions r ON r.id = h.region_id";
const DEPT_SQL: &str = "SELECT d.id, d.region_id, d.name, d.closed_at, r.path AS region_path FROM departments d JOIN regions r ON r.id = d.region_id";
const WINDOW_SQL: &str = "SELECT w.id, w.hall_id, w.number, w.name, w.kind, w.department_id, w.closed_at, r.path AS region_path FROM windows w JOIN halls h ON h.id = w.hall_id JOIN regions r ON r.id = h.region_id";

pub async fn hall<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Hall, StoreError> {
    sqlx::query_as::<_, Hall>(sqlx::AssertSqlSafe(format!("{HALL_SQL} WHERE h.id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn halls_in<'e, E: Executor<'e, Database = Any>>(ex: E, path: &str) -> Result<Vec<Hall>, StoreError> {
    Ok(sqlx::query_as::<_, Hall>(sqlx::AssertSqlSafe(format!(
        "{HALL_SQL} WHERE r.path LIKE $1 ORDER BY r.path, h.id"
    )))
    .bind(format!("{path}%"))
    .fetch_all(ex)
    .await?)
}

pub async fn department<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Department, StoreError> {
    sqlx::query_as::<_, Department>(sqlx::AssertSqlSafe(format!("{DEPT_SQL} WHERE d.id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn departments_in<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    path: &str,
) -> Result<Vec<Department>, StoreError> {
    Ok(sqlx::query_as::<_, Department>(sqlx::AssertSqlSafe(format!(
        "{DEPT_SQL} WHERE r.path LIKE $1 ORDER BY r.path, d.id"
    )))
    .bind(format!("{path}%"))
    .fetch_all(ex)
    .await?)
}

pub async fn window<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Window, StoreError> {
    sqlx::query_as::<_, Window>(sqlx::AssertSqlSafe(format!("{WINDOW_SQL} WHERE w.id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn windows_of_hall<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    hall_id: i64,
) -> Result<Vec<Window>, StoreError> {
    Ok(sqlx::query_as::<_, Window>(sqlx::AssertSqlSafe(format!(
        "{WINDOW_SQL} WHERE w.hall_id = $1 ORDER BY w.id"
    )))
    .bind(hall_id)
    .fetch_all(ex)
    .await?)
}

async fn open_region(tx: &mut Tx, region_id: i64) -> Result<Region, StoreError> {
    let region = regions::get(tx.conn(), region_id).await?;
    if !region.is_open() {
        return Err(StoreError::conflict("region_closed", "该区划已撤销"));
    }
    Ok(region)
}

async fn count(tx: &mut Tx, sql: &'static str, a: i64, b: &str, except: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(sql)
        .bind(a)
        .bind(b)
        .bind(except)
        .fetch_one(tx.conn())
        .await?)
}

pub async fn create_hall(
    tx: &mut Tx,
    region_id: i64,
    name: &Name,
    address: &str,
    at: jiff::Timestamp,
) -> Result<Hall, StoreError> {
    open_region(tx, region_id).await?;
    if count(
        tx,
        "SELECT COUNT(*) FROM halls WHERE region_id = $1 AND name = $2 AND id <> $3",
        region_id,
        name.as_str(),
        0,
    )
    .await?
        > 0
    {
        return Err(StoreError::conflict(
            "duplicate_name",
            format!("本区划已有名为“{name}”的大厅"),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO halls (region_id, name, address, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(region_id)
    .bind(name.as_str())
    .bind(address.trim())
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    hall(tx.conn(), id).await
}

pub async fn create_department(
    tx: &mut Tx,
    region_id: i64,
    name: &Name,
    at: jiff::Timestamp,
) -> Result<Department, StoreError> {
    open_region(tx, region_id).await?;
    if count(
        tx,
        "SELECT COUNT(*) FROM departments WHERE region_id = $1 AND name = $2 AND id <> $3",
        region_id,
        name.as_str(),
        0,
    )
    .await?
        > 0
    {
        return Err(StoreError::conflict(
            "duplicate_name",
            format!("本区划已有名为“{name}”的部门"),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO departments (region_id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(region_id)
    .bind(name.as_str())
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    department(tx.conn(), id).await
}

#[derive(Debug, Clone)]
pub struct NewWindow {
    pub hall_id: i64,
    pub number: String,
    pub name: Name,
    pub kind: &'static str,
    pub department_id: Option<i64>,
}

/// Window numbers are what the board calls out: 1–8 characters of digits or letters.
pub fn parse_window_number(raw: &str) -> Result<String, StoreError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 8 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(onestop_domain::DomainError::invalid(
            "window_number_invalid",
            "number",
            "窗口号须为 1 到 8 位字母或数字",
        )
        .into());
    }
    Ok(s.to_ascii_uppercase())
}

pub async fn create_window(tx: &mut Tx, new: NewWindow, at: jiff::Timestamp) -> Result<Window, StoreError> {
    let h = hall(tx.conn(), new.hall_id).await?;
    if h.closed_at.is_some() {
        return Err(StoreError::conflict("hall_closed", "该大厅已关闭"));
    }
    if let Some(d) = new.department_id {
        let dep = department(tx.conn(), d).await?;
        if dep.closed_at.is_some() {
            return Err(StoreError::conflict("department_closed", "该部门已撤销"));
        }
    }
    if count(
        tx,
        "SELECT COUNT(*) FROM windows WHERE hall_id = $1 AND number = $2 AND id <> $3",
        new.hall_id,
        &new.number,
        0,
    )
    .await?
        > 0
    {
        return Err(StoreError::conflict(
            "duplicate_number",
            format!("本大厅已有 {} 号窗口", new.number),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO windows (hall_id, number, name, kind, department_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(new.hall_id)
    .bind(&new.number)
    .bind(new.name.as_str())
    .bind(new.kind)
    .bind(new.department_id)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    window(tx.conn(), id).await
}

/// Which table an organisational unit lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Hall,
    Department,
    Window,
}

impl Unit {
    fn table(self) -> &'static str {
        match self {
            Self::Hall => "halls",
            Self::Department => "departments",
            Self::Window => "windows",
        }
    }
    /// The column naming the parent a duplicate name is checked within.
    fn parent_column(self) -> &'static str {
        match self {
            Self::Hall | Self::Department => "region_id",
            Self::Window => "hall_id",
        }
    }
}

async fn parent_of(tx: &mut Tx, unit: Unit, id: i64) -> Result<(i64, Option<i64>), StoreError> {
    let sql = format!(
        "SELECT {}, closed_at FROM {} WHERE id = $1",
        unit.parent_column(),
        unit.table()
    );
    sqlx::query_as::<_, (i64, Option<i64>)>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn rename(tx: &mut Tx, unit: Unit, id: i64, name: &Name, at: jiff::Timestamp) -> Result<(), StoreError> {
    let (parent, _) = parent_of(tx, unit, id).await?;
    let dup = format!(
        "SELECT COUNT(*) FROM {} WHERE {} = $1 AND name = $2 AND id <> $3",
        unit.table(),
        unit.parent_column()
    );
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(dup))
        .bind(parent)
        .bind(name.as_str())
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    if n > 0 && unit != Unit::Window {
        return Err(StoreError::conflict(
            "duplicate_name",
            format!("已有名为“{name}”的同级单位"),
        ));
    }
    let sql = format!("UPDATE {} SET name = $1, updated_at = $2 WHERE id = $3", unit.table());
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.as_str())
        .bind(ms(at))
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Moves a hall or department to another region, or a window to another hall.
pub async fn move_to(tx: &mut Tx, unit: Unit, id: i64, new_parent: i64, at: jiff::Timestamp) -> Result<(), StoreError> {
    let (_, closed) = parent_of(tx, unit, id).await?;
    if closed.is_some() {
        return Err(StoreError::conflict("already_closed", "已关闭的单位不能移动"));
    }
    match unit {
        Unit::Hall | Unit::Department => {
            open_region(tx, new_parent).await?;
        }
        Unit::Window => {
            let h = hall(tx.conn(), new_parent).await?;
            if h.closed_at.is_some() {
                return Err(StoreError::conflict("hall_closed", "目标大厅已关闭"));
            }
        }
    }
    let name_col = if unit == Unit::Window { "number" } else { "name" };
    let dup = format!(
        "SELECT COUNT(*) FROM {t} WHERE {p} = $1 AND {n} = (SELECT {n} FROM {t} WHERE id = $2) AND id <> $2",
        t = unit.table(),
        p = unit.parent_column(),
        n = name_col
    );
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(dup))
        .bind(new_parent)
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    if n > 0 {
        return Err(StoreError::conflict("duplicate_name", "目标处已有同名（同号）单位"));
    }
    let sql = format!(
        "UPDATE {} SET {} = $1, updated_at = $2 WHERE id = $3",
        unit.table(),
        unit.parent_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(new_parent)
        .bind(ms(at))
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Closes a hall (refused while it has open windows), a department, or a window.
pub async fn close(tx: &mut Tx, unit: Unit, id: i64, at: jiff::Timestamp) -> Result<(), StoreError> {
    let (_, closed) = parent_of(tx, unit, id).await?;
    if closed.is_some() {
        return Err(StoreError::conflict("already_closed", "该单位已关闭"));
    }
    if unit == Unit::Hall {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM windows WHERE hall_id = $1 AND closed_at IS NULL")
            .bind(id)
            .fetch_one(tx.conn())
            .await?;
        if open > 0 {
            return Err(StoreError::conflict(
                "hall_has_open_windows",
                "请先关闭该大厅的所有窗口",
            ));
        }
    }
    let sql = format!(
        "UPDATE {} SET closed_at = $1, updated_at = $1 WHERE id = $2",
        unit.table()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ms(at))
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
