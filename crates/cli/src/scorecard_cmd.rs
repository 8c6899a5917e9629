//! `onestop scorecard freeze`: freezes a month's scorecards for one region or for every region
//! with halls, with a progress bar on stderr. A month already frozen is left as it was.
use anyhow::{Result, bail};
use onestop_domain::scorecard::Month;
use onestop_web::AppState;
use onestop_web::scorecards as sc;
use std::io::Write;

fn api_err(e: onestop_web::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e.message, e.code)
}

/// `[#####-----] 12/100 罗平县` on stderr, redrawn in place.
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
    let _ = err.flush();
}

pub async fn freeze(state: &AppState, month: &str, region: Option<&str>) -> Result<()> {
    let month = Month::parse(month).map_err(|e| anyhow::anyhow!("{e}"))?;
    sc::check_month_over(state, month).map_err(api_err)?;
    let regions = match region {
        Some(code) => match onestop_store::regions::get_by_code(state.store.read(), code).await {
            Ok(r) => vec![r],
            Err(onestop_store::StoreError::NotFound) => bail!("no such region: {code}"),
            Err(e) => return Err(e.into()),
        },
        None => {
            let mut v = Vec::new();
            for (id, _) in onestop_store::scorecards::regions_with_halls(state.store.read()).await? {
                v.push(onestop_store::regions::get(state.store.read(), id).await?);
            }
            v
        }
    };
    let by = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "root".into()));
    let (mut frozen, mut kept) = (0, 0);
    for r in &regions {
        let label = format!("{} {}", r.code, r.name);
        let out = sc::freeze(state, r, month, &by, &mut |d, t| bar(d, t, &label))
            .await
            .map_err(api_err)?;
        eprintln!();
        if out.frozen {
            frozen += 1;
            println!("{} {}: frozen, {} subjects", r.code, month, out.subjects);
        } else {
            kept += 1;
            println!(
                "{} {}: already frozen ({} subjects), left as it was",
                r.code, month, out.subjects
            );
        }
    }
    println!("{month}: {frozen} region(s) frozen now, {kept} already frozen");
    Ok(())
}
