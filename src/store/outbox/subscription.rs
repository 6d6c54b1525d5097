//! Which facts a destination takes ([`Subscription`]), judged by the writer when it fills the
//! outbox: the event kinds, the sites, and for call facts which calls qualify.

use super::EventKind;
use super::fact::{CallFact, LeadFact};
use crate::config::exports::{ExportsConfig, Send as Qualifier};

/// A set of event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventSet(u8);

impl EventSet {
    pub fn all() -> EventSet {
        EventSet::of(&EventKind::ALL)
    }

    pub fn of(kinds: &[EventKind]) -> EventSet {
        EventSet(kinds.iter().fold(0, |bits, k| bits | EventSet::bit(*k)))
    }

    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & EventSet::bit(kind) != 0
    }

    fn bit(kind: EventKind) -> u8 {
        1 << (kind as u8)
    }
}

/// What a call must have for the destination to place it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A GA client id (GA4 Measurement Protocol).
    GaClientId,
    /// A Metrica client id or a yclid (Metrica offline calls).
    MetricaVisitor,
    /// The call rang (Bitrix24 finishes only calls it registered at `call.ringing`): every
    /// call but the ones refused before ringing, whose only fact is a `call.ended` with
    /// disposition `rejected` (the one disposition a refusal, and only a refusal, records).
    Rang,
}

/// The subscriptions of every configured destination: webhooks take the events they list,
/// GA4 and Metrica `call.ended` of the calls they `send` that carry their visitor id (with
/// `send = "target"`: `call.scored` of the calls scored target instead),
/// Bitrix24 `call.ringing` and `call.ended` of the calls that rang.
pub fn subscriptions(config: &ExportsConfig) -> Vec<Subscription> {
    let webhooks = config.webhooks.iter().map(|d| Subscription {
        destination: d.id.clone(),
        events: EventSet::of(&d.events),
        sites: d.sites.clone(),
        qualifier: Qualifier::All,
        need: None,
    });
    let ended = |send: Qualifier| match send {
        Qualifier::Target => EventSet::of(&[EventKind::CallScored]),
        _ => EventSet::of(&[EventKind::CallEnded]),
    };
    let ga4 = config.ga4.iter().map(|d| Subscription {
        destination: d.id.clone(),
        events: ended(d.send),
        sites: d.sites.clone(),
        qualifier: d.send,
        need: Some(Need::GaClientId),
    });
    let metrica = config.metrica.iter().map(|d| Subscription {
        destination: d.id.clone(),
        events: ended(d.send),
        sites: d.sites.clone(),
        qualifier: d.send,
        need: Some(Need::MetricaVisitor),
    });
    let bitrix = config.bitrix24.iter().map(|d| Subscription {
        destination: d.id.clone(),
        events: EventSet::of(&[EventKind::CallRinging, EventKind::CallEnded]),
        sites: d.sites.clone(),
        qualifier: Qualifier::All,
        need: Some(Need::Rang),
    });
    webhooks.chain(ga4).chain(metrica).chain(bitrix).collect()
}

/// One destination's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The destination id (`[[exports.*]] id`); outbox rows are keyed by it.
    pub destination: String,
    pub events: EventSet,
    /// Empty: every site.
    pub sites: Vec<String>,
    pub qualifier: Qualifier,
    pub need: Option<Need>,
}

impl Subscription {
    /// Every event of every site (a webhook with no filters).
    pub fn everything(destination: &str) -> Subscription {
        Subscription {
            destination: destination.to_owned(),
            events: EventSet::all(),
            sites: Vec::new(),
            qualifier: Qualifier::All,
            need: None,
        }
    }

    pub fn takes_call(&self, kind: EventKind, call: &CallFact) -> bool {
        self.events.contains(kind)
            && self.takes_site(&call.site)
            && self.qualifies(call)
            && self.need.is_none_or(|need| has(need, call))
    }

    /// Why a call this destination would take is dropped instead (kept in the outbox as a
    /// settled dead letter with the reason, never sent): with `send = "target"`, a call the
    /// scorer judged not target.
    pub fn drops_call(&self, kind: EventKind, call: &CallFact) -> Option<String> {
        let scored_not_target = self.qualifier == Qualifier::Target
            && self.events.contains(kind)
            && self.takes_site(&call.site)
            && self.need.is_none_or(|need| has(need, call))
            && call.scoring.target == Some(false);
        scored_not_target.then(|| {
            let p = call.scoring.target_probability.unwrap_or(0.0);
            format!("dropped: scored not target (target_probability {p:.3}); send = \"target\"")
        })
    }

    pub fn takes_lead(&self, lead: &LeadFact) -> bool {
        self.events.contains(EventKind::LeadCreated) && self.takes_site(&lead.site)
    }

    fn takes_site(&self, site: &str) -> bool {
        self.sites.is_empty() || self.sites.iter().any(|s| s == site)
    }

    fn qualifies(&self, call: &CallFact) -> bool {
        match self.qualifier {
            Qualifier::All => true,
            Qualifier::FirstTime => call.first_time_caller,
            Qualifier::Quality => call.quality == Some(true),
            Qualifier::Target => call.scoring.target == Some(true),
        }
    }
}

fn has(need: Need, call: &CallFact) -> bool {
    let a = &call.attribution;
    match need {
        Need::GaClientId => a.ga_client_id.is_some(),
        Need::MetricaVisitor => a.ym_client_id.is_some() || a.yclid.is_some(),
        Need::Rang => call.disposition.as_deref() != Some("rejected"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallFact {
        serde_json::from_str(
            r#"{"id":"c1","call_id":"x","site":"shop","tracking_number":"7495",
                "number_kind":"dynamic","caller":"7916","destination":"sip:a@b",
                "started_at":"2026-12-05T10:00:00.000Z","first_time_caller":true,
                "quality":false,"attribution":{"ga_client_id":"1.2"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn event_sets_hold_what_they_were_given() {
        let set = EventSet::of(&[EventKind::CallEnded, EventKind::LeadCreated]);
        assert!(set.contains(EventKind::CallEnded) && set.contains(EventKind::LeadCreated));
        assert!(!set.contains(EventKind::CallRinging));
        assert!(EventKind::ALL.iter().all(|k| EventSet::all().contains(*k)));
    }

    #[test]
    fn sites_qualifiers_and_needs_filter_calls() {
        let mut s = Subscription::everything("crm");
        assert!(s.takes_call(EventKind::CallEnded, &call()));
        s.sites = vec!["other".into()];
        assert!(!s.takes_call(EventKind::CallEnded, &call()));
        s.sites.clear();
        s.qualifier = Qualifier::Quality;
        assert!(!s.takes_call(EventKind::CallEnded, &call()));
        s.qualifier = Qualifier::FirstTime;
        s.need = Some(Need::GaClientId);
        assert!(s.takes_call(EventKind::CallEnded, &call()));
        s.need = Some(Need::MetricaVisitor);
        assert!(!s.takes_call(EventKind::CallEnded, &call()));
    }

    #[test]
    fn bitrix24_takes_only_calls_that_rang() {
        let config = ExportsConfig {
            bitrix24: vec![crate::config::exports::Bitrix24Config {
                id: "b24".into(),
                webhook_url: crate::config::exports::Secret::new("https://b.example/rest/1/x/"),
                user_id: 1,
                create_crm: true,
                show_card: true,
                crm_sources: Default::default(),
                sites: Vec::new(),
            }],
            ..ExportsConfig::default()
        };
        let s = subscriptions(&config).remove(0);
        let mut c = call();
        c.disposition = None;
        assert!(s.takes_call(EventKind::CallRinging, &c));
        assert!(!s.takes_call(EventKind::CallAnswered, &c));
        for (disposition, taken) in [("answered", true), ("busy", true), ("rejected", false)] {
            c.disposition = Some(disposition.into());
            assert_eq!(
                s.takes_call(EventKind::CallEnded, &c),
                taken,
                "{disposition}"
            );
        }
        assert!(!s.takes_call(EventKind::CallUpdated, &c));
    }
}
