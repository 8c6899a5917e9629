//! Pages of the scorecards (月度排名, with the figures behind each rank and the 约谈 flags), the
//! public satisfaction page (no login, no personal data) and the big screen (大屏) for a wall.
use super::{Chrome, PageAuth, PageResult, page_err, render};
use crate::api::scorecards::{PublicHallView, public_hall_view};
use crate::extract::ApiQuery;
use crate::scorecards::{self as ops, PublicHall, ScorecardQuery, Scorecards};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use onestop_domain::role::Permission;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/supervision/scorecards", get(scorecards_page))
        .route("/supervision/bigscreen", get(bigscreen_page))
        .route("/public/satisfaction", get(public_list))
        .route("/public/satisfaction/{id}", get(public_hall))
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "—".into())
}

struct TableView {
    kind: String,
    label: String,
    rows: Vec<RowView>,
}

struct RowView {
    cells: Vec<String>,
    bottom: bool,
    talk: bool,
    /// (indicator, weight, value)
    indicators: Vec<(String, u32, String)>,
}

#[derive(Template)]
#[template(path = "scorecards/scorecards.html")]
struct ScorecardsPage {
    c: Chrome,
    s: Scorecards,
    regions: Vec<(i64, String)>,
    query: String,
    frozen_at: String,
    bottom_rule: String,
    header: Vec<String>,
    tables: Vec<TableView>,
    /// (kind label, name) of every subject flagged for a talk.
    talks: Vec<(String, String)>,
}

async fn scorecards_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiQuery(q): ApiQuery<ScorecardQuery>,
) -> PageResult {
    let err = page_err(&p);
    let s = ops::scorecards(&state, &p, &q).await.map_err(&err)?;
    // The region picker: every region with halls the caller may supervise.
    let mut regions = Vec::new();
    for (id, path) in onestop_store::scorecards::regions_with_halls(state.store.read())
        .await
        .map_err(|e| err(e.into()))?
    {
        if p.can(
            Permission::SupervisionRead,
            &onestop_domain::region::RegionPath::from_stored(path),
        ) && let Ok(r) = onestop_store::regions::get(state.store.read(), id).await
        {
            regions.push((id, format!("{} {}", r.code, r.name)));
        }
    }
    let mut talks = Vec::new();
    let tables = s
        .tables
        .iter()
        .map(|t| TableView {
            kind: t.kind.clone(),
            label: t.label.clone(),
            rows: t
                .rows
                .iter()
                .map(|r| {
                    if r.talk {
                        talks.push((t.label.clone(), r.name.clone()));
                    }
                    RowView {
                        cells: ops::cells(r),
                        bottom: r.bottom,
                        talk: r.talk,
                        indicators: r
                            .card
                            .indicators
                            .iter()
                            .map(|i| {
                                (
                                    i.label.clone(),
                                    i.weight,
                                    i.value.map(|v| pct(Some(v))).unwrap_or_else(|| "不适用".into()),
                                )
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    let frozen_at = s
        .frozen
        .as_ref()
        .map(|f| {
            onestop_store::ts(f.frozen_at)
                .to_zoned(onestop_store::ratings::zone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    let bottom_rule = if s.rule.bottom == "share" {
        format!("末尾 {}%", s.rule.bottom_percent)
    } else {
        "末位".into()
    };
    let c = Chrome::for_principal(&p, "/supervision/scorecards");
    Ok(render(
        StatusCode::OK,
        &ScorecardsPage {
            query: format!("region={}&month={}", s.region_id, s.month),
            c,
            regions,
            frozen_at,
            bottom_rule,
            header: ops::header(),
            tables,
            talks,
            s,
        },
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BigScreenQuery {
    #[serde(default)]
    region: Option<i64>,
}

#[derive(Template)]
#[template(path = "scorecards/bigscreen.html")]
struct BigScreenPage {
    c: Chrome,
    region_id: i64,
    region_name: String,
    names_json: String,
    refresh_ms: u64,
}

/// How often the wall display fetches its figures.
const BIGSCREEN_REFRESH_MS: u64 = 10_000;

async fn bigscreen_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiQuery(q): ApiQuery<BigScreenQuery>,
) -> PageResult {
    let err = page_err(&p);
    let region = ops::region_for(&state, &p, q.region).await.map_err(&err)?;
    let c = Chrome::for_principal(&p, "/supervision/bigscreen");
    let names = serde_json::json!({
        "visitors": c.t.get("public.visitors"),
        "satisfaction": c.t.get("big.satisfaction"),
    });
    Ok(render(
        StatusCode::OK,
        &BigScreenPage {
            c,
            region_id: region.id,
            region_name: region.name,
            names_json: names.to_string().replace('<', "\\u003c"),
            refresh_ms: BIGSCREEN_REFRESH_MS,
        },
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonthQuery {
    #[serde(default)]
    month: Option<String>,
}

#[derive(Template)]
#[template(path = "scorecards/public_list.html")]
struct PublicListPage {
    c: Chrome,
    month: String,
    /// (hall, ticket satisfaction, case satisfaction)
    halls: Vec<(PublicHall, String, String)>,
}

fn public_error(e: crate::error::ApiError) -> Response {
    super::PageError::from(e).into_response()
}

async fn public_list(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Response {
    if let Err(e) = ops::limit_public(&state, &parts).await {
        return public_error(e);
    }
    match ops::public_halls(&state, q.month.as_deref()).await {
        Ok((month, halls)) => render(
            StatusCode::OK,
            &PublicListPage {
                c: Chrome::anonymous(String::new()),
                month: month.to_string(),
                halls: halls
                    .into_iter()
                    .map(|h| {
                        let (a, b) = (pct(h.ticket_satisfaction), pct(h.case_satisfaction));
                        (h, a, b)
                    })
                    .collect(),
            },
        ),
        Err(e) => public_error(e),
    }
}

#[derive(Template)]
#[template(path = "scorecards/public_hall.html")]
struct PublicHallPage {
    c: Chrome,
    v: PublicHallView,
    ticket_sat: String,
    case_sat: String,
}

async fn public_hall(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    Path(hall_id): Path<i64>,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Response {
    if let Err(e) = ops::limit_public(&state, &parts).await {
        return public_error(e);
    }
    match public_hall_view(&state, hall_id, q.month.as_deref()).await {
        Ok(v) => render(
            StatusCode::OK,
            &PublicHallPage {
                c: Chrome::anonymous(String::new()),
                ticket_sat: pct(v.hall.ticket_satisfaction),
                case_sat: pct(v.hall.case_satisfaction),
                v,
            },
        ),
        Err(e) => public_error(e),
    }
}
