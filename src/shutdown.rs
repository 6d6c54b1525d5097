//! The cancellation root: SIGTERM/SIGINT start a graceful shutdown, and systemd hears about
//! it (sd_notify READY/STOPPING) when calltrack runs under `Type=notify`.

use tokio_util::sync::CancellationToken;

/// Waits for SIGTERM or SIGINT (Ctrl-C), then cancels `token`. A second signal is left to
/// the default handler only after the first one started the drain.
pub async fn watch_signals(token: CancellationToken) {
    let reason = wait_for_signal().await;
    tracing::info!(
        signal = reason,
        "shutdown requested: refusing new calls, draining live ones"
    );
    notify_stopping();
    token.cancel();
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}

/// Tells systemd the service is up (no-op outside systemd).
pub fn notify_ready() {
    if let Err(error) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::debug!(%error, "sd_notify READY not sent");
    }
}

/// Tells systemd the service is stopping (no-op outside systemd).
pub fn notify_stopping() {
    if let Err(error) = sd_notify::notify(&[sd_notify::NotifyState::Stopping]) {
        tracing::debug!(%error, "sd_notify STOPPING not sent");
    }
}
