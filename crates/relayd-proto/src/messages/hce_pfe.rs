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

/// The hce's end.
pub type HcePfeChannel = ImsgChannel<HceToPfe, NoMessage>;
/// The pfe's end.
pub type PfeHceChannel = ImsgChannel<NoMessage, HceToPfe>;
