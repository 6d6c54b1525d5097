//! The voice menu of a call (`strategy = "menu"`), run by the session: the sans-IO
//! `media::menu::Menu` says what to play and where to go; keys come from RFC 4733
//! telephone-events (the relay queues them, the session looks every [`KEY_POLL`]) and from
//! SIP INFO (`application/dtmf-relay`, `application/dtmf`); time is the session's deadline.
//! The choice goes into the routing trail (`menu 1>sales`) and to the engine, which plans
//! the branch (`call::menu::plan_branch`) and hands it back (`route_branch`).

use std::time::{Duration, Instant};

use crate::b2bua::session::{CallSession, Ctx};
use crate::media::dtmf::Digit;
use crate::media::menu::{Menu, MenuAction, MenuPrompt};
use crate::media::stream::Side;
use crate::sip::SipMessage;
use crate::sip::message::HeaderName;

use super::Stage;

/// How often a menu looks at the keys the relay heard.
pub(super) const KEY_POLL: Duration = Duration::from_millis(40);

impl CallSession {
    /// The menu starts: its greeting plays.
    pub(super) fn start_menu(&mut self, ctx: &mut Ctx<'_>) {
        let Some(spec) = self.voice.as_ref().and_then(|v| v.plan.menu.as_ref()) else {
            return self.bridge_after_voice(ctx);
        };
        let (menu, action) = Menu::start(spec.spec.clone());
        if let Some(voice) = self.voice.as_mut() {
            voice.menu = Some((menu, None));
        }
        self.menu_action(ctx, action);
    }

    /// The menu's next look: keys heard in RTP, the end of its prompt, its timeout.
    pub(super) fn menu_tick(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(digit) = ctx.media.poll_digit(self.key.0, Side::Caller) {
            if !self.menu_digit(ctx, digit) {
                return;
            }
        }
        let now = ctx.now;
        let Some((menu, ends)) = self.voice.as_mut().and_then(|v| v.menu.as_mut()) else {
            return;
        };
        if ends.is_some_and(|e| e <= now) {
            *ends = None;
            menu.prompt_finished(now);
        }
        match menu.handle_timeout(now) {
            Some(action) => self.menu_action(ctx, action),
            None => self.menu_rearm(now),
        }
    }

    /// A key for the menu; `false` once the menu is over.
    pub(super) fn menu_digit(&mut self, ctx: &mut Ctx<'_>, digit: Digit) -> bool {
        let now = ctx.now;
        let Some((menu, _)) = self.voice.as_mut().and_then(|v| v.menu.as_mut()) else {
            return false;
        };
        tracing::debug!(key = %digit.as_char(), "menu key");
        match menu.on_digit(now, digit) {
            Some(action) => {
                let more = matches!(action, MenuAction::Play(_));
                self.menu_action(ctx, action);
                more
            }
            None => true,
        }
    }

    /// A SIP INFO from the caller while calltrack holds it: a key for the menu, if it is one.
    pub(in crate::b2bua::session) fn menu_info(&mut self, ctx: &mut Ctx<'_>, info: &SipMessage) {
        let content_type = info.header(&HeaderName::ContentType).unwrap_or_default();
        if !crate::media::dtmf_info::is_dtmf_info(content_type) {
            return;
        }
        let Ok(digit) = crate::media::dtmf_info::parse_info(content_type, info.body()) else {
            return;
        };
        match self.voice.as_ref().map(|v| v.stage) {
            _ if self.in_voicemail() => self.voicemail_key(ctx, digit),
            Some(Stage::Code(_)) => self.code_digit(ctx, digit),
            _ => {
                self.menu_digit(ctx, digit);
            }
        }
    }

    fn menu_action(&mut self, ctx: &mut Ctx<'_>, action: MenuAction) {
        match action {
            MenuAction::Play(which) => self.menu_play(ctx, which),
            MenuAction::Route(choice) => {
                ctx.media.stop_prompt(self.key.0);
                tracing::info!(branch = %choice.branch, entry = %choice.trail(), "menu chose");
                self.trail.menu(ctx.wall(), choice.trail());
                if let Some(voice) = self.voice.as_mut() {
                    voice.menu = None;
                    voice.stage = Stage::Choosing;
                    voice.branch = Some(choice.branch);
                }
            }
        }
    }

    fn menu_play(&mut self, ctx: &mut Ctx<'_>, which: MenuPrompt) {
        let Some(plan) = self.voice.as_ref().and_then(|v| v.plan.menu.as_ref()) else {
            return;
        };
        let prompt = match which {
            MenuPrompt::Greeting => plan.greeting.clone(),
            MenuPrompt::InvalidThenGreeting => plan.invalid_then_greeting.clone(),
        };
        let ends = self.play(ctx, &prompt);
        let now = ctx.now;
        if let Some((menu, end)) = self.voice.as_mut().and_then(|v| v.menu.as_mut()) {
            *end = ends;
            if ends.is_none() {
                // Nothing could be played: the caller may press at once.
                menu.prompt_finished(now);
            }
        }
        self.menu_rearm(now);
    }

    fn menu_rearm(&mut self, now: Instant) {
        if let Some(voice) = self.voice.as_mut() {
            voice.stage = Stage::Menu(now + KEY_POLL);
        }
    }
}
