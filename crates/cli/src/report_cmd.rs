//! `onestop report`: the model report (推广调研报告) as text, a standalone HTML file or an .xlsx
//! workbook, and the import of a hall's earlier monthly figures (the baseline workbook).
use anyhow::{Result, bail};
use clap::Subcommand;
use onestop_store::model_report::METRICS;
use onestop_web::AppState;
use onestop_web::auth::{Principal, principal_of, system_principal};
use onestop_web::model_report::{self as mr, ReportRequest};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// The model report of a region's halls: indicators month by month since each hall opened or
    /// adopted the model, against the pioneering region's same months since its own start, before
    /// and after (imported baselines), the ranking and the practices of the best.
    Model {
        /// Region code, e.g. 990000 (the province: every hall below it).
        #[arg(long)]
        region: String,
        /// First day, e.g. 2026-01-01 (whole months are reported).
        #[arg(long)]
        from: String,
        /// Last day, e.g. 2026-06-30.
        #[arg(long)]
        to: String,
        /// Write the report to FILE.html (printable, charts inline) or FILE.xlsx; without it a
        /// summary is printed.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Minimum sample (served visitors plus applications) for a hall to be ranked.
        #[arg(long)]
        min_sample: Option<i64>,
        /// Act as this account (its grants decide the regions in scope) instead of the system.
        #[arg(long = "as")]
        as_user: Option<String>,
    },
    /// Import earlier monthly figures of halls from a workbook (sheet 基线: 区划代码, 大厅, 月份,
    /// then one column per indicator). All or nothing: any problem refuses the whole file.
    ImportBaseline {
        file: PathBuf,
        #[arg(long = "as")]
        as_user: Option<String>,
    },
}

fn api_err(e: onestop_web::error::ApiError) -> anyhow::Error {
    let mut text = format!("{} ({})", e.message, e.code);
    for f in &e.fields {
        text.push_str(&format!("\n  - {} ({})", f.message, f.code));
    }
    anyhow::anyhow!(text)
}

async fn principal(state: &AppState, as_user: Option<&str>) -> Result<Principal> {
    Ok(match as_user {
        Some(name) => {
            let name = onestop_domain::names::Username::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
            let Some((user, _)) = onestop_store::users::by_username(state.store.read(), name.as_str()).await? else {
                bail!("no such user: {name}");
            };
            principal_of(state, user).await.map_err(api_err)?
        }
        None => system_principal(&format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "root".into())
        )),
    })
}

pub async fn run(state: &AppState, cmd: ReportCommand) -> Result<()> {
    match cmd {
        ReportCommand::Model {
            region,
            from,
            to,
            out,
            min_sample,
            as_user,
        } => {
            // The output kind is checked before any work, so a typo costs nothing.
            let kind = match &out {
                None => None,
                Some(f) => match f
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                {
                    Some("html" | "htm") => Some("html"),
                    Some("xlsx") => Some("xlsx"),
                    _ => bail!("--out must name a .html or .xlsx file: {}", f.display()),
                },
            };
            let p = principal(state, as_user.as_deref()).await?;
            let req = ReportRequest {
                region,
                from,
                to,
                min_sample,
            };
            let r = mr::report(state, &p, &req).await.map_err(api_err)?;
            match (kind, out) {
                (Some(kind), Some(file)) => {
                    let bytes = if kind == "html" {
                        mr::standalone_html(&r).map_err(api_err)?.into_bytes()
                    } else {
                        mr::workbook(&r).map_err(api_err)?
                    };
                    std::fs::write(&file, bytes)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
                    println!("已写入 {}（{} 个大厅）", file.display(), r.halls.len());
                }
                _ => print_summary(&r),
            }
            Ok(())
        }
        ReportCommand::ImportBaseline { file, as_user } => {
            let bytes = std::fs::read(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let p = principal(state, as_user.as_deref()).await?;
            let o = mr::import_baseline(state, &p, &bytes).await.map_err(api_err)?;
            println!("已导入 {} 个大厅的 {} 条指标数据", o.halls, o.figures);
            Ok(())
        }
    }
}

fn print_summary(r: &onestop_store::model_report::ModelReport) {
    let v = mr::view(r);
    println!("推广模式调研报告 · {}：{} — {}", v.region, v.from, v.to);
    match &v.pioneer {
        Some(p) => println!("示范地区：{p}"),
        None => println!("尚无推广记录，无示范地区可对照"),
    }
    println!("{}", v.ranking_head.join("\t"));
    for row in &v.ranking_rows {
        println!("{}", row.join("\t"));
    }
    println!();
    let labels: Vec<&str> = METRICS.iter().map(|m| m.label).collect();
    for h in &v.halls {
        println!("{} · {}", h.title, h.start_line);
        println!("  月次\t{}", labels.join("\t"));
        for (_, label, cells) in &h.rows {
            println!("  {label}\t{}", cells.join("\t"));
        }
        for (label, before, after) in &h.before_after {
            println!("  推广前后 {label}：{before} → {after}");
        }
    }
    println!("领先大厅的做法（前三分之一 / 其余）：");
    for (label, top, rest) in &v.practices {
        println!("  {label}：{top} / {rest}");
    }
}
