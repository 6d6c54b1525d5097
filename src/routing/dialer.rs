//! The dialer: walks one call's [`RoutePlan`] step by step (sans-IO, time passed in). It says
//! which targets to ring now and, on each attempt's outcome or timer, what next: ring more,
//! cancel some, or give up with the fault the caller hears. The session does the SIP.

use std::collections::VecDeque;
use std::time::Instant;

use crate::routing::Fault;
use crate::routing::rotation::Rotation;
use crate::routing::{RoutePlan, Strategy, TargetPlan};

/// One ringing of one target; ids count up from 0 within a call.
pub type AttemptId = usize;

/// How an attempt ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A final non-2xx status.
    Status(u16),
    /// No final response at all (Timer B) or the target could not be reached.
    Unreachable,
}

/// What the session must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an INVITE to [`Dialer::target`]`(id)`.
    Ring(AttemptId),
    /// CANCEL this attempt (it is over for the dialer; its late answers are ignored).
    Cancel(AttemptId),
    /// No target is left or a final status ended the call: answer the caller with this.
    GiveUp(Fault),
}

#[derive(Debug)]
struct Attempt {
    /// Index into the plan's steps; `steps.len()` is the fallback.
    step: usize,
    target: usize,
    deadline: Instant,
    live: bool,
}

/// One call's walk through its plan.
#[derive(Debug)]
pub struct Dialer {
    plan: RoutePlan,
    caller: String,
    step: usize,
    queue: VecDeque<usize>,
    step_deadline: Option<Instant>,
    attempts: Vec<Attempt>,
    last_fault: Fault,
    done: bool,
}

impl Dialer {
    pub fn new(plan: RoutePlan, caller: &str) -> Dialer {
        Dialer {
            plan,
            caller: caller.to_string(),
            step: 0,
            queue: VecDeque::new(),
            step_deadline: None,
            attempts: Vec::new(),
            last_fault: Fault::Unreachable,
            done: false,
        }
    }

    pub fn plan(&self) -> &RoutePlan {
        &self.plan
    }

    /// The first step's rings.
    pub fn start(&mut self, now: Instant, rotation: &mut Rotation) -> Vec<Action> {
        let mut out = Vec::new();
        self.enter_step(0, now, rotation, &mut out);
        out
    }

    /// The target an attempt rings.
    pub fn target(&self, id: AttemptId) -> Option<&TargetPlan> {
        let a = self.attempts.get(id)?;
        match self.plan.steps.get(a.step) {
            Some(step) => step.targets.get(a.target),
            None => self.plan.fallback.as_ref(),
        }
    }

    /// 1-based step number (the fallback counts as the step after the last) and label.
    pub fn position(&self, id: AttemptId) -> Option<(u32, String)> {
        let step = self.attempts.get(id)?.step;
        let label = self.target(id)?.label.clone();
        Some((u32::try_from(step + 1).unwrap_or(u32::MAX), label))
    }

    /// Still ringing as far as the dialer is concerned.
    pub fn is_live(&self, id: AttemptId) -> bool {
        self.attempts.get(id).is_some_and(|a| a.live)
    }

    /// The earliest per-target or per-step deadline while the call is being dialled.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let targets = self.attempts.iter().filter(|a| a.live).map(|a| a.deadline);
        targets.chain(self.step_deadline).min()
    }

    /// An attempt ended without an answer.
    pub fn on_outcome(
        &mut self,
        now: Instant,
        id: AttemptId,
        outcome: Outcome,
        rotation: &mut Rotation,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if self.done || !self.is_live(id) {
            return out;
        }
        self.attempts[id].live = false;
        let (fault, moves_on) = match outcome {
            Outcome::Status(code) => (Fault::Callee(code), self.plan.failover.fails_over(code)),
            Outcome::Unreachable => (Fault::Unreachable, self.plan.failover.failover_on_timeout),
        };
        if moves_on {
            self.last_fault = fault;
            self.advance(now, rotation, &mut out);
        } else {
            self.give_up(fault, &mut out);
        }
        out
    }

    /// Per-target ring timeouts and the step timeout.
    pub fn on_timeout(&mut self, now: Instant, rotation: &mut Rotation) -> Vec<Action> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let expired: Vec<AttemptId> = (0..self.attempts.len())
            .filter(|&i| self.attempts[i].live && self.attempts[i].deadline <= now)
            .collect();
        let step_over = self.step_deadline.is_some_and(|d| d <= now);
        if expired.is_empty() && !step_over {
            return out;
        }
        for id in expired {
            self.attempts[id].live = false;
            out.push(Action::Cancel(id));
        }
        if step_over {
            self.cancel_live(&mut out);
            self.queue.clear();
        }
        self.last_fault = Fault::RingTimeout;
        if self.plan.failover.failover_on_timeout {
            self.advance(now, rotation, &mut out);
        } else {
            self.give_up(Fault::RingTimeout, &mut out);
        }
        out
    }

    /// An attempt answered: every other live attempt is cancelled; a sticky round-robin step
    /// remembers who answered this caller.
    pub fn on_answer(&mut self, id: AttemptId, rotation: &mut Rotation) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(a) = self.attempts.get_mut(id) {
            a.live = false;
        }
        self.done = true;
        self.cancel_live(&mut out);
        let sticky_step = self
            .attempts
            .get(id)
            .and_then(|a| self.plan.steps.get(a.step));
        if sticky_step.is_some_and(|s| s.sticky && s.strategy == Strategy::RoundRobin) {
            if let Some(label) = self.target(id).map(|t| t.label.clone()) {
                rotation.remember(&self.caller, &label);
            }
        }
        out
    }

    /// The caller left or the whole call timed out: every live attempt is to be cancelled.
    pub fn stop(&mut self) -> Vec<AttemptId> {
        self.done = true;
        let live: Vec<AttemptId> = (0..self.attempts.len())
            .filter(|&i| self.attempts[i].live)
            .collect();
        for &id in &live {
            self.attempts[id].live = false;
        }
        live
    }

    // ---- walking the plan --------------------------------------------------------------

    fn advance(&mut self, now: Instant, rotation: &mut Rotation, out: &mut Vec<Action>) {
        if self.attempts.iter().any(|a| a.live) {
            return;
        }
        if !self.queue.is_empty() {
            self.ring_next(now, out);
        } else {
            self.enter_step(self.step + 1, now, rotation, out);
        }
    }

    fn enter_step(
        &mut self,
        index: usize,
        now: Instant,
        rot: &mut Rotation,
        out: &mut Vec<Action>,
    ) {
        self.step = index;
        self.queue.clear();
        self.step_deadline = None;
        let Some(step) = self.plan.steps.get(index) else {
            return self.enter_fallback(now, out);
        };
        if step.targets.is_empty() {
            return self.enter_step(index + 1, now, rot, out);
        }
        self.step_deadline = step.step_timeout.map(|t| now + t);
        let order: Vec<usize> = match step.strategy {
            Strategy::RoundRobin => {
                let caller = step.sticky.then_some(self.caller.as_str());
                rot.order(&self.plan.scheme, index, &step.targets, caller)
            }
            Strategy::Sequential | Strategy::Parallel => (0..step.targets.len()).collect(),
        };
        self.queue = order.into();
        if step.strategy == Strategy::Parallel {
            while !self.queue.is_empty() {
                self.ring_next(now, out);
            }
        } else {
            self.ring_next(now, out);
        }
    }

    /// After the last step: the fallback, unless the last failure is a final status.
    fn enter_fallback(&mut self, now: Instant, out: &mut Vec<Action>) {
        let final_status = match self.last_fault {
            Fault::Callee(code) => self.plan.failover.final_statuses.contains(&code),
            _ => false,
        };
        let rung = self.step > self.plan.steps.len();
        match &self.plan.fallback {
            Some(fallback) if !final_status && !rung => {
                let deadline = now + fallback.ring_timeout;
                self.push_attempt(self.plan.steps.len(), 0, deadline, out);
            }
            _ => self.give_up(self.last_fault, out),
        }
    }

    fn ring_next(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(target) = self.queue.pop_front() else {
            return;
        };
        let timeout = self.plan.steps[self.step].targets[target].ring_timeout;
        self.push_attempt(self.step, target, now + timeout, out);
    }

    fn push_attempt(
        &mut self,
        step: usize,
        target: usize,
        deadline: Instant,
        out: &mut Vec<Action>,
    ) {
        let id = self.attempts.len();
        self.attempts.push(Attempt {
            step,
            target,
            deadline,
            live: true,
        });
        out.push(Action::Ring(id));
    }

    fn cancel_live(&mut self, out: &mut Vec<Action>) {
        for a in self.attempts.iter_mut().enumerate().filter(|(_, a)| a.live) {
            a.1.live = false;
            out.push(Action::Cancel(a.0));
        }
    }

    fn give_up(&mut self, fault: Fault, out: &mut Vec<Action>) {
        self.done = true;
        self.cancel_live(out);
        out.push(Action::GiveUp(fault));
    }
}

#[cfg(test)]
#[path = "dialer_tests.rs"]
mod tests;
