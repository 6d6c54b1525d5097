//! The cancellation root: SIGTERM/SIGINT start a graceful shutdown, and systemd hears about
//! it (sd_notify READY/STOPPING/RELOADING) when calltrack runs under `Type=notify`; SIGHUP
//! deliveries for the reload service. Periodic services tick with [`Every`].

mod every;

pub use every::Every;

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

/// Tells systemd a reload began (no-op outside systemd); READY=1 follows when it is done.
pub fn notify_reloading() {
    let mut states = vec![sd_notify::NotifyState::Reloading];
    if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    if let Err(error) = sd_notify::notify(&states) {
        tracing::debug!(%error, "sd_notify RELOADING not sent");
    }
}

/// SIGHUP deliveries (reload requests). Install it before READY: without a handler SIGHUP
/// would end the process.
#[derive(Debug)]
pub struct Hangups {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangups {
    #[cfg(unix)]
    pub fn install() -> std::io::Result<Hangups> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Hangups {
            signal: signal(SignalKind::hangup())?,
        })
    }

    #[cfg(not(unix))]
    pub fn install() -> std::io::Result<Hangups> {
        Ok(Hangups {})
    }

    /// The next SIGHUP; `None` if signals can no longer be received.
    #[cfg(unix)]
    pub async fn recv(&mut self) -> Option<()> {
        self.signal.recv().await
    }

    #[cfg(not(unix))]
    pub async fn recv(&mut self) -> Option<()> {
        std::future::pending().await
    }
}
