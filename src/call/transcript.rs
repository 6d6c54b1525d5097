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
    /// Timing and what the caller said to keep (made by `speech::facts`).
    pub facts: ConversationFacts,
    /// Names of the `[[speech.tags]]` whose phrases were said.
    pub tags: Vec<String>,
}

/// What the two channels say about the conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationFacts {
    pub caller_talk_ms: u32,
    pub agent_talk_ms: u32,
    /// The caller's share of all talk (0..1); `None` when nobody talked.
    pub caller_talk_ratio: Option<f64>,
    /// Neither party talking.
    pub silence_ms: u32,
    /// Both talking at once.
    pub overlap_ms: u32,
    /// Stretches of both talking at once for 300 ms or more.
    pub interruptions: u32,
    /// From the answer to the agent's first speech; `None` when the agent never spoke.
    pub agent_first_speech_ms: Option<u32>,
    /// Phone numbers the caller said (7 or more digits), as digits.
    pub caller_phones: Vec<String>,
    /// E-mail addresses the caller said or spelled ("ivan at mail dot ru").
    pub caller_emails: Vec<String>,
}
