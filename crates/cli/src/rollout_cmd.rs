//! `onestop rollout`: the dry run as a table per target, or the run with a progress bar on stderr.
use anyhow::{Result, bail};
use onestop_web::AppState;
use onestop_web::auth::{principal_of, system_principal};
use onestop_web::rollout::{self as ro, RolloutRequest};
use std::io::Write;
use std::path::PathBuf;

pub struct Args {
    pub from: Option<String>,
    pub to: Option<String>,
    pub dry_run: bool,
    pub reset_overrides: bool,
    pub staff_csv: Option<PathBuf>,
    pub limit: Option<usize>,
    pub resume: Option<i64>,
    pub as_user: Option<String>,
    pub json: bool,
}

fn api_err(e: onestop_web::error::ApiError) -> anyhow::Error {
    let mut text = format!("{} ({})", e.message, e.code);
    for f in &e.fields {
        text.push_str(&format!("\n  - {} ({})", f.message, f.code));
    }
    anyhow::anyhow!(text)
}

/// A plain progress bar on stderr: `[#####-----] 12/100 罗平县 applied`.
fn bar(done: usize, total: usize, label: &str) {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width).min(width);
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r[{}{}] {done}/{total} {label:<24}",
        "#".repeat(filled),
        "-".repeat(width - filled)
    );
    if done == total {
        let _ = writeln!(err);
    }
    let _ = err.flush();
}

pub async fn run(state: &AppState, args: Args) -> Result<()> {
    let p = match &args.as_user {
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
    };
    let run_id = match args.resume {
        Some(id) => ro::retry_failed(state, &p, id).await.map_err(api_err)?.id,
        None => {
            let staff_csv = match &args.staff_csv {
                Some(f) => {
                    Some(std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?)
                }
                None => None,
            };
            let req = RolloutRequest {
                from: args.from.clone().unwrap_or_default(),
                to: args.to.clone().unwrap_or_default(),
                reset_overrides: args.reset_overrides,
                staff_csv,
                limit: args.limit,
            };
            if args.dry_run {
                let preview = ro::preview(state, &p, &req).await.map_err(api_err)?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&preview)?);
                } else {
                    print_preview(&preview);
                }
                if preview.refused > 0 {
                    bail!("{} target(s) would be refused", preview.refused);
                }
                return Ok(());
            }
            ro::start(state, &p, &req).await.map_err(api_err)?.id
        }
    };
    let limit = if args.resume.is_some() { None } else { args.limit };
    let run = ro::drive(state, &p, run_id, limit, |done, total, t| {
        bar(done, total, &format!("{} {}", t.region.name, t.state));
    })
    .await
    .map_err(api_err)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        println!(
            "推广 #{}：来源 {}（{}），{} 个目标",
            run.id,
            run.source.name,
            run.source.code,
            run.targets.len()
        );
        for t in &run.targets {
            let changes = t.summary.get("changes").and_then(|c| c.as_u64()).unwrap_or(0);
            println!(
                "  {:<8} {:<12} {:<8} 变更 {changes}",
                t.region.code, t.region.name, t.state
            );
            if let Some(ps) = t.summary.get("problems").and_then(|p| p.as_array()) {
                for p in ps {
                    println!("      - {}", p.get("message").and_then(|m| m.as_str()).unwrap_or(""));
                }
            }
        }
        let pending = run.pending().len();
        if pending > 0 {
            println!("尚有 {pending} 个目标未执行：onestop rollout --resume {}", run.id);
        }
    }
    let bad = run
        .targets
        .iter()
        .filter(|t| t.state == "refused" || t.state == "failed")
        .count();
    if bad > 0 {
        bail!("{bad} target(s) refused or failed");
    }
    Ok(())
}

fn print_preview(p: &ro::Preview) {
    println!(
        "推广预览（不写入）：来源 {}（{}），模式含 {} 项事项，模板{}",
        p.source.name,
        p.source.code,
        p.model_services,
        if p.template_stored {
            "已保存"
        } else {
            "取自来源大厅"
        }
    );
    for t in &p.targets {
        let c = &t.create;
        println!(
            "  {} {}：开通 {} 项，继承 {} 项；新建 大厅 {}、部门 {}、窗口 {}、队列 {}、窗口队列 {}、预约时段 {}、设备 {}、人员 {}；本地设置 {}；变更 {}",
            t.region.code,
            t.region.name,
            t.services_switch_on.len(),
            t.services_inherited,
            usize::from(c.hall.is_some()),
            c.departments.len(),
            c.windows.len(),
            c.categories.len(),
            c.mappings,
            c.slots,
            c.devices.len(),
            c.staff.len(),
            t.overrides.len(),
            t.changes
        );
        for o in &t.overrides {
            println!(
                "      本地设置 {} {} {}：本地 {} / 模式 {}",
                o.kind, o.subject, o.field, o.local, o.model
            );
        }
        for pr in &t.problems {
            println!("      拒绝：{}（{}）", pr.message, pr.code);
        }
    }
}
