//! The permission matrix: every role, acting from the province, the city, 罗平县 and 清河县, against
//! each of those four regions, over the JSON API and over the pages. What is expected comes from
//! the hand-written TABLE below (role × relation × action), never from the production rules.
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// How the target region stands to the region where the actor's role is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    /// The target is the actor's own region.
    Same,
    /// The target lies above the actor's region.
    Ancestor,
    /// The target lies inside the actor's subtree, below its region.
    Descendant,
    /// Neither (罗平县 and 清河县).
    Sibling,
}
use Rel::*;

/// One expected outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum E {
    /// Allowed: 200 (read, rename) or 201 (create).
    A,
    /// 403: inside the subtree, but the role lacks the permission.
    F,
    /// 404: outside the subtree, the thing does not exist for this actor.
    N,
    /// A list answers 200 and contains the target's rows.
    L,
    /// A list answers 200 and holds nothing of the target.
    H,
}
use E::*;

/// Columns of TABLE.
const ACTIONS: [&str; 7] = [
    "GET /regions/{id}",
    "GET /halls lists the target's hall",
    "PATCH /regions/{id} (rename)",
    "POST /departments in the target",
    "GET /users lists the target's staff",
    "POST /devices in the target's hall",
    "GET /audit lists the target's entries",
];
const READ: usize = 0;
const HALLS: usize = 1;
const RENAME: usize = 2;
const DEPT: usize = 3;
const USERS: usize = 4;
const DEVICE: usize = 5;
const AUDIT: usize = 6;

/// The rules, written out by hand: reading outside one's subtree is 404; inside it without the
/// permission 403. RegionWrite: region admin, system admin. StaffRead and DeviceManage: hall
/// manager, region admin, system admin. AuditRead: auditor, system admin.
#[rustfmt::skip]
const TABLE: &[(&str, Rel, [E; 7])] = &[
    //                         read halls rename dept users device audit
    ("clerk",      Same,       [A,   L,    F,     F,   F,    F,     F]),
    ("clerk",      Descendant, [A,   L,    F,     F,   F,    F,     F]),
    ("clerk",      Ancestor,   [N,   H,    N,     N,   F,    N,     F]),
    ("clerk",      Sibling,    [N,   H,    N,     N,   F,    N,     F]),
    ("reviewer",   Same,       [A,   L,    F,     F,   F,    F,     F]),
    ("reviewer",   Descendant, [A,   L,    F,     F,   F,    F,     F]),
    ("reviewer",   Ancestor,   [N,   H,    N,     N,   F,    N,     F]),
    ("reviewer",   Sibling,    [N,   H,    N,     N,   F,    N,     F]),
    ("manager",    Same,       [A,   L,    F,     F,   L,    A,     F]),
    ("manager",    Descendant, [A,   L,    F,     F,   L,    A,     F]),
    ("manager",    Ancestor,   [N,   H,    N,     N,   H,    N,     F]),
    ("manager",    Sibling,    [N,   H,    N,     N,   H,    N,     F]),
    ("admin",      Same,       [A,   L,    A,     A,   L,    A,     F]),
    ("admin",      Descendant, [A,   L,    A,     A,   L,    A,     F]),
    ("admin",      Ancestor,   [N,   H,    N,     N,   H,    N,     F]),
    ("admin",      Sibling,    [N,   H,    N,     N,   H,    N,     F]),
    ("supervisor", Same,       [A,   L,    F,     F,   F,    F,     F]),
    ("supervisor", Descendant, [A,   L,    F,     F,   F,    F,     F]),
    ("supervisor", Ancestor,   [N,   H,    N,     N,   F,    N,     F]),
    ("supervisor", Sibling,    [N,   H,    N,     N,   F,    N,     F]),
    ("auditor",    Same,       [A,   L,    F,     F,   F,    F,     L]),
    ("auditor",    Descendant, [A,   L,    F,     F,   F,    F,     L]),
    ("auditor",    Ancestor,   [N,   H,    N,     N,   F,    N,     H]),
    ("auditor",    Sibling,    [N,   H,    N,     N,   F,    N,     H]),
    ("sysadmin",   Same,       [A,   L,    A,     A,   L,    A,     L]),
    ("sysadmin",   Descendant, [A,   L,    A,     A,   L,    A,     L]),
    ("sysadmin",   Ancestor,   [N,   H,    N,     N,   H,    N,     H]),
    ("sysadmin",   Sibling,    [N,   H,    N,     N,   H,    N,     H]),
];

const ROLES: [&str; 7] = [
    "clerk",
    "reviewer",
    "manager",
    "admin",
    "supervisor",
    "auditor",
    "sysadmin",
];
/// Roles with a demo account at the province.
const PROVINCE_ROLES: [&str; 4] = ["admin", "supervisor", "auditor", "sysadmin"];

/// A region of the matrix, as the demo world seeds it.
struct Place {
    code: &'static str,
    key: &'static str,
    name: &'static str,
    hall: Option<&'static str>,
    /// A member of staff granted here, to look for in staff lists.
    staff: &'static str,
}

const PLACES: [Place; 4] = [
    Place {
        code: "990000",
        key: "jingjiang",
        name: "静江省",
        hall: None,
        staff: "jingjiang.admin",
    },
    Place {
        code: "990100",
        key: "jiuan",
        name: "久安市",
        hall: Some("久安市政务服务中心"),
        staff: "jiuan.clerk",
    },
    Place {
        code: "990121",
        key: "luoping",
        name: "罗平县",
        hall: Some("罗平县政务服务中心"),
        staff: "luoping.clerk",
    },
    Place {
        code: "990122",
        key: "qinghe",
        name: "清河县",
        hall: Some("清河县政务服务中心"),
        staff: "qinghe.clerk",
    },
];

const COUNTIES: [&str; 6] = ["990102", "990103", "990111", "990121", "990122", "990123"];

/// The demo tree, by hand: the parent of each region.
fn parent(code: &str) -> Option<&'static str> {
    match code {
        "990000" => None,
        "990100" => Some("990000"),
        c if COUNTIES.contains(&c) => Some("990100"),
        other => panic!("not a demo region: {other}"),
    }
}

fn is_above(upper: &str, lower: &str) -> bool {
    let mut at = parent(lower);
    while let Some(p) = at {
        if p == upper {
            return true;
        }
        at = parent(p);
    }
    false
}

fn relation(actor: &str, target: &str) -> Rel {
    if actor == target {
        Same
    } else if is_above(actor, target) {
        Descendant
    } else if is_above(target, actor) {
        Ancestor
    } else {
        Sibling
    }
}

/// Every region code an actor granted at `code` may see, by hand.
fn subtree(code: &str) -> BTreeSet<&'static str> {
    let all = [
        "990000", "990100", "990102", "990103", "990111", "990121", "990122", "990123",
    ];
    match code {
        "990000" => all.into_iter().collect(),
        "990100" => all.into_iter().skip(1).collect(),
        c => all.into_iter().filter(|x| *x == c).collect(),
    }
}

fn expected(role: &str, rel: Rel) -> [E; 7] {
    TABLE
        .iter()
        .find(|(r, l, _)| *r == role && *l == rel)
        .map(|(_, _, e)| *e)
        .unwrap_or_else(|| panic!("TABLE has no row for {role} {rel:?}"))
}

fn outcome(status: StatusCode) -> Option<E> {
    match status {
        StatusCode::OK | StatusCode::CREATED => Some(A),
        StatusCode::FORBIDDEN => Some(F),
        StatusCode::NOT_FOUND => Some(N),
        _ => None,
    }
}

fn listed(hit: bool) -> E {
    if hit { L } else { H }
}

/// Ids of the demo world the matrix needs: region id by code, and code by region id.
struct World {
    region: HashMap<&'static str, i64>,
    code_of: HashMap<i64, &'static str>,
    hall: HashMap<&'static str, i64>,
}

async fn world(app: &TestApp) -> World {
    let mut region = HashMap::new();
    let mut code_of = HashMap::new();
    for code in subtree("990000") {
        let id = app.region_id(code).await;
        region.insert(code, id);
        code_of.insert(id, code);
    }
    let root = app.token("jingjiang.sysadmin").await;
    let halls: Vec<Value> = root.get("/api/v1/halls").await.json().await.unwrap();
    let mut hall = HashMap::new();
    for h in halls {
        let code = code_of[&h["region_id"].as_i64().unwrap()];
        hall.insert(code, h["id"].as_i64().unwrap());
    }
    World { region, code_of, hall }
}

/// Collects mismatches so that one run shows every broken cell.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn check(&mut self, who: &str, target: &str, action: &str, want: E, got: Option<E>, raw: impl std::fmt::Display) {
        if got != Some(want) {
            self.0.push(format!(
                "{who} → {target}: {action}: expected {want:?}, got {got:?} ({raw})"
            ));
        }
    }
    fn assert_empty(&self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what}: {} cells differ from the table:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

fn actors() -> Vec<(&'static str, &'static Place)> {
    let mut out = Vec::new();
    for place in &PLACES {
        for role in ROLES {
            if place.code != "990000" || PROVINCE_ROLES.contains(&role) {
                out.push((role, place));
            }
        }
    }
    out
}

/// The API matrix for one actor.
async fn api_row(w: &World, s: &Session, who: &str, role: &str, acting: &Place, serial: &mut u32, out: &mut Findings) {
    // Lists are fetched once per actor and checked per target.
    let res = s.get("/api/v1/regions").await;
    assert_eq!(res.status(), StatusCode::OK, "{who}: GET /regions");
    let regions: Vec<Value> = res.json().await.unwrap();
    let seen: BTreeSet<&str> = regions.iter().map(|r| w.code_of[&r["id"].as_i64().unwrap()]).collect();
    if seen != subtree(acting.code) {
        out.0.push(format!(
            "{who}: GET /regions lists {seen:?}, expected {:?}",
            subtree(acting.code)
        ));
    }

    let res = s.get("/api/v1/halls").await;
    assert_eq!(res.status(), StatusCode::OK, "{who}: GET /halls");
    let halls: Vec<Value> = res.json().await.unwrap();
    let hall_regions: BTreeSet<&str> = halls
        .iter()
        .map(|h| w.code_of[&h["region_id"].as_i64().unwrap()])
        .collect();
    let want_halls: BTreeSet<&str> = subtree(acting.code).into_iter().filter(|c| *c != "990000").collect();
    if hall_regions != want_halls {
        out.0.push(format!(
            "{who}: GET /halls lists halls of {hall_regions:?}, expected {want_halls:?}"
        ));
    }

    let res = s.get("/api/v1/users").await;
    let users_status = res.status();
    let usernames: BTreeSet<String> = if users_status == StatusCode::OK {
        let list: Vec<Value> = res.json().await.unwrap();
        list.iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    } else {
        BTreeSet::new()
    };

    let res = s.get("/api/v1/audit?action=region.create&limit=1000").await;
    let audit_status = res.status();
    let audited: BTreeSet<&str> = if audit_status == StatusCode::OK {
        let list: Vec<Value> = res.json().await.unwrap();
        list.iter()
            .map(|e| w.code_of[&e["region_id"].as_i64().unwrap()])
            .collect()
    } else {
        BTreeSet::new()
    };
    if audit_status == StatusCode::OK && audited != subtree(acting.code) {
        out.0.push(format!(
            "{who}: GET /audit shows region.create of {audited:?}, expected {:?}",
            subtree(acting.code)
        ));
    }

    for target in &PLACES {
        let rel = relation(acting.code, target.code);
        let want = expected(role, rel);
        let id = w.region[target.code];
        let tname = target.name;

        let res = s.get(&format!("/api/v1/regions/{id}")).await;
        out.check(
            who,
            tname,
            ACTIONS[READ],
            want[READ],
            outcome(res.status()),
            res.status(),
        );

        if target.hall.is_some() {
            let hit = hall_regions.contains(target.code);
            out.check(who, tname, ACTIONS[HALLS], want[HALLS], Some(listed(hit)), hit);
        }

        *serial += 1;
        let temp = format!("{tname}临时{serial}");
        let res = s.patch(&format!("/api/v1/regions/{id}"), &json!({"name": temp})).await;
        let status = res.status();
        out.check(who, tname, ACTIONS[RENAME], want[RENAME], outcome(status), status);
        if status == StatusCode::OK {
            let res = s.patch(&format!("/api/v1/regions/{id}"), &json!({"name": tname})).await;
            assert_eq!(res.status(), StatusCode::OK, "{who} could not rename {tname} back");
        }

        let res = s
            .post(
                "/api/v1/departments",
                &json!({"region_id": id, "name": format!("矩阵部门{serial}")}),
            )
            .await;
        out.check(
            who,
            tname,
            ACTIONS[DEPT],
            want[DEPT],
            outcome(res.status()),
            res.status(),
        );

        let got = match users_status {
            StatusCode::OK => Some(listed(usernames.contains(target.staff))),
            other => outcome(other),
        };
        out.check(who, tname, ACTIONS[USERS], want[USERS], got, users_status);

        if target.hall.is_some() {
            let body = json!({"hall_id": w.hall[target.code], "kind": "kiosk", "name": format!("矩阵取号机{serial}")});
            let res = s.post("/api/v1/devices", &body).await;
            out.check(
                who,
                tname,
                ACTIONS[DEVICE],
                want[DEVICE],
                outcome(res.status()),
                res.status(),
            );
        }

        let got = match audit_status {
            StatusCode::OK => Some(listed(audited.contains(target.code))),
            other => outcome(other),
        };
        out.check(who, tname, ACTIONS[AUDIT], want[AUDIT], got, audit_status);
    }
}

/// Columns of PAGE_TABLE.
const PAGES: [&str; 6] = [
    "page /admin/regions names it",
    "page /admin/regions/{id}",
    "page /admin/users lists its staff",
    "page /admin/devices offers its hall",
    "page /audit shows its entries",
    "form /admin/regions/{id}/rename",
];

/// The pages, by hand. As the API, plus: the structure pages (/admin/regions…) are for hall
/// managers, region admins, supervisors, auditors and system admins; clerks and reviewers get 403
/// there whatever the region. A page-wide refusal (no permission anywhere) is 403 for every target.
#[rustfmt::skip]
const PAGE_TABLE: &[(&str, Rel, [E; 6])] = &[
    //                         regions detail users devices audit rename
    ("clerk",      Same,       [F,      F,     F,    F,      F,    F]),
    ("clerk",      Descendant, [F,      F,     F,    F,      F,    F]),
    ("clerk",      Ancestor,   [F,      F,     F,    F,      F,    N]),
    ("clerk",      Sibling,    [F,      F,     F,    F,      F,    N]),
    ("reviewer",   Same,       [F,      F,     F,    F,      F,    F]),
    ("reviewer",   Descendant, [F,      F,     F,    F,      F,    F]),
    ("reviewer",   Ancestor,   [F,      F,     F,    F,      F,    N]),
    ("reviewer",   Sibling,    [F,      F,     F,    F,      F,    N]),
    ("manager",    Same,       [L,      A,     L,    L,      F,    F]),
    ("manager",    Descendant, [L,      A,     L,    L,      F,    F]),
    ("manager",    Ancestor,   [H,      N,     H,    H,      F,    N]),
    ("manager",    Sibling,    [H,      N,     H,    H,      F,    N]),
    ("admin",      Same,       [L,      A,     L,    L,      F,    A]),
    ("admin",      Descendant, [L,      A,     L,    L,      F,    A]),
    ("admin",      Ancestor,   [H,      N,     H,    H,      F,    N]),
    ("admin",      Sibling,    [H,      N,     H,    H,      F,    N]),
    ("supervisor", Same,       [L,      A,     F,    F,      F,    F]),
    ("supervisor", Descendant, [L,      A,     F,    F,      F,    F]),
    ("supervisor", Ancestor,   [H,      N,     F,    F,      F,    N]),
    ("supervisor", Sibling,    [H,      N,     F,    F,      F,    N]),
    ("auditor",    Same,       [L,      A,     F,    F,      L,    F]),
    ("auditor",    Descendant, [L,      A,     F,    F,      L,    F]),
    ("auditor",    Ancestor,   [H,      N,     F,    F,      H,    N]),
    ("auditor",    Sibling,    [H,      N,     F,    F,      H,    N]),
    ("sysadmin",   Same,       [L,      A,     L,    L,      L,    A]),
    ("sysadmin",   Descendant, [L,      A,     L,    L,      L,    A]),
    ("sysadmin",   Ancestor,   [H,      N,     H,    H,      H,    N]),
    ("sysadmin",   Sibling,    [H,      N,     H,    H,      H,    N]),
];

fn expected_page(role: &str, rel: Rel) -> [E; 6] {
    PAGE_TABLE
        .iter()
        .find(|(r, l, _)| *r == role && *l == rel)
        .map(|(_, _, e)| *e)
        .unwrap_or_else(|| panic!("PAGE_TABLE has no row for {role} {rel:?}"))
}

/// A list page: 403, or 200 with or without `needle`.
fn list_outcome(status: StatusCode, html: &str, needle: &str) -> Option<E> {
    match status {
        StatusCode::OK => Some(listed(html.contains(needle))),
        other => outcome(other).filter(|e| *e != A),
    }
}

/// The same matrix over the pages, with the same cookie session.
async fn page_row(w: &World, s: &Session, who: &str, role: &str, acting: &Place, out: &mut Findings) {
    let home = s.get("/").await;
    assert_eq!(home.status(), StatusCode::OK, "{who}: home page");

    let fetch = |path: &'static str| async move {
        let res = s.get(path).await;
        let status = res.status();
        (status, res.text().await.unwrap())
    };
    // List pages are fetched once and checked for each target.
    let (regions_status, regions_html) = fetch("/admin/regions").await;
    let (users_status, users_html) = fetch("/admin/users").await;
    let (devices_status, devices_html) = fetch("/admin/devices").await;
    let (audit_status, audit_html) = fetch("/audit?action=region.create").await;

    for target in &PLACES {
        let want = expected_page(role, relation(acting.code, target.code));
        let id = w.region[target.code];
        let tname = target.name;

        out.check(
            who,
            tname,
            PAGES[0],
            want[0],
            list_outcome(regions_status, &regions_html, tname),
            regions_status,
        );

        let res = s.get(&format!("/admin/regions/{id}")).await;
        let status = res.status();
        let html = res.text().await.unwrap();
        out.check(who, tname, PAGES[1], want[1], outcome(status), status);
        if status != StatusCode::OK && target.code != acting.code && html.contains(tname) {
            out.0
                .push(format!("{who} → {tname}: the refusal page names the region"));
        }
        if let (StatusCode::OK, Some(hall)) = (status, target.hall)
            && !html.contains(hall)
        {
            out.0
                .push(format!("{who} → {tname}: region page does not show its hall"));
        }

        out.check(
            who,
            tname,
            PAGES[2],
            want[2],
            list_outcome(users_status, &users_html, &format!(">{}<", target.staff)),
            users_status,
        );
        // The hall picker offers exactly the halls where devices may be registered.
        if let Some(hall) = target.hall {
            out.check(
                who,
                tname,
                PAGES[3],
                want[3],
                list_outcome(devices_status, &devices_html, hall),
                devices_status,
            );
        }
        out.check(
            who,
            tname,
            PAGES[4],
            want[4],
            list_outcome(audit_status, &audit_html, tname),
            audit_status,
        );

        // A rename through the form, with the CSRF token; put back through the API.
        let res = s
            .form(
                &format!("/admin/regions/{id}/rename"),
                &[("name", &format!("{tname}页改"))],
            )
            .await;
        let status = res.status();
        let got = match status {
            StatusCode::SEE_OTHER => Some(A),
            other => outcome(other).filter(|e| *e != A),
        };
        out.check(who, tname, PAGES[5], want[5], got, status);
        if status == StatusCode::SEE_OTHER {
            let res = s.patch(&format!("/api/v1/regions/{id}"), &json!({"name": tname})).await;
            assert_eq!(res.status(), StatusCode::OK, "{who} could not rename {tname} back");
        }
    }
}

both_backends! {
    async fn every_role_at_every_region_over_api_and_pages(app: TestApp) {
        let w = world(&app).await;
        let mut api = Findings::default();
        let mut pages = Findings::default();
        let mut serial = 0u32;
        let all = actors();
        assert_eq!(all.len(), 25, "7 roles at the city and at two counties, 4 at the province");
        for (role, place) in all {
            let who = format!("{}.{role}", place.key);
            let s = app.login(&who).await;
            api_row(&w, &s, &who, role, place, &mut serial, &mut api).await;
            page_row(&w, &s, &who, role, place, &mut pages).await;
        }
        api.assert_empty("API matrix");
        pages.assert_empty("page matrix");

        // Nothing was left renamed.
        let root = app.token("jingjiang.sysadmin").await;
        for place in &PLACES {
            let r: Value = root.get(&format!("/api/v1/regions/{}", w.region[place.code])).await.json().await.unwrap();
            assert_eq!(r["name"], place.name);
        }
    }
}

both_backends! {
    async fn a_luoping_clerk_never_sees_or_changes_qinghe(app: TestApp) {
        let w = world(&app).await;
        let qinghe = w.region["990122"];
        let qinghe_hall = w.hall["990122"];
        let clerk = app.login("luoping.clerk").await;

        // Lists hold nothing of 清河县.
        for path in ["/api/v1/regions", "/api/v1/halls", "/api/v1/departments"] {
            let body = clerk.get(path).await.text().await.unwrap();
            assert!(!body.contains("清河县"), "{path} leaks 清河县: {body}");
            assert!(body.contains("罗平县") || path == "/api/v1/departments", "{path}: {body}");
        }
        let depts: Vec<Value> = clerk.get("/api/v1/departments").await.json().await.unwrap();
        assert_eq!(depts.len(), 8);
        assert!(depts.iter().all(|d| d["region_id"] == w.region["990121"]));

        // Each of 清河县's things does not exist for the clerk, to read or to write.
        let qinghe_user = {
            let root = app.token("jingjiang.sysadmin").await;
            let users: Vec<Value> = root.get("/api/v1/users").await.json().await.unwrap();
            users.into_iter().find(|u| u["username"] == "qinghe.clerk").unwrap()["id"].as_i64().unwrap()
        };
        let qinghe_dept = {
            let root = app.token("qinghe.admin").await;
            let d: Vec<Value> = root.get("/api/v1/departments").await.json().await.unwrap();
            d[0]["id"].as_i64().unwrap()
        };
        for path in [
            format!("/api/v1/regions/{qinghe}"),
            format!("/api/v1/halls/{qinghe_hall}"),
            format!("/api/v1/halls/{qinghe_hall}/windows"),
            format!("/api/v1/departments/{qinghe_dept}"),
        ] {
            assert_eq!(clerk.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
        }
        // The structure pages are not a clerk's at all (403 wherever), so they name no region.
        let res = clerk.get(&format!("/admin/regions/{qinghe}")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(!res.text().await.unwrap().contains("清河县"));
        // Staff lists are not a clerk's business anywhere.
        assert_eq!(error_code(clerk.get(&format!("/api/v1/users/{qinghe_user}")).await).await.0, StatusCode::FORBIDDEN);
        let writes = [
            (format!("/api/v1/halls/{qinghe_hall}"), json!({"name": "改名"}), true),
            (format!("/api/v1/departments/{qinghe_dept}"), json!({"name": "改名"}), true),
            (format!("/api/v1/regions/{qinghe}/close"), json!({}), false),
            (format!("/api/v1/halls/{qinghe_hall}/close"), json!({}), false),
            ("/api/v1/halls".to_owned(), json!({"region_id": qinghe, "name": "新大厅"}), false),
            ("/api/v1/windows".to_owned(), json!({"hall_id": qinghe_hall, "number": "99", "name": "窗", "kind": "general"}), false),
        ];
        for (path, body, patch) in writes {
            let res = if patch { clerk.patch(&path, &body).await } else { clerk.post(&path, &body).await };
            assert_eq!(error_code(res).await, (StatusCode::NOT_FOUND, "not_found".into()), "{path}");
        }
        let res = clerk.form(&format!("/admin/halls/{qinghe_hall}/rename"), &[("name", "改名")]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        let root = app.token("qinghe.admin").await;
        let hall: Value = root.get(&format!("/api/v1/halls/{qinghe_hall}")).await.json().await.unwrap();
        assert_eq!(hall["name"], "清河县政务服务中心");
        assert_eq!(hall["closed"], false);
        let windows: Vec<Value> = root.get(&format!("/api/v1/halls/{qinghe_hall}/windows")).await.json().await.unwrap();
        assert_eq!(windows.len(), 10);
    }
}

both_backends! {
    async fn a_jiuan_supervisor_sees_all_its_counties_but_changes_nothing(app: TestApp) {
        let w = world(&app).await;
        let sup = app.login("jiuan.supervisor").await;
        let regions: Vec<Value> = sup.get("/api/v1/regions").await.json().await.unwrap();
        let codes: BTreeSet<&str> = regions.iter().map(|r| r["code"].as_str().unwrap()).collect();
        let mut want: BTreeSet<&str> = COUNTIES.into_iter().collect();
        want.insert("990100");
        assert_eq!(codes, want);

        let halls: Vec<Value> = sup.get("/api/v1/halls").await.json().await.unwrap();
        assert_eq!(halls.len(), 7, "the city's hall and one per county");
        for code in COUNTIES {
            let hall = w.hall[code];
            let windows: Vec<Value> = sup.get(&format!("/api/v1/halls/{hall}/windows")).await.json().await.unwrap();
            assert_eq!(windows.len(), 10, "windows of {code}");
        }
        let depts: Vec<Value> = sup.get("/api/v1/departments").await.json().await.unwrap();
        assert_eq!(depts.len(), 7 * 8);

        let html = sup.get("/admin/regions").await.text().await.unwrap();
        for name in ["久安市", "安城区", "东湖区", "西山区", "罗平县", "清河县", "云岭县"] {
            assert!(html.contains(name), "regions page misses {name}");
        }
        assert!(!html.contains("静江省"), "the province is above the supervisor");

        // Seeing is not changing.
        let luoping = w.region["990121"];
        let res = sup.patch(&format!("/api/v1/regions/{luoping}"), &json!({"name": "改名"})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        let res = sup.post(&format!("/api/v1/halls/{}/close", w.hall["990121"]), &json!({})).await;
        assert_eq!(error_code(res).await, (StatusCode::FORBIDDEN, "forbidden".into()));
        assert_eq!(sup.get("/api/v1/devices").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(sup.get(&format!("/api/v1/regions/{}", w.region["990000"])).await.status(), StatusCode::NOT_FOUND);
    }
}
