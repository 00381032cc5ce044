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

/// hce's end.
pub type HceSide = ImsgChannel<HceToRelay, NoMessage>;
/// A relay process's end.
pub type RelaySide = ImsgChannel<NoMessage, HceToRelay>;
