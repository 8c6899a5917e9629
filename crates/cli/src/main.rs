//! The `onestop` binary: configuration, subcommands, start-up and graceful shutdown.
mod app;
mod backup;
mod config;
mod rollout_cmd;
// score
mod scorecard_cmd;
// report
mod report_cmd;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use onestop_domain::clock::{Clock, OffsetClock, SystemClock};
use onestop_web::auth::system_principal;
use onestop_web::demo;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "onestop", version, about = "一站式政务服务平台 OneStop")]
struct Cli {
    /// TOML configuration file (also ONESTOP_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database URL (overrides database.url).
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a configured deployment.
    Serve {
        /// Address to listen on (overrides server.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Seed (once) and serve the demo world on its own clock.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Do not run the traffic simulator.
        #[arg(long)]
        no_simulate: bool,
        /// `morning` (the most recent working day at 09:30), `now`, or a time like 2026-03-18T09:30.
        #[arg(long, default_value = "morning")]
        clock: String,
    },
    /// Bring the database to the current schema.
    Migrate,
    /// Manage staff accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Show the effective configuration (secrets masked).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Back up the database (online: the server may keep running), the audit checkpoints and
    /// the uploaded files into a new directory, with a manifest of checksums.
    Backup {
        /// Directory to create (must not exist, or be empty).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup made by `onestop backup` into the configured database (stop the servers
    /// first). Verifies checksums before, and row counts and the audit trail after.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        /// Replace a database that is not empty (and copy over a non-empty storage.dir).
        #[arg(long)]
        force: bool,
    },
    /// The working-day calendar: load a year's statutory arrangement, list what is loaded.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Roll a region's model out (推广): switch on its services in the targets (their values stay
    /// inherited live) and create from its template the windows, queue categories, appointment
    /// slots, devices and staff accounts each target's hall needs. Each target is one transaction;
    /// a second run changes nothing. Exit status 1 if any target was refused or failed.
    Rollout {
        /// Source region code, e.g. 990100.
        #[arg(long, required_unless_present = "resume")]
        from: Option<String>,
        /// `children`, or region codes separated by commas.
        #[arg(long, required_unless_present = "resume")]
        to: Option<String>,
        /// Show what would be done, per target, and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Remove the targets' own overrides of the model (services switched off, overridden
        /// values, own workflows, own settings) so that they inherit again.
        #[arg(long)]
        reset_overrides: bool,
        /// Staff accounts to create: a CSV file `region,username,display_name,role,department`.
        #[arg(long)]
        staff_csv: Option<PathBuf>,
        /// Apply at most N targets now; the run stays resumable (`--resume RUN`).
        #[arg(long)]
        limit: Option<usize>,
        /// Resume run RUN (pending and failed targets; applied ones are skipped).
        #[arg(long, conflicts_with_all = ["from", "to", "dry_run"])]
        resume: Option<i64>,
        /// Act as this account (its grants decide which targets are in scope) instead of the system.
        #[arg(long = "as")]
        as_user: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    // report
    /// Reports for the study group: `report model` (推广调研报告) and `report import-baseline`.
    #[command(subcommand)]
    Report(report_cmd::ReportCommand),
    /// Verify an e-certificate file. Exit status 0: valid; 1: invalid (the reason is printed);
    /// 2: it could not be checked (unreadable file, no database).
    Verify {
        /// The certificate file (JSON), as downloaded or saved from the verification page.
        file: PathBuf,
        /// Published keys files (`GET /api/v1/regions/{code}/keys`) to verify offline against;
        /// without this, the keys published in the configured database are used.
        #[arg(long)]
        keys: Vec<PathBuf>,
    },
    // score
    /// Monthly scorecards (月度排名).
    #[command(subcommand)]
    Scorecard(ScorecardCommand),
}

// score
#[derive(Subcommand)]
enum ScorecardCommand {
    /// Freeze a month (it must have ended) into its snapshot, for one region or every region
    /// with halls. Idempotent: a frozen month is left as it was.
    Freeze {
        /// YYYY-MM, e.g. 2026-11.
        #[arg(long)]
        month: String,
        /// Region code, e.g. 990121; default: every region with halls.
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a staff account with one role on a region.
    Add {
        #[arg(long)]
        username: String,
        /// Display name, e.g. 张三.
        #[arg(long)]
        name: String,
        /// window_clerk, reviewer, hall_manager, region_admin, supervisor, auditor, system_admin
        #[arg(long)]
        role: String,
        /// Region code the role is granted on, e.g. 990121.
        #[arg(long)]
        region: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List staff accounts.
    List {
        /// Only users with a grant in this region's subtree.
        #[arg(long)]
        region: Option<String>,
    },
    /// Disable an account; its sessions end at once.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Set a new password (generated unless --password-stdin); sessions end.
    ResetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Load a year file (the format of crates/domain/data/calendar/cn-2026.toml) for the whole
    /// country, or with --region as that region's own variant (local holidays). A year already
    /// loaded at that level is replaced; a file that does not parse or contradicts itself is
    /// refused with the line at fault, and nothing changes.
    Import {
        file: PathBuf,
        /// Region code, e.g. 990121: load the year for this region and everything below it only.
        #[arg(long)]
        region: Option<String>,
    },
    /// List the years of the calendar (national, or in force at --region) and the closures.
    List {
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify every chain against the latest checkpoint; names the first broken entry.
    Verify {
        /// Checkpoint file (defaults to audit.checkpoint_file).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
    /// Write a signed checkpoint now.
    Checkpoint,
}

#[derive(Subcommand)]
enum ConfigCommand {
    Show,
}

fn cli_actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "root".into()))
}

fn init_logging(cfg: &config::Config) {
    let filter = std::env::var("ONESTOP_LOG").unwrap_or_else(|_| cfg.log.level.clone());
    let filter =
        tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(Cli::parse())) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut flags: Vec<(&str, Value)> = Vec::new();
    if let Some(db) = &cli.database {
        flags.push(("database.url", Value::String(db.clone())));
    }
    match &cli.command {
        Command::Serve { listen: Some(l) } => flags.push(("server.listen", Value::String(l.clone()))),
        Command::Demo { listen, .. } => flags.push(("server.listen", Value::String(listen.clone()))),
        _ => {}
    }
    let is_demo = matches!(cli.command, Command::Demo { .. });
    if let Command::Verify { file, keys } = &cli.command
        && !keys.is_empty()
    {
        // Offline: no configuration or database needed.
        std::process::exit(verify_offline(file, keys));
    }
    if is_demo && cli.database.is_none() && std::env::var("ONESTOP_DATABASE__URL").is_err() {
        flags.push(("database.url", Value::String("sqlite://onestop-demo.db".into())));
    }
    let config_file = cli.config.clone().or_else(config::config_path_from_env);
    let mut loaded = config::load(config_file.as_deref(), &env, &flags)?;
    if is_demo && loaded.config.audit.hmac_key.is_empty() {
        let key_file = demo::demo_key_file(loaded.config.database.url.expose());
        let key = demo::ensure_demo_key(&key_file)?;
        let mut again = flags.clone();
        again.push(("audit.hmac_key", Value::String(key)));
        if loaded.config.audit.checkpoint_file.is_empty() {
            again.push((
                "audit.checkpoint_file",
                Value::String(format!("{}.checkpoints", key_file.display())),
            ));
        }
        loaded = config::load(config_file.as_deref(), &env, &again)?;
    }
    if is_demo {
        // The demo keeps its data key, uploaded files and dev-sink visibility beside its database.
        let url = loaded.config.database.url.expose().to_owned();
        let mut again = flags.clone();
        if loaded.config.crypto.data_key.is_empty() {
            let key = demo::ensure_demo_data_key(&demo::demo_side_path(&url, "data-key"))?;
            again.push(("crypto.data_key", Value::String(key)));
        }
        if loaded.config.storage.dir == config::StorageConfig::default().dir {
            let dir = demo::demo_side_path(&url, "blobs");
            again.push(("storage.dir", Value::String(dir.display().to_string())));
        }
        again.push(("notify.dev_outbox_public", Value::Bool(true)));
        // Keep what the audit-key step added.
        again.push((
            "audit.hmac_key",
            Value::String(loaded.config.audit.hmac_key.expose().to_owned()),
        ));
        again.push((
            "audit.checkpoint_file",
            Value::String(loaded.config.audit.checkpoint_file.clone()),
        ));
        loaded = config::load(config_file.as_deref(), &env, &again)?;
    }
    let cfg = loaded.config;
    init_logging(&cfg);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }

    match cli.command {
        Command::Serve { .. } => {
            let store = app::open_store(&cfg, cfg.database.migrate_on_start).await?;
            app::serve(&cfg, store, Arc::new(SystemClock), |addr| {
                println!("OneStop listening on http://{addr}");
            })
            .await
        }
        Command::Demo { no_simulate, clock, .. } => {
            let started = std::time::Instant::now();
            let clock: Arc<dyn Clock> = match clock.as_str() {
                "now" => Arc::new(SystemClock),
                "morning" => Arc::new(OffsetClock::starting_at(demo::demo_morning(SystemClock.now()))),
                other => {
                    let dt: jiff::civil::DateTime = other.parse().with_context(|| format!("--clock {other:?}"))?;
                    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
                    Arc::new(OffsetClock::starting_at(dt.to_zoned(tz)?.timestamp()))
                }
            };
            let store = app::open_store(&cfg, true).await?;
            let state = onestop_web::AppState::new(store.clone(), clock.clone(), app::web_settings(&cfg)?);
            let seeded = demo::seed(&state, |step| eprintln!("  seeding {step}")).await?;
            // caseui: demo cases seal personal data, so they are made with the data key.
            if seeded {
                eprintln!("  seeding 罗平县：示例办件");
                let with_keys = state.clone().with_infra(app::infra(&cfg)?);
                demo::seed_cases(&with_keys).await?;
                demo::seed_ratings(&with_keys).await?; // ratecase
            }
            // The simulator runs until serve returns (the sender drops); its lease lets another
            // demo process on the same database take over if this one dies.
            let (_sim_stop, sim_stop) = tokio::sync::watch::channel(false);
            if !no_simulate {
                onestop_web::queue::sim::spawn(state.clone(), std::time::Duration::from_secs(2), sim_stop);
            }
            let db = onestop_store::redact_url(cfg.database.url.expose());
            app::serve(&cfg, store, clock, move |addr| {
                let url = format!("http://{addr}");
                println!("{}", demo::logins(&url));
                println!(
                    "Database: {db} ({})",
                    if seeded {
                        "seeded now"
                    } else {
                        "existing demo world reused"
                    }
                );
                println!("Ready in {} ms", started.elapsed().as_millis());
                println!("OneStop listening on {url}");
            })
            .await
        }
        Command::Migrate => {
            // An older schema is exactly what migrate is for; a newer one is refused by `migrate`.
            let key = app::audit_key(&cfg)?;
            let mut opts = onestop_store::StoreOptions::new(cfg.database.url.expose());
            opts.max_connections = 2;
            let store = onestop_store::Store::open(&opts, key).await.with_context(|| {
                format!(
                    "cannot open database {}",
                    onestop_store::redact_url(cfg.database.url.expose())
                )
            })?;
            let report = store.migrate().await?;
            if report.applied.is_empty() {
                println!("Database is up to date (schema version {}).", report.to);
            } else {
                println!(
                    "Migrated from version {} to {}: {}",
                    report.from,
                    report.to,
                    report.applied.join(", ")
                );
            }
            store.close().await;
            Ok(())
        }
        Command::User(cmd) => user_command(&cfg, cmd).await,
        Command::Audit(cmd) => audit_command(&cfg, cmd).await,
        Command::Calendar(cmd) => calendar_command(&cfg, cmd).await,
        // rollout
        Command::Rollout {
            from,
            to,
            dry_run,
            reset_overrides,
            staff_csv,
            limit,
            resume,
            as_user,
            json,
        } => {
            let args = rollout_cmd::Args {
                from,
                to,
                dry_run,
                reset_overrides,
                staff_csv,
                limit,
                resume,
                as_user,
                json,
            };
            let state = cli_state(&cfg).await?;
            let result = rollout_cmd::run(&state, args).await;
            state.store.close().await;
            result
        }
        // score
        Command::Scorecard(ScorecardCommand::Freeze { month, region }) => {
            let state = cli_state(&cfg).await?;
            let result = scorecard_cmd::freeze(&state, &month, region.as_deref()).await;
            state.store.close().await;
            result
        }
        // report
        Command::Report(cmd) => {
            let state = cli_state(&cfg).await?;
            let result = report_cmd::run(&state, cmd).await;
            state.store.close().await;
            result
        }
        Command::Verify { file, .. } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("cannot read {}: {e}", file.display());
                    std::process::exit(2);
                }
            };
            let state = match cli_state(&cfg).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("cannot open the database to read the published keys: {e:#}");
                    std::process::exit(2);
                }
            };
            let outcome = onestop_web::certs::verify(&state, &text).await.map_err(api_err);
            state.store.close().await;
            match outcome {
                Ok(o) => std::process::exit(report_outcome(&o)),
                Err(e) => {
                    eprintln!("{e:#}");
                    std::process::exit(2);
                }
            }
        }
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config::redacted_toml(&cfg)?);
            Ok(())
        }
        Command::Backup { to } => backup_command(&cfg, &to).await,
        Command::Restore { from, force } => restore_command(&cfg, &from, force).await,
    }
}

/// The configuration keys whose values a backup must not hold and an operator must keep.
fn keys_to_keep(cfg: &config::Config) -> Vec<String> {
    let mut keys = vec!["audit.hmac_key".to_owned()];
    if !cfg.crypto.data_key.is_empty() {
        keys.push("crypto.data_key".to_owned());
    }
    if cfg.crypto.old_data_keys.iter().any(|k| !k.is_empty()) {
        keys.push("crypto.old_data_keys".to_owned());
    }
    keys
}

/// `storage.dir`, when set.
fn storage_dir(cfg: &config::Config) -> Option<PathBuf> {
    (!cfg.storage.dir.trim().is_empty()).then(|| PathBuf::from(&cfg.storage.dir))
}

async fn backup_command(cfg: &config::Config, to: &std::path::Path) -> Result<()> {
    let key = app::audit_key(cfg)?;
    let mut opts = onestop_store::StoreOptions::new(cfg.database.url.expose());
    opts.max_connections = 2;
    let store = onestop_store::Store::open(&opts, key).await.with_context(|| {
        format!(
            "cannot open database {}",
            onestop_store::redact_url(cfg.database.url.expose())
        )
    })?;
    store.check_schema(true).await?;
    let started = std::time::Instant::now();
    let checkpoint_file = (!cfg.audit.checkpoint_file.is_empty()).then(|| PathBuf::from(&cfg.audit.checkpoint_file));
    let storage_dir = storage_dir(cfg);
    let sources = backup::BackupSources {
        checkpoint_file: checkpoint_file.as_deref(),
        storage_dir: storage_dir.as_deref(),
        keys_to_keep: keys_to_keep(cfg),
    };
    let result = backup::backup(&store, to, &sources).await;
    store.close().await;
    let m = result?;
    let rows: i64 = m.tables.values().sum();
    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
    println!(
        "Backup written to {} in {} ms: {} backend, schema version {}, {} tables, {rows} rows, {} files, {bytes} bytes.",
        to.display(),
        started.elapsed().as_millis(),
        m.backend,
        m.schema_version,
        m.tables.len(),
        m.files.len()
    );
    println!(
        "Keep these keys safe and apart from the backup (see {}): {}",
        backup::KEYS_FILE,
        m.keys_to_keep.join(", ")
    );
    Ok(())
}

async fn restore_command(cfg: &config::Config, from: &std::path::Path, force: bool) -> Result<()> {
    let url = cfg.database.url.expose();
    let shown = onestop_store::redact_url(url);
    let m = backup::read_and_verify(from)?;
    println!(
        "Backup {} verified: {} files match their checksums.",
        from.display(),
        m.files.len()
    );
    let backend = backup::manifest_backend(&m)?;
    let target = onestop_store::Backend::from_url(url)?;
    if backend != target {
        bail!(
            "this is a {} backup; it cannot be restored into {} ({})",
            backend.name(),
            shown,
            target.name()
        );
    }
    let known = onestop_store::migrate::known_version();
    if m.schema_version > known {
        bail!(
            "the backup has schema version {}, newer than this onestop knows ({known}); restore it with onestop {} or later",
            m.schema_version,
            m.onestop_version
        );
    }
    onestop_store::backup::restore(url, &from.join(&m.database), force).await?;
    let restored = onestop_store::backup::snapshot_at(url).await?;
    let mismatched: Vec<String> = m
        .tables
        .iter()
        .filter(|(t, n)| restored.row_counts.get(*t) != Some(n))
        .map(|(t, n)| format!("{t}: {n} in the backup, {:?} restored", restored.row_counts.get(t)))
        .collect();
    if !mismatched.is_empty() {
        bail!(
            "the restored database differs from the backup:\n  {}",
            mismatched.join("\n  ")
        );
    }
    let rows: i64 = restored.row_counts.values().sum();
    println!(
        "Database {shown} restored: {} tables, {rows} rows, matching the manifest.",
        restored.row_counts.len()
    );
    if m.schema_version < known {
        println!(
            "The backup has schema version {}; run `onestop migrate` (or start the server) to bring it to {known}.",
            m.schema_version
        );
    }
    let has_files = from.join(backup::FILES_DIR).is_dir();
    match storage_dir(cfg) {
        Some(dir) if has_files => {
            let n = backup::restore_files(from, &dir, force)?;
            println!("Uploaded files restored into {}: {n} files.", dir.display());
        }
        None if has_files => println!(
            "The backup holds uploaded files, but storage.dir is not configured: copy {} into it.",
            from.join(backup::FILES_DIR).display()
        ),
        _ => {}
    }
    // The audit trail, against the checkpoints taken with the backup.
    let checkpoints = from.join(backup::CHECKPOINTS);
    let Ok(key) = app::audit_key(cfg) else {
        println!(
            "Audit trail NOT verified: audit.hmac_key is not set. Set it to the key named in {} and run\n  \
             onestop audit verify --checkpoints {}",
            from.join(backup::KEYS_FILE).display(),
            checkpoints.display()
        );
        return Ok(());
    };
    let checkpoint = read_last_checkpoint(&checkpoints, &key)?;
    let mut opts = onestop_store::StoreOptions::new(url);
    opts.max_connections = 2;
    let store = onestop_store::Store::open(&opts, key).await?;
    let report = store.audit_verify(checkpoint.as_ref()).await;
    store.close().await;
    let report = report?;
    if !report.faults.is_empty() {
        for f in &report.faults {
            println!("BROKEN: {f}");
        }
        bail!(
            "the restored audit trail does not verify ({} broken chain(s)): is audit.hmac_key the key this backup was made with?",
            report.faults.len()
        );
    }
    println!(
        "Audit trail OK: {} chains, {} entries verified{}.",
        report.chains,
        report.entries,
        if checkpoint.is_some() {
            " against the backup's last checkpoint"
        } else {
            ""
        }
    );
    if !cfg.audit.checkpoint_file.is_empty() {
        println!(
            "Note: {} may hold checkpoints newer than this backup; `onestop audit verify` reports the entries \
             made after the backup as missing until the server writes its next checkpoint. Keep the old file: \
             it records what the restore rolled back.",
            cfg.audit.checkpoint_file
        );
    }
    Ok(())
}

/// The last checkpoint in `file`, checked against `key`; None when the file is absent or empty.
fn read_last_checkpoint(
    file: &std::path::Path,
    key: &onestop_domain::audit::AuditKey,
) -> Result<Option<onestop_domain::audit::Checkpoint>> {
    if !file.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(file)?;
    let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    let cp: onestop_domain::audit::Checkpoint = serde_json::from_str(line)
        .with_context(|| format!("the last checkpoint in {} is unreadable", file.display()))?;
    if !cp.is_authentic(key) {
        bail!(
            "the last checkpoint in {} is not signed with this key (forged, or another audit.hmac_key?)",
            file.display()
        );
    }
    Ok(Some(cp))
}

/// Prints a verification outcome; returns the exit status (0 valid, 1 invalid).
fn report_outcome(o: &onestop_web::certs::Outcome) -> i32 {
    match (&o.certificate, o.valid) {
        (Some(c), true) => {
            let p = &c.payload;
            println!("有效 (valid): {} {}", p.title, p.number);
            println!(
                "  issued by {} · {} ({}) on {}",
                p.issuer.authority, p.issuer.region_name, p.issuer.region_code, p.issued_at
            );
            println!(
                "  holder {} {} · case {} · key {}",
                p.holder.name, p.holder.id_masked, p.case_no, c.key_id
            );
            0
        }
        _ => {
            println!("无效 (invalid): {} [{}]", o.message, o.code);
            1
        }
    }
}

/// `onestop verify FILE --keys KEYS...`: reads keys documents (one object or an array of them).
fn verify_offline(file: &std::path::Path, keys: &[PathBuf]) -> i32 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", file.display());
            return 2;
        }
    };
    let mut published = Vec::new();
    for k in keys {
        let parsed = std::fs::read_to_string(k).map_err(|e| e.to_string()).and_then(|t| {
            serde_json::from_str::<Vec<onestop_web::certs::KeysDocument>>(&t)
                .or_else(|_| serde_json::from_str::<onestop_web::certs::KeysDocument>(&t).map(|d| vec![d]))
                .map_err(|e| e.to_string())
        });
        match parsed {
            Ok(docs) => published.extend(docs.iter().flat_map(|d| d.published())),
            Err(e) => {
                eprintln!("cannot read keys file {}: {e}", k.display());
                return 2;
            }
        }
    }
    report_outcome(&onestop_web::certs::verify_with(&text, &published))
}

fn read_password(from_stdin: bool) -> Result<(String, bool)> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_line(&mut s)?;
        Ok((s.trim_end_matches(['\n', '\r']).to_owned(), false))
    } else {
        Ok((onestop_web::auth::random_token()[..16].to_owned(), true))
    }
}

async fn cli_state(cfg: &config::Config) -> Result<onestop_web::AppState> {
    let store = app::open_store(cfg, false).await?;
    Ok(onestop_web::AppState::new(
        store,
        Arc::new(SystemClock),
        app::web_settings(cfg)?,
    ))
}

fn api_err(e: onestop_web::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e.message, e.code)
}

async fn find_user(state: &onestop_web::AppState, username: &str) -> Result<onestop_store::users::User> {
    let name = onestop_domain::names::Username::parse(username).map_err(|e| anyhow::anyhow!("{e}"))?;
    match onestop_store::users::by_username(state.store.read(), name.as_str()).await? {
        Some((u, _)) => Ok(u),
        None => bail!("no such user: {username}"),
    }
}

async fn user_command(cfg: &config::Config, cmd: UserCommand) -> Result<()> {
    let state = cli_state(cfg).await?;
    let sys = system_principal(&cli_actor());
    match cmd {
        UserCommand::Add {
            username,
            name,
            role,
            region,
            password_stdin,
        } => {
            let region = onestop_store::regions::get_by_code(state.store.read(), region.trim())
                .await
                .map_err(|_| anyhow::anyhow!("no region with code {region}"))?;
            let (password, generated) = read_password(password_stdin)?;
            let u = onestop_web::ops::create_user(
                &state,
                &sys,
                onestop_web::ops::NewUserInput {
                    username,
                    display_name: name,
                    password: password.clone(),
                    password_hash: None,
                    hall_id: None,
                    department_id: None,
                    grants: vec![(role, region.id)],
                },
            )
            .await
            .map_err(api_err)?;
            println!("Created user {} (id {}).", u.username, u.id);
            if generated {
                println!("Initial password (shown once): {password}");
            }
        }
        UserCommand::List { region } => {
            let users = match region {
                Some(code) => {
                    let r = onestop_store::regions::get_by_code(state.store.read(), &code)
                        .await
                        .map_err(|_| anyhow::anyhow!("no region with code {code}"))?;
                    onestop_store::users::list_in(state.store.read(), &[r.path]).await?
                }
                None => onestop_store::users::list_all(state.store.read()).await?,
            };
            println!("{:<24} {:<20} {:<8} grants", "username", "name", "status");
            for u in users {
                let grants = onestop_store::users::grants(state.store.read(), u.id).await?;
                let g: Vec<String> = grants.iter().map(|g| format!("{}@{}", g.role, g.region_code)).collect();
                println!(
                    "{:<24} {:<20} {:<8} {}",
                    u.username,
                    u.display_name,
                    if u.is_disabled() { "disabled" } else { "active" },
                    g.join(",")
                );
            }
        }
        UserCommand::Disable { username } => {
            let u = find_user(&state, &username).await?;
            onestop_web::ops::set_user_disabled(&state, &sys, u.id, true)
                .await
                .map_err(api_err)?;
            println!("Disabled {username}; their sessions have ended.");
        }
        UserCommand::Enable { username } => {
            let u = find_user(&state, &username).await?;
            onestop_web::ops::set_user_disabled(&state, &sys, u.id, false)
                .await
                .map_err(api_err)?;
            println!("Enabled {username}.");
        }
        UserCommand::ResetPassword {
            username,
            password_stdin,
        } => {
            let u = find_user(&state, &username).await?;
            let (password, generated) = read_password(password_stdin)?;
            onestop_web::ops::reset_password(&state, &sys, u.id, &password)
                .await
                .map_err(api_err)?;
            println!("Password of {username} reset; their sessions have ended.");
            if generated {
                println!("New password (shown once): {password}");
            }
        }
    }
    state.store.close().await;
    Ok(())
}

async fn audit_command(cfg: &config::Config, cmd: AuditCommand) -> Result<()> {
    let state = cli_state(cfg).await?;
    let default_file = (!cfg.audit.checkpoint_file.is_empty()).then(|| PathBuf::from(&cfg.audit.checkpoint_file));
    match cmd {
        AuditCommand::Checkpoint => {
            onestop_web::jobs::write_checkpoint(&state, default_file.as_deref()).await?;
            println!(
                "Checkpoint written{}.",
                default_file.map(|f| format!(" to {}", f.display())).unwrap_or_default()
            );
        }
        AuditCommand::Verify { checkpoints } => {
            let file = checkpoints.or(default_file);
            let key = app::audit_key(cfg)?;
            let checkpoint = match &file {
                Some(f) => read_last_checkpoint(f, &key)?,
                None => None,
            };
            if checkpoint.is_none() {
                println!("No checkpoint found: verifying the chains' own integrity only.");
            }
            let report = state.store.audit_verify(checkpoint.as_ref()).await?;
            state.store.close().await;
            if report.faults.is_empty() {
                println!(
                    "Audit trail OK: {} chains, {} entries verified.",
                    report.chains, report.entries
                );
            } else {
                for f in &report.faults {
                    println!("BROKEN: {f}");
                }
                bail!("audit verification failed: {} broken chain(s)", report.faults.len());
            }
            return Ok(());
        }
    }
    state.store.close().await;
    Ok(())
}

async fn calendar_region(
    state: &onestop_web::AppState,
    code: Option<&str>,
) -> Result<Option<onestop_store::regions::Region>> {
    match code {
        Some(code) => Ok(Some(
            onestop_store::regions::get_by_code(state.store.read(), code.trim())
                .await
                .map_err(|_| anyhow::anyhow!("no region with code {code}"))?,
        )),
        None => Ok(None),
    }
}

async fn calendar_command(cfg: &config::Config, cmd: CalendarCommand) -> Result<()> {
    use onestop_web::workflows::calendar as cal;
    let state = cli_state(cfg).await?;
    let sys = system_principal(&cli_actor());
    let result = async {
        match cmd {
            CalendarCommand::Import { file, region } => {
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let region = calendar_region(&state, region.as_deref()).await?;
                let y = cal::import_year(&state, &sys, region.as_ref().map(|r| r.id), &text)
                    .await
                    .map_err(api_err)?;
                let scope = region.map_or_else(|| "全国".to_owned(), |r| format!("{}（{}）专用", r.name, r.code));
                println!(
                    "已载入 {} 年工作日历（{scope}）：{} 个节假日，{} 个调休上班日。依据：{}",
                    y.year, y.holidays, y.makeup_days, y.source
                );
            }
            CalendarCommand::List { region } => {
                let region = calendar_region(&state, region.as_deref()).await?;
                let mut conn = state.store.read().acquire().await?;
                let rc = match &region {
                    Some(r) => onestop_store::calendars::region_calendar(&mut conn, r.id).await?,
                    None => onestop_store::calendars::national(&mut conn).await?,
                };
                println!("{:<6} {:<14} {:>4} {:>4}  source", "year", "origin", "hol.", "mk.");
                for y in &rc.years {
                    let origin = match &y.origin {
                        onestop_store::calendars::YearOrigin::Builtin => "builtin".to_owned(),
                        onestop_store::calendars::YearOrigin::National => "national".to_owned(),
                        onestop_store::calendars::YearOrigin::Region { region } => format!("region {}", region.code),
                    };
                    println!(
                        "{:<6} {:<14} {:>4} {:>4}  {}",
                        y.year, origin, y.holidays, y.makeup_days, y.source
                    );
                }
                for c in &rc.closures {
                    println!(
                        "closed {} at {} ({}): {}",
                        c.date, c.region.name, c.region.code, c.reason
                    );
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    state.store.close().await;
    result
}
