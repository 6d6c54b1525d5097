//! What the engine and its call sessions report and name calls by: [`CallKey`] and
//! [`CallEvent`], in a module of their own so that sessions never reach up into the engine.

use jiff::Timestamp;

use crate::call::live_dialog::CallDialogs;
use crate::call::record::{CallDetailRecord, LiveCall};

/// Identifies one call inside the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub(crate) u64);

/// What the core reports about calls, in order, for the CDR store.
// Every call sends one `Started` and one `Ended` through the bounded queue to the writer;
// boxing the record (larger since the voice-quality and recording columns) would add an
// allocation per call for no saving.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// A B-leg was created: the call is live (persisted so a crash cannot lose it).
    Started(LiveCall),
    /// The callee answered.
    Answered { id: String, at: Timestamp },
    /// An answered call's dialogs, first when both are confirmed, again whenever something a
    /// BYE needs changed (our CSeq, a target refresh): kept so a restart can end the call.
    Dialogs { id: String, dialogs: CallDialogs },
    /// The call's final record.
    Ended(CallDetailRecord),
}
