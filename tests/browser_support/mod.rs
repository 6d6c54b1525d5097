//! Headless Chromium driven over the Chrome DevTools Protocol (a websocket, `tungstenite`):
//! navigate, evaluate JavaScript, wait for a condition, resize the viewport, screenshot.
//! Skips loudly when `/usr/bin/chromium` is missing, and fails under `CI=true`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// True (after a loud notice) when the browser tests cannot run here; panics under CI.
pub fn skip_without_chromium(what: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have chromium: .ci/run installs it"
    );
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED {what}: {CHROMIUM} not found (apt-get install chromium)");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
    true
}

/// A headless Chromium with one page, killed when dropped.
pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium on a private profile and attaches to its first page.
    pub fn start() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let port = devtools_port(stderr);
        let page = page_socket_url(port);
        let (socket, _) = tungstenite::connect(page.as_str()).expect("devtools websocket");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .expect("read timeout");
        }
        let mut browser = Browser {
            child,
            socket,
            next_id: 0,
            _profile: profile,
        };
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser
    }

    /// Sends one command and returns its `result` (events in between are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(Message::text(message)).expect("send");
        loop {
            let message = self.socket.read().expect("devtools answer");
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).expect("devtools JSON");
            if value["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(error) = value.get("error") {
                panic!("{method} failed: {error}");
            }
            return value["result"].clone();
        }
    }

    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// Evaluates `expression` (awaiting a promise) and returns its JSON value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(details) = result.get("exceptionDetails") {
            panic!("{expression} threw: {details}");
        }
        result["result"]["value"].clone()
    }

    /// Waits (up to 30 s) until `expression` is true; panics with `what` otherwise.
    pub fn wait_for(&mut self, expression: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let check = format!(
            "(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"
        );
        while Instant::now() < deadline {
            if self.eval(&check) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = self.text("body");
        panic!("timed out waiting for {what} ({expression}); page text:\n{text}");
    }

    /// The visible text of the first element matching `selector` ("" if none).
    pub fn text(&mut self, selector: &str) -> String {
        let js = format!(
            "(document.querySelector({}) || {{innerText: ''}}).innerText",
            json!(selector)
        );
        self.eval(&js).as_str().unwrap_or_default().to_owned()
    }

    /// Sets the viewport (CSS pixels); `mobile` also emulates a phone's viewport rules.
    pub fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// Saves a PNG of the whole page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let data = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, data).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the screenshots go: `target/dashboard-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots")
}

/// Reads Chromium's stderr until it names its DevTools port (then keeps draining it).
fn devtools_port(stderr: std::process::ChildStderr) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("DevTools listening on ws://").nth(1) {
                let port = rest.split('/').next().and_then(|a| a.rsplit(':').next());
                let _ = tx.send(port.and_then(|p| p.parse::<u16>().ok()));
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten()
        .expect("chromium did not open its DevTools port within 60 s")
}

/// The websocket of the browser's first page target.
fn page_socket_url(port: u16) -> String {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let agent: ureq::Agent = agent.into();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut resp) = agent
            .get(format!("http://127.0.0.1:{port}/json/list"))
            .call()
        {
            let targets: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
            let page = targets.as_array().and_then(|list| {
                list.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .map(str::to_owned)
            });
            if let Some(page) = page {
                return page;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no page target on the DevTools port {port}");
}
