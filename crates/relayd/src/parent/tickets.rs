//! Session tickets (`tls session tickets`): the parent makes the ticket
//! keys and rotates them (a new key every 30 minutes, each accepted for
//! the 2-hour lifetime after it stopped encrypting, as relayd), and sends
//! the set to every relay process, so a client resumes on whichever
//! process accepts its next connection. Only while some TLS relay has
//! tickets on; without them there is no resumption at all.

use super::error::ParentError;
use super::links::{EngineMessage, Links};
use super::rollout::Extra;
use relayd_config::Config;
use relayd_proto::messages::parent_relay::ParentToRelay;
use relayd_proto::messages::{TicketKey, TicketKeys};
use relayd_proto::ProcessKind;
use relayd_tls::tickets::{TicketKeyRotation, TICKET_ROTATION};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The parent's ticket keys, once a configuration wants them.
#[derive(Default)]
pub struct Tickets {
    rotation: Option<(TicketKeyRotation, Instant)>,
}

/// Whether some TLS relay of `config` has `tls session tickets`.
pub fn wanted(config: &Config) -> bool {
    let default = relayd_tls::files::default_protocol();
    config.relays.iter().any(|relay| {
        relay.listen.iter().any(|l| l.tls)
            && relayd_tls::files::relay_protocol(config, relay, &default)
                .tls
                .session_tickets
                == Some(true)
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Tickets {
    /// The keys for every relay with a configuration being rolled out;
    /// the first configuration that wants tickets starts the rotation.
    pub fn extras(&mut self, config: &Config, links: &Links) -> Result<Vec<Extra>, ParentError> {
        if self.rotation.is_none() && wanted(config) {
            let rotation = TicketKeyRotation::new(now()).map_err(ParentError::TicketKeys)?;
            self.rotation = Some((rotation, Instant::now() + TICKET_ROTATION));
        }
        let Some((rotation, _)) = &self.rotation else {
            return Ok(Vec::new());
        };
        let keys = message(rotation);
        Ok(links
            .of_kind(ProcessKind::Relay)
            .map(|relay| Extra {
                to: relay.id(),
                message: EngineMessage::Relay(keys.clone()),
                fd: None,
            })
            .collect())
    }

    /// When the next key is due.
    pub fn next_rotation(&self) -> Option<Instant> {
        self.rotation.as_ref().map(|(_, at)| *at)
    }

    /// Makes a new key and sends the set to every relay.
    pub fn rotate(&mut self, links: &Links) -> Result<(), ParentError> {
        let Some((rotation, at)) = &mut self.rotation else {
            return Ok(());
        };
        rotation.rotate(now()).map_err(ParentError::TicketKeys)?;
        *at = Instant::now() + TICKET_ROTATION;
        let keys = message(rotation);
        links.to_every(|| EngineMessage::Relay(keys.clone()))
    }
}

fn message(rotation: &TicketKeyRotation) -> ParentToRelay {
    let keys = rotation
        .keys()
        .keys
        .iter()
        .map(|k| TicketKey {
            name: k.name,
            secret: k.secret,
            created: k.created,
        })
        .collect();
    ParentToRelay::TicketKeys(TicketKeys { keys })
}
