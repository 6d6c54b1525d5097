//! Speech: transcripts of recorded calls, per channel (caller left, agent right), with word
//! times, card and phone numbers masked before anything is stored.
//!
//! Sans-IO parts: splitting a recording into one mono WAV per party (`audio`), masking digits
//! (`redact`), merging the channels into a transcript (`transcript`) and when to try again
//! (`retry`). The engines talk to the outside: `http_engine` (an OpenAI-compatible
//! `/v1/audio/transcriptions` server) and `pocketsphinx` (CMU PocketSphinx, embedded, loaded
//! at run time through `pocketsphinx_ffi`, the crate's only `unsafe` code); `service` is the bounded worker pool that takes due jobs
//! from the store's queue (`store::transcripts`) and never touches the call path; `rescore`
//! scores the calls transcribed before a model was kept, once one is; `worker_thread` runs
//! each PocketSphinx decode on a low-priority thread of its own.

pub mod audio;
pub mod facts;
pub mod http_engine;
pub mod model_watch;
pub mod pocketsphinx;
mod pocketsphinx_ffi;
pub mod redact;
pub mod rescore;
pub mod retry;
pub mod service;
pub mod tags;
pub mod train;
pub mod transcript;
pub mod worker_thread;

pub use service::SpeechService;
pub use transcript::{Channel, Heard, Transcript, Word, merge};

/// Why a recording was not transcribed (this time).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeechError {
    /// The recording cannot be read (removed, truncated, not 16-bit PCM): retrying is useless.
    #[error("recording not readable: {0}")]
    Audio(String),
    /// The engine could not be reached or was busy (timeouts, 5xx, 429): try again later.
    #[error("engine unavailable: {0}")]
    Unavailable(String),
    /// The engine refused the request (4xx, an answer that is not a transcript).
    #[error("engine refused: {0}")]
    Refused(String),
}

impl SpeechError {
    pub(crate) fn audio(e: impl std::fmt::Display) -> SpeechError {
        SpeechError::Audio(e.to_string())
    }

    /// Whether a later attempt may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, SpeechError::Unavailable(_))
    }
}
