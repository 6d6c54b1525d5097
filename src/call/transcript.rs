//! A call's transcript as kept and served: the words of each channel of the stereo recording
//! (caller left, agent right) with their times, and the text of each channel (made by
//! `speech`, stored by `store::transcripts`).

use serde::{Deserialize, Serialize};

/// Which party spoke: the recording's left channel is the caller, the right the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Caller,
    Agent,
}

impl Channel {
    pub const BOTH: [Channel; 2] = [Channel::Caller, Channel::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Caller => "caller",
            Channel::Agent => "agent",
        }
    }
}

/// One recognised word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub channel: Channel,
    pub word: String,
    /// From the start of the recording (the answer), in milliseconds.
    pub start_ms: u32,
    pub end_ms: u32,
}

/// A call's transcript as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub caller: String,
    pub agent: String,
    pub language: Option<String>,
    /// Both channels' words, ordered by start time.
    pub words: Vec<Word>,
}
