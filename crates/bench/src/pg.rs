//! A private PostgreSQL cluster for the bench: `initdb` in a temporary directory, its own port
//! and socket directory, started and stopped (`-m immediate`: a crash) with `pg_ctl`. Run as the
//! `postgres` user when the bench runs as root (PostgreSQL refuses to run as root).
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub struct Cluster {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
    extra: Vec<String>,
}

/// The newest /usr/lib/postgresql/*/bin that has initdb, else the directory of `initdb` on PATH.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl Cluster {
    /// initdb in `dir` (created; owned by postgres when running as root). `extra` settings go on
    /// the server command line of every start (e.g. `fsync=off` for the refusal check).
    pub fn init(dir: &Path, port: u16, extra: &[&str]) -> Result<Self> {
        let bin = find_bin_dir().context("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")?;
        std::fs::create_dir_all(dir)?;
        let as_postgres = is_root();
        if as_postgres {
            let st = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir)
                .status()?;
            if !st.success() {
                bail!("chown postgres {} failed", dir.display());
            }
        }
        let c = Self {
            bin,
            dir: dir.to_owned(),
            port,
            as_postgres,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        let data = c.data();
        c.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        Ok(c)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn cmd(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Output> {
        let out = self
            .cmd(tool)
            .args(args)
            .output()
            .with_context(|| format!("cannot run {tool}"))?;
        if !out.status.success() {
            bail!(
                "{tool} {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the server and waits (pg_ctl -w) until it accepts connections.
    pub fn start(&self) -> Result<()> {
        self.start_with(&[])
    }

    /// As `start`, with extra settings for this start only.
    pub fn start_with(&self, more: &[&str]) -> Result<()> {
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.display()
        );
        for e in self.extra.iter().map(String::as_str).chain(more.iter().copied()) {
            opts.push_str(&format!(" -c {e}"));
        }
        let log = self.dir.join("postgres.log").display().to_string();
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "120", "start"],
        )?;
        Ok(())
    }

    /// `pg_ctl stop -m immediate`: every backend is killed without a checkpoint; the next start
    /// replays the WAL (crash recovery).
    pub fn stop_immediate(&self) -> Result<()> {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "-t", "120", "stop"])?;
        Ok(())
    }

    pub fn stop_fast(&self) {
        let data = self.data();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"]);
    }

    pub fn createdb(&self, name: &str) -> Result<()> {
        let port = self.port.to_string();
        self.run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name])?;
        Ok(())
    }

    pub fn version(&self) -> String {
        self.run("postgres", &["--version"])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// pgbench's simple-update transaction (`-N`: one UPDATE of pgbench_accounts, a SELECT and an
    /// INSERT into pgbench_history, committed) for `secs` seconds with `clients` clients: tps.
    pub fn pgbench_simple_update(&self, clients: u32, secs: u32) -> Result<Option<f64>> {
        if !self.bin.join("pgbench").exists() {
            return Ok(None);
        }
        let port = self.port.to_string();
        let base = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
        if self
            .run(
                "psql",
                &[
                    &base[..],
                    &[
                        "-d",
                        "postgres",
                        "-tAc",
                        "SELECT 1 FROM pg_database WHERE datname = 'pgbench'",
                    ],
                ]
                .concat(),
            )
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() != "1")
            .unwrap_or(true)
        {
            self.createdb("pgbench")?;
            self.run("pgbench", &[&base[..], &["-i", "-q", "-s", "1", "pgbench"]].concat())?;
        }
        let c = clients.to_string();
        let t = secs.to_string();
        let out = self.run(
            "pgbench",
            &[&base[..], &["-N", "-n", "-c", &c, "-j", &c, "-T", &t, "pgbench"]].concat(),
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "tps = 512.345 (without initial connection time)"
        let tps = text
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse().ok());
        Ok(tps)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_fast();
        std::thread::sleep(Duration::from_millis(100));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
