//! The bench's world, set up over the public API of a freshly seeded demo server: its own halls
//! (windows, categories, a paired kiosk, bookable slots), a hall manager over the province with an
//! API token for the window consoles, and what the server offers (probed from the OpenAPI
//! document).
use anyhow::{Context, Result, bail};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::time::Duration;

/// Windows per bench hall: 1–6 serve 综合 (A) first, 7–8 serve 预约 (B) first then A.
pub const WINDOWS: usize = 8;
pub const PASSWORD: &str = "onestop-demo";

#[derive(Clone, Debug)]
pub struct Hall {
    pub id: i64,
    pub region_code: String,
    pub kiosk: String,
    pub windows: Vec<i64>,
    pub slots: Vec<i64>,
    /// Whether the server takes cases for this hall's region (probed at set-up).
    pub cases: bool,
}

#[derive(Clone, Debug)]
pub struct World {
    pub halls: Vec<Hall>,
    /// Bearer token of `bench.manager` (hall manager over the province).
    pub token: String,
    /// Base codes of public guides, for guide page reads.
    pub guides: Vec<(String, String)>,
    pub features: Features,
    /// What a case submission needs, when the server has cases.
    pub cases: Option<CaseKit>,
}

/// casecore: the service the bench applies for (食品经营许可证核发, every required material
/// handed in as one uploaded file) and a valid application for it.
#[derive(Clone, Debug)]
pub struct CaseKit {
    pub materials: Vec<Value>,
}

pub const CASE_SERVICE: &str = "000172007000";
const CASE_MATERIALS: [&str; 5] = [
    "食品经营许可申请书",
    "营业执照",
    "法定代表人、股东身份证件",
    "经营场所平面布局图及设备布局、工艺流程",
    "食品安全管理制度",
];

impl CaseKit {
    /// The application of citizen `n` at hall `h`.
    pub fn application(&self, h: &Hall, n: u64) -> Value {
        json!({
            "region": h.region_code,
            "hall_id": h.id,
            "service": CASE_SERVICE,
            "applicant": {"name": "张三", "id_number": id_number(n), "phone": format!("139{:08}", n % 100_000_000)},
            "form": {
                "org_name": format!("压测餐饮有限公司{n}"), "legal_rep_name": "张三", "contact_name": "张三",
                "contact_phone": "13900139000", "org_address": "压测路 8 号", "commitment": true
            },
            "materials": self.materials,
        })
    }
}

/// Uploads the one material file (a multipart body by hand: the workspace's reqwest has no
/// multipart feature) and probes each hall with one application; halls whose region does not
/// offer or cannot route the service get no cases.
async fn setup_cases(c: &reqwest::Client, base: &str, auth: &str, halls: &mut [Hall]) -> Result<Option<CaseKit>> {
    const B: &str = "onestopbenchboundary";
    let mut body = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"material.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(b"%PDF-1.7\nonestop bench material\n");
    body.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
    let up = check(
        c.post(format!("{base}/api/v1/uploads"))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={B}"),
            )
            .header("x-forwarded-for", citizen_addr(2_000_000))
            .body(body)
            .send()
            .await?,
        "upload material",
    )
    .await?;
    let upload = up["id"].as_i64().context("upload id")?;
    let kit = CaseKit {
        materials: CASE_MATERIALS
            .iter()
            .map(|n| json!({"name": n, "upload_id": upload}))
            .collect(),
    };
    let mut tried: Vec<(String, bool)> = Vec::new();
    for h in halls.iter_mut() {
        if let Some((_, ok)) = tried.iter().find(|(r, _)| *r == h.region_code) {
            h.cases = *ok;
            continue;
        }
        let r = c
            .post(format!("{base}/api/v1/cases"))
            .header("authorization", auth)
            .json_body(&kit.application(h, 9_000_000 + h.id as u64))
            .send()
            .await?;
        let ok = r.status().is_success();
        if !ok {
            let v = json_of(r).await;
            eprintln!("onestop-bench: no cases in region {}: {}", h.region_code, v["code"]);
        }
        h.cases = ok;
        tried.push((h.region_code.clone(), ok));
    }
    Ok(halls.iter().any(|h| h.cases).then_some(kit))
}

/// Optional parts of the mix, enabled when the server's OpenAPI document has them.
#[derive(Clone, Debug, Default)]
pub struct Features {
    pub cases: bool,
    pub ratings: bool,
}

/// JSON bodies without reqwest's `json` feature (the workspace builds reqwest without it, so
/// the bench shares the server's reqwest build).
pub trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(v).unwrap_or_default())
    }
}

pub async fn json_of(r: reqwest::Response) -> Value {
    match r.bytes().await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

pub fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(512)
        .build()?)
}

async fn check(r: reqwest::Response, what: &str) -> Result<Value> {
    let status = r.status();
    let body = json_of(r).await;
    if !status.is_success() {
        bail!("{what}: {status} {body}");
    }
    Ok(body)
}

/// A logged-in browser session: its cookies and CSRF token as headers.
async fn login(c: &reqwest::Client, base: &str, user: &str) -> Result<HeaderMap> {
    let r = c
        .post(format!("{base}/api/v1/session"))
        .json_body(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await?;
    let cookies: Vec<String> = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next().map(str::to_owned))
        .collect();
    let body = check(r, &format!("login {user}")).await?;
    let csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
    let mut h = HeaderMap::new();
    h.insert(reqwest::header::COOKIE, HeaderValue::from_str(&cookies.join("; "))?);
    h.insert("x-csrf-token", HeaderValue::from_str(&csrf)?);
    Ok(h)
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A distinct citizen address per call (X-Forwarded-For through the trusted 127.0.0.1).
pub fn citizen_addr(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

pub async fn probe(c: &reqwest::Client, base: &str) -> Result<Features> {
    let doc = check(c.get(format!("{base}/api/v1/openapi.json")).send().await?, "openapi").await?;
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    Ok(Features {
        cases: paths.iter().any(|p| p.starts_with("/api/v1/cases")),
        ratings: paths.iter().any(|p| p.starts_with("/api/v1/ratings")),
    })
}

/// Sets up `halls` bench halls spread over the demo's hall regions.
pub async fn setup(base: &str, halls: usize) -> Result<World> {
    let c = client()?;
    let admin = login(&c, base, "jingjiang.sysadmin").await?;
    let regions = check(
        c.get(format!("{base}/api/v1/regions"))
            .headers(admin.clone())
            .send()
            .await?,
        "regions",
    )
    .await?;
    let regions = regions.as_array().cloned().unwrap_or_default();
    let find = |code: &str| {
        regions
            .iter()
            .find(|r| r["code"] == code)
            .and_then(|r| r["id"].as_i64())
            .with_context(|| format!("region {code} not in the demo world"))
    };
    let province = find("990000")?;
    let hall_regions = ["990100", "990102", "990103", "990111", "990121", "990122", "990123"];
    let mut region_ids = Vec::new();
    for code in hall_regions {
        region_ids.push((find(code)?, code.to_owned()));
    }
    let grants = json!([{"role": "hall_manager", "region_id": province}]);
    check(
        c.post(format!("{base}/api/v1/users"))
            .headers(admin.clone())
            .json_body(
                &json!({"username": "bench.manager", "display_name": "压测值守", "password": PASSWORD,
                "hall_id": null, "department_id": null, "grants": grants}),
            )
            .send()
            .await?,
        "create bench.manager",
    )
    .await?;
    let mgr = login(&c, base, "bench.manager").await?;
    let tok = check(
        c.post(format!("{base}/api/v1/tokens"))
            .headers(mgr)
            .json_body(&json!({"name": "onestop-bench", "grants": grants, "expires_in_days": null}))
            .send()
            .await?,
        "create token",
    )
    .await?;
    let token = tok["secret"].as_str().context("token secret")?.to_owned();
    let auth = bearer(&token);
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC))
        .date();
    let mut out = Vec::new();
    for i in 0..halls {
        let (region_id, region_code) = region_ids[i % region_ids.len()].clone();
        let hall = check(
            c.post(format!("{base}/api/v1/halls"))
                .headers(admin.clone())
                .json_body(
                    &json!({"region_id": region_id, "name": format!("压测大厅{i:04}"), "address": "压测路 1 号"}),
                )
                .send()
                .await?,
            "create hall",
        )
        .await?;
        let hall_id = hall["id"].as_i64().context("hall id")?;
        for (prefix, name) in [("A", "综合受理"), ("B", "预约办理")] {
            check(
                c.post(format!("{base}/api/v1/queue/halls/{hall_id}/categories"))
                    .header("authorization", &auth)
                    .json_body(&json!({"prefix": prefix, "name": name}))
                    .send()
                    .await?,
                "create category",
            )
            .await?;
        }
        let mut windows = Vec::new();
        for w in 1..=WINDOWS {
            let win = check(
                c.post(format!("{base}/api/v1/windows"))
                    .headers(admin.clone())
                    .json_body(
                        &json!({"hall_id": hall_id, "number": w.to_string(), "name": format!("综合受理窗口{w}"),
                        "kind": "general", "department_id": null}),
                    )
                    .send()
                    .await?,
                "create window",
            )
            .await?;
            let wid = win["id"].as_i64().context("window id")?;
            let cats = if w <= 6 {
                json!([{"category": "A", "rank": 1}])
            } else {
                json!([{"category": "B", "rank": 1}, {"category": "A", "rank": 2}])
            };
            check(
                c.put(format!("{base}/api/v1/queue/windows/{wid}/categories"))
                    .header("authorization", &auth)
                    .json_body(&json!({ "categories": cats }))
                    .send()
                    .await?,
                "window categories",
            )
            .await?;
            check(
                c.post(format!("{base}/api/v1/queue/windows/{wid}/open"))
                    .header("authorization", &auth)
                    .send()
                    .await?,
                "open window",
            )
            .await?;
            windows.push(wid);
        }
        let dev = check(
            c.post(format!("{base}/api/v1/devices"))
                .header("authorization", &auth)
                .json_body(&json!({"hall_id": hall_id, "kind": "kiosk", "name": "取号机", "window_id": null}))
                .send()
                .await?,
            "register kiosk",
        )
        .await?;
        let code = dev["pairing_code"].as_str().context("pairing code")?;
        let paired = check(
            c.post(format!("{base}/api/v1/devices/pair"))
                .header("x-forwarded-for", citizen_addr(1_000_000 + i as u64))
                .json_body(&json!({ "pairing_code": code }))
                .send()
                .await?,
            "pair kiosk",
        )
        .await?;
        let kiosk = paired["credential"].as_str().context("credential")?.to_owned();
        // Bookable places from tomorrow: a slot that has started cannot be booked.
        let mut slots = Vec::new();
        for d in 1..=5i64 {
            let day = today.checked_add(jiff::Span::new().days(d))?;
            let set = check(
                c.put(format!("{base}/api/v1/queue/halls/{hall_id}/slots"))
                    .header("authorization", &auth)
                    .json_body(&json!({"category": "B", "day": day.to_string(), "hours": [9, 10, 11, 14, 15, 16], "capacity": 200}))
                    .send()
                    .await?,
                "set slots",
            )
            .await?;
            slots.extend(set.as_array().into_iter().flatten().filter_map(|s| s["id"].as_i64()));
        }
        out.push(Hall {
            id: hall_id,
            region_code,
            kiosk,
            windows,
            slots,
            cases: false,
        });
    }
    let found = check(
        c.get(format!("{base}/api/v1/guides?region=990100&per_page=50"))
            .send()
            .await?,
        "guides",
    )
    .await?;
    let guides = found["guides"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["base_code"].as_str().map(|b| ("990100".to_owned(), b.to_owned())))
        .collect();
    let features = probe(&c, base).await?;
    let cases = if features.cases {
        setup_cases(&c, base, &auth, &mut out).await?
    } else {
        None
    };
    Ok(World {
        halls: out,
        token,
        guides,
        features,
        cases,
    })
}

/// A valid 18-digit resident ID number (GB 11643 check digit) for citizen `n`, born 1960–1999.
pub fn id_number(n: u64) -> String {
    let year = 1960 + (n % 40);
    let month = 1 + (n / 40) % 12;
    let day = 1 + (n / 480) % 28;
    let seq = (n / 13440) % 1000;
    let body = format!("990102{year:04}{month:02}{day:02}{seq:03}");
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.bytes().zip(W).map(|(b, w)| u32::from(b - b'0') * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}
