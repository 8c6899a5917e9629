//! The region tree: create, rename, move and close nodes; subtree queries by path prefix.
use crate::{StoreError, Tx, ms};
use onestop_domain::region::{RegionCode, RegionLevel, RegionPath};
use onestop_domain::{DomainError, names::Name};
use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Region {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent_id: Option<i64>,
    pub path: String,
    pub closed_at: Option<i64>,
}

impl Region {
    pub fn region_path(&self) -> RegionPath {
        RegionPath::from_stored(self.path.clone())
    }
    pub fn level(&self) -> Option<RegionLevel> {
        RegionLevel::parse(&self.level).ok()
    }
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

pub async fn get<'e, E: Executor<'e, Database = Any>>(ex: E, id: i64) -> Result<Region, StoreError> {
    sqlx::query_as::<_, Region>("SELECT id, code, name, level, parent_id, path, closed_at FROM regions WHERE id = $1")
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn get_by_code<'e, E: Executor<'e, Database = Any>>(ex: E, code: &str) -> Result<Region, StoreError> {
    sqlx::query_as::<_, Region>("SELECT id, code, name, level, parent_id, path, closed_at FROM regions WHERE code = $1")
        .bind(code)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Every region at or below `path`, in tree order.
pub async fn subtree<'e, E: Executor<'e, Database = Any>>(ex: E, path: &str) -> Result<Vec<Region>, StoreError> {
    Ok(sqlx::query_as::<_, Region>(
        "SELECT id, code, name, level, parent_id, path, closed_at FROM regions WHERE path LIKE $1 ORDER BY path",
    )
    .bind(format!("{path}%"))
    .fetch_all(ex)
    .await?)
}

/// The region and its ancestors, root first.
pub async fn chain(conn: &mut sqlx::AnyConnection, region_id: i64) -> Result<Vec<Region>, StoreError> {
    let region = get(&mut *conn, region_id).await?;
    // Ancestors are the regions whose path is a prefix of this one's.
    let mut out = sqlx::query_as::<_, Region>(
        "SELECT id, code, name, level, parent_id, path, closed_at FROM regions WHERE $1 LIKE path || '%'",
    )
    .bind(&region.path)
    .fetch_all(conn)
    .await?;
    out.sort_by_key(|r| r.path.len());
    Ok(out)
}

pub async fn roots<'e, E: Executor<'e, Database = Any>>(ex: E) -> Result<Vec<Region>, StoreError> {
    Ok(sqlx::query_as::<_, Region>(
        "SELECT id, code, name, level, parent_id, path, closed_at FROM regions WHERE parent_id IS NULL ORDER BY code",
    )
    .fetch_all(ex)
    .await?)
}

#[derive(Debug, Clone)]
pub struct NewRegion {
    pub code: RegionCode,
    pub name: Name,
    pub parent_id: Option<i64>,
}

async fn name_taken(tx: &mut Tx, parent_id: Option<i64>, name: &str, except: i64) -> Result<bool, StoreError> {
    let n: i64 = match parent_id {
        Some(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM regions WHERE parent_id = $1 AND name = $2 AND id <> $3")
                .bind(p)
                .bind(name)
                .bind(except)
                .fetch_one(tx.conn())
                .await?
        }
        None => {
            sqlx::query_scalar("SELECT COUNT(*) FROM regions WHERE parent_id IS NULL AND name = $1 AND id <> $2")
                .bind(name)
                .bind(except)
                .fetch_one(tx.conn())
                .await?
        }
    };
    Ok(n > 0)
}

fn duplicate_name(name: &str) -> StoreError {
    StoreError::conflict("duplicate_name", format!("同一上级下已有名为“{name}”的区划"))
}

/// Creates a region under `parent_id` (or a root). Checks the code's level fits the parent.
pub async fn create(tx: &mut Tx, new: NewRegion, at: jiff::Timestamp) -> Result<Region, StoreError> {
    let level = new.code.level();
    let parent = match new.parent_id {
        Some(pid) => Some(get(tx.conn(), pid).await?),
        None => None,
    };
    if let Some(p) = &parent {
        if !p.is_open() {
            return Err(StoreError::conflict("parent_closed", "上级区划已撤销，不能在其下新建"));
        }
        let plevel = p
            .level()
            .ok_or_else(|| StoreError::Corrupt(format!("region {} level", p.id)))?;
        if !plevel.may_parent(level) {
            return Err(DomainError::invalid(
                "region_level_invalid",
                "code",
                format!("{}不能设在{}之下", level.label(), plevel.label()),
            )
            .into());
        }
    }
    let code_taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM regions WHERE code = $1")
        .bind(new.code.as_str())
        .fetch_one(tx.conn())
        .await?;
    if code_taken > 0 {
        return Err(StoreError::conflict(
            "duplicate_code",
            format!("区划代码 {} 已存在", new.code),
        ));
    }
    if name_taken(tx, new.parent_id, new.name.as_str(), 0).await? {
        return Err(duplicate_name(new.name.as_str()));
    }
    let now = ms(at);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO regions (code, name, level, parent_id, path, created_at, updated_at)
         VALUES ($1, $2, $3, $4, '', $5, $5) RETURNING id",
    )
    .bind(new.code.as_str())
    .bind(new.name.as_str())
    .bind(level.as_str())
    .bind(new.parent_id)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    let path = match &parent {
        Some(p) => p.region_path().child(id),
        None => RegionPath::root(id),
    };
    sqlx::query("UPDATE regions SET path = $1 WHERE id = $2")
        .bind(path.as_str())
        .bind(id)
        .execute(tx.conn())
        .await?;
    get(tx.conn(), id).await
}

pub async fn rename(tx: &mut Tx, id: i64, name: &Name, at: jiff::Timestamp) -> Result<Region, StoreError> {
    let region = get(tx.conn(), id).await?;
    if name_taken(tx, region.parent_id, name.as_str(), id).await? {
        return Err(duplicate_name(name.as_str()));
    }
    sqlx::query("UPDATE regions SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name.as_str())
        .bind(ms(at))
        .bind(id)
        .execute(tx.conn())
        .await?;
    get(tx.conn(), id).await
}

/// Moves a region (with its whole subtree) under `new_parent_id`.
pub async fn move_to(tx: &mut Tx, id: i64, new_parent_id: i64, at: jiff::Timestamp) -> Result<Region, StoreError> {
    let region = get(tx.conn(), id).await?;
    let parent = get(tx.conn(), new_parent_id).await?;
    if region.region_path().contains(&parent.region_path()) {
        return Err(StoreError::conflict(
            "move_into_own_subtree",
            "不能把区划移到它自己或它的下级之下",
        ));
    }
    if !parent.is_open() {
        return Err(StoreError::conflict("parent_closed", "目标上级区划已撤销"));
    }
    let (plevel, level) = match (parent.level(), region.level()) {
        (Some(p), Some(l)) => (p, l),
        _ => return Err(StoreError::Corrupt("region level".into())),
    };
    if !plevel.may_parent(level) {
        return Err(DomainError::invalid(
            "region_level_invalid",
            "parent_id",
            format!("{}不能设在{}之下", level.label(), plevel.label()),
        )
        .into());
    }
    if name_taken(tx, Some(new_parent_id), &region.name, id).await? {
        return Err(duplicate_name(&region.name));
    }
    let old_path = region.path.clone();
    let new_path = parent.region_path().child(id);
    // Rewrite the prefix of every path in the subtree in one statement.
    sqlx::query("UPDATE regions SET path = $1 || substr(path, $2), updated_at = $3 WHERE path LIKE $4")
        .bind(new_path.as_str())
        .bind(old_path.len() as i64 + 1)
        .bind(ms(at))
        .bind(format!("{old_path}%"))
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE regions SET parent_id = $1 WHERE id = $2")
        .bind(new_parent_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    get(tx.conn(), id).await
}

/// Closes (撤销) a region. Refused while it has open children or open halls.
pub async fn close(tx: &mut Tx, id: i64, at: jiff::Timestamp) -> Result<Region, StoreError> {
    let region = get(tx.conn(), id).await?;
    if !region.is_open() {
        return Err(StoreError::conflict("already_closed", "该区划已撤销"));
    }
    let open_children: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM regions WHERE parent_id = $1 AND closed_at IS NULL")
            .bind(id)
            .fetch_one(tx.conn())
            .await?;
    let open_halls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM halls WHERE region_id = $1 AND closed_at IS NULL")
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    if open_children > 0 || open_halls > 0 {
        return Err(StoreError::conflict(
            "region_has_open_children",
            "请先撤销其下级区划和大厅",
        ));
    }
    sqlx::query("UPDATE regions SET closed_at = $1, updated_at = $1 WHERE id = $2")
        .bind(ms(at))
        .bind(id)
        .execute(tx.conn())
        .await?;
    get(tx.conn(), id).await
}
