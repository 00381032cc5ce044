//! hce -> relay: host states, so relays only pick hosts that are up.

use super::NoMessage;
use crate::channel::ImsgChannel;
use crate::status::HostStatus;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HceToRelay {
    HostStatus(HostStatus),
    Sync,
}

/// The hce's end (one per relay process).
pub type HceRelayChannel = ImsgChannel<HceToRelay, NoMessage>;
/// A relay process's end.
pub type RelayHceChannel = ImsgChannel<NoMessage, HceToRelay>;
