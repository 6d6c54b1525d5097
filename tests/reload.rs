//! The reload step in process (what SIGHUP runs): an invalid file is refused with every
//! problem and changes nothing; a valid one is swapped in, settings that need a restart are
//! named and keep their running values; without a file there is nothing to reload.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use calltrack::app::ReloadOutcome;
use calltrack::app::Server;
use calltrack::config::Config;
use tokio_util::sync::CancellationToken;

fn toml(dir: &std::path::Path, http: &str, pbx_port: u16) -> String {
    format!(
        r#"[sip]
udp_listen = ["127.0.0.1:0"]
tcp_listen = []

[http]
listen = "{http}"

[health]
enabled = false

[store]
path = "{db}"

[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:{pbx_port}"
default_number = "74950000000"

[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
"#,
        db = dir.join("cdr.db").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_refuses_invalid_files_and_applies_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calltrack.toml");
    std::fs::write(&file, toml(dir.path(), "127.0.0.1:0", 5080)).unwrap();
    let config = Config::load(Some(&file)).unwrap();
    let stop = CancellationToken::new();
    let server = Server::start(config, stop.clone()).await.unwrap();

    // No file: the embedded default cannot change.
    assert_eq!(server.reloader.reload().await, ReloadOutcome::NoFile);

    let reloader = server.reloader.clone().with_path(Some(&file));
    let started = reloader.current();

    // Invalid: every problem, nothing applied.
    std::fs::write(
        &file,
        format!(
            "{}\n[calls]\nring_timeout_secs = -1\nmystery = true\n",
            toml(dir.path(), "127.0.0.1:0", 5090)
        ),
    )
    .unwrap();
    match reloader.reload().await {
        ReloadOutcome::Refused(problems) => {
            assert!(problems.len() >= 2, "{problems:?}");
            assert!(
                problems.iter().any(|p| p.contains("calls.mystery")),
                "{problems:?}"
            );
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("calls.ring_timeout_secs")),
                "{problems:?}"
            );
        }
        other => panic!("invalid file applied: {other:?}"),
    }
    assert_eq!(*reloader.current(), *started);

    // Valid: routing changes live, the HTTP listener needs a restart.
    std::fs::write(&file, toml(dir.path(), "127.0.0.1:1", 5090)).unwrap();
    let outcome = reloader.reload().await;
    assert_eq!(
        outcome,
        ReloadOutcome::Applied {
            changed: vec!["sites"],
            needs_restart: vec!["http.listen".to_owned()],
        }
    );
    let now = reloader.current();
    assert_eq!(now.sites[0].forward_to, "sip:127.0.0.1:5090");
    assert_eq!(now.http.listen, started.http.listen);

    stop.cancel();
    server.wait().await.unwrap();
}
