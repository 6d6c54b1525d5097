//! What calltrack says to a call before bridging, decided as the call opens: the
//! `announce` prompt (number over scheme over site), the overflow code asked of a
//! reserve-number caller, and a menu scheme's menu with its prompts (loaded by the app, see
//! `media::prompt_set`); and the second decisions `call` takes on what the caller keyed in
//! (`call::overflow::decide`, `call::menu::plan_branch`), handed back to the session.

use std::sync::Arc;
use std::time::Instant;

use crate::b2bua::session::{CodePlan, MenuPlan, VoicePlan, VoicemailPlan};
use crate::b2bua::{B2bua, CallKey};
use crate::call::BridgePlan;
use crate::media::dtmf::Digit;
use crate::media::menu::MenuSpec;
use crate::media::prompt::Prompt;

impl B2bua {
    /// The voice plan of a relayed call; `None` when nothing is to be said (or the prompts
    /// are not loaded).
    pub(super) fn voice_plan(&self, plan: &BridgePlan) -> Option<VoicePlan> {
        let (tracking, scheme) = (&plan.tracking, plan.route.scheme.as_str());
        let announce = self
            .config
            .announcement(tracking, scheme)
            .and_then(|setting| {
                let prompt = self.prompts.get(&setting);
                if prompt.is_none() {
                    tracing::warn!(prompt = %setting, "announcement not loaded: skipped");
                }
                prompt
            });
        let menu =
            crate::call::menu::menu_of(&self.config, &plan.route).and_then(|m| self.menu_plan(m));
        let code = crate::call::overflow::asks_code(&self.config, tracking)
            .then(|| self.prompts.get("enter_code"))
            .flatten()
            .map(|prompt| CodePlan {
                prompt,
                first_key: self.config.voice.code_first_digit,
                next_key: self.config.voice.code_inter_digit,
            });
        if announce.is_none() && menu.is_none() && code.is_none() {
            return None;
        }
        let answer = self.config.answer_mode(tracking, scheme);
        Some(VoicePlan {
            answer,
            announce,
            menu,
            code,
        })
    }

    /// The voicemail of a call to `tracking` taking `scheme` (the scheme's, else the site's),
    /// with its prompts; `None` when it has none (or its greeting is not loaded).
    pub(super) fn voicemail_plan(
        &self,
        tracking: &crate::config::TrackingNumber,
        scheme: &str,
    ) -> Option<VoicemailPlan> {
        let config = self.config.voicemail(tracking, scheme)?;
        let Some(greeting) = self.prompts.get(&config.prompt) else {
            tracing::warn!(prompt = %config.prompt, "voicemail prompt not loaded: no voicemail");
            return None;
        };
        let beep = config.beep.then(|| self.prompts.get("beep")).flatten();
        Some(VoicemailPlan {
            greeting,
            beep,
            max: config.max,
        })
    }

    fn menu_plan(&self, menu: &crate::config::menu::MenuConfig) -> Option<MenuPlan> {
        let Some(greeting) = self.prompts.get(&menu.prompt) else {
            tracing::warn!(prompt = %menu.prompt, "menu prompt not loaded");
            return None;
        };
        let invalid = self.prompts.get("invalid");
        let mut samples = invalid.map(|p| p.samples().to_vec()).unwrap_or_default();
        samples.extend_from_slice(greeting.samples());
        let choices = menu
            .choices
            .iter()
            .filter_map(|(key, scheme)| Some((Digit::from_char(*key)?, scheme.clone())))
            .collect();
        let spec = MenuSpec {
            choices,
            default: menu.default.clone(),
            timeout: menu.timeout,
            retries: menu.retries,
        };
        Some(MenuPlan {
            spec,
            greeting,
            invalid_then_greeting: Arc::new(Prompt::from_samples(samples)),
        })
    }

    /// A menu chose a branch in call `key`: plan it and hand the plan to the session.
    pub(super) fn route_menu_choice(&mut self, key: CallKey, now: Instant) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        if let Some(branch) = session.take_branch() {
            self.route_branch_of(key, now, &branch);
        }
    }

    /// Plans scheme `branch` for call `key` (`call::menu::plan_branch`) and hands it over.
    pub(super) fn route_branch_of(&mut self, key: CallKey, now: Instant, branch: &str) {
        let Some(session) = self.sessions.get(&key) else {
            return;
        };
        let number = session.tracking_number();
        let Some(tracking) = self.config.tracking_number(number).cloned() else {
            return;
        };
        let plan = crate::call::menu::plan_branch(
            &self.config,
            &tracking,
            branch,
            &self.hosts,
            self.prober.table(),
        );
        let voicemail = self.voicemail_plan(&tracking, branch);
        self.with_session(key, now, |s, ctx| {
            s.set_voicemail(voicemail);
            s.route_branch(ctx, plan);
        });
    }

    /// The digits a reserve-number caller entered so far in call `key`: `call` decides
    /// (`call::overflow::decide`), the session carries the decision out.
    pub(super) fn decide_code(&mut self, key: CallKey, now: Instant) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let Some((digits, complete)) = session.take_code_query() else {
            return;
        };
        let (transport, first_call) = session.code_stamp_facts();
        let earlier = self.history.earlier_holder(session.caller());
        let Some(tracking) = self
            .config
            .tracking_number(session.tracking_number())
            .cloned()
        else {
            return;
        };
        let call = crate::call::overflow::CodeCall {
            tracking: &tracking,
            transport,
            first_call,
            earlier: earlier.as_deref(),
        };
        let wall = self.clock.at(now);
        let decision = crate::call::overflow::decide(
            &self.config,
            &self.leases,
            &self.local,
            call,
            &digits,
            complete,
            wall,
        );
        self.with_session(key, now, |s, ctx| s.code_decided(ctx, decision));
    }
}
