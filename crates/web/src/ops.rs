//! Use cases shared by the JSON API and the HTML pages: each checks who may do it, validates,
//! writes in one transaction together with its audit entry, and returns the result.
use crate::auth::{Principal, hash_password, random_code, random_token, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use onestop_domain::names::{Name, Password, Username};
use onestop_domain::region::{RegionCode, RegionPath};
use onestop_domain::role::{Permission, Role};
use onestop_store::audit::{AuditEntry, SYSTEM_CHAIN};
use onestop_store::org::{self, Department, Hall, Unit, Window};
use onestop_store::regions::{self, NewRegion, Region};
use onestop_store::users::{self, NewUser, User};
use onestop_store::{StoreError, devices, tokens};
use serde_json::json;

fn entry(
    p: &Principal,
    at: jiff::Timestamp,
    region_id: i64,
    action: &'static str,
    entity: &'static str,
    id: i64,
    detail: serde_json::Value,
) -> AuditEntry {
    AuditEntry {
        region_id,
        at,
        actor: p.actor(),
        action,
        entity,
        entity_id: id.to_string(),
        detail,
    }
}

// ---- regions -------------------------------------------------------------------------------

/// Regions the principal may see, in tree order.
pub async fn list_regions(state: &AppState, p: &Principal) -> ApiResult<Vec<Region>> {
    let mut out = Vec::new();
    for scope in p.scopes(Permission::RegionRead) {
        out.extend(regions::subtree(state.store.read(), scope.as_str()).await?);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

pub async fn get_region(state: &AppState, p: &Principal, id: i64) -> ApiResult<Region> {
    let r = regions::get(state.store.read(), id).await?;
    p.require(Permission::RegionRead, &r.region_path())?;
    Ok(r)
}

pub async fn create_region(
    state: &AppState,
    p: &Principal,
    code: &str,
    name: &str,
    parent_id: Option<i64>,
) -> ApiResult<Region> {
    let code = RegionCode::parse(code)?;
    let name = Name::parse(name)?;
    match parent_id {
        Some(pid) => {
            let parent = regions::get(state.store.read(), pid).await?;
            p.require(Permission::RegionWrite, &parent.region_path())?;
        }
        // A new root (a province) is for system administrators granted at a root.
        None => {
            if !p
                .grants
                .iter()
                .any(|g| g.role == Role::SystemAdmin && g.region_path.ids().len() <= 1)
            {
                return Err(ApiError::forbidden());
            }
        }
    }
    let at = state.clock.now();
    let audit = entry(p, at, 0, "region.create", "region", 0, json!({}));
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let r = regions::create(tx, NewRegion { code, name, parent_id }, at).await?;
                let detail = json!({"code": r.code, "name": r.name, "parent_id": r.parent_id});
                tx.audit(AuditEntry {
                    region_id: r.id,
                    entity_id: r.id.to_string(),
                    detail,
                    ..audit
                })
                .await?;
                Ok::<_, StoreError>(r)
            })
        })
        .await?)
}

pub async fn rename_region(state: &AppState, p: &Principal, id: i64, name: &str) -> ApiResult<Region> {
    let name = Name::parse(name)?;
    let r = regions::get(state.store.read(), id).await?;
    p.require(Permission::RegionWrite, &r.region_path())?;
    let at = state.clock.now();
    let audit = entry(
        p,
        at,
        id,
        "region.rename",
        "region",
        id,
        json!({"from": r.name, "to": name.as_str()}),
    );
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let r = regions::rename(tx, id, &name, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(r)
            })
        })
        .await?)
}

pub async fn move_region(state: &AppState, p: &Principal, id: i64, new_parent_id: i64) -> ApiResult<Region> {
    let r = regions::get(state.store.read(), id).await?;
    p.require(Permission::RegionWrite, &r.region_path())?;
    let parent = regions::get(state.store.read(), new_parent_id).await?;
    p.require(Permission::RegionWrite, &parent.region_path())?;
    // Moving a node one administers itself (not just its contents) needs authority above it.
    if !p.grants.iter().any(|g| {
        g.role.allows(Permission::RegionWrite) && g.region_path.contains(&r.region_path()) && g.region_id != id
    }) {
        return Err(ApiError::forbidden());
    }
    let at = state.clock.now();
    let audit = entry(
        p,
        at,
        id,
        "region.move",
        "region",
        id,
        json!({"from": r.parent_id, "to": new_parent_id}),
    );
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let r = regions::move_to(tx, id, new_parent_id, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(r)
            })
        })
        .await?)
}

pub async fn close_region(state: &AppState, p: &Principal, id: i64) -> ApiResult<Region> {
    let r = regions::get(state.store.read(), id).await?;
    p.require(Permission::RegionWrite, &r.region_path())?;
    if !p.grants.iter().any(|g| {
        g.role.allows(Permission::RegionWrite) && g.region_path.contains(&r.region_path()) && g.region_id != id
    }) {
        return Err(ApiError::forbidden());
    }
    let at = state.clock.now();
    let audit = entry(p, at, id, "region.close", "region", id, json!({"code": r.code}));
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let r = regions::close(tx, id, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(r)
            })
        })
        .await?)
}

// ---- halls, departments, windows -----------------------------------------------------------

pub async fn list_halls(state: &AppState, p: &Principal) -> ApiResult<Vec<Hall>> {
    let mut out = Vec::new();
    for scope in p.scopes(Permission::RegionRead) {
        out.extend(org::halls_in(state.store.read(), scope.as_str()).await?);
    }
    Ok(out)
}

pub async fn list_departments(state: &AppState, p: &Principal) -> ApiResult<Vec<Department>> {
    let mut out = Vec::new();
    for scope in p.scopes(Permission::RegionRead) {
        out.extend(org::departments_in(state.store.read(), scope.as_str()).await?);
    }
    Ok(out)
}

pub async fn get_hall(state: &AppState, p: &Principal, id: i64) -> ApiResult<Hall> {
    let h = org::hall(state.store.read(), id).await?;
    p.require(Permission::RegionRead, &RegionPath::from_stored(h.region_path.clone()))?;
    Ok(h)
}

pub async fn get_department(state: &AppState, p: &Principal, id: i64) -> ApiResult<Department> {
    let d = org::department(state.store.read(), id).await?;
    p.require(Permission::RegionRead, &RegionPath::from_stored(d.region_path.clone()))?;
    Ok(d)
}

pub async fn get_window(state: &AppState, p: &Principal, id: i64) -> ApiResult<Window> {
    let w = org::window(state.store.read(), id).await?;
    p.require(Permission::RegionRead, &RegionPath::from_stored(w.region_path.clone()))?;
    Ok(w)
}

pub async fn windows_of_hall(state: &AppState, p: &Principal, hall_id: i64) -> ApiResult<Vec<Window>> {
    get_hall(state, p, hall_id).await?;
    Ok(org::windows_of_hall(state.store.read(), hall_id).await?)
}

async fn region_for_write(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Region> {
    let r = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::RegionWrite, &r.region_path())?;
    Ok(r)
}

pub async fn create_hall(
    state: &AppState,
    p: &Principal,
    region_id: i64,
    name: &str,
    address: &str,
) -> ApiResult<Hall> {
    let name = Name::parse(name)?;
    if address.chars().count() > 200 {
        return Err(ApiError::validation("address_too_long", "地址不能超过 200 个字符"));
    }
    region_for_write(state, p, region_id).await?;
    let at = state.clock.now();
    let address = address.to_owned();
    let audit = entry(p, at, region_id, "hall.create", "hall", 0, json!({}));
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let h = org::create_hall(tx, region_id, &name, &address, at).await?;
                let detail = json!({"name": h.name, "address": h.address});
                tx.audit(AuditEntry {
                    entity_id: h.id.to_string(),
                    detail,
                    ..audit
                })
                .await?;
                Ok::<_, StoreError>(h)
            })
        })
        .await?)
}

pub async fn create_department(state: &AppState, p: &Principal, region_id: i64, name: &str) -> ApiResult<Department> {
    let name = Name::parse(name)?;
    region_for_write(state, p, region_id).await?;
    let at = state.clock.now();
    let audit = entry(p, at, region_id, "department.create", "department", 0, json!({}));
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let d = org::create_department(tx, region_id, &name, at).await?;
                tx.audit(AuditEntry {
                    entity_id: d.id.to_string(),
                    detail: json!({"name": d.name}),
                    ..audit
                })
                .await?;
                Ok::<_, StoreError>(d)
            })
        })
        .await?)
}

pub struct WindowInput<'a> {
    pub hall_id: i64,
    pub number: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub department_id: Option<i64>,
}

pub async fn create_window(state: &AppState, p: &Principal, input: WindowInput<'_>) -> ApiResult<Window> {
    let number = org::parse_window_number(input.number)?;
    let name = Name::parse(input.name)?;
    let kind = org::parse_window_kind(input.kind)?;
    let hall = get_hall(state, p, input.hall_id).await?;
    p.require(
        Permission::RegionWrite,
        &RegionPath::from_stored(hall.region_path.clone()),
    )?;
    if let Some(d) = input.department_id {
        // The serving department must be one the admin can see.
        get_department(state, p, d).await?;
    }
    let at = state.clock.now();
    let new = org::NewWindow {
        hall_id: hall.id,
        number,
        name,
        kind,
        department_id: input.department_id,
    };
    let audit = entry(p, at, hall.region_id, "window.create", "window", 0, json!({}));
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let w = org::create_window(tx, new, at).await?;
                let detail = json!({"hall_id": w.hall_id, "number": w.number, "name": w.name, "kind": w.kind});
                tx.audit(AuditEntry {
                    entity_id: w.id.to_string(),
                    detail,
                    ..audit
                })
                .await?;
                Ok::<_, StoreError>(w)
            })
        })
        .await?)
}

/// The region a unit belongs to (for scope checks and the audit chain).
async fn unit_region(state: &AppState, p: &Principal, unit: Unit, id: i64) -> ApiResult<(i64, RegionPath)> {
    Ok(match unit {
        Unit::Hall => {
            let h = get_hall(state, p, id).await?;
            (h.region_id, RegionPath::from_stored(h.region_path))
        }
        Unit::Department => {
            let d = get_department(state, p, id).await?;
            (d.region_id, RegionPath::from_stored(d.region_path))
        }
        Unit::Window => {
            let w = get_window(state, p, id).await?;
            let h = org::hall(state.store.read(), w.hall_id).await?;
            (h.region_id, RegionPath::from_stored(w.region_path))
        }
    })
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Hall => "hall",
        Unit::Department => "department",
        Unit::Window => "window",
    }
}

pub async fn rename_unit(state: &AppState, p: &Principal, unit: Unit, id: i64, name: &str) -> ApiResult<()> {
    let name = Name::parse(name)?;
    let (region_id, path) = unit_region(state, p, unit, id).await?;
    p.require(Permission::RegionWrite, &path)?;
    let at = state.clock.now();
    let action = match unit {
        Unit::Hall => "hall.rename",
        Unit::Department => "department.rename",
        Unit::Window => "window.rename",
    };
    let audit = entry(
        p,
        at,
        region_id,
        action,
        unit_name(unit),
        id,
        json!({"to": name.as_str()}),
    );
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                org::rename(tx, unit, id, &name, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(())
}

pub async fn move_unit(state: &AppState, p: &Principal, unit: Unit, id: i64, to: i64) -> ApiResult<()> {
    let (region_id, path) = unit_region(state, p, unit, id).await?;
    p.require(Permission::RegionWrite, &path)?;
    let target_path = match unit {
        Unit::Hall | Unit::Department => regions::get(state.store.read(), to).await?.region_path(),
        Unit::Window => RegionPath::from_stored(get_hall(state, p, to).await?.region_path),
    };
    p.require(Permission::RegionWrite, &target_path)?;
    let at = state.clock.now();
    let action = match unit {
        Unit::Hall => "hall.move",
        Unit::Department => "department.move",
        Unit::Window => "window.move",
    };
    let audit = entry(p, at, region_id, action, unit_name(unit), id, json!({"to": to}));
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                org::move_to(tx, unit, id, to, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(())
}

pub async fn close_unit(state: &AppState, p: &Principal, unit: Unit, id: i64) -> ApiResult<()> {
    let (region_id, path) = unit_region(state, p, unit, id).await?;
    p.require(Permission::RegionWrite, &path)?;
    let at = state.clock.now();
    let action = match unit {
        Unit::Hall => "hall.close",
        Unit::Department => "department.close",
        Unit::Window => "window.close",
    };
    let audit = entry(p, at, region_id, action, unit_name(unit), id, json!({}));
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                org::close(tx, unit, id, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(())
}

// ---- staff -----------------------------------------------------------------------------------

pub async fn list_users(state: &AppState, p: &Principal) -> ApiResult<Vec<User>> {
    let scopes = p.scope_strings(Permission::StaffRead);
    if scopes.is_empty() {
        return Err(ApiError::forbidden());
    }
    Ok(users::list_in(state.store.read(), &scopes).await?)
}

/// A user is visible when one of their grants lies inside the principal's staff scope.
pub async fn get_user(state: &AppState, p: &Principal, id: i64) -> ApiResult<(User, Vec<users::GrantRow>)> {
    let u = users::get(state.store.read(), id).await?;
    let grants = users::grants(state.store.read(), id).await?;
    let visible = grants
        .iter()
        .any(|g| p.can(Permission::StaffRead, &RegionPath::from_stored(g.region_path.clone())));
    if !visible {
        return Err(if p.require_any(Permission::StaffRead).is_ok() {
            ApiError::not_found()
        } else {
            ApiError::forbidden()
        });
    }
    Ok((u, grants))
}

/// Writing a user needs StaffWrite over every region the user holds a grant in (and system admin
/// where they are one).
async fn user_for_write(state: &AppState, p: &Principal, id: i64) -> ApiResult<User> {
    let (u, grants) = get_user(state, p, id).await?;
    for g in &grants {
        let path = RegionPath::from_stored(g.region_path.clone());
        p.require(Permission::StaffWrite, &path)?;
        // Resetting or disabling a system administrator or an auditor would take over or silence
        // more than one holds: like granting those roles (see `create_user`), it needs system
        // admin there.
        if Role::parse(&g.role).is_ok_and(needs_system_admin_to_grant)
            && !p
                .grants
                .iter()
                .any(|h| h.role == Role::SystemAdmin && h.region_path.contains(&path))
        {
            return Err(ApiError::forbidden());
        }
    }
    Ok(u)
}

/// Roles only a system administrator may grant or manage: system admin (nobody hands out more
/// than they hold) and auditor (separation of duties: an admin does not appoint who audits them).
fn needs_system_admin_to_grant(role: Role) -> bool {
    matches!(role, Role::SystemAdmin | Role::Auditor)
}

fn audit_region(grants: &[(Role, i64)]) -> i64 {
    grants.first().map(|g| g.1).unwrap_or(SYSTEM_CHAIN)
}

pub struct NewUserInput {
    pub username: String,
    pub display_name: String,
    pub password: String,
    /// A ready argon2id hash of `password` (the demo seed hashes once for all accounts).
    pub password_hash: Option<String>,
    pub hall_id: Option<i64>,
    pub department_id: Option<i64>,
    pub grants: Vec<(String, i64)>,
}

pub async fn create_user(state: &AppState, p: &Principal, input: NewUserInput) -> ApiResult<User> {
    let username = Username::parse(&input.username)?;
    let display_name = Name::parse(&input.display_name)?;
    let password = Password::parse(&input.password)?;
    if input.grants.is_empty() {
        return Err(ApiError::validation("grants_required", "至少要授予一个角色"));
    }
    let mut grants = Vec::new();
    for (role, region_id) in &input.grants {
        let role = Role::parse(role)?;
        let r = regions::get(state.store.read(), *region_id).await?;
        p.require(Permission::StaffWrite, &r.region_path())?;
        // Granting system admin or auditor needs system admin there (see `needs_system_admin_to_grant`).
        if needs_system_admin_to_grant(role)
            && !p
                .grants
                .iter()
                .any(|g| g.role == Role::SystemAdmin && g.region_path.contains(&r.region_path()))
        {
            return Err(ApiError::forbidden());
        }
        grants.push((role, *region_id));
    }
    if let Some(h) = input.hall_id {
        get_hall(state, p, h).await?;
    }
    if let Some(d) = input.department_id {
        get_department(state, p, d).await?;
    }
    let hash = match input.password_hash {
        Some(h) => h,
        None => hash_password(password.expose())?,
    };
    let at = state.clock.now();
    let region_id = audit_region(&grants);
    let detail = json!({"username": username.as_str(), "grants": grants.iter().map(|(r, g)| json!({"role": r.as_str(), "region_id": g})).collect::<Vec<_>>()});
    let audit = entry(p, at, region_id, "user.create", "user", 0, detail);
    let new = NewUser {
        username,
        display_name,
        password_hash: hash,
        hall_id: input.hall_id,
        department_id: input.department_id,
        grants,
    };
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let u = users::create(tx, new, at).await?;
                tx.audit(AuditEntry {
                    entity_id: u.id.to_string(),
                    ..audit
                })
                .await?;
                Ok::<_, StoreError>(u)
            })
        })
        .await?)
}

pub async fn set_user_disabled(state: &AppState, p: &Principal, id: i64, disabled: bool) -> ApiResult<User> {
    let u = user_for_write(state, p, id).await?;
    if u.id == p.user.id && disabled {
        return Err(ApiError::conflict("cannot_disable_self", "不能停用自己的账号"));
    }
    let grants = users::grants(state.store.read(), id).await?;
    let region_id = grants.first().map(|g| g.region_id).unwrap_or(SYSTEM_CHAIN);
    let at = state.clock.now();
    let action = if disabled { "user.disable" } else { "user.enable" };
    let audit = entry(p, at, region_id, action, "user", id, json!({"username": u.username}));
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let u = users::set_disabled(tx, id, disabled, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(u)
            })
        })
        .await?)
}

pub async fn reset_password(state: &AppState, p: &Principal, id: i64, password: &str) -> ApiResult<()> {
    let password = Password::parse(password)?;
    let u = user_for_write(state, p, id).await?;
    let grants = users::grants(state.store.read(), id).await?;
    let region_id = grants.first().map(|g| g.region_id).unwrap_or(SYSTEM_CHAIN);
    let hash = hash_password(password.expose())?;
    let at = state.clock.now();
    let audit = entry(
        p,
        at,
        region_id,
        "user.reset_password",
        "user",
        id,
        json!({"username": u.username}),
    );
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                users::set_password(tx, id, &hash, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(())
}

// ---- API tokens ------------------------------------------------------------------------------

pub struct NewToken {
    pub name: String,
    pub grants: Vec<(String, i64)>,
    pub expires_in_days: Option<i64>,
}

/// Creates a token for the calling user; its grants must be among the caller's own.
pub async fn create_token(state: &AppState, p: &Principal, input: NewToken) -> ApiResult<(tokens::ApiToken, String)> {
    if matches!(p.credential, crate::auth::Credential::ApiToken { .. }) {
        return Err(ApiError::forbidden());
    }
    let name = Name::parse(&input.name)?;
    if input.grants.is_empty() {
        return Err(ApiError::validation("grants_required", "令牌至少要有一个角色"));
    }
    let mut grants = Vec::new();
    for (role, region_id) in &input.grants {
        let role = Role::parse(role)?;
        let r = regions::get(state.store.read(), *region_id)
            .await
            .map_err(|_| ApiError::forbidden())?;
        if !p
            .grants
            .iter()
            .any(|g| g.role == role && g.region_path.contains(&r.region_path()))
        {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "grant_not_held",
                "令牌的角色和区划必须在您本人的授权范围内",
            ));
        }
        grants.push((role, *region_id));
    }
    let at = state.clock.now();
    let expires = match input.expires_in_days {
        Some(d) if !(1..=3650).contains(&d) => {
            return Err(ApiError::validation("expires_invalid", "有效期须为 1 到 3650 天"));
        }
        Some(d) => Some(at + jiff::SignedDuration::from_hours(24 * d)),
        None => None,
    };
    let secret = format!("ost_{}", random_token());
    let hash = sha256_hex(&secret);
    let user_id = p.user.id;
    let region_id = audit_region(&grants);
    let audit = entry(
        p,
        at,
        region_id,
        "token.create",
        "api_token",
        0,
        json!({"name": name.as_str()}),
    );
    let token = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let t = tokens::create(tx, user_id, name.as_str(), &hash, expires, &grants, at).await?;
                tx.audit(AuditEntry {
                    entity_id: t.id.to_string(),
                    ..audit
                })
                .await?;
                Ok::<_, StoreError>(t)
            })
        })
        .await?;
    Ok((token, secret))
}

pub async fn revoke_token(state: &AppState, p: &Principal, id: i64) -> ApiResult<tokens::ApiToken> {
    let t = tokens::get(state.store.read(), id).await?;
    // One's own tokens, or any token of a user one administers.
    if t.user_id != p.user.id {
        user_for_write(state, p, t.user_id)
            .await
            .map_err(|_| ApiError::not_found())?;
    }
    let at = state.clock.now();
    let audit = entry(
        p,
        at,
        SYSTEM_CHAIN,
        "token.revoke",
        "api_token",
        id,
        json!({"name": t.name}),
    );
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let t = tokens::revoke(tx, id, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(t)
            })
        })
        .await?)
}

// ---- devices ---------------------------------------------------------------------------------

pub async fn list_devices(state: &AppState, p: &Principal) -> ApiResult<Vec<devices::Device>> {
    let scopes = p.scopes(Permission::DeviceManage);
    if scopes.is_empty() {
        return Err(ApiError::forbidden());
    }
    let mut out = Vec::new();
    for s in scopes {
        out.extend(devices::list_in(state.store.read(), s.as_str()).await?);
    }
    Ok(out)
}

/// Pairing codes last 15 minutes.
const PAIRING_TTL_MINUTES: i64 = 15;

pub async fn register_device(
    state: &AppState,
    p: &Principal,
    hall_id: i64,
    kind: &str,
    name: &str,
    window_id: Option<i64>,
) -> ApiResult<(devices::Device, String)> {
    let kind = devices::parse_kind(kind)?;
    let name = Name::parse(name)?;
    let hall = get_hall(state, p, hall_id).await?;
    p.require(
        Permission::DeviceManage,
        &RegionPath::from_stored(hall.region_path.clone()),
    )?;
    if hall.closed_at.is_some() {
        return Err(ApiError::conflict("hall_closed", "该大厅已关闭"));
    }
    if let Some(w) = window_id {
        let win = get_window(state, p, w).await?;
        if win.hall_id != hall_id {
            return Err(ApiError::validation("window_not_in_hall", "所选窗口不属于该大厅"));
        }
    }
    let code = random_code();
    let code_hash = sha256_hex(&code);
    let at = state.clock.now();
    let expires = at + jiff::SignedDuration::from_mins(PAIRING_TTL_MINUTES);
    let audit = entry(
        p,
        at,
        hall.region_id,
        "device.register",
        "device",
        0,
        json!({"kind": kind, "name": name.as_str()}),
    );
    let d = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let d = devices::register(tx, hall_id, window_id, kind, name.as_str(), &code_hash, expires, at).await?;
                tx.audit(AuditEntry {
                    entity_id: d.id.to_string(),
                    ..audit
                })
                .await?;
                Ok::<_, StoreError>(d)
            })
        })
        .await?;
    Ok((d, code))
}

async fn device_for_manage(state: &AppState, p: &Principal, id: i64) -> ApiResult<(devices::Device, i64)> {
    let d = devices::get(state.store.read(), id).await?;
    let path = RegionPath::from_stored(d.region_path.clone());
    p.require(Permission::DeviceManage, &path)?;
    let hall = org::hall(state.store.read(), d.hall_id).await?;
    Ok((d, hall.region_id))
}

pub async fn new_pairing_code(state: &AppState, p: &Principal, id: i64) -> ApiResult<(devices::Device, String)> {
    let (_, region_id) = device_for_manage(state, p, id).await?;
    let code = random_code();
    let code_hash = sha256_hex(&code);
    let at = state.clock.now();
    let expires = at + jiff::SignedDuration::from_mins(PAIRING_TTL_MINUTES);
    let audit = entry(p, at, region_id, "device.repair", "device", id, json!({}));
    let d = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let d = devices::new_pairing_code(tx, id, &code_hash, expires).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(d)
            })
        })
        .await?;
    Ok((d, code))
}

pub async fn revoke_device(state: &AppState, p: &Principal, id: i64) -> ApiResult<devices::Device> {
    let (_, region_id) = device_for_manage(state, p, id).await?;
    let at = state.clock.now();
    let audit = entry(p, at, region_id, "device.revoke", "device", id, json!({}));
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let d = devices::revoke(tx, id, at).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(d)
            })
        })
        .await?)
}

/// A device exchanges its pairing code for a credential (no staff session involved).
pub async fn pair_device(state: &AppState, code: &str) -> ApiResult<(devices::Device, String)> {
    let code = code.trim().to_ascii_uppercase();
    if code.len() != 8 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::validation("pairing_code_invalid", "配对码为 8 位字母或数字"));
    }
    let code_hash = sha256_hex(&code);
    let token = format!("osd_{}", random_token());
    let token_hash = sha256_hex(&token);
    let at = state.clock.now();
    let paired = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(d) = devices::pair(tx, &code_hash, &token_hash, at).await? else {
                    return Ok::<_, StoreError>(None);
                };
                let hall = org::hall(tx.conn(), d.hall_id).await?;
                tx.audit(AuditEntry {
                    region_id: hall.region_id,
                    at,
                    actor: format!("device#{}", d.id),
                    action: "device.pair",
                    entity: "device",
                    entity_id: d.id.to_string(),
                    detail: json!({"kind": d.kind}),
                })
                .await?;
                Ok(Some(d))
            })
        })
        .await?;
    match paired {
        Some(d) => Ok((d, token)),
        None => Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "pairing_code_unknown",
            "配对码不正确或已过期，请向大厅管理员重新获取",
        )),
    }
}

// ---- login -----------------------------------------------------------------------------------

/// A new staff session: the cookie token (shown once) and its CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub user: User,
}

/// Checks a username and password, with rate limits per account and per client address.
/// Unknown user and wrong password give the same answer, in the same time.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    client: Option<std::net::IpAddr>,
) -> ApiResult<NewSession> {
    let window = jiff::SignedDuration::from_mins(15);
    let addr = client.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into());
    // Failed attempts are counted per client address and per account. Successful logins do
    // not count: a whole hall may share one NAT address.
    let addr_bucket = format!("login:addr:{addr}");
    let now = state.clock.now();
    if onestop_store::ratelimit::peek(state.store.read(), &addr_bucket, window, now).await?
        >= state.settings.login_limit_per_address
    {
        return Err(ApiError::too_many());
    }
    let wrong = || ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "login_failed", "用户名或密码错误");
    let name = Username::parse(username).ok();
    let account_bucket = name.as_ref().map(|n| format!("login:account:{}", n.as_str()));
    if let Some(bucket) = &account_bucket
        && onestop_store::ratelimit::peek(state.store.read(), bucket, window, now).await?
            >= state.settings.login_limit_per_account
    {
        return Err(ApiError::too_many());
    }
    let found = match &name {
        Some(n) => users::by_username(state.store.read(), n.as_str()).await?,
        None => None,
    };
    let ok = match &found {
        Some((_, hash)) => crate::auth::verify_password(password, hash),
        None => {
            let _ = crate::auth::verify_password(password, crate::auth::dummy_hash());
            false
        }
    };
    let Some((user, _)) = found.filter(|_| ok) else {
        crate::auth::rate_limit(state, addr_bucket, i64::MAX, window).await?;
        if let Some(bucket) = account_bucket {
            crate::auth::rate_limit(state, bucket, i64::MAX, window).await?;
        }
        tracing::info!(username = %name.map(|n| n.to_string()).unwrap_or_default(), "login failed");
        return Err(wrong());
    };
    if user.is_disabled() {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "account_disabled",
            "该账号已停用",
        ));
    }
    let token = random_token();
    let csrf = random_token();
    let token_hash = sha256_hex(&token);
    let at = state.clock.now();
    let ttl = state.settings.session_ttl;
    let user_id = user.id;
    let csrf_stored = csrf.clone();
    let region_id = users::grants(state.store.read(), user.id)
        .await?
        .first()
        .map(|g| g.region_id)
        .unwrap_or(0);
    let audit = AuditEntry {
        region_id,
        at,
        actor: user.username.clone(),
        action: "session.login",
        entity: "user",
        entity_id: user.id.to_string(),
        detail: json!({}),
    };
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                onestop_store::sessions::create(tx, &token_hash, user_id, &csrf_stored, at, ttl).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(NewSession { token, csrf, user })
}

pub async fn logout(state: &AppState, p: &Principal) -> ApiResult<()> {
    if let crate::auth::Credential::Session { token_hash, .. } = &p.credential {
        let hash = token_hash.clone();
        state
            .store
            .write(move |tx| Box::pin(async move { onestop_store::sessions::delete(tx, &hash).await }))
            .await?;
    }
    Ok(())
}
