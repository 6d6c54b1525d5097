//! A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl start` from
//! `/usr/lib/postgresql/*/bin/` in a temporary directory, on a free loopback port, with
//! `fsync=off`; stopped (immediate) and removed on drop. [`PgServer::stop`] and
//! [`PgServer::restart`] take it away and bring it back on the same port and data (outage
//! tests). PostgreSQL refuses to run as root,
//! so as root the server runs as the `postgres` user (or `nobody`) through `runuser`.
//! Missing binaries skip loudly, and fail under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running test server; its superuser is `calltrack`, trusted over loopback.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<&'static str>,
    pub port: u16,
}

/// A free loopback TCP port (the harness is also used by benches, without `support`).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local addr").port()
}

/// The newest installed `/usr/lib/postgresql/<version>/bin` with `initdb`.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The unprivileged user the server runs as under root.
fn service_user() -> &'static str {
    let exists = |u: &str| {
        Command::new("id")
            .arg(u)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if exists("postgres") {
        "postgres"
    } else {
        "nobody"
    }
}

impl PgServer {
    /// Starts a server, or returns None (after a loud message) when PostgreSQL is not
    /// installed; under `CI` its absence is a failure.
    pub fn start(what: &str) -> Option<PgServer> {
        let Some(bin) = bin_dir() else {
            eprintln!(
                "SKIPPED {what}: PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb); apt-get install postgresql"
            );
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have PostgreSQL: .ci/run installs postgresql"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let run_as = is_root().then(service_user);
        if let Some(user) = run_as {
            let chown = Command::new("chown")
                .args(["-R", user])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(chown.success(), "chown the server directory to {user}");
        }
        let port = free_port();
        let server = PgServer {
            dir,
            bin,
            run_as,
            port,
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                "calltrack",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        server.pg_ctl_start(&server.options());
        Some(server)
    }

    fn options(&self) -> String {
        format!(
            "-c listen_addresses=127.0.0.1 -k {} -p {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50",
            self.dir.path().display(),
            self.port
        )
    }

    fn pg_ctl_start(&self, options: &str) {
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log.display().to_string(),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the server (`pg_ctl stop -m fast`: open connections are closed, clients see it
    /// go away) and waits until it is down.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the stopped server again, same port and data.
    pub fn restart(&self) {
        self.pg_ctl_start(&self.options());
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Creates database `name` and returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to the test server: {e}\n{}", self.log()));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        self.url(name)
    }

    /// `postgres://calltrack@127.0.0.1:PORT/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://calltrack@127.0.0.1:{}/{db}", self.port)
    }

    /// CPU time of the server so far, in clock ticks: the postmaster's own and that of its
    /// exited backends (`/proc/PID/stat` utime, stime, cutime, cstime). A backend's time
    /// counts once its connection is closed.
    pub fn cpu_ticks(&self) -> u64 {
        let pid_file = self.dir.path().join("data/postmaster.pid");
        let pid = std::fs::read_to_string(pid_file).unwrap_or_default();
        let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = rest
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        (11..=14).map(|i| fields.get(i).copied().unwrap_or(0)).sum()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
