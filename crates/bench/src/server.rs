//! The server under test: `onestop demo --no-simulate` started as a child process on a database
//! of its own, polled until ready, measured from /proc (CPU ticks, RSS) and killed with SIGKILL.
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the bench reaches and restarts one server: binary, database and working directory (the
/// demo keeps its audit and data keys beside a SQLite file, or in the working directory).
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub bin: PathBuf,
    pub database_url: String,
    pub workdir: PathBuf,
    pub port: u16,
}

pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl ServerSpec {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment every onestop process of this bench gets: 127.0.0.1 is a trusted proxy
    /// (the bench sends citizens' addresses in X-Forwarded-For, so per-address limits apply per
    /// citizen as behind a real proxy) and the per-device limit is lifted (one kiosk per bench
    /// hall carries the tickets of many real halls).
    fn env(&self, cmd: &mut Command) {
        cmd.env("ONESTOP_SERVER__TRUSTED_PROXIES", "127.0.0.1")
            .env("ONESTOP_SECURITY__DEVICE_LIMIT_PER_MINUTE", "1000000000")
            .env("ONESTOP_LOG", "warn")
            .env_remove("ONESTOP_DATABASE__URL")
            .env_remove("ONESTOP_CONFIG")
            .current_dir(&self.workdir);
    }

    /// The demo's audit key file (see `onestop_web::demo::demo_key_file`).
    fn side_file(&self, suffix: &str) -> PathBuf {
        match self.database_url.strip_prefix("sqlite://") {
            Some(p) => PathBuf::from(format!("{}.{suffix}", p.split('?').next().unwrap_or(p))),
            None => self.workdir.join(format!("onestop-demo.{suffix}")),
        }
    }

    /// Starts the server and waits until `/readyz` answers 200 (seeding a fresh database first).
    pub async fn start(&self, ready_timeout: Duration) -> Result<Server> {
        let log = self.workdir.join(format!("server-{}.log", self.port));
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let mut cmd = Command::new(&self.bin);
        self.env(&mut cmd);
        cmd.args(["--database", &self.database_url, "demo", "--no-simulate", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        let base = self.base_url();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let deadline = Instant::now() + ready_timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready; log {}:\n{}",
                    log.display(),
                    tail(&log)
                );
            }
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server was not ready within {ready_timeout:?}; log:\n{}",
                    tail(&log)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Server { child, base, log })
    }

    /// `onestop audit verify` on this database with the demo's key and checkpoints.
    pub fn audit_verify(&self) -> Result<String> {
        let mut cmd = Command::new(&self.bin);
        self.env(&mut cmd);
        let key = self.side_file("audit-key");
        cmd.env("ONESTOP_AUDIT__HMAC_KEY_FILE", &key)
            .env(
                "ONESTOP_AUDIT__CHECKPOINT_FILE",
                format!("{}.checkpoints", key.display()),
            )
            .env("ONESTOP_CRYPTO__DATA_KEY_FILE", self.side_file("data-key"))
            .args(["--database", &self.database_url, "audit", "verify"]);
        let out = cmd.output().context("cannot run onestop audit verify")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("onestop audit verify failed: {text}");
        }
        Ok(text.trim().to_owned())
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (std's `Child::kill` on Unix), then reaps the process.
    pub fn kill9(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// CPU time (user + system) so far, from /proc/PID/stat.
    pub fn cpu(&self) -> Option<Duration> {
        proc_cpu(self.pid())
    }

    /// (VmRSS, VmHWM) in KiB from /proc/PID/status.
    pub fn rss_kib(&self) -> (u64, u64) {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// utime + stime of a process. Linux reports them in clock ticks of USER_HZ, which is 100 on
/// every Linux ABI (sysconf(_SC_CLK_TCK) is fixed at 100 for x86-64 and arm64 userspace).
pub fn proc_cpu(pid: u32) -> Option<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

pub fn tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The onestop binary: `--bin`, else $ONESTOP_BIN, else target/{release,debug}/onestop beside
/// this executable.
pub fn find_bin(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(b) = explicit.or_else(|| std::env::var_os("ONESTOP_BIN").map(PathBuf::from)) {
        // The server runs in its own working directory: a relative path would not resolve there.
        return std::fs::canonicalize(&b).with_context(|| format!("onestop binary {}", b.display()));
    }
    let me = std::env::current_exe()?;
    let beside = me.with_file_name("onestop");
    if beside.exists() {
        return Ok(beside);
    }
    bail!("cannot find the onestop binary: build it (cargo build -p onestop) or pass --bin")
}
