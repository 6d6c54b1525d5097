//! Asking a caller of the reserve number for the overflow code (`overflow_code = true`): the
//! `enter_code` prompt, then up to four keys (RFC 4733 or SIP INFO; `#` ends early, a key
//! barges in), each handed to the engine as it comes (`take_code_query`), which asks `call`
//! (`call::overflow::decide`, the second decision) and hands the answer back
//! (`code_decided`): a live code re-attributes the call before anything rings, a code that
//! cannot be ends the asking and the call goes on unattributed.

use std::sync::Arc;
use std::time::Duration;

use crate::b2bua::session::{CallSession, Ctx};
use crate::call::overflow::CodeDecision;
use crate::media::collector::{CollectSpec, Collected, Collector};
use crate::media::dtmf::Digit;
use crate::media::prompt::Prompt;
use crate::media::stream::Side;

use super::Stage;

/// The longest code (codes are 3 or 4 digits, prefix-free).
const CODE_DIGITS: usize = 4;
/// The "enter your code" prompt of a reserve-number call, and how long keys are waited for
/// (`[voice] code_first_digit_secs`, `code_inter_digit_secs`).
#[derive(Debug, Clone)]
pub struct CodePlan {
    pub prompt: Arc<Prompt>,
    /// From the end of the prompt to the first key.
    pub first_key: Duration,
    /// From one key to the next.
    pub next_key: Duration,
}

/// The code as it is entered.
#[derive(Debug)]
pub(super) struct CodeEntry {
    collector: Collector,
    entered: String,
    /// When the prompt ends (`None`: it ended or a key stopped it).
    prompt_ends: Option<std::time::Instant>,
    /// Digits for the engine to decide on, and whether the caller ended them.
    query: Option<(String, bool)>,
}

impl CallSession {
    pub(super) fn start_code(&mut self, ctx: &mut Ctx<'_>) {
        let Some(prompt) = self.voice.as_ref().and_then(|v| v.plan.code.clone()) else {
            return self.after_code(ctx);
        };
        let ends = self.play(ctx, &prompt.prompt);
        let mut collector = Collector::new(CollectSpec {
            max_digits: CODE_DIGITS,
            first_timeout: prompt.first_key,
            inter_digit_timeout: prompt.next_key,
            terminator: Digit::from_char('#'),
        });
        if ends.is_none() {
            collector.prompt_finished(ctx.now);
        }
        if let Some(voice) = self.voice.as_mut() {
            voice.code = Some(CodeEntry {
                collector,
                entered: String::new(),
                prompt_ends: ends,
                query: None,
            });
        }
        self.voice_rearm(ctx.now);
    }

    /// The code's next look: keys heard in RTP, the end of the prompt, the timeouts.
    pub(super) fn code_tick(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(digit) = ctx.media.poll_digit(self.key.0, Side::Caller) {
            self.code_digit(ctx, digit);
            if self.code_query_pending() {
                // The engine decides before the next key is read.
                return;
            }
        }
        let now = ctx.now;
        let Some(entry) = self.voice.as_mut().and_then(|v| v.code.as_mut()) else {
            return;
        };
        if entry.prompt_ends.is_some_and(|e| e <= now) {
            entry.prompt_ends = None;
            entry.collector.prompt_finished(now);
        }
        if let Some(Collected::Timeout(digits) | Collected::Digits(digits)) =
            entry.collector.handle_timeout(now)
        {
            entry.query = Some((digits, true));
        }
        self.voice_rearm(now);
    }

    /// A key for the code.
    pub(super) fn code_digit(&mut self, ctx: &mut Ctx<'_>, digit: Digit) {
        let now = ctx.now;
        let Some(entry) = self.voice.as_mut().and_then(|v| v.code.as_mut()) else {
            return;
        };
        if entry.prompt_ends.take().is_some() {
            ctx.media.stop_prompt(self.key.0);
        }
        match entry.collector.on_digit(now, digit) {
            Some(Collected::Digits(digits) | Collected::Timeout(digits)) => {
                entry.query = Some((digits, true));
            }
            None => {
                entry.entered.push(digit.as_char());
                entry.query = Some((entry.entered.clone(), false));
            }
        }
    }

    fn code_query_pending(&self) -> bool {
        let entry = self.voice.as_ref().and_then(|v| v.code.as_ref());
        entry.is_some_and(|e| e.query.is_some())
    }

    /// Digits the engine must decide on: `(digits, complete)`, once.
    pub fn take_code_query(&mut self) -> Option<(String, bool)> {
        self.voice.as_mut()?.code.as_mut()?.query.take()
    }

    /// The first target's transport and whether the caller is new: what the stamp needs.
    pub fn code_stamp_facts(&self) -> (crate::sip::Transport, bool) {
        let plan = self.dialing().map(|d| d.dialer.plan());
        let target = plan.and_then(|p| p.first_target().or(p.fallback.as_ref()));
        let transport = target.map_or(crate::sip::Transport::Udp, |t| t.target.peer.transport);
        (transport, self.live.first_time_caller)
    }

    /// The engine's decision on the digits so far.
    pub fn code_decided(&mut self, ctx: &mut Ctx<'_>, decision: CodeDecision) {
        match decision {
            CodeDecision::Wait => return,
            CodeDecision::Attributed { attribution, stamp } => {
                tracing::info!(session = ?attribution.session_id, "overflow code: call attributed");
                self.live.attribution = *attribution;
                if let Some(d) = self.dialing_mut() {
                    d.stamp = stamp;
                }
            }
            CodeDecision::Unattributed => tracing::info!("overflow code: none matched"),
        }
        ctx.media.stop_prompt(self.key.0);
        if let Some(voice) = self.voice.as_mut() {
            voice.code = None;
        }
        self.after_code(ctx);
    }

    fn voice_rearm(&mut self, now: std::time::Instant) {
        if let Some(voice) = self.voice.as_mut() {
            voice.stage = Stage::Code(now + super::menu::KEY_POLL);
        }
    }
}
