//! What one batch does to each call's live row, folded into at most one statement per call.
//!
//! The live row exists for crash recovery alone, so within one transaction only its final
//! state matters: a call that also ends in the batch gets no live-row write at all (its CDR
//! carries the same facts), and one that does not gets a single write at its last live-row
//! command: an `INSERT` with the answer and dialogs already in it if it started in this
//! batch, else one `UPDATE` for the answer and dialogs together. The batch commits as a
//! whole, so what a crash can find is the same as with one statement per command.

use std::collections::HashMap;

use super::columns::LiveChange;
use super::commands::StoreCommand;
use crate::call::record::LiveCall;

/// One call's live-row commands in a batch, folded.
#[derive(Debug, Clone, Copy)]
pub(super) struct LiveFold<'b> {
    id: &'b str,
    /// Index in the batch of the call's last live-row command: where the fold is written.
    last: usize,
    /// The call's CDR is written in this batch.
    ended: bool,
    pub started: Option<&'b LiveCall>,
    /// The answer and dialogs the batch brings.
    pub change: LiveChange<'b>,
}

impl<'b> LiveFold<'b> {
    fn new(id: &'b str) -> Self {
        Self {
            id,
            last: 0,
            ended: false,
            started: None,
            change: LiveChange::default(),
        }
    }

    /// The call's id.
    pub fn id(&self) -> &'b str {
        self.id
    }
}

/// What the command at an index does to its call's live row.
#[derive(Debug, Clone, Copy)]
pub(super) enum LiveStep<'p, 'b> {
    /// Not a live-row command.
    None,
    /// Folded into a later command's write, or no write at all (the call ends in the batch).
    Folded,
    /// Write the folded row now.
    Write(&'p LiveFold<'b>),
}

/// The folded live-row writes of one batch.
#[derive(Debug, Default)]
pub(super) struct LivePlan<'b> {
    calls: HashMap<&'b str, LiveFold<'b>>,
}

impl<'b> LivePlan<'b> {
    pub fn new(batch: &'b [StoreCommand]) -> Self {
        let mut calls: HashMap<&'b str, LiveFold<'b>> = HashMap::new();
        for (index, cmd) in batch.iter().enumerate() {
            let Some(id) = call_of(cmd) else {
                continue;
            };
            let call = calls.entry(id).or_insert_with(|| LiveFold::new(id));
            match cmd {
                StoreCommand::CallStarted(live) => call.started = Some(live),
                StoreCommand::CallAnswered { answered_at, .. } => {
                    call.change.answered_at = Some(*answered_at);
                }
                StoreCommand::DialogsChanged { dialogs, .. } => call.change.dialogs = Some(dialogs),
                _ => {
                    call.ended = true;
                    continue;
                }
            }
            call.last = index;
        }
        Self { calls }
    }

    /// What the command at `index` does to its live row.
    pub fn step(&self, index: usize, cmd: &StoreCommand) -> LiveStep<'_, 'b> {
        if matches!(cmd, StoreCommand::CallEnded(_)) {
            return LiveStep::None;
        }
        let Some(id) = call_of(cmd) else {
            return LiveStep::None;
        };
        match self.calls.get(id) {
            Some(call) if !call.ended && call.last == index => LiveStep::Write(call),
            _ => LiveStep::Folded,
        }
    }
}

/// The call a call event is about (`None` for every other command).
fn call_of(cmd: &StoreCommand) -> Option<&str> {
    match cmd {
        StoreCommand::CallStarted(live) => Some(&live.id),
        StoreCommand::CallAnswered { id, .. } | StoreCommand::DialogsChanged { id, .. } => Some(id),
        StoreCommand::CallEnded(cdr) => Some(&cdr.id),
        _ => None,
    }
}
