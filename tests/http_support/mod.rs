//! Shared by the HTTP tests: an in-process calltrack HTTP server on 127.0.0.1:0 with a real
//! config, lease table, geo resolver and store writer (in a temporary directory unless the
//! config names a store), and a ureq agent that does not treat 4xx as errors.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;

use calltrack::config::Config;
use calltrack::display::GeoResolver;
use calltrack::edge::blacklist::Blacklist;
use calltrack::http::{Gauges, HttpServer, HttpState};
use calltrack::lease::LeaseTable;
use calltrack::store::{WriterHandle, WriterOptions, spawn_writer};
use tokio_util::sync::CancellationToken;

pub const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// The demo site with a tiny pool, an allowed origin and a 1 s heartbeat.
pub fn config_toml(pool: &str, rate_limit_per_minute: u32) -> String {
    format!(
        r#"
[http]
listen = "127.0.0.1:0"
rate_limit_per_minute = {rate_limit_per_minute}
max_body_bytes = 8192

[[geo.networks]]
cidr = "127.0.0.0/8"
region = "moscow"

[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000000"
reserve_number = "74950000099"
freeze_secs = 60
lease_cooldown_secs = 60
heartbeat_secs = 1
origins = ["https://shop.example"]

[[sites.static_numbers]]
number = "74950000001"
source = "billboard"

[[sites.pools]]
id = "web"
numbers = ["{pool}"]
"#
    )
}

/// A running server with its store writer; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub leases: Arc<LeaseTable>,
    pub gauges: Arc<Gauges>,
    pub blacklist: Arc<Blacklist>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    writer: Option<WriterHandle>,
    /// The store of a config without `[store]`.
    _store_dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start(toml: &str) -> TestServer {
        TestServer::start_with(toml, |config| {
            spawn_writer(&config.store.path, WriterOptions::default()).expect("store writer")
        })
    }

    /// [`TestServer::start`] with the store writer `writer` makes for the config (the
    /// PostgreSQL one, one with export subscriptions).
    pub fn start_with(
        toml: &str,
        writer: impl FnOnce(&Config) -> (calltrack::store::StoreSender, WriterHandle),
    ) -> TestServer {
        let store_dir = tempfile::tempdir().expect("temp dir");
        let mut toml = toml.to_owned();
        if !toml.contains("[store]") {
            let db = store_dir.path().join("calltrack.db");
            toml.push_str(&format!("\n[store]\npath = \"{}\"\n", db.display()));
        }
        let config = Arc::new(Config::from_toml_str(&toml).expect("test config is valid"));
        let (store, writer) = writer(&config);
        let leases = Arc::new(LeaseTable::from_config(&config));
        let gauges = Arc::new(Gauges::default());
        let blacklist = Arc::new(Blacklist::from_config(&config.blacklist));
        let state = HttpState {
            config: Arc::new(arc_swap::ArcSwap::new(config.clone())),
            leases: leases.clone(),
            geo: Arc::new(GeoResolver::open(&config.geo).expect("geo")),
            gauges: gauges.clone(),
            blacklist: blacklist.clone(),
            health: Default::default(),
            store,
            reader: calltrack::store::StoreReader::new(&config.store.path),
            reads: calltrack::store::BackendReader::of_config(&config),
        };
        let stop = CancellationToken::new();
        let (tx, rx) = mpsc::channel();
        let token = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let server = HttpServer::bind(config.http.listen, state)
                    .await
                    .expect("bind");
                tx.send(server.local_addr().expect("addr"))
                    .expect("send addr");
                server.run(token).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("server started");
        TestServer {
            addr,
            leases,
            gauges,
            blacklist,
            stop,
            thread: Some(thread),
            writer: Some(writer),
            _store_dir: store_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.shutdown();
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}
