//! The model report use cases (推广调研报告), shared by the page, the API and the CLI: check the
//! request (region, period, scope), build the report from the store, render it as printable HTML
//! or as an .xlsx workbook, and import a hall's earlier monthly figures (baselines) from a workbook.
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use jiff::civil::Date;
use onestop_domain::role::Permission;
use onestop_store::audit::AuditEntry;
use onestop_store::model_report::{self as store, BaselineFigure, METRICS, ModelReport, Unit};
use onestop_store::{StoreError, regions};
use onestop_workbook::{Limits, Sheet};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Longest period one report covers (the months are columns of a printed page).
pub const MAX_MONTHS: i32 = 36;
/// Default minimum sample (served visitors plus applications) for a hall to be ranked.
pub const DEFAULT_MIN_SAMPLE: i64 = 30;
/// The sheet a baseline workbook holds.
pub const BASELINE_SHEET: &str = "基线";

/// What a report is asked for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// Region code, e.g. 990000.
    pub region: String,
    /// First day, e.g. 2026-01-01 (whole months are reported).
    pub from: String,
    /// Last day, e.g. 2026-06-30.
    pub to: String,
    /// Minimum sample for a hall to be ranked.
    #[serde(default)]
    pub min_sample: Option<i64>,
}

fn date(field: &str, text: &str) -> Result<Date, FieldError> {
    text.trim().parse::<Date>().map_err(|_| FieldError {
        field: field.into(),
        code: "date_invalid".into(),
        message: format!("日期“{}”无效，应为 2026-03-18 的格式", text.trim()),
    })
}

/// Checks the request and builds the report.
pub async fn report(state: &AppState, p: &Principal, req: &ReportRequest) -> ApiResult<ModelReport> {
    let mut problems = Vec::new();
    let from = date("from", &req.from).map_err(|e| problems.push(e)).ok();
    let to = date("to", &req.to).map_err(|e| problems.push(e)).ok();
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            problems.push(FieldError {
                field: "from".into(),
                code: "period_reversed".into(),
                message: format!("开始日期 {f} 晚于结束日期 {t}"),
            });
        } else if store::months_between(f, t) >= MAX_MONTHS {
            problems.push(FieldError {
                field: "to".into(),
                code: "period_too_long".into(),
                message: format!("统计期间最长 {MAX_MONTHS} 个月"),
            });
        }
    }
    let min_sample = req.min_sample.unwrap_or(DEFAULT_MIN_SAMPLE);
    if min_sample < 0 {
        problems.push(FieldError {
            field: "min_sample".into(),
            code: "min_sample_invalid".into(),
            message: "最小样本量不能为负数".into(),
        });
    }
    let region = match regions::get_by_code(state.store.read(), req.region.trim()).await {
        Ok(r) => Some(r),
        Err(StoreError::NotFound) => {
            problems.push(FieldError {
                field: "region".into(),
                code: "region_unknown".into(),
                message: format!("区划代码“{}”不存在", req.region.trim()),
            });
            None
        }
        Err(e) => return Err(e.into()),
    };
    if let (Some(region), Some(from), Some(to)) = (&region, from, to)
        && problems.is_empty()
    {
        if !p.can(Permission::SupervisionRead, &region.region_path()) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "region_out_of_scope",
                format!("“{}”不在您的管辖范围内", region.name),
            ));
        }
        let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
        return Ok(store::build(&mut conn, region, from, to, min_sample).await?);
    }
    let mut e = ApiError::validation("report_request_invalid", "报告参数有误");
    e.fields = problems;
    Err(e)
}

/// A figure as the report prints it.
pub fn fmt(unit: Unit, v: Option<f64>) -> String {
    match (unit, v) {
        (_, None) => "—".into(),
        (Unit::Share, Some(x)) => format!("{:.1}%", x * 100.0),
        (Unit::Count, Some(x)) => format!("{x:.0}"),
        (Unit::Minutes | Unit::Ratio, Some(x)) => format!("{x:.2}"),
    }
}

/// What the charts draw: per hall, one line per month index of the headline metrics, and the
/// pioneer's line over the same indexes.
pub fn chart_data(r: &ModelReport) -> serde_json::Value {
    let keys = [
        "onsite_satisfaction",
        "on_time_share",
        "one_visit_share",
        "online_share",
    ];
    let idx: Vec<usize> = keys.iter().filter_map(|k| store::metric_index(k)).collect();
    let halls: Vec<serde_json::Value> = r
        .halls
        .iter()
        .filter(|h| !h.months.is_empty())
        .map(|h| {
            let series = |rows: &[store::MonthRow], i: usize| -> Vec<Option<f64>> {
                rows.iter()
                    .map(|m| m.values[i].map(|v| (v * 1000.0).round() / 10.0))
                    .collect()
            };
            json!({
                "name": format!("{} · {}", h.region_name, h.hall_name),
                "labels": h.months.iter().map(|m| format!("第{}月", m.index)).collect::<Vec<_>>(),
                "metrics": idx.iter().map(|i| json!({
                    "label": METRICS[*i].label,
                    "hall": series(&h.months, *i),
                    "pioneer": series(&h.pioneer_months, *i),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let ranking: Vec<serde_json::Value> = r
        .ranking
        .iter()
        .map(|i| {
            let h = &r.halls[*i];
            json!({"name": format!("{} · {}", h.region_name, h.hall_name), "score": h.score.map(|s| (s * 10.0).round() / 10.0)})
        })
        .collect();
    json!({"halls": halls, "ranking": ranking, "pioneer": r.pioneer.as_ref().map(|p| p.region_name.clone())})
}

/// The report as a workbook: the ranking, the months side by side with the pioneer's, before and
/// after, and the practices.
pub fn workbook(r: &ModelReport) -> Result<Vec<u8>, ApiError> {
    let labels: Vec<String> = METRICS.iter().map(|m| m.label.to_owned()).collect();
    let cells = |vals: &[Option<f64>]| -> Vec<String> {
        METRICS
            .iter()
            .zip(vals)
            .map(|(m, v)| {
                v.map(|x| {
                    if m.unit == Unit::Count {
                        format!("{x:.0}")
                    } else {
                        format!("{x:.4}")
                    }
                })
                .unwrap_or_default()
            })
            .collect()
    };
    let mut ranking = vec![
        [
            vec![
                "名次".to_owned(),
                "区划代码".into(),
                "区划".into(),
                "大厅".into(),
                "起始月".into(),
                "起始方式".into(),
                "样本量".into(),
                "综合得分".into(),
                "一件事数".into(),
            ],
            labels.clone(),
        ]
        .concat(),
    ];
    let order: Vec<usize> = r
        .ranking
        .iter()
        .copied()
        .chain((0..r.halls.len()).filter(|i| !r.ranking.contains(i)))
        .collect();
    for i in &order {
        let h = &r.halls[*i];
        ranking.push(
            [
                vec![
                    h.rank.map(|x| x.to_string()).unwrap_or_else(|| "样本不足".into()),
                    h.region_code.clone(),
                    h.region_name.clone(),
                    h.hall_name.clone(),
                    h.start.clone(),
                    start_kind_label(h.start_kind).into(),
                    h.sample.to_string(),
                    h.score.map(|s| format!("{s:.1}")).unwrap_or_default(),
                    h.bundles.to_string(),
                ],
                cells(&h.totals),
            ]
            .concat(),
        );
    }
    let mut months = vec![
        [
            vec!["区划代码".to_owned(), "大厅".into(), "第几月".into(), "月份".into()],
            labels.clone(),
            vec!["示范地区月份".into()],
            METRICS.iter().map(|m| format!("示范地区·{}", m.label)).collect(),
        ]
        .concat(),
    ];
    for h in &r.halls {
        for (k, row) in h.months.iter().enumerate() {
            let p = h.pioneer_months.get(k);
            months.push(
                [
                    vec![
                        h.region_code.clone(),
                        h.hall_name.clone(),
                        row.index.to_string(),
                        row.month.clone(),
                    ],
                    cells(&row.values),
                    vec![p.map(|p| p.month.clone()).unwrap_or_default()],
                    p.map(|p| cells(&p.values))
                        .unwrap_or_else(|| vec![String::new(); METRICS.len()]),
                ]
                .concat(),
            );
        }
    }
    let mut before = vec![vec![
        "区划代码".to_owned(),
        "大厅".into(),
        "指标".into(),
        "推广前(月均)".into(),
        "推广后".into(),
    ]];
    for h in &r.halls {
        for c in &h.before_after {
            let unit = store::metric_index(c.key).map_or(Unit::Ratio, |i| METRICS[i].unit);
            let label = store::metric_index(c.key).map_or(c.key, |i| METRICS[i].label);
            before.push(vec![
                h.region_code.clone(),
                h.hall_name.clone(),
                label.into(),
                fmt(unit, c.before),
                fmt(unit, c.after),
            ]);
        }
    }
    let mut practices = vec![vec!["做法".to_owned(), "排名前三分之一".into(), "其余大厅".into()]];
    for p in &r.practices {
        let unit = store::metric_index(p.key).map_or(Unit::Ratio, |i| METRICS[i].unit);
        practices.push(vec![p.label.into(), fmt(unit, p.top), fmt(unit, p.rest)]);
    }
    practices.push(vec![
        "提供一件事数".into(),
        fmt(Unit::Ratio, r.bundles_top),
        fmt(Unit::Ratio, r.bundles_rest),
    ]);
    let sheets = [
        Sheet {
            name: "排名".into(),
            rows: ranking,
        },
        Sheet {
            name: "逐月对比".into(),
            rows: months,
        },
        Sheet {
            name: "推广前后".into(),
            rows: before,
        },
        Sheet {
            name: "做法".into(),
            rows: practices,
        },
    ];
    onestop_workbook::write_xlsx(&sheets).map_err(crate::catalogue::import::workbook_error)
}

pub fn start_kind_label(kind: &str) -> &'static str {
    if kind == "adopted" { "推广采用" } else { "开厅" }
}

// ---- baselines ---------------------------------------------------------------------------------

/// What an import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    pub figures: usize,
    pub halls: usize,
}

fn problem(row: usize, code: &str, message: String) -> FieldError {
    FieldError {
        field: format!("{BASELINE_SHEET}!{row}"),
        code: code.into(),
        message: format!("第 {row} 行：{message}"),
    }
}

/// A value as a person writes it: `95.3%` is a share, `0.953` too; counts and minutes as numbers.
fn parse_value(unit: Unit, text: &str) -> Option<f64> {
    let t = text.trim().replace(',', "");
    let v = if let Some(pct) = t.strip_suffix('%') {
        pct.trim().parse::<f64>().ok()? / 100.0
    } else {
        let v = t.parse::<f64>().ok()?;
        // A share written as 95.3 (percent without the sign).
        if unit == Unit::Share && v > 1.0 { v / 100.0 } else { v }
    };
    let ok = v.is_finite() && v >= 0.0 && (unit != Unit::Share || v <= 1.0);
    ok.then_some(v)
}

/// Imports the baseline sheet: `区划代码`, `大厅` (blank: the region's first hall), `月份`
/// (2025-09), then one column per indicator, headed by its key or its label. All or nothing: any
/// problem refuses the whole workbook with the list of problems.
pub async fn import_baseline(state: &AppState, p: &Principal, bytes: &[u8]) -> ApiResult<ImportOutcome> {
    let sheets = onestop_workbook::read_xlsx(bytes, &[(BASELINE_SHEET, true)], &Limits::default())
        .map_err(crate::catalogue::import::workbook_error)?;
    let rows = &sheets[0].rows;
    let Some(header) = rows.first() else {
        return Err(ApiError::validation("baseline_empty", "基线工作表为空"));
    };
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim()));
    let (Some(c_region), Some(c_month)) = (col(&["区划代码", "region"]), col(&["月份", "month"])) else {
        return Err(ApiError::validation(
            "baseline_header_invalid",
            "基线工作表第 1 行须包含“区划代码”和“月份”两列",
        ));
    };
    let c_hall = col(&["大厅", "hall"]);
    let metric_cols: Vec<(usize, usize)> = header
        .iter()
        .enumerate()
        .filter_map(|(c, h)| {
            let h = h.trim();
            METRICS.iter().position(|m| m.key == h || m.label == h).map(|i| (c, i))
        })
        .collect();
    if metric_cols.is_empty() {
        return Err(ApiError::validation(
            "baseline_header_invalid",
            "基线工作表没有可识别的指标列（如“现场服务满意率”“按时办结率”）",
        ));
    }
    let mut problems = Vec::new();
    let mut figures = Vec::new();
    let mut halls = std::collections::HashSet::new();
    let read = state.store.read();
    for (n, row) in rows.iter().enumerate().skip(1) {
        let line = n + 1;
        let cell = |c: usize| row.get(c).map(|s| s.trim()).unwrap_or("");
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let code = cell(c_region);
        let region = match regions::get_by_code(read, code).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => {
                problems.push(problem(line, "region_unknown", format!("区划代码“{code}”不存在")));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if !p.can(Permission::SettingsWrite, &region.region_path()) {
            problems.push(problem(
                line,
                "region_out_of_scope",
                format!("“{}”不在您的管辖范围内", region.name),
            ));
            continue;
        }
        let hall_name = c_hall.map(cell).unwrap_or("");
        let found = onestop_store::org::halls_in(read, &region.path)
            .await?
            .into_iter()
            .find(|h| h.region_id == region.id && (hall_name.is_empty() || h.name == hall_name));
        let Some(hall) = found else {
            problems.push(problem(
                line,
                "hall_unknown",
                format!("“{}”没有名为“{hall_name}”的大厅", region.name),
            ));
            continue;
        };
        let Some(month) = store::parse_month(cell(c_month)) else {
            problems.push(problem(
                line,
                "month_invalid",
                format!("月份“{}”无效，应为 2025-09 的格式", cell(c_month)),
            ));
            continue;
        };
        for (c, i) in &metric_cols {
            let text = cell(*c);
            if text.is_empty() {
                continue;
            }
            match parse_value(METRICS[*i].unit, text) {
                Some(value) => figures.push(BaselineFigure {
                    hall_id: hall.id,
                    month,
                    metric: METRICS[*i].key,
                    value,
                }),
                None => problems.push(problem(
                    line,
                    "value_invalid",
                    format!("“{}”的值“{text}”无效", METRICS[*i].label),
                )),
            }
        }
        halls.insert((hall.id, hall.region_id));
    }
    if !problems.is_empty() {
        let mut e = ApiError::validation("baseline_invalid", "基线工作簿有误，未导入任何数据");
        e.fields = problems;
        return Err(e);
    }
    if figures.is_empty() {
        return Err(ApiError::validation("baseline_empty", "基线工作表没有数据行"));
    }
    let now = state.clock.now();
    let actor = p.actor();
    let outcome = ImportOutcome {
        figures: figures.len(),
        halls: halls.len(),
    };
    let audited: Vec<(i64, i64)> = halls.into_iter().collect();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                store::import_baselines(tx, &figures, now, &actor).await?;
                for (hall, region) in audited {
                    tx.audit(AuditEntry {
                        region_id: region,
                        at: now,
                        actor: actor.clone(),
                        action: "report.baseline_import",
                        entity: "hall",
                        entity_id: hall.to_string(),
                        detail: json!({"figures": figures.iter().filter(|f| f.hall_id == hall).count()}),
                    })
                    .await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(outcome)
}

// ---- the printable view ------------------------------------------------------------------------

/// One hall's section as printed.
#[derive(Debug, Clone)]
pub struct HallView {
    pub id: i64,
    pub title: String,
    pub start_line: String,
    /// (row class, label, cells): the hall's month, then the pioneer's month of the same index,
    /// then the baseline months.
    pub rows: Vec<(&'static str, String, Vec<String>)>,
    pub before_after: Vec<(String, String, String)>,
}

/// The report ready for the templates (the page and the standalone file share it).
#[derive(Debug, Clone)]
pub struct ReportView {
    pub region: String,
    pub from: String,
    pub to: String,
    pub min_sample: i64,
    pub pioneer: Option<String>,
    pub metric_labels: Vec<&'static str>,
    pub ranking_head: Vec<String>,
    pub ranking_rows: Vec<Vec<String>>,
    pub practices: Vec<(String, String, String)>,
    pub halls: Vec<HallView>,
    pub chart_json: String,
}

pub fn view(r: &ModelReport) -> ReportView {
    let cells =
        |vals: &[Option<f64>]| -> Vec<String> { METRICS.iter().zip(vals).map(|(m, v)| fmt(m.unit, *v)).collect() };
    let headline = [
        "onsite_satisfaction",
        "on_time_share",
        "one_visit_share",
        "online_share",
        "instant_share",
    ];
    let head_idx: Vec<usize> = headline.iter().filter_map(|k| store::metric_index(k)).collect();
    let mut ranking_head: Vec<String> = ["名次", "区划", "大厅", "起始", "样本量", "综合得分", "一件事数"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    ranking_head.extend(head_idx.iter().map(|i| METRICS[*i].label.to_owned()));
    let order: Vec<usize> = r
        .ranking
        .iter()
        .copied()
        .chain((0..r.halls.len()).filter(|i| !r.ranking.contains(i)))
        .collect();
    let ranking_rows = order
        .iter()
        .map(|i| {
            let h = &r.halls[*i];
            let mut row = vec![
                h.rank.map(|x| x.to_string()).unwrap_or_else(|| "样本不足".into()),
                format!("{}（{}）", h.region_name, h.region_code),
                h.hall_name.clone(),
                format!("{} {}", h.start, start_kind_label(h.start_kind)),
                h.sample.to_string(),
                h.score.map(|s| format!("{s:.1}")).unwrap_or_else(|| "—".into()),
                h.bundles.to_string(),
            ];
            row.extend(head_idx.iter().map(|k| fmt(METRICS[*k].unit, h.totals[*k])));
            row
        })
        .collect();
    let mut practices: Vec<(String, String, String)> = r
        .practices
        .iter()
        .map(|p| {
            let unit = store::metric_index(p.key).map_or(Unit::Ratio, |i| METRICS[i].unit);
            (p.label.to_owned(), fmt(unit, p.top), fmt(unit, p.rest))
        })
        .collect();
    practices.push((
        "提供一件事数".into(),
        fmt(Unit::Ratio, r.bundles_top),
        fmt(Unit::Ratio, r.bundles_rest),
    ));
    let pioneer_name = r.pioneer.as_ref().map(|p| p.region_name.clone()).unwrap_or_default();
    let halls = r
        .halls
        .iter()
        .map(|h| {
            let mut rows = Vec::new();
            for (k, m) in h.months.iter().enumerate() {
                rows.push(("hall", format!("第{}月 · {}", m.index, m.month), cells(&m.values)));
                if let Some(p) = h.pioneer_months.get(k) {
                    rows.push(("pioneer", format!("{pioneer_name} · {}", p.month), cells(&p.values)));
                }
            }
            for b in &h.baseline {
                rows.push(("baseline", format!("推广前 · {}", b.month), cells(&b.values)));
            }
            let before_after = h
                .before_after
                .iter()
                .filter_map(|c| {
                    let i = store::metric_index(c.key)?;
                    Some((
                        METRICS[i].label.to_owned(),
                        fmt(METRICS[i].unit, c.before),
                        fmt(METRICS[i].unit, c.after),
                    ))
                })
                .collect();
            HallView {
                id: h.hall_id,
                title: format!(
                    "{}{} · {}（{}）",
                    h.rank.map(|x| format!("第{x}名 · ")).unwrap_or_default(),
                    h.hall_name,
                    h.region_name,
                    h.region_code
                ),
                start_line: format!(
                    "{}：{}{}",
                    start_kind_label(h.start_kind),
                    h.start,
                    if h.is_pioneer { "（示范地区）" } else { "" }
                ),
                rows,
                before_after,
            }
        })
        .collect();
    ReportView {
        region: format!("{}（{}）", r.region_name, r.region_code),
        from: r.from.clone(),
        to: r.to.clone(),
        min_sample: r.min_sample,
        pioneer: r
            .pioneer
            .as_ref()
            .map(|p| format!("{}（{}），{} 起", p.region_name, p.region_code, p.start)),
        metric_labels: METRICS.iter().map(|m| m.label).collect(),
        ranking_head,
        ranking_rows,
        practices,
        halls,
        // JSON inside a <script> block: `<` is escaped so that no text can end the block.
        chart_json: chart_data(r).to_string().replace('<', "\\u003c"),
    }
}

#[derive(askama::Template)]
#[template(path = "report/file.html")]
struct FilePage<'a> {
    t: &'static crate::i18n::Messages,
    v: &'a ReportView,
    css: String,
    echarts: String,
}

/// The report as one standalone HTML file (styles and charts inline, so that it opens and prints
/// anywhere without the server).
pub fn standalone_html(r: &ModelReport) -> ApiResult<String> {
    use askama::Template;
    let v = view(r);
    let asset = |p: &str| {
        crate::embedded_asset(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    FilePage {
        t: crate::i18n::messages(None),
        v: &v,
        css: asset("css/onestop.css"),
        // A script body must not contain `</script`; the vendored file does not, and this keeps it so.
        echarts: asset("vendor/echarts-5.6.0.min.js").replace("</script", "<\\/script"),
    }
    .render()
    .map_err(|e| {
        tracing::error!(error = %e, "report template failed");
        ApiError::internal()
    })
}
