//! pfe <-> relay: relayd lets pfe collect relay statistics and sessions and
//! forward host states to relays; kept for that split of work.

use crate::channel::ImsgChannel;
use crate::status::{HostStatus, SessionRow, Statistics};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PfeToRelay {
    HostStatus(HostStatus),
    Sync,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayToPfe {
    Statistics(Statistics),
    /// A session started or changed.
    SessionPublish(SessionRow),
    /// A session ended.
    SessionUnpublish {
        process: u32,
        session_id: u32,
    },
}

/// pfe's end.
pub type PfeSide = ImsgChannel<PfeToRelay, RelayToPfe>;
/// A relay process's end.
pub type RelaySide = ImsgChannel<RelayToPfe, PfeToRelay>;
