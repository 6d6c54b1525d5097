//! What is kept of an answered call's two dialogs so that a restart after a crash can end
//! them: plain, serialisable values (the store keeps them as JSON in `live_calls`), built
//! from and turned back into [`Dialog`]s.
//!
//! RFC 3261 §12.2.1.1: an in-dialog request needs the Call-ID, both tags, the local CSeq, the
//! remote target (Request-URI) and the route set (Route headers, in order); §18.1.1: the
//! transport and where to send it. That is all a BYE needs (§15.1.1).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::sip::dialog::{Dialog, LocalEndpoint};
use crate::sip::{Peer, Transport};

/// One leg's confirmed dialog as calltrack holds it (UAS on the A leg, UAC on the B leg).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegDialog {
    pub call_id: String,
    /// Our tag: the From tag of requests we send.
    pub local_tag: String,
    /// The other side's tag: the To tag of requests we send (a caller may, RFC 2543 style,
    /// have sent none).
    pub remote_tag: Option<String>,
    /// Our URI in From (requests we send), without tag.
    pub local_uri: String,
    /// The other side's URI in To (requests we send), without tag.
    pub remote_uri: String,
    /// The CSeq number of the last request we sent in this dialog (the next one is +1).
    pub local_seq: u32,
    /// The other side's Contact URI: the Request-URI of our requests.
    pub remote_target: String,
    /// Route headers, in the order they are written into our requests.
    pub route_set: Vec<String>,
    /// `UDP` or `TCP`: the transport of our Via and of the hop.
    pub transport: String,
    /// Where our requests in this dialog go (the first route or the remote target).
    pub peer: SocketAddr,
    /// The Contact we gave the other side: where its requests for this dialog come.
    pub local_contact: String,
}

/// Why a stored dialog cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegDialogError {
    #[error("unknown transport {0:?}")]
    Transport(String),
}

impl LegDialog {
    /// The snapshot of a dialog (the caller makes sure it is confirmed).
    pub fn of(dialog: &Dialog, local: &LocalEndpoint) -> LegDialog {
        LegDialog {
            call_id: dialog.call_id.clone(),
            local_tag: dialog.local_tag.clone(),
            remote_tag: dialog.remote_tag.clone(),
            local_uri: dialog.local_uri.clone(),
            remote_uri: dialog.remote_uri.clone(),
            local_seq: dialog.local_seq,
            remote_target: dialog.remote_target.clone(),
            route_set: dialog.route_set.clone(),
            transport: dialog.transport.as_str().to_string(),
            peer: dialog.peer.addr,
            local_contact: local.contact(dialog.transport),
        }
    }

    /// The dialog again, ready for [`Dialog::request`].
    pub fn to_dialog(&self) -> Result<Dialog, LegDialogError> {
        let transport = Transport::from_token(&self.transport)
            .ok_or_else(|| LegDialogError::Transport(self.transport.clone()))?;
        Ok(Dialog {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
            remote_tag: self.remote_tag.clone(),
            local_uri: self.local_uri.clone(),
            remote_uri: self.remote_uri.clone(),
            local_seq: self.local_seq,
            remote_seq: None,
            remote_target: self.remote_target.clone(),
            route_set: self.route_set.clone(),
            peer: Peer::new(transport, self.peer),
            transport,
        })
    }
}

/// Both legs of an answered call: the caller's (A) and the callee's (B).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallDialogs {
    pub a: LegDialog,
    pub b: LegDialog,
}

/// A call the previous process left answered: its CDR id and both dialogs, read from the
/// store at start-up and handed to the engine (`B2bua::recover`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptedCall {
    pub id: String,
    pub dialogs: CallDialogs,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(remote_tag: Option<&str>) -> Dialog {
        Dialog {
            call_id: "c@x".into(),
            local_tag: "l".into(),
            remote_tag: remote_tag.map(str::to_string),
            local_uri: "<sip:a@x>".into(),
            remote_uri: "<sip:b@y>".into(),
            local_seq: 7,
            remote_seq: Some(3),
            remote_target: "sip:b@10.0.0.2:5070;transport=tcp".into(),
            route_set: vec!["<sip:10.0.0.1;lr>".into()],
            peer: Peer::new(Transport::Tcp, "10.0.0.1:5060".parse().unwrap()),
            transport: Transport::Tcp,
        }
    }

    fn local() -> LocalEndpoint {
        LocalEndpoint {
            udp: Some("127.0.0.1:5060".parse().unwrap()),
            tcp: Some("127.0.0.1:5060".parse().unwrap()),
            advertised_host: Some("sip.example".into()),
            advertised_port: None,
        }
    }

    #[test]
    fn a_confirmed_dialog_round_trips_through_json() {
        let leg = LegDialog::of(&dialog(Some("r")), &local());
        assert_eq!(leg.local_contact, "<sip:sip.example:5060;transport=tcp>");
        let json = serde_json::to_string(&leg).unwrap();
        let back: LegDialog = serde_json::from_str(&json).unwrap();
        let expected = Dialog {
            remote_seq: None,
            ..dialog(Some("r"))
        };
        assert_eq!(back.to_dialog().unwrap(), expected);
    }

    #[test]
    fn a_bad_transport_is_refused() {
        let mut leg = LegDialog::of(&dialog(None), &local());
        leg.transport = "SCTP".into();
        assert!(leg.to_dialog().is_err());
    }
}
