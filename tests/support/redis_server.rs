//! A throwaway `redis-server` on a free loopback port in a temp dir, for the shared lease
//! table tests: started, waited for (PING), killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the test must be skipped: no `redis-server` here (a loud message), never under
/// `CI=true` (fails instead).
pub fn skip_without_redis(what: &str) -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have redis-server: .ci/run installs it"
    );
    eprintln!(
        "\n*** SKIPPED: redis-server not found (apt-get install redis-server); {what} did not run ***\n"
    );
    true
}

/// A running redis-server.
pub struct RedisServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    aof: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// Without persistence (`--save "" --appendonly no`).
    pub fn start() -> RedisServer {
        RedisServer::start_with(false)
    }

    /// With the append-only file on (`--appendonly yes --appendfsync always`).
    pub fn start_with_aof() -> RedisServer {
        RedisServer::start_with(true)
    }

    fn start_with(aof: bool) -> RedisServer {
        let mut server = RedisServer {
            port: super::free_port(),
            dir: tempfile::tempdir().unwrap(),
            aof,
            child: None,
        };
        server.launch();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A plain connection for the test's own commands.
    pub fn connection(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).unwrap();
        client
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap()
    }

    /// Kills the server (SIGKILL: no shutdown save) and starts it again on the same dir.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn launch(&mut self) {
        let dir = self.dir.path().to_str().unwrap().to_owned();
        let port = self.port.to_string();
        let appendonly = if self.aof { "yes" } else { "no" };
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", appendonly, "--appendfsync", "always"])
            .args(["--dir", &dir, "--logfile", "redis.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        self.wait_ping();
    }

    fn wait_ping(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let pong = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
