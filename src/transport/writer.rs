//! The writer task of one TCP connection: writes its queue out in order; a failed write
//! closes the connection and tells the core the peer could not be reached.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::incr;
use super::tcp::Tcp;

/// The writer task of one connection.
pub(super) struct Writer {
    pub(super) tcp: Arc<Tcp>,
    pub(super) addr: SocketAddr,
    pub(super) token: CancellationToken,
}

impl Writer {
    pub(super) async fn run(self, mut write: OwnedWriteHalf, mut queue: mpsc::Receiver<Bytes>) {
        loop {
            let next = tokio::select! {
                biased;
                () = self.token.cancelled() => None,
                next = queue.recv() => next,
            };
            let Some(bytes) = next else {
                break;
            };
            let written = tokio::select! {
                () = self.token.cancelled() => break,
                r = write.write_all(&bytes) => r,
            };
            match written {
                Ok(()) => {
                    incr(&self.tcp.stats.tcp_messages_out);
                    debug!(len = bytes.len(), "TCP message out");
                }
                Err(e) => {
                    warn!(peer = %self.addr, error = %e, "TCP write failed; closing connection");
                    self.token.cancel();
                    self.tcp.report(self.addr).await;
                    break;
                }
            }
        }
        self.token.cancel();
        if let Err(e) = write.shutdown().await {
            debug!(error = %e, "TCP shutdown failed");
        }
    }
}
