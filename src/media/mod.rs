//! The media relay (RTP anchoring): calls whose site, scheme or number says
//! `media = "relay"` get their SDP rewritten to calltrack's ports on both legs, and their RTP
//! and RTCP flow through calltrack, which measures what each side sent.
//!
//! Every decision is sans-IO and takes `now`: reading and rewriting SDP (`sdp`,
//! `sdp_rewrite`), the port pool (`ports`), symmetric latching (`latch`), per-direction RTP
//! statistics (`stats`, talk time in `stats_talk`), what endpoints' RTCP reports say
//! (`rtcp`), the estimated MOS (`mos`), one stream's relay state (`stream`), the call's facts
//! for the CDR (`facts`), the table the SIP core and the driver share (`table`), what a
//! recording hands its writer as the call goes (`recording`, its streamed stereo timeline in
//! `recording_stream`) and which recordings retention removes (`retention`). calltrack speaks
//! and listens: prompts are loaded, resampled and encoded once (`prompt`, `prompt_builtin`,
//! `resample`) and paced out as RTP by `player`; keys come in as RFC 4733 telephone-events
//! (`dtmf`) or SIP INFO bodies (`dtmf_info`); `collector` gathers them after a prompt and
//! `menu` turns a key into a scheme branch; `sdp_answer` writes calltrack's own answer when it
//! answers a call itself, and the offer to the callee after it. Only `driver` binds sockets and
//! uses tokio, and its `relay_loop` threads relay packets from many streams per epoll, taking
//! them a batch per system call (`recv_batch`); `recording_writer` (with `recording_file` and `recording_pcap`)
//! writes the files on the driver's writer threads.

pub mod collector;
pub mod driver;
pub mod dtmf;
pub mod dtmf_info;
pub mod facts;
pub mod g711;
pub mod latch;
pub mod menu;
pub mod metrics;
pub mod mos;
pub mod player;
pub mod ports;
pub mod prompt;
pub mod prompt_builtin;
pub mod prompt_set;
pub mod recording;
pub mod recording_file;
pub mod recording_pcap;
pub mod recording_stream;
pub mod recording_writer;
mod recv_batch;
mod relay_loop;
pub mod resample;
pub mod retention;
pub mod rtcp;
pub mod sdp;
pub mod sdp_answer;
pub mod sdp_rewrite;
pub mod stats;
pub mod stats_talk;
pub mod stream;
pub mod table;

pub use driver::MediaService;
pub use metrics::describe_metrics;
pub use stream::Side;
pub use table::MediaTable;
