//! The relay loop: one OS thread that serves many streams' sockets from one `mio::Poll`
//! (epoll on Linux). Each wake-up handles every socket that became readable and drains each
//! until it would block, so at load one `epoll_wait` carries many packets and no task is
//! scheduled per packet (the per-stream tokio task this replaces spent a fifth of the
//! relay's CPU in the kernel's task switching). A socket that still holds packets after
//! [`BUDGET`] of them waits for the next round, so a flooded stream cannot starve the others.
//! Prompts are paced by the poll's timeout. The driver (`driver.rs`) binds the sockets and
//! hands them over with [`Command::Open`]; the loop gives each stream's ports back on the
//! `closed` channel once its sockets are closed.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use super::recv_batch::{Received, RecvBatch};
use super::stream::{Side, Socket, StreamPorts, StreamRelay};
use super::table::SharedStream;

/// Packets taken from one socket per round before the others get their turn.
const BUDGET: usize = 64;
/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// The token of the loop's waker; streams use `slot * 4 + socket`.
const WAKER: Token = Token(usize::MAX);

/// One stream as the loop serves it: its four sockets, indexed like [`socket_index`].
pub struct Served {
    pub sockets: [UdpSocket; 4],
    pub stream: SharedStream,
    pub ports: StreamPorts,
}

/// What the driver asks of a loop.
pub enum Command {
    /// Serve this stream from now on.
    Open(Box<Served>),
    /// Close the sockets of the stream whose caller-facing RTP port is this; its ports come
    /// back on the `closed` channel.
    Close(u16),
    /// A prompt started on this stream: pace it.
    Prompt(u16),
}

/// The driver's end of one loop: commands in; [`LoopHandle::stop`] ends it.
pub struct LoopHandle {
    commands: Sender<Command>,
    waker: mio::Waker,
    thread: std::thread::JoinHandle<()>,
}

impl LoopHandle {
    /// Starts loop number `index`; it returns each closed stream's ports on `closed`.
    pub fn spawn(
        index: usize,
        closed: tokio::sync::mpsc::UnboundedSender<StreamPorts>,
    ) -> std::io::Result<LoopHandle> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let (commands, inbox) = std::sync::mpsc::channel();
        let mut relay = RelayLoop::new(poll, inbox, closed);
        let thread = std::thread::Builder::new()
            .name(format!("calltrack-rtp-{index}"))
            .spawn(move || relay.run())?;
        Ok(LoopHandle {
            commands,
            waker,
            thread,
        })
    }

    /// Hands `command` to the loop; false if the loop is gone.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok() && self.waker.wake().is_ok()
    }

    /// Stops the loop (its sockets close with it) and waits for its thread: dropping the only
    /// sender ends the loop at its next wake-up.
    pub fn stop(self) {
        let LoopHandle {
            commands,
            waker,
            thread,
        } = self;
        drop(commands);
        let _ = waker.wake();
        if thread.join().is_err() {
            tracing::warn!("a media relay loop panicked");
        }
    }
}

/// The loop's state, owned by its thread.
struct RelayLoop {
    poll: Poll,
    inbox: Receiver<Command>,
    closed: tokio::sync::mpsc::UnboundedSender<StreamPorts>,
    slots: Vec<Option<Served>>,
    free: Vec<usize>,
    by_port: HashMap<u16, usize>,
    /// Slots whose prompt is playing.
    prompting: Vec<usize>,
    /// Sockets left with packets when their budget ran out.
    again: Vec<Token>,
    batch: RecvBatch,
}

/// Whether a socket was left empty.
#[derive(PartialEq)]
enum Drained {
    Empty,
    More,
}

impl RelayLoop {
    fn new(
        poll: Poll,
        inbox: Receiver<Command>,
        closed: tokio::sync::mpsc::UnboundedSender<StreamPorts>,
    ) -> RelayLoop {
        RelayLoop {
            poll,
            inbox,
            closed,
            slots: Vec::new(),
            free: Vec::new(),
            by_port: HashMap::new(),
            prompting: Vec::new(),
            again: Vec::new(),
            batch: RecvBatch::new(),
        }
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let timeout = self.timeout(Instant::now());
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(%error, "media relay loop cannot poll; its streams get no audio");
                return;
            }
            let again = std::mem::take(&mut self.again);
            for token in events.iter().map(mio::event::Event::token).chain(again) {
                if token == WAKER {
                    if !self.commands() {
                        return;
                    }
                } else {
                    self.readable(token);
                }
            }
            self.prompts(Instant::now());
        }
    }

    /// How long the poll may sleep: not at all while sockets wait for their turn, else until
    /// the next prompt packet is due.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        self.prompting
            .iter()
            .filter_map(|&slot| self.served(slot))
            .filter_map(|served| lock(&served.stream).prompt_due())
            .min()
            .map(|due| due.saturating_duration_since(now))
    }

    fn served(&self, slot: usize) -> Option<&Served> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// Takes every command waiting; false once the driver is gone.
    fn commands(&mut self) -> bool {
        loop {
            match self.inbox.try_recv() {
                Ok(Command::Open(served)) => self.open(*served),
                Ok(Command::Close(port)) => self.close(port),
                Ok(Command::Prompt(port)) => {
                    if let Some(&slot) = self.by_port.get(&port) {
                        if !self.prompting.contains(&slot) {
                            self.prompting.push(slot);
                        }
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => return true,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn open(&mut self, mut served: Served) {
        let slot = self.free.pop().unwrap_or(self.slots.len());
        let registry = self.poll.registry();
        for (index, socket) in served.sockets.iter_mut().enumerate() {
            let token = Token(slot * 4 + index);
            if let Err(error) = registry.register(socket, token, Interest::READABLE) {
                tracing::warn!(%error, "media socket not watched; the stream gets no audio");
            }
        }
        self.by_port.insert(served.ports.caller, slot);
        if slot == self.slots.len() {
            self.slots.push(Some(served));
        } else {
            self.slots[slot] = Some(served);
        }
    }

    fn close(&mut self, port: u16) {
        let Some(slot) = self.by_port.remove(&port) else {
            return;
        };
        let Some(mut served) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        for socket in &mut served.sockets {
            let _ = self.poll.registry().deregister(socket);
        }
        self.prompting.retain(|&s| s != slot);
        self.again.retain(|token| token.0 / 4 != slot);
        self.free.push(slot);
        let ports = served.ports;
        drop(served);
        let _ = self.closed.send(ports);
    }

    /// Relays what socket `token` holds, up to the budget.
    fn readable(&mut self, token: Token) {
        let (slot, index) = (token.0 / 4, token.0 % 4);
        let Some(Some(served)) = self.slots.get(slot) else {
            return;
        };
        if drain(served, index, &mut self.batch) == Drained::More {
            self.again.push(token);
        }
    }

    /// Sends the prompt packets now due, out of each prompting stream's caller-facing socket.
    fn prompts(&mut self, now: Instant) {
        let slots = &self.slots;
        self.prompting.retain(|&slot| {
            let Some(Some(served)) = slots.get(slot) else {
                return false;
            };
            let mut stream = lock(&served.stream);
            while let Some((packet, to)) = stream.poll_prompt(now) {
                send(&served.sockets[0], &packet, to);
            }
            stream.prompt_due().is_some()
        });
    }
}

/// Relays packets from socket `index` of `served` until it is empty or the budget is spent,
/// a batch per system call ([`RecvBatch`]): a short batch means empty.
fn drain(served: &Served, index: usize, batch: &mut RecvBatch) -> Drained {
    let socket = &served.sockets[index];
    let mut taken = 0;
    while taken < BUDGET {
        let n = match batch.recv(socket.as_fd()) {
            Ok(0) => return Drained::Empty,
            Ok(n) => n,
            Err(error) => {
                // An error queued on the socket (an ICMP port unreachable for an earlier
                // send): the call took it; the datagrams behind it are read next time round.
                tracing::debug!(%error, "media socket receive failed");
                taken += 1;
                continue;
            }
        };
        relay_batch(served, index, batch, n);
        taken += n;
        if n < super::recv_batch::BATCH {
            return Drained::Empty;
        }
    }
    Drained::More
}

/// Relays the `n` datagrams of `batch` that came in on socket `index`.
fn relay_batch(served: &Served, index: usize, batch: &RecvBatch, n: usize) {
    let now = Instant::now();
    for i in 0..n {
        let (packet, source) = match batch.get(i) {
            Received::Packet(packet, source) => (packet, source),
            Received::Oversize => {
                metrics::counter!("calltrack_media_packets_dropped_total", "reason" => "oversize")
                    .increment(1);
                continue;
            }
            Received::Unaddressed => continue,
        };
        let forward = lock(&served.stream).handle_packet(now, SOCKETS[index], source, packet);
        if let Some(forward) = forward {
            send(
                &served.sockets[socket_index(forward.from)],
                packet,
                forward.to,
            );
        }
    }
}

/// Sends one datagram without waiting: a full send buffer drops it, counted (RTP is
/// loss-tolerant, and waiting would delay every other stream of the loop).
fn send(socket: &UdpSocket, packet: &[u8], to: SocketAddr) {
    match socket.send_to(packet, to) {
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::WouldBlock => {
            metrics::counter!("calltrack_media_packets_dropped_total", "reason" => "send_buffer_full")
                .increment(1);
        }
        Err(error) => tracing::debug!(%error, %to, "media packet not sent"),
    }
}

fn lock(stream: &SharedStream) -> std::sync::MutexGuard<'_, StreamRelay> {
    stream
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The four sockets of a stream, in the order of [`Served::sockets`].
pub const SOCKETS: [Socket; 4] = [
    Socket {
        facing: Side::Caller,
        rtcp: false,
    },
    Socket {
        facing: Side::Caller,
        rtcp: true,
    },
    Socket {
        facing: Side::Callee,
        rtcp: false,
    },
    Socket {
        facing: Side::Callee,
        rtcp: true,
    },
];

/// Where `socket` sits in [`Served::sockets`].
pub fn socket_index(socket: Socket) -> usize {
    usize::from(socket.facing == Side::Callee) * 2 + usize::from(socket.rtcp)
}

#[cfg(test)]
#[path = "relay_loop_tests.rs"]
mod tests;
