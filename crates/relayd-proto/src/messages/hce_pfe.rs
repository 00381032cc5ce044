//! hce -> pfe: host states, so pfe can update the nftables sets.

use super::NoMessage;
use crate::channel::ImsgChannel;
use crate::status::HostStatus;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HceToPfe {
    HostStatus(HostStatus),
    /// A check round finished: apply the changes collected since the last.
    Sync,
}

/// hce's end.
pub type HceSide = ImsgChannel<HceToPfe, NoMessage>;
/// pfe's end.
pub type PfeSide = ImsgChannel<NoMessage, HceToPfe>;
