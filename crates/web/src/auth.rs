//! Who is asking: staff sessions (cookie), API tokens (bearer) and devices (device credential),
//! plus passwords (argon2id), CSRF, the client address behind trusted proxies, and rate limits.
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use onestop_domain::region::RegionPath;
use onestop_domain::role::{Permission, Role};
use onestop_store::users::{GrantRow, User};
use onestop_store::{devices, ratelimit, sessions, tokens};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};

pub const SESSION_COOKIE: &str = "onestop_session";
pub const DEVICE_COOKIE: &str = "onestop_device";
pub const CSRF_COOKIE: &str = "onestop_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A random token of 32 bytes, URL-safe base64.
pub fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A short human-typable code (pairing codes): 8 characters without look-alikes.
pub fn random_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// argon2id hash in PHC format.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::internal())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the user does not exist, so that timing does not reveal it.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("onestop-no-such-user").unwrap_or_default())
}

/// A role on a region subtree, as held by a session or token.
#[derive(Debug, Clone)]
pub struct Grant {
    pub role: Role,
    pub region_id: i64,
    pub region_path: RegionPath,
    pub region_code: String,
    pub region_name: String,
}

impl Grant {
    pub(crate) fn from_row(row: GrantRow) -> Option<Self> {
        Some(Self {
            role: Role::parse(&row.role).ok()?,
            region_id: row.region_id,
            region_path: RegionPath::from_stored(row.region_path),
            region_code: row.region_code,
            region_name: row.region_name,
        })
    }
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// Browser session; state-changing requests must carry this CSRF token.
    Session {
        token_hash: String,
        csrf: String,
        last_seen_ms: i64,
    },
    ApiToken {
        token_id: i64,
    },
}

/// An authenticated member of staff (by session or API token) and what they may do where.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub grants: Vec<Grant>,
    pub credential: Credential,
}

impl Principal {
    /// The subtrees in which this principal holds `permission`.
    pub fn scopes(&self, permission: Permission) -> Vec<RegionPath> {
        let mut paths: Vec<RegionPath> = self
            .grants
            .iter()
            .filter(|g| g.role.allows(permission))
            .map(|g| g.region_path.clone())
            .collect();
        paths.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        // Drop paths already covered by a broader one.
        let mut out: Vec<RegionPath> = Vec::new();
        for p in paths {
            if !out.iter().any(|o| o.contains(&p)) {
                out.push(p);
            }
        }
        out
    }
    pub fn scope_strings(&self, permission: Permission) -> Vec<String> {
        self.scopes(permission)
            .into_iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }
    pub fn can(&self, permission: Permission, target: &RegionPath) -> bool {
        self.grants
            .iter()
            .any(|g| g.role.allows(permission) && g.region_path.contains(target))
    }
    /// Reading outside one's subtree answers 404 (it does not exist for you); inside it but
    /// without the permission answers 403.
    pub fn require(&self, permission: Permission, target: &RegionPath) -> ApiResult<()> {
        if self.can(permission, target) {
            Ok(())
        } else if self.can(Permission::RegionRead, target) {
            Err(ApiError::forbidden())
        } else {
            Err(ApiError::not_found())
        }
    }
    pub fn require_any(&self, permission: Permission) -> ApiResult<()> {
        if self.grants.iter().any(|g| g.role.allows(permission)) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
    pub fn roles(&self) -> Vec<Role> {
        let mut r: Vec<Role> = self.grants.iter().map(|g| g.role).collect();
        r.sort();
        r.dedup();
        r
    }
    pub fn actor(&self) -> String {
        match &self.credential {
            Credential::Session { .. } => self.user.username.clone(),
            Credential::ApiToken { token_id } => format!("{}#token{}", self.user.username, token_id),
        }
    }
    /// The most senior grant, shown in the page header.
    pub fn primary_grant(&self) -> Option<&Grant> {
        self.grants.iter().max_by_key(|g| {
            (
                g.role == Role::SystemAdmin,
                std::cmp::Reverse(g.region_path.as_str().len()),
            )
        })
    }
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Looks up who is asking, if anyone. Errors only for credentials that are present but bad.
pub async fn authenticate(state: &AppState, parts: &Parts) -> ApiResult<Option<Principal>> {
    let now = state.clock.now();
    if let Some(auth) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let value = auth.to_str().map_err(|_| bad_token())?;
        let Some(token) = value.strip_prefix("Bearer ") else {
            return Err(bad_token());
        };
        let Some((t, grants)) = tokens::lookup(state.store.read(), &sha256_hex(token.trim()), now).await? else {
            return Err(bad_token());
        };
        let user = onestop_store::users::get(state.store.read(), t.user_id).await?;
        if user.is_disabled() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "account_disabled",
                "该账号已停用",
            ));
        }
        let grants = grants.into_iter().filter_map(Grant::from_row).collect();
        return Ok(Some(Principal {
            user,
            grants,
            credential: Credential::ApiToken { token_id: t.id },
        }));
    }
    let Some(raw) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let token_hash = sha256_hex(raw);
    let Some((session, user)) = sessions::lookup(state.store.read(), &token_hash, now).await? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_invalid",
            "登录已失效，请重新登录",
        ));
    };
    if user.is_disabled() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "account_disabled",
            "该账号已停用",
        ));
    }
    let grants = onestop_store::users::grants(state.store.read(), user.id)
        .await?
        .into_iter()
        .filter_map(Grant::from_row)
        .collect();
    Ok(Some(Principal {
        user,
        grants,
        credential: Credential::Session {
            token_hash,
            csrf: session.csrf_token,
            last_seen_ms: session.last_seen_at,
        },
    }))
}

fn bad_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "token_invalid",
        "访问令牌无效、已过期或已吊销",
    )
}

/// Checks the CSRF token of a cookie-authenticated, state-changing request.
pub fn check_csrf(principal: &Principal, method: &Method, presented: Option<&str>) -> ApiResult<()> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    match &principal.credential {
        Credential::ApiToken { .. } => Ok(()),
        Credential::Session { csrf, .. } => {
            if presented.is_some_and(|p| constant_time_eq(p.as_bytes(), csrf.as_bytes())) {
                Ok(())
            } else {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "页面已过期或请求来源无法验证，请刷新后重试",
                ))
            }
        }
    }
}

/// The double-submit check of forms shown before login (login, device pairing, booking): the
/// form's token must equal the CSRF cookie set together with the form.
pub fn double_submit_ok(headers: &HeaderMap, form_token: Option<&str>) -> bool {
    matches!((form_token, cookie(headers, CSRF_COOKIE)), (Some(a), Some(b)) if constant_time_eq(a.as_bytes(), b.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Extractor for API routes: an authenticated principal; cookie sessions must send the CSRF
/// header on state-changing requests.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = authenticate(state, parts)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        check_csrf(&principal, &parts.method, header)?;
        maybe_touch(state, &principal).await;
        Ok(Auth(principal))
    }
}

/// Slides a session's expiry, at most once every five minutes, so reads stay read-only.
pub async fn maybe_touch(state: &AppState, principal: &Principal) {
    if let Credential::Session {
        token_hash,
        last_seen_ms,
        ..
    } = &principal.credential
    {
        let now = state.clock.now();
        if now.as_millisecond() - last_seen_ms > 5 * 60 * 1000 {
            let hash = token_hash.clone();
            let ttl = state.settings.session_ttl;
            let _ = state
                .store
                .write(move |tx| Box::pin(async move { sessions::touch(tx, &hash, now, ttl).await }))
                .await
                .map_err(|e: onestop_store::StoreError| tracing::warn!(error = %e, "session touch failed"));
        }
    }
}

/// The client address: the peer, or the forwarded address when the peer is a trusted proxy.
pub fn client_ip(state: &AppState, parts: &Parts) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let peer = peer?;
    if !state.settings.trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    // Walk X-Forwarded-For from the right, skipping our own proxies.
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut client = peer;
    for hop in forwarded.split(',').rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !state.settings.trusted_proxies.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

/// Counts a hit on `bucket`; errors with 429 once `limit` is exceeded in the window.
pub async fn rate_limit(state: &AppState, bucket: String, limit: i64, window: jiff::SignedDuration) -> ApiResult<()> {
    let now = state.clock.now();
    let hits = state
        .store
        .write(move |tx| Box::pin(async move { ratelimit::hit(tx, &bucket, window, now).await }))
        .await
        .map_err(ApiError::from)?;
    if hits > limit {
        Err(ApiError::too_many())
    } else {
        Ok(())
    }
}

/// An authenticated hall device (kiosk, board, pad).
#[derive(Debug, Clone)]
pub struct DeviceAuth(pub devices::Device);

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Device "))
            .map(str::to_owned)
            .or_else(|| cookie(&parts.headers, DEVICE_COOKIE).map(str::to_owned));
        let Some(token) = token else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "device_unpaired",
                "该设备尚未配对",
            ));
        };
        let device = devices::by_token(state.store.read(), &sha256_hex(token.trim()))
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "device_unpaired", "设备凭据无效，请重新配对"))?;
        if device.revoked_at.is_some() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "device_revoked",
                "该设备已被吊销",
            ));
        }
        Ok(DeviceAuth(device))
    }
}

/// The principal of an account acting from the CLI (`--as USERNAME`): its own grants, audited
/// under its name.
pub async fn principal_of(state: &crate::state::AppState, user: User) -> ApiResult<Principal> {
    let grants = onestop_store::users::grants(state.store.read(), user.id)
        .await?
        .into_iter()
        .filter_map(Grant::from_row)
        .collect();
    Ok(Principal {
        user,
        grants,
        credential: Credential::Session {
            token_hash: String::new(),
            csrf: String::new(),
            last_seen_ms: i64::MAX,
        },
    })
}

/// The principal the CLI and the demo seed act as: a system administrator over every region,
/// audited under `actor`.
pub fn system_principal(actor: &str) -> Principal {
    Principal {
        user: User {
            id: 0,
            username: actor.to_owned(),
            display_name: actor.to_owned(),
            disabled: 0,
            hall_id: None,
            department_id: None,
        },
        grants: vec![Grant {
            role: Role::SystemAdmin,
            region_id: 0,
            region_path: RegionPath::from_stored("/".into()),
            region_code: String::new(),
            region_name: "全部".into(),
        }],
        credential: Credential::Session {
            token_hash: String::new(),
            csrf: String::new(),
            last_seen_ms: i64::MAX,
        },
    }
}
